"""State-space analyses of hidden activity.

- :func:`run_model`: run a model on numpy inputs in trial chunks (eval mode, no gradients) and
  return numpy outputs and recorded states.
- :class:`StateSpace`: PCA of hidden activity (scikit-learn style ``fit``/``transform``), fitted on
  trial-averaged activity of several rules; :func:`epoch_dimensionality` gives the explained
  variance spectrum and participation ratio per (rule, epoch).
- Task-set geometry (Yang et al., 2019, Nat. Neurosci. 22:297, Fig. 6): the stimulus-averaged
  state at the end of the stimulus epoch, one point per rule; for Go / Anti / Dly Go / Dly Anti
  the Go→Anti and Dly Go→Dly Anti vectors are nearly parallel (:func:`parallelogram`).
- Rule-input compositionality (ibid.): a rule is performed with a combined rule input, e.g.
  Dly Anti trials with ``Anti + Dly Go − Go`` (:func:`compose_rule_input`).
- Preceding-trial shift: how much a rule's trajectory moves, and how its accuracy changes, when a
  trial of another task precedes it in the same sequence (:func:`preceding_trial_shift` on
  :func:`shift_probe_trials`).
- Initial-condition geometry (Driscoll, Shenoy & Sussillo, 2024, Nat. Neurosci., Fig. 4): the
  state at the end of fixation of every rule, one :data:`COMPUTATION_CATEGORIES` label per rule
  (:func:`computation_category`), and for every pair of rules given the same stimulus, the
  distance between their pre-stimulus states against the angle between their first post-onset
  displacements (:func:`onset_states`, :func:`distance_vs_angle`, :func:`distance_angle_fit`;
  across networks: :func:`core.analysis.seeds.mean_interval`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy import stats
from sklearn.decomposition import PCA

from core.analysis.task_variance import segment_bounds
from core.tasks import RULE_SPECS, TaskConfig, Trials, accuracy, concat, generate_trials
from core.tasks.config import TEST_TIMINGS

__all__ = [
    "run_model",
    "trial_average",
    "StateSpace",
    "epoch_dimensionality",
    "participation_ratio",
    "pca_spectrum",
    "task_set_points",
    "parallelogram",
    "compose_rule_input",
    "trajectory_shift",
    "prepend_trials",
    "SHIFT_SOURCES",
    "shift_probe_trials",
    "preceding_trial_shift",
    "paired_accuracy_change",
    "state_at",
    "COMPUTATION_CATEGORIES",
    "computation_category",
    "onset_states",
    "distance_vs_angle",
    "distance_angle_fit",
]

#: Computation categories of Driscoll, Shenoy & Sussillo (2024) Fig. 4, in plotting order.
COMPUTATION_CATEGORIES = {
    "pro delayed": ("fdgo", "delaygo"),
    "anti delayed": ("fdanti", "delayanti"),
    "pro reaction": ("reactgo",),
    "anti reaction": ("reactanti",),
    "integration": ("delaydm1", "delaydm2", "contextdelaydm1", "contextdelaydm2",
                    "multidelaydm"),
    "categorisation": ("dmsgo", "dmsnogo", "dmcgo", "dmcnogo"),
}


def run_model(model: torch.nn.Module, x: np.ndarray, track_states: bool = False,
              chunk_size: int | None = None, **forward_kwargs
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``model`` on ``x (T, B, n_in)`` in chunks of ``chunk_size`` trials (all at once if None).

    The model is put in eval mode and run without gradients; ``forward_kwargs`` (e.g.
    ``hidden_mask``) are passed to every call. Returns ``y (T, B, n_out)`` and the recorded
    ``states`` (``{name: (T, B, ...)}``, empty unless ``track_states``) as float32 numpy arrays.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"x must be (T, B, n_in), got shape {x.shape}")
    chunk = x.shape[1] if chunk_size is None else max(1, int(chunk_size))
    was_training = model.training
    model.eval()
    ys, states = [], {}
    try:
        with torch.no_grad():
            for lo in range(0, x.shape[1], chunk):
                y, st = model(torch.from_numpy(x[:, lo:lo + chunk]), track_states=track_states,
                              **forward_kwargs)
                ys.append(y.float().numpy())
                for name, value in st.items():
                    states.setdefault(name, []).append(value.float().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(ys, axis=1), {k: np.concatenate(v, axis=1) for k, v in states.items()}


def trial_average(activity: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mean over trials of ``activity (T, B, N)`` aligned at ``start (B,)``: ``(L, N)``.

    ``L`` is the shortest ``end - start``, so every trial contributes to every step.
    """
    activity = np.asarray(activity)
    start, end = np.asarray(start, int), np.asarray(end, int)
    length = int((end - start).min())
    if length < 1:
        raise ValueError("every trial needs a non-empty segment to average")
    rows = start[None, :] + np.arange(length)[:, None]
    return activity[rows, np.arange(activity.shape[1])[None, :]].mean(axis=1)


