"""Train a multi-plastic network (or a vanilla RNN / GRU baseline) on a set of rules.

Each seed is one name-coded run under ``--out``
(``{rules}_seed{seed}_{feature}+hidden{hidden}+batch{batch}+angle``) holding ``checkpoint.pt``,
``config.json``, ``curves.csv``, ``validation.csv`` and the figures ``curves.{pdf,png}`` (loss and
accuracy against step) and ``accuracy_per_rule.{pdf,png}``. The per-rule accuracy table is printed
at the end of each run.

Examples::

    python multiple_task/multiple_task.py --preset quick
    python multiple_task/multiple_task.py --preset paper --seed 749 750 --device cuda
    python multiple_task/multiple_task.py --preset paper --network gru --resume
"""

from __future__ import annotations

import argparse
import sys

import torch

from core.training.checkpoint import CheckpointError
from core.training.config import NETWORKS, get_preset
from core.training.trainer import (
    RunExistsError,
    TrainingDiverged,
    accuracy_table,
    build_rule_run,
    plot_curves,
    plot_rule_accuracy,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = argparse.ArgumentParser(
        description="Train MPN / vanilla RNN / GRU networks on a rule set, one run per seed.")
    p.add_argument("--preset", choices=("quick", "paper"), default="paper",
                   help="training preset: 'quick' (minutes on a 2-core CPU) or 'paper' (MPN lab "
                        "setting: hidden 300, batch 128, dt 40, 'everything'; the default)")
    p.add_argument("--network", choices=NETWORKS, default="mpn",
                   help="model: multi-plastic network (default), leaky vanilla RNN or GRU")
    p.add_argument("--rules", default=None,
                   help="rule set or single rule (e.g. everything, reach, go, delaygo); "
                        "default: the preset's")
    p.add_argument("--seed", type=int, nargs="+", default=[0],
                   help="one or several seeds; each trains its own run (default: 0)")
    p.add_argument("--out", default="runs",
                   help="folder holding one sub-folder per run (default: runs)")
    p.add_argument("--steps", type=int, default=None,
                   help="number of training steps (default: the preset's)")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (default: preset's)")
    p.add_argument("--batch", type=int, default=None, help="trials per batch (default: preset's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: preset's)")
    p.add_argument("--l2", type=float, default=None,
                   help="L2 weight penalty, coded in the run name (default: preset's)")
    p.add_argument("--target-accuracy", type=float, default=None,
                   help="stop early once every rule reaches this validation accuracy")
    p.add_argument("--resume", action="store_true",
                   help="continue an existing run from its last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing run of the same name")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1, the fastest for these small sequential "
                        "models on a shared CPU; raise it for big batches on a free machine)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Train one run per seed and print each run's per-rule accuracy."""
    args = parse_args(argv)
    if args.resume and args.overwrite:
        raise SystemExit("error: --resume and --overwrite exclude each other")
    overrides = {"rules": args.rules, "n_steps": args.steps, "hidden": args.hidden,
                 "batch_size": args.batch, "lr": args.lr, "l2": args.l2,
                 "target_accuracy": args.target_accuracy}
    if args.threads < 1:
        raise SystemExit("error: --threads must be >= 1")
    torch.set_num_threads(args.threads)
    try:
        torch.device(args.device)
        config = get_preset(args.preset, args.network).replace(
            **{k: v for k, v in overrides.items() if v is not None})
        if args.rules is not None:
            from core.tasks import resolve_rules

            resolve_rules(args.rules)
    except (ValueError, RuntimeError) as e:
        raise SystemExit(f"error: {e}") from None
    for seed in args.seed:
        try:
            run = build_rule_run(config, seed, args.out, device=args.device,
                                 progress=not args.no_progress)
            result = run.trainer.fit(resume=args.resume, overwrite=args.overwrite)
        except (RunExistsError, CheckpointError, TrainingDiverged, ValueError) as e:
            raise SystemExit(f"error: {e}") from None
        final = result.final_validation
        plot_curves(result.curves, run.run_dir / "curves", title=run.name)
        plot_rule_accuracy(final.accuracy, run.run_dir / "accuracy_per_rule", title=run.name)
        print(f"\n{run.name}: {result.step} steps in {result.seconds:.0f} s "
              f"(stopped: {result.stopped}); outputs in {run.run_dir}")
        print(accuracy_table(final.accuracy))


if __name__ == "__main__":
    sys.exit(main())
