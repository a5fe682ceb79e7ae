"""Clustering units (or synapses) by their task-variance profiles.

Profiles: the active units (summed task variance > 1e-3, Yang et al., 2019, Nat. Neurosci.
22:297), each divided by its largest entry. Two clustering methods, as scikit-learn-style
estimators (hyper-parameters in the constructor, ``fit``, fitted attributes with a trailing
underscore):

- ``method="kmeans"`` (Yang et al., 2019): KMeans with ``n_init=20`` restarts.
- ``method="ward"`` (the MPN lab's method): Ward agglomerative clustering with optimal leaf
  ordering (Bar-Joseph et al., 2001). Large populations (synapses) are first pre-grouped by
  MiniBatchKMeans into ``max_points`` groups whose centroids are then clustered.

The number of clusters k is fixed by ``n_clusters`` (the MPN lab cuts its dendrograms at 20;
capped, with a warning, at the number of distinct profiles and at the number of points − 1, as
below), or chosen (at most ``k_max``) by a
``criterion``:

- ``"gap"``: the gap statistic of Tibshirani, Walther & Hastie (2001), J. R. Stat. Soc. B
  63:411. ``W_k`` is the within-cluster sum of squares of the method's k-cluster partition
  (their Eq. 2 with squared Euclidean distances); ``Gap(k) = mean_b log W*_kb − log W_k`` over
  ``n_refs`` reference sets drawn uniformly in the box aligned with the principal components of
  the profiles (their reference (b)), each clustered by the same method; ``s_k = sd_b(log
  W*_kb) √(1 + 1/n_refs)``; k is the smallest with ``Gap(k) ≥ Gap(k+1) − s_{k+1}`` (their 1-SE
  rule), ``k_max`` if none is. It says "one cluster" for one blob (scaled copies of one profile,
  with or without noise), but on broad, non-uniform clusters (such as the planted clusters of
  ``benchmarks/bench_analysis.py``) the gap keeps growing past the planted k and the rule
  over-splits; the KMeans sweep costs ``n_refs`` times the plain one.
- ``"silhouette"`` (Yang et al.'s rule, and the lab's): KMeans keeps the k of the best mean
  silhouette; Ward averages the silhouette-vs-k curve over ``n_jitter`` copies of the data with
  small relative jitter (each entry times ``1 + N(0, jitter)``) and keeps the smallest k whose
  mean silhouette is within ``silhouette_tol`` (relative) of the best one. The silhouette is not
  defined for k = 1, so this criterion tries k >= 2 only and always finds clusters.
- ``"gap_silhouette"`` (default): the silhouette proposes k_s >= 2 as above, and the gap
  statistic tests that partition against one cluster with the 1-SE comparison: k = 1 when
  ``Gap(1) ≥ Gap(k_s) − s_{k_s}``, i.e. when the proposed partition does not reduce
  ``log W`` by more than it does on structure-less reference data of the same extent, else
  k = k_s. This keeps Yang et al.'s k where there are clusters and says "one cluster" where
  there are none; unlike the 1-SE rule it is not blind to structure that the first split
  misses (three equidistant clusters: ``Gap(2) ≈ Gap(1)``, so ``"gap"`` returns 1), and
  it costs ``n_refs`` clusterings at one k.

Edges (every criterion):

- No active unit: ValueError. Inactive units (all-zero rows included) get their own label
  ``n_clusters_`` and are left out of every score.
- Profiles within 1e-9 of each other (Euclidean, after max-normalisation; chains of such
  neighbours count as one) are one profile: k never exceeds the number of distinct profiles,
  nor the number of points − 1 (a partition into single points says nothing). When that bound
  is 1 — one or two active units, or every profile the same, such as scaled copies of one
  profile — k = 1 without any test, whatever the criterion.
- KMeans (duplicate points) and the Ward cut (tied merge heights) may use fewer labels than the
  k asked for; ``W_k`` and the silhouette score the partition actually found, the labels are
  renumbered, and ``n_clusters_`` is always the number of labels used.
- With pre-grouping the criterion is scored on the group centroids, each weighted by its group's
  size in ``W_k`` (and in KMeans); Ward's dendrogram ignores the weights.

Clusters are numbered by their dominant rule (the rule with the largest summed normalised
variance in the cluster), so the numbering is comparable across networks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from threadpoolctl import threadpool_limits

__all__ = [
    "CRITERIA",
    "active_units",
    "normalize_by_max",
    "within_cluster_dispersion",
    "TaskVarianceClustering",
    "cluster_quality",
    "clustering_agreement",
    "rule_partition",
    "seeds_agreement",
    "cluster_weight_structure",
]

CRITERIA = ("gap_silhouette", "gap", "silhouette")
#: Profiles closer than this (Euclidean, after max-normalisation) count as one.
DISTINCT_TOL = 1e-9


def _check_matrix(x: np.ndarray, name: str = "X") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array (n_units, n_features), "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def active_units(task_variance: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Units whose summed (absolute) task variance exceeds ``threshold``: ``(N,)`` bool.

    ``task_variance`` is ``(N, R)``; 1e-3 is Yang et al.'s threshold.
    """
    tv = _check_matrix(task_variance, "task_variance")
    return np.abs(tv).sum(axis=1) > threshold


