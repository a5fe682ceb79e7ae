"""Score trained Mixture-of-Pathways runs on fresh Mod-Cog trials into their ``evaluation.csv``.

For runs trained before ``run_experiment.py`` wrote ``evaluation.csv`` (or to score again): each
run's network is scored on ``--eval-trials`` fresh trials per task in streams like its training
ones (a trial is correct when every step of its response period is;
:func:`core.analysis.routing.fresh_stream_scores`), and the accuracy, 95 % Wilson interval and
chance level per task are written to ``<run>/evaluation.csv`` and printed. The trials come from
the run's seed, so the file is the one training writes at its end; ``--seed`` draws another
block. Every run is loaded and checked, and an existing ``evaluation.csv`` refused unless
``--overwrite``, before any run is scored.

    python mixture_of_pathways/evaluate.py runs/mixture_of_pathways/<run name> \\
        runs/mixture_of_pathways_difficulty/*
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_device_argument,
    add_threads_argument,
    cli_main,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.fileio import refuse_existing
from core.training.trainer import EVALUATION_FILE, accuracy_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import load_run  # noqa: E402  (sibling scripts)
from run_experiment import store_evaluation  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                       formatter_class=DefaultsHelpFormatter)
    p.add_argument("runs", type=Path, nargs="+", help="folders of run_experiment.py runs")
    p.add_argument("--eval-trials", type=positive_int, default=500,
                   help="fresh trials per task")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="trials from the Generator (seed, 2) (None: each run's own seed, the "
                        "trials its training scored)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing evaluation.csv (otherwise stop before any work)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_device_argument(p)
    add_threads_argument(p)
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_threads(args.threads)
    device = resolve_device(args.device)
    runs = {run: load_run(run) for run in args.runs}
    refuse_existing([run / EVALUATION_FILE for run in runs], args.overwrite)
    for run, (model, config) in tqdm(runs.items(), desc="runs scored",
                                     disable=args.no_progress):
        scores = store_evaluation(model.to(device), config, run, args.eval_trials, args.seed)
        tqdm.write(f"{run / EVALUATION_FILE}: {args.eval_trials} fresh trials per task\n"
                   f"{accuracy_table(scores)}")


if __name__ == "__main__":
    main()
