"""Every figure of a multi-task run, drawn from its stored results (Yang et al. 2019 analyses).

Each function takes the nested dict that ``core.io.load_results`` returns for one run (or the
same dict before it is saved) and returns ``{file stem: Figure}``; the family scripts and
``paper_plot.py`` save them with :func:`core.plotting.save_figure`, so each figure is drawn in one
place only. Call :func:`core.plotting.apply_style` first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from core.analysis.lesion import SIZE_FAMILIES, summarise_lesions
from core.analysis.membership import FORMS
from core.analysis.state_space import COMPUTATION_CATEGORIES
from core.analysis.task_variance import fractional_task_variance
from core.plotting.analysis import (
    plot_clustering_agreement,
    plot_ftv_histograms,
    plot_identity_scatter,
    plot_lesion_map,
    plot_over_membership,
    plot_pca_trajectories,
    plot_preceding_trial_shift,
    plot_pruning_curves,
    plot_silhouette,
    plot_size_effect,
    plot_task_set,
    plot_task_variance_map,
)
from core.tasks.rulesets import RULE_LABELS
from core.training.naming import parse_run_name

__all__ = ["FTV_PAIRS", "TASK_SET", "analysis_figures", "fixed_point_figures", "lesion_figures",
           "over_membership_seeds_figure", "preceding_trial_shift_figures",
           "seeds_agreement_figures", "state_space_figures", "state_space_r_figure"]

#: Rule pairs of Yang et al. (2019) Fig. 3 / 4 FTV histograms (those present are drawn).
FTV_PAIRS = (("dm1", "dm2"), ("contextdm1", "contextdm2"), ("dm1", "fdanti"),
             ("dm1", "contextdm1"), ("fdgo", "reactgo"), ("delaydm1", "dm1"),
             ("dmcgo", "dmcnogo"), ("fdgo", "fdanti"), ("delaygo", "delayanti"),
             ("dmsgo", "dmsnogo"))
#: Go, Anti, Dly Go, Dly Anti: the task-set parallelogram of Yang et al. (2019) Fig. 6.
TASK_SET = ("fdgo", "fdanti", "delaygo", "delayanti")


def _labels(rules: Sequence[Any]) -> list[str]:
    return [RULE_LABELS.get(str(r), str(r)) for r in rules]


def analysis_figures(results: Mapping[str, Any]) -> dict[str, plt.Figure]:
    """Figures of ``multiple_task_analysis.py`` results: per population and clustering method a
    task-variance map and a silhouette curve, per unit population the agreement (adjusted Rand
    index) of its partitions, FTV histograms, PCA trajectories, task set.

    Args:
        results: ``{"rules": (R,), "task_variance": {pop: {"by_rule": (N, R)}},
            "clusters": {pop: {method: {"labels", "active", "order" (N,), "k_values",
            "silhouette" (n_k,), "n_clusters"}}}, "agreement": {pop: {"partitions" (P,),
            "ari" (P, P)}} (optional), "state_space": {...}}``.
    """
    rules = [str(r) for r in results["rules"]]
    labels = _labels(rules)
    figures: dict[str, plt.Figure] = {}
    for pop, methods in results["clusters"].items():
        by_rule = np.asarray(results["task_variance"][pop]["by_rule"])
        for method, fit in methods.items():
            order = np.asarray(fit["order"])
            order = order[np.asarray(fit["active"])[order]]
            norm = by_rule[order] / by_rule[order].max(axis=1, keepdims=True)
            k = int(fit["n_clusters"])
            title = f"{pop} units, {method}" if pop != "M" else f"synapses (M), {method}"
            figures[f"task_variance_{pop}_{method}"] = plot_task_variance_map(
                norm, np.asarray(fit["labels"])[order], labels, title=title,
                items="synapses" if pop == "M" else "units")
            figures[f"silhouette_{pop}_{method}"] = plot_silhouette(
                fit["k_values"], fit["silhouette"], k, title=f"{pop}, {method}: k = {k}")
    for pop, agreement in results.get("agreement", {}).items():
        figures[f"clustering_agreement_{pop}"] = plot_clustering_agreement(
            agreement["ari"], [str(p) for p in agreement["partitions"]],
            title=f"{pop} units: agreement")
    hidden = np.asarray(results["task_variance"]["hidden"]["by_rule"])
    pairs = [p for p in FTV_PAIRS if p[0] in rules and p[1] in rules] or \
        [(rules[i], rules[i + 1]) for i in range(min(4, len(rules) - 1))]
    active = hidden.sum(axis=1) > 1e-3
    ftvs = {(RULE_LABELS.get(a, a), RULE_LABELS.get(b, b)): fractional_task_variance(
        hidden[active, rules.index(a)], hidden[active, rules.index(b)]) for a, b in pairs}
    figures["ftv_histograms"] = plot_ftv_histograms(ftvs)
    ss = results["state_space"]
    figures["pca_trajectories"] = plot_pca_trajectories(
        {RULE_LABELS.get(r, r): ss["trajectories"][r] for r in rules},
        ss["explained_variance_ratio"], title="Hidden activity, trial-averaged")
    if "task_set" in ss:
        figures["task_set"] = plot_task_set(
            ss["task_set"]["pca"], _labels(TASK_SET), edges=[(0, 1), (2, 3), (0, 2), (1, 3)],
            title=f"Task set (cos = {float(ss['task_set']['cos_anti']):.2f})")
    if "over_membership" in results:
        om = results["over_membership"]
        figures["over_membership"] = plot_over_membership(
            om["z"], FORMS, [float(om[f]) for f in FORMS],
            title="Synapse blocks sharing M clusters")
    return figures


def over_membership_seeds_figure(aggregate: Mapping[str, Any]) -> plt.Figure:
    """Over-membership of every form, mean over runs (seeds) with its t-interval, from
    :func:`core.analysis.membership.aggregate_over_membership` (its z values are not drawn)."""
    n = len(FORMS)
    return plot_over_membership(
        None, FORMS, np.asarray(aggregate["mean"])[:n],
        np.asarray(aggregate["low"])[:n], np.asarray(aggregate["high"])[:n],
        title=f"Over-membership, {len(aggregate['values'])} runs")


def seeds_agreement_figures(results: Mapping[str, Any]) -> dict[str, plt.Figure]:
    """Agreement of clusterings across networks (``multiple_task_analysis.py`` with several
    runs): per unit population and method, the adjusted Rand index between the networks' rule
    partitions (:func:`core.analysis.clustering.seeds_agreement`), figure
    ``clustering_agreement_seeds_<pop>_<method>``.

    Args:
        results: ``{"runs": (S,), pop: {method: {"ari" (S, S), "n_groups" (S,), "mean_ari"}}}``.
    Each run is labelled with its seed (its name where seeds repeat or names do not parse) and
    its number of rule groups.
    """
    runs = [str(r) for r in results["runs"]]
    try:
        seeds = [f"seed {parse_run_name(r).seed}" for r in runs]
    except ValueError:  # not run names: shown as they are
        seeds = runs
    names = seeds if len(set(seeds)) == len(seeds) else runs
    return {f"clustering_agreement_seeds_{pop}_{method}": plot_clustering_agreement(
                agree["ari"], [f"{n} ({int(g)} groups)" for n, g in zip(
                    names, agree["n_groups"], strict=True)],
                title=f"{pop} units, {method}: rule partitions across runs (mean "
                      f"{float(agree['mean_ari']):.2f})")
            for pop in ("input", "hidden") if pop in results
            for method, agree in results[pop].items()}


def lesion_figures(results: Mapping[str, Any]) -> dict[str, plt.Figure]:
    """Figures of ``lesion.py`` results: rules × clusters accuracy-change maps (hidden weights,
    hidden activity, input weights, input × hidden pairs averaged over rules, synapse clusters
    zeroed / frozen), the pruning curves (with the mean chance level where stored), and the
    summaries of :mod:`core.analysis.lesion`: ``lesion_size_effect`` (cluster size against the
    accuracy drop, with the size-matched random lesions; families that stored ``sizes``),
    ``lesion_synapses_compare`` (W zeroed against M frozen, per cluster and per rule × cluster)
    and ``lesion_additivity`` (pair drop against the sum of the two single drops)."""
    rules = _labels(results["rules"])
    figures: dict[str, plt.Figure] = {}
    summary = summarise_lesions(results)
    method = results.get("method")  # the clustering the numbered clusters come from
    of = "" if method is None else {"kmeans": "KMeans ", "ward": "Ward "}.get(
        str(np.asarray(method).item()), f"{np.asarray(method).item()} ")
    panels = [("hidden_weights", "hidden_clusters", f"Hidden {of}clusters (weights zeroed)"),
              ("hidden_activity", "hidden_clusters",
               f"Hidden {of}clusters (activity silenced)"),
              ("input_weights", "input_clusters", f"Input-embedding {of}clusters")]
    for key, cluster_key, title in panels:
        if key in results:
            names = [str(c) for c in results[cluster_key]]
            figures[f"lesion_{key}"] = plot_lesion_map(results[key]["effect"], rules, names,
                                                       title=title)
    if "pairs" in results:
        mean = np.asarray(results["pairs"]["effect"]).mean(axis=0)  # (input, hidden clusters)
        figures["lesion_pairs"] = plot_lesion_map(
            mean, [f"in {c}" for c in results["input_clusters"]],
            [str(c) for c in results["hidden_clusters"]],
            title="Input × hidden cluster pairs (mean over rules)",
            xlabel="Lesioned hidden cluster", ylabel="Lesioned input cluster")
    if "synapses" in results:
        syn = results["synapses"]
        names = [str(int(c) + 1) for c in syn["clusters"]]
        for mode, what in (("weights", "W zeroed"), ("freeze", "M frozen")):
            figures[f"lesion_synapses_{mode}"] = plot_lesion_map(
                syn[f"{mode}_effect"], rules, names, title=f"Synapse clusters ({what})")
        figures["lesion_synapses_compare"] = _synapse_modes_figure(syn, summary["modes"], names)
    if "size" in summary:
        figures["lesion_size_effect"] = plot_size_effect(
            {SIZE_FAMILIES[k]: v for k, v in summary["size"].items()})
    if "additivity" in summary:
        add = summary["additivity"]
        figures["lesion_additivity"] = plot_identity_scatter(
            add["sum_drop"], add["pair_drop"], "Input drop + hidden drop",
            "Pair lesion drop", title=f"Input × hidden pairs: r = {add['r']:.2f}, "
                                      f"pair − sum = {add['interaction']:+.2f}",
            groups=np.broadcast_to(np.arange(len(rules))[:, None, None],
                                   add["pair_drop"].shape), group_labels=rules)
    pruning = results["pruning"]
    chance = float(np.mean(results["chance"])) if "chance" in results else None
    figures["pruning"] = plot_pruning_curves(pruning["fractions"], pruning["accuracy"], rules,
                                             title="Pruning the smallest weights", chance=chance)
    return figures


def _synapse_modes_figure(syn: Mapping[str, Any], cmp: Mapping[str, Any],
                          names: Sequence[str]) -> plt.Figure:
    """W zeroed against M frozen for every synapse cluster: the mean effect over rules side by
    side (left) and every rule × cluster effect against each other with the identity (right);
    ``cmp``: their :func:`core.analysis.lesion.paired_effects`."""
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(0.25 * len(names) + 5.6, 2.6),
                                        gridspec_kw={"width_ratios": [max(len(names), 4), 4]})
    x = np.arange(len(names))
    bars.bar(x - 0.2, cmp["first_mean"], 0.4, color="C0", label="W zeroed")
    bars.bar(x + 0.2, cmp["second_mean"], 0.4, color="C1", label="M frozen")
    bars.axhline(0, color="k", lw=0.4)
    bars.set_xticks(x, names, rotation=90)
    bars.set(xlabel="Synapse cluster", ylabel="Effect (random − cluster), mean over rules",
             title="Synapse clusters: W zeroed vs M frozen")
    bars.legend(frameon=False, fontsize=6)
    first, second = np.ravel(syn["weights_effect"]), np.ravel(syn["freeze_effect"])
    finite = np.concatenate([first, second])
    low, high = float(np.nanmin(finite)), float(np.nanmax(finite))
    scatter.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--")
    scatter.scatter(first, second, s=8, color="0.2", alpha=0.7)
    scatter.set(xlabel="Effect, W zeroed", ylabel="Effect, M frozen",
                title=f"Every rule × cluster: r = {cmp['r']:.2f}")
    fig.tight_layout()
    return fig


def preceding_trial_shift_figures(results: Mapping[str, Any]) -> dict[str, plt.Figure]:
    """Figures of ``preceding_trial_shift.py`` results (probes ``(P,)`` × preceding tasks
    ``(Q,)``): the shift heat map ``shift (P, Q)``, and the change of probe accuracy
    ``accuracy_change (P, Q)`` (after the preceding trial − the same trials alone), coloured and
    written in each cell; the rows name each probe's accuracy alone, the title the trials per
    probe and the largest standard error of a change (``accuracy_change_se``)."""
    probe_labels, prev_labels = _labels(results["probes"]), _labels(results["previous"])
    shift, change = np.asarray(results["shift"]), np.asarray(results["accuracy_change"])
    alone = np.asarray(results["accuracy_alone"])
    rows = [f"{label} ({a:.2f})" for label, a in zip(probe_labels, alone, strict=True)]
    n, se = int(results["n_trials"]), float(np.max(results["accuracy_change_se"]))
    return {"preceding_trial_shift": plot_preceding_trial_shift(
                shift, prev_labels, probe_labels, title="Preceding-trial shift"),
            "preceding_trial_shift_accuracy": plot_lesion_map(
                change, rows, prev_labels, annotate=True,
                title=f"Probe accuracy after a preceding trial − alone\n({n} trials per probe; "
                      f"SE of a cell ≤ {se:.2f})",
                colorbar_label="Accuracy after − accuracy alone", xlabel="Preceding task",
                ylabel="Probe task (accuracy alone)")}


_POPULATION_TITLES = {"hidden": "hidden", "M": "M", "WM": "W ⊙ M"}


def _scatter_by(ax: plt.Axes, points: np.ndarray, groups: np.ndarray, order: Sequence[str],
                labels: Sequence[str]) -> None:
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(order), 1)))
    for color, group, label in zip(colors, order, labels, strict=True):
        mask = groups == group
        if mask.any():
            ax.scatter(*points[mask].T, s=8, color=color, label=label, alpha=0.8)


def state_space_figures(results: Mapping[str, Any]) -> dict[str, plt.Figure]:
    """Figures of ``state_space_shift.py`` results (Driscoll, Shenoy & Sussillo 2024, Fig. 4).

    Args:
        results: ``{"rules": (R,), "trial_rule": (n,), "category": (n,), "populations": (Q,),
            pop: {"pcs": (n, 2), "explained": (2,), "distance": (K,), "angle": (K,), "r",
            "slope", "p"}}``.

    Returns ``state_space_rule`` and ``state_space_category`` (end-of-fixation states on 2 PCs,
    one panel per population, coloured by rule / computation category) and
    ``state_space_distance_angle`` (angle between first displacements against initial distance,
    one point per rule pair and stimulus, with the least-squares line, r and p).
    """
    rules = [str(r) for r in results["rules"]]
    pops = [str(p) for p in results["populations"]]
    trial_rule = np.asarray(results["trial_rule"]).astype(str)
    category = np.asarray(results["category"]).astype(str)
    cats = [c for c in (*COMPUTATION_CATEGORIES, "other") if c in set(category)]
    figures: dict[str, plt.Figure] = {}
    for stem, groups, order, labels in (("rule", trial_rule, rules, _labels(rules)),
                                        ("category", category, cats, cats)):
        fig, axes = plt.subplots(1, len(pops), figsize=(3.2 * len(pops) + 1.5, 3.2),
                                 squeeze=False)
        for ax, pop in zip(axes[0], pops, strict=True):
            explained = np.asarray(results[pop]["explained"])
            _scatter_by(ax, np.asarray(results[pop]["pcs"]), groups, order, labels)
            ax.set(title=f"{_POPULATION_TITLES.get(pop, pop)}, end of fixation",
                   xlabel=f"PC1 ({100 * explained[0]:.0f} %)",
                   ylabel=f"PC2 ({100 * explained[1]:.0f} %)")
        axes[0, -1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5),
                           frameon=False)
        fig.tight_layout()
        figures[f"state_space_{stem}"] = fig
    fig, axes = plt.subplots(1, len(pops), figsize=(3.2 * len(pops), 3.2), squeeze=False)
    for ax, pop in zip(axes[0], pops, strict=True):
        res = results[pop]
        distance, angle = np.asarray(res["distance"]), np.asarray(res["angle"])
        ax.scatter(distance, angle, s=6, alpha=0.5, color="0.3")
        grid = np.linspace(distance.min(), distance.max(), 2)
        intercept = angle.mean() - float(res["slope"]) * distance.mean()
        ax.plot(grid, intercept + float(res["slope"]) * grid, color="C3")
        ax.set(title=f"{_POPULATION_TITLES.get(pop, pop)}: r = {float(res['r']):.2f}, "
                     f"p = {float(res['p']):.1g}",
               xlabel="Distance between pre-stimulus states",
               ylabel="Angle between first displacements (°)")
    fig.tight_layout()
    figures["state_space_distance_angle"] = fig
    return figures


def state_space_r_figure(r_by_population: Mapping[str, np.ndarray],
                         summary: Mapping[str, Sequence[float]]) -> plt.Figure:
    """Distance–angle correlation across networks: ``r_by_population {pop: (n_runs,)}`` as
    points, ``summary {pop: (mean, low, high)}`` as a bar with its interval."""
    pops = list(r_by_population)
    fig, ax = plt.subplots(figsize=(1.2 * len(pops) + 1.5, 3.2))
    for i, pop in enumerate(pops):
        mean, low, high = summary[pop]
        ax.bar(i, mean, color="0.8")
        if np.isfinite(low):
            ax.errorbar(i, mean, yerr=[[mean - low], [high - mean]], color="k", capsize=3)
        r = np.asarray(r_by_population[pop])
        ax.scatter(np.full(r.size, i), r, s=12, color="C3", zorder=3)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xticks=range(len(pops)), xticklabels=[_POPULATION_TITLES.get(p, p) for p in pops],
           ylabel="r (distance vs angle)", title="Across networks")
    fig.tight_layout()
    return fig


def fixed_point_figures(results: Mapping[str, Any]) -> dict[str, plt.Figure]:
    """Figures of ``multiple_task/fixed_points.py`` results: per rule pair ``fixed_points_<pair>``,
    one panel per kind (hidden; ``W ⊙ M`` for an MPN) on the pair's PC1 and PC2 (at least two
    components stored), with each rule's trajectories (thin lines, a dot at the start) and its
    epoch's points: stable fixed points filled, unstable ones hollow, slow points hollow
    triangles.

    Args:
        results: ``{"pairs": (Q,), pair: {"rules": (2,), "epoch", "explained": {kind: (k,)},
            rule: {"projection": {kind: (P, k)}, "trajectory": {kind: (T, n, k)},
            "is_fixed" (P,), "n_unstable" (P,)}}}`` (:func:`core.analysis.fixed_points.
            pair_fixed_points` per pair).
    """
    figures: dict[str, plt.Figure] = {}
    for key in np.asarray(results["pairs"]).astype(str):
        pair = results[key]
        rules = [str(r) for r in np.asarray(pair["rules"])]
        kinds = [k for k in _POPULATION_TITLES if k in pair["explained"]]
        fig, axes = plt.subplots(1, len(kinds), figsize=(3.0 * len(kinds) + 1.4, 3.0),
                                 squeeze=False)
        counts = []
        for color, rule, label in zip(("C0", "C3"), rules, _labels(rules), strict=True):
            r = pair[rule]
            fixed = np.asarray(r["is_fixed"], dtype=bool)
            stable = fixed & (np.asarray(r["n_unstable"]) == 0)
            counts.append(f"{label} {int(stable.sum())}/{int(fixed.sum())}/{int((~fixed).sum())}")
            for ax, kind in zip(axes[0], kinds, strict=True):
                path = np.asarray(r["trajectory"][kind], dtype=float)
                ax.plot(path[..., 0], path[..., 1], color=color, lw=0.5, alpha=0.4)
                ax.scatter(path[0, :, 0], path[0, :, 1], s=4, color=color)
                points = np.asarray(r["projection"][kind], dtype=float)
                for mask, marker, face in ((stable, "o", color), (fixed & ~stable, "o", "none"),
                                           (~fixed, "^", "none")):
                    ax.scatter(points[mask, 0], points[mask, 1], s=40, marker=marker,
                               facecolors=face, edgecolors=color, linewidths=1.0, zorder=3,
                               label=label if marker == "o" and face == color else None)
        for ax, kind in zip(axes[0], kinds, strict=True):
            explained = np.asarray(pair["explained"][kind], dtype=float)
            ax.set(title=_POPULATION_TITLES[kind], xlabel=f"PC1 ({100 * explained[0]:.0f} %)",
                   ylabel=f"PC2 ({100 * explained[1]:.0f} %)")
        axes[0, -1].legend(fontsize=6, frameon=False, loc="best")
        fig.suptitle(f"{pair['epoch']} fixed points, stable/fixed/slow: "
                     f"{', '.join(counts)}", fontsize=7)
        fig.tight_layout()
        figures[f"fixed_points_{key}"] = fig
    return figures