def normalize_by_max(features: np.ndarray) -> np.ndarray:
    """Each row ``(N, R)`` divided by its largest absolute entry (all-zero rows stay zero)."""
    x = _check_matrix(features, "features")
    peak = np.abs(x).max(axis=1, keepdims=True)
    return np.divide(x, peak, out=np.zeros_like(x), where=peak > 0)


def within_cluster_dispersion(x: np.ndarray, labels: np.ndarray,
                              weight: np.ndarray | None = None) -> float:
    """``W_k``: the (weighted) sum of squared distances of the rows of ``x`` ``(n, d)`` to their
    cluster's (weighted) mean, for ``labels`` ``(n,)`` (Tibshirani et al., 2001, Eq. 2)."""
    weight = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=float)
    _, labels = np.unique(labels, return_inverse=True)
    mass = np.bincount(labels, weights=weight)
    centroids = np.zeros((len(mass), x.shape[1]))
    np.add.at(centroids, labels, weight[:, None] * x)
    centroids /= mass[:, None]
    return float(np.sum(weight * np.sum((x - centroids[labels]) ** 2, axis=1)))


def _n_distinct(x: np.ndarray) -> int:
    """Number of groups of rows of ``x`` closer than :data:`DISTINCT_TOL` (single linkage)."""
    if len(x) < 2:
        return len(x)
    return int(fcluster(linkage(x, method="single"), DISTINCT_TOL, criterion="distance").max())


