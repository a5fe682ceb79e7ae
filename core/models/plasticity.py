"""Per-step math of a multi-plastic layer, and a fused sequence kernel with a hand-written backward.

Multi-plastic network (MPN; Aitken & Mihalas 2023, "Neural population dynamics of computing with
synaptic modulations", eLife; the MultiTaskMPN lab code). One plastic layer, one time step::

    W_eff = W + W ⊙ M          ("mult")      or      W + M          ("add")
    a     = W_eff x + b [+ W_rec h_prev]
    h     = f(a) ⊙ hidden_mask
    Z     = λ ⊙ M + η ⊙ (post preᵀ)                       ("hebb_assoc", post = h, pre = x)
            λ ⊙ M + η ⊙ (c preᵀ),  c = 1/√N_post           ("hebb_pre")
            λ ⊙ M + η ⊙ (post preᵀ) − |η| ⊙ post² ⊙ M      ("oja", batched)
    M'    = clamp(g(Z), m_min, m_max)                     (clamp only when bounds are set)
    M'    = P ⊙ M' + (1 − P) ⊙ M_0                        (P: plasticity mask, 0 freezes a synapse)

``M`` has shape ``(B, N_post, N_pre)``; η and λ broadcast against it as ``(1, 1)`` ("scalar"),
``(1, N_pre)`` ("pre_vector"), ``(N_post, 1)`` ("post_vector") or ``(N_post, N_pre)`` ("matrix").

Deviations from the reference code: under "oja" the reference applies no λ decay (λ = 1); here λ
still multiplies M so that λ → 1 recovers it. Under "add" the reference scales the bounds by |W|;
here the bounds are the same constants for both combination types.

:func:`plastic_step` is the reference semantics (plain autograd). :class:`PlasticSequence` runs a
whole sequence without keeping any ``(B, N, N)`` tensor for autograd: it stores per-step vectors
(``x``, ``a``, ``h``), processes the batch in small chunks that stay in cache, and in the backward
pass recomputes the chunk's M trajectory and applies the adjoint equations by hand. It treats the
clamp's gradient as zero where ``M'`` sits exactly on a bound (``torch.clamp`` passes it there);
the two differ only on that measure-zero set. With ``compiled`` the same chunk loops call
:func:`_forward_step`, :func:`plastic_update` and :func:`_backward_step` through
``torch.compile`` (inductor: fused C++ loops on the CPU); a failure to compile warns once and
runs them eagerly, and later sequences take the eager kernel.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
}
MP_TYPES = ("mult", "add")
UPDATE_RULES = ("hebb_assoc", "hebb_pre", "oja")
PARAM_KINDS = ("scalar", "pre_vector", "post_vector", "matrix")


@dataclass(frozen=True)
class PlasticRule:
    """Static description of a plastic layer (everything that is not a tensor)."""

    mp_type: str = "mult"
    update: str = "hebb_assoc"
    activation: str = "tanh"
    m_activation: str = "linear"
    m_bounds: tuple[float, float] | None = (-1.0, 1.0)


def expand_param(p: torch.Tensor, kind: str) -> torch.Tensor:
    """η or λ in its stored shape → a 2-D tensor that broadcasts against ``(N_post, N_pre)``.

    scalar ``()`` → ``(1, 1)``; pre_vector ``(N_pre,)`` → ``(1, N_pre)``;
    post_vector ``(N_post,)`` → ``(N_post, 1)``; matrix stays ``(N_post, N_pre)``.
    """
    if kind == "scalar":
        return p.reshape(1, 1)
    if kind == "pre_vector":
        return p.reshape(1, -1)
    if kind == "post_vector":
        return p.reshape(-1, 1)
    return p


def activation_grad(name: str, a: torch.Tensor) -> torch.Tensor:
    """``f'(a)`` for the named activation, same shape as ``a``."""
    if name == "linear":
        return torch.ones_like(a)
    if name == "relu":
        return (a > 0).to(a.dtype)
    if name == "tanh":
        return 1.0 - torch.tanh(a) ** 2
    s = torch.sigmoid(a)
    return s * (1.0 - s) if name == "sigmoid" else s


