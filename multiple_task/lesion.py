"""Lesion every cluster of trained runs and prune their weights; save the accuracy changes.

Needs ``multiple_task_analysis.py`` to have stored the run's clusters. For each run NAME, the
lesion families in order: hidden clusters (zeroed weights, silenced activity), for MPNs the
input-embedding clusters, every input × hidden cluster pair and the synapse (modulation)
clusters, each as zeroed W and as frozen M; every lesion against size-matched random lesions
(effect = random − cluster accuracy); then pruning of the lowest-magnitude weights. Accuracy and
cost are measured per rule on fresh trials (stored with each rule's chance level and each
cluster's size); the loaded model is never modified (lesions act on copies).

``--protocol quick`` (default: 32 trials per rule, 3 random controls; minutes on the quick
network) or ``lab`` (the MPN lab's: 200 trials per rule, 10 random controls); both prune
0/10/50/90/95/98/99/99.9 % of the weights. ``--trials`` / ``--random`` override the protocol.

Each finished family is saved at once to ``<runs>/<NAME>/lesion.partial.h5``; a run that was
killed resumes from there, skipping the finished families, if the partial results still describe
the checkpoint and analysis and were computed with the same settings and code (every family draws
from its own seeded generator, so a resumed run stores the same numbers as an uninterrupted one).
Results go to ``<runs>/<NAME>/lesion.h5`` with what they were computed from (the checkpoint's
digest and the analysis entry: :mod:`core.provenance`) and the partial file is removed; draw them
with ``lesion_plot.py``. The results also record the options that change them
(:data:`RESULT_OPTIONS`: the protocol's trials and random controls, clustering, seed, skipped
families; :func:`core.provenance.option_sources`). Clusters of an analysis that no longer matches
the checkpoint are refused; stale lesion results (another network or analysis) and those of other
options are recomputed, saying why in one line; current ones are kept unless ``--overwrite``.

Example::

    python multiple_task/lesion.py reach_seed0_L21e4+hidden64+batch32+angle --protocol lab
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.analysis import load_trained, resolve_run, warn_if_at_chance
from core.analysis.lesion import (
    cluster_lesion_effects,
    pair_lesion_effects,
    pruning_curve,
    synapse_lesion_effects,
)
from core.cli import (
    KNOWN_ERRORS,
    ArgumentParser,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    fail,
    non_negative_int,
    resolve_trained_runs,
    set_threads,
)
from core.errors import ResultsFileError
from core.io import list_runs, load_results, save_results
from core.provenance import (
    claim,
    code_version,
    load_current,
    option_sources,
    record,
    stale_reason,
)
from core.tasks import chance_level, generate_trials
from core.training.trainer import CHECKPOINT_FILE

PRUNE_FRACTIONS = (0.0, 0.1, 0.5, 0.9, 0.95, 0.98, 0.99, 0.999)
PROTOCOLS = {"quick": {"trials": 32, "random": 3}, "lab": {"trials": 200, "random": 10}}
RESULTS_FILE = "lesion.h5"
PARTIAL_FILE = "lesion.partial.h5"
ANALYSIS_FILE = "analysis.h5"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_runs_arguments(p, figures=False)
    p.add_argument("--protocol", choices=tuple(PROTOCOLS), default="quick",
                   help="quick (default: 32 trials per rule, 3 random controls) or lab (200 "
                        "trials per rule, 10 random controls, the MPN lab's protocol)")
    p.add_argument("--method", choices=("kmeans", "ward"), default="kmeans",
                   help="which stored unit clustering to lesion (default: kmeans)")
    p.add_argument("--random", type=int, default=None,
                   help="size-matched random lesions per cluster (default: the protocol's; "
                        "at least 10 for the paper figures)")
    p.add_argument("--trials", type=int, default=None,
                   help="fresh trials per rule for each evaluation (default: the protocol's)")
    p.add_argument("--no-pairs", action="store_true", help="skip input × hidden cluster pairs")
    p.add_argument("--no-synapses", action="store_true", help="skip synapse-cluster lesions")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute this run's entry of lesion.h5 although it is current, or "
                        "replace an unreadable lesion.h5")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of trials and random lesions")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)
    for key, value in PROTOCOLS[args.protocol].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


#: The options that change the stored results (recorded as a provenance source: results of other
#: options are recomputed, not reused). ``--protocol`` acts through the ``trials`` and ``random``
#: it sets, so ``--protocol lab`` and ``--trials 200 --random 10`` are the same results.
RESULT_OPTIONS = ("method", "random", "trials", "seed", "no_pairs", "no_synapses")


def result_sources(args: argparse.Namespace) -> dict[str, str]:
    """Provenance sources of a run's results under ``args``: its :data:`RESULT_OPTIONS`."""
    return option_sources(args, RESULT_OPTIONS)


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


def settings(args: argparse.Namespace) -> dict:
    """What the lesion numbers depend on besides the network and clusters: the options
    :data:`RESULT_OPTIONS`, the pruned fractions and the code version (a partial file is
    resumed only under the same settings)."""
    return {**{name: getattr(args, name) for name in RESULT_OPTIONS},
            "prune": np.asarray(PRUNE_FRACTIONS), "code": code_version()}


def finished_families(path: Path, name: str, wanted: dict) -> dict:
    """The families stored in the partial file ``path`` by an interrupted run with the same
    ``wanted`` settings whose network and analysis are still current (else ``{}``)."""
    try:
        if not path.exists() or name not in list_runs(path) or stale_reason(path, name):
            return {}
        stored = load_results(path, name)
    except ResultsFileError:
        return {}
    same = set(stored.get("settings", {})) == set(wanted) and all(
        np.array_equal(np.asarray(stored["settings"][k]), np.asarray(v))
        for k, v in wanted.items())
    return stored.get("families", {}) if same else {}


