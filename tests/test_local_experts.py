"""Mixture of local experts (Jacobs et al. 1991): gradients, responsibilities, specialisation."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from script_loader import load_script

from core.io import load_provenance, load_results
from core.models.local_experts import (
    BackpropConfig,
    MixtureConfig,
    ProtocolConfig,
    TrainConfig,
    compare_epochs,
    competitive_loss,
    confusion_matrices,
    cooperative_loss,
    gate_probabilities,
    init_params,
    loss_and_grads,
    mixture_output,
    one_hot,
    parse_system,
    responsibilities,
    responsibility_by_class,
    run_table1,
    train_population,
)
from core.models.local_experts import backprop_grads as _bp_grads
from core.runs import index_runs
from core.tasks.vowels import paper_split
from core.training.trainer import read_scores

ROOT = Path(__file__).resolve().parents[1]


def _loss(config, params, x, d):
    if isinstance(config, BackpropConfig):
        return _bp_grads(params, x, d, config.output)[0]
    if config.objective == "competitive":
        return competitive_loss(params, x, d, config.sigma, config.temperature)
    return cooperative_loss(params, x, d, config.temperature)


@pytest.mark.parametrize("config", [
    MixtureConfig(n_experts=3, n_out=3, objective="competitive", sigma=1.0, init_scale=0.8),
    MixtureConfig(n_experts=3, n_out=3, objective="competitive", sigma=0.5, init_scale=0.8),
    MixtureConfig(n_experts=3, n_out=3, objective="cooperative", init_scale=0.8),
    MixtureConfig(n_experts=3, n_out=3, objective="competitive", sigma=0.7, temperature=2.5,
                  init_scale=0.8),
    MixtureConfig(n_experts=3, n_out=3, objective="cooperative", temperature=0.4,
                  init_scale=0.8),
    BackpropConfig(n_hidden=4, n_out=3, output="logistic", init_scale=0.8),
    BackpropConfig(n_hidden=4, n_out=3, output="linear", init_scale=0.8),
])
def test_gradients_match_finite_differences(config):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 2))
    d = one_hot(rng.integers(0, 3, size=7), 3)
    params = init_params(config, [1, 2])
    _, grads = loss_and_grads(config, params, x, d)
    eps = 1e-6
    for key, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape[1:]):
            for s in range(value.shape[0]):
                plus = {k: v.copy() for k, v in params.items()}
                minus = {k: v.copy() for k, v in params.items()}
                plus[key][(s,) + idx] += eps
                minus[key][(s,) + idx] -= eps
                numeric[(s,) + idx] = (_loss(config, plus, x, d)[s]
                                       - _loss(config, minus, x, d)[s]) / (2 * eps)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


def test_responsibilities_are_a_posterior():
    rng = np.random.default_rng(1)
    config = MixtureConfig(n_experts=5, init_scale=1.0)
    params = init_params(config, [0, 1, 2])
    x = rng.normal(size=(20, 2))
    d = one_hot(rng.integers(0, 4, size=20), 4)
    h = responsibilities(params, x, d)
    assert h.shape == (3, 20, 5)
    np.testing.assert_allclose(h.sum(-1), 1.0, atol=1e-12)
    assert (h >= 0).all()
    # the expert whose output is closest to the target gets more responsibility, gate held equal
    params["V"][:] = 0.0
    params["c"][:] = 0.0
    params["W"][:, 0] = 0.0
    params["b"][:, 0] = d.mean(0)
    h = responsibilities(params, x, d, sigma=0.2)
    err = ((d[None, :, None] - np.einsum("nd,skdc->snkc", x, params["W"])
            - params["b"][:, None]) ** 2).sum(-1)
    assert (h.argmax(-1) == err.argmin(-1)).all()


def _two_clusters(n=100, seed=0):
    """Two input clusters with opposite linear rules: one expert cannot fit both."""
    rng = np.random.default_rng(seed)
    centre = np.where(rng.random(n) < 0.5, -3.0, 3.0)
    x = np.stack([centre + rng.normal(scale=0.5, size=n), rng.normal(size=n)], axis=1)
    side = centre > 0
    labels = np.where(side, x[:, 1] > 0, x[:, 1] < 0).astype(np.int64)
    return x, labels, side


def test_experts_specialise_on_two_clusters():
    x, y, side = _two_clusters()
    config = MixtureConfig(n_out=2, n_experts=2)
    result = train_population(config, x, y, x, y, seeds=[0, 1, 2], learning_rates=0.3,
                              train_config=TrainConfig(max_epochs=1500, criterion=1.0,
                                                       stop_at_criterion=False))
    h = responsibilities(result.params, x, one_hot(y, 2))
    # each cluster is handled mostly by one expert, and the two clusters by different experts
    share_left = h[:, ~side].mean(axis=1)
    share_right = h[:, side].mean(axis=1)
    assert (share_left.max(-1) > 0.9).all() and (share_right.max(-1) > 0.9).all()
    assert (share_left.argmax(-1) != share_right.argmax(-1)).all()
    assert (result.train_accuracy > 0.95).all()
    # a single linear expert cannot solve the task
    single = train_population(MixtureConfig(n_out=2, n_experts=1), x, y, x, y, [0], 0.3,
                              TrainConfig(max_epochs=1500, stop_at_criterion=False))
    assert single.train_accuracy[0] < 0.8


def test_training_stops_at_criterion_and_counts_failures():
    split = paper_split()
    config = MixtureConfig(n_experts=4)
    result = train_population(config, split.x_train, split.y_train, split.x_test, split.y_test,
                              seeds=[0, 1, 2, 3], learning_rates=[2.0, 2.0, 1e-4, 1e4],
                              train_config=TrainConfig(max_epochs=300))
    assert result.converged.tolist() == [True, True, False, False]
    assert result.stopped == ("target_accuracy", "target_accuracy", "n_steps", "diverged")
    assert result.stop_epoch[:3].tolist() == [*result.epochs_to_criterion[:2], 300]
    assert 0 < result.stop_epoch[3] < 300 and result.curves["loss"].shape == (301, 4)
    assert (result.train_accuracy[:2] >= 0.88).all()
    ep = result.epochs_to_criterion[0]
    assert result.curves["train_accuracy"][ep - 1, 0] < 0.88 <= result.curves["train_accuracy"][
        ep, 0]
    trained = {k: v[:2] for k, v in result.params.items()}
    table = responsibility_by_class(config, trained, split.x_train, split.y_train, 4)
    np.testing.assert_allclose(table.sum(-1), 1.0, atol=1e-12)
    # the same seed gives the same run whatever else shares the population
    alone = train_population(config, split.x_train, split.y_train, split.x_test, split.y_test,
                             [1], 2.0, TrainConfig(max_epochs=300))
    assert alone.epochs_to_criterion[0] == result.epochs_to_criterion[1]
    asked = iter(range(100))
    cut = train_population(config, split.x_train, split.y_train, split.x_test, split.y_test,
                           [1], 2.0, TrainConfig(max_epochs=300), should_stop=lambda: next(
                               asked) >= 5)
    assert (cut.stopped, cut.stop_epoch.tolist()) == ((None,), [5])
    np.testing.assert_array_equal(cut.curves["loss"][:, 0], alone.curves["loss"][:6, 0])


def test_tiny_table1_protocol():
    split = paper_split()
    protocol = ProtocolConfig(n_seeds=3, n_tune_seeds=2, learning_rates=(1.0, 3.0),
                              train=TrainConfig(max_epochs=400))
    summaries, grid = run_table1([MixtureConfig(n_experts=4), BackpropConfig(n_hidden=6)],
                                 split, protocol)
    assert [s.system for s in summaries] == ["4 experts", "backprop 6 hidden"]
    assert len(grid) == 4 and {row["learning_rate"] for row in grid} == {1.0, 3.0}
    for s in summaries:
        assert s.runs == 3 and s.learning_rate in (1.0, 3.0)
        conv = s.result.converged
        assert (s.result.train_accuracy[conv] >= 0.88).all()
        assert (s.result.train_accuracy[~conv] < 0.88).all()
    test = compare_epochs(summaries[0].result, summaries[1].result)
    assert 0.0 <= test["p_value"] <= 1.0


def test_table1_script_refuses_overwrite_and_bad_input(tmp_path):
    (tmp_path / "table1.md").write_text("old")
    run = [sys.executable, "local_experts/table1.py", "--out", str(tmp_path)]
    done = subprocess.run(run, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "--overwrite" in done.stderr
    assert "Traceback" not in done.stderr and (tmp_path / "table1.md").read_text() == "old"
    done = subprocess.run(run + ["--overwrite", "--lrs", "-1"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode != 0 and done.stderr.startswith("error:")


def test_train_script_writes_name_coded_runs_the_index_lists(tmp_path):
    """train.py writes one name-coded folder per seed; ``core.runs`` lists exactly these runs,
    with the fields of their names, the epochs done, the held-out accuracy and finished."""
    train = load_script("local_experts/train.py", "local_experts_train")
    split = paper_split()
    systems = {("bp6", "--lr", "10"): (BackpropConfig(n_hidden=6), 10.0, "backprop", 6, ""),
               ("mix3", "--sigma", "0.5", "--temperature", "2"): (
                   MixtureConfig(n_experts=3, sigma=0.5, temperature=2), 2.0, "competitive", 3,
                   "+sigma0.5+T2")}
    for flags in systems:
        train.main(["--out", str(tmp_path), "--seeds", "2", "--max-epochs", "40", "--system",
                    *flags])
    rows = {(r.feature, r.seed): r for r in index_runs(tmp_path)}
    assert len(rows) == 4
    for config, lr, feature, size, flags in systems.values():
        result = train_population(config, split.x_train, split.y_train, split.x_test,
                                  split.y_test, [0, 1], lr, TrainConfig(max_epochs=40))
        for seed in (0, 1):
            row = rows[feature, seed]
            assert row.run == f"vowels_seed{seed}_{feature}+hidden{size}+batch400{flags}" \
                              f"+lr{lr:g}+stop0.88"
            assert (row.family, row.rule_set, row.hidden, row.batch) == (
                "local_experts", "vowels", size, 400)
            assert (row.steps, row.n_steps) == (result.stop_epoch[seed], 40)
            assert row.finished is (result.stopped[seed] in ("target_accuracy", "n_steps"))
            assert row.eval_accuracy == pytest.approx(result.test_accuracy[seed])
            assert row.val_accuracy == pytest.approx(result.test_accuracy[seed])
            assert row.eval_trials == 200
            folder = tmp_path / row.run
            score = read_scores(folder / "evaluation.csv")["vowels"]
            assert score.chance == 0.25 and score.interval()[0] < score.accuracy
            params = np.load(folder / "params.npz")
            first = "W1" if feature == "backprop" else "W"
            np.testing.assert_array_equal(params[f"final_{first}"], result.params[first][seed])
    assert rows["competitive", 0].rule_accuracy.keys() == {"vowels"}
    bp = json.loads((tmp_path / rows["backprop", 1].run / "config.json").read_text())
    assert (bp["system"], bp["seed"], bp["model"]["n_hidden"]) == ("bp6", 1, 6)
    with pytest.raises(SystemExit, match="^error: .*vowels_seed0_backprop.*pass --overwrite"):
        train.main(["--out", str(tmp_path), "--seeds", "1", "--max-epochs", "40", "--system",
                    "bp6", "--lr", "10"])


def test_interrupted_train_script_run_is_not_finished(tmp_path):
    """SIGINT during training: the runs are written where they stopped, exit status 130, and
    the index lists them as not finished."""
    run = [sys.executable, "local_experts/train.py", "--out", str(tmp_path), "--seeds", "2",
           "--max-epochs", "1000000", "--no-stop", "--system", "mix2"]
    proc = subprocess.Popen(run, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    status = tmp_path / "vowels_seed1_competitive+hidden2+batch400+sigma1+T1+lr2+nostop" / \
        "status.json"
    deadline = time.monotonic() + 120
    while not status.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "error: stopped by SIGINT" in err, err
    rows = index_runs(tmp_path)
    assert [r.seed for r in rows] == [0, 1]
    for row in rows:
        assert row.finished is False and row.n_steps == 1_000_000
        curves = (tmp_path / row.run / "curves.csv").read_text().strip().splitlines()
        assert row.steps == len(curves) - 2 and row.eval_trials == 200


def test_parse_system_any_number_of_experts():
    assert parse_system("mix16") == MixtureConfig(n_experts=16)
    assert parse_system("mix3coop", sigma=0.5, temperature=2) == MixtureConfig(
        n_experts=3, objective="cooperative", sigma=0.5, temperature=2.0)
    assert parse_system("bp7") == BackpropConfig(n_hidden=7)
    assert parse_system("mix4", temperature=2).label == "4 experts, T 2"
    for bad in ("mix", "mixx4", "bp", "mix0"):
        with pytest.raises(ValueError):
            parse_system(bad)


def test_gate_temperature_flattens_the_gate():
    config = MixtureConfig(n_experts=5, init_scale=1.0)
    params = init_params(config, [0])
    x = np.random.default_rng(0).normal(size=(20, 2))
    entropy = [-(p * np.log(p)).sum(-1).mean() for p in
               (gate_probabilities(params, x, t) for t in (0.5, 1.0, 4.0))]
    assert entropy[0] < entropy[1] < entropy[2]


def test_confusion_matrices_match_sklearn():
    from sklearn.metrics import confusion_matrix

    split = paper_split()
    config = MixtureConfig(n_experts=4)
    result = train_population(config, split.x_train, split.y_train, split.x_test, split.y_test,
                              [0, 1], 2.0, TrainConfig(max_epochs=60))
    counts = confusion_matrices(config, result.params, split.x_test, split.y_test, 4)
    predicted = mixture_output(result.params, split.x_test).argmax(-1)
    for s in range(2):
        np.testing.assert_array_equal(counts[s], confusion_matrix(split.y_test, predicted[s],
                                                                  labels=range(4)))
    assert counts.sum() == 2 * len(split.y_test)


def test_train_script_flags_experts_sigma_temperature(tmp_path, capsys):
    train = load_script("local_experts/train.py", "local_experts_train")
    args = ["--out", str(tmp_path), "--seeds", "1", "--max-epochs", "30", "--system", "mix3"]
    train.main([*args, "--sigma", "0.5", "--temperature", "2"])
    folder = tmp_path / "vowels_seed0_competitive+hidden3+batch400+sigma0.5+T2+lr2+stop0.88"
    config = json.loads((folder / "config.json").read_text())["model"]
    assert (config["n_experts"], config["sigma"], config["temperature"]) == (3, 0.5, 2.0)
    assert np.load(folder / "params.npz")["final_W"].shape == (3, 2, 4)
    rows = (folder / "confusion.csv").read_text().strip().splitlines()
    assert rows[0].split(",")[1:] == ["[i]", "[ɪ]", "[a]", "[ʌ]"]
    assert sum(int(v) for row in rows[1:] for v in row.split(",")[1:]) == 200
    with pytest.raises(SystemExit, match="^error: --sigma and --temperature apply to mixtures"):
        train.main([*args[:-1], "bp6", "--sigma", "0.5"])
    with pytest.raises(SystemExit, match="^error: --sigma applies to the competitive"):
        train.main([*args[:-1], "mix3coop", "--sigma", "0.5"])
    with pytest.raises(SystemExit, match="^error: system 'mix0': a system needs at least one "
                                         "expert"):
        train.main([*args[:-1], "mix0"])
    with pytest.raises(SystemExit, match="^error: --split-seed applies to --split stratified"):
        train.main([*args, "--split-seed", "3"])
    train.main([*args[:-1], "mix3coop", "--temperature", "2", "--no-stop"])
    assert (tmp_path / "vowels_seed0_cooperative+hidden3+batch400+T2+lr2+nostop").is_dir()


def test_table1_writes_confusion_per_system(tmp_path):
    table1 = load_script("local_experts/table1.py", "local_experts_table1")
    table1.main(["--out", str(tmp_path), "--seeds", "2", "--tune-seeds", "1", "--lrs", "2",
                 "--max-epochs", "40", "--systems", "mix2,bp6"])
    with open(tmp_path / "table1_confusion.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["system"] for r in rows} == {"2 experts", "backprop 6 hidden"} and len(rows) == 32
    for system in ("2 experts", "backprop 6 hidden"):
        assert sum(int(r["count"]) for r in rows if r["system"] == system) == 2 * 200
    assert (tmp_path / "table1_confusion.png").stat().st_size > 0


def test_table1_records_its_data_and_paper_plot_checks_it(tmp_path, capsys):
    """table1.h5 records the vowel split's digest; paper_plot draws it, refuses it once the
    recorded data differs (or without table1.h5) with the table1.py command; a corrupt
    table1.h5 is replaced with --overwrite."""
    table1 = load_script("local_experts/table1.py", "local_experts_table1")
    paper_plot = load_script("paper_plot.py", "paper_plot_table1")
    out = tmp_path / "results" / "local_experts"
    args = ["--out", str(out), "--seeds", "2", "--tune-seeds", "1", "--lrs", "2",
            "--max-epochs", "5", "--systems", "mix2"]
    path = out / "table1.h5"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not hdf5" * 10)
    with pytest.raises(SystemExit, match="^error: .*table1.h5.*corrupted.*pass --overwrite"):
        table1.main(args)
    table1.main([*args, "--overwrite"])
    stored = load_provenance(path, "table1")
    assert stored["checkpoint"] is None
    assert stored["sources"] == {"data": paper_split().digest()}
    assert list(load_results(path, "table1")["system"]) == ["2 experts"]
    plot = ["--results", str(tmp_path / "results"), "--runs", str(tmp_path / "none"), "--out",
            str(tmp_path / "figs"), "--only", "local_experts"]
    assert paper_plot.main(plot) == 0
    with h5py.File(path, "a") as f:  # as if computed from another version of the vowel file
        f["table1"].attrs["provenance"] = json.dumps({**stored, "sources": {"data": "0"}})
    capsys.readouterr()
    assert paper_plot.main([*plot, "--overwrite"]) == 1
    printed = capsys.readouterr().out
    assert f"data has changed since; refresh them with: python " \
           f"local_experts/table1.py --out {out} --criterion 0.88 --lrs 2 --max-epochs 5 " \
           "--seed 0 --seeds 2 --sigma 1.0 --split paper --split-seed 0 --systems mix2 " \
           "--temperature 1.0 --tune-seeds 1 --overwrite" in printed
    path.unlink()  # a table1.csv without its table1.h5 records nothing
    assert paper_plot.main([*plot, "--overwrite"]) == 1
    assert "no such results file; compute it with: python local_experts/table1.py" in \
        capsys.readouterr().out


HELP_AS_SCRIPT = """
import runpy, sys
for script in sys.argv[1:]:
    sys.path[0] = str(__import__("pathlib").Path(script).parent)  # as `python script` sets it
    sys.argv = [script, "--help"]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        assert exc.code == 0, (script, exc.code)
