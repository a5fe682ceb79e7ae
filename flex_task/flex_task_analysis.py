"""Compare the networks of ``flex_task.py`` (the MPN lab's ``flex_task/flex_task_analysis.py``).

For every run ``NAME``, ``<runs>/<NAME>/flex_task.h5`` receives (keyed by ``NAME``, with
provenance): the validation curve (``steps``, mean accuracy over rules, ``rules`` and
``accuracy`` per rule), the first step at which the mean reached ``--level`` (NaN: never), the
run's trainable-parameter count and target, and ``evaluation``: its accuracy on fresh trials per
rule with the 95 % Wilson interval and chance level, from the run's ``evaluation.csv``
(``flex_task.py`` writes it after training; for a run without one, ``--eval-trials`` fresh
trials per rule are scored and the file written, the same trials training would have used:
:func:`core.analysis.fresh_evaluation`). A run whose stored entry is current (computed from the
network now on disk, with the same ``--level``, recorded with it: :mod:`core.provenance`) is not
recomputed: one line says it is reused. A stale one (a run trained again or further, another
``--level``, or stored before it recorded it or its fresh-trial scores) is recomputed, and one
line says why; ``--overwrite`` recomputes every named run (:func:`core.analysis.analyse_runs`).
Then across the named runs, drawn from their stored results, per network: the validation
curves' mean and 95 % t-interval over seeds at the steps every seed reached
(:func:`core.analysis.seeds.curve_interval`; ``<figures>/flex_task_curves.{pdf,png}``), the
fresh-trial accuracy per rule and its mean over rules, each seed and the mean with its 95 %
t-interval over seeds, with chance (``<figures>/flex_task_evaluation.{pdf,png}``; both figures as
``paper_plot.py --only flex_task`` draws them), and a table of the steps to ``--level`` and the
fresh-trial accuracies (mean [95 % t-interval] over seeds; printed and written to
``<figures>/flex_task_speed.md``). The table file is rewritten when its text changes; a figure
is kept while drawn after the table and the runs' results were last written, and drawn again
otherwise or when missing (:func:`core.plotting.transfer.draw_summary`).

Example::

    python flex_task/flex_task_analysis.py $(ls runs/flex_task) --runs runs/flex_task
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np

from core.analysis import analyse_runs, fresh_evaluation
from core.analysis.transfer import (
    FLEX_TASK_SOURCES,
    evaluation_groups,
    first_step_reaching,
    network_summary,
    rules_chance,
    score_arrays,
)
from core.cli import (
    ArgumentParser,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    folder,
    positive_int,
    set_threads,
)
from core.plotting.transfer import draw_summary, group_curves_figure, group_scores_figure
from core.provenance import option_sources
from core.training.checkpoint import load_checkpoint
from core.training.trainer import CHECKPOINT_FILE, EVALUATION_FILE

RESULTS_FILE = "flex_task.h5"
#: The options that change a run's stored results (recorded as a provenance source, beside
#: :data:`~core.analysis.transfer.FLEX_TASK_SOURCES`: results of another ``--level`` are
#: recomputed, not reused). ``--eval-trials`` is not one: the scores are read from the run's
#: ``evaluation.csv`` once it exists.
RESULT_OPTIONS = ("level",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(description="Validation curves and steps to a level of the "
                                            "flex_task networks, per network across seeds.")
    add_trained_runs_arguments(p, figures=False)
    p.add_argument("--figures", type=folder, default=Path("results/flex_task"),
                   help="folder of the summary figure and table (default: %(default)s)")
    p.add_argument("--level", type=float, default=0.9,
                   help="mean validation accuracy whose first step is reported (default: 0.9)")
    p.add_argument("--eval-trials", type=positive_int, default=500,
                   help="fresh trials per rule scored for a run without evaluation.csv (then "
                        "written there, as flex_task.py does after training; default: "
                        "%(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute the stored results of every named run, also current ones "
                        "(without it, current results are reused and stale ones recomputed), "
                        "or replace an unreadable flex_task.h5")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar over the runs")
    add_threads_argument(p)
    return p.parse_args(argv)


def analyse(run_dir: Path, level: float, eval_trials: int) -> tuple[dict, dict]:
    """The curve, steps to ``level``, parameter counts and fresh-trial scores of one run, and its
    config."""
    if not (run_dir / EVALUATION_FILE).is_file():
        print(f"{run_dir.name}: no {EVALUATION_FILE}; scoring {eval_trials} fresh trials per rule")
    payload = load_checkpoint(run_dir / CHECKPOINT_FILE)
    config, curves = payload["config"], payload["curves"]
    if "parameters" not in config:
        raise ValueError(f"{run_dir.name} is not a flex_task run (no parameter count in its "
                         "config)")
    rules = list(curves["val_accuracy"][0])
    per_rule = np.array([[a[r] for r in rules] for a in curves["val_accuracy"]])
    mean = per_rule.mean(axis=1)
    results = {"network": config["parameters"]["network"], "rules": np.asarray(rules),
               "steps": np.asarray(curves["val_step"]), "mean_accuracy": mean,
               "accuracy": per_rule, "level": level,
               "first_step": first_step_reaching(curves["val_step"], mean, [level])[0],
               "count": config["parameters"]["count"], "target": config["parameters"]["target"],
               "evaluation": score_arrays(fresh_evaluation(run_dir, eval_trials))}
    return results, config


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Analyse every named run, then draw and tabulate them by network."""
    args = parse_args(argv)
    set_threads(args.threads)
    if not 0 < args.level <= 1:
        raise ValueError(f"--level must be in (0, 1], got {args.level}")
    stored = analyse_runs(args.runs, args.names, RESULTS_FILE, args.overwrite,
                          partial(analyse, level=args.level, eval_trials=args.eval_trials),
                          progress=not args.no_progress,
                          sources={**FLEX_TASK_SOURCES, **option_sources(args, RESULT_OPTIONS)})
    groups, table = network_summary(stored)
    print(table)
    figures = {"flex_task_curves": group_curves_figure(groups, ylabel="mean validation accuracy",
                                                       chance=rules_chance(stored)),
               "flex_task_evaluation": group_scores_figure(evaluation_groups(stored))}
    print(draw_summary(args.figures, "flex_task_speed.md", table, figures,
                       {name: Path(args.runs) / name / RESULTS_FILE for name in stored}))


if __name__ == "__main__":
    main()
