"""Fixed and slow points of the lab's recurrent models, and their linear stability.

Sussillo & Barak (2013), "Opening the black box: low-dimensional dynamics in high-dimensional
recurrent neural networks", Neural Comput. 25:626, Eq. 2, in its discrete-time form, and Golub &
Sussillo (2018), "FixedPointFinder", JOSS 3:1003. For one step ``F(s; u)`` of a model under a
constant input ``u``, minimise::

    q(s) = ½ ‖F(s; u) − s‖²

from many initial states at once (the sum over initial states is minimised; each term depends on
its own state only), optionally after ``relax_steps`` steps of the dynamics: Adam (learning rate
decayed geometrically to 1 % of ``adam_lr``), then ``torch.optim.LBFGS`` with a strong-Wolfe
line search. A minimum is a **fixed point** when its
relative step ``‖F(s*) − s*‖ / ‖s*‖`` is below ``fixed_tol``, a **slow point** when it is below
``slow_tol`` only; the rest are discarded. Points found under the same input that lie within
``merge_tol · max(‖a‖, ‖b‖)`` of each other are merged (the best-converged one is kept).

Stability: eigenvalues of the Jacobian ``∂F/∂s`` at each point, matrix-free through
Jacobian-vector products (``torch.func.jvp``) fed to ARPACK (``scipy.sparse.linalg.eigs`` on a
``LinearOperator``, the ``n_eigs`` of largest modulus) when the state has more than ``dense_max``
dimensions, else from the dense Jacobian (``torch.func.jacfwd``, all eigenvalues). A mode is
unstable when ``|λ| > 1 + unstable_tol`` and marginal when ``|λ − 1| < marginal_tol`` (one
marginal mode is the signature of a line or ring attractor). With ARPACK the counts are over the
computed leading eigenvalues only (``n_eigs_computed``).

The state (:func:`step_map`): M of every plastic layer of a :class:`DeepMultiPlasticNet` (plus
the hidden activity of layers with recurrent weights), the hidden state of :class:`LeakyRNN`,
:class:`GRUNet` and :class:`TimescaleRNN` (hidden and cell state for its LSTM cell), flattened to
one vector. ``F`` calls the models' own step functions (:func:`plastic_step`,
:func:`leaky_step`, :func:`gru_step`, :func:`timescale_step`, the torch cells) on a float64 copy
of the model.

:func:`pair_fixed_points` solves one epoch (the delay) of each rule of a pair and projects the
points and the trajectories on the pair's leading PCs (``multiple_task/fixed_points.py``).

Deviations from FixedPointFinder: the tolerance is on the relative step rather than on q; L-BFGS
refines the Adam result; duplicates are merged with a relative distance. For an MPN whose M
decays slowly (λ ≥ 0.95, e.g. 0.99 for the lab's 4000 ms time constant at dt 40 ms), the bulk
of the M spectrum sits at λ and so counts as marginal by the ``|λ − 1| < 0.05`` rule.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
from tqdm.auto import tqdm

from core.analysis.state_space import StateSpace, run_model
from core.models.mpn import DeepMultiPlasticNet
from core.models.plasticity import ACTIVATIONS, expand_param, plastic_step
from core.models.rnn import GRUNet, LeakyRNN, gru_step, leaky_step
from core.models.timescale_rnn import ACTIVATIONS as TIMESCALE_ACTIVATIONS
from core.models.timescale_rnn import TimescaleRNN, timescale_step
from core.tasks.trials import EPOCHS, Trials

__all__ = [
    "StepMap",
    "step_map",
    "trajectory_seeds",
    "find_fixed_points",
    "jacobian_eigenvalues",
    "FixedPoints",
    "epoch_fixed_points",
    "pair_fixed_points",
]

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class StepMap:
    """One step ``F(s; u)`` of a recurrent model on a flattened state (build with :func:`step_map`).

    ``map(s, u)`` takes ``s (K, n_state)`` and ``u (K, n_in)`` (model inputs, before any input
    layer) and returns ``F(s; u) (K, n_state)``. ``parts`` names the pieces of the state in
    flattening order with their shapes, e.g. ``{"M": (n_hidden, n_pre)}`` for a one-layer MPN
    without recurrent weights, ``{"hidden": (n_hidden,)}`` for the RNNs; multi-layer MPNs use
    ``"M0"``, ``"hidden0"``, ... The map holds a frozen copy of the model in ``dtype``: later
    changes to the model do not reach it.
    """

    def __init__(self, model: torch.nn.Module, parts: dict[str, tuple[int, ...]], n_in: int,
                 hidden_mask: torch.Tensor | None, dtype: torch.dtype):
        self.model = copy.deepcopy(model).to(dtype).eval().requires_grad_(False)
        self.parts = parts
        self.n_in = n_in
        self.dtype = dtype
        device = next(self.model.parameters()).device
        self.device = device
        self.hidden_mask = (None if hidden_mask is None
                            else torch.as_tensor(hidden_mask, dtype=dtype, device=device))
        self._sizes = [int(np.prod(shape)) for shape in parts.values()]

    @property
    def n_state(self) -> int:
        """Dimension D of the flattened state."""
        return sum(self._sizes)

    def unflatten(self, s: torch.Tensor) -> dict[str, torch.Tensor]:
        """``s (K, D)`` → ``{name: (K, *shape)}`` views, in the order of :attr:`parts`."""
        chunks = torch.split(s, self._sizes, dim=-1)
        return {name: c.reshape(*s.shape[:-1], *shape)
                for (name, shape), c in zip(self.parts.items(), chunks, strict=True)}

    def flatten(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`unflatten`: ``{name: (K, *shape)}`` → ``(K, D)``."""
        return torch.cat([parts[name].flatten(start_dim=parts[name].ndim - len(shape))
                          for name, shape in self.parts.items()], dim=-1)

    def initial_state(self, batch: int) -> torch.Tensor:
        """The state every trial starts from, ``(batch, D)`` (zeros; an MPN's M is ``M_init``)."""
        return torch.zeros(batch, self.n_state, dtype=self.dtype, device=self.device)

    def step(self, s: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(F(s; u) (K, D), h (K, n_hidden))``: next state and the hidden activity of the step
        (``s`` and ``u`` are cast to the map's dtype and device)."""
        return self._step(self.as_tensor(s), self.as_tensor(u))

    def _step(self, s: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __call__(self, s: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return self.step(s, u)[0]

    def hidden(self, s: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Hidden activity ``(K, n_hidden)`` of the (last) layer in the step from ``s`` under ``u``
        (for the RNNs the new hidden state; at a fixed point it equals the state's hidden part)."""
        return self.step(s, u)[1]

    def as_tensor(self, a: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``a`` as a tensor in the map's dtype and on its device (no copy when it already is)."""
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)

    def states_at(self, x: np.ndarray | torch.Tensor, steps: np.ndarray) -> torch.Tensor:
        """States of the trials ``x (T, B, n_in)`` after ``steps (B, k)`` steps: ``(B, k, D)``.

        Step count 0 is the initial state, ``t`` the state after the inputs ``x[:t]``, so the
        state at the end of an epoch ``[start, end)`` is ``steps = end``. ValueError for step
        counts outside ``[0, T]``.
        """
        x = self.as_tensor(x)
        steps = np.asarray(steps, dtype=np.int64)
        if steps.ndim == 1:
            steps = steps[:, None]
        if x.ndim != 3 or x.shape[-1] != self.n_in or steps.shape[0] != x.shape[1]:
            raise ValueError(f"need x (T, B, {self.n_in}) and steps (B, k), got {tuple(x.shape)} "
                             f"and {steps.shape}")
        if steps.size and (steps.min() < 0 or steps.max() > x.shape[0]):
            raise ValueError(f"steps must lie in [0, {x.shape[0]}], got {steps.min()}.."
                             f"{steps.max()}")
        out = torch.empty(*steps.shape, self.n_state, dtype=self.dtype, device=self.device)
        s = self.initial_state(x.shape[1])
        last = int(steps.max()) if steps.size else 0
        with torch.no_grad():
            for t in range(last + 1):
                b, j = np.nonzero(steps == t)
                out[b, j] = s[b]
                if t < last:
                    s = self(s, x[t])
        return out


class _MPNMap(StepMap):
    def __init__(self, model: DeepMultiPlasticNet, hidden_mask, dtype):
        c = model.config
        parts: dict[str, tuple[int, ...]] = {}
        many = len(model.layers) > 1
        self._names = []
        for i, layer in enumerate(model.layers):
            m_name, h_name = (f"M{i}", f"hidden{i}") if many else ("M", "hidden")
            parts[m_name] = tuple(layer.W.shape)
            if layer.w_rec is not None:
                parts[h_name] = (c.n_hidden,)
            self._names.append((m_name, h_name))
        super().__init__(model, parts, c.n_in, hidden_mask, dtype)
        self._plasticity_masks = [None if bool((layer.plasticity_mask == 1).all())
                                  else layer.plasticity_mask for layer in self.model.layers]

    def initial_state(self, batch: int) -> torch.Tensor:
        init = {}
        for layer, (m_name, h_name) in zip(self.model.layers, self._names, strict=True):
            init[m_name] = layer.M_init.expand(batch, *layer.M_init.shape)
            if h_name in self.parts:
                init[h_name] = torch.zeros(batch, *self.parts[h_name], dtype=self.dtype,
                                           device=self.device)
        return self.flatten(init)

    def _step(self, s, u):
        m = self.model
        parts = self.unflatten(s)
        x = ACTIVATIONS[m.config.activation](m.w_in(u)) if m.w_in is not None else u
        new = {}
        for i, (layer, (m_name, h_name), frozen) in enumerate(
                zip(m.layers, self._names, self._plasticity_masks, strict=True)):
            mask = self.hidden_mask if i == len(m.layers) - 1 else None
            _, x, new[m_name] = plastic_step(
                x, parts.get(h_name), parts[m_name], layer.W, layer.b, layer.w_rec,
                expand_param(layer.eta, layer.eta_type), expand_param(layer.lam, layer.lam_type),
                layer.M_init, frozen, mask, layer.rule)
            if h_name in self.parts:
                new[h_name] = x
        return self.flatten(new), x


class _LeakyMap(StepMap):
    def __init__(self, model: LeakyRNN, hidden_mask, dtype):
        super().__init__(model, {"hidden": (model.config.n_hidden,)}, model.config.n_in,
                         hidden_mask, dtype)

    def _step(self, s, u):
        c = self.model.config
        h = leaky_step(s, self.model.w_in(u), self.model.w_rec, c.alpha, c.activation)
        if self.hidden_mask is not None:
            h = h * self.hidden_mask
        return h, h


class _GRUMap(StepMap):
    def __init__(self, model: GRUNet, hidden_mask, dtype):
        super().__init__(model, {"hidden": (model.config.n_hidden,)}, model.config.n_in,
                         hidden_mask, dtype)

    def _step(self, s, u):
        g = self.model.gru
        h = gru_step(u, s, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0)
        if self.hidden_mask is not None:
            h = h * self.hidden_mask
        return h, h


class _TimescaleMap(StepMap):
    def __init__(self, model: TimescaleRNN, hidden_mask, dtype):
        c = model.config
        parts = {"hidden": (c.n_hidden,)}
        if c.cell == "lstm":
            parts["cell"] = (c.n_hidden,)
        super().__init__(model, parts, c.n_in, hidden_mask, dtype)

    def _step(self, s, u):
        m, c = self.model, self.model.config
        if c.cell == "rnn":
            h = timescale_step(s, m.w_in(u), m.w_rec.weight * m.no_self, m.tau,
                               TIMESCALE_ACTIVATIONS[c.activation], c.placement)
            new = {"hidden": h}
        elif c.cell == "gru":
            new = {"hidden": m.cell(u, s)}
        else:
            parts = self.unflatten(s)
            h, cell = m.cell(u, (parts["hidden"], parts["cell"]))
            new = {"hidden": h, "cell": cell}
        if self.hidden_mask is not None:
            new["hidden"] = new["hidden"] * self.hidden_mask
        return self.flatten(new), new["hidden"]


def step_map(model: torch.nn.Module, hidden_mask: torch.Tensor | np.ndarray | None = None,
             dtype: torch.dtype = torch.float64) -> StepMap:
    """The one-step map of ``model`` (see :class:`StepMap`), in ``dtype`` on the model's device.

    Supports :class:`DeepMultiPlasticNet`, :class:`LeakyRNN` (deterministic: no recurrent noise),
    :class:`GRUNet` and :class:`TimescaleRNN` (all cells). ``hidden_mask (n_hidden,)`` multiplies
    the (last layer's) hidden activity every step, as in the models' ``forward``. TypeError for
    any other model.
    """
    for cls, map_cls in ((DeepMultiPlasticNet, _MPNMap), (LeakyRNN, _LeakyMap),
                         (GRUNet, _GRUMap), (TimescaleRNN, _TimescaleMap)):
        if isinstance(model, cls):
            return map_cls(model, hidden_mask, dtype)
    raise TypeError(f"no fixed-point step map for {type(model).__name__}; expected "
                    f"DeepMultiPlasticNet, LeakyRNN, GRUNet or TimescaleRNN")


def trajectory_seeds(step: StepMap, x: np.ndarray, n_seeds: int, rng: np.random.Generator,
                     noise_scale: float = 0.0, n_valid: np.ndarray | None = None) -> torch.Tensor:
    """``n_seeds`` initial states ``(n_seeds, D)`` drawn from the model's own trajectories.

    Each seed is the state after a uniformly drawn number of steps ``1..n_valid[b]`` of a
    uniformly drawn trial ``b`` of ``x (T, B, n_in)`` (``n_valid (B,)`` defaults to T, e.g.
    ``trials.n_steps_valid``), plus Gaussian noise of standard deviation ``noise_scale`` times
    the root-mean-square coordinate of the drawn states.
    """
    x = np.asarray(x)
    n_valid = np.full(x.shape[1], x.shape[0]) if n_valid is None else np.asarray(n_valid)
    if n_seeds < 1 or noise_scale < 0 or n_valid.shape != (x.shape[1],) or n_valid.min() < 1:
        raise ValueError(f"need n_seeds >= 1, noise_scale >= 0 and n_valid (B,) >= 1; got "
                         f"{n_seeds}, {noise_scale}, {n_valid.shape}")
    trial = rng.integers(0, x.shape[1], n_seeds)
    steps = rng.integers(1, n_valid[trial] + 1)
    seeds = step.states_at(x[:, trial], steps)[:, 0]
    if noise_scale > 0:
        rms = seeds.pow(2).mean().sqrt()
        seeds = seeds + noise_scale * rms * step.as_tensor(rng.standard_normal(seeds.shape))
    return seeds


@dataclass
class FixedPoints:
    """Fixed and slow points found from K initial states (P unique points after merging).

    Per point: ``states (P, D)``, ``inputs (P, n_in)``, ``hidden (P, n_hidden)`` (the hidden
    activity of the step from the point; ``(P, 0)`` for a plain callable), ``q (P,)``,
    ``rel_step (P,)`` = ‖F(s) − s‖ / ‖s‖, ``is_fixed (P,)`` (False: slow point), ``n_seeds (P,)``
    initial states merged into it, ``source (P,)`` the initial state it was taken from,
    ``eigenvalues (P, n_eigs)`` complex, largest modulus first (NaN-padded),
    ``n_eigs_computed (P,)`` (D when the dense Jacobian was used), ``spectral_radius (P,)``,
    ``n_unstable (P,)``, ``n_marginal (P,)``. Per initial state: ``seed_point (K,)`` the point it
    ended at (−1: discarded), ``seed_q (K,)`` and ``seed_rel_step (K,)`` after optimisation.
    ``relax_steps``/``adam_steps``/``lbfgs_steps``: steps and iterations run;
    ``lbfgs_evaluations``: function evaluations of the L-BFGS phase.
    """

    states: np.ndarray
    inputs: np.ndarray
    hidden: np.ndarray
    q: np.ndarray
    rel_step: np.ndarray
    is_fixed: np.ndarray
    n_seeds: np.ndarray
    source: np.ndarray
    eigenvalues: np.ndarray
    n_eigs_computed: np.ndarray
    spectral_radius: np.ndarray
    n_unstable: np.ndarray
    n_marginal: np.ndarray
    seed_point: np.ndarray
    seed_q: np.ndarray
    seed_rel_step: np.ndarray
    relax_steps: int
    adam_steps: int
    lbfgs_steps: int
    lbfgs_evaluations: int

    def __len__(self) -> int:
        return len(self.q)

    def take(self, index: np.ndarray | Sequence[int]) -> FixedPoints:
        """The points at ``index`` (integer indices or a boolean mask); ``seed_point`` is
        renumbered (−1 for seeds whose point was dropped)."""
        idx = np.arange(len(self))[np.asarray(index)]
        renumber = np.full(len(self) + 1, -1)
        renumber[idx] = np.arange(len(idx))
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _POINT_FIELDS:
            values[name] = values[name][idx]
        values["seed_point"] = renumber[self.seed_point]
        return FixedPoints(**values)

    @property
    def fixed(self) -> FixedPoints:
        """The fixed points only."""
        return self.take(self.is_fixed)

    @property
    def slow(self) -> FixedPoints:
        """The slow points only."""
        return self.take(~self.is_fixed)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays for :func:`core.io.save_results` (states, inputs and hidden as float32;
        eigenvalues split into ``eigenvalues_real``/``eigenvalues_imag``)."""
        out = {}
        for f in fields(self):
            value = np.asarray(getattr(self, f.name))
            if f.name == "eigenvalues":
                out["eigenvalues_real"], out["eigenvalues_imag"] = value.real, value.imag
            elif f.name in ("states", "inputs", "hidden"):
                out[f.name] = value.astype(np.float32)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, np.ndarray]) -> FixedPoints:
        """Rebuild from :meth:`to_dict` output (as returned by :func:`core.io.load_results`)."""
        values = {f.name: d[f.name] for f in fields(cls) if f.name != "eigenvalues"}
        values["eigenvalues"] = np.asarray(d["eigenvalues_real"]) + 1j * np.asarray(
            d["eigenvalues_imag"])
        for name in ("relax_steps", "adam_steps", "lbfgs_steps", "lbfgs_evaluations"):
            values[name] = int(values[name])
        return cls(**values)


_POINT_FIELDS = ("states", "inputs", "hidden", "q", "rel_step", "is_fixed", "n_seeds", "source",
                 "eigenvalues", "n_eigs_computed", "spectral_radius", "n_unstable", "n_marginal")


def jacobian_eigenvalues(step: Step, state: np.ndarray | torch.Tensor,
                         inputs: np.ndarray | torch.Tensor, n_eigs: int = 10,
                         dense_max: int = 1024) -> np.ndarray:
    """Eigenvalues of ``∂F/∂s`` at ``state (D,)`` under ``inputs (n_in,)``, largest modulus first.

    ``D <= dense_max``: all D eigenvalues of the dense Jacobian (``torch.func.jacfwd``).
    Otherwise the ``n_eigs`` of largest modulus by ARPACK (``scipy.sparse.linalg.eigs``) on a
    ``LinearOperator`` whose product is a Jacobian-vector product (``torch.func.jvp``); if ARPACK
    does not converge, the eigenvalues it did converge (possibly fewer).
    """
    s = torch.as_tensor(state).detach()
    if isinstance(step, StepMap):
        s = s.to(device=step.device, dtype=step.dtype)
    u = torch.as_tensor(inputs).detach().to(device=s.device, dtype=s.dtype)

    def f(v: torch.Tensor) -> torch.Tensor:
        return step(v[None], u[None])[0]

    d = s.shape[0]
    if d <= dense_max or n_eigs >= d - 1:
        ev = np.linalg.eigvals(torch.func.jacfwd(f)(s).cpu().numpy())
    else:
        def matvec(v: np.ndarray) -> np.ndarray:
            tangent = torch.as_tensor(np.asarray(v).reshape(-1), dtype=s.dtype, device=s.device)
            return torch.func.jvp(f, (s,), (tangent,))[1].cpu().numpy()

        op = LinearOperator((d, d), matvec=matvec, dtype=np.float64)
        v0 = np.random.default_rng(0).standard_normal(d)
        try:
            ev = eigs(op, k=n_eigs, which="LM", return_eigenvectors=False, v0=v0, tol=1e-10,
                      maxiter=50 * d)
        except ArpackNoConvergence as exc:
            ev = exc.eigenvalues
    return ev[np.argsort(-np.abs(ev), kind="stable")]


def _as_batch(step_dtype: torch.dtype, device, a, k: int | None, width: int | None,
              name: str) -> torch.Tensor:
    t = torch.as_tensor(a, dtype=step_dtype, device=device)
    if t.ndim == 1 and k is not None:
        t = t.expand(k, -1)
    if t.ndim != 2 or (k is not None and t.shape[0] != k) or (width and t.shape[1] != width):
        raise ValueError(f"{name} must be ({k or 'K'}, {width or 'D'}), got {tuple(t.shape)}")
    return t


def find_fixed_points(step: Step, initial_states: np.ndarray | torch.Tensor,
                      inputs: np.ndarray | torch.Tensor, *, relax_steps: int = 0,
                      adam_steps: int = 200, adam_lr: float = 1e-2, lbfgs_steps: int = 500,
                      lbfgs_history: int = 10, fixed_tol: float = 1e-6, slow_tol: float = 1e-2,
                      merge_tol: float = 1e-3, n_eigs: int = 10, dense_max: int = 1024,
                      unstable_tol: float = 1e-3, marginal_tol: float = 0.05,
                      stability: bool = True) -> FixedPoints:
    """Fixed and slow points of ``step`` from ``initial_states (K, D)`` (module docstring).

    Args:
        step: a :class:`StepMap` or any callable ``F(s (K, D), u (K, n_in)) -> (K, D)``
            differentiable by torch (a plain callable runs in the dtype of ``initial_states``).
        initial_states: ``(K, D)`` seeds, e.g. from :func:`trajectory_seeds`.
        inputs: the constant input ``(n_in,)`` for every seed or ``(K, n_in)`` one per seed;
            points are merged only between seeds with identical inputs.
        relax_steps: first advance every initial state this many steps of ``F`` under its
            input. Stable points of slowly contracting maps (an MPN's M at λ = 0.99) are
            reached this way far faster than by minimising q, but unstable points are not;
            then pass ``adam_steps=0``, since Adam's first steps move every coordinate by about
            ``adam_lr`` whatever the gradient.
        adam_steps, adam_lr: Adam iterations and initial learning rate (0 steps skips Adam).
        lbfgs_steps: maximum L-BFGS iterations (0 skips L-BFGS).
        lbfgs_history: L-BFGS memory; it holds ``2 · lbfgs_history · K · D`` numbers (K = 64
            M states of a 200-unit MPN: 410 MB in float64 at the default 10).
        fixed_tol, slow_tol: relative-step thresholds of fixed and slow points.
        merge_tol: relative distance under which two points are one.
        n_eigs, dense_max, unstable_tol, marginal_tol: stability (:func:`jacobian_eigenvalues`).
        stability: False skips the eigenvalues (left NaN, counts −1), e.g. to time the solver.

    Returns:
        :class:`FixedPoints` (possibly empty). ValueError for bad shapes or options.
    """
    if min(relax_steps, adam_steps, lbfgs_steps) < 0 or adam_lr <= 0 or min(
            n_eigs, lbfgs_history) < 1:
        raise ValueError(f"need relax_steps, adam_steps, lbfgs_steps >= 0, adam_lr > 0, "
                         f"n_eigs >= 1, lbfgs_history >= 1; got {relax_steps}, {adam_steps}, "
                         f"{lbfgs_steps}, {adam_lr}, {n_eigs}, {lbfgs_history}")
    if not 0 < fixed_tol <= slow_tol or merge_tol < 0:
        raise ValueError(f"need 0 < fixed_tol <= slow_tol and merge_tol >= 0, got {fixed_tol}, "
                         f"{slow_tol}, {merge_tol}")
    if isinstance(step, StepMap):
        dtype, device, width, n_in = step.dtype, step.device, step.n_state, step.n_in
    else:
        s0 = torch.as_tensor(initial_states)
        dtype = s0.dtype if s0.is_floating_point() else torch.float64
        device, width, n_in = s0.device, None, None
    s0 = _as_batch(dtype, device, initial_states, None, width, "initial_states")
    k = s0.shape[0]
    u = _as_batch(dtype, device, inputs, k, n_in, "inputs")

    def q_of(s: torch.Tensor) -> torch.Tensor:
        r = step(s, u) - s
        return 0.5 * (r * r).sum(-1)

    with torch.no_grad():
        for _ in range(relax_steps):
            s0 = step(s0, u)
    s = s0.clone().requires_grad_(True)
    if adam_steps:
        adam = torch.optim.Adam([s], lr=adam_lr)
        decay = torch.optim.lr_scheduler.ExponentialLR(adam, gamma=0.01 ** (1 / adam_steps))
        for _ in range(adam_steps):
            adam.zero_grad()
            q_of(s).sum().backward()
            adam.step()
            decay.step()
    n_iter = n_eval = 0
    if lbfgs_steps:
        lbfgs = torch.optim.LBFGS([s], lr=1.0, max_iter=lbfgs_steps, max_eval=2 * lbfgs_steps,
                                  history_size=lbfgs_history, tolerance_grad=1e-15,
                                  tolerance_change=1e-30, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            lbfgs.zero_grad()
            loss = q_of(s).sum()
            loss.backward()
            return loss

        lbfgs.step(closure)
        n_iter = int(lbfgs.state[s].get("n_iter", 0))
        n_eval = int(lbfgs.state[s].get("func_evals", 0))
    with torch.no_grad():
        s = s.detach()
        f_s, hidden = step.step(s, u) if isinstance(step, StepMap) else (step(s, u), None)
        residual = (f_s - s).norm(dim=-1)
        norm = s.norm(dim=-1)
        rel = (residual / norm.clamp_min(torch.finfo(dtype).tiny)).cpu().numpy()
        q = (0.5 * residual ** 2).cpu().numpy()
    rel = np.where(np.isfinite(rel), rel, np.inf)
    keep = np.flatnonzero(rel < slow_tol)
    keep = keep[np.argsort(rel[keep], kind="stable")]
    reps: list[int] = []
    seed_point = np.full(k, -1)
    for i in keep:
        if reps:
            r = torch.as_tensor(reps, device=device)
            same_input = (u[r] == u[i]).all(-1)
            dist = (s[r] - s[i]).norm(dim=-1)
            close = same_input & (dist <= merge_tol * torch.maximum(norm[r], norm[i]))
            if bool(close.any()):
                seed_point[i] = int(torch.nonzero(close)[0, 0])
                continue
        seed_point[i] = len(reps)
        reps.append(int(i))
    idx = np.asarray(reps, dtype=np.int64)
    eig = np.full((len(idx), n_eigs), np.nan + 0j)
    n_computed = np.zeros(len(idx), dtype=np.int64)
    radius = np.full(len(idx), np.nan)
    n_unstable = np.full(len(idx), -1, dtype=np.int64)
    n_marginal = np.full(len(idx), -1, dtype=np.int64)
    for p, i in enumerate(idx if stability else []):
        ev = jacobian_eigenvalues(step, s[i], u[i], n_eigs, dense_max)
        m = min(n_eigs, len(ev))
        eig[p, :m] = ev[:m]
        n_computed[p] = len(ev)
        radius[p] = np.abs(ev).max() if len(ev) else np.nan
        n_unstable[p] = int((np.abs(ev) > 1 + unstable_tol).sum())
        n_marginal[p] = int((np.abs(ev - 1) < marginal_tol).sum())
    n_hidden = 0 if hidden is None else hidden.shape[-1]
    return FixedPoints(
        states=s[idx].cpu().numpy(), inputs=u[idx].cpu().numpy(),
        hidden=(np.zeros((len(idx), 0)) if hidden is None
                else hidden[idx].reshape(len(idx), n_hidden).cpu().numpy()),
        q=q[idx], rel_step=rel[idx], is_fixed=rel[idx] < fixed_tol,
        n_seeds=np.bincount(seed_point[seed_point >= 0], minlength=len(idx)).astype(np.int64),
        source=idx, eigenvalues=eig, n_eigs_computed=n_computed, spectral_radius=radius,
        n_unstable=n_unstable, n_marginal=n_marginal, seed_point=seed_point, seed_q=q,
        seed_rel_step=rel, relax_steps=relax_steps, adam_steps=adam_steps, lbfgs_steps=n_iter,
        lbfgs_evaluations=n_eval)


def epoch_fixed_points(model: torch.nn.Module, trials: Trials, *,
                       epochs: Sequence[str] | None = None, n_noise: int = 7,
                       noise_scale: float = 0.05, seed: int = 0,
                       hidden_mask: torch.Tensor | np.ndarray | None = None,
                       progress: bool = False, **options) -> dict[str, dict[str, np.ndarray]]:
    """Fixed points of every epoch of ``trials``, seeded from the state at each epoch's end.

    For each epoch (``epochs``: names in ``trials.epochs``; default every epoch present) and each
    trial that has it, the input is the trial's mean input over the epoch (constant in noiseless
    test trials), and the seeds are the model's state at the epoch's end plus ``n_noise`` copies
    with Gaussian noise of standard deviation ``noise_scale`` times that state's root-mean-square
    coordinate. All trials of an epoch are solved in one batch by :func:`find_fixed_points`
    (``options`` are passed on); points of trials with identical epoch inputs (e.g. the delay
    epoch of one rule) are merged when they coincide.

    Returns ``{epoch: arrays}`` ready for :func:`core.io.save_results`: the arrays of
    :meth:`FixedPoints.to_dict` plus ``trial (P,)`` (the trial each point was found for),
    ``seed_trial (K,)`` and ``end_distance (B,)``, the distance from each trial's state at the
    epoch's end to the nearest point found for it, relative to that state's norm (NaN when the
    trial lacks the epoch or no point was found). Rebuild the points with
    :meth:`FixedPoints.from_dict`. Epochs no trial has are left out (``{}`` if none is left).
    ValueError for an unknown epoch or a bad ``n_noise``.

    For an MPN with slowly decaying M (λ ≈ 0.99) pass ``relax_steps=2000, adam_steps=0``:
    minimising q alone ends in slow points there (README, "Fixed points").
    """
    names = [e for e in EPOCHS if e in trials.epochs] if epochs is None else list(epochs)
    unknown = [e for e in names if e not in trials.epochs]
    if unknown or n_noise < 0 or noise_scale < 0:
        raise ValueError(f"unknown epochs {unknown} (have {sorted(trials.epochs)}) or negative "
                         f"n_noise/noise_scale ({n_noise}, {noise_scale})")
    bounds = {e: np.asarray(trials.epochs[e]) for e in names}
    names = [e for e in names if (bounds[e][:, 1] > bounds[e][:, 0]).any()
             and (bounds[e][:, 0] >= 0).any()]
    if not names:  # no trial has any of the epochs
        return {}
    step = step_map(model, hidden_mask=hidden_mask)
    ends = np.stack([np.clip(bounds[e][:, 1], 0, trials.n_steps) for e in names], axis=1)
    end_states = step.states_at(trials.x, ends)
    rng = np.random.default_rng(seed)
    x = np.asarray(trials.x, dtype=np.float64)
    results = {}
    for j, epoch in enumerate(tqdm(names, disable=not progress, desc="epoch fixed points")):
        start, end = bounds[epoch][:, 0], bounds[epoch][:, 1]
        has = np.flatnonzero((start >= 0) & (end > start))
        inputs = np.stack([x[start[b]:end[b], b].mean(axis=0) for b in has])
        base = end_states[has, j]
        rms = base.pow(2).mean(-1, keepdim=True).sqrt()
        noise = step.as_tensor(rng.standard_normal((n_noise, *base.shape)))
        seeds = torch.cat([base[None], base[None] + noise_scale * rms * noise]).reshape(
            -1, step.n_state)
        seed_trial = np.tile(has, n_noise + 1)
        fp = find_fixed_points(step, seeds, np.tile(inputs, (n_noise + 1, 1)), **options)
        distance = np.full(trials.batch_size, np.nan)
        points = torch.as_tensor(fp.states, dtype=step.dtype, device=step.device)
        for k, b in enumerate(has):
            mine = np.unique(fp.seed_point[(seed_trial == b) & (fp.seed_point >= 0)])
            if len(mine):
                d = (points[mine] - base[k]).norm(dim=-1).min() / base[k].norm().clamp_min(
                    torch.finfo(step.dtype).tiny)
                distance[b] = float(d)
        results[epoch] = {**fp.to_dict(), "trial": seed_trial[fp.source], "seed_trial": seed_trial,
                          "end_distance": distance}
    return results


def pair_fixed_points(model: torch.nn.Module, trials: Mapping[str, Trials], *,
                      epoch: str = "delay1", n_seeds: int = 32, n_trajectories: int = 8,
                      n_components: int = 3, seed: int = 0, progress: bool = False,
                      **find_options) -> dict:
    """Fixed points of one epoch for each rule of a pair, on the pair's leading PCs.

    For each rule of ``trials`` (``{rule: Trials}``, noise-free so that the epoch's input is
    constant, e.g. the fixation and rule cue of a delay), ``n_seeds`` initial states are the
    model's states after a uniformly drawn number of steps ``1..len`` of ``epoch`` of uniformly
    drawn trials (with replacement), each solved under its trial's mean input over the epoch by
    :func:`find_fixed_points` (``find_options`` passed on, e.g. ``relax_steps=2000,
    adam_steps=0`` for an MPN). The trajectories of the first ``n_trajectories`` trials of each
    rule that have the epoch give the pair's data: its hidden activity and, for a one-layer MPN,
    ``W ⊙ M`` (last layer, flattened) at every valid step of both rules are fitted by one PCA per
    kind (``n_components``, fewer when the data have fewer dimensions), and the trajectories and
    the points (their hidden activity, :attr:`FixedPoints.hidden`, and their ``W ⊙ M``) are
    projected on it.

    Returns ``{"rules" (2,), "epoch", "explained": {kind: (k,)}, rule: {...}}`` where each rule
    holds :meth:`FixedPoints.to_dict` (P points; ``seed_trial (n_seeds,)``, ``seed_step``), the
    points' ``projection`` ``{kind: (P, k)}`` and ``trajectory`` ``{kind: (T, n_traj, k)}`` (NaN
    after a trial's end) with ``n_valid (n_traj,)``; ``kind`` is ``hidden`` and, for a one-layer
    MPN, ``WM``. ValueError unless ``trials`` holds two rules that all have ``epoch``, or for
    ``n_seeds``/``n_trajectories``/``n_components`` below 1.
    """
    if len(trials) != 2 or min(n_seeds, n_trajectories, n_components) < 1:
        raise ValueError(f"need two rules and n_seeds, n_trajectories, n_components >= 1; got "
                         f"{list(trials)}, {n_seeds}, {n_trajectories}, {n_components}")
    step = step_map(model)
    weight = step.model.layers[-1].W.cpu().numpy() if "M" in step.parts else None
    rng = np.random.default_rng(seed)
    out: dict = {"rules": np.asarray(list(trials)), "epoch": np.asarray(epoch)}
    data: dict[str, dict[str, np.ndarray]] = {}
    for rule, batch in tqdm(trials.items(), disable=not progress, desc=f"{epoch} fixed points"):
        bounds = np.asarray(batch.epochs.get(epoch, np.full((batch.batch_size, 2), -1)))
        has = np.flatnonzero((bounds[:, 0] >= 0) & (bounds[:, 1] > bounds[:, 0]))
        if not has.size:
            raise ValueError(f"no trial of {rule} has the epoch {epoch!r}")
        x = np.asarray(batch.x, dtype=np.float64)
        trial = rng.choice(has, n_seeds)
        at = rng.integers(bounds[trial, 0] + 1, bounds[trial, 1] + 1)
        seeds = step.states_at(x[:, trial], at)[:, 0]
        inputs = np.stack([x[bounds[b, 0]:bounds[b, 1], b].mean(0) for b in trial])
        fp = find_fixed_points(step, seeds, inputs, **find_options)
        shown = batch.take(has[:n_trajectories])
        _, states = run_model(model, shown.x, track_states=True)
        kinds = {"hidden": states["hidden"]}
        points = {"hidden": fp.hidden}
        if weight is not None:
            kinds["WM"] = (states["M"] * weight).reshape(*states["M"].shape[:2], -1)
            m = step.unflatten(step.as_tensor(fp.states))["M"].cpu().numpy()
            points["WM"] = (m * weight).reshape(len(fp), -1)
        valid = np.arange(shown.n_steps)[:, None] < shown.n_steps_valid[None]
        data[rule] = {"kinds": kinds, "points": points, "valid": valid}
        out[rule] = {**fp.to_dict(), "seed_trial": trial, "seed_step": at,
                     "n_valid": shown.n_steps_valid}
    out["explained"] = {}
    for kind in data[next(iter(trials))]["kinds"]:
        space = StateSpace(n_components).fit(
            np.concatenate([d["kinds"][kind][d["valid"]] for d in data.values()]))
        out["explained"][kind] = space.explained_variance_ratio_
        for rule, d in data.items():
            path = space.transform(d["kinds"][kind])
            path[~d["valid"]] = np.nan
            out[rule].setdefault("trajectory", {})[kind] = path
            scores = (space.transform(d["points"][kind]) if len(d["points"][kind])
                      else np.zeros((0, len(space.explained_variance_ratio_))))
            out[rule].setdefault("projection", {})[kind] = scores
    return out
