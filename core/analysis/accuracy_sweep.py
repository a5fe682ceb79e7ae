"""Accuracy against L2 strength and hidden size over the runs of a folder (issue 15).

Every run's accuracy is measured on fresh trials of each of its rules (drawn, ``chunk`` at a
time, in the order of :meth:`core.training.trainer.RuleTraining.score_fresh`, so the same
generator reproduces the training script's ``evaluation.csv``), with the rule's chance level
and a Wilson interval (:class:`core.tasks.accuracy.RuleScore`). Runs are then grouped by
(hidden size, L2 strength), the fields of their names (:func:`core.training.naming.
parse_run_name`, :func:`~core.training.naming.parse_regulariser_feature`), and the mean over
rules is averaged over seeds with the Student-t interval of :func:`core.analysis.seeds.
mean_interval`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from core.analysis.seeds import mean_interval
from core.analysis.state_space import run_model
from core.tasks import RuleScore, score_fresh_trials
from core.tasks.config import TaskConfig
from core.training.naming import parse_regulariser_feature, parse_run_name

__all__ = ["by_hidden_and_l2", "fresh_scores", "run_fields"]


def fresh_scores(model: torch.nn.Module, task: TaskConfig, rules: Sequence[str], n_trials: int,
                 rng: np.random.Generator, chunk: int = 128) -> dict[str, RuleScore]:
    """:class:`RuleScore` of every rule on ``n_trials`` fresh trials from ``rng``, generated and
    run ``chunk`` trials at a time (eval mode, no gradients). ValueError for n_trials or chunk
    < 1."""
    return score_fresh_trials(lambda trials: run_model(model, trials.x)[0], rules, task,
                              n_trials, rng, chunk)


def run_fields(name: str) -> dict[str, float | int | str]:
    """``{"hidden", "l2", "seed", "rule_set"}`` parsed from a run name (L2 0 for ``noreg``).
    ValueError for a name that is not a run name."""
    parsed = parse_run_name(name)
    strengths, _ = parse_regulariser_feature(parsed.feature)
    return {"hidden": parsed.hidden, "l2": float(strengths.get("l2", 0.0)), "seed": parsed.seed,
            "rule_set": parsed.task}


def by_hidden_and_l2(runs: Sequence[Mapping], confidence: float = 0.95
                     ) -> dict[int, dict[str, np.ndarray]]:
    """Mean accuracy over rules of each run, averaged over the seeds of every (hidden, L2).

    Args:
        runs: per run ``{"hidden": int, "l2": float, "accuracy": (R,)}``.

    Returns:
        ``{hidden: {"l2": (L,) sorted, "mean", "low", "high": (L,), "n_seeds": (L,)}}``;
        bounds NaN for one seed. ValueError for no run.
    """
    if not runs:
        raise ValueError("no runs to aggregate")
    groups: dict[int, dict[float, list[float]]] = {}
    for run in runs:
        groups.setdefault(int(run["hidden"]), {}).setdefault(float(run["l2"]), []).append(
            float(np.mean(run["accuracy"])))
    out = {}
    for hidden, by_l2 in sorted(groups.items()):
        l2 = np.array(sorted(by_l2))
        stats = [mean_interval(np.asarray(by_l2[v]), confidence) for v in l2]
        out[hidden] = {"l2": l2, "mean": np.array([s[0] for s in stats], dtype=float),
                       "low": np.array([s[1] for s in stats], dtype=float),
                       "high": np.array([s[2] for s in stats], dtype=float),
                       "n_seeds": np.array([len(by_l2[v]) for v in l2])}
    return out
