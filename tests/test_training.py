import json
import math
import os
import signal

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.errors import CheckpointError
from core.tasks import MPN_LAB, RULE_SETS
from core.training.checkpoint import load_checkpoint
from core.training.config import TrainConfig, get_preset
from core.training.losses import (
    activity_penalty,
    masked_cross_entropy,
    masked_mse,
    weight_matrices,
    weight_penalty,
)
from core.training.trainer import (
    RuleTraining,
    RunExistsError,
    StageRecorder,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
    Validation,
    check_run_target,
    curriculum_stages,
)


class ToyRNN(torch.nn.Module):
    """A minimal model with the project's interface: ``y, states = model(x, track_states)``."""

    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.w_in = torch.nn.Linear(n_in, n_hidden)
        self.w_rec = torch.nn.Linear(n_hidden, n_hidden, bias=False)
        self.w_out = torch.nn.Linear(n_hidden, n_out)

    def forward(self, x, track_states=False, hidden_mask=None):
        h = x.new_zeros(x.shape[1], self.w_rec.in_features)
        hs = []
        for t in range(x.shape[0]):
            h = torch.tanh(self.w_in(x[t]) + self.w_rec(h))
            hs.append(h)
        hidden = torch.stack(hs)
        return self.w_out(hidden), ({"hidden": hidden} if track_states else {})


def test_masked_mse_matches_hand_computation():
    y_hat = torch.tensor([[[1.0, 2.0]], [[0.0, -1.0]]])  # (T=2, B=1, n_out=2)
    y = torch.tensor([[[0.0, 0.0]], [[1.0, 1.0]]])
    c_mask = torch.tensor([[[2.0, 0.0]], [[1.0, 0.5]]])
    # errors*mask: (2*1, 0*2, 1*(-1), 0.5*(-2)) -> squares 4, 0, 1, 1 -> mean 6/4
    assert masked_mse(y_hat, y, c_mask).item() == pytest.approx(1.5)


def test_masked_cross_entropy_matches_softmax_xent():
    torch.manual_seed(0)
    logits = torch.randn(3, 4, 5)
    labels = torch.randint(0, 5, (3, 4))
    y = F.one_hot(labels, 5).float()
    c_mask = torch.rand(3, 4, 1).expand(3, 4, 5)
    expected = (c_mask[..., 0] * F.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1),
                                                 reduction="none").reshape(3, 4)).mean()
    assert masked_cross_entropy(logits, y, c_mask).item() == pytest.approx(expected.item())


def test_penalties_match_hand_computation():
    w1, w2 = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0]])
    assert weight_penalty([w1, w2], l1=0.1, l2=0.01).item() == pytest.approx(
        0.1 * (1.5 + 3.0) + 0.01 * (2.5 + 9.0))
    # the MPN lab's sum-based L2: half the summed squares, whatever the matrix sizes
    assert weight_penalty([w1, w2], l2_sum=1e-3).item() == pytest.approx(1e-3 * (5.0 + 9.0) / 2)
    h = torch.tensor([[[1.0, -3.0]]])
    assert activity_penalty(h, l1=1.0, l2=0.5).item() == pytest.approx(2.0 + 0.5 * 5.0)
    model = ToyRNN(2, 3, 1)
    assert len(weight_matrices(model)) == 3  # biases excluded


def _setup(tmp_path, seed=0, model_cls=ToyRNN, **changes):
    cfg = TrainConfig(rules="go", hidden=12, batch_size=8, n_steps=12, val_every=4,
                      checkpoint_every=4, val_trials=4, l2=1e-4, act_l2=1e-3,
                      scheduler="step", scheduler_step=5).replace(**changes)
    task = MPN_LAB.with_rules(cfg.rules)
    torch.manual_seed(seed + 100)  # model init differs from the trainer's seeding
    model = model_cls(task.n_input, cfg.hidden, task.n_output)
    wiring = RuleTraining(task, cfg, seed)
    trainer = Trainer(model, cfg, sample_batch=wiring.sample_batch, loss_fn=wiring.loss_fn,
                      evaluate=wiring.evaluate, on_validation=wiring.on_validation,
                      run_dir=tmp_path / "run", run_config={"train": cfg.to_dict(), "seed": seed},
                      seed=seed, extra_state={"sampler": wiring}, progress=False)
    return trainer, wiring


