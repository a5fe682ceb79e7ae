"""core.cli: one-line error exits, the shared flags and thread setting."""

import argparse
import errno
import tempfile
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure
from script_loader import ROOT, load_script

from core.cli import (
    DEFAULT_THREADS,
    KNOWN_ERRORS,
    ArgumentParser,
    add_run_arguments,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    fail,
    resolve_device,
    resolve_trained_runs,
    run_figures,
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
    PermissionError("out: read-only"),
    NotADirectoryError("runs/file/x: not a directory"),
    OSError("Unable to create file (h5py)"),
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


def test_an_os_error_reads_file_and_reason(capsys):
    @cli_main
    def main(argv=None):
        raise OSError(errno.ENOSPC, "No space left on device", "out/fig.png")

    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: out/fig.png: No space left on device\n"


def _read_only(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system", kwargs.get("dir"))


def _disk_full(self, fname, *args, **kwargs):
    with open(fname, "wb") as f:
        f.write(b"half a figure")
    raise OSError(errno.ENOSPC, "No space left on device", str(fname))


@pytest.mark.parametrize("fault", ["read-only", "disk full", "out inside a file"])
def test_os_errors_of_a_script_are_one_line_and_leave_stored_files_intact(fault, tmp_path,
                                                                          monkeypatch, capsys):
    script = load_script("multiple_task/plot_tasks.py", "plot_tasks_faults")
    out = tmp_path / "figs" / "tasks"
    script.main(["--rules", "fdgo", "--batch", "2", "--out", str(out)])
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    capsys.readouterr()
    target = out
    if fault == "read-only":
        monkeypatch.setattr(tempfile, "mkstemp", _read_only)
        reason = "Read-only file system"
    elif fault == "disk full":
        monkeypatch.setattr(Figure, "savefig", _disk_full)
        reason = "No space left on device"
    else:
        target = out.parent / "tasks.png" / "tasks"
        reason = f"error: {out.parent / 'tasks.png'} is a file, not a folder\n"
    with pytest.raises(SystemExit) as info:
        script.main(["--rules", "fdgo", "--batch", "2", "--out", str(target), "--overwrite"])
    err = capsys.readouterr().err.rsplit("\r", 1)[-1]  # after the progress bar's last redraw
    assert info.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert reason in err
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == before


def test_resolve_trained_runs_checks_every_run_before_any_is_used(tmp_path):
    name = "reach_seed0_L21e4+hidden8+batch8+angle"
    (tmp_path / name).mkdir()
    (tmp_path / name / "checkpoint.pt").write_bytes(b"")
    assert resolve_trained_runs(tmp_path, [name]) == {name: tmp_path / name}
    with pytest.raises(FileNotFoundError, match="no trained run 'reach_seed1"):
        resolve_trained_runs(tmp_path, [name, name.replace("seed0", "seed1")])
    with pytest.raises(FileNotFoundError, match="no such results file .*analysis.h5; produce "
                                                "it with: python multiple_task/"):
        resolve_trained_runs(tmp_path, [name], needs={
            "analysis.h5": "multiple_task/multiple_task_analysis.py"})


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
    assert "SIGTERM" in p.epilog and "10x its step-0 value at 3 validations" in p.epilog
    args = p.parse_args([])
    assert (str(args.out), args.resume, args.overwrite, args.device, args.threads,
            args.no_progress) == ("runs/x", False, False, "cpu", 1, False)
    with pytest.raises(SystemExit) as info:
        p.parse_args(["--resume", "--overwrite"])
    assert info.value.code == 2 and "not allowed with" in capsys.readouterr().err
    assert p.parse_args(["--resume", "--no-progress"]).resume is True
    assert p.parse_args(["--resume=if-exists"]).resume == "if-exists"
    with pytest.raises(SystemExit):
        p.parse_args(["--resume=always"])


def test_a_folder_flag_naming_a_file_is_refused_while_parsing(tmp_path, capsys):
    (tmp_path / "figs").write_text("x")
    p = ArgumentParser(prog="analyse.py")
    add_trained_runs_arguments(p)
    assert p.parse_args(["x", "--figures", str(tmp_path / "new" / "f")]).figures == (
        tmp_path / "new" / "f")
    for inside in ("", "/sub"):
        with pytest.raises(SystemExit) as info:
            p.parse_args(["x", "--figures", f"{tmp_path / 'figs'}{inside}"])
        assert info.value.code == 2 and capsys.readouterr().err == (
            f"error: analyse.py: argument --figures: {tmp_path / 'figs'} is a file, not a folder "
            "(see analyse.py --help)\n")


def test_trained_runs_arguments():
    p = argparse.ArgumentParser()
    add_trained_runs_arguments(p)
    args = p.parse_args(["a", "b", "--runs", "r"])
    assert (args.names, args.runs, args.figures) == (["a", "b"], "r", None)
    q = argparse.ArgumentParser()
    add_trained_runs_arguments(q, figures=False)
    assert not hasattr(q.parse_args(["a"]), "figures")
    h = argparse.ArgumentParser()
    add_trained_runs_arguments(h, figures_help="all runs' figures")
    assert "all runs' figures" in h.format_help()


def test_several_runs_draw_into_a_folder_each_under_figures():
    run_dir = Path("runs") / "a"
    assert run_figures(None, run_dir, ["a", "b"]) == run_dir / "figures"
    assert run_figures("F", run_dir, ["a"]) == Path("F")
    assert run_figures("F", run_dir, ["a", "b"]) == Path("F") / "a"


def test_scripts_write_only_into_untracked_folders_by_default():
    ignored = {line.strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()}
    defaults = {
        "multiple_task/accuracy_sweep.py": ([], "dir"),
        "multiple_task/multiple_task.py": ([], "out"), "one_task/one_task.py": ([], "out"),
        "multiple_task/plot_tasks.py": ([], "out"), "paper_plot.py": ([], "out"),
        "multiple_task/multiple_task_analysis.py": (["x"], "runs"),
        "multiple_task/lesion.py": (["x"], "runs"), "multiple_task/lesion_plot.py": (["x"], "runs"),
        "multiple_task/preceding_trial_shift.py": (["x"], "runs"),
        "multiple_task/state_space_shift.py": (["x"], "runs"),
    }
    for path, (argv, flag) in defaults.items():
        script = load_script(path, "defaults_" + path.replace("/", "_")[:-3])
        value = getattr(script.parse_args(argv), flag)
        assert str(value).split("/")[0] in ignored, (path, value)


@pytest.mark.parametrize("script", ["multiple_task/multiple_task.py",
                                    "mixture_of_pathways/evaluate.py", "babyai/train.py",
                                    "local_experts/train.py", "timescales/analyze.py"])
def test_a_negative_seed_is_refused_naming_the_flag_before_any_work(script, capsys):
    """numpy's generators take no negative seed; the flag says so, not a ValueError mid-run."""
    module = load_script(script, "negative_seed_" + script.replace("/", "_")[:-3])
    with pytest.raises(SystemExit) as info:
        module.main(["runs/none", "--seed", "-1"] if "evaluate" in script or
                    "analyze" in script else ["--seed", "-1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --seed: must be >= 0, got -1" in err


def test_a_help_that_states_its_default_gets_no_second_one():
    from core.cli import DefaultsHelpFormatter

    p = ArgumentParser(prog="x", formatter_class=DefaultsHelpFormatter)
    p.add_argument("--layers", default=None, help="sizes (default: -l 0,16,32)")
    p.add_argument("--steps", type=int, default=7, help="updates")
    p.add_argument("--stop", type=float, default=None, help="loss to stop at (None: never)")
    text = p.format_help()
    assert "(default: -l 0,16,32)" in text and "(default: None)" not in text
    assert "updates (default: 7)" in text
