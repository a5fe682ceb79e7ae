"""benchmarks/time_to_accuracy.py: scorings at fixed times, CSV and figure, refusals (tiny, CPU)."""

from __future__ import annotations

import csv
import json

import pytest

from tests.script_loader import load_script

tta = load_script("benchmarks/time_to_accuracy.py", "time_to_accuracy")
# "go" is the go family (several rules)
TINY = ["--size", "small", "--hidden", "8", "--preset", "quick", "--rules", "go",
        "--minutes", "0.002", "--report-every", "0.001", "--eval-trials", "20", "--no-progress"]


def test_trains_for_the_budget_and_writes_the_curve(tmp_path, capsys):
    rows = tta.main([*TINY, "--out", str(tmp_path)])
    (run_dir,) = tmp_path.iterdir()
    with open(run_dir / tta.CSV_FILE) as f:
        stored = list(csv.DictReader(f))
    assert len(stored) == len(rows) >= 2
    assert [int(r["steps"]) for r in stored] == sorted(int(r["steps"]) for r in stored)
    assert int(stored[0]["steps"]) == 0 and int(stored[-1]["steps"]) >= 1
    assert float(stored[-1]["minutes"]) >= 0.002
    for r in rows:
        per_rule = {k[4:]: v for k, v in r.items() if k.startswith("acc_")}
        assert len(per_rule) >= 2 and r["min_accuracy"] == min(per_rule.values())
        assert r["min_accuracy"] == per_rule[r["min_rule"]] <= r["mean_accuracy"]
        assert r["min_low"] <= r["min_accuracy"] <= r["min_high"] and r["min_chance"] > 0
    assert (run_dir / "time_to_accuracy.png").exists()
    with open(run_dir / "evaluation.csv") as f:  # the fresh-trial scores of every rule at the end
        evaluation = {r["rule"]: r for r in csv.DictReader(f)}
    assert set(evaluation) == {k[4:] for k in rows[-1] if k.startswith("acc_")}
    assert all(int(r["n_trials"]) == 20 and float(r["chance"]) > 0 for r in evaluation.values())
    assert (run_dir / "accuracy_per_rule.png").exists() and (run_dir / "curves.png").exists()
    status = json.loads((run_dir / "status.json").read_text())  # the clock, not a step budget
    assert status["stopped"] == "time_budget" and status["step"] == int(stored[-1]["steps"])
    assert "20 fixed trials per rule" in capsys.readouterr().out
    capsys.readouterr()
    with pytest.raises(SystemExit) as again:
        tta.main([*TINY, "--out", str(tmp_path)])
    assert again.value.code == 2
    refusal = capsys.readouterr().err
    assert "--overwrite" in refusal and "--resume" not in refusal  # it has no --resume
    figure = tmp_path / "both"  # stored runs drawn side by side, refused over an existing figure
    assert tta.main(["--compare", str(run_dir), str(run_dir), "--labels", "a", "b",
                     "--figure", str(figure)]) == []
    assert figure.with_name("both.png").exists()
    for bad in (["--labels", "a"], []):
        with pytest.raises(SystemExit) as refused:
            tta.main(["--compare", str(run_dir), str(run_dir), *bad, "--figure", str(figure)])
        assert refused.value.code == 2


@pytest.mark.parametrize("bad", [["--minutes", "0"], ["--eval-trials", "0"],
                                 ["--preset", "two_task_quick"], ["--lr", "0"], ["--lr", "inf"],
                                 ["--lr", "nan"],
                                 ["--batch", "0"]])
