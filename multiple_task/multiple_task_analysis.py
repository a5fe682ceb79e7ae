"""Task variance, clusters and state space of trained multi-task runs (Yang et al. 2019).

For each run NAME under ``--runs``: task variance of the input-embedding units, hidden units and
(MPN) every synapse of M and W ⊙ M on noise-free test trials; KMeans and Ward clusters with
their silhouette curves and permutation-null quality (k chosen by the gap-tested silhouette, or
fixed by ``--k``: the MPN lab cuts its dendrograms at 20); the agreement (adjusted Rand index)
between KMeans and Ward partitions of each unit population at the k each chose and at the fixed
k (``--k``, else 20); the plastic-weight structure (rows and
columns of W, rows of the trial-averaged M at the end of stim1); PCA of hidden activity, task-set
geometry and rule-input compositionality; the over-membership of synapse blocks (input cluster,
hidden cluster) in the Ward clusters of M against shuffled labels (:mod:`core.analysis.
membership`), and with several runs its mean over them (``over_membership_seeds.h5`` in
``--runs``, where ``paper_plot.py`` finds it; its figure in ``--figures``, else ``--runs``).
With several runs of the same rules, the agreement of their clusterings across networks
(seeds): units do not correspond across networks, so each network's KMeans and Ward clusters of
each unit population induce a partition of the rules (each rule to the cluster of largest mean
normalised variance, :func:`core.analysis.clustering.rule_partition`) and the adjusted Rand
index is taken between the networks' rule partitions (``clustering_seeds.h5`` and figures
``clustering_agreement_seeds_<pop>_<method>``, same folders). Results go to
``<runs>/<NAME>/analysis.h5`` (keyed by the run name, with the digest of the checkpoint they
describe: :mod:`core.provenance`), figures to ``<runs>/<NAME>/figures/`` (or ``--figures``;
``--figures``/``<NAME>`` when several runs are named: :func:`core.cli.run_figures`).
Stored results of the same network (and, when every named run's are, those across the runs) are
kept unless ``--overwrite``, and those of their figures with a file missing (another
``--figures``, a deleted PNG or PDF) are drawn from them
(:func:`core.plotting.draw_from_stored`); stale ones (the run was trained further or again) are
recomputed. A progress bar follows each run's stages (``--no-progress`` hides it).

Example::

    python multiple_task/multiple_task_analysis.py reach_seed0_L21e4+hidden64+batch32+angle
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.analysis import load_trained, resolve_run, warn_if_at_chance
from core.analysis.clustering import (
    TaskVarianceClustering,
    cluster_quality,
    cluster_weight_structure,
    clustering_agreement,
    rule_partition,
    seeds_agreement,
)
from core.analysis.lesion import evaluate
from core.analysis.membership import FORMS, aggregate_over_membership, over_membership
from core.analysis.state_space import (
    StateSpace,
    compose_rule_input,
    epoch_dimensionality,
    parallelogram,
    run_model,
    state_at,
    task_set_points,
    trial_average,
)
from core.analysis.task_variance import (
    compute_task_variance,
    effective_modulation_variance,
    noise_free_trials,
    segment_bounds,
)
from core.cli import (
    ArgumentParser,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    fail,
    non_negative_int,
    resolve_trained_runs,
    run_figures,
    set_threads,
)
from core.io import load_results, save_results
from core.plotting import apply_style, draw_from_stored, save_figure
from core.plotting.multi_task import (
    TASK_SET,
    analysis_figures,
    over_membership_seeds_figure,
    seeds_agreement_figures,
)
from core.provenance import claim, load_current, option_sources, record
from core.training.trainer import CHECKPOINT_FILE

RESULTS_FILE = "analysis.h5"
SEEDS_FILE = "over_membership_seeds.h5"
CLUSTERING_SEEDS_FILE = "clustering_seeds.h5"
LAB_K = 20  # the MPN lab cuts its dendrograms at 20 clusters


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_runs_arguments(p)
    p.add_argument("--k-max", type=int, default=29,
                   help="largest number of clusters tried (default 29, Yang et al.)")
    p.add_argument("--k", type=int, default=None,
                   help="a fixed number of clusters for units and synapses (the MPN lab: 20), "
                        "capped at the number of distinct profiles and at the number of "
                        "units - 1 (default: chosen by the gap-tested silhouette)")
    p.add_argument("--n-init", type=int, default=20, help="KMeans restarts (default 20)")
    p.add_argument("--permutations", type=int, default=50,
                   help="permutations of the cluster-quality null (default 50)")
    p.add_argument("--max-points", type=int, default=500,
                   help="synapses are pre-grouped by MiniBatchKMeans into this many groups "
                        "before Ward clustering (default 500)")
    p.add_argument("--om-permutations", type=int, default=1000,
                   help="shuffles of the synapses' M-cluster labels in the over-membership "
                        "control (default 1000)")
    p.add_argument("--no-synapses", action="store_true",
                   help="skip the task variance and clusters of M and W ⊙ M")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute this run's entry of analysis.h5 although it is current, "
                        "or replace an unreadable analysis.h5")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of trials and clustering (default 0)")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bar (the analysis stages of each run)")
    return p.parse_args(argv)


def clusters_to_dict(fit: TaskVarianceClustering) -> dict[str, np.ndarray]:
    """Fitted clustering attributes as plain arrays."""
    out = {"labels": fit.labels_, "active": fit.active_, "order": fit.order_,
           "k_values": fit.k_values_, "silhouette": fit.silhouette_, "gap": fit.gap_,
           "gap_se": fit.gap_se_, "criterion": fit.criterion, "n_clusters": fit.n_clusters_,
           "cluster_rule": fit.cluster_rule_,
           "fixed_k": fit.n_clusters if fit.n_clusters is not None else 0}
    if hasattr(fit, "linkage_"):
        out["linkage"] = fit.linkage_
    return out


def agreement(by_rule: np.ndarray, fits: dict, args: argparse.Namespace) -> dict:
    """Adjusted Rand index between the KMeans and Ward partitions of one unit population at
    every k of ``fits`` (the stored clusterings) and at ``--k`` (else :data:`LAB_K`), k >= 2."""
    ks = sorted({int(f["n_clusters"]) for f in fits.values()} | {args.k or LAB_K})
    names, partitions, used = [], [], []
    for method in ("kmeans", "ward"):
        for k in ks:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # k above the distinct profiles or n - 1: capped
                fit = TaskVarianceClustering(method=method, n_init=args.n_init, n_clusters=k,
                                             random_state=args.seed).fit(by_rule)
            if fit.n_clusters_ >= 2 and f"{method} k={fit.n_clusters_}" not in names:
                names.append(f"{method} k={fit.n_clusters_}")
                partitions.append(fit.labels_[fit.active_])
                used.append((method, fit.n_clusters_))
    if not partitions:  # one distinct profile: nothing to compare
        return {"partitions": np.asarray(["one cluster"]), "method": np.asarray(["none"]),
                "k": np.asarray([1]), "ari": np.ones((1, 1))}
    return {"partitions": np.asarray(names), "method": np.asarray([m for m, _ in used]),
            "k": np.asarray([k for _, k in used]), "ari": clustering_agreement(partitions)}


def analyse(name: str, args: argparse.Namespace, note: str | None = None) -> dict:
    """Analyse one run, write its results and figures and return the results (``note``: what
    :func:`claim` said is replaced, printed once the run is loaded)."""
    run_dir = resolve_run(args.runs, name)
    model, task, run_config = load_trained(run_dir)
    if note is not None:
        print(note)
    provenance = record(run_dir / RESULTS_FILE, run_dir / CHECKPOINT_FILE,
                        sources=result_sources(args))
    rng = np.random.default_rng(args.seed)
    rules = list(task.rules)
    trials = noise_free_trials(task, rules, rng)
    is_mpn = type(model).__name__ == "DeepMultiPlasticNet"
    populations = ["input", "hidden"] if is_mpn else ["hidden"]
    if is_mpn and not args.no_synapses:
        populations.append("M")
    fits = sum(1 if pop == "M" else 2 for pop in populations)  # KMeans and Ward; M: Ward only
    bar = tqdm(total=fits + 3 + ("M" in populations) + is_mpn, unit="stage",
               desc=f"{name} analysis", disable=args.no_progress)
    bar.set_postfix_str("task variance")
    tv = compute_task_variance(model, trials, populations)
    bar.update()
    results: dict = {"rules": np.asarray(rules),
                     "task_variance": {k: v.to_dict() for k, v in tv.items()}}
    if "M" in tv:
        weight = model.layers[-1].W.detach().numpy()
        results["task_variance"]["WM"] = {
            "rules": np.asarray(rules), "by_rule": effective_modulation_variance(
                tv["M"].by_rule, weight), "epoch_keys": np.asarray(tv["M"].epoch_keys),
            "by_epoch": effective_modulation_variance(tv["M"].by_epoch, weight)}

    clusters: dict = {}
    for pop in tv:
        synapses = pop == "M"
        for method in (("ward",) if synapses else ("kmeans", "ward")):
            bar.set_postfix_str(f"{pop} {method} clusters")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit = TaskVarianceClustering(method=method, k_max=args.k_max, n_init=args.n_init,
                                             max_points=args.max_points, random_state=args.seed,
                                             n_clusters=args.k).fit(tv[pop].by_rule)
            for warning in caught:
                bar.write(f"  {pop}, {method}: {warning.message}")
            entry = clusters_to_dict(fit)
            if not synapses and 1 < fit.n_clusters_ < fit.active_.sum():
                quality = cluster_quality(fit.features_, fit.labels_[fit.active_],
                                          n_permutations=args.permutations,
                                          random_state=args.seed)
                entry["quality"] = quality
            clusters.setdefault(pop, {})[method] = entry
            bar.update()
    results["clusters"] = clusters
    bar.set_postfix_str("KMeans against Ward")
    results["agreement"] = {pop: agreement(tv[pop].by_rule, clusters[pop], args)
                            for pop in clusters if pop != "M"}
    bar.update()
    if "M" in clusters:  # Ward partitions of all three, as the lab's dendrograms
        bar.set_postfix_str("over-membership")
        results["over_membership"] = over_membership(
            clusters["input"]["ward"]["labels"], clusters["hidden"]["ward"]["labels"],
            clusters["M"]["ward"]["labels"], tv["M"].by_rule.sum(axis=1),
            keep=clusters["M"]["ward"]["active"], n_permutations=args.om_permutations,
            seed=args.seed)
        bar.update()
    if is_mpn:
        bar.set_postfix_str("weight structure")
        weight = model.layers[-1].W.detach().numpy()
        stim_end = {r: t.epochs["stim1"][:, 1] for r, t in trials.items()
                    if (t.epochs["stim1"][:, 0] >= 0).all()}
        structure = {"W_rows": clusters_to_dict(cluster_weight_structure(weight, 0)),
                     "W_columns": clusters_to_dict(cluster_weight_structure(weight, 1))}
        if stim_end:
            m_end = np.concatenate([state_at(model, trials[r].x, stim_end[r] - 1, "M")
                                    .mean(axis=0) for r in stim_end], axis=1)
            structure["M_stim1_end_rows"] = clusters_to_dict(cluster_weight_structure(m_end, 0))
        results["weight_structure"] = structure
        bar.update()
    bar.set_postfix_str("state space")
    hidden = {r: run_model(model, t.x, track_states=True)[1]["hidden"] for r, t in trials.items()}
    trajectories = {r: trial_average(hidden[r], *segment_bounds(trials[r].epochs,
                                                                hidden[r].shape[0], "trial"))
                    for r in rules}
    space = StateSpace(n_components=3).fit(list(trajectories.values()))
    state_space: dict = {"explained_variance_ratio": space.explained_variance_ratio_,
                         "trajectories": {r: space.transform(v) for r, v in trajectories.items()},
                         "dimensionality": {r: epoch_dimensionality(hidden[r], trials[r].epochs)
                                            for r in rules}}
    task_set_rules = [r for r in TASK_SET if r in rules]
    if len(task_set_rules) == 4:
        points = task_set_points({r: hidden[r] for r in TASK_SET},
                                 {r: trials[r].epochs["stim1"][:, 1] for r in TASK_SET})
        task_space = StateSpace(n_components=2).fit(points)
        state_space["task_set"] = {"points": points, "pca": task_space.transform(points),
                                   **parallelogram(points)}
        columns = np.array([task.rule_index(r) for r in rules])
        go, anti, dly_go, dly_anti = (task.rule_index(r) for r in TASK_SET)
        probe = trials["delayanti"]
        variants = {"Dly Anti": {dly_anti: 1.0}, "Anti + Dly Go - Go":
                    {anti: 1.0, dly_go: 1.0, go: -1.0}, "Dly Go": {dly_go: 1.0}}
        accs = []
        for weights in variants.values():
            probe_x = compose_rule_input(probe.x, columns, weights)
            composed = {"delayanti": _with_x(probe, probe_x)}
            accs.append(evaluate(model, composed, task)[0][0])
        state_space["compositionality"] = {"inputs": np.asarray(list(variants)),
                                           "accuracy": np.asarray(accs)}
    results["state_space"] = state_space
    bar.update()
    bar.close()
    out = save_results(run_dir / RESULTS_FILE, name, results, config=run_config,
                       overwrite=True, provenance=provenance)
    draw(results, run_figures(args.figures, run_dir, args.names))
    print(f"{name}: results in {out}")
    for pop in clusters:
        ks = ", ".join(f"{m} k={int(c['n_clusters'])}" for m, c in clusters[pop].items())
        print(f"  {pop}: {ks}")
    for pop, agree in results["agreement"].items():
        method, k, ari = agree["method"], agree["k"], agree["ari"]
        pairs = ", ".join(f"k={k[i]}: {ari[i, j]:.2f}" for i in range(len(k))
                          for j in range(len(k)) if method[i] == "kmeans" != method[j]
                          and k[i] == k[j])
        print(f"  {pop}: KMeans vs Ward adjusted Rand index at {pairs or 'no common k'}")
    if "over_membership" in results:
        om = results["over_membership"]
        print("  over-membership (z vs shuffled M labels): " + ", ".join(
            f"{f} {om[f]:.2f} (z {om[f + '_z']:.1f})" for f in FORMS))
    if "compositionality" in state_space:
        comp = state_space["compositionality"]
        print("  Dly Anti accuracy by rule input: " + ", ".join(
            f"{i}: {a:.2f}" for i, a in zip(comp["inputs"], comp["accuracy"], strict=True)))
    return results


#: The options that change a run's stored results (recorded as a provenance source: results of
#: other options are recomputed, not reused).
RESULT_OPTIONS = ("k_max", "k", "n_init", "permutations", "max_points", "om_permutations",
                  "no_synapses", "seed")


def result_sources(args: argparse.Namespace) -> dict[str, str]:
    """Provenance sources of a run's results under ``args``: its :data:`RESULT_OPTIONS`."""
    return option_sources(args, RESULT_OPTIONS)


