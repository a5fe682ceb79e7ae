"""Figure of the Jacobs, Jordan, Nowlan & Hinton (1991) Table 1 replication: epochs to criterion
per system, from the table ``local_experts/table1.py`` stores (``table1.csv``)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.style import apply_style

__all__ = ["plot_epochs_to_criterion"]


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
