"""How a one-task network changes across training, drawn from the stage files of
``one_task/one_task.py`` (``<run>/stages/step_XXXXXX.npz``, written by
:class:`core.training.trainer.StageRecorder`).

:func:`read_stages` loads the files; :func:`stage_figures` returns ``{file stem: Figure}``:

- ``stages_network``: one column per stage; rows: the recurrent / plastic weight matrix W, the
  mean over test trials of ``|M|`` at the end of the last recorded epoch (MPN only), and the test
  trials' hidden-activity trajectories in the stage's own first two principal components.
- ``stages_summary``: against training step, the relative weight change
  ``‖W_s − W_first‖_F / ‖W_first‖_F``, the mean ``|M|`` at the end of each trial epoch (MPN only),
  the masked test MSE and the participation ratio of the hidden activity.

``one_task.py`` and ``paper_plot.py`` both call :func:`stage_figures`, so the figures are drawn in
one place. Call :func:`core.plotting.apply_style` first; save with
:func:`core.plotting.save_figure`.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from core.analysis.state_space import StateSpace, participation_ratio, pca_spectrum

__all__ = ["WEIGHT_KEYS", "read_stages", "stage_figures", "stage_summary", "stage_weight"]

#: Stored parameter holding the recurrent / plastic weights, by model kind (MPN's first plastic
#: layer, vanilla RNN, GRU): the first one present is drawn.
WEIGHT_KEYS = ("param/layers.0.W", "param/w_rec", "param/gru.weight_hh_l0")

Stage = Mapping[str, np.ndarray]


def read_stages(folder: str | os.PathLike, steps: Sequence[int] | None = None
                ) -> list[dict[str, np.ndarray]]:
    """Every ``step_*.npz`` of ``folder`` (or only those of ``steps``) as a dict of arrays,
    sorted by training step.

    FileNotFoundError (one line) if the folder holds none or lacks one of ``steps``; ValueError
    (one line) if a file cannot be read or is not a stage file (no ``step`` / ``state/hidden``).
    """
    if steps is None:
        files = sorted(Path(folder).glob("step_*.npz"))
    else:
        files = [Path(folder) / f"step_{int(s):06d}.npz" for s in sorted(set(steps))]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"missing stage files: {', '.join(missing)}")
    if not files:
        raise FileNotFoundError(f"{folder}: no stage files (step_*.npz)")
    stages = []
    for path in files:
        try:
            with np.load(path, allow_pickle=False) as data:
                stage = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(" ".join(f"{path}: unreadable stage file ({type(exc).__name__}: "
                                      f"{exc})".split())) from None
        if "step" not in stage or "state/hidden" not in stage:
            raise ValueError(f"{path}: not a stage file (no step / state/hidden)")
        stages.append(stage)
    return sorted(stages, key=lambda s: int(s["step"]))


def stage_weight(stage: Stage) -> tuple[str, np.ndarray]:
    """``(name, W (N_post, N_pre))``: the first of :data:`WEIGHT_KEYS` stored in ``stage``."""
    for key in WEIGHT_KEYS:
        if key in stage:
            return key.removeprefix("param/"), np.asarray(stage[key], dtype=float)
    raise KeyError(f"no recurrent/plastic weights stored (looked for {', '.join(WEIGHT_KEYS)})")


def stage_summary(stages: Sequence[Stage]) -> dict[str, np.ndarray]:
    """Per-stage numbers of the ``stages_summary`` figure, each ``(S,)`` over the S stages.

    ``step``; ``weight_change`` ``‖W_s − W_0‖_F / ‖W_0‖_F`` relative to the first stage;
    ``test_mse`` mean of ``(c_mask · (output − y))²``; ``participation_ratio`` of the hidden
    activity ``(T·B, N)``; and, when M is stored, ``mean_abs_M`` ``(S, n_epochs)`` at the end of
    each epoch of ``epoch_names`` (mean over trials that have the epoch and over synapses).
    """
    if not stages:
        raise ValueError("no stages to summarise")
    weights = [stage_weight(s)[1] for s in stages]
    norm0 = np.linalg.norm(weights[0])
    out = {
        "step": np.array([int(s["step"]) for s in stages]),
        "weight_change": np.array([np.linalg.norm(w - weights[0]) / norm0 if norm0 > 0
                                   else np.linalg.norm(w) for w in weights]),
        "test_mse": np.array([float(np.mean((s["c_mask"] * (s["output"] - s["y"])) ** 2))
                              for s in stages]),
        "participation_ratio": np.array([participation_ratio(pca_spectrum(s["state/hidden"]))
                                         for s in stages]),
    }
    if all("state/M" in s for s in stages):
        out["mean_abs_M"] = np.stack([np.nanmean(np.abs(s["state/M"]).reshape(
            s["state/M"].shape[0], -1), axis=1) for s in stages])
    return out


def _trial_colours(stage: Stage) -> np.ndarray:
    """One colour per test trial: its stimulus (or target) angle on a cyclic map, else its
    index."""
    for key in ("trial/stim1_loc", "trial/target_loc"):
        if key in stage and np.all(np.isfinite(stage[key])):
            return plt.get_cmap("twilight")(np.mod(stage[key], 2 * np.pi) / (2 * np.pi))
    n = stage["state/hidden"].shape[1]
    return plt.get_cmap("viridis")(np.linspace(0, 1, n))


def _plot_network(stages: Sequence[Stage], title: str) -> plt.Figure:
    has_m = all("state/M" in s for s in stages)
    rows = 3 if has_m else 2
    n = len(stages)
    fig, axes = plt.subplots(rows, n, figsize=(1.45 * n + 0.9, 1.45 * rows + 0.3),
                             squeeze=False, layout="constrained")
    name, _ = stage_weight(stages[0])
    weights = [stage_weight(s)[1] for s in stages]
    w_max = max(float(np.abs(w).max()) for w in weights) or 1.0
    for col, (stage, w) in enumerate(zip(stages, weights, strict=True)):
        ax = axes[0, col]
        w_image = ax.imshow(w, cmap="RdBu_r", vmin=-w_max, vmax=w_max, interpolation="nearest")
        ax.set_title(f"step {int(stage['step'])}")
    fig.colorbar(w_image, ax=axes[0, :], shrink=0.8, label=name)
    if has_m:
        m_means = [np.nanmean(np.abs(s["state/M"][-1]), axis=0) for s in stages]
        m_max = max(float(np.nanmax(m)) for m in m_means) or 1.0
        epoch = str(stages[0]["epoch_names"][-1])
        for col, m in enumerate(m_means):
            m_image = axes[1, col].imshow(m, cmap="magma", vmin=0, vmax=m_max,
                                          interpolation="nearest")
        fig.colorbar(m_image, ax=axes[1, :], shrink=0.8, label=f"mean |M|, end of {epoch}")
    for col, stage in enumerate(stages):
        ax = axes[rows - 1, col]
        hidden = np.asarray(stage["state/hidden"], dtype=float)  # (T, B, N)
        space = StateSpace(n_components=2).fit(hidden.reshape(-1, hidden.shape[-1]))
        pcs = space.transform(hidden)
        active = np.asarray(stage["c_mask"]).sum(-1) > 0  # (T, B) steps inside each trial
        for b, colour in enumerate(_trial_colours(stage)):
            path = pcs[active[:, b], b]
            if len(path) == 0 or path.shape[-1] < 2:
                continue
            ax.plot(path[:, 0], path[:, 1], color=colour, lw=0.6)
            ax.plot(*path[0, :2], "o", color=colour, ms=2)
            ax.plot(*path[-1, :2], "x", color=colour, ms=3)
        ratio = space.explained_variance_ratio_
        ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f}%)")
        if len(ratio) > 1:
            ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f}%)" if col == 0 else "")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[:rows - 1].ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("W")
    if has_m:
        axes[1, 0].set_ylabel("mean |M|")
    fig.suptitle((title + "\n" if title else "") + "hidden trajectories: o start, x end, "
                 "colour = stimulus angle", fontsize=7)
    return fig


def _plot_summary(stages: Sequence[Stage], title: str) -> plt.Figure:
    summary = stage_summary(stages)
    has_m = "mean_abs_M" in summary
    panels = 4 if has_m else 3
    fig, axes = plt.subplots(1, panels, figsize=(1.9 * panels, 2.0), layout="constrained")
    step = summary["step"]
    columns = [("weight_change", f"‖W − W(step {step[0]})‖ / ‖W(step {step[0]})‖"),
               ("test_mse", "masked test MSE"),
               ("participation_ratio", "participation ratio (hidden)")]
    for ax, (key, label) in zip(axes, columns, strict=False):
        ax.plot(step, summary[key], "o-", ms=2.5, lw=1.0, color="C0")
        ax.set_ylabel(label)
    if has_m:
        ax = axes[-1]
        for e, epoch in enumerate(stages[0]["epoch_names"]):
            ax.plot(step, summary["mean_abs_M"][:, e], "o-", ms=2.5, lw=1.0, label=str(epoch))
        ax.set_ylabel("mean |M| at end of epoch")
        ax.legend(frameon=False, fontsize=5)
    for ax in axes:
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("training step")
    if title:
        fig.suptitle(title, fontsize=7)
    return fig


def stage_figures(stages: Sequence[Stage], title: str = "") -> dict[str, plt.Figure]:
    """``{"stages_network": ..., "stages_summary": ...}`` for the stages of one run (see the
    module docstring); ValueError if ``stages`` is empty."""
    if not stages:
        raise ValueError("no stages to draw")
    return {"stages_network": _plot_network(stages, title),
            "stages_summary": _plot_summary(stages, title)}
