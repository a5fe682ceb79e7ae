"""Atomic file writes: the one place that writes through a temporary file and ``os.replace``.

Every result, checkpoint and figure of the project goes through :func:`atomic_path`: the data is
written to a hidden temporary file in the target's folder and renamed into place, so an
interrupted write never leaves a half-written file and readers see either the old or the new
version. Nothing is overwritten silently: :func:`refuse_existing` is the shared check.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = ["FIGURE_FORMATS", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "figure_files", "file_in_the_way", "make_folder", "refuse_existing", "save_json",
           "update_text"]

#: The formats every figure is saved in (vector and raster), see :func:`figure_files`.
FIGURE_FORMATS = ("pdf", "png")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path``.

    Write the file at the yielded path (by name, e.g. ``h5py.File(tmp, "w")`` or
    ``fig.savefig(tmp, format="png")``). When the block ends without an exception the file gets
    the usual permissions (``0o666`` minus the umask, not ``mkstemp``'s ``0o600``) and is renamed
    to ``path`` with ``os.replace``; on an exception it is removed and ``path`` is left untouched.
    Missing parent folders are created (:func:`make_folder`). The temporary name starts with
    ``.`` and ends with ``.tmp``, so globs such as ``*.png`` never see it.
    """
    path = Path(path)
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def make_folder(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` and its missing parents (nothing if it exists); returns it.

    NotADirectoryError (one line: ``<file> is a file, not a folder``) when ``path`` or one of its
    parents is a file, e.g. ``--figures`` given an existing file; ``mkdir`` itself says only
    ``File exists`` or ``Not a directory``.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = file_in_the_way(path)
        if blocker is None:
            raise
        raise NotADirectoryError(f"{blocker} is a file, not a folder") from exc
    return path


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """``path`` or the first of its parents that exists and is not a folder (so no folder can be
    made at ``path``), else None."""
    path = Path(path)
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename); returns it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``path``; returns it."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def update_text(path: str | os.PathLike, text: str) -> bool:
    """Atomically write UTF-8 ``text`` to ``path`` unless the file holds it already, so its
    modification time says when its content last changed (a summary table whose figures
    :func:`core.plotting.figure_current` compares with it); returns whether it was written."""
    path = Path(path)
    if path.is_file() and path.read_bytes() == text.encode("utf-8"):
        return False
    atomic_write_text(path, text)
    return True


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON (with a final newline); returns it."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def figure_files(path: str | os.PathLike, formats: tuple[str, ...] = FIGURE_FORMATS
                 ) -> list[Path]:
    """The files a figure named ``path`` is saved as: one per format, ``<path>.<format>``.

    ``path`` may end in one of ``formats`` (it is dropped); any other dot belongs to the name:
    ``tau1.5`` gives ``tau1.5.pdf`` and ``tau1.5.png`` (``Path.with_suffix`` would give
    ``tau1.pdf``, so a check for existing figures looked at the wrong files). The one place that
    names figure files: :func:`core.plotting.style.save_figure` writes these, and scripts pass
    them to :func:`refuse_existing` before any work.
    """
    base = Path(path)
    if base.suffix.lstrip(".") in formats:
        base = base.with_suffix("")
    return [base.with_name(f"{base.name}.{fmt}") for fmt in formats]


def refuse_existing(paths: Iterable[str | os.PathLike], overwrite: bool) -> None:
    """FileExistsError (one line, naming the files) if any of ``paths`` exists and not
    ``overwrite``."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); pass --overwrite to "
                              "replace")
