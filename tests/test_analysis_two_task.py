"""Two-task analyses: subspaces, dPCA, attractor similarity, modulation, interpolation readout,
fixed points under interpolation and per test set (stored and drawn)."""

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from sklearn.decomposition import PCA

from core.analysis.dpca import demixed_pca
from core.analysis.fixed_points import FixedPoints
from core.analysis.modulation import (
    channel_modulation,
    input_channel_names,
    input_contributions,
    input_groups,
    input_weight_geometry,
)
from core.analysis.state_space import run_model
from core.analysis.subspaces import cross_epoch_variance, epoch_groups
from core.analysis.two_task import (
    attractor_similarity,
    fixed_point_options,
    fixed_points_per_set,
    fresh_accuracy,
    interpolation_fixed_points,
    interpolation_readout,
)
from core.io import load_results, save_results
from core.models import build_model
from core.models.rnn import LeakyRNN, LeakyRNNConfig
from core.plotting.two_task import plot_bifurcation, plot_epoch_fixed_points
from core.tasks import MPN_LAB, generate_aligned_trials

TASK = MPN_LAB.with_rules(["delaygo", "delayanti"])


def _mpn(seed=0, n=6):
    torch.manual_seed(seed)
    return build_model("mpn", {"n_in": TASK.n_input, "n_hidden": n, "n_embed": 5,
                               "n_out": TASK.n_output, "eta_train": False}).eval()


def test_cross_epoch_variance_of_orthogonal_planes():
    rng = np.random.default_rng(0)
    basis = np.eye(5)
    a = rng.standard_normal((200, 2)) @ basis[:2]            # plane e1, e2
    b = rng.standard_normal((200, 1)) @ basis[2:3] * 3.0     # line e3
    c = np.concatenate([a[:, :1] @ basis[:1], b], axis=0)    # half e1, half e3
    out = cross_epoch_variance({"a": a, "b": b, "c": c}, n_components=3)
    ev = out["explained"]
    assert ev.shape == (3, 3, 3)
    np.testing.assert_allclose(ev[0, 0, 1], 1.0)           # a's own 2 PCs hold all of a
    np.testing.assert_allclose(ev[0, 1, :], 0.0, atol=1e-12)  # a's PCs hold none of b
    np.testing.assert_allclose(ev[1, 1, 0], 1.0)
    assert 0.0 < ev[1, 2, 0] < 1.0 and 0.0 < ev[0, 2, 1] < 1.0
    with pytest.raises(ValueError, match="features"):
        cross_epoch_variance({"a": a, "d": np.ones((3, 4))})


def test_epoch_groups_take_each_rules_epoch_steps():
    trials = generate_aligned_trials(["delaygo", "delayanti"], TASK, 3, np.random.default_rng(0),
                                     noise=False)
    states = np.arange(trials.n_steps)[:, None, None] * np.ones((1, trials.batch_size, 2))
    groups = epoch_groups(states, trials)
    start, end = trials.epochs["delay1"][0]
    assert groups["delayanti/delay1"].shape == (3 * (end - start), 2)
    assert set(groups["delaygo/delay1"][:, 0]) == set(range(start, end))


def test_demixed_pca_splits_known_variance():
    rng = np.random.default_rng(0)
    t_steps, b = 30, 32
    stim = np.repeat(np.arange(8) * np.pi / 4, 4)
    rule = np.tile(["a", "a", "b", "b"], 8)
    act = np.zeros((t_steps, b, 6))
    act[:, :, 0] = np.cos(stim)[None]                  # stimulus: variance 1/2
    act[:, :, 1] = 2.0 * (rule == "a")[None]           # rule: variance 1
    act[:, :, 2] = np.sin(np.arange(t_steps) / 5)[:, None]  # time
    act += 1e-3 * rng.standard_normal(act.shape)
    out = demixed_pca(act, stim, rule, n_components=2)
    explained = dict(zip(out["marginalizations"], out["explained"][:, 0], strict=True))
    time_var = np.var(np.sin(np.arange(t_steps) / 5))
    total = 0.5 + 1.0 + time_var
    assert explained["r"] == pytest.approx(1.0 / total, abs=0.02)
    assert explained["s"] == pytest.approx(0.5 / total, abs=0.02)
    assert explained["t"] == pytest.approx(time_var / total, abs=0.02)
    assert out["components"].shape == (4, 2, 8, 2, t_steps)


def _stage(step, sign_b):
    """A fake stage: 2 rules x 4 directions; rule B's state is sign_b x rule A's."""
    dirs = np.arange(4) * np.pi / 2
    loc = np.tile(dirs, 2)
    rule = np.repeat(["pro", "anti"], 4)
    vec = np.stack([np.cos(loc), np.sin(loc), np.ones(8)], axis=1)
    vec[4:] *= sign_b
    hidden = np.repeat(vec[None], 3, axis=0)  # (T=3, B, N)
    return {"step": np.array(step), "rule": rule, "trial/stim1_loc": loc,
            "epoch_names": np.array(["stim1"]), "epoch_end_step": np.full((1, 8), 2),
            "state/hidden": hidden}


