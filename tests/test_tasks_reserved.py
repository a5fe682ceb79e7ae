"""Reserved rule inputs: zero for the trained rules, the held-out cue in stage 2, same shapes."""

import dataclasses

import numpy as np
import pytest

from core.tasks import MPN_LAB, YANG19, generate_trials


@pytest.mark.parametrize("preset", [MPN_LAB, YANG19])
def test_reserved_column_zero_in_stage1_and_cues_held_out_rule_in_stage2(preset):
    stage1 = dataclasses.replace(preset.with_rules(["fdanti", "delaygo"]), n_reserved_rules=1)
    stage2 = dataclasses.replace(stage1, reserved_rules=("delayanti",))
    reserved = stage1.rule_start + 2
    assert stage1.n_input == stage2.n_input == preset.with_rules(["fdanti", "delaygo"]).n_input + 1
    assert stage2.rule_index("delayanti") == reserved == stage2.n_input - 1
    rng = np.random.default_rng(0)
    for rule in ("fdanti", "delaygo"):
        trials = generate_trials(rule, stage1, 16, rng, noise=False)
        assert trials.x.shape[-1] == stage1.n_input
        assert not trials.x[:, :, reserved].any()
        assert (trials.x[:, :, stage1.rule_index(rule)].max(axis=0) == 1).all()
    held = generate_trials("delayanti", stage2, 16, rng, noise=False)
    rules = held.x[:, :, stage2.rule_start:]
    valid = held.c_mask[:, :, 0] > 0
    assert (rules[..., -1][valid] == 1).all()       # the held-out cue, in the reserved column
    assert not rules[..., :-1].any()                # no trained rule's cue
    with pytest.raises(ValueError, match="no rule unit"):
        generate_trials("delayanti", stage1, 4, rng)  # stage 1 has no cue for it yet


def test_reserved_rules_validated():
    base = MPN_LAB.with_rules(["fdgo", "delaygo"])
    for bad in ({"n_reserved_rules": 0, "reserved_rules": ("delayanti",)},
                {"n_reserved_rules": 1, "reserved_rules": ("fdgo",)},
                {"n_reserved_rules": 2, "reserved_rules": ("delayanti", "delayanti")},
                {"n_reserved_rules": -1}):
        with pytest.raises(ValueError, match="reserved_rules"):
            dataclasses.replace(base, **bad)


def test_reserved_config_round_trips_through_dict():
    config = dataclasses.replace(MPN_LAB.with_rules(["fdgo", "delaygo"]), n_reserved_rules=2,
                                 reserved_rules=["delayanti"])
    assert config.reserved_rules == ("delayanti",)
    assert type(config).from_dict(config.to_dict()) == config
