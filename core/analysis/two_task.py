"""Analyses of networks trained on a pro/anti pair of rules (the MPN lab's two-task family).

- :func:`fresh_accuracy`: :class:`~core.tasks.RuleScore` per rule on fresh trials (Wilson
  interval, :func:`core.tasks.chance_level`).
- :func:`interpolation_readout` (analysis 1): the network run on rule-input interpolations
  ``α·A + (1 − α)·B`` (:func:`core.tasks.interpolate_rules`): for each α, the fraction of
  trials answered with rule A's target, with rule B's, or not at all, and the output per
  stimulus direction along the trial.
- :func:`attractor_similarity` (analysis 2): cosine similarity of the stimulus-averaged states of
  the two rules at the end of the stimulus and delay epochs, for the hidden activity, M and
  ``W ⊙ M``, at every stored training stage (a one-rule run gets the similarity between
  different stimuli only).
- :func:`interpolation_fixed_points` (analysis 1): fixed points of one epoch (the delay) at each
  α of the rule-input interpolation, with the fixed-point set projected on its leading PCs for
  the bifurcation diagram (:func:`core.plotting.two_task.plot_bifurcation`).
- :func:`describe_fixed_points`: per-point stimulus, rule and PC projections (hidden and, for an
  MPN, ``W ⊙ M``) of an :func:`core.analysis.fixed_points.epoch_fixed_points` result, as stored
  for the per-epoch fixed points of the long test sets (:func:`fixed_points_per_set`).
- :func:`fixed_point_options`: the finder's options per model (relaxation for an MPN).
- :func:`stage_trials`: the test trials stored in a stage file, as a ``Trials`` batch.

The MPN lab compares single trials at one time step (AllenInstitute/MultiTaskMPN
``two_task/two_task_analysis.py``); here each (rule, direction) state is the mean over the test
trials of that condition (the two stimulus modalities of the test grid), which removes
the modality from the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sklearn.decomposition import PCA

from core.analysis.fixed_points import epoch_fixed_points, step_map
from core.analysis.state_space import run_model
from core.analysis.transfer import cosine
from core.models.mpn import DeepMultiPlasticNet
from core.tasks import (
    RuleScore,
    TaskConfig,
    Trials,
    accuracy,
    chance_level,
    decode_response,
    generate_trials,
)
from core.tasks import interpolate_rules as _interpolate
from core.tasks.accuracy import TOLERANCE
from core.tasks.yang import circular_distance

__all__ = ["ALPHAS", "FP_ALPHAS", "SIMILARITY_EPOCHS", "attractor_similarity",
           "describe_fixed_points", "fixed_point_options", "fresh_accuracy",
           "interpolation_fixed_points", "interpolation_readout", "stage_states", "stage_trials",
           "fixed_points_per_set"]

#: Interpolation weights of analysis 1: 0, 0.1, ..., 1.
ALPHAS = np.round(np.linspace(0.0, 1.0, 11), 10)
#: Interpolation weights of the delay-epoch fixed points (a CPU-sized subset of ALPHAS).
FP_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Epochs at whose last step the attractor similarity is measured.
SIMILARITY_EPOCHS = ("stim1", "delay1")

Stage = Mapping[str, np.ndarray]


def fresh_accuracy(model: torch.nn.Module, config: TaskConfig, rules: Sequence[str],
                   n_trials: int, rng: np.random.Generator, chunk_size: int = 128
                   ) -> dict[str, RuleScore]:
    """:class:`~core.tasks.RuleScore` (correct trials, Wilson interval, chance level) of
    ``model`` on ``n_trials`` fresh training-distribution trials per rule, each rule's trials
    drawn from ``rng`` in one batch. ValueError for ``n_trials < 1``."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    out = {}
    for rule in rules:
        trials = generate_trials(rule, config, n_trials, rng)
        y, _ = run_model(model, trials.x, chunk_size=chunk_size)
        out[rule] = RuleScore(int(accuracy(y, trials, config).sum()), n_trials,
                              chance_level(rule, config))
    return out


