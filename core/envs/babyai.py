"""BabyAI grid worlds stepped together, each with its own BabyAI bot as the teacher.

Chevalier-Boisvert et al. (2019), "BabyAI: a platform to study the sample efficiency of grounded
language learning", ICLR; environments and bot from ``minigrid`` (>= 3.2, Farama Foundation):
``minigrid.utils.baby_ai_bot.BabyAIBot`` plans offline from the environment's own state.

Observation vector of one step (``observation_size`` floats, see :func:`encode_observation`):

- the 7x7 egocentric view, each cell either one-hot coded (11 object types + 6 colours + 3 door
  states = 20 channels) or the 3 raw integer codes;
- the agent's direction, one-hot of 4, and whether it carries an object (1 float);
- the mission as bag-of-words counts over :data:`VOCABULARY` (``len(VOCABULARY)`` floats, last in
  the vector). A policy embeds these counts with a learned, bias-free linear map (a bag-of-words
  embedding; the Mixture-of-Pathways task embedding does exactly this). No pretrained language
  model is used and nothing is downloaded.

Episodes are seeded: environment ``i`` of a :class:`BotVecEnv` draws its episode seeds from its own
numpy Generator, so a run is reproducible from one seed. :data:`TRAIN_SEEDS` and
:data:`EVAL_SEEDS` are disjoint ranges, so evaluation episodes are never training episodes.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # minigrid imports pygame-ce; never open a window

import gymnasium as gym  # noqa: E402
import minigrid  # noqa: E402, F401  (registers the BabyAI-* environments)
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX  # noqa: E402
from minigrid.envs.babyai.core.verifier import COLOR_NAMES, LOC_NAMES, OBJ_TYPES  # noqa: E402
from minigrid.utils.baby_ai_bot import BabyAIBot  # noqa: E402

#: Every word of the BabyAI mission grammar (``minigrid.envs.babyai.core.verifier``).
VOCABULARY: tuple[str, ...] = (
    "go", "to", "the", "a", "pick", "up", "open", "put", "next", "and", "then", "after", "you",
    "your", "on", "in", "of", *LOC_NAMES, *COLOR_NAMES, *OBJ_TYPES,
)
N_ACTIONS = 7  # left, right, forward, pickup, drop, toggle, done
VIEW = 7
ONE_HOT_CHANNELS = len(OBJECT_TO_IDX) + len(COLOR_TO_IDX) + len(STATE_TO_IDX)
TRAIN_SEEDS = (0, 2**30)  # episode seeds of training: [0, 2^30)
EVAL_SEEDS = (2**30, 2**31)  # episode seeds of evaluation: [2^30, 2^31)
_WORD_INDEX = {w: i for i, w in enumerate(VOCABULARY)}


def observation_size(one_hot: bool = True) -> int:
    """Length of :func:`encode_observation`'s vector (one-hot: 1025 floats, raw: 152)."""
    per_cell = ONE_HOT_CHANNELS if one_hot else 3
    return VIEW * VIEW * per_cell + 4 + 1 + len(VOCABULARY)


def encode_mission(mission: str) -> np.ndarray:
    """Bag-of-words counts ``(len(VOCABULARY),)`` float32 of a mission string.

    Commas are ignored; ValueError naming the word for a word outside :data:`VOCABULARY`.
    """
    counts = np.zeros(len(VOCABULARY), np.float32)
    for word in mission.replace(",", " ").lower().split():
        if word not in _WORD_INDEX:
            raise ValueError(f"mission word {word!r} is not in the BabyAI vocabulary")
        counts[_WORD_INDEX[word]] += 1
    return counts


def encode_observation(image: np.ndarray, direction: int, carrying: bool, mission: str,
                       one_hot: bool = True) -> np.ndarray:
    """One observation as a float32 vector of :func:`observation_size` entries.

    ``image (7, 7, 3)`` integer codes (object, colour, state) as minigrid returns them, indexed
    ``[column, row]`` of the egocentric view; ``direction`` in 0..3; ``carrying`` whether the
    agent holds an object. Layout: view (``[column, row, channel]`` flattened; one-hot channels are
    object types, then colours, then states), direction one-hot, carrying, mission counts.
    ValueError for a wrong image shape, a code out of range or a direction outside 0..3.
    """
    image = np.asarray(image)
    if image.shape != (VIEW, VIEW, 3):
        raise ValueError(f"image must have shape (7, 7, 3), got {image.shape}")
    if not 0 <= int(direction) < 4:
        raise ValueError(f"direction must be in 0..3, got {direction}")
    limits = (len(OBJECT_TO_IDX), len(COLOR_TO_IDX), len(STATE_TO_IDX))
    if one_hot:
        view = np.zeros((VIEW, VIEW, ONE_HOT_CHANNELS), np.float32)
        offset = 0
        for channel, limit in enumerate(limits):
            codes = image[..., channel].astype(np.int64)
            if codes.min() < 0 or codes.max() >= limit:
                raise ValueError(f"image channel {channel} has codes outside 0..{limit - 1}")
            np.put_along_axis(view, offset + codes[..., None], 1.0, axis=-1)
            offset += limit
    else:
        view = image.astype(np.float32)
    heading = np.zeros(4, np.float32)
    heading[int(direction)] = 1.0
    return np.concatenate([view.ravel(), heading, np.float32([float(carrying)]),
                           encode_mission(mission)])


