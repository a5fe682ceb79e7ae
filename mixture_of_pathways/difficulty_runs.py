"""Single-task Mixture-of-Pathways runs that measure Mod-Cog task difficulty (Cook et al. 2025).

For every task of ``--task-id`` and every seed this trains one network on that task alone with
``run_experiment.py`` (same architecture and loss) and keeps its per-step loss in
``<out>/<run name>/curves.csv``. ``analyze.py`` turns the curves into difficulties: the log of
the median number of steps before the loss stays below a threshold. Runs that already exist are
resumed (a finished run is left as it is), so the script can be restarted.

    python mixture_of_pathways/difficulty_runs.py --task-id modcog/16 --seeds 0 --num-steps 150 \\
        --batch-size 32 --seq-len 100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from core.cli import add_device_argument, add_threads_argument, cli_main
from core.tasks.modcog import resolve_tasks

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_experiment  # noqa: E402  (sibling script)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task-id", default="modcog/16", help="tasks to measure (one run each)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds per task")
    p.add_argument("--layers", "-l", action="append", default=None,
                   help="expert sizes per layer (default: -l 0,16,32 three times)")
    p.add_argument("--num-steps", type=int, default=1000, help="training steps per run")
    p.add_argument("--batch-size", type=int, default=128, help="streams per batch")
    p.add_argument("--seq-len", type=int, default=350, help="steps per stream")
    p.add_argument("--learning-rate", type=float, default=1e-2, help="AdamW learning rate")
    add_device_argument(p)
    add_threads_argument(p)
    p.add_argument("--out", type=Path, default=Path("runs/mixture_of_pathways_difficulty"),
                   help="folder for the single-task runs")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tasks = resolve_tasks(args.task_id)
    layer_args = [a for layer in (args.layers or []) for a in ("-l", layer)]
    jobs = [(task, seed) for task in tasks for seed in args.seeds]
    for task, seed in tqdm(jobs, desc="single-task runs"):
        run_experiment.main([
            "--task-id", f"modcog/{task}", "--seed", str(seed), "--num-epochs", "1",
            "--num-steps", str(args.num_steps), "--batch-size", str(args.batch_size),
            "--seq-len", str(args.seq_len), "--learning-rate", str(args.learning_rate),
            "--eval-batches", "1", "--device", args.device, "--threads", str(args.threads),
            "--out", str(args.out), "--resume=if-exists", "--no-progress", *layer_args])


if __name__ == "__main__":
    main()
