"""TimescaleRNN: both placements by hand, τ ≥ 1 with gradients, fixed τ, masked self-connections."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models import build_model
from core.models.timescale_rnn import (
    TimescaleRNN,
    TimescaleRNNConfig,
    tau_from_theta,
    theta_from_tau,
    timescale_step,
)
from core.tasks.memory import make_memory_batch
from core.training.curriculum import memory_loss


def _small(**kw):
    torch.manual_seed(0)
    return TimescaleRNN(TimescaleRNNConfig(n_hidden=6, **kw))


def test_step_both_placements_by_hand():
    h = torch.tensor([[1.0, -2.0]])
    drive = torch.tensor([[0.5, 0.5]])
    w = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    tau = torch.tensor([2.0, 4.0])
    # pre = drive + h W^T = [0.5 - 2, 0.5 + 2] = [-1.5, 2.5]; a = [1/2, 1/4]
    after = timescale_step(h, drive, w, tau, torch.relu, "after_leak")
    assert torch.allclose(after, torch.tensor([[0.0, 0.0]]))  # relu([-0.25, -0.875])
    before = timescale_step(h, drive, w, tau, torch.relu, "before_leak")
    assert torch.allclose(before, torch.tensor([[0.5, -1.5 + 0.625]]))


def test_tau_parametrisation_keeps_tau_above_one_and_inverts():
    theta = torch.linspace(-30, 30, 101)
    assert (tau_from_theta(theta) >= 1).all()
    tau = torch.tensor([1.01, 1.5, 3.0, 50.0], dtype=torch.float64)
    assert torch.allclose(tau_from_theta(theta_from_tau(tau)), tau, rtol=1e-6)


@pytest.mark.parametrize("placement", ["after_leak", "before_leak"])
def test_gradients_reach_theta(placement):
    model = _small(placement=placement, heads=(2, 3))
    b = make_memory_batch("parity", [2, 3], 16, np.random.default_rng(0))
    loss = memory_loss(model, torch.from_numpy(b.x), torch.from_numpy(b.targets), b.ns)
    loss.backward()
    assert model.theta.grad is not None and model.theta.grad.abs().sum() > 0
    assert model.w_rec.weight.grad.diagonal().abs().max() == 0  # self-connections masked


def test_fixed_tau_stays_fixed_under_training():
    model = _small(train_tau=False, tau_fixed=3.0)
    assert not hasattr(model, "theta")
    assert all("tau" not in name for name, _ in model.named_parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    rng = np.random.default_rng(0)
    w0 = model.w_rec.weight.detach().clone()
    for _ in range(3):
        b = make_memory_batch("parity", [2], 16, rng)
        loss = memory_loss(model, torch.from_numpy(b.x), torch.from_numpy(b.targets), b.ns)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(model.tau, torch.full((6,), 3.0))
    assert not torch.equal(model.w_rec.weight, w0)  # the rest did train


def test_self_connections_do_not_matter():
    model = _small()
    x = torch.rand(7, 3, 1)
    y0, _ = model(x)
    with torch.no_grad():
        model.w_rec.weight.fill_diagonal_(5.0)
    y1, _ = model(x)
    assert torch.allclose(y0, y1)


def test_heads_keyed_by_n_without_cap_and_rebuild():
    model = _small(heads=(2,))
    model.add_head(150)
    model.move_head(2, 3)
    assert model.heads == (150, 3)
    rebuilt = build_model("timescale_rnn", model.config_dict())
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(5, 2, 1)
    for n in (3, 150):
        assert torch.allclose(model(x, head=n)[0], rebuilt(x, head=n)[0])
    logits = model.final_logits(x, [3, 150])
    assert logits.shape == (2, 2, 2)
    assert torch.allclose(logits[1], model(x, head=150)[0][-1])
    with pytest.raises(KeyError):
        model(x, head=4)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_interface_and_hidden_mask(cell):
    model = _small(cell=cell)
    x = torch.rand(4, 3, 1)
    y, states = model(x, track_states=True)
    assert y.shape == (4, 3, 2) and states["hidden"].shape == (4, 3, 6)
    assert model(x)[1] == {}
    mask = torch.ones(6)
    mask[[1, 4]] = 0
    _, masked = model(x, track_states=True, hidden_mask=mask)
    assert (masked["hidden"][:, :, [1, 4]] == 0).all()


def test_leaky_relu_is_default_and_bad_config_rejected():
    assert TimescaleRNNConfig().activation == "leaky_relu"
    assert TimescaleRNNConfig().n_hidden == 500
    assert F.leaky_relu(torch.tensor(-1.0)) < 0
    with pytest.raises(ValueError, match="placement"):
        TimescaleRNNConfig(placement="inside")
    with pytest.raises(ValueError, match="tau_fixed"):
        TimescaleRNNConfig(tau_fixed=0.5)


def test_substeps_approach_the_continuous_time_solution():
    """τ dh/dt = −h + relu(b) from h = 0 gives h(t) = b (1 − exp(−t/τ)) at input steps t."""
    def model(k):
        m = TimescaleRNN(TimescaleRNNConfig(n_hidden=2, activation="relu", placement="before_leak",
                                            train_tau=False, tau_fixed=2.0, substeps=k))
        with torch.no_grad():
            m.w_rec.weight.zero_()
            m.w_in.weight.zero_()
            m.w_in.bias.copy_(torch.tensor([1.0, 0.5]))
        return m

    x = torch.zeros(3, 1, 1)
    exact = torch.tensor([1.0, 0.5]) * (1 - torch.exp(-torch.arange(1.0, 4.0) / 2.0))[:, None]
    coarse = model(1).hidden_trajectory(x)[:, 0]
    fine = model(400).hidden_trajectory(x)[:, 0]
    assert torch.allclose(coarse[0], torch.tensor([0.5, 0.25]))  # one step of a = 1/τ
    assert (fine - exact).abs().max() < 2e-3 < (coarse - exact).abs().max()
    with pytest.raises(ValueError, match="substeps"):
        TimescaleRNNConfig(cell="gru", substeps=2)
