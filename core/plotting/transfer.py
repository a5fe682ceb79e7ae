"""Figures of the transfer families (``pretrain/``, ``flex_task/``): validation-accuracy curves,
mean ± SEM across seeds per group, drawn from stored results by the family scripts and
``paper_plot.py``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.style import apply_style, save_figure

__all__ = ["plot_group_curves"]


def plot_group_curves(groups: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]],
                      path: str | Path, ylabel: str = "validation accuracy", title: str = "",
                      chance: float | None = None) -> list[Path]:
    """One line per group ``label -> (grid (n,), mean (n,), sem (n,), n_runs)`` with a ± SEM
    band, and an optional dashed chance level; PDF + PNG."""
    apply_style()
    fig, ax = plt.subplots(figsize=(3.6, 2.4))
    for i, (label, (grid, mean, sem, n)) in enumerate(groups.items()):
        ax.plot(grid, mean, color=f"C{i}", lw=1.2, label=f"{label} (n={n})")
        ax.fill_between(grid, mean - sem, mean + sem, color=f"C{i}", alpha=0.25, lw=0)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls="--", lw=0.8, label="chance")
    ax.set(xlabel="step", ylabel=ylabel, ylim=(-0.02, 1.02))
    ax.legend(frameon=False, fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
