"""Accuracy against L2 strength and hidden size over every trained run in a folder.

Finds the runs of ``DIR`` (:func:`core.runs.index_runs`; ``--where`` filters them as in
``python -m core.runs``), scores each on ``--trials`` fresh trials per rule
(:mod:`core.analysis.accuracy_sweep`; generator seeded with (run seed, ``--seed``), so
``--seed 2`` reproduces the training script's ``evaluation.csv``) and stores one entry per run,
keyed by its name and recording its checkpoint, in ``DIR/accuracy_sweep.h5``. Current entries
are kept, stale ones (the run was trained further) recomputed, all with ``--overwrite``. The
figure ``DIR/figures/accuracy_by_l2`` (or ``--figures``) draws the mean accuracy over rules
against L2, one line per hidden size, mean over seeds with its 95 % t-interval.

Example::

    python multiple_task/accuracy_sweep.py runs/sweep --where family=multiple_task
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.analysis import load_trained
from core.analysis.accuracy_sweep import by_hidden_and_l2, fresh_scores, run_fields
from core.cli import (
    ArgumentParser,
    add_threads_argument,
    cli_main,
    fail,
    folder,
    non_negative_int,
    positive_int,
    set_threads,
)
from core.io import list_runs, load_results, save_results
from core.plotting import save_figure
from core.plotting.runs import accuracy_sweep_figure
from core.provenance import record, stale_reason
from core.runs import filter_rows, index_runs
from core.training.trainer import CHECKPOINT_FILE

RESULTS_FILE = "accuracy_sweep.h5"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", nargs="?", default="runs", metavar="DIR",
                   help="folder of trained runs (default: runs)")
    p.add_argument("--where", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="keep runs whose index field matches (shell-style pattern), "
                        "e.g. family=multiple_task")
    p.add_argument("--trials", type=positive_int, default=500,
                   help="fresh trials per rule and run (default 500)")
    p.add_argument("--figures", type=folder, default=None,
                   help="figure folder (default DIR/figures)")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute every run's entry, current or not")
    p.add_argument("--seed", type=non_negative_int, default=2,
                   help="second seed of each run's trial generator (default 2, as the "
                        "training script's evaluation)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_argument(p)
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> dict[int, dict[str, np.ndarray]]:
    """Score every run (or reuse its current entry), store, draw; return the grouped table."""
    args = parse_args(argv)
    set_threads(args.threads)
    root = Path(args.dir)
    rows = [r for r in filter_rows(index_runs(root), args.where)
            if (root / r.run / CHECKPOINT_FILE).is_file()]
    if not rows:
        fail(f"no trained run under {root}" + (f" matching {' '.join(args.where)}"
                                               if args.where else ""))
    names = [Path(r.run).name for r in rows]
    if len(set(names)) < len(names):
        fail(f"two runs under {root} share a name; pass a narrower DIR or --where")
    out = root / RESULTS_FILE
    stored = set(list_runs(out)) if out.exists() else set()
    runs = []
    for row, name in zip(tqdm(rows, desc="runs", unit="run", disable=args.no_progress), names,
                         strict=True):
        run_dir = root / row.run
        if name in stored and not args.overwrite and stale_reason(out, name) is None:
            runs.append(load_results(out, name))
            continue
        model, task, config = load_trained(run_dir)
        provenance = record(out, run_dir / CHECKPOINT_FILE)
        scores = fresh_scores(model, task, list(task.rules), args.trials,
                              np.random.default_rng([row.seed, args.seed]))
        entry = {**run_fields(name), "run": row.run, "family": row.family,
                 "rules": np.asarray(list(scores)),
                 "n_correct": np.array([s.n_correct for s in scores.values()]),
                 "n_trials": np.array([s.n_trials for s in scores.values()]),
                 "accuracy": np.array([s.accuracy for s in scores.values()]),
                 "low": np.array([s.interval()[0] for s in scores.values()]),
                 "high": np.array([s.interval()[1] for s in scores.values()]),
                 "chance": np.array([s.chance for s in scores.values()])}
        save_results(out, name, entry, config=config, overwrite=True, provenance=provenance)
        runs.append(entry)
    groups = by_hidden_and_l2(runs)
    chance = float(np.mean([np.mean(r["chance"]) for r in runs]))
    save_figure(accuracy_sweep_figure(runs), Path(args.figures or root / "figures") /
                "accuracy_by_l2")
    print(f"{len(runs)} runs, {args.trials} fresh trials per rule; results in {out}")
    print("hidden | L2 | seeds | accuracy (mean over rules) [95 % interval over seeds]")
    for hidden, g in groups.items():
        for i, l2 in enumerate(g["l2"]):
            print(f"{hidden} | {l2:g} | {g['n_seeds'][i]} | {g['mean'][i]:.3f} "
                  f"[{g['low'][i]:.3f}, {g['high'][i]:.3f}]")
    print(f"chance (mean over rules and runs): {chance:.3f}")
    return groups


if __name__ == "__main__":
    main()
