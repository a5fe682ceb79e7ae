"""Single-task Mixture-of-Pathways runs that measure Mod-Cog task difficulty (Cook et al. 2025).

For every task of ``--task-id`` and every repeat this trains one network on that task alone with
``run_experiment.py`` and keeps its per-step loss in ``<out>/<run name>/curves.csv``;
``analyze.py`` turns the curves into difficulties: the log of the median number of steps before
the loss stays below a threshold. Existing runs are resumed (a finished one is left as it is), so
the script can be restarted.

Two protocols (``--protocol``; every setting can still be overridden by its flag):

- ``reference`` (default), that of the reference's ``cli/compute_task_difficulty.py``
  (jackcook/mixture-of-pathways): routing cost off (alpha = 0), no fixation loss, early stop after
  the first step with a training loss below 0.25, five repeats (seeds 0-4), at most 100 epochs of
  100 steps, one layer with a single 64-unit expert. (The reference passes ``layers=("64")``,
  which is the string ``"64"``; iterated, it gives two layers of one 6- and one 4-unit expert. We
  take the evident intent, ``-l 64``.)
- ``current``, this project's earlier protocol: the multi-task run's settings (routing cost
  1e-5, fixation loss, ``-l 0,16,32`` three times), no early stop, one seed, 1000 steps.

    python mixture_of_pathways/difficulty_runs.py --task-id modcog/16
    python mixture_of_pathways/difficulty_runs.py --protocol current --task-id modcog/16 \\
        --num-steps 120 --batch-size 32 --seq-len 100
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
)
from core.tasks.modcog import resolve_tasks

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_experiment  # noqa: E402  (sibling script)

PROTOCOLS: dict[str, dict] = {
    "reference": {"alpha": 0.0, "fixation_loss": False, "early_stopping_threshold": 0.25,
                  "num_repeats": 5, "layers": ["64"], "num_epochs": 100, "num_steps": 100},
    "current": {"alpha": 1e-5, "fixation_loss": True, "early_stopping_threshold": None,
                "num_repeats": 1, "layers": list(run_experiment.DEFAULT_LAYERS),
                "num_epochs": 1, "num_steps": 1000},
}
"""The settings of each ``--protocol`` (see the module docstring)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--protocol", choices=list(PROTOCOLS), default="reference",
                   help="reference: alpha 0, no fixation loss, early stop at loss 0.25, 5 "
                        "repeats, <= 100 x 100 steps, -l 64; current: the multi-task settings, "
                        "1 seed, 1000 steps, no early stop")
    p.add_argument("--task-id", default="modcog/16", help="tasks to measure (one run each)")
    p.add_argument("--seeds", type=non_negative_int, nargs="+", default=None,
                   help="seeds per task (None: 0 .. --num-repeats - 1)")
    p.add_argument("--num-repeats", type=int, default=None,
                   help="runs per task, seeds 0, 1, ... (None: the protocol's)")
    p.add_argument("--layers", "-l", action="append", default=None,
                   help="expert sizes per layer, repeat per layer (None: the protocol's)")
    p.add_argument("--num-epochs", type=int, default=None,
                   help="epochs per run; held-out evaluation and checkpoint after each "
                        "(None: the protocol's)")
    p.add_argument("--num-steps", type=int, default=None,
                   help="training steps per epoch (None: the protocol's)")
    p.add_argument("--early-stopping-threshold", type=float, default=None,
                   help="stop a run after the first step with a loss below this "
                        "(None: the protocol's)")
    p.add_argument("--batch-size", type=int, default=128, help="streams per batch")
    p.add_argument("--seq-len", type=int, default=350, help="steps per stream")
    p.add_argument("--learning-rate", type=float, default=1e-2, help="learning rate")
    p.add_argument("--optimizer", choices=list(run_experiment.OPTIMIZERS),
                   default="schedulefree", help="optimiser of every run")
    p.add_argument("--eval-trials", type=int, default=500,
                   help="fresh trials scored after each run into its evaluation.csv")
    add_device_argument(p)
    add_threads_argument(p)
    p.add_argument("--out", type=Path, default=Path("runs/mixture_of_pathways_difficulty"),
                   help="folder for the single-task runs (one protocol per folder)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p.parse_args(argv)


def run_arguments(args: argparse.Namespace, task: str, seed: int) -> list[str]:
    """The ``run_experiment.py`` command line of one single-task run."""
    protocol = PROTOCOLS[args.protocol]
    setting = {k: protocol[k] if getattr(args, k) is None else getattr(args, k)
               for k in ("layers", "num_epochs", "num_steps", "early_stopping_threshold")}
    argv = ["--task-id", f"modcog/{task}", "--seed", str(seed),
            "--num-epochs", str(setting["num_epochs"]), "--num-steps", str(setting["num_steps"]),
            "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len),
            "--learning-rate", str(args.learning_rate), "--optimizer", args.optimizer,
            "--cost-based-loss-alpha", str(protocol["alpha"]), "--eval-batches", "1",
            "--eval-trials", str(args.eval_trials),
            "--device", args.device, "--threads", str(args.threads), "--out", str(args.out),
            "--resume=if-exists", "--no-progress"]
    argv += [a for layer in setting["layers"] for a in ("-l", layer)]
    if setting["early_stopping_threshold"] is not None:
        argv += ["--early-stopping-threshold", str(setting["early_stopping_threshold"])]
    if not protocol["fixation_loss"]:
        argv.append("--disable-fixation-loss")
    return argv


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tasks = resolve_tasks(args.task_id)
    repeats = args.num_repeats or PROTOCOLS[args.protocol]["num_repeats"]
    if repeats < 1:
        raise ValueError("--num-repeats must be >= 1")
    seeds = args.seeds if args.seeds is not None else list(range(repeats))
    jobs = [(task, seed) for task in tasks for seed in seeds]
    for task, seed in tqdm(jobs, desc="single-task runs", disable=args.no_progress):
        run_experiment.main(run_arguments(args, task, seed))


if __name__ == "__main__":
    main()
