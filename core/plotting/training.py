"""Training figures shared by the rule-training scripts and ``paper_plot.py``: loss and validation
accuracy against step, and the final accuracy of each rule."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.style import apply_style, save_figure
from core.tasks import RULE_LABELS, RuleScore

if TYPE_CHECKING:
    from core.training.trainer import Curves

__all__ = ["plot_curves", "plot_rule_accuracy", "plot_rule_scores", "plot_time_to_accuracy"]


def plot_curves(curves: Curves, path: str | Path, title: str = "") -> list[Path]:
    """Training loss (log scale) and mean validation accuracy against step; PDF + PNG.

    The accuracy panel marks the chance level of the mean over rules, the mean of the run's
    ``curves.val_chance`` (:func:`core.tasks.chance_level` of each rule; absent for curves stored
    without it).
    """
    apply_style()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(6.0, 2.2))
    ax_loss.plot(curves.step, curves.loss, lw=0.6, color="0.5", label="train")
    if curves.val_step:
        ax_loss.plot(curves.val_step, curves.val_loss, lw=1.0, color="C0", label="validation")
        mean = [float(np.mean(list(a.values()))) for a in curves.val_accuracy]
        worst = [float(min(a.values())) for a in curves.val_accuracy]
        ax_acc.plot(curves.val_step, mean, color="C0", label="mean over rules")
        ax_acc.plot(curves.val_step, worst, color="C3", lw=0.8, ls="--", label="weakest rule")
        if curves.val_chance:
            chance = float(np.mean(list(curves.val_chance.values())))
            ax_acc.axhline(chance, color="k", lw=0.6, ls=":",
                           label=f"chance (mean over rules, {chance:.2f})")
        ax_acc.legend(frameon=False)
    ax_loss.set(xlabel="step", ylabel="loss", yscale="log")
    ax_loss.legend(frameon=False)
    ax_acc.set(xlabel="step", ylabel="validation accuracy", ylim=(-0.02, 1.02))
    if title:
        fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_rule_scores(scores: Mapping[str, RuleScore], path: str | Path, title: str = ""
                     ) -> list[Path]:
    """:func:`plot_rule_accuracy` of fresh-trial scores (:class:`core.tasks.RuleScore`): each
    rule's accuracy with its 95 % interval and chance level."""
    return plot_rule_accuracy({r: s.accuracy for r, s in scores.items()}, path, title=title,
                              chance={r: s.chance for r, s in scores.items()},
                              interval={r: s.interval() for r, s in scores.items()})


def plot_rule_accuracy(accuracy: Mapping[str, float], path: str | Path, title: str = "",
                       chance: Mapping[str, float] | None = None,
                       interval: Mapping[str, tuple[float, float]] | None = None) -> list[Path]:
    """Bar chart of the accuracy of each rule (readable labels); PDF + PNG.

    ``chance`` (rule -> chance level) draws a black line across each rule's bar at its chance
    level; ``interval`` (rule -> (low, high)) draws it as an error bar.
    """
    apply_style()
    rules = list(accuracy)
    x = np.arange(len(rules))
    legend_width = 0.9 if chance or interval else 0.0
    fig, ax = plt.subplots(figsize=(max(2.5, 0.32 * len(rules) + 0.8) + legend_width, 2.2))
    ax.bar(x, [accuracy[r] for r in rules], color="C0")
    if interval:
        low, high = np.array([interval[r] for r in rules]).T
        acc = np.array([accuracy[r] for r in rules])
        ax.errorbar(x, acc, yerr=[acc - low, high - acc], fmt="none", ecolor="0.2", lw=0.8,
                    capsize=1.5, label="95 % interval")
    if chance:
        ax.hlines([chance[r] for r in rules], x - 0.4, x + 0.4, color="k", lw=1.2,
                  label="chance")
    if chance or interval:
        ax.legend(frameon=False, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.axhline(1.0, color="0.7", lw=0.5)
    ax.set_xticks(x, [RULE_LABELS.get(r, r) for r in rules], rotation=60, ha="right")
    ax.set(ylabel="accuracy", ylim=(0, 1.05))
    if title:
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_time_to_accuracy(runs: Mapping[str, tuple[list[float], list[float], list[float]]],
                          path: str | Path, title: str = "",
                          goals: tuple[float, float] | None = None,
                          chance: float | None = None) -> list[Path]:
    """Mean (solid) and weakest-rule (dashed) accuracy against training wall time, one colour
    per run; PDF + PNG.

    ``runs``: label -> (minutes, mean accuracy, weakest-rule accuracy) of each scoring;
    ``goals`` (mean goal, every-rule goal) are drawn as labelled dotted lines, ``chance`` (the
    mean chance level over rules) as a grey line.
    """
    apply_style()
    fig, ax = plt.subplots(figsize=(3.6, 2.4))
    for i, (label, (minutes, mean, worst)) in enumerate(runs.items()):
        ax.plot(minutes, mean, "o-", ms=2, color=f"C{i}", label=f"{label}: mean over rules")
        ax.plot(minutes, worst, "o--", ms=2, lw=0.8, color=f"C{i}",
                label=f"{label}: weakest rule")
    if goals is not None:
        ax.axhline(goals[0], color="k", lw=0.6, ls=":", label=f"goal: mean ≥ {goals[0]:g}")
        ax.axhline(goals[1], color="0.5", lw=0.6, ls=":",
                   label=f"goal: every rule ≥ {goals[1]:g}")
    if chance is not None:
        ax.axhline(chance, color="0.7", lw=0.8, label=f"chance (mean over rules, {chance:.2f})")
    ax.set(xlabel="training wall time (min)", ylabel="accuracy (fresh trials)",
           ylim=(-0.02, 1.02))
    ax.legend(frameon=False, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