def test_attractor_similarity_known_cosines():
    out = attractor_similarity([_stage(0, 1.0), _stage(5, -1.0)], epochs=("stim1", "delay1"))
    table = out["hidden"]["stim1"]
    np.testing.assert_allclose(table["same_stimulus"], [1.0, -1.0])
    # same response: pro at d vs anti at d + pi: cos((1+cos(pi))/2)=0 for unit 2D + bias 1
    np.testing.assert_allclose(table["same_response"], [0.0, 0.0], atol=1e-12)
    assert "delay1" not in out["hidden"]  # not recorded in these stages
    np.testing.assert_array_equal(out["step"], [0, 5])


def test_modulation_analyses_match_a_direct_computation():
    model = _mpn()
    trials = generate_aligned_trials(["delaygo", "delayanti"], TASK, None,
                                     np.random.default_rng(1), mode="test", noise=False)
    trials = trials.take([0, 5, 17, 30])
    groups = input_groups(TASK, ["delaygo", "delayanti"])
    out = input_contributions(model, trials, groups, chunk=3)
    _, states = run_model(model, trials.x, track_states=True)
    m = states["M"].astype(float)
    w = model.layers[0].W.detach().double().numpy()
    w_in = model.w_in.weight.detach().double().numpy()
    w_out = model.readout.weight.detach().double().numpy()
    t = 7
    direct = np.mean([w_out @ ((w * (1 + m[t, b])) @ (w_in @ trials.x[t, b]))
                      for b in range(trials.batch_size)], axis=0)
    np.testing.assert_allclose(out["projection"][t, :-1].sum(axis=0), direct, atol=1e-9)
    mod = channel_modulation(model, trials, chunk=3)
    c = groups["stimulus"][0]
    mags = [np.linalg.norm(m[t, b] @ w_in[:, c]) for b in range(trials.batch_size)]
    np.testing.assert_allclose(mod["mean"][t, c], np.mean(mags), atol=1e-9)
    np.testing.assert_allclose(mod["sd"][t, c], np.std(mags), atol=1e-7)


