"""Multi-task analysis: task variance, clustering, lesions and pruning, state space.

``load_trained(run_dir)`` rebuilds a trained run's model and task config for analysis.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_trained", "resolve_run"]


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
