"""Transfer measures (core.analysis.transfer) on inputs with known answers."""

import numpy as np
import pytest

from core.analysis.transfer import (
    cumulative_variance,
    curves_on_grid,
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


def test_curves_on_grid_mean_and_sem():
    values, mean, sem = curves_on_grid([([0, 10], [0.0, 1.0]), ([0, 5], [0.5, 0.5])],
                                       np.array([0.0, 5.0, 10.0]))
    np.testing.assert_allclose(values, [[0, 0.5, 1], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(mean, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(sem, np.std([[0, 0.5, 1], [0.5, 0.5, 0.5]], axis=0, ddof=1)
                               / np.sqrt(2))


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
    groups = transfer_curve_groups(stored, n_grid=3)
    grid, mean, sem, n = groups["MPN, fdanti+delaygo"]
    np.testing.assert_allclose(mean, [0.1, 0.4, 0.825])
    assert n == 2
