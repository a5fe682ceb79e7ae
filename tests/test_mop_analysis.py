"""Routing analysis and the Mixture-of-Pathways scripts (tiny, CPU)."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.analysis.routing import (
    MOP_SOURCES,
    fresh_stream_scores,
    lpc_difficulty_correlation,
    routing_statistics,
    steps_to_threshold,
    task_difficulty,
)
from core.errors import CheckpointError
from core.io import load_provenance, load_results, save_results
from core.models.mop import MixtureOfPathways, MixtureOfPathwaysConfig
from core.provenance import record, stale_reason
from core.runs import index_runs
from core.tasks.modcog import generate_stream, max_trial_steps
from core.training import parse_run_name
from core.training.trainer import read_scores

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mixture_of_pathways"))
import analyze  # noqa: E402
import difficulty_runs  # noqa: E402
import evaluate  # noqa: E402
import run_experiment  # noqa: E402


def test_steps_to_threshold_and_difficulty():
    assert steps_to_threshold([1.0, 0.5, 0.2, 0.3, 0.1, 0.05], 0.25) == 4
    assert steps_to_threshold([0.1, 0.2], 0.25) == 0
    assert steps_to_threshold([1.0, 0.9], 0.25) == 2
    assert task_difficulty([10, 1000, 100]) == pytest.approx(np.log(100))
    with pytest.raises(ValueError):
        task_difficulty([0, 3])
    rho, _ = lpc_difficulty_correlation(np.array([1.0, 2.0, 3.0, 4.0]),
                                        np.array([0.1, 0.5, 0.4, 0.9]))
    assert rho == pytest.approx(0.8)
    assert np.isnan(lpc_difficulty_correlation(np.arange(3.0), np.ones(3))[0])


def test_routing_statistics_matches_manual_computation():
    torch.manual_seed(0)
    tasks = ("go", "dm1")
    model = MixtureOfPathways(MixtureOfPathwaysConfig(
        n_stimulus=33, n_tasks=2, n_output=17, layers=((0, 4, 6), (0, 3)), intermediate_dim=8,
        router_dim=5, task_dim=2)).eval()
    batch = generate_stream(tasks, 5, 40, np.random.default_rng(0)).to_torch()
    stats = routing_statistics(model, [batch], tasks)
    x, labels, task_ids, response = batch
    with torch.no_grad():
        logits, states = model(x, track_states=True)
    sizes = [(0, 4, 6), (0, 3)]
    for k in range(2):
        sel = (task_ids == k) & response
        acc = (logits.argmax(-1) == labels)[sel].double().mean()
        lpc = sum(float((states[f"gates{l}"][sel] @ torch.tensor([s ** 2.0 for s in sz])).mean())
                  for l, sz in enumerate(sizes))
        assert stats.accuracy[k] == pytest.approx(float(acc))
        assert stats.lpc[k] == pytest.approx(lpc, rel=1e-5)
        assert stats.n_steps[k] == int(sel.sum())
        np.testing.assert_allclose(stats.gates[0][k], states["gates0"][sel].mean(0).numpy(),
                                   rtol=1e-5)
    pruned = routing_statistics(model, [batch], tasks, disable_complex=True)
    assert np.all(pruned.gates[0][:, 2] == 0) and np.all(pruned.gates[1][:, 1] == 0)
    assert np.all(pruned.lpc < stats.lpc)


TINY = ["-l", "0,4", "--intermediate-dim", "8", "--router-dim", "4", "--task-dim", "2",
        "--batch-size", "4", "--seq-len", "30", "--num-steps", "2", "--eval-batches", "1",
        "--eval-trials", "20", "--no-progress"]


def test_run_experiment_resume_and_refuse(tmp_path):
    [run] = run_experiment.main(["--task-id", "modcog/go,dms", "--num-epochs", "1",
                                 "--out", str(tmp_path), *TINY])
    assert {"checkpoint.pt", "config.json", "curves.csv", "validation.csv"} <= {
        p.name for p in run.iterdir()}
    name = parse_run_name(run.name)
    assert name.task == "modcog-go.dms" and name.hidden == 8 and name.batch == 4
    assert "+mop+L0-4" in name.accfeature
    with pytest.raises(SystemExit, match="^error: .*--resume"):
        run_experiment.main(["--task-id", "modcog/go,dms", "--num-epochs", "1",
                             "--out", str(tmp_path), *TINY])
    run_experiment.main(["--task-id", "modcog/go,dms", "--num-epochs", "2", "--resume",
                         "--out", str(tmp_path), *TINY])
    lines = (run / "curves.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 4  # header + 4 steps
    with pytest.raises(SystemExit, match="^error: unknown Mod-Cog task"):
        run_experiment.main(["--task-id", "modcog/nope", "--out", str(tmp_path), *TINY])
    with pytest.raises(SystemExit, match="^error: layer spec"):
        run_experiment.main(["--task-id", "modcog/go", "-l", "0,x", "--out", str(tmp_path)])


def test_difficulty_runs_and_analysis(tmp_path):
    tasks = "modcog/go,dm1,dms"
    [multi] = run_experiment.main(["--task-id", tasks, "--num-epochs", "1",
                                   "--out", str(tmp_path / "multi"), *TINY])
    difficulty_runs.main(["--protocol", "current", "--task-id", tasks, "-l", "0,4",
                          "--num-steps", "3", "--batch-size", "4", "--seq-len", "30", "--out",
                          str(tmp_path / "single"), "--eval-trials", "20"])
    results = tmp_path / "res.h5"
    analyze.main([str(multi), "--difficulty-runs", str(tmp_path / "single"), "--results",
                  str(results), "--figures", str(tmp_path / "fig"), "--loss-threshold", "0.5",
                  "--eval-trials", "20"])
    stored = load_results(results, multi.name)
    assert set(stored) >= {"baseline", "disable_complex", "prune0.1", "difficulty"}
    # fresh-trial scores per condition; without intervention those of the run's evaluation.csv
    evaluation = read_scores(multi / "evaluation.csv")
    assert list(stored["baseline"]["trial_n_correct"]) == [s.n_correct
                                                           for s in evaluation.values()]
    assert list(stored["disable_complex"]["trial_n_trials"]) == [20, 20, 20]
    assert list(stored["baseline"]["trial_chance"]) == [1 / 16, 0.5, 0.5]
    assert np.array_equal(stored["difficulty"]["learned"],
                          stored["baseline"]["trial_accuracy"] >= 0.8)
    # an entry stored without the fresh-trial scores is stale for paper_plot
    assert stale_reason(results, multi.name, MOP_SOURCES) is None
    save_results(results, "old", {"baseline": stored["baseline"]},
                 provenance=record(results, multi / "checkpoint.pt"))
    assert stale_reason(results, "old", MOP_SOURCES) is not None
    assert list(stored["difficulty"]["tasks"]) == ["go", "dm1", "dms"]
    assert np.all(stored["difficulty"]["difficulty"] > 0)
    assert {p.name for p in (tmp_path / "fig").iterdir()} >= {
        "mop_lpc_vs_difficulty.png", "mop_routing_maps.png", "mop_interventions.png"}
    with pytest.raises(SystemExit, match="^error: .*already exist"):
        analyze.main([str(multi), "--results", str(results), "--figures",
                      str(tmp_path / "fig")])
    # stored results or figures stop the script before any work, leaving the other untouched
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "fig").iterdir()}
    with pytest.raises(SystemExit, match="^error: .*mop_routing_maps.png.*already exist"):
        analyze.main([str(multi), "--results", str(tmp_path / "new.h5"), "--figures",
                      str(tmp_path / "fig")])
    assert not (tmp_path / "new.h5").exists()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "fig").iterdir()} == before
    with pytest.raises(SystemExit, match="^error: .*res.h5: results for run .* already exist"):
        analyze.main([str(multi), "--results", str(results), "--figures",
                      str(tmp_path / "new_fig")])
    assert not (tmp_path / "new_fig").exists()
    # the entry records every single-task run; one trained further makes it stale
    recorded = load_provenance(results, multi.name)["networks"]
    assert len(recorded) == 3 and all(n["step"] == 3 for n in recorded)
    assert stale_reason(results, multi.name) is None
    assert f"--difficulty-runs {tmp_path / 'single'}" in _paper_plot().mop_refresh(results,
                                                                                 multi.name)
    run_experiment.main(["--task-id", "modcog/go", "-l", "0,4", "--num-steps", "3",
                         "--num-epochs", "2", "--batch-size", "4", "--seq-len", "30",
                         "--eval-batches", "1", "--out", str(tmp_path / "single"), "--resume",
                         "--eval-trials", "20", "--no-progress"])
    assert "another network" in stale_reason(results, multi.name)


def test_trainer_steps_schedule_free_adamw():
    """The MoP config's default optimiser is schedule-free AdamW, the trainer steps it, and the
    weights it leaves (and stores) are the optimiser's average, as a hand-written loop gives."""
    from schedulefree import AdamWScheduleFree

    from core.training import Trainer

    def sample_batch(rng):
        return torch.from_numpy(rng.normal(size=(8, 3))).float()

    def loss_fn(model, x):
        return ((model(x) - x.sum(1, keepdim=True)) ** 2).mean(), None

    def trained(optimizer: str) -> torch.nn.Module:
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        config = run_experiment.MoPTrainConfig(n_steps=5, val_every=10, checkpoint_every=10,
                                               lr=0.1, optimizer=optimizer)
        trainer = Trainer(model, config, sample_batch=sample_batch, loss_fn=loss_fn, seed=3,
                          run_config={}, progress=False)
        assert isinstance(trainer.optimizer, AdamWScheduleFree) == (optimizer == "schedulefree")
        trainer.fit()
        return model

    torch.manual_seed(0)
    expected = torch.nn.Linear(3, 1)
    optimizer = AdamWScheduleFree(expected.parameters(), lr=0.1, weight_decay=0.0)
    optimizer.train()
    rng = np.random.default_rng(3)
    for _ in range(5):
        optimizer.zero_grad()
        loss_fn(expected, sample_batch(rng))[0].backward()
        optimizer.step()
    optimizer.eval()
    model = trained("schedulefree")
    torch.testing.assert_close(model.weight, expected.weight, rtol=0, atol=1e-7)
    assert not torch.allclose(trained("adamw").weight, expected.weight, atol=1e-4)


