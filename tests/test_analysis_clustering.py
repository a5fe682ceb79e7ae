import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from core.analysis.clustering import (
    TaskVarianceClustering,
    active_units,
    cluster_quality,
    cluster_weight_structure,
    clustering_agreement,
    normalize_by_max,
    rule_partition,
    seeds_agreement,
)


def planted(n_clusters=5, per_cluster=30, n_rules=15, n_inactive=8, noise=0.03, seed=0):
    """Units whose task-variance profile is one of ``n_clusters`` prototypes, scaled and noisy."""
    rng = np.random.default_rng(seed)
    prototypes = np.zeros((n_clusters, n_rules))
    for c in range(n_clusters):  # each cluster is selective for its own block of rules
        prototypes[c, rng.choice(n_rules, size=3, replace=False)] = 1.0
    truth = np.repeat(np.arange(n_clusters), per_cluster)
    gain = rng.uniform(0.05, 2.0, size=(len(truth), 1))
    tv = gain * (prototypes[truth] + noise * rng.random((len(truth), n_rules)))
    tv = np.vstack([tv, 1e-5 * rng.random((n_inactive, n_rules))])
    truth = np.concatenate([truth, np.full(n_inactive, -1)])
    perm = rng.permutation(len(truth))
    return tv[perm], truth[perm]


@pytest.mark.parametrize("method", ["kmeans", "ward"])
def test_recovers_planted_clusters_and_their_number(method):
    tv, truth = planted()
    model = TaskVarianceClustering(method=method, k_max=12, n_init=5, n_jitter=3).fit(tv)
    assert model.n_clusters_ == 5
    assert model.k_values_[np.nanargmax(model.silhouette_)] == 5
    gap = model.gap_[np.isfinite(model.gap_)]  # tested: k = 1 against the silhouette's k = 5
    assert model.k_values_[np.isfinite(model.gap_)].tolist() == [1, 5]
    assert gap[1] - model.gap_se_[model.k_values_ == 5][0] > gap[0]
    assert TaskVarianceClustering(method=method, criterion="gap", k_max=8, n_init=3,
                                  n_refs=5).fit(tv).n_clusters_ == 5
    active = truth >= 0
    np.testing.assert_array_equal(model.active_, active)
    assert adjusted_rand_score(truth[active], model.labels_[active]) == pytest.approx(1.0)
    assert (model.labels_[~active] == model.n_clusters_).all()  # inactive: own label
    # clusters numbered by their dominant rule; order_ groups them
    assert (np.diff(model.cluster_rule_) >= 0).all()
    assert (np.diff(model.labels_[model.order_]) >= 0).all()
    assert sorted(model.order_) == list(range(len(tv)))


ONE_PROFILE = np.outer(np.arange(1, 31), [0.3, 1, 0.7, 0.1])  # issue 13: scaled copies


@pytest.mark.parametrize("method", ["kmeans", "ward"])
def test_one_cluster_is_found_where_the_silhouette_always_splits(method):
    noisy = ONE_PROFILE * (1 + 0.05 * np.random.default_rng(0).standard_normal((30, 4)))
    blob = np.abs(1 + 0.1 * np.random.default_rng(1).standard_normal((100, 15)))
    uniform = np.random.default_rng(2).random((150, 15))
    for criterion in ("gap_silhouette", "gap", "silhouette"):
        exact = TaskVarianceClustering(method=method, criterion=criterion, n_init=3).fit(
            ONE_PROFILE)  # identical after normalisation: one distinct profile, k = 1 always
        assert exact.n_clusters_ == 1 and (exact.labels_ == 0).all()
        assert exact.k_values_.tolist() == [1]
    for tv in (noisy, blob, uniform):
        fit = TaskVarianceClustering(method=method, k_max=10, n_init=3, n_jitter=2).fit(tv)
        assert fit.n_clusters_ == 1 and (fit.labels_ == 0).all()
        assert fit.gap_[0] >= np.nanmax(fit.gap_ - fit.gap_se_)
        assert TaskVarianceClustering(method=method, criterion="gap", k_max=6, n_init=3,
                                      n_refs=5).fit(tv).n_clusters_ == 1
        assert TaskVarianceClustering(method=method, criterion="silhouette", k_max=10,
                                      n_init=3, n_jitter=2).fit(tv).n_clusters_ >= 2


