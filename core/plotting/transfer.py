"""Figures of the transfer families (``pretrain/``, ``flex_task/``): validation-accuracy curves,
mean and Student-t interval over seeds per group (:func:`core.analysis.seeds.curve_interval`),
and accuracy on fresh trials per rule (:func:`core.analysis.transfer.evaluation_groups`), drawn
from stored results by the family scripts and ``paper_plot.py``; the scripts' summary of the
named runs (table and figures) kept while current (:func:`draw_summary`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from core.fileio import update_text
from core.plotting.style import apply_style, draw_from_stored, save_figure

__all__ = ["draw_summary", "group_curves_figure", "group_scores_figure", "plot_group_curves",
           "plot_group_scores"]


def group_curves_figure(groups: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray,
                                                    np.ndarray, int]],
                        ylabel: str = "validation accuracy", title: str = "",
                        chance: float | None = None, confidence: float = 0.95) -> plt.Figure:
    """One line per group ``label -> (steps (n,), mean (n,), low (n,), high (n,), n_seeds)`` (as
    :func:`core.analysis.transfer.curve_groups` gives it) with its ``confidence`` interval over
    seeds as a band (none for one seed), and an optional dashed chance level; the legend says what
    the band is."""
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
    return fig


def plot_group_curves(groups: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                  int]],
                      path: str | Path, ylabel: str = "validation accuracy", title: str = "",
                      chance: float | None = None, confidence: float = 0.95) -> list[Path]:
    """:func:`group_curves_figure` saved as ``path`` (PDF + PNG)."""
    return save_figure(group_curves_figure(groups, ylabel, title, chance, confidence), path)


def group_scores_figure(groups: Mapping[str, Mapping[str, np.ndarray]],
                        confidence: float = 0.95) -> plt.Figure:
    """Accuracy on fresh trials per column (rule, and the mean over rules), one colour per group,
    from :func:`core.analysis.transfer.evaluation_groups` (``label -> {"columns" (C,),
    "accuracy" (n_seeds, C), "mean"/"low"/"high" (C,), "chance" (C,), "n_trials"}``): each
    seed's value as a dot (left of its group's bar), the mean over seeds with its ``confidence``
    Student-t interval as an error bar (none for one seed), and each column's chance level as a
    dashed segment. ValueError for no groups."""
    if not groups:
        raise ValueError("no groups of runs to draw")
    apply_style()
    columns = [str(c) for c in next(iter(groups.values()))["columns"]]
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(columns), 2.4))
    width = 0.7 / len(groups)
    for i, (label, g) in enumerate(groups.items()):
        x = np.arange(len(columns)) + (i - (len(groups) - 1) / 2) * width
        accuracy = np.asarray(g["accuracy"], float)
        ax.plot(np.broadcast_to(x - width / 3, accuracy.shape).ravel(), accuracy.ravel(), "o",
                ms=2.5, color=f"C{i}", alpha=0.7, mec="none")
        mean = np.asarray(g["mean"], float)
        err = np.abs(np.stack([mean - np.asarray(g["low"], float),
                               np.asarray(g["high"], float) - mean]))
        ax.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="_", ms=8, color=f"C{i}", lw=1,
                    capsize=2, label=f"{label} (n={accuracy.shape[0]})")
    chance = np.asarray(next(iter(groups.values()))["chance"], float)
    for j, level in enumerate(chance):
        ax.hlines(level, j - 0.45, j + 0.45, color="0.5", ls="--", lw=0.8,
                  label="chance" if j == 0 else None)
    n_trials = min(int(g["n_trials"]) for g in groups.values())
    ax.set_xticks(range(len(columns)), columns)
    ax.set(ylabel=f"accuracy, {n_trials} fresh trials per rule", ylim=(-0.02, 1.02))
    ax.legend(frameon=False, fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5),
              title=f"dots: seeds; bar: mean,\n{100 * confidence:g} % t-interval over n seeds",
              title_fontsize=6)
    fig.tight_layout()
    return fig


def plot_group_scores(groups: Mapping[str, Mapping[str, np.ndarray]], path: str | Path,
                      confidence: float = 0.95) -> list[Path]:
    """:func:`group_scores_figure` saved as ``path`` (PDF + PNG)."""
    return save_figure(group_scores_figure(groups, confidence), path)


def draw_summary(folder: Path, table_name: str, table: str, figures: Mapping[str, plt.Figure],
                 results: Mapping[str, Path]) -> str:
    """Write the summary ``table`` (markdown) of the runs ``results`` (``{run name: its stored
    results file}``) as ``folder/table_name``, followed by an HTML comment naming the runs, and
    the ``figures`` ``{stem: figure}`` drawn from the same results into ``folder``.

    The table file is rewritten only when its text changes (:func:`core.fileio.update_text`):
    other runs or other results. A figure is kept while it was drawn after the table file and
    every results file were last written (:func:`core.plotting.draw_from_stored` with those
    files, :func:`core.plotting.figure_current`), so a figure of other runs (the table's text
    names them) or of results since recomputed is drawn again, and a missing one is drawn.
    Returns what was done, one line for the script's output.
    """
    path = Path(folder) / table_name
    written = update_text(path, f"{table}\n\n<!-- runs: {', '.join(sorted(results))} -->\n")
    drawn = draw_from_stored(figures, folder, results=[path, *results.values()])
    return f"table {'written to' if written else 'unchanged in'} {path}; {drawn}"
