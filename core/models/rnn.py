"""Recurrent baselines: a leaky (vanilla) RNN and a GRU, each with its own hidden state per sample.

LeakyRNN follows Yang et al. (2019), Nat. Neurosci. 22:297 ("Task representations in neural
networks trained to perform many cognitive tasks")::

    h_t = (1 − α) h_{t−1} + α f(W_rec h_{t−1} + W_in x_t + b + √(2/α) σ_rec ξ_t),   α = dt / τ

with ξ_t ~ N(0, 1) only in training mode; y_t = W_out h_t + b_out. The MultiTaskMPN lab's
baseline uses α = 0.2 (dt = 40 ms, τ = 200 ms, the defaults here). The state starts at zero for
every sample and is never shared across the batch (the reference code keeps one hidden state for
the whole batch, a bug).

GRUNet is ``torch.nn.GRU`` (Cho et al. 2014) with a linear readout; with a ``hidden_mask`` it
steps the same weights through :func:`gru_step` so the mask can act after every step. For
closed-loop use it has the stateful API of the Mixture-of-Pathways network: ``logits, state =
model.step(obs, state)`` with a :class:`GRUState` whose ``reset(done)`` zeroes finished
environments; ``T`` calls of ``step`` from the zero state give ``forward``'s outputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from core.models.plasticity import ACTIVATIONS


@dataclass
class LeakyRNNConfig:
    """Leaky RNN hyper-parameters (α = dt / tau must lie in (0, 1]). ``w_rec_init``:
    'orthogonal' (gain ``w_rec_gain``) or 'identity' (``w_rec_gain · I``)."""

    n_in: int = 21
    n_hidden: int = 300
    n_out: int = 3
    activation: str = "tanh"
    dt: float = 40.0
    tau: float = 200.0
    sigma_rec: float = 0.0
    w_rec_gain: float = 1.0
    w_rec_init: str = "orthogonal"
    output_bias: bool = False

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if not 0.0 < self.dt / self.tau <= 1.0:
            raise ValueError(f"alpha = dt / tau must lie in (0, 1], got {self.dt}/{self.tau}")
        if self.w_rec_init not in ("orthogonal", "identity"):
            raise ValueError(f"w_rec_init must be 'orthogonal' or 'identity', "
                             f"got {self.w_rec_init!r}")
        if self.sigma_rec < 0:
            raise ValueError(f"sigma_rec must be >= 0, got {self.sigma_rec}")
        for name in ("n_in", "n_hidden", "n_out"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def alpha(self) -> float:
        """α = dt / τ."""
        return self.dt / self.tau


def leaky_step(h: torch.Tensor, drive: torch.Tensor, w_rec: torch.Tensor, alpha: float,
               activation: str) -> torch.Tensor:
    """One leaky-RNN step: ``h (B, H)``, ``drive = W_in x + b (+ noise) (B, H)``,
    ``w_rec (H, H)`` → ``h' (B, H)``."""
    return (1.0 - alpha) * h + alpha * ACTIVATIONS[activation](drive + h @ w_rec.T)