def test_input_weight_geometry():
    w = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    out = input_weight_geometry(w)
    np.testing.assert_allclose(out["gram"], w.T @ w)
    np.testing.assert_allclose(out["cosine"], [[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    np.testing.assert_allclose(out["norms"], [1, 3, 2])


def test_interpolation_readout_and_fresh_accuracy_shapes():
    model = _mpn()
    out = interpolation_readout(model, TASK, "delaygo", "delayanti", alphas=[0.0, 1.0])
    assert out["output"].shape[0] == 2 and out["output"].shape[2] == 8
    np.testing.assert_allclose(out["choose_a_by_direction"].mean(axis=1), out["choose_a"])
    total = out["choose_a"] + out["choose_b"] + out["no_response"]
    assert np.all(total <= 1.0 + 1e-12)  # A and B targets never coincide for pro/anti
    acc = fresh_accuracy(model, TASK, ["delaygo"], 40, np.random.default_rng(0))["delaygo"]
    low, high = acc.interval()
    assert low <= acc.accuracy <= high and acc.n_trials == 40
    assert acc.chance == pytest.approx(1 / 8)


def test_attractor_similarity_ignores_trials_without_the_epoch():
    stage = _stage(0, -1.0)
    stage["epoch_end_step"] = stage["epoch_end_step"].copy()
    stage["epoch_end_step"][0, 4:] = -2  # the anti trials lack the epoch (as StageRecorder marks)
    table = attractor_similarity([stage], epochs=("stim1",))["hidden"]["stim1"]
    assert np.isnan(table["same_stimulus"][0])
    vec = np.stack([np.cos(np.arange(4) * np.pi / 2), np.sin(np.arange(4) * np.pi / 2),
                    np.ones(4)], axis=1)
    cos = vec @ vec.T / 2.0  # every vector has norm sqrt(2)
    expected = cos[~np.eye(4, dtype=bool)].mean()
    assert table["different_stimulus"][0] == pytest.approx(expected)


def _bistable_rnn():
    """One tanh unit, h' = tanh(2h + d) with the delay drive d = 2α − 1 + 0.1 (rule cue A: +1,
    cue B: −1, bias 0.1; fixation and stimulus do not reach it)."""
    names, _ = input_channel_names(TASK)
    model = LeakyRNN(LeakyRNNConfig(n_in=TASK.n_input, n_hidden=1, n_out=TASK.n_output,
                                    dt=40.0, tau=40.0))
    with torch.no_grad():
        model.w_rec.fill_(2.0)
        model.w_in.weight.zero_()
        model.w_in.weight[0, names.index("rule:delaygo")] = 1.0
        model.w_in.weight[0, names.index("rule:delayanti")] = -1.0
        model.w_in.bias.fill_(0.1)
    return model


def _roots(d):
    """Every solution of h = tanh(2h + d), by bracketing on a fine grid."""
    grid = np.linspace(-1.0, 1.0, 2001)
    g = np.tanh(2 * grid + d) - grid
    return [brentq(lambda h: np.tanh(2 * h + d) - h, a, b, xtol=1e-14)
            for a, b, ga, gb in zip(grid[:-1], grid[1:], g[:-1], g[1:], strict=True)
            if ga * gb < 0]


def test_interpolation_fixed_points_find_the_saddle_node_of_a_bistable_unit(tmp_path):
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    model = _bistable_rnn()
    result = interpolation_fixed_points(model, TASK, "delaygo", "delayanti", alphas,
                                        n_stimuli=2, n_noise=31, noise_scale=1.0)
    assert result["directions"].size == 2
    # d = −0.9, −0.4, 0.1, 0.6, 1.1: bistable for |d| < 0.533 (two stable, one unstable point)
    for i, alpha in enumerate(alphas):
        expected = _roots(2 * alpha - 1 + 0.1)
        sel = result["alpha"] == alpha
        found = np.sort(result["states"][sel, 0])
        np.testing.assert_allclose(found, expected, atol=1e-5)
        assert result["n_fixed"][i] == len(expected) and result["n_slow"][i] == 0
        unstable = np.abs(2 * (1 - np.square(expected))) > 1
        assert result["n_unstable_points"][i] == unstable.sum()
    assert list(result["n_fixed"]) == [1, 3, 3, 1, 1]
    np.testing.assert_array_equal(result["stable"], result["n_unstable"] == 0)
    # stored and read back: the same arrays, and the finder's points rebuild from them
    save_results(tmp_path / "r.h5", "run", {"interpolation_fixed_points": result})
    loaded = load_results(tmp_path / "r.h5", "run")["interpolation_fixed_points"]
    for key in ("states", "alpha", "stimulus", "stable", "n_fixed", "eigenvalues_real"):
        np.testing.assert_array_equal(loaded[key], result[key])
    np.testing.assert_array_equal(loaded["projection"]["hidden"], result["projection"]["hidden"])
    assert str(loaded["epoch"]) == "delay1"
    points = FixedPoints.from_dict(loaded)
    assert len(points) == len(result["alpha"]) and points.lbfgs_steps == result["lbfgs_steps"]
    # the bifurcation figure draws every stored point, stable ones filled
    fig = plot_bifurcation(loaded, ["delaygo", "delayanti"])
    ax = fig.axes[0]
    drawn = [c for c in ax.collections if len(c.get_offsets())]
    assert len(drawn) == len(points)
    x = np.concatenate([c.get_offsets()[:, 0] for c in drawn])
    nearest = np.abs(x[:, None] - np.array(alphas)[None]).argmin(1)
    assert np.abs(x - np.array(alphas)[nearest]).max() < 0.05
    np.testing.assert_array_equal(np.bincount(nearest, minlength=5), loaded["n_fixed"])
    filled = [c.get_facecolors().shape[0] > 0 and c.get_facecolors()[0, 3] > 0 for c in drawn]
    assert sum(filled) == int(loaded["stable"].sum())


def test_fixed_points_per_set_of_an_mpn_and_their_figure(tmp_path):
    model = _mpn(n=4)
    trials = generate_aligned_trials(["delaygo", "delayanti"], TASK, None,
                                     np.random.default_rng(0), mode="test", noise=False,
                                     long_epoch="delay", long_ms=2000)
    options = fixed_point_options(model, relax_steps=400)
    assert options == {"relax_steps": 400, "adam_steps": 0}
    assert fixed_point_options(_bistable_rnn()) == {}
    result = fixed_points_per_set(model, {"long_delay": (trials, "delay1")}, n_noise=1,
                                  **options)["long_delay"]
    assert str(result["epoch"]) == "delay1"
    # relaxed M of a contracting map: every trial's state ends near a stable fixed point
    assert result["is_fixed"].all() and result["stable"].all()
    assert set(result["rule"]) == {"delaygo", "delayanti"}
    assert result["projection"]["WM"].shape == (len(result["rule"]), 2)
    # the W ⊙ M scores are those of the stored M times the stored W
    weight = model.layers[0].W.detach().numpy()
    wm = (result["states"].reshape(-1, *weight.shape) * weight).reshape(len(result["rule"]), -1)
    centred = wm - wm.mean(0)
    np.testing.assert_allclose(np.abs(result["projection"]["WM"][:, 0]),
                               np.abs(PCA(1).fit_transform(centred)[:, 0]), rtol=1e-3,
                               atol=1e-6)
    save_results(tmp_path / "r.h5", "run", {"epoch_fixed_points": {"long_delay": result}})
    loaded = load_results(tmp_path / "r.h5", "run")["epoch_fixed_points"]
    fig = plot_epoch_fixed_points(loaded, ["delaygo", "delayanti"])
    assert len(fig.axes) == 2  # hidden and W ⊙ M rows, one test set
    n = sum(len(c.get_offsets()) for c in fig.axes[1].collections)
    assert n == len(result["rule"])
