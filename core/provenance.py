"""What a stored result was computed from, and whether it still describes the network on disk.

A producer passes ``record(results_path, checkpoint, inputs)`` to
:func:`core.io.save_results`; the entry's ``provenance`` attribute then holds:

- ``checkpoint``: the checkpoint the results were computed from, relative to the results file's
  folder (so a run folder can be moved as a whole), or None for results computed without one
  (e.g. a training history stored by the training script itself);
- ``network``: :func:`network_digest` of that checkpoint — SHA-256 of its model tensors (names,
  dtypes, shapes, bytes) and the run config stored in it — and ``step``, its training step;
- ``inputs``: the stored results it used, each ``{"file", "run", "results"}`` with the file
  relative to the results file's folder and ``results`` the digest of that entry's arrays
  (:func:`core.io.results_digest`, added by ``save_results`` to every record);
- ``networks``: further checkpoints the results were computed from (e.g. the single-task runs
  whose loss curves give task difficulty), each ``{"checkpoint", "network", "step"}`` as above;
- ``sources``: named digests of what results computed without a stored network came from (e.g.
  ``{"data": ...}`` of a data set); a consumer that can compute them now passes them to
  :func:`load_current`, which then checks them too;
- ``code``: :func:`code_version` (package version and git commit), kept for the record only:
  results computed by older code from the same network stay valid.

A consumer loads through :func:`load_current`, which refuses with one line naming the command that
refreshes the results (:class:`core.errors.StaleResultsError`) when the checkpoint now on disk has
another digest (trained again with ``--overwrite``, resumed, replaced), an input was recomputed
since, or the entry records no provenance. A producer calls :func:`claim` before its work: an
up-to-date entry is kept unless ``overwrite``; a stale one is recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import ResultsFileError, StaleResultsError
from core.io import list_runs, load_provenance, load_results

__all__ = ["checkpoint_digest", "claim", "code_version", "file_digest", "load_current",
           "network_digest", "option_sources", "payload_digest", "record", "stale_reason"]

PACKAGE = "mtplab"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``"mtplab <version>"`` plus ``" git <commit>[-dirty]"`` when the code is a git checkout."""
    try:
        version = f"{PACKAGE} {metadata.version(PACKAGE)}"
    except metadata.PackageNotFoundError:
        version = f"{PACKAGE} (not installed)"
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return version
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version} git {commit}" if commit else version


