"""Network-mediated timescales, dimensionality, ablations and perturbations of memory-task RNNs.

Khajehabdollahi, Zeraati et al. (ICLR 2024). A neuron's network-mediated timescale ``τ_net`` is
read off the autocorrelation (AC) of its activity while the network is driven by random binary
input: the AC is computed with an FFT (zero-padded, unbiased normalisation by the number of
overlapping samples), normalised by its lag-0 value, and fitted over lags ``0..fit_lag`` by a
single exponential ``a·exp(−t/τ)`` and a double exponential ``a·(c·exp(−t/τ1) + (1−c)·exp(−t/τ2))``;
``τ_net`` is the slowest timescale of the chosen model (:func:`fit_timescale`).

Deviations from the reference code (its conventions stay available as ``convention="reference"``):
the exponentials are fitted through the expectation of the AC estimator at the trial length
(:func:`expected_autocorrelation`), which removes a downward bias of 5–15 % at the scripts'
500-step trials; the double exponential must be non-degenerate and win a cross-validation over
trials, not only an information criterion; a timescale at a fit bound is reported as NaN and
counted. The reference's PCA dimensionality is computed per trial and is one less than ours.
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


def autocorrelation(x: np.ndarray, max_lag: int | None = None,
                    average: bool = True) -> np.ndarray:
    """Autocovariance of ``x (n_trials, T)`` at lags ``0..max_lag``, averaged over trials
    (``(max_lag + 1,)``) or per trial (``average=False``: ``(n_trials, max_lag + 1)``).

    Each trial's mean is removed; lag ``k`` is divided by ``T − k``. Not normalised: entry 0 is
    the variance. Removing the trial mean biases every lag down by about ``Var(trial mean)``
    (``≈ 2τ/T`` of the variance for an exponential AC); :func:`expected_autocorrelation` is the
    expectation of this estimator, which :func:`fit_timescale` fits to undo that bias.
    ``max_lag`` defaults to ``T − 1``.
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
    acov = acov / (n - np.arange(max_lag + 1))
    return acov.mean(axis=0) if average else acov


def expected_autocorrelation(lags: np.ndarray, tau: float, length: int | None) -> np.ndarray:
    """Expectation of :func:`autocorrelation` at ``lags (L,)`` for a stationary unit-variance
    process with autocorrelation ``exp(−k/τ)`` observed in trials of ``length`` steps.

    With ``g(t) = Cov(x_t, x̄)`` the expectation is ``exp(−k/τ) − 2·mean_{t<T−k} g(t) + Var(x̄)``
    (every term a geometric sum, so this is exact and O(L)); ``length=None`` gives
    ``exp(−k/τ)`` (infinitely long trials). Used to fit timescales without the downward bias of
    the trial-mean removal, in the spirit of Zeraati et al. (2022, Nat. Comput. Sci.), who fit the
    biased AC with a generative model.
    """
    lags = np.asarray(lags, dtype=np.float64)
    decay = np.exp(-lags / tau)
    if length is None:
        return decay
    q = -np.expm1(-1.0 / tau)  # 1 − φ with φ = exp(−1/τ)

    def partial(m: np.ndarray | float) -> np.ndarray:  # Σ_{t<m} Σ_{d≤t} φ^d
        return (m - (1.0 - q) * -np.expm1(m * np.log1p(-q)) / q) / q if q < 1 else np.asarray(m)

    total = partial(length)
    mean_cov = (partial(length - lags) + total - partial(lags) - (length - lags)) / (
        length * (length - lags))
    return decay - 2.0 * mean_cov + (2.0 * total - length) / length**2


def single_exponential(t: np.ndarray, a: float, tau: float) -> np.ndarray:
    """``a·exp(−t/τ)``."""
    return a * np.exp(-t / tau)


def double_exponential(t: np.ndarray, a: float, tau1: float, tau2: float, c: float) -> np.ndarray:
    """``a·(c·exp(−t/τ1) + (1−c)·exp(−t/τ2))``."""
    return a * (c * np.exp(-t / tau1) + (1.0 - c) * np.exp(-t / tau2))


#: ``TimescaleFit.status`` values, in the order of their integer codes (``FIT_STATUS.index``).
FIT_STATUS = ("ok", "silent", "failed", "at_lower_bound", "at_upper_bound")
#: Fit conventions: ours, and the reference code's (Khajehabdollahi et al. 2024, ``model_comp``).
FIT_CONVENTIONS = ("lab", "reference")


