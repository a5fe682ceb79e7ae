"""Figures of the two-task analyses (``two_task/two_task_analysis.py``), from stored results.

:func:`two_task_figures` takes the nested dict that ``core.io.load_results`` returns for one run
(or the same dict before it is saved) and returns ``{file stem: Figure}`` for every analysis the
dict holds; ``two_task_analysis.py`` and ``paper_plot.py`` both call it, so each figure is drawn
in one place. Call :func:`core.plotting.apply_style` first; save with
:func:`core.plotting.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.analysis import plot_pruning_curves
from core.tasks.rulesets import RULE_LABELS
from core.tasks.trials import EPOCHS

__all__ = ["two_task_figures", "plot_interpolation", "plot_attractor_similarity",
           "plot_subspaces", "plot_dpca", "plot_cancellation", "plot_channel_modulation",
           "plot_input_geometry", "plot_bifurcation", "plot_epoch_fixed_points"]

Results = Mapping[str, Any]
COMPARISONS = {"same_stimulus": "same stimulus (A vs B)",
               "same_response": "same response (A vs B)",
               "different_stimulus": "different stimulus (same rule)"}
KIND_LABELS = {"hidden": "hidden h", "M": "M", "WM": "W ⊙ M"}


def _label(rule: str) -> str:
    return RULE_LABELS.get(rule, rule)


def _epoch_lines(ax: plt.Axes, results: Results, dt: float) -> None:
    for start in np.asarray(results.get("epoch_start", []))[1:]:
        ax.axvline(float(start) * dt, color="0.6", lw=0.6, ls="--", zorder=0)


def plot_interpolation(result: Results, rules: Any, title: str = "") -> plt.Figure:
    """Analysis 1: answer fractions against α, and the response angle per stimulus direction
    (of the mean output at the trial's last step) for every α."""
    alphas = np.asarray(result["alphas"], dtype=float)
    a, b = (_label(str(r)) for r in list(rules)[:2])
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.4))
    ax = axes[0]
    ax.plot(alphas, result["choose_a"], "o-", ms=2.5, label=f"answers {a}")
    ax.plot(alphas, result["choose_b"], "s-", ms=2.5, label=f"answers {b}")
    ax.plot(alphas, result["no_response"], "^-", ms=2.5, color="0.5", label="no response")
    ax.set_xlabel(f"α (rule input α·{a} + (1 − α)·{b})")
    ax.set_ylabel("Fraction of test trials")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize=6)
    ax = axes[1]
    output = np.asarray(result["output"])[:, -1]  # (A, S, n_out) at the last step
    directions = np.asarray(result["directions"], dtype=float)
    angle = np.arctan2(output[..., 1], output[..., 2]) % (2 * np.pi)
    amp = np.hypot(output[..., 1], output[..., 2])
    colors = plt.cm.coolwarm(alphas)
    for i, alpha in enumerate(alphas):
        shown = np.where(amp[i] > 0.25, angle[i], np.nan)
        ax.plot(directions, shown, "o-", ms=2, lw=0.6, color=colors[i],
                label=f"α = {alpha:g}" if i in (0, alphas.size // 2, alphas.size - 1) else None)
    ax.set_xlabel("Stimulus direction (rad)")
    ax.set_ylabel("Mean response angle at the end (rad)\nwhere |output| > 0.25")
    ax.legend(frameon=False, fontsize=6)
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    return fig


def plot_attractor_similarity(result: Results, title: str = "") -> plt.Figure:
    """Analysis 2: cosine similarity against training step, one panel per state kind."""
    steps = np.asarray(result["step"], dtype=float)
    kinds = [k for k in KIND_LABELS if k in result]
    fig, axes = plt.subplots(1, len(kinds), figsize=(2.4 * len(kinds), 2.3), squeeze=False,
                             sharey=True)
    for ax, kind in zip(axes[0], kinds, strict=True):
        for epoch, style in zip(result[kind], ("-", "--", ":"), strict=False):
            for (comparison, label), color in zip(COMPARISONS.items(), ("C0", "C1", "C2"),
                                                  strict=True):
                values = np.asarray(result[kind][epoch][comparison], dtype=float)
                if np.all(np.isnan(values)):
                    continue
                ax.plot(steps + 1, values, style, color=color, marker="o", ms=2,
                        label=f"{label}, end of {epoch}")
        ax.set_xscale("log")
        ax.set_xlabel("Training step + 1")
        ax.set_title(KIND_LABELS[kind])
    axes[0, 0].set_ylabel("Cosine similarity")
    axes[0, -1].legend(frameon=False, fontsize=5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    return fig


def plot_subspaces(result: Results, kind: str, title: str = "") -> plt.Figure:
    """Analysis 3: variance of each (rule, epoch) explained by the leading PCs of every other
    (heat map at the largest k), and the cumulative curves of each group's own and others'."""
    names = [str(n) for n in result["names"]]
    explained = np.asarray(result["explained"], dtype=float)  # (G, G, K)
    k = explained.shape[2]
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.0))
    ax = axes[0]
    image = ax.imshow(explained[:, :, -1], vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
    ax.set_yticks(range(len(names)), names, fontsize=5)
    ax.set_xlabel("Explained group")
    ax.set_ylabel(f"PCs ({k}) of group")
    fig.colorbar(image, ax=ax, fraction=0.046, label="Variance explained")
    ax = axes[1]
    comps = np.asarray(result["components"])
    for g, name in enumerate(names):
        line, = ax.plot(comps, explained[g, g], lw=1.2, label=name, color=plt.cm.tab10(g % 10))
        if len(names) > 1:
            rest = np.delete(explained[g], g, axis=0)
            count = np.sum(~np.isnan(rest), axis=0)
            others = np.where(count > 0, np.nansum(rest, axis=0) / np.maximum(count, 1), np.nan)
            ax.plot(comps, others, lw=0.7, ls="--", color=line.get_color())
    ax.set_xlabel("Number of PCs")
    ax.set_ylabel("Cumulative variance explained\n(own: solid, others' mean: dashed)")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, fontsize=5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"{title} {KIND_LABELS.get(kind, kind)}", fontsize=7)
    fig.tight_layout()
    return fig


def plot_dpca(result: Results, kind: str, title: str = "") -> plt.Figure:
    """Analysis 4: explained variance per marginalization and the first component of each."""
    names = [str(n) for n in result["marginalizations"]]
    labels = {"s": "stimulus", "r": "rule", "t": "time", "sr": "stimulus × rule"}
    explained = np.asarray(result["explained"], dtype=float)
    comps = np.asarray(result["components"], dtype=float)  # (M, k, S, R, T)
    stimuli = np.asarray(result["stimuli"], dtype=float)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(2.0 * (len(names) + 1), 2.2))
    ax = axes[0]
    bottom = np.zeros(explained.shape[1])
    for m, name in enumerate(names):
        ax.bar(np.arange(1, explained.shape[1] + 1), explained[m], bottom=bottom,
               label=labels.get(name, name))
        bottom += explained[m]
    ax.set_xlabel("Component")
    ax.set_ylabel("Explained variance")
    ax.legend(frameon=False, fontsize=5)
    colors = plt.cm.twilight(stimuli / (2 * np.pi))
    for ax, m in zip(axes[1:], range(len(names)), strict=True):
        for s in range(comps.shape[2]):
            for r, style in zip(range(comps.shape[3]), ("-", "--"), strict=False):
                ax.plot(comps[m, 0, s, r], style, color=colors[s], lw=0.7)
        ax.set_title(f"{labels.get(names[m], names[m])} #1 ({100 * explained[m, 0]:.0f} %)")
        ax.set_xlabel("Step")
    fig.suptitle(f"{title} {KIND_LABELS.get(kind, kind)} (rule A solid, B dashed)", fontsize=7)
    fig.tight_layout()
    return fig


