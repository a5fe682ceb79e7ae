"""Epoch timings, input layout and cost-mask values of both presets."""

import math

import numpy as np
import pytest

from core.tasks import EPOCHS, MPN_LAB, RULE_SPECS, RULES, YANG19, generate_trials
from core.tasks.config import TIMING_EPOCHS

MPN_ALL = MPN_LAB.with_rules("all")
CONFIGS = {"yang19": YANG19, "mpn_lab": MPN_ALL}

#: Yang et al. (2019) Methods, ms: allowed durations per (timing group, epoch).
PAPER_YANG = {
    ("delay", "fix1"): {300, 500, 700}, ("delay", "stim1"): {200, 400, 600},
    ("delay", "delay1"): {200, 400, 800, 1600}, ("delay", "go"): {500},
    ("dm", "stim1"): {400, 800, 1600}, ("delaydm", "delay1"): {200, 400, 800, 1600},
    ("dms", "delay1"): {200, 400, 800, 1600}, ("dmc", "go"): {200, 400, 600},
}


def _durations_ms(tr, epoch):
    e = tr.epochs[epoch]
    return (e[:, 1] - e[:, 0]) * tr.dt


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("rule", RULES)
def test_epochs_partition_trial_within_ranges(rule, cfg):
    spec = RULE_SPECS[rule]
    durations = {e: [] for e in TIMING_EPOCHS[spec.timing]}
    for seed in range(6):
        tr = generate_trials(rule, cfg, 64, np.random.default_rng(seed), noise=False)
        order = TIMING_EPOCHS[spec.timing]
        assert np.all(tr.epochs[order[0]][:, 0] == 0)
        for a, b in zip(order[:-1], order[1:], strict=True):
            assert np.array_equal(tr.epochs[a][:, 1], tr.epochs[b][:, 0])
        for e in EPOCHS:
            if e not in order:
                assert np.all(tr.epochs[e] == -1)
        assert tr.epochs["go"][:, 1].max() == tr.n_steps
        for e in order:
            d = cfg.timings[spec.timing][e]
            ms = _durations_ms(tr, e)
            assert np.all(ms >= d.low - cfg.dt) and np.all(ms <= d.high)
            durations[e].append(ms)
            if cfg.timing_per_trial and d.low < d.high:
                assert np.unique(ms).size > 1  # drawn per trial
            elif not cfg.timing_per_trial:
                assert np.unique(ms).size == 1  # drawn per batch
    if cfg is YANG19:
        for e, ms in durations.items():
            allowed = PAPER_YANG.get((spec.timing, e))
            if allowed is not None:
                assert set(np.concatenate(ms).tolist()) <= allowed


#: The MPN lab's per-trial training ranges (ms; AllenInstitute/MultiTaskMPN core/mpn_tasks.py).
MPN_LAB_RANGES = {
    "delaygo": {"fix1": (300, 700), "stim1": (200, 1600), "delay1": (200, 1600),
                "go": (300, 700)},
    "fdanti": {"fix1": (300, 700), "stim1": (200, 1500), "go": (300, 700)},
    "reactgo": {"fix1": (500, 2500), "go": (300, 1700)},
    "contextdelaydm2": {"fix1": (200, 600), "stim1": (200, 1600), "delay1": (200, 1600),
                        "stim2": (200, 1600), "delay2": (100, 300), "go": (300, 700)},
    "dmsnogo": {"fix1": (200, 600), "stim1": (200, 1600), "delay1": (200, 1600),
                "go": (300, 700)},
    "dmcgo": {"fix1": (200, 600), "stim1": (200, 1600), "delay1": (200, 1600), "go": (300, 700)},
}


@pytest.mark.parametrize("rule", MPN_LAB_RANGES)
def test_mpn_lab_ranges(rule):
    tr = generate_trials(rule, MPN_LAB, 512, np.random.default_rng(0), noise=False)
    for epoch, (lo, hi) in MPN_LAB_RANGES[rule].items():
        ms = _durations_ms(tr, epoch)
        assert ms.min() >= lo - MPN_LAB.dt and ms.max() <= hi
        assert ms.max() - ms.min() > 0.7 * (hi - lo)


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("rule", ["delaygo", "dmsnogo", "contextdelaydm1"])
def test_cost_mask_values(rule, cfg):
    tr = generate_trials(rule, cfg, 32, np.random.default_rng(3), noise=False)
    ignore = round(100 / cfg.dt)
    grace = round(100 / cfg.dt)
    # Yang: values used as they are; MPN lab: square roots of the weights 1 / 5 / fixation x0.5
    fix_factor = 2.0 if cfg is YANG19 else math.sqrt(0.5)
    post = 5.0 if cfg is YANG19 else math.sqrt(5.0)
    for i in range(tr.batch_size):
        go, end = tr.epochs["go"][i]
        m = tr.c_mask[:, i]
        assert np.all(m[:ignore] == 0)
        assert np.allclose(m[ignore:go, 1:], 1.0) and np.allclose(m[ignore:go, 0], fix_factor)
        assert np.all(m[go:go + grace] == 0)
        assert np.allclose(m[go + grace:end, 1:], post)
        assert np.allclose(m[go + grace:end, 0], post * fix_factor)
        assert np.all(m[end:] == 0) and np.all(tr.x[end:, i] == 0)


def test_input_layout_and_noise():
    cfg = MPN_LAB
    assert (cfg.n_input, cfg.n_output) == (21, 3)
    assert (YANG19.n_input, YANG19.n_output) == (1 + 2 * 32 + 20, 33)
    assert math.isclose(YANG19.noise_std, 0.01 * math.sqrt(2 / 0.2))
    tr = generate_trials("fdgo", cfg, 32, np.random.default_rng(0), noise=True)
    cols = np.arange(32)
    go = tr.epochs["go"][:, 0]
    assert np.all(tr.x[go - 1, cols, 0] == 1) and np.all(tr.x[go - 1, cols, 1] == 0)
    assert np.all(tr.x[go, cols, 0] == 0) and np.all(tr.x[go, cols, 1] == 1)
    assert np.all(tr.x[0, :, cfg.rule_index("fdgo")] == 1)
    assert np.all(tr.x[0, :, cfg.rule_start:].sum(-1) == 1)
    # MPN: targets scaled by strength, fixation target 1 and no output baseline
    assert np.allclose(np.abs(tr.y[go, cols, 1] + 1j * tr.y[go, cols, 2]),
                       tr.params["target_strength"])
    assert np.all(tr.y[0, :, 0] == 1.0) and np.all(tr.y[0, :, 1:] == 0)
    # Yang: noise s.d. matches sigma_x * sqrt(2 / alpha) on inputs
    a = generate_trials("fdgo", YANG19, 64, np.random.default_rng(1), noise=True)
    b = generate_trials("fdgo", YANG19, 64, np.random.default_rng(1), noise=False)
    assert abs(np.std(a.x - b.x) / YANG19.noise_std - 1) < 0.02
    assert np.all(a.y == b.y) and np.all(b.y[0, :, 1:] == np.float32(0.05))