@dataclass
class TimescaleFit:
    """Result of :func:`fit_timescale`.

    ``tau``: slowest timescale of the chosen model, NaN unless ``status == "ok"`` (the reference
    convention reports it at a bound too); ``status``: one of :data:`FIT_STATUS`;
    ``n_exponentials``: 1 or 2 (0 when nothing was fitted); ``taus`` and ``weights``: the chosen
    model's timescales (ascending) and their amplitude fractions; ``criterion_single`` /
    ``criterion_double``: the information criterion of each model (inf when it did not fit or,
    for the double exponential, was degenerate).
    """

    tau: float
    status: str
    n_exponentials: int
    taus: tuple[float, ...]
    weights: tuple[float, ...]
    criterion_single: float
    criterion_double: float


def _information_criterion(y: np.ndarray, y_fit: np.ndarray, k: int, kind: str) -> float:
    n = len(y)
    rss = max(float(((y - y_fit) ** 2).sum()), 1e-300)
    return (2 * k if kind == "aic" else k * np.log(n)) + n * np.log(rss / n)


def _at_bound(tau: float, lo: float, hi: float) -> bool:
    return _bound_status(tau, lo, hi) != "ok"


#: Below this timescale an exponential is under 1e-3 at lag 1: faster than the sampling step,
#: the fit cannot tell it from the lower bound (its objective is flat there).
TAU_UNRESOLVED = 1.0 / np.log(1e3)


def _bound_status(tau: float, lo: float, hi: float) -> str:
    if tau <= max(lo * (1 + 1e-3), TAU_UNRESOLVED):
        return "at_lower_bound"
    return "at_upper_bound" if tau >= hi * (1 - 1e-3) else "ok"


