"""Transfer runs (pretrain/): the frozen stage 2, the early-stopping rule, resume per stage."""

import numpy as np
import pytest
import torch

from core.analysis import fresh_evaluation
from core.provenance import load_current
from core.training.checkpoint import load_checkpoint, save_checkpoint
from core.training.config import TrainConfig
from core.training.trainer import Curves, Trainer, Validation, load_run
from core.training.transfer import (
    QUICK,
    TRANSFER_PRESETS,
    HeldAccuracy,
    stage_configs,
    stage_names,
    train_only_input_columns,
)
from tests.script_loader import load_script

pretraining = load_script("pretrain/pretraining.py", "pretraining_script")
analysis = load_script("pretrain/pretraining_analysis.py", "pretraining_analysis_script")

TINY = ["--preset", "quick", "--motif", "relevant", "--hidden", "8", "--batch", "4",
        "--steps1", "20", "--eval-trials", "16", "--no-progress"]


@pytest.mark.parametrize("network", ["mpn", "rnn"])
def test_stage2_trains_only_the_rule_column_and_resumes_per_stage(tmp_path, network, capsys):
    pretraining.main([*TINY, "--steps2", "6", "--network", network, "--out", str(tmp_path)])
    config1, _ = stage_configs(QUICK, "relevant", network)
    name1, name2 = stage_names("relevant", network, 0, config1.replace(hidden=8, batch_size=4))
    model1, _, _ = load_run(tmp_path / name1)
    model2, run2, payload2 = load_run(tmp_path / name2)
    assert run2["stage1"]["name"] == name1 and payload2["step"] == 6
    stored = tmp_path / name2 / "evaluation.csv"
    evaluation = stored.read_text().splitlines()
    assert evaluation[1].startswith("delayanti,16,") and evaluation[1].endswith(",0.125")
    # the same file as every family's (the stored network on delayanti trials drawn from
    # (seed, 2)), as fresh_evaluation writes it for a run trained without one
    written = stored.read_bytes()
    stored.unlink()
    fresh_evaluation(tmp_path / name2, 16)
    assert stored.read_bytes() == written
    column = 2 + 2 * 2 + 2  # two fixation inputs, two (sin, cos) modalities, the pair's cues
    state1, state2 = model1.state_dict(), model2.state_dict()
    assert state1.keys() == state2.keys()
    for key in state1:
        if key == "w_in.weight":
            others = [c for c in range(state1[key].shape[1]) if c != column]
            assert torch.equal(state1[key][:, others], state2[key][:, others])
            assert not torch.equal(state1[key][:, column], state2[key][:, column])
        else:
            assert torch.equal(state1[key], state2[key]), key
    # --resume continues each stage: stage 1 is complete, stage 2 goes on to 9 steps
    pretraining.main([*TINY, "--steps2", "9", "--network", network, "--out", str(tmp_path),
                      "--resume"])
    assert load_checkpoint(tmp_path / name1 / "checkpoint.pt")["step"] == 20
    model3, _, payload3 = load_run(tmp_path / name2)
    assert payload3["step"] == 9
    for key, value in model3.state_dict().items():
        if key != "w_in.weight":
            assert torch.equal(value, state1[key]), key
    with pytest.raises(SystemExit) as exit_info:  # no silent overwrite
        pretraining.main([*TINY, "--steps2", "6", "--network", network, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    if network == "mpn":  # the analysis stores every measure, with provenance
        capsys.readouterr()
        analysis.main([name2, "--runs", str(tmp_path), "--figures", str(tmp_path / "fig"),
                       "--test-trials", "8", "--no-progress"])
        assert "runs analysed" not in capsys.readouterr().err  # the bar over runs is hidden
        stored = load_current(tmp_path / name2 / "pretraining.h5", name2, "refresh")
        assert set(stored) >= {"speed", "rule_vectors", "subspaces", "M_change", "evaluation"}
        n_correct = int(evaluation[1].split(",")[2])  # the stage-2 run's evaluation.csv
        assert list(stored["evaluation"]["n_correct"]) == [n_correct]
        assert stored["evaluation"]["accuracy"][0] == pytest.approx(n_correct / 16)
        assert set(stored["subspaces"]) == {"hidden", "M", "WM"}
        assert len(stored["speed"]["first_step"]) == 6
        assert (tmp_path / "fig" / "transfer_curves.png").is_file()
        table = (tmp_path / "fig" / "transfer_speed.md").read_text()
        assert "| MPN, fdanti+delaygo |" in table and f"| {n_correct / 16:.2f} (" in table
        assert "delayanti accuracy, 16 fresh trials: mean [95 % t-interval]" in table
        # current: reused and the figure kept; stage 1 trained again: stale, recomputed
        flags = [name2, "--runs", str(tmp_path), "--figures", str(tmp_path / "fig"),
                 "--test-trials", "8", "--no-progress"]
        analysis.main(flags)
        out = capsys.readouterr().out
        assert f"{name2}: stored results are current, reused" in out and "replacing" not in out
        assert "table unchanged in" in out and "kept transfer_curves" in out
        payload = load_checkpoint(tmp_path / name1 / "checkpoint.pt")
        payload["model"]["w_in.weight"] = payload["model"]["w_in.weight"] * 2
        save_checkpoint(tmp_path / name1 / "checkpoint.pt", payload)
        analysis.main(flags)
        out = capsys.readouterr().out
        assert "replacing the stored results" in out and f"{name1}/checkpoint.pt" in out
        assert "drew transfer_curves" in out


def test_train_only_input_columns_rejects_bad_columns():
    from core.models.rnn import LeakyRNN, LeakyRNNConfig

    model = LeakyRNN(LeakyRNNConfig(n_in=5, n_hidden=4))
    with pytest.raises(ValueError, match="columns"):
        train_only_input_columns(model, [5])


def _curves(steps, accuracies):
    return Curves(val_step=list(steps), val_accuracy=[{"a": a, "b": 1.0} for a in accuracies])


def test_held_accuracy_rule():
    rule = HeldAccuracy(threshold=0.97, hold=3, min_step=40)
    assert not rule(_curves([], []))
    assert not rule(_curves([10, 20, 30], [0.98, 0.99, 0.97]))  # held, but before min_step
    assert rule(_curves([20, 30, 40], [0.98, 0.99, 0.97]))      # held at min_step
    assert not rule(_curves([30, 40, 50], [0.98, 0.96, 0.99]))  # one rule dipped
    assert not rule(_curves([40, 50], [0.98, 0.99]))            # fewer than `hold` validations
    with pytest.raises(ValueError):
        HeldAccuracy(threshold=0.0)


class _Scripted:
    """A model with one weight and validations scripted by step."""

    def __init__(self, accuracy_by_step):
        self.accuracy_by_step = accuracy_by_step

    def sample_batch(self, rng):
        return torch.from_numpy(rng.normal(size=(4, 2)).astype(np.float32))

    def loss_fn(self, model, batch):
        out = model(batch)
        return (out ** 2).mean(), out

    def evaluate(self, model, trainer):
        return Validation(0.0, {"a": self.accuracy_by_step[trainer.step], "b": 1.0})


@pytest.mark.parametrize("accuracy, stop_step", [
    ({0: 0.5, 10: 0.98, 20: 0.99, 30: 0.98, 40: 0.5, 50: 0.98, 60: 0.97, 70: 0.99}, 70),
    ({0: 0.5, 10: 0.98, 20: 0.99, 30: 0.98, 40: 0.98}, 40),
    ({s: 0.96 for s in range(0, 101, 10)}, 100),
])
def test_trainer_stops_exactly_when_the_rule_says(accuracy, stop_step):
    scripted = _Scripted(accuracy)
    model = torch.nn.Linear(2, 1)
    config = TrainConfig(n_steps=100, val_every=10, checkpoint_every=10, l2=0.0)
    trainer = Trainer(model, config, sample_batch=scripted.sample_batch,
                      loss_fn=scripted.loss_fn, evaluate=lambda m: scripted.evaluate(m, trainer),
                      progress=False, should_stop=HeldAccuracy(0.97, 3, 40))
    result = trainer.fit()
    assert result.step == stop_step
    assert result.stopped == ("target_accuracy" if stop_step < 100 else "n_steps")


def test_help_states_the_early_stopping_rule(capsys):
    with pytest.raises(SystemExit):
        pretraining.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for preset in TRANSFER_PRESETS.values():
        assert " ".join(preset.early_stop.describe().split()) in text