@dataclass
class VecStep:
    """What :meth:`BotVecEnv.step` returns for ``N`` environments.

    ``obs (N, observation_size)`` the next observations (a new episode's first one where the
    episode ended), ``labels (N,)`` the bot's action for ``obs``, ``done (N,)`` episode ended at
    this step (success, time-out or bot failure), ``success (N,)`` ended with a positive reward,
    ``lengths (N,)`` steps of the episode that ended (0 where ``done`` is False), ``bot_failed
    (N,)`` the bot raised on the state this step produced (the environment was reset).
    """

    obs: np.ndarray
    labels: np.ndarray
    done: np.ndarray
    success: np.ndarray
    lengths: np.ndarray
    bot_failed: np.ndarray


class BotVecEnv:
    """``n_envs`` BabyAI environments of one level, stepped together, each with its own bot.

    Args:
        level: a registered environment id, e.g. ``"BabyAI-GoToRedBall-v0"``.
        n_envs: number of environments ``N``.
        seed: seeds the per-environment Generators (``np.random.SeedSequence(seed).spawn(N)``)
            that draw every episode seed from ``seed_range``.
        seed_range: ``[low, high)`` of episode seeds (default :data:`TRAIN_SEEDS`).
        episode_seeds: instead of drawing, play exactly these episodes in order (environment
            ``i`` plays seeds ``i, i + N, ...``); ``pending`` says whether any are left.
        one_hot: one-hot or raw view codes (see :func:`encode_observation`).
        bot_factory: builds a bot from an environment (default ``BabyAIBot``; tests pass faulty
            bots).

    The bot labels every state the agent visits, re-planned with the action the agent actually
    took. When a bot raises (it can, on states a student creates, e.g. an opened box), the failure
    is counted in :attr:`bot_failures`, the episode ends unsuccessfully and that environment is
    reset. ValueError for an unknown level or ``n_envs < 1``.
    """

    def __init__(self, level: str, n_envs: int, seed: int = 0,
                 seed_range: tuple[int, int] = TRAIN_SEEDS,
                 episode_seeds: Sequence[int] | None = None, one_hot: bool = True,
                 bot_factory: Callable[[gym.Env], BabyAIBot] = BabyAIBot) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        if level not in gym.registry:
            raise ValueError(f"unknown environment {level!r} (expected e.g. BabyAI-GoToRedBall-v0)")
        self.level = level
        self.n_envs = n_envs
        self.one_hot = one_hot
        self.bot_factory = bot_factory
        self.seed_range = seed_range
        self.envs = [gym.make(level) for _ in range(n_envs)]
        self.rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_envs)]
        self.queues = None if episode_seeds is None else [
            list(episode_seeds[i::n_envs]) for i in range(n_envs)]
        self.bots: list[BabyAIBot | None] = [None] * n_envs
        self.episode_seed = np.full(n_envs, -1, np.int64)
        self.steps = np.zeros(n_envs, np.int64)
        self.active = np.ones(n_envs, bool)
        self.bot_failures = 0
        self._obs = np.zeros((n_envs, observation_size(one_hot)), np.float32)
        self._labels = np.zeros(n_envs, np.int64)

    @property
    def pending(self) -> bool:
        """Whether a fixed-seed run still has episodes to play (always True when drawing)."""
        return bool(self.active.any())

    def reset(self) -> tuple[np.ndarray, np.ndarray]:
        """Start every environment's episode: observations ``(N, D)``, bot labels ``(N,)``."""
        for i in range(self.n_envs):
            self._start(i)
        return self._obs.copy(), self._labels.copy()

    def agent_positions(self) -> np.ndarray:
        """``(N, 2)`` int agent ``(x, y)`` grid positions."""
        return np.array([e.unwrapped.agent_pos for e in self.envs], np.int64)

    def step(self, actions: np.ndarray) -> VecStep:
        """Apply ``actions (N,)`` (ints in 0..6); finished environments start a new episode."""
        n = self.n_envs
        done = np.zeros(n, bool)
        success = np.zeros(n, bool)
        lengths = np.zeros(n, np.int64)
        failed = np.zeros(n, bool)
        for i, env in enumerate(self.envs):
            if not self.active[i]:
                continue
            action = int(actions[i])
            obs, reward, terminated, truncated, _ = env.step(action)
            self.steps[i] += 1
            if not (terminated or truncated):
                try:
                    self._labels[i] = int(self.bots[i].replan(action))
                    self._obs[i] = self._encode(i, obs)
                    continue
                except Exception:  # noqa: BLE001 - the bot's planner raises plain Exceptions
                    self.bot_failures += 1
                    failed[i] = True
            done[i] = True
            success[i] = bool(terminated and reward > 0)
            lengths[i] = self.steps[i]
            self._start(i)
        return VecStep(self._obs.copy(), self._labels.copy(), done, success, lengths, failed)

    def close(self) -> None:
        """Close every environment."""
        for env in self.envs:
            env.close()

    def _encode(self, i: int, obs: dict) -> np.ndarray:
        env = self.envs[i].unwrapped
        return encode_observation(obs["image"], obs["direction"], env.carrying is not None,
                                  obs["mission"], self.one_hot)

    def _start(self, i: int) -> None:
        """Reset environment ``i`` with its next episode seed and give it a fresh bot."""
        while True:
            if self.queues is None:
                seed = int(self.rngs[i].integers(*self.seed_range))
            elif self.queues[i]:
                seed = int(self.queues[i].pop(0))
            else:
                self.active[i] = False
                return
            with contextlib.redirect_stdout(io.StringIO()):  # minigrid prints rejected samples
                obs, _ = self.envs[i].reset(seed=seed)
            self.episode_seed[i] = seed
            self.steps[i] = 0
            try:
                self.bots[i] = self.bot_factory(self.envs[i])
                self._labels[i] = int(self.bots[i].replan())
            except Exception:  # noqa: BLE001 - a bot that cannot plan the start is skipped
                self.bot_failures += 1
                continue
            self._obs[i] = self._encode(i, obs)
            return
