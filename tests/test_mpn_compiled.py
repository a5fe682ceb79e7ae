"""The torch.compile kernel of the MPN against the eager fused kernel, and its fallback.

Compiling (inductor's C++ build) took 28 s for this file and ``test_training_fast.py`` together
on the idle 2-core machine with an empty inductor cache; it needs the C compiler the machines
and CI have (without one the kernel falls back to eager and the comparison fails, as it should).
"""

from __future__ import annotations

import warnings

import pytest
import torch

import core.models.plasticity as plasticity
from core.models.mpn import DeepMultiPlasticNet, MPNConfig


def outputs_and_grads(implementation: str, seed: int = 0, T: int = 5, **kw
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Output and parameter gradients of a small float64 MPN on fixed random data."""
    torch.manual_seed(seed)
    cfg = MPNConfig(n_in=4, n_hidden=6, n_out=3, n_embed=5, batch_chunk=3, eta_init=0.7,
                    implementation=implementation, **kw)
    model = DeepMultiPlasticNet(cfg).double()
    x = torch.randn(T, 7, cfg.n_in, dtype=torch.float64)
    target = torch.randn(T, 7, cfg.n_out, dtype=torch.float64)
    y, _ = model(x)
    ((y - target) ** 2).mean().backward()
    return y.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                        if p.grad is not None}


def assert_same(a, b) -> None:
    torch.testing.assert_close(a[0], b[0], rtol=1e-8, atol=1e-8)
    assert a[1].keys() == b[1].keys()
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], rtol=1e-8, atol=1e-8, msg=name)


@pytest.mark.parametrize("kw", [
    dict(lam_train=True, lam_init=0.8, m_bounds=(-0.5, 0.5)),
    dict(update="oja", eta_type="post_vector", lam_type="matrix", lam_train=True,
         lam_init=0.7, recurrent=True, learn_M_init=True, m_activation="tanh"),
])
def test_compiled_matches_eager(kw):
    assert_same(outputs_and_grads("compiled", **kw), outputs_and_grads("fused", **kw))
    assert plasticity.compiled_kernel_usable()


def test_fallback_to_eager_when_compiling_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(plasticity._Compiled, "failed", False)
    for step in (plasticity._FORWARD_STEP, plasticity._BACKWARD_STEP, plasticity._UPDATE):
        monkeypatch.setattr(step, "compiled", None)
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        compiled = outputs_and_grads("compiled", recurrent=True)
    assert not plasticity.compiled_kernel_usable()
    assert_same(compiled, outputs_and_grads("fused", recurrent=True))
    monkeypatch.setattr(plasticity, "_forward_compiled", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outputs_and_grads("compiled")  # later sequences take the eager kernel, silently


@pytest.mark.parametrize("T,paper,update", [(1, False, "hebb_assoc"), (2, False, "hebb_assoc"),
                                           (6, False, "hebb_assoc"), (6, True, "hebb_assoc"),
                                           (6, False, "hebb_pre")])
def test_compiled_loops_with_eager_steps_match_eager_kernel(monkeypatch, T, paper, update):
    # the chunk loops of the compiled kernel, run with its step functions uncompiled (fast),
    # against the eager kernel
    for name, fn in (("_FORWARD_STEP", plasticity._forward_step),
                     ("_BACKWARD_STEP", plasticity._backward_step),
                     ("_UPDATE", plasticity.plastic_update)):
        monkeypatch.setattr(plasticity, name, fn)
    kw = {} if paper else dict(recurrent=True, lam_train=True, lam_init=0.8, m_bounds=(-0.5, 0.5),
                               eta_type="pre_vector", learn_M_init=True)  # paper: λ, M0 fixed
    kw["update"] = update
    assert_same(outputs_and_grads("compiled", T=T, **kw), outputs_and_grads("fused", T=T, **kw))