def test_bad_arguments_give_one_line_errors(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        tta.main(bad)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_a_run_stopped_early_keeps_the_curve_scored_so_far(tmp_path, monkeypatch):
    score = tta.Clock.score

    def score_then_stop(self, trainer, t):
        score(self, trainer, t)
        if len(self.rows) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C after the second scoring

    monkeypatch.setattr(tta.Clock, "score", score_then_stop)
    args = [a if a != "0.002" else "5" for a in TINY]  # a budget the test never reaches
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        tta.main([*args, "--out", str(tmp_path)])
    (run_dir,) = tmp_path.iterdir()
    with open(run_dir / tta.CSV_FILE) as f:
        assert len(list(csv.DictReader(f))) == 2


def test_regime_levers_change_the_preset_and_are_recorded(tmp_path):
    tta.main([*TINY, "--out", str(tmp_path), "--batch", "12", "--lr", "0.01",
              "--batch-rules", "single", "--lr-halve-every", "3", "--warmup", "2",
              "--curriculum", "fdgo", "--curriculum-steps", "4"])
    (run_dir,) = tmp_path.iterdir()
    assert "batch12" in run_dir.name
    train = json.loads((run_dir / "config.json").read_text())["train"]
    assert (train["batch_size"], train["lr"], train["batch_rules"]) == (12, 0.01, "single")
    assert (train["scheduler"], train["scheduler_step"], train["scheduler_gamma"]) == \
        ("step", 3, 0.5)
    assert (train["warmup_steps"], train["curriculum"], train["curriculum_steps"]) == \
        (2, ["fdgo"], 4)
    assert json.loads((run_dir / "config.json").read_text())["preset"] == "quick"


def test_schedule_free_scorings_use_the_optimizers_average(tmp_path, monkeypatch):
    modes = []
    score = tta.Clock.score

    def score_noting_the_mode(self, trainer, t):
        score_fresh = self.run.wiring.score_fresh

        def noting(*args, **kwargs):
            modes.append(trainer.optimizer.param_groups[0]["train_mode"])
            return score_fresh(*args, **kwargs)

        monkeypatch.setattr(self.run.wiring, "score_fresh", noting)
        score(self, trainer, t)
        monkeypatch.setattr(self.run.wiring, "score_fresh", score_fresh)

    monkeypatch.setattr(tta.Clock, "score", score_noting_the_mode)
    tta.main([*TINY, "--out", str(tmp_path), "--optimizer", "schedulefree"])
    train = json.loads(next(tmp_path.iterdir()).joinpath("config.json").read_text())["train"]
    assert (train["optimizer"], train["scheduler"]) == ("schedulefree", "none")
    assert modes and not any(modes)  # each scoring ran at the average, not the training point


def test_a_curriculum_of_rules_not_trained_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        tta.main([*TINY, "--out", str(tmp_path), "--curriculum", "dm1"])
    assert refused.value.code == 2 and "rules not trained ['dm1']" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("flags, error", [
    (["--curriculum-steps", "5"], "--curriculum-steps needs --curriculum"),
    (["--labels", "a"], "--labels labels the runs of --compare only"),
    (["--optimizer", "schedulefree", "--lr-halve-every", "3"],
     "--lr-halve-every does not apply to --optimizer schedulefree")])
def test_flags_that_would_do_nothing_are_refused(flags, error, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        tta.main([*TINY, "--out", str(tmp_path), *flags])
    assert refused.value.code == 2 and f"error: {error}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_step_schedule_over_the_papers_plateau_schedule_is_said(tmp_path, capsys):
    args = [a if a != "quick" else "paper" for a in TINY]
    tta.main([*args, "--out", str(tmp_path), "--lr-halve-every", "3"])
    (run_dir,) = tmp_path.iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["preset"], config["train"]["scheduler"]) == ("paper", "step")
    assert "replaces the paper preset's plateau schedule" in capsys.readouterr().out


def test_sigterm_keeps_the_curve_and_does_not_advise_a_resume(tmp_path, monkeypatch, capsys):
    import os
    import signal

    score = tta.Clock.score

    def score_then_sigterm(self, trainer, t):
        score(self, trainer, t)
        if len(self.rows) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # deferred by the trainer to the step's end

    monkeypatch.setattr(tta.Clock, "score", score_then_sigterm)
    args = [a if a != "0.002" else "5" for a in TINY]
    with pytest.raises(SystemExit) as stopped:
        tta.main([*args, "--out", str(tmp_path)])
    assert stopped.value.code == 143
    err = capsys.readouterr().err
    assert err.startswith("error: stopped by SIGTERM") and "--overwrite" in err
    assert "--resume" not in err and err.count("\n") == 1
    (run_dir,) = tmp_path.iterdir()
    assert str(run_dir / tta.CSV_FILE) in err
