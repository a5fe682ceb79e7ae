"""Time to accuracy: train a multi-task configuration for a wall-clock budget and score it on a
fixed set of fresh trials at fixed times.

Sizes: ``paper`` (hidden 300, the MultiTaskMPN network) and ``small`` (``--hidden``, default 96);
the training regime is a ``core.training.config`` preset (``--preset``: ``fast`` or the lab's
``paper``), on its rule set (``everything``: 15 rules, unless ``--rules``). Every
``--report-every`` minutes of training the network is scored on the same ``--eval-trials`` trials
per rule (drawn once from ``(seed, 3)``; the project's criterion is >= 500): the mean and the
minimum accuracy over rules (with the weakest rule's 95% Wilson interval and its chance level),
steps done and steps/s. The clock counts training only (the scoring is paused out of it and
reported apart); wall and process CPU time are both printed, since a shared machine slows the
wall clock. The run (checkpoint, curves) lands in ``--out/<run name>/`` with
``time_to_accuracy.csv`` and ``time_to_accuracy.{pdf,png}``, and, scored at the end on
``--eval-trials`` fresh trials per rule drawn from ``(seed, 2)`` like ``multiple_task.py``'s,
``evaluation.csv``, ``accuracy_per_rule`` and ``curves``, so the analysis scripts take the run
like any other (``--runs runs/time_to_accuracy``); an existing run is refused unless
``--overwrite``. Goals of issue 19 (dotted in the figure): paper size mean >= 0.95 and every rule
>= 0.85 within 60 minutes; small mean >= 0.90 and every rule >= 0.75 within 10 minutes.

The regime levers (``--batch``, ``--lr``, ``--optimizer``, ``--warmup``, ``--batch-rules``,
``--lr-halve-every``, ``--curriculum``) change the preset for a tuning run; the run's
``config.json`` records the preset's name (``preset``) and the regime it trained with; a step
schedule or schedule-free AdamW replaces the preset's own schedule (``paper``: plateau), with a
note. Scorings of a schedule-free run use its averaged weights, as its validation does.

Example: ``nice python benchmarks/time_to_accuracy.py --size small --minutes 10``; then
``--compare RUN_DIR RUN_DIR --labels fast paper --figure PATH`` draws stored runs side by side.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np

from core.cli import (
    ArgumentParser,
    add_device_argument,
    add_threads_argument,
    cli_main,
    fail,
    non_negative_int,
    positive_int,
    set_threads,
)
from core.fileio import atomic_write_text, figure_files, refuse_existing
from core.plotting.training import plot_curves, plot_rule_scores, plot_time_to_accuracy
from core.training.config import BATCH_RULES, OPTIMIZERS, get_preset
from core.training.trainer import (
    EVALUATION_FILE,
    Trainer,
    accuracy_table,
    build_rule_run,
    check_run_target,
    rule_run_name,
    set_optimizer_mode,
)

GOALS = {"paper": (0.95, 0.85), "small": (0.90, 0.75)}
MULTI_TASK_PRESETS = ("fast", "paper", "quick")  # the multi-task regimes (not one/two-task)
CSV_FILE = "time_to_accuracy.csv"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=sorted(GOALS), default="small",
                   help="paper (hidden 300) or small (--hidden) (default: small)")
    p.add_argument("--hidden", type=int, default=96,
                   help="hidden units of the small size (default: 96; ignored for paper)")
    p.add_argument("--preset", choices=sorted(MULTI_TASK_PRESETS), default="fast",
                   help="training regime (default: fast; 'paper' is the lab's protocol)")
    p.add_argument("--rules", default=None, help="rule set or rule (default: the preset's)")
    tune = p.add_argument_group("regime levers (default: the preset's; lr and the schedule are "
                                "not in the run name: give each variant its own --out)")
    tune.add_argument("--batch", type=positive_int, default=None, help="trials per batch")
    tune.add_argument("--lr", type=float, default=None, help="learning rate")
    tune.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                      help="schedulefree: schedule-free AdamW (Defazio et al. 2024)")
    tune.add_argument("--warmup", type=positive_int, default=None, metavar="STEPS",
                      help="raise the learning rate linearly over the first STEPS steps")
    tune.add_argument("--batch-rules", choices=BATCH_RULES, default=None,
                      help="mixed: each trial's rule drawn; single: one rule per batch")
    tune.add_argument("--lr-halve-every", type=positive_int, default=None, metavar="STEPS",
                      help="halve the learning rate every STEPS steps (a step schedule; it "
                           "replaces the preset's schedule, e.g. paper's plateau)")
    tune.add_argument("--curriculum", nargs="+", default=None, metavar="RULES",
                      help="rule lists entering training one after another, e.g. 'reach' "
                           "'delaydm,dm' (the rest enter last)")
    tune.add_argument("--curriculum-steps", type=positive_int, default=None, metavar="STEPS",
                      help="steps of each curriculum stage (default: 500)")
    p.add_argument("--minutes", type=float, default=10.0,
                   help="training wall-clock budget in minutes (default: 10)")
    p.add_argument("--report-every", type=float, default=None,
                   help="minutes of training between scorings (default: budget / 10)")
    p.add_argument("--eval-trials", type=int, default=500,
                   help="fixed fresh trials per rule for each scoring, and further fresh trials "
                        "per rule of the final evaluation.csv (default: 500)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", type=Path, default=Path("runs/time_to_accuracy"),
                   help="folder of run folders (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing run (or --compare figure)")
    p.add_argument("--compare", type=Path, nargs="+", metavar="RUN_DIR",
                   help="instead of training, draw the stored curves of these benchmark runs on "
                        "one figure (--figure; goals of --size)")
    p.add_argument("--labels", nargs="+", help="legend labels of the --compare runs "
                                               "(default: their folder names)")
    p.add_argument("--figure", type=Path, default=Path("results/time_to_accuracy"),
                   help="figure path of --compare, without suffix (default: %(default)s)")
    add_device_argument(p)
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.minutes <= 0 or (args.report_every is not None and args.report_every <= 0):
        fail("--minutes and --report-every must be > 0")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        fail("--lr must be a finite number > 0")
    if args.eval_trials < 1 or args.hidden < 1:
        fail("--eval-trials and --hidden must be >= 1")
    if args.curriculum_steps is not None and args.curriculum is None:
        fail("--curriculum-steps needs --curriculum")
    if args.labels and not args.compare:
        fail("--labels labels the runs of --compare only")
    if args.optimizer == "schedulefree" and args.lr_halve_every:
        fail("--lr-halve-every does not apply to --optimizer schedulefree (it needs no "
             "schedule)")
    return args


class Clock:
    """``on_step`` of the trainer: scores the network every ``every`` s of training wall time
    (the scoring itself is excluded from the clock), rewrites ``time_to_accuracy.csv`` after
    each scoring, and ends training after ``budget`` s (after at least one step; the clock
    includes building the model and the first compilation)."""

    def __init__(self, run, every: float, budget: float, n_trials: int, seed: int):
        self.run, self.every, self.budget = run, every, budget
        self.n_trials, self.seed = n_trials, seed
        self.rows: list[dict[str, float | int | str]] = []
        self.paused = 0.0
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        self.next_report = 0.0

    def elapsed(self) -> float:
        """Training seconds so far (wall, scoring excluded)."""
        return time.perf_counter() - self.start - self.paused

    def __call__(self, trainer: Trainer) -> None:
        t = self.elapsed()
        if t >= self.next_report or t >= self.budget:
            self.score(trainer, t)
            self.next_report += self.every
        if t >= self.budget and trainer.step > 0:
            trainer.request_stop("time_budget")

    def score(self, trainer: Trainer, t: float) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        set_optimizer_mode(trainer.optimizer, train=False)  # a schedule-free average
        scores = self.run.wiring.score_fresh(trainer.model, self.n_trials,
                                             np.random.default_rng([self.seed, 3]))
        set_optimizer_mode(trainer.optimizer, train=True)
        trainer.model.train()
        acc = {r: s.accuracy for r, s in scores.items()}
        worst = min(acc, key=acc.get)
        lo, hi = scores[worst].interval()
        eval_s = time.perf_counter() - t0
        cpu = time.process_time() - self.cpu_start - sum(float(r["eval_cpu_s"])
                                                        for r in self.rows)
        row = {"minutes": t / 60, "steps": trainer.step,
               "steps_per_s": trainer.step / t if t > 0 else 0.0,
               "train_cpu_s": cpu, "mean_accuracy": float(np.mean(list(acc.values()))),
               "min_accuracy": acc[worst], "min_rule": worst, "min_low": lo, "min_high": hi,
               "min_chance": scores[worst].chance, "eval_s": eval_s,
               "eval_cpu_s": time.process_time() - c0,
               **{f"acc_{r}": a for r, a in acc.items()}}
        self.rows.append(row)
        # written at every scoring, so a run stopped early (Ctrl-C, SIGTERM) keeps its curve
        atomic_write_text(self.run.run_dir / CSV_FILE, rows_csv(self.rows))
        self.paused += time.perf_counter() - t0
        print(f"{row['minutes']:6.1f} min  {trainer.step:6d} steps  {row['steps_per_s']:.2f} "
              f"steps/s  CPU {cpu:7.0f} s  mean {row['mean_accuracy']:.3f}  min "
              f"{acc[worst]:.3f} [{lo:.3f}, {hi:.3f}] ({worst}, chance "
              f"{scores[worst].chance:.2f})  scoring {eval_s:.0f} s", flush=True)


def rows_csv(rows: list[dict]) -> str:
    """CSV text of the scoring rows (columns of the first row)."""
    cols = list(rows[0])
    lines = [",".join(cols)]
    for r in rows:
        lines.append(",".join(f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c])
                              for c in cols))
    return "\n".join(lines) + "\n"


def curve_of(rows: list[dict]) -> tuple[list[float], list[float], list[float]]:
    """(minutes, mean accuracy, weakest-rule accuracy) of the scorings."""
    return ([float(r["minutes"]) for r in rows], [float(r["mean_accuracy"]) for r in rows],
            [float(r["min_accuracy"]) for r in rows])


def compare(run_dirs: list[Path], labels: list[str] | None, size: str, figure: Path,
            overwrite: bool) -> None:
    """Draw the stored curves of several benchmark runs on one figure (no training)."""
    if labels is not None and len(labels) != len(run_dirs):
        fail(f"--labels: {len(labels)} labels for {len(run_dirs)} runs")
    refuse_existing(figure_files(figure), overwrite)
    curves, chance = {}, []
    for i, run_dir in enumerate(run_dirs):
        path = run_dir / CSV_FILE
        if not path.is_file():
            fail(f"{path}: no such file (run benchmarks/time_to_accuracy.py first)")
        with open(path, newline="") as f:
            curves[labels[i] if labels else run_dir.name] = curve_of(list(csv.DictReader(f)))
        if (run_dir / EVALUATION_FILE).is_file():
            with open(run_dir / EVALUATION_FILE, newline="") as f:
                chance.append(np.mean([float(r["chance"]) for r in csv.DictReader(f)]))
    written = plot_time_to_accuracy(curves, figure, goals=GOALS[size],
                                    chance=float(np.mean(chance)) if chance else None)
    print("wrote " + ", ".join(str(p) for p in written))


@cli_main
def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if args.compare:
        compare(args.compare, args.labels, args.size, args.figure, args.overwrite)
        return []
    set_threads(args.threads)
    config = get_preset(args.preset)
    hidden = 300 if args.size == "paper" else args.hidden
    model = {k: v for k, v in config.model.items() if k != "n_embed"}
    levers = {"rules": args.rules, "batch_size": args.batch, "lr": args.lr,
              "batch_rules": args.batch_rules, "optimizer": args.optimizer,
              "warmup_steps": args.warmup, "curriculum": args.curriculum,
              "curriculum_steps": args.curriculum_steps}
    if args.optimizer == "schedulefree" and config.scheduler != "none":
        print(f"note: schedule-free AdamW replaces the {args.preset} preset's "
              f"{config.scheduler} schedule")
        levers["scheduler"] = "none"
    if args.lr_halve_every:
        if config.scheduler != "none":
            print(f"note: --lr-halve-every replaces the {args.preset} preset's "
                  f"{config.scheduler} schedule")
        levers.update(scheduler="step", scheduler_step=args.lr_halve_every, scheduler_gamma=0.5)
    config = config.replace(hidden=hidden, model=model, n_steps=10**9, target_accuracy=None,
                            **{k: v for k, v in levers.items() if v is not None})
    run_dir = args.out / rule_run_name(config, args.seed)
    # a benchmark is not resumed: its clock would not be one run's
    check_run_target(run_dir, False, args.overwrite, resumable=False)
    run = build_rule_run(config, args.seed, args.out, device=args.device,
                         progress=not args.no_progress, run_info={"preset": args.preset})
    budget = args.minutes * 60
    every = (args.report_every * 60) if args.report_every else budget / 10
    clock = Clock(run, every, budget, args.eval_trials, args.seed)
    run.trainer.on_step = clock
    print(f"{run.name}: {args.size} size, preset {args.preset}, {len(run.wiring.rules)} rules, "
          f"batch {config.batch_size} ({config.batch_rules}), {config.optimizer} lr "
          f"{config.lr:g} (scheduler {config.scheduler}, warm-up {config.warmup_steps} steps"
          f"{', curriculum ' + ' > '.join(config.curriculum) if config.curriculum else ''}), "
          f"{args.minutes:g} min budget, {args.eval_trials} "
          f"fixed trials per rule, {args.threads} thread(s)")
    run.trainer.resume_advice = (f"the curve scored so far is in {run.run_dir / CSV_FILE} (a "
                                 "benchmark on a wall clock cannot be resumed: run it again "
                                 "with --overwrite)")
    run.trainer.fit(overwrite=args.overwrite)
    scores = run.store_evaluation(args.eval_trials)
    plot_time_to_accuracy({args.preset: curve_of(clock.rows)}, run.run_dir / "time_to_accuracy",
                          title=run.name, goals=GOALS[args.size],
                          chance=float(np.mean([s.chance for s in scores.values()])))
    plot_curves(run.trainer.curves, run.run_dir / "curves", title=run.name)
    plot_rule_scores(scores, run.run_dir / "accuracy_per_rule", title=run.name)
    print(f"accuracy on {args.eval_trials} fresh trials per rule (evaluation.csv):")
    print(accuracy_table(scores))
    print(f"wrote {run.run_dir / CSV_FILE}")
    return clock.rows


if __name__ == "__main__":
    main()