def test_run_experiment_schedule_free_resumes_bit_for_bit(tmp_path):
    args = ["--task-id", "modcog/go,dms", *TINY]
    [straight] = run_experiment.main([*args, "--num-epochs", "2", "--out", str(tmp_path / "a")])
    run_experiment.main([*args, "--num-epochs", "1", "--out", str(tmp_path / "b")])
    [resumed] = run_experiment.main([*args, "--num-epochs", "2", "--resume",
                                     "--out", str(tmp_path / "b")])
    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(resumed / "checkpoint.pt", weights_only=True)
    assert a["config"]["train"]["optimizer"] == "schedulefree"
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key


def test_run_experiment_early_stop_and_num_runs(tmp_path):
    runs = run_experiment.main(["--task-id", "modcog/go", "--num-epochs", "3", "--num-runs", "2",
                                "--early-stopping-threshold", "1e3", "--optimizer", "adamw",
                                "--out", str(tmp_path), *TINY])
    assert [parse_run_name(r.name).seed for r in runs] == [0, 1]
    assert all(r.name.endswith("+adamw") for r in runs)
    for run in runs:  # the first step's loss is below 1e3: one step (validated), and a resume
        assert len((run / "curves.csv").read_text().strip().splitlines()) == 2  # adds none
        steps = [line.split(",")[0] for line in
                 (run / "validation.csv").read_text().strip().splitlines()[1:]]
        assert steps == ["0", "1"]
    run_experiment.main(["--task-id", "modcog/go", "--num-epochs", "3", "--resume",
                         "--early-stopping-threshold", "1e3", "--optimizer", "adamw",
                         "--out", str(tmp_path), *TINY])
    assert len((runs[0] / "curves.csv").read_text().strip().splitlines()) == 2