def fit_timescale(ac: np.ndarray, fit_lag: int, length: int | None = None,
                  tau_max: float = 1000.0, min_weight: float = 0.05, folds: int = 5,
                  convention: str = "lab") -> TimescaleFit:
    """Fit the normalised autocorrelation over lags ``0..fit_lag`` with one and two exponentials.

    ``ac``: ``(L,)`` trial-averaged, or ``(n_trials, L)`` per trial, as returned by
    :func:`autocorrelation` (``L > fit_lag``); ``length``: the trial length it was computed from
    (``None``: no finite-length correction).

    ``convention="lab"``: each model is :func:`expected_autocorrelation` of one or a weighted pair
    of exponentials (so the bias of the trial-mean removal is fitted, not reported), timescales
    bounded to ``[1e-3, tau_max]``. The double exponential is admissible only when both
    components carry at least ``min_weight`` of the amplitude, neither timescale sits at a bound
    and they differ by more than 10 %; otherwise it is a re-parametrised single exponential. It is
    chosen only when it also has the lower BIC (``k·ln n + n·ln(RSS/n)``) **and**, given per-trial
    ACs, predicts held-out trials better than the single exponential by more than two standard
    errors in ``folds``-fold cross-validation over trials. BIC alone treats the AC lags as
    independent, which they are not: on AR(1) data it picks a spurious slow component in about
    a quarter of the fits. With a trial-averaged ``ac`` only the BIC is used.
    Edges: a chosen timescale at a bound is not a measurement (``tau`` NaN): ``"at_lower_bound"``
    below :data:`TAU_UNRESOLVED` (0.145 steps), when the AC has vanished or turned negative by
    lag 1, i.e. faster than one step; ``"at_upper_bound"`` at ``tau_max``, when the AC barely
    decays within the fit window and trial. A zero or non-finite variance gives ``"silent"``, no
    converged fit ``"failed"``.

    ``convention="reference"``: the reference code's ``model_comp`` — plain exponentials fitted
    to the trial average, amplitude in ``[0, 1]``, timescales in ``[0, 100]``, scipy's default
    starting values, the lower AIC wins and a tie is NaN; the slowest timescale is reported even
    at a bound (``status`` still says which bound). ``length``, ``tau_max``, ``min_weight``
    and ``folds`` are then ignored.
    """
    ac = np.asarray(ac, dtype=np.float64)
    if ac.ndim not in (1, 2) or not 3 <= fit_lag < ac.shape[-1]:
        raise ValueError(f"ac must be (L,) or (n_trials, L) with 3 <= fit_lag < L; got shape "
                         f"{ac.shape} and fit_lag={fit_lag}")
    if convention not in FIT_CONVENTIONS:
        raise ValueError(f"convention must be one of {FIT_CONVENTIONS}, got {convention!r}")
    if length is not None and length <= fit_lag:
        raise ValueError(f"length must exceed fit_lag={fit_lag}, got {length}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    trials = ac[:, : fit_lag + 1] if ac.ndim == 2 else None
    mean = trials.mean(axis=0) if trials is not None else ac[: fit_lag + 1]
    if not np.isfinite(mean[0]) or mean[0] <= 0:
        return TimescaleFit(np.nan, "silent", 0, (), (), np.inf, np.inf)
    t = np.arange(fit_lag + 1, dtype=np.float64)
    y = mean / mean[0]
    if convention == "reference":
        return _fit_reference(t, y)
    models = _ExponentialModels(t, length, tau_max)
    p1, p2 = models.fit(y)
    scores = {1: np.inf, 2: np.inf}
    if p1 is not None:
        scores[1] = _information_criterion(y, models.single(t, *p1), 2, "bic")
    if p2 is not None and not models.degenerate(p2, min_weight):
        scores[2] = _information_criterion(y, models.double(t, *p2), 4, "bic")
    if p1 is None and p2 is None:
        return TimescaleFit(np.nan, "failed", 0, (), (), np.inf, np.inf)
    best = 2 if scores[2] < scores[1] else 1
    if best == 2 and p1 is not None and trials is not None and len(trials) >= folds:
        best = 2 if models.double_predicts_better(trials, folds, (p1, p2)) else 1
    if best == 1 and p1 is None:
        return TimescaleFit(np.nan, "failed", 0, (), (), *scores.values())
    taus, weights = models.components(p1 if best == 1 else p2)
    status = _bound_status(taus[-1], models.lo, tau_max)
    return TimescaleFit(tau=taus[-1] if status == "ok" else np.nan, status=status,
                        n_exponentials=best, taus=taus, weights=weights,
                        criterion_single=scores[1], criterion_double=scores[2])


class _ExponentialModels:
    """Single and double exponential AC models at lags ``t`` (finite-length corrected)."""

    lo = 1e-3

    def __init__(self, t: np.ndarray, length: int | None, tau_max: float):
        self.t, self.length, self.tau_max = t, length, tau_max

    def shape(self, tau: float) -> np.ndarray:
        e = expected_autocorrelation(self.t, tau, self.length)
        return e / e[0]

    def single(self, _: np.ndarray, a: float, tau: float) -> np.ndarray:
        return a * self.shape(tau)

    def double(self, _: np.ndarray, a: float, tau1: float, tau2: float, c: float) -> np.ndarray:
        return a * (c * self.shape(tau1) + (1.0 - c) * self.shape(tau2))

    def fit(self, y: np.ndarray, starts: tuple[np.ndarray, np.ndarray] | None = None
            ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Least-squares parameters of both models (None where no fit converged), from
        ``starts`` (single, double) if given, else from generic starting values."""
        lo, hi, t = self.lo, self.tau_max, self.t
        p1 = p2 = None
        rss2 = np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            try:
                p1 = curve_fit(self.single, t, y, p0=(1.0, 2.0) if starts is None else starts[0],
                               maxfev=5000, bounds=((0.0, lo), (2.0, hi)))[0]
            except (RuntimeError, ValueError):
                pass
            start = 2.0 if p1 is None else float(p1[1])
            double_starts = ([(1.0, max(start / 3, 2 * lo), min(3 * start, hi / 2), 0.5),
                              (1.0, 1.0, 10.0, 0.5)] if starts is None else [starts[1]])
            for p0 in double_starts:
                try:
                    p = curve_fit(self.double, t, y, p0=p0, maxfev=5000,
                                  bounds=((0.0, lo, lo, 0.0), (2.0, hi, hi, 1.0)))[0]
                except (RuntimeError, ValueError):
                    continue
                rss = float(((y - self.double(t, *p)) ** 2).sum())
                if rss < rss2:
                    p2, rss2 = p, rss
        return p1, p2

    def components(self, p: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Timescales (ascending) and amplitude fractions of fitted parameters ``p``."""
        if len(p) == 2:
            return (float(p[1]),), (1.0,)
        order = np.argsort(p[1:3])
        return (tuple(float(v) for v in p[1:3][order]),
                tuple(float(v) for v in np.array([p[3], 1.0 - p[3]])[order]))

    def degenerate(self, p2: np.ndarray, min_weight: float) -> bool:
        taus, weights = self.components(p2)
        return (min(weights) < min_weight or taus[1] < 1.1 * taus[0]
                or any(_at_bound(v, self.lo, self.tau_max) for v in taus))

    def double_predicts_better(self, trials: np.ndarray, folds: int,
                               starts: tuple[np.ndarray, np.ndarray]) -> bool:
        """Cross-validation over trials: does the double exponential, fitted on the other
        folds (from ``starts``, the fits to all trials), predict each held-out fold's
        normalised AC better by more than two standard errors of the per-fold difference (a
        one-sided test at about 5 %)?
        """
        diffs = []
        for held in np.array_split(np.arange(len(trials)), folds):
            train = np.delete(trials, held, axis=0).mean(axis=0)
            test = trials[held].mean(axis=0)
            if train[0] <= 0 or test[0] <= 0:
                return False
            p1, p2 = self.fit(train / train[0], starts)
            if p1 is None or p2 is None:
                return False
            y = test / test[0]
            diffs.append(((y - self.single(self.t, *p1)) ** 2).sum()
                         - ((y - self.double(self.t, *p2)) ** 2).sum())
        diffs = np.asarray(diffs)
        return bool(diffs.mean() > 2.0 * diffs.std(ddof=1) / np.sqrt(len(diffs)))


def _fit_reference(t: np.ndarray, y: np.ndarray) -> TimescaleFit:
    aic = {1: np.inf, 2: np.inf}
    params: dict[int, np.ndarray] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            params[1], _ = curve_fit(single_exponential, t, y, maxfev=2000,
                                     bounds=((0, 0), (1.0, 100)))
            aic[1] = _information_criterion(y, single_exponential(t, *params[1]), 2, "aic")
        except (RuntimeError, ValueError):
            pass
        try:
            params[2], _ = curve_fit(double_exponential, t, y, maxfev=2000,
                                     bounds=((0, 0, 0, 0), (1.0, 100, 100, 1.0)))
            aic[2] = _information_criterion(y, double_exponential(t, *params[2]), 4, "aic")
        except (RuntimeError, ValueError):
            pass
    if aic[1] == aic[2]:
        return TimescaleFit(np.nan, "failed", 0, (), (), aic[1], aic[2])
    best = 1 if aic[1] < aic[2] else 2
    p = params[best]
    if best == 1:
        taus, weights = (float(p[1]),), (1.0,)
    else:
        order = np.argsort(p[1:3])
        taus = tuple(float(v) for v in p[1:3][order])
        weights = tuple(float(v) for v in np.array([p[3], 1 - p[3]])[order])
    status = _bound_status(taus[-1], 0.0, 100.0)
    return TimescaleFit(taus[-1], status, best, taus, weights, aic[1], aic[2])


@dataclass
class NeuronTimescales:
    """Per-neuron result of :func:`neuron_timescales`: ``tau (H,)`` (NaN where not reported),
    ``n_exponentials (H,)`` and ``status (H,)`` (integer codes into :data:`FIT_STATUS`).
    """

    tau: np.ndarray
    n_exponentials: np.ndarray
    status: np.ndarray

    def counts(self) -> dict[str, int]:
        """Number of neurons per status, e.g. ``{"ok": 480, "silent": 12, ...}``."""
        return {s: int((self.status == i).sum()) for i, s in enumerate(FIT_STATUS)}


def neuron_timescales(activity: np.ndarray, fit_lag: int, burn_in: int = 0,
                      convention: str = "lab", **fit_options: float) -> NeuronTimescales:
    """``τ_net`` of every neuron from ``activity (T, n_trials, H)``.

    The first ``burn_in`` steps are dropped; each neuron's AC over the remaining ``T − burn_in``
    steps is fitted by :func:`fit_timescale` with that length (``convention`` and
    ``fit_options`` are passed on). Silent neurons, failed fits and fits at a bound get NaN
    (except at a bound in the reference convention) and are counted in ``status``.
    """
    if activity.ndim != 3:
        raise ValueError(f"activity must have shape (T, n_trials, H), got {activity.shape}")
    data = activity[burn_in:]
    length = data.shape[0]
    if length <= fit_lag:
        raise ValueError(f"need more than fit_lag={fit_lag} steps after burn-in, got {length}")
    h = data.shape[2]
    out = NeuronTimescales(np.full(h, np.nan), np.zeros(h, dtype=np.int64),
                           np.zeros(h, dtype=np.int64))
    for j in range(h):
        ac = autocorrelation(data[:, :, j].T, fit_lag, average=False)
        fit = fit_timescale(ac, fit_lag, length=length, convention=convention, **fit_options)
        out.tau[j], out.n_exponentials[j] = fit.tau, fit.n_exponentials
        out.status[j] = FIT_STATUS.index(fit.status)
    return out


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


@torch.no_grad()
def simulate_lstm_gates(model: TimescaleRNN, n_trials: int, length: int,
                        rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Hidden state, cell state and forget gate ``(length, n_trials, H)`` of an LSTM
    (``cell="lstm"``) under the random binary input of :func:`simulate_activity`.

    The step is PyTorch's ``LSTMCell`` written out (gates in the order input, forget, cell,
    output) so that the forget gate ``f = σ(W_f x + U_f h + b_f)`` can be kept.
    """
    if model.config.cell != "lstm":
        raise ValueError(f"need an LSTM (cell='lstm'), got cell={model.config.cell!r}")
    p = rng.uniform(0.0, 1.0, size=n_trials)
    x = torch.from_numpy((rng.random((length, n_trials)) < p).astype(np.float32)[:, :, None])
    cell = model.cell
    h = model.initial_hidden(x)
    c = torch.zeros_like(h)
    out: dict[str, list[torch.Tensor]] = {"hidden": [], "cell": [], "forget": []}
    for t in range(length):
        gates = x[t] @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
        i, f, g, o = gates.chunk(4, dim=1)
        f = torch.sigmoid(f)
        c = f * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        for key, value in (("hidden", h), ("cell", c), ("forget", f)):
            out[key].append(value)
    return {k: torch.stack(v).numpy() for k, v in out.items()}


def forget_gate_timescales(forget: np.ndarray) -> np.ndarray:
    """Per-unit timescale ``τ_f = −1/ln f̄`` of forget gates ``forget (..., H)``, ``f̄`` their
    mean over every leading axis: the cell state of a unit whose forget gate stays at ``f̄``
    decays as ``f̄^t = exp(−t/τ_f)``. ``(H,)``; ``inf`` where ``f̄ = 1``, 0 where ``f̄ = 0``.
    """
    mean = np.asarray(forget, dtype=np.float64).reshape(-1, forget.shape[-1]).mean(axis=0)
    tau = np.full(mean.shape, np.inf)
    below = mean < 1.0
    with np.errstate(divide="ignore"):
        tau[below] = -1.0 / np.log(mean[below])
    return tau


def pca_dimensionality(activity: np.ndarray, variance: float = 0.9,
                       convention: str = "lab") -> float:
    """Dimensionality of ``activity (T, n_trials, H)`` (or any ``(..., H)`` for ``"lab"``).

    ``"lab"``: the number of principal components that explain at least ``variance`` of the
    activity pooled over time and trials (an integer; 0 for silent activity). ``"reference"``:
    the reference code's ``comp_pca`` — PCA of each trial separately, the 0-based index of the
    first component at which the cumulative explained variance exceeds ``variance`` (one less
    than the count), averaged over trials.
    """
    if not 0.0 < variance <= 1.0:
        raise ValueError(f"variance must be in (0, 1], got {variance}")
    if convention not in FIT_CONVENTIONS:
        raise ValueError(f"convention must be one of {FIT_CONVENTIONS}, got {convention!r}")
    if convention == "reference":
        if activity.ndim != 3:
            raise ValueError(f"activity must have shape (T, n_trials, H), got {activity.shape}")
        dims = []
        for trial in range(activity.shape[1]):
            s = pca_spectrum(activity[:, trial])
            dims.append(np.argmax(np.cumsum(s) / s.sum() > variance) if s.sum() > 0 else 0)
        return float(np.mean(dims))
    s = pca_spectrum(activity)
    if s.sum() == 0:
        return 0.0
    cumulative = np.cumsum(s) / s.sum()
    return float(np.searchsorted(cumulative, variance - 1e-12) + 1)


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