@pytest.mark.parametrize("regime", [{}, {"warmup_steps": 5, "curriculum": ["fdgo"],
                                       "curriculum_steps": 9}], ids=["plain", "curriculum"])
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, regime):
    full, _ = _setup(tmp_path / "a", **regime)
    result = full.fit()
    assert result.step == 12 and result.stopped == "n_steps"

    killed, _ = _setup(tmp_path / "b", **regime)
    original = killed.sample_batch
    calls = {"n": 0}

    def dying_sample(rng):
        calls["n"] += 1
        if calls["n"] == 11:  # dies during step 11, after the checkpoint at step 8
            raise KeyboardInterrupt
        return original(rng)

    killed.sample_batch = dying_sample
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    assert load_checkpoint(tmp_path / "b" / "run" / "checkpoint.pt")["step"] == 8

    resumed, wiring = _setup(tmp_path / "b", seed=0, **regime)
    with torch.no_grad():  # a different starting point, to show everything comes from the file
        for p in resumed.model.parameters():
            p.add_(1.0)
    out = resumed.fit(resume=True)
    assert out.step == 12
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k
    assert out.curves.loss == result.curves.loss
    assert out.curves.val_accuracy == result.curves.val_accuracy
    assert np.array_equal(wiring.sampler.accuracy,
                          [result.curves.val_accuracy[-1][r] for r in wiring.rules])
    lines = (tmp_path / "b" / "run" / "curves.csv").read_text().splitlines()
    assert lines[0] == "step,loss,lr" and len(lines) == 13


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_the_current_step_and_resume_matches_uninterrupted(tmp_path, signum):
    full, _ = _setup(tmp_path / "a")
    result = full.fit()
    stopped, _ = _setup(tmp_path / "b")
    original = stopped.sample_batch
    calls = {"n": 0}

    def signalled_sample(rng):
        calls["n"] += 1
        if calls["n"] == 7:  # arrives during step 7; the last scheduled checkpoint was at 4
            os.kill(os.getpid(), signum)
        return original(rng)

    stopped.sample_batch = signalled_sample
    with pytest.raises(TrainingInterrupted, match=f"stopped by {signal.Signals(signum).name} "
                                                  "at step 7; checkpoint of step 7") as info:
        stopped.fit()
    assert info.value.signum == signum
    assert signal.getsignal(signum) is not None and calls["n"] == 7
    assert load_checkpoint(tmp_path / "b" / "run" / "checkpoint.pt")["step"] == 7
    resumed, _ = _setup(tmp_path / "b")
    out = resumed.fit(resume=True)
    assert out.step == 12 and out.curves.loss == result.curves.loss
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k


