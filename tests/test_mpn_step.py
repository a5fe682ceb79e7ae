"""The MPN step function against hand-computed two-step examples."""

from __future__ import annotations

import math

import pytest
import torch

from core.models.plasticity import PlasticRule, expand_param, plastic_step, update_post

W = torch.tensor([[1.0, 0.5], [-1.0, 2.0]], dtype=torch.float64)
X1 = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
X2 = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
ETA = torch.tensor(0.5, dtype=torch.float64)
LAM = torch.tensor(0.9, dtype=torch.float64)


def two_steps(rule: PlasticRule, eta=ETA, lam=LAM, eta_kind="scalar", lam_kind="scalar",
              pm=None):
    """Run two steps from M = 0 with linear activation and no bias; return (a1, a2, M1, M2)."""
    M0 = torch.zeros(2, 2, dtype=torch.float64)
    M = M0.expand(1, 2, 2)
    E, L = expand_param(eta, eta_kind), expand_param(lam, lam_kind)
    a1, _, M1 = plastic_step(X1, None, M, W, None, None, E, L, M0, pm, None, rule)
    a2, _, M2 = plastic_step(X2, None, M1, W, None, None, E, L, M0, pm, None, rule)
    return a1[0], a2[0], M1[0], M2[0]


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_mult_hebb_by_hand():
    # step 1: a = W x1 = [2, 3]; M1 = 0.5 * [2, 3] [1, 2]^T
    # step 2: W_eff = W + W*M1 = [[2, 1.5], [-2.5, 8]]; a = [0.5, -10.5]; M2 = 0.9 M1 + 0.5 a x2^T
    a1, a2, M1, M2 = two_steps(PlasticRule("mult", "hebb_assoc", "linear", "linear", None))
    torch.testing.assert_close(a1, t([2.0, 3.0]))
    torch.testing.assert_close(M1, t([[1.0, 2.0], [1.5, 3.0]]))
    torch.testing.assert_close(a2, t([0.5, -10.5]))
    torch.testing.assert_close(M2, t([[1.15, 1.55], [-3.9, 7.95]]))


def test_add_hebb_by_hand():
    # step 2: W_eff = W + M1 = [[2, 2.5], [0.5, 5]]; a = [-0.5, -4.5]
    a1, a2, M1, M2 = two_steps(PlasticRule("add", "hebb_assoc", "linear", "linear", None))
    torch.testing.assert_close(a1, t([2.0, 3.0]))
    torch.testing.assert_close(a2, t([-0.5, -4.5]))
    torch.testing.assert_close(M2, t([[0.65, 2.05], [-0.9, 4.95]]))


def test_bounds_by_hand():
    # M1 clamps to all ones, so W_eff = 2 W; a2 = [1, -6]; M2 = clamp(0.9 + 0.5 a2 x2^T)
    a1, a2, M1, M2 = two_steps(PlasticRule("mult", "hebb_assoc", "linear", "linear", (-1.0, 1.0)))
    torch.testing.assert_close(M1, torch.ones(2, 2, dtype=torch.float64))
    torch.testing.assert_close(a2, t([1.0, -6.0]))
    torch.testing.assert_close(M2, t([[1.0, 0.4], [-1.0, 1.0]]))


def test_oja_by_hand():
    # Z = λ M + η post pre^T − |η| post² M; post2 = [0.5, -10.5], post2² = [0.25, 110.25]
    _, a2, _, M2 = two_steps(PlasticRule("mult", "oja", "linear", "linear", None))
    torch.testing.assert_close(a2, t([0.5, -10.5]))
    torch.testing.assert_close(M2, t([[1.025, 1.3], [-86.5875, -157.425]]))


def test_hebb_pre_uses_constant_post():
    _, _, M1, _ = two_steps(PlasticRule("mult", "hebb_pre", "linear", "linear", None))
    c = 0.5 / math.sqrt(2.0)
    torch.testing.assert_close(M1, t([[c, 2 * c], [c, 2 * c]]))