def pca_spectrum(activity: np.ndarray) -> np.ndarray:
    """Variance along each principal axis of ``activity (..., N)``, descending, ``(min(M, N),)``.

    Every leading index is a sample (``M`` = their product); columns are mean-centred first.
    """
    x = np.asarray(activity, dtype=np.float64).reshape(-1, activity.shape[-1])
    x = x - x.mean(axis=0)
    return np.linalg.svd(x, compute_uv=False) ** 2 / max(len(x) - 1, 1)


def participation_ratio(explained_variance: np.ndarray) -> float:
    """``(sum λ)² / sum λ²`` of a variance spectrum (effective dimensionality)."""
    lam = np.asarray(explained_variance, dtype=float)
    return float(lam.sum() ** 2 / np.sum(lam ** 2)) if np.sum(lam ** 2) > 0 else 0.0


class StateSpace:
    """PCA of hidden activity, scikit-learn style.

    Args:
        n_components: number of principal components kept.

    Fitted attributes: ``pca_`` (the sklearn PCA), ``explained_variance_ratio_`` ``(k,)``,
    ``mean_`` ``(N,)``.
    """

    def __init__(self, n_components: int = 3):
        self.n_components = n_components

    def fit(self, activity: np.ndarray | Sequence[np.ndarray]) -> StateSpace:
        """Fit on ``(samples, N)`` activity or a list of ``(T_i, N)`` trajectories (stacked)."""
        data = np.concatenate([np.asarray(a).reshape(-1, np.shape(a)[-1]) for a in activity]) \
            if isinstance(activity, (list, tuple)) else np.asarray(activity)
        if data.ndim != 2 or data.shape[0] < 2:
            raise ValueError(f"need (samples >= 2, N) activity, got shape {data.shape}")
        k = min(self.n_components, *data.shape)
        self.pca_ = PCA(n_components=k).fit(data)
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_
        self.mean_ = self.pca_.mean_
        return self

    def transform(self, activity: np.ndarray) -> np.ndarray:
        """Project ``(..., N)`` activity to ``(..., k)``."""
        activity = np.asarray(activity)
        flat = self.pca_.transform(activity.reshape(-1, activity.shape[-1]))
        return flat.reshape(*activity.shape[:-1], flat.shape[-1])


def epoch_dimensionality(activity: np.ndarray, epochs: Mapping[str, np.ndarray],
                         names: Sequence[str] = ("stim1", "delay1", "stim2", "delay2", "go"),
                         n_components: int = 10) -> dict[str, dict[str, np.ndarray | float]]:
    """PCA of the trial-by-time activity ``(T, B, N)`` within each epoch present.

    Returns ``{epoch: {"explained_variance_ratio": (k,), "participation_ratio": float}}``.
    """
    out: dict[str, dict[str, np.ndarray | float]] = {}
    for name in names:
        if name not in epochs:
            continue
        bounds = np.asarray(epochs[name])
        if (bounds[:, 0] < 0).any():
            continue
        samples = np.concatenate([activity[s:e, b] for b, (s, e) in enumerate(bounds)])
        if samples.shape[0] < 2:
            continue
        pca = PCA(n_components=min(n_components, *samples.shape)).fit(samples)
        out[name] = {"explained_variance_ratio": pca.explained_variance_ratio_,
                     "participation_ratio": participation_ratio(pca.explained_variance_)}
    return out


