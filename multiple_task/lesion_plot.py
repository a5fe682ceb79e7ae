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
single drops). With ``--figures`` and several names, each run's figures go to
``<figures>/<NAME>/`` (:func:`core.cli.run_figures`).

Figures drawn since ``lesion.h5`` was last written are current and kept (the script says which);
the others, missing or older than the results (``lesion.py`` recomputed them), are drawn from the
stored results (:func:`core.plotting.draw_from_stored`); ``--overwrite`` redraws every figure.
A run whose training accuracy is at chance gets a warning
(:func:`core.analysis.warn_if_at_chance`).

Example::

    python multiple_task/lesion_plot.py reach_seed0_L21e4+hidden64+batch32+angle
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core.analysis import warn_if_at_chance
from core.analysis.lesion import SIZE_FAMILIES, describe_r, summarise_lesions
from core.cli import (
    KNOWN_ERRORS,
    ArgumentParser,
    add_trained_runs_arguments,
    cli_main,
    resolve_trained_runs,
    run_figures,
)
from core.plotting import apply_style, draw_from_stored, save_figure
from core.plotting.multi_task import lesion_figures
from core.provenance import load_current

RESULTS_FILE = "lesion.h5"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_runs_arguments(p)
    p.add_argument("--overwrite", action="store_true",
                   help="redraw every figure, also those drawn since lesion.h5 was written")
    p.add_argument("--no-progress", action="store_true",
                   help="hide progress bars (drawing shows none; accepted like the other "
                        "analysis scripts, e.g. from run_pipeline.py)")
    return p.parse_args(argv)


def draw(name: str, runs: Path, target: Path, overwrite: bool) -> tuple[str, dict]:
    """The lesion figures of one run into ``target``: those not current
    (:func:`core.plotting.figure_current`), or all with ``overwrite``; returns what was done (one
    phrase) and the loaded results."""
    path = runs / name / RESULTS_FILE
    res = load_current(path, name,
                       f"python multiple_task/lesion.py {name} --runs {runs}")
    apply_style()
    if not overwrite:
        return draw_from_stored(lesion_figures(res), target, results=path), res
    figures_drawn = lesion_figures(res)
    for stem, fig in figures_drawn.items():
        save_figure(fig, target / stem)
    return f"drew {', '.join(figures_drawn)} in {target}", res


@cli_main(errors=(*KNOWN_ERRORS, KeyError))  # KeyError: lesion.h5 lacks an entry
def main(argv: list[str] | None = None) -> None:
    """Draw every named run."""
    args = parse_args(argv)
    runs = resolve_trained_runs(args.runs, args.names,  # every input checked before any output
                                needs={RESULTS_FILE: "multiple_task/lesion.py"}, checkpoint=False)
    for run_dir in runs.values():
        warn_if_at_chance(run_dir)
    for name, run_dir in runs.items():
        done, res = draw(name, Path(args.runs), run_figures(args.figures, run_dir, args.names),
                         args.overwrite)
        mean = np.mean(res["pruning"]["accuracy"], axis=0)
        print(f"{name}: {done}")
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
