"""The training script's ways of stopping: signals, divergence, bad step counts, missing runs."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from script_loader import ROOT, load_script

from core.tasks import resolve_rules
from core.training.checkpoint import load_checkpoint
from core.training.config import get_preset
from core.training.trainer import build_rule_run, rule_run_name

multiple_task = load_script("multiple_task/multiple_task.py", "mt_multiple_task_faults")

ARGS = ["--preset", "quick", "--rules", "go", "--hidden", "8", "--batch", "8", "--no-progress"]
NAME = "go_seed0_L21e4+hidden8+batch8+angle"


def _validations(run_dir):
    path = run_dir / "validation.csv"
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


def test_sigterm_to_the_script_saves_the_current_step_and_exits_143(tmp_path):
    signum = signal.SIGTERM  # what SLURM sends; SIGINT in tests/test_training.py
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "multiple_task" / "multiple_task.py"), *ARGS, "--steps",
         "100000", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env)
    checkpoint = out / NAME / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists():  # written at step 0, just before training starts
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signum
    lines = stderr.strip().splitlines()
    name = signal.Signals(signum).name
    assert len(lines) == 1 and lines[0].startswith(f"error: stopped by {name} at step "), stderr
    assert "--resume" in lines[0]
    step = int(re.search(r"at step (\d+)", lines[0])[1])
    assert load_checkpoint(checkpoint)["step"] == step

    config = get_preset("quick").replace(rules="go", hidden=8, batch_size=8, n_steps=step + 3)
    resumed = build_rule_run(config, 0, out, progress=False)
    whole = build_rule_run(config, 0, tmp_path / "whole", progress=False)
    assert resumed.trainer.fit(resume=True).curves == whole.trainer.fit().curves
    for (key, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(),
                           strict=True):
        assert torch.equal(a, b), key


def test_a_diverging_learning_rate_stops_with_the_last_good_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        multiple_task.main([*ARGS, "--lr", "1e6", "--steps", "400", "--out", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "last good checkpoint" in err
    kept = load_checkpoint(tmp_path / NAME / "checkpoint.pt")
    assert kept["step"] < 400
    assert all(torch.isfinite(v).all() for v in kept["model"].values())
    losses = kept["curves"]["val_loss"]
    assert max(losses) <= 10 * losses[0]  # the kept state is below the divergence threshold


def test_zero_steps_and_resuming_a_missing_run_are_refused_before_writing(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        multiple_task.main([*ARGS, "--steps", "0", "--out", str(tmp_path / "a")])
    assert info.value.code == 2 and ">= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^error: cannot resume: run .* does not exist"):
        multiple_task.main([*ARGS, "--steps", "2", "--out", str(tmp_path / "b"), "--resume"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_every_seed_is_checked_before_any_is_trained(tmp_path):
    multiple_task.main([*ARGS, "--steps", "1", "--seed", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="^error: .*seed1.* already holds a run"):
        multiple_task.main([*ARGS, "--steps", "1", "--seed", "0", "1", "--out", str(tmp_path)])
    assert not (tmp_path / NAME).exists()
    with pytest.raises(SystemExit, match="^error: cannot resume: .*seed2"):
        multiple_task.main([*ARGS, "--steps", "2", "--seed", "1", "2", "--out", str(tmp_path),
                            "--resume"])
    assert load_checkpoint(tmp_path / NAME.replace("seed0", "seed1") / "checkpoint.pt")[
        "step"] == 1


def test_an_out_folder_that_is_a_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "a_file"
    out.write_text("data")
    with pytest.raises(SystemExit) as info:
        multiple_task.main([*ARGS, "--steps", "1", "--out", str(out)])
    assert info.value.code == 2 and out.read_text() == "data"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert f"{out} is a file, not a folder" in err


def test_comma_lists_mix_rules_and_rule_sets_and_name_the_run():
    config = get_preset("quick").replace(rules="go, dm1", hidden=8, batch_size=8)
    assert rule_run_name(config, 3) == "go-dm1_seed3_L21e4+hidden8+batch8+angle"
    assert resolve_rules(config.rules) == ["fdgo", "reactgo", "delaygo", "dm1"]
