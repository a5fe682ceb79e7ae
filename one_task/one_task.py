"""Train a network on a single rule and record how W, M and hidden activity evolve.

The MPN lab's one-rule reference setting (``--preset one_task``): delaygo, hidden 200, fixed η,
λ from m_time_scale 400 ms, 3000 steps of 128 trials. At each step listed in ``--stages`` (and at
the last step; the lab's defaults) the network runs on a fixed test set whose trials share one
epoch timing (as the lab's stage test set) and the run folder receives
``stages/step_XXXXXX.npz`` with the weights, the hidden activity ``(T, B, N)``, M at the end of
each trial epoch and the test trials; see :class:`core.training.trainer.StageRecorder`. The run
folder also holds the checkpoint, config, curves and the figures ``curves.{pdf,png}``,
``stages_network.{pdf,png}`` (W, mean |M| and hidden-activity PCA trajectories per stage) and
``stages_summary.{pdf,png}`` (weight change, |M| per epoch, test error and dimensionality against
step), drawn from the stored stages by :func:`core.plotting.one_task.stage_figures` (as
``paper_plot.py --only one_task`` redraws them), and ``evaluation.csv``: the trained network's
accuracy on ``--eval-trials`` fresh trials with a 95 % interval and the chance level (also
printed).

Examples::

    python one_task/one_task.py --preset one_task_quick
    python one_task/one_task.py --rule dmsgo --seed 1 2 3 --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

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
from core.plotting.training import plot_curves
from core.tasks import RULES, generate_trials
from core.training.config import NETWORKS, get_preset
from core.training.trainer import (
    EVALUATION_FILE,
    StageRecorder,
    accuracy_table,
    build_rule_run,
    check_run_target,
    rule_run_name,
    score_table_csv,
)

ONE_TASK_PRESETS = ("one_task", "one_task_quick")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(
        description="Train on one rule and record W, M and hidden activity at training stages.")
    p.add_argument("--preset", choices=ONE_TASK_PRESETS, default="one_task",
                   help="'one_task' (reference: hidden 200, 3000 steps, batch 128; the default) "
                        "or 'one_task_quick' (about a minute on a 2-core CPU)")
    p.add_argument("--rule", choices=RULES, default=None,
                   help="the rule to train on (default: the preset's, delaygo)")
    p.add_argument("--network", choices=NETWORKS, default="mpn", help="model kind (default: mpn)")
    p.add_argument("--seed", type=non_negative_int, nargs="+", default=[0],
                   help="one or several seeds; each trains its own run (default: 0)")
    p.add_argument("--stages", type=int, nargs="+", default=[0, 1, 8, 64, 512],
                   help="training steps at which to record; the last step is always added "
                        "(default: 0 1 8 64 512, as the MPN lab)")
    p.add_argument("--test-trials", type=int, default=50,
                   help="trials in the fixed test set recorded at each stage (default: 50)")
    p.add_argument("--eval-trials", type=positive_int, default=500,
                   help="fresh trials scored after training (drawn from a Generator seeded "
                        "with (seed, 3)); default: 500")
    p.add_argument("--directions", type=positive_int, default=None,
                   help="number of stimulus directions (e.g. 64; default: the task preset's)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="training steps, >= 1 (default: preset's)")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (default: preset's)")
    add_run_arguments(p)
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Train one run per seed, recording the chosen stages."""
    args = parse_args(argv)
    if args.test_trials < 1 or any(s < 0 for s in args.stages):
        fail("--test-trials must be >= 1 and --stages non-negative")
    overrides = {"rules": args.rule, "n_steps": args.steps, "hidden": args.hidden}
    set_threads(args.threads)
    resolve_device(args.device)
    config = get_preset(args.preset, args.network).replace(
        **{k: v for k, v in overrides.items() if v is not None})
    if args.directions is not None:
        config = config.replace(task={**config.task, "n_directions": args.directions})
    stages = sorted({s for s in args.stages if s <= config.n_steps} | {config.n_steps})
    for seed in args.seed:  # every run's folder is checked before any is trained
        check_run_target(args.out / rule_run_name(config, seed), args.resume, args.overwrite)
    for seed in args.seed:
        run = build_rule_run(config, seed, args.out, device=args.device,
                             progress=not args.no_progress)
        shared_timing = dataclasses.replace(run.task_config, timing_per_trial=False)
        test = generate_trials(config.rules, shared_timing, args.test_trials,
                               np.random.default_rng([seed, 2]))
        recorder = StageRecorder(test, stages, run.run_dir, device=args.device)
        run.trainer.on_step = recorder
        result = run.trainer.fit(resume=args.resume, overwrite=args.overwrite)
        plot_curves(result.curves, run.run_dir / "curves", title=run.name)
        for stem, fig in stage_figures(
                read_stages(recorder.folder, [s for s in stages if s <= result.step]),
                title=run.name).items():
            save_figure(fig, run.run_dir / stem)
        print(f"\n{run.name}: {result.step} steps in {result.seconds:.0f} s; stages {stages} "
              f"recorded in {run.run_dir / 'stages'}")
        scores = run.wiring.score_fresh(run.model, args.eval_trials,
                                        np.random.default_rng([seed, 3]))
        atomic_write_text(run.run_dir / EVALUATION_FILE, score_table_csv(scores))
        print(f"accuracy on {args.eval_trials} fresh trials:")
        print(accuracy_table(scores))


if __name__ == "__main__":
    main()
