"""Fixed-point finder speed: 64 initial states of a 200-unit MPN (M state) and a 256-unit GRU.

Goal (issue 14): under 2 minutes for each model on a 2-core CPU. The models are freshly
initialised (the solver's cost does not depend on training); ``mpn_lab`` trials of ``--rule`` in
test mode drive them, the initial states are drawn from their trajectories
(:func:`core.analysis.fixed_points.trajectory_seeds`, noise 0.05) and the input is the mean
input of the delay epoch of the first trial. The script times :func:`find_fixed_points` without
the stability analysis (``--relax-steps`` steps of the dynamics, Adam, then L-BFGS), in wall and
process CPU time (on a shared machine the wall time includes waiting for the CPU), and prints
the iterations, the final q (median and maximum over the initial states) and the number of
fixed and slow points; it then times the leading ``--n-eigs`` Jacobian eigenvalues of the first
point (ARPACK on Jacobian-vector products for the MPN's 40 000-dimensional M, the dense
Jacobian for the GRU).

Example: ``python benchmarks/bench_fixed_points.py --models mpn gru``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from core.analysis.fixed_points import (
    find_fixed_points,
    jacobian_eigenvalues,
    step_map,
    trajectory_seeds,
)
from core.cli import (
    ArgumentParser,
    add_threads_argument,
    cli_main,
    fail,
    non_negative_int,
    positive_int,
    set_threads,
)
from core.fileio import refuse_existing, save_json
from core.models.mpn import DeepMultiPlasticNet, MPNConfig
from core.models.rnn import GRUConfig, GRUNet
from core.tasks import MPN_LAB, generate_trials

GOAL_S = 120.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["mpn", "gru"], choices=["mpn", "gru"],
                   help="models to time (default: mpn gru)")
    p.add_argument("--mpn-hidden", type=positive_int, default=200,
                   help="MPN hidden units and input-layer size (default: 200; state 200x200)")
    p.add_argument("--gru-hidden", type=positive_int, default=256,
                   help="GRU hidden units (default: 256)")
    p.add_argument("--seeds", type=positive_int, default=64,
                   help="initial states solved together (default: 64)")
    p.add_argument("--relax-steps", type=int, default=0,
                   help="steps of the dynamics before the minimisation (default: 0)")
    p.add_argument("--adam-steps", type=int, default=200, help="Adam iterations (default: 200)")
    p.add_argument("--lbfgs-steps", type=int, default=500,
                   help="maximum L-BFGS iterations (default: 500)")
    p.add_argument("--n-eigs", type=positive_int, default=10,
                   help="leading Jacobian eigenvalues timed at the first point (default: 10)")
    p.add_argument("--rule", default="delaygo", help="mpn_lab rule driving the models")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    add_threads_argument(p)
    p.add_argument("--json", type=Path, default=None,
                   help="also write the figures to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = p.parse_args(argv)
    if min(args.relax_steps, args.adam_steps, args.lbfgs_steps) < 0:
        fail("need --relax-steps, --adam-steps and --lbfgs-steps >= 0")
    if args.json is not None:
        refuse_existing([args.json], args.overwrite)
    return args


def build(name: str, args: argparse.Namespace, n_in: int) -> torch.nn.Module:
    """A freshly initialised model of the benchmark."""
    if name == "mpn":
        return DeepMultiPlasticNet(MPNConfig(n_in=n_in, n_hidden=args.mpn_hidden,
                                             n_embed=args.mpn_hidden, n_out=3))
    return GRUNet(GRUConfig(n_in=n_in, n_hidden=args.gru_hidden, n_out=3))


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_threads(args.threads)
    config = MPN_LAB.with_rules([args.rule]) if args.rule not in MPN_LAB.rules else MPN_LAB
    trials = generate_trials(args.rule, config, None, np.random.default_rng(args.seed),
                             mode="test", noise=False)
    delay = trials.epochs["delay1"][0]
    if delay[0] < 0:
        fail(f"rule {args.rule!r} has no delay epoch")
    u = trials.x[delay[0]:delay[1], 0].mean(axis=0)
    results = []
    for name in args.models:
        torch.manual_seed(args.seed)
        step = step_map(build(name, args, config.n_input))
        seeds = trajectory_seeds(step, trials.x, args.seeds, np.random.default_rng(args.seed),
                                 noise_scale=0.05, n_valid=trials.n_steps_valid)
        t0, c0 = time.perf_counter(), time.process_time()
        fp = find_fixed_points(step, seeds, u, relax_steps=args.relax_steps,
                               adam_steps=args.adam_steps,
                               lbfgs_steps=args.lbfgs_steps, stability=False)
        solve_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        eig_s = float("nan")
        if len(fp):
            t0 = time.perf_counter()
            ev = jacobian_eigenvalues(step, torch.as_tensor(fp.states[0]), torch.as_tensor(u),
                                      n_eigs=args.n_eigs)
            eig_s = time.perf_counter() - t0
        row = dict(model=name, state_dim=step.n_state, seeds=args.seeds, solve_s=solve_s,
                   cpu_s=cpu_s,
                   relax_steps=fp.relax_steps, adam_steps=fp.adam_steps,
                   lbfgs_steps=fp.lbfgs_steps,
                   lbfgs_evaluations=fp.lbfgs_evaluations,
                   q_median=float(np.median(fp.seed_q)), q_max=float(np.max(fp.seed_q)),
                   rel_step_max=float(np.max(fp.seed_rel_step)),
                   fixed=int(fp.is_fixed.sum()), slow=int((~fp.is_fixed).sum()),
                   eig_s=eig_s, threads=args.threads)
        results.append(row)
        radius = f", spectral radius {np.abs(ev).max():.4f}" if len(fp) else ""
        print(f"{name}: state {step.n_state}, {args.seeds} initial states, "
              f"{args.threads} thread(s): solved in {solve_s:.1f} s wall, {cpu_s:.1f} s CPU "
              f"(goal < {GOAL_S:.0f} s, ratio {solve_s / GOAL_S:.2f}); "
              f"relax {fp.relax_steps} steps, Adam {fp.adam_steps} + L-BFGS {fp.lbfgs_steps} "
              f"iterations "
              f"({fp.lbfgs_evaluations} evaluations); final q median {row['q_median']:.2e}, "
              f"max {row['q_max']:.2e} (relative step max {row['rel_step_max']:.1e}); "
              f"{row['fixed']} fixed + {row['slow']} slow unique points; "
              f"{args.n_eigs} leading eigenvalues in {eig_s:.1f} s{radius}")
    if args.json is not None:
        refuse_existing([args.json], args.overwrite)
        save_json(args.json, {"command": " ".join(sys.argv), "results": results})


if __name__ == "__main__":
    main()