def families(model, clusters: dict, args: argparse.Namespace, trials: dict, task
             ) -> tuple[dict, dict[str, tuple[int, Callable[[np.random.Generator], dict]]]]:
    """The cluster names stored with the results and ``{family: (evaluations, compute(rng))}``
    in the order they run (evaluations: how many per-rule sweeps, for the progress bar)."""
    progress, n = not args.no_progress, args.random
    hidden = unit_clusters(clusters["hidden"][args.method])
    names = {"hidden_clusters": np.asarray(list(hidden))}
    out: dict = {}
    for mode in ("weights", "activity"):
        out[f"hidden_{mode}"] = (1 + len(hidden) * (1 + n), lambda rng, mode=mode: (
            cluster_lesion_effects(model, hidden, "hidden", trials, task, mode=mode,
                                   n_random=n, rng=rng, progress=progress)))
    if "input" in clusters:
        inputs = unit_clusters(clusters["input"][args.method])
        names["input_clusters"] = np.asarray(list(inputs))
        out["input_weights"] = (1 + len(inputs) * (1 + n), lambda rng: cluster_lesion_effects(
            model, inputs, "input", trials, task, n_random=n, rng=rng, progress=progress))
        if not args.no_pairs:
            out["pairs"] = (len(inputs) * len(hidden) * (1 + n), lambda rng: pair_lesion_effects(
                model, inputs, hidden, trials, task, n_random=n, rng=rng, progress=progress))
    if "M" in clusters and not args.no_synapses:
        entry = clusters["M"]["ward"]
        labels = np.where(entry["active"], entry["labels"], -1).reshape(
            tuple(model.layers[-1].W.shape))
        count = len(np.unique(labels[labels >= 0]))
        out["synapses"] = (2 * count * (1 + n), lambda rng: synapse_lesion_effects(
            model, labels, trials, task, n_random=n, rng=rng, progress=progress))
    out["pruning"] = (len(PRUNE_FRACTIONS), lambda rng: pruning_curve(
        model, trials, task, PRUNE_FRACTIONS, progress=progress))
    return names, out


def lesion_run(name: str, args: argparse.Namespace, note: str | None = None) -> None:
    """All lesion families of one run, each saved to the partial file as it finishes (``note``:
    what :func:`claim` said is replaced)."""
    run_dir = resolve_run(args.runs, name)
    model, task, run_config = load_trained(run_dir)
    analysis = current_analysis(name, args.runs)
    if note is not None:
        print(note)
    partial = run_dir / PARTIAL_FILE  # same folder: the same provenance record holds
    provenance = record(run_dir / RESULTS_FILE, run_dir / CHECKPOINT_FILE,
                        inputs=[(run_dir / ANALYSIS_FILE, name)], sources=result_sources(args))
    wanted = settings(args)
    done = finished_families(partial, name, wanted)
    if done:
        print(f"{name}: resuming; finished families kept from {partial}: {', '.join(done)}")
    trials = {r: generate_trials(r, task, args.trials, np.random.default_rng([args.seed, i]))
              for i, r in enumerate(task.rules)}
    names, todo = families(model, analysis["clusters"], args, trials, task)
    bar = tqdm(total=sum(cost for cost, _ in todo.values()), unit="eval", desc=f"{name} lesions",
               disable=args.no_progress)
    for index, (family, (cost, compute)) in enumerate(todo.items()):
        if family not in done:
            bar.set_postfix_str(family)
            done[family] = compute(np.random.default_rng([args.seed, 1000 + index]))
            save_results(partial, name, {"settings": wanted, "families": done},
                         config=run_config, overwrite=True, provenance=provenance)
        bar.update(cost)
    bar.close()
    results = {"rules": np.asarray(task.rules), "method": args.method, **names, **done,
               "chance": np.asarray([chance_level(r, task) for r in task.rules]),
               "protocol": {k: v for k, v in wanted.items() if k != "code"}}
    out = save_results(run_dir / RESULTS_FILE, name, results, config=run_config,
                       overwrite=True, provenance=provenance)
    partial.unlink()
    effect = results["hidden_weights"]["effect"]
    print(f"{name}: {len(names['hidden_clusters'])} hidden clusters, largest effect "
          f"{effect.max():+.2f} (rule {task.rules[int(np.argmax(effect.max(axis=1)))]}); "
          f"results in {out}")


@cli_main(errors=(*KNOWN_ERRORS, KeyError))  # KeyError: analysis.h5 lacks an entry
def main(argv: list[str] | None = None) -> None:
    """Lesion every named run."""
    args = parse_args(argv)
    if args.random < 1 or args.trials < 1:
        fail("--random and --trials must be >= 1")
    set_threads(args.threads)
    runs = resolve_trained_runs(args.runs, args.names)
    notes, current = {}, set()
    for name in args.names:  # every input and output checked before the long work
        warn_if_at_chance(runs[name])
        load_trained(runs[name])
        current_analysis(name, args.runs)
        try:
            notes[name] = claim(runs[name] / RESULTS_FILE, name, args.overwrite,
                                sources=result_sources(args))
        except FileExistsError:
            current.add(name)
    for name in args.names:
        if name in current:
            print(f"{name}: stored results are current, kept ({runs[name] / RESULTS_FILE}; "
                  "--overwrite recomputes them)")
        else:
            lesion_run(name, args, notes[name])


if __name__ == "__main__":
    main()
