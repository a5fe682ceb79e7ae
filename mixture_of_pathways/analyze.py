"""Pathway-complexity analysis of a trained Mixture-of-Pathways run (Cook et al. 2025).

On held-out Mod-Cog streams (drawn from the run's evaluation Generator, never used for
training) it measures, per task: the accuracy of each response step, learned pathway complexity
(LPC) and the mean routing weight of every expert, also with inference-time pruning and with each
layer's most complex expert disabled; and under each of these conditions the accuracy on
``--eval-trials`` fresh trials per task (whole trials, every response step right), with its 95 %
Wilson interval and chance level (``trial_*``;
:func:`core.analysis.routing.intervention_trial_scores`: the trials of the run's
``evaluation.csv``). With ``--difficulty-runs`` it reads the single-task runs of
``difficulty_runs.py``, computes each task's difficulty (log median steps before the loss stays
below ``--loss-threshold``) and the Spearman correlation between LPC and difficulty, over all
tasks and over those the network learned (fresh-trial accuracy >= ``--min-accuracy``). Results go
to HDF5 (``core.io``) with their provenance (:mod:`core.provenance`: the digest of the run's
checkpoint and of every difficulty run's), figures to ``--figures`` (``mop_*.png`` / ``.pdf``).
The inputs are checked first (the run exists, is a MoP run, and its checkpoint, ``config.json``
and folder name agree; the difficulty runs exist, come from one protocol and cover at least
three of the run's tasks); then, if this run's entry in ``--results`` is current or one of those
figures already exists, the script stops before any work unless ``--overwrite``. A stale entry
(the run or a difficulty run trained since) is recomputed, its figures replaced; an unreadable
results file is replaced with ``--overwrite``.

    python mixture_of_pathways/analyze.py runs/mixture_of_pathways/<run name> \\
        --difficulty-runs runs/mixture_of_pathways_difficulty
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from core.analysis import warn_if_at_chance
from core.analysis.routing import (
    MOP_SOURCES,
    intervention_effects,
    intervention_trial_scores,
    lpc_difficulty_correlation,
    steps_to_threshold,
    task_difficulty,
)
from core.analysis.transfer import score_arrays
from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_threads_argument,
    cli_main,
    fail,
    folder,
    positive_int,
    set_threads,
)
from core.fileio import refuse_existing
from core.io import save_results
from core.models import build_model
from core.plotting import save_figure
from core.plotting.routing import routing_figures
from core.provenance import claim, record
from core.tasks.modcog import ModCogConfig, generate_stream, split_generators
from core.training import CheckpointError, load_checkpoint, load_model_state
from core.training.checkpoint import load_json
from core.training.trainer import CHECKPOINT_FILE, check_stored_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_experiment import stored_run_name  # noqa: E402  (sibling script)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("run", type=Path, help="folder of a run_experiment.py run")
    p.add_argument("--difficulty-runs", type=Path, default=None,
                   help="folder of difficulty_runs.py single-task runs (omit to skip difficulty)")
    p.add_argument("--loss-threshold", type=float, default=0.25,
                   help="training loss defining 'learned' for the difficulty measure")
    p.add_argument("--min-accuracy", type=float, default=0.8,
                   help="tasks the multi-task run solves below this accuracy on fresh trials "
                        "are marked 'not learned' and left out of the second correlation")
    p.add_argument("--eval-batches", type=int, default=None,
                   help="held-out batches (default: the run's own --eval-batches)")
    p.add_argument("--eval-trials", type=positive_int, default=500,
                   help="fresh trials per task scored under each condition")
    p.add_argument("--prune-thresholds", type=float, nargs="+", default=[0.05, 0.1, 0.2],
                   help="inference-time routing thresholds below which experts are pruned")
    p.add_argument("--results", type=Path, default=Path("results/mixture_of_pathways.h5"),
                   help="HDF5 file for the results (one group per run)")
    p.add_argument("--figures", type=folder, default=Path("results/figures/mixture_of_pathways"),
                   help="folder for the mop_* figures")
    p.add_argument("--overwrite", action="store_true",
                   help="replace this run's current entry in --results (or an unreadable "
                        "file) and the mop_* figures in --figures if present (otherwise the "
                        "script stops before any work; a stale entry is always recomputed)")
    add_threads_argument(p)
    return p.parse_args(argv)


def load_run(run: Path) -> tuple[torch.nn.Module, dict]:
    """Model (eval mode) and stored config of a run folder.

    FileNotFoundError (one line) if the folder holds no run; CheckpointError (one line) if it is
    not a MoP run or its checkpoint, ``config.json`` and folder name do not describe one run
    (:func:`core.training.trainer.check_stored_run`; the name is rebuilt from the config by
    :func:`run_experiment.stored_run_name`, as MoP runs store none)."""
    if not (run / "config.json").is_file() or not (run / CHECKPOINT_FILE).is_file():
        raise FileNotFoundError(f"{run}: no such run (no config.json and checkpoint.pt); train "
                                "it with mixture_of_pathways/run_experiment.py")
    config = load_json(run / "config.json")
    if config.get("kind") != "mop":
        raise CheckpointError(f"{run}: not a Mixture-of-Pathways run (kind {config.get('kind')!r})")
    payload = load_checkpoint(run / CHECKPOINT_FILE)
    check_stored_run(run, payload.get("config", {}))
    try:
        name = stored_run_name(config)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{run / 'config.json'}: incomplete MoP run config ({exc})"
                              ) from None
    if name != run.name:
        raise CheckpointError(f"{run / CHECKPOINT_FILE} holds run {name!r}, not the folder's "
                              f"{run.name!r}; put each run in its own folder")
    model = build_model("mop", config["model"])
    load_model_state(model, payload["model"], source=str(run))
    return model.eval(), config


def read_difficulties(folder: Path, threshold: float
                      ) -> tuple[dict[str, float], dict[str, list], int, list[Path]]:
    """Per task: difficulty and the steps-to-threshold of each seed, from single-task runs, the
    largest step budget among the runs (a run that never gets below the threshold counts
    its whole budget) and the folders of the runs read.

    FileNotFoundError if ``folder`` is missing; ValueError if its runs mix protocols (loss
    settings, early-stopping threshold or layers differ) or stopped early at a loss above
    ``threshold`` (their curves end before the loss could reach it)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of difficulty runs")
    steps: dict[str, list[int]] = defaultdict(list)
    budget = 0
    used = []
    protocols = set()
    for run in sorted(p for p in folder.iterdir() if (p / "curves.csv").is_file()):
        config = load_json(run / "config.json")
        tasks = config["task"]["tasks"]
        if len(tasks) != 1:
            continue
        stop = config["train"].get("early_stopping_threshold")
        protocols.add((tuple(sorted(config["loss"].items())), stop,
                       str(config["model"]["layers"])))
        if stop is not None and threshold < stop:
            raise ValueError(f"{run.name} stopped at a loss below {stop}, so a loss threshold "
                             f"of {threshold} cannot be measured on it; use --loss-threshold "
                             f">= {stop}")
        with open(run / "curves.csv", newline="") as f:
            losses = [float(row["loss"]) for row in csv.DictReader(f)]
        steps[tasks[0]].append(max(1, steps_to_threshold(losses, threshold)))
        used.append(run)
        budget = max(budget, int(config["train"]["n_steps"]))
    if len(protocols) > 1:
        raise ValueError(f"{folder} mixes single-task runs of {len(protocols)} protocols (loss "
                         "settings, early stop or layers differ); keep one protocol per folder")
    return {t: task_difficulty(s) for t, s in steps.items()}, dict(steps), budget, used


