"""Stage figures of one_task runs (W, M, hidden activity across training) and the training
figures that moved to core.plotting.training."""

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from script_loader import load_script

import core.training.trainer as trainer
from core.plotting.one_task import read_stages, stage_figures, stage_summary, stage_weight
from core.plotting.training import plot_curves, plot_rule_accuracy


def _script(path: str):
    return load_script(path, Path(path).stem + "_stages")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny one_task run (MPN, 6 hidden units, 3 steps, stages 0, 2 and the last)."""
    out = tmp_path_factory.mktemp("one_task")
    _script("one_task/one_task.py").main([
        "--preset", "one_task_quick", "--rule", "fdgo", "--hidden", "6", "--steps", "3",
        "--stages", "0", "2", "--test-trials", "4", "--eval-trials", "10", "--out", str(out),
        "--no-progress"])
    (run,) = out.iterdir()
    return run


def _drawn(path: Path) -> np.ndarray:
    assert path.with_suffix(".pdf").stat().st_size > 2000, path
    image = np.asarray(mpimg.imread(path.with_suffix(".png")))
    assert image.std() > 0.01, path
    return image


def test_one_task_draws_stage_figures_at_the_end(run_dir):
    for stem in ("curves", "stages_network", "stages_summary"):
        _drawn(run_dir / stem)
    stages = read_stages(run_dir / "stages")
    assert [int(s["step"]) for s in stages] == [0, 2, 3]
    assert [int(s["step"]) for s in read_stages(run_dir / "stages", [3, 0])] == [0, 3]
    with pytest.raises(FileNotFoundError, match="step_000001.npz"):
        read_stages(run_dir / "stages", [0, 1])
    for epoch in ("epoch/fix1", "epoch/stim1", "epoch/go"):  # one timing for the whole test set
        assert len(np.unique(stages[0][epoch], axis=0)) == 1


def test_stage_summary_matches_the_stored_arrays(run_dir):
    stages = read_stages(run_dir / "stages")
    summary = stage_summary(stages)
    name, w0 = stage_weight(stages[0])
    assert name == "layers.0.W"
    w_last = stages[-1]["param/layers.0.W"]
    assert summary["weight_change"][0] == 0
    assert summary["weight_change"][-1] == pytest.approx(
        np.linalg.norm(w_last - w0) / np.linalg.norm(w0))
    assert summary["weight_change"][-1] > 0  # three Adam steps moved W
    s = stages[1]
    assert summary["test_mse"][1] == pytest.approx(
        np.mean((s["c_mask"] * (s["output"] - s["y"])) ** 2))
    n_epochs = len(s["epoch_names"])
    assert summary["mean_abs_M"].shape == (3, n_epochs)
    assert summary["mean_abs_M"][1, -1] == pytest.approx(np.nanmean(np.abs(s["state/M"][-1])))
    assert np.all((summary["participation_ratio"] >= 1)
                  & (summary["participation_ratio"] <= s["state/hidden"].shape[-1]))


def test_stage_figures_without_M_and_bad_input(run_dir, tmp_path):
    stages = read_stages(run_dir / "stages")
    # a vanilla RNN stores w_rec and no M: one row fewer, no |M| panel
    rnn = [{("param/w_rec" if k == "param/layers.0.W" else k): v for k, v in s.items()
            if k != "state/M"} for s in stages]
    figs = stage_figures(rnn, "rnn")
    assert len(figs["stages_network"].axes) == 2 * 3 + 1  # W and PCA rows + one colour bar
    assert len(figs["stages_summary"].axes) == 3
    assert "mean_abs_M" not in stage_summary(rnn)
    figs = stage_figures(stages, "mpn")
    assert len(figs["stages_network"].axes) == 3 * 3 + 2
    assert len(figs["stages_summary"].axes) == 4
    with pytest.raises(KeyError, match="recurrent/plastic weights"):
        stage_weight({"step": np.array(0)})
    with pytest.raises(ValueError):
        stage_figures([])
    with pytest.raises(FileNotFoundError, match="no stage files"):
        read_stages(tmp_path)
    (tmp_path / "step_000001.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="^.*step_000001.npz: unreadable stage file"):
        read_stages(tmp_path)


def test_training_figures_live_in_core_plotting(tmp_path):
    assert not hasattr(trainer, "plot_curves") and not hasattr(trainer, "plot_rule_accuracy")
    curves = trainer.Curves(step=[1, 2, 3], loss=[1.0, 0.5, 0.2], lr=[1e-3] * 3, val_step=[3],
                            val_loss=[0.3], val_accuracy=[{"go": 0.9, "anti": 0.4}])
    assert plot_curves(curves, tmp_path / "curves", title="t") == [
        tmp_path / "curves.pdf", tmp_path / "curves.png"]
    _drawn(tmp_path / "curves")
    plot_rule_accuracy(curves.val_accuracy[-1], tmp_path / "accuracy")
    _drawn(tmp_path / "accuracy")


def test_rule_accuracy_figure_marks_each_rules_chance_and_interval(monkeypatch):
    import core.plotting.training as training

    drawn = {}
    monkeypatch.setattr(training, "save_figure", lambda fig, path: drawn.setdefault("fig", fig))
    accuracy = {"fdgo": 0.9, "dmsgo": 0.6}
    training.plot_rule_accuracy(accuracy, "unused", chance={"fdgo": 0.125, "dmsgo": 0.5},
                                interval={"fdgo": (0.85, 0.93), "dmsgo": (0.55, 0.64)})
    ax = drawn["fig"].axes[0]
    lines = {c.get_label(): c for c in ax.collections}
    chance = lines["chance"].get_segments()
    assert [(s[0, 1], s[1, 1]) for s in chance] == [(0.125, 0.125), (0.5, 0.5)]
    assert [(s[0, 0], s[1, 0]) for s in chance] == [(-0.4, 0.4), (0.6, 1.4)]
    bars = [c for c in ax.collections if c.get_label() != "chance"][0].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in bars], [[0.85, 0.93], [0.55, 0.64]])


def test_curves_figure_marks_the_mean_chance_level_of_the_runs_rules(monkeypatch):
    import core.plotting.training as training
    from core.tasks import chance_level, get_preset

    drawn = {}
    monkeypatch.setattr(training, "save_figure", lambda fig, path: drawn.setdefault("fig", fig))
    config = get_preset("mpn_lab")
    chance = {r: chance_level(r, config) for r in ("fdgo", "dmsgo")}
    curves = trainer.Curves(step=[1, 2], loss=[1.0, 0.5], lr=[1e-3] * 2, val_step=[2],
                            val_loss=[0.3], val_accuracy=[{"fdgo": 0.9, "dmsgo": 0.4}],
                            val_chance=chance)
    training.plot_curves(curves, "unused")
    ax_acc = drawn["fig"].axes[1]
    (line,) = [ln for ln in ax_acc.get_lines() if ln.get_label().startswith("chance")]
    assert np.allclose(line.get_ydata(), np.mean(list(chance.values())))
    assert line.get_label() in [t.get_text() for t in ax_acc.get_legend().get_texts()]
    drawn.clear()
    training.plot_curves(trainer.Curves(step=[1], loss=[1.0], lr=[1e-3]), "unused")
    assert not drawn["fig"].axes[1].get_lines()  # no validation: nothing on the panel
