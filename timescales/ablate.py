"""Ablate and perturb one trained memory-task network (Khajehabdollahi, Zeraati et al. 2024).

Ablation: the activity of the ``k`` neurons with the fastest or slowest trained τ (or ``k``
random ones, as a control) is masked to zero at every step, and the accuracy of each active
head is measured. Perturbation: Gaussian noise of relative size ``scale`` is added to the
recurrent weights W or to τ, then the network is retrained on its active Ns and the accuracy
is recorded along the way. Results go to ``--results`` under the checkpoint's run name.

``--from-reference PATH`` ablates a network trained by the reference code (Khajehabdollahi,
Zeraati et al. 2024, LevinaLab/rnn_timescale_public, ``rnn_N{min}_N{max}``; a folder: each of its
files) instead: its heads
``N = min … max`` are the active Ns, the task is read from its folder name (or ``--task``),
retraining uses the paper's optimiser (``CurriculumConfig`` defaults) with ``--batch`` and keeps
its τ fixed (it is loaded as a fixed buffer; the reference would retrain it), and the results are
stored as ``reference_<folder>_<file>``. Outputs are checked before any work.

Example::

    python timescales/ablate.py runs/timescales/parity_seed0_multi+hidden64+batch64+adam+N16
    python timescales/ablate.py \\
        --from-reference trained_models/cumulative_parity_network_1/rnn_N2_N11
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from core.analysis.timescales import ablation_mask, neurons_by_tau, perturbed_copy
from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_threads_argument,
    cli_main,
    fail,
    non_negative_int,
    set_threads,
)
from core.fileio import figure_files, refuse_existing
from core.io import save_results
from core.models.timescale_rnn import (
    INITIAL_STATES,
    TimescaleRNN,
    reference_checkpoints,
    reference_task,
)
from core.plotting.style import save_figure
from core.plotting.timescales import plot_ablation
from core.provenance import claim, file_digest, record
from core.tasks.memory import MEMORY_TASKS
from core.training.curriculum import (
    CurriculumConfig,
    active_ns,
    evaluate,
    load_reached_checkpoint,
    retrain_curve,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("checkpoint", type=Path, nargs="?",
                   help="per-N checkpoint folder (or its checkpoint.pt) written by train.py")
    p.add_argument("--from-reference", type=Path, metavar="PATH",
                   help="reference-code checkpoint rnn_N<min>_N<max>, or a folder of them (each "
                        "ablated and stored under its own name), instead of CHECKPOINT")
    p.add_argument("--task", choices=MEMORY_TASKS, default=None,
                   help="task of a --from-reference network (default: from its folder name)")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size of evaluation and retraining (default: the run's; 256 for "
                        "a reference network)")
    p.add_argument("--initial-state", choices=INITIAL_STATES, default="zero",
                   help="initial hidden state of every trial (random: 0.1*U(0,1), the reference's)")
    p.add_argument("--k", nargs="+", type=int, default=[1, 2, 4, 8],
                   help="numbers of neurons ablated")
    p.add_argument("--scales", nargs="+", type=float, default=[0.1, 0.3],
                   help="relative perturbation sizes")
    p.add_argument("--retrain-steps", type=int, default=300, help="retraining steps")
    p.add_argument("--eval-every", type=int, default=50, help="steps between retraining evals")
    p.add_argument("--eval-batches", type=int, default=4, help="batches per evaluation")
    add_threads_argument(p)
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of data, noise and random ablations")
    p.add_argument("--results", type=Path, default=Path("results/timescales/ablation.h5"),
                   help="HDF5 output")
    p.add_argument("--overwrite", action="store_true", help="replace an existing entry")
    p.add_argument("--figure", type=Path, default=None,
                   help="figure path without suffix, suffixed _<name> for several networks "
                        "(default results/timescales/ablation_<name>)")
    return p.parse_args(argv)


@dataclass
class Network:
    """One network to ablate: model, curriculum settings, active Ns, result name, source."""

    model: TimescaleRNN
    config: CurriculumConfig
    ns: list[int]
    name: str
    path: Path


def load_networks(args: argparse.Namespace) -> list[Network]:
    """The lab checkpoint, or every file of a reference file or folder."""
    if (args.checkpoint is None) == (args.from_reference is None):
        fail("give either CHECKPOINT or --from-reference PATH")
    networks = []
    if args.from_reference is not None:
        task = args.task or reference_task(args.from_reference)
        if task is None:
            fail(f"{args.from_reference}: the folder name names no task; pass --task")
        for path in reference_checkpoints(args.from_reference).values():
            model = TimescaleRNN.from_reference(path, initial_state=args.initial_state)
            networks.append(Network(model, CurriculumConfig(task=task, n_start=model.heads[0]),
                                    list(model.heads), f"reference_{path.parent.name}_{path.name}",
                                    path))
    else:
        path = args.checkpoint / "checkpoint.pt" if args.checkpoint.is_dir() else args.checkpoint
        model, payload = load_reached_checkpoint(path)
        model.config.initial_state = args.initial_state
        config = CurriculumConfig(**payload["curriculum"])
        networks.append(Network(model, config, active_ns(config.curriculum, payload["n"],
                                                         config.n_start, config.window),
                                path.parent.name, path))
    for net in networks:
        net.config = replace(net.config, eval_batches=args.eval_batches, seed=args.seed,
                             batch_size=args.batch or net.config.batch_size)
        if net.model.config.cell != "rnn":
            fail(f"{net.path}: ablation by tau needs a timescale RNN checkpoint (cell=rnn)")
        if max(args.k) >= net.model.config.n_hidden:
            fail(f"--k must stay below n_hidden={net.model.config.n_hidden}")
    return networks


def figure_path(args: argparse.Namespace, net: Network, several: bool) -> Path:
    """``--figure`` (suffixed by the name when there are several networks) or the default."""
    if args.figure is None:
        return Path(f"results/timescales/ablation_{net.name}")
    return args.figure.with_name(f"{args.figure.name}_{net.name}") if several else args.figure


def ablate(args: argparse.Namespace, net: Network) -> dict:
    """Ablation accuracies and retraining curves of one network."""
    model, config, ns = net.model, net.config, net.ns
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    tau = model.tau.detach().numpy()
    h = model.config.n_hidden

    def accuracy(mask=None) -> np.ndarray:
        return evaluate(model, config.task, ns, config.batch_size, config.eval_batches,
                        np.random.default_rng(args.seed + 1), mask)

    results: dict = {"ns": np.array(ns), "k": np.array(args.k), "tau": tau,
                     "intact_accuracy": accuracy()}
    for which in ("fastest", "slowest", "random"):
        results[f"ablate_{which}"] = np.array([accuracy(ablation_mask(h, (
            rng.choice(h, k, replace=False) if which == "random"
            else neurons_by_tau(tau, k, which)))) for k in args.k])
    for target in ("w_rec", "tau"):
        curves = [retrain_curve(perturbed_copy(model, target, s, rng), config, ns,
                                args.retrain_steps, args.eval_every) for s in args.scales]
        results[f"perturb_{target}"] = {"scale": np.array(args.scales), "step": curves[0][0],
                                        "accuracy": np.array([c[1] for c in curves])}
    return results


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    networks = load_networks(args)
    several = len(networks) > 1
    refuse_existing([f for net in networks for f in figure_files(figure_path(args, net, several))],
                    args.overwrite)
    for net in networks:
        if note := claim(args.results, net.name, args.overwrite):
            print(note)
    set_threads(args.threads)
    for net in networks:
        results = ablate(args, net)
        save_results(args.results, net.name, results, config={
            "checkpoint": str(net.path), "from_reference": args.from_reference is not None,
            "k": args.k, "scales": args.scales, "seed": args.seed,
            "batch": net.config.batch_size, "initial_state": args.initial_state,
            "retrain_steps": args.retrain_steps}, overwrite=True,
            provenance=record(args.results, None, sources={"reference": file_digest(net.path)})
            if args.from_reference is not None else record(args.results, net.path))
        for p in save_figure(plot_ablation(results, title=net.name),
                             figure_path(args, net, several)):
            print(p)
        print(f"{net.name}: intact {results['intact_accuracy'].mean():.3f}")
        for which in ("fastest", "slowest", "random"):
            print(f"  ablate {which:8s} k={args.k}: "
                  f"{results[f'ablate_{which}'].mean(axis=1).round(3).tolist()}")
        for target in ("w_rec", "tau"):
            acc = results[f"perturb_{target}"]["accuracy"]
            print(f"  perturb {target}: scales {args.scales} accuracy after perturbation "
                  f"{acc[:, 0].round(3).tolist()} after retraining "
                  f"{acc[:, -1].round(3).tolist()}")


if __name__ == "__main__":
    main()
