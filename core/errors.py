"""The library's expected failures, each with a one-line message naming the file or value at fault.

Scripts turn them into ``error: <message>`` and exit status 2 (see :func:`core.cli.cli_main`);
anything else that escapes is a bug and keeps its traceback. The classes are re-exported where
they are raised (``core.training``, ``core.io``), so either import path works.
"""

from __future__ import annotations

import signal


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, unsafe or does not fit the model (one-line message)."""


class ResultsFileError(RuntimeError):
    """A results file is missing, corrupted or lacks the requested entry (one-line message)."""


class StaleResultsError(ResultsFileError):
    """Stored results were computed from another network or input than the one now on disk
    (one-line message naming the command that refreshes them; see :mod:`core.provenance`)."""


class RunExistsError(RuntimeError):
    """The run folder already holds a run and neither resume nor overwrite was asked for."""


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN/inf, or the validation loss ran far above its starting
    value (the rule: :data:`core.training.trainer.DIVERGENCE_FACTOR`); the last good checkpoint
    is kept."""


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal (SIGINT/SIGTERM) after saving a checkpoint; ``signum`` is the
    signal's number (scripts exit with status 128 + ``signum``)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class StopSignal(BaseException):
    """SIGINT or SIGTERM arrived inside :func:`core.cli.stop_on_signals`, which raises it at once
    wherever the work is; ``signum`` is the signal's number (scripts exit with status 128 +
    ``signum``). A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception``
    of the interrupted code swallows it."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
