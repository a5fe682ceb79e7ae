"""Mixture-of-Pathways (MoP): layers of heterogeneous recurrent experts with cost-based routing.

Cook, Akarca, Costa & Achterberg (2025), "Brain-like processing pathways form in models with
heterogeneous experts", arXiv 2506.02813.

Architecture (shapes with ``T`` time steps, ``B`` samples, ``D = intermediate_dim``):

- input ``x (T, B, n_stimulus + n_tasks)``: stimulus channels followed by a rule one-hot. The
  one-hot goes through a learned task embedding (``task_dim``, a bias-free linear map, i.e. an
  ``nn.Embedding`` applied to one-hot rows) unless disabled, then everything is projected to ``D``.
- each block ``l``: a router (GRU with ``router_dim`` units -> ReLU -> linear -> softmax) gives
  routing weights ``p (T, B, E_l)`` over the layer's experts; an expert of size 0 is the identity,
  any other is GRU(h) -> LayerNorm -> ReLU -> linear back to ``D``; the block returns
  ``LayerNorm(x + sum_e g_e * expert_e(x))`` with gates ``g`` (= ``p`` at evaluation).
- a linear read-out gives the action logits ``(T, B, n_output)``.

Deviations from the reference implementation (github.com/jackcook/mixture-of-pathways), on purpose:

- Every GRU recurs over time within each sample. The reference feeds ``(batch, time, feature)``
  tensors to sequence-first GRUs and flattens the positions an expert receives into one
  sequence, so its recurrence runs across samples (the batch axis); here it never does.
- Experts normalise with a per-step ``LayerNorm`` over their hidden units instead of the
  reference's ``BatchNorm1d``, which couples the samples of a batch; with LayerNorm a sample's
  output depends only on its own inputs, and the one-step ``step`` API equals the sequence forward.
- Experts run densely over the whole sequence and a dropped expert contributes a zero gate at
  that step (its hidden state still evolves); the reference removes the dropped positions from
  the expert's input sequence.

Because a block depends only on the previous block's output at the same time step, each layer
runs over the full sequence with ``nn.GRU`` (fast); ``step`` runs one time step with the same
modules, so ``T`` calls of ``step`` reproduce ``forward`` exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_LAYERS: tuple[tuple[int, ...], ...] = ((0, 16, 32), (0, 16, 32), (0, 16, 32))


def parse_layers(specs: list[str] | tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    """Parse comma-separated expert sizes per layer (``["0,16,32", ...]``) into integer tuples.

    Raises ValueError naming the bad spec for a non-integer, negative or empty entry.
    """
    layers = []
    for spec in specs:
        try:
            sizes = tuple(int(s) for s in spec.split(","))
        except ValueError:
            raise ValueError(f"layer spec {spec!r} is not comma-separated integers") from None
        if any(s < 0 for s in sizes):
            raise ValueError(f"layer spec {spec!r} has a negative expert size")
        layers.append(sizes)
    if not layers:
        raise ValueError("at least one layer spec is needed")
    return tuple(layers)


@dataclass
class MixtureOfPathwaysConfig:
    """Hyper-parameters with the defaults of Cook et al. (2025) and their reference code.

    ``n_stimulus`` stimulus channels (Mod-Cog: fixation + 2 rings of 16 = 33) are followed by
    ``n_tasks`` rule one-hot channels in the input; ``n_output`` action logits (fixation + 16).
    """

    n_stimulus: int = 33
    n_tasks: int = 82
    n_output: int = 17
    layers: tuple[tuple[int, ...], ...] = field(default_factory=lambda: DEFAULT_LAYERS)
    intermediate_dim: int = 64
    router_dim: int = 64
    task_dim: int = 16
    task_embedding: bool = True
    dropout_max_prob: float = 0.8  # beta in Eq. 3
    dropout_router_weight_threshold: float = 0.1  # gamma in Eq. 3
    expert_cost_exponent: float = 2.0  # kappa in Eq. 2

    def __post_init__(self) -> None:
        self.layers = tuple(tuple(int(s) for s in layer) for layer in self.layers)
        if not self.layers or any(len(layer) == 0 for layer in self.layers):
            raise ValueError(f"layers must be non-empty lists of expert sizes, got {self.layers}")
        if any(s < 0 for layer in self.layers for s in layer):
            raise ValueError(f"expert sizes must be >= 0, got {self.layers}")
        for name in ("n_stimulus", "n_tasks", "n_output", "intermediate_dim", "router_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout_max_prob <= 1.0:
            raise ValueError(f"dropout_max_prob must be in [0, 1], got {self.dropout_max_prob}")
        if self.dropout_router_weight_threshold < 0:
            raise ValueError("dropout_router_weight_threshold must be >= 0, got "
                             f"{self.dropout_router_weight_threshold}")

    @property
    def n_input(self) -> int:
        """Total input channels: stimulus plus rule one-hot."""
        return self.n_stimulus + self.n_tasks


# ----------------------------------------------------------------------------- pure functions


def expert_costs(sizes: tuple[int, ...], exponent: float) -> torch.Tensor:
    """Per-expert cost ``h_e ** kappa`` (Eq. 2), shape ``(E,)``; a skip expert (size 0) costs 0."""
    return torch.tensor([float(s) ** exponent if s > 0 else 0.0 for s in sizes])


def routing_gates(probs: torch.Tensor, *, drop_max_prob: float = 0.0, drop_threshold: float = 0.0,
                  prune_threshold: float | None = None, disabled: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Gates actually applied to the experts, from softmax routing weights ``probs (..., E)``.

    Routing-weighted dropout (Cook et al. 2025, Eq. 3): an expert with ``p_e < gamma`` is dropped
    with probability ``beta * (1 - p_e / gamma)`` (``beta = drop_max_prob``, ``gamma =
    drop_threshold``; pass ``drop_max_prob=0`` to switch it off, as at evaluation). Inference-time
    pruning drops every expert with ``p_e < prune_threshold``; ``disabled (E,) bool`` drops chosen
    experts everywhere. The surviving weights are renormalised to sum to 1 (the softmax over the
    kept logits). At least one expert always survives: where every expert would be dropped, the
    one with the largest routing weight among the non-disabled ones is kept.
    """
    keep = torch.ones_like(probs, dtype=torch.bool)
    if drop_max_prob > 0 and drop_threshold > 0:
        u = torch.rand(probs.shape, generator=generator, device=probs.device, dtype=probs.dtype)
        drop_prob = drop_max_prob * (1.0 - probs / drop_threshold)
        keep &= ~((probs < drop_threshold) & (u < drop_prob))
    if prune_threshold is not None:
        keep &= probs >= prune_threshold
    allowed = torch.ones(probs.shape[-1], dtype=torch.bool, device=probs.device)
    if disabled is not None:
        allowed = ~disabled.to(probs.device)
        if not allowed.any():
            raise ValueError("cannot disable every expert of a layer")
        keep &= allowed
    fallback = torch.where(allowed, probs, torch.full_like(probs, -1.0)).argmax(-1, keepdim=True)
    none_kept = ~keep.any(-1, keepdim=True)
    keep = keep | (none_kept & F.one_hot(fallback.squeeze(-1), probs.shape[-1]).bool())
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True).clamp_min(torch.finfo(probs.dtype).tiny)


