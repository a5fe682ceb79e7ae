import tracemalloc

import numpy as np
import pytest
import torch

from core.analysis.seeds import mean_interval
from core.analysis.state_space import (
    COMPUTATION_CATEGORIES,
    StateSpace,
    compose_rule_input,
    computation_category,
    distance_angle_fit,
    distance_vs_angle,
    epoch_dimensionality,
    onset_states,
    paired_accuracy_change,
    parallelogram,
    participation_ratio,
    preceding_trial_shift,
    run_model,
    shift_probe_trials,
    state_at,
    task_set_points,
    trajectory_shift,
    trial_average,
)
from core.models.mpn import DeepMultiPlasticNet, MPNConfig
from core.tasks import MPN_LAB, generate_trials


def test_pca_recovers_a_planted_plane():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((20, 2)))[0].T  # (2, 20)
    activity = rng.standard_normal((500, 2)) * [3.0, 1.0] @ basis
    space = StateSpace(n_components=3).fit(activity)
    assert space.explained_variance_ratio_[:2].sum() == pytest.approx(1.0, abs=1e-9)
    assert space.transform(activity.reshape(50, 10, 20)).shape == (50, 10, 3)
    assert participation_ratio(np.array([1.0, 1.0, 0.0])) == pytest.approx(2.0)


def test_trial_average_task_set_and_parallelogram():
    activity = np.zeros((10, 3, 2))
    activity[:, :, 0] = np.arange(10)[:, None]
    start = np.array([0, 2, 4])
    avg = trial_average(activity, start, start + 5)
    np.testing.assert_allclose(avg[:, 0], np.arange(5) + 2)
    hidden = {r: np.full((6, 4, 3), float(i)) for i, r in enumerate("abcd")}
    points = task_set_points(hidden, {r: np.full(4, 3) for r in "abcd"})
    assert points.shape == (4, 3)
    square = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=float)
    assert parallelogram(square)["cos_anti"] == pytest.approx(1.0)
    assert parallelogram(square)["length_mismatch"] == pytest.approx(0.0)
    bent = square.copy()
    bent[3] = [0, 2]
    assert parallelogram(bent)["cos_anti"] < 0.5


def test_compose_rule_input_keeps_timing_and_builds_the_combination():
    x = np.zeros((5, 2, 6), dtype=np.float32)
    x[:4, :, 3] = 1.0  # rule unit 3 on for 4 steps, columns 2..5 are rule units
    out = compose_rule_input(x, np.arange(2, 6), {2: 1.0, 4: 1.0, 5: -1.0})
    np.testing.assert_array_equal(out[:4, 0, 2:], np.tile([1.0, 0.0, 1.0, -1.0], (4, 1)))
    assert (out[4] == 0).all() and (x[:4, :, 3] == 1).all()  # input untouched
    with pytest.raises(ValueError):
        compose_rule_input(x, np.arange(2, 6), {0: 1.0})


class _Toy(torch.nn.Module):
    """A model of the shared interface: hidden = tanh of the input (memoryless) or of its running
    sum over steps (leaky); read out linearly."""

    def __init__(self, n_in: int, n_out: int, leaky: bool):
        super().__init__()
        self.leaky = leaky
        self.w = torch.nn.Linear(n_in, 6)
        self.readout = torch.nn.Linear(6, n_out)

    def forward(self, x, track_states=False):
        h = torch.tanh(self.w(torch.cumsum(x, 0) / 10 if self.leaky else x))
        return self.readout(h), ({"hidden": h} if track_states else {})


def test_shift_probes_are_balanced_for_match_rules_and_aligned():
    rng = np.random.default_rng(0)
    assert (generate_trials("dmcgo", MPN_LAB, None, rng, mode="test").params["match"] == 1).all()
    for rule in ("dmcgo", "dmsnogo"):
        probe = shift_probe_trials(rule, MPN_LAB, 9, rng)
        assert probe.batch_size == 9 and (probe.x == probe.x[:, :1]).sum() < probe.x.size
        assert np.sort(probe.params["match"]).tolist() == [0] * 4 + [1] * 5
        assert (probe.params["respond"] == (probe.params["match"] == (rule == "dmcgo"))).all()
        for bounds in probe.epochs.values():  # one timing (the test timing) for every trial
            assert (bounds == bounds[0]).all()
    probe = shift_probe_trials("fdgo", MPN_LAB, 5, rng)
    assert probe.batch_size == 5 and (probe.params["match"] == -1).all()
    with pytest.raises(ValueError, match="n_trials"):
        shift_probe_trials("dmsgo", MPN_LAB, 1, rng)


