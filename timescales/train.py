"""Train timescale RNNs on N-parity / N-DMS along curricula (Khajehabdollahi, Zeraati et al. 2024).

Each (curriculum, seed) pair trains one fresh network for the same number of steps, writes a
checkpoint each time an N is solved (``<out>/<run name>+N{n}/checkpoint.pt``) and the network at
the end (``<out>/<run name>+last/``, also when no N was solved, which is then said), and stores
its curve (accuracy per head, N reached) in ``--results`` under the run name. Head flags as in
the reference code: ``--init-heads``, ``--add-heads`` (multi/cumulative), ``--forget-heads``
(sliding).

A run that exists already (its folders under --out or its entry in --results) is refused
before any training, with one line naming --resume and --overwrite: runs are never replaced
silently. --resume continues the runs stopped by a signal, skips finished ones and starts those
not started; --overwrite removes each run's folders and entry just before training it again
(results computed from the old network, e.g. by analyze.py, are then stale).

Ctrl-C (SIGINT) or SIGTERM ends the current step, saves the whole training state as the run's
+last checkpoint and exits with status 130 or 143; --resume continues it bit-for-bit.

Example (CPU, a few minutes)::

    python timescales/train.py --curricula single multi --seeds 0 1 2 --hidden 64 --batch 64 \\
        --steps 3000 --eval-every 100 --eval-batches 4 --optimizer adam --lr 0.003
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import torch

from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_threads_argument,
    cli_main,
    fail,
    non_negative_int,
    set_threads,
)
from core.errors import CheckpointError, RunExistsError
from core.io import list_runs, save_results
from core.models.timescale_rnn import (
    ACTIVATIONS,
    CELLS,
    PLACEMENTS,
    TimescaleRNN,
    TimescaleRNNConfig,
)
from core.provenance import record
from core.tasks.memory import MEMORY_TASKS
from core.training.checkpoint import load_checkpoint
from core.training.curriculum import (
    CURRICULA,
    CURRICULUM_ALIASES,
    OPTIMIZERS,
    CurriculumConfig,
    clear_curriculum_run,
    curriculum_run_folders,
    curriculum_run_name,
    last_checkpoint_path,
    resume_mismatch,
    save_reached_checkpoint,
    train_curriculum,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[3],
                       formatter_class=DefaultsHelpFormatter)
    p.add_argument("--task", choices=MEMORY_TASKS, default="parity", help="memory task")
    p.add_argument("--curricula", nargs="+", choices=CURRICULA + tuple(CURRICULUM_ALIASES),
                   default=["multi"],
                   help="curricula to train (one network per curriculum and seed; cumulative = "
                        "multi, the reference's name)")
    p.add_argument("--seeds", nargs="+", type=non_negative_int, default=[0],
                   help="random seeds: each trains one network per curriculum (its weights, "
                        "training batches and evaluation batches)")
    p.add_argument("--steps", type=int, default=600_000, help="training steps per network")
    p.add_argument("--n-start", type=int, default=2, help="first N of the curriculum")
    p.add_argument("--n-max", type=int, default=None, help="stop once this N is solved")
    p.add_argument("--window", type=int, default=5, help="Ns kept by the sliding curriculum")
    p.add_argument("--init-heads", type=int, default=1,
                   help="Ns (heads) trained from the start (multi and sliding)")
    p.add_argument("--add-heads", type=int, default=1,
                   help="Ns added each time the active Ns are solved (multi)")
    p.add_argument("--forget-heads", type=int, default=1,
                   help="Ns dropped and added each time the active Ns are solved (sliding)")
    p.add_argument("--threshold", type=float, default=0.98,
                   help="accuracy (fraction) that mean and newest head must exceed to advance")
    p.add_argument("--hidden", type=int, default=500, help="hidden units")
    p.add_argument("--cell", choices=CELLS, default="rnn",
                   help="rnn = trainable-timescale RNN; lstm / gru for comparison")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default="leaky_relu",
                   help="non-linearity f of the timescale RNN")
    p.add_argument("--placement", choices=PLACEMENTS, default="after_leak",
                   help="after_leak: h'=f((1-a)h+a(Wh+Ux+b)); before_leak: h'=(1-a)h+a f(...)")
    p.add_argument("--substeps", type=int, default=1,
                   help="Euler steps per input step (> 1: the continuous-time RNN, dt = 1/k)")
    p.add_argument("--fixed-tau", type=float, default=None,
                   help="keep every tau fixed at this value (>= 1) instead of training it")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                   help="sgd (Nesterov momentum) or adam")
    p.add_argument("--lr", type=float, default=0.05, help="learning rate")
    p.add_argument("--momentum", type=float, default=0.1, help="SGD momentum")
    p.add_argument("--clip", type=float, default=2.0, help="gradient-norm clip")
    p.add_argument("--batch", type=int, default=256, help="batch size")
    p.add_argument("--eval-every", type=int, default=600, help="steps between evaluations")
    p.add_argument("--eval-batches", type=int, default=50, help="batches per evaluation")
    add_threads_argument(p)
    p.add_argument("--out", type=Path, default=Path("runs/timescales"),
                   help="folder of the runs' checkpoint folders (<run name>+N<n>/ per solved N, "
                        "<run name>+last/)")
    p.add_argument("--results", type=Path, default=Path("results/timescales/curricula.h5"),
                   help="HDF5 file for the training curves (one entry per run name)")
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help="continue the runs stopped by a signal from their +last "
                               "checkpoint; runs already in --results are skipped, runs not "
                               "started are started")
    existing.add_argument("--overwrite", action="store_true",
                          help="replace runs that exist already: their folders under --out and "
                               "their entry in --results are removed before each is trained "
                               "again")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_threads(args.threads)
    model_config = TimescaleRNNConfig(
        n_hidden=args.hidden, heads=(args.n_start,), cell=args.cell,
        activation=args.activation, placement=args.placement,
        train_tau=args.fixed_tau is None,
        tau_fixed=1.0 if args.fixed_tau is None else args.fixed_tau, substeps=args.substeps)
    jobs = [CurriculumConfig(
        task=args.task, curriculum=c, n_start=args.n_start, window=args.window,
        init_heads=args.init_heads, add_heads=args.add_heads, forget_heads=args.forget_heads,
        threshold=args.threshold, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, clip=args.clip, batch_size=args.batch,
        eval_every=args.eval_every, eval_batches=args.eval_batches, max_steps=args.steps,
        n_max=args.n_max, seed=s) for s in args.seeds for c in args.curricula]
    names = [curriculum_run_name(job, model_config) for job in jobs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        fail(f"run {twice[0]} is asked for twice (--seeds or --curricula repeated; cumulative is "
             "multi); name each once")
    stored = set(list_runs(args.results)) if args.results.exists() else set()
    todo = []
    for job, name in zip(jobs, names, strict=True):  # every run checked before any is trained
        last = last_checkpoint_path(args.out, job, model_config)
        payload = load_checkpoint(last) if args.resume and last.is_file() else {}
        if args.resume and name in stored:
            print(f"{name}: finished already (in {args.results}); --resume does not extend a "
                  "finished run, --overwrite trains it again", flush=True)
        elif payload.get("interrupted"):
            if (differ := resume_mismatch(payload, job)) is not None:
                raise CheckpointError(f"cannot resume run {name}: its checkpoint was trained with "
                                      f"other settings ({differ}); resume with its flags")
            todo.append((job, payload))
        elif args.overwrite or not (name in stored or
                                    curriculum_run_folders(args.out, job, model_config)):
            todo.append((job, None))
        elif args.resume:
            raise CheckpointError(
                f"cannot resume run {name}: {args.out} holds it without an interrupted +last "
                f"checkpoint and {args.results} has no results for it; pass --overwrite to train "
                "it again")
        else:
            where = " and ".join(str(p) for p, there in (
                (args.results, name in stored),
                (args.out, curriculum_run_folders(args.out, job, model_config))) if there)
            raise RunExistsError(f"run {name} already exists in {where}; pass --resume to "
                                 "continue it if it was interrupted, or --overwrite to replace it")
    for job, resume in todo:
        torch.manual_seed(job.seed)
        model = TimescaleRNN(TimescaleRNNConfig(**asdict(model_config)))
        name = curriculum_run_name(job, model.config)
        if resume is not None:
            print(f"{name}: resuming at step {resume['step']}", flush=True)
        elif args.overwrite:
            clear_curriculum_run(args.out, job, model.config, args.results)
        history = train_curriculum(
            model, job, progress=not args.no_progress, out_dir=args.out, resume=resume,
            on_reached=lambda n, m, step, acc, job=job: save_reached_checkpoint(
                args.out, m, job, n, step, acc))
        last = last_checkpoint_path(args.out, job, model.config)
        save_results(args.results, name, history.as_arrays(),
                     config={"model_kind": "timescale_rnn", "model_config": model.config_dict(),
                             "curriculum": asdict(job)},
                     provenance=record(args.results, None, networks=[last]))
        if history.reached:
            print(f"{name}: reached N={history.n_reached} in {job.max_steps} steps", flush=True)
        else:
            print(f"{name}: solved no N in {job.max_steps} steps (N={history.n_newest[-1]} "
                  f"accuracy {history.mean_accuracy[-1]:.3f}); last network in {last}",
                  flush=True)


if __name__ == "__main__":
    main()
