"""Preceding-trial shift: how a rule's trajectory moves when another task's trial precedes it.

For a trained run NAME, every probe rule's noise-free test trials are run alone and after one trial
of each preceding task in the same sequence (for an MPN, M then carries the preceding trial's
trace; for an RNN, the hidden state). The shift is the mean distance between the trial-averaged
probe trajectories (after fixation) with and without the preceding trial, relative to the
trajectory's own spread; the probe accuracy after each preceding task is kept too. Results go to
``<runs>/<NAME>/preceding_trial_shift.h5`` (with the digest of the checkpoint they describe:
:mod:`core.provenance`; stale results are recomputed, current ones kept unless ``--overwrite``,
their figures drawn from them where their files do not exist yet:
:func:`core.plotting.draw_from_stored`),
the heat maps to ``<runs>/<NAME>/figures/preceding_trial_shift`` and
``preceding_trial_shift_accuracy``.

Example::

    python multiple_task/preceding_trial_shift.py reach_seed0_L21e4+hidden64+batch32+angle
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.analysis import load_trained, resolve_run, warn_if_at_chance
from core.analysis.state_space import preceding_trial_shift, prepend_trials, run_model
from core.analysis.task_variance import noise_free_trials, segment_bounds
from core.cli import ArgumentParser, add_threads_argument, cli_main, folder, set_threads
from core.io import save_results
from core.plotting import apply_style, draw_from_stored, save_figure
from core.plotting.multi_task import preceding_trial_shift_figures
from core.provenance import claim, load_current, record
from core.tasks import accuracy, generate_trials, resolve_rules
from core.training.trainer import CHECKPOINT_FILE

RESULTS_FILE = "preceding_trial_shift.h5"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", metavar="NAME", help="run name (folder under --runs)")
    p.add_argument("--runs", default="runs", help="folder holding the runs (default: runs)")
    p.add_argument("--probes", default=None,
                   help="probe rules: rule and rule-set names, comma-separated (e.g. go,dm1; "
                        "default: all rules of the run)")
    p.add_argument("--previous", default=None,
                   help="preceding tasks, same format (default: all rules of the run)")
    p.add_argument("--figures", type=folder, default=None,
                   help="figure folder (default: <runs>/<NAME>/figures)")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute this run's entry of preceding_trial_shift.h5 although it is "
                        "current, or replace an unreadable preceding_trial_shift.h5")
    p.add_argument("--seed", type=int, default=0, help="seed of the preceding trials")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p.parse_args(argv)


def _rules(spec: str | None, default: list[str]) -> list[str]:
    if spec is None:
        return default
    rules = resolve_rules(spec)
    missing = [r for r in rules if r not in default]
    if missing:
        raise ValueError(f"rules {missing} are not trained in this run ({default})")
    return rules


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Compute, save and draw the state-space shift of one run."""
    args = parse_args(argv)
    set_threads(args.threads)
    run_dir = resolve_run(args.runs, args.name)
    warn_if_at_chance(run_dir)
    model, task, run_config = load_trained(run_dir)
    probes = _rules(args.probes, list(task.rules))  # a rule typo is reported before the results
    previous = _rules(args.previous, list(task.rules))
    try:
        note = claim(run_dir / RESULTS_FILE, args.name, args.overwrite)
    except FileExistsError:  # current: figures from the stored results, nothing recomputed
        stored = load_current(run_dir / RESULTS_FILE, args.name, f"python multiple_task/"
                              f"preceding_trial_shift.py {args.name} --overwrite")
        apply_style()
        drawn = draw_from_stored(preceding_trial_shift_figures(stored),
                                 Path(args.figures) if args.figures else run_dir / "figures")
        print(f"{args.name}: stored results are current, reused ({run_dir / RESULTS_FILE}); "
              f"{drawn}")
        return
    if note is not None:
        print(note)
    provenance = record(run_dir / RESULTS_FILE, run_dir / CHECKPOINT_FILE)
    rng = np.random.default_rng(args.seed)
    probe_trials = noise_free_trials(task, probes, rng)
    shift = np.zeros((len(probes), len(previous)))
    acc = np.zeros_like(shift)
    for i, probe in enumerate(tqdm(probes, desc="probe rules", disable=args.no_progress)):
        trials = probe_trials[probe]
        start, end = segment_bounds(trials.epochs, trials.n_steps, "trial")
        prev_x = {p: generate_trials(p, task, trials.batch_size, rng, noise=False).x
                  for p in previous}
        shifts = preceding_trial_shift(
            lambda x: run_model(model, x, track_states=True)[1]["hidden"],
            trials.x, start, end, prev_x)
        shift[i] = [shifts[p] for p in previous]
        for j, p in enumerate(previous):
            y, _ = run_model(model, prepend_trials(prev_x[p], trials.x))
            acc[i, j] = accuracy(y[prev_x[p].shape[0]:], trials, task).mean()
    results = {"probes": np.asarray(probes), "previous": np.asarray(previous),
               "shift": shift, "accuracy": acc}
    out = save_results(run_dir / RESULTS_FILE, args.name, results, config=run_config,
                       overwrite=True, provenance=provenance)
    apply_style()
    folder = Path(args.figures) if args.figures else run_dir / "figures"
    for stem, fig in preceding_trial_shift_figures(results).items():
        save_figure(fig, folder / stem)
    print(f"{args.name}: mean shift {shift.mean():.3f} (max {shift.max():.3f}); probe accuracy "
          f"{acc.mean():.2f}; results in {out}")


if __name__ == "__main__":
    main()
