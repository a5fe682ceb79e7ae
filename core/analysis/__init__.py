"""Multi-task analysis: task variance, clustering, lesions and pruning, state space.

``load_trained(run_dir)`` rebuilds a trained run's model and task config for analysis.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

__all__ = ["load_trained", "resolve_run", "task_config_from_dict"]


def task_config_from_dict(data: dict[str, Any]):
    """Rebuild a ``core.tasks.TaskConfig`` from its ``dataclasses.asdict`` form (run config)."""
    from core.tasks.config import Duration, TaskConfig

    names = {f.name for f in dataclasses.fields(TaskConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"task config has unknown fields {unknown}")
    kwargs = dict(data)
    kwargs["timings"] = {group: {epoch: Duration(d["kind"], tuple(d["values"]))
                                 for epoch, d in epochs.items()}
                         for group, epochs in data["timings"].items()}
    for key, value in kwargs.items():
        if isinstance(value, list):
            kwargs[key] = tuple(value)
    return TaskConfig(**kwargs)


def load_trained(run_dir: str | Path):
    """``(model, task_config, run_config)`` of the run stored in ``run_dir`` (model in eval mode).

    Raises ``core.training.CheckpointError`` (one line) for a missing or unreadable run.
    """
    from core.training.trainer import load_run

    model, config, _ = load_run(run_dir)
    if "task" not in config:
        from core.training.checkpoint import CheckpointError

        raise CheckpointError(f"{run_dir}: the run config stores no task config")
    return model, task_config_from_dict(config["task"]), config


def resolve_run(runs: str | Path, name: str) -> Path:
    """``<runs>/<name>`` after checking ``name`` is a run name and the folder exists."""
    from core.training.naming import parse_run_name

    parse_run_name(name)
    run_dir = Path(runs) / name
    if not (run_dir / "checkpoint.pt").is_file():
        raise FileNotFoundError(f"no trained run {name!r} under {runs} (no checkpoint.pt)")
    return run_dir
