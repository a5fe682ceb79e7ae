"""Figures of Mixture-of-Pathways routing (Cook, Akarca, Costa & Achterberg 2025).

All functions take plain arrays, apply the lab style and return a Figure; save it with
:func:`core.plotting.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.style import apply_style


def plot_lpc_vs_difficulty(lpc: np.ndarray, difficulty: np.ndarray, tasks: Sequence[str],
                           correlations: Mapping[str, tuple[float, float, int]],
                           learned: np.ndarray | None = None,
                           budget: float | None = None) -> plt.Figure:
    """Scatter of learned pathway complexity ``lpc (K,)`` against task difficulty
    ``difficulty (K,)`` (log steps to threshold), one labelled point per task.

    ``correlations`` maps a label to ``(rho, p, n_tasks)`` (Spearman), shown in the title;
    ``learned (K,) bool`` draws tasks the multi-task network did not learn as hollow points;
    ``budget`` (log of the single-task step budget) marks where difficulty is censored.
    """
    apply_style()
    learned = np.ones(len(tasks), dtype=bool) if learned is None else np.asarray(learned, bool)
    fig, ax = plt.subplots(figsize=(3.8, 3.2), layout="constrained")
    ax.scatter(difficulty[learned], lpc[learned], s=14, color="C0", zorder=3,
               label="learned by the multi-task network")
    if (~learned).any():
        ax.scatter(difficulty[~learned], lpc[~learned], s=14, facecolors="none",
                   edgecolors="C0", zorder=3, label="not learned")
    if budget is not None:
        ax.axvline(budget, color="0.6", ls="--", lw=0.6, label="single-task step budget")
    for x, y, name in zip(difficulty, lpc, tasks, strict=True):
        ax.annotate(name, (x, y), xytext=(2, 2), textcoords="offset points", fontsize=5)
    ax.set_xlabel("task difficulty (log steps to loss threshold)")
    ax.set_ylabel("learned pathway complexity")
    ax.set_title("Spearman " + "; ".join(f"{label}: $\\rho$ = {rho:.2f} (p = {p:.2g}, n = {n})"
                                         for label, (rho, p, n) in correlations.items()),
                 fontsize=6)
    ax.legend(loc="lower left", fontsize=5, frameon=False)
    return fig


def plot_routing_maps(gates: Sequence[np.ndarray], tasks: Sequence[str],
                      layer_sizes: Sequence[Sequence[int]]) -> plt.Figure:
    """Mean routing weight per task (rows) and expert (columns), one panel per layer;
    ``gates[l] (K, E_l)``, ``layer_sizes[l]`` the experts' hidden sizes (0 = skip)."""
    apply_style()
    n_layers = len(gates)
    fig, axes = plt.subplots(1, n_layers, figsize=(1.2 + 1.1 * n_layers, 0.6 + 0.14 * len(tasks)),
                             sharey=True, squeeze=False)
    for l, (ax, g) in enumerate(zip(axes[0], gates, strict=True)):
        im = ax.imshow(g, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(g.shape[1]))
        ax.set_xticklabels(["skip" if s == 0 else str(s) for s in layer_sizes[l]], rotation=90)
        ax.set_title(f"layer {l + 1}")
        ax.set_xlabel("expert size")
    axes[0, 0].set_yticks(range(len(tasks)))
    axes[0, 0].set_yticklabels(tasks, fontsize=5)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="mean routing weight")
    return fig


def plot_intervention_effects(accuracy: Mapping[str, np.ndarray], lpc: np.ndarray,
                              tasks: Sequence[str]) -> plt.Figure:
    """Left: mean accuracy over tasks per inference condition (``accuracy[name] (K,)``, with
    ``baseline`` first), tasks as dots. Right: accuracy lost when each layer's most complex
    expert is disabled (``disable_complex``) against the task's baseline LPC ``lpc (K,)``."""
    apply_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 2.8), layout="constrained")
    names = list(accuracy)
    for i, name in enumerate(names):
        acc = np.asarray(accuracy[name])
        left.bar(i, acc.mean(), color="C0" if name == "baseline" else "C1", alpha=0.6)
        left.scatter(np.full(acc.shape, i) + np.linspace(-0.25, 0.25, acc.size), acc, s=4,
                     color="k", zorder=3)
    left.set_xticks(range(len(names)))
    left.set_xticklabels(names, rotation=30, ha="right")
    left.set_ylabel("accuracy on fresh trials")
    left.set_ylim(0, 1.05)
    drop = np.asarray(accuracy["baseline"]) - np.asarray(accuracy["disable_complex"])
    right.scatter(lpc, drop, s=12, color="C3")
    for x, y, name in zip(lpc, drop, tasks, strict=True):
        right.annotate(name, (x, y), xytext=(2, 2), textcoords="offset points", fontsize=5)
    right.axhline(0, color="0.6", lw=0.6)
    right.set_xlabel("learned pathway complexity")
    right.set_ylabel("accuracy lost without complex experts")
    return fig


def _conditions(results: Mapping[str, Mapping]) -> list[str]:
    """Inference conditions in the order of ``intervention_effects``: baseline, pruning by
    increasing threshold, disabling the complex experts."""
    prune = sorted((k for k in results if k.startswith("prune")), key=lambda k: float(k[5:]))
    return ["baseline", *prune, *(["disable_complex"] if "disable_complex" in results else [])]


def routing_figures(results: Mapping[str, Mapping], layer_sizes: Sequence[Sequence[int]]
                    ) -> dict[str, plt.Figure]:
    """Every figure of a stored ``mixture_of_pathways/analyze.py`` run: ``mop_routing_maps``,
    ``mop_interventions`` and, when difficulty was measured, ``mop_lpc_vs_difficulty``.

    Args:
        results: per condition (``baseline``, ``prune<thr>``, ``disable_complex``) a dict with
            ``tasks (K,)``, ``trial_accuracy (K,)`` (fresh trials), ``lpc (K,)``,
            ``gates<l> (K, E_l)``; optionally
            ``difficulty`` with ``tasks``, ``difficulty``, ``lpc``, ``learned`` ``(K',)``,
            ``step_budget`` and ``spearman_all`` / ``spearman_learned`` ``(rho, p)``.
        layer_sizes: the experts' hidden sizes per layer (the model config's ``layers``).
    """
    base = results["baseline"]
    tasks = [str(t) for t in base["tasks"]]
    gates = [np.asarray(base[f"gates{l}"]) for l in range(len(layer_sizes))]
    figures = {"mop_routing_maps": plot_routing_maps(gates, tasks, layer_sizes),
               "mop_interventions": plot_intervention_effects(
                   {name: np.asarray(results[name]["trial_accuracy"])
                    for name in _conditions(results)},
                   np.asarray(base["lpc"]), tasks)}
    if "difficulty" in results:
        diff = results["difficulty"]
        learned = np.asarray(diff["learned"], dtype=bool)
        counts = {"all": learned.size, "learned": int(learned.sum())}
        correlations = {label: (float(diff[f"spearman_{label}"][0]),
                                float(diff[f"spearman_{label}"][1]), n)
                        for label, n in counts.items() if f"spearman_{label}" in diff}
        figures["mop_lpc_vs_difficulty"] = plot_lpc_vs_difficulty(
            np.asarray(diff["lpc"]), np.asarray(diff["difficulty"]),
            [str(t) for t in diff["tasks"]], correlations, learned,
            float(np.log(diff["step_budget"])))
    return figures