def task_routing_cost(probs: list[torch.Tensor], costs: list[torch.Tensor], task_ids: torch.Tensor,
                      n_tasks: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-task routing cost ``C_k`` of Cook et al. (2025), Eq. 2, shape ``(n_tasks,)``.

    ``C_k = sum_l mean_{steps of task k} sum_e p_{l,e} * h_{l,e} ** kappa`` with ``probs[l]
    (T, B, E_l)`` the raw softmax routing weights of layer ``l`` and ``costs[l] (E_l,)`` from
    ``expert_costs``; ``task_ids (T, B)`` integer task of every step; ``mask (T, B)`` bool selects
    the steps that count (all by default). A task without counted steps gets cost 0.
    """
    sel = torch.ones_like(task_ids, dtype=torch.bool) if mask is None else mask.bool()
    onehot = F.one_hot(task_ids.long(), n_tasks).to(probs[0].dtype) * sel[..., None]  # (T, B, K)
    counts = onehot.sum((0, 1))  # (K,)
    total = torch.zeros(n_tasks, dtype=probs[0].dtype, device=probs[0].device)
    for p, c in zip(probs, costs, strict=True):
        per_step = p @ c.to(p.device, p.dtype)  # (T, B)
        total = total + torch.einsum("tb,tbk->k", per_step, onehot) / counts.clamp_min(1.0)
    return total


def mop_loss(logits: torch.Tensor, labels: torch.Tensor, task_ids: torch.Tensor,
             response: torch.Tensor, cost: torch.Tensor, *, alpha: float = 1e-5,
             epsilon: float = 1e-2, performance_scaling: bool = True,
             fixation_loss: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Training loss of Cook et al. (2025), Eq. 2: ``sum_k [CE_k + alpha C_k / (epsilon + CE_k)]``.

    ``logits (T, B, n_out)``, ``labels (T, B)`` class labels, ``task_ids (T, B)``, ``response
    (T, B)`` bool marks response-period steps (fixation input off), ``cost (n_tasks,)`` from
    ``task_routing_cost``. ``CE_k`` is the cross-entropy over task ``k``'s response steps; tasks
    absent from the batch are skipped. Without ``performance_scaling`` the cost term is ``alpha
    C_k``. The fixation loss (as in the reference code) is the mean squared error between the
    logits outside the response period and the one-hot of the fixation action (class 0).
    Returns the scalar loss and its parts (``fixation``, ``action (n_tasks,)``, ``cost``).
    """
    n_tasks = cost.shape[0]
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).long(),
                         reduction="none").reshape(labels.shape)
    onehot = F.one_hot(task_ids.long(), n_tasks).to(logits.dtype) * response[..., None]
    counts = onehot.sum((0, 1))
    present = counts > 0
    action = torch.einsum("tb,tbk->k", ce, onehot) / counts.clamp_min(1.0)  # (K,)
    if performance_scaling:
        cost_term = alpha * cost / (epsilon + action)
    else:
        cost_term = alpha * cost
    loss = (action + cost_term)[present].sum()
    fix = logits.new_zeros(())
    outside = ~response
    if fixation_loss and outside.any():
        target = torch.zeros_like(logits[outside])
        target[:, 0] = 1.0
        fix = F.mse_loss(logits[outside], target)
        loss = loss + fix
    return loss, {"fixation": fix.detach(), "action": action.detach(),
                  "cost": cost_term.detach()}