def test_permutation_null_separates_planted_from_random_profiles():
    tv, truth = planted()
    model = TaskVarianceClustering(k_max=6, n_init=3).fit(tv)
    good = cluster_quality(model.features_, model.labels_[model.active_], n_permutations=12)
    assert good["silhouette_p"] < 0.1 and good["davies_bouldin_p"] < 0.1
    noise = np.random.default_rng(1).random((150, 15))
    labels = TaskVarianceClustering(k_max=6, n_init=3, criterion="silhouette").fit_predict(noise)
    bad = cluster_quality(normalize_by_max(noise), labels, n_permutations=12)
    assert bad["silhouette"] < good["silhouette"]
    assert bad["silhouette_p"] > 0.05
    assert bad["silhouette_null"].shape == (12,)


def test_the_gap_test_sees_clusters_that_the_first_split_misses():
    rng = np.random.default_rng(4)  # three equidistant clusters: Gap(2) is about Gap(1)
    tv = np.kron(np.eye(3), np.ones((10, 8))) + 0.01 * rng.random((30, 24))
    assert TaskVarianceClustering(k_max=6, n_init=3).fit(tv).n_clusters_ == 3
    assert TaskVarianceClustering(criterion="gap", k_max=6, n_init=3).fit(tv).n_clusters_ == 1