@pytest.mark.parametrize("update", ["hebb_assoc", "hebb_pre", "oja"])
def test_update_post_is_h_or_the_hebb_pre_constant_without_a_copy(update):
    h = torch.randn(3, 5, dtype=torch.float64)
    post = update_post(h, PlasticRule("mult", update, "linear", "linear", None))
    if update != "hebb_pre":
        assert post is h
    else:
        assert post.shape == h.shape and post.dtype == h.dtype and post.stride() == (0, 0)
        assert torch.equal(post, torch.full_like(h, 1 / math.sqrt(5)))


def test_m_activation_applies_to_update():
    _, _, M1, _ = two_steps(PlasticRule("mult", "hebb_assoc", "linear", "tanh", None))
    torch.testing.assert_close(M1, torch.tanh(t([[1.0, 2.0], [1.5, 3.0]])))


def loop_step(x, M, eta_full, lam_full):
    """Scalar-arithmetic reference (mult, hebb_assoc, linear, no bounds) for one step."""
    n_post, n_pre = len(M), len(M[0])
    a = [sum((W[i, j].item() * (1.0 + M[i][j])) * x[j] for j in range(n_pre))
         for i in range(n_post)]
    M_new = [[lam_full[i][j] * M[i][j] + eta_full[i][j] * a[i] * x[j] for j in range(n_pre)]
             for i in range(n_post)]
    return a, M_new


PARAMS = {
    "scalar": (0.5, lambda v: [[v, v], [v, v]]),
    "pre_vector": ([0.5, 0.25], lambda v: [v, v]),
    "post_vector": ([0.5, 0.25], lambda v: [[v[0], v[0]], [v[1], v[1]]]),
    "matrix": ([[0.5, 0.25], [0.1, -0.3]], lambda v: v),
}


@pytest.mark.parametrize("eta_kind", list(PARAMS))
@pytest.mark.parametrize("lam_kind", list(PARAMS))
def test_each_eta_lambda_kind(eta_kind, lam_kind):
    eta_raw, eta_full = PARAMS[eta_kind]
    lam_raw, lam_full = PARAMS[lam_kind]
    lam_raw = [[abs(v) + 0.4 for v in r] for r in lam_raw] if lam_kind == "matrix" else (
        [v + 0.4 for v in lam_raw] if isinstance(lam_raw, list) else lam_raw + 0.4)
    lam_full_v = lam_full(lam_raw)
    eta_full_v = eta_full(eta_raw)
    a1, a2, M1, M2 = two_steps(PlasticRule("mult", "hebb_assoc", "linear", "linear", None),
                               eta=torch.tensor(eta_raw, dtype=torch.float64),
                               lam=torch.tensor(lam_raw, dtype=torch.float64),
                               eta_kind=eta_kind, lam_kind=lam_kind)
    M = [[0.0, 0.0], [0.0, 0.0]]
    ra1, M = loop_step(X1[0].tolist(), M, eta_full_v, lam_full_v)
    ra2, M = loop_step(X2[0].tolist(), M, eta_full_v, lam_full_v)
    torch.testing.assert_close(a1, t(ra1))
    torch.testing.assert_close(a2, t(ra2))
    torch.testing.assert_close(M2, t(M))


def test_plasticity_mask_keeps_initial_value():
    pm = t([[1.0, 0.0], [0.0, 1.0]])
    _, _, M1, M2 = two_steps(PlasticRule("mult", "hebb_assoc", "linear", "linear", None), pm=pm)
    assert M1[0, 1] == 0 and M1[1, 0] == 0 and M2[0, 1] == 0 and M2[1, 0] == 0
    # M1 = [[1, 0], [0, 3]]; a2[0] = (1 + 1)·1 + 0.5·(−1) = 1.5; M2[0, 0] = 0.9 + 0.5·1.5
    torch.testing.assert_close(M2[0, 0], torch.tensor(1.65, dtype=torch.float64))
