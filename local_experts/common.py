"""Shared helpers of the local-experts scripts: system list, atomic writes, error exits."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.models.local_experts import BackpropConfig, MixtureConfig, ModelConfig

SYSTEMS: dict[str, ModelConfig] = {
    "mix4": MixtureConfig(n_experts=4),
    "mix8": MixtureConfig(n_experts=8),
    "mix4coop": MixtureConfig(n_experts=4, objective="cooperative"),
    "mix8coop": MixtureConfig(n_experts=8, objective="cooperative"),
    "bp6": BackpropConfig(n_hidden=6),
    "bp12": BackpropConfig(n_hidden=12),
}
"""The Table 1 systems (the paper's four plus the cooperative objective for comparison)."""


def refuse_overwrite(paths: list[Path], overwrite: bool) -> None:
    """Exit with a one-line error if any of ``paths`` exists and ``overwrite`` is off."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise SystemExit(f"error: {', '.join(existing)} already exist(s); pass --overwrite")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def parse_systems(names: str) -> list[str]:
    """Comma-separated system keys, checked against :data:`SYSTEMS`."""
    keys = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [k for k in keys if k not in SYSTEMS]
    if unknown or not keys:
        raise SystemExit(f"error: unknown systems {unknown or names!r}; choose from "
                         f"{', '.join(SYSTEMS)}")
    return keys
