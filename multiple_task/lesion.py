"""Lesion every cluster of trained runs and prune their weights; save the accuracy changes.

Needs ``multiple_task_analysis.py`` to have stored the run's clusters. For each run NAME: hidden
clusters (weights and activity), for MPNs also input-embedding clusters, every input × hidden
cluster pair and the synapse (modulation) clusters, each as zeroed W and as frozen M; every
lesion against ``--random`` size-matched random lesions (effect = random − cluster accuracy);
then pruning of the lowest-magnitude weights from 0 to 99.9 %. Accuracy and cost are measured
per rule on fresh trials; the loaded model is never modified (lesions act on copies). Results
go to ``<runs>/<NAME>/lesion.h5`` with what they were computed from (the checkpoint's digest and
the analysis entry: :mod:`core.provenance`); draw them with ``lesion_plot.py``. Clusters of an
analysis that no longer matches the checkpoint are refused; stale lesion results are recomputed,
current ones kept unless ``--overwrite``.

Example::

    python multiple_task/lesion.py reach_seed0_L21e4+hidden64+batch32+angle --random 10
"""

from __future__ import annotations

import argparse

import numpy as np

from core.analysis import load_trained, resolve_run
from core.analysis.lesion import (
    cluster_lesion_effects,
    pair_lesion_effects,
    pruning_curve,
    synapse_lesion_effects,
)
from core.cli import (
    KNOWN_ERRORS,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    fail,
    resolve_trained_runs,
    set_threads,
)
from core.io import save_results
from core.provenance import claim, load_current, record
from core.tasks import generate_trials
from core.training.trainer import CHECKPOINT_FILE

PRUNE_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
RESULTS_FILE = "lesion.h5"
ANALYSIS_FILE = "analysis.h5"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_runs_arguments(p, figures=False)
    p.add_argument("--method", choices=("kmeans", "ward"), default="kmeans",
                   help="which stored unit clustering to lesion (default: kmeans)")
    p.add_argument("--random", type=int, default=10,
                   help="size-matched random lesions per cluster (default 10, at least 10 for "
                        "the paper figures)")
    p.add_argument("--trials", type=int, default=64,
                   help="fresh trials per rule for each evaluation (default 64)")
    p.add_argument("--no-pairs", action="store_true", help="skip input × hidden cluster pairs")
    p.add_argument("--no-synapses", action="store_true", help="skip synapse-cluster lesions")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute this run's entry of lesion.h5 although it is current, or "
                        "replace an unreadable lesion.h5")
    p.add_argument("--seed", type=int, default=0, help="seed of trials and random lesions")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p.parse_args(argv)


def unit_clusters(entry: dict) -> dict[str, np.ndarray]:
    """``{cluster number (1-based): unit indices}`` of the active clusters of a stored fit."""
    labels, k = np.asarray(entry["labels"]), int(entry["n_clusters"])
    return {str(c + 1): np.flatnonzero(labels == c) for c in range(k)
            if (labels == c).any()}


def current_analysis(name: str, runs: str) -> dict:
    """The run's stored analysis after checking it describes the checkpoint now in its folder
    (one-line error naming the command that refreshes it otherwise)."""
    return load_current(resolve_run(runs, name) / ANALYSIS_FILE, name,
                        f"python multiple_task/multiple_task_analysis.py {name} --runs {runs} "
                        "--overwrite")


def lesion_run(name: str, args: argparse.Namespace, note: str | None = None) -> None:
    """All lesions of one run (``note``: what :func:`claim` said is replaced)."""
    run_dir = resolve_run(args.runs, name)
    model, task, run_config = load_trained(run_dir)
    analysis = current_analysis(name, args.runs)
    if note is not None:
        print(note)
    provenance = record(run_dir / RESULTS_FILE, run_dir / CHECKPOINT_FILE,
                        inputs=[(run_dir / ANALYSIS_FILE, name)])
    rng = np.random.default_rng(args.seed)
    trials = {r: generate_trials(r, task, args.trials, rng) for r in task.rules}
    progress = not args.no_progress
    clusters = analysis["clusters"]
    results: dict = {"rules": np.asarray(task.rules), "method": args.method}
    hidden = unit_clusters(clusters["hidden"][args.method])
    results["hidden_clusters"] = np.asarray(list(hidden))
    for mode in ("weights", "activity"):
        results[f"hidden_{mode}"] = cluster_lesion_effects(
            model, hidden, "hidden", trials, task, mode=mode, n_random=args.random, rng=rng,
            progress=progress)
    if "input" in clusters:
        inputs = unit_clusters(clusters["input"][args.method])
        results["input_clusters"] = np.asarray(list(inputs))
        results["input_weights"] = cluster_lesion_effects(
            model, inputs, "input", trials, task, n_random=args.random, rng=rng,
            progress=progress)
        if not args.no_pairs:
            results["pairs"] = pair_lesion_effects(model, inputs, hidden, trials, task,
                                                   n_random=args.random, rng=rng,
                                                   progress=progress)
    if "M" in clusters and not args.no_synapses:
        entry = clusters["M"]["ward"]
        labels = np.where(entry["active"], entry["labels"], -1)
        shape = tuple(model.layers[-1].W.shape)
        results["synapses"] = synapse_lesion_effects(model, labels.reshape(shape), trials, task,
                                                     n_random=args.random, rng=rng,
                                                     progress=progress)
    results["pruning"] = pruning_curve(model, trials, task, PRUNE_FRACTIONS, progress=progress)
    out = save_results(run_dir / RESULTS_FILE, name, results, config=run_config,
                       overwrite=True, provenance=provenance)
    effect = results["hidden_weights"]["effect"]
    print(f"{name}: {len(hidden)} hidden clusters, largest effect {effect.max():+.2f} "
          f"(rule {task.rules[int(np.argmax(effect.max(axis=1)))]}); results in {out}")


@cli_main(errors=(*KNOWN_ERRORS, KeyError))  # KeyError: analysis.h5 lacks an entry
def main(argv: list[str] | None = None) -> None:
    """Lesion every named run."""
    args = parse_args(argv)
    if args.random < 1 or args.trials < 1:
        fail("--random and --trials must be >= 1")
    set_threads(args.threads)
    runs = resolve_trained_runs(args.runs, args.names)
    notes = {}
    for name in args.names:  # every input and output checked before the long work
        load_trained(runs[name])
        current_analysis(name, args.runs)
        notes[name] = claim(resolve_run(args.runs, name) / RESULTS_FILE, name, args.overwrite)
    for name in args.names:
        lesion_run(name, args, notes[name])


if __name__ == "__main__":
    main()
