"""Network-mediated timescales, dimensionality, ablations and perturbations of memory-task RNNs.

Khajehabdollahi, Zeraati et al. (ICLR 2024). A neuron's network-mediated timescale ``τ_net`` is
read off the autocorrelation (AC) of its activity while the network is driven by random binary
input: the AC is computed with an FFT (zero-padded, unbiased normalisation by the number of
overlapping samples, averaged over trials), normalised by its lag-0 value, and fitted over lags
``0..fit_lag`` by a single exponential ``a·exp(−t/τ)`` and a double exponential
``a·(c·exp(−t/τ1) + (1−c)·exp(−t/τ2))``; the model with the lower AIC
(``2k + n·log(RSS/n)``) is kept and ``τ_net`` is its slowest timescale.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import OptimizeWarning, curve_fit

from core.analysis.state_space import pca_spectrum
from core.models.timescale_rnn import TimescaleRNN, theta_from_tau


def autocorrelation(x: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Trial-averaged autocovariance of ``x (n_trials, T)`` at lags ``0..max_lag``.

    Each trial's mean is removed; lag ``k`` is divided by ``T − k`` (unbiased). Not normalised:
    entry 0 is the variance. Returns ``(max_lag + 1,)`` (``max_lag`` defaults to ``T − 1``).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"x must have shape (n_trials, T) with T >= 2, got {x.shape}")
    n = x.shape[1]
    max_lag = n - 1 if max_lag is None else max_lag
    if not 0 <= max_lag < n:
        raise ValueError(f"max_lag must be in [0, {n - 1}], got {max_lag}")
    centred = x - x.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=2 * n, axis=1)
    acov = np.fft.irfft(np.abs(spectrum) ** 2, n=2 * n, axis=1)[:, : max_lag + 1]
    return (acov / (n - np.arange(max_lag + 1))).mean(axis=0)


def single_exponential(t: np.ndarray, a: float, tau: float) -> np.ndarray:
    """``a·exp(−t/τ)``."""
    return a * np.exp(-t / tau)


def double_exponential(t: np.ndarray, a: float, tau1: float, tau2: float, c: float) -> np.ndarray:
    """``a·(c·exp(−t/τ1) + (1−c)·exp(−t/τ2))``."""
    return a * (c * np.exp(-t / tau1) + (1.0 - c) * np.exp(-t / tau2))


@dataclass
class TimescaleFit:
    """Result of :func:`fit_timescale`: ``tau`` (slowest timescale of the chosen model, NaN when
    no fit converged), ``n_exponentials`` (1 or 2, 0 when none), ``taus`` (the chosen model's
    timescales, sorted) and both AICs.
    """

    tau: float
    n_exponentials: int
    taus: tuple[float, ...]
    aic_single: float
    aic_double: float


def _aic(y: np.ndarray, y_fit: np.ndarray, k: int) -> float:
    rss = max(float(((y - y_fit) ** 2).sum()), 1e-300)
    return 2 * k + len(y) * np.log(rss / len(y))


def fit_timescale(ac: np.ndarray, fit_lag: int, tau_max: float = 1000.0) -> TimescaleFit:
    """Fit the normalised ``ac`` over lags ``0..fit_lag`` with one and two exponentials (AIC).

    ``ac (L,)`` with ``L > fit_lag``; ``tau_max`` bounds each fitted timescale.
    """
    ac = np.asarray(ac, dtype=np.float64)
    if not 3 <= fit_lag < len(ac):
        raise ValueError(f"fit_lag must be in [3, {len(ac) - 1}], got {fit_lag}")
    nan = TimescaleFit(np.nan, 0, (), np.inf, np.inf)
    if not np.isfinite(ac[0]) or ac[0] <= 0:
        return nan
    t = np.arange(fit_lag + 1, dtype=np.float64)
    y = ac[: fit_lag + 1] / ac[0]
    fits: dict[int, tuple[float, tuple[float, ...]]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            p1, _ = curve_fit(single_exponential, t, y, p0=(1.0, 2.0), maxfev=5000,
                              bounds=((0.0, 1e-3), (2.0, tau_max)))
            fits[1] = (_aic(y, single_exponential(t, *p1), 2), (float(p1[1]),))
        except RuntimeError:
            pass
        try:
            p2, _ = curve_fit(double_exponential, t, y, p0=(1.0, 1.0, 10.0, 0.5), maxfev=5000,
                              bounds=((0.0, 1e-3, 1e-3, 0.0), (2.0, tau_max, tau_max, 1.0)))
            fits[2] = (_aic(y, double_exponential(t, *p2), 4),
                       tuple(sorted((float(p2[1]), float(p2[2])))))
        except RuntimeError:
            pass
    if not fits:
        return nan
    best = min(fits, key=lambda k: fits[k][0])
    taus = fits[best][1]
    return TimescaleFit(tau=taus[-1], n_exponentials=best, taus=taus,
                        aic_single=fits.get(1, (np.inf,))[0],
                        aic_double=fits.get(2, (np.inf,))[0])


def neuron_timescales(activity: np.ndarray, fit_lag: int,
                      burn_in: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``τ_net`` of every neuron from ``activity (T, n_trials, H)``.

    The first ``burn_in`` steps are dropped. Returns ``tau_net (H,)`` (NaN for silent neurons or
    failed fits) and ``n_exponentials (H,)``.
    """
    if activity.ndim != 3:
        raise ValueError(f"activity must have shape (T, n_trials, H), got {activity.shape}")
    data = activity[burn_in:]
    taus = np.full(data.shape[2], np.nan)
    n_exp = np.zeros(data.shape[2], dtype=np.int64)
    for j in range(data.shape[2]):
        fit = fit_timescale(autocorrelation(data[:, :, j].T, fit_lag), fit_lag)
        taus[j], n_exp[j] = fit.tau, fit.n_exponentials
    return taus, n_exp


