"""The ``fast`` training preset: the lab's model in a CPU regime, deterministic with a seed."""

from __future__ import annotations

import pytest
import torch

from core.training.config import get_preset
from core.training.trainer import build_rule_run

IMPLEMENTATIONS = ["fused", "compiled"]


def test_fast_keeps_the_labs_model_and_changes_the_regime():
    fast, paper = get_preset("fast"), get_preset("paper")
    assert fast.hidden == paper.hidden == 300 and fast.rules == paper.rules == "everything"
    assert {k: v for k, v in fast.model.items() if k != "implementation"} == paper.model
    assert fast.model["implementation"] == "compiled"
    assert (fast.batch_rules, fast.batch_size) == ("mixed", 64)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_fast_preset_is_deterministic_with_a_seed(tmp_path, implementation):
    fast = get_preset("fast")
    config = fast.replace(hidden=8, batch_size=8, n_steps=4, val_every=2, val_trials=4,
                          model={**fast.model, "implementation": implementation})
    runs = []
    for folder in ("a", "b"):
        run = build_rule_run(config, seed=3, out=tmp_path / folder, progress=False)
        result = run.trainer.fit()
        runs.append((result.curves, run.model.state_dict()))
    (curves_a, state_a), (curves_b, state_b) = runs
    assert curves_a.loss == curves_b.loss and len(curves_a.loss) == 4
    assert curves_a.val_accuracy == curves_b.val_accuracy
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
    other = build_rule_run(config, seed=4, out=tmp_path / "c", progress=False)
    assert other.trainer.fit().curves.loss != curves_a.loss  # the seed matters
