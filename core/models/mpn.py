"""DeepMultiPlasticNet: input embedding, one or more multi-plastic layers, linear readout.

Aitken & Mihalas (2023), eLife 12:e83035, and the MultiTaskMPN lab's ``DeepMultiPlasticNet``::

    x_t = f(W_in u_t) ⊙ input_mask                       (optional input layer, no bias)
    h_t = f((W + W ⊙ M_t) x_t + b [+ W_rec h_{t-1}]) ⊙ hidden_mask
    M_{t+1} = clamp(g(λ ⊙ M_t + η ⊙ h_t x_tᵀ), m_min, m_max)
    y_t = W_out h_t (+ b_out)

The per-step math and its variants (add/mult, hebb_assoc/hebb_pre/oja, η/λ shapes, bounds,
frozen synapses) live in :mod:`core.models.plasticity`. M is reset to ``M_init`` (zeros, or a
learned matrix) at the start of every trial.

λ parametrisation: fixed λ is a buffer; trainable λ is ``sigmoid(θ)``, so it stays in (0, 1)
(the reference code instead clamps λ to [0, λ_max] after each optimiser step). When ``lam_init``
is None, λ = 1 − dt / m_time_scale, the reference's rule (4000 ms at dt = 40 ms → λ = 0.99).
η is unconstrained and initialised to ``eta_init`` (reference: 1.0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from core.models.plasticity import (
    ACTIVATIONS,
    MP_TYPES,
    PARAM_KINDS,
    UPDATE_RULES,
    PlasticRule,
    PlasticSequence,
    compiled_kernel_usable,
    expand_param,
    plastic_step,
)

IMPLEMENTATIONS = ("fused", "compiled", "stepwise")


@dataclass
class MPNConfig:
    """Hyper-parameters; defaults are the MultiTaskMPN paper configuration.

    ``n_layers`` plastic layers of ``n_hidden`` units each; ``n_embed`` units in the input layer
    (when ``input_layer``). ``batch_chunk`` samples are processed together by the fused kernel
    (0: 8 on CPU, the whole batch on GPU). ``implementation="stepwise"`` runs the per-step
    function under plain autograd (slow; for checks and benchmarks); ``"compiled"`` runs the fused
    kernel's per-step math through ``torch.compile`` (falls back to ``"fused"`` with a warning
    when compiling fails).
    """

    n_in: int = 21
    n_hidden: int = 300
    n_out: int = 3
    n_layers: int = 1
    input_layer: bool = True
    n_embed: int = 300
    train_input_layer: bool = True
    activation: str = "tanh"
    layer_bias: bool = True
    output_bias: bool = False
    recurrent: bool = False
    train_W: bool = True
    mp_type: str = "mult"
    update: str = "hebb_assoc"
    m_activation: str = "linear"
    m_bounds: tuple[float, float] | None = (-1.0, 1.0)
    eta_type: str = "scalar"
    eta_train: bool = True
    eta_init: float = 1.0
    lam_type: str = "scalar"
    lam_train: bool = False
    lam_init: float | None = None
    m_time_scale: float = 4000.0
    dt: float = 40.0
    learn_M_init: bool = False
    batch_chunk: int = 0
    implementation: str = "fused"

    def __post_init__(self) -> None:
        if self.m_bounds is not None:
            self.m_bounds = (float(self.m_bounds[0]), float(self.m_bounds[1]))
            if not self.m_bounds[0] < self.m_bounds[1]:
                raise ValueError(f"m_bounds must be (low, high) with low < high, "
                                 f"got {self.m_bounds}")
        for name, value, allowed in (
            ("activation", self.activation, tuple(ACTIVATIONS)),
            ("m_activation", self.m_activation, tuple(ACTIVATIONS)),
            ("mp_type", self.mp_type, MP_TYPES),
            ("update", self.update, UPDATE_RULES),
            ("eta_type", self.eta_type, PARAM_KINDS),
            ("lam_type", self.lam_type, PARAM_KINDS),
            ("implementation", self.implementation, IMPLEMENTATIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
        for name in ("n_in", "n_hidden", "n_out", "n_layers", "n_embed"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_chunk < 0:
            raise ValueError(f"batch_chunk must be >= 0, got {self.batch_chunk}")
        if self.m_time_scale <= self.dt:
            raise ValueError(f"m_time_scale ({self.m_time_scale}) must exceed dt ({self.dt})")
        if not 0.0 < self.lam_value < 1.0:
            raise ValueError(f"lambda must lie in (0, 1), got {self.lam_value}")

    @property
    def lam_value(self) -> float:
        """Initial λ: ``lam_init`` or 1 − dt / m_time_scale."""
        if self.lam_init is not None:
            return float(self.lam_init)
        return 1.0 - self.dt / self.m_time_scale


def _param_shape(kind: str, n_post: int, n_pre: int) -> tuple[int, ...]:
    return {"scalar": (), "pre_vector": (n_pre,), "post_vector": (n_post,),
            "matrix": (n_post, n_pre)}[kind]


class PlasticLayer(nn.Module):
    """One multi-plastic layer: ``x (T, B, n_pre)`` → ``h (T, B, n_post)``.

    Buffers: ``plasticity_mask (n_post, n_pre)`` (1 = plastic, 0 = M frozen at its initial
    value). W is a buffer when ``train_W`` is False.
    """

    def __init__(self, n_pre: int, n_post: int, config: MPNConfig):
        super().__init__()
        c = config
        self.rule = PlasticRule(c.mp_type, c.update, c.activation, c.m_activation, c.m_bounds)
        self.eta_type, self.lam_type = c.eta_type, c.lam_type
        W = torch.empty(n_post, n_pre)
        nn.init.xavier_normal_(W)
        if c.train_W:
            self.W = nn.Parameter(W)
        else:
            self.register_buffer("W", W)
        self.b = nn.Parameter(torch.randn(n_post) * 0.1) if c.layer_bias else None
        self.w_rec = None
        if c.recurrent:
            self.w_rec = nn.Parameter(torch.randn(n_post, n_post) / math.sqrt(n_post))
        eta = torch.full(_param_shape(c.eta_type, n_post, n_pre), float(c.eta_init))
        if c.eta_train:
            self.eta = nn.Parameter(eta)
        else:
            self.register_buffer("eta", eta)
        lam = torch.full(_param_shape(c.lam_type, n_post, n_pre), c.lam_value)
        if c.lam_train:
            self.lam_logit = nn.Parameter(torch.logit(lam.double()).float())
        else:
            self.register_buffer("lam_fixed", lam)
        M_init = torch.zeros(n_post, n_pre)
        if c.learn_M_init:
            self.M_init = nn.Parameter(M_init)
        else:
            self.register_buffer("M_init", M_init)
        self.register_buffer("plasticity_mask", torch.ones(n_post, n_pre))

    @property
    def lam(self) -> torch.Tensor:
        """λ in its stored shape, always in (0, 1)."""
        return torch.sigmoid(self.lam_logit) if hasattr(self, "lam_logit") else self.lam_fixed

    def _mask(self) -> torch.Tensor | None:
        return None if bool((self.plasticity_mask == 1).all()) else self.plasticity_mask

    def forward(self, x: torch.Tensor, hidden_mask: torch.Tensor | None, chunk: int,
                stepwise: bool, track: bool, compiled: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x (T, B, n_pre)`` → ``h (T, B, n_post)`` and, when ``track``, M before each step
        ``(T, B, n_post, n_pre)`` (recorded in a second, gradient-free pass). ``compiled``
        selects the torch.compile kernel (when it has not failed before)."""
        pm = self._mask()
        if stepwise:
            h = self._stepwise(x, hidden_mask, pm)[0]
        else:
            h = PlasticSequence.apply(x, self.W, self.b, self.w_rec, self.eta, self.lam,
                                      self.M_init, pm, hidden_mask, self.rule, self.eta_type,
                                      self.lam_type, chunk,
                                      compiled and compiled_kernel_usable())
        if not track:
            return h, None
        with torch.no_grad():
            return h, self._stepwise(x, hidden_mask, pm, record=True)[1]

    def _stepwise(self, x: torch.Tensor, hidden_mask: torch.Tensor | None,
                  pm: torch.Tensor | None, record: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Loop :func:`plastic_step` over time (plain autograd); optionally stack M per step."""
        eta, lam = expand_param(self.eta, self.eta_type), expand_param(self.lam, self.lam_type)
        M = self.M_init.expand(x.shape[1], *self.M_init.shape)
        h_prev, hs, Ms = None, [], []
        for t in range(x.shape[0]):
            if record:
                Ms.append(M)
            _, h_prev, M = plastic_step(x[t], h_prev, M, self.W, self.b, self.w_rec, eta, lam,
                                        self.M_init, pm, hidden_mask, self.rule)
            hs.append(h_prev)
        return torch.stack(hs), (torch.stack(Ms) if record else None)


class DeepMultiPlasticNet(nn.Module):
    """MPN behind the shared model interface: ``x (T, B, n_in)`` → ``y (T, B, n_out)``."""

    def __init__(self, config: MPNConfig):
        super().__init__()
        self.config = config
        c = config
        act = ACTIVATIONS[c.activation]
        self._act = act
        n_pre = c.n_in
        self.w_in = None
        if c.input_layer:
            self.w_in = nn.Linear(c.n_in, c.n_embed, bias=False)
            nn.init.xavier_normal_(self.w_in.weight)
            self.w_in.weight.requires_grad_(c.train_input_layer)
            n_pre = c.n_embed
        self.layers = nn.ModuleList()
        for _ in range(c.n_layers):
            self.layers.append(PlasticLayer(n_pre, c.n_hidden, c))
            n_pre = c.n_hidden
        self.readout = nn.Linear(c.n_hidden, c.n_out, bias=c.output_bias)
        nn.init.xavier_normal_(self.readout.weight)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DeepMultiPlasticNet:
        """Build from a plain dict as returned by :meth:`config_dict`."""
        return cls(MPNConfig(**config))

    def config_dict(self) -> dict[str, Any]:
        """JSON-able config."""
        d = asdict(self.config)
        d["m_bounds"] = list(d["m_bounds"]) if d["m_bounds"] is not None else None
        return d

    def extra_repr(self) -> str:
        c = self.config
        return (f"n_in={c.n_in}, n_hidden={c.n_hidden}, n_out={c.n_out}, layers={c.n_layers}, "
                f"{c.mp_type}/{c.update}, eta={c.eta_type}{'(train)' if c.eta_train else ''}, "
                f"lam={c.lam_type}{'(train)' if c.lam_train else ''}={c.lam_value:.4g}")

    @property
    def plasticity_mask(self) -> torch.Tensor:
        """The last plastic layer's ``plasticity_mask (n_hidden, n_pre)`` buffer (edit in place)."""
        return self.layers[-1].plasticity_mask

    def _chunk(self, x: torch.Tensor) -> int:
        if self.config.batch_chunk > 0:
            return self.config.batch_chunk
        return x.shape[1] if x.is_cuda else 8

    def forward(self, x: torch.Tensor, track_states: bool | str = False,
                hidden_mask: torch.Tensor | None = None,
                input_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``x (T, B, n_in)`` → ``y (T, B, n_out)`` and states.

        ``hidden_mask (n_hidden,)`` multiplies the last plastic layer's activity every step;
        ``input_mask (n_embed,)`` the input layer's. With ``track_states``: ``"input"``
        (T, B, n_pre), the activity entering the first plastic layer; ``"hidden"``
        (T, B, n_hidden) and ``"M"`` (T, B, n_hidden, n_pre) of the last layer (M as used at
        each step, before its update); plus ``"hidden{l}"``/``"M{l}"`` per layer when there
        are several. Activities keep their gradient (for activity penalties); M is recorded
        without gradient in a second pass, so it costs T·B·n_hidden·n_pre floats: with
        ``track_states="hidden"`` only the activities are returned.
        """
        if x.ndim != 3 or x.shape[-1] != self.config.n_in:
            raise ValueError(f"x must have shape (T, B, {self.config.n_in}), got {tuple(x.shape)}")
        inp = self._act(self.w_in(x)) if self.w_in is not None else x
        if input_mask is not None:
            inp = inp * input_mask
        states: dict[str, torch.Tensor] = {}
        if track_states:
            states["input"] = inp
        stepwise = self.config.implementation == "stepwise"
        h = inp
        for i, layer in enumerate(self.layers):
            mask = hidden_mask if i == len(self.layers) - 1 else None
            h, M = layer(h, mask, self._chunk(x), stepwise, track_states is True,
                         self.config.implementation == "compiled")
            if track_states:
                states["hidden"] = h
                if len(self.layers) > 1:
                    states[f"hidden{i}"] = h
                if M is not None:
                    states["M"] = M
                    if len(self.layers) > 1:
                        states[f"M{i}"] = M
        return self.readout(h), states
