"""Curricula: advance exactly above threshold, active Ns, heads, checkpoints, a tiny real run."""

import numpy as np
import pytest
import torch

import core.training.curriculum as cur
from core.models.timescale_rnn import TimescaleRNN, TimescaleRNNConfig
from core.training.checkpoint import CheckpointError


def test_should_advance_exactly_above_threshold():
    assert not cur.should_advance([0.98, 0.98], 0.98)
    assert cur.should_advance([0.9801, 0.9801], 0.98)
    assert not cur.should_advance([1.0, 0.97], 0.98)  # newest head too low
    assert not cur.should_advance([0.95, 0.99], 0.98)  # mean too low
    assert cur.should_advance([0.975, 0.99, 0.99], 0.98)  # mean 0.985


def test_active_ns():
    assert cur.active_ns("single", 6, 2, 3) == [6]
    assert cur.active_ns("multi", 6, 2, 3) == [2, 3, 4, 5, 6]
    assert cur.active_ns("sliding", 6, 2, 3) == [4, 5, 6]
    assert cur.active_ns("sliding", 3, 2, 3) == [2, 3]


def _scripted(monkeypatch, values):
    """Replace evaluate: every head gets the next scripted accuracy."""
    seq = iter(values)

    def fake(model, task, ns, batch_size, n_batches, rng, hidden_mask=None):
        return np.full(len(ns), next(seq))

    monkeypatch.setattr(cur, "evaluate", fake)


@pytest.mark.parametrize("curriculum", ["single", "multi", "sliding"])
def test_curriculum_advances_only_above_threshold(monkeypatch, curriculum):
    _scripted(monkeypatch, [0.5, 0.98, 0.981, 0.98, 0.99, 0.2])
    torch.manual_seed(0)
    model = TimescaleRNN(TimescaleRNNConfig(n_hidden=4))
    config = cur.CurriculumConfig(curriculum=curriculum, window=2, batch_size=4, eval_every=1,
                                  eval_batches=1, max_steps=6)
    reached = []
    history = cur.train_curriculum(model, config, progress=False,
                                   on_reached=lambda n, m, step, acc: reached.append((n, step)))
    assert history.reached == {2: 3, 3: 5} and reached == [(2, 3), (3, 5)]
    assert history.n_newest == [2, 2, 2, 3, 3, 4]
    expected_heads = {"single": (4,), "multi": (2, 3, 4), "sliding": (2, 3, 4)}[curriculum]
    assert model.heads == expected_heads
    assert history.as_arrays()["head_accuracy"].shape == (6, 5)


def test_new_heads_are_trained(monkeypatch):
    snapshots = []

    def fake(model, task, ns, batch_size, n_batches, rng, hidden_mask=None):
        if "3" in model.readout:
            snapshots.append(model.readout["3"].weight.detach().clone())
        return np.full(len(ns), 0.99 if not snapshots else 0.1)

    monkeypatch.setattr(cur, "evaluate", fake)
    torch.manual_seed(0)
    model = TimescaleRNN(TimescaleRNNConfig(n_hidden=4))
    config = cur.CurriculumConfig(optimizer="adam", lr=0.01, batch_size=8, eval_every=1,
                                  eval_batches=1, max_steps=3)
    cur.train_curriculum(model, config, progress=False)
    assert model.heads == (2, 3) and len(snapshots) == 2
    assert not torch.equal(snapshots[0], snapshots[1])  # the head added mid-run is optimised


def test_reached_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = TimescaleRNN(TimescaleRNNConfig(n_hidden=5, heads=(2, 3)))
    config = cur.CurriculumConfig(batch_size=16, seed=7)
    path = cur.save_reached_checkpoint(tmp_path, model, config, 3, 120, np.array([0.99, 0.985]))
    assert path.parent.name == "parity_seed7_multi+hidden5+batch16+sgd+N3"
    loaded, payload = cur.load_reached_checkpoint(path)
    assert payload["n"] == 3 and payload["step"] == 120 and loaded.heads == (2, 3)
    x = torch.rand(6, 2, 1)
    assert torch.allclose(model.final_logits(x, [2, 3]), loaded.final_logits(x, [2, 3]))
    with pytest.raises(FileExistsError):
        cur.save_reached_checkpoint(tmp_path, model, config, 3, 120, np.array([0.99, 0.985]))
    with pytest.raises(CheckpointError):
        cur.load_reached_checkpoint(tmp_path / "missing.pt")


def test_tiny_network_solves_n2_parity():
    torch.manual_seed(0)
    model = TimescaleRNN(TimescaleRNNConfig(n_hidden=32))
    config = cur.CurriculumConfig(optimizer="adam", lr=0.003, batch_size=64, eval_every=100,
                                  eval_batches=4, max_steps=600, n_max=2)
    history = cur.train_curriculum(model, config, progress=False)
    assert 2 in history.reached


