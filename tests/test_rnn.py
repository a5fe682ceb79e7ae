"""Leaky RNN and GRU baselines: step math, per-sample state, masks, config round trip."""

from __future__ import annotations

import json

import pytest
import torch

from core.models import build_model
from core.models.rnn import GRUConfig, GRUNet, LeakyRNN, LeakyRNNConfig, gru_step, leaky_step


def test_leaky_step_by_hand():
    # α = 0.25, linear: h' = 0.75 h + 0.25 (drive + W h)
    h = torch.tensor([[1.0, -2.0]])
    drive = torch.tensor([[0.5, 1.0]])
    w = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    out = leaky_step(h, drive, w, 0.25, "linear")
    # W h = [-2, 2]; drive + W h = [-1.5, 3]
    torch.testing.assert_close(out, torch.tensor([[0.75 - 0.375, -1.5 + 0.75]]))


def test_alpha_from_dt_tau():
    assert LeakyRNNConfig().alpha == pytest.approx(0.2)
    with pytest.raises(ValueError):
        LeakyRNNConfig(dt=50.0, tau=20.0)


@pytest.mark.parametrize("model", [
    LeakyRNN(LeakyRNNConfig(n_in=3, n_hidden=8, n_out=2)),
    GRUNet(GRUConfig(n_in=3, n_hidden=8, n_out=2)),
])
@pytest.mark.parametrize("masked", [False, True])
def test_per_sample_independence(model, masked):
    torch.manual_seed(0)
    x = torch.randn(7, 4, 3)
    hm = torch.ones(8) if masked else None
    y1, _ = model(x, hidden_mask=hm)
    x2 = x.clone()
    x2[:, 0] = torch.randn(7, 3) * 3
    y2, _ = model(x2, hidden_mask=hm)
    torch.testing.assert_close(y1[:, 1:], y2[:, 1:])
    assert (y1[:, 0] - y2[:, 0]).abs().max() > 1e-4


@pytest.mark.parametrize("model", [
    LeakyRNN(LeakyRNNConfig(n_in=3, n_hidden=8, n_out=2)),
    GRUNet(GRUConfig(n_in=3, n_hidden=8, n_out=2)),
])
def test_hidden_mask_zeroes_units(model):
    torch.manual_seed(0)
    x = torch.randn(6, 2, 3)
    hm = torch.ones(8)
    hm[[0, 5]] = 0
    y, st = model(x, track_states=True, hidden_mask=hm)
    assert st["hidden"].shape == (6, 2, 8)
    assert st["hidden"][..., [0, 5]].abs().max() == 0
    assert st["hidden"][..., [1, 2]].abs().max() > 0
    y_plain, _ = model(x)
    assert not torch.allclose(y, y_plain)


def test_gru_step_matches_torch_gru():
    torch.manual_seed(0)
    model = GRUNet(GRUConfig(n_in=3, n_hidden=5, n_out=2))
    x = torch.randn(6, 2, 3)
    y_torch, st = model(x, track_states=True)
    y_step, st_step = model(x, track_states=True, hidden_mask=torch.ones(5))
    torch.testing.assert_close(y_step, y_torch)
    g = model.gru
    h = gru_step(x[0], torch.zeros(2, 5), g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0,
                 g.bias_hh_l0)
    torch.testing.assert_close(h, st["hidden"][0])


def test_noise_only_in_training():
    torch.manual_seed(0)
    model = LeakyRNN(LeakyRNNConfig(n_in=3, n_hidden=8, n_out=2, sigma_rec=0.1))
    x = torch.randn(5, 2, 3)
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0])
    model.train()
    assert not torch.allclose(model(x)[0], model(x)[0])


@pytest.mark.parametrize("kind,cfg", [("vanilla", LeakyRNNConfig(n_in=3, n_hidden=4, n_out=2)),
                                      ("gru", GRUConfig(n_in=3, n_hidden=4, n_out=2))])
def test_config_roundtrip_and_registry(kind, cfg):
    model = LeakyRNN(cfg) if kind == "vanilla" else GRUNet(cfg)
    rebuilt = build_model(kind, json.loads(json.dumps(model.config_dict())))
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    model.eval()
    rebuilt.eval()
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(rebuilt(x)[0], model(x)[0])
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(4, 2, 5))


@pytest.mark.parametrize("model", [
    LeakyRNN(LeakyRNNConfig(n_in=3, n_hidden=8, n_out=2)),
    GRUNet(GRUConfig(n_in=3, n_hidden=8, n_out=2)),
])
def test_tracked_hidden_carries_gradient(model):
    _, st = model(torch.randn(4, 2, 3), track_states=True)
    st["hidden"].pow(2).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p is not model.readout.weight)