def test_signal_handlers_are_restored_after_training(tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    trainer, _ = _setup(tmp_path, n_steps=2)
    trainer.fit()
    assert {s: signal.getsignal(s) for s in before} == before


def test_zero_steps_and_resuming_a_missing_run_are_refused(tmp_path):
    trainer, _ = _setup(tmp_path, n_steps=0)
    with pytest.raises(ValueError, match="n_steps .* must be >= 1"):
        trainer.fit()
    trainer, _ = _setup(tmp_path)
    with pytest.raises(CheckpointError, match="cannot resume: run .* does not exist"):
        trainer.fit(resume=True)
    assert not (tmp_path / "run").exists()
    (tmp_path / "stopped").mkdir()  # a run stopped before its first checkpoint
    (tmp_path / "stopped" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="holds no checkpoint.pt .*pass --overwrite"):
        check_run_target(tmp_path / "stopped", True, False)


def test_resume_if_exists_starts_a_missing_run_and_says_so(tmp_path, capsys):
    trainer, _ = _setup(tmp_path, n_steps=2)
    assert trainer.fit(resume="if-exists").step == 2
    assert "no checkpoint to resume, starting the run" in capsys.readouterr().err
    again, _ = _setup(tmp_path, n_steps=3)
    assert again.fit(resume="if-exists").step == 3 and again.curves.loss[:2] == trainer.curves.loss


def _diverging(tmp_path, bad_from, n_steps=40, recover_at=None):
    """A trainer whose validation loss is 1 until step ``bad_from``, then 1e12 (until
    ``recover_at``)."""
    trainer, wiring = _setup(tmp_path, n_steps=n_steps, val_every=2, checkpoint_every=2)

    def evaluate(model):
        bad = trainer.step >= bad_from and (recover_at is None or trainer.step < recover_at)
        return Validation(1e12 if bad else 1.0, {r: 0.5 for r in wiring.rules})

    trainer.evaluate = evaluate
    trainer.wiring = wiring
    return trainer


def test_divergence_rule_three_validations_in_a_row_keeps_the_last_good_checkpoint(tmp_path):
    trainer = _diverging(tmp_path / "a", bad_from=6)
    with pytest.raises(TrainingDiverged, match="above 10x .* 3 validation.* at step 10; last good "
                                               "checkpoint \\(step 4\\)"):
        trainer.fit()
    assert load_checkpoint(tmp_path / "a" / "run" / "checkpoint.pt")["step"] == 4
    # two high validations in a row, then recovery: no divergence, checkpoints resume
    result = _diverging(tmp_path / "b", bad_from=6, recover_at=10, n_steps=14).fit()
    assert result.step == 14
    assert load_checkpoint(tmp_path / "b" / "run" / "checkpoint.pt")["step"] == 14
    # high at the last validation: diverged, the checkpoint before it kept
    with pytest.raises(TrainingDiverged, match="1 validation.* at step 12.*step 10"):
        _diverging(tmp_path / "c", bad_from=12, n_steps=12).fit()


def _end_at_step_7(trainer, wiring, ending):
    """Make ``trainer`` end training at step 7 by ``ending`` (a should_stop rule: at step 6)."""
    if ending == "n_steps":
        trainer.config = trainer.config.replace(n_steps=7)
    elif ending == "target_accuracy":  # a should_stop rule, at the first high validation
        trainer.should_stop = lambda curves: curves.val_step[-1] >= 6
    elif ending == "early_stopping_threshold":  # (the MoP trainer's config field) validated
        trainer.config.early_stopping_threshold = 1e-2
        loss_fn = wiring.loss_fn
        trainer.loss_fn = lambda model, batch: (
            lambda loss, out: (loss * 0 if trainer.step == 6 else loss, out))(
                *loss_fn(model, batch))
    elif ending == "time_budget":  # between validations
        trainer.on_step = lambda t: t.request_stop("time_budget") if t.step == 7 else None
    else:  # a signal arriving during step 7
        sample = trainer.sample_batch
        trainer.sample_batch = lambda rng: (
            os.kill(os.getpid(), signal.SIGTERM) if trainer.step == 6 else None, sample(rng))[1]


@pytest.mark.parametrize("ending", ["n_steps", "target_accuracy", "early_stopping_threshold",
                                    "time_budget", "signal"])
def test_a_run_ending_above_the_divergence_threshold_keeps_the_status_of_its_checkpoint(
        tmp_path, ending):
    """Training that ends (any way) while its latest validation is above the divergence threshold
    stores no checkpoint of that step, so status.json (what core.runs reads) keeps the stored
    checkpoint's step, unfinished, as curves.csv and ``--resume`` do."""
    trainer = _diverging(tmp_path, bad_from=6)  # validations every 2 steps, good up to step 4
    _end_at_step_7(trainer, trainer.wiring, ending)
    error = TrainingInterrupted if ending == "signal" else TrainingDiverged
    with pytest.raises(error, match=f"step {6 if ending == 'target_accuracy' else 7}; .*step 4"):
        trainer.fit()
    run = tmp_path / "run"
    status = json.loads((run / "status.json").read_text())
    assert status == {"step": 4, "n_steps": trainer.config.n_steps, "stopped": None}
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 4
    assert (run / "curves.csv").read_text().splitlines()[-1].startswith("4,")


def test_a_huge_learning_rate_is_caught_as_divergence(tmp_path):
    trainer, _ = _setup(tmp_path, lr=1e6, n_steps=40, val_every=4, checkpoint_every=4)
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        trainer.fit()
    kept = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert all(torch.isfinite(v).all() for v in kept["model"].values())
    assert max(kept["curves"]["val_loss"]) <= 10 * kept["curves"]["val_loss"][0]


def test_existing_run_is_never_overwritten_silently(tmp_path):
    first, _ = _setup(tmp_path, n_steps=4)
    first.fit()
    again, _ = _setup(tmp_path, n_steps=4)
    with pytest.raises(RunExistsError, match="--resume"):
        again.fit()
    different, _ = _setup(tmp_path, n_steps=4, lr=5e-4)
    with pytest.raises(RunExistsError, match="lr"):
        different.fit(resume=True)
    stale = tmp_path / "run" / "stages" / "step_000003.npz"
    stale.parent.mkdir()
    stale.write_bytes(b"from the replaced run")
    replaced, _ = _setup(tmp_path, n_steps=4, lr=5e-4)
    assert replaced.fit(overwrite=True).step == 4
    assert not stale.exists()
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]["train"]["lr"] == 5e-4


