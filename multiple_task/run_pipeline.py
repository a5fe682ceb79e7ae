"""One command for every analysis of a trained multi-task run, each step skipped when current.

For each run NAME under ``--runs``, in order: ``multiple_task_analysis.py`` (task variance,
clusters, state space → ``analysis.h5``), ``lesion.py`` (→ ``lesion.h5``), ``lesion_plot.py`` (the
lesion figures), ``preceding_trial_shift.py`` (→ ``preceding_trial_shift.h5``),
``state_space_shift.py`` (→ ``state_space_shift.h5``) and ``fixed_points.py`` (delay fixed points
of the rule pairs the run was trained on → ``fixed_points.h5``; skipped with a message when the
run has none of its ``PAIRS``). A step whose stored result is current — it records the network
now in the run's checkpoint, the current versions of its inputs and the options that change it
(its script's ``result_sources`` of the options the pipeline passes it:
:func:`core.provenance.stale_reason`) — is skipped; the lesion figures are skipped when they were
drawn after ``lesion.h5`` was written (:func:`core.plotting.figure_current`). A killed pipeline
therefore resumes where it stopped (``lesion.py`` itself resumes inside its run from its finished
lesion families), and a run trained again (``--overwrite``, ``--resume``) has every step
recomputed. Extra options of a step go in ``--analysis-args``, ``--lesion-args``,
``--shift-args``, ``--state-space-args`` and ``--fixed-points-args`` (one quoted string each,
joined with ``=``: ``--lesion-args=--no-pairs``); a step asked for with other options than its
stored results' is run again, and with it the steps that use its result (lesion after analysis,
figures after lesion); every step's options are checked before the first step runs, and an
error in them names that step's script. ``--no-progress`` is passed to every step. SIGINT
(Ctrl-C) or SIGTERM stops the running step at once and the pipeline with one ``error: ...`` line
naming that step, exit status 130 or 143; no later step runs, and the same command continues
from that step.

Example::

    python multiple_task/run_pipeline.py reach_seed0_L21e4+hidden64+batch32+angle
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from core.analysis import warn_if_at_chance
from core.cli import (
    KNOWN_ERRORS,
    ArgumentParser,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    fail,
    non_negative_int,
    resolve_trained_runs,
    run_figures,
    stop_on_signals,
)
from core.errors import ResultsFileError, StopSignal
from core.io import list_runs
from core.plotting import figure_current
from core.provenance import stale_reason
from core.training.checkpoint import load_json
from core.training.trainer import CONFIG_FILE

HERE = Path(__file__).resolve().parent
LESION_FIGURE = "pruning"  # the last lesion figure drawn: present and newer → all drawn


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_runs_arguments(p)
    p.add_argument("--protocol", choices=("quick", "lab"), default="quick",
                   help="lesion protocol (lesion.py --protocol; default quick)")
    p.add_argument("--k", type=int, default=None,
                   help="a fixed number of clusters (multiple_task_analysis.py --k; default: "
                        "chosen by the gap-tested silhouette)")
    p.add_argument("--analysis-args", default="",
                   help="further options of multiple_task_analysis.py, e.g. "
                        "--analysis-args='--k-max 10' (with '=': the value starts with a dash)")
    p.add_argument("--lesion-args", default="",
                   help="further options of lesion.py, e.g. --lesion-args=--no-pairs")
    p.add_argument("--shift-args", default="",
                   help="further options of preceding_trial_shift.py, e.g. "
                        "--shift-args='--probes go,anti'")
    p.add_argument("--state-space-args", default="",
                   help="further options of state_space_shift.py, e.g. "
                        "--state-space-args='--trials 20'")
    p.add_argument("--fixed-points-args", default="",
                   help="further options of fixed_points.py, e.g. "
                        "--fixed-points-args='--n-seeds 16'")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of every step (default 0)")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide the steps' progress bars")
    return p.parse_args(argv)


def _script(stem: str) -> ModuleType:
    """The family script ``multiple_task/<stem>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"multiple_task_{stem}", HERE / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results_current(path: Path, name: str, sources: dict[str, str] | None = None) -> bool:
    """Whether ``path`` holds a current entry for ``name`` (:func:`stale_reason`, with the
    provenance ``sources`` the step records, is None)."""
    try:
        return (path.is_file() and name in list_runs(path)
                and stale_reason(path, name, sources) is None)
    except ResultsFileError:
        return False  # the step reports the unreadable file


def step_current(path: Path, name: str, stem: str, argv: list[str]) -> bool:
    """:func:`results_current` for the step of script ``stem`` run with ``argv``: with the
    provenance sources its options record (its ``result_sources``, where it has one), so a
    step asked for with other options than its stored results' is run again."""
    module = _script(stem)
    sources = getattr(module, "result_sources", None)
    return results_current(path, name, sources(module.parse_args(argv)) if sources else None)


