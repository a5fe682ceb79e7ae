"""Generate a batch of every rule and draw one trial of each (inputs, targets, cost mask, epochs).

Examples::

    python multiple_task/plot_tasks.py
    python multiple_task/plot_tasks.py --preset mpn_lab --rules everything --out runs/tasks_mpn
    python multiple_task/plot_tasks.py --out docs/figures/tasks --overwrite
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.cli import ArgumentParser, DefaultsHelpFormatter, cli_main, fail, non_negative_int
from core.fileio import figure_files, refuse_existing
from core.plotting import apply_style, save_figure
from core.plotting.tasks import plot_trials
from core.tasks import PRESETS, RULE_SETS, accuracy, generate_trials, get_preset, resolve_rules


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(
        description="Draw one trial of every rule of a task preset (PDF + PNG).",
        formatter_class=DefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="yang19",
                   help="task encoding/timing preset")
    p.add_argument("--rules", default="all",
                   help=f"rules and rule sets ({', '.join(sorted(RULE_SETS))}), "
                        "comma-separated")
    p.add_argument("--batch", type=int, default=16, help="trials generated per rule")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the numpy Generator")
    p.add_argument("--noise", action="store_true", help="add the preset's input noise")
    p.add_argument("--cols", type=int, default=5, help="rules per figure row")
    p.add_argument("--out", default="runs/figures/tasks",
                   help="output path without suffix; writes <out>.pdf and <out>.png")
    p.add_argument("--overwrite", action="store_true", help="replace existing figure files")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.batch < 1 or args.cols < 1:
        fail("--batch and --cols must be >= 1")
    rules = resolve_rules(args.rules)
    config = get_preset(args.preset)
    if not set(rules) <= set(config.rules):  # e.g. dm1 under mpn_lab: add rule units for all 20
        config = config.with_rules("all")
    out = Path(args.out)
    refuse_existing(figure_files(out), args.overwrite)
    rng = np.random.default_rng(args.seed)
    batches = []
    for rule in tqdm(rules, desc="rules", leave=False):
        tr = generate_trials(rule, config, args.batch, rng, noise=args.noise)
        if not accuracy(tr.y, tr, config).all():
            fail(f"targets of {rule!r} do not pass the accuracy criterion")
        batches.append(tr)
    apply_style()
    written = save_figure(plot_trials(batches, config, n_cols=args.cols), out)
    print(f"{len(rules)} rules, preset {config.name}: " + ", ".join(map(str, written)))


if __name__ == "__main__":
    main()
