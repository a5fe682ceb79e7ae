"""Preceding-trial shift: how a rule's trajectory moves when another task's trial precedes it.

For a trained run NAME, ``--trials`` noise-free probe trials per rule (stimuli drawn as in
training at the rule's test timing; match rules half match, half non-match:
:func:`core.analysis.state_space.shift_probe_trials`) are run alone and after one trial of each
preceding task in the same sequence (for an MPN, M then carries the preceding trial's trace; for
an RNN, the hidden state). The shift is the mean distance between the trial-averaged probe
trajectories (after fixation) with and without the preceding trial, relative to the trajectory's
own spread. The probe accuracy alone (with its 95 % Wilson interval and chance level) and after
each preceding task are kept too, with the paired change (after − alone, same trials) and its
standard error. The default of 500 trials per probe is the project's criterion for accuracies;
with paired trials the standard error of a change is at most ``1 / sqrt(500) = 0.045`` and
usually far less (only trials scored differently with and without the preceding trial count).
Trials run ``--chunk`` at a time without recording M, so memory does not grow with the network's
synapse count, the trials or the rules. Results go to ``<runs>/<NAME>/preceding_trial_shift.h5``
(with the digest of the checkpoint they describe and the probe design: :mod:`core.provenance`;
stale results, e.g. those computed with the 16-trial test grid before, are recomputed; current
ones kept unless ``--overwrite``, their figures drawn from them where their files do not exist
yet: :func:`core.plotting.draw_from_stored`), the heat maps to
``<runs>/<NAME>/figures/preceding_trial_shift`` and ``preceding_trial_shift_accuracy``.

Example::

    python multiple_task/preceding_trial_shift.py reach_seed0_L21e4+hidden64+batch32+angle
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.analysis import load_trained, resolve_run, warn_if_at_chance
from core.analysis.state_space import (
    SHIFT_SOURCES,
    paired_accuracy_change,
    preceding_trial_shift,
    shift_probe_trials,
)
from core.cli import (
    ArgumentParser,
    add_threads_argument,
    cli_main,
    fail,
    folder,
    non_negative_int,
    positive_int,
    set_threads,
)
from core.io import save_results
from core.plotting import apply_style, draw_from_stored, save_figure
from core.plotting.multi_task import preceding_trial_shift_figures
from core.provenance import claim, load_current, option_sources, record
from core.tasks import RuleScore, chance_level, generate_trials, resolve_rules
from core.training.trainer import CHECKPOINT_FILE

RESULTS_FILE = "preceding_trial_shift.h5"
DEFAULT_TRIALS = 500


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
    p.add_argument("--trials", type=int, default=DEFAULT_TRIALS,
                   help="probe trials per rule, each run alone and after one trial of every "
                        f"preceding task (>= 2; default: {DEFAULT_TRIALS})")
    p.add_argument("--chunk", type=positive_int, default=64,
                   help="trials run at once; memory is about (trial steps) x chunk x hidden "
                        "floats (default: 64)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the probe and preceding trials")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.trials < 2:
        fail("--trials must be >= 2 (a match rule needs match and non-match trials)")
    return args


def _rules(spec: str | None, default: list[str]) -> list[str]:
    if spec is None:
        return default
    rules = resolve_rules(spec)
    missing = [r for r in rules if r not in default]
    if missing:
        raise ValueError(f"rules {missing} are not trained in this run ({default})")
    return rules


#: The options that change the stored results (recorded with the probe design as provenance
#: sources: a change makes them stale, so they are recomputed instead of reused).
RESULT_OPTIONS = ("probes", "previous", "trials", "seed")


def result_sources(args: argparse.Namespace) -> dict[str, str]:
    """Provenance sources of the results of ``args``: the probe design (:data:`SHIFT_SOURCES`)
    and :data:`RESULT_OPTIONS`."""
    return {**SHIFT_SOURCES, **option_sources(args, RESULT_OPTIONS)}


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
        note = claim(run_dir / RESULTS_FILE, args.name, args.overwrite,
                     sources=result_sources(args))
    except FileExistsError:  # current: figures from the stored results, nothing recomputed
        stored = load_current(run_dir / RESULTS_FILE, args.name, f"python multiple_task/"
                              f"preceding_trial_shift.py {args.name} --overwrite",
                              sources=result_sources(args))
        apply_style()
        drawn = draw_from_stored(preceding_trial_shift_figures(stored),
                                 Path(args.figures) if args.figures else run_dir / "figures")
        print(f"{args.name}: stored results are current, reused ({run_dir / RESULTS_FILE}); "
              f"{drawn}")
        return
    if note is not None:
        print(note)
    provenance = record(run_dir / RESULTS_FILE, run_dir / CHECKPOINT_FILE,
                        sources=result_sources(args))
    rng = np.random.default_rng(args.seed)
    shape = (len(probes), len(previous))
    shift, acc, change, change_se = (np.zeros(shape) for _ in range(4))
    alone = np.zeros((len(probes), 3))  # accuracy alone, 95 % interval
    for i, probe in enumerate(tqdm(probes, desc="probe rules", disable=args.no_progress)):
        trials = shift_probe_trials(probe, task, args.trials, rng)
        prev_x = {p: generate_trials(p, task, args.trials, rng, noise=False).x for p in previous}
        effect = preceding_trial_shift(model, trials, prev_x, task, chunk_size=args.chunk)
        shift[i], acc[i] = effect["shift"], effect["correct"].mean(axis=1)
        change[i], change_se[i] = paired_accuracy_change(effect["correct"],
                                                         effect["correct_alone"])
        score = RuleScore(int(effect["correct_alone"].sum()), args.trials,
                          chance_level(probe, task))
        alone[i] = score.accuracy, *score.interval()
    results = {"probes": np.asarray(probes), "previous": np.asarray(previous),
               "shift": shift, "accuracy": acc, "accuracy_alone": alone[:, 0],
               "accuracy_alone_low": alone[:, 1], "accuracy_alone_high": alone[:, 2],
               "accuracy_change": change, "accuracy_change_se": change_se,
               "chance": np.array([chance_level(p, task) for p in probes]),
               "n_trials": args.trials}
    out = save_results(run_dir / RESULTS_FILE, args.name, results, config=run_config,
                       overwrite=True, provenance=provenance)
    apply_style()
    folder = Path(args.figures) if args.figures else run_dir / "figures"
    for stem, fig in preceding_trial_shift_figures(results).items():
        save_figure(fig, folder / stem)
    print(f"{args.name}: mean shift {shift.mean():.3f} (max {shift.max():.3f}); probe accuracy "
          f"alone {alone[:, 0].mean():.2f}, after a preceding trial {acc.mean():.2f} (mean change "
          f"{change.mean():+.3f}, largest SE {change_se.max():.3f}; {args.trials} trials per "
          f"probe); results in {out}")


if __name__ == "__main__":
    main()
