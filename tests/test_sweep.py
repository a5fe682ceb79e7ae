"""core.sweep end to end: a 2 configs x 2 seeds grid through submitit's local and debug executors.

The jobs run a stand-in training script (below) that keeps the contract of the family scripts
(``--seed``, ``--out``, ``--resume``, one name-coded run folder per seed, a checkpoint per step)
without importing torch, so that a sweep costs seconds.
"""

import json
import shutil

import pytest

from core.sweep import Sweep, job_state, main, make_executor, parse_grid, parse_seeds, submit, wait
from core.training import parse_run_name

TRAIN = '''
import argparse, json, os, signal, sys
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--hidden", type=int, default=8)
p.add_argument("--lr", default="1")
p.add_argument("--steps", type=int, default=4)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--out", type=Path, default=Path("runs"))
g = p.add_mutually_exclusive_group()
g.add_argument("--resume", action="store_true", help="continue")
g.add_argument("--overwrite", action="store_true", help="replace")
args = p.parse_args()
if args.lr == "bad":
    sys.exit("error: --lr bad is not a number")
run = args.out / f"toy_seed{args.seed}_noreg+hidden{args.hidden}+batch8"
state = run / "checkpoint.json"
if state.exists() and not args.resume:
    sys.exit(f"error: {run} exists; pass --resume")
run.mkdir(parents=True, exist_ok=True)
ckpt = json.loads(state.read_text()) if state.exists() else {"step": 0, "starts": []}
ckpt["starts"].append(ckpt["step"])
kill = run / "KILL"
while ckpt["step"] < args.steps:
    ckpt["step"] += 1
    state.write_text(json.dumps(ckpt))
    if kill.exists() and ckpt["step"] == 2:
        kill.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
print(f"{run.name}: {ckpt['step']} steps")
'''


def runs_of(out):
    return {p.name: json.loads((p / "checkpoint.json").read_text())
            for p in out.iterdir() if not p.name.startswith(".")}


def test_parse_seeds_and_grid():
    assert parse_seeds("0-3") == [0, 1, 2, 3] and parse_seeds("5,0-1") == [0, 1, 5]
    assert parse_grid(["hidden=64,128", "--l2=1e-4"]) == {"hidden": ["64", "128"],
                                                          "l2": ["1e-4"]}
    for bad in ("3-1", "a", ""):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)
    for bad in (["hidden"], ["hidden="], ["a=1", "a=2"]):
        with pytest.raises(ValueError, match="--grid"):
            parse_grid(bad)