def interpolation_readout(model: torch.nn.Module, config: TaskConfig, rule_a: str, rule_b: str,
                          alphas: Sequence[float] = ALPHAS, long_epoch: str | None = None
                          ) -> dict[str, np.ndarray]:
    """Run ``model`` on the test grid with rule inputs ``α·A + (1 − α)·B`` (analysis 1).

    Returns ``alphas (A,)``; ``choose_a``, ``choose_b``, ``no_response`` ``(A,)``: the fraction
    of trials whose response (read as :func:`core.tasks.accuracy` reads it) lies within the
    tolerance of rule A's target, of rule B's, or that keep fixating; ``accuracy_a`` /
    ``accuracy_b`` ``(A,)``: the same for trials whose answer under A (B) differs from B's (A's);
    ``directions (S,)`` the stimulus directions, ``choose_a_by_direction`` /
    ``choose_b_by_direction`` ``(A, S)`` the first two per direction and ``output (A, T, S,
    n_out)`` the mean output per direction; ``response_angle (A, B)``; ``epoch_start (E,)``
    with ``epoch_names``.
    """
    trials = _interpolate(rule_a, rule_b, config, alphas, np.random.default_rng(0),
                          long_epoch=long_epoch)
    y, _ = run_model(model, trials.x)
    alphas = np.asarray(alphas, dtype=float)
    n_alpha = alphas.size
    b = trials.batch_size // n_alpha
    steps, cols = trials.response_step, np.arange(trials.batch_size)
    fixating, angle, amplitude = decode_response(y[steps, cols].astype(float), config)
    responding = ~fixating & (amplitude >= config.min_response)

    def hits(target: np.ndarray) -> np.ndarray:
        ok = responding & (circular_distance(angle, np.nan_to_num(target)) < TOLERANCE)
        return (ok & np.isfinite(target)).reshape(n_alpha, b)

    hit_a, hit_b = hits(trials.params["target_loc_a"]), hits(trials.params["target_loc_b"])
    differ = (circular_distance(np.nan_to_num(trials.params["target_loc_a"]),
                                np.nan_to_num(trials.params["target_loc_b"])) >= TOLERANCE
              ).reshape(n_alpha, b)
    stim = np.round(trials.params["stim1_loc"][:b], 6)
    directions = np.unique(stim)
    outputs = y.reshape(y.shape[0], n_alpha, b, -1)
    per_dir = np.stack([outputs[:, :, stim == d].mean(axis=2) for d in directions], axis=2)
    names = [e for e in trials.epochs if trials.epochs[e][0, 0] >= 0]
    return {
        "alphas": alphas, "choose_a": hit_a.mean(1), "choose_b": hit_b.mean(1),
        "no_response": (~responding).reshape(n_alpha, b).mean(1),
        "accuracy_a": (hit_a & differ).sum(1) / np.maximum(differ.sum(1), 1),
        "accuracy_b": (hit_b & differ).sum(1) / np.maximum(differ.sum(1), 1),
        "directions": directions, "output": per_dir.transpose(1, 0, 2, 3),
        "choose_a_by_direction": np.stack([hit_a[:, stim == d].mean(1) for d in directions], 1),
        "choose_b_by_direction": np.stack([hit_b[:, stim == d].mean(1) for d in directions], 1),
        "response_angle": angle.reshape(n_alpha, b),
        "epoch_names": np.asarray(names),
        "epoch_start": np.array([trials.epochs[e][0, 0] for e in names]),
    }