def claim_outputs(args: argparse.Namespace) -> str | None:
    """Check the outputs before any work (:func:`core.provenance.claim`): FileExistsError (one
    line) if this run's entry in ``--results`` is current, or one of the figures it would draw in
    ``--figures`` exists and the entry is not stale, unless ``--overwrite``; ResultsFileError for
    an unreadable ``--results`` without ``--overwrite``. Returns claim's note on a stale entry."""
    note = claim(args.results, args.run.name, args.overwrite, MOP_SOURCES)
    names = ["mop_routing_maps", "mop_interventions"]
    if args.difficulty_runs is not None:
        names.append("mop_lpc_vs_difficulty")
    refuse_existing([args.figures / f"{n}.{s}" for n in names for s in ("png", "pdf")],
                    args.overwrite or note is not None)
    return note


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_threads(args.threads)
    model, config = load_run(args.run)
    warn_if_at_chance(args.run)
    task = config["task"]
    tasks = tuple(task["tasks"])
    used: list[Path] = []
    if args.difficulty_runs is not None:
        difficulty, steps, budget, used = read_difficulties(args.difficulty_runs,
                                                            args.loss_threshold)
        common = [t for t in tasks if t in difficulty]
        if len(common) < 3:
            fail(f"only {len(common)} tasks of the run have single-task runs in "
                 f"{args.difficulty_runs}; the correlation needs >= 3")
    note = claim_outputs(args)
    if note is not None:
        print(note)
    provenance = record(args.results, args.run / CHECKPOINT_FILE,
                        networks=[run / CHECKPOINT_FILE for run in used], sources=MOP_SOURCES)
    n_batches = args.eval_batches or task["eval_batches"]
    _, held_out = split_generators(config["seed"])
    task_cfg = ModCogConfig(n_ring=task["n_ring"], dt=task["dt"], sigma=task["sigma"])
    batches = [generate_stream(tasks, task["batch_size"], task["seq_len"], held_out,
                               task_cfg).to_torch()
               for _ in range(n_batches)]
    effects = intervention_effects(model, batches, tasks, args.prune_thresholds)
    trial_scores = intervention_trial_scores(model, config, args.eval_trials,
                                             args.prune_thresholds)
    base = effects["baseline"]
    results: dict = {
        name: {**stats.to_dict(), **{f"trial_{k}": v for k, v in
                                     score_arrays(trial_scores[name]).items() if k != "rules"}}
        for name, stats in effects.items()}
    print(f"mean over tasks of: the accuracy on {args.eval_trials} fresh trials per task "
          f"(chance {results['baseline']['trial_chance'].mean():.3f}), of each response step "
          f"on {n_batches} held-out batches, and LPC")
    for name, stats in effects.items():
        print(f"{name:>16}: {results[name]['trial_accuracy'].mean():.3f} on fresh trials, "
              f"{stats.accuracy.mean():.3f} per step, LPC {stats.lpc.mean():.1f}")

    stem = args.run.name

    if args.difficulty_runs is not None:
        idx = [tasks.index(t) for t in common]
        lpc = base.lpc[idx]
        diff = np.array([difficulty[t] for t in common])
        learned = results["baseline"]["trial_accuracy"][idx] >= args.min_accuracy
        correlations = {"all": (*lpc_difficulty_correlation(lpc, diff), len(common))}
        if learned.sum() >= 3:
            correlations["learned"] = (*lpc_difficulty_correlation(lpc[learned], diff[learned]),
                                       int(learned.sum()))
        for label, (rho, p, n) in correlations.items():
            print(f"LPC vs difficulty, {label} ({n} tasks): Spearman rho {rho:.3f} (p {p:.3g})")
        results["difficulty"] = {
            "tasks": np.asarray(common), "difficulty": diff, "lpc": lpc, "learned": learned,
            "median_steps": np.array([np.median(steps[t]) for t in common]),
            "step_budget": budget, "loss_threshold": args.loss_threshold,
            **{f"spearman_{label}": np.array(v[:2]) for label, v in correlations.items()}}
    figures = [save_figure(fig, args.figures / f"{name}.png")
               for name, fig in routing_figures(results, model.config.layers).items()]
    save_results(args.results, stem, results, config=config, overwrite=True,
                 provenance=provenance)
    print(f"results: {args.results} [{stem}]")
    print("figures: " + ", ".join(str(p) for group in figures for p in group))


if __name__ == "__main__":
    main()