def test_difficulty_runs_reference_protocol_by_default(tmp_path):
    out = tmp_path / "single"
    args = ["--task-id", "modcog/go", "--num-repeats", "2", "--num-epochs", "2", "--num-steps",
            "2", "-l", "4", "--batch-size", "4", "--seq-len", "30", "--eval-trials", "20",
            "--out", str(out)]
    difficulty_runs.main(args)
    runs = sorted(out.iterdir())
    assert [parse_run_name(r.name).seed for r in runs] == [0, 1]
    for run in runs:
        config = load_results_config(run)
        assert config["loss"]["alpha"] == 0 and config["loss"]["fixation_loss"] is False
        assert config["train"]["early_stopping_threshold"] == 0.25
        assert config["train"]["optimizer"] == "schedulefree"
    assert difficulty_runs.PROTOCOLS["reference"]["num_repeats"] == 5
    assert difficulty_runs.PROTOCOLS["reference"]["num_epochs"] * \
        difficulty_runs.PROTOCOLS["reference"]["num_steps"] == 10_000
    # a second protocol in the same folder is refused by the analysis, before any output
    difficulty_runs.main(["--protocol", "current", *args[:-2], "--num-repeats", "1",
                          "--out", str(out)])
    with pytest.raises(ValueError, match="mixes single-task runs of 2 protocols"):
        analyze.read_difficulties(out, 0.25)
    with pytest.raises(ValueError, match="--loss-threshold >= 0.25"):
        analyze.read_difficulties(out, 0.1)


