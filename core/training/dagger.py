"""DAgger (Ross, Gordon & Bagnell 2011) for closed-loop policies taught by the BabyAI bot.

"A reduction of imitation learning and structured prediction to no-regret online learning",
AISTATS 2011, Algorithm 3.1. At iteration ``i`` the environments are driven by the mixture
``pi_i = beta_i pi* + (1 - beta_i) pi_hat_i`` (each environment, at each step, takes the expert's
action with probability ``beta_i``, otherwise the student's greedy action), with
``beta_i = beta0 * p ** i`` (the paper's ``beta_i = p^{i-1}``). The expert (the BabyAI bot,
re-planned after the action actually taken) labels every visited state; the student minimises
the cross-entropy to those labels.

Deviations, on purpose: the student is recurrent, so the data are unrolls of ``unroll`` steps
from ``n_envs`` environments, and the aggregated data set of Algorithm 3.1 is a buffer of the
last ``buffer`` unrolls (the whole history would not fit a CPU budget). Each update collects one
unroll (greedy student in training mode, so MoP's routing dropout is on; no gradients), then
takes ``replay`` Adam steps, each re-running one buffered unroll from its stored, detached start
state with episode resets where they happened, and backpropagating through it (truncated BPTT).
Gradient-norm clipping. Older unrolls start from the recurrent state the student had when they
were collected (the start state is not recomputed with the current weights).

Mixture-of-Pathways students add the routing cost of Cook et al. (2025), Eq. 2, as in the lab's
MoP trainer (:func:`core.models.mop.mop_loss`): ``CE + alpha C / (epsilon + CE)`` with ``C =
sum_l mean_steps sum_e p_{l,e} h_{l,e}^kappa`` over the unroll's steps (one task per level).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.envs.babyai import BotVecEnv
from core.models.mop import MixtureOfPathways, mop_loss, task_routing_cost


@dataclass
class DaggerConfig:
    """DAgger settings: ``n_envs`` environments, ``unroll`` steps per update (truncated BPTT),
    Adam with learning rate ``lr`` and gradient-norm clip ``grad_clip`` (0: none), mixing
    ``beta_i = beta0 * beta_decay ** i`` at update ``i``, routing-cost weight ``alpha`` and
    ``epsilon`` of Eq. 2 (MoP only); ``replay`` Adam steps per collected unroll, on unrolls
    drawn from the last ``buffer`` ones."""

    n_envs: int = 32
    unroll: int = 20
    lr: float = 1e-3
    grad_clip: float = 1.0
    beta0: float = 1.0
    beta_decay: float = 0.99
    alpha: float = 0.0
    epsilon: float = 1e-2
    replay: int = 4
    buffer: int = 32

    def __post_init__(self) -> None:
        for name in ("n_envs", "unroll", "replay", "buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (0 <= self.beta0 <= 1 and 0 <= self.beta_decay <= 1):
            raise ValueError(f"beta0 and beta_decay must lie in [0, 1], got {self.beta0}, "
                             f"{self.beta_decay}")
        if self.lr <= 0 or self.grad_clip < 0 or self.alpha < 0 or self.epsilon <= 0:
            raise ValueError("lr and epsilon must be > 0, grad_clip and alpha >= 0")

    def beta(self, update: int) -> float:
        """Probability of taking the bot's action at update ``update`` (0-based)."""
        return self.beta0 * self.beta_decay ** update


