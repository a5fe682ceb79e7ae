"""Plumbing shared by the experiment scripts: common flags, CPU threads and one-line error exits.

A script's ``main(argv=None)`` is decorated with :func:`cli_main`. The library's expected
failures (:data:`KNOWN_ERRORS`: a bad checkpoint or results file, an existing run, a diverged
run, a ``ValueError`` from input validation, and every ``OSError``: a missing or existing file, a
read-only folder, a full disk, a path that is a file where a folder is needed) then end the
script with ``error: <one line>`` on stderr and exit status 2, the status argparse uses for bad
arguments, with no traceback; any other exception is a bug and keeps its traceback. Inside a
script, :func:`fail` ends it the same way for checks of its own. Results are written atomically
(:mod:`core.fileio`), so a failed write leaves the stored files as they were.

A training run stopped by SIGINT (Ctrl-C) or SIGTERM (what SLURM sends before pre-empting a job)
saves a checkpoint at its current step (:class:`core.errors.TrainingInterrupted`); the script
then prints one ``error: ...`` line saying where and exits with status 128 + the signal number
(130 for SIGINT, 143 for SIGTERM, as a shell reports a process killed by that signal), so job
scripts can tell an interruption from bad input; ``--resume`` continues it bit-for-bit. Work
that has nothing to save (an analysis, whose results are written atomically) stops at once
inside :func:`stop_on_signals` and exits the same way (``multiple_task/run_pipeline.py``).

Thread count: the project's networks are small and step through time sequentially, so torch
gains little from more threads; on the shared 2-core development machine, 2 threads were measured
20-150x slower than 1. Every script therefore defaults to ``--threads`` :data:`DEFAULT_THREADS`
= 1; raise it for big batches on a free machine.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from core.errors import (
    CheckpointError,
    ResultsFileError,
    RunExistsError,
    StopSignal,
    TrainingDiverged,
    TrainingInterrupted,
)

__all__ = [
    "ArgumentParser", "DEFAULT_THREADS", "KNOWN_ERRORS", "ScriptError", "add_device_argument",
    "add_run_arguments",
    "add_threads_argument", "add_trained_runs_arguments", "cli_main", "fail", "folder",
    "positive_int",
    "resolve_device", "resolve_trained_runs", "set_threads", "stop_on_signals",
]

#: Default of every script's ``--threads`` (see the module docstring for why 1).
DEFAULT_THREADS = 1

#: Exceptions :func:`cli_main` turns into a one-line ``error: ...`` exit.
KNOWN_ERRORS: tuple[type[BaseException], ...] = (
    CheckpointError, ResultsFileError, RunExistsError, TrainingDiverged, TrainingInterrupted,
    OSError, ValueError,
)

F = TypeVar("F", bound=Callable[..., Any])


class ScriptError(SystemExit):
    """Exit status ``status`` (default 2) carrying the one-line message ``error: ...`` (its
    ``str``). An ``OSError`` reads ``<file>: <reason>`` (``[Errno n]`` dropped)."""

    def __init__(self, message: object, status: int = 2):
        if isinstance(message, OSError) and message.strerror and message.filename is not None:
            message = f"{message.filename}: {message.strerror}"
        text = " ".join(str(message).split())
        if isinstance(message, BaseException) and not text:
            text = type(message).__name__
        self.message = f"error: {text}"
        super().__init__(status)

    def __str__(self) -> str:
        return self.message


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds ``(default: ...)`` to a flag's help unless the help already states its default,
    ``(default ...)``, or what None means, ``(None: ...)`` (the argparse formatter would add
    ``(default: None)`` after it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        return text if "(default" in text or "(None:" in text else \
            super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors (a bad or missing flag) are one line,
    ``error: <prog>: <message> (see <prog> --help)``, with exit status 2, like every other
    refusal of the scripts (argparse itself prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: {message} (see {self.prog} --help)")


def fail(message: object, status: int = 2) -> NoReturn:
    """Print ``error: <message on one line>`` to stderr and exit with ``status`` (default 2)."""
    error = ScriptError(message, status)
    print(error.message, file=sys.stderr)
    raise error


def cli_main(main: F | None = None, *, errors: tuple[type[BaseException], ...] = KNOWN_ERRORS
             ) -> Any:
    """Decorate a script's ``main`` so that ``errors`` end it through :func:`fail`.

    Use as ``@cli_main`` or, to add script-specific expected errors,
    ``@cli_main(errors=(*KNOWN_ERRORS, KeyError))``. The return value of ``main`` passes through.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except TrainingInterrupted as exc:
                fail(exc, 128 + exc.signum)
            except errors as exc:
                fail(exc)

        return wrapper  # type: ignore[return-value]

    return decorate(main) if main is not None else decorate


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`core.errors.StopSignal` at once, and
    the previous handlers come back (so a second signal acts as before); on leaving the block
    too. Outside the main thread, where handlers cannot be set, nothing changes. For work that
    can be cut anywhere; training saves a checkpoint first instead
    (:func:`core.training.trainer.deferred_signals`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        restore()
        raise StopSignal(signum)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        restore()


def positive_int(text: str) -> int:
    """argparse ``type``: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse ``type``: an integer >= 0 (a seed: numpy's generators take no negative one)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def folder(text: str) -> Path:
    """argparse ``type`` of a folder flag (``--figures``, ``--out``): the path, refused while
    parsing (one line: ``<file> is a file, not a folder``) when it or a parent is a file, so a
    script stops before its work instead of when it first writes there."""
    from core.fileio import file_in_the_way

    if (blocker := file_in_the_way(text)) is not None:
        raise argparse.ArgumentTypeError(f"{blocker} is a file, not a folder")
    return Path(text)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` (>= 1, default :data:`DEFAULT_THREADS`); apply it with
    :func:`set_threads`."""
    parser.add_argument("--threads", type=positive_int, default=DEFAULT_THREADS,
                        help="torch CPU threads (default: %(default)s, the fastest for these "
                             "small sequential models on a shared CPU; raise it for big batches "
                             "on a free machine)")


def set_threads(n: int) -> None:
    """Use ``n`` torch CPU threads; ValueError unless ``n >= 1``."""
    import torch

    if n < 1:
        raise ValueError(f"--threads must be >= 1, got {n}")
    torch.set_num_threads(n)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device`` (default cpu); check it with :func:`resolve_device`."""
    parser.add_argument("--device", default="cpu",
                        help="torch device: cpu, cuda, cuda:N or mps (default: %(default)s)")


def resolve_device(name: str):
    """``torch.device(name)`` after checking it exists here; ValueError (one line) otherwise."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r} is not a torch device ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name} but no CUDA device is available")
    if device.type == "cuda" and device.index is not None \
            and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {name} but only {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name} but MPS is not available")
    return device