def load_results_config(run: Path) -> dict:
    import json

    return json.loads((run / "config.json").read_text())


def test_analyze_checks_inputs_before_outputs(tmp_path):
    """A missing run is reported as missing even when the figures exist; a run with fewer than
    three tasks having difficulty runs is refused before any intervention is computed."""
    figures = tmp_path / "fig"
    figures.mkdir()
    for stem in ("mop_routing_maps", "mop_interventions"):
        for suffix in ("png", "pdf"):
            (figures / f"{stem}.{suffix}").write_text("x")
    with pytest.raises(SystemExit, match=r"^error: .*nope: no such run"):
        analyze.main([str(tmp_path / "nope"), "--figures", str(figures)])
    [multi] = run_experiment.main(["--task-id", "modcog/go,dms", "--num-epochs", "1",
                                   "--out", str(tmp_path / "multi"), *TINY])
    difficulty_runs.main(["--task-id", "modcog/go,dms", "--num-repeats", "1", "--num-epochs",
                          "1", "--num-steps", "2", "-l", "4", "--batch-size", "4", "--seq-len",
                          "30", "--eval-trials", "20", "--out", str(tmp_path / "single")])
    calls = []
    original = analyze.intervention_effects
    analyze.intervention_effects = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        with pytest.raises(SystemExit, match="^error: only 2 tasks .*needs >= 3"):
            analyze.main([str(multi), "--difficulty-runs", str(tmp_path / "single"),
                          "--results", str(tmp_path / "r.h5"), "--figures", str(figures)])
    finally:
        analyze.intervention_effects = original
    assert calls == [] and not (tmp_path / "r.h5").exists()


def test_analysis_figures_default_outside_tracked_docs():
    assert not str(analyze.parse_args(["run"]).figures).startswith("docs")


