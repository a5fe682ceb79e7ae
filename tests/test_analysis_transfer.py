"""Transfer measures (core.analysis.transfer) on inputs with known answers."""

import numpy as np
import pytest

from core.analysis.seeds import curve_interval
from core.analysis.transfer import (
    cumulative_variance,
    direction_means,
    evaluation_groups,
    first_step_reaching,
    interval_text,
    matrix_change,
    network_summary,
    participation_ratio,
    principal_angles,
    principal_components,
    score_arrays,
    speed_table,
    transfer_curve_groups,
)
from core.tasks import RuleScore


def test_first_step_reaching():
    got = first_step_reaching([0, 10, 20, 30], [0.1, 0.6, 0.85, 0.96])
    np.testing.assert_array_equal(got, [10, 20, 20, 30, 30, np.nan])
    with pytest.raises(ValueError):
        first_step_reaching([0, 1], [0.5])


def test_curve_interval_is_the_t_interval_at_the_steps_every_seed_reached():
    """Three seeds, one stopped at step 20: mean and t-interval (t_{0.975, 2}) at steps 0-20;
    one seed: no interval; bounds clipped to [0, 1]."""
    curves = [([0, 10, 20, 30], [0.1, 0.5, 0.6, 0.9]), ([0, 10, 20], [0.2, 0.4, 0.9]),
              ([0, 10, 20, 30], [0.3, 0.9, 0.6, 0.8])]
    steps, mean, low, high = curve_interval(curves)
    values = np.array([[0.1, 0.5, 0.6], [0.2, 0.4, 0.9], [0.3, 0.9, 0.6]])
    half = 4.302652729911275 * values.std(axis=0, ddof=1) / np.sqrt(3)
    np.testing.assert_array_equal(steps, [0, 10, 20])
    np.testing.assert_allclose(mean, values.mean(axis=0))
    np.testing.assert_allclose(low, np.clip(values.mean(axis=0) - half, 0, 1))
    np.testing.assert_allclose(high, np.clip(values.mean(axis=0) + half, 0, 1))
    assert high[1] == 1.0 and low[0] == 0.0  # clipped where the interval leaves [0, 1]
    steps, mean, low, high = curve_interval(curves[:1], limits=None)
    np.testing.assert_allclose(mean, curves[0][1])
    assert np.isnan(low).all() and np.isnan(high).all() and len(steps) == 4
    with pytest.raises(ValueError):
        curve_interval([([0, 1], [0.5])])


def test_subspace_measures():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(400, 2)) * [2.0, 1.0]
    x = np.zeros((400, 5))
    x[:, :2] = coords                                # variance in the e1-e2 plane only
    axes = principal_components(x, 4)
    assert axes.shape == (5, 2)                      # rank 2
    np.testing.assert_allclose(cumulative_variance(x, axes)[-1], 1.0)
    assert 0.75 < cumulative_variance(x, axes)[0] < 0.85       # 4 / (4 + 1)
    np.testing.assert_allclose(cumulative_variance(x, np.eye(5)[:, 2:4]), [0, 0], atol=1e-12)
    square = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    assert participation_ratio(square) == pytest.approx(2.0)
    assert participation_ratio(np.outer(np.arange(5.0), [1, 2, 3])) == pytest.approx(1.0)
    np.testing.assert_allclose(principal_angles(np.eye(5)[:, :2], np.eye(5)[:, [1, 0]]), 0,
                               atol=1e-7)
    np.testing.assert_allclose(principal_angles(np.eye(5)[:, :2], np.eye(5)[:, 2:4]), np.pi / 2)


def test_matrix_change_and_direction_means():
    m = np.arange(6.0).reshape(2, 3)
    cos, dist = matrix_change(m, 2 * m)
    assert cos == pytest.approx(1.0) and dist == pytest.approx(np.linalg.norm(m))
    activity = np.arange(2 * 4, dtype=float).reshape(2, 4)[..., None]  # (T=2, B=4, 1)
    out = direction_means(activity, np.array([1.0, 0.0, 1.0, 0.0]))
    np.testing.assert_allclose(out[:, 0], [2, 6, 1, 5])  # direction 0 then 1, each over time


T_1, T_2 = 12.706204736174698, 4.302652729911275  # t_{0.975} with 1 and 2 degrees of freedom


def test_interval_text_is_the_t_interval_over_seeds():
    values = [0.5, 0.6, 0.9]
    half = T_2 * np.std(values, ddof=1) / np.sqrt(3)
    assert interval_text(values, 3) == f"{2 / 3:.3f} [{2 / 3 - half:.3f}, {2 / 3 + half:.3f}]"
    assert interval_text(values, 3, limits=(0, 1)).endswith(", 1.000]")  # 0.667 + 0.519 > 1
    assert interval_text([0.4], 2) == "0.40"  # one seed: no interval
    assert interval_text([10, 20], 0, limits=(0, np.inf)) == f"15 [0, {15 + T_1 * 5:.0f}]"
    with pytest.raises(ValueError):
        interval_text([], 1)


