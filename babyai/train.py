"""Train a closed-loop BabyAI policy (Mixture-of-Pathways or GRU) by DAgger from the BabyAI bot.

Each of ``--steps`` updates collects ``--unroll`` steps in ``--n-envs`` environments (the student
acts greedily, the bot's action is mixed in with probability beta0 * beta_decay ** update), the
bot labels every visited state, and ``--replay`` Adam steps run on buffered unrolls (truncated
BPTT; see ``core.training.dagger``). The run folder ``<out>/<name>/`` holds ``checkpoint.pt``,
``config.json``, ``curves.csv`` and ``status.json`` (updates done of ``--steps``: what
``python -m core.runs`` reads to tell a finished run); ``--resume`` continues from the checkpoint
with fresh episodes (an error without one, unless ``--resume=if-exists``).

Example::

    python babyai/train.py --level BabyAI-GoToRedBall-v0 --policy mop --alpha 1e-5 --steps 150
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import signal
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_run_arguments,
    cli_main,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.envs.babyai import N_ACTIONS, VOCABULARY, BotVecEnv, observation_size
from core.errors import RunExistsError, TrainingDiverged, TrainingInterrupted
from core.fileio import atomic_write_text, save_json
from core.models import build_model
from core.models.mop import parse_layers
from core.training.checkpoint import (
    load_checkpoint,
    load_json,
    load_model_state,
    model_state,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from core.training.dagger import DaggerConfig, DaggerLearner
from core.training.naming import format_strength, run_name
from core.training.trainer import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    CURVES_FILE,
    STOP_SIGNALS,
    check_run_target,
    clear_run,
    deferred_signals,
    write_status,
)

CURVE_FIELDS = ("update", "agent_steps", "episodes", "success_rate", "beta", "loss", "ce",
                "cost", "lpc", "bot_failures")
COUNT_FIELDS = ("update", "agent_steps", "episodes", "bot_failures")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--level", default="BabyAI-GoToRedBall-v0", help="BabyAI environment id")
    p.add_argument("--policy", choices=("mop", "gru"), default="mop", help="policy network")
    p.add_argument("--alpha", type=float, default=1e-5,
                   help="routing-cost weight of Eq. 2 (Cook et al. 2025); MoP only (ignored for "
                        "gru); 0: none")
    p.add_argument("--epsilon", type=float, default=1e-2, help="epsilon of Eq. 2")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seeds weights, episodes and mixing")
    p.add_argument("--steps", type=positive_int, default=150, help="DAgger updates")
    p.add_argument("--n-envs", type=positive_int, default=32, help="environments stepped together")
    p.add_argument("--unroll", type=positive_int, default=20, help="steps per unroll (TBPTT)")
    p.add_argument("--replay", type=positive_int, default=8, help="Adam steps per update")
    p.add_argument("--buffer", type=positive_int, default=32, help="unrolls kept for replay")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--grad-clip", type=float, default=1.0, help="gradient-norm clip (0: none)")
    p.add_argument("--beta0", type=float, default=1.0, help="bot-action probability at update 0")
    p.add_argument("--beta-decay", type=float, default=0.97, help="beta factor per update")
    p.add_argument("--hidden", type=positive_int, default=64,
                   help="GRU hidden units, or the MoP intermediate dimension")
    p.add_argument("--layers", "-l", action="append", default=None,
                   help="MoP expert sizes of one layer, comma-separated (0 = skip); repeat per "
                        "layer (default: -l 0,16,32 -l 0,16,32 -l 0,16,32)")
    p.add_argument("--raw-codes", action="store_true",
                   help="encode the view as raw integer codes instead of one-hot")
    p.add_argument("--checkpoint-every", type=positive_int, default=25,
                   help="updates between checkpoints")
    p.epilog = ("Ctrl-C (SIGINT) or SIGTERM saves a checkpoint after the current update and "
                "exits with status 130 or 143; --resume continues from it with fresh episodes and "
                "an empty replay buffer (not bit-for-bit: running environments cannot be stored "
                "pickle-free). Training stops as diverged (exit 2, last checkpoint kept) when the "
                "loss is NaN/inf.")
    add_run_arguments(p, out="runs/babyai")
    return p


def make_model(args: argparse.Namespace) -> tuple[str, torch.nn.Module]:
    """The policy of ``args`` with ``observation_size`` inputs and 7 action logits."""
    n_in = observation_size(not args.raw_codes)
    if args.policy == "gru":
        return "gru", build_model("gru", {"n_in": n_in, "n_hidden": args.hidden,
                                          "n_out": N_ACTIONS, "output_bias": True})
    layers = parse_layers(args.layers or ["0,16,32"] * 3)
    return "mop", build_model("mop", {
        "n_stimulus": n_in - len(VOCABULARY), "n_tasks": len(VOCABULARY), "n_output": N_ACTIONS,
        "layers": layers, "intermediate_dim": args.hidden})


def babyai_run_name(args: argparse.Namespace) -> str:
    """``{level}_seed{seed}_{cost code}+hidden{h}+batch{n_envs}+dagger+{policy}[+raw]``."""
    alpha = args.alpha if args.policy == "mop" else 0.0
    feature = f"cost{format_strength(alpha)}" if alpha > 0 else "nocost"
    suffix = f"+dagger+{args.policy}" + ("+raw" if args.raw_codes else "")
    return run_name(args.level, args.seed, feature, args.hidden, args.n_envs, suffix)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    device = resolve_device(args.device)
    name = babyai_run_name(args)
    run_dir = args.out / name
    existing = check_run_target(run_dir, args.resume, args.overwrite)
    torch.manual_seed(args.seed)
    kind, model = make_model(args)
    model.to(device)
    dagger = DaggerConfig(n_envs=args.n_envs, unroll=args.unroll, lr=args.lr,
                          grad_clip=args.grad_clip, beta0=args.beta0, beta_decay=args.beta_decay,
                          alpha=args.alpha if kind == "mop" else 0.0, epsilon=args.epsilon,
                          replay=args.replay, buffer=args.buffer)
    config = {"kind": kind, "model": model.config_dict(), "dagger": vars(dagger),
              "level": args.level, "seed": args.seed, "one_hot": not args.raw_codes}
    rng = np.random.default_rng(args.seed)
    venv = BotVecEnv(args.level, args.n_envs, seed=args.seed, one_hot=not args.raw_codes)
    learner = DaggerLearner(model, venv, dagger, rng, device)
    curves: list[dict[str, float]] = []
    if existing and args.overwrite:
        clear_run(run_dir)
    elif CHECKPOINT_FILE in existing:  # --resume
        stored = load_json(run_dir / CONFIG_FILE)
        if stored != _plain(config):
            raise RunExistsError(f"{run_dir}: stored config differs from these flags")
        payload = load_checkpoint(run_dir / CHECKPOINT_FILE)
        load_model_state(model, payload["model"])
        learner.load_state_dict(payload["learner"])
        restore_rng_state(rng, payload["rng"])
        with open(run_dir / CURVES_FILE, newline="") as f:
            curves = [{k: int(v) if k in COUNT_FIELDS else float(v) for k, v in row.items()}
                      for row in csv.DictReader(f)]
    elif args.resume:
        tqdm.write(f"{run_dir}: no checkpoint to resume, starting the run", file=sys.stderr)
    save_json(run_dir / CONFIG_FILE, config)
    write_status(run_dir, learner.update_index, args.steps,
                 "n_steps" if learner.update_index >= args.steps else None)
    episodes = int(curves[-1]["episodes"]) if curves else 0
    saved = learner.update_index  # the update of the checkpoint on disk
    bar = tqdm(range(learner.update_index, args.steps), initial=learner.update_index,
               total=args.steps, disable=args.no_progress, desc=name[:40])
    with deferred_signals(STOP_SIGNALS) as received:
        for update in bar:
            batch = learner.update()
            if not math.isfinite(batch.loss):
                write_status(run_dir, saved, args.steps, "diverged")
                raise TrainingDiverged(f"{name}: loss {batch.loss} at update {update + 1}; the "
                                       f"checkpoint of update {saved} in {run_dir} is kept")
            ended = int(batch.done.sum())
            episodes += ended
            rate = float(batch.success.sum() / ended) if ended else float("nan")
            curves.append({"update": update + 1, "agent_steps": (update + 1) * batch.done.size,
                           "episodes": episodes, "success_rate": rate, "beta": batch.beta,
                           "loss": batch.loss, "ce": batch.ce, "cost": batch.cost,
                           "lpc": batch.lpc, "bot_failures": venv.bot_failures})
            bar.set_postfix(success=f"{rate:.2f}", ce=f"{batch.ce:.3f}", beta=f"{batch.beta:.2f}")
            if received or (update + 1) % args.checkpoint_every == 0 or update + 1 == args.steps:
                _save(run_dir, model, learner, rng, curves, args.steps)
                saved = update + 1
            if received:
                break
    venv.close()
    if received:
        raise TrainingInterrupted(
            f"stopped by {signal.Signals(received[0]).name} at update {saved}; checkpoint of "
            f"update {saved} in {run_dir}; continue with --resume", received[0])
    recent = [c["success_rate"] for c in curves[-10:] if math.isfinite(c["success_rate"])]
    success = f"{np.mean(recent):.2f}" if recent else "n/a (no episode ended)"
    print(f"{name}: {episodes} episodes, training success {success} (last 10 updates), bot "
          f"failures {venv.bot_failures}")
    return 0


def _plain(obj: dict) -> dict:
    """``obj`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(obj))


def _save(run_dir: Path, model: torch.nn.Module, learner: DaggerLearner,
          rng: np.random.Generator, curves: list[dict[str, float]], n_steps: int) -> None:
    """Checkpoint, curves and status (:func:`core.training.trainer.write_status`: updates done
    of ``n_steps``, finished when they are all done)."""
    save_checkpoint(run_dir / CHECKPOINT_FILE, {"model": model_state(model),
                                                "learner": learner.state_dict(),
                                                "rng": rng_state(rng)})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CURVE_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(curves)
    atomic_write_text(run_dir / CURVES_FILE, text.getvalue())
    done = learner.update_index
    write_status(run_dir, done, n_steps, "n_steps" if done >= n_steps else None)


if __name__ == "__main__":
    sys.exit(main())
