"""Task variance (Yang et al., 2019, Nat. Neurosci. 22:297) computed in a streaming way.

The task variance of unit ``i`` for rule ``r`` is the variance of its activity across trials
(stimulus conditions) of noise-free ``test``-mode trials, averaged over time after the first
fixation epoch:

    TV_i(r) = mean_t Var_trials[ a_i(t) ],   t >= end of ``fix1``

and the per-epoch variant averages over the time steps of one epoch (stim1, delay1, stim2,
delay2, go) instead. The fractional task variance of two rules is
``FTV_i(A, B) = (TV_i(A) - TV_i(B)) / (TV_i(A) + TV_i(B))``.

Deviation from the reference code: Yang et al. slice ``h[fix1_end:]`` with one shared fixation
end; here every trial is aligned to its own segment start (end of ``fix1``, or an epoch's onset)
and only time steps inside that trial's segment count, so trials with different timings are
handled. With shared timing (the ``test`` mode) both give the same number.

For synapses (every entry of the modulation ``M``, 90k at hidden 300) the statistics are merged
chunk by chunk (Chan et al.'s parallel Welford update), so memory is bounded by one chunk of
trials plus ``(segment length, n_features)`` running means: a full ``(T, B, N, N)`` trace is
never held. Because ``W`` is fixed during a trial, ``Var(W_ij M_ij) = W_ij**2 Var(M_ij)``: the
task variance of the effective modulation ``W ⊙ M`` follows exactly from that of ``M``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "EPOCHS",
    "SegmentVariance",
    "segment_bounds",
    "segment_lengths",
    "accumulate_task_variance",
    "task_variance_of_activity",
    "fractional_task_variance",
    "ftv_histogram",
    "TaskVarianceResult",
    "noise_free_trials",
    "compute_task_variance",
    "effective_modulation_variance",
]

EPOCHS: tuple[str, ...] = ("stim1", "delay1", "stim2", "delay2", "go")
"""The epochs with a per-epoch task variance (those of Yang et al.'s tasks, fixation excluded)."""


class SegmentVariance:
    """Running per-time-step variance across trials of features over one aligned segment.

    Each trial's segment ``[start_b, end_b)`` is aligned at its start; step ``tau`` of the
    segment pools ``a[start_b + tau, b]`` over the trials that are still inside their segment.
    ``update`` merges a chunk of trials into running (count, mean, M2) with the parallel form of
    Welford's algorithm (Chan, Golub & LeVeque, 1983), so trials can be streamed.

    Args:
        n_features: number of features ``F`` (units, or flattened synapses).
        max_length: longest segment length ``L`` in time steps.
        dtype: accumulator dtype (float32 halves memory for synapse-sized ``F``).
    """

    def __init__(self, n_features: int, max_length: int, dtype: np.dtype | type = np.float64):
        if n_features < 1 or max_length < 1:
            raise ValueError(f"need n_features >= 1 and max_length >= 1, got {n_features}, "
                             f"{max_length}")
        self.count = np.zeros(max_length, dtype=np.int64)
        self.mean = np.zeros((max_length, n_features), dtype=dtype)
        self.m2 = np.zeros((max_length, n_features), dtype=dtype)

    def update(self, activity: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        """Merge one chunk of trials.

        Args:
            activity: ``(T, b, F)`` activity of ``b`` trials (any float dtype).
            start, end: ``(b,)`` int segment bounds ``[start, end)`` per trial; trials with
                ``end <= start`` (segment absent) are skipped.
        """
        activity = np.asarray(activity)
        n_steps, batch, n_features = activity.shape
        if n_features != self.mean.shape[1]:
            raise ValueError(f"activity has {n_features} features, expected {self.mean.shape[1]}")
        start = np.asarray(start, dtype=np.int64).reshape(-1)
        end = np.minimum(np.asarray(end, dtype=np.int64).reshape(-1), n_steps)
        if start.shape != (batch,) or end.shape != (batch,):
            raise ValueError(f"start/end must have shape ({batch},)")
        present = end > start
        if not present.any():
            return
        length = int((end - start)[present].max())
        if length > self.mean.shape[0]:
            raise ValueError(f"segment of {length} steps exceeds max_length {self.mean.shape[0]}")
        if present.all() and (start == start[0]).all() and (end == end[0]).all():
            values = activity[start[0]:end[0]].astype(self.mean.dtype, copy=False)  # (L, b, F)
            n_new = np.full(length, batch)
            mean_new = values.mean(axis=1)
            m2_new = ((values - mean_new[:, None, :]) ** 2).sum(axis=1)
        else:  # per-trial timing: gather each trial's segment, mask steps past its end
            tau = np.arange(length)[:, None]
            inside = present[None, :] & (tau < (end - start)[None, :])  # (L, b)
            rows = np.clip(start[None, :] + tau, 0, n_steps - 1)
            values = activity[rows, np.arange(batch)[None, :]].astype(self.mean.dtype)
            weight = inside[..., None].astype(self.mean.dtype)
            n_new = inside.sum(axis=1)  # (L,)
            mean_new = (values * weight).sum(axis=1) / np.maximum(n_new, 1)[:, None]
            m2_new = (((values - mean_new[:, None, :]) * weight) ** 2).sum(axis=1)
        n_old = self.count[:length]
        total = n_old + n_new
        delta = mean_new - self.mean[:length]
        frac = np.where(total > 0, n_new / np.maximum(total, 1), 0.0)[:, None]
        self.mean[:length] += (delta * frac).astype(self.mean.dtype)
        self.m2[:length] += m2_new + (delta ** 2 * (n_old * frac[:, 0])[:, None]).astype(
            self.mean.dtype)
        self.count[:length] = total

    def variance(self, min_trials: int = 2) -> np.ndarray:
        """Time-averaged variance across trials ``(F,)`` over steps with ``>= min_trials`` trials.

        Population variance (``ddof=0``, as ``np.var`` in Yang et al.). NaN if no step qualifies.
        """
        valid = self.count >= min_trials
        if not valid.any():
            return np.full(self.mean.shape[1], np.nan)
        per_step = self.m2[valid] / self.count[valid, None]
        return per_step.mean(axis=0, dtype=np.float64)


def segment_bounds(epochs: Mapping[str, np.ndarray], n_steps: int, segment: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial ``[start, end)`` of a task-variance segment.

    Args:
        epochs: ``{name: (B, 2) int}`` epoch bounds of a batch (absent epochs ``[-1, -1]``).
        n_steps: number of time steps ``T`` of the batch.
        segment: ``"trial"`` (end of ``fix1`` to the end of the trial's last epoch) or an
            epoch name.

    Returns ``start, end`` each ``(B,)``; an absent epoch gives ``start == end == 0``.
    """
    if segment == "trial":
        if "fix1" not in epochs:
            raise ValueError(f"epochs lack 'fix1' (have {sorted(epochs)})")
        start = np.asarray(epochs["fix1"])[:, 1].astype(np.int64)
        ends = np.stack([np.asarray(v)[:, 1] for v in epochs.values()], axis=1)
        end = np.where(ends.max(axis=1) > 0, ends.max(axis=1), n_steps).astype(np.int64)
        return start, np.minimum(end, n_steps)
    if segment not in epochs:
        batch = len(np.asarray(next(iter(epochs.values()))))
        return np.zeros(batch, np.int64), np.zeros(batch, np.int64)
    bounds = np.asarray(epochs[segment]).astype(np.int64)
    absent = bounds[:, 0] < 0
    start = np.where(absent, 0, bounds[:, 0])
    end = np.where(absent, 0, np.minimum(bounds[:, 1], n_steps))
    return start, end


def task_variance_of_activity(activity: np.ndarray, start: np.ndarray, end: np.ndarray
                              ) -> np.ndarray:
    """Task variance ``(F,)`` of an in-memory activity array ``(T, B, F)`` over ``[start, end)``.

    ``start``/``end`` are ``(B,)`` per-trial bounds (see :func:`segment_bounds`).
    """
    activity = np.asarray(activity)
    if activity.ndim != 3:
        raise ValueError(f"activity must be (T, B, F), got shape {activity.shape}")
    acc = SegmentVariance(activity.shape[2], activity.shape[0])
    acc.update(activity, start, end)
    return acc.variance()


def fractional_task_variance(tv_a: np.ndarray, tv_b: np.ndarray, eps: float = 1e-12
                             ) -> np.ndarray:
    """FTV ``(N,)`` = ``(TV_A - TV_B) / (TV_A + TV_B)`` in [-1, 1] (Yang et al., 2019, Fig. 3).

    Units with ``TV_A + TV_B <= eps`` give NaN (no variance to share).
    """
    tv_a, tv_b = np.asarray(tv_a, dtype=float), np.asarray(tv_b, dtype=float)
    if tv_a.shape != tv_b.shape:
        raise ValueError(f"shape mismatch {tv_a.shape} vs {tv_b.shape}")
    total = tv_a + tv_b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > eps, (tv_a - tv_b) / total, np.nan)


def ftv_histogram(ftv: np.ndarray, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of finite FTV values on [-1, 1]: ``counts (bins,)``, ``edges (bins + 1,)``."""
    ftv = np.asarray(ftv, dtype=float)
    return np.histogram(ftv[np.isfinite(ftv)], bins=bins, range=(-1.0, 1.0))


@dataclass
class TaskVarianceResult:
    """Task variance of one population (units or synapses) of a network.

    Attributes:
        rules: ``(R,)`` rule names.
        by_rule: ``(N, R)`` task variance per unit and rule.
        epoch_keys: ``(K,)`` ``"rule/epoch"`` keys of the per-epoch variances.
        by_epoch: ``(N, K)`` task variance per unit and (rule, epoch).
    """

    rules: list[str]
    by_rule: np.ndarray
    epoch_keys: list[str] = field(default_factory=list)
    by_epoch: np.ndarray | None = None

    def to_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays for :func:`core.io.save_results`."""
        out = {"rules": np.asarray(self.rules), "by_rule": self.by_rule,
               "epoch_keys": np.asarray(self.epoch_keys)}
        if self.by_epoch is not None:
            out["by_epoch"] = self.by_epoch
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, np.ndarray]) -> TaskVarianceResult:
        """Inverse of :meth:`to_dict`."""
        return cls(rules=[str(r) for r in data["rules"]], by_rule=np.asarray(data["by_rule"]),
                   epoch_keys=[str(k) for k in data.get("epoch_keys", [])],
                   by_epoch=data.get("by_epoch"))


def segment_lengths(epochs: Mapping[str, np.ndarray], n_steps: int,
                    segments: Iterable[str] = ("trial", *EPOCHS)) -> dict[str, int]:
    """Longest per-trial length of each segment present in ``epochs`` (absent ones left out)."""
    out = {}
    for seg in segments:
        start, end = segment_bounds(epochs, n_steps, seg)
        length = int((end - start).max(initial=0))
        if length > 0:
            out[seg] = length
    return out


def accumulate_task_variance(chunks: Iterable[tuple[Mapping[str, np.ndarray],
                                                    Mapping[str, np.ndarray]]],
                             n_features: Mapping[str, int], lengths: Mapping[str, int],
                             dtype=np.float64) -> dict[str, dict[str, np.ndarray]]:
    """Stream chunks of one rule's trials into per-segment task variances.

    Args:
        chunks: iterable of ``(activity, epochs)``: ``activity`` maps a population name to a
            ``(T, b, F)`` array, ``epochs`` maps epoch names to ``(b, 2)`` bounds.
        n_features: ``F`` per population name.
        lengths: longest length per segment (``"trial"`` and epoch names), from
            :func:`segment_lengths` on the whole batch; memory is ``sum(lengths) * F`` per
            population, so it does not grow with the number of trials.
        dtype: accumulator dtype.

    Returns ``{population: {segment: (F,)}}`` for the segments in ``lengths``.
    """
    accs = {name: {seg: SegmentVariance(f, length, dtype) for seg, length in lengths.items()}
            for name, f in n_features.items()}
    for activity, trial_epochs in chunks:
        n_steps = next(iter(activity.values())).shape[0]
        bounds = {seg: segment_bounds(trial_epochs, n_steps, seg) for seg in lengths}
        for name, acc_by_seg in accs.items():
            for seg, (start, end) in bounds.items():
                acc_by_seg[seg].update(activity[name], start, end)
    return {name: {seg: acc.variance() for seg, acc in by_seg.items()}
            for name, by_seg in accs.items()}


def noise_free_trials(task_config, rules: Iterable[str], rng: np.random.Generator) -> dict:
    """Noise-free ``test``-mode trials per rule: ``{rule: Trials}`` (input noise off)."""
    from core.tasks import generate_trials

    return {rule: generate_trials(rule, task_config, None, rng, mode="test", noise=False)
            for rule in rules}


def compute_task_variance(model, trials_by_rule: Mapping, populations: Iterable[str] | None = None,
                          max_chunk_bytes: float = 2**28) -> dict[str, TaskVarianceResult]:
    """Task variance of a model's recorded populations on test trials, streamed over trials.

    Args:
        model: any ``core.models`` network (run in eval mode: recurrent noise off).
        trials_by_rule: ``{rule: Trials}`` noise-free test trials (see :func:`noise_free_trials`).
        populations: state names to analyse (default: those recorded among ``"input"``,
            ``"hidden"``, ``"M"``); ``"M"`` is flattened to ``n_hidden * n_pre`` synapses.
        max_chunk_bytes: trials are run in chunks whose recorded states stay below this size,
            so a ``(T, B, N, N)`` trace of all trials is never held.

    Returns ``{population: TaskVarianceResult}`` with ``by_rule (F, R)`` and ``by_epoch (F, K)``
    (keys ``"rule/epoch"``). For an MPN, ``W ⊙ M`` is :func:`effective_modulation_variance`.
    """
    import torch

    rules = list(trials_by_rule)
    by_rule: dict[str, list[np.ndarray]] = {}
    by_epoch: dict[str, list[np.ndarray]] = {}
    epoch_keys: list[str] = []
    for rule in rules:
        trials = trials_by_rule[rule]
        x = np.ascontiguousarray(trials.x, dtype=np.float32)
        model.eval()
        with torch.no_grad():
            _, probe = model(torch.from_numpy(x[:, :1]), track_states=True)
        names = [n for n in (populations or ("input", "hidden", "M")) if n in probe]
        if populations is not None and len(names) != len(list(populations)):
            raise ValueError(f"model records {sorted(probe)}, asked for {list(populations)}")
        n_features = {n: int(np.prod(probe[n].shape[2:])) for n in names}
        per_trial = x.shape[0] * sum(n_features.values()) * 4
        chunk = max(1, int(max_chunk_bytes // per_trial))
        lengths = segment_lengths(trials.epochs, x.shape[0])
        dtype = np.float32 if max(n_features.values()) > 10_000 else np.float64

        def chunks(trials=trials, x=x, chunk=chunk, names=names):
            for lo in range(0, x.shape[1], chunk):
                with torch.no_grad():
                    _, states = model(torch.from_numpy(x[:, lo:lo + chunk]), track_states=True)
                yield ({n: states[n].reshape(*states[n].shape[:2], -1).numpy() for n in names},
                       {k: v[lo:lo + chunk] for k, v in trials.epochs.items()})

        result = accumulate_task_variance(chunks(), n_features, lengths, dtype=dtype)
        for name in names:
            by_rule.setdefault(name, []).append(result[name]["trial"])
            for epoch in EPOCHS:
                if epoch in result[name]:
                    by_epoch.setdefault(name, []).append(result[name][epoch])
        epoch_keys += [f"{rule}/{e}" for e in EPOCHS if e in lengths]
    return {name: TaskVarianceResult(rules, np.stack(by_rule[name], axis=1), epoch_keys,
                                     np.stack(by_epoch[name], axis=1))
            for name in by_rule}


def effective_modulation_variance(tv_m: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Task variance of ``W ⊙ M`` from that of ``M``: ``W_ij² · TV(M_ij)``.

    Args:
        tv_m: ``(n_hidden * n_pre, K)`` task variance of the flattened ``M``.
        weight: ``(n_hidden, n_pre)`` the fixed plastic-layer ``W``.
    Exact because ``W`` does not change within a trial: ``Var(W M) = W² Var(M)``.
    """
    w2 = np.asarray(weight, dtype=float).reshape(-1, 1) ** 2
    if w2.shape[0] != np.shape(tv_m)[0]:
        raise ValueError(f"W has {w2.shape[0]} entries, tv_m has {np.shape(tv_m)[0]} rows")
    return w2 * np.asarray(tv_m)