def network_digest(state: Mapping[str, torch.Tensor | np.ndarray], config: Mapping[str, Any]
                   ) -> str:
    """SHA-256 (hex) of a model's tensors ``{name: tensor}`` (names, dtypes, shapes, bytes) and its
    JSON-able run ``config`` (key-sorted)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = torch.as_tensor(state[name]).detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def checkpoint_digest(path: str | os.PathLike) -> tuple[str, int]:
    """``(network_digest, step)`` of a training checkpoint (its ``model`` tensors and ``config``).

    Cached per file version (path, inode, size, modification and change times). CheckpointError
    (one line) if the file is missing or unreadable.
    """
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except FileNotFoundError:
        from core.errors import CheckpointError

        raise CheckpointError(f"{path}: no such checkpoint") from None
    return _checkpoint_digest(path, (stat.st_ino, stat.st_size, stat.st_mtime_ns,
                                     stat.st_ctime_ns))


@functools.lru_cache(maxsize=64)
def _checkpoint_digest(path: Path, version: tuple[int, ...]) -> tuple[str, int]:
    from core.training.checkpoint import load_checkpoint

    return payload_digest(load_checkpoint(path))


def payload_digest(payload: Mapping[str, Any]) -> tuple[str, int]:
    """``(network_digest, step)`` of a loaded checkpoint payload (what :func:`checkpoint_digest`
    computes from the file, for callers that hold the payload already)."""
    if "model" not in payload and "model_state" in payload:  # timescales curriculum checkpoints
        meta = {k: v for k, v in payload.items() if k != "model_state"}
        return network_digest(payload["model_state"], meta), int(payload.get("step", -1))
    return (network_digest(payload.get("model", {}), payload.get("config", {})),
            int(payload.get("step", -1)))


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes (e.g. a reference-code checkpoint, for ``sources``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(results_path: str | os.PathLike, checkpoint: str | os.PathLike | None,
           inputs: Iterable[tuple[str | os.PathLike, str]] = (),
           networks: Iterable[str | os.PathLike] = (),
           sources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The provenance of results about to be stored in ``results_path``, computed from the
    network in ``checkpoint`` (None: from no stored network), the stored results ``inputs``
    (``(file, run name)`` pairs, e.g. the clusters a lesion study used), the further checkpoints
    ``networks`` and the named digests ``sources`` (e.g. ``{"data": digest}``). Pass it as
    ``save_results(..., provenance=...)``.

    ResultsFileError if an input entry is missing or records no provenance; CheckpointError if a
    checkpoint is missing or unreadable.
    """
    folder = Path(results_path).parent
    digest, step = checkpoint_digest(checkpoint) if checkpoint is not None else (None, None)
    further = []
    for path in networks:
        network, at = checkpoint_digest(path)
        further.append({"checkpoint": os.path.relpath(path, folder), "network": network,
                        "step": at})
    used = []
    for file, run in inputs:
        stored = load_provenance(file, run)
        if stored is None or "results" not in stored:
            raise ResultsFileError(f"{file}: results for run {run!r} record no provenance")
        used.append({"file": os.path.relpath(file, folder), "run": run,
                     "results": stored["results"]})
    provenance = {"checkpoint": os.path.relpath(checkpoint, folder)
                  if checkpoint is not None else None,
                  "network": digest, "step": step, "inputs": used, "code": code_version()}
    if further:
        provenance["networks"] = further
    if sources:
        provenance["sources"] = dict(sources)
    return provenance


def _network_reason(folder: Path, stored: Mapping[str, Any]) -> str | None:
    """Why the network recorded in ``stored`` (``checkpoint``, ``network``, ``step``) is not the
    one now on disk, or None."""
    checkpoint = folder / stored["checkpoint"]
    if not checkpoint.is_file():
        return f"the checkpoint they were computed from, {checkpoint}, is gone"
    digest, step = checkpoint_digest(checkpoint)
    if digest != stored["network"]:
        return (f"they were computed from another network than {checkpoint} (step "
                f"{stored['step']} then, step {step} now)")
    return None


def option_sources(args: Any, names: Iterable[str]) -> dict[str, str]:
    """``{"options": JSON}`` of the attributes ``names`` of ``args`` (a script's parsed options
    that change its results), for ``sources`` of :func:`record`, :func:`claim` and
    :func:`load_current`: results computed with other options are then stale (recomputed by
    their script) instead of silently reused. Tuples are stored as lists."""
    return {"options": json.dumps({n: getattr(args, n) for n in names}, sort_keys=True,
                                  default=list)}


