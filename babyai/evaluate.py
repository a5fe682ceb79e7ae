"""Evaluate trained BabyAI policies on fresh episodes and draw where their routing goes.

For each run ``NAME`` (a folder of ``babyai/train.py`` under ``--runs``): ``--episodes`` greedy
episodes on seeds never used in training (``core.envs.babyai.EVAL_SEEDS``), the bot alone and a
uniformly random policy (chance level) on the same seeds, then success rate (Wilson 95 %
interval), mean episode length against the bot's, bot agreement, LPC per step, and for
Mixture-of-Pathways runs the expert use per grid cell and per episode phase. Results go to
``--results`` (HDF5, one entry per run), figures to ``--figures`` (``core.plotting.babyai``;
with MoP runs at several alphas also expert use across alpha). A run whose stored results are
current (same network) is not evaluated again unless ``--overwrite``. Each run's
``evaluation.csv`` (success as accuracy, the random policy as chance, for ``core.runs``) is written
when missing, with ``--overwrite`` or for a recomputed stale entry, and otherwise kept (an
evaluation into another ``--results`` does not replace it). Figures are drawn from every
entry of ``--results``, those drawn before it was last written again, the others kept.

Example::

    python babyai/evaluate.py BabyAI-GoToRedBall-v0_seed0_cost1e5+hidden64+batch32+dagger+mop \\
        --runs runs/babyai --episodes 500 --figures docs/figures/babyai
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from core.analysis.babyai import (
    bot_episodes,
    evaluate_policy,
    random_episodes,
    routing_by_cell,
    routing_by_phase,
    success_interval,
)
from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_device_argument,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.envs.babyai import EVAL_SEEDS
from core.fileio import atomic_write_text
from core.io import list_runs, load_results, save_results
from core.models import build_model
from core.plotting import draw_from_stored
from core.plotting.babyai import babyai_figures
from core.provenance import claim, load_current, record
from core.tasks.accuracy import RuleScore
from core.training.checkpoint import load_checkpoint, load_json, load_model_state
from core.training.trainer import CHECKPOINT_FILE, CONFIG_FILE, EVALUATION_FILE, score_table_csv


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    add_trained_runs_arguments(p, figures_help="figure folder of all the named runs (None: "
                                               "<runs>/figures)")
    p.set_defaults(runs="runs/babyai")
    p.add_argument("--episodes", type=positive_int, default=500, help="fresh episodes per run")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="evaluation block: episode seeds EVAL_SEEDS[0] + seed * 1e6 + "
                        "[0, episodes)")
    p.add_argument("--n-envs", type=positive_int, default=32, help="environments stepped together")
    p.add_argument("--phase-bins", type=positive_int, default=5, help="bins of episode phase")
    p.add_argument("--results", type=Path, default=Path("results/babyai.h5"),
                   help="HDF5 file of evaluation results (one entry per run)")
    p.add_argument("--overwrite", action="store_true",
                   help="evaluate again runs whose stored results are current")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_device_argument(p)
    add_threads_argument(p)
    return p


def evaluate_run(run_dir: Path, seeds: np.ndarray, n_envs: int, phase_bins: int,
                 device: torch.device, seed: int) -> tuple[dict, dict]:
    """Results and config of one run folder (see the module docstring)."""
    config = load_json(run_dir / CONFIG_FILE)
    model = build_model(config["kind"], config["model"]).to(device)
    load_model_state(model, load_checkpoint(run_dir / CHECKPOINT_FILE)["model"])
    level = config["level"]
    r = evaluate_policy(model, level, seeds, n_envs, config["one_hot"], device)
    bot = bot_episodes(level, seeds, n_envs)
    chance = random_episodes(level, seeds, seed)
    order = np.argsort(r["seed"])
    out = {k: r[k][order] for k in ("seed", "success", "length")}
    low, high = success_interval(int(out["success"].sum()), len(out["success"]))
    out.update(bot_length=bot["length"], bot_success=bot["success"],
               random_success=chance["success"], success_low=low,
               success_high=high, agreement=float(r["agree"].mean()),
               bot_failures=r["bot_failures"], level=level, kind=config["kind"],
               alpha=float(config["dagger"]["alpha"]))
    if config["kind"] == "mop":
        sizes = config["model"]["layers"]
        width = max(len(s) for s in sizes)
        out["layer_sizes"] = np.array([list(s) + [-1] * (width - len(s)) for s in sizes])
        out["lpc"] = r["lpc"]
        env = gym.make(level).unwrapped
        length = r["length"][r["episode"]]
        out["cells"], out["phase"] = {}, {}
        for l in range(len(sizes)):
            gates = r[f"gates{l}"]
            out[f"gates{l}"] = gates
            out["cells"][f"layer{l}"] = routing_by_cell(gates, r["position"],
                                                        (env.width, env.height))
            out["phase"][f"layer{l}"] = routing_by_phase(gates, r["t"], length, phase_bins)
    return out, config


def write_evaluation(run_dir: Path, result: dict) -> None:
    """``run_dir/evaluation.csv`` (:func:`core.training.trainer.score_table_csv`, one row named
    after the level): success on the evaluation episodes as the accuracy, with its Wilson
    interval, and the random policy's success on the same seeds as the chance level, so that
    ``python -m core.runs`` lists it as the run's ``eval_accuracy``."""
    score = RuleScore(int(np.sum(result["success"])), len(result["success"]),
                      float(np.mean(result["random_success"])))
    atomic_write_text(run_dir / EVALUATION_FILE, score_table_csv({str(result["level"]): score}))


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    device = resolve_device(args.device)
    runs = Path(args.runs)
    for name in args.names:
        if not (runs / name / CHECKPOINT_FILE).is_file():
            raise FileNotFoundError(f"{runs / name}: no trained run (checkpoint.pt missing)")
    todo, replace = [], set(args.names) if args.overwrite else set()
    for name in args.names:
        try:
            note = claim(args.results, name, args.overwrite)
        except FileExistsError:
            print(f"{name}: stored results are current, reused ({args.results}; --overwrite "
                  "evaluates again)")
            if not (runs / name / EVALUATION_FILE).is_file():  # evaluated before it was written
                write_evaluation(runs / name, load_results(args.results, name))
            continue
        if note:  # a stale entry: the run's evaluation.csv describes the old network too
            print(note)
            replace.add(name)
        todo.append(name)
    start = EVAL_SEEDS[0] + args.seed * 10**6
    seeds = np.arange(start, start + args.episodes)
    for name in tqdm(todo, disable=args.no_progress, desc="runs"):
        torch.manual_seed(args.seed)
        result, config = evaluate_run(runs / name, seeds, args.n_envs, args.phase_bins, device,
                                      args.seed)
        save_results(args.results, name, result, config, overwrite=True,
                     provenance=record(args.results, runs / name / CHECKPOINT_FILE))
        csv_path = runs / name / EVALUATION_FILE
        if name in replace or not csv_path.is_file():
            write_evaluation(runs / name, result)
        else:
            print(f"kept {csv_path} (of an evaluation stored elsewhere; --overwrite replaces it)")
        s, n = int(result["success"].sum()), len(result["success"])
        lpc = f", LPC/step {np.mean(result['lpc']):.1f}" if "lpc" in result else ""
        print(f"{name}: success {s}/{n} = {100 * s / n:.1f}% (95% CI "
              f"{100 * result['success_low']:.1f}-{100 * result['success_high']:.1f}; random "
              f"policy {100 * result['random_success'].mean():.1f}%), length "
              f"{result['length'].mean():.1f} vs bot {result['bot_length'].mean():.1f}, "
              f"bot agreement {100 * result['agreement']:.1f}%, bot failures "
              f"{int(result['bot_failures'])}{lpc}")
    figures = Path(args.figures) if args.figures else runs / "figures"
    everything = {n: load_current(args.results, n, f"python babyai/evaluate.py {n} --overwrite")
                  for n in list_runs(args.results)}
    # a figure drawn before the results file was last written is drawn again, the others kept
    print(draw_from_stored(babyai_figures(everything), figures, results=args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
