"""Figures of the BabyAI agent family: where a Mixture-of-Pathways policy routes, closed loop.

Every function takes plain arrays (as stored by ``babyai/evaluate.py``), applies the lab style
and returns a Figure; :func:`babyai_figures` builds all of a results file's figures, for the
family script and ``paper_plot.py`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.style import apply_style


def _expert_label(size: int) -> str:
    return "skip" if size == 0 else f"GRU {size}"


def plot_routing_by_cell(cells: Sequence[np.ndarray], layer_sizes: Sequence[Sequence[int]],
                         title: str = "") -> plt.Figure:
    """Mean gate of every expert per grid cell: ``cells[l] (E_l, height, width)`` (NaN where the
    agent never stood), one row per layer, one column per expert."""
    apply_style()
    n_cols = max(len(s) for s in layer_sizes)
    fig, axes = plt.subplots(len(cells), n_cols, figsize=(1.3 * n_cols + 0.8, 1.3 * len(cells)),
                             squeeze=False, layout="constrained")
    for l, (row, layer, sizes) in enumerate(zip(axes, cells, layer_sizes, strict=True)):
        for e, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if e >= len(sizes):
                ax.axis("off")
                continue
            im = ax.imshow(layer[e], cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_title(f"layer {l + 1}, {_expert_label(sizes[e])}", fontsize=6)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.7, label="mean gate")
    if title:
        fig.suptitle(title, fontsize=7)
    return fig


def plot_routing_by_phase(phase: Sequence[np.ndarray], layer_sizes: Sequence[Sequence[int]],
                          title: str = "") -> plt.Figure:
    """Mean gate of every expert against the episode's phase: ``phase[l] (n_bins, E_l)``, one
    panel per layer (bins of ``step / episode length``)."""
    apply_style()
    fig, axes = plt.subplots(1, len(phase), figsize=(2.0 * len(phase), 1.8), squeeze=False,
                             sharey=True, layout="constrained")
    for l, (ax, p, sizes) in enumerate(zip(axes[0], phase, layer_sizes, strict=True)):
        centres = (np.arange(p.shape[0]) + 0.5) / p.shape[0]
        for e, size in enumerate(sizes):
            ax.plot(centres, p[:, e], marker="o", ms=2, label=_expert_label(size))
        ax.set_title(f"layer {l + 1}")
        ax.set_xlabel("episode phase (step / length)")
        ax.set_ylim(0, 1)
    axes[0, 0].set_ylabel("mean gate")
    axes[0, -1].legend(fontsize=5, frameon=False)
    if title:
        fig.suptitle(title, fontsize=7)
    return fig


def plot_routing_across_alpha(alphas: np.ndarray, gates: Sequence[np.ndarray],
                              success: np.ndarray, layer_sizes: Sequence[Sequence[int]]
                              ) -> plt.Figure:
    """Mean gate of every expert across routing-cost weights: ``alphas (A,)``, ``gates[l] (A,
    E_l)`` (runs sorted by alpha), ``success (A,)`` success rates written above the bars."""
    apply_style()
    fig, axes = plt.subplots(1, len(gates), figsize=(2.0 * len(gates), 1.9), squeeze=False,
                             sharey=True, layout="constrained")
    x = np.arange(len(alphas))
    for l, (ax, g, sizes) in enumerate(zip(axes[0], gates, layer_sizes, strict=True)):
        bottom = np.zeros(len(alphas))
        for e, size in enumerate(sizes):
            ax.bar(x, g[:, e], bottom=bottom, label=_expert_label(size))
            bottom += g[:, e]
        ax.set_xticks(x)
        ax.set_xticklabels([f"{a:g}" for a in alphas], rotation=45)
        ax.set_xlabel(r"routing cost $\alpha$")
        ax.set_title(f"layer {l + 1}", pad=10)
        ax.set_ylim(0, 1.0)
        for xi, s in zip(x, success, strict=True):
            ax.text(xi, 1.03, f"success {100 * s:.0f}%", ha="center", fontsize=5,
                    transform=ax.get_xaxis_transform())
    axes[0, 0].set_ylabel("mean gate")
    axes[0, -1].legend(fontsize=5, frameon=False, loc="lower right")
    return fig


def babyai_figures(results: Mapping[str, Mapping]) -> dict[str, plt.Figure]:
    """Every figure of a results file: ``results[name]`` as stored by ``babyai/evaluate.py``.

    Per MoP run ``<name>_cells`` and ``<name>_phase``; per level with MoP runs at two or more
    alphas ``<level>_alpha``. Returns ``{file stem: Figure}``.
    """
    figures: dict[str, plt.Figure] = {}
    by_level: dict[str, list[tuple[float, float, list[np.ndarray], list]]] = {}
    for name, r in results.items():
        if "layer_sizes" not in r:
            continue
        sizes = [list(map(int, s[s >= 0])) for s in np.atleast_2d(r["layer_sizes"])]
        n = len(sizes)
        cells = [r["cells"][f"layer{l}"] for l in range(n)]
        phase = [r["phase"][f"layer{l}"] for l in range(n)]
        success = float(np.mean(r["success"]))
        label = f"{name}\nsuccess {100 * success:.1f}%"
        figures[f"{name}_cells"] = plot_routing_by_cell(cells, sizes, label)
        figures[f"{name}_phase"] = plot_routing_by_phase(phase, sizes, label)
        gates = [np.nanmean(r[f"gates{l}"], 0) for l in range(n)]
        by_level.setdefault(str(r["level"]), []).append((float(r["alpha"]), success, gates, sizes))
    for level, runs in by_level.items():
        if len({a for a, *_ in runs}) < 2 or len({str(s) for *_, s in runs}) > 1:
            continue
        runs.sort(key=lambda run: run[0])
        gates = [np.stack([run[2][l] for run in runs]) for l in range(len(runs[0][2]))]
        figures[f"{level}_alpha"] = plot_routing_across_alpha(
            np.array([run[0] for run in runs]), gates, np.array([run[1] for run in runs]),
            runs[0][3])
    return figures
