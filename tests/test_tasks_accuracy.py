"""The accuracy criterion cannot be beaten by an answer that ignores the trial."""

import math

import numpy as np
import pytest

from core.tasks import MPN_LAB, RULE_SPECS, RULES, YANG19, encode_angle, generate_trials
from core.tasks.accuracy import (
    TOLERANCE,
    accuracy,
    chance_level,
    correct_responses,
    decode_response,
    response_tolerance,
    score_by_rule,
)

CONFIGS = {"yang19": YANG19, "mpn_lab": MPN_LAB.with_rules("all")}
N_TRIALS = 600
ANGLES = np.arange(480) * (2 * math.pi / 480)  # every 0.75 degrees, grid midpoints included
AMPLITUDES = (0.1, 0.25, 1.0, 5.0)  # relative to a unit target (min_response is 0.25)


def constant_outputs(config) -> np.ndarray:
    """``(K, n_out)``: every angle x amplitude, with the fixation output off and on."""
    rows = []
    for fixation in (0.0, 1.0):
        for amplitude in AMPLITUDES:
            out = np.zeros((ANGLES.size, config.n_output))
            out[:, 0] = fixation
            out[:, 1:] = amplitude * encode_angle(config, ANGLES)
            rows.append(out)
    return np.concatenate(rows)


def margin(p: float, n: int) -> float:
    """Four binomial standard errors: the best of ~4000 constants stays below it by chance."""
    return 4.0 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("preset", CONFIGS)
@pytest.mark.parametrize("rule", RULES)
def test_no_constant_output_scores_above_chance(rule, preset):
    config = CONFIGS[preset]
    trials = generate_trials(rule, config, N_TRIALS, np.random.default_rng(7), noise=False)
    outputs = constant_outputs(config)
    fixating, angle, amplitude = decode_response(outputs, config)
    scores = correct_responses(fixating[:, None], angle[:, None], amplitude[:, None], trials,
                               config).mean(axis=1)
    best = int(scores.argmax())
    chance = chance_level(rule, config)
    assert scores[best] <= chance + margin(chance, N_TRIALS), (outputs[best], scores[best])
    if RULE_SPECS[rule].family != "match":  # one fixed answer hits one grid direction at most
        share = 1 / config.n_directions if config.n_directions else TOLERANCE / math.pi
        assert scores[best] <= share + margin(share, N_TRIALS)
    # the broadcast sweep is the criterion itself: the best constant scored through accuracy()
    y_hat = np.broadcast_to(outputs[best], trials.y.shape)
    assert accuracy(y_hat, trials, config).mean() == scores[best]


def test_tolerance_on_the_grid_is_half_the_spacing():
    trials = generate_trials("fdgo", MPN_LAB, 64, np.random.default_rng(0))
    target = trials.params["target_loc"]
    for offset, ok in ((0.99 * math.pi / 8, True), (1.01 * math.pi / 8, False),
                       (0.19 * math.pi, False)):
        y = np.zeros_like(trials.y)
        y[:, :, 1:] = encode_angle(MPN_LAB, target + offset)[None]
        assert accuracy(y, trials, MPN_LAB).all() == ok and accuracy(y, trials, MPN_LAB).any() == ok
    assert response_tolerance(MPN_LAB) == math.pi / 8 and response_tolerance(YANG19) == TOLERANCE


def test_chance_levels_and_scores_with_intervals():
    assert chance_level("delaygo", MPN_LAB) == 1 / 8
    assert chance_level("delaygo", YANG19) == pytest.approx(0.2)
    assert chance_level("contextdm1", YANG19) == 0.5 == chance_level("dmcnogo", MPN_LAB)
    with pytest.raises(ValueError, match="unknown rule"):
        chance_level("fly", MPN_LAB)
    trials = generate_trials("fdgo", MPN_LAB, 500, np.random.default_rng(0))
    correct = np.arange(500) % 4 != 0  # 375 of 500
    score = score_by_rule(correct, trials, MPN_LAB)["fdgo"]
    assert (score.n_correct, score.n_trials, score.chance) == (375, 500, 1 / 8)
    low, high = score.interval()
    # Wilson interval: p +- z sqrt(p(1-p)/n + z^2/4n^2) around the shifted centre
    z = 1.959964
    centre = (0.75 + z * z / 1000) / (1 + z * z / 500)
    half = z / (1 + z * z / 500) * math.sqrt(0.75 * 0.25 / 500 + z * z / (4 * 500 ** 2))
    assert low == pytest.approx(centre - half, abs=1e-6)
    assert high == pytest.approx(centre + half, abs=1e-6)