def _evaluation(accuracy, chance=0.125, n_trials=500):
    return score_arrays({r: RuleScore(round(a * n_trials), n_trials, chance)
                         for r, a in accuracy.items()})


def test_speed_table_and_groups():
    def run(network, pair, accuracy, fresh):
        return {"network": network, "pair": np.array(pair),
                "speed": {"thresholds": np.array([0.5, 0.9]), "steps": np.array([0, 10, 20]),
                          "accuracy": np.array(accuracy),
                          "first_step": first_step_reaching([0, 10, 20], accuracy, [0.5, 0.9])},
                "evaluation": _evaluation({"delayanti": fresh})}
    stored = {"a": run("mpn", ["fdanti", "delaygo"], [0.1, 0.6, 0.95], 0.7),
              "b": run("mpn", ["fdanti", "delaygo"], [0.1, 0.2, 0.7], 0.72),
              "c": run("vanilla", ["fdgo", "delaygo"], [0.1, 0.1, 0.1], 0.1)}
    table = speed_table(stored)
    half = T_1 * np.std([0.7, 0.72], ddof=1) / np.sqrt(2)
    steps = f"15 [0, {15 + T_1 * 5:.0f}] (2/2)"  # first steps 10 and 20; clipped at step 0
    assert (f"| MPN, fdanti+delaygo | {steps} | 20 (1/2) | 0.71 [{0.71 - half:.2f}, "
            f"{0.71 + half:.2f}] (0.70, 0.72) | 0.125 |") in table
    assert "| RNN, fdgo+delaygo | — (0/1) | — (0/1) | 0.10 (0.10) | 0.125 |" in table
    header = table.splitlines()[0]
    assert "step to 0.5: mean [95 % t-interval]" in header
    assert "delayanti accuracy, 500 fresh trials: mean [95 % t-interval]" in header
    assert "±" not in table
    groups = transfer_curve_groups(stored)
    steps, mean, low, high, n = groups["MPN, fdanti+delaygo"]
    np.testing.assert_allclose(mean, [0.1, 0.4, 0.825])
    np.testing.assert_array_equal(steps, [0, 10, 20])
    half = T_1 * np.abs(np.array([0.6, 0.95]) - [0.2, 0.7]) / 2
    np.testing.assert_allclose(low, np.clip([0.1, *(mean[1:] - half)], 0, 1))
    assert n == 2 and np.isnan(groups["RNN, fdgo+delaygo"][2]).all()  # one seed: no interval


def test_network_summary_reports_fresh_trial_accuracy_with_t_interval_and_chance():
    def run(network, count, first, fresh):
        return {"network": network, "count": count, "target": 100, "level": 0.9,
                "first_step": first, "steps": np.array([0, 10]),
                "mean_accuracy": np.array([0.3, 0.6]),
                "evaluation": _evaluation({"delaydm1": fresh[0], "delaydm2": fresh[1]}, 0.5)}
    stored = {"m0": run("mpn", 101, 10.0, (0.6, 0.8)), "m1": run("mpn", 101, np.nan, (0.7, 0.7)),
              "m2": run("mpn", 101, 30.0, (0.8, 0.9)), "r0": run("rnn", 100, np.nan, (0.5, 0.4))}
    groups = evaluation_groups(stored)
    mpn = groups["MPN, 101 parameters"]
    per_seed = np.array([[0.6, 0.8, 0.7], [0.7, 0.7, 0.7], [0.8, 0.9, 0.85]])
    np.testing.assert_allclose(mpn["accuracy"], per_seed)
    half = T_2 * per_seed.std(axis=0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(mpn["low"], per_seed.mean(axis=0) - half)
    np.testing.assert_allclose(mpn["high"], np.minimum(per_seed.mean(axis=0) + half, 1))
    np.testing.assert_array_equal(mpn["chance"], [0.5, 0.5, 0.5])
    assert list(mpn["columns"]) == ["delaydm1", "delaydm2", "mean over rules"]
    assert mpn["n_trials"] == 500
    _, table = network_summary(stored)
    lines = table.splitlines()
    assert "delaydm1 accuracy, 500 fresh trials: mean [95 % t-interval] (chance)" in lines[0]
    assert "mean over rules: mean [95 % t-interval] (chance)" in lines[0]
    cells = [f"{m:.3f} [{lo:.3f}, {min(hi, 1):.3f}] (0.500)" for m, lo, hi in
             zip(per_seed.mean(axis=0), per_seed.mean(axis=0) - half,
                 per_seed.mean(axis=0) + half, strict=True)]
    assert (f"| MPN | 101 (100) | 3 | 20 [0, {20 + T_1 * np.sqrt(200) / np.sqrt(2):.0f}] (2/3 "
            f"reached 0.9) | {' | '.join(cells)} |") in lines
    assert "| leaky RNN | 100 (100) | 1 | — (0/1 reached 0.9) | 0.500 (0.500) | 0.400 (0.500) | "\
           "0.450 (0.500) |" in lines
    stored["m1"]["evaluation"] = _evaluation({"delaydm1": 0.7}, 0.5)
    with pytest.raises(ValueError, match="different rules"):
        evaluation_groups(stored)