def test_preceding_trial_shift_is_zero_without_memory_and_positive_with_it():
    reference = np.random.default_rng(0).standard_normal((8, 4))
    assert trajectory_shift(reference, reference) == 0.0
    assert trajectory_shift(reference, reference + 1.0) > 0
    rng = np.random.default_rng(1)
    probe = shift_probe_trials("delaygo", MPN_LAB, 6, rng)
    prev = {"dmsgo": generate_trials("dmsgo", MPN_LAB, 6, rng, noise=False).x}
    torch.manual_seed(0)
    n_in, n_out = probe.x.shape[2], probe.y.shape[2]
    memoryless = preceding_trial_shift(_Toy(n_in, n_out, False), probe, prev, MPN_LAB, 4)
    assert memoryless["shift"].tolist() == [0.0]
    assert (memoryless["correct"][0] == memoryless["correct_alone"]).all()
    assert preceding_trial_shift(_Toy(n_in, n_out, True), probe, prev, MPN_LAB)["shift"][0] > 0.1
    with pytest.raises(ValueError, match="previous_x"):
        preceding_trial_shift(_Toy(n_in, n_out, False), probe, {"x": prev["dmsgo"][:, :5]},
                              MPN_LAB)


def test_preceding_trial_shift_streams_chunks_and_never_holds_m_of_all_trials():
    """Chunked and one-chunk runs agree; the model is never asked for M, calls never exceed a
    chunk, and the numpy memory peak stays below an eighth of a float32 M per step of all trials
    (recording M as the script once did, all trials at once or even chunk by chunk, exceeds it:
    about 6.7 MB against the 4.2 MB bound here, 1.2 MB without M)."""
    rng = np.random.default_rng(2)
    n_trials, chunk = 192, 16
    probe = shift_probe_trials("dmsgo", MPN_LAB, n_trials, rng)
    prev = {r: generate_trials(r, MPN_LAB, n_trials, rng, noise=False).x
            for r in ("delaygo", "dmcnogo")}
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(MPNConfig(n_in=probe.x.shape[2], n_hidden=16, n_embed=16,
                                          n_out=probe.y.shape[2], batch_chunk=chunk))
    calls = []
    forward = model.forward
    model.forward = lambda x, track_states=False, **kw: (
        calls.append((track_states, x.shape[1])) or forward(x, track_states=track_states, **kw))
    whole = preceding_trial_shift(model, probe, prev, MPN_LAB, chunk_size=n_trials)
    tracemalloc.start()
    chunked = preceding_trial_shift(model, probe, prev, MPN_LAB, chunk_size=chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(chunked["shift"], whole["shift"], rtol=1e-5)
    assert (chunked["correct"] == whole["correct"]).all()
    assert (chunked["correct_alone"] == whole["correct_alone"]).all()
    assert chunked["correct"].shape == (2, n_trials) and chunked["shift"].shape == (2,)
    assert all(track == "hidden" for track, _ in calls)
    assert max(b for _, b in calls[len(calls) // 2:]) == chunk  # the chunked run's calls
    steps = probe.n_steps + max(x.shape[0] for x in prev.values())
    all_m = steps * n_trials * 16 * 16 * 4  # bytes of M of every step and trial
    assert peak < all_m / 8, (peak, all_m)


def test_paired_accuracy_change_and_its_standard_error():
    correct = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], bool)
    change, se = paired_accuracy_change(correct, np.array([1, 0, 1, 0], bool))
    np.testing.assert_allclose(change, [0.0, 0.0])
    np.testing.assert_allclose(se, [np.sqrt(2 / 3) / 2, 0.0])
    change, _ = paired_accuracy_change(np.ones((1, 4), bool), np.zeros(4, bool))
    assert change.tolist() == [1.0]
    with pytest.raises(ValueError, match="correct_alone"):
        paired_accuracy_change(correct, np.ones(3, bool))


def test_model_runs_in_chunks_and_states_at_steps_match():
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(MPNConfig(n_in=5, n_hidden=6, n_embed=4, n_out=3))
    x = np.random.default_rng(2).standard_normal((9, 7, 5)).astype(np.float32)
    y_all, states = run_model(model, x, track_states=True)
    y_chunked, _ = run_model(model, x, chunk_size=3)
    np.testing.assert_allclose(y_all, y_chunked, atol=1e-6)
    steps = np.array([0, 8, 3, 4, 5, 6, 2])
    m = state_at(model, x, steps, "M", chunk_size=2)
    np.testing.assert_allclose(m, states["M"][steps, np.arange(7)], atol=1e-6)
    epochs = {"stim1": np.tile([2, 6], (7, 1)), "go": np.tile([6, 9], (7, 1))}
    dims = epoch_dimensionality(states["hidden"], epochs, n_components=3)
    assert set(dims) == {"stim1", "go"} and dims["go"]["participation_ratio"] >= 1.0


def test_pca_spectrum_matches_sklearn_explained_variance():
    from sklearn.decomposition import PCA

    from core.analysis.state_space import pca_spectrum

    activity = np.random.default_rng(1).normal(size=(20, 6, 5)) * np.array([3, 2, 1, 0.5, 0.1])
    expected = PCA().fit(activity.reshape(-1, 5)).explained_variance_
    np.testing.assert_allclose(pca_spectrum(activity), expected, rtol=1e-10)


def _rotation_trajectories(angle_of, rng, n_rules=8, n_trials=6):
    """Trajectories (T=4, B, 3) per rule: fixation ends at (x_r, 0, 0); the first post-onset
    step moves by a unit vector at ``angle_of(x_r)`` degrees in the (y, z) plane."""
    states, onset, stimulus = {}, {}, {}
    for r in range(n_rules):
        x = rng.uniform(0, 5)
        traj = np.zeros((4, n_trials, 3))
        traj[:, :, 0] = x
        theta = np.radians(angle_of(x))
        traj[2:, :, 1] += np.cos(theta)
        traj[2:, :, 2] += np.sin(theta)
        states[f"r{r}"] = traj
        onset[f"r{r}"] = np.full(n_trials, 2)
        stimulus[f"r{r}"] = np.arange(n_trials) % 2
    return states, onset, stimulus


def _fit(states, onset, stimulus):
    pre, disp = {}, {}
    for rule in states:
        pre[rule], disp[rule] = onset_states(states[rule], onset[rule])
    table = distance_vs_angle(pre, disp, stimulus)
    assert table["pairs"].shape == (len(states) * (len(states) - 1), 2)  # 2 stimuli per pair
    return table, distance_angle_fit(table["distance"], table["angle"])


def test_displacement_angle_growing_with_initial_distance_gives_r_near_one():
    rng = np.random.default_rng(0)
    table, fit = _fit(*_rotation_trajectories(lambda x: 30 * x, rng))
    # pre-states differ only along x, so |x_a - x_b| is the distance and 30|x_a - x_b| the angle
    np.testing.assert_allclose(table["angle"], 30 * table["distance"], atol=1e-6)
    assert fit["r"] > 0.99 and fit["slope"] == pytest.approx(30, rel=1e-3) and fit["p"] < 1e-6


def test_independent_displacement_angles_give_r_near_zero():
    rng = np.random.default_rng(1)
    fits = [_fit(*_rotation_trajectories(lambda x: rng.uniform(0, 150), rng, n_rules=15,
                                         n_trials=2))[1]["r"] for _ in range(20)]
    mean, low, high = mean_interval(fits)
    assert abs(mean) < 0.1 and low < mean < high and high - low < 0.3


def test_computation_categories_cover_the_fifteen_rules_once():
    from core.tasks import RULE_SETS

    rules = [r for group in COMPUTATION_CATEGORIES.values() for r in group]
    assert sorted(rules) == sorted(RULE_SETS["everything"])
    assert computation_category("dmcnogo") == "categorisation"
    assert computation_category("go") == "other"