@pytest.mark.parametrize(("curriculum", "flags", "active"), [
    # the reference's cumulative: start with 2 heads, add 2 per solved step
    ("cumulative", {"init_heads": 2, "add_heads": 2}, [[2, 3], [2, 3, 4, 5], [2, 3, 4, 5, 6, 7]]),
    # the reference's sliding_4_2: 4 heads, forget 2 and add 2 per solved step
    ("sliding", {"init_heads": 4, "forget_heads": 2, "window": 4},
     [[2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]),
    ("sliding", {"forget_heads": 2, "window": 3}, [[2], [2, 3, 4], [4, 5, 6]]),
])
def test_head_flags_add_and_forget_heads(monkeypatch, curriculum, flags, active):
    seen = []

    def fake(model, task, ns, batch_size, n_batches, rng, hidden_mask=None):
        seen.append(list(ns))
        return np.ones(len(ns))

    monkeypatch.setattr(cur, "evaluate", fake)
    torch.manual_seed(0)
    model = TimescaleRNN(TimescaleRNNConfig(n_hidden=4))
    config = cur.CurriculumConfig(curriculum=curriculum, batch_size=4, eval_every=1,
                                  eval_batches=1, max_steps=3, **flags)
    assert config.curriculum in cur.CURRICULA
    history = cur.train_curriculum(model, config, progress=False)
    assert seen == active and sorted(history.reached) == [a[-1] for a in active]
    assert set(active[-1]) <= set(model.heads)
    feature = cur.run_feature(config, model.config)
    assert all(f"{k.split('_')[0]}{v}" in feature for k, v in flags.items() if k != "window")


def test_head_flags_are_checked():
    with pytest.raises(ValueError, match="one head"):
        cur.CurriculumConfig(curriculum="single", init_heads=2)
    with pytest.raises(ValueError, match="window"):
        cur.CurriculumConfig(curriculum="sliding", window=3, forget_heads=4)
    with pytest.raises(ValueError, match="n_max=3 is below n_start=5"):
        cur.CurriculumConfig(n_start=5, n_max=3)


def test_run_that_solves_nothing_says_so_and_keeps_its_network(tmp_path, monkeypatch, capsys):
    from script_loader import load_script
    train = load_script("timescales/train.py", "timescales_train")
    monkeypatch.setattr(cur, "evaluate",
                        lambda model, task, ns, *a, **k: np.full(len(ns), 0.5))
    train.main(["--hidden", "4", "--batch", "4", "--steps", "2", "--eval-every", "1",
                "--eval-batches", "1", "--out", str(tmp_path / "runs"), "--results",
                str(tmp_path / "c.h5"), "--no-progress"])
    out = capsys.readouterr().out
    assert "solved no N in 2 steps" in out
    last = tmp_path / "runs" / "parity_seed0_multi+hidden4+batch4+sgd+last" / "checkpoint.pt"
    model, payload = cur.load_reached_checkpoint(last)
    assert payload["solved"] == [] and payload["n"] == 2 and model.heads == (2,)
    assert not list((tmp_path / "runs").glob("*+N*"))


@pytest.mark.parametrize(("scores", "n_reached"), [([0.5, 0.5], 2), ([0.99, 0.5], 3)])
def test_n_reached_is_the_figures_largest_solved_n(monkeypatch, scores, n_reached):
    from dataclasses import asdict

    from core.plotting.timescales import plot_curricula

    _scripted(monkeypatch, scores)
    torch.manual_seed(0)
    model = TimescaleRNN(TimescaleRNNConfig(n_hidden=4, heads=(3,)))
    config = cur.CurriculumConfig(n_start=3, batch_size=4, eval_every=1, eval_batches=1,
                                  max_steps=2)
    history = cur.train_curriculum(model, config, progress=False)
    assert history.n_reached == n_reached  # n_start - 1 when nothing is solved
    name = cur.curriculum_run_name(config, model.config)
    _, final = plot_curricula({name: (history.as_arrays(), {"curriculum": asdict(config)})})
    assert final == {"multi": [n_reached]}


@pytest.mark.parametrize("curriculum", ["single", "sliding"])
def test_a_signal_saves_the_state_and_resume_matches_uninterrupted(tmp_path, monkeypatch,
                                                                    curriculum):
    import os
    import signal

    from core.errors import TrainingInterrupted
    from core.training.checkpoint import load_checkpoint

    config = cur.CurriculumConfig(curriculum=curriculum, window=2, threshold=0.01, batch_size=4,
                                  eval_every=2, eval_batches=1, max_steps=12, optimizer="adam")

    def fresh():
        torch.manual_seed(0)
        return TimescaleRNN(TimescaleRNNConfig(n_hidden=4))

    whole = cur.train_curriculum(fresh(), config, progress=False, out_dir=tmp_path / "whole")
    calls = {"n": 0}
    step = cur.train_step

    def signalled(*args):
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(*args)

    monkeypatch.setattr(cur, "train_step", signalled)
    with pytest.raises(TrainingInterrupted, match="stopped by SIGTERM at step 7; checkpoint of "
                                                  "step 7") as info:
        cur.train_curriculum(fresh(), config, progress=False, out_dir=tmp_path / "b")
    assert info.value.signum == signal.SIGTERM
    last = cur.last_checkpoint_path(tmp_path / "b", config, fresh().config)
    payload = load_checkpoint(last)
    assert payload["interrupted"] and payload["step"] == 7 and len(payload["solved"]) == 3
    with pytest.raises(CheckpointError, match=r"curriculum settings differ .*\(seed 0, now 1\)"):
        cur.train_curriculum(fresh(), cur.CurriculumConfig(**{**config.__dict__, "seed": 1}),
                             resume=payload)
    model = fresh()
    resumed = cur.train_curriculum(model, config, progress=False, out_dir=tmp_path / "b",
                                   resume=payload)
    assert resumed == whole and calls["n"] == 12
    stored = load_checkpoint(last)
    expected = load_checkpoint(cur.last_checkpoint_path(tmp_path / "whole", config, model.config))
    assert not stored["interrupted"] and stored["model_config"]["heads"] == list(model.heads)
    for key, tensor in expected["model_state"].items():
        assert torch.equal(tensor, stored["model_state"][key]), key
    with pytest.raises(FileExistsError):  # a finished run's checkpoint is never replaced
        cur.save_last_checkpoint(tmp_path / "b", model, config, resumed)
