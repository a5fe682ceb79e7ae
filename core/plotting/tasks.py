"""Figures of task batches: one trial per rule with its inputs, targets, cost mask and epochs."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.gridspec import GridSpec, GridSpecFromSubplotSpec

from core.tasks.config import TaskConfig
from core.tasks.rulesets import RULE_LABELS
from core.tasks.trials import EPOCHS, Trials

__all__ = ["plot_trial", "plot_trials"]

_EPOCH_COLORS = dict(zip(EPOCHS, plt.get_cmap("tab10").colors, strict=False))


def plot_trial(axes: Sequence[plt.Axes], trials: Trials, index: int, config: TaskConfig,
               title: str | None = None) -> None:
    """Draw trial ``index`` of ``trials`` on three axes: inputs, targets, cost mask.

    Each panel is a units x time image over the trial's valid steps (time in ms); the epochs are
    shaded bars along the top of the input panel and their boundaries dashed lines everywhere.
    """
    if len(axes) != 3:
        raise ValueError(f"plot_trial needs 3 axes (inputs, targets, mask), got {len(axes)}")
    if not 0 <= index < trials.batch_size:
        raise ValueError(f"index {index} out of range for a batch of {trials.batch_size}")
    n = int(trials.n_steps_valid[index])
    extent_ms = n * trials.dt
    panels = [(trials.x[:n, index], "inputs", "RdBu_r", True),
              (trials.y[:n, index], "targets", "RdBu_r", True),
              (trials.c_mask[:n, index], "mask", "Greys", False)]
    for ax, (data, label, cmap, centred) in zip(axes, panels, strict=True):
        vmax = float(np.abs(data).max()) or 1.0
        ax.imshow(data.T, aspect="auto", interpolation="nearest", cmap=cmap,
                  vmin=-vmax if centred else 0.0, vmax=vmax,
                  extent=(0.0, extent_ms, data.shape[1] - 0.5, -0.5))
        ax.set_ylabel(label, fontsize=6)
        ax.set_yticks([])
        for name in EPOCHS:
            start, end = trials.epochs[name][index]
            if start < 0:
                continue
            ax.axvline(start * trials.dt, color="k", lw=0.4, ls="--")
            if ax is axes[0]:  # epoch bar just above the input panel
                ax.axvspan(start * trials.dt, end * trials.dt, ymin=1.01, ymax=1.06,
                           color=_EPOCH_COLORS[name], lw=0, clip_on=False)
        ax.tick_params(labelsize=5, length=2)
        if ax is not axes[-1]:
            ax.set_xticklabels([])
    axes[0].set_title(title or RULE_LABELS.get(str(trials.rule[index]), str(trials.rule[index])),
                      fontsize=7, pad=5)
    axes[-1].set_xlabel("time (ms)", fontsize=6)


def plot_trials(batches: Sequence[Trials], config: TaskConfig, n_cols: int = 5) -> plt.Figure:
    """One trial of each batch (its first trial that asks for a response, else its first) in a
    grid of ``n_cols`` columns; returns the figure."""
    if not batches:
        raise ValueError("plot_trials needs at least one batch")
    n_rows = int(np.ceil(len(batches) / n_cols))
    fig = plt.figure(figsize=(2.1 * n_cols, 2.3 * n_rows))
    outer = GridSpec(n_rows, n_cols, figure=fig, hspace=0.5, wspace=0.15, top=1 - 0.25 / n_rows,
                     bottom=0.2 / n_rows)
    for k, tr in enumerate(batches):
        inner = GridSpecFromSubplotSpec(3, 1, subplot_spec=outer[k // n_cols, k % n_cols],
                                        height_ratios=(max(config.n_input, 12),
                                                       max(config.n_output, 6),
                                                       max(config.n_output, 6)), hspace=0.08)
        axes = [fig.add_subplot(inner[i]) for i in range(3)]
        responding = np.flatnonzero(tr.params["respond"])
        plot_trial(axes, tr, int(responding[0]) if responding.size else 0, config)
    handles = [plt.Rectangle((0, 0), 1, 1, color=_EPOCH_COLORS[e]) for e in EPOCHS]
    fig.legend(handles, EPOCHS, loc="lower center", ncol=len(EPOCHS), fontsize=6, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.text(0.5, 1 - 0.1 / n_rows, "inputs: fixation, modality 1, modality 2, rule units; "
             "targets: fixation, response; mask: cost weight (dark = 5)", ha="center",
             fontsize=6)
    fig.suptitle(f"One trial of each rule, preset {config.name} "
                 f"({config.n_input} inputs, {config.n_output} outputs, dt {config.dt:g} ms)",
                 fontsize=8, y=1 - 0.02 / n_rows)
    return fig