def test_local_sweep_lands_runs_skips_finished_and_resumes_a_killed_one(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    out = tmp_path / "runs"
    sweep = Sweep("train.py", out, (0, 1), {"hidden": ["16", "32"]}, ("--steps", "4"),
                  root=tmp_path)
    killed = out / "toy_seed1_noreg+hidden32+batch8"
    killed.mkdir(parents=True)
    (killed / "KILL").touch()
    executor = make_executor(sweep.state_dir / "logs", "local")
    first = submit(sweep, executor)
    assert len(first.submitted) == 4 and first.executor == "local"
    done, failures = wait(first)
    assert done == 3 and len(failures) == 1
    assert "seed1" in failures[0] and "hidden 32" in failures[0] and "log: " in failures[0]
    assert "submitit" not in failures[0]  # the report quotes the script's log, not submitit's
    runs = runs_of(out)
    assert sorted(runs) == sorted(f"toy_seed{s}_noreg+hidden{h}+batch8"
                                  for s in (0, 1) for h in (16, 32))
    assert runs[killed.name]["step"] == 2  # killed after its second step
    assert {parse_run_name(n).hidden for n in runs} == {16, 32}

    with pytest.raises(FileExistsError, match="pass --resume"):
        submit(sweep, executor)
    again = submit(sweep, executor, resume=True)
    assert [job.key for job, _ in again.submitted] == [
        j.key for j in sweep.jobs() if "seed1" in j.key and "hidden32" in j.key]
    assert len(again.skipped) == 3 and again.submitted[0][0].command[-1] == "--resume"
    assert wait(again) == (1, [])
    runs = runs_of(out)
    assert all(r["step"] == 4 for r in runs.values())
    assert runs[killed.name]["starts"] == [0, 2]  # resumed from its checkpoint, not restarted
    assert all(r["starts"] == [0] for n, r in runs.items() if n != killed.name)
    assert all(job_state(j)["status"] == "finished" for j in sweep.jobs())
    assert submit(sweep, executor, resume=True).submitted == []


def test_command_line_sweep_reports_a_failed_job_and_runs_the_others(tmp_path, monkeypatch,
                                                                     capfd):
    (tmp_path / "train.py").write_text(TRAIN)
    monkeypatch.chdir(tmp_path)
    args = ["train.py", "--grid", "lr=1,bad", "--seeds", "0-1", "--out", "sw", "--executor",
            "debug", "--", "--steps", "2"]
    assert main(args) == 2  # two failed jobs (lr=bad), two finished
    captured = capfd.readouterr()
    assert "2 finished, 2 failed" in captured.out
    assert captured.err.count("failed: train.py --steps 2 --lr bad") == 2
    assert "error: --lr bad is not a number" in captured.err
    assert len(runs_of(tmp_path / "sw")) == 2
    with pytest.raises(SystemExit, match="^error: 4 of the 4 jobs .*pass --resume"):
        main(args)
    with pytest.raises(SystemExit, match="^error: --seed among the fixed arguments would be "
                                         "overridden by each job's own; give it to the sweep as "
                                         "--seeds"):
        main(["train.py", "--out", "x", "--executor", "debug", "--", "--seed", "3"])
    with pytest.raises(SystemExit, match="^error: --lr is both in the grid and among the fixed"):
        main(["train.py", "--grid", "lr=1", "--executor", "debug", "--", "--lr=2"])
    with pytest.raises(SystemExit, match="^error: .*nope.py: no such training script"):
        main(["nope.py", "--executor", "debug"])
    if shutil.which("srun") is None:  # asking for SLURM where there is none: one line
        with pytest.raises(SystemExit, match="^error: --executor slurm: "):
            main(["train.py", "--out", "none", "--executor", "slurm"])
    (tmp_path / "sweep.toml").write_text(
        'script = "train.py"\nargs = ["--steps", "2"]\nseeds = "3"\nout = "toml"\n'
        '[grid]\nhidden = [4, 8]\n')
    assert main(["--spec", "sweep.toml", "--executor", "debug", "--partition", "gpu"]) == 0
    assert "note: --partition applies to SLURM only; the debug executor ignores it" in \
        capfd.readouterr().out
    assert sorted(runs_of(tmp_path / "toml")) == [
        "toy_seed3_noreg+hidden4+batch8", "toy_seed3_noreg+hidden8+batch8"]


def test_preempted_job_is_requeued_with_the_resume_flag(tmp_path):
    """On SLURM time-out or pre-emption submitit calls ``checkpoint``: the requeued job resumes."""
    (tmp_path / "train.py").write_text(TRAIN)
    [job] = Sweep("train.py", tmp_path / "runs", (0,), root=tmp_path).jobs()
    assert "--resume" not in job.command
    requeued = job.checkpoint()
    assert requeued.function.command[-1] == "--resume"
    assert requeued.function.argv == job.argv and requeued.function.key == job.key


TRAINING_SCRIPTS = {  # every family's training script: how a sweep job passes its seed
    "multiple_task/multiple_task.py": "--seed", "one_task/one_task.py": "--seed",
    "two_task/two_task.py": "--seed", "pretrain/pretraining.py": "--seed",
    "flex_task/flex_task.py": "--seed", "mixture_of_pathways/run_experiment.py": "--seed",
    "mixture_of_pathways/difficulty_runs.py": "--seeds", "timescales/train.py": "--seeds",
    "local_experts/train.py": "--seed", "babyai/train.py": "--seed"}


@pytest.mark.parametrize("script", sorted(TRAINING_SCRIPTS))
def test_every_training_script_takes_what_a_sweep_job_passes(script, capsys):
    """A sweep job passes the seed flag and ``--out``; the README's sweeps add ``--no-progress``
    (no progress bars in the jobs' logs)."""
    from script_loader import load_script

    module = load_script(script, "sweep_contract_" + script.replace("/", "_")[:-3])
    with pytest.raises(SystemExit) as info:
        module.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in (TRAINING_SCRIPTS[script], "--out", "--no-progress"):
        assert f"{flag} " in text or f"{flag}\n" in text, (script, flag)
