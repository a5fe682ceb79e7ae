"""Analyse transfer runs of ``pretraining.py`` (the MPN lab's ``pretrain/pretraining_analysis.py``).

For every stage-2 run ``NAME`` (``<pair>-to-delayanti_seed...``) and the stage-1 run it started
from, ``<runs>/<NAME>/pretraining.h5`` receives (keyed by ``NAME``, with provenance):

- ``speed``: the first validation step at which stage-2 accuracy reached 0.5, 0.7, 0.8, 0.9,
  0.95 and 0.99 (NaN: never), and the stage-2 curve (``steps``, ``accuracy``);
- ``rule_vectors``: cosine between the learned rule vector (the reserved input column) and each
  pretrained rule's column, and between the two pretrained columns;
- ``subspaces/<space>/<epoch>`` for space ``hidden`` (and ``M``, ``WM`` = W⊙M for the MPN) and
  epoch ``stim1``/``go``: cumulative variance of the new rule's direction-averaged activity in
  its own first k PCs and in each pretrained rule's, participation ratios, and principal angles
  (``scipy.linalg.subspace_angles``) between the first ``--angle-dims`` PCs;
- ``M_change`` (MPN): per epoch shared by both rules, cosine and Frobenius distance between the
  trial-mean M at the epoch's end in stage 2 (new rule) and in stage 1 (each pretrained rule);
- ``evaluation``: the stage-2 network's accuracy on fresh delayanti trials, with its 95 % Wilson
  interval and chance level, from the run's ``evaluation.csv`` (``pretraining.py`` writes it; for
  a run without one, ``--eval-trials`` trials are scored and the file written, the same trials
  training would have used: :func:`core.analysis.fresh_evaluation`).

Test trials are noise-free, ``--test-trials`` per rule with one shared timing. A run whose
stored entry is current (computed from the stage-2 and stage-1 networks now on disk and with the
same ``--test-trials``, ``--pcs``, ``--angle-dims`` and ``--seed``, recorded with it:
:mod:`core.provenance`) is not recomputed: one line says it is reused. A stale one (a run trained
again or further, other options, or stored before it recorded them) is recomputed, and one line
says why; ``--overwrite`` recomputes every named run (:func:`core.analysis.analyse_runs`). Then,
drawn from the stored results of all named runs as ``paper_plot.py --only pretraining`` does:
the transfer-speed table (per motif and network, the steps to each level as mean and 95 %
t-interval over seeds that reached it and how many did, and the fresh-trial accuracy as mean and
95 % t-interval over seeds with each seed's value and chance; printed and written to
``<figures>/transfer_speed.md``) and the learning curves (mean and 95 % t-interval over seeds at
the steps every seed reached, :func:`core.analysis.seeds.curve_interval`;
``<figures>/transfer_curves.{pdf,png}``). The table file is rewritten when its text changes; the
figure is kept while drawn after the table and the runs' results were last written, and drawn
again otherwise or when missing (:func:`core.plotting.transfer.draw_summary`).

Example::

    python pretrain/pretraining_analysis.py $(ls runs/pretrain | grep -- -to-) --runs runs/pretrain
"""

from __future__ import annotations

import argparse
import dataclasses
from functools import partial
from pathlib import Path

import numpy as np
import torch

from core.analysis import analyse_runs, fresh_evaluation, resolve_run
from core.analysis.transfer import (
    SPEED_THRESHOLDS,
    cosine,
    cumulative_variance,
    direction_means,
    first_step_reaching,
    matrix_change,
    participation_ratio,
    principal_angles,
    principal_components,
    score_arrays,
    speed_table,
    transfer_curve_groups,
)
from core.cli import (
    ArgumentParser,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    folder,
    non_negative_int,
    positive_int,
    set_threads,
)
from core.plotting.transfer import draw_summary, group_curves_figure
from core.provenance import option_sources
from core.tasks import MPN_LAB, TaskConfig, chance_level, generate_trials
from core.training.checkpoint import load_json
from core.training.trainer import CHECKPOINT_FILE, CONFIG_FILE, load_run
from core.training.transfer import HELD_OUT_RULE

RESULTS_FILE = "pretraining.h5"
EPOCHS = ("stim1", "go")
#: The options that change a run's stored results (recorded as a provenance source: results of
#: other options are recomputed, not reused). ``--eval-trials`` is not one: the score is read
#: from the run's ``evaluation.csv`` once it exists.
RESULT_OPTIONS = ("test_trials", "pcs", "angle_dims", "seed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(description="Transfer speed, rule vectors, subspaces and M "
                                            "across stages of pretraining runs.")
    add_trained_runs_arguments(p, figures=False)
    p.add_argument("--figures", type=folder, default=Path("results/pretrain"),
                   help="folder of the summary table and figure (default: %(default)s)")
    p.add_argument("--test-trials", type=positive_int, default=64,
                   help="noise-free test trials per rule (default: %(default)s)")
    p.add_argument("--pcs", type=positive_int, default=10,
                   help="principal components for cumulative variance (default: %(default)s)")
    p.add_argument("--angle-dims", type=positive_int, default=3,
                   help="PCs spanning each subspace for principal angles (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the test trials (default: %(default)s)")
    p.add_argument("--eval-trials", type=positive_int, default=500,
                   help="fresh delayanti trials scored for a stage-2 run without evaluation.csv "
                        "(then written there, as pretraining.py does; default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute the stored results of every named run, also current ones "
                        "(without it, current results are reused and stale ones recomputed), "
                        "or replace an unreadable pretraining.h5")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar over the runs")
    add_threads_argument(p)
    return p.parse_args(argv)


