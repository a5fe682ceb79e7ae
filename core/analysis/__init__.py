"""Multi-task analysis: task variance, clustering, lesions and pruning, state space.

``load_trained(run_dir)`` rebuilds a trained run's model and task config for analysis;
``analyse_runs`` analyses named runs into their results files (current entries reused) and returns
the stored entries;
``warn_if_at_chance(run_dir)`` warns when the run's network is no better than chance;
``fresh_evaluation(run_dir, n_trials)`` gives the run's accuracy on fresh trials
(``evaluation.csv``), scoring and storing it for runs trained without one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["analyse_runs", "fresh_evaluation", "load_trained", "resolve_run", "warn_if_at_chance"]

#: ``(evaluation.csv, modification time)`` already warned about by :func:`warn_if_at_chance`.
_WARNED: set[tuple[Path, int]] = set()


def warn_if_at_chance(run_dir: str | Path) -> str | None:
    """Print one ``warning: ...`` line to stderr when the run in ``run_dir`` is at or below
    chance: the 95 % Wilson interval of its accuracy on fresh trials after training
    (``evaluation.csv``, written by the training script; trials of every rule pooled, which with
    equal counts per rule is the mean over rules) reaches down to the mean chance level of its
    rules (the warning says "at chance"), or lies below it ("below chance"). Analysing such a
    network says nothing about trained computation; this only warns.

    Returns the warning (without ``warning: ``), or None: above chance, no ``evaluation.csv``
    (runs of other scripts), or already printed for this version of the file in this process
    (``run_pipeline.py`` and its steps check the same run).
    """
    from core.tasks.accuracy import RuleScore
    from core.training.trainer import EVALUATION_FILE, read_scores

    path = Path(run_dir) / EVALUATION_FILE
    if not path.is_file():
        return None
    key = (path.resolve(), path.stat().st_mtime_ns)
    if key in _WARNED:
        return None
    try:
        scores = list(read_scores(path).values())
    except ValueError:  # no rule scores in it
        return None
    pooled = RuleScore(sum(s.n_correct for s in scores), sum(s.n_trials for s in scores),
                       sum(s.chance for s in scores) / len(scores))
    low, high = pooled.interval()
    if low > pooled.chance:
        return None
    _WARNED.add(key)
    where = "below chance" if high < pooled.chance else "at chance"
    message = (f"run {Path(run_dir).name} is {where}: accuracy {pooled.accuracy:.3f} (95 % "
               f"interval {low:.3f}-{high:.3f}, {pooled.n_trials} fresh trials of "
               f"{len(scores)} rules in {path}) against chance {pooled.chance:.3f}; the analysis "
               "of an untrained network is not meaningful")
    print(f"warning: {message}", file=sys.stderr)
    return message


def load_trained(run_dir: str | Path):
    """``(model, task_config, run_config)`` of the run stored in ``run_dir`` (model in eval mode).

    Raises ``core.training.CheckpointError`` (one line) for a missing or unreadable run.
    """
    from core.tasks.config import TaskConfig
    from core.training.trainer import load_run

    model, config, _ = load_run(run_dir)
    if "task" not in config:
        from core.errors import CheckpointError

        raise CheckpointError(f"{run_dir}: the run config stores no task config")
    return model, TaskConfig.from_dict(config["task"]), config


def fresh_evaluation(run_dir: str | Path, n_trials: int = 500):
    """``{rule: core.tasks.RuleScore}``: the run's accuracy per trained rule on fresh trials, with
    its 95 % Wilson interval (:meth:`~core.tasks.RuleScore.interval`) and chance level.

    Read from ``<run_dir>/evaluation.csv`` (written by the training scripts,
    :meth:`core.training.trainer.RuleRun.store_evaluation`) when the run has one, whatever its
    trial count. Otherwise the stored network is scored on ``n_trials`` fresh trials of each rule
    it was trained on, drawn from ``(run seed, 2)`` in the order of
    :meth:`~core.training.trainer.RuleTraining.score_fresh` (so the same trials, and the same
    file, as ``store_evaluation`` at the end of training; :func:`core.analysis.accuracy_sweep.
    fresh_scores`), and the file is written (it did not exist: nothing is overwritten).
    ValueError for ``n_trials`` < 1, CheckpointError for a run that cannot be loaded.
    """
    import numpy as np

    from core.analysis.accuracy_sweep import fresh_scores
    from core.fileio import atomic_write_text
    from core.tasks import resolve_rules
    from core.training.trainer import EVALUATION_FILE, read_scores, score_table_csv

    path = Path(run_dir) / EVALUATION_FILE
    if path.is_file():
        return read_scores(path)
    model, task, config = load_trained(run_dir)
    scores = fresh_scores(model, task, resolve_rules(config["train"]["rules"]), n_trials,
                          np.random.default_rng([config["seed"], 2]))
    atomic_write_text(path, score_table_csv(scores))
    return scores


def resolve_run(runs: str | Path, name: str) -> Path:
    """``<runs>/<name>`` after checking ``name`` is a run name and the folder exists."""
    from core.training.naming import parse_run_name

    parse_run_name(name)
    run_dir = Path(runs) / name
    if not (run_dir / "checkpoint.pt").is_file():
        raise FileNotFoundError(f"no trained run {name!r} under {runs} (no checkpoint.pt)")
    return run_dir


def analyse_runs(runs: str | Path, names: Sequence[str], results_file: str, overwrite: bool,
                 analyse: Callable[[Path], tuple[Mapping[str, Any], Mapping[str, Any]]],
                 progress: bool = True, sources: Mapping[str, str] | None = None,
                 networks: Callable[[Path], Sequence[Path]] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """Analyse each named run into ``<runs>/<name>/<results_file>`` unless its stored entry is
    current; returns ``{name: stored entry}``.

    Every name is resolved (:func:`resolve_run`) and its entry checked
    (:func:`core.provenance.claim`) before any run is analysed: a current entry is reused, not
    recomputed (one line says so), unless ``overwrite``; a stale one is recomputed (one line says
    why: :func:`core.provenance.stale_reason`); an unreadable file is refused
    (ResultsFileError) unless ``overwrite``. Then ``analyse(run_dir)`` returns ``(results,
    config)`` of each run to compute, stored under its name with the run's checkpoint as
    provenance (:func:`core.io.save_results`), with a progress bar over those runs
    (``progress``); ``sources`` and the further checkpoints ``networks(run_dir)`` (e.g. the
    run a stage-2 run started from) are recorded and checked with it
    (:func:`core.provenance.record`), so entries stored without them, with others, or from
    networks since trained again are stale.
    The entries are returned as read back from the files, so a summary of them is the one drawn
    from the files later (``paper_plot.py``).
    """
    from tqdm.auto import tqdm

    from core.io import load_results, save_results
    from core.provenance import claim, record
    from core.training.trainer import CHECKPOINT_FILE

    run_dirs = {name: resolve_run(runs, name) for name in names}
    todo = {}
    for name, run_dir in run_dirs.items():
        path = run_dir / results_file
        try:
            note = claim(path, name, overwrite, sources)
        except FileExistsError:
            print(f"{name}: stored results are current, reused ({path}; --overwrite recomputes "
                  "them)")
            continue
        if note:
            print(note)
        todo[name] = run_dir
    for name, run_dir in tqdm(todo.items(), desc="runs analysed", disable=not progress):
        path = run_dir / results_file
        provenance = record(path, run_dir / CHECKPOINT_FILE,
                            networks=networks(run_dir) if networks is not None else (),
                            sources=sources)
        results, config = analyse(run_dir)
        save_results(path, name, results, config=config, overwrite=True, provenance=provenance)
    return {name: load_results(run_dir / results_file, name) for name, run_dir in run_dirs.items()}
