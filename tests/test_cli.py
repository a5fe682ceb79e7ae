"""core.cli: one-line error exits, the shared flags and thread setting."""

import argparse

import pytest
import torch

from core.cli import (
    DEFAULT_THREADS,
    KNOWN_ERRORS,
    add_run_arguments,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    fail,
    resolve_device,
    set_threads,
)
from core.errors import CheckpointError, ResultsFileError, RunExistsError, TrainingDiverged
from core.io import ResultsFileError as IOResultsFileError
from core.training import CheckpointError as TrainingCheckpointError


@pytest.mark.parametrize("error", [
    CheckpointError("run/checkpoint.pt: corrupt\n  (details)"),
    ResultsFileError("a.h5: no such results file"),
    RunExistsError("runs/x already holds a run"),
    TrainingDiverged("loss is nan at step 3"),
    FileExistsError("out.png already exist(s)"),
    FileNotFoundError("no trained run 'x'"),
    ValueError("unknown rule 'nope'"),
])
def test_known_error_becomes_one_line_and_exit_2(error, capsys):
    @cli_main
    def main(argv=None):
        raise error

    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    expected = "error: " + " ".join(str(error).split())
    assert str(info.value) == expected
    err = capsys.readouterr().err
    assert err == expected + "\n"  # exactly one line, no traceback


def test_unknown_errors_pass_through_with_their_traceback():
    @cli_main
    def main(argv=None):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError, match="a bug"):
        main()


def test_extra_errors_and_return_value(capsys):
    @cli_main(errors=(*KNOWN_ERRORS, KeyError))
    def main(key):
        return {"a": 1}[key]

    assert main("a") == 1
    with pytest.raises(SystemExit) as info:
        main("b")
    assert info.value.code == 2 and capsys.readouterr().err == "error: 'b'\n"
    assert main.__name__ == "main"


def test_fail_prints_one_line(capsys):
    with pytest.raises(SystemExit, match="^error: --k must stay below 8$") as info:
        fail("--k must stay\nbelow 8")
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: --k must stay below 8\n"


def test_known_errors_are_the_classes_the_library_raises():
    assert IOResultsFileError is ResultsFileError
    assert TrainingCheckpointError is CheckpointError
    assert {CheckpointError, ResultsFileError, RunExistsError, TrainingDiverged} <= set(
        KNOWN_ERRORS)


def test_threads_flag_default_and_validation(capsys):
    p = argparse.ArgumentParser()
    add_threads_argument(p)
    assert p.parse_args([]).threads == DEFAULT_THREADS == 1
    assert p.parse_args(["--threads", "3"]).threads == 3
    with pytest.raises(SystemExit) as info:
        p.parse_args(["--threads", "0"])
    assert info.value.code == 2 and "must be >= 1" in capsys.readouterr().err


def test_set_threads():
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="--threads"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_run_arguments(capsys):
    p = argparse.ArgumentParser()
    add_run_arguments(p, out="runs/x")
    args = p.parse_args([])
    assert (str(args.out), args.resume, args.overwrite, args.device, args.threads,
            args.no_progress) == ("runs/x", False, False, "cpu", 1, False)
    with pytest.raises(SystemExit) as info:
        p.parse_args(["--resume", "--overwrite"])
    assert info.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_trained_runs_arguments():
    p = argparse.ArgumentParser()
    add_trained_runs_arguments(p)
    args = p.parse_args(["a", "b", "--runs", "r"])
    assert (args.names, args.runs, args.figures) == (["a", "b"], "r", None)
    q = argparse.ArgumentParser()
    add_trained_runs_arguments(q, figures=False)
    assert not hasattr(q.parse_args(["a"]), "figures")