def _grad_from_output(name: str, y: torch.Tensor) -> torch.Tensor:
    """``g'(z)`` written in terms of ``y = g(z)`` (used for the M activation)."""
    if name == "relu":
        return (y > 0).to(y.dtype)
    if name == "tanh":
        return 1.0 - y * y
    if name == "sigmoid":
        return y * (1.0 - y)
    return -torch.expm1(-y)  # softplus: sigmoid(z) = 1 − exp(−softplus(z))


def plastic_step(x: torch.Tensor, h_prev: torch.Tensor | None, M: torch.Tensor,
                 W: torch.Tensor, b: torch.Tensor | None, w_rec: torch.Tensor | None,
                 eta: torch.Tensor, lam: torch.Tensor, M0: torch.Tensor,
                 plasticity_mask: torch.Tensor | None, hidden_mask: torch.Tensor | None,
                 rule: PlasticRule) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of a plastic layer (module docstring), differentiable with plain autograd.

    Shapes: ``x (B, N_pre)``, ``h_prev (B, N_post)`` or None, ``M (B, N_post, N_pre)``,
    ``W (N_post, N_pre)``, ``b (N_post,)``, ``w_rec (N_post, N_post)`` or None; ``eta``/``lam``
    already expanded to 2-D (:func:`expand_param`); ``M0 (N_post, N_pre)``;
    ``plasticity_mask (N_post, N_pre)`` of 0/1; ``hidden_mask (N_post,)``.
    Returns ``a (B, N_post)``, ``h (B, N_post)`` and ``M' (B, N_post, N_pre)``.
    """
    mod = (W * M) if rule.mp_type == "mult" else M
    a = x @ W.T + torch.bmm(mod, x.unsqueeze(-1)).squeeze(-1)
    if b is not None:
        a = a + b
    if w_rec is not None and h_prev is not None:
        a = a + h_prev @ w_rec.T
    h = ACTIVATIONS[rule.activation](a)
    if hidden_mask is not None:
        h = h * hidden_mask
    return a, h, plastic_update(M, x, update_post(h, rule), eta, lam, M0, plasticity_mask, rule)


def update_post(h: torch.Tensor, rule: PlasticRule) -> torch.Tensor:
    """The post-synaptic factor of the M update for activity ``h (..., N_post)``: ``h`` itself,
    or under "hebb_pre" the constant c = 1/√N_post of the module docstring, as a broadcast view
    of ``h``'s shape (stride 0, no copy). Pure (autograd or torch.compile)."""
    if rule.update != "hebb_pre":
        return h
    return h.new_full((1,), 1.0 / math.sqrt(h.shape[-1])).expand_as(h)


def plastic_update(M: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, eta: torch.Tensor,
                   lam: torch.Tensor, M0: torch.Tensor, plasticity_mask: torch.Tensor | None,
                   rule: PlasticRule) -> torch.Tensor:
    """``M'`` of the module docstring from ``M (B, N_post, N_pre)``, ``pre (B, N_pre)`` and
    ``post (B, N_post)`` (already the constant under "hebb_pre"); other shapes as in
    :func:`plastic_step`. Pure (autograd or torch.compile)."""
    Z = lam * M + eta * (post.unsqueeze(-1) * pre.unsqueeze(-2))
    if rule.update == "oja":
        Z = Z - eta.abs() * post.unsqueeze(-1) ** 2 * M
    M_new = ACTIVATIONS[rule.m_activation](Z)
    if rule.m_bounds is not None:
        M_new = torch.clamp(M_new, rule.m_bounds[0], rule.m_bounds[1])
    if plasticity_mask is not None:
        M_new = plasticity_mask * M_new + (1.0 - plasticity_mask) * M0
    return M_new


def _reduce_to(t: torch.Tensor, kind: str) -> torch.Tensor:
    """Sum a ``(B, N_post, N_pre)`` tensor down to the stored shape of a parameter of ``kind``."""
    if kind == "scalar":
        return t.sum()
    if kind == "pre_vector":
        return t.sum(dim=(0, 1))
    if kind == "post_vector":
        return t.sum(dim=(0, 2))
    return t.sum(dim=0)


