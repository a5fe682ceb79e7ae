"""The timescales scripts write nothing tracked by default and check inputs before outputs."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from script_loader import ROOT, load_script

from core.io import load_results
from core.models.timescale_rnn import TimescaleRNN, TimescaleRNNConfig
from core.training.checkpoint import load_checkpoint
from core.training.curriculum import CurriculumConfig, curriculum_run_name
from core.training.curriculum import save_reached_checkpoint as save

SCRIPTS = {name: load_script(f"timescales/{name}.py", f"timescales_{name}")
           for name in ("analyze", "ablate", "plot")}


@pytest.mark.parametrize("name", SCRIPTS)
def test_default_outputs_are_under_results(name):
    args = SCRIPTS[name].parse_args(["x"] if name != "plot" else [])
    for value in vars(args).values():
        if isinstance(value, Path):
            assert not value.parts or value.parts[0] != "docs", (name, value)


def test_plot_checks_input_before_output(tmp_path, capsys):
    out = tmp_path / "fig"
    with pytest.raises(SystemExit) as stop:
        SCRIPTS["plot"].main(["--results", str(tmp_path / "missing.h5"), "--out", str(out)])
    assert stop.value.code == 2 and "no such results file" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    (tmp_path / "c.h5").write_bytes(b"")
    out.with_suffix(".png").write_bytes(b"old")
    with pytest.raises(SystemExit):
        SCRIPTS["plot"].main(["--results", str(tmp_path / "c.h5"), "--out", str(out)])
    assert "--overwrite" in capsys.readouterr().err
    assert out.with_suffix(".png").read_bytes() == b"old"


@pytest.mark.parametrize("name", ["plot", "analyze", "ablate"])
def test_an_existing_figure_with_a_dot_in_its_name_is_refused(name, tmp_path, capsys):
    figure = tmp_path / "fig.v2"
    (tmp_path / "fig.v2.png").write_bytes(b"old")
    (tmp_path / "c.h5").write_bytes(b"")
    config = CurriculumConfig(task="parity", n_start=2)
    torch.manual_seed(0)
    model = TimescaleRNN(TimescaleRNNConfig(n_hidden=4, heads=(2,)))
    checkpoint = save(tmp_path / "runs", model, config, 2, 10, np.ones(1))
    run = curriculum_run_name(config, model.config)
    argv = {"plot": ["--results", str(tmp_path / "c.h5"), "--out", str(figure)],
            "analyze": [run, "--runs-dir", str(tmp_path / "runs"), "--figure", str(figure),
                        "--results", str(tmp_path / "a.h5")],
            "ablate": [str(checkpoint), "--k", "1", "--figure", str(figure),
                       "--results", str(tmp_path / "a.h5")]}[name]
    with pytest.raises(SystemExit) as stop:
        SCRIPTS[name].main(argv)
    assert stop.value.code == 2 and "fig.v2.png already exist" in capsys.readouterr().err
    assert (tmp_path / "fig.v2.png").read_bytes() == b"old" and not (tmp_path / "a.h5").exists()


def test_analyze_checks_every_input_before_any_output(tmp_path, capsys):
    with pytest.raises(SystemExit):
        SCRIPTS["analyze"].main(["nope", "--runs-dir", str(tmp_path),
                                 "--results", str(tmp_path / "a.h5"),
                                 "--figure", str(tmp_path / "f")])
    assert "no checkpoints" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_analysis_of_a_changed_per_n_checkpoint_is_refused_and_recomputed(tmp_path, capsys):
    runs, results = tmp_path / "runs", tmp_path / "results" / "timescales"
    config = CurriculumConfig(task="parity", n_start=2)
    torch.manual_seed(0)
    model = TimescaleRNN(TimescaleRNNConfig(n_hidden=4, heads=(2,)))
    for n in (2, 3):
        save(runs, model, config, n, 10 * n, np.ones(1))
    name = curriculum_run_name(config, model.config)
    flags = [name, "--runs-dir", str(runs), "--results", str(results / "analysis.h5"),
             "--figure", str(tmp_path / "fig"), "--trials", "2", "--length", "60",
             "--burn-in", "10", "--fit-lag", "10", "--overwrite"]
    SCRIPTS["analyze"].main(flags)
    paper_plot = load_script("paper_plot.py", "paper_plot_timescales")
    plot = ["--results", str(tmp_path / "results"), "--runs", str(tmp_path / "none"),
            "--only", "timescales", "--overwrite", "--out", str(tmp_path / "out")]
    assert paper_plot.main(plot) == 0
    with torch.no_grad():
        model.w_rec.weight.add_(1.0)  # N=3 trained again: another network under the same name
    (runs / f"{name}+N3" / "checkpoint.pt").unlink()
    save(runs, model, config, 3, 30, np.ones(1))
    capsys.readouterr()
    assert paper_plot.main(plot) == 1
    printed = capsys.readouterr().out
    assert "stale" in printed and "timescales/analyze.py" in printed
    again = [*flags[:-1], "--figure", str(tmp_path / "fig2")]
    SCRIPTS["analyze"].main(again)  # a stale entry is recomputed without --overwrite...
    assert "replacing the stored results" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # ...a current one is kept
        SCRIPTS["analyze"].main([*flags[:-1], "--figure", str(tmp_path / "fig3")])
    assert "current" in capsys.readouterr().err


def test_sigint_to_train_saves_the_current_step_and_resume_matches_uninterrupted(tmp_path,
                                                                                   capsys):
    train = load_script("timescales/train.py", "timescales_train_signal")
    flags = ["--hidden", "8", "--batch", "8", "--eval-every", "5", "--eval-batches", "1",
             "--optimizer", "adam", "--lr", "0.003"]
    out, results = tmp_path / "runs", tmp_path / "c.h5"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "timescales" / "train.py"), *flags, "--steps", "100000",
         "--out", str(out), "--results", str(results)], stderr=subprocess.PIPE, env=env)
    progress, deadline = b"", time.monotonic() + 240
    while not re.search(rb"\| *[1-9]\d*/100000", progress):  # the bar shows a finished step
        assert proc.poll() is None and time.monotonic() < deadline, progress
        progress += os.read(proc.stderr.fileno(), 4096)
    proc.send_signal(signal.SIGINT)
    lines = (progress + proc.communicate(timeout=240)[1]).decode().strip().splitlines()
    err = lines[-1]  # one line, after the progress bar's last redraw
    assert proc.returncode == 130 and sum("error" in line for line in lines) == 1, lines
    assert err.startswith("error: stopped by SIGINT at step ") and "--resume" in err
    step = int(re.search(r"at step (\d+)", err)[1])
    name = "parity_seed0_multi+hidden8+batch8+adam"
    stopped = load_checkpoint(out / f"{name}+last" / "checkpoint.pt")
    assert stopped["interrupted"] and stopped["step"] == step and not results.exists()

    with pytest.raises(SystemExit, match="--resume to continue it if it was interrupted"):
        train.main([*flags, "--steps", str(step + 7), "--out", str(out), "--results",
                    str(results), "--no-progress"])
    capsys.readouterr()
    with pytest.raises(SystemExit, match=r"^error: cannot resume run .*other settings \(lr "
                                         r"0\.003, now 0\.01\); resume with its flags"):
        train.main([*flags, "--lr", "0.01", "--steps", str(step + 7), "--out", str(out),
                    "--results", str(results), "--no-progress", "--resume"])
    assert "resuming" not in capsys.readouterr().out  # refused before it says it resumes
    train.main([*flags, "--steps", str(step + 7), "--out", str(out), "--results", str(results),
                "--no-progress", "--resume"])
    assert f"{name}: resuming at step {step}" in capsys.readouterr().out
    train.main([*flags, "--steps", str(step + 7), "--out", str(tmp_path / "whole"),
                "--results", str(tmp_path / "whole.h5"), "--no-progress"])
    resumed = load_checkpoint(out / f"{name}+last" / "checkpoint.pt")
    whole = load_checkpoint(tmp_path / "whole" / f"{name}+last" / "checkpoint.pt")
    assert not resumed["interrupted"] and resumed["step"] == whole["step"]
    for key, tensor in whole["model_state"].items():
        assert torch.equal(tensor, resumed["model_state"][key]), key
    for key, array in load_results(tmp_path / "whole.h5", name).items():
        np.testing.assert_array_equal(array, load_results(results, name)[key], err_msg=key)
    train.main([*flags, "--steps", str(step + 7), "--out", str(out), "--results", str(results),
                "--no-progress", "--resume"])  # finished: nothing to do
    assert "finished already" in capsys.readouterr().out


def test_train_refuses_an_existing_run_and_replaces_it_only_with_overwrite(tmp_path, capsys):
    from core.io import load_config
    from core.provenance import stale_reason

    train = load_script("timescales/train.py", "timescales_train_overwrite")
    out, results = tmp_path / "runs", tmp_path / "c.h5"
    flags = ["--hidden", "4", "--batch", "4", "--steps", "2", "--eval-every", "1",
             "--eval-batches", "1", "--out", str(out), "--results", str(results),
             "--no-progress"]
    train.main(flags)
    name = "parity_seed0_multi+hidden4+batch4+sgd"
    last = out / f"{name}+last" / "checkpoint.pt"
    solved = out / f"{name}+N9"  # a per-N folder of the run, as if it had solved N = 9
    solved.mkdir()
    before = (last.read_bytes(), results.read_bytes())
    capsys.readouterr()
    exists = (f"already exists in {results} and {out}; pass --resume to continue it if it was "
              "interrupted, or --overwrite to replace it")
    for again, said in ((["--lr", "0.5"], exists),  # a run asked for twice is refused too
                        (["--overwrite", "--seeds", "0", "0"], "asked for twice"),
                        (["--overwrite", "--curricula", "multi", "cumulative"], "asked for twice")):
        with pytest.raises(SystemExit) as stop:  # refused before anything is written
            train.main([*flags, *again])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith("error: run ")
        assert said in err and (last.read_bytes(), results.read_bytes()) == before
        assert solved.is_dir()
    train.main([*flags, "--lr", "0.5", "--overwrite"])
    assert not solved.exists() and last.read_bytes() != before[0]
    assert load_config(results, name)["curriculum"]["lr"] == 0.5
    assert stale_reason(results, name) is None  # the entry describes the new network


def test_every_train_flag_is_described_and_progress_is_hidden_by_no_progress(monkeypatch):
    import argparse

    train = load_script("timescales/train.py", "timescales_train_help")
    parsers = []
    parse = argparse.ArgumentParser.parse_args
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args",
                        lambda self, *a, **k: parsers.append(self) or parse(self, *a, **k))
    args = train.parse_args(["--no-progress", "--overwrite"])
    assert args.no_progress and args.overwrite and not args.resume
    flags = {f: a.help for a in parsers[0]._actions for f in a.option_strings}
    assert {"--seeds", "--resume", "--overwrite", "--no-progress"} <= set(flags)
    assert "--quiet" not in flags and all(flags.values())