def task_set_points(hidden_by_rule: Mapping[str, np.ndarray],
                    stim_end_by_rule: Mapping[str, np.ndarray]) -> np.ndarray:
    """Stimulus-averaged state at the end of the stimulus epoch, one row per rule: ``(R, N)``.

    Args:
        hidden_by_rule: ``{rule: (T, B, N)}`` hidden activity of test-mode trials.
        stim_end_by_rule: ``{rule: (B,)}`` the step after the stimulus epoch (its ``end``);
            the state read is at ``end - 1`` (Yang et al., 2019).
    """
    rows = []
    for rule, hidden in hidden_by_rule.items():
        end = np.asarray(stim_end_by_rule[rule], int)
        if (end < 1).any():
            raise ValueError(f"rule {rule!r} has trials without a stimulus epoch")
        rows.append(np.asarray(hidden)[end - 1, np.arange(hidden.shape[1])].mean(axis=0))
    return np.stack(rows)


def parallelogram(points: np.ndarray) -> dict[str, float]:
    """How close four task-set points (Go, Anti, Dly Go, Dly Anti) ``(4, D)`` are to a
    parallelogram: cosine between the Go→Anti and Dly Go→Dly Anti vectors, the same for
    Go→Dly Go and Anti→Dly Anti, and the relative length mismatch of the first pair."""
    p = np.asarray(points, dtype=float)
    if p.shape[0] != 4:
        raise ValueError(f"need 4 points (Go, Anti, Dly Go, Dly Anti), got {p.shape[0]}")

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        norm = np.linalg.norm(a) * np.linalg.norm(b)
        return float(a @ b / norm) if norm > 0 else 0.0

    anti, dly_anti = p[1] - p[0], p[3] - p[2]
    delay, delay_anti = p[2] - p[0], p[3] - p[1]
    lengths = np.linalg.norm([anti, dly_anti], axis=1)
    return {"cos_anti": cos(anti, dly_anti), "cos_delay": cos(delay, delay_anti),
            "length_mismatch": float(abs(lengths[0] - lengths[1]) / max(lengths.max(), 1e-12))}


def compose_rule_input(x: np.ndarray, rule_columns: np.ndarray, weights: Mapping[int, float]
                       ) -> np.ndarray:
    """Replace the rule input of ``x (T, B, n_in)`` by a weighted sum of one-hot rule inputs.

    Args:
        rule_columns: ``(n_rule,)`` input indices of the rule units.
        weights: ``{input index: weight}``, e.g. ``{anti: 1, dly_go: 1, go: -1}``. Each trial's
            rule-input time course (its current rule unit, on during the whole trial) scales
            the new combination, so padding stays zero.
    """
    x = np.array(x, dtype=np.float32, copy=True)
    rule_columns = np.asarray(rule_columns, int)
    on = x[:, :, rule_columns].max(axis=2)  # (T, B): where the rule input is given
    x[:, :, rule_columns] = 0.0
    for column, weight in weights.items():
        if column not in rule_columns:
            raise ValueError(f"input {column} is not a rule unit")
        x[:, :, column] = weight * on
    return x


