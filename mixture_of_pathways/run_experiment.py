"""Train a Mixture-of-Pathways network on Mod-Cog (Cook, Akarca, Costa & Achterberg 2025).

The flags and defaults are those of the reference ``cli/run_experiment.py`` (jackcook/
mixture-of-pathways), including its optimiser, schedule-free AdamW (``schedulefree``, weight
decay 0; ``--optimizer adamw`` for ``torch.optim.AdamW`` with weight decay 0.01, which earlier
versions of this script used), ``--early-stopping-threshold`` (stop after the first step whose
training loss is below it) and ``--num-runs`` (here: that many seeds from ``--seed``). Each step
draws ``--batch-size`` fresh streams of ``--seq-len`` steps (back-to-back trials of random
tasks) and minimises Eq. 2 (per-task cross-entropy plus the performance-scaled routing cost) plus
the fixation loss. After every epoch of ``--num-steps`` steps the network is evaluated on held-out
streams (a Generator independent of the training one) and a checkpoint is written to
``<out>/<run name>/`` (``checkpoint.pt``, ``config.json``, ``curves.csv``, ``validation.csv``).
At the end the network is scored on ``--eval-trials`` fresh trials per task (whole trials, every
response step right; :func:`core.analysis.routing.fresh_stream_scores`) into ``evaluation.csv``
(accuracy, 95 % Wilson interval and chance level per task), as the rule-based families do.

Examples::

    python mixture_of_pathways/run_experiment.py --task-id modcog/all --device cuda
    python mixture_of_pathways/run_experiment.py --task-id modcog/16 -l 0,8,16 -l 0,8,16 \\
        --batch-size 32 --seq-len 120 --num-epochs 4 --num-steps 250 --device cpu
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from core.analysis.routing import fresh_stream_scores, routing_statistics
from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_run_arguments,
    cli_main,
    non_negative_int,
    resolve_device,
    set_threads,
)
from core.fileio import atomic_write_text
from core.models.mop import (
    MixtureOfPathways,
    MixtureOfPathwaysConfig,
    mop_loss,
    parse_layers,
    task_routing_cost,
)
from core.tasks import RuleScore
from core.tasks.modcog import ModCogConfig, generate_stream, resolve_tasks, split_generators
from core.training import Trainer, Validation, run_name
from core.training.naming import format_strength
from core.training.trainer import EVALUATION_FILE, accuracy_table, score_table_csv

DEFAULT_LAYERS = ("0,16,32", "0,16,32", "0,16,32")


OPTIMIZERS = {"schedulefree": 0.0, "adamw": 0.01}
"""The optimisers of ``--optimizer`` and their weight decay (each library's default)."""


@dataclass
class MoPTrainConfig:
    """Optimisation settings of a MoP run, with the field names :class:`core.training.Trainer`
    reads: schedule-free AdamW as the reference trains (``optimizer="schedulefree"``) or plain
    AdamW, no gradient clipping, and the reference's early stop on the training loss."""

    n_steps: int
    val_every: int
    checkpoint_every: int
    lr: float = 1e-2
    optimizer: str = "schedulefree"
    weight_decay: float = 0.0
    grad_clip: float = 0.0
    scheduler: str = "none"
    l1: float = 0.0
    l2: float = 0.0
    l2_sum: float = 0.0
    target_accuracy: float | None = None
    early_stopping_threshold: float | None = None


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--task-id", default="modcog/all",
                   help="modcog/all (82 tasks), modcog/16, modcog/<task> or modcog/<a>,<b>,...")
    p.add_argument("--layers", "-l", action="append", default=None,
                   help="comma-separated expert sizes of one layer (0 = skip); repeat per layer "
                        f"(default: {' '.join('-l ' + s for s in DEFAULT_LAYERS)})")
    p.add_argument("--intermediate-dim", type=int, default=64,
                   help="output size of every expert and block")
    p.add_argument("--router-dim", type=int, default=64, help="hidden size of each router GRU")
    p.add_argument("--task-dim", type=int, default=16, help="size of the learned task embedding")
    p.add_argument("--cost-based-loss-alpha", type=float, default=1e-5,
                   help="alpha of Eq. 2: weight of the routing cost (0 switches it off)")
    p.add_argument("--cost-based-loss-epsilon", type=float, default=1e-2,
                   help="epsilon of Eq. 2: keeps alpha C / (epsilon + CE) finite")
    p.add_argument("--expert-cost-exponent", type=float, default=2.0,
                   help="kappa: an expert of size h costs h ** kappa")
    p.add_argument("--disable-task-performance-scaling", action="store_true",
                   help="use alpha C_k instead of alpha C_k / (epsilon + CE_k)")
    p.add_argument("--dropout-max-prob", type=float, default=0.8,
                   help="beta of Eq. 3: dropout probability of an expert with routing weight 0")
    p.add_argument("--dropout-router-weight-threshold", type=float, default=0.1,
                   help="gamma of Eq. 3: experts with a routing weight below it may be dropped")
    p.add_argument("--disable-fixation-loss", action="store_true",
                   help="train on the response-period cross-entropy only")
    p.add_argument("--disable-task-embedding-layer", action="store_true",
                   help="feed the rule one-hot directly instead of a learned task embedding")
    p.add_argument("--num-epochs", type=int, default=10, help="number of epochs")
    p.add_argument("--num-steps", type=int, default=1000, help="training steps per epoch")
    p.add_argument("--batch-size", type=int, default=128, help="streams per training batch")
    p.add_argument("--seq-len", type=int, default=350, help="time steps (100 ms) per stream")
    p.add_argument("--learning-rate", type=float, default=1e-2, help="learning rate")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default="schedulefree",
                   help="schedule-free AdamW (the reference's, weight decay 0) or "
                        "torch.optim.AdamW (weight decay 0.01); adamw runs carry +adamw in "
                        "their name")
    p.add_argument("--early-stopping-threshold", type=float, default=None,
                   help="stop after the first step whose training loss is below this "
                        "(None: train every step)")
    p.add_argument("--num-runs", type=int, default=1,
                   help="train this many runs one after the other, with seeds --seed, "
                        "--seed + 1, ...")
    p.add_argument("--eval-batches", type=int, default=4,
                   help="held-out batches (of --batch-size streams) evaluated after each epoch")
    p.add_argument("--eval-trials", type=int, default=500,
                   help="fresh trials per task scored after training into evaluation.csv")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="random seed (data, init, dropout)")
    add_run_arguments(p, out="runs/mixture_of_pathways")
    return p


