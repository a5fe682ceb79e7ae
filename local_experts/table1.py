"""Jacobs et al. (1991) Table 1: epochs to criterion for mixtures of experts vs backprop.

Each system's learning rate is tuned on separate seeds (grid written beside the table), then
``--seeds`` fresh seeds train at that rate until 88% training accuracy. Writes ``table1.md``,
``table1.csv``, ``table1_lr_grid.csv`` and ``table1_tests.csv`` under ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from pathlib import Path

from tqdm import tqdm

from core.cli import cli_main
from core.fileio import atomic_write_text, refuse_existing
from core.models.local_experts import ProtocolConfig, TrainConfig, compare_epochs, run_table1
from core.tasks.vowels import make_split
from local_experts.common import SYSTEMS, parse_systems

PAPER = {  # Jacobs et al. (1991) Table 1 as quoted in summaries of the paper
    "4 experts": "88 / 90 / 1124", "8 experts": "88 / 87 / 1083",
    "backprop 6 hidden": "88 / 90 / 2209", "backprop 12 hidden": "88 / 90 / 2435",
}


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _pm(mean: float, sd: float, scale: float = 1.0, digits: int = 0) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean * scale:.{digits}f} ± {sd * scale:.{digits}f}"


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/local_experts"),
                        help="output folder (default: results/local_experts)")
    parser.add_argument("--seeds", type=int, default=25,
                        help="evaluation seeds per system (default 25, as in the paper)")
    parser.add_argument("--seed", type=int, default=0, help="first evaluation seed (default 0)")
    parser.add_argument("--tune-seeds", type=int, default=10,
                        help="seeds per learning rate when tuning (default 10)")
    parser.add_argument("--lrs", default="0.3,1,2,3,5,10,20",
                        help="comma-separated learning-rate grid (default 0.3,1,2,3,5,10,20)")
    parser.add_argument("--max-epochs", type=int, default=3000,
                        help="epochs before a run counts as not converged (default 3000)")
    parser.add_argument("--criterion", type=float, default=0.88,
                        help="training accuracy to reach (default 0.88, the paper's level)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated systems (default: all of {', '.join(SYSTEMS)})")
    parser.add_argument("--split", choices=("paper", "stratified"), default="paper",
                        help="speaker split: the fixed 50/25 'paper' split or a random "
                             "group-stratified one drawn with --split-seed (default paper)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of a stratified split")
    parser.add_argument("--overwrite", action="store_true", help="replace existing results")
    args = parser.parse_args(argv)

    lrs = tuple(float(v) for v in args.lrs.split(","))
    protocol = ProtocolConfig(
        n_seeds=args.seeds, seed=args.seed, n_tune_seeds=args.tune_seeds,
        tune_seed_start=max(100_000, args.seed + args.seeds), learning_rates=lrs,
        train=TrainConfig(max_epochs=args.max_epochs, criterion=args.criterion))
    keys = parse_systems(args.systems)
    paths = [args.out / name for name in
             ("table1.md", "table1.csv", "table1_lr_grid.csv", "table1_tests.csv")]
    refuse_existing(paths, args.overwrite)

    split = make_split(args.split, args.split_seed)
    with tqdm(desc="epochs (all systems)", unit="epoch", mininterval=5) as bar:
        summaries, grid = run_table1([SYSTEMS[k] for k in keys], split, protocol, bar.update)
    by_label = {s.system: s for s in summaries}
    tests = [compare_epochs(by_label[a].result, by_label[b].result)
             for a in by_label if "experts" in a for b in by_label if "backprop" in b]

    lines = [
        f"Split: {args.split}; {len(split.train)} train / {len(split.test)} test tokens; "
        f"criterion {protocol.train.criterion:.0%} training accuracy; {protocol.n_seeds} seeds "
        f"per system; at most {protocol.train.max_epochs} epochs.", "",
        "| System | lr | converged | train % | test % | epochs to criterion (mean ± SD) "
        "| paper: train / test / epochs |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(f"| {s.system} | {s.learning_rate:g} | {s.converged}/{s.runs} | "
                     f"{_pm(s.train_accuracy_mean, s.train_accuracy_sd, 100, 1)} | "
                     f"{_pm(s.test_accuracy_mean, s.test_accuracy_sd, 100, 1)} | "
                     f"{_pm(s.epochs_mean, s.epochs_sd)} | {PAPER.get(s.system, '—')} |")
    lines += ["", "Mann-Whitney U on epochs to criterion (non-converged ranked last):", "",
              "| mixture | backprop | median ratio | U | p |", "|---|---|---|---|---|"]
    lines += [f"| {t['a']} | {t['b']} | {t['median_ratio']:.2f} | {t['u']:.0f} | "
              f"{t['p_value']:.2g} |" for t in tests]
    atomic_write_text(paths[0], "\n".join(lines) + "\n")
    atomic_write_text(paths[1], _csv([s.row() for s in summaries]))
    atomic_write_text(paths[2], _csv(grid))
    atomic_write_text(paths[3], _csv(tests) if tests else "")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
