"""Rebuild every paper figure from stored results, without training or recomputing analyses.

Families (``--only`` picks some) and what each reads:

- ``tasks``: one trial of each of the 20 Yang et al. (2019) rules, generated from ``--seed``
  (needs no stored results).
- ``multi_task``: every run folder ``<runs>/<NAME>/`` of ``multiple_task/multiple_task.py``:
  ``curves.csv`` + ``validation.csv`` (training curves), ``evaluation.csv`` (per-rule accuracy
  on fresh trials with interval and chance; else the last validation), ``analysis.h5``
  (task-variance maps, silhouettes, FTV histograms, PCA, task set), ``lesion.h5`` (lesion maps,
  pruning, size against effect, W zeroed against M frozen, additivity of pair lesions),
  ``preceding_trial_shift.h5``, ``state_space_shift.h5`` (end-of-fixation geometry),
  ``fixed_points.h5`` (delay fixed points of rule pairs on their PCs); and in
  ``<runs>/`` itself, results across runs: ``accuracy_sweep.h5`` (``accuracy_by_l2``),
  ``over_membership_seeds.h5``, ``clustering_seeds.h5`` (rule partitions compared across seeds)
  and ``state_space_shift_runs.h5`` (r across networks), each entry's figures in
  ``multi_task/across_runs/`` (``across_runs/<i>/`` when a file holds several entries, in the
  order of their keys).
- ``one_task``: run folders of ``one_task/one_task.py`` (they hold ``stages/`` and are named by
  one rule): training curves and how W, M and hidden activity change across the stored stages
  (``stages_network``, ``stages_summary``), and the figures of ``two_task_analysis.h5`` when the
  run has one.
- ``two_task``: run folders of ``two_task/two_task.py`` (they hold ``stages/normal/``): training
  curves, per-rule accuracy, the stage figures of the normal test set and every figure of
  ``two_task_analysis.h5`` (``two_task/two_task_analysis.py``: interpolation, attractor
  similarity, subspaces, dPCA, cancellation, modulation, input geometry, pruning).
- ``timescales``: ``<results>/timescales/curricula*.h5``, ``analysis*.h5``, ``ablation*.h5``.
- ``mixture_of_pathways``: ``<results>/mixture_of_pathways*.h5`` (routing maps, interventions,
  LPC against difficulty).
- ``pretraining``: ``<runs>/pretrain/<NAME>/pretraining.h5`` of
  ``pretrain/pretraining_analysis.py`` (stage-2 learning curves, mean and 95 % t-interval over
  seeds per network and pair).
- ``flex_task``: ``<runs>/flex_task/<NAME>/flex_task.h5`` of ``flex_task/flex_task_analysis.py``
  (validation curves, mean and 95 % t-interval over seeds per network at equal parameter counts;
  accuracy on fresh trials per rule, each seed and the mean with its 95 % t-interval, chance).

Every figure of several seeds shows their mean and 95 % Student-t interval, computed by
:func:`core.analysis.seeds.curve_interval`, the aggregation of ``python -m core.runs
--aggregate``.
- ``local_experts``: ``<results>/local_experts/table1.h5`` (epochs to criterion per system) and
  ``<results>/local_experts/figures.h5`` (gate regions, accuracy curves, responsibilities; one
  folder per stored entry; an entry computed from other vowel data than the shipped file's is
  refused as stale).
- ``babyai``: ``<results>/babyai*.h5`` of ``babyai/evaluate.py`` (expert use per grid cell, per
  episode phase, across alpha).

``--only`` also takes figure names (a file stem such as ``pruning``, or ``NAME/pruning``; shell
patterns allowed): only those figures are drawn. ``--list`` draws nothing and prints every figure
of every family (:data:`CATALOGUE`) with the command that produces the results it needs: each
figure the stored results give, and each catalogued figure they do not give marked
``missing``.

Figures go to ``<out>/<family>/...`` as PDF + PNG; existing files are kept unless ``--overwrite``
or the stored results they are drawn from are newer than them.
A family without stored results is skipped with the command that produces them; a stored file
that cannot be drawn is reported in the summary and makes the exit status 1, and so is a stale
one (:mod:`core.provenance`: computed from another network than the run's checkpoint now, or from
inputs recomputed since; the summary names the command that refreshes it). Every figure is
drawn by the same function the family's own script calls (``core.plotting``; training curves by
``core.plotting.training.plot_curves``), so the redrawn figures are identical to the scripts'.

Example::

    python paper_plot.py
    python paper_plot.py --only timescales mixture_of_pathways --out docs/figures/paper --overwrite
    python paper_plot.py --only multi_task pruning 'lesion_*'
    python paper_plot.py --list
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from core.analysis.routing import MOP_SOURCES
from core.analysis.state_space import SHIFT_SOURCES
from core.analysis.transfer import (
    FLEX_TASK_SOURCES,
    evaluation_groups,
    network_summary,
    rules_chance,
    transfer_curve_groups,
)
from core.cli import ArgumentParser, DefaultsHelpFormatter, cli_main, fail, non_negative_int
from core.errors import CheckpointError
from core.fileio import figure_files
from core.io import ResultsFileError, list_runs, load_config, load_provenance
from core.plotting import apply_style, save_figure
from core.plotting.babyai import babyai_figures
from core.plotting.local_experts import plot_epochs_to_criterion, vowel_figures
from core.plotting.multi_task import (
    analysis_figures,
    fixed_point_figures,
    lesion_figures,
    over_membership_seeds_figure,
    preceding_trial_shift_figures,
    seeds_agreement_figures,
    state_space_figures,
    state_space_r_figure,
)
from core.plotting.one_task import read_stages, stage_figures
from core.plotting.routing import routing_figures
from core.plotting.runs import accuracy_sweep_figure
from core.plotting.tasks import plot_trials
from core.plotting.timescales import plot_ablation, plot_curricula, plot_tau_vs_n
from core.plotting.training import plot_curves, plot_rule_accuracy
from core.plotting.transfer import plot_group_curves, plot_group_scores
from core.plotting.two_task import two_task_figures
from core.provenance import load_current
from core.runs import rule_run_family
from core.tasks import chance_level, generate_trials, get_preset, resolve_rules
from core.tasks.vowels import make_split
from core.training.trainer import EVALUATION_FILE, VALIDATION_FILE, Curves

FAMILIES = ("tasks", "multi_task", "one_task", "two_task", "timescales", "mixture_of_pathways",
            "local_experts", "pretraining", "flex_task", "babyai")
#: The command that stores each family's results (printed when a family has none).
PRODUCERS = {
    "multi_task": "python multiple_task/multiple_task.py --preset quick, then "
                  "multiple_task/run_pipeline.py NAME",
    "one_task": "python one_task/one_task.py --preset one_task_quick",
    "two_task": "python two_task/two_task.py --preset quick, then "
                "two_task/two_task_analysis.py NAME",
    "timescales": "python timescales/train.py (then timescales/analyze.py, timescales/ablate.py)",
    "mixture_of_pathways": "python mixture_of_pathways/run_experiment.py and "
                           "difficulty_runs.py, then mixture_of_pathways/analyze.py RUN",
    "local_experts": "python local_experts/table1.py and python local_experts/figures.py",
    "babyai": "python babyai/train.py, then babyai/evaluate.py NAME",
    "pretraining": "python pretrain/pretraining.py --preset quick, then "
                   "pretrain/pretraining_analysis.py NAME... --runs runs/pretrain",
    "flex_task": "python flex_task/flex_task.py --preset flex_task_quick, then "
                 "flex_task/flex_task_analysis.py NAME... --runs runs/flex_task",
}
#: Transfer families: sub-folder of --runs, stored results file, analysis script, figure stem.
TRANSFER_FAMILIES = {
    "pretraining": ("pretrain", "pretraining.h5", "pretrain/pretraining_analysis.py",
                    "transfer_curves"),
    "flex_task": ("flex_task", "flex_task.h5", "flex_task/flex_task_analysis.py",
                  "flex_task_curves"),
}
#: Provenance sources each transfer family's analysis records (None: none).
TRANSFER_SOURCES = {"pretraining": None, "flex_task": FLEX_TASK_SOURCES}
#: Stored results of a rule run: file, figures drawn from it, and the script that computes it.
RUN_RESULTS = (("analysis.h5", analysis_figures, "multiple_task/multiple_task_analysis.py"),
               ("lesion.h5", lesion_figures, "multiple_task/lesion.py"),
               ("preceding_trial_shift.h5", preceding_trial_shift_figures,
                "multiple_task/preceding_trial_shift.py"),
               ("state_space_shift.h5", state_space_figures,
                "multiple_task/state_space_shift.py"),
               ("fixed_points.h5", fixed_point_figures, "multiple_task/fixed_points.py"),
               ("two_task_analysis.h5", two_task_figures, "two_task/two_task_analysis.py"))
#: Provenance sources (:mod:`core.provenance`) a stored result of a rule run must record to be
#: current, by file (the others record none).
RUN_RESULT_SOURCES = {"preceding_trial_shift.h5": SHIFT_SOURCES}


def state_space_runs_figures(entry: dict) -> dict[str, plt.Figure]:
    """``state_space_r_across_runs`` of a ``state_space_shift_runs.h5`` entry."""
    pops = [str(p) for p in entry["populations"]]
    return {"state_space_r_across_runs": state_space_r_figure(
        {p: entry[p]["r"] for p in pops},
        {p: tuple(float(entry[p][k]) for k in ("mean", "low", "high")) for p in pops})}


#: Stored results across the multi-task runs of ``--runs``: file, its figures, the script that
#: computes it, and whether each entry (one set of runs) has its own figures or the figures
#: are drawn from the list of all entries (one per run).
ACROSS_RUNS = (("accuracy_sweep.h5", lambda entries: {"accuracy_by_l2": accuracy_sweep_figure(
                    entries)}, "multiple_task/accuracy_sweep.py", False),
               ("over_membership_seeds.h5", lambda entry: {
                   "over_membership_seeds": over_membership_seeds_figure(entry)},
                "multiple_task/multiple_task_analysis.py", True),
               ("clustering_seeds.h5", seeds_agreement_figures,
                "multiple_task/multiple_task_analysis.py", True),
               ("state_space_shift_runs.h5", state_space_runs_figures,
                "multiple_task/state_space_shift.py", True))

_ANALYSIS = "python multiple_task/multiple_task_analysis.py NAME"
_LESION = "python multiple_task/lesion.py NAME"
_TWO_TASK_ANALYSIS = tuple((f"NAME/{stem}", "python two_task/two_task_analysis.py NAME")
                           for stem in (
    "interpolation", "bifurcation", "epoch_fixed_points", "attractor_similarity", "subspaces_*",
    "dpca_*", "cancellation", "modulation", "input_geometry", "pruning"))
#: Every figure of every family: ``(name, command producing the results it is drawn from)``;
#: a name is a shell pattern of the figure's path under ``<out>/<family>/``, ``NAME`` standing
#: for a run (or stored entry) folder. ``--list`` marks those without stored results missing.
CATALOGUE: dict[str, tuple[tuple[str, str], ...]] = {
    "tasks": (("tasks_yang19*", "none: generated from --seed"),),
    "multi_task": (
        ("NAME/curves", "python multiple_task/multiple_task.py --preset quick"),
        ("NAME/accuracy_per_rule", "python multiple_task/multiple_task.py --preset quick"),
        *((f"NAME/{stem}", _ANALYSIS) for stem in (
            "task_variance_*", "silhouette_*", "clustering_agreement_input",
            "clustering_agreement_hidden", "ftv_histograms", "pca_trajectories", "task_set",
            "over_membership")),
        *((f"NAME/{stem}", _LESION) for stem in (
            "lesion_hidden_weights", "lesion_hidden_activity", "lesion_input_weights",
            "lesion_pairs", "lesion_synapses_weights", "lesion_synapses_freeze",
            "lesion_synapses_compare", "lesion_size_effect", "lesion_additivity", "pruning")),
        *((f"NAME/{stem}", "python multiple_task/preceding_trial_shift.py NAME") for stem in (
            "preceding_trial_shift", "preceding_trial_shift_accuracy")),
        *((f"NAME/{stem}", "python multiple_task/state_space_shift.py NAME") for stem in (
            "state_space_rule", "state_space_category", "state_space_distance_angle")),
        ("NAME/fixed_points_*", "python multiple_task/fixed_points.py NAME"),
        ("accuracy_by_l2", "python multiple_task/accuracy_sweep.py DIR"),
        ("across_runs*/over_membership_seeds",
         "python multiple_task/multiple_task_analysis.py NAME NAME..."),
        ("across_runs*/clustering_agreement_seeds_*",
         "python multiple_task/multiple_task_analysis.py NAME NAME..."),
        ("across_runs*/state_space_r_across_runs",
         "python multiple_task/state_space_shift.py NAME NAME...")),
    "one_task": (*((f"NAME/{stem}", PRODUCERS["one_task"]) for stem in (
        "curves", "stages_network", "stages_summary")), *_TWO_TASK_ANALYSIS),
    "two_task": (*((f"NAME/{stem}", "python two_task/two_task.py") for stem in (
        "curves", "accuracy_per_rule", "stages_network", "stages_summary")),
        *_TWO_TASK_ANALYSIS),
    "timescales": (("curricula*", "python timescales/train.py"),
                   ("tau_vs_N*", "python timescales/analyze.py"),
                   ("ablation*", "python timescales/ablate.py")),
    "mixture_of_pathways": tuple((f"NAME/mop_{stem}", PRODUCERS["mixture_of_pathways"])
                                 for stem in ("routing_maps", "interventions",
                                              "lpc_vs_difficulty")),
    "local_experts": (("table1_epochs", "python local_experts/table1.py"),
                      *((f"NAME/local_experts_{stem}", "python local_experts/figures.py")
                        for stem in ("regions", "curves", "responsibility"))),
    "pretraining": (("transfer_curves", PRODUCERS["pretraining"]),),
    "flex_task": (("flex_task_curves", PRODUCERS["flex_task"]),
                  ("flex_task_evaluation", PRODUCERS["flex_task"])),
    "babyai": tuple((f"NAME/*_{stem}", PRODUCERS["babyai"]) for stem in ("cells", "phase",
                                                                          "alpha")),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--runs", type=Path, default=Path("runs"),
                   help="folder of training runs (one sub-folder per run)")
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="folder of stored results (timescales/, mixture_of_pathways.h5, "
                        "local_experts/)")
    p.add_argument("--out", type=Path, default=Path("results/paper_figures"),
                   help="figure folder (one sub-folder per family)")
    p.add_argument("--only", nargs="+", default=[], metavar="FAMILY|FIGURE",
                   help=f"families to draw, among: {', '.join(FAMILIES)}; and/or figure names "
                        "(file stem or NAME/stem, shell patterns allowed) to draw only those "
                        "(default: every figure of every family)")
    p.add_argument("--list", action="store_true",
                   help="draw nothing; print every figure with the command that produces the "
                        "results it needs")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the task-suite trials")
    p.add_argument("--task-rules", default="all",
                   help="rules and rule sets, comma-separated, of the task-suite figure")
    p.add_argument("--overwrite", action="store_true", help="replace existing figure files")
    return p.parse_args(argv)


@dataclass
class FigureLog:
    """Saves figures under ``out`` and records one row ``(family, figure path without suffix,
    status)`` per figure. An existing figure is replaced only with ``overwrite`` or when its
    ``source`` (the stored results it is drawn from) is newer than it."""

    out: Path
    overwrite: bool = False
    rows: list[tuple[str, Path, str]] = field(default_factory=list)
    names: tuple[str, ...] = ()  # figure names (patterns) to draw; () = every figure
    listing: bool = False  # record the producer of each figure instead of saving it
    matched: set[str] = field(default_factory=set)  # the names that matched a figure

    def _target(self, family: str, stem: str, source: Path | None,
                command: str | None = None) -> tuple[Path | None, str]:
        target = self.out / family / stem
        if not self.wanted(stem):
            return None, ""
        if self.listing:
            self.rows.append((family, target, command or producer(family, source)))
            return None, ""
        existing = [p for p in figure_files(target) if p.exists()]
        if not existing or self.overwrite:
            return target, "written"
        if source is not None and source.stat().st_mtime_ns > min(
                p.stat().st_mtime_ns for p in existing):
            return target, f"written (replaces a figure older than {source})"
        self.rows.append((family, target, "kept (exists; --overwrite replaces it)"))
        return None, ""

    def wanted(self, stem: str) -> bool:
        """Whether the figure ``stem`` (or a catalogue pattern) is among ``names`` (recorded in
        ``matched``); every figure is when no name is given."""
        if not self.names:
            return True
        hits = {n for n in self.names if fnmatch(stem, n) or fnmatch(Path(stem).name, n)}
        self.matched |= hits
        return bool(hits)

    def figure(self, family: str, stem: str, fig: plt.Figure, source: Path | None = None,
               command: str | None = None) -> None:
        """Save ``fig`` as ``<out>/<family>/<stem>.{pdf,png}`` (``command``: what produces
        ``source``, listed instead of the default :func:`producer`)."""
        target, status = self._target(family, stem, source, command)
        if target is None:
            plt.close(fig)
            return
        save_figure(fig, target)
        self.rows.append((family, target, status))

    def figures(self, family: str, folder: str, figs: dict[str, plt.Figure],
                source: Path | None = None, command: str | None = None) -> None:
        """Save every ``{stem: figure}`` under ``<family>/<folder>/``."""
        for stem, fig in figs.items():
            self.figure(family, f"{folder}/{stem}" if folder else stem, fig, source, command)

    def saved_by(self, family: str, stem: str, save: Callable[[Path], object],
                 source: Path | None = None) -> None:
        """Let ``save(path)`` write the figure (for helpers that save themselves)."""
        target, status = self._target(family, stem, source)
        if target is not None:
            save(target)
            self.rows.append((family, target, status))

    def failed(self, family: str, source: Path, error: Exception) -> None:
        """Record a stored result that could not be drawn (one-line reason)."""
        self.rows.append((family, source, "failed: " + " ".join(str(error).split())))


def producer(family: str, source: Path | None) -> str:
    """The command that stores ``source``, the results a figure of ``family`` is drawn from."""
    for filename, _, script in RUN_RESULTS:
        if source is not None and source.name == filename:
            return f"python {script} {source.parent.name} --runs {source.parent.parent}"
    return PRODUCERS.get(family, "none: generated from --seed")


def read_curves(run_dir: Path) -> Curves:
    """Training curves of a run from its ``curves.csv`` and ``validation.csv``."""
    curves = Curves()
    with open(run_dir / "curves.csv", newline="") as f:
        for row in csv.DictReader(f):
            curves.step.append(int(row["step"]))
            curves.loss.append(float(row["loss"]))
            curves.lr.append(float(row["lr"]))
    validation = run_dir / "validation.csv"
    if validation.is_file():
        with open(validation, newline="") as f:
            for row in csv.DictReader(f):
                curves.val_step.append(int(row["step"]))
                curves.val_loss.append(float(row["loss"]))
                rules = [k for k in row if k not in ("step", "loss", "mean_accuracy",
                                                     "mean_chance") and not k.endswith("_chance")]
                curves.val_accuracy.append({k: float(row[k]) for k in rules})
                curves.val_chance = {k: float(row[f"{k}_chance"]) for k in rules
                                     if f"{k}_chance" in row}
    return curves


def accuracy_source(run_dir: Path) -> Path:
    """The file a run's per-rule accuracy figure is drawn from: ``evaluation.csv`` (fresh trials),
    else ``validation.csv`` for runs stored without one."""
    evaluation = run_dir / EVALUATION_FILE
    return evaluation if evaluation.is_file() else run_dir / VALIDATION_FILE


def plot_stored_rule_accuracy(source: Path, curves: Curves, path: Path, title: str) -> None:
    """The per-rule accuracy figure from ``source`` (:func:`accuracy_source`): the fresh-trial
    scores of ``evaluation.csv`` (as ``multiple_task.py`` draws it), or the last validation of
    ``curves``."""
    if source.name != EVALUATION_FILE:
        plot_rule_accuracy(curves.val_accuracy[-1], path, title=title, chance=curves.val_chance)
        return
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    plot_rule_accuracy({r["rule"]: float(r["accuracy"]) for r in rows}, path, title=title,
                       chance={r["rule"]: float(r["chance"]) for r in rows},
                       interval={r["rule"]: (float(r["ci_low"]), float(r["ci_high"]))
                                 for r in rows})


def rule_runs(runs: Path) -> Iterable[tuple[str, Path]]:
    """``(family, run folder)`` of every rule-trained run directly under ``runs``: two-task runs
    hold ``stages/normal/``, one-task runs ``stages/`` and are named by one rule (a multi-task run
    with stages is named by several rules or a rule set)."""
    if not runs.is_dir():
        return []

    def family(d: Path) -> str:
        kind = rule_run_family(d)
        return "multi_task" if kind == "multiple_task" else kind

    return [(family(d), d) for d in sorted(runs.iterdir())
            if (d / "config.json").is_file() and (d / "curves.csv").is_file()]


def draw_tasks(args: argparse.Namespace, log: FigureLog) -> bool:
    """One trial of each Yang et al. (2019) rule of ``args.task_rules``, noise-free, from
    ``args.seed`` (as ``multiple_task/plot_tasks.py`` draws it)."""
    config = get_preset("yang19")
    rng = np.random.default_rng(args.seed)
    batches = [generate_trials(rule, config, 16, rng, noise=False)
               for rule in resolve_rules(args.task_rules)]
    stem = "tasks_yang19" if args.task_rules == "all" else \
        "tasks_yang19_" + "-".join(r.strip() for r in args.task_rules.split(","))
    log.figure("tasks", stem, plot_trials(batches, config))
    return True


def draw_rule_runs(args: argparse.Namespace, log: FigureLog, family: str) -> bool:
    """Training curves, per-rule accuracy (multi-task, two-task), stage figures (one-task,
    two-task) and stored analyses of every run of ``family``."""
    found = False
    for fam, run_dir in rule_runs(args.runs):
        if fam != family:
            continue
        found = True
        name = run_dir.name
        try:
            curves = read_curves(run_dir)
        except (OSError, KeyError, ValueError) as exc:
            log.failed(family, run_dir / "curves.csv", exc)
            continue
        log.saved_by(family, f"{name}/curves", partial(plot_curves, curves, title=name),
                     run_dir / "curves.csv")
        if family in ("multi_task", "two_task") and curves.val_accuracy:
            source = accuracy_source(run_dir)
            log.saved_by(family, f"{name}/accuracy_per_rule",
                         partial(plot_stored_rule_accuracy, source, curves, title=name),
                         source)
        if family in ("one_task", "two_task"):
            folder = run_dir / "stages" / ("normal" if family == "two_task" else "")
            try:
                log.figures(family, name, stage_figures(read_stages(folder), name), folder)
            except (OSError, KeyError, ValueError) as exc:
                log.failed(family, folder, exc)
        for filename, figures_of, script in RUN_RESULTS:
            path = run_dir / filename
            if path.is_file():
                refresh = f"python {script} {name} --runs {args.runs} --overwrite"
                try:
                    stored = load_current(path, name, refresh,
                                          sources=RUN_RESULT_SOURCES.get(filename))
                    log.figures(family, name, figures_of(stored), path)
                except (ResultsFileError, CheckpointError, KeyError, ValueError) as exc:
                    log.failed(family, path, exc)
    return found


def draw_across_runs(args: argparse.Namespace, log: FigureLog) -> bool:
    """The multi-task figures of results stored across the runs of ``args.runs``
    (:data:`ACROSS_RUNS`); entries not current are refused with the command that refreshes
    them."""
    found = False
    for filename, figures_of, script, per_entry in ACROSS_RUNS:
        path = args.runs / filename
        if not path.is_file():
            continue
        found = True
        try:
            keys = list_runs(path)
            if not per_entry:
                command = f"python {script} {args.runs}"
                entries = [load_current(path, k, command) for k in keys]
                log.figures("multi_task", "", figures_of(entries), path, command)
                continue
            for i, key in enumerate(keys):
                command = f"python {script} {' '.join(key.split(','))} --runs {args.runs}"
                folder = "across_runs" if len(keys) == 1 else f"across_runs/{i + 1}"
                entry = load_current(path, key, f"{command} --overwrite")
                log.figures("multi_task", folder, figures_of(entry), path, command)
        except (ResultsFileError, CheckpointError, KeyError, ValueError) as exc:
            log.failed("multi_task", path, exc)
    return found


def draw_timescales(args: argparse.Namespace, log: FigureLog) -> bool:
    """Curricula, τ against N and ablation figures of every stored timescales file."""
    folder = args.results / "timescales"
    files = sorted(folder.glob("*.h5")) if folder.is_dir() else []
    found = False
    load = partial(load_current, refresh=PRODUCERS["timescales"])
    for path in files:
        try:
            names = list_runs(path)
            if path.stem.startswith("curricula"):
                fig, _ = plot_curricula({n: (load(path, n), load_config(path, n))
                                         for n in names})
                log.figure("timescales", path.stem, fig, path)
            elif path.stem.startswith("analysis"):
                variance = float(load_config(path, names[0]).get("variance", 0.9))
                log.figure("timescales", path.stem.replace("analysis", "tau_vs_N"),
                           plot_tau_vs_n({n: load(path, n) for n in names}, variance), path)
            elif path.stem.startswith("ablation"):
                for n in names:
                    log.figure("timescales", f"{path.stem}_{n}",
                               plot_ablation(load(path, n), title=n), path)
            else:
                continue
            found = found or bool(names)
        except (ResultsFileError, CheckpointError, KeyError, ValueError, IndexError) as exc:
            log.failed("timescales", path, exc)
            found = True
    return found


def mop_refresh(path: Path, name: str) -> str:
    """The ``analyze.py`` command that recomputes the MoP entry ``name`` of ``path``, with the
    run and difficulty-run folders its provenance records (the generic producer without one)."""
    stored = load_provenance(path, name)
    if stored is None or stored.get("checkpoint") is None:
        return PRODUCERS["mixture_of_pathways"]

    def run_of(checkpoint: str) -> str:
        return os.path.dirname(os.path.normpath(path.parent / checkpoint))

    command = f"python mixture_of_pathways/analyze.py {run_of(stored['checkpoint'])} " \
              f"--results {path}"
    difficulty = {os.path.dirname(run_of(n["checkpoint"])) for n in stored.get("networks", [])}
    if len(difficulty) == 1:
        command += f" --difficulty-runs {difficulty.pop()}"
    return command


def draw_mixture_of_pathways(args: argparse.Namespace, log: FigureLog) -> bool:
    """Routing maps, interventions and LPC against difficulty of every stored MoP run; entries
    not current (:mod:`core.provenance`) are refused with the command that refreshes them."""
    found = False
    for path in sorted(args.results.glob("mixture_of_pathways*.h5")):
        try:
            names = list_runs(path)
        except ResultsFileError as exc:
            log.failed("mixture_of_pathways", path, exc)
            found = True
            continue
        for name in names:  # a stale run does not keep the others from being drawn
            found = True
            try:
                layers = load_config(path, name)["model"]["layers"]
                results = load_current(path, name, mop_refresh(path, name), MOP_SOURCES)
                log.figures("mixture_of_pathways", name, routing_figures(results, layers), path)
            except (ResultsFileError, CheckpointError, KeyError, ValueError) as exc:
                log.failed("mixture_of_pathways", path, exc)
    return found


#: The config keys of a ``local_experts/figures.py`` entry that are flags of the script.
FIGURES_FLAGS = ("seed", "seeds", "epochs", "lr_mixture", "lr_backprop")


def flags(config: dict, keys: Iterable[str] | None = None) -> str:
    """The command-line flags (``--key value ``, each followed by a space) that a script's stored
    ``config`` records, of ``keys`` (None: every key)."""
    return "".join(f"--{k.replace('_', '-')} {config[k]} " for k in (keys or config)
                   if k in config)


def draw_local_experts(args: argparse.Namespace, log: FigureLog) -> bool:
    """Epochs to criterion per system from the stored Table 1, and the gate-region, accuracy-curve
    and responsibility figures of every entry of the stored ``figures.h5``."""
    folder = args.results / "local_experts"
    path = folder / "table1.h5"
    found = False
    if path.is_file() or (folder / "table1.csv").is_file():
        found = True
        try:
            config = load_config(path, "table1") if path.is_file() else {}
            refresh = f"python local_experts/table1.py --out {folder} {flags(config)}--overwrite"
            split = make_split(config.get("split", "paper"), config.get("split_seed", 0))
            column = load_current(path, "table1", refresh, sources={"data": split.digest()})
            log.figure("local_experts", "table1_epochs", plot_epochs_to_criterion(
                [str(s) for s in column["system"]], column["epochs_mean"], column["epochs_sd"],
                column["converged"], column["runs"], column["test_accuracy_mean"]), path)
        except (ResultsFileError, KeyError, ValueError) as exc:
            log.failed("local_experts", path, exc)
    path = folder / "figures.h5"
    if path.is_file():
        found = True
        try:
            for name in list_runs(path):
                config = load_config(path, name)
                split = make_split(config.get("split", "paper"))
                refresh = (f"python local_experts/figures.py --results {path} "
                           f"{flags(config, FIGURES_FLAGS)}--overwrite")
                results = load_current(path, name, refresh, sources={"data": split.digest()})
                log.figures("local_experts", name, vowel_figures(results), path)
        except (ResultsFileError, CheckpointError, KeyError, ValueError) as exc:
            log.failed("local_experts", path, exc)
    return found


def draw_babyai(args: argparse.Namespace, log: FigureLog) -> bool:
    """Expert use per grid cell, per episode phase and across alpha of the stored BabyAI runs."""
    found = False
    for path in sorted(args.results.glob("babyai*.h5")):
        found = True
        try:
            results = {name: load_current(path, name, PRODUCERS["babyai"])
                       for name in list_runs(path)}
            log.figures("babyai", path.stem, babyai_figures(results))
        except (ResultsFileError, KeyError, ValueError) as exc:
            log.failed("babyai", path, exc)
    return found


def transfer_groups(family: str, stored: dict[str, dict]
                    ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
    """The curves of a transfer family's figure from its stored results (run name -> results):
    per group (network and pretraining pair; network), ``(steps, mean, low, high, n_seeds)``, the
    mean and 95 % t-interval over seeds of the validation curves at the steps every seed reached
    (:func:`core.analysis.seeds.curve_interval`, as ``python -m core.runs --aggregate`` computes
    it from the run folders)."""
    if family == "pretraining":
        return transfer_curve_groups(stored)
    return network_summary(stored)[0]


def draw_transfer(args: argparse.Namespace, log: FigureLog, family: str) -> bool:
    """The learning-curve figure (:func:`transfer_groups`) of every stored run of a transfer
    family (``pretraining`` or ``flex_task``), and for ``flex_task`` the fresh-trial accuracy
    figure (:func:`core.analysis.transfer.evaluation_groups`), as its analysis script draws
    them."""
    sub, filename, script, stem = TRANSFER_FAMILIES[family]
    folder = args.runs / sub
    paths = sorted(folder.glob(f"*/{filename}")) if folder.is_dir() else []
    stored = {}
    for path in paths:
        name = path.parent.name
        refresh = f"python {script} {name} --runs {folder} --overwrite"
        try:
            stored[name] = load_current(path, name, refresh, sources=TRANSFER_SOURCES[family])
        except (ResultsFileError, CheckpointError, KeyError, ValueError) as exc:
            log.failed(family, path, exc)
    if stored:
        groups = transfer_groups(family, stored)
        if family == "pretraining":
            draw = partial(plot_group_curves, groups, ylabel="delayanti validation accuracy",
                           chance=chance_level("delayanti", get_preset("mpn_lab")))
        else:
            draw = partial(plot_group_curves, groups, ylabel="mean validation accuracy",
                           chance=rules_chance(stored))
        newest = max(paths, key=lambda p: p.stat().st_mtime_ns)
        log.saved_by(family, stem, draw, newest)
        if family == "flex_task":
            log.saved_by(family, "flex_task_evaluation",
                         partial(plot_group_scores, evaluation_groups(stored)), newest)
    return bool(paths)


DRAW: dict[str, Callable[[argparse.Namespace, FigureLog], bool]] = {
    "tasks": draw_tasks,
    "multi_task": lambda a, log: draw_rule_runs(a, log, "multi_task") | draw_across_runs(a, log),
    "one_task": lambda a, log: draw_rule_runs(a, log, "one_task"),
    "two_task": lambda a, log: draw_rule_runs(a, log, "two_task"),
    "timescales": draw_timescales,
    "mixture_of_pathways": draw_mixture_of_pathways,
    "local_experts": draw_local_experts,
    "babyai": draw_babyai,
    "pretraining": lambda a, log: draw_transfer(a, log, "pretraining"),
    "flex_task": lambda a, log: draw_transfer(a, log, "flex_task"),
}


def missing_rows(log: FigureLog, families: list[str]) -> list[tuple[str, Path, str]]:
    """``(family, figure name, "missing: <command>")`` for every :data:`CATALOGUE` entry of
    ``families`` (among the names asked for) that no listed figure of ``log`` matches."""
    rows = []
    for family in families:
        listed = [path.relative_to(log.out / family).as_posix() for fam, path, _ in log.rows
                  if fam == family and path.is_relative_to(log.out / family)]
        for name, command in CATALOGUE[family]:
            pattern = name.replace("NAME", "*")
            if log.wanted(name) and not any(fnmatch(stem, pattern) for stem in listed):
                rows.append((family, log.out / family / name, f"missing: {command}"))
    return rows


def summary(rows: list[tuple[str, Path, str]]) -> str:
    """Markdown table of the figures handled."""
    lines = ["| family | figure | status |", "|---|---|---|"]
    lines += [f"| {family} | {path} | {status} |" for family, path, status in rows]
    return "\n".join(lines)


@cli_main
def main(argv: list[str] | None = None) -> int:
    """Draw the chosen families; return 1 if a stored result could not be drawn."""
    args = parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        fail(f"--out {args.out} is a file, not a folder")
    families = [f for f in dict.fromkeys(args.only) if f in FAMILIES] or list(FAMILIES)
    if "tasks" in families:  # inputs are checked before any figure is written
        resolve_rules(args.task_rules)
    apply_style()
    log = FigureLog(args.out, args.overwrite, names=tuple(n for n in args.only
                                                          if n not in FAMILIES),
                    listing=args.list)
    skipped = [f"{family}: no stored results, skipped (produce them with: {PRODUCERS[family]})"
               for family in families if not DRAW[family](args, log)]
    missing = missing_rows(log, families) if args.list else []
    unknown = [n for n in log.names if n not in log.matched]
    if unknown:
        fail(f"no figure named {', '.join(map(repr, unknown))} in the stored results of "
             f"{', '.join(families)} (python paper_plot.py --list names them)")
    if skipped:
        print("\n".join(skipped))
    if args.list:
        rows = sorted(log.rows + missing, key=lambda row: families.index(row[0]))
        print("| family | figure | results produced by |\n|---|---|---|")
        print("\n".join(f"| {family} | {path} | {command} |" for family, path, command in rows))
        print(f"{len(log.rows)} figures from stored results, {len(missing)} missing")
        return 0
    print(summary(log.rows))
    written = sum(status.startswith("written") for _, _, status in log.rows)
    failed = sum(status.startswith("failed") for _, _, status in log.rows)
    print(f"{written} figures written, {len(log.rows) - written - failed} kept, {failed} failed; "
          f"in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
