"""Delay-epoch fixed points of a multi-task network for pairs of related rules (MPN lab, issue 15).

For each rule pair of ``--pairs`` that the run NAME was trained on (default: ``dmcgo,dmcnogo``
and ``delaydm1,delaydm2`` of the ``mpn_lab`` rule set), ``--trials`` noise-free trials per rule
are run and the fixed points of each rule's ``--epoch`` (default ``delay1``; its input, fixation
and rule cue, is constant) are found from ``--n-seeds`` states inside that epoch, with their
stability (:func:`core.analysis.fixed_points.pair_fixed_points`; an MPN relaxes each seed
``--relax-steps`` steps of its own dynamics first and skips Adam,
:func:`core.analysis.two_task.fixed_point_options`, which finds its stable points but is likely
to miss unstable ones). The trajectories of ``--trajectories`` trials per rule, hidden activity
and, for an MPN, ``W ⊙ M`` flattened, and the points are projected on the pair's leading PCs
(fitted on both rules' trajectories). Pairs the run lacks are skipped with a message; a run with
none of them is an error.

Results go to ``<runs>/<NAME>/fixed_points.h5`` (``{pair: ...}`` with the digest of the
checkpoint they describe, :mod:`core.provenance`; a current entry is reused unless
``--overwrite``, its figures drawn from it where their files do not exist yet:
:func:`core.plotting.draw_from_stored`), one figure per pair to
``<runs>/<NAME>/figures/fixed_points_<pair>`` (:func:`core.plotting.multi_task.
fixed_point_figures`).

Example::

    python multiple_task/multiple_task.py --preset quick --rules dmcgo,dmcnogo,delaydm1,delaydm2
    N=dmcgo-dmcnogo-delaydm1-delaydm2_seed0_L21e4+hidden64+batch32+angle
    python multiple_task/fixed_points.py $N
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.analysis import load_trained, resolve_run, warn_if_at_chance
from core.analysis.fixed_points import pair_fixed_points
from core.analysis.two_task import fixed_point_options
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
from core.plotting.multi_task import fixed_point_figures
from core.provenance import claim, load_current, option_sources, record
from core.tasks import EPOCHS, RULES, generate_trials
from core.training.trainer import CHECKPOINT_FILE

RESULTS_FILE = "fixed_points.h5"
REFRESH = "python multiple_task/fixed_points.py"
#: Rule pairs of the MPN lab's multi-task fixed points (mpn_lab rule names).
PAIRS = (("dmcgo", "dmcnogo"), ("delaydm1", "delaydm2"))


def _pair(text: str) -> tuple[str, str]:
    """``'a,b'`` → ``("a", "b")`` (argparse type); the error names an unknown rule and the
    rules there are."""
    rules = tuple(r.strip() for r in text.split(","))
    if len(rules) != 2 or rules[0] == rules[1]:
        raise argparse.ArgumentTypeError(f"a pair is two different rule names 'a,b' (e.g. "
                                         f"dmcgo,dmcnogo), got {text!r}")
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown rule {', '.join(map(repr, unknown))} in "
                                         f"{text!r}; rules: {', '.join(RULES)}")
    return rules


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", metavar="NAME", help="run name (folder under --runs)")
    p.add_argument("--runs", default="runs", help="folder holding the runs (default: runs)")
    p.add_argument("--pairs", type=_pair, nargs="+", default=list(PAIRS), metavar="A,B",
                   help="rule pairs, each 'a,b' (default: dmcgo,dmcnogo delaydm1,delaydm2)")
    p.add_argument("--epoch", default="delay1", choices=EPOCHS,
                   help="epoch whose fixed points are found (default: delay1)")
    p.add_argument("--trials", type=positive_int, default=32,
                   help="noise-free trials per rule the seeds are drawn from (default 32)")
    p.add_argument("--n-seeds", type=positive_int, default=32,
                   help="initial states per rule (default 32)")
    p.add_argument("--trajectories", type=positive_int, default=8,
                   help="trials per rule whose trajectories are projected and fit the PCs "
                        "(default 8)")
    p.add_argument("--components", type=int, default=3,
                   help="leading PCs kept, >= 2 (default 3)")
    p.add_argument("--relax-steps", type=int, default=2000,
                   help="steps of an MPN's own dynamics before L-BFGS (default 2000)")
    p.add_argument("--lbfgs-steps", type=int, default=100,
                   help="L-BFGS iterations after relaxing (default 100)")
    p.add_argument("--n-eigs", type=positive_int, default=3,
                   help="leading Jacobian eigenvalues per point (ARPACK above 1024 state "
                        "dimensions; default 3)")
    p.add_argument("--figures", type=folder, default=None,
                   help="figure folder (default: <runs>/<NAME>/figures)")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute the run's entry of fixed_points.h5 although it is current, "
                        "or replace an unreadable fixed_points.h5")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the trials and the seeds")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if min(args.relax_steps, args.lbfgs_steps) < 0 or args.components < 2:
        p.error("--relax-steps and --lbfgs-steps must be >= 0 and --components >= 2")
    return args


def pair_key(pair: Sequence[str]) -> str:
    """Name of a pair in the results file and its figure (``dmcgo-dmcnogo``)."""
    return "-".join(pair)


#: The options that change the stored results (recorded as a provenance source: a change makes
#: them stale, so they are recomputed instead of reused; ``--chunk``-like options are not here).
RESULT_OPTIONS = ("pairs", "epoch", "trials", "n_seeds", "trajectories", "components",
                  "relax_steps", "lbfgs_steps", "n_eigs", "seed")


def result_sources(args: argparse.Namespace) -> dict[str, str]:
    """Provenance sources of the results of ``args`` (:mod:`core.provenance`): its
    :data:`RESULT_OPTIONS`, so results computed with other options are not reused."""
    return option_sources(args, RESULT_OPTIONS)


def available_pairs(rules: Sequence[str], pairs: Sequence[Sequence[str]] = PAIRS
                    ) -> list[tuple[str, str]]:
    """The ``pairs`` both of whose rules are in ``rules`` (a run's trained rules)."""
    return [tuple(pair) for pair in pairs if set(pair) <= set(rules)]


def compute(run_dir: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """The results of one run (see the module docstring) and its run config."""
    model, task, run_config = load_trained(run_dir)
    pairs = available_pairs(task.rules, args.pairs)
    if not pairs:
        fail(f"{run_dir.name} was trained on none of the pairs "
             f"{', '.join(pair_key(p) for p in args.pairs)} (its rules: {', '.join(task.rules)})")
    for pair in args.pairs:
        if tuple(pair) not in pairs:
            print(f"{run_dir.name}: pair {pair_key(pair)} skipped: the run was not trained on "
                  f"{', '.join(r for r in pair if r not in task.rules)}")
    options = {**fixed_point_options(model, args.relax_steps), "lbfgs_steps": args.lbfgs_steps,
               "n_eigs": args.n_eigs}
    results: dict = {"pairs": np.asarray([pair_key(p) for p in pairs])}
    for pair in pairs:
        trials = {rule: generate_trials(rule, task, args.trials,
                                        np.random.default_rng([args.seed, i]), noise=False)
                  for i, rule in enumerate(pair)}
        for rule, batch in trials.items():
            present = [e for e, b in batch.epochs.items() if (np.asarray(b)[:, 0] >= 0).any()]
            if args.epoch not in present:
                fail(f"--epoch {args.epoch}: rule {rule} of the pair {pair_key(pair)} has no "
                     f"such epoch; its epochs: {', '.join(present)}")
        results[pair_key(pair)] = pair_fixed_points(
            model, trials, epoch=args.epoch, n_seeds=args.n_seeds,
            n_trajectories=args.trajectories, n_components=args.components, seed=args.seed,
            progress=not args.no_progress, **options)
    return results, run_config


def summary(results: dict) -> list[str]:
    """One line per pair and rule: fixed, stable and slow points and the largest relative step."""
    lines = []
    for key in np.asarray(results["pairs"]).astype(str):
        for rule in np.asarray(results[key]["rules"]).astype(str):
            r = results[key][rule]
            fixed = np.asarray(r["is_fixed"], dtype=bool)
            stable = fixed & (np.asarray(r["n_unstable"]) == 0)
            step = np.asarray(r["rel_step"])
            lines.append(f"{key} {rule}: {int(fixed.sum())} fixed ({int(stable.sum())} stable), "
                         f"{int((~fixed).sum())} slow points from {len(r['seed_point'])} seeds; "
                         f"largest relative step {step.max() if step.size else float('nan'):.1g}")
    return lines


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Compute (or reuse), save and draw the fixed points of the run's rule pairs."""
    args = parse_args(argv)
    set_threads(args.threads)
    run_dir = resolve_run(args.runs, args.name)
    warn_if_at_chance(run_dir)
    path = run_dir / RESULTS_FILE
    folder = Path(args.figures) if args.figures else run_dir / "figures"
    apply_style()
    try:
        note = claim(path, args.name, args.overwrite, sources=result_sources(args))
    except FileExistsError:
        results = load_current(path, args.name, f"{REFRESH} {args.name} --overwrite",
                               sources=result_sources(args))
        print(f"{args.name}: stored results are current, reused ({path}); "
              f"{draw_from_stored(fixed_point_figures(results), folder)}")
    else:
        if note is not None:
            print(note)
        provenance = record(path, run_dir / CHECKPOINT_FILE, sources=result_sources(args))
        results, run_config = compute(run_dir, args)
        save_results(path, args.name, results, config=run_config, overwrite=True,
                     provenance=provenance)
        for stem, fig in fixed_point_figures(results).items():
            save_figure(fig, folder / stem)
    print("\n".join(summary(results)))


if __name__ == "__main__":
    main()
