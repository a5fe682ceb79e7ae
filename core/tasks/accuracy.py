"""The performance criterion of Yang et al. (2019), made non-gameable.

Each trial is read at its response time (its last valid step). The network fixates if its fixation
output is > 0.5. A trial that asks for a response is correct if the network does not fixate and
the decoded angle lies within 0.2 pi of the target; a no-go trial is correct if it still fixates.

Deviation from the reference (gyyang/multitask ``get_perf``): the decoded response must also have
an amplitude of at least ``config.min_response`` times that of a unit-strength target. Without it a
constant all-zero output decodes to ``atan2(0, 0) = 0`` and is "correct" whenever the target lies
near 0; with it, an all-zero output scores 0 on every rule.
"""

from __future__ import annotations

import math

import numpy as np

from core.tasks.config import TaskConfig
from core.tasks.trials import Trials
from core.tasks.yang import circular_distance, encode_angle

#: Largest angular error of a correct response (radians).
TOLERANCE = 0.2 * math.pi
#: Fixation output above this value counts as fixating.
FIXATION_THRESHOLD = 0.5


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


def accuracy(y_hat, trials: Trials, config: TaskConfig) -> np.ndarray:
    """``(B,)`` bool: is each trial correct? ``y_hat`` is ``(T, B, n_out)`` (numpy or torch)."""
    if tuple(y_hat.shape) != trials.y.shape:
        raise ValueError(f"y_hat shape {tuple(y_hat.shape)} != target shape {trials.y.shape}")
    fixating, angle, amplitude = decode_response(_response_outputs(y_hat, trials), config)
    respond = trials.params["respond"].astype(bool)
    target = np.where(respond, trials.params["target_loc"], 0.0)
    on_target = (circular_distance(angle, target) < TOLERANCE) & (amplitude >= config.min_response)
    return np.where(respond, ~fixating & on_target, fixating)


def accuracy_by_rule(y_hat, trials: Trials, config: TaskConfig) -> dict[str, float]:
    """Mean accuracy per rule present in ``trials`` (for logging and :class:`RuleSampler`)."""
    correct = accuracy(y_hat, trials, config)
    return {str(r): float(correct[trials.rule == r].mean()) for r in dict.fromkeys(trials.rule)}
