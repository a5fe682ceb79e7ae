"""DeepMultiPlasticNet: fused kernel vs a naive autograd reference, masks, config, interface."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from core.models import build_model
from core.models.mpn import DeepMultiPlasticNet, MPNConfig
from core.models.plasticity import PlasticRule, PlasticSequence

ACT = {"linear": lambda z: z, "tanh": torch.tanh, "relu": torch.relu,
       "sigmoid": torch.sigmoid, "softplus": torch.nn.functional.softplus}


def naive_forward(model: DeepMultiPlasticNet, x: torch.Tensor,
                  hidden_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Straightforward reference: materialise W_eff per sample and step, plain autograd."""
    c = model.config
    f = ACT[c.activation]
    h = f(x @ model.w_in.weight.T) if model.w_in is not None else x
    for li, layer in enumerate(model.layers):
        n_post, n_pre = layer.W.shape
        shape = {"scalar": (1, 1), "pre_vector": (1, n_pre), "post_vector": (n_post, 1),
                 "matrix": (n_post, n_pre)}
        eta = layer.eta.reshape(shape[c.eta_type])
        lam = layer.lam.reshape(shape[c.lam_type])
        pm = layer.plasticity_mask
        M = layer.M_init.unsqueeze(0).repeat(x.shape[1], 1, 1)
        outs, h_prev = [], None
        for t in range(x.shape[0]):
            W_eff = layer.W + layer.W * M if c.mp_type == "mult" else layer.W + M
            a = torch.einsum("bij,bj->bi", W_eff, h[t])
            if layer.b is not None:
                a = a + layer.b
            if layer.w_rec is not None and h_prev is not None:
                a = a + h_prev @ layer.w_rec.T
            ht = f(a)
            if hidden_mask is not None and li == len(model.layers) - 1:
                ht = ht * hidden_mask
            post = ht if c.update != "hebb_pre" else torch.full_like(ht, 1 / math.sqrt(n_post))
            dM = eta * torch.einsum("bi,bj->bij", post, h[t])
            Z = lam * M + dM
            if c.update == "oja":
                Z = Z - eta.abs() * post[:, :, None] ** 2 * M
            M_new = ACT[c.m_activation](Z)
            if c.m_bounds is not None:
                M_new = M_new.clamp(*c.m_bounds)
            M = pm * M_new + (1 - pm) * layer.M_init
            outs.append(ht)
            h_prev = ht
        h = torch.stack(outs)
    return model.readout(h)


def tiny(**kw) -> MPNConfig:
    base = dict(n_in=4, n_hidden=6, n_out=3, n_embed=5, batch_chunk=2, eta_init=0.7)
    base.update(kw)
    return MPNConfig(**base)


def grads_match(cfg: MPNConfig, T: int = 5, B: int = 5, mask_pm: bool = False,
                hidden_mask: bool = False, seed: int = 0) -> None:
    torch.manual_seed(seed)
    model = DeepMultiPlasticNet(cfg).double()
    if mask_pm:
        model.plasticity_mask[:, 1] = 0
    x = torch.randn(T, B, cfg.n_in, dtype=torch.float64)
    target = torch.randn(T, B, cfg.n_out, dtype=torch.float64)
    hm = None
    if hidden_mask:
        hm = torch.ones(cfg.n_hidden, dtype=torch.float64)
        hm[2] = 0
    results = []
    for run in (lambda: model(x, hidden_mask=hm)[0], lambda: naive_forward(model, x, hm)):
        model.zero_grad()
        y = run()
        ((y - target) ** 2).mean().backward()
        results.append((y.detach(), {
            n: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            for n, p in model.named_parameters() if p.requires_grad}))
    (y_fast, g_fast), (y_ref, g_ref) = results
    torch.testing.assert_close(y_fast, y_ref, rtol=1e-9, atol=1e-10)
    assert g_fast.keys() == g_ref.keys()
    for name in g_ref:
        torch.testing.assert_close(g_fast[name], g_ref[name], rtol=1e-7, atol=1e-9, msg=name)


@pytest.mark.parametrize("mp_type,update", list(itertools.product(
    ["mult", "add"], ["hebb_assoc", "hebb_pre", "oja"])))
def test_fused_matches_naive_rules(mp_type, update):
    grads_match(tiny(mp_type=mp_type, update=update, lam_train=True, m_bounds=(-0.5, 0.5),
                     lam_init=0.8))


@pytest.mark.parametrize("eta_type,lam_type", list(itertools.product(
    ["scalar", "pre_vector", "post_vector", "matrix"], repeat=2)))
