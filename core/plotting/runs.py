"""Figures of runs aggregated over seeds (``python -m core.runs --aggregate --figure``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.style import apply_style
from core.tasks import RULE_LABELS

__all__ = ["plot_seed_aggregate"]


def plot_seed_aggregate(groups: Sequence[dict[str, Any]], confidence: float = 0.95
                        ) -> plt.Figure:
    """Validation accuracy against step (mean and interval over seeds, left) and final accuracy
    per rule (mean with interval bars, right), one colour per group.

    Each group holds ``label``, ``n_seeds``, ``steps (V,)``, ``curve``/``curve_low``/
    ``curve_high (V,)`` (mean validation accuracy over rules), ``rules`` (names) and
    ``accuracy``/``accuracy_low``/``accuracy_high (R,)`` in [0, 1]; bounds are NaN for one seed.
    """
    if not groups:
        raise ValueError("no groups of runs to draw")
    apply_style()
    rules = list(dict.fromkeys(r for g in groups for r in g["rules"]))
    fig, (ax_curve, ax_rule) = plt.subplots(
        1, 2, figsize=(3.0 + max(3.0, 0.3 * len(rules) * len(groups) ** 0.5), 2.6),
        gridspec_kw={"width_ratios": [1, max(1.0, len(rules) / 8)]}, layout="constrained")
    width = 0.8 / len(groups)
    for i, group in enumerate(groups):
        colour = f"C{i}"
        label = f"{group['label']} ({group['n_seeds']} seeds)"
        ax_curve.plot(group["steps"], group["curve"], color=colour, label=label)
        ax_curve.fill_between(group["steps"], group["curve_low"], group["curve_high"],
                              color=colour, alpha=0.2, linewidth=0)
        index = [rules.index(r) for r in group["rules"]]
        mean = np.asarray(group["accuracy"], float)
        err = np.abs(np.stack([mean - np.asarray(group["accuracy_low"], float),
                               np.asarray(group["accuracy_high"], float) - mean]))
        ax_rule.bar(np.asarray(index) + (i - (len(groups) - 1) / 2) * width, mean, width,
                    yerr=np.nan_to_num(err), color=colour, error_kw={"lw": 0.6, "capsize": 1})
    ax_curve.set(xlabel="step", ylabel="validation accuracy (mean over rules)",
                 ylim=(-0.02, 1.02))
    ax_curve.legend(frameon=False, fontsize=5)
    ax_rule.set_xticks(range(len(rules)), [RULE_LABELS.get(r, r) for r in rules], rotation=60,
                       ha="right")
    ax_rule.set(ylabel="final accuracy", ylim=(0, 1.05))
    ax_rule.set_title(f"mean and {100 * confidence:.0f}% interval over seeds", fontsize=6)
    return fig