def _outer_adjoint(dZ: torch.Tensor, E: torch.Tensor, kind: str, post: torch.Tensor,
                   pre: torch.Tensor, need_dE: bool
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Adjoint of ``Z += E ⊙ (post preᵀ)``: ``(d post, d pre, d E)``, dE in E's stored shape."""
    if kind == "matrix":
        dZE = dZ * E
        d_post = torch.bmm(dZE, pre.unsqueeze(-1)).squeeze(-1)
        d_pre = torch.bmm(post.unsqueeze(1), dZE).squeeze(1)
        dE = torch.einsum("bij,bi,bj->ij", dZ, post, pre) if need_dE else None
        return d_post, d_pre, dE
    u = torch.bmm(dZ, pre.unsqueeze(-1)).squeeze(-1)  # Σ_j dZ_ij pre_j
    v = torch.bmm(post.unsqueeze(1), dZ).squeeze(1)   # Σ_i dZ_ij post_i
    if kind == "scalar":
        e = E.reshape(())
        dE = (post * u).sum() if need_dE else None
        return u * e, v * e, dE
    if kind == "post_vector":
        e = E[:, 0]
        dE = (post * u).sum(0) if need_dE else None
        return u * e, torch.bmm((post * e).unsqueeze(1), dZ).squeeze(1), dE
    e = E[0]
    dE = (pre * v).sum(0) if need_dE else None
    return torch.bmm(dZ, (pre * e).unsqueeze(-1)).squeeze(-1), v * e, dE


def _update_into(out: torch.Tensor, M: torch.Tensor, pre: torch.Tensor, post: torch.Tensor,
                 E: torch.Tensor, L: torch.Tensor, M0: torch.Tensor, P: torch.Tensor | None,
                 rule: PlasticRule, eta_scalar: float | None, lam_scalar: float | None) -> None:
    """Write ``M'`` of the module docstring into ``out`` (may be ``M`` itself; no autograd)."""
    if rule.update != "oja" and eta_scalar is not None and lam_scalar is not None:
        torch.baddbmm(M, post.unsqueeze(-1), pre.unsqueeze(-2), beta=lam_scalar,
                      alpha=eta_scalar, out=out)
        _finish_update(out, M0, P, rule)
        return
    if out is not M:
        out.copy_(M)
    _update_inplace(out, pre, post, E, L, rule)
    _finish_update(out, M0, P, rule)


def _finish_update(M: torch.Tensor, M0: torch.Tensor, P: torch.Tensor | None,
                   rule: PlasticRule) -> None:
    """M activation g, bounds and frozen synapses, in place."""
    if rule.m_activation != "linear":
        M.copy_(ACTIVATIONS[rule.m_activation](M))
    if rule.m_bounds is not None:
        F.hardtanh_(M, rule.m_bounds[0], rule.m_bounds[1])
    if P is not None:
        M.mul_(P).add_(M0 * (1.0 - P))


def _update_inplace(M: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, E: torch.Tensor,
                    L: torch.Tensor, rule: PlasticRule) -> None:
    """``M ← Z`` (before g, bounds and freezing), in place."""
    if rule.update == "oja":
        decay = L - E.abs() * post.unsqueeze(-1) ** 2
        M.mul_(decay)
        M.add_(E * (post.unsqueeze(-1) * pre.unsqueeze(-2)))
    else:
        M.mul_(L)
        M.add_(E * (post.unsqueeze(-1) * pre.unsqueeze(-2)))


class PlasticSequence(torch.autograd.Function):
    """A plastic layer over a whole sequence: ``x (T, B, N_pre)`` → ``h (T, B, N_post)``.

    Arguments (in order): ``x, W, b, w_rec, eta, lam, M0, plasticity_mask, hidden_mask, rule,
    eta_kind, lam_kind, chunk, compiled``. ``eta``/``lam`` are given in their stored shapes (after
    any reparametrisation such as the sigmoid on λ); ``b``, ``w_rec``, the masks may be None;
    ``chunk`` is the number of samples processed together (memory ≈ T·chunk·N_post·N_pre floats
    in the backward pass); ``compiled`` runs the per-step math through ``torch.compile``
    (:func:`_forward_step`, :func:`_backward_step`; eager if compiling fails). Gradients flow to
    ``x, W, b, w_rec, eta, lam, M0``.
    """

    @staticmethod
    def forward(ctx, x, W, b, w_rec, eta, lam, M0, plasticity_mask, hidden_mask, rule,
                eta_kind, lam_kind, chunk, compiled=False):
        T, B, _ = x.shape
        n_post = W.shape[0]
        E, L = expand_param(eta, eta_kind), expand_param(lam, lam_kind)
        eta_s = float(eta) if eta_kind == "scalar" else None
        lam_s = float(lam) if lam_kind == "scalar" else None
        act = ACTIVATIONS[rule.activation]
        a_all = x.new_empty(T, B, n_post)
        h_all = x.new_empty(T, B, n_post)
        drive = torch.matmul(x, W.T)
        if b is not None:
            drive = drive + b
        if compiled:
            _forward_compiled(x, W, w_rec, E, L, M0, plasticity_mask, hidden_mask, rule, chunk,
                              drive, a_all, h_all)
        else:
            for start in range(0, B, chunk):
                sl = slice(start, min(start + chunk, B))
                M = M0.expand(sl.stop - sl.start, *M0.shape).clone()
                mod = torch.empty_like(M) if rule.mp_type == "mult" else M
                h_prev = None
                for t in range(T):
                    pre = x[t, sl]
                    if rule.mp_type == "mult":
                        torch.mul(M, W, out=mod)
                    a = drive[t, sl] + torch.bmm(mod, pre.unsqueeze(-1)).squeeze(-1)
                    if w_rec is not None and h_prev is not None:
                        a = a + h_prev @ w_rec.T
                    h = act(a)
                    if hidden_mask is not None:
                        h = h * hidden_mask
                    a_all[t, sl] = a
                    h_all[t, sl] = h
                    h_prev = h
                    if t < T - 1:
                        _update_into(M, M, pre, update_post(h, rule), E, L, M0, plasticity_mask,
                                     rule, eta_s, lam_s)
        ctx.save_for_backward(x, W, b, w_rec, eta, lam, M0, plasticity_mask, hidden_mask,
                              a_all, h_all)
        ctx.rule, ctx.eta_kind, ctx.lam_kind, ctx.chunk = rule, eta_kind, lam_kind, chunk
        ctx.compiled = compiled
        return h_all

    @staticmethod
    def backward(ctx, dh_ext):
        x, W, b, w_rec, eta, lam, M0, P, hm, a_all, h_all = ctx.saved_tensors
        rule, eta_kind, lam_kind, chunk = ctx.rule, ctx.eta_kind, ctx.lam_kind, ctx.chunk
        need = ctx.needs_input_grad
        T, B, _ = x.shape
        n_post = W.shape[0]
        E, L = expand_param(eta, eta_kind), expand_param(lam, lam_kind)
        eta_s = float(eta) if eta_kind == "scalar" else None
        lam_s = float(lam) if lam_kind == "scalar" else None
        lo_hi = rule.m_bounds
        dh_ext = dh_ext.contiguous()
        dx = torch.zeros_like(x)
        dW = torch.zeros_like(W)
        db = torch.zeros(n_post, dtype=x.dtype, device=x.device) if b is not None else None
        dW_rec = torch.zeros_like(w_rec) if w_rec is not None else None
        d_eta = torch.zeros_like(eta)
        d_lam = torch.zeros_like(lam)
        dM0 = torch.zeros_like(M0)
        fprime = activation_grad(rule.activation, a_all)
        if hm is not None:
            fprime = fprime * hm
        if ctx.compiled:
            grads = dict(dx=dx, dW=dW, db=db, dW_rec=dW_rec, d_eta=d_eta, d_lam=d_lam, dM0=dM0)
            _backward_compiled(x, W, w_rec, E, L, M0, P, rule, eta_kind, lam_kind, chunk,
                               dh_ext, a_all, h_all, fprime, grads, (need[4], need[5], need[6]))
        else:
            # M_t of the current chunk (T, chunk, N_post, N_pre) and a work buffer
            traj = scratch = None
            for start in range(0, B, chunk):
                sl = slice(start, min(start + chunk, B))
                n = sl.stop - sl.start
                if traj is None or traj.shape[1] != n:
                    traj = x.new_empty(T, n, *M0.shape)
                    scratch = x.new_empty(n, *M0.shape)
                Ms = traj
                Ms[0].copy_(M0.expand(n, *M0.shape))
                for t in range(T - 1):
                    _update_into(Ms[t + 1], Ms[t], x[t, sl], update_post(h_all[t, sl], rule), E, L,
                                 M0, P, rule, eta_s, lam_s)
                G = None  # gradient w.r.t. M_{t+1}
                dh_rec = None
                for t in range(T - 1, -1, -1):
                    M = Ms[t]
                    pre, h = x[t, sl], h_all[t, sl]
                    dh = dh_ext[t, sl]
                    d_pre = None
                    G_direct = None
                    if G is not None:
                        M_next = Ms[t + 1]
                        dZ = G if P is None else G * P
                        if need[6] and P is not None:
                            dM0 += (G * (1.0 - P)).sum(0)
                        if lo_hi is not None:
                            torch.ops.aten.hardtanh_backward.grad_input(
                                dZ, M_next, lo_hi[0], lo_hi[1], grad_input=dZ)
                        if rule.m_activation != "linear":
                            dZ = dZ * _grad_from_output(rule.m_activation, M_next)
                        post = update_post(h, rule)
                        d_post, d_pre, dE = _outer_adjoint(dZ, E, eta_kind, post, pre, need[4])
                        if need[4]:
                            d_eta += dE
                        if need[5]:
                            d_lam += (torch.dot(dZ.reshape(-1), M.reshape(-1))
                                      if lam_kind == "scalar" else _reduce_to(dZ * M, lam_kind))
                        if rule.update == "oja":
                            p2 = post.unsqueeze(-1) ** 2
                            dZM = dZ * M
                            if need[4]:
                                d_eta -= torch.sign(eta) * _reduce_to(dZM * p2, eta_kind)
                            d_post = d_post - 2.0 * post * (dZM * E.abs()).sum(-1)
                            G_direct = dZ * (L - E.abs() * p2)
                        elif lam_s is not None:
                            G_direct = dZ.mul_(lam_s)  # G_{t+1} is not needed any more
                        else:
                            G_direct = dZ * L
                        if rule.update != "hebb_pre":
                            dh = dh + d_post
                    if dh_rec is not None:
                        dh = dh + dh_rec
                    da = dh * fprime[t, sl]
                    outer = da.unsqueeze(-1) * pre.unsqueeze(-2)
                    if rule.mp_type == "mult":
                        torch.mul(M, W, out=scratch)
                        dx_t = da @ W + torch.bmm(scratch.transpose(1, 2),
                                                  da.unsqueeze(-1)).squeeze(-1)
                        if need[1]:
                            dW += torch.mul(outer, M, out=scratch).sum(0)
                    else:
                        dx_t = da @ W + torch.bmm(M.transpose(1, 2), da.unsqueeze(-1)).squeeze(-1)
                    if d_pre is not None:
                        dx_t = dx_t + d_pre
                    dx[t, sl] = dx_t
                    if need[1]:
                        dW += da.T @ pre
                    if db is not None:
                        db += da.sum(0)
                    if w_rec is not None and t > 0:
                        dW_rec += da.T @ h_all[t - 1, sl]
                        dh_rec = da @ w_rec
                    if rule.mp_type == "mult":
                        G = outer.mul_(W) if G_direct is None else G_direct.addcmul_(outer, W)
                    else:
                        G = outer if G_direct is None else G_direct.add_(outer)
                if need[6]:
                    dM0 += G.sum(0)
        return (dx, dW, db, dW_rec, d_eta if need[4] else None, d_lam if need[5] else None,
                dM0 if need[6] else None, None, None, None, None, None, None, None)


def _forward_step(M: torch.Tensor, W: torch.Tensor, pre: torch.Tensor, drive: torch.Tensor,
                  hidden_mask: torch.Tensor | None, E: torch.Tensor, L: torch.Tensor,
                  M0: torch.Tensor, P: torch.Tensor | None, rule: PlasticRule, update: bool
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward step of a chunk, written for torch.compile (the matrix-vector product as a
    reduction, so that ``W ⊙ M``, the product and the M update fuse into few passes over M).

    ``drive (n, N_post)`` holds ``W x + b [+ W_rec h_prev]``; returns ``a, h`` and ``M'`` (``M``
    itself when not ``update``).
    """
    mod = W * M if rule.mp_type == "mult" else M
    a = drive + (mod * pre.unsqueeze(-2)).sum(-1)
    h = ACTIVATIONS[rule.activation](a)
    if hidden_mask is not None:
        h = h * hidden_mask
    if not update:
        return a, h, M
    return a, h, plastic_update(M, pre, update_post(h, rule), E, L, M0, P, rule)


def _backward_step(G: torch.Tensor | None, M: torch.Tensor, M_next: torch.Tensor | None,
                   pre: torch.Tensor, h: torch.Tensor, dh: torch.Tensor, fprime: torch.Tensor,
                   W: torch.Tensor, E: torch.Tensor, L: torch.Tensor, P: torch.Tensor | None,
                   rule: PlasticRule, eta_kind: str, lam_kind: str,
                   needs: tuple[bool, bool, bool] = (True, True, True)
                   ) -> tuple[torch.Tensor, ...]:
    """Adjoint of one step of a chunk (same equations as :meth:`PlasticSequence.backward`,
    written as broadcasts and reductions for torch.compile).

    ``G`` is the gradient w.r.t. ``M_next`` (None at the last step), ``dh`` the gradient w.r.t.
    ``h`` from outside and the recurrence. Returns ``G`` w.r.t. ``M``, ``da (n, N_post)``,
    ``dx (n, N_pre)``, the M-part of ``dW``, ``dη`` and ``dλ`` in E's/L's stored shapes and the
    gradient reaching ``M0`` through frozen synapses (zeros where not applicable, or where
    ``needs`` (η, λ, M0) says the gradient is not wanted).
    """
    zero = M.new_zeros(())
    d_eta = d_lam = dM0 = zero
    d_pre = None
    G_direct = None
    if G is not None:
        dZ = G if P is None else G * P
        if P is not None and needs[2]:
            dM0 = (G * (1.0 - P)).sum(0)
        if rule.m_bounds is not None:
            lo, hi = rule.m_bounds
            dZ = torch.where((M_next > lo) & (M_next < hi), dZ, 0.0)
        if rule.m_activation != "linear":
            dZ = dZ * _grad_from_output(rule.m_activation, M_next)
        post = update_post(h, rule)
        outer = post.unsqueeze(-1) * pre.unsqueeze(-2)
        dZE = dZ * E
        d_post = (dZE * pre.unsqueeze(-2)).sum(-1)
        d_pre = (dZE * post.unsqueeze(-1)).sum(-2)
        if needs[0]:
            d_eta = _reduce_to(dZ * outer, eta_kind)
        if needs[1]:
            d_lam = _reduce_to(dZ * M, lam_kind)
        if rule.update == "oja":
            p2 = post.unsqueeze(-1) ** 2
            dZM = dZ * M
            if needs[0]:
                d_eta = d_eta - _reduce_to(dZM * p2 * torch.sign(E), eta_kind)
            d_post = d_post - 2.0 * post * (dZM * E.abs()).sum(-1)
            G_direct = dZ * (L - E.abs() * p2)
        else:
            G_direct = dZ * L
        if rule.update != "hebb_pre":
            dh = dh + d_post
    da = dh * fprime
    outer_da = da.unsqueeze(-1) * pre.unsqueeze(-2)
    mod = W * M if rule.mp_type == "mult" else M
    dx = da @ W + (mod * da.unsqueeze(-1)).sum(-2)
    if d_pre is not None:
        dx = dx + d_pre
    dW_M = (outer_da * M).sum(0) if rule.mp_type == "mult" else zero
    G_new = outer_da * W if rule.mp_type == "mult" else outer_da
    if G_direct is not None:
        G_new = G_direct + G_new
    return G_new, da, dx, dW_M, d_eta, d_lam, dM0


class _Compiled:
    """``torch.compile`` of a step function, built on first use; on any failure (no compiler,
    an unsupported platform) it warns once and runs the function eagerly from then on."""

    failed = False  # set on the first failure of any compiled step: later sequences run eagerly

    def __init__(self, fn: Callable) -> None:
        self.fn, self.compiled = fn, None

    def __call__(self, *args, **kwargs):
        if not _Compiled.failed:
            try:
                if self.compiled is None:
                    self.compiled = torch.compile(self.fn)
                return self.compiled(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - any compiler failure means: run eagerly
                _Compiled.failed = True
                warnings.warn(f"torch.compile of the plastic kernel failed ({type(err).__name__}: "
                              f"{err}); using the eager kernel", RuntimeWarning, stacklevel=2)
        return self.fn(*args, **kwargs)


_FORWARD_STEP = _Compiled(_forward_step)
_BACKWARD_STEP = _Compiled(_backward_step)
_UPDATE = _Compiled(plastic_update)


def compiled_kernel_usable() -> bool:
    """Whether the compiled kernel is still in use (False after a compilation failure)."""
    return not _Compiled.failed


def _forward_compiled(x, W, w_rec, E, L, M0, P, hidden_mask, rule, chunk, drive, a_all, h_all
                      ) -> None:
    """Forward chunk loop of :class:`PlasticSequence` with the compiled step; fills a/h_all."""
    T, B, _ = x.shape
    for start in range(0, B, chunk):
        sl = slice(start, min(start + chunk, B))
        M = M0.expand(sl.stop - sl.start, *M0.shape).contiguous()
        h = None
        for t in range(T):
            d = drive[t, sl]
            if w_rec is not None and h is not None:
                d = d + h @ w_rec.T
            a, h, M = _FORWARD_STEP(M, W, x[t, sl], d, hidden_mask, E, L, M0, P, rule, t < T - 1)
            a_all[t, sl] = a
            h_all[t, sl] = h


def _backward_compiled(x, W, w_rec, E, L, M0, P, rule, eta_kind, lam_kind, chunk, dh_ext,
                       a_all, h_all, fprime, grads, needs: tuple[bool, bool, bool]) -> None:
    """Backward chunk loop of :class:`PlasticSequence` with the compiled step; accumulates into
    the tensors of ``grads`` (dx, dW, db, dW_rec, d_eta, d_lam, dM0; db/dW_rec may be None);
    ``needs`` says whether the gradients of η, λ and M0 are wanted."""
    T, B, _ = x.shape
    traj = None
    for start in range(0, B, chunk):
        sl = slice(start, min(start + chunk, B))
        n = sl.stop - sl.start
        if traj is None or traj.shape[1] != n:
            traj = x.new_empty(T, n, *M0.shape)
        traj[0].copy_(M0.expand(n, *M0.shape))
        for t in range(T - 1):
            traj[t + 1].copy_(_UPDATE(traj[t], x[t, sl], update_post(h_all[t, sl], rule), E, L,
                                      M0, P, rule))
        G = dh_rec = None
        for t in range(T - 1, -1, -1):
            dh = dh_ext[t, sl] if dh_rec is None else dh_ext[t, sl] + dh_rec
            G, da, dx_t, dW_M, d_eta, d_lam, dM0 = _BACKWARD_STEP(
                G, traj[t], traj[t + 1] if t < T - 1 else None, x[t, sl], h_all[t, sl], dh,
                fprime[t, sl], W, E, L, P, rule, eta_kind, lam_kind, needs)
            grads["dx"][t, sl] = dx_t
            grads["dW"] += dW_M + da.T @ x[t, sl]
            grads["d_eta"] += d_eta
            grads["d_lam"] += d_lam
            grads["dM0"] += dM0
            if grads["db"] is not None:
                grads["db"] += da.sum(0)
            if w_rec is not None and t > 0:
                grads["dW_rec"] += da.T @ h_all[t - 1, sl]
                dh_rec = da @ w_rec
        grads["dM0"] += G.sum(0)
