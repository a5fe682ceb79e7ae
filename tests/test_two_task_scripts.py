"""two_task/two_task.py records the requested stages on five test sets; the analysis script
stores every analysis and refuses to overwrite; paper_plot.py draws the figures from them."""

import csv
import json

import numpy as np
import pytest
from script_loader import load_script

from core.io import load_results
from core.plotting.one_task import read_stages
from core.runs import index_runs

paper_plot = load_script("paper_plot.py", "paper_plot_two_task")
two_task = load_script("two_task/two_task.py", "two_task_script")
analysis = load_script("two_task/two_task_analysis.py", "two_task_analysis_script")

SETS = ("normal", "long_fixation", "long_stimulus", "long_delay", "long_response")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    two_task.main(["--preset", "quick", "--steps", "2", "--hidden", "8", "--batch", "4",
                   "--stages", "0", "9", "--long-ms", "400", "--eval-trials", "8",
                   "--out", str(runs), "--no-progress"])
    (run,) = list(runs.iterdir())
    return runs, run


def test_stages_hold_requested_steps_on_every_test_set(trained):
    runs, run = trained
    assert run.name == "delaygo-delayanti_seed0_sL21e2aL21e2+hidden8+batch4+angle"
    for name in SETS:
        stages = read_stages(run / "stages" / name)
        assert [int(s["step"]) for s in stages] == [0, 2]  # 9 > steps; the last is added
        epochs = stages[0]
        delay = epochs["epoch/delay1"][:, 1] - epochs["epoch/delay1"][:, 0]
        assert np.all(delay == (10 if name == "long_delay" else 25))  # 400 / 40; test 1000 ms
        assert stages[-1]["state/M"].shape[:2] == (4, 32)  # 4 epochs, 2 rules x 16 trials
        assert list(dict.fromkeys(stages[0]["rule"])) == ["delaygo", "delayanti"]
    for stem in ("curves", "stages_network", "stages_summary"):
        assert (run / f"{stem}.png").is_file()


def test_fresh_trial_accuracy_is_stored_for_the_index_of_runs(trained):
    runs, run = trained
    with open(run / "evaluation.csv", newline="") as f:
        scores = {r["rule"]: r for r in csv.DictReader(f)}
    assert list(scores) == ["delaygo", "delayanti"]
    assert {int(r["n_trials"]) for r in scores.values()} == {8}
    (row,) = index_runs(runs)
    assert (row.family, row.steps, row.n_steps, row.finished, row.eval_trials) == (
        "two_task", 2, 2, True, 8)
    assert row.eval_accuracy == pytest.approx(np.mean([float(r["accuracy"])
                                                       for r in scores.values()]))


def test_analysis_stores_results_and_paper_plot_draws_them(trained, tmp_path, capsys):
    runs, run = trained
    args = [run.name, "--runs", str(runs), "--pruning-trials", "8", "--no-progress",
            "--no-figures", "--fp-alphas", "0", "0.5", "1", "--fp-stimuli", "2", "--fp-noise", "0",
            "--fp-relax", "300", "--fp-epochs", "fix1", "delay1"]
    analysis.main(args)
    results = load_results(run / analysis.RESULTS_FILE, run.name)
    assert str(results["family"]) == "two_task"
    for key in ("interpolation", "interpolation_fixed_points", "epoch_fixed_points",
                "attractor_similarity", "subspaces", "dpca", "cancellation", "modulation",
                "input_geometry", "pruning"):
        assert key in results, key
    # the long epoch of the chosen long test sets; delay fixed points at 3 α, 2 stimuli
    assert {k: str(v["epoch"]) for k, v in results["epoch_fixed_points"].items()} == {
        "long_fixation": "fix1", "long_delay": "delay1"}
    interpolation = results["interpolation_fixed_points"]
    np.testing.assert_array_equal(interpolation["alphas"], [0, 0.5, 1])
    assert interpolation["directions"].size == 2
    assert interpolation["n_fixed"].sum() + interpolation["n_slow"].sum() == len(
        interpolation["alpha"]) > 0
    np.testing.assert_array_equal(results["attractor_similarity"]["step"], [0, 2])
    assert results["interpolation"]["alphas"].size == 11
    with pytest.raises(SystemExit) as exc:
        analysis.main(args)
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    out = tmp_path / "figs"
    assert paper_plot.main(["--runs", str(runs), "--results", str(tmp_path), "--out", str(out),
                            "--only", "two_task"]) == 0
    for stem in ("curves", "accuracy_per_rule", "stages_summary", "interpolation",
                 "attractor_similarity", "subspaces_WM", "subspaces_hidden", "dpca_hidden",
                 "dpca_WM", "cancellation", "modulation", "input_geometry", "pruning",
                 "bifurcation", "epoch_fixed_points"):
        assert (out / "two_task" / run.name / f"{stem}.png").stat().st_size > 5000, stem


def test_analysis_of_a_one_task_run(tmp_path):
    one_task = load_script("one_task/one_task.py", "one_task_for_two_task")
    one_task.main(["--preset", "one_task_quick", "--hidden", "6", "--steps", "1", "--stages", "0",
                   "--test-trials", "8", "--directions", "16", "--out", str(tmp_path),
                   "--no-progress"])
    (run,) = list(tmp_path.iterdir())
    assert json.loads((run / "config.json").read_text())["task"]["n_directions"] == 16
    analysis.main([run.name, "--runs", str(tmp_path), "--no-progress", "--no-figures",
                   "--fp-epochs", "fix1", "stim1", "stim2", "--fp-noise", "0"])
    results = load_results(run / analysis.RESULTS_FILE, run.name)
    assert str(results["family"]) == "one_task"
    assert {"attractor_similarity", "subspaces", "cancellation", "modulation",
            "epoch_fixed_points"} <= set(results)
    assert not {"interpolation", "interpolation_fixed_points", "dpca", "pruning"} & set(results)
    # a one-rule run without a second stimulus: stim2 is skipped
    assert {str(v["epoch"]) for v in results["epoch_fixed_points"].values()} == {"fix1", "stim1"}
    similarity = results["attractor_similarity"]["hidden"]["stim1"]
    assert np.all(np.isnan(similarity["same_stimulus"]))
    assert np.all(np.abs(similarity["different_stimulus"]) <= 1)