def prepend_trials(previous: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Sequences of a preceding trial then a probe trial: ``(T1 + T2, B, n_in)``."""
    previous, probe = np.asarray(previous), np.asarray(probe)
    if previous.shape[1:] != probe.shape[1:]:
        raise ValueError(f"batch/input shapes differ: {previous.shape} vs {probe.shape}")
    return np.concatenate([previous, probe], axis=0)


def trajectory_shift(reference: np.ndarray, shifted: np.ndarray) -> float:
    """Relative state-space shift of a trial-averaged trajectory ``(L, N)``.

    ``mean_t ||shifted(t) − reference(t)|| / mean_t ||reference(t) − mean_t reference||``: 0
    when the preceding trial leaves no trace; 1 when the trajectory moves by as much as it
    spreads on its own.
    """
    reference, shifted = np.asarray(reference, float), np.asarray(shifted, float)
    if reference.shape != shifted.shape:
        raise ValueError(f"trajectory shapes differ: {reference.shape} vs {shifted.shape}")
    spread = np.linalg.norm(reference - reference.mean(axis=0), axis=1).mean()
    moved = np.linalg.norm(shifted - reference, axis=1).mean()
    return float(moved / spread) if spread > 0 else float("inf") if moved > 0 else 0.0


#: Provenance sources of stored shift results (:mod:`core.provenance`): the design of
#: :func:`shift_probe_trials`, so results computed with other probes (before: the noise-free test
#: grid, only response trials for match rules) are stale. Producer and consumers pass it.
SHIFT_SOURCES = {"probe design": "random stimuli at test timing, noise-free, match rules half "
                                 "match"}


def shift_probe_trials(rule: str, task_config: TaskConfig, n_trials: int,
                       rng: np.random.Generator) -> Trials:
    """``n_trials`` noise-free probe trials of ``rule`` for :func:`preceding_trial_shift`.

    Stimuli are drawn as in training (``random`` mode) at the rule's fixed test timing
    (:data:`core.tasks.config.TEST_TIMINGS`), so every trial's trajectory is aligned step by step
    and the trial average is one trajectory. Match rules (DMS/DMC, go and no-go: every rule whose
    trials carry a ``match`` flag) get ``ceil(n_trials / 2)`` match and ``floor(n_trials / 2)``
    non-match trials, in the order drawn; the ``test`` grid would give them only trials of one
    kind (all asking for a response), which a network that always fixates or always responds
    scores at 0 or 1. ValueError for ``n_trials < 2`` (a match rule needs one of each).
    """
    if n_trials < 2:
        raise ValueError(f"n_trials must be >= 2, got {n_trials}")
    timing = TEST_TIMINGS[RULE_SPECS[rule].timing]
    batches, n_match, n_other = [], 0, 0
    while True:
        batch = generate_trials(rule, task_config, n_trials, rng, noise=False, timing=timing)
        match = np.asarray(batch.params["match"])
        if (match < 0).all():
            return batch
        batches.append(batch)
        n_match, n_other = n_match + int((match == 1).sum()), n_other + int((match == 0).sum())
        if n_match >= (n_trials + 1) // 2 and n_other >= n_trials // 2:
            break
    pool = concat(batches)
    match = np.asarray(pool.params["match"])
    keep = np.concatenate([np.flatnonzero(match == 1)[:(n_trials + 1) // 2],
                           np.flatnonzero(match == 0)[:n_trials // 2]])
    return pool.take(np.sort(keep))


def preceding_trial_shift(model: torch.nn.Module, probe: Trials,
                          previous_x: Mapping[str, np.ndarray], task_config: TaskConfig,
                          chunk_size: int = 64) -> dict[str, np.ndarray]:
    """Shift of a probe rule's trajectory, and its per-trial correctness, after each kind of
    preceding trial.

    Args:
        model: any ``core.models`` network (run by :func:`run_model`: eval mode, no gradients).
        probe: ``B`` probe trials (e.g. :func:`shift_probe_trials`); the trajectory compared is
            the hidden state from the end of ``fix1`` over the shortest trial's remaining steps
            (:func:`trial_average`).
        previous_x: ``{task: (T1, B, n_in)}`` preceding trials, one per probe trial; each
            sequence is that trial followed by the probe trial (:func:`prepend_trials`).
        task_config: the run's task config (to score the probe's responses).
        chunk_size: trials run at once. Only the hidden activity of one chunk
            ``(T1 + T2, chunk_size, n_hidden)`` is held: the trajectory sums stream over chunks,
            and the model records no per-step ``M`` (``track_states="hidden"``), so memory does
            not grow with ``B`` or with the number of preceding tasks.

    Returns ``shift (Q,)`` (:func:`trajectory_shift` against the probe run alone, tasks in the
    order of ``previous_x``), ``correct (Q, B)`` and ``correct_alone (B,)`` bool (is the probe
    answered correctly after each preceding task, and alone).
    """
    start, end = segment_bounds(probe.epochs, probe.n_steps, "trial")
    length = int((end - start).min())
    if length < 1:
        raise ValueError("every probe trial needs a non-empty segment after fix1")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    # sequence k: probe alone (k = 0), else preceding task k - 1 then the probe
    runs = [None, *(np.asarray(previous_x[t]) for t in previous_x)]
    for task, prev in zip(previous_x, runs[1:], strict=True):
        if prev.ndim != 3 or prev.shape[1] != probe.batch_size:
            raise ValueError(f"previous_x[{task!r}] must be (T1, {probe.batch_size}, n_in), got "
                             f"shape {prev.shape}")
    sums: np.ndarray | None = None  # (K, length, n_hidden) trajectory sums over trials
    correct = np.zeros((len(runs), probe.batch_size), dtype=bool)
    for lo in range(0, probe.batch_size, chunk_size):
        index = np.arange(lo, min(lo + chunk_size, probe.batch_size))
        part = probe.take(index)
        rows = start[index][None, :] + np.arange(length)[:, None]
        for k, prev in enumerate(runs):
            x = part.x if prev is None else prepend_trials(prev[:, index], part.x)
            y, states = run_model(model, x, track_states="hidden")
            offset = 0 if prev is None else prev.shape[0]
            hidden = states["hidden"][offset:]
            if sums is None:
                sums = np.zeros((len(runs), length, hidden.shape[2]))
            sums[k] += hidden[rows, np.arange(len(index))[None, :]].sum(axis=1, dtype=np.float64)
            correct[k, index] = accuracy(y[offset:], part, task_config)
    reference = sums[0] / probe.batch_size
    shift = np.array([trajectory_shift(reference, s / probe.batch_size) for s in sums[1:]])
    return {"shift": shift, "correct": correct[1:], "correct_alone": correct[0]}


def paired_accuracy_change(correct: np.ndarray, correct_alone: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Change of accuracy after each preceding task against the same probe trials alone.

    Args:
        correct: ``(Q, B)`` bool, the probe trials answered correctly after each preceding task.
        correct_alone: ``(B,)`` bool, the same trials alone.

    Returns ``change (Q,)`` (accuracy after − accuracy alone, in [-1, 1]) and its standard error
    ``(Q,)``: the sample standard deviation of the paired per-trial differences (-1, 0, 1) over
    ``sqrt(B)``; 0 when every trial is scored alike with and without the preceding trial.
    """
    correct, alone = np.asarray(correct, float), np.asarray(correct_alone, float)
    if correct.ndim != 2 or alone.shape != correct.shape[1:] or alone.size < 2:
        raise ValueError(f"need correct (Q, B) and correct_alone (B,), B >= 2; got shapes "
                         f"{correct.shape} and {alone.shape}")
    diff = correct - alone
    return diff.mean(axis=1), diff.std(axis=1, ddof=1) / np.sqrt(alone.size)


