"""Shared by the local-experts scripts: the Table 1 systems and how to name them on the command
line."""

from __future__ import annotations

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


def parse_systems(names: str) -> list[str]:
    """Comma-separated system keys, checked against :data:`SYSTEMS` (ValueError otherwise)."""
    keys = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [k for k in keys if k not in SYSTEMS]
    if unknown or not keys:
        raise ValueError(f"unknown systems {unknown or names!r}; choose from "
                         f"{', '.join(SYSTEMS)}")
    return keys