def reuse(name: str, args: argparse.Namespace) -> dict:
    """The stored results of one run, current (not recomputed), with those of their figures whose
    files do not exist yet drawn from them (:func:`core.plotting.draw_from_stored`)."""
    path = resolve_run(args.runs, name) / RESULTS_FILE
    results = load_current(path, name, f"python multiple_task/multiple_task_analysis.py {name} "
                                        f"--runs {args.runs} --overwrite",
                           sources=result_sources(args))
    folder = run_figures(args.figures, path.parent, args.names)
    apply_style()
    print(f"{name}: stored results are current, reused ({path}); "
          f"{draw_from_stored(analysis_figures(results), folder)}")
    return results


def over_membership_seeds(runs: dict[str, dict], folder: Path, inputs: list[tuple[Path, str]],
                          figures: Path | None = None) -> None:
    """Print, store and draw the over-membership of every form over the runs (seeds)
    ``{name: over-membership results}``, mean with its 95 % t-interval: entry
    ``<names joined by ','>`` of ``folder/over_membership_seeds.h5`` (recording the analysis
    entries ``inputs`` it came from) and figure ``over_membership_seeds`` in ``figures`` (default
    ``folder``)."""
    agg = aggregate_over_membership(list(runs.values()))
    print_over_membership(agg, len(runs))
    out = folder / SEEDS_FILE
    save_results(out, seeds_key(runs), {**agg, "runs": np.asarray(list(runs))}, overwrite=True,
                 provenance=record(out, None, inputs))
    apply_style()
    save_figure(over_membership_seeds_figure(agg), (figures or folder) / "over_membership_seeds")


