"""Figures of the transfer families (``pretrain/``, ``flex_task/``): validation-accuracy curves,
mean and Student-t interval over seeds per group (:func:`core.analysis.seeds.curve_interval`),
drawn from stored results by the family scripts and ``paper_plot.py``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.style import apply_style, save_figure

__all__ = ["plot_group_curves"]


def plot_group_curves(groups: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                  int]],
                      path: str | Path, ylabel: str = "validation accuracy", title: str = "",
                      chance: float | None = None, confidence: float = 0.95) -> list[Path]:
    """One line per group ``label -> (steps (n,), mean (n,), low (n,), high (n,), n_seeds)`` (as
    :func:`core.analysis.transfer.curve_groups` gives it) with its ``confidence`` interval over
    seeds as a band (none for one seed), and an optional dashed chance level; the legend says what
    the band is. PDF + PNG."""
    apply_style()
    fig, ax = plt.subplots(figsize=(3.6, 2.4))
    for i, (label, (steps, mean, low, high, n)) in enumerate(groups.items()):
        ax.plot(steps, mean, color=f"C{i}", lw=1.2, label=f"{label} (n={n})")
        ax.fill_between(steps, low, high, color=f"C{i}", alpha=0.25, lw=0)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls="--", lw=0.8, label="chance")
    ax.set(xlabel="step", ylabel=ylabel, ylim=(-0.02, 1.02))
    ax.legend(frameon=False, fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5),
              title=f"mean, {100 * confidence:g} % t-interval\nover n seeds", title_fontsize=6)
    if title:
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
