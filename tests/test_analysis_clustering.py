import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from core.analysis.clustering import (
    TaskVarianceClustering,
    active_units,
    cluster_quality,
    cluster_weight_structure,
    normalize_by_max,
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
    assert model.k_values_[np.argmax(model.silhouette_)] == 5
    active = truth >= 0
    np.testing.assert_array_equal(model.active_, active)
    assert adjusted_rand_score(truth[active], model.labels_[active]) == pytest.approx(1.0)
    assert (model.labels_[~active] == model.n_clusters_).all()  # inactive: own label
    # clusters numbered by their dominant rule; order_ groups them
    assert (np.diff(model.cluster_rule_) >= 0).all()
    assert (np.diff(model.labels_[model.order_]) >= 0).all()
    assert sorted(model.order_) == list(range(len(tv)))


def test_random_profiles_do_not_look_clustered():
    tv, truth = planted()
    model = TaskVarianceClustering(k_max=6, n_init=3).fit(tv)
    good = cluster_quality(model.features_, model.labels_[model.active_], n_permutations=12)
    assert good["silhouette_p"] < 0.1 and good["davies_bouldin_p"] < 0.1
    noise = np.random.default_rng(1).random((150, 15))
    model_noise = TaskVarianceClustering(k_max=6, n_init=3).fit(noise)
    bad = cluster_quality(model_noise.features_, model_noise.labels_, n_permutations=12)
    assert bad["silhouette"] < good["silhouette"]
    assert bad["silhouette_p"] > 0.05
    assert bad["silhouette_null"].shape == (12,)


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
    with pytest.raises(ValueError, match="active"):
        TaskVarianceClustering().fit(np.zeros((10, 3)))