def add_run_arguments(parser: argparse.ArgumentParser, out: str | Path = "runs") -> None:
    """The flags of a script that trains named runs: ``--out`` (folder of run folders, a
    :func:`folder`), ``--resume`` and ``--overwrite`` (mutually exclusive), ``--device``,
    ``--threads`` and ``--no-progress``; the parser's epilog (unless set) states how training
    stops early: signals, divergence and their exit statuses (see :mod:`core.training.trainer`).
    """
    from core.training.trainer import DIVERGENCE_FACTOR, DIVERGENCE_PATIENCE, RESUME_IF_EXISTS

    def _resume_value(text: str) -> str:
        if text != RESUME_IF_EXISTS:
            raise argparse.ArgumentTypeError(f"the only value is {RESUME_IF_EXISTS!r}")
        return text

    if parser.epilog is None:
        parser.epilog = (
            "Ctrl-C (SIGINT) or SIGTERM saves a checkpoint at the current step and exits with "
            "status 130 or 143; --resume continues bit-for-bit. Training stops as diverged "
            "(exit 2, last good checkpoint kept) when the loss or gradient is NaN/inf, or when "
            f"the validation loss is above {DIVERGENCE_FACTOR:g}x its step-0 value at "
            f"{DIVERGENCE_PATIENCE} validations in a row or at the last one.")
    parser.add_argument("--out", type=folder, default=Path(out),
                        help="folder holding one sub-folder per run (default: %(default)s)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--resume", nargs="?", const=True, default=False, type=_resume_value,
                          metavar=RESUME_IF_EXISTS,
                          help="continue an existing run from its last checkpoint; an error if "
                               f"the run has none, unless --resume={RESUME_IF_EXISTS} (then the "
                               "run is started, and the script says so)")
    existing.add_argument("--overwrite", action="store_true",
                          help="replace an existing run of the same name")
    add_device_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_trained_runs_arguments(parser: argparse.ArgumentParser, figures: bool = True,
                               figures_help: str = "figure folder (default: <runs>/<NAME>/"
                                                   "figures; with several names, FIGURES/<NAME> "
                                                   "per run)") -> None:
    """The flags of a script that analyses trained runs by name: ``NAME ...`` (``names``),
    ``--runs`` (the folder holding them) and, with ``figures``, ``--figures`` (:func:`folder`;
    None means ``<runs>/<NAME>/figures``; ``figures_help`` for a script that draws elsewhere)."""
    parser.add_argument("names", nargs="+", metavar="NAME",
                        help="run names (folders under --runs)")
    parser.add_argument("--runs", default="runs",
                        help="folder holding the runs (default: %(default)s)")
    if figures:
        parser.add_argument("--figures", type=folder, default=None, help=figures_help)


def run_figures(figures: str | Path | None, run_dir: Path, names: list[str]) -> Path:
    """The folder of the figures of the run in ``run_dir`` (one of the named runs ``names``):
    ``<run_dir>/figures`` without ``--figures``, else ``figures``, or ``figures/<run name>`` when
    several runs are named, so that their figures of equal names do not replace (or, being
    current, stand in for) one another."""
    if figures is None:
        return run_dir / "figures"
    return Path(figures) / run_dir.name if len(names) > 1 else Path(figures)


def resolve_trained_runs(runs: str | Path, names: list[str],
                         needs: dict[str, str] | None = None, checkpoint: bool = True
                         ) -> dict[str, Path]:
    """``{name: <runs>/<name>}`` for every named run, checked before any is processed.

    FileNotFoundError (one line) for the first name that is not a trained run (see
    :func:`core.analysis.resolve_run`; only a run name without ``checkpoint``) or whose folder
    lacks a file of ``needs`` (``{file name: the command that writes it}``), so a script given
    several runs fails before writing anything.
    """
    from core.analysis import resolve_run
    from core.training.naming import parse_run_name

    found = {name: resolve_run(runs, name) if checkpoint else Path(runs) / name
             for name in names if checkpoint or parse_run_name(name)}
    for name, run_dir in found.items():
        for file, command in (needs or {}).items():
            if not (run_dir / file).is_file():
                raise FileNotFoundError(f"no such results file {run_dir / file}; produce it "
                                        f"with: python {command} {name} --runs {runs}")
    return found
