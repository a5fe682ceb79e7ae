"""Fixed-point finder: step maps against the models, and points with known location and spectrum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from script_loader import load_script

from core.analysis.fixed_points import (
    FixedPoints,
    epoch_fixed_points,
    find_fixed_points,
    jacobian_eigenvalues,
    step_map,
    trajectory_seeds,
)
from core.io import load_results, save_results
from core.models.mpn import DeepMultiPlasticNet, MPNConfig
from core.models.rnn import GRUConfig, GRUNet, LeakyRNN, LeakyRNNConfig, gru_step
from core.models.timescale_rnn import TimescaleRNN, TimescaleRNNConfig
from core.tasks.trials import Trials

FAST = dict(adam_steps=50, lbfgs_steps=300)


@pytest.mark.parametrize("model", [
    DeepMultiPlasticNet(MPNConfig(n_in=5, n_hidden=6, n_embed=4, n_out=2)),
    DeepMultiPlasticNet(MPNConfig(n_in=5, n_hidden=6, n_embed=4, n_out=2, n_layers=2,
                                  recurrent=True, update="oja", eta_type="post_vector")),
    LeakyRNN(LeakyRNNConfig(n_in=5, n_hidden=6)),
    GRUNet(GRUConfig(n_in=5, n_hidden=6)),
    TimescaleRNN(TimescaleRNNConfig(n_in=5, n_hidden=6)),
    TimescaleRNN(TimescaleRNNConfig(n_in=5, n_hidden=6, cell="lstm")),
    TimescaleRNN(TimescaleRNNConfig(n_in=5, n_hidden=6, cell="gru", placement="before_leak")),
], ids=["mpn", "mpn2rec", "leaky", "gru", "timescale", "timescale_lstm", "timescale_gru"])
def test_step_map_reproduces_the_models_forward(model):
    torch.manual_seed(1)
    x = torch.randn(7, 3, 5)
    mask = (torch.arange(6) != 2).float()
    _, states = model(x, track_states=True, hidden_mask=mask)
    step = step_map(model, hidden_mask=mask)
    traj = step.states_at(x, np.tile(np.arange(8), (3, 1)))  # (B, T + 1, D)
    hidden = torch.stack([step.hidden(traj[:, t], x[t]) for t in range(7)])
    torch.testing.assert_close(hidden, states["hidden"].double(), rtol=1e-5, atol=1e-5)
    if "M" in step.parts:
        torch.testing.assert_close(step.unflatten(traj[:, :7])["M"].transpose(0, 1),
                                   states["M"].double(), rtol=1e-5, atol=1e-5)
    if "hidden" in step.parts:  # the state's hidden part is the previous step's activity
        torch.testing.assert_close(step.unflatten(traj[:, 1:])["hidden"].transpose(0, 1),
                                   hidden, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(step.flatten(step.unflatten(traj)), traj)


def test_linear_map_fixed_point_and_spectrum():
    rng = np.random.default_rng(0)
    d = 40
    lam = np.concatenate([[1.2, 0.98, 0.6 + 0.3j, 0.6 - 0.3j], rng.uniform(-0.5, 0.5, d - 4)])
    q = np.eye(d) + 0.2 * rng.standard_normal((d, d)) / np.sqrt(d)
    block = np.diag(lam.real)  # the pair 0.6 ± 0.3i as the real block [[0.6, 0.3], [-0.3, 0.6]]
    block[2, 3], block[3, 2] = 0.3, -0.3
    a = q @ block @ np.linalg.inv(q)
    a_t, b = torch.tensor(a), torch.tensor(rng.standard_normal(d))
    fp = find_fixed_points(lambda s, u: s @ a_t.T + u, torch.tensor(rng.standard_normal((6, d))),
                           b, **FAST)
    assert len(fp) == 1 and fp.is_fixed.all() and fp.n_seeds[0] == 6
    np.testing.assert_allclose(fp.states[0], np.linalg.solve(np.eye(d) - a, b.numpy()),
                               rtol=1e-7, atol=1e-9)
    expected = lam[np.argsort(-np.abs(lam), kind="stable")]
    np.testing.assert_allclose(np.sort_complex(fp.eigenvalues[0]), np.sort_complex(expected[:10]),
                               atol=1e-8)
    assert fp.spectral_radius[0] == pytest.approx(1.2)
    assert (fp.n_unstable[0], fp.n_marginal[0], fp.n_eigs_computed[0]) == (1, 1, d)
    # relaxation alone runs the map: s ← A s + b, 5 times
    s0 = rng.standard_normal((2, d))
    relaxed = find_fixed_points(lambda s, u: s @ a_t.T + u, s0, b, relax_steps=5, adam_steps=0,
                                lbfgs_steps=0, slow_tol=1e9, merge_tol=0, stability=False)
    expected_s = s0
    for _ in range(5):
        expected_s = expected_s @ a.T + b.numpy()
    np.testing.assert_allclose(relaxed.states, expected_s[relaxed.source], rtol=1e-10)
    # the matrix-free path (ARPACK on Jacobian-vector products) gives the same leading four
    ev = jacobian_eigenvalues(lambda s, u: s @ a_t.T + u, fp.states[0], b, n_eigs=4, dense_max=0)
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(expected[:4]), atol=1e-8)


def test_two_unit_tanh_rnn_has_four_stable_four_saddle_and_one_unstable_point():
    model = LeakyRNN(LeakyRNNConfig(n_in=1, n_hidden=2, dt=1.0, tau=1.0))  # h' = tanh(W h)
    w = np.array([1.5, 2.0])
    with torch.no_grad():
        model.w_rec.copy_(torch.diag(torch.tensor(w)))
        model.w_in.weight.zero_()
        model.w_in.bias.zero_()
    roots = [brentq(lambda h, g=g: np.tanh(g * h) - h, 0.1, 1.0) for g in w]
    grid = np.linspace(-1, 1, 7)
    seeds = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    fp = find_fixed_points(step_map(model), seeds, np.zeros(1), **FAST)
    assert len(fp) == 9 and fp.is_fixed.all()
    found = {tuple(np.round(s, 6)) for s in fp.states}
    expected = {(round(x * roots[0], 6), round(y * roots[1], 6))
                for x in (-1, 0, 1) for y in (-1, 0, 1)}
    assert found == {tuple(v + 0.0 for v in p) for p in expected}
    n_zero = (np.abs(fp.states) < 1e-6).sum(axis=1)
    np.testing.assert_array_equal(fp.n_unstable, n_zero)  # tanh'(0)·w > 1: unstable
    stable = n_zero == 0
    radius = max(g * (1 - r ** 2) for g, r in zip(w, roots, strict=True))
    np.testing.assert_allclose(fp.spectral_radius[stable], radius, rtol=1e-6)


def _plain_mpn(bounds):
    """One-layer MPN, no input layer: h = tanh((W + W⊙M) u + b), M' = clamp(½M + 0.3 h uᵀ)."""
    torch.manual_seed(0)
    return DeepMultiPlasticNet(MPNConfig(
        n_in=4, n_hidden=5, n_out=1, input_layer=False, m_bounds=bounds, eta_init=0.3,
        eta_train=False, lam_init=0.5))