def test_nan_loss_raises_and_keeps_last_checkpoint(tmp_path):
    trainer, wiring = _setup(tmp_path, checkpoint_every=2)

    def loss_fn(model, batch):
        loss, out = wiring.loss_fn(model, batch)
        return (loss * math.nan if trainer.step == 4 else loss), out

    trainer.loss_fn = loss_fn
    with pytest.raises(TrainingDiverged, match="step 5.*step 4"):
        trainer.fit()
    kept = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert kept["step"] == 4
    assert all(torch.isfinite(v).all() for v in kept["model"].values())


def test_early_stop_at_target_accuracy(tmp_path):
    trainer, wiring = _setup(tmp_path, target_accuracy=0.5, n_steps=40, val_every=2)
    trainer.evaluate = lambda model: Validation(1.0, {r: min(1.0, trainer.step / 10)
                                                      for r in wiring.rules})
    result = trainer.fit()
    assert result.stopped == "target_accuracy" and result.step == 6  # first validation >= 0.5


def test_schedulers_and_optimizers(tmp_path):
    trainer, _ = _setup(tmp_path, optimizer="adamw", weight_decay=0.01)
    result = trainer.fit()
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert result.curves.lr[3] == pytest.approx(1e-3) and result.curves.lr[5] == pytest.approx(
        5e-4)  # StepLR: gamma 0.5 every 5 steps
    plateau, _ = _setup(tmp_path / "p", scheduler="plateau", plateau_patience=0,
                        scheduler_gamma=0.5)
    plateau.evaluate = lambda model: Validation(1.0, {"fdgo": 0.0})  # never improves
    out = plateau.fit()
    assert out.curves.lr[-1] < 1e-3