def stage_states(stage: Stage, epoch: str) -> dict[str, np.ndarray]:
    """``{kind: (B, D)}`` states of a stage file at the last step of ``epoch``: ``hidden``, and
    for an MPN ``M`` and ``WM`` (``W ⊙ M``, flattened); NaN rows for trials without the epoch.
    KeyError if the epoch is not stored."""
    names = [str(n) for n in stage["epoch_names"]]
    if epoch not in names:
        raise KeyError(f"epoch {epoch!r} not recorded (stored: {names})")
    i = names.index(epoch)
    ends = np.asarray(stage["epoch_end_step"])[i]
    cols = np.arange(ends.size)
    out = {"hidden": np.asarray(stage["state/hidden"])[np.maximum(ends, 0), cols].astype(float)}
    out["hidden"][ends < 0] = np.nan
    if "state/M" in stage:
        m = np.asarray(stage["state/M"], dtype=float)[i]
        out["M"] = m.reshape(m.shape[0], -1)
        weight = np.asarray(stage["param/layers.0.W"], dtype=float)
        out["WM"] = (m * weight[None]).reshape(m.shape[0], -1)
    return out


def _condition_mean(value: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean of ``value[rows]`` over rows (NaN if no row)."""
    return value[rows].mean(0) if rows.any() else np.full(value.shape[1], np.nan)


def _mean(values: list[float]) -> float:
    """Mean of the finite values (NaN if none)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else np.nan


def attractor_similarity(stages: Sequence[Stage], epochs: Sequence[str] = SIMILARITY_EPOCHS
                         ) -> dict:
    """Cosine similarity of states over learning (analysis 2).

    For each stage (a :func:`core.plotting.one_task.read_stages` dict), epoch and state kind
    (:func:`stage_states`), the states are averaged per (rule, stimulus direction) and compared:
    ``same_stimulus``, the mean over directions of cos(rule A at s, rule B at s);
    ``same_response``, cos(A at s, B at s + π) (the pro/anti pairs that ask for the same
    reach); ``different_stimulus``, the mean over rules and pairs s ≠ s' of cos(R at s, R at s').
    With one rule the first two are NaN.

    Returns ``{"step": (S,), "rules": (R,), kind: {epoch: {comparison: (S,)}}}``.
    """
    if not stages:
        raise ValueError("attractor_similarity needs at least one stage")
    rules = list(dict.fromkeys(str(r) for r in stages[0]["rule"]))
    loc = np.round(np.asarray(stages[0]["trial/stim1_loc"], dtype=float) % (2 * np.pi), 6)
    directions = np.unique(loc)
    trial_rules = np.asarray(stages[0]["rule"]).astype(str)
    out: dict = {"step": np.array([int(s["step"]) for s in stages]), "rules": np.asarray(rules)}
    for s_i, stage in enumerate(stages):
        for epoch in epochs:
            try:
                states = stage_states(stage, epoch)
            except KeyError:
                continue
            for kind, value in states.items():
                means = {(r, d): _condition_mean(value, (trial_rules == r) & (loc == d))
                         for r in rules for d in directions}
                table = out.setdefault(kind, {}).setdefault(epoch, {
                    c: np.full(len(stages), np.nan)
                    for c in ("same_stimulus", "same_response", "different_stimulus")})
                table["different_stimulus"][s_i] = _mean([
                    cosine(means[r, d], means[r, e]) for r in rules for d in directions
                    for e in directions if d != e])
                if len(rules) >= 2:
                    a, b = rules[:2]
                    table["same_stimulus"][s_i] = _mean(
                        [cosine(means[a, d], means[b, d]) for d in directions])
                    opposite = [(d, np.round((d + np.pi) % (2 * np.pi), 6)) for d in directions]
                    pairs = [(d, o) for d, o in opposite if o in set(directions)]
                    if pairs:
                        table["same_response"][s_i] = _mean(
                            [cosine(means[a, d], means[b, o]) for d, o in pairs])
    return out


def stage_trials(stage: Stage, dt: float) -> Trials:
    """The test trials stored in a stage file as a :class:`Trials` batch (``y_loc`` is not
    stored there: -1 everywhere; accuracy does not read it)."""
    x = np.asarray(stage["x"])
    epochs = {k.removeprefix("epoch/"): np.asarray(v) for k, v in stage.items()
              if k.startswith("epoch/")}
    params = {k.removeprefix("trial/"): np.asarray(v) for k, v in stage.items()
              if k.startswith("trial/")}
    return Trials(x=x, y=np.asarray(stage["y"]), c_mask=np.asarray(stage["c_mask"]),
                  y_loc=np.full(x.shape[:2], -1.0, dtype=np.float32),
                  rule=np.asarray(stage["rule"]).astype(object), epochs=epochs, params=params,
                  dt=float(dt))


def fixed_point_options(model: torch.nn.Module, relax_steps: int = 2000) -> dict[str, int]:
    """Options of :func:`core.analysis.fixed_points.find_fixed_points` for ``model``.

    An MPN (M decaying at λ ≈ 0.99) gets ``relax_steps`` steps of its own dynamics and no Adam
    (minimising q alone ends in slow points there; README, "Fixed points"): this reaches its
    stable points but is likely to miss unstable ones. Other models keep the defaults.
    """
    if isinstance(model, DeepMultiPlasticNet):
        return {"relax_steps": relax_steps, "adam_steps": 0}
    return {}


def _projections(values: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """``(P, n_components)`` PCA scores of ``values (P, D)`` (zero-padded when P or D is
    smaller) and the explained-variance ratios ``(n_components,)`` (NaN-padded)."""
    scores = np.zeros((values.shape[0], n_components))
    ratio = np.full(n_components, np.nan)
    k = min(n_components, values.shape[0] - 1, values.shape[1])
    if k >= 1 and np.ptp(values, axis=0).max() > 0:
        pca = PCA(k).fit(values)
        scores[:, :k], ratio[:k] = pca.transform(values), pca.explained_variance_ratio_
    return scores, ratio


def describe_fixed_points(model: torch.nn.Module, result: Mapping[str, np.ndarray],
                          trials: Trials, n_components: int = 2) -> dict[str, np.ndarray]:
    """``result`` (one epoch of :func:`core.analysis.fixed_points.epoch_fixed_points` on
    ``trials``) with, per point (P): ``stimulus`` (``stim1_loc`` of the trial it was found for,
    rad), ``rule``, ``stable`` (a fixed point without unstable modes); and ``projection`` ``{kind:
    (P, n_components)}`` with ``explained`` ``{kind: (n_components,)}``: the points' hidden
    activity and, for an MPN, ``W ⊙ M`` (last layer) projected on their own leading PCs (zero
    scores beyond the available components)."""
    trial = np.asarray(result["trial"], dtype=np.int64)
    kinds = {"hidden": np.asarray(result["hidden"], dtype=float)}
    step = step_map(model)
    if "M" in step.parts:
        m = step.unflatten(step.as_tensor(np.asarray(result["states"])))["M"]
        weight = step.model.layers[-1].W
        kinds["WM"] = (m * weight).reshape(len(trial), -1).cpu().numpy()
    projection, explained = {}, {}
    for kind, value in kinds.items():
        projection[kind], explained[kind] = _projections(value, n_components)
    return {**result, "stimulus": np.asarray(trials.params["stim1_loc"], dtype=float)[trial],
            "rule": np.asarray(trials.rule).astype(str)[trial],
            "stable": np.asarray(result["is_fixed"]) & (np.asarray(result["n_unstable"]) == 0),
            "projection": projection, "explained": explained}


def interpolation_fixed_points(model: torch.nn.Module, config: TaskConfig, rule_a: str,
                               rule_b: str, alphas: Sequence[float] = FP_ALPHAS,
                               n_stimuli: int | None = 4, epoch: str = "delay1",
                               n_noise: int = 1, noise_scale: float = 0.05, seed: int = 0,
                               n_components: int = 2, progress: bool = False, **find_options
                               ) -> dict[str, np.ndarray]:
    """Fixed points of ``epoch`` at each α of the rule-input interpolation (analysis 1).

    The trials are those of :func:`interpolation_readout` (test grid, ``α·A + (1 − α)·B``),
    one per stimulus direction (the first modality of the grid) for ``n_stimuli`` directions
    evenly spread over the grid (``None``: all). For each trial the seeds are its state at the
    end of ``epoch`` and ``n_noise`` noisy copies, solved under the epoch's input by
    :func:`core.analysis.fixed_points.epoch_fixed_points` (``find_options`` passed on, e.g.
    :func:`fixed_point_options`). In the delay the input (fixation and rule cue) is the same for
    every stimulus at one α, so points reached from different stimuli merge; each point keeps
    the stimulus of the trial it was first found for.

    Returns the arrays of :func:`describe_fixed_points` plus ``alpha (P,)``, ``alphas (A,)``,
    ``directions (S,)``, ``epoch``, and per α ``n_fixed``, ``n_slow``, ``n_unstable_points``
    ``(A,)`` (fixed points with unstable modes). ValueError for ``n_stimuli < 1`` or a rule pair
    without ``epoch``.
    """
    if n_stimuli is not None and n_stimuli < 1:
        raise ValueError(f"n_stimuli must be >= 1 or None, got {n_stimuli}")
    alphas = np.asarray(alphas, dtype=float)
    trials = _interpolate(rule_a, rule_b, config, alphas, np.random.default_rng(0))
    if epoch not in trials.epochs:
        raise ValueError(f"{rule_a}/{rule_b} have no epoch {epoch!r} "
                         f"(have {sorted(trials.epochs)})")
    b = trials.batch_size // alphas.size
    stim = np.round(np.asarray(trials.params["stim1_loc"][:b], dtype=float), 6)
    directions = np.unique(stim)
    if n_stimuli is not None and n_stimuli < directions.size:
        directions = directions[np.linspace(0, directions.size, n_stimuli, endpoint=False
                                            ).astype(int)]
    first = np.array([np.flatnonzero(stim == d)[0] for d in directions])
    chosen = trials.take((np.arange(alphas.size)[:, None] * b + first[None]).ravel())
    result = epoch_fixed_points(model, chosen, epochs=[epoch], n_noise=n_noise,
                                noise_scale=noise_scale, seed=seed, progress=progress,
                                **find_options)[epoch]
    out = describe_fixed_points(model, result, chosen, n_components)
    alpha = np.asarray(chosen.params["alpha"], dtype=float)[np.asarray(result["trial"])]
    fixed = np.asarray(out["is_fixed"])
    unstable = fixed & (np.asarray(out["n_unstable"]) > 0)
    return {**out, "alpha": alpha, "alphas": alphas, "directions": directions,
            "epoch": np.asarray(epoch),
            "n_fixed": np.array([(fixed & (alpha == a)).sum() for a in alphas]),
            "n_slow": np.array([(~fixed & (alpha == a)).sum() for a in alphas]),
            "n_unstable_points": np.array([(unstable & (alpha == a)).sum() for a in alphas])}


def fixed_points_per_set(model: torch.nn.Module, test_sets: Mapping[str, tuple[Trials, str]],
                          n_noise: int = 1, noise_scale: float = 0.05, seed: int = 0,
                          n_components: int = 2, progress: bool = False, **find_options
                          ) -> dict[str, dict]:
    """Per-epoch fixed points of several test sets, e.g. the long test sets of a two-task run.

    ``test_sets`` maps a name to ``(trials, epoch)``: the fixed points of that epoch of the
    trials (seeded from each trial's state at the epoch's end, :func:`epoch_fixed_points`,
    ``find_options`` passed on). Returns ``{name: arrays}``: :func:`describe_fixed_points` plus
    ``epoch``.
    """
    out = {}
    for name, (trials, epoch) in test_sets.items():
        result = epoch_fixed_points(model, trials, epochs=[epoch], n_noise=n_noise,
                                    noise_scale=noise_scale, seed=seed, progress=progress,
                                    **find_options)
        if epoch in result:  # no trial has the epoch: nothing to solve
            out[name] = {**describe_fixed_points(model, result[epoch], trials, n_components),
                         "epoch": np.asarray(epoch)}
    return out
