"""Analyse a stored two-task run (or a one-task run) without retraining.

For each run NAME under ``--runs`` (trained by ``two_task/two_task.py``, or by
``one_task/one_task.py``), computed through ``core.analysis``:

1. interpolation (two-task runs): answers and output for rule inputs ``α·A + (1 − α)·B``,
   α = 0, 0.1, ..., 1, on the test grid (:func:`core.analysis.two_task.interpolation_readout`);
   the delay-epoch fixed points at each of ``--fp-alphas`` for ``--fp-stimuli`` directions and
   their bifurcation diagram (:func:`core.analysis.two_task.interpolation_fixed_points`);
2. attractor similarity over learning: cosine similarity of pro and anti states for the same
   stimulus (and same response, different stimuli) at the end of the stimulus and delay
   epochs, hidden, M and W ⊙ M, at every stored stage;
3. cross-epoch subspaces of hidden and W ⊙ M (:mod:`core.analysis.subspaces`);
4. demixed PCA of hidden and W ⊙ M over stimulus, rule and time (:mod:`core.analysis.dpca`);
5. cancellation: readout projection of each input's current through ``W ⊙ (1 + M)``;
6. modulation per input channel ``‖M · W_in[:, c]‖``;
7. input-weight geometry per stage (:mod:`core.analysis.modulation`);
8. pruning: accuracy after zeroing the smallest 0-99.9 % of the plastic W
   (:func:`core.analysis.lesion.pruning_curve`).

Per-epoch fixed points (:func:`core.analysis.two_task.fixed_points_per_set`): on each long test
set of a two-task run (``<run>/stages/long_<epoch>/``, last stage) the fixed points of its long
epoch; on a one-task run those of every epoch of its test trials. An MPN's fixed points are
found by relaxing ``--fp-relax`` steps of its own dynamics, then L-BFGS, without Adam
(:func:`core.analysis.two_task.fixed_point_options`): its stable points are found, unstable ones
are likely missed; points that stay slow are stored and drawn as slow points.
``--no-fixed-points`` skips all fixed points (the slowest part).

One-task runs get analyses 2, 3, 5 and 6 and the per-epoch fixed points. Analyses of M (and 5,
6) need an MPN; pruning needs an MPN or a vanilla RNN. The stages and test trials come from
``<run>/stages/normal/`` (two-task) or ``<run>/stages/`` (one-task); the last stage is the
trained network. Results go to ``<runs>/<NAME>/two_task_analysis.h5`` keyed by the run name,
figures to ``<runs>/<NAME>/figures/`` (or ``--figures``), drawn by :mod:`core.plotting.two_task` (as
``paper_plot.py --only two_task`` redraws them).

Examples::

    python two_task/two_task_analysis.py delaygo-delayanti_seed0_sL21e2aL21e2+hidden64+batch64+angle
    python two_task/two_task_analysis.py NAME --runs runs --overwrite
    python two_task/two_task_analysis.py NAME --overwrite --fp-stimuli 0 \
        --fp-alphas 0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1     # full fixed-point grid
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.analysis import load_trained, resolve_run
from core.analysis.dpca import demixed_pca
from core.analysis.lesion import pruning_curve
from core.analysis.modulation import (
    channel_modulation,
    input_channel_names,
    input_contributions,
    input_groups,
    input_weight_geometry,
)
from core.analysis.state_space import run_model
from core.analysis.subspaces import cross_epoch_variance, epoch_groups
from core.analysis.two_task import (
    FP_ALPHAS,
    attractor_similarity,
    fixed_point_options,
    fixed_points_per_set,
    interpolation_fixed_points,
    interpolation_readout,
    stage_trials,
)
from core.cli import (
    ArgumentParser,
    add_threads_argument,
    add_trained_runs_arguments,
    cli_main,
    fail,
    non_negative_int,
    positive_int,
    run_figures,
    set_threads,
)
from core.io import save_results
from core.plotting import apply_style, save_figure
from core.plotting.one_task import read_stages
from core.plotting.two_task import two_task_figures
from core.provenance import claim, record
from core.tasks import EPOCHS, LONG_EPOCHS, generate_trials, same_epochs
from core.training.trainer import CHECKPOINT_FILE

RESULTS_FILE = "two_task_analysis.h5"
#: Stored input-embedding weights, by model kind.
INPUT_WEIGHT_KEYS = ("param/w_in.weight", "param/gru.weight_ih_l0")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_runs_arguments(p)
    p.add_argument("--components", type=positive_int, default=10,
                   help="largest number of PCs of the cross-epoch subspaces (default 10)")
    p.add_argument("--dpca-components", type=positive_int, default=3,
                   help="dPCA components per marginalization (default 3)")
    p.add_argument("--pruning-trials", type=positive_int, default=64,
                   help="fresh trials per rule of the pruning curve (default 64)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the pruning trials and the fixed points' seed noise (default 0)")
    p.add_argument("--fp-alphas", type=float, nargs="+", default=list(FP_ALPHAS),
                   help="α values of the delay-epoch fixed points (default "
                        f"{' '.join(f'{a:g}' for a in FP_ALPHAS)}; the full grid: "
                        "0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1)")
    p.add_argument("--fp-stimuli", type=int, default=4,
                   help="stimulus directions of the delay-epoch fixed points, evenly spread "
                        "over the test grid (default 4; 0: every direction)")
    p.add_argument("--fp-noise", type=int, default=1,
                   help="noisy copies of each trial's state seeding the fixed points (default 1)")
    p.add_argument("--fp-relax", type=positive_int, default=2000,
                   help="steps of an MPN's own dynamics before L-BFGS (default 2000)")
    p.add_argument("--fp-epochs", nargs="+", default=None,
                   help="epochs of the per-epoch fixed points (fix1 stim1 delay1 go ...; for a "
                        "two-task run, the long test sets of these epochs; default: all)")
    p.add_argument("--no-fixed-points", action="store_true",
                   help="skip the delay-epoch and per-epoch fixed points")
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace this run's entry in an existing {RESULTS_FILE}")
    p.add_argument("--no-figures", action="store_true",
                   help="store the results only (paper_plot.py --only two_task draws them)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_threads_argument(p)
    args = p.parse_args(argv)
    if args.fp_stimuli < 0 or args.fp_noise < 0 or not all(0 <= a <= 1 for a in args.fp_alphas):
        fail(f"--fp-stimuli and --fp-noise must be >= 0 and --fp-alphas in [0, 1], got "
             f"{args.fp_stimuli}, {args.fp_noise}, {args.fp_alphas}")
    unknown = sorted(set(args.fp_epochs or ()) - set(EPOCHS))
    if unknown:
        fail(f"unknown --fp-epochs {unknown}; expected some of {list(EPOCHS)}")
    return args


def _epoch_info(trials, dt: float) -> dict[str, np.ndarray]:
    names = [e for e in trials.epochs if trials.epochs[e][0, 0] >= 0]
    return {"epoch_names": np.asarray(names),
            "epoch_start": np.array([trials.epochs[e][0, 0] for e in names]),
            "dt": np.asarray(dt)}


def analyse(name: str, args: argparse.Namespace) -> tuple[dict, dict]:
    """All analyses of one run: the results dict that is stored, and the run's config."""
    run_dir = resolve_run(args.runs, name)
    model, task, run_config = load_trained(run_dir)
    two_task = (run_dir / "stages" / "normal").is_dir()
    folder = run_dir / "stages" / ("normal" if two_task else "")
    if not folder.is_dir():
        raise FileNotFoundError(f"{run_dir} has no stages/ (train it with two_task/two_task.py "
                                "or one_task/one_task.py)")
    stages = read_stages(folder)
    trials = stage_trials(stages[-1], task.dt)
    rules = list(dict.fromkeys(str(r) for r in trials.rule))
    is_mpn = type(model).__name__ == "DeepMultiPlasticNet"
    results: dict = {"family": "two_task" if two_task else "one_task",
                     "rules": np.asarray(rules)}
    steps = ["interpolation", "fixed points", "attractor similarity", "subspaces", "dPCA",
             "cancellation", "modulation", "input geometry", "pruning"]
    bar = tqdm(steps, desc=name[:40], disable=args.no_progress)

    def done() -> None:
        bar.update(1)

    if two_task and len(rules) == 2 and same_epochs(rules):
        results["interpolation"] = interpolation_readout(model, task, rules[0], rules[1])
    elif two_task:
        print(f"{name}: rules {rules} do not share their epochs: no rule-input interpolation")
    done()
    if not args.no_fixed_points:
        options = {**fixed_point_options(model, args.fp_relax), "n_noise": args.fp_noise,
                   "seed": args.seed}
        if "interpolation" in results:
            results["interpolation_fixed_points"] = interpolation_fixed_points(
                model, task, rules[0], rules[1], args.fp_alphas, args.fp_stimuli or None,
                **options)
        chosen = set(args.fp_epochs or EPOCHS)
        if two_task:
            sets = {f"long_{e}": (stage_trials(read_stages(run_dir / "stages" / f"long_{e}")[-1],
                                               task.dt), epoch)
                    for e, epoch in LONG_EPOCHS.items()
                    if epoch in chosen and (run_dir / "stages" / f"long_{e}").is_dir()}
        else:
            sets = {e: (trials, e) for e in trials.epochs if e in chosen}
        results["epoch_fixed_points"] = fixed_points_per_set(model, sets, **options)
    done()
    results["attractor_similarity"] = attractor_similarity(stages)
    done()
    _, states = run_model(model, trials.x, track_states=True, chunk_size=8)
    kinds = {"hidden": states["hidden"]}
    if is_mpn:
        kinds["WM"] = states["M"] * model.layers[-1].W.detach().numpy()
    results["subspaces"] = {k: cross_epoch_variance(epoch_groups(v, trials), args.components)
                            for k, v in kinds.items()}
    done()
    if two_task:
        stim = trials.params["stim1_loc"]
        results["dpca"] = {k: demixed_pca(v.reshape(v.shape[0], v.shape[1], -1), stim,
                                          trials.rule, args.dpca_components)
                           for k, v in kinds.items()}
    del kinds, states
    done()
    if is_mpn:
        results["cancellation"] = {**input_contributions(model, trials, input_groups(task, rules)),
                                   **_epoch_info(trials, task.dt)}
        done()
        names, groups = input_channel_names(task)
        results["modulation"] = {**channel_modulation(model, trials),
                                 "channel_names": np.asarray(names),
                                 "channel_group": np.asarray(groups),
                                 **_epoch_info(trials, task.dt)}
        done()
    else:
        bar.update(2)
    if two_task:
        key = next((k for k in INPUT_WEIGHT_KEYS if k in stages[0]), None)
        if key is not None:
            geometry = [input_weight_geometry(s[key]) for s in stages]
            results["input_geometry"] = {
                "step": np.array([int(s["step"]) for s in stages]),
                "gram": np.stack([g["gram"] for g in geometry]),
                "cosine": np.stack([g["cosine"] for g in geometry]),
                "channel_names": np.asarray(input_channel_names(task)[0])}
        done()
        if type(model).__name__ in ("DeepMultiPlasticNet", "LeakyRNN"):
            rng = np.random.default_rng(args.seed)
            fresh = {r: generate_trials(r, task, args.pruning_trials, rng) for r in rules}
            results["pruning"] = {**pruning_curve(model, fresh, task), "rules": np.asarray(rules)}
        done()
    bar.close()
    return results, run_config


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Analyse each run, store its results and draw its figures."""
    args = parse_args(argv)
    set_threads(args.threads)
    apply_style()
    for name in args.names:
        path = Path(args.runs) / name / RESULTS_FILE
        note = claim(path, name, args.overwrite)
        if note:
            print(note)
        provenance = record(path, path.parent / CHECKPOINT_FILE)
        results, run_config = analyse(name, args)
        save_results(path, name, results, config=run_config, overwrite=True,
                     provenance=provenance)
        print(f"{name}: results in {path}")
        if not args.no_figures:
            figures = run_figures(args.figures, path.parent, args.names)
            for stem, fig in two_task_figures(results, title=name).items():
                save_figure(fig, figures / stem)
            print(f"{name}: figures in {figures}")


if __name__ == "__main__":
    main()
