"""Multi-task analysis: task variance, clustering, lesions and pruning, state space.

``load_trained(run_dir)`` rebuilds a trained run's model and task config for analysis;
``analyse_runs`` analyses named runs into their results files and returns the stored entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["analyse_runs", "load_trained", "resolve_run"]


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


def resolve_run(runs: str | Path, name: str) -> Path:
    """``<runs>/<name>`` after checking ``name`` is a run name and the folder exists."""
    from core.training.naming import parse_run_name

    parse_run_name(name)
    run_dir = Path(runs) / name
    if not (run_dir / "checkpoint.pt").is_file():
        raise FileNotFoundError(f"no trained run {name!r} under {runs} (no checkpoint.pt)")
    return run_dir


def analyse_runs(runs: str | Path, names: Sequence[str], results_file: str, overwrite: bool,
                 analyse: Callable[[Path], tuple[Mapping[str, Any], Mapping[str, Any]]]
                 ) -> dict[str, dict[str, Any]]:
    """Analyse each named run into ``<runs>/<name>/<results_file>``; returns
    ``{name: stored entry}``.

    Every name is resolved (:func:`resolve_run`) and its entry claimed
    (:func:`core.provenance.claim`: FileExistsError for a current entry unless ``overwrite``; a
    stale one is replaced, which is printed) before any run is analysed. Then ``analyse(run_dir)``
    returns ``(results, config)`` of a run, stored under its name with the run's checkpoint as
    provenance (:func:`core.io.save_results`). The entries are returned as read back from the
    files, so a summary of them is the one drawn from the files later (``paper_plot.py``).
    """
    from core.io import load_results, save_results
    from core.provenance import claim, record
    from core.training.trainer import CHECKPOINT_FILE

    run_dirs = {name: resolve_run(runs, name) for name in names}
    for name, run_dir in run_dirs.items():
        if note := claim(run_dir / results_file, name, overwrite):
            print(note)
    stored = {}
    for name, run_dir in run_dirs.items():
        path = run_dir / results_file
        provenance = record(path, run_dir / CHECKPOINT_FILE)
        results, config = analyse(run_dir)
        save_results(path, name, results, config=config, overwrite=True, provenance=provenance)
        stored[name] = load_results(path, name)
    return stored
