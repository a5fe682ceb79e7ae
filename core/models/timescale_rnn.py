"""RNN with trainable per-neuron timescales and one readout head per memory length N.

Khajehabdollahi, Zeraati et al. (ICLR 2024), "Emergent mechanisms for long timescales depend on
training curriculum and affect performance in memory tasks". With ``a = 1/τ`` (one τ per neuron):

- ``placement="after_leak"`` (the paper's default model): ``h' = f((1−a)·h + a·(W h + U x + b))``
- ``placement="before_leak"`` (the paper's modified model): ``h' = (1−a)·h + a·f(W h + U x + b)``

τ is kept ≥ 1 as ``τ = 1 + softplus(θ)`` with θ trained; this differs from the reference code,
which clamps τ at 1 and so gives zero gradient to every τ that falls below 1. With
``train_tau=False`` τ is a fixed buffer (``tau_fixed`` for every neuron). Self-connections are
removed by masking the diagonal of ``W`` in every step (gradients on the diagonal are zero).
The hidden state starts at zero (``initial_state="zero"``) or, as in the reference code, at
``0.1·U(0, 1)`` per trial and neuron (``initial_state="random"``, drawn from torch's generator).

:meth:`TimescaleRNN.from_reference` loads a network trained by the reference code
(LevinaLab/rnn_timescale_public, ``RNN_Stack``/``RNN_Mod``): its per-neuron τ is loaded exactly
as a fixed buffer (clamped at 1 as the reference's forward pass does).

Continuous-time RNN (the reference's ``RNN_Continuous``): with ``substeps = k`` every input
step is held for ``k`` Euler steps of size ``dt = 1/k``, i.e. the step above with ``a = dt/τ``
(the reference repeats each input bit ``k`` times and scales τ by ``k``); the hidden state is
returned at the end of each input step, so τ and every timescale stay in input steps. As
``k → ∞`` this is ``τ dh/dt = −h + f(W h + U x + b)`` (``before_leak``). The reference trains it
on several ``k`` at once; here one ``k`` per network.

``cell="lstm"`` / ``"gru"`` swap the recurrence for a gated cell with the same heads, for the
paper's LSTM/GRU comparison. Readout heads live in a ``ModuleDict`` keyed by ``str(N)``; any
number can be added with :meth:`TimescaleRNN.add_head`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CheckpointError
from core.training.checkpoint import load_checkpoint

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "leaky_relu": F.leaky_relu,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
CELLS = ("rnn", "lstm", "gru")
PLACEMENTS = ("after_leak", "before_leak")
INITIAL_STATES = ("zero", "random")
#: Activation names in the reference code's folder affixes (``..._mod_<afunc>_network_k``).
REFERENCE_ACTIVATIONS = {"leakyrelu": "leaky_relu", "relu": "relu", "tanh": "tanh",
                         "sigmoid": "sigmoid"}


@dataclass
class TimescaleRNNConfig:
    """Hyper-parameters (paper defaults: 500 leaky-ReLU units, τ initialised in U(1, 2)).

    ``heads`` lists the N of each readout head; ``n_classes`` outputs per head;
    ``initial_state`` is ``"zero"`` or ``"random"`` (``0.1·U(0, 1)``, the reference's);
    ``substeps`` > 1 integrates each input step in that many Euler steps of ``dt = 1/substeps``
    (the continuous-time RNN).
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
    initial_state: str = "zero"
    substeps: int = 1

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
        if self.initial_state not in INITIAL_STATES:
            raise ValueError(f"initial_state must be one of {INITIAL_STATES}, "
                             f"got {self.initial_state!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        lo, hi = self.tau_init_range
        if not 1.0 <= lo <= hi:
            raise ValueError(f"tau_init_range must satisfy 1 <= lo <= hi, "
                             f"got {self.tau_init_range}")
        if self.substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {self.substeps}")
        if self.substeps > 1 and self.cell != "rnn":
            raise ValueError(f"substeps need the timescale RNN (cell='rnn'), got {self.cell!r}")
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

    @classmethod
    def from_reference(cls, path: str | os.PathLike, placement: str | None = None,
                       activation: str | None = None,
                       initial_state: str = "zero") -> TimescaleRNN:
        """Load a checkpoint of the reference code (Khajehabdollahi, Zeraati et al. 2024,
        LevinaLab/rnn_timescale_public, ``trained_models/<kind>_<task>[_affixes]_network_<k>/
        rnn_N{min}_N{max}``), read with ``torch.load(weights_only=True)`` onto the CPU.

        The file holds ``{"state_dict": ...}`` of a one-layer ``RNN_Stack``/``RNN_Mod``:
        ``parameterlist.0`` τ (per neuron, or one value for a fixed-τ network),
        ``modulelist.0`` input layer, ``modulelist.1`` recurrent layer with bias (added to the
        input bias here: the drive is the same), ``modulelist.2…`` readout heads. Head ``i``
        answers ``N = min + i`` for ``i = 0 … max − min``; the other heads were never trained and
        are dropped. This holds for every curriculum of the reference: multi-head
        (``cumulative``) files name the range of trained Ns, single-head files have
        ``min = max`` and answer with head 0, and sliding-window files keep their heads
        positional (head ``i`` answers the ``i``-th N of the current window, which the name
        gives). τ is loaded exactly into the fixed-τ buffer (``train_tau=False``), clamped at 1
        as the reference's forward pass does; the trainable parametrisation could not hold
        τ = 1. ``placement``/``activation`` default to what the folder name says
        (``_mod_<afunc>_`` for the reference's modified, before-leak model; else after-leak
        leaky ReLU).

        ``CheckpointError`` (one line) for a file that is missing, unsafe, not named
        ``rnn_N{min}_N{max}`` or not of this layout (e.g. a multi-layer network).
        """
        path = Path(path)
        found = re.fullmatch(r"rnn_N(\d+)_N(\d+)", path.name)
        if found is None or int(found[1]) > int(found[2]):
            raise CheckpointError(f"{path}: not a reference checkpoint name rnn_N<min>_N<max> "
                                  "(rnn_init has no trained N)")
        n_min, n_max = int(found[1]), int(found[2])
        payload = load_checkpoint(path)
        state = payload.get("state_dict")
        if not isinstance(state, dict) or not all(
                isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path}: no 'state_dict' of tensors (not a reference "
                                  "checkpoint)")
        n_heads = n_max - n_min + 1
        needed = ["parameterlist.0", "modulelist.0.weight", "modulelist.0.bias",
                  "modulelist.1.weight", "modulelist.1.bias"]
        needed += [f"modulelist.{2 + i}.{w}" for i in range(n_heads) for w in ("weight", "bias")]
        missing = [k for k in needed if k not in state]
        if missing or "parameterlist.1" in state:
            raise CheckpointError(f"{path}: not a one-layer reference network with {n_heads} "
                                  f"heads (missing {missing[:3]}, or several layers)")
        w_in, w_rec = state["modulelist.0.weight"], state["modulelist.1.weight"]
        hidden, n_in = w_in.shape
        n_classes = state["modulelist.2.weight"].shape[0]
        affixes = path.parent.name.split("_")
        mod = "mod" in affixes[:-2]
        if activation is None:
            afunc = affixes[affixes.index("mod") + 1] if mod else "leakyrelu"
            if afunc not in REFERENCE_ACTIVATIONS:
                raise CheckpointError(f"{path}: unknown activation {afunc!r} in the folder name")
            activation = REFERENCE_ACTIVATIONS[afunc]
        config = TimescaleRNNConfig(
            n_in=n_in, n_hidden=hidden, n_classes=n_classes,
            heads=tuple(range(n_min, n_max + 1)), activation=activation,
            placement=placement or ("before_leak" if mod else "after_leak"), train_tau=False,
            initial_state=initial_state)
        model = cls(config)
        tau = torch.clamp(state["parameterlist.0"].float(), min=1.0)
        try:
            with torch.no_grad():
                model.tau_buffer.copy_(tau.expand(hidden))
                model.w_in.weight.copy_(w_in)
                model.w_in.bias.copy_(state["modulelist.0.bias"] + state["modulelist.1.bias"])
                model.w_rec.weight.copy_(w_rec)
                for i, n in enumerate(config.heads):
                    model.readout[str(n)].weight.copy_(state[f"modulelist.{2 + i}.weight"])
                    model.readout[str(n)].bias.copy_(state[f"modulelist.{2 + i}.bias"])
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: tensor shapes do not fit one network "
                                  f"({str(exc).splitlines()[0]})") from None
        return model

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

    def initial_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Initial state ``(B, n_hidden)`` for input ``x (T, B, n_in)``: zeros, or
        ``0.1·U(0, 1)`` from torch's generator when ``config.initial_state == "random"``.
        """
        shape = (x.shape[1], self.config.n_hidden)
        if self.config.initial_state == "random":
            return 0.1 * torch.rand(shape, dtype=x.dtype, device=x.device)
        return x.new_zeros(shape)

    def hidden_trajectory(self, x: torch.Tensor, hidden_mask: torch.Tensor | None = None,
                          h0: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden activity ``(T, B, n_hidden)`` for input ``x (T, B, n_in)``.

        ``hidden_mask (n_hidden,)`` multiplies the activity after every step (lesions);
        ``h0 (B, n_hidden)`` replaces :meth:`initial_hidden` (for the RNN cell it is ``h``, the
        LSTM's cell state still starts at zero).
        """
        if x.ndim != 3 or x.shape[-1] != self.config.n_in:
            raise ValueError(f"x must have shape (T, B, {self.config.n_in}), got {tuple(x.shape)}")
        batch = x.shape[1]
        h = self.initial_hidden(x) if h0 is None else h0
        out = []
        if self.config.cell == "rnn":
            drive = self.w_in(x)
            w_rec = self.w_rec.weight * self.no_self
            k = self.config.substeps
            tau = self.tau * k
            act = ACTIVATIONS[self.config.activation]
            for t in range(x.shape[0]):
                for _ in range(k):
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
                hidden_mask: torch.Tensor | None = None, head: int | None = None,
                h0: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``x (T, B, n_in)`` → ``y (T, B, n_classes)`` from head ``head`` (default: newest).

        ``states["hidden"] (T, B, n_hidden)`` when ``track_states``; ``h0`` as in
        :meth:`hidden_trajectory`.
        """
        n = self.heads[-1] if head is None else head
        if str(n) not in self.readout:
            raise KeyError(f"no head for N={n}; heads are {list(self.heads)}")
        hidden = self.hidden_trajectory(x, hidden_mask, h0)
        y = self.readout[str(n)](hidden)
        return y, ({"hidden": hidden} if track_states else {})

    def final_logits(self, x: torch.Tensor, ns: Sequence[int],
                     hidden_mask: torch.Tensor | None = None,
                     h0: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the heads ``ns`` at the last step: ``(len(ns), B, n_classes)``."""
        missing = [n for n in ns if str(n) not in self.readout]
        if missing:
            raise KeyError(f"no head for N={missing}; heads are {list(self.heads)}")
        h_last = self.hidden_trajectory(x, hidden_mask, h0)[-1]
        return torch.stack([self.readout[str(n)](h_last) for n in ns])



def reference_checkpoints(path: str | os.PathLike) -> dict[int, Path]:
    """``{N: file}`` of a reference checkpoint file or of every ``rnn_N{min}_N{max}`` file in a
    reference folder (``N = max``, the largest N the network solves), sorted by N.

    FileNotFoundError (one line) when there is no such file or the folder holds none.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("rnn_N*_N*")) if path.is_dir() else []
    found = {int(m[2]): f for f in files if (m := re.fullmatch(r"rnn_N(\d+)_N(\d+)", f.name))}
    if not found:
        raise FileNotFoundError(f"{path}: no reference checkpoint rnn_N<min>_N<max> there")
    return dict(sorted(found.items()))


def reference_task(path: str | os.PathLike) -> str | None:
    """The task (``"parity"``/``"dms"``) named by a reference folder, e.g.
    ``cumulative_parity_network_1`` (for a file: its folder); None when it names none.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    tokens = folder.name.split("_")
    return next((t for t in tokens if t in ("parity", "dms")), None)
