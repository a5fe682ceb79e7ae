"""Draw the lesion results of runs: rules × clusters accuracy-change maps and pruning curves.

Reads ``<runs>/<NAME>/lesion.h5`` (written by ``lesion.py``) and draws, into
``<runs>/<NAME>/figures/`` (or ``--figures``): ``lesion_hidden_weights``,
``lesion_hidden_activity``, for MPNs ``lesion_input_weights``, ``lesion_pairs`` (mean over rules,
input × hidden clusters), ``lesion_synapses_weights`` / ``lesion_synapses_freeze``, and
``pruning``.

Example::

    python multiple_task/lesion_plot.py reach_seed0_L21e4+hidden64+batch32+angle
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from core.io import ResultsFileError, load_results
from core.plotting import apply_style, save_figure
from core.plotting.analysis import plot_lesion_map, plot_pruning_curves
from core.tasks import RULE_LABELS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+", metavar="NAME", help="run names (folders under --runs)")
    p.add_argument("--runs", default="runs", help="folder holding the runs (default: runs)")
    p.add_argument("--figures", default=None,
                   help="figure folder (default: <runs>/<NAME>/figures)")
    return p.parse_args(argv)


def draw(name: str, runs: Path, figures: Path | None) -> tuple[list[Path], dict]:
    """Every lesion figure of one run; returns the written paths and the loaded results."""
    res = load_results(runs / name / "lesion.h5", name)
    folder = figures or runs / name / "figures"
    rules = [RULE_LABELS.get(str(r), str(r)) for r in res["rules"]]
    written: list[Path] = []
    apply_style()
    panels = [("hidden_weights", "hidden_clusters", "Hidden clusters (weights zeroed)"),
              ("hidden_activity", "hidden_clusters", "Hidden clusters (activity silenced)"),
              ("input_weights", "input_clusters", "Input-embedding clusters")]
    for key, cluster_key, title in panels:
        if key in res:
            names = [str(c) for c in res[cluster_key]]
            written += save_figure(plot_lesion_map(res[key]["effect"], rules, names,
                                                   title=title), folder / f"lesion_{key}")
    if "pairs" in res:
        mean = res["pairs"]["effect"].mean(axis=0)  # (input clusters, hidden clusters)
        written += save_figure(plot_lesion_map(
            mean, [f"in {c}" for c in res["input_clusters"]],
            [str(c) for c in res["hidden_clusters"]],
            title="Input × hidden cluster pairs (mean over rules)"), folder / "lesion_pairs")
    if "synapses" in res:
        syn = res["synapses"]
        names = [str(int(c) + 1) for c in syn["clusters"]]
        for mode, what in (("weights", "W zeroed"), ("freeze", "M frozen")):
            written += save_figure(plot_lesion_map(syn[f"{mode}_effect"], rules, names,
                                                   title=f"Synapse clusters ({what})"),
                                   folder / f"lesion_synapses_{mode}")
    pruning = res["pruning"]
    written += save_figure(plot_pruning_curves(pruning["fractions"], pruning["accuracy"], rules,
                                               title="Pruning the smallest weights"),
                           folder / "pruning")
    return written, res


def main(argv: list[str] | None = None) -> None:
    """Draw every named run."""
    args = parse_args(argv)
    for name in args.names:
        try:
            paths, res = draw(name, Path(args.runs),
                              Path(args.figures) if args.figures else None)
        except (ResultsFileError, KeyError, ValueError) as e:
            raise SystemExit(f"error: {' '.join(str(e).split())}") from None
        mean = np.mean(res["pruning"]["accuracy"], axis=0)
        print(f"{name}: {len(paths)} files in {paths[0].parent}")
        print("  mean accuracy after pruning: " + ", ".join(
            f"{100 * f:g}%: {a:.2f}" for f, a in zip(res["pruning"]["fractions"], mean,
                                                     strict=True)))


if __name__ == "__main__":
    sys.exit(main())