def clustering_seeds(runs: dict[str, dict], folder: Path, inputs: list[tuple[Path, str]],
                     figures: Path | None = None) -> dict:
    """Print, store and draw the agreement across the runs ``{name: analysis results}`` (same
    rules) of the rule partitions their unit clusters induce, per unit population and method
    (module docstring): entry ``<names joined by ','>`` of ``folder/clustering_seeds.h5``,
    ``{pop: {method: {"rule_labels" (S, R), "n_groups" (S,), "ari" (S, S), "mean_ari"}},
    "runs" (S,), "rules" (R,)}``, and its figures in ``figures`` (default ``folder``). Returns
    the stored results."""
    first = next(iter(runs.values()))
    results: dict = {"runs": np.asarray(list(runs)), "rules": first["rules"]}
    for pop in ("input", "hidden"):
        if not all(pop in r["clusters"] for r in runs.values()):
            continue
        for method in ("kmeans", "ward"):
            parts = [rule_partition(r["task_variance"][pop]["by_rule"],
                                    r["clusters"][pop][method]["labels"],
                                    r["clusters"][pop][method]["active"]) for r in runs.values()]
            results.setdefault(pop, {})[method] = seeds_agreement(parts)
    print_agreement(results)
    out = folder / CLUSTERING_SEEDS_FILE
    save_results(out, seeds_key(runs), results, overwrite=True,
                 provenance=record(out, None, inputs))
    apply_style()
    for stem, fig in seeds_agreement_figures(results).items():
        save_figure(fig, (figures or folder) / stem)
    return results


