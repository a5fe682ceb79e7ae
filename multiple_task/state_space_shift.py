"""State space at stimulus onset: task geometry of the initial conditions (Driscoll et al. 2024).

After Driscoll, Shenoy & Sussillo (2024, Nat. Neurosci., Fig. 4): for each trained run NAME,
``--trials`` trials of every rule (input noise ``--noise``, the ``sigma_x`` of the task config)
are run, and the state at the end of fixation (hidden; for an MPN also M and W ⊙ M of the last
layer) is projected on its 2 leading PCs, labelled by rule and by computation category
(:data:`core.analysis.state_space.COMPUTATION_CATEGORIES`). For every pair of rules and every
first-stimulus direction both see (every rule draws its stimuli from a Generator seeded with
``--seed``, so trial ``i`` of rules with the same draw order gets the same stimulus), the distance
between the mean pre-stimulus states is set against the angle between the mean first post-onset
displacements, with Pearson r, slope and p (``scipy.stats.linregress``). Deviation from the
paper: the displacement is one step (``state[onset] - state[onset - 1]``), not a fitted local
flow. With several NAMEs the r of each population is summarised across networks (mean and 95 %
t interval), printed, stored (entry ``<names sorted, joined by ','>`` of
``<runs>/state_space_shift_runs.h5``, recording the per-run entries it came from; a current
entry is kept unless ``--overwrite``) and drawn.

Results go to ``<runs>/<NAME>/state_space_shift.h5`` (with the digest of the checkpoint they
describe: :mod:`core.provenance`; stale results are recomputed, current ones reused unless
``--overwrite``, their figures drawn from them where their files do not exist yet:
:func:`core.plotting.draw_from_stored`), figures to
``<runs>/<NAME>/figures/state_space_{rule,category,distance_angle}`` and, for several runs,
``<runs>/figures/state_space_r_across_runs``.

Example::

    python multiple_task/state_space_shift.py everything_seed0_L2...  # one or several run names
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.analysis import load_trained, resolve_run, warn_if_at_chance
from core.analysis.seeds import mean_interval
from core.analysis.state_space import (
    StateSpace,
    computation_category,
    distance_angle_fit,
    distance_vs_angle,
    onset_states,
    state_at,
)
from core.cli import (
    ArgumentParser,
    add_threads_argument,
    cli_main,
    folder,
    non_negative_int,
    run_figures,
    set_threads,
)
from core.io import save_results
from core.plotting import apply_style, draw_from_stored, save_figure
from core.plotting.multi_task import state_space_figures, state_space_r_figure
from core.provenance import claim, load_current, option_sources, record
from core.tasks import generate_trials, resolve_rules
from core.training.trainer import CHECKPOINT_FILE

RESULTS_FILE = "state_space_shift.h5"
SUMMARY_FILE = "state_space_shift_runs.h5"
REFRESH = "python multiple_task/state_space_shift.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", metavar="NAME", nargs="+",
                   help="run names (folders under --runs); several: r summarised across them")
    p.add_argument("--runs", default="runs", help="folder holding the runs (default: runs)")
    p.add_argument("--rules", default=None,
                   help="rules and rule-set names, comma-separated (default: all of the run)")
    p.add_argument("--trials", type=int, default=50, help="trials per rule (default 50)")
    p.add_argument("--noise", type=float, default=0.01,
                   help="input noise sigma_x of the trials (default 0.01)")
    p.add_argument("--figures", type=folder, default=None,
                   help="figure folder (default: <runs>/<NAME>/figures per run, "
                        "<runs>/figures for the summary; with several names, FIGURES/<NAME> "
                        "per run and FIGURES for the summary)")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute a run's entry of state_space_shift.h5 although it is "
                        "current, or replace an unreadable state_space_shift.h5")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of every rule's trials")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.trials < 2:
        p.error("--trials must be >= 2")
    if args.noise < 0:
        p.error("--noise must be >= 0")
    return args


def compute(run_dir: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """The results of one run (see the module docstring) and its run config."""
    model, task, run_config = load_trained(run_dir)
    rules = resolve_rules(args.rules) if args.rules else list(task.rules)
    missing = [r for r in rules if r not in task.rules]
    if missing:
        raise ValueError(f"rules {missing} are not trained in this run ({list(task.rules)})")
    noisy = dataclasses.replace(task, sigma_x=args.noise)
    is_mpn = hasattr(model, "layers")
    pops = ["hidden", "M"] if is_mpn else ["hidden"]
    pre: dict[str, dict] = {p: {} for p in pops}
    disp: dict[str, dict] = {p: {} for p in pops}
    stimulus = {}
    for rule in tqdm(rules, desc=run_dir.name, disable=args.no_progress):
        trials = generate_trials(rule, noisy, args.trials, np.random.default_rng(args.seed))
        onset = np.asarray(trials.epochs["fix1"])[:, 1].astype(int)
        stimulus[rule] = np.round(np.asarray(trials.params["stim1_loc"], float), 6)
        for pop in pops:  # (2, B, ...): the state before and at onset
            window = np.stack([state_at(model, trials.x, onset - 1, pop),
                               state_at(model, trials.x, onset, pop)])
            pre[pop][rule], disp[pop][rule] = onset_states(window, np.ones_like(onset))
    if is_mpn:
        weight = model.layers[-1].W.detach().numpy().ravel()
        pops.append("WM")
        pre["WM"] = {r: v * weight for r, v in pre["M"].items()}
        disp["WM"] = {r: v * weight for r, v in disp["M"].items()}
    trial_rule = np.repeat(rules, args.trials)
    results: dict = {"rules": np.asarray(rules), "populations": np.asarray(pops),
                     "trial_rule": trial_rule,
                     "category": np.asarray([computation_category(r) for r in trial_rule])}
    for pop in pops:
        states = np.concatenate([pre[pop][r] for r in rules])
        space = StateSpace(n_components=2).fit(states)
        table = distance_vs_angle(pre[pop], disp[pop], stimulus)
        results[pop] = {"pcs": space.transform(states),
                        "explained": space.explained_variance_ratio_, **table,
                        **distance_angle_fit(table["distance"], table["angle"])}
    return results, run_config


#: The options that change a run's stored results (recorded as a provenance source: results of
#: other options are recomputed, not reused).
RESULT_OPTIONS = ("rules", "trials", "noise", "seed")


def result_sources(args: argparse.Namespace) -> dict[str, str]:
    """Provenance sources of a run's results under ``args``: its :data:`RESULT_OPTIONS`."""
    return option_sources(args, RESULT_OPTIONS)


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Compute (or reuse), save and draw the state-space geometry of each run."""
    args = parse_args(argv)
    set_threads(args.threads)
    run_dirs = [resolve_run(args.runs, name) for name in args.names]
    for run_dir in run_dirs:
        warn_if_at_chance(run_dir)
    if args.rules:
        resolve_rules(args.rules)  # unknown names fail before any run is read
    keep_stored = False
    if len(args.names) > 1:
        try:
            claim(Path(args.runs) / SUMMARY_FILE, summary_key(args.names), args.overwrite)
        except FileExistsError:
            keep_stored = True
    apply_style()
    r_by_pop: dict[str, list[float]] = {}
    for name, run_dir in zip(args.names, run_dirs, strict=True):
        path = run_dir / RESULTS_FILE
        folder = run_figures(args.figures, run_dir, args.names)
        try:
            note = claim(path, name, args.overwrite, sources=result_sources(args))
        except FileExistsError:
            results = load_current(path, name, f"{REFRESH} {name} --overwrite",
                                   sources=result_sources(args))
            print(f"{name}: stored results are current, reused ({path}); "
                  f"{draw_from_stored(state_space_figures(results), folder)}")
        else:
            if note is not None:
                print(note)
            provenance = record(path, run_dir / CHECKPOINT_FILE, sources=result_sources(args))
            results, run_config = compute(run_dir, args)
            save_results(path, name, results, config=run_config, overwrite=True,
                         provenance=provenance)
            for stem, fig in state_space_figures(results).items():
                save_figure(fig, folder / stem)
        for pop in np.asarray(results["populations"]).astype(str):
            fit = results[pop]
            r_by_pop.setdefault(pop, []).append(float(fit["r"]))
            print(f"{name} {pop}: r = {float(fit['r']):.2f}, slope = {float(fit['slope']):.3g} "
                  f"°/unit, p = {float(fit['p']):.2g} ({len(fit['distance'])} rule pairs × "
                  "stimuli)")
    if len(args.names) > 1:
        summarise(r_by_pop, args, [(d / RESULTS_FILE, n) for n, d in zip(args.names, run_dirs,
                                                                         strict=True)],
                  keep_stored)


def summary_key(names: list[str]) -> str:
    """Key of a set of runs in :data:`SUMMARY_FILE`: their sorted names joined by ','."""
    return ",".join(sorted(names))


def summarise(r_by_pop: dict[str, list[float]], args: argparse.Namespace,
              inputs: list[tuple[Path, str]], keep_stored: bool) -> None:
    """Print, store (unless ``keep_stored``: the stored entry is current) and draw the mean r of
    each population across the runs ``inputs`` with its 95 % t interval (module docstring)."""
    summary = {pop: tuple(map(float, mean_interval(r))) for pop, r in r_by_pop.items()}
    for pop, (mean, low, high) in summary.items():
        print(f"across {len(r_by_pop[pop])} runs, {pop}: mean r = {mean:.2f} "
              f"(95 % interval {low:.2f} to {high:.2f})")
    path = Path(args.runs) / SUMMARY_FILE
    if keep_stored:
        print(f"summary of these runs is current, kept ({path})")
    else:
        stored = {pop: {"r": np.asarray(r_by_pop[pop]), "mean": m, "low": lo, "high": hi}
                  for pop, (m, lo, hi) in summary.items()}
        save_results(path, summary_key(args.names), {
            "runs": np.asarray(args.names), "populations": np.asarray(list(summary)), **stored},
            overwrite=True, provenance=record(path, None, inputs))
    folder = Path(args.figures) if args.figures else Path(args.runs) / "figures"
    save_figure(state_space_r_figure(r_by_pop, summary), folder / "state_space_r_across_runs")


if __name__ == "__main__":
    main()