def plot_cancellation(result: Results, title: str = "") -> plt.Figure:
    """Analysis 5: readout projection of each input group's current along the trial."""
    groups = [str(g) for g in result["groups"]]
    proj = np.asarray(result["projection"], dtype=float)  # (T, G, n_out)
    dt = float(result.get("dt", 1.0))
    t = np.arange(proj.shape[0]) * dt
    outputs = ["fixation output"] + [f"response output {i}" for i in range(1, proj.shape[2])]
    fig, axes = plt.subplots(1, proj.shape[2], figsize=(2.5 * proj.shape[2], 2.3), sharex=True)
    for o, ax in enumerate(np.atleast_1d(axes)):
        for g, name in enumerate(groups):
            ax.plot(t, proj[:, g, o], lw=0.9, label=name)
        ax.plot(t, proj[:, :, o].sum(axis=1), color="black", lw=1.2, label="sum")
        _epoch_lines(ax, result, dt)
        ax.set_title(outputs[o])
        ax.set_xlabel("Time (ms)")
    np.atleast_1d(axes)[0].set_ylabel("Readout of input current")
    np.atleast_1d(axes)[-1].legend(frameon=False, fontsize=5, loc="center left",
                                   bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    return fig


def plot_channel_modulation(result: Results, title: str = "") -> plt.Figure:
    """Analysis 6: ``‖M·W_in[:, c]‖`` over time per input group (mean over the group's
    channels of the trial mean ± s.d.), epoch boundaries dashed."""
    mean, sd = np.asarray(result["mean"], dtype=float), np.asarray(result["sd"], dtype=float)
    groups = np.asarray(result["channel_group"]).astype(str)
    dt = float(result.get("dt", 1.0))
    t = np.arange(mean.shape[0]) * dt
    fig, ax = plt.subplots(figsize=(4.2, 2.4))
    for group in dict.fromkeys(groups):
        sel = groups == group
        m, s = mean[:, sel].mean(axis=1), sd[:, sel].mean(axis=1)
        line, = ax.plot(t, m, lw=1.0, label=group)
        ax.fill_between(t, m - s, m + s, color=line.get_color(), alpha=0.2, lw=0)
    _epoch_lines(ax, result, dt)
    ax.set_xlabel("Time (ms)")
    ax.set_ylabel("‖M · W_in[:, c]‖")
    ax.legend(frameon=False, fontsize=6)
    ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return fig


def plot_input_geometry(result: Results, title: str = "") -> plt.Figure:
    """Analysis 7: cosine matrices of the input-embedding columns, one panel per stage."""
    cosine = np.asarray(result["cosine"], dtype=float)  # (S, n_in, n_in)
    names = [str(n) for n in result["channel_names"]]
    steps = np.asarray(result["step"])
    fig, axes = plt.subplots(1, len(steps), figsize=(2.0 * len(steps) + 0.6, 2.3), squeeze=False)
    for ax, step, c in zip(axes[0], steps, cosine, strict=True):
        image = ax.imshow(c, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(f"step {int(step)}")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=4)
        ax.set_yticks(range(len(names)), names if ax is axes[0, 0] else [], fontsize=4)
    fig.colorbar(image, ax=axes[0, -1], fraction=0.046, label="cos(W_in[:, i], W_in[:, j])")
    fig.suptitle(title, fontsize=7)
    return fig


def _point_styles(result: Results) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per fixed point: colour (by stimulus direction), filled (stable fixed point) and slow."""
    colors = plt.cm.twilight(np.asarray(result["stimulus"], dtype=float) % (2 * np.pi)
                             / (2 * np.pi))
    return colors, np.asarray(result["stable"], bool), ~np.asarray(result["is_fixed"], bool)


def _scatter_points(ax: plt.Axes, x: np.ndarray, y: np.ndarray, colors: np.ndarray,
                    filled: np.ndarray, slow: np.ndarray, marker: str = "o") -> None:
    """Stable fixed points filled, unstable ones hollow, slow points hollow triangles."""
    for i in range(len(x)):
        ax.scatter(x[i], y[i], s=14, marker="^" if slow[i] else marker, linewidths=0.8,
                   facecolors=colors[i] if filled[i] else "none", edgecolors=colors[i])


def _stability_legend(ax: plt.Axes) -> None:
    handles = [ax.scatter([], [], s=14, marker="o", color="0.3", label="stable"),
               ax.scatter([], [], s=14, marker="o", facecolors="none", edgecolors="0.3",
                          label="unstable"),
               ax.scatter([], [], s=14, marker="^", facecolors="none", edgecolors="0.3",
                          label="slow")]
    ax.legend(handles=handles, frameon=False, fontsize=5)


def plot_bifurcation(result: Results, rules: Any, title: str = "") -> plt.Figure:
    """Analysis 1: the fixed points of one epoch against the interpolation weight α, on the
    leading PCs of the fixed-point set (hidden, and W ⊙ M for an MPN; one row each), coloured by
    the stimulus direction of the trial they were found from (shifted slightly along α per
    direction); stable fixed points filled, unstable hollow, slow points hollow triangles."""
    a, b = (_label(str(r)) for r in list(rules)[:2])
    projection = result["projection"]
    kinds = [k for k in KIND_LABELS if k in projection]
    alpha = np.asarray(result["alpha"], dtype=float)
    directions = np.asarray(result["directions"], dtype=float)
    stim = np.asarray(result["stimulus"], dtype=float)
    offset = np.array([np.argmin(np.abs(directions - s)) for s in stim]) if stim.size else stim
    width = 0.3 * np.diff(np.asarray(result["alphas"], dtype=float)).min(initial=1.0)
    x = alpha + width * (offset / max(directions.size - 1, 1) - 0.5)
    colors, filled, slow = _point_styles(result)
    fig, axes = plt.subplots(len(kinds), 2, figsize=(5.6, 2.0 * len(kinds) + 0.4),
                             squeeze=False, sharex=True)
    for row, kind in zip(axes, kinds, strict=True):
        scores = np.asarray(projection[kind], dtype=float)
        ratio = np.asarray(result["explained"][kind], dtype=float)
        for c, ax in enumerate(row):
            _scatter_points(ax, x, scores[:, c], colors, filled, slow)
            ax.set_ylabel(f"{KIND_LABELS[kind]} PC{c + 1} ({100 * np.nan_to_num(ratio[c]):.0f} %)")
    for ax in axes[-1]:
        ax.set_xlabel(f"α (rule input α·{a} + (1 − α)·{b})")
    _stability_legend(axes[0, 0])
    axes[0, 1].legend(handles=[axes[0, 1].scatter(
        [], [], s=14, color=plt.cm.twilight(d % (2 * np.pi) / (2 * np.pi)),
        label=f"{np.degrees(d):.0f}°") for d in directions], frameon=False, fontsize=5,
        title="stimulus", title_fontsize=5)
    counts = ", ".join(f"{float(al):g}: {int(f)}/{int(s)}" for al, f, s in zip(
        result["alphas"], result["n_fixed"], result["n_slow"], strict=True))
    fig.suptitle(f"{title}\n{result['epoch']} fixed points (α: fixed/slow {counts}); "
                 "colour: stimulus direction", fontsize=6)
    fig.tight_layout()
    return fig


def plot_epoch_fixed_points(results: Results, rules: Any, title: str = "") -> plt.Figure:
    """Per-epoch fixed points (one column per test set or epoch): the points on the leading PCs
    of each set's points (hidden; W ⊙ M for an MPN), coloured by stimulus direction, circles
    for the first rule and squares for the second; filled stable, hollow unstable, triangles
    slow."""
    sets = sorted(results, key=lambda n: EPOCHS.index(str(results[n]["epoch"]))
                  if str(results[n]["epoch"]) in EPOCHS else len(EPOCHS))
    kinds = [k for k in KIND_LABELS if any(k in results[s]["projection"] for s in sets)]
    order = [str(r) for r in np.atleast_1d(rules)]
    fig, axes = plt.subplots(len(kinds), len(sets), figsize=(2.0 * len(sets) + 0.4,
                                                             1.9 * len(kinds) + 0.5),
                             squeeze=False)
    for c, name in enumerate(sets):
        result = results[name]
        colors, filled, slow = _point_styles(result)
        rule = np.asarray(result["rule"]).astype(str)
        for r, kind in enumerate(kinds):
            ax = axes[r, c]
            scores = np.asarray(result["projection"].get(kind, np.zeros((0, 2))), dtype=float)
            for j, marker in zip(range(len(order)), "osD^v", strict=False):
                sel = rule == order[j]
                _scatter_points(ax, scores[sel, 0], scores[sel, 1], colors[sel], filled[sel],
                                slow[sel], marker)
            ax.set_xlabel(f"{KIND_LABELS[kind]} PC1", fontsize=6)
            ax.set_ylabel(f"{KIND_LABELS[kind]} PC2", fontsize=6)
        n_fixed = int(np.sum(result["is_fixed"]))
        axes[0, c].set_title(f"{name} ({result['epoch']}): {n_fixed} fixed, "
                             f"{len(rule) - n_fixed} slow", fontsize=6)
    _stability_legend(axes[0, 0])
    shapes = ", ".join(f"{_label(r)} {m}" for r, m in zip(order, ("○", "□"), strict=False))
    fig.suptitle(f"{title}\nfixed points per epoch ({shapes}; colour: stimulus direction)",
                 fontsize=6)
    fig.tight_layout()
    return fig


def two_task_figures(results: Results, title: str = "") -> dict[str, plt.Figure]:
    """``{stem: Figure}`` for every analysis stored in ``results`` (missing ones are skipped)."""
    rules = [str(r) for r in np.atleast_1d(results.get("rules", []))]
    figs: dict[str, plt.Figure] = {}
    if "interpolation" in results:
        figs["interpolation"] = plot_interpolation(results["interpolation"], rules, title)
    if "interpolation_fixed_points" in results:
        figs["bifurcation"] = plot_bifurcation(results["interpolation_fixed_points"], rules,
                                               title)
    if results.get("epoch_fixed_points"):
        figs["epoch_fixed_points"] = plot_epoch_fixed_points(results["epoch_fixed_points"],
                                                             rules, title)
    if "attractor_similarity" in results:
        figs["attractor_similarity"] = plot_attractor_similarity(
            results["attractor_similarity"], title)
    for kind, result in results.get("subspaces", {}).items():
        figs[f"subspaces_{kind}"] = plot_subspaces(result, kind, title)
    for kind, result in results.get("dpca", {}).items():
        figs[f"dpca_{kind}"] = plot_dpca(result, kind, title)
    if "cancellation" in results:
        figs["cancellation"] = plot_cancellation(results["cancellation"], title)
    if "modulation" in results:
        figs["modulation"] = plot_channel_modulation(results["modulation"], title)
    if "input_geometry" in results:
        figs["input_geometry"] = plot_input_geometry(results["input_geometry"], title)
    if "pruning" in results:
        pruning = results["pruning"]
        figs["pruning"] = plot_pruning_curves(
            pruning["fractions"], pruning["accuracy"],
            [_label(str(r)) for r in pruning["rules"]], title)
    return figs