def print_over_membership(agg: dict, n_runs: int) -> None:
    """One line: the over-membership of every form over ``n_runs`` runs (``aggregate``)."""
    print(f"over-membership over {n_runs} runs, mean [95 % interval]: " + ", ".join(
        f"{f} {m:.2f} [{lo:.2f}, {hi:.2f}]" for f, m, lo, hi in
        zip(agg["forms"], agg["mean"], agg["low"], agg["high"], strict=True)))


def print_agreement(results: dict) -> None:
    """One line per unit population and method of the agreement across runs of
    :func:`clustering_seeds`' ``results``."""
    for pop in ("input", "hidden"):
        for method, agree in results.get(pop, {}).items():
            print(f"  {pop} {method}: rule partitions agree across {len(results['runs'])} runs "
                  f"with mean adjusted Rand index {float(agree['mean_ari']):.2f} (rule groups "
                  f"per run: {', '.join(map(str, agree['n_groups']))})")


def reuse_across(path: Path, names: list[str], figures_of, folder: Path) -> dict:
    """Keep the current summary across the runs ``names`` stored in ``path`` (its runs were all
    reused, so it would come out the same), draw those of its figures ``figures_of(stored)``
    (``{stem: figure}``) with a file missing in ``folder``, and return it."""
    stored = load_results(path, seeds_key(names))
    apply_style()
    print(f"across runs: stored results are current, reused ({path}); "
          f"{draw_from_stored(figures_of(stored), folder)}")
    return stored


