"""Statistics across seeds: the mean and its confidence interval (Student's t), of values and of
learning curves.

The one place for aggregation over seeds: ``core.runs`` (the index of runs), the transfer
families' curves (:mod:`core.analysis.transfer`) and ``paper_plot.py``'s figures of several seeds
go through it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["curve_interval", "mean_interval"]


def mean_interval(values: np.ndarray, confidence: float = 0.95
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the first axis (seeds) of ``values (n, ...)`` and the two-sided Student-t
    confidence interval of that mean, ``mean ± t_{(1+c)/2, n-1} · sd / √n`` (sd with ddof 1).

    Returns ``(mean, low, high)``, each of shape ``values.shape[1:]``; the bounds are NaN for
    one seed. NaN entries (e.g. a rule a run did not report) are left out per entry. ValueError
    for an empty first axis or a confidence outside (0, 1).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(f"need values of shape (n_seeds, ...), got {values.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = np.sum(~np.isnan(values), axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # fewer than two seeds somewhere
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
        half = stats.t.ppf((1 + confidence) / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    return mean, mean - half, mean + half


def curve_interval(curves: Sequence[tuple[Sequence[float], Sequence[float]]],
                   confidence: float = 0.95, limits: tuple[float, float] | None = (0.0, 1.0)
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Learning curves of several seeds, ``[(steps (V_i,), values (V_i,)), ...]``, as their mean
    and :func:`mean_interval` at the steps every seed reached (no interpolation: a mean over seeds
    exists only where every seed has a value).

    Returns ``(steps, mean, low, high)``, each ``(V,)`` (V = 0 when the seeds share no step); the
    bounds are NaN for one seed and clipped to ``limits`` (default [0, 1], the range of an
    accuracy, which a t-interval over few seeds can leave; None: not clipped). ValueError for no
    curves or a curve whose steps and values differ in length.
    """
    if not curves:
        raise ValueError("need at least one curve")
    tables = []
    for steps, values in curves:
        if len(steps) != len(values):
            raise ValueError(f"a curve has {len(steps)} steps but {len(values)} values")
        tables.append(dict(zip(np.asarray(steps).tolist(), np.asarray(values, float).tolist(),
                               strict=True)))
    shared = np.array(sorted(set.intersection(*(set(t) for t in tables))))
    values = np.array([[t[s] for s in shared.tolist()] for t in tables]).reshape(
        len(tables), shared.size)
    mean, low, high = mean_interval(values, confidence)
    if limits is not None:
        mean, low, high = (np.clip(v, *limits) for v in (mean, low, high))
    return shared, mean, low, high
