"""Compare the networks of ``flex_task.py`` (the MPN lab's ``flex_task/flex_task_analysis.py``).

For every run ``NAME``, ``<runs>/<NAME>/flex_task.h5`` receives (keyed by ``NAME``, with
provenance): the validation curve (``steps``, mean accuracy over rules, ``rules`` and
``accuracy`` per rule), the first step at which the mean reached ``--level`` (NaN: never) and the
run's trainable-parameter count and target. Then across the named runs, per network: the curves'
mean and 95 % t-interval over seeds at the steps every seed reached
(:func:`core.analysis.seeds.curve_interval`; ``<figures>/flex_task_curves.{pdf,png}``, as
``paper_plot.py --only flex_task`` draws it) and the steps to ``--level`` (mean ± SEM over the
seeds that reached it; printed and written to ``<figures>/flex_task_speed.md``).

Example::

    python flex_task/flex_task_analysis.py $(ls runs/flex_task) --runs runs/flex_task
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np

from core.analysis import analyse_runs
from core.analysis.transfer import first_step_reaching, network_summary, rules_chance
from core.cli import ArgumentParser, add_trained_runs_arguments, cli_main, folder
from core.fileio import atomic_write_text
from core.plotting.transfer import plot_group_curves
from core.training.checkpoint import load_checkpoint
from core.training.trainer import CHECKPOINT_FILE

RESULTS_FILE = "flex_task.h5"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(description="Validation curves and steps to a level of the "
                                            "flex_task networks, per network across seeds.")
    add_trained_runs_arguments(p, figures=False)
    p.add_argument("--figures", type=folder, default=Path("results/flex_task"),
                   help="folder of the summary figure and table (default: %(default)s)")
    p.add_argument("--level", type=float, default=0.9,
                   help="mean validation accuracy whose first step is reported (default: 0.9)")
    p.add_argument("--overwrite", action="store_true", help="recompute current stored results")
    return p.parse_args(argv)


def analyse(run_dir: Path, level: float) -> tuple[dict, dict]:
    """The curve, steps to ``level`` and parameter counts of one run, and its config."""
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
               "count": config["parameters"]["count"], "target": config["parameters"]["target"]}
    return results, config


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Analyse every named run, then draw and tabulate them by network."""
    args = parse_args(argv)
    if not 0 < args.level <= 1:
        raise ValueError(f"--level must be in (0, 1], got {args.level}")
    stored = analyse_runs(args.runs, args.names, RESULTS_FILE, args.overwrite,
                          partial(analyse, level=args.level))
    groups, table = network_summary(stored)
    plot_group_curves(groups, args.figures / "flex_task_curves",
                      ylabel="mean validation accuracy", chance=rules_chance(stored))
    atomic_write_text(args.figures / "flex_task_speed.md", table + "\n")
    print(table)


if __name__ == "__main__":
    main()