def state_at(model: torch.nn.Module, x: np.ndarray, steps: np.ndarray, name: str,
             chunk_size: int = 16) -> np.ndarray:
    """Recorded state ``name`` of each trial at its own step ``steps (B,)``: ``(B, ...)``.

    Runs ``chunk_size`` trials at a time, so only one chunk's trace is ever held (for ``M`` of
    an MPN: ``(T, chunk, n_hidden, n_pre)``).
    """
    steps = np.asarray(steps, int)
    out = []
    for lo in range(0, x.shape[1], chunk_size):
        _, states = run_model(model, x[:, lo:lo + chunk_size], track_states=True)
        if name not in states:
            raise ValueError(f"model records {sorted(states)}, not {name!r}")
        part = states[name]
        out.append(part[steps[lo:lo + chunk_size], np.arange(part.shape[1])])
    return np.concatenate(out)


def computation_category(rule: str) -> str:
    """The :data:`COMPUTATION_CATEGORIES` name of ``rule``, ``"other"`` for rules outside it."""
    return next((name for name, rules in COMPUTATION_CATEGORIES.items() if rule in rules),
                "other")


def onset_states(states: np.ndarray, onset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pre-stimulus state and first post-onset displacement of each trial.

    Args:
        states: ``(T, B, ...)`` a recorded state (e.g. hidden ``(T, B, N)``, M ``(T, B, N, P)``).
        onset: ``(B,)`` first step of the stimulus (the end of ``fix1``), at least 1.

    Returns ``(pre, displacement)``, each ``(B, F)`` with the trailing axes flattened: the state
    at ``onset - 1`` (end of fixation) and ``state[onset] - state[onset - 1]`` (Driscoll et al.,
    2024, Fig. 4).
    """
    states, onset = np.asarray(states), np.asarray(onset, int)
    if (onset < 1).any() or (onset >= states.shape[0]).any():
        raise ValueError(f"onsets must lie in [1, {states.shape[0] - 1}]")
    rows = np.arange(states.shape[1])
    pre = states[onset - 1, rows].reshape(len(rows), -1).astype(np.float64)
    post = states[onset, rows].reshape(len(rows), -1).astype(np.float64)
    return pre, post - pre


def distance_vs_angle(pre: Mapping[str, np.ndarray], displacement: Mapping[str, np.ndarray],
                      stimulus: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Initial-state distance and displacement angle for every pair of rules and stimulus.

    Args:
        pre: ``{rule: (B_r, F)}`` pre-stimulus states.
        displacement: ``{rule: (B_r, F)}`` first post-onset displacements.
        stimulus: ``{rule: (B_r,)}`` a stimulus label of each trial (e.g. the first stimulus's
            direction); trials with the same label are averaged.

    Returns ``pairs (K, 2)`` rule names, ``stimulus (K,)``, ``distance (K,)`` (Euclidean, between
    the mean pre-stimulus states) and ``angle (K,)`` (degrees, between the mean displacements),
    one row per pair of rules ``(a, b)``, ``a`` before ``b`` in ``pre``, and stimulus label both
    rules share (Driscoll et al., 2024, Fig. 4: tasks that start closer move more alike).
    """
    rules = list(pre)
    means: dict[str, dict] = {}
    for rule in rules:
        labels = np.asarray(stimulus[rule])
        means[rule] = {s: (pre[rule][labels == s].mean(0), displacement[rule][labels == s].mean(0))
                       for s in np.unique(labels[np.isfinite(labels)])}
    pairs, stim, dist, angle = [], [], [], []
    for i, a in enumerate(rules):
        for b in rules[i + 1:]:
            for s in sorted(set(means[a]) & set(means[b])):
                (pa, da), (pb, db) = means[a][s], means[b][s]
                norm = np.linalg.norm(da) * np.linalg.norm(db)
                cos = np.clip(da @ db / norm, -1.0, 1.0) if norm > 0 else 1.0
                pairs.append((a, b))
                stim.append(s)
                dist.append(np.linalg.norm(pa - pb))
                angle.append(np.degrees(np.arccos(cos)))
    return {"pairs": np.asarray(pairs, dtype=str).reshape(-1, 2), "stimulus": np.asarray(stim),
            "distance": np.asarray(dist), "angle": np.asarray(angle)}


def distance_angle_fit(distance: np.ndarray, angle: np.ndarray) -> dict[str, float]:
    """Pearson ``r``, least-squares ``slope`` (degrees per unit distance) and two-sided ``p`` of
    ``angle (K,)`` against ``distance (K,)`` (:func:`scipy.stats.linregress`); ValueError for
    fewer than 3 points."""
    distance, angle = np.asarray(distance, float), np.asarray(angle, float)
    if distance.size < 3:
        raise ValueError(f"need at least 3 (distance, angle) points, got {distance.size}")
    fit = stats.linregress(distance, angle)
    return {"r": float(fit.rvalue), "slope": float(fit.slope), "p": float(fit.pvalue)}

