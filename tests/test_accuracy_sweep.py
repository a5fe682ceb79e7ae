"""Accuracy against L2 and hidden size over a folder of tiny multi-task runs."""

import csv

import numpy as np
import pytest
from script_loader import load_script

from core.analysis.accuracy_sweep import by_hidden_and_l2, run_fields
from core.io import list_runs, load_results

multiple_task = load_script("multiple_task/multiple_task.py", "sweep_multiple_task")
accuracy_sweep = load_script("multiple_task/accuracy_sweep.py", "sweep_accuracy_sweep")

RUNS = {"reach_seed0_L21e4+hidden8+batch8+angle": (1e-4, 0),
        "reach_seed1_L21e4+hidden8+batch8+angle": (1e-4, 1),
        "reach_seed0_L21e3+hidden8+batch8+angle": (1e-3, 0)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for l2, seeds in (("1e-4", ["0", "1"]), ("1e-3", ["0"])):
        multiple_task.main(["--preset", "quick", "--rules", "reach", "--hidden", "8", "--batch",
                            "8", "--steps", "2", "--l2", l2, "--seed", *seeds, "--out",
                            str(root), "--eval-trials", "20", "--no-progress"])
    (root / "not_a_run").mkdir()
    return root


def test_table_holds_exactly_the_runs_with_fresh_accuracy(runs):
    groups = accuracy_sweep.main([str(runs), "--trials", "20", "--no-progress"])
    out = runs / accuracy_sweep.RESULTS_FILE
    assert sorted(list_runs(out)) == sorted(RUNS)
    for name, (l2, seed) in RUNS.items():
        entry = load_results(out, name)
        assert float(entry["l2"]) == l2 and int(entry["hidden"]) == 8
        assert int(entry["seed"]) == seed
        assert (entry["n_trials"] == 20).all()
        # the training script scored the same fresh trials (generator (seed, 2))
        with open(runs / name / "evaluation.csv") as f:
            direct = {r["rule"]: int(r["n_correct"]) for r in csv.DictReader(f)}
        assert dict(zip(map(str, entry["rules"]), entry["n_correct"].tolist(),
                        strict=True)) == direct
        assert np.all(entry["low"] <= entry["accuracy"]) and np.all(
            entry["accuracy"] <= entry["high"])
    assert list(groups) == [8]
    assert np.allclose(groups[8]["l2"], [1e-4, 1e-3])
    assert groups[8]["n_seeds"].tolist() == [2, 1]
    assert (runs / "figures" / "accuracy_by_l2.png").is_file()
    # a second call reuses the current entries; a bad folder is one error line
    again = accuracy_sweep.main([str(runs), "--trials", "20", "--no-progress"])
    assert np.allclose(again[8]["mean"], groups[8]["mean"])
    with pytest.raises(SystemExit):
        accuracy_sweep.main([str(runs / "missing")])


def test_fields_and_grouping():
    assert run_fields("everything_seed3_noreg+hidden64+batch32+angle") == {
        "hidden": 64, "l2": 0.0, "seed": 3, "rule_set": "everything"}
    with pytest.raises(ValueError):
        run_fields("not_a_run")
    groups = by_hidden_and_l2([{"hidden": 4, "l2": 0.1, "accuracy": [0.5, 0.7]},
                               {"hidden": 4, "l2": 0.1, "accuracy": [0.8, 1.0]},
                               {"hidden": 2, "l2": 0.0, "accuracy": [0.2]}])
    assert list(groups) == [2, 4]
    assert np.isclose(groups[4]["mean"][0], 0.75) and groups[4]["low"][0] < 0.75
    assert np.isnan(groups[2]["low"][0])
