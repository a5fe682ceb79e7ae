"""Atomic, pickle-free checkpoints.

A checkpoint is a nested dict of tensors, numbers, strings, lists and dicts, written with
``torch.save`` to a temporary file in the target folder and renamed into place (``os.replace``),
so an interrupted save never leaves a half-written file. Loading uses
``torch.load(weights_only=True)``: no code stored in a file is ever run, and a file that would need
it (a crafted pickle) is refused with a one-line :class:`CheckpointError`.

Also here: a JSON reader with one-line errors, model state with shape checks, and RNG state
capture (numpy ``Generator`` + torch) so a resumed run continues bit-for-bit. The atomic writers
themselves live in :mod:`core.fileio`.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import CheckpointError
from core.fileio import atomic_write_bytes


def load_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; CheckpointError (one line) if missing or malformed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable JSON ({_first_line(e)})") from None


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Atomically save ``payload`` (nested dict of tensors/numbers/str/lists/dicts) to ``path``.

    Tensors are saved detached and on the CPU. TypeError if the payload holds anything that
    ``torch.load(weights_only=True)`` could not read back (checked before writing).
    """
    payload = _to_plain(payload, "payload")
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU, running no stored code.

    CheckpointError (one line) if the file is missing, truncated/corrupt, or needs unpickling of
    anything but plain data (e.g. a crafted payload with ``__reduce__``); a refusal names what the
    file would run and never passes on torch's advice to retry with ``weights_only=False``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to read is reported the same way
        if isinstance(e, pickle.UnpicklingError) or "weights_only" in str(e):
            raise CheckpointError(f"{path}: refused, {_refusal(str(e))}: not a plain-tensor "
                                  "checkpoint (or a corrupt one), so it is not loaded") from None
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({_first_line(e)})"
                              ) from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: expected a dict payload, found {type(payload).__name__}")
    return payload


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's ``state_dict`` as detached CPU clones (safe to store while training goes on)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor],
                     source: str = "checkpoint") -> None:
    """Load ``state`` into ``model`` after checking names and shapes.

    CheckpointError (one line) naming the first missing/unexpected tensor or the first tensor
    whose shape differs, e.g. ``checkpoint: tensor 'w_out' has shape (3, 8), model expects
    (3, 16)``.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        raise CheckpointError(f"{source}: tensor {missing[0]!r} missing ({len(missing)} in all)")
    if unexpected:
        raise CheckpointError(
            f"{source}: unexpected tensor {unexpected[0]!r} ({len(unexpected)} in all)")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{source}: tensor {k!r} has shape {tuple(state[k].shape)}, model expects "
                f"{tuple(v.shape)}"
            )
    model.load_state_dict(state)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """Capture the numpy Generator and torch CPU RNG states as plain data (JSON string + tensor)."""
    return {"numpy": json.dumps(rng.bit_generator.state), "torch": torch.get_rng_state()}


def restore_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore the states captured by :func:`rng_state` (numpy Generator in place, and torch)."""
    rng.bit_generator.state = json.loads(state["numpy"])
    torch.set_rng_state(state["torch"])


def _to_plain(obj: Any, where: str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {k: _to_plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    raise TypeError(f"{where}: cannot store {type(obj).__name__} in a pickle-free checkpoint")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _refusal(text: str) -> str:
    """What torch's weights-only unpickler refused (from its message ``text``), without its advice
    to load the file unsafely (``weights_only=False``) or to allow-list what it would run."""
    found = re.search(r"GLOBAL (\S+)", text)
    if found:
        return f"the file would run or build {found[1]!r} when unpickled"
    found = re.search(r"Unsupported operand (\d+)", text)
    if found:
        return f"the file uses pickle instruction {found[1]}, which plain data never needs"
    return "the file holds more than tensors, numbers, strings, lists and dicts"