def test_fused_matches_naive_param_kinds(eta_type, lam_type):
    grads_match(tiny(eta_type=eta_type, lam_type=lam_type, lam_train=True, lam_init=0.7,
                     m_bounds=None, learn_M_init=True))


@pytest.mark.parametrize("m_act", ["tanh", "relu", "sigmoid", "softplus"])
def test_fused_matches_naive_m_activation(m_act):
    grads_match(tiny(m_activation=m_act, activation="softplus", m_bounds=(-0.8, 0.8)))


def test_fused_matches_naive_masks_recurrence_layers():
    grads_match(tiny(recurrent=True, n_layers=2, learn_M_init=True, lam_train=True),
                mask_pm=True, hidden_mask=True)
    grads_match(tiny(input_layer=False, train_W=False, activation="relu"), T=7, B=3)


@pytest.mark.parametrize("T,B,chunk", [(1, 5, 3), (2, 7, 3), (3, 9, 0)])
def test_fused_matches_naive_odd_sizes(T, B, chunk):
    grads_match(tiny(batch_chunk=chunk, recurrent=True), T=T, B=B)


def test_gradcheck_sequence_kernel():
    torch.manual_seed(1)
    T, B, n_pre, n_post = 4, 3, 3, 2
    dd = dict(dtype=torch.float64)
    x = torch.randn(T, B, n_pre, **dd, requires_grad=True)
    W = torch.randn(n_post, n_pre, **dd, requires_grad=True)
    b = torch.randn(n_post, **dd, requires_grad=True)
    w_rec = torch.randn(n_post, n_post, **dd, requires_grad=True)
    eta = torch.tensor(0.6, **dd, requires_grad=True)
    lam = torch.rand(n_pre, **dd).mul(0.5).add(0.3).requires_grad_()
    M0 = (0.1 * torch.randn(n_post, n_pre, **dd)).requires_grad_()
    rule = PlasticRule("mult", "oja", "tanh", "tanh", None)

    def fn(x, W, b, w_rec, eta, lam, M0):
        return PlasticSequence.apply(x, W, b, w_rec, eta, lam, M0, None, None, rule, "scalar",
                                     "pre_vector", 2)

    assert torch.autograd.gradcheck(fn, (x, W, b, w_rec, eta, lam, M0))


def test_gradients_reach_eta_lambda_and_weights():
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(tiny(lam_train=True))
    y, _ = model(torch.randn(6, 4, 4))
    y.pow(2).sum().backward()
    layer = model.layers[0]
    for p in (layer.eta, layer.lam_logit, layer.W, model.w_in.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_paper_defaults():
    c = MPNConfig()
    assert (c.n_hidden, c.n_embed, c.activation, c.mp_type, c.update) == (
        300, 300, "tanh", "mult", "hebb_assoc")
    assert c.eta_train and not c.lam_train
    assert c.lam_value == pytest.approx(0.99)  # 1 − 40 / 4000


def test_trainable_lambda_stays_in_unit_interval():
    model = DeepMultiPlasticNet(tiny(lam_train=True, lam_type="matrix"))
    with torch.no_grad():
        model.layers[0].lam_logit.copy_(torch.linspace(-60, 60, 30).reshape(6, 5))
    lam = model.layers[0].lam
    assert lam.min() >= 0 and lam.max() <= 1
    assert model.layers[0].lam.requires_grad


def test_hidden_and_input_masks_zero_units():
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(tiny())
    x = torch.randn(5, 3, 4)
    hm = torch.ones(6)
    hm[[1, 4]] = 0
    im = torch.ones(5)
    im[0] = 0
    y, st = model(x, track_states=True, hidden_mask=hm, input_mask=im)
    assert st["hidden"][..., [1, 4]].abs().max() == 0
    assert st["hidden"][..., [0, 2]].abs().max() > 0
    assert st["input"][..., 0].abs().max() == 0
    y_fast, _ = model(x, hidden_mask=hm, input_mask=im)
    torch.testing.assert_close(y_fast, y)
    y_plain, _ = model(x)
    assert not torch.allclose(y_plain, y)


def test_plasticity_mask_freezes_M():
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(tiny(learn_M_init=True))
    with torch.no_grad():
        model.layers[0].M_init.normal_(0, 0.1)
    model.plasticity_mask[2, :] = 0
    model.plasticity_mask[:, 3] = 0
    _, st = model(torch.randn(6, 3, 4), track_states=True)
    M = st["M"]
    assert M.shape == (6, 3, 6, 5)
    M_init = model.layers[0].M_init.detach()
    frozen = model.plasticity_mask == 0
    assert torch.equal(M[:, :, frozen], M_init[frozen].expand(6, 3, -1))
    assert (M[-1][:, ~frozen] - M_init[~frozen]).abs().max() > 1e-3


def test_per_sample_independence():
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(tiny(recurrent=True))
    x = torch.randn(6, 3, 4)
    y1, _ = model(x)
    x2 = x.clone()
    x2[:, 0] += 1.0
    y2, _ = model(x2)
    torch.testing.assert_close(y1[:, 1:], y2[:, 1:])
    assert (y1[:, 0] - y2[:, 0]).abs().max() > 1e-4


def test_track_states_shapes_and_same_output():
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(tiny(n_layers=2))
    x = torch.randn(5, 3, 4)
    y, st = model(x, track_states=True)
    y_fast, empty = model(x)
    assert empty == {}
    torch.testing.assert_close(y, y_fast)
    assert st["hidden"].shape == (5, 3, 6) and st["input"].shape == (5, 3, 5)
    assert st["M0"].shape == (5, 3, 6, 5) and st["M1"].shape == (5, 3, 6, 6)
    assert torch.equal(st["M"], st["M1"])


def test_config_roundtrip_and_registry():
    cfg = tiny(m_bounds=(-2, 2), eta_type="post_vector")
    model = DeepMultiPlasticNet(cfg)
    d = json.loads(json.dumps(model.config_dict()))
    rebuilt = build_model("mpn", d)
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(4, 2, 4)
    torch.testing.assert_close(rebuilt(x)[0], model(x)[0])


@pytest.mark.parametrize("bad", [dict(mp_type="both"), dict(update="stdp"),
                                 dict(eta_type="tensor"), dict(m_bounds=(1, -1)),
                                 dict(lam_init=1.0), dict(m_time_scale=10.0),
                                 dict(activation="gelu")])
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError):
        tiny(**bad)


