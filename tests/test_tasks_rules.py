"""Each rule's answer follows its logic, read back from the returned parameters and arrays."""

import math

import numpy as np
import pytest

from core.tasks import (
    MPN_LAB,
    RULE_SPECS,
    RULES,
    YANG19,
    decode_response,
    generate_trials,
)
from core.tasks.yang import circular_distance

MPN_ALL = MPN_LAB.with_rules("all")
CONFIGS = {"yang19": YANG19, "mpn_lab": MPN_ALL}
B = 96


def _batch(rule, cfg, seed=0, noise=False):
    return generate_trials(rule, cfg, B, np.random.default_rng(seed), noise=noise)


def _resp(tr):
    return tr.y[tr.response_step, np.arange(tr.batch_size)]


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("rule", RULES)
def test_target_is_encoded_at_response(rule, cfg):
    """y and y_loc at the response step encode params['target_loc'] (or fixation on no-go)."""
    tr = _batch(rule, cfg)
    fixating, angle, amp = decode_response(_resp(tr).astype(float), cfg)
    respond = tr.params["respond"]
    cols = np.arange(B)
    y_loc = tr.y_loc[tr.response_step, cols]
    assert np.all(fixating == ~respond)
    go = respond
    assert np.allclose(circular_distance(angle[go], tr.params["target_loc"][go]), 0, atol=1e-4)
    assert np.allclose(y_loc[go], tr.params["target_loc"][go], atol=1e-5)
    assert np.all(y_loc[~go] == -1)
    assert np.all(amp[go] > 0.4)
    # before the go epoch the network must fixate on every trial
    go_on = tr.epochs["go"][:, 0]
    assert np.all(tr.y_loc[go_on - 1, cols] == -1)
    assert np.allclose(tr.y[go_on - 1, cols, 0], cfg.fixation_target)


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("rule", [r for r in RULES if RULE_SPECS[r].family == "reach"])
def test_reach_go_and_anti(rule, cfg):
    tr = _batch(rule, cfg)
    p = tr.params
    shift = math.pi if rule.endswith("anti") else 0.0
    assert np.allclose(circular_distance(p["target_loc"], p["stim1_loc"] + shift), 0, atol=1e-9)
    assert np.all(p["respond"]) and np.all(np.isnan(p["stim2_loc"]))
    # the input shows the stimulus at stim1_loc on its modality during the first stimulus step
    cols = np.arange(B)
    t_stim = tr.epochs["go" if rule.startswith("react") else "stim1"][:, 0]
    first = cfg.n_fixation_inputs
    mu = cfg.n_modality_units
    for mod in (1, 2):
        sel = p["stim1_mod"] == mod
        assert sel.any()
        inp = np.zeros((sel.sum(), cfg.n_output))
        inp[:, 1:] = tr.x[t_stim[sel], cols[sel], first + (mod - 1) * mu: first + mod * mu]
        _, angle, _ = decode_response(inp, cfg)
        assert np.allclose(circular_distance(angle, p["stim1_loc"][sel]), 0, atol=1e-4)
        other = tr.x[t_stim[sel], cols[sel], first + (2 - mod) * mu: first + (3 - mod) * mu]
        assert np.all(other == 0)


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("rule", [r for r in RULES if RULE_SPECS[r].family == "decision"])
def test_decision_chooses_stronger(rule, cfg):
    tr = _batch(rule, cfg, seed=1)
    p = tr.params
    s = np.array([[p["stim1_mod1_strength"], p["stim1_mod2_strength"]],
                  [p["stim2_mod1_strength"], p["stim2_mod2_strength"]]])
    spec = RULE_SPECS[rule]
    if spec.stimuli == "context":
        att, unatt = spec.modality - 1, 2 - spec.modality
        evidence = s[:, att]
        # the unattended modality often points the other way, so ignoring context would fail
        assert np.mean((s[0, unatt] > s[1, unatt]) != (evidence[0] > evidence[1])) > 0.2
    else:
        evidence = s.sum(1)
        if spec.stimuli == "multi":
            single = s[0, 0] > s[1, 0]
            assert np.mean(single != (evidence[0] > evidence[1])) > 0.05
        elif cfg.second_stim_other_modality:
            assert np.all(s[0, spec.modality - 1] > 0) and np.all(s[1, 2 - spec.modality] > 0)
        else:
            assert np.all(s[:, 2 - spec.modality] == 0)
    expected = np.where(evidence[0] > evidence[1], p["stim1_loc"], p["stim2_loc"])
    assert np.allclose(circular_distance(p["target_loc"], expected), 0, atol=1e-9)
    assert np.all(evidence[0] != evidence[1])
    sep = circular_distance(p["stim1_loc"], p["stim2_loc"])
    assert np.all(sep >= 0.5 * math.pi - 1e-9)


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("rule", [r for r in RULES if RULE_SPECS[r].family == "match"])
def test_match_go_nogo(rule, cfg):
    tr = _batch(rule, cfg, seed=2)
    p = tr.params
    if rule.startswith("dms"):
        same = circular_distance(p["stim1_loc"], p["stim2_loc"]) < 1e-9
        dist = circular_distance(p["stim1_loc"], p["stim2_loc"])
        assert np.all(same | (dist >= math.pi / 9 - 1e-9))  # non-match at least 20 degrees away
    else:
        same = (p["stim1_loc"] < math.pi) == (p["stim2_loc"] < math.pi)
        if cfg.n_directions is None:  # Yang: no location on the boundary; grids include 0 and pi
            assert np.all(circular_distance(p["stim1_loc"], 0) > 1e-3)
            assert np.all(circular_distance(p["stim1_loc"], math.pi) > 1e-3)
    assert 0.2 < same.mean() < 0.8
    respond = ~same if rule.endswith("nogo") else same
    assert np.array_equal(p["respond"], respond)
    assert np.array_equal(p["match"], same.astype(np.int8))
    assert np.allclose(p["target_loc"][respond], p["stim2_loc"][respond])
    assert np.all(np.isnan(p["target_loc"][~respond]))
    if cfg.second_stim_other_modality:
        assert np.all(p["stim1_mod"] + p["stim2_mod"] == 3)


