"""Long test sets, aligned timing and rule-input interpolation (core.tasks.yang)."""

import numpy as np
import pytest

from core.tasks import (
    LONG_EPOCHS,
    MPN_LAB,
    RULE_SPECS,
    RULES,
    YANG19,
    accuracy,
    generate_aligned_trials,
    generate_trials,
    interpolate_rules,
)
from core.tasks.config import TIMING_EPOCHS

CONFIGS = {"yang19": YANG19, "mpn_lab": MPN_LAB.with_rules("all")}


def _steps(trials, epoch):
    e = trials.epochs[epoch]
    return e[:, 1] - e[:, 0]


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("rule", RULES)
def test_long_epoch_has_requested_steps_others_unchanged(rule, cfg):
    normal = generate_trials(rule, cfg, None, np.random.default_rng(0), mode="test", noise=False)
    order = TIMING_EPOCHS[RULE_SPECS[rule].timing]
    for name, epoch in LONG_EPOCHS.items():
        long = generate_trials(rule, cfg, None, np.random.default_rng(0), mode="test",
                               noise=False, long_epoch=name, long_ms=10_000)
        for other in order:
            expected = 10_000 / cfg.dt if other == epoch else _steps(normal, other)
            assert np.all(_steps(long, other) == expected), (name, other)
        extra = 10_000 / cfg.dt - _steps(normal, epoch)[0] if epoch in order else 0
        assert long.n_steps == normal.n_steps + extra
        # same stimuli, the same input as the normal trial until the stretched epoch starts
        start = int(normal.epochs[epoch][0, 0]) if epoch in order else normal.n_steps
        np.testing.assert_array_equal(long.x[:start], normal.x[:start])


def test_long_epoch_250_steps_at_dt40_and_bad_input():
    cfg = CONFIGS["mpn_lab"]
    long = generate_trials("delaygo", cfg, None, np.random.default_rng(0), mode="test",
                           long_epoch="delay")
    assert np.all(_steps(long, "delay1") == 250)
    with pytest.raises(ValueError, match="long_epoch"):
        generate_trials("delaygo", cfg, 4, np.random.default_rng(0), long_epoch="delay")
    with pytest.raises(ValueError, match="expected one of"):
        generate_trials("delaygo", cfg, None, np.random.default_rng(0), mode="test",
                        long_epoch="memory")
    with pytest.raises(ValueError, match="does not have"):
        generate_trials("fdgo", cfg, 4, np.random.default_rng(0), timing={"delay1": 100})


@pytest.mark.parametrize("mode", ["random", "test"])
def test_aligned_rules_share_boundaries_and_stimuli(mode):
    cfg = CONFIGS["mpn_lab"]
    b = 12 if mode == "random" else None
    trials = generate_aligned_trials(["delaygo", "delayanti"], cfg, b, np.random.default_rng(3),
                                     mode=mode, noise=False)
    half = trials.batch_size // 2
    for epoch in TIMING_EPOCHS["delay"]:
        assert np.unique(trials.epochs[epoch], axis=0).shape[0] == 1
    np.testing.assert_array_equal(trials.params["stim1_loc"][:half],
                                  trials.params["stim1_loc"][half:])
    np.testing.assert_allclose(trials.params["target_loc"][:half],
                               (trials.params["target_loc"][half:] + np.pi) % (2 * np.pi))
    assert list(dict.fromkeys(trials.rule)) == ["delaygo", "delayanti"]
    # rules from two timing groups with the same epochs align too; others are refused
    mixed = generate_aligned_trials(["fdgo", "dm1"], cfg, 8, np.random.default_rng(0))
    assert np.unique(mixed.epochs["stim1"], axis=0).shape[0] == 1
    with pytest.raises(ValueError, match="different epochs"):
        generate_aligned_trials(["fdgo", "delaygo"], cfg, 4, np.random.default_rng(0))


def test_interpolation_endpoints_reproduce_pure_trials():
    cfg = CONFIGS["mpn_lab"]
    alphas = [0.0, 0.3, 1.0]
    mix = interpolate_rules("delaygo", "delayanti", cfg, alphas, np.random.default_rng(0))
    pure = {r: generate_trials(r, cfg, None, np.random.default_rng(0), mode="test", noise=False)
            for r in ("delaygo", "delayanti")}
    b = pure["delaygo"].batch_size
    assert mix.batch_size == 3 * b
    for k in ("x", "y", "c_mask", "y_loc"):
        np.testing.assert_array_equal(getattr(mix, k)[:, 2 * b:], getattr(pure["delaygo"], k))
        np.testing.assert_array_equal(getattr(mix, k)[:, :b], getattr(pure["delayanti"], k))
    middle = mix.x[:, b:2 * b]
    np.testing.assert_allclose(middle, 0.3 * pure["delaygo"].x + 0.7 * pure["delayanti"].x,
                               atol=1e-7)
    rule_cols = [cfg.rule_index("delaygo"), cfg.rule_index("delayanti")]
    np.testing.assert_allclose(middle[0, 0, rule_cols], [0.3, 0.7], atol=1e-7)
    # a network that outputs the pure targets is right on alpha = 0 and 1
    assert accuracy(mix.y[:, 2 * b:], mix.take(np.arange(2 * b, 3 * b)), cfg).all()
    with pytest.raises(ValueError, match="alphas"):
        interpolate_rules("delaygo", "delayanti", cfg, [1.5], np.random.default_rng(0))
