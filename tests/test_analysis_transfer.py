"""Transfer measures (core.analysis.transfer) on inputs with known answers."""

import numpy as np
import pytest

from core.analysis.seeds import curve_interval
from core.analysis.transfer import (
    cumulative_variance,
    direction_means,
    first_step_reaching,
    matrix_change,
    participation_ratio,
    principal_angles,
    principal_components,
    speed_table,
    transfer_curve_groups,
)


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


def test_speed_table_and_groups():
    def run(network, pair, accuracy):
        return {"network": network, "pair": np.array(pair),
                "speed": {"thresholds": np.array([0.5, 0.9]), "steps": np.array([0, 10, 20]),
                          "accuracy": np.array(accuracy),
                          "first_step": first_step_reaching([0, 10, 20], accuracy, [0.5, 0.9])}}
    stored = {"a": run("mpn", ["fdanti", "delaygo"], [0.1, 0.6, 0.95]),
              "b": run("mpn", ["fdanti", "delaygo"], [0.1, 0.2, 0.7]),
              "c": run("vanilla", ["fdgo", "delaygo"], [0.1, 0.1, 0.1])}
    table = speed_table(stored)
    assert "| MPN, fdanti+delaygo | 15 ± 5 (2/2) | 20 ± 0 (1/2) | 0.82 |" in table
    assert "| RNN, fdgo+delaygo | — (0/1) | — (0/1) | 0.10 |" in table
    groups = transfer_curve_groups(stored)
    steps, mean, low, high, n = groups["MPN, fdanti+delaygo"]
    np.testing.assert_allclose(mean, [0.1, 0.4, 0.825])
    np.testing.assert_array_equal(steps, [0, 10, 20])
    half = 12.706204736174698 * np.abs(np.array([0.6, 0.95]) - [0.2, 0.7]) / 2  # t_{0.975, 1}
    np.testing.assert_allclose(low, np.clip([0.1, *(mean[1:] - half)], 0, 1))
    assert n == 2 and np.isnan(groups["RNN, fdgo+delaygo"][2]).all()  # one seed: no interval
