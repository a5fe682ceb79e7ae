"""Figures of runs aggregated over seeds (``python -m core.runs --aggregate --figure``,
``multiple_task/accuracy_sweep.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from core.analysis.accuracy_sweep import by_hidden_and_l2
from core.plotting.style import apply_style
from core.tasks import RULE_LABELS

__all__ = ["accuracy_sweep_figure", "plot_accuracy_by_l2", "plot_seed_aggregate"]


def plot_seed_aggregate(groups: Sequence[dict[str, Any]], confidence: float = 0.95
                        ) -> plt.Figure:
    """Validation accuracy against step (mean and interval over seeds, left) and final accuracy
    per rule (mean with interval bars, right), one colour per group.

    Each group holds ``label``, ``n_seeds``, ``steps (V,)``, ``curve``/``curve_low``/
    ``curve_high (V,)`` (mean validation accuracy over rules), ``rules`` (names) and
    ``accuracy``/``accuracy_low``/``accuracy_high (R,)`` in [0, 1]; bounds are NaN for one seed.
    """
    if not groups:
        raise ValueError("no groups of runs to draw")
    apply_style()
    rules = list(dict.fromkeys(r for g in groups for r in g["rules"]))
    fig, (ax_curve, ax_rule) = plt.subplots(
        1, 2, figsize=(3.0 + max(3.0, 0.3 * len(rules) * len(groups) ** 0.5), 2.6),
        gridspec_kw={"width_ratios": [1, max(1.0, len(rules) / 8)]}, layout="constrained")
    width = 0.8 / len(groups)
    for i, group in enumerate(groups):
        colour = f"C{i}"
        label = f"{group['label']} ({group['n_seeds']} seeds)"
        ax_curve.plot(group["steps"], group["curve"], color=colour, label=label)
        ax_curve.fill_between(group["steps"], group["curve_low"], group["curve_high"],
                              color=colour, alpha=0.2, linewidth=0)
        index = [rules.index(r) for r in group["rules"]]
        mean = np.asarray(group["accuracy"], float)
        err = np.abs(np.stack([mean - np.asarray(group["accuracy_low"], float),
                               np.asarray(group["accuracy_high"], float) - mean]))
        ax_rule.bar(np.asarray(index) + (i - (len(groups) - 1) / 2) * width, mean, width,
                    yerr=np.nan_to_num(err), color=colour, error_kw={"lw": 0.6, "capsize": 1})
    ax_curve.set(xlabel="step", ylabel="validation accuracy (mean over rules)",
                 ylim=(-0.02, 1.02))
    ax_curve.legend(frameon=False, fontsize=5)
    ax_rule.set_xticks(range(len(rules)), [RULE_LABELS.get(r, r) for r in rules], rotation=60,
                       ha="right")
    ax_rule.set(ylabel="final accuracy", ylim=(0, 1.05))
    ax_rule.set_title(f"mean and {100 * confidence:g} % t-interval over seeds", fontsize=6)
    return fig


def plot_accuracy_by_l2(groups: dict[int, dict[str, np.ndarray]], chance: float | None = None
                        ) -> plt.Figure:
    """Mean accuracy over rules against L2 strength, one line per hidden size: the mean over
    seeds with its interval (band), from :func:`core.analysis.accuracy_sweep.by_hidden_and_l2`
    (``{hidden: {"l2", "mean", "low", "high" (L,)}}``, accuracies in [0, 1]); L2 on a symlog
    axis so that 0 (no penalty) is drawn; ``chance`` (mean over rules) as a dashed line."""
    if not groups:
        raise ValueError("no groups of runs to draw")
    apply_style()
    fig, ax = plt.subplots(figsize=(3.4, 2.6))
    for hidden, g in groups.items():
        line, = ax.plot(g["l2"], g["mean"], marker="o", label=f"hidden {hidden}")
        ax.fill_between(g["l2"], g["low"], g["high"], color=line.get_color(), alpha=0.25,
                        linewidth=0)
    positive = np.concatenate([g["l2"][g["l2"] > 0] for g in groups.values()])
    if positive.size:
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle="--", linewidth=0.8, label="chance")
    ax.set_xlabel("L2 strength")
    ax.set_ylabel("Accuracy (mean over rules)")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, fontsize=6)
    return fig


def accuracy_sweep_figure(runs: Sequence[Mapping[str, Any]]) -> plt.Figure:
    """The ``accuracy_by_l2`` figure of ``multiple_task/accuracy_sweep.py`` entries (per run
    ``{"hidden", "l2", "accuracy" (R,), "chance" (R,)}``): :func:`plot_accuracy_by_l2` of their
    :func:`core.analysis.accuracy_sweep.by_hidden_and_l2` groups, chance the mean over rules and
    runs."""
    chance = float(np.mean([np.mean(r["chance"]) for r in runs]))
    return plot_accuracy_by_l2(by_hidden_and_l2(runs), chance)