def _pca_box_reference(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform points in the box aligned with the principal components of ``x`` ``(n, d)``
    (Tibshirani et al., 2001, reference (b))."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    rotated = (x - mean) @ vt.T
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    return rng.uniform(low, high, size=rotated.shape) @ vt + mean


def _ward_tree(x: np.ndarray) -> np.ndarray:
    """Ward linkage with optimal leaf ordering of the rows of ``x`` ``(n, d)``."""
    return optimal_leaf_ordering(linkage(x, method="ward"), pdist(x))


def _silhouette_curve_ward(x: np.ndarray, k_values: np.ndarray) -> np.ndarray:
    tree = linkage(x, method="ward")
    dist = squareform(pdist(x))
    scores = np.full(len(k_values), np.nan)
    for i, k in enumerate(k_values):
        labels = fcluster(tree, k, criterion="maxclust")
        if 1 < len(np.unique(labels)) < len(x):
            scores[i] = silhouette_score(dist, labels, metric="precomputed")
    return scores


def _gap_choice(gap: np.ndarray, se: np.ndarray) -> int:
    """Index of the smallest k with ``Gap(k) >= Gap(k+1) - s_{k+1}``; the last one if none."""
    for i in range(len(gap) - 1):
        if gap[i] >= gap[i + 1] - se[i + 1]:
            return i
    return len(gap) - 1


class TaskVarianceClustering:
    """Cluster units by their normalised task-variance profiles (module docstring).

    Args:
        method: ``"kmeans"`` (Yang et al.) or ``"ward"`` (MPN lab).
        criterion: how k is chosen: ``"gap_silhouette"`` (default), ``"gap"`` or
            ``"silhouette"`` (module docstring; only the first two can give k = 1).
        k_max: largest number of clusters tried (Yang et al.: 29); clipped to the number of
            distinct profiles and to ``n_points - 1``. The gap tries k from 1, the silhouette
            from 2.
        n_init: KMeans restarts (Yang et al.: 20), for the data and every reference set.
        n_refs: reference sets of the gap statistic.
        threshold: activity threshold on the summed task variance (Yang et al.: 1e-3).
        n_jitter: jittered copies averaging Ward's silhouette curve (0 = none).
        jitter: relative jitter standard deviation.
        silhouette_tol: relative tolerance below the best mean silhouette for Ward's k.
        max_points: above this many active units, pre-group with MiniBatchKMeans.
        random_state: seed for KMeans, reference sets, jitter and pre-grouping.
        n_clusters: a fixed k (>= 1) instead of the criterion's choice; capped at the number of
            distinct profiles and at ``n_points - 1`` (UserWarning saying so).

    Fitted attributes:
        active_: ``(N,)`` bool, units clustered.
        features_: ``(n_active, R)`` max-normalised profiles of the active units.
        k_values_: ``(n_k,)`` tried cluster numbers (``[1]`` when k = 1 needs no test; the
            fixed k alone under ``n_clusters``).
        gap_, gap_se_: ``(n_k,)`` gap statistic and its ``s_k``; NaN where not computed
            (everywhere under "silhouette"; except at k = 1 and k_s under "gap_silhouette").
        silhouette_: ``(n_k,)`` mean silhouette of each k's partition (NaN for one cluster);
            with Ward, averaged over the jittered copies unless the criterion is "gap".
        n_clusters_: chosen k, always the number of distinct labels of the active units.
        labels_: ``(N,)`` int, clusters ``0..n_clusters_-1`` ordered by dominant rule;
            inactive units get ``n_clusters_``.
        cluster_rule_: ``(n_clusters_,)`` index of each cluster's dominant rule.
        order_: ``(N,)`` unit indices sorted by cluster (Ward: by leaf order inside a
            cluster), inactive units last.
        linkage_: Ward linkage ``(n - 1, 4)`` of the (pre-grouped) active points (Ward only).
    """

    def __init__(self, method: str = "kmeans", criterion: str = "gap_silhouette",
                 k_max: int = 29, n_init: int = 20, n_refs: int = 20, threshold: float = 1e-3,
                 n_jitter: int = 10, jitter: float = 0.01, silhouette_tol: float = 0.02,
                 max_points: int = 2000, random_state: int | None = 0,
                 n_clusters: int | None = None):
        self.method = method
        self.n_clusters = n_clusters
        self.criterion = criterion
        self.k_max = k_max
        self.n_init = n_init
        self.n_refs = n_refs
        self.threshold = threshold
        self.n_jitter = n_jitter
        self.jitter = jitter
        self.silhouette_tol = silhouette_tol
        self.max_points = max_points
        self.random_state = random_state

    def _validate(self) -> None:
        if self.method not in ("kmeans", "ward"):
            raise ValueError(f"method must be 'kmeans' or 'ward', got {self.method!r}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")
        if self.k_max < 2:
            raise ValueError(f"k_max must be >= 2, got {self.k_max}")
        if self.n_clusters is not None and (int(self.n_clusters) != self.n_clusters
                                            or self.n_clusters < 1):
            raise ValueError(f"n_clusters must be None or an integer >= 1, "
                             f"got {self.n_clusters!r}")
        if (self.n_init < 1 or self.n_refs < 2 or self.n_jitter < 0 or self.jitter < 0
                or self.max_points < 3):
            raise ValueError("n_init >= 1, n_refs >= 2, n_jitter >= 0, jitter >= 0 and "
                             "max_points >= 3 are required")

    def fit(self, task_variance: np.ndarray) -> TaskVarianceClustering:
        """Fit on ``task_variance`` ``(N, R)`` (units × rules, or any non-negative profile).

        Runs single-threaded: the matrices are small, and KMeans' OpenMP threads on a busy
        2-core machine made the k sweep 50x slower (see benchmarks/bench_analysis.py).
        """
        self._validate()
        with threadpool_limits(limits=1):
            return self._fit(task_variance)

    def _fit(self, task_variance: np.ndarray) -> TaskVarianceClustering:
        tv = _check_matrix(task_variance, "task_variance")
        rng = np.random.default_rng(self.random_state)
        self.active_ = active_units(tv, self.threshold)
        if not self.active_.any():
            raise ValueError(f"no active unit to cluster (summed task variance > "
                             f"{self.threshold})")
        self.features_ = normalize_by_max(tv[self.active_])
        points, group_of = self._pregroup(self.features_, rng)
        weight = np.bincount(group_of, minlength=len(points)).astype(float)
        tree = _ward_tree(points) if self.method == "ward" and len(points) > 1 else None
        leaf_rank = np.zeros(len(points))
        if tree is not None:
            leaf_rank[leaves_list(tree)] = np.arange(len(points))
        if self.method == "ward":
            self.linkage_ = tree if tree is not None else np.zeros((0, 4))
        k_high = min(self.k_max, _n_distinct(points), len(points) - 1)
        if self.n_clusters is not None:
            point_labels = self._fixed(points, weight, rng, tree)
        elif k_high <= 1:
            self.k_values_ = np.array([1])
            self.gap_, self.gap_se_, self.silhouette_ = (np.array([np.nan]) for _ in range(3))
            point_labels = np.zeros(len(points), dtype=int)
        else:
            self.k_values_ = np.arange(2 if self.criterion == "silhouette" else 1, k_high + 1)
            point_labels = self._choose(points, weight, rng, tree)
        _, point_labels = np.unique(point_labels, return_inverse=True)
        self.n_clusters_ = int(point_labels.max()) + 1
        self._finish(point_labels[group_of], leaf_rank[group_of], tv.shape[0])
        return self

    def _fixed(self, points: np.ndarray, weight: np.ndarray, rng: np.random.Generator,
               tree: np.ndarray | None) -> np.ndarray:
        """The partition into ``n_clusters`` clusters, capped at the distinct profiles and at
        ``n_points - 1`` (k = n_points puts every point in a cluster of its own: an adjusted Rand
        index of 1 between two such partitions says nothing)."""
        distinct = _n_distinct(points)
        k = max(1, min(int(self.n_clusters), distinct, len(points) - 1))
        if k < self.n_clusters:
            why = (f"the profiles hold only {distinct} distinct ones" if distinct <= k
                   else f"{len(points)} points allow at most {k} clusters that are not all "
                        "single points")
            warnings.warn(f"{self.n_clusters} clusters asked for, but {why}: using k = {k}",
                          stacklevel=4)
        self.k_values_ = np.array([k])
        labels = np.zeros(len(points), dtype=int) if k == 1 else self._partitions(
            points, weight, self.k_values_, int(rng.integers(2**31)), tree)[0]
        self.gap_, self.gap_se_ = np.array([np.nan]), np.array([np.nan])
        self.silhouette_ = np.array([silhouette_score(points, labels)
                                     if 1 < len(np.unique(labels)) < len(points) else np.nan])
        return labels

    def _partitions(self, x: np.ndarray, weight: np.ndarray, ks: np.ndarray, seed: int,
                    tree: np.ndarray | None = None) -> list[np.ndarray]:
        """Labels ``(n,)`` of the method's partition of ``x`` ``(n, d)`` for every k in ``ks``."""
        if self.method == "ward":
            tree = linkage(x, method="ward") if tree is None else tree
            return [fcluster(tree, int(k), criterion="maxclust") - 1 for k in ks]
        return [np.zeros(len(x), dtype=int) if k == 1 else
                KMeans(n_clusters=int(k), n_init=self.n_init, random_state=seed
                       ).fit_predict(x, sample_weight=weight) for k in ks]

    def _gap(self, points: np.ndarray, weight: np.ndarray, fits: list[np.ndarray],
             ks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``Gap(k)`` and ``s_k`` ``(len(ks),)`` of the partitions ``fits`` of ``points``."""
        floor = weight.sum() * DISTINCT_TOL ** 2  # W_k of identical points is 0
        log_w = np.log([max(within_cluster_dispersion(points, f, weight), floor)
                        for f in fits])
        ref_log_w = np.empty((self.n_refs, len(ks)))
        for b in range(self.n_refs):
            ref = _pca_box_reference(points, rng)
            ref_fits = self._partitions(ref, weight, ks, int(rng.integers(2**31)))
            ref_log_w[b] = np.log([max(within_cluster_dispersion(ref, f, weight), floor)
                                   for f in ref_fits])
        return (ref_log_w.mean(axis=0) - log_w,
                ref_log_w.std(axis=0) * np.sqrt(1.0 + 1.0 / self.n_refs))

    def _choose(self, points: np.ndarray, weight: np.ndarray, rng: np.random.Generator,
                tree: np.ndarray | None) -> np.ndarray:
        """Score every k in ``k_values_``, set the curves, return the chosen partition."""
        ks = self.k_values_
        fits = self._partitions(points, weight, ks, int(rng.integers(2**31)), tree)
        self.silhouette_ = np.array([
            silhouette_score(points, f) if 1 < len(np.unique(f)) < len(points) else np.nan
            for f in fits])
        self.gap_, self.gap_se_ = np.full(len(ks), np.nan), np.full(len(ks), np.nan)
        if self.criterion == "gap":
            self.gap_, self.gap_se_ = self._gap(points, weight, fits, ks, rng)
            return fits[_gap_choice(self.gap_, self.gap_se_)]
        several = np.flatnonzero(ks >= 2)
        if self.method == "ward" and self.n_jitter > 0:
            curves = [self.silhouette_[several]]
            for _ in range(self.n_jitter):
                noisy = points * (1.0 + rng.normal(0.0, self.jitter, size=points.shape))
                curves.append(_silhouette_curve_ward(noisy, ks[several]))
            self.silhouette_[several] = np.mean(curves, axis=0)
        scores = self.silhouette_[several]
        if self.method == "kmeans":
            chosen = several[int(np.nanargmax(scores))]
        else:
            ok = scores >= np.nanmax(scores) - abs(np.nanmax(scores)) * self.silhouette_tol
            chosen = several[int(np.argmax(ok))]
        if self.criterion == "gap_silhouette":
            test = np.array([0, chosen])  # k = 1 against the silhouette's k
            gap, se = self._gap(points, weight, [fits[0], fits[chosen]], ks[test], rng)
            self.gap_[test], self.gap_se_[test] = gap, se
            if gap[0] >= gap[1] - se[1]:
                return fits[0]
        return fits[chosen]

    def _pregroup(self, x: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        if len(x) <= self.max_points:
            return x, np.arange(len(x))
        pre = MiniBatchKMeans(n_clusters=self.max_points, n_init=3, batch_size=4096,
                              random_state=int(rng.integers(2**31))).fit(x)
        used, group_of = np.unique(pre.labels_, return_inverse=True)
        return pre.cluster_centers_[used], group_of

    def _finish(self, labels_active: np.ndarray, rank_active: np.ndarray, n_units: int
                ) -> None:
        k = self.n_clusters_
        prefs = np.array([np.argmax(self.features_[labels_active == c].sum(axis=0))
                          for c in range(k)])
        strength = np.array([self.features_[labels_active == c].sum() for c in range(k)])
        old_in_new_order = np.lexsort((-strength, prefs))
        new_of_old = np.empty(k, dtype=int)
        new_of_old[old_in_new_order] = np.arange(k)
        labels = np.full(n_units, k, dtype=int)
        labels[self.active_] = new_of_old[labels_active]
        self.labels_ = labels
        self.cluster_rule_ = prefs[old_in_new_order]
        rank = np.full(n_units, np.inf)
        rank[self.active_] = rank_active
        self.order_ = np.lexsort((rank, labels))

    def fit_predict(self, task_variance: np.ndarray) -> np.ndarray:
        """``fit`` then return ``labels_`` ``(N,)``."""
        return self.fit(task_variance).labels_


def clustering_agreement(partitions: Sequence[np.ndarray]) -> np.ndarray:
    """Adjusted Rand index (Hubert & Arabie, 1985, J. Classif. 2:193; scikit-learn's
    ``adjusted_rand_score``) between every pair of ``partitions`` of the same points, each
    ``(n,)`` int labels: ``(P, P)``, symmetric, 1 on the diagonal, about 0 for independent
    partitions. ValueError if the partitions differ in length or there are none."""
    parts = [np.asarray(p).ravel() for p in partitions]
    if not parts or len({len(p) for p in parts}) != 1:
        raise ValueError(f"partitions must be one or more label arrays of one length, got "
                         f"lengths {[len(p) for p in parts]}")
    ari = np.eye(len(parts))
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            ari[i, j] = ari[j, i] = adjusted_rand_score(parts[i], parts[j])
    return ari


def rule_partition(task_variance: np.ndarray, labels: np.ndarray,
                   active: np.ndarray | None = None) -> np.ndarray:
    """The partition of the rules that a unit clustering induces: each rule goes to the unit
    cluster whose mean normalised profile (the centroid of its active units' max-normalised task
    variance, as clustered) is largest at that rule; a rule without variance in any cluster gets
    its own label -1.

    Units of two networks (seeds) do not correspond, so their unit partitions cannot be compared;
    their rules do. Two networks whose clusters serve the same groups of rules give the same rule
    partition, whatever the numbering or size of their clusters.

    Args:
        task_variance: ``(N, R)`` units × rules.
        labels: ``(N,)`` int unit clusters (e.g. ``labels_``; inactive units are left out).
        active: ``(N,)`` bool units to use (default: every unit).
    Returns ``(R,)`` int cluster of each rule. ValueError for mismatched shapes or no active unit.
    """
    tv = _check_matrix(task_variance, "task_variance")
    labels = np.asarray(labels).ravel()
    active = np.ones(len(tv), bool) if active is None else np.asarray(active, bool).ravel()
    if labels.shape != (len(tv),) or active.shape != (len(tv),):
        raise ValueError(f"labels and active must have shape ({len(tv)},), got {labels.shape} "
                         f"and {active.shape}")
    if not active.any():
        raise ValueError("no active unit")
    profiles, labels = normalize_by_max(tv[active]), labels[active]
    clusters = np.unique(labels)
    centroids = np.stack([profiles[labels == c].mean(axis=0) for c in clusters])  # (K, R)
    return np.where(centroids.max(axis=0) > 0, clusters[np.argmax(centroids, axis=0)], -1)


def seeds_agreement(rule_partitions: Sequence[np.ndarray]) -> dict[str, np.ndarray | float]:
    """Agreement across networks (seeds) of their :func:`rule_partition` ``(R,)`` each, over
    the same rules: ``rule_labels`` ``(S, R)``, ``n_groups`` ``(S,)`` rule groups per network,
    ``ari`` ``(S, S)`` (:func:`clustering_agreement`) and ``mean_ari``, the mean over pairs of
    different networks (NaN for one network). About 0 when the networks group the rules
    independently, 1 when they group them alike; two networks that each put every rule in one
    group (one cluster) agree trivially, with 1, so read ``n_groups`` alongside."""
    parts = [np.asarray(p).ravel() for p in rule_partitions]
    ari = clustering_agreement(parts)  # ValueError for none or different lengths
    off = ari[~np.eye(len(ari), dtype=bool)]
    return {"rule_labels": np.stack(parts), "n_groups": np.array([len(np.unique(p))
                                                                  for p in parts]),
            "ari": ari, "mean_ari": float(off.mean()) if off.size else float("nan")}


def cluster_quality(features: np.ndarray, labels: np.ndarray, n_permutations: int = 50,
                    random_state: int | None = 0) -> dict[str, np.ndarray | float]:
    """Cluster-quality scores of ``labels`` against a permutation null.

    The null shuffles every feature column independently across units (keeping each rule's
    variance distribution, destroying which rules a unit shares) and re-clusters with KMeans at
    the same k. Returns, for ``silhouette``, ``calinski_harabasz`` and ``davies_bouldin`` (lower
    is better), the observed score, the ``(n_permutations,)`` null scores and a one-sided
    p-value ``(1 + #null at least as good) / (1 + n_permutations)``.

    Args:
        features: ``(n, R)`` clustered profiles (e.g. ``features_``).
        labels: ``(n,)`` cluster labels of those rows (at least 2 clusters).
    """
    x = _check_matrix(features, "features")
    labels = np.asarray(labels)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {labels.shape}")
    k = len(np.unique(labels))
    if not 1 < k < x.shape[0]:
        raise ValueError(f"need 2 <= n_clusters < n_samples, got {k}")
    scorers = {"silhouette": (silhouette_score, 1), "calinski_harabasz":
               (calinski_harabasz_score, 1), "davies_bouldin": (davies_bouldin_score, -1)}
    rng = np.random.default_rng(random_state)
    null = {name: np.empty(n_permutations) for name in scorers}
    with threadpool_limits(limits=1):
        _fill_null(x, k, rng, scorers, null)
    out: dict[str, np.ndarray | float] = {}
    for name, (fn, sign) in scorers.items():
        observed = float(fn(x, labels))
        at_least = np.sum(sign * null[name] >= sign * observed)
        out[name] = observed
        out[f"{name}_null"] = null[name]
        out[f"{name}_p"] = float((1 + at_least) / (1 + n_permutations))
    return out


def _fill_null(x: np.ndarray, k: int, rng: np.random.Generator, scorers: dict,
               null: dict[str, np.ndarray]) -> None:
    for i in range(len(next(iter(null.values())))):
        shuffled = np.column_stack([rng.permutation(col) for col in x.T])
        null_labels = KMeans(n_clusters=k, n_init=4, random_state=int(rng.integers(2**31))
                             ).fit_predict(shuffled)
        single = len(np.unique(null_labels)) < 2
        for name, (fn, _) in scorers.items():
            null[name][i] = np.nan if single else fn(shuffled, null_labels)


def cluster_weight_structure(matrix: np.ndarray, axis: int = 0, method: str = "ward",
                             **kwargs) -> TaskVarianceClustering:
    """Cluster the rows (``axis=0``) or columns (``axis=1``) of a weight-like matrix.

    Used for the plastic-weight structure of MPNs: rows of ``W`` (``(n_hidden, n_embed)``,
    hidden units by their inputs), its columns (embedding units by their targets), or of the
    trial-averaged ``M`` at an epoch's end. Profiles are the absolute entries, max-normalised;
    ``kwargs`` go to :class:`TaskVarianceClustering`.
    """
    x = _check_matrix(matrix, "matrix")
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 or 1, got {axis}")
    profiles = np.abs(x if axis == 0 else x.T)
    kwargs.setdefault("threshold", 0.0)
    return TaskVarianceClustering(method=method, **kwargs).fit(profiles)