def _run(model: torch.nn.Module, trials) -> dict[str, np.ndarray]:
    with torch.no_grad():
        _, states = model(torch.from_numpy(trials.x), track_states=True)
    out = {"hidden": states["hidden"].numpy()}
    if "M" in states:
        m = states["M"].numpy()
        out["M"] = m
        out["WM"] = m * model.layers[-1].W.detach().numpy()
    return out


def _samples(activity: np.ndarray, trials, epoch: str) -> np.ndarray:
    start, end = trials.epochs[epoch][0]
    part = direction_means(activity[start:end], trials.params["stim1_loc"])
    return part.reshape(part.shape[0], -1)


def stage1_checkpoint(run_dir: Path, runs: Path) -> list[Path]:
    """The checkpoint of the stage-1 run a stage-2 run started from (one item; the results are
    also computed from it). ValueError for a run that is not a stage-2 transfer run."""
    stage1 = load_json(run_dir / CONFIG_FILE).get("stage1")
    if stage1 is None:
        raise ValueError(f"{run_dir.name} is not a stage-2 transfer run (no stage1 in its config)")
    return [resolve_run(runs, stage1["name"]) / CHECKPOINT_FILE]


def analyse(run_dir: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """The results of one stage-2 run and its config."""
    model2, config2, payload2 = load_run(run_dir)
    model1, _, _ = load_run(stage1_checkpoint(run_dir, args.runs)[0].parent)
    task = dataclasses.replace(TaskConfig.from_dict(config2["task"]), timing_per_trial=False)
    pair = list(task.rules)
    curves = payload2["curves"]
    accuracy = [a[HELD_OUT_RULE] for a in curves["val_accuracy"]]
    results: dict = {
        "pair": np.asarray(pair), "network": config2["model_kind"],
        "speed": {"thresholds": np.asarray(SPEED_THRESHOLDS),
                  "first_step": first_step_reaching(curves["val_step"], accuracy),
                  "steps": np.asarray(curves["val_step"]), "accuracy": np.asarray(accuracy)}}
    w1, w2 = model1.w_in.weight.detach().numpy(), model2.w_in.weight.detach().numpy()
    learned = w2[:, task.rule_index(HELD_OUT_RULE)]
    results["rule_vectors"] = {
        **{f"learned_vs_{r}": cosine(learned, w1[:, task.rule_index(r)]) for r in pair},
        "pretrained_pair": cosine(w1[:, task.rule_index(pair[0])],
                                  w1[:, task.rule_index(pair[1])])}
    rng = np.random.default_rng([args.seed, 4])
    trials = {r: generate_trials(r, task, args.test_trials, rng, noise=False)
              for r in [*pair, HELD_OUT_RULE]}
    states = {r: _run(model1 if r in pair else model2, t) for r, t in trials.items()}
    subspaces: dict = {}
    for space in states[HELD_OUT_RULE]:
        for epoch in EPOCHS:
            new = _samples(states[HELD_OUT_RULE][space], trials[HELD_OUT_RULE], epoch)
            entry = {"own": cumulative_variance(new, principal_components(new, args.pcs)),
                     "participation_ratio_new": participation_ratio(new)}
            own_axes = principal_components(new, args.angle_dims)
            for r in pair:
                old = _samples(states[r][space], trials[r], epoch)
                entry[f"in_{r}"] = cumulative_variance(new, principal_components(old, args.pcs))
                entry[f"participation_ratio_{r}"] = participation_ratio(old)
                entry[f"angles_{r}"] = principal_angles(
                    own_axes, principal_components(old, args.angle_dims))
            subspaces.setdefault(space, {})[epoch] = entry
    results["subspaces"] = subspaces
    if "M" in states[HELD_OUT_RULE]:
        change: dict = {}
        held = trials[HELD_OUT_RULE]
        for r in pair:
            shared = [e for e in held.epochs if held.epochs[e][0, 1] > 0
                      and trials[r].epochs[e][0, 1] > 0]
            pairs = [matrix_change(states[r]["M"][trials[r].epochs[e][0, 1] - 1].mean(axis=0),
                                   states[HELD_OUT_RULE]["M"][held.epochs[e][0, 1] - 1]
                                   .mean(axis=0)) for e in shared]
            change[r] = {"epochs": np.asarray(shared),
                         "cosine": np.asarray([c for c, _ in pairs]),
                         "frobenius": np.asarray([d for _, d in pairs])}
        results["M_change"] = change
    results["evaluation"] = score_arrays(fresh_evaluation(run_dir, args.eval_trials))
    return results, config2


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Analyse every named stage-2 run, then summarise them."""
    args = parse_args(argv)
    set_threads(args.threads)
    stored = analyse_runs(args.runs, args.names, RESULTS_FILE, args.overwrite,
                          partial(analyse, args=args), progress=not args.no_progress,
                          sources=option_sources(args, RESULT_OPTIONS),
                          networks=partial(stage1_checkpoint, runs=args.runs))
    table = speed_table(stored)
    print(table)
    curves = group_curves_figure(transfer_curve_groups(stored),
                                 ylabel=f"{HELD_OUT_RULE} validation accuracy",
                                 chance=chance_level(HELD_OUT_RULE, MPN_LAB))
    print(draw_summary(args.figures, "transfer_speed.md", table, {"transfer_curves": curves},
                       {name: Path(args.runs) / name / RESULTS_FILE for name in stored}))


if __name__ == "__main__":
    main()