def _paper_plot():
    from script_loader import load_script

    return load_script("paper_plot.py", "paper_plot_mop")


@pytest.fixture
def no_figures(monkeypatch):
    """analyze.py and paper_plot.py without drawing (the figures are tested above); returns
    paper_plot."""
    paper_plot = _paper_plot()
    monkeypatch.setattr(analyze, "routing_figures", lambda *a: {})
    monkeypatch.setattr(paper_plot, "routing_figures", lambda *a: {})
    return paper_plot


def test_analysis_is_refused_after_the_run_is_retrained_then_recomputed(tmp_path, capsys,
                                                                        no_figures):
    """Results record the run's checkpoint: retrained with --overwrite, paper_plot refuses them
    with the analyze.py command; analyze.py recomputes a stale entry without --overwrite."""
    train = ["--task-id", "modcog/go,dms", "--out", str(tmp_path / "runs"), *TINY]
    [run] = run_experiment.main([*train, "--num-epochs", "1"])
    results = tmp_path / "results" / "mixture_of_pathways.h5"
    analyze_args = [str(run), "--results", str(results), "--figures", str(tmp_path / "fig"),
                    "--eval-trials", "20"]
    analyze.main(analyze_args)
    stored = load_provenance(results, run.name)
    assert stored["step"] == 2 and Path(stored["checkpoint"]).name == "checkpoint.pt"
    plot = ["--results", str(tmp_path / "results"), "--runs", str(tmp_path / "none"), "--out",
            str(tmp_path / "out"), "--only", "mixture_of_pathways", "--overwrite"]
    assert no_figures.main(plot) == 0
    run_experiment.main([*train, "--num-epochs", "2", "--overwrite"])
    capsys.readouterr()
    assert no_figures.main(plot) == 1
    printed = capsys.readouterr().out
    assert "stale: they were computed from another network" in printed
    assert f"refresh them with: python mixture_of_pathways/analyze.py {run} --results " \
           f"{results}" in printed
    analyze.main(analyze_args)
    assert "replacing the stored results" in capsys.readouterr().out
    assert load_provenance(results, run.name)["step"] == 4
    assert no_figures.main(plot) == 0
    with pytest.raises(SystemExit, match="^error: .*already exist and are current"):
        analyze.main(analyze_args)


def test_corrupt_results_file_is_replaced_with_overwrite(tmp_path, no_figures):
    [run] = run_experiment.main(["--task-id", "modcog/go,dms", "--num-epochs", "1",
                                 "--out", str(tmp_path), *TINY])
    results = tmp_path / "res.h5"
    results.write_bytes(b"not an HDF5 file" * 8)
    args = [str(run), "--results", str(results), "--figures", str(tmp_path / "fig"),
            "--eval-trials", "20"]
    with pytest.raises(SystemExit, match="^error: .*corrupted.*pass --overwrite"):
        analyze.main(args)
    assert not (tmp_path / "fig").exists()
    analyze.main([*args, "--overwrite"])
    assert set(load_results(results, run.name)) >= {"baseline", "disable_complex"}


def test_load_run_checks_checkpoint_config_and_folder_name(tmp_path):
    """A checkpoint of another run in a run's folder, or a renamed folder, is refused."""
    common = ["--task-id", "modcog/go,dms", "--num-epochs", "1", "--out", str(tmp_path), *TINY]
    [small] = run_experiment.main(common)
    [large] = run_experiment.main([*common, "--intermediate-dim", "6"])
    shutil.copyfile(large / "checkpoint.pt", small / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"does not match its config.json \(model\."
                                              r"intermediate_dim: config.json has 8, the "
                                              r"checkpoint 6\)"):
        analyze.load_run(small)
    renamed = large.rename(tmp_path / "renamed")
    with pytest.raises(SystemExit, match=r"^error: .*holds run '.*hidden6.*', not the folder's "
                                         r"'renamed'"):
        analyze.main([str(renamed), "--results", str(tmp_path / "r.h5")])
    assert not (tmp_path / "r.h5").exists()


