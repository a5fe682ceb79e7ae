"""Delay fixed points of rule pairs (multiple_task/fixed_points.py), and multi-task stages."""

import numpy as np
import pytest
import torch
from script_loader import load_script
from sklearn.decomposition import PCA

from core.analysis import load_trained
from core.analysis.fixed_points import FixedPoints, pair_fixed_points, step_map
from core.analysis.state_space import run_model
from core.io import load_results
from core.tasks import generate_trials
from core.training.trainer import STAGES_DIR, Curves, StageRecorder

multiple_task = load_script("multiple_task/multiple_task.py", "mtfp_multiple_task")
fixed_points = load_script("multiple_task/fixed_points.py", "mtfp_fixed_points")
pipeline = load_script("multiple_task/run_pipeline.py", "mtfp_run_pipeline")

NAME = "dmcgo-dmcnogo_seed0_L21e4+hidden12+batch16+angle"
SMALL = ["--trials", "4", "--n-seeds", "4", "--trajectories", "2", "--relax-steps", "2000",
         "--lbfgs-steps", "50", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny MPN trained 4 steps on one pair, with stages at step 2 and at mean accuracy 0."""
    out = tmp_path_factory.mktemp("runs")
    multiple_task.main(["--preset", "quick", "--rules", "dmcgo,dmcnogo", "--hidden", "12",
                        "--batch", "16", "--steps", "4", "--out", str(out), "--threads", "1",
                        "--eval-trials", "8", "--no-progress", "--stages", "2",
                        "--stage-accuracies", "0", "--test-trials", "3"])
    return out


def test_multi_task_stages_are_recorded_at_steps_accuracies_and_the_last_step(runs):
    folder = runs / NAME / STAGES_DIR
    assert sorted(p.name for p in folder.glob("*.npz")) == [
        "step_000000.npz", "step_000002.npz", "step_000004.npz"]  # accuracy 0: reached at 0
    stage = np.load(folder / "step_000002.npz")
    assert sorted(stage["rule"].tolist()) == ["dmcgo"] * 3 + ["dmcnogo"] * 3
    assert stage["state/hidden"].shape[1:] == (6, 12)


def test_stage_recorder_records_each_accuracy_once_when_first_reached():
    recorder = StageRecorder(trials=None, stages=[], run_dir=".", accuracies=[0.5, 0.8])
    curves = Curves()
    reached = []
    for step, acc in ((0, 0.1), (50, 0.6), (100, 0.4), (150, 0.7), (200, 0.9), (250, 0.95)):
        curves.val_step.append(step)
        curves.val_accuracy.append({"a": acc, "b": acc})
        reached.append(recorder.reached(curves, step))
    assert reached == [[], [0.5], [], [], [0.8], []]
    assert recorder.reached(curves, 251) == []  # no validation at this step


def test_fixed_points_script_finds_stores_and_draws_the_pair(runs, capsys, tmp_path):
    fixed_points.main([NAME, "--runs", str(runs), *SMALL])
    out = capsys.readouterr().out
    assert "pair delaydm1-delaydm2 skipped: the run was not trained on delaydm1, delaydm2" in out
    path = runs / NAME / fixed_points.RESULTS_FILE
    stored = load_results(path, NAME)
    assert list(stored["pairs"]) == ["dmcgo-dmcnogo"]
    pair = stored["dmcgo-dmcnogo"]
    model, task, _ = load_trained(runs / NAME)
    step = step_map(model)
    for rule in ("dmcgo", "dmcnogo"):
        points = FixedPoints.from_dict(pair[rule])
        assert len(points) >= 1 and points.is_fixed.all()
        s = torch.as_tensor(points.states, dtype=torch.float64)
        residual = (step(s, points.inputs) - s).norm(dim=-1) / s.norm(dim=-1)
        assert (residual < 1e-4).all()  # float32 storage of states at relative step < 1e-6
        trials = generate_trials(rule, task, 1, np.random.default_rng(0), noise=False)
        delay = trials.epochs["delay1"][0]
        np.testing.assert_allclose(points.inputs, trials.x[delay[0], 0][None].repeat(
            len(points), 0), atol=1e-6)  # the delay input: fixation and rule cue
        assert set(pair[rule]["projection"]) == {"hidden", "WM"}
        assert pair[rule]["trajectory"]["WM"].shape[1:] == (2, 3)
    assert (runs / NAME / "figures" / "fixed_points_dmcgo-dmcnogo.png").is_file()
    written = path.stat().st_mtime_ns
    figure = (runs / NAME / "figures" / "fixed_points_dmcgo-dmcnogo.png").stat().st_mtime_ns
    fixed_points.main([NAME, "--runs", str(runs), *SMALL])
    assert capsys.readouterr().out.startswith(
        f"{NAME}: stored results are current, reused ({path}); kept fixed_points_dmcgo-dmcnogo "
        f"(files exist in {runs / NAME / 'figures'}; --overwrite recomputes and redraws)\n")
    assert (runs / NAME / "figures" / "fixed_points_dmcgo-dmcnogo.png").stat().st_mtime_ns \
        == figure
    fixed_points.main([NAME, "--runs", str(runs), "--figures", str(tmp_path), *SMALL])
    assert capsys.readouterr().out.startswith(
        f"{NAME}: stored results are current, reused ({path}); drew fixed_points_dmcgo-dmcnogo "
        f"in {tmp_path}\n")
    assert {p.name for p in tmp_path.iterdir()} == {"fixed_points_dmcgo-dmcnogo.png",
                                                    "fixed_points_dmcgo-dmcnogo.pdf"}
    assert path.stat().st_mtime_ns == written


def test_pair_projection_uses_the_pcs_of_both_rules_trajectories(runs):
    model, task, _ = load_trained(runs / NAME)
    trials = {r: generate_trials(r, task, 3, np.random.default_rng(i), noise=False)
              for i, r in enumerate(("dmcgo", "dmcnogo"))}
    result = pair_fixed_points(model, trials, n_seeds=3, n_trajectories=3, n_components=2,
                               relax_steps=300, adam_steps=0, lbfgs_steps=20)
    valid, paths = [], {}
    for rule, batch in trials.items():
        _, states = run_model(model, batch.x, track_states=True)
        paths[rule] = states["hidden"]
        mask = np.arange(batch.n_steps)[:, None] < batch.n_steps_valid[None]
        valid.append(states["hidden"][mask])
    pca = PCA(2).fit(np.concatenate(valid))
    np.testing.assert_allclose(result["explained"]["hidden"], pca.explained_variance_ratio_,
                               rtol=1e-4)
    for rule in trials:
        hidden = np.asarray(result[rule]["hidden"], dtype=float)
        np.testing.assert_allclose(np.abs(result[rule]["projection"]["hidden"]),
                                   np.abs(pca.transform(hidden)), atol=1e-4)
        first = result[rule]["trajectory"]["hidden"][:, 0]
        ok = ~np.isnan(first[:, 0])
        np.testing.assert_allclose(np.abs(first[ok]),
                                   np.abs(pca.transform(paths[rule][ok, 0])), atol=1e-4)
    with pytest.raises(ValueError, match="has the epoch"):
        pair_fixed_points(model, trials, epoch="stim2")


def test_pipeline_runs_the_fixed_points_step_once_then_skips_it(runs, capsys, monkeypatch):
    every = pipeline.steps
    monkeypatch.setattr(pipeline, "steps", lambda name, args: [
        s for s in every(name, args) if s[0] == "fixed points"])
    argv = [NAME, "--runs", str(runs), "--no-progress",
            "--fixed-points-args=" + " ".join(SMALL[:-1]), "--seed", "1"]
    (runs / NAME / fixed_points.RESULTS_FILE).unlink(missing_ok=True)
    capsys.readouterr()
    pipeline.main(argv)
    assert "  fixed points: done in" in capsys.readouterr().out
    pipeline.main(argv)
    assert "  fixed points: current, skipped" in capsys.readouterr().out
    pipeline.main([*argv[:-1], "2"])  # other options than the stored results': run again
    assert "  fixed points: done in" in capsys.readouterr().out


def test_results_of_other_options_are_recomputed_not_reused(runs, capsys):
    """Stored go-epoch points are not returned for a delay1 request (they were, before the
    options were recorded with the results)."""
    path = runs / NAME / fixed_points.RESULTS_FILE
    fixed_points.main([NAME, "--runs", str(runs), "--epoch", "go", "--overwrite", *SMALL])
    go = load_results(path, NAME)["dmcgo-dmcnogo"]["dmcgo"]["inputs"]
    capsys.readouterr()
    fixed_points.main([NAME, "--runs", str(runs), *SMALL])  # default epoch: delay1
    assert "stored results are current" not in capsys.readouterr().out
    delay = load_results(path, NAME)["dmcgo-dmcnogo"]["dmcgo"]["inputs"]
    assert not np.allclose(go[0], delay[0])  # the go input drops the fixation cue


def test_a_bad_pair_or_epoch_is_one_line_naming_it_and_the_valid_choices(runs, capsys):
    for argv, expected in (
            (["--pairs", "dmcgo,dmcnogoo"], "argument --pairs: unknown rule 'dmcnogoo' in "
                                            "'dmcgo,dmcnogoo'; rules: fdgo, reactgo, "),
            (["--epoch", "delay9"], "argument --epoch: invalid choice: 'delay9' (choose from "
                                    "'fix1', 'stim1', 'delay1', 'stim2', 'delay2', 'go')")):
        with pytest.raises(SystemExit) as info:
            fixed_points.parse_args(["x", *argv])
        assert info.value.code == 2 and str(info.value).startswith("error: ")
        assert expected in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(SystemExit) as info:  # an epoch the pair's rules do not have
        fixed_points.main([NAME, "--runs", str(runs), "--epoch", "stim2", "--overwrite",
                           *SMALL])
    assert str(info.value) == ("error: --epoch stim2: rule dmcgo of the pair dmcgo-dmcnogo has "
                               "no such epoch; its epochs: fix1, stim1, delay1, go")


def test_figures_naming_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "figs.png").write_text("x")
    with pytest.raises(SystemExit) as info:
        fixed_points.parse_args(["x", "--figures", str(tmp_path / "figs.png")])
    assert info.value.code == 2 and "is a file, not a folder" in capsys.readouterr().err
