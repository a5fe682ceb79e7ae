"""Routing analysis of Mixture-of-Pathways networks (Cook, Akarca, Costa & Achterberg 2025).

- :func:`routing_statistics`: per task, on held-out streams, the accuracy during the response
  period, the learned pathway complexity (LPC) and the mean gate of every expert per layer.
- LPC of task ``k`` (paper, Sec. "Learned pathway complexity"): ``sum_l mean_{response steps of k}
  sum_e g_{l,e} h_{l,e}^kappa``, the routing cost of Eq. 2 restricted to the response period,
  computed from the gates actually applied (equal to the softmax weights without interventions;
  the reference code reads the pre-pruning weights even when pruning, so its LPC ignores pruning).
- Task difficulty: ``log`` of the median (over seeds) number of training steps a single-task
  network needs before its loss stays below a threshold (reference threshold 0.25).
- :func:`intervention_effects`: accuracy and LPC per task when pruning experts below a routing
  threshold at inference and when disabling each layer's most complex expert.
- :func:`fresh_stream_scores`: accuracy per task on fresh trials (whole trials, every response
  step right), with its Wilson interval and chance level: a run's ``evaluation.csv``;
  :func:`intervention_trial_scores` the same under each inference-time intervention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from core.models.mop import MixtureOfPathways, task_routing_cost
from core.tasks.accuracy import RuleScore
from core.tasks.modcog import ModCogConfig, max_trial_steps, score_fresh_streams

#: What ``mixture_of_pathways/analyze.py`` results hold, recorded as a provenance source
#: (:func:`core.provenance.record`): entries stored before they held the fresh-trial scores
#: (``trial_*`` per condition) are stale. The analysis and ``paper_plot.py`` pass it.
MOP_SOURCES = {"contents": "routing statistics and fresh-trial scores per task (trial_*) per "
                           "condition"}


@dataclass
class RoutingStatistics:
    """Per-task summary of one model on held-out data (``K`` tasks, layer ``l`` with ``E_l``
    experts): ``accuracy (K,)`` fraction of response steps with the correct action, ``lpc (K,)``,
    ``gates[l] (K, E_l)`` mean gate per expert over the task's response steps, ``n_steps (K,)``
    counted response steps."""

    tasks: tuple[str, ...]
    accuracy: np.ndarray
    lpc: np.ndarray
    gates: list[np.ndarray]
    n_steps: np.ndarray

    def to_dict(self) -> dict[str, np.ndarray]:
        """Flat arrays for :func:`core.io.save_results` (``gates{l}`` per layer)."""
        out = {"tasks": np.asarray(self.tasks), "accuracy": self.accuracy, "lpc": self.lpc,
               "n_steps": self.n_steps}
        out.update({f"gates{l}": g for l, g in enumerate(self.gates)})
        return out


def routing_statistics(model: MixtureOfPathways, batches: Sequence[tuple[torch.Tensor, ...]],
                       tasks: Sequence[str], prune_threshold: float | None = None,
                       disable_complex: bool = False) -> RoutingStatistics:
    """Evaluate ``model`` (eval mode, no gradients) on ``batches`` of ``(x (T, B, n_in), labels
    (T, B), task_ids (T, B), response (T, B) bool)`` (see ``ModCogStream.to_torch``).

    Steps are pooled over batches before averaging. ``prune_threshold`` / ``disable_complex``
    apply the inference-time interventions of the model's forward.
    """
    n_tasks = len(tasks)
    if not batches:
        raise ValueError("routing_statistics needs at least one batch")
    costs = model.layer_costs()
    n_layers = len(costs)
    correct = torch.zeros(n_tasks, dtype=torch.float64)
    counts = torch.zeros(n_tasks, dtype=torch.float64)
    lpc_sum = torch.zeros(n_tasks, dtype=torch.float64)
    gate_sum = [torch.zeros(n_tasks, len(c), dtype=torch.float64) for c in costs]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for x, labels, task_ids, response in batches:
            logits, states = model(x, track_states=True, prune_threshold=prune_threshold,
                                   disable_complex=disable_complex)
            onehot = (torch.nn.functional.one_hot(task_ids.long(), n_tasks).double()
                      * response[..., None].double())  # (T, B, K)
            n = onehot.sum((0, 1)).cpu()
            hit = (logits.argmax(-1) == labels).double()
            correct += torch.einsum("tb,tbk->k", hit, onehot).cpu()
            gates = [states[f"gates{l}"].double() for l in range(n_layers)]
            lpc_sum += task_routing_cost(gates, [c.double() for c in costs], task_ids, n_tasks,
                                         mask=response).cpu() * n
            for l, g in enumerate(gates):
                gate_sum[l] += torch.einsum("tbe,tbk->ke", g, onehot).cpu()
            counts += n
    model.train(was_training)
    denom = counts.clamp_min(1.0)
    return RoutingStatistics(
        tasks=tuple(tasks), accuracy=(correct / denom).numpy(), lpc=(lpc_sum / denom).numpy(),
        gates=[(g / denom[:, None]).numpy() for g in gate_sum], n_steps=counts.numpy(),
    )


def steps_to_threshold(losses: Sequence[float] | np.ndarray, threshold: float = 0.25) -> int:
    """Training steps until the loss stays below ``threshold``: one past the last step whose
    loss is ``>= threshold`` (the reference's definition), ``len(losses)`` if it never gets
    there, 0 if it starts below. ``losses (n_steps,)`` in step order."""
    losses = np.asarray(losses, dtype=float)
    above = np.nonzero(~(losses < threshold))[0]
    return int(above[-1] + 1) if above.size else 0


def task_difficulty(steps: Sequence[int]) -> float:
    """``log`` of the median steps-to-threshold over seeds (Cook et al. 2025); ``steps`` > 0."""
    steps = np.asarray(steps, dtype=float)
    if steps.size == 0 or np.any(steps <= 0):
        raise ValueError(f"task_difficulty needs positive step counts, got {steps.tolist()}")
    return float(np.log(np.median(steps)))


def lpc_difficulty_correlation(lpc: np.ndarray, difficulty: np.ndarray) -> tuple[float, float]:
    """Spearman rank correlation ``(rho, p)`` between LPC and difficulty, each ``(K,)``;
    ``(nan, nan)`` when either is constant (e.g. every single-task run censored)."""
    lpc, difficulty = np.asarray(lpc, float), np.asarray(difficulty, float)
    if lpc.shape != difficulty.shape or lpc.size < 3:
        raise ValueError(f"need matching arrays of >= 3 tasks, got {lpc.shape} and "
                         f"{difficulty.shape}")
    if np.ptp(lpc) == 0 or np.ptp(difficulty) == 0:
        return float("nan"), float("nan")
    res = stats.spearmanr(lpc, difficulty)
    return float(res.statistic), float(res.pvalue)


def intervention_effects(model: MixtureOfPathways, batches: Sequence[tuple[torch.Tensor, ...]],
                         tasks: Sequence[str], prune_thresholds: Sequence[float] = (0.05, 0.1,
                                                                                     0.2)
                         ) -> dict[str, RoutingStatistics]:
    """Routing statistics without intervention (``baseline``), with inference-time pruning at
    each threshold (``prune<thr>``) and with each layer's largest expert disabled
    (``disable_complex``)."""
    return {name: routing_statistics(model, batches, tasks, **intervention)
            for name, intervention in intervention_conditions(prune_thresholds).items()}


def intervention_conditions(prune_thresholds: Sequence[float]) -> dict[str, dict]:
    """The inference conditions of :func:`intervention_effects`, in order, each with the keyword
    arguments of the model's forward that apply it: ``baseline``, ``prune<thr>`` per threshold,
    ``disable_complex``."""
    return {"baseline": {}, **{f"prune{thr:g}": {"prune_threshold": thr}
                               for thr in prune_thresholds},
            "disable_complex": {"disable_complex": True}}


def intervention_trial_scores(model: MixtureOfPathways, run_config: dict, n_trials: int,
                              prune_thresholds: Sequence[float] = (0.05, 0.1, 0.2),
                              seed: int | None = None) -> dict[str, dict[str, RuleScore]]:
    """:func:`fresh_stream_scores` under each of :func:`intervention_conditions` (the same
    trials for every condition), ``{condition: {task: RuleScore}}``."""
    return {name: fresh_stream_scores(model, run_config, n_trials, seed, **intervention)
            for name, intervention in intervention_conditions(prune_thresholds).items()}


def fresh_stream_scores(model: MixtureOfPathways, run_config: dict, n_trials: int,
                        seed: int | None = None, prune_threshold: float | None = None,
                        disable_complex: bool = False, chunk: int = 128
                        ) -> dict[str, RuleScore]:
    """Accuracy of a MoP network on ``n_trials`` fresh trials of each of its tasks, with the
    95 % Wilson interval and chance level of :func:`core.tasks.modcog.score_fresh_streams`.

    ``run_config`` is the run's stored config (``config.json``): its ``task`` entry gives the
    tasks, the Mod-Cog constants and the training stream length ``seq_len``; the streams are as
    long, or as the longest trial where that is longer. They are drawn from a Generator seeded
    with ``(seed, 2)``, ``seed`` the run's unless given, which neither training nor the held-out
    streams use (:func:`core.tasks.modcog.split_generators`; the rule runs' ``evaluation.csv``
    uses the same pair). The model runs in eval mode (no routing dropout), without gradients,
    on its device; its mode is restored. ``prune_threshold`` / ``disable_complex`` apply the
    inference-time interventions of the model's forward.
    """
    task = run_config["task"]
    tasks = tuple(task["tasks"])
    cfg = ModCogConfig(n_ring=task["n_ring"], dt=task["dt"], sigma=task["sigma"])
    seq_len = max(int(task["seq_len"]), *(max_trial_steps(t, cfg) for t in tasks))
    device = next(model.parameters()).device
    rng = np.random.default_rng([run_config["seed"] if seed is None else seed, 2])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        scores = score_fresh_streams(
            lambda stream: model(torch.from_numpy(stream.x).to(device),
                                 prune_threshold=prune_threshold,
                                 disable_complex=disable_complex)[0],
            tasks, n_trials, seq_len, rng, cfg, chunk)
    model.train(was_training)
    return scores