# ----------------------------------------------------------------------------- modules


class Expert(nn.Module):
    """GRU(h) -> LayerNorm -> ReLU -> linear back to ``dim``; size 0 is the identity (skip)."""

    def __init__(self, dim: int, size: int) -> None:
        super().__init__()
        self.size = size
        if size > 0:
            self.rnn = nn.GRU(dim, size)
            self.norm = nn.LayerNorm(size)
            self.out = nn.Linear(size, dim)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor
                                                                          | None]:
        """``x (T, B, dim)``, ``h (B, size)`` -> output ``(T, B, dim)`` and last hidden state."""
        if self.size == 0:
            return x, None
        seq, h_last = self.rnn(x, None if h is None else h[None])
        return self.out(torch.relu(self.norm(seq))), h_last[0]

    def extra_repr(self) -> str:
        return f"size={self.size}"


class Router(nn.Module):
    """GRU(router_dim) -> ReLU -> linear -> softmax over a layer's experts."""

    def __init__(self, dim: int, router_dim: int, n_experts: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(dim, router_dim)
        self.out = nn.Linear(router_dim, n_experts)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (T, B, dim)`` -> routing weights ``(T, B, E)`` and last hidden state ``(B, R)``."""
        seq, h_last = self.rnn(x, None if h is None else h[None])
        return torch.softmax(self.out(torch.relu(seq)), dim=-1), h_last[0]


class Block(nn.Module):
    """One MoP layer: router, experts and the post-mixture LayerNorm."""

    def __init__(self, dim: int, router_dim: int, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.sizes = sizes
        self.router = Router(dim, router_dim, len(sizes))
        self.experts = nn.ModuleList(Expert(dim, s) for s in sizes)
        self.norm = nn.LayerNorm(dim)


@dataclass
class MoPState:
    """Recurrent state of every router and expert, for the stateful ``step`` API.

    ``router[l] (B, router_dim)``; ``experts[l][e] (B, h_e)`` or None for a skip expert;
    ``routing[l] (B, E_l)`` the gates applied at the last step (for analysis, not recurrent).
    """

    router: list[torch.Tensor]
    experts: list[list[torch.Tensor | None]]
    routing: list[torch.Tensor]

    def reset(self, done: torch.Tensor) -> MoPState:
        """A new state with the rows of finished environments (``done (B,) bool``) zeroed."""
        keep = (~done.bool()).to(self.router[0].dtype)[:, None]
        return MoPState(
            router=[h * keep for h in self.router],
            experts=[[None if h is None else h * keep for h in layer] for layer in self.experts],
            routing=[r * keep for r in self.routing],
        )


class MixtureOfPathways(nn.Module):
    """Mixture-of-Pathways network (Cook et al. 2025); see the module docstring."""

    def __init__(self, config: MixtureOfPathwaysConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.use_embedding = c.task_embedding and c.n_tasks > 1
        if self.use_embedding:
            self.task_embedding = nn.Linear(c.n_tasks, c.task_dim, bias=False)
            self.input_layer = nn.Linear(c.n_stimulus + c.task_dim, c.intermediate_dim)
        else:
            self.input_layer = nn.Linear(c.n_input, c.intermediate_dim)
        self.blocks = nn.ModuleList(Block(c.intermediate_dim, c.router_dim, sizes)
                                    for sizes in c.layers)
        self.output_layer = nn.Linear(c.intermediate_dim, c.n_output)
        self.register_buffer("_costs_flat", torch.cat(
            [expert_costs(s, c.expert_cost_exponent) for s in c.layers]), persistent=False)

    # -- config round trip
    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MixtureOfPathways:
        """Build from a plain dict as returned by :meth:`config_dict`."""
        return cls(MixtureOfPathwaysConfig(**config))

    def config_dict(self) -> dict[str, Any]:
        """JSON-able config (layers as lists)."""
        d = asdict(self.config)
        d["layers"] = [list(layer) for layer in self.config.layers]
        return d

    @property
    def n_hidden(self) -> int:
        """Size of the recorded hidden activity: every block's output, concatenated."""
        return len(self.blocks) * self.config.intermediate_dim

    def layer_costs(self) -> list[torch.Tensor]:
        """Per-layer expert costs ``h_e ** kappa``, each ``(E_l,)``."""
        return list(torch.split(self._costs_flat, [len(s) for s in self.config.layers]))

    def complex_expert_mask(self) -> list[torch.Tensor]:
        """Per layer, ``(E_l,) bool`` marking the largest expert (the one disabled at inference)."""
        masks = []
        for sizes in self.config.layers:
            m = torch.zeros(len(sizes), dtype=torch.bool)
            m[max(range(len(sizes)), key=lambda e: sizes[e])] = True
            masks.append(m)
        return masks

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> MoPState:
        """Zero state for ``batch_size`` environments."""
        dev = device if device is not None else self.output_layer.weight.device
        c = self.config
        return MoPState(
            router=[torch.zeros(batch_size, c.router_dim, device=dev) for _ in c.layers],
            experts=[[torch.zeros(batch_size, s, device=dev) if s > 0 else None for s in sizes]
                     for sizes in c.layers],
            routing=[torch.zeros(batch_size, len(s), device=dev) for s in c.layers],
        )

    def extra_repr(self) -> str:
        c = self.config
        layers = " | ".join(",".join(str(s) for s in layer) for layer in c.layers)
        return (f"layers=[{layers}], intermediate_dim={c.intermediate_dim}, "
                f"router_dim={c.router_dim}, task_embedding={self.use_embedding}")

    # -- computation
    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.shape[-1] != c.n_input:
            raise ValueError(f"expected {c.n_input} input channels ({c.n_stimulus} stimulus + "
                             f"{c.n_tasks} rule), got {x.shape[-1]}")
        if self.use_embedding:
            x = torch.cat([x[..., :c.n_stimulus], self.task_embedding(x[..., c.n_stimulus:])], -1)
        return self.input_layer(x)

    def _run(self, x: torch.Tensor, state: MoPState | None, hidden_mask: torch.Tensor | None,
             prune_threshold: float | None, disable_complex: bool
             ) -> tuple[torch.Tensor, MoPState, list[torch.Tensor], list[torch.Tensor],
                        list[torch.Tensor]]:
        c = self.config
        h = self._embed(x)
        if disable_complex and any(len(s) < 2 for s in c.layers):
            raise ValueError("disable_complex needs at least two experts in every layer")
        masks = self.complex_expert_mask() if disable_complex else [None] * len(self.blocks)
        dropout = self.training
        new_router, new_experts, probs_all, gates_all, outs = [], [], [], [], []
        for l, block in enumerate(self.blocks):
            probs, h_r = block.router(h, None if state is None else state.router[l])
            gates = routing_gates(
                probs,
                drop_max_prob=c.dropout_max_prob if dropout else 0.0,
                drop_threshold=c.dropout_router_weight_threshold if dropout else 0.0,
                prune_threshold=None if dropout else prune_threshold,
                disabled=None if dropout else masks[l])
            mix = torch.zeros_like(h)
            layer_h = []
            for e, expert in enumerate(block.experts):
                out, h_e = expert(h, None if state is None else state.experts[l][e])
                mix = mix + gates[..., e:e + 1] * out
                layer_h.append(h_e)
            h = block.norm(h + mix)
            if hidden_mask is not None:
                h = h * hidden_mask[l * c.intermediate_dim:(l + 1) * c.intermediate_dim]
            new_router.append(h_r)
            new_experts.append(layer_h)
            probs_all.append(probs)
            gates_all.append(gates)
            outs.append(h)
        new_state = MoPState(new_router, new_experts, [g[-1] for g in gates_all])
        return self.output_layer(h), new_state, probs_all, gates_all, outs

    def forward(self, x: torch.Tensor, track_states: bool = False,
                hidden_mask: torch.Tensor | None = None, prune_threshold: float | None = None,
                disable_complex: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run a whole sequence from the zero state.

        ``x (T, B, n_stimulus + n_tasks)`` -> logits ``(T, B, n_output)`` and, if
        ``track_states``, a dict with ``hidden (T, B, n_layers * intermediate_dim)`` (block
        outputs), ``routing{l} (T, B, E_l)`` (softmax routing weights, used by the cost) and
        ``gates{l} (T, B, E_l)`` (weights applied after dropout / pruning / disabling).
        ``hidden_mask (n_layers * intermediate_dim,)`` multiplies the block outputs (lesions).
        In training mode routing-weighted dropout is applied; in eval mode ``prune_threshold``
        and ``disable_complex`` (drop each layer's largest expert) act at inference.
        """
        y, _, probs, gates, outs = self._run(x, None, hidden_mask, prune_threshold,
                                             disable_complex)
        if not track_states:
            return y, {}
        states = {"hidden": torch.cat(outs, dim=-1)}
        for l, (p, g) in enumerate(zip(probs, gates, strict=True)):
            states[f"routing{l}"] = p
            states[f"gates{l}"] = g
        return y, states

    def step(self, obs: torch.Tensor, state: MoPState, prune_threshold: float | None = None,
             disable_complex: bool = False) -> tuple[torch.Tensor, MoPState]:
        """One time step for closed-loop use: ``obs (B, n_input)`` -> logits ``(B, n_output)``.

        The returned state carries every router/expert hidden state and, in ``routing``, the
        gates applied at this step; call ``state.reset(done)`` to zero finished environments.
        """
        y, new_state, _ = self.step_with_routing(obs, state, prune_threshold, disable_complex)
        return y, new_state

    def step_with_routing(self, obs: torch.Tensor, state: MoPState,
                          prune_threshold: float | None = None, disable_complex: bool = False
                          ) -> tuple[torch.Tensor, MoPState, list[torch.Tensor]]:
        """:meth:`step` that also returns each layer's softmax routing weights ``(B, E_l)``
        (with their gradient, for the routing cost of Eq. 2 in closed-loop training)."""
        y, new_state, probs, _, _ = self._run(obs[None], state, None, prune_threshold,
                                              disable_complex)
        return y[0], new_state, [p[0] for p in probs]
