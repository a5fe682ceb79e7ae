"""Accuracy, seeding, concatenation, rule sets, presets and rule sampling."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from core.tasks import (
    MPN_LAB,
    RULE_LABELS,
    RULE_SETS,
    RULES,
    YANG19,
    RuleSampler,
    TaskConfig,
    accuracy,
    accuracy_by_rule,
    concat,
    encode_angle,
    generate_mixed_trials,
    generate_trials,
    get_preset,
    resolve_rules,
)

MPN_ALL = MPN_LAB.with_rules("all")
CONFIGS = {"yang19": YANG19, "mpn_lab": MPN_ALL}


def _wrong_answer(tr, cfg):
    """Respond 180 degrees off on go trials; respond (stop fixating) on no-go trials."""
    y = np.zeros_like(tr.y)
    respond = tr.params["respond"]
    loc = np.where(respond, tr.params["target_loc"] + math.pi, tr.params["stim2_loc"])
    y[:, :, 1:] = encode_angle(cfg, np.nan_to_num(loc))[None]
    return y


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("rule", RULES)
def test_accuracy_targets_wrong_and_zero(rule, cfg):
    tr = generate_trials(rule, cfg, 64, np.random.default_rng(4))
    assert accuracy(tr.y, tr, cfg).all()
    assert not accuracy(_wrong_answer(tr, cfg), tr, cfg).any()
    assert not accuracy(np.zeros_like(tr.y), tr, cfg).any()
    fixate = np.zeros_like(tr.y)
    fixate[:, :, 0] = 1.0
    assert np.array_equal(accuracy(fixate, tr, cfg), ~tr.params["respond"])
    assert np.array_equal(accuracy(torch.from_numpy(tr.y), tr, cfg), accuracy(tr.y, tr, cfg))


def test_accuracy_angle_tolerance_on_a_continuous_circle():
    tr = generate_trials("fdgo", YANG19, 64, np.random.default_rng(0))
    for offset, ok in ((0.19 * math.pi, True), (0.21 * math.pi, False)):
        y = np.zeros_like(tr.y)
        y[:, :, 1:] = encode_angle(YANG19, tr.params["target_loc"] + offset)[None]
        assert accuracy(y, tr, YANG19).all() == ok and accuracy(y, tr, YANG19).any() == ok


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_same_seed_same_batch_different_seed_differs(cfg):
    for rule in ("delayanti", "contextdelaydm2", "dmcnogo"):
        a = generate_trials(rule, cfg, 16, np.random.default_rng(11))
        b = generate_trials(rule, cfg, 16, np.random.default_rng(11))
        c = generate_trials(rule, cfg, 16, np.random.default_rng(12))
        assert np.array_equal(a.x, b.x) and np.array_equal(a.c_mask, b.c_mask)
        assert all(np.array_equal(a.params[k], b.params[k], equal_nan=True) for k in a.params)
        assert not np.array_equal(a.params["stim1_loc"], c.params["stim1_loc"])


def test_concat_pads_with_zero_mask_and_keeps_response():
    rng = np.random.default_rng(0)
    parts = [generate_trials(r, MPN_LAB, 8, rng) for r in ("reactgo", "delaydm1", "dmsgo")]
    tr = concat(parts)
    assert tr.n_steps == max(p.n_steps for p in parts) and tr.batch_size == 24
    assert list(tr.rule) == ["reactgo"] * 8 + ["delaydm1"] * 8 + ["dmsgo"] * 8
    assert accuracy(tr.y, tr, MPN_LAB).all()
    t = np.arange(tr.n_steps)[:, None]
    pad = t >= tr.n_steps_valid[None]
    assert pad.any() and np.all(tr.c_mask[pad] == 0) and np.all(tr.y_loc[pad] == -1)
    x, y, m = tr.to_torch("cpu")
    assert x.shape == tr.x.shape and x.dtype == torch.float32 and m.shape == tr.c_mask.shape
    xn, yn, _ = tr.to_torch("cpu", noise_std=0.5, generator=torch.Generator().manual_seed(0))
    diff = (xn - x).numpy()
    assert np.all(diff[pad] == 0) and abs(diff[~pad].std() / 0.5 - 1) < 0.02
    assert torch.equal(yn, y)


def test_mixed_trials_follow_requested_rules():
    sampler = RuleSampler("everything")
    rules = sampler.sample(np.random.default_rng(0), 40)
    tr = generate_mixed_trials(rules, MPN_LAB, np.random.default_rng(1))
    assert list(tr.rule) == list(rules)
    assert accuracy(tr.y, tr, MPN_LAB).all()
    scores = accuracy_by_rule(tr.y, tr, MPN_LAB)
    assert set(scores) == set(rules) and all(v == 1.0 for v in scores.values())


def test_sampler_fixed_and_adaptive():
    s = RuleSampler(["fdgo", "dm1", "dmsgo"], probabilities=[2, 1, 1])
    assert np.allclose(s.probabilities, [0.5, 0.25, 0.25])
    draws = s.sample(np.random.default_rng(0), 4000)
    assert abs(np.mean(draws == "fdgo") - 0.5) < 0.03
    a = RuleSampler(["fdgo", "dm1"], adaptive=True)
    a.update({"fdgo": 1.0, "dm1": 0.5})
    assert np.allclose(a.probabilities, np.array([0.05, 0.5]) / 0.55)
    assert a.sample(np.random.default_rng(0)) in ("fdgo", "dm1")
    with pytest.raises(ValueError):
        a.update({"delaygo": 0.3})
    with pytest.raises(ValueError):
        RuleSampler(["fdgo"], probabilities=[-1])
    among = a.sample(np.random.default_rng(0), 200, among=["fdgo"])  # renormalised over fdgo
    assert set(among) == {"fdgo"}
    with pytest.raises(ValueError, match="not sampled"):
        a.sample(np.random.default_rng(0), among=["dmsgo"])


def test_sampler_decayed_normalised_errors_as_the_mpn_lab():
    s = RuleSampler(["fdgo", "dm1", "dmsgo"], adaptive=True, decay=0.9)
    assert np.allclose(s.probabilities, 1 / 3)  # uniform before any validation
    s.update({"fdgo": 1.0, "dm1": 0.5, "dmsgo": 0.0})  # errors 0, .5, 1 -> normalised 0, 1/3, 2/3
    assert np.allclose(s.score, 0.9 * np.array([0, 1 / 3, 2 / 3]))
    s.update({"fdgo": 1.0, "dm1": 1.0, "dmsgo": 0.5})  # -> 0, 0, 1
    expected = 0.9 * (0.9 * np.array([0, 1 / 3, 2 / 3]) + np.array([0, 0, 1]))
    assert np.allclose(s.score, expected)
    assert np.allclose(s.probabilities, expected / expected.sum())
    assert s.probabilities[0] == 0  # no floor: a mastered rule is no longer drawn
    s.update(dict.fromkeys(s.rules, 1.0))  # every rule perfect: uniform errors are added
    assert s.probabilities[0] > 0
    with pytest.raises(ValueError, match="decay"):
        RuleSampler(["fdgo"], adaptive=True, decay=1.0)


def test_rule_sets_presets_and_errors():
    assert len(RULES) == 20 and set(RULE_LABELS) == set(RULES)
    assert len(RULE_SETS["everything"]) == 15 and set(RULE_SETS["everything"]) <= set(RULES)
    assert RULE_LABELS["delaygo"] == "Dly Go" and RULE_LABELS["contextdelaydm1"] == "Ctx Dly DM 1"
    assert resolve_rules("anti") == ["fdanti", "reactanti", "delayanti"]
    # one parser: rule and rule-set names mixed, as a comma list or a sequence
    assert resolve_rules("go,anti") == [*RULE_SETS["go"], *RULE_SETS["anti"]]
    assert resolve_rules(" dm1, anti ") == ["dm1", "fdanti", "reactanti", "delayanti"]
    assert resolve_rules(["dms", "fdgo"]) == ["dmsgo", "dmsnogo", "fdgo"]
    for bad, message in (("go,nope", "unknown rule or rule set 'nope'"),
                         ("go,fdgo", "named twice.*fdgo"), ("go,", "empty"), ([], "empty")):
        with pytest.raises(ValueError, match=message):
            resolve_rules(bad)
    assert get_preset("MPN_LAB") is MPN_LAB and MPN_LAB.rules == RULE_SETS["everything"]
    with pytest.raises(ValueError, match="unknown task preset"):
        get_preset("nope")
    with pytest.raises(ValueError, match="no rule unit"):
        generate_trials("dm1", MPN_LAB, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown rule"):
        generate_trials("gogo", YANG19, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown mode"):
        generate_trials("fdgo", YANG19, 4, np.random.default_rng(0), mode="sample")
    with pytest.raises(ValueError, match="fixed grid"):
        generate_trials("fdgo", YANG19, 4, np.random.default_rng(0), mode="test")
    with pytest.raises(TypeError):
        generate_trials("fdgo", YANG19, 4, np.random.RandomState(0))


@pytest.mark.parametrize("cfg", [YANG19, MPN_LAB.with_rules("reach")], ids=["yang19", "mpn"])
def test_task_config_survives_a_json_round_trip(cfg):
    data = json.loads(json.dumps(cfg.to_dict()))  # lists instead of tuples, as in config.json
    back = TaskConfig.from_dict(data)
    assert back == cfg and back.timings == cfg.timings and back.rules == cfg.rules
    changed = TaskConfig.from_dict({**data, "dt": 10.0})
    assert changed == dataclasses.replace(cfg, dt=10.0)
    batch = generate_trials(cfg.rules[0], back, 3, np.random.default_rng(0))
    expected = generate_trials(cfg.rules[0], cfg, 3, np.random.default_rng(0))
    assert np.array_equal(batch.x, expected.x)
    with pytest.raises(ValueError, match="unknown fields"):
        TaskConfig.from_dict({**data, "colour": "red"})


def test_gaussian_noise_is_standard_normal_and_seeded():
    from scipy import stats

    from core.tasks.noise import gaussian_noise

    z = gaussian_noise(np.random.default_rng(3), (401, 250), 0.5)
    assert z.shape == (401, 250) and z.dtype == np.float32
    assert abs(z.mean()) < 0.005 and abs(z.std() - 0.5) < 0.005
    assert abs(stats.kurtosis(z.ravel(), fisher=False) - 3.0) < 0.05
    assert stats.kstest(z.ravel()[:20000] / 0.5, "norm").pvalue > 1e-3
    np.testing.assert_array_equal(z, gaussian_noise(np.random.default_rng(3), (401, 250), 0.5))
    rng = np.random.default_rng(3)
    first, second = gaussian_noise(rng, (50,), 1.0), gaussian_noise(rng, (50,), 1.0)
    assert not np.array_equal(first, second)  # the Generator advances between draws


def test_gaussian_noise_blocks_are_independent_of_the_thread_count():
    from core.tasks.noise import BLOCK, gaussian_noise, set_noise_threads

    shape = (5, BLOCK // 2 + 3)  # three blocks, the last one short
    try:
        set_noise_threads(1)
        serial = gaussian_noise(np.random.default_rng(8), shape, 1.0)
        set_noise_threads(3)
        parallel = gaussian_noise(np.random.default_rng(8), shape, 1.0)
    finally:
        set_noise_threads(None)
    np.testing.assert_array_equal(serial, parallel)
    flat = serial.ravel()
    blocks = [flat[i * BLOCK:(i + 1) * BLOCK] for i in range(3)]
    assert not np.array_equal(blocks[0][:100], blocks[1][:100])  # each block has its own seed
    assert all(abs(b.std() - 1.0) < 0.02 for b in blocks)
    with pytest.raises(ValueError, match="noise threads"):
        set_noise_threads(0)


def _noise_checksum(seed: int) -> float:
    from core.tasks.noise import gaussian_noise

    return float(gaussian_noise(np.random.default_rng(seed), (4, 70000), 1.0).sum())


def test_gaussian_noise_works_in_a_forked_child():
    import multiprocessing

    from core.tasks.noise import set_noise_threads

    set_noise_threads(2)  # the parent's pool threads exist before the fork
    try:
        expected = _noise_checksum(5)
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.apply_async(_noise_checksum, (5,)).get(timeout=60) == expected
    finally:
        set_noise_threads(None)
