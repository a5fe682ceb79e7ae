"""MPN (with and without recurrent weights) against a leaky RNN at equal trainable-parameter
counts (the MPN lab's ``flex_task/flex_task.py``).

The leaky RNN with ``--hidden`` units sets the parameter count; each MPN variant gets the hidden
and embedding sizes whose count, taken from the built model, is nearest to it (within 2 %, else
an error; :mod:`core.training.flex`). Both counts are printed and stored in each run's
``config.json`` (``parameters``: ``count``, ``target``). Every network and seed is one
name-coded run under ``--out`` (``+rec`` marks the recurrent MPN), trained by the shared trainer,
then scored on ``--eval-trials`` fresh trials per rule (``evaluation.csv``: accuracy, 95 % Wilson
interval, chance level; :meth:`core.training.trainer.RuleRun.store_evaluation`);
``flex_task_analysis.py`` compares their validation curves and fresh-trial accuracies.

Examples::

    python flex_task/flex_task.py --preset flex_task_quick --seed 0 1 2
    python flex_task/flex_task.py --rules contextdelaydm1 contextdelaydm2 --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses

from core.cli import (
    ArgumentParser,
    add_run_arguments,
    cli_main,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.plotting.training import plot_curves
from core.tasks import get_preset as get_task_preset
from core.tasks import resolve_rules
from core.training.config import FLEX_PRESETS
from core.training.flex import FLEX_NETWORKS, matched_configs
from core.training.naming import run_name
from core.training.trainer import accuracy_table, build_rule_run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(
        description="Train MPN, recurrent MPN and leaky RNN at equal trainable-parameter counts.")
    p.add_argument("--preset", choices=sorted(FLEX_PRESETS), default="flex_task",
                   help="'flex_task' (the MPN lab: RNN hidden 200, lr 1e-4, batch 128, 3000 "
                        "steps; the default) or 'flex_task_quick' (CPU-sized: hidden 48, batch "
                        "32, lr 1e-3, 600 steps)")
    p.add_argument("--rules", nargs="+", default=None,
                   help="rules or one rule-set name (e.g. everything); default: delaydm1 delaydm2")
    p.add_argument("--network", nargs="+", choices=sorted(FLEX_NETWORKS),
                   default=sorted(FLEX_NETWORKS),
                   help="networks to train (default: all): mpn, mpn-rec (MPN with recurrent "
                        "weights), rnn (leaky RNN)")
    p.add_argument("--seed", type=non_negative_int, nargs="+", default=[0],
                   help="one or several seeds; each trains one run per network (default: 0)")
    p.add_argument("--hidden", type=positive_int, default=None,
                   help="hidden units of the leaky RNN, which sets the parameter count "
                        "(default: the preset's)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="training steps (default: the preset's)")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="trials per batch (default: the preset's)")
    p.add_argument("--eval-trials", type=positive_int, default=500,
                   help="fresh trials per rule scored after training (drawn from (seed, 2); "
                        "evaluation.csv; default: %(default)s)")
    add_run_arguments(p, out="runs/flex_task")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Match the sizes, print the counts and train one run per network and seed."""
    args = parse_args(argv)
    set_threads(args.threads)
    resolve_device(args.device)
    single = args.rules[0] if args.rules and len(args.rules) == 1 else None  # a rule-set name
    rules = resolve_rules(single or args.rules or FLEX_PRESETS[args.preset].rules)
    changes = {"n_steps": args.steps, "batch_size": args.batch, "hidden": args.hidden}
    config = FLEX_PRESETS[args.preset].replace(
        rules=rules, **{k: v for k, v in changes.items() if v is not None})
    task = dataclasses.replace(get_task_preset(config.task_preset).with_rules(rules),
                               dt=config.dt, **config.task)
    target, matched = matched_configs(config, task.n_input, task.n_output, args.network)
    for network in args.network:
        variant, count = matched[network]
        print(f"{network}: hidden {variant.hidden}, embedding "
              f"{variant.model.get('n_embed', '-')}: {count} trainable parameters "
              f"(target {target}, {100 * (count - target) / target:+.2f} %)")
    label = single or "_".join(rules)
    for network in args.network:
        variant, count = matched[network]
        extra = "+rec" if network == "mpn-rec" else ""
        for seed in args.seed:
            name = run_name(label, seed, variant.feature, variant.hidden, variant.batch_size,
                            f"+{variant.accuracy}{extra}")
            run = build_rule_run(variant, seed, args.out, device=args.device,
                                 progress=not args.no_progress, name=name,
                                 run_info={"parameters": {"count": count, "target": target,
                                                          "network": network}})
            result = run.trainer.fit(resume=args.resume, overwrite=args.overwrite)
            plot_curves(result.curves, run.run_dir / "curves", title=name)
            scores = run.store_evaluation(args.eval_trials)
            print(f"{name}: {result.step} steps in {result.seconds:.0f} s; accuracy on "
                  f"{args.eval_trials} fresh trials per rule:")
            print(accuracy_table(scores))


if __name__ == "__main__":
    main()