class LeakyRNN(nn.Module):
    """Leaky RNN: ``x (T, B, n_in)`` → ``y (T, B, n_out)``; states["hidden"] (T, B, n_hidden)."""

    def __init__(self, config: LeakyRNNConfig):
        super().__init__()
        self.config = config
        c = config
        self.w_in = nn.Linear(c.n_in, c.n_hidden)
        self.w_rec = nn.Parameter(torch.empty(c.n_hidden, c.n_hidden))
        if c.w_rec_init == "identity":  # w_rec_gain · I (the MPN lab's pretraining RNN: 0.8 · I)
            with torch.no_grad():
                self.w_rec.copy_(c.w_rec_gain * torch.eye(c.n_hidden))
        else:
            nn.init.orthogonal_(self.w_rec, gain=c.w_rec_gain)
        self.readout = nn.Linear(c.n_hidden, c.n_out, bias=c.output_bias)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LeakyRNN:
        """Build from a plain dict as returned by :meth:`config_dict`."""
        return cls(LeakyRNNConfig(**config))

    def config_dict(self) -> dict[str, Any]:
        """JSON-able config."""
        return asdict(self.config)

    def extra_repr(self) -> str:
        c = self.config
        return f"n_hidden={c.n_hidden}, alpha={c.alpha:.3g}, activation={c.activation}"

    def forward(self, x: torch.Tensor, track_states: bool = False,
                hidden_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``x (T, B, n_in)`` → ``y (T, B, n_out)``; ``hidden_mask (n_hidden,)`` multiplies h."""
        c = self.config
        if x.ndim != 3 or x.shape[-1] != c.n_in:
            raise ValueError(f"x must have shape (T, B, {c.n_in}), got {tuple(x.shape)}")
        drive = self.w_in(x)
        if self.training and c.sigma_rec > 0:
            drive = drive + math.sqrt(2.0 / c.alpha) * c.sigma_rec * torch.randn_like(drive)
        h = x.new_zeros(x.shape[1], c.n_hidden)
        hs = []
        for t in range(x.shape[0]):
            h = leaky_step(h, drive[t], self.w_rec, c.alpha, c.activation)
            if hidden_mask is not None:
                h = h * hidden_mask
            hs.append(h)
        hidden = torch.stack(hs)
        return self.readout(hidden), ({"hidden": hidden} if track_states else {})


@dataclass
class GRUConfig:
    """GRU hyper-parameters."""

    n_in: int = 21
    n_hidden: int = 300
    n_out: int = 3
    output_bias: bool = False

    def __post_init__(self) -> None:
        for name in ("n_in", "n_hidden", "n_out"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def gru_step(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
             b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """One GRU step in PyTorch's convention (gates ordered r, z, n).

    ``x (B, n_in)``, ``h (B, H)``, ``w_ih (3H, n_in)``, ``w_hh (3H, H)`` → ``h' (B, H)``.
    """
    gi = x @ w_ih.T + b_ih
    gh = h @ w_hh.T + b_hh
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1.0 - z) * n + z * h


@dataclass
class GRUState:
    """Hidden state ``hidden (B, n_hidden)`` of a :class:`GRUNet` for the stateful ``step`` API."""

    hidden: torch.Tensor

    def reset(self, done: torch.Tensor) -> GRUState:
        """A new state with the rows of finished environments (``done (B,) bool``) zeroed."""
        return GRUState(self.hidden * (~done.bool()).to(self.hidden.dtype)[:, None])


class GRUNet(nn.Module):
    """GRU: ``x (T, B, n_in)`` → ``y (T, B, n_out)``; ``states["hidden"] (T, B, n_hidden)``."""

    def __init__(self, config: GRUConfig):
        super().__init__()
        self.config = config
        self.gru = nn.GRU(config.n_in, config.n_hidden)
        self.readout = nn.Linear(config.n_hidden, config.n_out, bias=config.output_bias)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GRUNet:
        """Build from a plain dict as returned by :meth:`config_dict`."""
        return cls(GRUConfig(**config))

    def config_dict(self) -> dict[str, Any]:
        """JSON-able config."""
        return asdict(self.config)

    def extra_repr(self) -> str:
        return f"n_hidden={self.config.n_hidden}"

    def forward(self, x: torch.Tensor, track_states: bool = False,
                hidden_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``x (T, B, n_in)`` → ``y (T, B, n_out)``; ``hidden_mask (n_hidden,)`` multiplies h."""
        if x.ndim != 3 or x.shape[-1] != self.config.n_in:
            raise ValueError(f"x must have shape (T, B, {self.config.n_in}), got {tuple(x.shape)}")
        if hidden_mask is None:
            hidden, _ = self.gru(x)
        else:
            g = self.gru
            h = x.new_zeros(x.shape[1], self.config.n_hidden)
            hs = []
            for t in range(x.shape[0]):
                h = gru_step(x[t], h, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0,
                             g.bias_hh_l0) * hidden_mask
                hs.append(h)
            hidden = torch.stack(hs)
        return self.readout(hidden), ({"hidden": hidden} if track_states else {})

    def initial_state(self, batch_size: int, device: torch.device | str | None = None
                      ) -> GRUState:
        """Zero state for ``batch_size`` environments."""
        dev = device if device is not None else self.readout.weight.device
        return GRUState(torch.zeros(batch_size, self.config.n_hidden, device=dev))

    def step(self, obs: torch.Tensor, state: GRUState) -> tuple[torch.Tensor, GRUState]:
        """One time step for closed-loop use: ``obs (B, n_in)`` -> logits ``(B, n_out)``."""
        if obs.ndim != 2 or obs.shape[-1] != self.config.n_in:
            raise ValueError(f"obs must have shape (B, {self.config.n_in}), got {tuple(obs.shape)}")
        _, h = self.gru(obs[None], state.hidden[None])
        return self.readout(h[0]), GRUState(h[0])
