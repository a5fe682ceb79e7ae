"""Jacobs et al. (1991) Table 1: epochs to criterion for mixtures of experts vs backprop.

Each system's learning rate is tuned on separate seeds (grid written beside the table), then
``--seeds`` fresh seeds train at that rate until 88% training accuracy. Systems are ``mix<K>``
(``K`` experts), ``mix<K>coop`` (cooperative objective) and ``bp<H>`` (backprop, ``H`` hidden
units); ``--sigma`` and ``--temperature`` apply to every mixture. Writes ``table1.md``,
``table1.csv``, ``table1_lr_grid.csv``, ``table1_tests.csv``, the test-set confusion matrix of
each system (summed over the evaluation seeds) in ``table1_confusion.csv`` and as the figure
``table1_confusion.{png,pdf}`` under ``--out``; the table's columns also go to ``table1.h5``
(``core.io``, entry ``table1``, the flags as its config) with their provenance
(:mod:`core.provenance`: no checkpoint, the digest of the vowel split as ``sources["data"]``, the
code version), which ``paper_plot.py`` draws from. Existing outputs stop the script before any
work unless ``--overwrite`` (which also replaces an unreadable ``table1.h5``); results computed
from other vowel data are replaced.

    python local_experts/table1.py
    python local_experts/table1.py --systems mix2,mix4,mix16,bp6 --sigma 0.5 --out results/le_s05
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.cli import ArgumentParser, cli_main, non_negative_int, positive_int
from core.fileio import atomic_write_text, refuse_existing
from core.io import save_results
from core.models.local_experts import (
    TABLE1_SYSTEMS,
    ProtocolConfig,
    TrainConfig,
    compare_epochs,
    confusion_matrices,
    parse_system,
    run_table1,
)
from core.plotting import save_figure
from core.plotting.local_experts import plot_confusion_matrices
from core.provenance import claim, record
from core.tasks.vowels import VOWEL_IPA, make_split

PAPER = {  # Jacobs et al. (1991) Table 1 as quoted in summaries of the paper
    "4 experts": "88 / 90 / 1124", "8 experts": "88 / 87 / 1083",
    "backprop 6 hidden": "88 / 90 / 2209", "backprop 12 hidden": "88 / 90 / 2435",
}


RESULTS = "table1.h5"
ENTRY = "table1"


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
    parser = ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/local_experts"),
                        help="output folder (default: results/local_experts)")
    parser.add_argument("--seeds", type=positive_int, default=25,
                        help="evaluation seeds per system (default 25, as in the paper)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="first evaluation seed (default 0)")
    parser.add_argument("--tune-seeds", type=positive_int, default=10,
                        help="seeds per learning rate when tuning (default 10)")
    parser.add_argument("--lrs", default="0.3,1,2,3,5,10,20",
                        help="comma-separated learning-rate grid (default 0.3,1,2,3,5,10,20)")
    parser.add_argument("--max-epochs", type=int, default=3000,
                        help="epochs before a run counts as not converged (default 3000)")
    parser.add_argument("--criterion", type=float, default=0.88,
                        help="training accuracy to reach (default 0.88, the paper's level)")
    parser.add_argument("--systems", default=",".join(TABLE1_SYSTEMS),
                        help="comma-separated systems: mix<K>, mix<K>coop, bp<H> (default: "
                             f"{','.join(TABLE1_SYSTEMS)})")
    parser.add_argument("--sigma", type=float, default=1.0,
                        help="Gaussian scale of the competitive objective (default 1, the paper)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="gate softmax temperature of the mixtures (default 1, the paper)")
    parser.add_argument("--split", choices=("paper", "stratified"), default="paper",
                        help="speaker split: the fixed 50/25 'paper' split or a random "
                             "group-stratified one drawn with --split-seed (default paper)")
    parser.add_argument("--split-seed", type=non_negative_int, default=0,
                        help="seed of a stratified split")
    parser.add_argument("--overwrite", action="store_true", help="replace existing results")
    args = parser.parse_args(argv)

    lrs = tuple(float(v) for v in args.lrs.split(","))
    protocol = ProtocolConfig(
        n_seeds=args.seeds, seed=args.seed, n_tune_seeds=args.tune_seeds,
        tune_seed_start=max(100_000, args.seed + args.seeds), learning_rates=lrs,
        train=TrainConfig(max_epochs=args.max_epochs, criterion=args.criterion))
    configs = [parse_system(key, args.sigma, args.temperature)
               for key in args.systems.split(",") if key.strip()]
    if not configs:
        raise ValueError("--systems names no system")
    if args.split != "stratified" and args.split_seed != 0:
        raise ValueError("--split-seed applies to --split stratified only (the paper split is "
                         "fixed)")
    paths = [args.out / name for name in
             ("table1.md", "table1.csv", "table1_lr_grid.csv", "table1_tests.csv",
              "table1_confusion.csv", "table1_confusion.png", "table1_confusion.pdf")]
    split = make_split(args.split, args.split_seed)
    sources = {"data": split.digest()}
    note = claim(args.out / RESULTS, ENTRY, args.overwrite, sources)
    refuse_existing(paths, args.overwrite or note is not None)
    if note is not None:
        print(note)

    with tqdm(desc="epochs (all systems)", unit="epoch", mininterval=5) as bar:
        summaries, grid = run_table1(configs, split, protocol, bar.update)
    vowels = [VOWEL_IPA[v] for v in split.test.vowels]
    confusion = {s.system: confusion_matrices(s.result.config, s.result.params, split.x_test,
                                              split.y_test, len(vowels)).sum(axis=0)
                 for s in summaries}
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
    lines += ["", "Test-set confusion (fraction of each true vowel, rows, read out as each "
              "vowel, columns; all evaluation seeds):", ""]
    for system, counts in confusion.items():
        fractions = counts / counts.sum(axis=1, keepdims=True)
        lines += [f"| {system} | " + " | ".join(vowels) + " |", "|---" * (len(vowels) + 1) + "|"]
        lines += [f"| {v} | " + " | ".join(f"{f:.2f}" for f in row) + " |"
                  for v, row in zip(vowels, fractions, strict=True)]
        lines.append("")
    confusion_rows = [{"system": system, "true": vowels[i], "predicted": vowels[j],
                       "count": int(counts[i, j])}
                      for system, counts in confusion.items()
                      for i in range(len(vowels)) for j in range(len(vowels))]
    rows = [s.row() for s in summaries]
    save_results(args.out / RESULTS, ENTRY, {key: np.array([r[key] for r in rows])
                                             for key in rows[0]},
                 config={k: v for k, v in vars(args).items() if k not in ("out", "overwrite")},
                 overwrite=True, provenance=record(args.out / RESULTS, None, sources=sources))
    atomic_write_text(paths[0], "\n".join(lines) + "\n")
    atomic_write_text(paths[1], _csv(rows))
    atomic_write_text(paths[2], _csv(grid))
    atomic_write_text(paths[3], _csv(tests) if tests else "")
    atomic_write_text(paths[4], _csv(confusion_rows))
    save_figure(plot_confusion_matrices(list(confusion), np.stack(list(confusion.values())),
                                        vowels), paths[5])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
