"""Two-task analyses: subspaces, dPCA, attractor similarity, modulation, interpolation readout."""

import numpy as np
import pytest
import torch

from core.analysis.dpca import demixed_pca
from core.analysis.modulation import (
    channel_modulation,
    input_contributions,
    input_groups,
    input_weight_geometry,
)
from core.analysis.state_space import run_model
from core.analysis.subspaces import cross_epoch_variance, epoch_groups
from core.analysis.two_task import (
    attractor_similarity,
    chance_level,
    fresh_accuracy,
    interpolation_readout,
)
from core.models import build_model
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
    assert chance_level(TASK) == pytest.approx(1 / 8)
    acc = fresh_accuracy(model, TASK, ["delaygo"], 40, np.random.default_rng(0))["delaygo"]
    assert acc["low"] <= acc["accuracy"] <= acc["high"] and acc["n"] == 40


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