def steps(name: str, args: argparse.Namespace
          ) -> list[tuple[str, Callable[[], bool], str, list[str]]]:
    """``(step, is_current(), script stem, argv)`` of one run, in order."""
    run_dir = Path(args.runs) / name
    figures = run_figures(args.figures, run_dir, args.names)
    common = ["--runs", args.runs, "--seed", str(args.seed), "--threads", str(args.threads)]
    shown = ["--figures", str(figures)]
    quiet = ["--no-progress"] if args.no_progress else []
    k = ["--k", str(args.k)] if args.k is not None else []
    analysis = [name, *common, *shown, *quiet, *k, *shlex.split(args.analysis_args)]
    lesion = [name, *common, "--protocol", args.protocol, *quiet, *shlex.split(args.lesion_args)]
    shift = [name, *common, *shown, *quiet, *shlex.split(args.shift_args)]
    state_space = [name, *common, *shown, *quiet, *shlex.split(args.state_space_args)]
    fixed_points = [name, *common, *shown, *quiet, *shlex.split(args.fixed_points_args)]
    return [
        ("analysis",
         lambda: step_current(run_dir / "analysis.h5", name, "multiple_task_analysis", analysis),
         "multiple_task_analysis", analysis),
        ("lesion", lambda: step_current(run_dir / "lesion.h5", name, "lesion", lesion),
         "lesion", lesion),
        ("lesion figures", lambda: figure_current(figures / LESION_FIGURE, run_dir / "lesion.h5"),
         "lesion_plot", [name, "--runs", args.runs, *shown, *quiet]),
        ("preceding trial shift",
         lambda: step_current(run_dir / "preceding_trial_shift.h5", name,
                              "preceding_trial_shift", shift), "preceding_trial_shift", shift),
        ("state space",
         lambda: step_current(run_dir / "state_space_shift.h5", name, "state_space_shift",
                              state_space), "state_space_shift", state_space),
        ("fixed points",
         lambda: step_current(run_dir / "fixed_points.h5", name, "fixed_points", fixed_points),
         "fixed_points", fixed_points),
    ]


@contextmanager
def named_as(stem: str) -> Iterator[None]:
    """Run a step under its own script name (``sys.argv[0]``), so that an error in its options
    reads ``error: lesion.py: ... (see lesion.py --help)``, not ``run_pipeline.py``."""
    saved = sys.argv[0]
    sys.argv[0] = f"{stem}.py"
    try:
        yield
    finally:
        sys.argv[0] = saved


def missing_inputs(step: str, name: str, args: argparse.Namespace) -> str | None:
    """Why ``step`` cannot run on the run ``name`` (one phrase), or None: the fixed points need a
    rule pair of ``fixed_points.PAIRS`` among the run's rules."""
    if step != "fixed points":
        return None
    rules = load_json(Path(args.runs) / name / CONFIG_FILE)["task"]["rules"]
    fixed_points = _script("fixed_points")
    if fixed_points.available_pairs(rules):
        return None
    return (f"the run has none of the rule pairs "
            f"{', '.join(fixed_points.pair_key(p) for p in fixed_points.PAIRS)}")


@cli_main(errors=(*KNOWN_ERRORS, KeyError))
def main(argv: list[str] | None = None) -> None:
    """Run every step of every named run that is not current; SIGINT or SIGTERM stops the step
    at once (its results are written atomically, so nothing half-written stays) and the pipeline
    with one ``error: ...`` line naming the step, exit status 130 or 143."""
    args = parse_args(argv)
    for run_dir in resolve_trained_runs(args.runs, args.names).values():  # before any step
        warn_if_at_chance(run_dir)
    for name in args.names:  # every step's options (--*-args included) before any step
        for _, _, stem, step_argv in steps(name, args):
            with named_as(stem):
                _script(stem).parse_args(step_argv)
    where = "before the first step"
    try:
        with stop_on_signals():
            for name in args.names:
                where = f"before the steps of {name}"
                print(f"{name}:")
                for step, current, stem, step_argv in steps(name, args):
                    where = f"in the {step} step of {name}"
                    reason = missing_inputs(step, name, args)
                    if reason is not None:
                        print(f"  {step}: skipped, {reason}")
                        continue
                    if current():
                        print(f"  {step}: current, skipped")
                        continue
                    print(f"  {step}: python multiple_task/{stem}.py {shlex.join(step_argv)}")
                    start = time.perf_counter()
                    with named_as(stem):
                        _script(stem).main(step_argv)
                    print(f"  {step}: done in {time.perf_counter() - start:.0f} s")
    except StopSignal as stop:
        fail(f"{stop} {where}; no later step ran; run the same command again to continue from "
             "there (current steps are skipped)", 128 + stop.signum)


if __name__ == "__main__":
    main()
