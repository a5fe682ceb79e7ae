"""Train one network on a pro/anti pair of rules and record it at training stages.

The MPN lab's two-task run (``--preset paper``; AllenInstitute/MultiTaskMPN
``two_task/two_task.py``): delaygo + delayanti, MPN with 200 hidden units and a 200-unit input
embedding, fixed η = 1, λ from a 4000 ms M time constant, Adam lr 1e-3, batch 128, 6000 steps,
weight and activity L2 1e-2, ReduceLROnPlateau (×0.5, patience 10), one fixation input, stimuli
in one modality, unit-strength targets, no input noise, 8 directions (see
:data:`core.training.config.TWO_TASK`). ``--preset quick`` learns both rules on a 2-core CPU in
a few minutes. ``--network vanilla|gru`` trains the comparison networks.

At each step of ``--stages`` (and the last step) the network runs on five noise-free test sets
(:func:`core.tasks.long_test_sets`: the rules' test grids with one shared timing, and four
long sets in which the fixation, stimulus, delay or response epoch lasts ``--long-ms``), and
``<run>/stages/<set>/step_XXXXXX.npz`` receives the weights, hidden activity, M at the end of
each epoch and the test trials (:class:`core.training.trainer.StageRecorder`). The run folder
also holds the checkpoint, config, curves and the figures ``curves``, ``accuracy_per_rule``,
``stages_network`` and ``stages_summary`` (normal test set). At the end the accuracy of each
rule is measured on ``--eval-trials`` fresh trials, with its 95 % Wilson interval, printed and
written to ``<run>/evaluation.csv`` (as ``one_task.py`` does; ``python -m core.runs`` reads it).

Examples::

    python two_task/two_task.py --preset quick
    python two_task/two_task.py --preset paper --seed 1 2 3 --device cuda
    python two_task/two_task.py --preset quick --rules reactgo reactanti --network gru
"""

from __future__ import annotations

import argparse

import numpy as np

from core.analysis.two_task import fresh_accuracy
from core.cli import (
    ArgumentParser,
    add_run_arguments,
    cli_main,
    fail,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.fileio import atomic_write_text
from core.plotting import save_figure
from core.plotting.one_task import read_stages, stage_figures
from core.plotting.training import plot_curves, plot_rule_accuracy
from core.tasks import LONG_EPOCH_MS, RULES, long_test_sets
from core.training.config import NETWORKS, get_preset
from core.training.trainer import (
    EVALUATION_FILE,
    StageRecorder,
    accuracy_table,
    build_rule_run,
    score_table_csv,
)

PRESETS = {"paper": "two_task", "quick": "two_task_quick"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(
        description="Train one network on a pro/anti pair of rules, recording training stages.")
    p.add_argument("--preset", choices=PRESETS, default="paper",
                   help="'paper' (the MPN lab's two-task run: hidden 200, 6000 steps of 128; the "
                        "default) or 'quick' (hidden 64, a few minutes on a 2-core CPU)")
    p.add_argument("--rules", nargs=2, choices=RULES, default=None, metavar="RULE",
                   help="the two rules (default: delaygo delayanti)")
    p.add_argument("--network", choices=NETWORKS, default="mpn",
                   help="model: multi-plastic network (default), leaky vanilla RNN or GRU")
    p.add_argument("--seed", type=non_negative_int, nargs="+", default=[0],
                   help="one or several seeds; each trains its own run (default: 0)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: preset's)")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (default: preset's)")
    p.add_argument("--batch", type=int, default=None, help="trials per batch (default: preset's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: preset's)")
    p.add_argument("--l2", type=float, default=None,
                   help="mean-based L2 weight penalty, coded in the run name (default: preset's)")
    p.add_argument("--target-accuracy", type=float, default=None,
                   help="stop early once both rules reach this validation accuracy")
    p.add_argument("--directions", type=positive_int, default=None,
                   help="number of stimulus directions (e.g. 64; default: the preset's 8)")
    p.add_argument("--stages", type=int, nargs="+", default=[0, 1, 32, 1024],
                   help="training steps to record; the last step is always added "
                        "(default: 0 1 32 1024)")
    p.add_argument("--long-ms", type=float, default=LONG_EPOCH_MS,
                   help="duration (ms) of the stretched epoch of the long test sets "
                        "(default: %(default)s)")
    p.add_argument("--eval-trials", type=positive_int, default=512,
                   help="fresh trials per rule of the final accuracy (default: %(default)s)")
    add_run_arguments(p)
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Train one run per seed, recording the chosen stages on the five test sets."""
    args = parse_args(argv)
    if any(s < 0 for s in args.stages) or args.long_ms <= 0:
        fail("--stages must be non-negative and --long-ms positive")
    if args.rules is not None and args.rules[0] == args.rules[1]:
        fail(f"--rules needs two different rules, got {args.rules}")
    set_threads(args.threads)
    resolve_device(args.device)
    config = get_preset(PRESETS[args.preset], args.network)
    overrides = {"rules": args.rules, "n_steps": args.steps, "hidden": args.hidden,
                 "batch_size": args.batch, "lr": args.lr, "l2": args.l2,
                 "target_accuracy": args.target_accuracy}
    config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
    config = config.replace(rules=list(config.rules))
    if args.directions is not None:
        config = config.replace(task={**config.task, "n_directions": args.directions})
    stages = sorted({s for s in args.stages if s <= config.n_steps} | {config.n_steps})
    for seed in args.seed:
        run = build_rule_run(config, seed, args.out, device=args.device,
                             progress=not args.no_progress)
        test_sets = long_test_sets(config.rules, run.task_config, args.long_ms)
        recorders = [StageRecorder(trials, stages, run.run_dir, device=args.device, subfolder=name)
                     for name, trials in test_sets.items()]
        run.trainer.on_step = lambda trainer, recorders=recorders: [r(trainer) for r in recorders]
        result = run.trainer.fit(resume=args.resume, overwrite=args.overwrite)
        plot_curves(result.curves, run.run_dir / "curves", title=run.name)
        plot_rule_accuracy(result.final_validation.accuracy, run.run_dir / "accuracy_per_rule",
                           title=run.name)
        recorded = [s for s in stages if s <= result.step]
        for stem, fig in stage_figures(read_stages(recorders[0].folder, recorded),
                                       title=run.name).items():
            save_figure(fig, run.run_dir / stem)
        table = fresh_accuracy(run.model.cpu(), run.task_config, config.rules,
                               args.eval_trials, np.random.default_rng([seed, 3]))
        atomic_write_text(run.run_dir / EVALUATION_FILE, score_table_csv(table))
        print(f"\n{run.name}: {result.step} steps in {result.seconds:.0f} s "
              f"(stopped: {result.stopped}); stages {recorded} of {list(test_sets)} in "
              f"{run.run_dir / 'stages'}")
        print(accuracy_table(table))


if __name__ == "__main__":
    main()
