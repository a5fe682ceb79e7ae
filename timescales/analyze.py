"""Timescales and dimensionality of every per-N checkpoint of curriculum runs.

For each run name (without ``+N``) given, every ``<runs>/<name>+N{n}/checkpoint.pt`` is loaded,
driven by random binary input, and analysed: trained τ, network-mediated τ_net per neuron (AC
fit, single vs double exponential by AIC) and the number of principal components explaining 90 %
of the activity variance. Results go to ``--results`` (one entry per run name), the figure to
``--figure``.

Example::

    python timescales/analyze.py parity_seed0_multi+hidden64+batch64+adam \\
        parity_seed0_single+hidden64+batch64+adam
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.analysis.timescales import neuron_timescales, pca_dimensionality, simulate_activity
from core.cli import add_threads_argument, cli_main, fail, set_threads
from core.io import save_results
from core.plotting.style import save_figure
from core.plotting.timescales import plot_tau_vs_n
from core.training.curriculum import load_reached_checkpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("runs", nargs="+", help="run names (as printed by train.py, without +N)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs/timescales"),
                   help="folder holding the per-N checkpoint folders")
    p.add_argument("--trials", type=int, default=50, help="simulated trials")
    p.add_argument("--length", type=int, default=600, help="time steps per trial")
    p.add_argument("--burn-in", type=int, default=100, help="initial steps discarded")
    p.add_argument("--fit-lag", type=int, default=30, help="largest AC lag used in the fits")
    p.add_argument("--variance", type=float, default=0.9, help="variance explained for PCA dim")
    add_threads_argument(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--results", type=Path, default=Path("results/timescales/analysis.h5"),
                   help="HDF5 output")
    p.add_argument("--overwrite", action="store_true", help="replace existing entries")
    p.add_argument("--figure", type=Path, default=Path("docs/figures/timescales_tau_vs_N"),
                   help="figure path without suffix")
    return p.parse_args(argv)


def checkpoints_of(runs_dir: Path, name: str) -> dict[int, Path]:
    """``{N: checkpoint path}`` of run ``name`` in ``runs_dir``."""
    pattern = re.compile(re.escape(name) + r"\+N(\d+)$")
    found = {int(m[1]): d / "checkpoint.pt" for d in runs_dir.glob(f"{name}+N*")
             if (m := pattern.match(d.name)) and (d / "checkpoint.pt").is_file()}
    return dict(sorted(found.items()))


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_threads(args.threads)
    if args.length <= args.burn_in + args.fit_lag:
        fail("--length must exceed --burn-in + --fit-lag")
    stored = {}
    for name in args.runs:
        ckpts = checkpoints_of(args.runs_dir, name)
        if not ckpts:
            fail(f"no checkpoints {args.runs_dir}/{name}+N*/checkpoint.pt")
        ns, tau_trained, tau_net, n_exp, dims = [], [], [], [], []
        for n, path in tqdm(ckpts.items(), desc=name):
            model, _ = load_reached_checkpoint(path)
            act = simulate_activity(model, args.trials, args.length,
                                    np.random.default_rng(args.seed))
            taus, n_e = neuron_timescales(act, args.fit_lag, args.burn_in)
            ns.append(n)
            tau_trained.append(model.tau.detach().numpy() if model.config.cell == "rnn"
                               else np.full(model.config.n_hidden, np.nan))
            tau_net.append(taus)
            n_exp.append(n_e)
            dims.append(pca_dimensionality(act[args.burn_in:], args.variance))
        results = {"n": np.array(ns), "tau_trained": np.array(tau_trained),
                   "tau_net": np.array(tau_net), "n_exponentials": np.array(n_exp),
                   "pca_dim": np.array(dims)}
        save_results(args.results, name, results, config=vars(args) | {
            "runs_dir": str(args.runs_dir), "results": str(args.results),
            "figure": str(args.figure)}, overwrite=args.overwrite)
        stored[name] = results
        print(f"{name}: N={ns} mean tau={np.nanmean(results['tau_trained'], axis=1).round(2)} "
              f"mean tau_net={np.nanmean(results['tau_net'], axis=1).round(2)} PCA dim={dims}")
    for path in save_figure(plot_tau_vs_n(stored, args.variance), args.figure):
        print(path)


if __name__ == "__main__":
    main()
