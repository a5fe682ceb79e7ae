"""Timescales and dimensionality of every per-N checkpoint of curriculum runs.

For each run name (without ``+N``) given, every ``<runs>/<name>+N{n}/checkpoint.pt`` is loaded;
with ``--from-reference PATH`` a network trained by the reference code (Khajehabdollahi, Zeraati
et al. 2024, LevinaLab/rnn_timescale_public: one ``rnn_N{min}_N{max}`` file, or a
``trained_models/<curriculum>_<task>_network_<k>`` folder of them, one point per file at
``N = max``) is loaded too, under the name ``reference_<folder>[_<file>]``. Each network is driven
by random binary input and analysed: trained τ (for an LSTM: the forget-gate timescale
``−1/ln f̄`` per unit, ``tau_forget``), network-mediated τ_net per neuron (AC fit of the hidden
activity) and the PCA dimensionality at ``--variance``. ``--convention reference`` computes
τ_net and dimensionality as the reference code does (see ``core.analysis.timescales``); its
results and figure get a ``_refconv`` suffix. Fits whose timescale sits at a bound are NaN and
counted (``fit_status``). Inputs are checked, and existing outputs refused without ``--overwrite``,
before any work; a stored entry whose per-N checkpoints changed since is recomputed. Results go to
``--results`` (one entry per name, recording its per-N checkpoints, or the digests of its
reference files, ``core.provenance``), the figure to ``--figure``.

Example::

    python timescales/analyze.py parity_seed0_multi+hidden64+batch64+adam \\
        parity_seed0_single+hidden64+batch64+adam
    python timescales/analyze.py --from-reference trained_models/cumulative_parity_network_1
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.analysis.timescales import (
    FIT_CONVENTIONS,
    FIT_STATUS,
    forget_gate_timescales,
    neuron_timescales,
    pca_dimensionality,
    simulate_activity,
    simulate_lstm_gates,
)
from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_threads_argument,
    cli_main,
    fail,
    non_negative_int,
    set_threads,
)
from core.fileio import figure_files, refuse_existing
from core.io import save_results
from core.models.timescale_rnn import INITIAL_STATES, TimescaleRNN, reference_checkpoints
from core.plotting.style import save_figure
from core.plotting.timescales import plot_tau_vs_n
from core.provenance import claim, file_digest, record
from core.training.curriculum import load_reached_checkpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("runs", nargs="*", help="run names (as printed by train.py, without +N)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs/timescales"),
                   help="folder holding the per-N checkpoint folders")
    p.add_argument("--from-reference", nargs="+", type=Path, default=[], metavar="PATH",
                   help="reference-code checkpoint files rnn_N<min>_N<max> or folders of them")
    p.add_argument("--initial-state", choices=INITIAL_STATES, default="zero",
                   help="initial hidden state of every trial (random: 0.1*U(0,1), the reference's)")
    p.add_argument("--convention", choices=FIT_CONVENTIONS, default="lab",
                   help="tau_net fit and PCA dimensionality: the lab's or the reference code's")
    p.add_argument("--trials", type=int, default=50, help="simulated trials")
    p.add_argument("--length", type=int, default=600, help="time steps per trial")
    p.add_argument("--burn-in", type=int, default=100, help="initial steps discarded")
    p.add_argument("--fit-lag", type=int, default=30, help="largest AC lag used in the fits")
    p.add_argument("--variance", type=float, default=0.9, help="variance explained for PCA dim")
    add_threads_argument(p)
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the random input and state")
    p.add_argument("--results", type=Path, default=None,
                   help="HDF5 output (default results/timescales/analysis[_refconv].h5)")
    p.add_argument("--overwrite", action="store_true", help="replace existing entries and figure")
    p.add_argument("--figure", type=Path, default=None,
                   help="figure path without suffix (default results/timescales/"
                        "tau_vs_N[_refconv])")
    args = p.parse_args(argv)
    suffix = "_refconv" if args.convention == "reference" else ""
    args.results = args.results or Path(f"results/timescales/analysis{suffix}.h5")
    args.figure = args.figure or Path(f"results/timescales/tau_vs_N{suffix}")
    return args


def checkpoints_of(runs_dir: Path, name: str) -> dict[int, Path]:
    """``{N: checkpoint path}`` of run ``name`` in ``runs_dir``."""
    pattern = re.compile(re.escape(name) + r"\+N(\d+)$")
    found = {int(m[1]): d / "checkpoint.pt" for d in runs_dir.glob(f"{name}+N*")
             if (m := pattern.match(d.name)) and (d / "checkpoint.pt").is_file()}
    return dict(sorted(found.items()))


def reference_name(path: Path) -> str:
    """``reference_<folder>`` for a reference folder, ``reference_<folder>_<file>`` for a file."""
    return "reference_" + (path.name if path.is_dir() else f"{path.parent.name}_{path.name}")


def sources(args: argparse.Namespace) -> dict[str, dict[int, tuple[str, Path]]]:
    """``{result name: {N: (kind, path)}}`` for every run and reference path asked for."""
    found: dict[str, dict[int, tuple[str, Path]]] = {}
    for name in args.runs:
        ckpts = checkpoints_of(args.runs_dir, name)
        if not ckpts:
            fail(f"no checkpoints {args.runs_dir}/{name}+N*/checkpoint.pt")
        found[name] = {n: ("lab", p) for n, p in ckpts.items()}
    for path in args.from_reference:
        found[reference_name(path)] = {n: ("reference", p)
                                       for n, p in reference_checkpoints(path).items()}
    if not found:
        fail("give run names and/or --from-reference PATH")
    return found


def provenance(results: Path, ckpts: dict[int, tuple[str, Path]]) -> dict:
    """Record of one entry: the lab per-N checkpoints as ``networks``, reference files as
    ``sources`` digests (``reference_N<n>``)."""
    return record(results, None, networks=[p for kind, p in ckpts.values() if kind == "lab"],
                  sources={f"reference_N{n}": file_digest(p)
                           for n, (kind, p) in ckpts.items() if kind == "reference"})


def load(kind: str, path: Path, initial_state: str) -> TimescaleRNN:
    """A lab per-N checkpoint or a reference file, starting trials from ``initial_state``."""
    if kind == "reference":
        return TimescaleRNN.from_reference(path, initial_state=initial_state)
    model, _ = load_reached_checkpoint(path)
    model.config.initial_state = initial_state
    return model


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.length <= args.burn_in + args.fit_lag:
        fail("--length must exceed --burn-in + --fit-lag")
    todo = sources(args)
    refuse_existing(figure_files(args.figure), args.overwrite)
    for name in todo:
        if note := claim(args.results, name, args.overwrite):
            print(note)
    set_threads(args.threads)
    stored = {}
    for name, ckpts in todo.items():
        ns, tau_trained, tau_forget, tau_net, n_exp, status, dims = [], [], [], [], [], [], []
        for n, (kind, path) in tqdm(ckpts.items(), desc=name):
            model = load(kind, path, args.initial_state)
            torch.manual_seed(args.seed)
            rng = np.random.default_rng(args.seed)
            if model.config.cell == "lstm":
                gates = simulate_lstm_gates(model, args.trials, args.length, rng)
                act = gates["hidden"]
                tau_forget.append(forget_gate_timescales(gates["forget"][args.burn_in:]))
            else:
                act = simulate_activity(model, args.trials, args.length, rng)
                tau_forget.append(np.full(model.config.n_hidden, np.nan))
            fits = neuron_timescales(act, args.fit_lag, args.burn_in, convention=args.convention)
            ns.append(n)
            tau_trained.append(model.tau.detach().numpy() if model.config.cell == "rnn"
                               else np.full(model.config.n_hidden, np.nan))
            tau_net.append(fits.tau)
            n_exp.append(fits.n_exponentials)
            status.append(fits.status)
            dims.append(pca_dimensionality(act[args.burn_in:], args.variance, args.convention))
        results = {"n": np.array(ns), "tau_trained": np.array(tau_trained),
                   "tau_forget": np.array(tau_forget),
                   "tau_net": np.array(tau_net), "n_exponentials": np.array(n_exp),
                   "fit_status": np.array(status), "pca_dim": np.array(dims)}
        save_results(args.results, name, results, config=vars(args) | {
            "runs_dir": str(args.runs_dir), "results": str(args.results),
            "figure": str(args.figure), "from_reference": [str(p) for p in args.from_reference],
            "sources": {str(n): str(p) for n, (_, p) in ckpts.items()},
            "fit_status_codes": list(FIT_STATUS)}, overwrite=True, provenance=provenance(
                args.results, ckpts))
        stored[name] = results
        counts = {s: int((results["fit_status"] == i).sum()) for i, s in enumerate(FIT_STATUS)}
        lstm = np.isnan(results["tau_trained"]).all()
        single = results["tau_forget" if lstm else "tau_trained"]
        print(f"{name}: N={ns} mean {'forget-gate ' if lstm else ''}tau="
              f"{np.nanmean(single, axis=1).round(2)} "
              f"mean tau_net={np.nanmean(results['tau_net'], axis=1).round(2)} PCA dim={dims} "
              f"fits over all N: {counts}")
    for path in save_figure(plot_tau_vs_n(stored, args.variance), args.figure):
        print(path)


if __name__ == "__main__":
    main()
