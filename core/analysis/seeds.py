"""Statistics across seeds: the mean and its confidence interval (Student's t).

Used by ``core.runs`` to aggregate runs that differ only in their seed.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = ["mean_interval"]


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