@torch.no_grad()
def simulate_activity(model: TimescaleRNN, n_trials: int, length: int, rng: np.random.Generator,
                      hidden_mask: torch.Tensor | None = None) -> np.ndarray:
    """Hidden activity ``(length, n_trials, H)`` under random binary input.

    Each trial's bits are Bernoulli(p) with ``p ~ U(0, 1)`` per trial, as in the paper.
    """
    p = rng.uniform(0.0, 1.0, size=n_trials)
    bits = (rng.random((length, n_trials)) < p).astype(np.float32)[:, :, None]
    _, states = model(torch.from_numpy(bits), track_states=True, hidden_mask=hidden_mask)
    return states["hidden"].numpy()


def pca_dimensionality(activity: np.ndarray, variance: float = 0.9) -> int:
    """Number of principal components explaining ``variance`` of ``activity (..., H)``."""
    if not 0.0 < variance <= 1.0:
        raise ValueError(f"variance must be in (0, 1], got {variance}")
    s = pca_spectrum(activity)
    if s.sum() == 0:
        return 0
    cumulative = np.cumsum(s) / s.sum()
    return int(np.searchsorted(cumulative, variance - 1e-12) + 1)


def ablation_mask(n_hidden: int, neurons: Sequence[int]) -> torch.Tensor:
    """``(n_hidden,)`` mask of ones with zeros at ``neurons`` (for ``hidden_mask``)."""
    mask = torch.ones(n_hidden)
    mask[list(neurons)] = 0.0
    return mask


def neurons_by_tau(tau: np.ndarray, k: int, which: str) -> np.ndarray:
    """Indices of the ``k`` neurons with the smallest (``"fastest"``) or largest (``"slowest"``)
    τ; NaNs are never chosen. ``tau (H,)`` → ``(k,)``.
    """
    if which not in ("fastest", "slowest"):
        raise ValueError(f"which must be 'fastest' or 'slowest', got {which!r}")
    valid = np.flatnonzero(np.isfinite(tau))
    order = valid[np.argsort(tau[valid], kind="stable")]
    return order[:k] if which == "fastest" else order[::-1][:k]


@torch.no_grad()
def perturbed_copy(model: TimescaleRNN, target: str, scale: float,
                   rng: np.random.Generator) -> TimescaleRNN:
    """A copy of ``model`` with Gaussian noise on ``target``, scaled to its size.

    ``"w_rec"``: ``W ← W + scale·rms(W)·ε``; ``"tau"``: ``τ ← max(1, τ·(1 + scale·ε))``, with
    ``ε ~ N(0, 1)`` element-wise. Only for ``cell="rnn"``.
    """
    if model.config.cell != "rnn":
        raise ValueError("perturbations need the timescale RNN (cell='rnn')")
    clone = copy.deepcopy(model)
    if target == "w_rec":
        w = clone.w_rec.weight
        noise = torch.from_numpy(rng.standard_normal(tuple(w.shape))).to(w)
        w.add_(scale * w.pow(2).mean().sqrt() * noise)
    elif target == "tau":
        tau = clone.tau
        noise = torch.from_numpy(rng.standard_normal(tuple(tau.shape))).to(tau)
        new_tau = torch.clamp(tau * (1.0 + scale * noise), min=1.0)
        if clone.config.train_tau:
            clone.theta.copy_(theta_from_tau(new_tau))
        else:
            clone.tau_buffer.copy_(new_tau)
    else:
        raise ValueError(f"target must be 'w_rec' or 'tau', got {target!r}")
    return clone
