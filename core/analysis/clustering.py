"""Clustering units (or synapses) by their task-variance profiles.

Two methods, as scikit-learn-style estimators (hyper-parameters in the constructor, ``fit``,
fitted attributes with a trailing underscore):

- ``method="kmeans"`` (Yang et al., 2019, Nat. Neurosci. 22:297): keep active units (summed task
  variance > 1e-3), normalise each by its maximum, run KMeans (``n_init=20``) for k = 2..29 and
  keep the k with the best silhouette score.
- ``method="ward"`` (the MPN lab's method): Ward agglomerative clustering with optimal leaf
  ordering (Bar-Joseph et al., 2001). The silhouette-vs-k curve is averaged over ``n_jitter``
  copies of the data with small relative jitter (each entry times ``1 + N(0, jitter)``), and
  the smallest k whose mean silhouette is within ``silhouette_tol`` (relative) of the best one
  is chosen; the dendrogram itself is built once on the unperturbed data. Large populations
  (synapses) are first pre-grouped by MiniBatchKMeans into ``max_points`` groups whose centroids
  are then clustered.

Clusters are numbered by their dominant rule (the rule with the largest summed normalised
variance in the cluster), so the numbering is comparable across networks; inactive units get
their own label ``n_clusters_``.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from threadpoolctl import threadpool_limits

__all__ = [
    "active_units",
    "normalize_by_max",
    "TaskVarianceClustering",
    "cluster_quality",
    "cluster_weight_structure",
]


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


def _ward_tree(x: np.ndarray) -> np.ndarray:
    """Ward linkage with optimal leaf ordering of the rows of ``x`` ``(n, d)``."""
    return optimal_leaf_ordering(linkage(x, method="ward"), pdist(x))


def _silhouette_curve_ward(x: np.ndarray, k_values: np.ndarray) -> np.ndarray:
    tree = linkage(x, method="ward")
    dist = squareform(pdist(x))
    scores = np.full(len(k_values), -1.0)
    for i, k in enumerate(k_values):
        labels = fcluster(tree, k, criterion="maxclust")
        if 1 < len(np.unique(labels)) < len(x):
            scores[i] = silhouette_score(dist, labels, metric="precomputed")
    return scores


class TaskVarianceClustering:
    """Cluster units by their normalised task-variance profiles.

    Args:
        method: ``"kmeans"`` (Yang et al.) or ``"ward"`` (MPN lab), see the module docstring.
        k_min, k_max: range of cluster numbers tried (Yang et al.: 2..29); clipped to
            ``n_active - 1``.
        n_init: KMeans restarts (Yang et al.: 20).
        threshold: activity threshold on the summed task variance (Yang et al.: 1e-3).
        n_jitter: jittered copies used to average the Ward silhouette curve (0 = none).
        jitter: relative jitter standard deviation.
        silhouette_tol: relative tolerance below the best mean silhouette for Ward's k.
        max_points: above this many active units, pre-group with MiniBatchKMeans.
        random_state: seed for KMeans, jitter and pre-grouping.

    Fitted attributes:
        active_: ``(N,)`` bool, units clustered.
        features_: ``(n_active, R)`` max-normalised profiles of the active units.
        k_values_: ``(n_k,)`` tried cluster numbers; ``silhouette_``: ``(n_k,)`` their scores.
        n_clusters_: chosen k.
        labels_: ``(N,)`` int, clusters ``0..n_clusters_-1`` ordered by dominant rule;
            inactive units get ``n_clusters_``.
        cluster_rule_: ``(n_clusters_,)`` index of each cluster's dominant rule.
        order_: ``(N,)`` unit indices sorted by cluster (Ward: by leaf order inside a
            cluster), inactive units last.
        linkage_: Ward linkage ``(n - 1, 4)`` of the (pre-grouped) active points (Ward only).
    """

    def __init__(self, method: str = "kmeans", k_min: int = 2, k_max: int = 29,
                 n_init: int = 20, threshold: float = 1e-3, n_jitter: int = 10,
                 jitter: float = 0.01, silhouette_tol: float = 0.02, max_points: int = 2000,
                 random_state: int | None = 0):
        self.method = method
        self.k_min = k_min
        self.k_max = k_max
        self.n_init = n_init
        self.threshold = threshold
        self.n_jitter = n_jitter
        self.jitter = jitter
        self.silhouette_tol = silhouette_tol
        self.max_points = max_points
        self.random_state = random_state

    def _validate(self) -> None:
        if self.method not in ("kmeans", "ward"):
            raise ValueError(f"method must be 'kmeans' or 'ward', got {self.method!r}")
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got {self.k_min}, {self.k_max}")
        if self.n_init < 1 or self.n_jitter < 0 or self.jitter < 0 or self.max_points < 3:
            raise ValueError("n_init >= 1, n_jitter >= 0, jitter >= 0 and max_points >= 3 "
                             "are required")

    def fit(self, task_variance: np.ndarray) -> TaskVarianceClustering:
        """Fit on ``task_variance`` ``(N, R)`` (units × rules, or any non-negative profile).

        Runs single-threaded: the matrices are small, and KMeans' OpenMP threads on a busy
        2-core machine made the k = 2..29 sweep 50x slower (see benchmarks/bench_analysis.py).
        """
        self._validate()
        with threadpool_limits(limits=1):
            return self._fit(task_variance)

    def _fit(self, task_variance: np.ndarray) -> TaskVarianceClustering:
        tv = _check_matrix(task_variance, "task_variance")
        rng = np.random.default_rng(self.random_state)
        self.active_ = active_units(tv, self.threshold)
        n_active = int(self.active_.sum())
        if n_active < 3:
            raise ValueError(f"need at least 3 active units to cluster, got {n_active}")
        self.features_ = normalize_by_max(tv[self.active_])
        points, group_of = self._pregroup(self.features_, rng)
        k_max = min(self.k_max, len(points) - 1)
        if k_max < self.k_min:
            raise ValueError(f"too few active points ({len(points)}) for k >= {self.k_min}")
        self.k_values_ = np.arange(self.k_min, k_max + 1)
        if self.method == "kmeans":
            point_labels = self._fit_kmeans(points, group_of)
            leaf_rank = np.zeros(len(points))
        else:
            point_labels, leaf_rank = self._fit_ward(points, rng)
        labels_active = point_labels[group_of]
        self._finish(labels_active, leaf_rank[group_of], tv.shape[0])
        return self

    def _pregroup(self, x: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        if len(x) <= self.max_points:
            return x, np.arange(len(x))
        pre = MiniBatchKMeans(n_clusters=self.max_points, n_init=3, batch_size=4096,
                              random_state=int(rng.integers(2**31))).fit(x)
        used, group_of = np.unique(pre.labels_, return_inverse=True)
        return pre.cluster_centers_[used], group_of

    def _fit_kmeans(self, points: np.ndarray, group_of: np.ndarray) -> np.ndarray:
        weight = np.bincount(group_of, minlength=len(points)).astype(float)
        scores, fits = [], []
        for k in self.k_values_:
            km = KMeans(n_clusters=int(k), n_init=self.n_init, random_state=self.random_state)
            labels = km.fit_predict(points, sample_weight=weight)
            ok = 1 < len(np.unique(labels)) < len(points)
            scores.append(silhouette_score(points, labels) if ok else -1.0)
            fits.append(labels)
        self.silhouette_ = np.asarray(scores)
        best = int(np.argmax(self.silhouette_))
        self.n_clusters_ = int(self.k_values_[best])
        return fits[best]

    def _fit_ward(self, points: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        curves = [_silhouette_curve_ward(points, self.k_values_)]
        for _ in range(self.n_jitter):
            noisy = points * (1.0 + rng.normal(0.0, self.jitter, size=points.shape))
            curves.append(_silhouette_curve_ward(noisy, self.k_values_))
        self.silhouette_ = np.mean(curves, axis=0)
        best = self.silhouette_.max()
        ok = self.silhouette_ >= best - abs(best) * self.silhouette_tol
        self.n_clusters_ = int(self.k_values_[np.argmax(ok)])
        self.linkage_ = _ward_tree(points)
        labels = fcluster(self.linkage_, self.n_clusters_, criterion="maxclust") - 1
        leaf_rank = np.empty(len(points))
        leaf_rank[leaves_list(self.linkage_)] = np.arange(len(points))
        self.n_clusters_ = int(len(np.unique(labels)))
        return labels, leaf_rank

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
