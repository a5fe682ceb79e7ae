"""Plot curriculum training curves stored by ``timescales/train.py``: the largest solved N
against training steps for each run, and the N reached at the end per curriculum.

Example::

    python timescales/plot.py --results results/timescales/curricula.h5 \\
        --out results/timescales/curricula
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core.cli import ArgumentParser, DefaultsHelpFormatter, cli_main, fail
from core.fileio import figure_files, refuse_existing
from core.io import list_runs, load_config, load_results
from core.plotting.style import save_figure
from core.plotting.timescales import plot_curricula


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--results", type=Path, default=Path("results/timescales/curricula.h5"),
                   help="HDF5 file written by timescales/train.py")
    p.add_argument("--out", type=Path, default=Path("results/timescales/curricula"),
                   help="figure path without suffix (PDF and PNG are written)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing figure")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.results.is_file():
        fail(f"{args.results}: no such results file (run timescales/train.py first)")
    refuse_existing(figure_files(args.out), args.overwrite)
    runs = {name: (load_results(args.results, name), load_config(args.results, name))
            for name in list_runs(args.results)}
    if not runs:
        fail(f"{args.results} holds no runs")
    fig, final = plot_curricula(runs)
    for path in save_figure(fig, args.out):
        print(path)
    for feature in final:
        print(f"{feature}: N reached {final[feature]} (mean {np.mean(final[feature]):.1f})")


if __name__ == "__main__":
    main()
