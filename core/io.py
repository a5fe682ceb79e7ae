"""Analysis results in compressed HDF5, keyed by run name.

One file holds one group per run (``/<run name>``); inside it, nested dicts of arrays become
sub-groups and datasets. Every non-scalar dataset is compressed with Blosc/Zstd (bit-shuffled)
from ``hdf5plugin`` and carries a Fletcher-32 checksum, so a flipped byte is detected on read.
The run's config is stored as a JSON string attribute ``config`` on the run group, and what the
results were computed from (:mod:`core.provenance`) as the JSON attribute ``provenance``, to which
:func:`save_results` adds ``results``, a SHA-256 digest of the stored arrays (a later result
computed from this one records it, so a recomputed input makes it stale).

Writes are atomic: the whole file is written to a temporary name in the same folder and renamed
with ``os.replace`` (:func:`core.fileio.atomic_path`), so a crash never leaves a half-written
file. An existing entry is never overwritten silently (``overwrite=True`` is required); with
``overwrite=True`` an unreadable file is replaced by a new one.

A file that cannot be read (not HDF5, truncated, failed checksum) raises :class:`ResultsFileError`
whose message is one line (a script wrapped in :func:`core.cli.cli_main` prints it as
``error: ...``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np

from core.errors import ResultsFileError
from core.fileio import atomic_path

__all__ = [
    "ResultsFileError",
    "save_results",
    "load_results",
    "load_config",
    "load_provenance",
    "results_digest",
    "list_runs",
    "delete_results",
]

_COMPRESSION = hdf5plugin.Blosc(cname="zstd", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE)


def _one_line(path: os.PathLike | str, what: str, exc: BaseException | None = None) -> str:
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    return " ".join(f"{path}: {what}{detail}".split())


def _validate_key(key: str) -> str:
    if not isinstance(key, str) or not key or "/" in key or key in (".", ".."):
        raise ValueError(f"result keys must be non-empty strings without '/', got {key!r}")
    return key


def _write_value(group: h5py.Group, key: str, value: Any) -> None:
    key = _validate_key(key)
    if isinstance(value, Mapping):
        sub = group.create_group(key)
        for k, v in value.items():
            _write_value(sub, k, v)
        return
    array = np.asarray(value)
    if array.dtype.kind in "OU":
        if array.dtype.kind == "O" and not all(isinstance(v, str) for v in array.ravel()):
            raise TypeError(f"result {key!r}: object arrays must hold strings only")
        encoded = [str(v).encode("utf-8") for v in array.ravel()]
        width = max((len(b) for b in encoded), default=1) or 1
        array = np.array(encoded, dtype=f"S{width}").reshape(array.shape).astype(
            h5py.string_dtype("utf-8", length=width))
    elif array.dtype.kind not in "biuf":
        raise TypeError(f"result {key!r}: unsupported dtype {array.dtype}")
    if array.ndim == 0 or array.size == 0:
        group.create_dataset(key, data=array)
    else:
        group.create_dataset(key, data=array, fletcher32=True, **_COMPRESSION)


def results_digest(results: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a nested mapping of arrays: keys, dtypes, shapes and values."""
    digest = hashlib.sha256()

    def feed(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key in sorted(value):
                feed(f"{prefix}/{key}", value[key])
            return
        array = np.asarray(value)
        if array.dtype.kind in "OU":
            data = "\0".join(str(v) for v in array.ravel()).encode("utf-8")
        else:
            data = np.ascontiguousarray(array).tobytes()
        digest.update(f"{prefix}|{array.dtype.kind}{array.dtype.itemsize}|{array.shape}|"
                      .encode())
        digest.update(data)

    feed("", results)
    return digest.hexdigest()


def save_results(path: str | os.PathLike, run_name: str, results: Mapping[str, Any],
                 config: Mapping[str, Any] | None = None, overwrite: bool = False,
                 provenance: Mapping[str, Any] | None = None) -> Path:
    """Store ``results`` under ``/<run_name>`` of the HDF5 file ``path`` (created if absent).

    Args:
        path: the ``.h5`` file; other runs already stored in it are kept.
        run_name: group name (the run's name, see ``core.training.naming``).
        results: nested mapping of array-likes (numeric, bool or string); sub-mappings become
            sub-groups.
        config: JSON-able mapping stored as the ``config`` attribute of the run group.
        overwrite: replace an existing ``run_name`` entry (otherwise FileExistsError), and a file
            that cannot be read (otherwise :class:`ResultsFileError`, whose message says so).
        provenance: what the results were computed from (:func:`core.provenance.record`), stored
            as the ``provenance`` attribute with ``results`` (:func:`results_digest`) added.

    Returns the file path. The file is rewritten atomically (temp file + ``os.replace``).
    """
    path = Path(path)
    _validate_key(run_name)
    config_json = json.dumps(dict(config) if config is not None else {}, sort_keys=True)
    mode = "w"
    if path.exists():
        try:
            _check_readable(path)
            mode = "a"
        except ResultsFileError as exc:
            if not overwrite:
                raise ResultsFileError(f"{exc}; pass --overwrite to replace the file") from None
    with atomic_path(path) as tmp:
        if mode == "a":
            shutil.copyfile(path, tmp)
        with h5py.File(tmp, mode) as f:
            if run_name in f:
                if not overwrite:
                    raise FileExistsError(
                        f"{path}: results for run {run_name!r} already exist (use overwrite)")
                del f[run_name]
            group = f.create_group(run_name)
            group.attrs["config"] = config_json
            if provenance is not None:
                group.attrs["provenance"] = json.dumps(
                    {**provenance, "results": results_digest(results)}, sort_keys=True)
            for key, value in results.items():
                _write_value(group, key, value)
    return path


def delete_results(path: str | os.PathLike, run_name: str) -> bool:
    """Remove the entry ``/<run_name>`` from the HDF5 file ``path``, keeping the others (the file
    is rewritten atomically); returns whether there was one. For a run replaced on purpose (a
    training script's ``--overwrite``), so the file never describes a run that is gone.
    ResultsFileError (one line) if the file cannot be read."""
    path = Path(path)
    if not path.exists() or run_name not in list_runs(path):
        return False
    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as f:
            del f[run_name]
    return True


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise ResultsFileError(_one_line(path, "no such results file"))
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ResultsFileError(_one_line(path, "corrupted or not an HDF5 results file", exc)
                               ) from None


def _read_group(group: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item)
        elif h5py.check_string_dtype(item.dtype) is not None:
            data = item.asstr()[()]
            out[key] = np.asarray(data, dtype=str) if isinstance(data, np.ndarray) else str(data)
        else:
            out[key] = item[()]
    return out


def _open_run(path: Path, run_name: str, reader):
    try:
        with h5py.File(path, "r") as f:
            if run_name not in f:
                raise ResultsFileError(_one_line(
                    path, f"no results for run {run_name!r} (stored: {sorted(f.keys())})"))
            return reader(f[run_name])
    except ResultsFileError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ResultsFileError(_one_line(path, "corrupted or not an HDF5 results file", exc)
                               ) from None


def load_results(path: str | os.PathLike, run_name: str) -> dict[str, Any]:
    """Read ``/<run_name>`` of ``path`` back as nested dicts of plain numpy arrays.

    Numeric datasets come back as ``np.ndarray`` (scalars as numpy scalars), string datasets as
    ``str`` arrays. Raises :class:`ResultsFileError` (one-line message) if the file is missing,
    corrupted (including a failed Fletcher-32 checksum) or lacks the run.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(_one_line(path, "no such results file"))
    return _open_run(path, run_name, _read_group)


def load_config(path: str | os.PathLike, run_name: str) -> dict[str, Any]:
    """The config mapping stored with ``run_name`` in ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(_one_line(path, "no such results file"))
    return _open_run(path, run_name, lambda g: json.loads(g.attrs.get("config", "{}")))


def load_provenance(path: str | os.PathLike, run_name: str) -> dict[str, Any] | None:
    """The provenance record stored with ``run_name`` in ``path``, or None if it has none
    (see :mod:`core.provenance`)."""
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(_one_line(path, "no such results file"))
    text = _open_run(path, run_name, lambda g: g.attrs.get("provenance"))
    return json.loads(text) if text is not None else None


def list_runs(path: str | os.PathLike) -> list[str]:
    """Names of the runs stored in ``path`` (sorted)."""
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(_one_line(path, "no such results file"))
    try:
        with h5py.File(path, "r") as f:
            return sorted(f.keys())
    except (OSError, ValueError, RuntimeError) as exc:
        raise ResultsFileError(_one_line(path, "corrupted or not an HDF5 results file", exc)
                               ) from None