def _hand_solved_mpn(model, u, bounds):
    """Unit by unit: M_ij = clip(η h_i u_j / (1 − λ)) and h_i = tanh(c_i + Σ_j W_ij M_ij u_j)."""
    layer = model.layers[0]
    w, b = layer.W.detach().double().numpy(), layer.b.detach().double().numpy()
    gain = 0.3 / (1 - 0.5)
    lo, hi = bounds if bounds is not None else (-np.inf, np.inf)

    def m_row(h):
        return np.clip(gain * h * u, lo, hi)

    h = np.array([brentq(lambda h, i=i: np.tanh(w[i] @ u + b[i] + (w[i] * m_row(h)) @ u) - h,
                         -1, 1, xtol=1e-15) for i in range(w.shape[0])])
    return np.stack([m_row(hi_) for hi_ in h]), h, w


def test_mpn_fixed_point_of_m_matches_the_hand_solution_and_its_spectrum():
    model = _plain_mpn(None)
    u = np.array([0.9, -0.6, 0.8, 0.5])
    m_star, h, w = _hand_solved_mpn(model, u, None)
    step = step_map(model)
    assert step.parts == {"M": (5, 4)}
    seeds = trajectory_seeds(step, np.tile(u, (12, 3, 1)), 8, np.random.default_rng(0), 0.5)
    fp = find_fixed_points(step, seeds, u, **FAST)
    assert len(fp) == 1 and fp.is_fixed.all()
    np.testing.assert_allclose(fp.states[0].reshape(5, 4), m_star, atol=1e-8)
    np.testing.assert_allclose(fp.hidden[0], h, atol=1e-8)
    # ∂M'/∂M = λ on the 15 directions that leave h unchanged, λ + η f'(a_i) (W u²)_i on e_i uᵀ
    a = np.arctanh(h)
    modes = 0.5 + 0.3 * (1 - np.tanh(a) ** 2) * (w @ u ** 2)
    expected = np.sort(np.concatenate([modes, np.full(15, 0.5)]))
    ev = jacobian_eigenvalues(step, fp.states[0], u, n_eigs=20)
    np.testing.assert_allclose(np.sort(ev.real), expected, atol=1e-9)
    np.testing.assert_allclose(ev.imag, 0, atol=1e-9)