def test_fresh_stream_scores_match_a_direct_count():
    """Streams of the run's length (here the longest trial, 34 steps of dms) from (seed, 2), 128
    at a time; per task the first trials that start early enough to end in their stream."""
    torch.manual_seed(0)
    tasks = ("go", "dms")
    model = MixtureOfPathways(MixtureOfPathwaysConfig(
        n_stimulus=33, n_tasks=2, n_output=17, layers=((0, 4),), intermediate_dim=8,
        router_dim=4, task_dim=2))
    with torch.no_grad():  # fixates: right on the no-go trials of dms, which vary by trial
        model.output_layer.bias[0] = 50.0
    config = {"seed": 3, "task": {"tasks": list(tasks), "n_ring": 16, "dt": 100.0, "sigma": 1.0,
                                  "seq_len": 30}}
    scores = fresh_stream_scores(model, config, 40)
    assert model.training  # mode restored
    seq_len = max(max_trial_steps(t) for t in tasks)
    assert seq_len == 34
    rng = np.random.default_rng([3, 2])
    outcomes: dict[int, list[bool]] = {0: [], 1: []}
    model.eval()
    while min(len(v) for v in outcomes.values()) < 40:
        stream = generate_stream(tasks, 128, seq_len, rng)
        with torch.no_grad():
            actions = model(torch.from_numpy(stream.x))[0].argmax(-1).numpy()
        for b in range(128):  # only trials starting at step 0 are sure to end by step 34
            end = ([t for t in range(1, seq_len) if stream.trial_start[t, b]] + [seq_len])[0]
            resp = stream.response[:end, b]
            outcomes[int(stream.task_ids[0, b])].append(bool(np.array_equal(
                actions[:end, b][resp], stream.labels[:end, b][resp])))
    for k, task in enumerate(tasks):
        assert scores[task].n_trials == 40
        assert scores[task].n_correct == sum(outcomes[k][:40])
    assert scores["go"].n_correct == 0 and 5 < scores["dms"].n_correct < 35
    assert scores["go"].chance == 1 / 16 and scores["dms"].chance == 0.5
    assert fresh_stream_scores(model, config, 40) == scores
    assert fresh_stream_scores(model, {**config, "seed": 4}, 40, seed=3) == scores


def test_run_experiment_writes_evaluation_that_core_runs_reads_and_evaluate_repeats(tmp_path,
                                                                                   capsys):
    [run] = run_experiment.main(["--task-id", "modcog/go,dms", "--num-epochs", "1",
                                 "--out", str(tmp_path), *TINY])
    scores = read_scores(run / "evaluation.csv")
    assert list(scores) == ["go", "dms"] and all(s.n_trials == 20 for s in scores.values())
    assert [s.chance for s in scores.values()] == [1 / 16, 0.5]
    assert "accuracy on 20 fresh trials per task" in capsys.readouterr().err
    [row] = index_runs(tmp_path)
    assert row.family == "mixture_of_pathways" and row.eval_trials == 20
    assert row.eval_accuracy == pytest.approx(np.mean([s.accuracy for s in scores.values()]))
    written = (run / "evaluation.csv").read_bytes()
    with pytest.raises(SystemExit, match="^error: .*evaluation.csv already exist"):
        evaluate.main([str(run), "--eval-trials", "20"])
    evaluate.main([str(run), "--eval-trials", "20", "--overwrite", "--no-progress"])
    assert (run / "evaluation.csv").read_bytes() == written  # the stored network, same trials
    evaluate.main([str(run), "--eval-trials", "30", "--overwrite", "--no-progress"])
    assert all(s.n_trials == 30 for s in read_scores(run / "evaluation.csv").values())
    with pytest.raises(SystemExit, match="^error: .*nope: no such run"):
        evaluate.main([str(tmp_path / "nope")])
