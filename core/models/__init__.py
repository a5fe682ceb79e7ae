"""Recurrent models behind one interface.

Every model is an ``nn.Module`` built from a config dataclass (``model.config``) and called as
``y, states = model(x, track_states=False)`` with ``x`` of shape ``(T, B, n_in)`` and ``y`` of shape
``(T, B, n_out)``; ``states`` is a dict of recorded tensors (empty unless ``track_states``).
``track_states="hidden"`` asks only for ``states["hidden"]`` (with its gradient, for activity
penalties): models whose full record is costly (the MPN's M, T·B·N² floats) skip the rest.

``build_model(kind, config_dict)`` rebuilds a model from a checkpoint's stored config. The set of
kinds is fixed here, so a checkpoint can only name a class from this table.
"""

from __future__ import annotations

import importlib
from typing import Any

MODEL_KINDS: dict[str, str] = {
    "mpn": "core.models.mpn:DeepMultiPlasticNet",
    "vanilla": "core.models.rnn:LeakyRNN",
    "gru": "core.models.rnn:GRUNet",
    "timescale_rnn": "core.models.timescale_rnn:TimescaleRNN",
    "mop": "core.models.mop:MixtureOfPathways",
}


def model_class(kind: str) -> type:
    """The model class registered under ``kind``; ValueError naming the known kinds otherwise."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(MODEL_KINDS)}")
    module_name, class_name = MODEL_KINDS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_model(kind: str, config: dict[str, Any]):
    """Build a model of ``kind`` from a plain-dict config (as stored in a checkpoint).

    A config that does not fit the kind's config dataclass (unknown or missing keys) raises a
    one-line ValueError, which scripts report without a traceback.
    """
    cls = model_class(kind)
    try:
        return cls.from_config(config)
    except TypeError as exc:
        raise ValueError(f"the stored config does not fit a {kind!r} model: {exc}") from None
