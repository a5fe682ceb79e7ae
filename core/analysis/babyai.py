"""Closed-loop evaluation of BabyAI policies and where their routing goes.

:func:`evaluate_policy` plays fixed, fresh episodes greedily (eval mode, no gradients) and
records per step the bot's label for the visited state (bot agreement), the Mixture-of-Pathways
gates, the learned pathway complexity (LPC, Cook et al. 2025: ``sum_l sum_e g_{l,e}
h_{l,e}^kappa`` with the gates actually applied), the agent's grid cell and its step in the
episode. :func:`bot_episodes` plays the same seeds with the bot alone (episode-length baseline),
:func:`random_episodes` with uniformly random actions (chance level). :func:`routing_by_cell`
and :func:`routing_by_phase` average the gates over grid cells and over the episode's normalised
phase; :func:`success_interval` gives the Wilson 95 % interval.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from scipy.stats import binomtest
from torch import nn

from core.envs.babyai import N_ACTIONS, BotVecEnv
from core.models.mop import MixtureOfPathways
from core.training.dagger import policy_step


def evaluate_policy(model: nn.Module, level: str, seeds: Sequence[int], n_envs: int = 32,
                    one_hot: bool = True, device: torch.device | str = "cpu"
                    ) -> dict[str, np.ndarray]:
    """Play one greedy episode per (distinct) seed of ``seeds``: per-episode and per-step records.

    Episodes ``(M,)``: ``seed``, ``success`` (bool), ``length`` (steps). Steps ``(S,)``:
    ``episode`` (index into the episode arrays), ``t`` (step in the episode), ``agree`` (greedy
    action equals the bot's label), ``position (S, 2)`` agent ``(x, y)``, and for a MoP policy
    ``lpc (S,)`` and ``gates{l} (S, E_l)``. ``bot_failures`` (scalar) counts episodes the bot
    could not label (they end unsuccessfully). ValueError for no seeds.
    """
    if len(seeds) == 0:
        raise ValueError("evaluate_policy needs at least one seed")
    n_envs = min(n_envs, len(seeds))
    venv = BotVecEnv(level, n_envs, episode_seeds=list(seeds), one_hot=one_hot)
    obs, labels = venv.reset()
    is_mop = isinstance(model, MixtureOfPathways)
    costs = model.layer_costs() if is_mop else None
    episode_index = {}
    episodes = {"seed": [], "success": [], "length": []}
    steps = {"episode": [], "t": [], "agree": [], "position": [], "lpc": []}
    gates: list[list[np.ndarray]] = []
    was_training = model.training
    model.eval()
    state = model.initial_state(n_envs, device)
    with torch.no_grad():
        while venv.pending:
            active = venv.active.copy()
            for i in np.flatnonzero(active):
                key = (i, int(venv.episode_seed[i]))
                if key not in episode_index:
                    episode_index[key] = len(episodes["seed"])
                    for name, value in (("seed", key[1]), ("success", False), ("length", 0)):
                        episodes[name].append(value)
            logits, state, _ = policy_step(model, torch.as_tensor(obs, device=device), state)
            actions = logits.argmax(-1).cpu().numpy()
            ids = [episode_index[(i, int(venv.episode_seed[i]))] for i in np.flatnonzero(active)]
            steps["episode"].extend(ids)
            steps["t"].extend(venv.steps[active].tolist())
            steps["agree"].extend((actions == labels)[active].tolist())
            steps["position"].extend(venv.agent_positions()[active].tolist())
            if is_mop:
                g = [r[torch.as_tensor(active)].cpu().numpy() for r in state.routing]
                gates.append(g)
                steps["lpc"].extend(sum(x @ c.numpy() for x, c in zip(g, costs, strict=True)))
            seeds_now = venv.episode_seed.copy()
            out = venv.step(actions)
            for i in np.flatnonzero(out.done & active):
                e = episode_index[(i, int(seeds_now[i]))]
                episodes["success"][e] = bool(out.success[i])
                episodes["length"][e] = int(out.lengths[i])
            state = state.reset(torch.as_tensor(out.done, device=device))
            obs, labels = out.obs, out.labels
    model.train(was_training)
    venv.close()
    result = {k: np.asarray(v) for k, v in episodes.items()}
    result.update({k: np.asarray(v) for k, v in steps.items() if k != "lpc" or is_mop})
    result["bot_failures"] = np.int64(venv.bot_failures)
    if is_mop:
        for l in range(len(costs)):
            result[f"gates{l}"] = np.concatenate([g[l] for g in gates])
    return result


def bot_episodes(level: str, seeds: Sequence[int], n_envs: int = 32) -> dict[str, np.ndarray]:
    """The bot alone on ``seeds``: ``seed``, ``success``, ``length`` per episode ``(M,)``."""
    venv = BotVecEnv(level, min(n_envs, len(seeds)), episode_seeds=list(seeds))
    _, labels = venv.reset()
    found = {"seed": [], "success": [], "length": []}
    while venv.pending:
        seeds_now = venv.episode_seed.copy()
        out = venv.step(labels)
        for i in np.flatnonzero(out.done):
            found["seed"].append(int(seeds_now[i]))
            found["success"].append(bool(out.success[i]))
            found["length"].append(int(out.lengths[i]))
        labels = out.labels
    venv.close()
    order = np.argsort(found["seed"])
    return {k: np.asarray(v)[order] for k, v in found.items()}


def random_episodes(level: str, seeds: Sequence[int], seed: int = 0) -> dict[str, np.ndarray]:
    """Chance level: a uniformly random policy on ``seeds``, ``success`` and ``length`` ``(M,)``.

    Actions are drawn from ``np.random.default_rng(seed)`` over the 7 actions.
    """
    rng = np.random.default_rng(seed)
    env = gym.make(level)
    found = {"seed": np.asarray(seeds), "success": [], "length": []}
    for episode_seed in seeds:
        with contextlib.redirect_stdout(io.StringIO()):  # minigrid prints rejected samples
            env.reset(seed=int(episode_seed))
        length, done, reward = 0, False, 0.0
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(N_ACTIONS)))
            length += 1
            done = terminated or truncated
        found["success"].append(bool(terminated and reward > 0))
        found["length"].append(length)
    env.close()
    return {k: np.asarray(v) for k, v in found.items()}


def success_interval(successes: int, trials: int, confidence: float = 0.95
                     ) -> tuple[float, float]:
    """Wilson score interval of a success rate (``scipy.stats.binomtest``)."""
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def routing_by_cell(gates: np.ndarray, positions: np.ndarray, grid_size: tuple[int, int]
                    ) -> np.ndarray:
    """Mean gate of every expert per grid cell: ``gates (S, E)``, ``positions (S, 2)`` ``(x, y)``
    -> ``(E, height, width)``, NaN for cells never visited."""
    width, height = grid_size
    total = np.zeros((gates.shape[1], height, width))
    count = np.zeros((height, width))
    np.add.at(total, (slice(None), positions[:, 1], positions[:, 0]), gates.T)
    np.add.at(count, (positions[:, 1], positions[:, 0]), 1)
    with np.errstate(invalid="ignore"):
        return total / np.where(count > 0, count, np.nan)


def routing_by_phase(gates: np.ndarray, t: np.ndarray, length: np.ndarray, n_bins: int = 5
                     ) -> np.ndarray:
    """Mean gate of every expert per phase bin of the episode: ``gates (S, E)``, ``t (S,)`` step
    in the episode, ``length (S,)`` its episode's length -> ``(n_bins, E)`` (phase ``t / length``
    in ``[0, 1)``; NaN for an empty bin)."""
    bins = np.minimum((t / np.maximum(length, 1) * n_bins).astype(int), n_bins - 1)
    out = np.full((n_bins, gates.shape[1]), np.nan)
    for b in range(n_bins):
        if np.any(bins == b):
            out[b] = gates[bins == b].mean(0)
    return out