def mop_run_name(task_id: str, seed: int, model: MixtureOfPathwaysConfig, alpha: float,
                 batch: int, performance_scaling: bool, fixation_loss: bool,
                 optimizer: str = "schedulefree") -> str:
    """``{task}_seed{seed}_{cost}+hidden{intermediate}+batch{batch}+mop+L{layers}[+flags]``,
    e.g. ``modcog-all_seed0_cost1e5+hidden64+batch128+mop+L0-16-32.0-16-32.0-16-32``; the flags
    mark departures from the reference (``+noemb``, ``+noscale``, ``+nofix``, ``+adamw``)."""
    task = task_id.replace("/", "-").replace(",", ".")
    feature = f"cost{format_strength(alpha)}" if alpha > 0 else "nocost"
    layers = ".".join("-".join(str(s) for s in layer) for layer in model.layers)
    flags = "".join(flag for flag, on in (("+noemb", not model.task_embedding),
                                          ("+noscale", not performance_scaling),
                                          ("+nofix", not fixation_loss),
                                          ("+adamw", optimizer == "adamw")) if on)
    return run_name(task, seed, feature, model.intermediate_dim, batch, f"+mop+L{layers}{flags}")


def stored_run_name(run_config: dict) -> str:
    """The name :func:`mop_run_name` gives the run of a stored ``run_config`` (``config.json``
    or a checkpoint's ``config``); runs stored before ``optimizer`` was recorded count as
    unflagged. KeyError if the config lacks a field the name needs."""
    model = MixtureOfPathwaysConfig(**run_config["model"])
    loss = run_config["loss"]
    return mop_run_name(run_config["task"]["task_id"], run_config["seed"], model, loss["alpha"],
                        run_config["task"]["batch_size"], loss["performance_scaling"],
                        loss["fixation_loss"],
                        run_config["train"].get("optimizer", "schedulefree"))