def test_bad_input_shape_is_refused():
    model = DeepMultiPlasticNet(tiny())
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(3, 2, 7))


def _memory_accuracy(freeze: bool) -> float:
    """Train a tiny MPN (no recurrent weights) to report at t = 7 the sign of a pulse at t = 0."""
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(MPNConfig(n_in=3, n_hidden=16, n_out=1, n_embed=16,
                                          lam_init=0.9))
    if freeze:
        model.plasticity_mask.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        sign = torch.randint(0, 2, (n,)).float() * 2 - 1
        x = torch.zeros(8, n, 3)
        x[0, :, 0] = sign
        x[:, :, 2] = 1.0
        x[-1, :, 1] = 1.0
        return x, sign

    for _ in range(120):
        x, sign = batch(32)
        loss = ((model(x)[0][-1, :, 0] - sign) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, sign = batch(512)
    with torch.no_grad():
        y = model(x)[0][-1, :, 0]
    return float((torch.sign(y) == sign).float().mean())


def test_plasticity_is_the_memory():
    # M is the only state carried across time, so the task is solvable only while M can change.
    assert _memory_accuracy(freeze=False) > 0.95
    assert _memory_accuracy(freeze=True) < 0.65


def test_tracked_hidden_carries_gradient_and_matches_fused():
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(tiny())
    x = torch.randn(5, 3, 4)
    _, st = model(x, track_states=True)
    assert not st["M"].requires_grad
    st["hidden"].pow(2).sum().backward()
    g_tracked = model.layers[0].eta.grad.clone()
    model.zero_grad()
    model.config.implementation = "stepwise"
    _, st_ref = model(x, track_states=True)
    st_ref["hidden"].pow(2).sum().backward()
    torch.testing.assert_close(g_tracked, model.layers[0].eta.grad)
    torch.testing.assert_close(st["M"], st_ref["M"])


def test_tracking_hidden_only_skips_the_m_record_and_keeps_the_gradient():
    net = DeepMultiPlasticNet(MPNConfig(n_in=3, n_hidden=5, n_out=2))
    x = torch.randn(4, 2, 3)
    y, full = net(x, track_states=True)
    y_light, light = net(x, track_states="hidden")
    assert "M" in full and "M" not in light
    torch.testing.assert_close(light["hidden"], full["hidden"])
    torch.testing.assert_close(y_light, y)
    light["hidden"].square().mean().backward()
    assert net.layers[0].W.grad is not None and net.layers[0].W.grad.abs().sum() > 0
