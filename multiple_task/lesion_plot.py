"""Draw the lesion results of runs: rules × clusters accuracy-change maps and pruning curves.

Reads ``<runs>/<NAME>/lesion.h5`` (written by ``lesion.py``; refused, with the command that
refreshes it, when it no longer matches the run's checkpoint or analysis) and draws, into
``<runs>/<NAME>/figures/`` (or ``--figures``): ``lesion_hidden_weights``,
``lesion_hidden_activity``, for MPNs ``lesion_input_weights``, ``lesion_pairs`` (mean over rules,
input × hidden clusters), ``lesion_synapses_weights`` / ``lesion_synapses_freeze``, ``pruning``
(with the mean chance level), and the summaries of :func:`core.analysis.lesion.
summarise_lesions`, also printed: ``lesion_size_effect`` (cluster size against the accuracy
drop, with size-matched random lesions), ``lesion_synapses_compare`` (synapse clusters with W
zeroed against M frozen) and ``lesion_additivity`` (pair-lesion drop against the sum of the two
single drops).

Example::

    python multiple_task/lesion_plot.py reach_seed0_L21e4+hidden64+batch32+angle
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core.analysis.lesion import SIZE_FAMILIES, describe_r, summarise_lesions
from core.cli import (
    KNOWN_ERRORS,
    ArgumentParser,
    add_trained_runs_arguments,
    cli_main,
    resolve_trained_runs,
)
from core.plotting import apply_style, save_figure
from core.plotting.multi_task import lesion_figures
from core.provenance import load_current


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_runs_arguments(p)
    return p.parse_args(argv)


def draw(name: str, runs: Path, figures: Path | None) -> tuple[list[Path], dict]:
    """Every lesion figure of one run; returns the written paths and the loaded results."""
    res = load_current(runs / name / "lesion.h5", name,
                       f"python multiple_task/lesion.py {name} --runs {runs} --overwrite")
    folder = figures or runs / name / "figures"
    written: list[Path] = []
    apply_style()
    for stem, fig in lesion_figures(res).items():
        written += save_figure(fig, folder / stem)
    return written, res


@cli_main(errors=(*KNOWN_ERRORS, KeyError))  # KeyError: lesion.h5 lacks an entry
def main(argv: list[str] | None = None) -> None:
    """Draw every named run."""
    args = parse_args(argv)
    resolve_trained_runs(args.runs, args.names,  # every input is checked before any output
                         needs={"lesion.h5": "multiple_task/lesion.py"}, checkpoint=False)
    for name in args.names:
        paths, res = draw(name, Path(args.runs), Path(args.figures) if args.figures else None)
        mean = np.mean(res["pruning"]["accuracy"], axis=0)
        print(f"{name}: {len(paths)} files in {paths[0].parent}")
        print("  mean accuracy after pruning: " + ", ".join(
            f"{100 * f:g}%: {a:.2f}" for f, a in zip(res["pruning"]["fractions"], mean,
                                                     strict=True)))
        summary = summarise_lesions(res)
        for family, size in summary.get("size", {}).items():
            print(f"  {SIZE_FAMILIES[family]}: drop (mean over rules) against cluster size "
                  f"{describe_r(size['r'], len(size['sizes']))}; drop "
                  f"{np.mean(size['drop']):.3f} per cluster, "
                  f"{np.mean(size['random_drop']):.3f} for random lesions of the same sizes")
        if "modes" in summary:
            modes = summary["modes"]
            print(f"  synapse clusters, W zeroed against M frozen: r = {modes['r']:.2f}, "
                  f"mean effect difference (W − M) {modes['mean_difference']:+.3f}")
        if "additivity" in summary:
            add = summary["additivity"]
            print(f"  pair lesions against the sum of their single lesions: r = {add['r']:.2f}, "
                  f"mean pair − sum {add['interaction']:+.3f}")


if __name__ == "__main__":
    main()
