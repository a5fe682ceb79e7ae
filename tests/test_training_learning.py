"""A tiny multi-plastic network learns one rule, end to end through the training engine."""

import pytest
import torch

from core.training.checkpoint import CheckpointError
from core.training.config import TrainConfig
from core.training.trainer import build_rule_run, load_run


def _tiny(rule="delaygo", **changes):
    # dt 100 ms keeps trials ~40 steps; M (time scale 400 ms) is the network's only memory
    return TrainConfig(rules=rule, hidden=32, batch_size=32, dt=100.0, lr=1e-2, n_steps=100,
                       val_every=50, checkpoint_every=50, val_trials=64, l2=1e-4,
                       model={"m_time_scale": 400.0, "batch_chunk": 32}).replace(**changes)


def test_tiny_mpn_learns_delaygo_above_chance(tmp_path):
    run = build_rule_run(_tiny(), seed=0, out=tmp_path, progress=False)
    result = run.trainer.fit()
    first, last = result.curves.val_accuracy[0]["delaygo"], result.final_validation.accuracy[
        "delaygo"]
    assert first < 0.5  # untrained: near or below chance
    assert last >= 0.8
    assert result.curves.loss[-1] < 0.5 * result.curves.loss[0]
    # the stored run rebuilds the same network without unpickling code
    model, config, payload = load_run(run.run_dir)
    assert config["model_kind"] == "mpn" and payload["step"] == 100
    x = torch.from_numpy(run.wiring.validation_trials.x)
    with torch.no_grad():
        assert torch.allclose(model(x)[0], run.model.eval()(x)[0])


def test_checkpoint_of_another_shape_gives_one_line_error(tmp_path):
    small = build_rule_run(_tiny(n_steps=1), seed=0, out=tmp_path, progress=False)
    small.trainer.fit()
    big = build_rule_run(_tiny(n_steps=0, hidden=48), seed=0, out=tmp_path, progress=False)
    with pytest.raises(CheckpointError) as info:
        big.trainer.load(small.run_dir / "checkpoint.pt")
    message = str(info.value)
    assert "\n" not in message and "has shape" in message
    assert "32" in message and "48" in message


def test_killed_and_resumed_mpn_run_matches_uninterrupted(tmp_path):
    config = _tiny(hidden=16, batch_size=8, n_steps=6, val_every=2, checkpoint_every=2,
                   val_trials=8)
    full = build_rule_run(config, seed=3, out=tmp_path / "full", progress=False)
    full.trainer.fit()

    killed = build_rule_run(config, seed=3, out=tmp_path / "killed", progress=False)
    sample, calls = killed.trainer.sample_batch, []

    def dying_sample(rng):
        calls.append(1)
        if len(calls) == 6:  # dies in the last step, after the checkpoint at step 4
            raise KeyboardInterrupt
        return sample(rng)

    killed.trainer.sample_batch = dying_sample
    with pytest.raises(KeyboardInterrupt):
        killed.trainer.fit()
    resumed = build_rule_run(config, seed=3, out=tmp_path / "killed", progress=False)
    assert resumed.trainer.fit(resume=True).step == 6
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
