"""Figures of curricula, timescales and ablations in N-parity / N-DMS (Khajehabdollahi, Zeraati
et al., ICLR 2024), drawn from the results the ``timescales/`` scripts store with ``core.io``.

Each function applies the lab style and returns a Figure; save it with
:func:`core.plotting.save_figure`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from core.plotting.style import apply_style
from core.training.naming import parse_run_name

__all__ = ["plot_curricula", "plot_tau_vs_n", "plot_ablation"]

ABLATIONS = ("fastest", "slowest", "random")


def plot_curricula(runs: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]]
                   ) -> tuple[plt.Figure, dict[str, list[int]]]:
    """Largest solved N against training step per run (left) and the N reached at the end per
    curriculum (right, mean as a bar).

    Args:
        runs: ``{run name: (results, config)}`` as stored by ``timescales/train.py``: results
            ``reached_n (M,)``, ``reached_step (M,)``, ``step (E,)``; config
            ``{"curriculum": {"n_start": int}}``. The curriculum is the run name's feature.

    Returns the figure and ``{curriculum: [final N of each run]}``.
    """
    apply_style()
    fig, (ax_curve, ax_final) = plt.subplots(1, 2, figsize=(6.0, 2.4),
                                             gridspec_kw={"width_ratios": [2, 1]},
                                             layout="constrained")
    final: dict[str, list[int]] = defaultdict(list)
    colors: dict[str, str] = {}
    for name, (res, config) in sorted(runs.items()):
        feature = parse_run_name(name).feature
        color = colors.setdefault(feature, f"C{len(colors)}")
        reached_n = np.concatenate([[config["curriculum"]["n_start"] - 1], res["reached_n"]])
        reached_step = np.concatenate([[0], res["reached_step"]])
        end = int(res["step"][-1])
        ax_curve.step(np.append(reached_step, end), np.append(reached_n, reached_n[-1]),
                      where="post", color=color, alpha=0.8,
                      label=feature if len(final[feature]) == 0 else None)
        final[feature].append(int(reached_n[-1]))
    ax_curve.set(xlabel="training step", ylabel="largest solved N")
    ax_curve.legend(frameon=False)
    features = list(final)
    for i, feature in enumerate(features):
        values = final[feature]
        ax_final.scatter(np.full(len(values), i), values, color=colors[feature], s=12, zorder=3)
        ax_final.hlines(np.mean(values), i - 0.25, i + 0.25, color="k", lw=1)
    ax_final.set(xticks=range(len(features)), xticklabels=features,
                 xlim=(-0.6, len(features) - 0.4), ylabel="N reached at the end")
    return fig, dict(final)


def plot_tau_vs_n(results: Mapping[str, Mapping[str, np.ndarray]], variance: float
                  ) -> plt.Figure:
    """Trained τ, network-mediated τ_net (mean and inter-quartile range over neurons) and the
    PCA dimensionality against N, one colour per run.

    Args:
        results: ``{run name: {"n" (M,), "tau_trained" (M, H), "tau_net" (M, H),
            "pca_dim" (M,)}}`` as stored by ``timescales/analyze.py`` (NaN τ for gated cells
            and for τ_net fits that were not reported; an LSTM's optional ``tau_forget (M, H)`` is
            drawn in the first panel); labels from :func:`curve_label`.
        variance: fraction of variance the dimensionality explains (axis label).
    """
    apply_style()
    fig, (ax_tau, ax_net, ax_dim) = plt.subplots(1, 3, figsize=(7.0, 2.3), layout="constrained")
    for i, (name, res) in enumerate(results.items()):
        ns = np.asarray(res["n"])
        color, label = f"C{i}", curve_label(name)
        single = np.asarray(res["tau_trained"], dtype=float)
        if np.isnan(single).all() and "tau_forget" in res:  # an LSTM: forget-gate timescales
            single = np.asarray(res["tau_forget"], dtype=float)
        for ax, values in ((ax_tau, single), (ax_net, res["tau_net"])):
            ax.plot(ns, np.nanmean(values, axis=1), "o-", color=color, ms=3, label=label)
            ax.fill_between(ns, np.nanpercentile(values, 25, axis=1),
                            np.nanpercentile(values, 75, axis=1), color=color, alpha=0.2, lw=0)
        ax_dim.plot(ns, res["pca_dim"], "o-", color=color, ms=3, label=label)
    ax_tau.set(xlabel="N", ylabel=r"trained / forget-gate $\tau$ (mean, IQR)")
    ax_net.set(xlabel="N", ylabel=r"$\tau_\mathrm{net}$ (mean, IQR)")
    ax_dim.set(xlabel="N", ylabel=f"PCs for {variance:.0%} variance")
    ax_dim.legend(frameon=False)
    return fig


def curve_label(name: str) -> str:
    """Legend label of a result name: the curriculum feature of a lab run
    (``parity_seed0_multi+...`` → ``multi``), ``reference <curriculum>`` for a reference network
    (``reference_cumulative_parity_network_1`` → ``reference cumulative``).
    """
    if name.startswith("reference_"):
        return "reference " + name.split("_")[1]
    return name.split("_", 2)[2].split("+")[0] if name.count("_") >= 2 else name


def plot_ablation(results: Mapping[str, Any], title: str = "") -> plt.Figure:
    """Accuracy after ablating the k fastest / slowest / random neurons (left) and retraining
    curves after perturbing W or τ (right).

    Args:
        results: as stored by ``timescales/ablate.py``: ``k (A,)``, ``ablate_{fastest,slowest,
            random} (A, heads)``, ``intact_accuracy (heads,)``, ``perturb_{w_rec,tau}`` with
            ``scale (S,)``, ``step (E,)``, ``accuracy (S, E)``.
    """
    apply_style()
    k = [int(v) for v in results["k"]]
    fig, (ax_abl, ax_pert) = plt.subplots(1, 2, figsize=(6.0, 2.4), layout="constrained")
    for i, which in enumerate(ABLATIONS):
        ax_abl.plot(k, np.asarray(results[f"ablate_{which}"]).mean(axis=1), "o-", ms=3,
                    color=f"C{i}", label="random" if which == "random" else f"{which} τ")
    ax_abl.axhline(np.mean(results["intact_accuracy"]), color="k", lw=0.8, ls=":",
                   label="intact")
    ax_abl.set(xlabel="neurons ablated", ylabel="mean accuracy (active heads)", xscale="log")
    ax_abl.set_xticks(k, labels=[str(v) for v in k])
    ax_abl.minorticks_off()
    ax_abl.legend(frameon=False)
    for t, (target, ls) in enumerate((("w_rec", "-"), ("tau", "--"))):
        pert = results[f"perturb_{target}"]
        for j, s in enumerate(np.asarray(pert["scale"]).tolist()):
            ax_pert.plot(pert["step"], pert["accuracy"][j], ls, color=f"C{j + 3 * t}",
                         label=f"{'W' if target == 'w_rec' else 'τ'}, noise {s:g}")
    ax_pert.set(xlabel="retraining step", ylabel="mean accuracy")
    ax_pert.legend(frameon=False)
    fig.suptitle(title, fontsize=7)
    return fig
