"""Agent steps per second of DAgger on BabyAI (environments + bot + policy), and where time goes.

Runs ``--updates`` DAgger updates (after one warm-up) of the ``babyai/train.py`` defaults
(``--n-envs`` environments, ``--unroll`` steps, ``--replay`` Adam steps per update) for each
policy and splits the wall time into: environment steps and resets (minigrid), the bot's
planning (``BabyAIBot`` construction and ``replan``), observation encoding, acting (the policy's
``step`` without gradients, the beta mixture, bookkeeping) and learning (re-running buffered
unrolls with gradients, backward, clipping, Adam).

    nice python benchmarks/bench_babyai.py            # CPU, 1 thread
    python benchmarks/bench_babyai.py --device cuda   # policy on a GPU (envs and bot stay on CPU)
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from minigrid.utils.baby_ai_bot import BabyAIBot

from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_device_argument,
    add_threads_argument,
    cli_main,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.envs.babyai import N_ACTIONS, VOCABULARY, BotVecEnv, observation_size
from core.models import build_model
from core.training.dagger import DaggerConfig, DaggerLearner

TIMES: defaultdict[str, float] = defaultdict(float)


def timed(key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that adds its wall time to ``TIMES[key]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[key] += time.perf_counter() - start
    return wrapper


class TimedBot(BabyAIBot):
    """The BabyAI bot with its construction and re-planning timed."""

    def __init__(self, env: Any) -> None:
        timed("bot", super().__init__)(env)

    def replan(self, action_taken: int | None = None) -> int:
        return timed("bot", super().replan)(action_taken)


def parse_args() -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--level", default="BabyAI-GoToRedBall-v0", help="BabyAI environment id")
    p.add_argument("--policies", nargs="+", choices=("mop", "gru"), default=["mop", "gru"],
                   help="policies to time")
    p.add_argument("--updates", type=positive_int, default=5, help="timed DAgger updates")
    p.add_argument("--n-envs", type=positive_int, default=32, help="environments")
    p.add_argument("--unroll", type=positive_int, default=20, help="steps per unroll")
    p.add_argument("--replay", type=positive_int, default=8, help="Adam steps per update")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed")
    add_device_argument(p)
    add_threads_argument(p)
    return p.parse_args()


@cli_main
def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    device = resolve_device(args.device)
    n_in = observation_size(True)
    models = {
        "mop": ("mop", {"n_stimulus": n_in - len(VOCABULARY), "n_tasks": len(VOCABULARY),
                        "n_output": N_ACTIONS}),
        "gru": ("gru", {"n_in": n_in, "n_hidden": 128, "n_out": N_ACTIONS, "output_bias": True}),
    }
    print(f"{args.level}, {args.n_envs} envs x {args.unroll} steps, replay {args.replay}, "
          f"{torch.get_num_threads()} thread(s), device {device}")
    print("| policy | agent steps/s | envs | bot | encoding | acting | learning |")
    print("|---|---|---|---|---|---|---|")
    for policy in args.policies:
        torch.manual_seed(args.seed)
        kind, config = models[policy]
        model = build_model(kind, config).to(device)
        venv = BotVecEnv(args.level, args.n_envs, seed=args.seed, bot_factory=TimedBot)
        for env in venv.envs:
            env.step = timed("envs", env.step)
            env.reset = timed("envs", env.reset)
        venv._encode = timed("encoding", venv._encode)
        learner = DaggerLearner(model, venv, DaggerConfig(
            n_envs=args.n_envs, unroll=args.unroll, replay=args.replay, beta0=0.5),
            np.random.default_rng(args.seed), device)
        learner._train_on = timed("learning", learner._train_on)
        learner.update()  # warm-up
        TIMES.clear()
        start = time.perf_counter()
        for _ in range(args.updates):
            learner.update()
        total = time.perf_counter() - start
        acting = total - sum(TIMES.values())
        steps = args.updates * args.unroll * args.n_envs
        shares = [TIMES["envs"], TIMES["bot"], TIMES["encoding"], acting, TIMES["learning"]]
        print(f"| {policy} | {steps / total:.0f} | "
              + " | ".join(f"{100 * s / total:.0f} %" for s in shares) + " |")
        venv.close()


if __name__ == "__main__":
    main()