def test_psychometric_dm_follows_explicit_strengths():
    params = {"stim1_loc": [0.5, 0.5, 2.0], "stim2_loc": [3.0, 3.0, 5.0],
              "stim1_strength": [1.1, 0.9, 1.0], "stim2_strength": [0.9, 1.1, 1.2],
              "stim1_ms": 400}
    tr = generate_trials("dm1", YANG19, None, np.random.default_rng(0), mode="psychometric",
                         params=params)
    assert np.allclose(tr.params["target_loc"], [0.5, 3.0, 5.0])
    dur = tr.epochs["stim1"][:, 1] - tr.epochs["stim1"][:, 0]
    assert np.all(dur * YANG19.dt == 400)


def test_psychometric_rejects_unknown_key():
    with pytest.raises(ValueError, match="unknown psychometric params"):
        generate_trials("fdgo", YANG19, None, np.random.default_rng(0), mode="psychometric",
                        params={"stim1_loc": [0.0], "stim_loc": [1.0]})


@pytest.mark.parametrize("rule", RULES)
def test_test_mode_grid_is_deterministic(rule):
    a = generate_trials(rule, YANG19, None, np.random.default_rng(0), mode="test", noise=False)
    b = generate_trials(rule, YANG19, None, np.random.default_rng(9), mode="test", noise=False)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert a.batch_size >= 40 and np.all(a.params["respond"])


def test_mpn_lab_stimuli_on_the_direction_grid_with_rounded_separations():
    step = 2 * np.pi / 8
    rng = np.random.default_rng(0)
    for rule in ("delaydm1", "contextdelaydm2", "dmsgo", "dmcnogo"):
        tr = generate_trials(rule, MPN_LAB, 4000, rng, noise=False)
        locs = np.stack([tr.params["stim1_loc"], tr.params["stim2_loc"]])
        assert np.allclose(locs / step, np.round(locs / step))  # on the 8 directions
        sep = np.round(circular_distance(locs[0], locs[1]) / step).astype(int)
        if rule.startswith("dmc"):  # the whole grid, 0 in the first category and pi in the second
            assert set(np.round(locs[0] / step).astype(int)) == set(range(8))
            assert np.array_equal(tr.params["match"], (locs[0] < np.pi) == (locs[1] < np.pi))
        elif rule.startswith("dms"):  # a non-match is never the same direction
            nonmatch = tr.params["match"] == 0
            assert np.all(sep[nonmatch] > 0) and np.all(sep[~nonmatch] == 0)
        else:  # 90-270 degree offsets rounded to the grid: 90 / 135 / 180 at 1/4, 1/2, 1/4
            freq = np.bincount(sep, minlength=5)[2:5] / sep.size
            assert np.allclose(freq, [0.25, 0.5, 0.25], atol=0.03), freq
