import numpy as np
import pytest

from core.analysis.task_variance import (
    SegmentVariance,
    TaskVarianceResult,
    accumulate_task_variance,
    fractional_task_variance,
    ftv_histogram,
    segment_bounds,
    segment_lengths,
    task_variance_of_activity,
)


def _epochs(batch, fix_end, stim_end, go_end):
    rep = lambda a, b: np.tile([a, b], (batch, 1))  # noqa: E731
    return {"fix1": rep(0, fix_end), "stim1": rep(fix_end, stim_end),
            "delay1": rep(-1, -1), "go": rep(stim_end, go_end)}


def test_known_variances_after_fixation():
    n_steps, batch, fix_end = 30, 8, 10
    scale = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    signs = np.where(np.arange(batch) % 2 == 0, 1.0, -1.0)  # population variance exactly 1
    t = np.arange(n_steps)[:, None, None]
    activity = np.sin(t / 3.0) + signs[None, :, None] * scale[None, None, :]  # (T, B, N)
    activity[:fix_end] += 100.0 * np.random.default_rng(0).standard_normal((fix_end, batch, 1))
    epochs = _epochs(batch, fix_end, 20, n_steps)
    start, end = segment_bounds(epochs, n_steps, "trial")
    assert (start == fix_end).all() and (end == n_steps).all()
    tv = task_variance_of_activity(activity, start, end)
    np.testing.assert_allclose(tv, scale ** 2, atol=1e-10)
    # per epoch: variance only during the go epoch
    go_only = activity.copy()
    go_only[fix_end:20] = 0.0
    tv_stim = task_variance_of_activity(go_only, *segment_bounds(epochs, n_steps, "stim1"))
    tv_go = task_variance_of_activity(go_only, *segment_bounds(epochs, n_steps, "go"))
    np.testing.assert_allclose(tv_stim, 0.0, atol=1e-12)
    np.testing.assert_allclose(tv_go, scale ** 2, atol=1e-10)


def test_streaming_matches_full_computation_with_random_data():
    rng = np.random.default_rng(3)
    n_steps, batch, n_units = 25, 37, 12
    activity = rng.standard_normal((n_steps, batch, n_units)) * rng.random(n_units) * 3
    start, end = np.full(batch, 5), np.full(batch, n_steps)
    expected = activity[5:].var(axis=1).mean(axis=0)
    acc = SegmentVariance(n_units, n_steps - 5)
    for lo in range(0, batch, 6):  # uneven chunks
        sl = slice(lo, lo + 6)
        acc.update(activity[:, sl], start[sl], end[sl])
    np.testing.assert_allclose(acc.variance(), expected, rtol=1e-10)
    acc32 = SegmentVariance(n_units, n_steps - 5, dtype=np.float32)
    acc32.update(activity, start, end)
    np.testing.assert_allclose(acc32.variance(), expected, rtol=1e-4)


def test_trials_with_different_timing_are_aligned_to_their_own_segment():
    batch, n_units = 6, 3
    offsets = np.arange(batch) % 3  # fixation ends at 4, 5 or 6
    n_steps = 20
    pattern = np.random.default_rng(1).standard_normal((10, batch, n_units))
    activity = np.zeros((n_steps, batch, n_units))
    for b in range(batch):
        activity[4 + offsets[b]: 14 + offsets[b], b] = pattern[:, b]
    start, end = 4 + offsets, 14 + offsets
    np.testing.assert_allclose(task_variance_of_activity(activity, start, end),
                               pattern.var(axis=1).mean(axis=0), rtol=1e-10)


def test_accumulate_by_population_and_epoch():
    rng = np.random.default_rng(2)
    n_steps, batch = 30, 10
    epochs = _epochs(batch, 10, 20, 30)
    hidden = rng.standard_normal((n_steps, batch, 4))
    synapses = rng.standard_normal((n_steps, batch, 6))
    lengths = segment_lengths(epochs, n_steps)
    assert lengths == {"trial": 20, "stim1": 10, "go": 10}  # absent delay1 left out
    chunks = [({"hidden": hidden[:, s], "M": synapses[:, s]},
               {k: v[s] for k, v in epochs.items()}) for s in (slice(0, 3), slice(3, 10))]
    out = accumulate_task_variance(chunks, {"hidden": 4, "M": 6}, lengths)
    np.testing.assert_allclose(out["M"]["trial"], synapses[10:].var(axis=1).mean(axis=0))
    np.testing.assert_allclose(out["hidden"]["go"], hidden[20:].var(axis=1).mean(axis=0))


def test_fractional_task_variance_and_histogram():
    tv_a = np.array([1.0, 0.0, 2.0, 0.0])
    tv_b = np.array([0.0, 1.0, 2.0, 0.0])
    ftv = fractional_task_variance(tv_a, tv_b)
    np.testing.assert_allclose(ftv[:3], [1.0, -1.0, 0.0])
    assert np.isnan(ftv[3])
    counts, edges = ftv_histogram(ftv, bins=4)
    assert counts.tolist() == [1, 0, 1, 1] and edges[0] == -1 and edges[-1] == 1
    with pytest.raises(ValueError):
        fractional_task_variance(tv_a, tv_b[:2])


def test_result_round_trips_through_dict():
    res = TaskVarianceResult(["a", "b"], np.ones((3, 2)), ["a/go"], np.zeros((3, 1)))
    back = TaskVarianceResult.from_dict(res.to_dict())
    assert back.rules == ["a", "b"] and back.epoch_keys == ["a/go"]
    np.testing.assert_array_equal(back.by_epoch, res.by_epoch)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError):
        task_variance_of_activity(np.zeros((3, 4)), np.zeros(4), np.ones(4))
    acc = SegmentVariance(3, 5)
    with pytest.raises(ValueError, match="features"):
        acc.update(np.zeros((5, 2, 4)), np.zeros(2), np.full(2, 5))
