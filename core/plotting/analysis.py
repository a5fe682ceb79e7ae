"""Figures of the multi-task analysis: task variance, clusters, lesions, pruning, state space.

Every function takes plain arrays and readable labels (``core.tasks.rulesets.RULE_LABELS``),
returns a ``matplotlib`` Figure in the lab style (call ``apply_style`` first) and draws nothing
it computes: the numbers come from ``core.analysis``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.colors import ListedColormap, TwoSlopeNorm

from core.analysis.lesion import describe_r
from core.plotting.style import cell_text

__all__ = [
    "cluster_colors",
    "plot_task_variance_map",
    "plot_silhouette",
    "plot_clustering_agreement",
    "plot_ftv_histograms",
    "plot_pca_trajectories",
    "plot_task_set",
    "plot_lesion_map",
    "plot_pruning_curves",
    "plot_identity_scatter",
    "plot_size_effect",
    "plot_preceding_trial_shift",
    "plot_over_membership",
]


def cluster_colors(n: int) -> list[tuple[float, float, float]]:
    """``n`` distinguishable cluster colours (seaborn ``tab10``, ``tab20``, then ``husl``)."""
    if n <= 10:
        return sns.color_palette("tab10", 10)[:n]
    if n <= 20:
        return sns.color_palette("tab20", 20)[:n]
    return sns.color_palette("husl", n)


def _check_2d(a: np.ndarray, rows: int, cols: int | None, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[0] != rows or (cols is not None and a.shape[1] != cols):
        raise ValueError(f"{name} must have shape ({rows}, {cols or 'n'}), got {a.shape}")
    return a


def plot_task_variance_map(normalized_tv: np.ndarray, labels: np.ndarray,
                           rule_labels: Sequence[str], title: str = "",
                           colorbar_label: str = "Normalised task variance",
                           items: str = "units") -> plt.Figure:
    """Heat map rules × units (or synapses), sorted by cluster, with a cluster colour bar
    underneath.

    Args:
        normalized_tv: ``(N, R)`` max-normalised task variance of the items to show, already in
            display order (e.g. ``features_`` re-ordered by cluster).
        labels: ``(N,)`` cluster label of each shown item (contiguous runs).
        rule_labels: ``(R,)`` readable rule names.
        items: what the ``N`` columns are, plural (``"units"``, ``"synapses"``), for the labels.
    """
    labels = np.asarray(labels)
    tv = _check_2d(normalized_tv, len(labels), len(rule_labels), "normalized_tv")
    n_units, n_rules = tv.shape
    fig = plt.figure(figsize=(min(7.5, max(3.5, 0.012 * n_units + 2.2)), 0.16 * n_rules + 1.0))
    grid = fig.add_gridspec(2, 2, height_ratios=[n_rules, 0.6], width_ratios=[1, 0.03],
                            hspace=0.06, wspace=0.03)
    ax = fig.add_subplot(grid[0, 0])
    im = ax.imshow(tv.T, aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(n_rules), rule_labels)
    ax.set_xticks([])
    ax.tick_params(length=0)
    ax.set_title(title or f"Task variance of {n_units} active {items}")
    cax = fig.add_subplot(grid[0, 1])
    fig.colorbar(im, cax=cax, ticks=[0, 1]).set_label(colorbar_label)
    bar = fig.add_subplot(grid[1, 0], sharex=ax)
    uniq = list(dict.fromkeys(labels.tolist()))
    colors = cluster_colors(len(uniq))
    index = np.array([uniq.index(v) for v in labels])
    bar.imshow(index[None, :], aspect="auto", cmap=ListedColormap(colors), vmin=-0.5,
               vmax=len(uniq) - 0.5, interpolation="nearest")
    for value in uniq:
        where = np.flatnonzero(labels == value)
        bar.text(where.mean(), 0, str(value + 1), ha="center", va="center", fontsize=5,
                 color="white")
    ax.minorticks_off()
    bar.minorticks_off()
    bar.set_yticks([])
    bar.set_xticks([])
    bar.set_xlabel(f"{items.capitalize()} sorted by cluster")
    for spine in bar.spines.values():
        spine.set_visible(False)
    return fig


def plot_silhouette(k_values: np.ndarray, scores: np.ndarray, chosen_k: int,
                    title: str = "") -> plt.Figure:
    """Silhouette score against the number of clusters ``(n_k,)``, chosen k marked (also when it
    lies outside ``k_values``: k = 1, chosen by the gap test, which the silhouette cannot score)."""
    k_values, scores = np.asarray(k_values), np.asarray(scores, dtype=float)
    if k_values.shape != scores.shape:
        raise ValueError(f"k_values {k_values.shape} and scores {scores.shape} differ")
    fig, ax = plt.subplots(figsize=(2.6, 2.0))
    ax.plot(k_values, scores, "o-", ms=2.5, color="0.2")
    ax.axvline(chosen_k, color="tab:red", lw=0.8, ls="--")
    finite = k_values[np.isfinite(scores)] if np.isfinite(scores).any() else k_values
    ax.set_xlim(min(finite.min(), chosen_k) - 0.5, max(finite.max(), chosen_k) + 0.5)
    if chosen_k not in finite:
        ax.text(chosen_k, 0.5, f" k = {chosen_k}: the gap test finds\n no better partition",
                transform=ax.get_xaxis_transform(), color="tab:red", fontsize=5, va="center")
    ax.set_xlabel("Number of clusters")
    ax.set_ylabel("Silhouette score")
    ax.set_title(title or f"Chosen: {chosen_k} clusters")
    return fig


def plot_clustering_agreement(ari: np.ndarray, labels: Sequence[str], title: str = ""
                              ) -> plt.Figure:
    """Adjusted Rand index between every pair of partitions ``(P, P)`` (e.g. KMeans and Ward
    at several k; ``labels`` ``(P,)`` name them), values written in the cells."""
    ari = _check_2d(ari, len(labels), len(labels), "ari")
    fig, ax = plt.subplots(figsize=(0.35 * len(labels) + 1.8, 0.35 * len(labels) + 1.2))
    im = ax.imshow(ari, cmap="viridis", vmin=min(0.0, float(np.nanmin(ari))), vmax=1.0,
                   interpolation="nearest")
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.tick_params(length=0)
    ax.minorticks_off()
    for (i, j), value in np.ndenumerate(ari):
        ax.text(j, i, cell_text(value), ha="center", va="center", fontsize=4,
                color="black" if value > 0.6 else "white")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02).set_label("Adjusted Rand index")
    return fig


def plot_ftv_histograms(ftvs: Mapping[tuple[str, str], np.ndarray], bins: int = 20
                        ) -> plt.Figure:
    """One histogram of fractional task variance per rule pair ``{(label_a, label_b): (N,)}``."""
    if not ftvs:
        raise ValueError("no rule pairs to plot")
    n = len(ftvs)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.4 * rows), squeeze=False)
    for ax, ((a, b), values) in zip(axes.flat, ftvs.items(), strict=False):
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        ax.hist(values, bins=bins, range=(-1, 1), color=sns.color_palette()[0], edgecolor="none")
        ax.set_xlim(-1.05, 1.05)
        ax.set_xticks([-1, 0, 1])
        ax.set_xlabel(f"FTV({a}, {b})")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes[0, 0].set_ylabel("Units")
    fig.tight_layout()
    return fig


def plot_pca_trajectories(trajectories: Mapping[str, np.ndarray],
                          explained: np.ndarray | None = None, title: str = ""
                          ) -> plt.Figure:
    """Trial-averaged trajectories in the first two PCs, one line per rule ``{label: (T, 2)}``.

    Circles mark trajectory starts, triangles their ends.
    """
    if not trajectories:
        raise ValueError("no trajectories to plot")
    fig, ax = plt.subplots(figsize=(3.2, 2.8))
    colors = cluster_colors(len(trajectories))
    for color, (label, traj) in zip(colors, trajectories.items(), strict=True):
        traj = np.asarray(traj)
        if traj.ndim != 2 or traj.shape[1] < 2:
            raise ValueError(f"trajectory {label!r} must be (T, >=2), got {traj.shape}")
        ax.plot(traj[:, 0], traj[:, 1], color=color, lw=0.9, label=label)
        ax.plot(*traj[0, :2], "o", color=color, ms=2.5)
        ax.plot(*traj[-1, :2], "^", color=color, ms=3)
    pc = [f"PC{i + 1}" + (f" ({100 * explained[i]:.0f}%)" if explained is not None else "")
          for i in range(2)]
    ax.set_xlabel(pc[0])
    ax.set_ylabel(pc[1])
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_task_set(points: np.ndarray, rule_labels: Sequence[str],
                  edges: Sequence[tuple[int, int]] = (), title: str = "") -> plt.Figure:
    """Task-set geometry: one point per rule ``(R, 2)`` in PC space, with ``edges`` drawn
    between rule indices (e.g. the Go/Anti/Dly Go/Dly Anti parallelogram)."""
    points = _check_2d(points, len(rule_labels), None, "points")
    fig, ax = plt.subplots(figsize=(2.8, 2.6))
    for i, j in edges:
        ax.plot(points[[i, j], 0], points[[i, j], 1], color="0.6", lw=0.8, zorder=1)
    colors = cluster_colors(len(rule_labels))
    for color, label, (x, y) in zip(colors, rule_labels, points[:, :2], strict=True):
        ax.scatter(x, y, color=color, s=14, zorder=2)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title(title)
    return fig


def plot_lesion_map(delta: np.ndarray, rule_labels: Sequence[str],
                    cluster_labels: Sequence[str], title: str = "",
                    colorbar_label: str = "Accuracy change (random − cluster)",
                    annotate: bool | None = None, xlabel: str = "Lesioned cluster",
                    ylabel: str = "") -> plt.Figure:
    """Rows × columns heat map of an effect, diverging colormap centred at 0; by default rules ×
    lesioned clusters (pass ``xlabel``/``ylabel`` for other axes, e.g. preceding tasks).

    Args:
        delta: ``(R, C)`` effect per rule and lesioned cluster (positive: the cluster lesion
            hurts more than a size-matched random one).
        annotate: write the values in the cells, two decimals, never ``-0.00`` (default: when
            there are at most 200 cells).
        xlabel, ylabel: what the columns and rows are.
    """
    delta = _check_2d(delta, len(rule_labels), len(cluster_labels), "delta")
    n_rules, n_clusters = delta.shape
    limit = float(np.nanmax(np.abs(delta))) if np.isfinite(delta).any() else 1.0
    limit = limit if limit > 0 else 1.0
    fig, ax = plt.subplots(figsize=(0.32 * n_clusters + 2.2, 0.2 * n_rules + 1.0))
    im = ax.imshow(delta, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -limit, limit), aspect="auto",
                   interpolation="nearest")
    ax.set_yticks(range(n_rules), rule_labels)
    ax.set_xticks(range(n_clusters), cluster_labels, rotation=90)
    ax.tick_params(length=0)
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if annotate if annotate is not None else delta.size <= 200:
        for (i, j), value in np.ndenumerate(delta):
            if np.isfinite(value):
                ax.text(j, i, cell_text(value), ha="center", va="center", fontsize=4,
                        color="white" if abs(value) > 0.6 * limit else "black")
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02).set_label(colorbar_label)
    return fig


def plot_pruning_curves(fractions: np.ndarray, accuracy: np.ndarray,
                        rule_labels: Sequence[str], title: str = "",
                        chance: float | None = None) -> plt.Figure:
    """Accuracy per rule ``(R, F)`` against the pruned fraction of weights ``(F,)`` in [0, 1)
    (axis ``-log10(1 - fraction)``: 0, 90, 99, 99.9 % equally spaced; a tick at every pruned
    fraction, labelled unless it would overlap the previous label, e.g. 10 % next to 0 %), mean
    over rules in black; ``chance`` (the mean over rules of their chance levels) dashed."""
    fractions = np.asarray(fractions, dtype=float)
    accuracy = _check_2d(accuracy, len(rule_labels), len(fractions), "accuracy")
    if np.any(fractions < 0) or np.any(fractions >= 1):
        raise ValueError("pruned fractions must lie in [0, 1)")
    position = -np.log10(1.0 - fractions)  # 0, 90, 99, 99.9 % -> 0, 1, 2, 3
    fig, ax = plt.subplots(figsize=(3.6, 2.4))
    colors = cluster_colors(len(rule_labels))
    for color, label, acc in zip(colors, rule_labels, accuracy, strict=True):
        ax.plot(position, acc, color=color, lw=0.7, alpha=0.8, label=label)
    ax.plot(position, accuracy.mean(axis=0), color="black", lw=1.6, label="Mean")
    if chance is not None:
        ax.axhline(chance, color="0.4", lw=0.8, ls="--", label="Chance (mean)")
    labels, last = [], -np.inf
    for pos, f in zip(position, fractions, strict=True):
        shown = pos - last >= 0.04 * max(position.max(), 1.0)
        labels.append(f"{100 * f:g}" if shown else "")
        last = pos if shown else last
    ax.set_xticks(position, labels, rotation=90)
    ax.minorticks_off()
    ax.set_xlabel("Weights pruned (%)")
    ax.set_ylabel("Accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=5, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_identity_scatter(x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str,
                          title: str = "", groups: np.ndarray | None = None,
                          group_labels: Sequence[str] = ()) -> plt.Figure:
    """``y`` against ``x`` (same shape, every entry a point) with the identity line: points on it
    mean the two measures agree (e.g. a pair lesion's drop against the sum of its single
    lesions', or a synapse cluster's W-zeroed against its M-frozen effect). ``groups`` (same
    shape, ints indexing ``group_labels``) colours the points."""
    x, y = np.ravel(np.asarray(x, dtype=float)), np.ravel(np.asarray(y, dtype=float))
    if x.shape != y.shape:
        raise ValueError(f"x and y must have one shape, got {x.shape} and {y.shape}")
    fig, ax = plt.subplots(figsize=(3.0, 2.8))
    finite = np.concatenate([x, y])[np.isfinite(np.concatenate([x, y]))]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    pad = 0.05 * max(high - low, 1e-3)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", lw=0.8, ls="--",
            label="Identity", zorder=1)
    if groups is None:
        ax.scatter(x, y, s=8, color="0.2", alpha=0.7, zorder=2)
    else:
        groups = np.ravel(np.asarray(groups))
        for color, (g, label) in zip(cluster_colors(len(group_labels)),
                                     enumerate(group_labels), strict=True):
            ax.scatter(x[groups == g], y[groups == g], s=8, color=color, alpha=0.8,
                       label=label, zorder=2)
    ax.axhline(0, color="k", lw=0.4)
    ax.axvline(0, color="k", lw=0.4)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(frameon=False, fontsize=5, ncol=1 + len(group_labels) // 12, loc="center left",
              bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_size_effect(panels: Mapping[str, Mapping[str, np.ndarray | float]]) -> plt.Figure:
    """Cluster size against the accuracy a cluster lesion costs, one panel per lesion family
    ``{title: {"sizes", "drop", "random_drop" (C,), "r"}}`` (:func:`core.analysis.lesion.
    size_effect`): clusters filled, their size-matched random lesions open, Pearson r of the
    clusters in the title."""
    if not panels:
        raise ValueError("no lesion family to draw")
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels) + 0.6, 2.5),
                             squeeze=False)
    for ax, (title, res) in zip(axes[0], panels.items(), strict=True):
        sizes = np.asarray(res["sizes"], dtype=float)
        ax.scatter(sizes, res["random_drop"], s=14, facecolors="none", edgecolors="0.5",
                   label="Random, same size")
        ax.scatter(sizes, res["drop"], s=12, color="C3", label="Cluster")
        ax.axhline(0, color="k", lw=0.4)
        ax.set(title=f"{title}\n{describe_r(float(res['r']), len(sizes))}", xlabel="Cluster size")
    axes[0, 0].set_ylabel("Accuracy drop (mean over rules)")
    axes[0, -1].legend(frameon=False, fontsize=5, loc="best")
    fig.tight_layout()
    return fig


def plot_preceding_trial_shift(shift: np.ndarray, previous_labels: Sequence[str],
                           probe_labels: Sequence[str], title: str = "") -> plt.Figure:
    """Heat map of the state-space shift ``(P, Q)``: probe rule (rows) × preceding task
    (columns), the mean distance of the probe's trial-averaged trajectory to its trajectory
    without a preceding trial over that trajectory's own spread
    (:func:`core.analysis.state_space.trajectory_shift`)."""
    shift = _check_2d(shift, len(probe_labels), len(previous_labels), "shift")
    fig, ax = plt.subplots(figsize=(0.3 * len(previous_labels) + 2.0,
                                    0.22 * len(probe_labels) + 1.2))
    im = ax.imshow(shift, cmap="viridis", aspect="auto", interpolation="nearest", vmin=0)
    ax.set_yticks(range(len(probe_labels)), probe_labels)
    ax.set_xticks(range(len(previous_labels)), previous_labels, rotation=90)
    ax.minorticks_off()
    ax.set_xlabel("Preceding task")
    ax.set_ylabel("Probe task")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02).set_label(
        "Distance to trajectory alone / its spread")
    return fig


def plot_over_membership(z: np.ndarray | None, forms: Sequence[str], values: np.ndarray,
                         low: np.ndarray | None = None, high: np.ndarray | None = None,
                         title: str = "") -> plt.Figure:
    """Over-membership (``core.analysis.membership``): left, the z of same-M-cluster synapse
    pairs in every (input cluster, hidden cluster) block ``z (K_in, K_hid)`` against shuffled
    M labels (left out if None); right, one bar per form (``forms (F,)``, ``values (F,)``,
    optional interval ``low``/``high (F,)``, e.g. over seeds)."""
    values = np.asarray(values, dtype=float)
    if z is None:
        fig, right = plt.subplots(figsize=(2.6, 2.6))
    else:
        fig, (left, right) = plt.subplots(1, 2, figsize=(6.8, 2.6),
                                          gridspec_kw={"width_ratios": [1.3, 1.0],
                                                       "wspace": 0.7})
        z = np.asarray(z, dtype=float)
        finite = np.isfinite(z)
        limit = max(float(np.abs(z[finite]).max()) if finite.any() else 1.0, 1e-9)
        im = left.imshow(z, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -limit, limit),
                         interpolation="nearest", aspect="auto")
        left.set_xticks(range(z.shape[1]))
        left.set_yticks(range(z.shape[0]))
        left.set_xlabel("Hidden cluster")
        left.set_ylabel("Input cluster")
        left.minorticks_off()
        fig.colorbar(im, ax=left, fraction=0.05, pad=0.02).set_label("z vs shuffled M labels")
    err = None
    if low is not None and high is not None:
        err = np.abs(np.vstack([values - np.asarray(low, float),
                                np.asarray(high, float) - values]))
        err = np.where(np.isfinite(err), err, 0.0)
    right.bar(range(len(forms)), values, yerr=err, color="0.5", capsize=2)
    right.axhline(0.0, color="black", linewidth=0.5)
    right.set_xticks(range(len(forms)), [f.replace("_", " ") for f in forms], rotation=30,
                     ha="right")
    right.set_ylabel("Over-membership")
    fig.suptitle(title)
    return fig