def test_mpn_with_active_bounds():
    bounds = (-0.2, 0.2)
    model = _plain_mpn(bounds)
    u = np.array([0.9, -0.6, 0.8, 0.5])
    m_star, _, _ = _hand_solved_mpn(model, u, bounds)
    clamped = np.isclose(np.abs(m_star), 0.2)
    assert 4 <= clamped.sum() <= 16  # the bounds really act on part of M
    step = step_map(model)
    seeds = trajectory_seeds(step, np.tile(u, (12, 3, 1)), 8, np.random.default_rng(0), 0.5)
    fp = find_fixed_points(step, seeds, u, **FAST)
    assert len(fp) == 1 and fp.is_fixed.all()
    np.testing.assert_allclose(fp.states[0].reshape(5, 4), m_star, atol=1e-7)
    # a clamped synapse does not move with M: one zero eigenvalue per clamped entry
    ev = jacobian_eigenvalues(step, fp.states[0], u, n_eigs=20)
    assert (np.abs(ev) < 1e-12).sum() == clamped.sum()
    assert fp.n_unstable[0] == 0


def test_gru_finds_every_attractor_of_the_dynamics():
    torch.manual_seed(3)
    model = GRUNet(GRUConfig(n_in=2, n_hidden=3))
    with torch.no_grad():  # self-excitation of the candidate state: several attractors
        model.gru.weight_hh_l0[6:].copy_(4 * torch.eye(3) + 0.3 * torch.randn(3, 3))
    g = model.gru
    params = [p.detach().double() for p in (g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0,
                                            g.bias_hh_l0)]
    u = torch.tensor([0.3, -0.2], dtype=torch.float64)

    def run(h, n_steps):
        for _ in range(n_steps):
            h = gru_step(u.expand(len(h), -1), h, *params)
        return h

    start = torch.rand(64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    attractors = np.unique(np.round(run(2 * start - 1, 2000).numpy(), 6), axis=0)
    assert len(attractors) >= 3
    # seeds: early states of other trajectories of the same dynamics
    start = torch.rand(32, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    seeds = torch.cat([run(2 * start - 1, 4), run(2 * start - 1, 12)])
    step = step_map(model)
    fp = find_fixed_points(step, seeds, u, **FAST)
    fixed = fp.fixed
    # every point is a fixed point of the GRU's own step; every attractor is found, as stable
    states = torch.tensor(fixed.states)
    assert ((run(states, 1) - states).norm(dim=1) <= 1e-6 * states.norm(dim=1)).all()
    for a in attractors:
        dist = np.linalg.norm(fixed.states - a, axis=1)
        assert dist.min() < 1e-5 and fixed.n_unstable[dist.argmin()] == 0
    assert (fixed.n_unstable > 0).sum() >= len(attractors) - 1  # saddles between the basins
    # matrix-free leading eigenvalues match the dense Jacobian of gru_step
    s0 = torch.tensor(fixed.states[0])
    dense = torch.autograd.functional.jacobian(lambda v: run(v[None], 1)[0], s0).numpy()
    ev = np.linalg.eigvals(dense)
    ev_free = jacobian_eigenvalues(step, s0, u, n_eigs=1, dense_max=0)
    assert np.abs(ev_free[0]) == pytest.approx(np.abs(ev).max(), abs=1e-8)


def _two_epoch_trials():
    """3 trials: fixation (input 0) for 40 steps, stimulus (input = trial's angle) for 40 steps;
    trial 2 has no stimulus epoch."""
    angles = np.array([0.0, 2.0, 0.0])
    x = np.zeros((80, 3, 3), dtype=np.float32)
    x[:, :, 0] = 1.0
    x[40:, :2, 1], x[40:, :2, 2] = np.cos(angles[:2]), np.sin(angles[:2])
    epochs = {"fix1": np.array([[0, 40]] * 3), "stim1": np.array([[40, 80], [40, 80], [-1, -1]])}
    return Trials(x=x, y=np.zeros((80, 3, 1), np.float32), c_mask=np.ones((80, 3, 1), np.float32),
                  y_loc=np.full((80, 3), -1.0, np.float32), rule=np.array(["a"] * 3),
                  epochs=epochs, params={"loc": angles}, dt=20.0)


def test_epoch_fixed_points_of_a_contracting_rnn(tmp_path):
    torch.manual_seed(0)
    model = LeakyRNN(LeakyRNNConfig(n_in=3, n_hidden=6, dt=20.0, tau=20.0, w_rec_gain=0.3))
    trials = _two_epoch_trials()
    result = epoch_fixed_points(model, trials, n_noise=3, **FAST)
    assert list(result) == ["fix1", "stim1"]
    fix, stim = (FixedPoints.from_dict(result[e]) for e in ("fix1", "stim1"))
    # the fixation input is shared by all three trials: one point; the stimuli differ: two
    assert len(fix) == 1 and fix.n_seeds[0] == 12 and fix.is_fixed.all()
    assert sorted(result["stim1"]["trial"]) == [0, 1] and stim.is_fixed.all()
    np.testing.assert_allclose(stim.inputs, trials.x[50, :2][result["stim1"]["trial"]])
    # 40 steps of a contraction end at the fixed point of the epoch's input
    assert np.nanmax(result["fix1"]["end_distance"]) < 1e-6
    assert np.nanmax(result["stim1"]["end_distance"]) < 1e-6
    assert np.isnan(result["stim1"]["end_distance"][2])
    assert (stim.n_unstable == 0).all() and (stim.spectral_radius < 1).all()
    path = tmp_path / "fp.h5"
    save_results(path, "run", result)
    loaded = load_results(path, "run")
    again = FixedPoints.from_dict(loaded["stim1"])
    np.testing.assert_allclose(again.states, stim.states.astype(np.float32))
    np.testing.assert_array_equal(again.eigenvalues, stim.eigenvalues)
    assert again.lbfgs_steps == stim.lbfgs_steps


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="no fixed-point step map"):
        step_map(torch.nn.Linear(2, 2))
    step = step_map(GRUNet(GRUConfig(n_in=2, n_hidden=3)))
    with pytest.raises(ValueError, match="initial_states must be"):
        find_fixed_points(step, np.zeros((4, 5)), np.zeros(2))
    with pytest.raises(ValueError, match="inputs must be"):
        find_fixed_points(step, np.zeros((4, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="fixed_tol"):
        find_fixed_points(step, np.zeros((4, 3)), np.zeros(2), fixed_tol=1e-2, slow_tol=1e-3)
    with pytest.raises(ValueError, match="unknown epochs"):
        epoch_fixed_points(GRUNet(GRUConfig(n_in=3, n_hidden=3)), _two_epoch_trials(),
                           epochs=["delay9"])


def test_epoch_fixed_points_skip_absent_epochs_of_task_trials():
    from core.tasks import MPN_LAB, generate_trials

    trials = generate_trials("delaygo", MPN_LAB, None, np.random.default_rng(0), mode="test",
                             noise=False).take([0, 3])
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(MPNConfig(n_in=MPN_LAB.n_input, n_hidden=4, n_embed=3,
                                          n_out=3, lam_init=0.5))
    result = epoch_fixed_points(model, trials, n_noise=1, relax_steps=200, adam_steps=0,
                                lbfgs_steps=50)
    assert list(result) == ["fix1", "stim1", "delay1", "go"]  # stim2 and delay2 are absent
    for arrays in result.values():
        assert np.isfinite(arrays["end_distance"]).all() and arrays["is_fixed"].all()
        assert arrays["states"].shape[1] == 12 and set(arrays["trial"]) <= {0, 1}


def test_benchmark_script_runs_small_and_keeps_its_json(tmp_path, capsys):
    bench = load_script("benchmarks/bench_fixed_points.py", "bench_fixed_points")
    path = tmp_path / "bench.json"
    args = ["--mpn-hidden", "4", "--gru-hidden", "5", "--seeds", "3", "--adam-steps", "2",
            "--lbfgs-steps", "3", "--n-eigs", "2", "--json", str(path)]
    bench.main(args)
    out = capsys.readouterr().out
    assert "mpn: state 16, 3 initial states" in out and "gru: state 5, 3 initial states" in out
    stored = path.read_text()
    with pytest.raises(SystemExit) as exit_info:
        bench.main(args)
    assert exit_info.value.code == 2 and path.read_text() == stored