def map_state(state: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to every tensor of a recurrent state dataclass (nested lists, None kept)."""
    def walk(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return fn(v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v
    return type(state)(**{f.name: walk(getattr(state, f.name))
                          for f in dataclasses.fields(state)})


def policy_step(model: nn.Module, obs: torch.Tensor, state: Any
                ) -> tuple[torch.Tensor, Any, list[torch.Tensor] | None]:
    """``logits (B, 7), state, probs``: ``probs`` the MoP routing weights per layer, else None."""
    if isinstance(model, MixtureOfPathways):
        return model.step_with_routing(obs, state)
    logits, state = model.step(obs, state)
    return logits, state, None


@dataclass
class DaggerBatch:
    """One unroll: ``obs (K, N, D)`` visited states, ``labels (K, N)`` the bot's actions for them,
    ``actions (K, N)`` taken, ``done (K, N)`` the episode ended at that step, ``success (K, N)``,
    ``lengths (K, N)`` length of the episode that ended; ``loss``, ``ce``, ``cost`` (the alpha
    term), ``lpc`` (routing cost per step, MoP; 0 otherwise) of the Adam step on this unroll;
    ``beta`` used."""

    obs: np.ndarray
    labels: np.ndarray
    actions: np.ndarray
    done: np.ndarray
    success: np.ndarray
    lengths: np.ndarray
    loss: float
    ce: float
    cost: float
    lpc: float
    beta: float


class DaggerLearner:
    """Online DAgger on a :class:`BotVecEnv` for a policy with ``step(obs, state)``.

    ``model`` is a :class:`~core.models.mop.MixtureOfPathways` or a
    :class:`~core.models.rnn.GRUNet` with ``n_in = observation_size`` and 7 outputs; ``rng``
    draws the beta mixing. Call :meth:`update` once per unroll.
    """

    def __init__(self, model: nn.Module, venv: BotVecEnv, config: DaggerConfig,
                 rng: np.random.Generator, device: torch.device | str = "cpu") -> None:
        if venv.n_envs != config.n_envs:
            raise ValueError(f"venv has {venv.n_envs} environments, config.n_envs is "
                             f"{config.n_envs}")
        self.model = model
        self.venv = venv
        self.config = config
        self.rng = rng
        self.device = torch.device(device)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.costs = model.layer_costs() if isinstance(model, MixtureOfPathways) else None
        self.update_index = 0
        self.state = model.initial_state(config.n_envs, self.device)
        self.buffer: list[tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = []
        self.obs, self.labels = venv.reset()

    def restart_episodes(self) -> None:
        """Start fresh episodes and a zero state (after loading a checkpoint)."""
        self.state = self.model.initial_state(self.config.n_envs, self.device)
        self.obs, self.labels = self.venv.reset()

    def update(self) -> DaggerBatch:
        """Collect one unroll with the beta mixture, add it to the buffer, then ``replay`` Adam
        steps, each on an unroll drawn from the buffer (the newest one first)."""
        cfg = self.config
        k, n = cfg.unroll, cfg.n_envs
        beta = cfg.beta(self.update_index)
        self.model.train()
        record = {key: [] for key in ("obs", "labels", "actions", "done", "success", "lengths")}
        start = map_state(self.state, torch.Tensor.detach)
        state = start
        with torch.no_grad():
            for _ in range(k):
                logits, state, _ = policy_step(self.model, self._tensor(self.obs), state)
                student = logits.argmax(-1).cpu().numpy()
                expert = self.rng.random(n) < beta
                actions = np.where(expert, self.labels, student)
                record["obs"].append(self.obs)
                record["labels"].append(self.labels)
                record["actions"].append(actions)
                out = self.venv.step(actions)
                state = state.reset(self._tensor(out.done))
                for key in ("done", "success", "lengths"):
                    record[key].append(getattr(out, key))
                self.obs, self.labels = out.obs, out.labels
        self.state = state
        arrays = {key: np.stack(v) for key, v in record.items()}
        self.buffer.append((start, arrays["obs"], arrays["labels"], arrays["done"]))
        del self.buffer[:-cfg.buffer]
        picks = [len(self.buffer) - 1, *self.rng.integers(len(self.buffer), size=cfg.replay - 1)]
        parts = [self._train_on(*self.buffer[i]) for i in picks]
        self.update_index += 1
        loss, ce, cost, lpc = parts[0]
        return DaggerBatch(**arrays, loss=loss, ce=ce, cost=cost, lpc=lpc, beta=beta)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, device=self.device)

    def _train_on(self, start: Any, obs: np.ndarray, labels: np.ndarray, done: np.ndarray
                  ) -> tuple[float, float, float, float]:
        """One Adam step on a stored unroll, re-run from its detached start state (TBPTT)."""
        state = start
        logits_all, probs_all = [], []
        for t in range(obs.shape[0]):
            logits, state, probs = policy_step(self.model, self._tensor(obs[t]), state)
            logits_all.append(logits)
            if probs is not None:
                probs_all.append(probs)
            state = state.reset(self._tensor(done[t]))
        loss, ce, cost, lpc = self._loss(torch.stack(logits_all), self._tensor(labels), probs_all)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return float(loss.detach()), ce, cost, lpc

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor,
              probs: list[list[torch.Tensor]]) -> tuple[torch.Tensor, float, float, float]:
        """Cross-entropy to the bot's labels (plus Eq. 2's routing cost for a MoP policy)."""
        if self.costs is None:
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
            return ce, float(ce.detach()), 0.0, 0.0
        per_layer = [torch.stack(layer) for layer in zip(*probs, strict=True)]  # (K, N, E_l)
        task_ids = torch.zeros(labels.shape, dtype=torch.long, device=logits.device)
        costs = [c.to(logits.device) for c in self.costs]
        cost = task_routing_cost(per_layer, costs, task_ids, 1)
        loss, parts = mop_loss(logits, labels, task_ids, torch.ones_like(task_ids, dtype=bool),
                               cost, alpha=self.config.alpha, epsilon=self.config.epsilon,
                               fixation_loss=False)
        return (loss, float(parts["action"][0]), float(parts["cost"][0]),
                float(cost[0].detach()))

    def state_dict(self) -> dict[str, Any]:
        """Optimizer state and update counter (the model and RNGs are stored by the caller)."""
        return {"optimizer": self.optimizer.state_dict(), "update_index": self.update_index,
                "bot_failures": self.venv.bot_failures,
                "env_rngs": [json.dumps(r.bit_generator.state) for r in self.venv.rngs]}

    def load_state_dict(self, payload: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output and start fresh episodes (the episodes running
        when the checkpoint was written are not resumed: environments cannot be stored
        pickle-free)."""
        self.optimizer.load_state_dict(payload["optimizer"])
        self.update_index = int(payload["update_index"])
        self.venv.bot_failures = int(payload["bot_failures"])
        for rng, text in zip(self.venv.rngs, payload["env_rngs"], strict=True):
            rng.bit_generator.state = json.loads(text)
        self.restart_episodes()