def _option_text(value: Any) -> str:
    """An option's value as a researcher reads it: ``not set`` (None), ``yes``/``no``, strings
    unquoted, lists comma-joined (``none`` when empty), floats as ``%g`` where that is exact
    (else their shortest exact form)."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        plain = f"{value:g}"
        return plain if float(plain) == value else repr(value)
    if isinstance(value, list):
        return ",".join(_option_text(v) for v in value) or "none"
    return str(value)


def _source_reason(name: str, recorded: str | None, now: str) -> str:
    """Why the recorded source ``name`` differs from ``now`` (one phrase); for ``options``
    (:func:`option_sources`) the options that differ, with their values then and now
    (:func:`_option_text`; ``not recorded`` then, ``not an option`` now where absent), e.g.
    ``they were computed with other options (k not set, now 3; rules go,dm1, now go)``."""
    if recorded is None:
        return f"they do not record their {name} (stored before they did)"
    if name != "options":
        return f"their {name} has changed since"
    then, current = json.loads(recorded), json.loads(now)
    missing = object()
    changed = []
    for key in sorted(set(then) | set(current)):
        old, new = then.get(key, missing), current.get(key, missing)
        if old != new:
            changed.append(
                f"{key.replace('_', '-')} "
                f"{'not recorded' if old is missing else _option_text(old)}, now "
                f"{'not an option' if new is missing else _option_text(new)}")
    return "they were computed with other options (" + "; ".join(changed) + ")"


def stale_reason(results_path: str | os.PathLike, run_name: str,
                 sources: Mapping[str, str] | None = None) -> str | None:
    """Why the entry ``run_name`` of ``results_path`` no longer describes what it was computed
    from (one phrase), or None if it is current. ``sources``: the digests, computed now, of
    recorded sources to check (:func:`record`).

    ResultsFileError (one line) if the file is missing, unreadable or lacks the entry.
    """
    results_path = Path(results_path)
    stored = load_provenance(results_path, run_name)
    if stored is None:
        return "they record no provenance (stored before results recorded their network)"
    networks = ([stored] if stored.get("checkpoint") is not None else []) + \
        stored.get("networks", [])
    for network in networks:
        reason = _network_reason(results_path.parent, network)
        if reason is not None:
            return reason
    for name, digest in (sources or {}).items():
        recorded = stored.get("sources", {}).get(name)
        if recorded != digest:
            return _source_reason(name, recorded, digest)
    for used in stored.get("inputs", []):
        file = results_path.parent / used["file"]
        try:
            now = load_provenance(file, used["run"])
        except ResultsFileError:
            return f"their input {file} is gone or unreadable"
        if now is None or now.get("results") != used["results"]:
            return f"their input {file} was recomputed since"
    return None


def load_current(results_path: str | os.PathLike, run_name: str, refresh: str,
                 sources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """:func:`core.io.load_results` after checking the entry is current.

    ``refresh`` is the command that (re)computes the entry; every refusal names it, on one line:
    StaleResultsError if the entry is stale (:func:`stale_reason`, with the ``sources`` digests
    computed now), ResultsFileError if the file is missing, unreadable or lacks the entry.
    """
    try:
        reason = stale_reason(results_path, run_name, sources)
    except ResultsFileError as exc:
        raise ResultsFileError(f"{exc}; compute it with: {refresh}") from None
    if reason is not None:
        raise StaleResultsError(f"{results_path}: results for run {run_name!r} are stale: "
                                f"{reason}; refresh them with: {refresh}")
    return load_results(results_path, run_name)


def claim(results_path: str | os.PathLike, run_name: str, overwrite: bool,
          sources: Mapping[str, str] | None = None) -> str | None:
    """Check, before a producer computes, that it may store ``run_name`` in ``results_path``;
    afterwards store with ``save_results(..., overwrite=True)``. ``sources``: as for
    :func:`load_current`.

    Returns None when nothing is replaced (or ``overwrite`` was asked for), else a one-line note
    of what is replaced: a stale entry (recomputing it is the producer's job). FileExistsError
    for a current entry and ResultsFileError for an unreadable file, unless ``overwrite``.
    """
    results_path = Path(results_path)
    if not results_path.exists():
        return None
    try:
        present = run_name in list_runs(results_path)
        reason = stale_reason(results_path, run_name, sources) if present else None
    except ResultsFileError as exc:
        if overwrite:
            return None
        raise ResultsFileError(f"{exc}; pass --overwrite to replace the file") from None
    if not present or overwrite:
        return None
    if reason is None:
        raise FileExistsError(f"{results_path}: results for run {run_name!r} already exist and "
                              "are current; pass --overwrite to recompute them")
    return f"{results_path}: replacing the stored results for {run_name!r}: {reason}"