class ModCogTraining:
    """Wiring of Mod-Cog streams, the MoP loss and held-out evaluation for the Trainer."""

    def __init__(self, tasks: tuple[str, ...], args: argparse.Namespace, device: torch.device):
        self.tasks = tasks
        self.args = args
        self.device = device
        self.task_config = ModCogConfig()
        _, held_out = split_generators(args.seed)
        self.held_out = [
            generate_stream(tasks, args.batch_size, args.seq_len, held_out,
                            self.task_config).to_torch(device)
            for _ in range(args.eval_batches)]

    def sample_batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """A fresh batch of training streams on the device."""
        return generate_stream(self.tasks, self.args.batch_size, self.args.seq_len, rng,
                               self.task_config).to_torch(self.device)

    def loss_fn(self, model: MixtureOfPathways, batch: tuple[torch.Tensor, ...]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 2 plus the fixation loss; the routing cost averages over all of a task's steps."""
        x, labels, task_ids, response = batch
        logits, states = model(x, track_states=True)
        probs = [states[f"routing{l}"] for l in range(len(model.blocks))]
        cost = task_routing_cost(probs, model.layer_costs(), task_ids, len(self.tasks))
        loss, _ = mop_loss(logits, labels, task_ids, response, cost,
                           alpha=self.args.cost_based_loss_alpha,
                           epsilon=self.args.cost_based_loss_epsilon,
                           performance_scaling=not self.args.disable_task_performance_scaling,
                           fixation_loss=not self.args.disable_fixation_loss)
        return loss, logits

    def evaluate(self, model: MixtureOfPathways) -> Validation:
        """Mean loss and per-task response-period accuracy on the held-out streams."""
        loss = float(np.mean([float(self.loss_fn(model, b)[0]) for b in self.held_out]))
        stats = routing_statistics(model, self.held_out, self.tasks)
        return Validation(loss, {t: float(a) for t, a in zip(self.tasks, stats.accuracy,
                                                             strict=True)})


@cli_main
def main(argv: list[str] | None = None) -> list[Path]:
    """Train ``--num-runs`` runs; returns their folders."""
    args = build_parser().parse_args(argv)
    tasks = resolve_tasks(args.task_id)
    layers = parse_layers(args.layers or list(DEFAULT_LAYERS))
    for name in ("num_epochs", "num_steps", "batch_size", "seq_len", "eval_batches", "num_runs",
                 "eval_trials"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if args.learning_rate <= 0 or args.cost_based_loss_alpha < 0:
        raise ValueError("--learning-rate must be > 0 and --cost-based-loss-alpha >= 0")
    if args.early_stopping_threshold is not None and args.early_stopping_threshold <= 0:
        raise ValueError("--early-stopping-threshold must be > 0")
    set_threads(args.threads)
    seeds = range(args.seed, args.seed + args.num_runs)
    return [train_run(args, tasks, layers, seed) for seed in seeds]


def train_run(args: argparse.Namespace, tasks: tuple[str, ...],
              layers: tuple[tuple[int, ...], ...], seed: int) -> Path:
    """Train (or resume) the run of ``seed``; returns its folder."""
    args = argparse.Namespace(**{**vars(args), "seed": seed})
    task_cfg = ModCogConfig()
    model_cfg = MixtureOfPathwaysConfig(
        n_stimulus=task_cfg.n_input, n_tasks=len(tasks), n_output=task_cfg.n_output,
        layers=layers, intermediate_dim=args.intermediate_dim, router_dim=args.router_dim,
        task_dim=args.task_dim, task_embedding=not args.disable_task_embedding_layer,
        dropout_max_prob=args.dropout_max_prob,
        dropout_router_weight_threshold=args.dropout_router_weight_threshold,
        expert_cost_exponent=args.expert_cost_exponent)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = MixtureOfPathways(model_cfg).to(device)
    wiring = ModCogTraining(tasks, args, device)
    train_cfg = MoPTrainConfig(n_steps=args.num_epochs * args.num_steps,
                               val_every=args.num_steps, checkpoint_every=args.num_steps,
                               lr=args.learning_rate, optimizer=args.optimizer,
                               weight_decay=OPTIMIZERS[args.optimizer],
                               early_stopping_threshold=args.early_stopping_threshold)
    name = mop_run_name(args.task_id, args.seed, model_cfg, args.cost_based_loss_alpha,
                        args.batch_size, not args.disable_task_performance_scaling,
                        not args.disable_fixation_loss, args.optimizer)
    run_config = {
        "kind": "mop", "model": model.config_dict(), "train": asdict(train_cfg),
        "task": {"task_id": args.task_id, "tasks": list(tasks), "seq_len": args.seq_len,
                 "batch_size": args.batch_size, "eval_batches": args.eval_batches,
                 "num_steps": args.num_steps, **asdict(task_cfg)},
        "loss": {"alpha": args.cost_based_loss_alpha, "epsilon": args.cost_based_loss_epsilon,
                 "performance_scaling": not args.disable_task_performance_scaling,
                 "fixation_loss": not args.disable_fixation_loss},
        "seed": args.seed,
    }
    trainer = Trainer(model, train_cfg, sample_batch=wiring.sample_batch, loss_fn=wiring.loss_fn,
                      evaluate=wiring.evaluate, run_dir=args.out / name, run_config=run_config,
                      seed=args.seed, progress=not args.no_progress)
    result = trainer.fit(resume=args.resume, overwrite=args.overwrite)
    val = result.final_validation
    acc = f", held-out accuracy {val.mean_accuracy:.3f}" if val is not None else ""
    print(f"{name}: {result.step} steps in {result.seconds:.0f} s (stopped: {result.stopped})"
          f"{acc}", file=sys.stderr)
    scores = store_evaluation(model, run_config, args.out / name, args.eval_trials)
    print(f"accuracy on {args.eval_trials} fresh trials per task:\n{accuracy_table(scores)}",
          file=sys.stderr)
    return args.out / name


def store_evaluation(model: MixtureOfPathways, run_config: dict, run_dir: Path, n_trials: int,
                     seed: int | None = None) -> dict[str, RuleScore]:
    """Score ``model`` on ``n_trials`` fresh trials per task
    (:func:`core.analysis.routing.fresh_stream_scores`; ``seed``: the run's unless given) and
    write ``<run_dir>/evaluation.csv`` (:func:`core.training.trainer.score_table_csv`,
    atomically); returns the scores. Also ``evaluate.py``'s, for stored runs."""
    scores = fresh_stream_scores(model, run_config, n_trials, seed)
    atomic_write_text(run_dir / EVALUATION_FILE, score_table_csv(scores))
    return scores


if __name__ == "__main__":
    main()
