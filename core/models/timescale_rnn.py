"""RNN with trainable per-neuron timescales and one readout head per memory length N.

Khajehabdollahi, Zeraati et al. (ICLR 2024), "Emergent mechanisms for long timescales depend on
training curriculum and affect performance in memory tasks". With ``a = 1/τ`` (one τ per neuron):

- ``placement="after_leak"`` (the paper's default model): ``h' = f((1−a)·h + a·(W h + U x + b))``
- ``placement="before_leak"`` (the paper's modified model): ``h' = (1−a)·h + a·f(W h + U x + b)``

τ is kept ≥ 1 as ``τ = 1 + softplus(θ)`` with θ trained; this differs from the reference code,
which clamps τ at 1 and so gives zero gradient to every τ that falls below 1. With
``train_tau=False`` τ is a fixed buffer (``tau_fixed`` for every neuron). Self-connections are
removed by masking the diagonal of ``W`` in every step (gradients on the diagonal are zero).
The hidden state starts at zero (the reference code starts at ``0.1·U(0, 1)``).

``cell="lstm"`` / ``"gru"`` swap the recurrence for a gated cell with the same heads, for the
paper's LSTM/GRU comparison. Readout heads live in a ``ModuleDict`` keyed by ``str(N)``; any
number can be added with :meth:`TimescaleRNN.add_head`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "leaky_relu": F.leaky_relu,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
CELLS = ("rnn", "lstm", "gru")
PLACEMENTS = ("after_leak", "before_leak")


@dataclass
class TimescaleRNNConfig:
    """Hyper-parameters (paper defaults: 500 leaky-ReLU units, τ initialised in U(1, 2)).

    ``heads`` lists the N of each readout head; ``n_classes`` outputs per head.
    """

    n_in: int = 1
    n_hidden: int = 500
    n_classes: int = 2
    heads: tuple[int, ...] = (2,)
    cell: str = "rnn"
    activation: str = "leaky_relu"
    placement: str = "after_leak"
    train_tau: bool = True
    tau_init_range: tuple[float, float] = field(default=(1.0, 2.0))
    tau_fixed: float = 1.0

    def __post_init__(self) -> None:
        self.heads = tuple(int(n) for n in self.heads)
        self.tau_init_range = tuple(float(t) for t in self.tau_init_range)
        if self.n_in < 1 or self.n_hidden < 1 or self.n_classes < 2:
            raise ValueError(f"need n_in >= 1, n_hidden >= 1, n_classes >= 2; got {self.n_in}, "
                             f"{self.n_hidden}, {self.n_classes}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        lo, hi = self.tau_init_range
        if not 1.0 <= lo <= hi:
            raise ValueError(f"tau_init_range must satisfy 1 <= lo <= hi, "
                             f"got {self.tau_init_range}")
        if self.tau_fixed < 1.0:
            raise ValueError(f"tau_fixed must be >= 1, got {self.tau_fixed}")
        if len(set(self.heads)) != len(self.heads) or any(n < 1 for n in self.heads):
            raise ValueError(f"heads must be distinct N >= 1, got {self.heads}")


def tau_from_theta(theta: torch.Tensor) -> torch.Tensor:
    """``τ = 1 + softplus(θ)``: always ≥ 1, with a non-zero gradient everywhere."""
    return 1.0 + F.softplus(theta)


def theta_from_tau(tau: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`tau_from_theta` (τ is floored at 1 + 1e-4 so θ stays finite)."""
    excess = torch.clamp(tau - 1.0, min=1e-4)
    return excess + torch.log(-torch.expm1(-excess))


def timescale_step(h: torch.Tensor, drive: torch.Tensor, w_rec: torch.Tensor, tau: torch.Tensor,
                   activation: Callable[[torch.Tensor], torch.Tensor],
                   placement: str) -> torch.Tensor:
    """One step of the timescale RNN.

    ``h (B, H)``, ``drive = U x + b (B, H)``, ``w_rec (H, H)`` (diagonal already masked),
    ``tau (H,)`` → ``h' (B, H)``.
    """
    a = 1.0 / tau
    pre = drive + h @ w_rec.T
    if placement == "after_leak":
        return activation((1.0 - a) * h + a * pre)
    return (1.0 - a) * h + a * activation(pre)