def test_a_warmup_ramps_the_rate_linearly_before_the_step_schedule(tmp_path):
    trainer, _ = _setup(tmp_path, warmup_steps=4, scheduler_step=3)
    lr = trainer.fit().curves.lr  # lr[i]: the rate after step i + 1

    def expected(k: int) -> float:  # the rate after k steps
        return 1e-3 * (0.25 + 0.75 * k / 4 if k < 4 else 0.5 ** ((k - 4) // 3))

    assert lr == pytest.approx([expected(k) for k in range(1, 13)])
    assert lr[0] < lr[2] < lr[3] == pytest.approx(1e-3) and lr[-1] == pytest.approx(2.5e-4)
    free, _ = _setup(tmp_path / "sf", optimizer="schedulefree", scheduler="none", warmup_steps=7)
    assert free.scheduler is None and free.optimizer.param_groups[0]["warmup_steps"] == 7
    with pytest.raises(ValueError, match="warmup_steps/scheduler"):
        TrainConfig(warmup_steps=3, scheduler="plateau")
    with pytest.raises(ValueError, match="'none' with 'schedulefree'"):
        TrainConfig(optimizer="schedulefree", scheduler="step")


def test_a_curriculum_draws_only_the_rules_entered_and_validates_every_rule():
    cfg = TrainConfig(rules="everything", hidden=8, batch_size=32,
                      curriculum=["reach", "delaydm"], curriculum_steps=2)
    wiring = RuleTraining(MPN_LAB, cfg, seed=0)
    rng = np.random.default_rng(0)
    drawn = [set(wiring.sample_batch(rng).rule) for _ in range(6)]
    reach, delaydm = set(RULE_SETS["reach"]), set(RULE_SETS["delaydm"])
    assert drawn[0] | drawn[1] <= reach and drawn[2] | drawn[3] <= reach | delaydm
    assert drawn[2] | drawn[3] > reach  # the second stage is drawn once entered
    assert drawn[4] | drawn[5] - reach - delaydm  # the rest (the match rules) enter last
    assert set(wiring.validation_trials.rule) == set(RULE_SETS["everything"])
    assert wiring.state_dict()["batches"] == 6
    assert curriculum_stages([], ["fdgo"]) == []
    assert curriculum_stages(["fdgo"], ["fdgo", "dm1"]) == [["fdgo"], ["dm1"]]
    with pytest.raises(ValueError, match="not trained"):
        curriculum_stages(["dm1"], ["fdgo"])
    with pytest.raises(ValueError, match="two stages"):
        curriculum_stages(["go", "fdgo"], list(RULE_SETS["go"]))


def test_presets():
    paper = get_preset("paper")  # AllenInstitute/MultiTaskMPN multiple_task.py / net_helpers.py
    assert (paper.hidden, paper.batch_size, paper.dt, paper.rules) == (300, 128, 40.0,
                                                                       "everything")
    assert (paper.lr, paper.grad_clip, paper.n_steps) == (1e-3, 10.0, 100_000)
    assert (paper.l2, paper.l2_sum, paper.act_l2, paper.feature) == (0.0, 1e-3, 1e-3,
                                                                       "sL21e3aL21e3")
    assert (paper.batch_rules, paper.sampling_decay, paper.val_every, paper.val_trials) == (
        "single", 0.9, 50, 15)
    assert (paper.scheduler, paper.scheduler_gamma, paper.plateau_patience) == ("plateau", 0.95,
                                                                                30)
    assert paper.model["m_time_scale"] == 4000.0
    assert get_preset("quick").replace(network="gru").feature == "L21e4gru"
    one = get_preset("one_task")  # the lab's one_task/one_task.py
    assert (one.rules, one.hidden, one.n_steps, one.feature) == ("delaygo", 200, 3000,
                                                                 "sL21e4aL21e4")
    assert one.model["m_time_scale"] == 400.0 and not one.model["eta_train"]
    with pytest.raises(ValueError, match="preset"):
        get_preset("huge")
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="sgd")


def test_stage_recorder_writes_weights_activity_and_epoch_states(tmp_path):
    class WithM(ToyRNN):  # adds a per-trial matrix state, like an MPN's M
        def forward(self, x, track_states=False, hidden_mask=None):
            y, states = super().forward(x, track_states)
            if track_states:
                h = states["hidden"]
                states["M"] = h[..., :, None] * h[..., None, :]
            return y, states

    trainer, wiring = _setup(tmp_path, n_steps=5, model_cls=WithM)
    test = wiring.validation_trials.take(np.arange(3))
    recorder = StageRecorder(test, [0, 2, 5], trainer.run_dir)
    trainer.on_step = recorder
    trainer.fit()
    assert sorted(p.name for p in recorder.folder.iterdir()) == [
        "step_000000.npz", "step_000002.npz", "step_000005.npz"]
    with np.load(recorder.path(5)) as stage:
        assert int(stage["step"]) == 5
        final = trainer.model.state_dict()
        assert np.array_equal(stage["param/w_rec.weight"], final["w_rec.weight"].numpy())
        hidden, m = stage["state/hidden"], stage["state/M"]
        assert hidden.shape == (test.n_steps, 3, 12)
        ends = stage["epoch_end_step"]
        assert m.shape == (len(stage["epoch_names"]), 3, 12, 12)
        b = 1
        expected = np.outer(hidden[ends[0, b], b], hidden[ends[0, b], b])
        np.testing.assert_allclose(m[0, b], expected, rtol=1e-6)
    with np.load(recorder.path(0)) as first:
        assert not np.array_equal(first["param/w_rec.weight"], final["w_rec.weight"].numpy())


def test_single_rule_batches_and_the_labs_decayed_sampling():
    cfg = TrainConfig(rules="reach", hidden=8, batch_size=16, batch_rules="single",
                      sampling_decay=0.9)
    wiring = RuleTraining(MPN_LAB.with_rules("reach"), cfg, seed=0)
    rng = np.random.default_rng(0)
    batches = [wiring.sample_batch(rng) for _ in range(12)]
    assert all(len(set(b.rule)) == 1 and b.batch_size == 16 for b in batches)
    assert len({b.rule[0] for b in batches}) > 1
    wiring.on_validation(Validation(0.0, dict.fromkeys(wiring.rules, 1.0) | {"fdgo": 0.5}))
    assert wiring.sampler.probabilities[wiring.rules.index("fdgo")] == pytest.approx(1.0)
    state = wiring.state_dict()
    fresh = RuleTraining(MPN_LAB.with_rules("reach"), cfg, seed=0)
    fresh.load_state_dict(state)
    assert np.array_equal(fresh.sampler.score, wiring.sampler.score)
    with pytest.raises(ValueError, match="batch_rules"):
        TrainConfig(batch_rules="some")


def test_runs_stored_before_a_training_field_existed_still_resume(tmp_path):
    from core.training.trainer import _check_same_run, _field_defaults

    defaults = _field_defaults(TrainConfig())
    current = {"train": TrainConfig().to_dict(), "seed": 0}
    older = {"train": {k: v for k, v in current["train"].items()
                       if k not in ("l2_sum", "batch_rules", "sampling_decay")}, "seed": 0}
    _check_same_run(older, current, tmp_path, defaults)  # missing fields had their defaults
    with pytest.raises(RunExistsError, match="present in only one config"):
        _check_same_run(older, current, tmp_path)  # without defaults nothing is assumed
    changed = {**current, "train": {**current["train"], "batch_rules": "single"}}
    with pytest.raises(RunExistsError, match="batch_rules"):
        _check_same_run(older, changed, tmp_path, defaults)


def test_validation_table_reports_each_rules_chance(tmp_path):
    import csv

    from core.training.trainer import Curves

    trainer, wiring = _setup(tmp_path, n_steps=8)
    result = trainer.fit()
    rows = list(csv.DictReader(open(tmp_path / "run" / "validation.csv", newline="")))
    header = list(rows[0])
    assert header[:4] == ["step", "loss", "mean_accuracy", "mean_chance"]
    assert header[4:] == [c for r in wiring.rules for c in (r, f"{r}_chance")]
    assert len(rows) == len(result.curves.val_step) and all(  # 8 directions, reach rules
        float(row[f"{r}_chance"]) == 1 / 8
        for row in rows for r in wiring.rules)
    assert [float(row[wiring.rules[0]]) for row in rows] == [
        a[wiring.rules[0]] for a in result.curves.val_accuracy]
    assert result.final_validation.chance == dict.fromkeys(wiring.rules, 1 / 8)
    stored = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["curves"]
    assert Curves.from_dict(stored).val_chance == result.curves.val_chance
    older = Curves.from_dict({k: v for k, v in stored.items() if k != "val_chance"})
    assert older.val_chance == {} and "chance" not in older.validation_csv()


def test_request_stop_ends_training_with_its_reason_and_a_checkpoint(tmp_path):
    trainer, _ = _setup(tmp_path)

    def stop_at_step_6(t):
        if t.step == 6:  # between checkpoints (every 4 steps)
            t.request_stop("time_budget")

    trainer.on_step = stop_at_step_6
    result = trainer.fit()
    assert result.step == 6 and result.stopped == "time_budget"
    assert trainer.last_checkpoint_step == 6
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status == {"step": 6, "n_steps": 12, "stopped": "time_budget"}
