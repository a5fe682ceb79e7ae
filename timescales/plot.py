"""Plot curriculum training curves stored by ``timescales/train.py``: the largest solved N
against training steps for each run, and the N reached at the end per curriculum.

Example::

    python timescales/plot.py --results results/timescales/curricula.h5 \\
        --out docs/figures/timescales_curricula
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from core.io import ResultsFileError, list_runs, load_config, load_results
from core.plotting.style import apply_style, save_figure
from core.training.naming import parse_run_name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--results", type=Path, default=Path("results/timescales/curricula.h5"),
                   help="HDF5 file written by timescales/train.py")
    p.add_argument("--out", type=Path, default=Path("docs/figures/timescales_curricula"),
                   help="figure path without suffix (PDF and PNG are written)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        runs = {name: (load_results(args.results, name), load_config(args.results, name))
                for name in list_runs(args.results)}
    except ResultsFileError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not runs:
        raise SystemExit(f"error: {args.results} holds no runs")
    apply_style()
    fig, (ax_curve, ax_final) = plt.subplots(1, 2, figsize=(6.0, 2.4),
                                             gridspec_kw={"width_ratios": [2, 1]},
                                             layout="constrained")
    final: dict[str, list[int]] = defaultdict(list)
    colors: dict[str, str] = {}
    for name, (res, config) in sorted(runs.items()):
        feature = parse_run_name(name).feature
        color = colors.setdefault(feature, f"C{len(colors)}")
        reached_n = np.concatenate([[config["curriculum"]["n_start"] - 1], res["reached_n"]])
        reached_step = np.concatenate([[0], res["reached_step"]])
        end = int(res["step"][-1])
        ax_curve.step(np.append(reached_step, end), np.append(reached_n, reached_n[-1]),
                      where="post", color=color, alpha=0.8,
                      label=feature if len(final[feature]) == 0 else None)
        final[feature].append(int(reached_n[-1]))
    ax_curve.set(xlabel="training step", ylabel="largest solved N")
    ax_curve.legend(frameon=False)
    features = list(final)
    for i, feature in enumerate(features):
        values = final[feature]
        ax_final.scatter(np.full(len(values), i), values, color=colors[feature], s=12, zorder=3)
        ax_final.hlines(np.mean(values), i - 0.25, i + 0.25, color="k", lw=1)
    ax_final.set(xticks=range(len(features)), xticklabels=features,
                 xlim=(-0.6, len(features) - 0.4), ylabel="N reached at the end")
    for path in save_figure(fig, args.out):
        print(path)
    for feature in features:
        print(f"{feature}: N reached {final[feature]} (mean {np.mean(final[feature]):.1f})")


if __name__ == "__main__":
    main()