def _edge_cases():
    rng = np.random.default_rng(5)
    three = np.repeat(np.eye(3, 6) + 0.1, [10, 10, 1], axis=0)  # duplicates: 3 distinct rows
    tied = np.vstack([np.eye(4, 5), np.eye(4, 5)])  # equal merge heights in Ward's tree
    yield "duplicates", three
    yield "ties", tied
    yield "one unit", np.array([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
    yield "two units", np.array([[1.0, 2.0], [2.0, 1.0]])
    yield "three units", np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    yield "zero rows", np.vstack([planted(n_clusters=3, per_cluster=8)[0], np.zeros((5, 15))])
    yield "pre-grouped", planted(per_cluster=30, noise=0.3)[0]
    yield "uniform", rng.random((40, 6))


@pytest.mark.parametrize("method", ["kmeans", "ward"])
@pytest.mark.parametrize("criterion", ["gap_silhouette", "gap", "silhouette"])
def test_reported_number_of_clusters_is_the_number_of_labels_used(method, criterion):
    for name, tv in _edge_cases():
        fit = TaskVarianceClustering(method=method, criterion=criterion, k_max=8, n_init=2,
                                     n_refs=3, n_jitter=1, max_points=40).fit(tv)
        used = fit.labels_[fit.active_]
        k = fit.n_clusters_
        assert sorted(set(used.tolist())) == list(range(k)), name
        assert (fit.labels_[~fit.active_] == k).all(), name
        assert fit.cluster_rule_.shape == (k,), name
        assert k <= max(1, len(np.unique(np.round(fit.features_, 9), axis=0))), name
        assert fit.k_values_.shape == fit.silhouette_.shape == fit.gap_.shape, name


def test_pregrouping_large_populations_keeps_the_structure():
    tv, truth = planted(per_cluster=200, n_inactive=0, noise=0.02)
    model = TaskVarianceClustering(method="ward", k_max=10, n_jitter=2, max_points=100).fit(tv)
    assert model.n_clusters_ == 5
    assert adjusted_rand_score(truth, model.labels_) > 0.99
    assert model.linkage_.shape == (99, 4)


def test_weight_structure_rows_and_columns():
    rng = np.random.default_rng(4)
    blocks = np.kron(np.eye(3), np.ones((10, 8)))  # 30 x 24 block-diagonal weights
    weights = blocks * rng.choice([-1.0, 1.0], size=blocks.shape) + 0.01 * rng.random(blocks.shape)
    rows = cluster_weight_structure(weights, axis=0, k_max=6, n_jitter=2)
    cols = cluster_weight_structure(weights, axis=1, k_max=6, n_jitter=2)
    assert rows.n_clusters_ == 3 and cols.n_clusters_ == 3
    assert adjusted_rand_score(np.repeat(np.arange(3), 10), rows.labels_) == pytest.approx(1.0)
    assert adjusted_rand_score(np.repeat(np.arange(3), 8), cols.labels_) == pytest.approx(1.0)


def test_helpers_and_validation():
    tv = np.array([[0.0, 0.0], [2.0, 1.0], [0.0004, 0.0005]])
    np.testing.assert_array_equal(active_units(tv), [False, True, False])
    np.testing.assert_allclose(normalize_by_max(tv)[1], [1.0, 0.5])
    with pytest.raises(ValueError, match="2-D"):
        TaskVarianceClustering().fit(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        TaskVarianceClustering().fit(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="method"):
        TaskVarianceClustering(method="dbscan").fit(np.ones((5, 2)))
    with pytest.raises(ValueError, match="criterion"):
        TaskVarianceClustering(criterion="elbow").fit(np.ones((5, 2)))
    with pytest.raises(ValueError, match="k_max"):
        TaskVarianceClustering(k_max=1).fit(np.ones((5, 2)))
    with pytest.raises(ValueError, match="active"):
        TaskVarianceClustering().fit(np.zeros((10, 3)))


@pytest.mark.parametrize("method", ["kmeans", "ward"])
def test_a_fixed_k_gives_k_clusters_capped_at_the_distinct_profiles(method):
    tv, truth = planted(n_clusters=5, per_cluster=12)
    for k in (1, 3, 5, 8, 20):
        fit = TaskVarianceClustering(method=method, n_clusters=k, n_init=3).fit(tv)
        assert fit.n_clusters_ == k and fit.k_values_.tolist() == [k]
        assert sorted(set(fit.labels_[fit.active_].tolist())) == list(range(k))
    five = TaskVarianceClustering(method=method, n_clusters=5, n_init=3).fit(tv)
    active = truth >= 0
    assert adjusted_rand_score(truth[active], five.labels_[active]) == pytest.approx(1.0)
    three_profiles = np.vstack([ONE_PROFILE, ONE_PROFILE[:, ::-1], ONE_PROFILE[:, [1, 0, 3, 2]]])
    three_profiles = np.vstack([three_profiles, 2 * three_profiles])  # 6 units, 3 profiles
    with pytest.warns(UserWarning, match="20 clusters asked for.*only 3 distinct.*k = 3"):
        capped = TaskVarianceClustering(method=method, n_clusters=20, n_init=2).fit(
            three_profiles)
    assert capped.n_clusters_ == 3
    with pytest.raises(ValueError, match="n_clusters"):
        TaskVarianceClustering(n_clusters=0).fit(tv)


@pytest.mark.parametrize("method", ["kmeans", "ward"])
def test_a_fixed_k_never_puts_every_unit_in_a_cluster_of_its_own(method):
    tv = np.random.default_rng(0).random((16, 6)) + 0.1  # 16 units, 16 distinct profiles
    for k in (16, 20):
        with pytest.warns(UserWarning, match=f"{k} clusters asked for, but 16 points allow at "
                                             "most 15 clusters .*k = 15"):
            fit = TaskVarianceClustering(method=method, n_clusters=k, n_init=2).fit(tv)
        assert fit.n_clusters_ == 15 and fit.k_values_.tolist() == [15]
        assert np.bincount(fit.labels_).max() == 2  # one pair, the other units alone
    chosen = TaskVarianceClustering(method=method, k_max=29, n_init=2, n_refs=2, n_jitter=0
                                    ).fit(tv)
    assert chosen.k_values_.max() <= 15 and chosen.n_clusters_ < 16


def test_clustering_agreement_is_the_adjusted_rand_index_of_every_pair():
    tv, truth = planted(n_clusters=4, per_cluster=10, n_inactive=0)
    rng = np.random.default_rng(3)
    shuffled = rng.permutation(truth)
    relabelled = (truth + 1) % 4  # the same partition under other names
    ari = clustering_agreement([truth, relabelled, shuffled])
    np.testing.assert_allclose(ari, ari.T)
    np.testing.assert_allclose(np.diag(ari), 1.0)
    assert ari[0, 1] == pytest.approx(1.0) and abs(ari[0, 2]) < 0.2
    assert ari[0, 2] == pytest.approx(adjusted_rand_score(truth, shuffled))
    with pytest.raises(ValueError, match="one length"):
        clustering_agreement([truth, truth[:-1]])


def network_serving(groups, per_cluster, seed):
    """Task variance ``(N, R)`` of a network whose unit clusters each serve one group of rules
    (``groups``: rule group of every rule), units in random order, and its unit labels."""
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    labels = rng.permutation(np.repeat(np.arange(groups.max() + 1), per_cluster))
    gain = rng.uniform(0.1, 2.0, size=(len(labels), 1))
    tv = gain * ((groups[None, :] == labels[:, None]) + 0.05 * rng.random((len(labels),
                                                                          len(groups))))
    return tv, labels


def test_networks_serving_the_same_rule_groups_agree_across_seeds_and_others_do_not():
    groups = np.repeat(np.arange(4), 3)  # 12 rules in 4 groups of 3
    tv_a, labels_a = network_serving(groups, 5, seed=0)
    tv_b, labels_b = network_serving(groups, 9, seed=1)  # other units, sizes and numbering
    labels_b = (labels_b + 2) % 4
    other = np.array([0, 1, 2, 3] * 3)  # the same rules grouped across the first grouping
    tv_c, labels_c = network_serving(other, 5, seed=2)
    parts = [rule_partition(tv, labels) for tv, labels in
             ((tv_a, labels_a), (tv_b, labels_b), (tv_c, labels_c))]
    assert adjusted_rand_score(groups, parts[0]) == pytest.approx(1.0)
    out = seeds_agreement(parts)
    assert out["ari"][0, 1] == pytest.approx(1.0)  # identical rule groups: 1
    assert out["ari"][0, 2] < 0.1 and out["ari"][1, 2] < 0.1  # planted different: low
    assert out["mean_ari"] == pytest.approx((1 + 2 * out["ari"][0, 2]) / 3)
    assert out["n_groups"].tolist() == [4, 4, 4]
    assert np.isnan(seeds_agreement(parts[:1])["mean_ari"])
    # the same, with the clusters found by the clustering itself
    fits = [TaskVarianceClustering(n_clusters=4, n_init=2).fit(tv) for tv in (tv_a, tv_b, tv_c)]
    found = seeds_agreement([rule_partition(tv, f.labels_, f.active_)
                             for tv, f in zip((tv_a, tv_b, tv_c), fits, strict=True)])
    np.testing.assert_allclose(found["ari"], out["ari"])


def test_rule_partition_edges():
    tv = np.array([[1.0, 0.5, 0.0], [0.0, 0.2, 0.0], [3.0, 0.0, 0.0]])
    np.testing.assert_array_equal(rule_partition(tv, [0, 1, 0]), [0, 1, -1])  # rule 2 silent
    np.testing.assert_array_equal(rule_partition(tv, [0, 1, 0], [True, False, True]),
                                  [0, 0, -1])
    with pytest.raises(ValueError, match="shape"):
        rule_partition(tv, [0, 1])
    with pytest.raises(ValueError, match="no active unit"):
        rule_partition(tv, [0, 1, 0], [False] * 3)
    with pytest.raises(ValueError, match="one length"):
        seeds_agreement([np.zeros(3), np.zeros(4)])