class TimescaleRNN(nn.Module):
    """Multi-head memory-task RNN: ``x (T, B, n_in)`` → ``y (T, B, n_classes)`` of one head."""

    def __init__(self, config: TimescaleRNNConfig):
        super().__init__()
        self.config = config
        h = config.n_hidden
        if config.cell == "rnn":
            self.w_in = nn.Linear(config.n_in, h)
            self.w_rec = nn.Linear(h, h, bias=False)
            self.register_buffer("no_self", 1.0 - torch.eye(h), persistent=False)
            if config.train_tau:
                lo, hi = config.tau_init_range
                self.theta = nn.Parameter(theta_from_tau(lo + (hi - lo) * torch.rand(h)))
            else:
                self.register_buffer("tau_buffer", torch.full((h,), float(config.tau_fixed)))
        elif config.cell == "lstm":
            self.cell = nn.LSTMCell(config.n_in, h)
        else:
            self.cell = nn.GRUCell(config.n_in, h)
        self.readout = nn.ModuleDict()
        for n in config.heads:
            self.add_head(n)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimescaleRNN:
        """Build from a plain dict as returned by :meth:`config_dict`."""
        return cls(TimescaleRNNConfig(**config))

    def config_dict(self) -> dict[str, Any]:
        """JSON-able config, listing the heads the model has now."""
        d = asdict(self.config)
        d["heads"] = list(self.heads)
        d["tau_init_range"] = list(d["tau_init_range"])
        return d

    def extra_repr(self) -> str:
        c = self.config
        return (f"cell={c.cell}, n_hidden={c.n_hidden}, activation={c.activation}, "
                f"placement={c.placement}, train_tau={c.train_tau}, heads={list(self.heads)}")

    @property
    def heads(self) -> tuple[int, ...]:
        """N of every readout head, in the order they were added."""
        return tuple(int(k) for k in self.readout.keys())

    def add_head(self, n: int) -> None:
        """Add a fresh readout head for memory length ``n`` (no-op if it exists)."""
        if str(n) not in self.readout:
            device = next(self.parameters(), torch.empty(0)).device
            self.readout[str(n)] = nn.Linear(self.config.n_hidden, self.config.n_classes).to(device)
        self.config.heads = self.heads

    def move_head(self, old: int, new: int) -> None:
        """Re-key head ``old`` as ``new``, keeping its weights (the single-head curriculum)."""
        if str(old) not in self.readout:
            raise KeyError(f"no head for N={old}; heads are {list(self.heads)}")
        if str(new) in self.readout:
            raise KeyError(f"a head for N={new} already exists")
        self.readout[str(new)] = self.readout.pop(str(old))
        self.config.heads = self.heads

    @property
    def tau(self) -> torch.Tensor:
        """Per-neuron timescales ``(n_hidden,)`` (``cell="rnn"`` only)."""
        if self.config.cell != "rnn":
            raise AttributeError(f"a {self.config.cell} cell has no per-neuron tau")
        return tau_from_theta(self.theta) if self.config.train_tau else self.tau_buffer

    def hidden_trajectory(self, x: torch.Tensor,
                          hidden_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden activity ``(T, B, n_hidden)`` for input ``x (T, B, n_in)``.

        ``hidden_mask (n_hidden,)`` multiplies the activity after every step (lesions).
        """
        if x.ndim != 3 or x.shape[-1] != self.config.n_in:
            raise ValueError(f"x must have shape (T, B, {self.config.n_in}), got {tuple(x.shape)}")
        batch = x.shape[1]
        h = x.new_zeros(batch, self.config.n_hidden)
        out = []
        if self.config.cell == "rnn":
            drive = self.w_in(x)
            w_rec = self.w_rec.weight * self.no_self
            tau = self.tau
            act = ACTIVATIONS[self.config.activation]
            for t in range(x.shape[0]):
                h = timescale_step(h, drive[t], w_rec, tau, act, self.config.placement)
                if hidden_mask is not None:
                    h = h * hidden_mask
                out.append(h)
        else:
            c = x.new_zeros(batch, self.config.n_hidden)
            for t in range(x.shape[0]):
                if self.config.cell == "lstm":
                    h, c = self.cell(x[t], (h, c))
                else:
                    h = self.cell(x[t], h)
                if hidden_mask is not None:
                    h = h * hidden_mask
                out.append(h)
        return torch.stack(out)

    def forward(self, x: torch.Tensor, track_states: bool = False,
                hidden_mask: torch.Tensor | None = None,
                head: int | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``x (T, B, n_in)`` → ``y (T, B, n_classes)`` from head ``head`` (default: newest).

        ``states["hidden"] (T, B, n_hidden)`` when ``track_states``.
        """
        n = self.heads[-1] if head is None else head
        if str(n) not in self.readout:
            raise KeyError(f"no head for N={n}; heads are {list(self.heads)}")
        hidden = self.hidden_trajectory(x, hidden_mask)
        y = self.readout[str(n)](hidden)
        return y, ({"hidden": hidden} if track_states else {})

    def final_logits(self, x: torch.Tensor, ns: Sequence[int],
                     hidden_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the heads ``ns`` at the last step: ``(len(ns), B, n_classes)``."""
        missing = [n for n in ns if str(n) not in self.readout]
        if missing:
            raise KeyError(f"no head for N={missing}; heads are {list(self.heads)}")
        h_last = self.hidden_trajectory(x, hidden_mask)[-1]
        return torch.stack([self.readout[str(n)](h_last) for n in ns])

