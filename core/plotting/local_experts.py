"""Figures of the Jacobs, Jordan, Nowlan & Hinton (1991) replication, from stored arrays.

- :func:`plot_epochs_to_criterion`: Table 1 (``local_experts/table1.py``, ``table1.csv``);
  :func:`plot_confusion_matrices`: its test-set confusion matrix per system.
- :func:`plot_gate_regions`, :func:`plot_accuracy_curves`, :func:`plot_responsibility`: the
  README figures of ``local_experts/figures.py``, which stores their arrays in HDF5
  (``results/local_experts/figures.h5``); :func:`vowel_figures` draws all three from one stored
  entry, so the script and ``paper_plot.py`` draw them in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from core.analysis.seeds import curve_interval
from core.plotting.style import apply_style, cell_text

__all__ = ["EXPERT_COLOURS", "SYSTEM_COLOURS", "VOWEL_COLOURS", "plot_accuracy_curves",
           "plot_confusion_matrices", "plot_epochs_to_criterion", "plot_gate_regions",
           "plot_responsibility", "vowel_figures"]

VOWEL_COLOURS = ("#0072B2", "#56B4E9", "#D55E00", "#E69F00")
EXPERT_COLOURS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666", "#e6ab02",
                  "#d95f02")
#: Line colour of each system key (``core.models.local_experts.parse_system``) in the curves
#: figure.
SYSTEM_COLOURS = {"mix4": "#1b9e77", "mix8": "#7570b3", "bp6": "#d95f02", "bp12": "#e7298a"}
#: Training criterion of the paper (88 % correct), drawn as a dotted line.
CRITERION = 0.88


def plot_epochs_to_criterion(systems: Sequence[str], epochs_mean: np.ndarray,
                             epochs_sd: np.ndarray, converged: np.ndarray, runs: np.ndarray,
                             test_accuracy: np.ndarray | None = None) -> plt.Figure:
    """Horizontal bars of the mean (± SD) epochs to the 88 % training criterion, one per system
    ``(S,)``; mixtures of experts in one colour, backprop networks in another. Each bar is labelled
    with ``converged/runs`` and, if given, the mean test accuracy ``(S,)`` in [0, 1]."""
    mean, sd = np.asarray(epochs_mean, float), np.asarray(epochs_sd, float)
    converged, runs = np.asarray(converged, int), np.asarray(runs, int)
    if not (len(systems) == mean.size == sd.size == converged.size == runs.size) or not systems:
        raise ValueError(f"need one value per system ({len(systems)}), got {mean.size}, "
                         f"{sd.size}, {converged.size}, {runs.size}")
    apply_style()
    y = np.arange(len(systems))
    colors = ["C1" if s.startswith("backprop") else "C0" for s in systems]
    fig, ax = plt.subplots(figsize=(4.2, 0.3 * len(systems) + 0.9), layout="constrained")
    ax.barh(y, mean, xerr=sd, color=colors, alpha=0.8, error_kw={"lw": 0.8, "capsize": 2})
    for i in range(len(systems)):
        note = f"{converged[i]}/{runs[i]}"
        if test_accuracy is not None:
            note += f", test {100 * float(test_accuracy[i]):.0f}%"
        ax.annotate(note, (np.nan_to_num(mean[i] + sd[i]), i), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=5)
    ax.set_yticks(y, systems)
    ax.invert_yaxis()
    ax.minorticks_off()
    ax.tick_params(top=False, right=False)
    ax.set_xlabel("epochs to 88% training accuracy (mean ± SD)")
    ax.set_xlim(0, np.nanmax(mean + sd) * 1.35 if np.isfinite(mean + sd).any() else 1.0)
    ax.set_title("Vowels: mixtures of local experts vs backprop (converged/runs)")
    return fig


def _gate_plane(ax: plt.Axes, panel: Mapping[str, np.ndarray], tokens_hz: np.ndarray,
                token_labels: np.ndarray, vowel_labels: Sequence[str], title: str) -> None:
    """One formant plane: gate regions, expert lines and tokens (see :func:`plot_gate_regions`)."""
    f1, f2 = np.asarray(panel["f1"]), np.asarray(panel["f2"])
    grid_f2, grid_f1 = np.meshgrid(f2, f1)
    margin = np.asarray(panel["margin"])
    k = margin.shape[0]
    ax.pcolormesh(grid_f2, grid_f1, panel["gate"], cmap=ListedColormap(EXPERT_COLOURS[:k]),
                  vmin=-0.5, vmax=k - 0.5, alpha=0.18, shading="auto", rasterized=True)
    for i in range(k):
        ax.contour(grid_f2, grid_f1, margin[i], levels=[0.0], colors=[EXPERT_COLOURS[i]],
                   linewidths=1.2)
    for c, label in enumerate(vowel_labels):
        sel = token_labels == c
        ax.scatter(tokens_hz[sel, 1], tokens_hz[sel, 0], s=4, color=VOWEL_COLOURS[c],
                   label=label, linewidths=0)
    ax.set_xlim(f2[0], f2[-1])
    ax.set_ylim(f1[-1], f1[0])
    ax.set_xlabel("F2 (Hz)")
    ax.set_ylabel("F1 (Hz)")
    ax.set_title(title)


def plot_gate_regions(panels: Sequence[Mapping[str, np.ndarray]], tokens_hz: np.ndarray,
                      token_labels: np.ndarray, vowel_labels: Sequence[str],
                      titles: Sequence[str]) -> plt.Figure:
    """The formant plane (F2 across, F1 down) of one mixture at several moments, side by side.

    Each panel holds the grid axes ``f1 (G1,)`` and ``f2 (G2,)`` in Hz, ``gate (G1, G2)`` the
    index of the expert with the largest gate probability (background colour) and ``margin (K,
    G1, G2)``: for each of the K experts, the difference of its outputs for the two vowels it
    separates (its decision line is the zero contour). ``tokens_hz (N, 2)`` are the (F1, F2)
    tokens, ``token_labels (N,)`` their class indices into ``vowel_labels``.
    """
    if len(panels) != len(titles) or not panels:
        raise ValueError(f"need one title per panel, got {len(panels)} panels, {len(titles)} "
                         "titles")
    apply_style()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 3.2), sharey=True,
                             squeeze=False)
    axes = axes[0]
    tokens_hz, token_labels = np.asarray(tokens_hz), np.asarray(token_labels)
    for ax, panel, title in zip(axes, panels, titles, strict=True):
        _gate_plane(ax, panel, tokens_hz, token_labels, vowel_labels, title)
    for ax in axes[1:]:
        ax.set_ylabel("")
    axes[-1].legend(loc="lower left", markerscale=3, frameon=True)
    return fig


def plot_accuracy_curves(curves: Mapping[str, Mapping[str, Any]], systems: Sequence[str],
                         epochs: int) -> plt.Figure:
    """Training and test accuracy per epoch, mean and 95 % Student-t interval over seeds
    (:func:`core.analysis.seeds.curve_interval`, the aggregation of ``core.runs``), one line per
    system.

    ``curves[key]`` holds ``train_accuracy`` and ``test_accuracy`` ``(E + 1, S)`` and its
    ``label``; ``systems`` gives the keys in drawing order (colours from :data:`SYSTEM_COLOURS`);
    the x axis runs to ``epochs``.
    """
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), sharey=True)
    for n, key in enumerate(systems):
        colour = SYSTEM_COLOURS.get(key, f"C{n}")
        for ax, name in zip(axes, ("train_accuracy", "test_accuracy"), strict=True):
            values = np.asarray(curves[key][name], dtype=float)
            x = np.arange(values.shape[0])
            _, mean, low, high = curve_interval([(x, seed) for seed in values.T])
            ax.plot(x, mean, color=colour,
                    label=f"{curves[key]['label']} (n={values.shape[1]})")
            ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
    for ax, title in zip(axes, ("training set", "test set"), strict=True):
        ax.axhline(CRITERION, color="k", linestyle=":", linewidth=0.8)
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(0, epochs)
        ax.set_ylim(0.2, 1.0)
        ax.set_xlabel("epoch")
        ax.set_title(title)
    axes[0].set_ylabel("accuracy")
    axes[1].legend(loc="lower right", title="mean, 95 % t-interval over n seeds")
    return fig


def plot_confusion_matrices(systems: Sequence[str], counts: np.ndarray,
                            vowel_labels: Sequence[str]) -> plt.Figure:
    """One heat map per system of its confusion matrix ``counts (S, C, C)`` (``[s, true,
    predicted]`` case counts), each row normalised to the fraction of that true vowel."""
    counts = np.asarray(counts, dtype=float)
    n = len(vowel_labels)
    if counts.shape != (len(systems), n, n) or not systems:
        raise ValueError(f"need ({len(systems)} systems, {n}, {n}) counts, got {counts.shape}")
    fractions = counts / np.maximum(counts.sum(axis=2, keepdims=True), 1)
    apply_style()
    cols = min(len(systems), 3)
    rows = -(-len(systems) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.2 * rows), squeeze=False,
                             layout="constrained")
    for ax, system, table in zip(axes.flat, systems, fractions, strict=False):
        ax.imshow(table, cmap="Blues", vmin=0, vmax=1)
        for (r, c), value in np.ndenumerate(table):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=5,
                    color="w" if value > 0.6 else "k")
        ax.set_xticks(range(n), list(vowel_labels))
        ax.set_yticks(range(n), list(vowel_labels))
        ax.minorticks_off()
        ax.tick_params(top=False, right=False)
        ax.set_xlabel("read out as")
        ax.set_ylabel("true vowel")
        ax.set_title(system, fontsize=7)
    for ax in axes.flat[len(systems):]:
        ax.axis("off")
    return fig


def plot_responsibility(table: np.ndarray, vowel_labels: Sequence[str]) -> plt.Figure:
    """Heat map of the mean responsibility ``table (C, K)`` of each expert for each vowel."""
    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or table.shape[0] != len(vowel_labels):
        raise ValueError(f"need a (vowels={len(vowel_labels)}, experts) table, got "
                         f"{table.shape}")
    apply_style()
    fig, ax = plt.subplots(figsize=(3.2, 2.4))
    image = ax.imshow(table, cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(vowel_labels)), list(vowel_labels))
    ax.set_xticks(range(table.shape[1]), [f"E{i + 1}" for i in range(table.shape[1])])
    for (r, c), value in np.ndenumerate(table):
        ax.text(c, r, cell_text(value), ha="center", va="center", fontsize=6,
                color="w" if value < 0.6 else "k")
    ax.set_title("responsibility h by vowel (train)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return fig


def vowel_figures(results: Mapping[str, Any]) -> dict[str, plt.Figure]:
    """``{"local_experts_regions", "local_experts_curves", "local_experts_responsibility":
    Figure}`` from one entry stored by ``local_experts/figures.py`` (as ``core.io.load_results``
    returns it): ``epochs``, ``n_experts``, ``tokens`` (``hz``, ``labels``, ``vowels``),
    ``regions`` (``start``, ``end`` panels of :func:`plot_gate_regions`), ``systems``,
    ``curves`` and ``responsibility``."""
    epochs = int(results["epochs"])
    tokens = results["tokens"]
    vowels = [str(v) for v in np.atleast_1d(tokens["vowels"])]
    regions = results["regions"]
    return {
        "local_experts_regions": plot_gate_regions(
            [regions["start"], regions["end"]], tokens["hz"], tokens["labels"], vowels,
            [f"{int(results['n_experts'])} experts: start of training",
             f"after {epochs} epochs"]),
        "local_experts_curves": plot_accuracy_curves(
            results["curves"], [str(s) for s in np.atleast_1d(results["systems"])], epochs),
        "local_experts_responsibility": plot_responsibility(results["responsibility"], vowels),
    }
