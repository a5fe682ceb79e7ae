"""Train a multi-plastic network (or a vanilla RNN / GRU baseline) on a set of rules.

Each seed is one name-coded run under ``--out``
(``{rules}_seed{seed}_{feature}+hidden{hidden}+batch{batch}+angle``) holding ``checkpoint.pt``,
``config.json``, ``curves.csv``, ``validation.csv`` (with each rule's chance level),
``evaluation.csv`` and the figures ``curves.{pdf,png}`` (loss and accuracy against step) and
``accuracy_per_rule.{pdf,png}``. After training the network is scored on ``--eval-trials`` fresh
trials per rule (95 % Wilson interval, chance level; ``evaluation.csv``, the per-rule figure and
the table printed at the end of each run).

Optional training stages, for the analyses over learning (as ``one_task/one_task.py``): at each
step of ``--stages``, at the first validation whose mean accuracy reaches each value of
``--stage-accuracies``, and then at the last step, the network runs on a fixed test set of
``--test-trials`` trials per rule (one epoch timing per rule, as the one-task stage test set) and
``<run>/stages/step_XXXXXX.npz`` receives its weights, hidden activity, M at the end of each
epoch and the test trials (:class:`core.training.trainer.StageRecorder`).

Examples::

    python multiple_task/multiple_task.py --preset quick
    python multiple_task/multiple_task.py --preset paper --seed 749 750 --device cuda
    python multiple_task/multiple_task.py --preset paper --network gru --resume
    python multiple_task/multiple_task.py --preset quick --stages 0 100 --stage-accuracies 0.5 0.9
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from core.cli import (
    ArgumentParser,
    add_run_arguments,
    cli_main,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.plotting.training import plot_curves, plot_rule_scores
from core.tasks import generate_mixed_trials, resolve_rules
from core.training.config import NETWORKS, get_preset
from core.training.trainer import (
    StageRecorder,
    accuracy_table,
    build_rule_run,
    check_run_target,
    rule_run_name,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(
        description="Train MPN / vanilla RNN / GRU networks on a rule set, one run per seed.")
    p.add_argument("--preset", choices=("quick", "paper"), default="paper",
                   help="training preset: 'quick' (minutes on a 2-core CPU) or 'paper' (MPN lab "
                        "setting: hidden 300, batch 128, dt 40, 'everything'; the default)")
    p.add_argument("--network", choices=NETWORKS, default="mpn",
                   help="model: multi-plastic network (default), leaky vanilla RNN or GRU")
    p.add_argument("--rules", default=None,
                   help="rules and rule sets, comma-separated, e.g. 'everything' or 'go,dm1' "
                        "(a list is named with '-' in the run name; default: the preset's)")
    p.add_argument("--seed", type=non_negative_int, nargs="+", default=[0],
                   help="one or several seeds; each trains its own run (default: 0)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="number of training steps, >= 1 (default: the preset's)")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (default: preset's)")
    p.add_argument("--batch", type=int, default=None, help="trials per batch (default: preset's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: preset's)")
    p.add_argument("--l2", type=float, default=None,
                   help="L2 weight penalty, coded in the run name (default: preset's)")
    p.add_argument("--directions", type=positive_int, default=None,
                   help="number of stimulus directions (e.g. 64; default: the task preset's)")
    p.add_argument("--target-accuracy", type=float, default=None,
                   help="stop early once every rule reaches this validation accuracy")
    p.add_argument("--eval-trials", type=positive_int, default=500,
                   help="fresh trials per rule scored after training (drawn from a Generator "
                        "seeded with (seed, 2)); default: 500")
    p.add_argument("--stages", type=int, nargs="+", default=[],
                   help="training steps at which to record a stage; with this flag or "
                        "--stage-accuracies the last step is recorded too (default: none)")
    p.add_argument("--stage-accuracies", type=float, nargs="+", default=[],
                   help="record a stage at the first validation whose mean accuracy reaches "
                        "each of these values (in [0, 1]); default: none")
    p.add_argument("--test-trials", type=positive_int, default=16,
                   help="trials per rule of the stage test set, drawn from a Generator seeded "
                        "with (seed, 3) (default: 16)")
    add_run_arguments(p)
    args = p.parse_args(argv)
    if any(s < 0 for s in args.stages) or any(not 0 <= a <= 1 for a in args.stage_accuracies):
        p.error("--stages must be non-negative and --stage-accuracies in [0, 1]")
    return args


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Train one run per seed and print each run's per-rule accuracy."""
    args = parse_args(argv)
    overrides = {"rules": args.rules, "n_steps": args.steps, "hidden": args.hidden,
                 "batch_size": args.batch, "lr": args.lr, "l2": args.l2,
                 "target_accuracy": args.target_accuracy}
    set_threads(args.threads)
    resolve_device(args.device)
    config = get_preset(args.preset, args.network).replace(
        **{k: v for k, v in overrides.items() if v is not None})
    if args.directions is not None:
        config = config.replace(task={**config.task, "n_directions": args.directions})
    resolve_rules(config.rules)
    for seed in args.seed:  # every run's folder is checked before any is trained
        check_run_target(args.out / rule_run_name(config, seed), args.resume, args.overwrite)
    for seed in args.seed:
        run = build_rule_run(config, seed, args.out, device=args.device,
                             progress=not args.no_progress)
        if args.stages or args.stage_accuracies:
            shared_timing = dataclasses.replace(run.task_config, timing_per_trial=False)
            test = generate_mixed_trials(np.repeat(run.wiring.rules, args.test_trials),
                                         shared_timing, np.random.default_rng([seed, 3]))
            run.trainer.on_step = StageRecorder(
                test, sorted({s for s in args.stages if s <= config.n_steps} | {config.n_steps}),
                run.run_dir, device=args.device, accuracies=args.stage_accuracies)
        result = run.trainer.fit(resume=args.resume, overwrite=args.overwrite)
        scores = run.store_evaluation(args.eval_trials)
        plot_curves(result.curves, run.run_dir / "curves", title=run.name)
        plot_rule_scores(scores, run.run_dir / "accuracy_per_rule", title=run.name)
        print(f"\n{run.name}: {result.step} steps in {result.seconds:.0f} s "
              f"(stopped: {result.stopped}); outputs in {run.run_dir}")
        print(f"accuracy on {args.eval_trials} fresh trials per rule:")
        print(accuracy_table(scores))


if __name__ == "__main__":
    main()