def seeds_key(names) -> str:
    """Key of a set of runs in :data:`SEEDS_FILE`: their sorted names joined by ','."""
    return ",".join(sorted(names))


def _with_x(trials, x):
    """A copy of ``trials`` with input ``x``."""
    from dataclasses import replace

    return replace(trials, x=x)


def draw(results: dict, folder: Path) -> None:
    """Every figure of the analysis (drawn by ``core.plotting.multi_task.analysis_figures``)."""
    apply_style()
    for stem, fig in analysis_figures(results).items():
        save_figure(fig, folder / stem)


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Analyse every named run."""
    args = parse_args(argv)
    if min(args.permutations, args.om_permutations) < 1 or args.k_max < 2 or (
            args.k is not None and args.k < 1):
        fail("--permutations, --om-permutations and --k must be >= 1 and --k-max >= 2")
    set_threads(args.threads)
    resolve_trained_runs(args.runs, args.names)  # every input is checked before any output
    notes, rules, current = {}, set(), set()
    for name in args.names:  # every input and output checked before the work
        warn_if_at_chance(resolve_run(args.runs, name))
        rules.add(tuple(load_trained(resolve_run(args.runs, name))[1].rules))
        try:
            notes[name] = claim(resolve_run(args.runs, name) / RESULTS_FILE, name,
                                args.overwrite, sources=result_sources(args))
        except FileExistsError:
            current.add(name)
    seeds_folder, figures = Path(args.runs), Path(args.figures) if args.figures else None
    same_rules = len(rules) == 1
    kept = set()  # summaries across runs that are current and whose runs are all reused
    for file, wanted in ((SEEDS_FILE, not args.no_synapses), (CLUSTERING_SEEDS_FILE, same_rules)):
        if len(args.names) > 1 and wanted:
            try:
                claim(seeds_folder / file, seeds_key(args.names), args.overwrite)
            except FileExistsError:  # current; recomputed anyway if any run is recomputed
                if current == set(args.names):
                    kept.add(file)
    results = {name: reuse(name, args) if name in current else analyse(name, args, notes[name])
               for name in args.names}
    if len(results) > 1 and same_rules:
        print("clustering agreement across runs (rule partitions):")
        if CLUSTERING_SEEDS_FILE in kept:
            print_agreement(reuse_across(seeds_folder / CLUSTERING_SEEDS_FILE, args.names,
                                         seeds_agreement_figures, figures or seeds_folder))
        else:
            clustering_seeds(results, seeds_folder,
                             [(resolve_run(args.runs, n) / RESULTS_FILE, n) for n in results],
                             figures)
    elif len(results) > 1:
        print("the runs train different rules: no clustering agreement across runs")
    runs = {n: r["over_membership"] for n, r in results.items() if "over_membership" in r}
    if len(runs) > 1 and SEEDS_FILE in kept:
        print_over_membership(reuse_across(
            seeds_folder / SEEDS_FILE, args.names,
            lambda s: {"over_membership_seeds": over_membership_seeds_figure(s)},
            figures or seeds_folder), len(runs))
    elif len(runs) > 1:
        over_membership_seeds(runs, seeds_folder, [(resolve_run(args.runs, n) / RESULTS_FILE, n)
                                                   for n in runs], figures)


if __name__ == "__main__":
    main()