"""


def test_scripts_run_as_files_with_only_core_installed(tmp_path):
    """``python local_experts/{table1,figures,train}.py --help`` work where only ``core`` is
    importable (as after ``pip install -e .``), the form every family uses."""
    (tmp_path / "core").symlink_to(ROOT / "core")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    scripts = [str(ROOT / "local_experts" / s) for s in ("table1.py", "figures.py", "train.py")]
    done = subprocess.run([sys.executable, "-c", HELP_AS_SCRIPT, *scripts], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("usage:") == 3


def test_a_sweep_over_seeds_lands_one_run_per_seed(tmp_path, monkeypatch, capfd):
    """core.sweep passes one --seed per job: each job of local_experts/train.py trains that seed
    only (before, every job trained 5 seeds from it, and the second job ended on the first's
    runs); a resubmission runs none."""
    from core.sweep import main as sweep

    monkeypatch.chdir(ROOT)
    argv = ["local_experts/train.py", "--seeds", "0-1", "--out", str(tmp_path), "--executor",
            "debug", "--", "--system", "mix2", "--max-epochs", "3", "--no-progress"]
    assert sweep(argv) == 0
    assert "2 finished" in capfd.readouterr().out
    assert sorted(r.seed for r in index_runs(tmp_path)) == [0, 1]
    assert sweep(["--resume", *argv]) == 0
    assert "0 of 2 jobs submitted (2 finished before)" in capfd.readouterr().out
    assert sorted(r.seed for r in index_runs(tmp_path)) == [0, 1]
