"""Per-trial accuracy of the Yang et al. (2019) rules, made non-gameable, and each rule's chance.

Criterion. Each trial is read at its response time (its last valid step). The network fixates if
its fixation output is > 0.5. A trial that asks for a response is correct if the network does not
fixate, the decoded response has an amplitude of at least ``config.min_response`` times that of a
unit-strength target, and the decoded angle lies within :func:`response_tolerance` of the target:
0.2 pi on a continuous circle (``yang19``), half the grid spacing (pi / 8 for ``mpn_lab``'s 8
directions) on a direction grid. A no-go trial is correct if the network still fixates.

The references:

* Yang et al. (2019), gyyang/multitask ``network.get_perf``: the last time step, fixation > 0.5,
  population-vector angle within 0.2 pi, no amplitude condition.
* The MPN lab, AllenInstitute/MultiTaskMPN ``core/net_helpers.compute_acc``: every step of the
  last three quarters of the response period; the (sin, cos) output and the target are each
  rounded to the nearest of the 8 grid directions and must agree; fixation is not checked.

Deviations, both so that an answer that ignores the trial cannot beat chance:

* the amplitude condition: without it a constant all-zero output decodes to ``atan2(0, 0) = 0``
  and is "correct" whenever the target lies near 0; with it, it scores 0 on every rule;
* on a grid the tolerance is half the spacing (the lab's nearest-direction rounding; an output
  exactly halfway between two directions counts as wrong), not Yang's 0.2 pi: with 8 directions
  0.2 pi = 36 degrees exceeds half the 45 degree spacing, so one constant output aimed between
  two directions would be "correct" for both and score about 28 % where chance is 12.5 %.

Chance (:func:`chance_level`), for trials drawn in ``random`` mode: reach rules 1 / n_directions
on a grid and 2 * 0.2 pi / 2 pi = 0.2 on a continuous circle (the share of targets one fixed
answer can hit); decision rules 1/2 (choosing one of the two stimuli); match rules (DMS/DMC go
and no-go) 1/2 (respond or fixate; half the trials match). With this criterion no constant
output, at any angle or amplitude, fixating or not, scores above its rule's chance level
(``tests/test_tasks_accuracy.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import binomtest

from core.tasks.config import TaskConfig
from core.tasks.trials import Trials
from core.tasks.yang import RULE_SPECS, circular_distance, encode_angle, generate_trials

if TYPE_CHECKING:
    from core.tasks.modcog import ModCogConfig

#: Largest angular error of a correct response on a continuous circle (radians; Yang et al.).
TOLERANCE = 0.2 * math.pi
#: Fixation output above this value counts as fixating.
FIXATION_THRESHOLD = 0.5


def response_tolerance(config: TaskConfig) -> float:
    """Largest angular error (radians, exclusive) of a correct response: half the spacing of
    ``config.n_directions`` grid directions, or :data:`TOLERANCE` without a grid."""
    if config.n_directions is None:
        return TOLERANCE
    return math.pi / config.n_directions


def chance_level(rule: str, config: TaskConfig | ModCogConfig) -> float:
    """Accuracy of a guess that ignores what ``rule`` asks for (trials in ``random`` mode).

    Reach rules: the share of targets one fixed answer hits (1 / n_directions on a grid, the
    tolerance arc 2 * 0.2 pi / 2 pi = 0.2 on a continuous circle). Decision rules: 1/2 (one of
    the two stimuli). Match go/no-go rules: 1/2 (respond or fixate; half the trials match).
    Only ``config.n_directions`` is read, so a Mod-Cog config (its ring's grid) serves too
    (:func:`core.tasks.modcog.task_chance_level`). ValueError for an unknown rule.
    """
    if rule not in RULE_SPECS:
        raise ValueError(f"unknown rule {rule!r}; expected one of {list(RULE_SPECS)}")
    if RULE_SPECS[rule].family != "reach":
        return 0.5
    if config.n_directions is not None:
        return 1.0 / config.n_directions
    return TOLERANCE / math.pi


def _response_outputs(y_hat, trials: Trials) -> np.ndarray:
    """``(B, n_out)`` float64 output of each trial at its response step (numpy or torch input)."""
    steps = trials.response_step
    cols = np.arange(trials.batch_size)
    if hasattr(y_hat, "detach"):  # torch tensor: gather first, copy only B rows
        import torch

        idx_t = torch.as_tensor(steps, device=y_hat.device)
        idx_b = torch.as_tensor(cols, device=y_hat.device)
        return y_hat.detach()[idx_t, idx_b].double().cpu().numpy()
    return np.asarray(y_hat)[steps, cols].astype(np.float64)


def decode_response(out: np.ndarray, config: TaskConfig) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """Decode outputs ``out (B, n_out)`` -> ``(fixating (B,) bool, angle (B,), amplitude (B,))``.

    ring: population-vector angle ``atan2(sum r_i sin p_i, sum r_i cos p_i)`` (baseline cancels);
    lowdim: ``atan2(sin, cos)``. Amplitude is relative to a unit-strength target at angle 0.
    """
    if out.ndim != 2 or out.shape[1] != config.n_output:
        raise ValueError(f"outputs must be (B, {config.n_output}), got {out.shape}")
    fixating = out[:, 0] > FIXATION_THRESHOLD
    if config.encoding == "lowdim":
        s, c = out[:, 1], out[:, 2]
        reference = 1.0
    else:
        pref = 2 * math.pi * np.arange(config.n_eachring) / config.n_eachring
        r = out[:, 1:]
        s, c = r @ np.sin(pref), r @ np.cos(pref)
        reference = float(encode_angle(config, np.zeros(1))[0] @ np.cos(pref))
    angle = np.arctan2(s, c) % (2 * math.pi)
    return fixating, angle, np.hypot(s, c) / reference


def correct_responses(fixating: np.ndarray, angle: np.ndarray, amplitude: np.ndarray,
                      trials: Trials, config: TaskConfig) -> np.ndarray:
    """Score decoded responses (:func:`decode_response`) against ``trials`` (the criterion above).

    The inputs broadcast against the trial axis: ``(B,)`` gives ``(B,)``; ``(K, 1)`` (K
    responses, each given to every trial) gives ``(K, B)``. Returns bool.
    """
    respond = trials.params["respond"].astype(bool)
    target = np.where(respond, trials.params["target_loc"], 0.0)
    on_target = ((circular_distance(angle, target) < response_tolerance(config))
                 & (amplitude >= config.min_response))
    return np.where(respond, ~fixating & on_target, fixating)


def accuracy(y_hat, trials: Trials, config: TaskConfig) -> np.ndarray:
    """``(B,)`` bool: is each trial correct? ``y_hat`` is ``(T, B, n_out)`` (numpy or torch)."""
    if tuple(y_hat.shape) != trials.y.shape:
        raise ValueError(f"y_hat shape {tuple(y_hat.shape)} != target shape {trials.y.shape}")
    return correct_responses(*decode_response(_response_outputs(y_hat, trials), config),
                             trials, config)


def accuracy_by_rule(y_hat, trials: Trials, config: TaskConfig) -> dict[str, float]:
    """Mean accuracy per rule present in ``trials`` (for logging and :class:`RuleSampler`)."""
    correct = accuracy(y_hat, trials, config)
    return {str(r): float(correct[trials.rule == r].mean()) for r in dict.fromkeys(trials.rule)}


@dataclass(frozen=True)
class RuleScore:
    """Correct trials of one rule out of ``n_trials``, with the rule's :func:`chance_level`."""

    n_correct: int
    n_trials: int
    chance: float

    @property
    def accuracy(self) -> float:
        """Fraction correct."""
        return self.n_correct / self.n_trials

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """Wilson score interval of the accuracy (``scipy.stats.binomtest``)."""
        ci = binomtest(self.n_correct, self.n_trials).proportion_ci(confidence, method="wilson")
        return float(ci.low), float(ci.high)


def score_by_rule(correct: np.ndarray, trials: Trials, config: TaskConfig) -> dict[str, RuleScore]:
    """``{rule: RuleScore}`` from the per-trial ``correct (B,)`` of :func:`accuracy`."""
    correct = np.asarray(correct, dtype=bool)
    return {str(r): RuleScore(int(correct[trials.rule == r].sum()), int((trials.rule == r).sum()),
                              chance_level(str(r), config))
            for r in dict.fromkeys(trials.rule)}


def score_fresh_trials(respond: Callable[[Trials], np.ndarray], rules: Sequence[str],
                       config: TaskConfig, n_trials: int, rng: np.random.Generator,
                       chunk: int = 128) -> dict[str, RuleScore]:
    """``{rule: RuleScore}`` of ``respond(trials) -> y_hat (T, B, n_out)`` on ``n_trials`` fresh
    trials per rule, drawn from ``rng`` ``chunk`` at a time, rule after rule (so one Generator
    seed reproduces the same trials). ValueError for ``n_trials`` or ``chunk`` < 1."""
    if n_trials < 1 or chunk < 1:
        raise ValueError(f"n_trials and chunk must be >= 1, got {n_trials}, {chunk}")
    scores = {}
    for rule in rules:
        n_correct = 0
        for start in range(0, n_trials, chunk):
            trials = generate_trials(rule, config, min(chunk, n_trials - start), rng)
            n_correct += int(accuracy(respond(trials), trials, config).sum())
        scores[rule] = RuleScore(n_correct, n_trials, chance_level(rule, config))
    return scores
