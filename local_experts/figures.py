"""Figures for Jacobs et al. (1991) on the Peterson-Barney vowels (README figures).

1. ``local_experts_regions``: the formant plane (F2 across, F1 down, as phoneticians draw it)
   with the training tokens, the gate's regions (background colour = the expert with the largest
   gate probability) and each expert's decision line, at the start and the end of training.
2. ``local_experts_curves``: training and test accuracy per epoch (mean and 95 % t-interval over
   seeds) of 4 and 8 experts vs backprop with 6 and 12 hidden units, each at its learning rate.
3. ``local_experts_responsibility``: mean responsibility of each expert for each vowel.

The arrays behind the figures go to ``--results`` (HDF5 via ``core.io``, entry ``seed<--seed>``)
before drawing, with their provenance (:mod:`core.provenance`: no checkpoint, the digest of the
vowel split as ``sources["data"]``, the code version), so ``python paper_plot.py --only
local_experts`` redraws the same figures without training (and refuses an entry whose data has
changed since). Existing figures or a current entry stop the script before any work unless
``--overwrite`` (which also replaces an unreadable results file); an entry computed from other
data is recomputed. The responsibility table is also printed as Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core.cli import ArgumentParser, cli_main, fail, non_negative_int, positive_int
from core.fileio import refuse_existing
from core.io import load_results, save_results
from core.models.local_experts import (
    MixtureConfig,
    Params,
    TrainConfig,
    expert_outputs,
    gate_probabilities,
    parse_system,
    responsibility_by_class,
    train_population,
)
from core.plotting import save_figure
from core.plotting.local_experts import vowel_figures
from core.provenance import claim, record
from core.tasks.vowels import VOWEL_IPA, VowelSplit, make_split

NAMES = ("regions", "curves", "responsibility")
#: Systems of the curves figure, in drawing order.
CURVE_SYSTEMS = ("mix4", "mix8", "bp6", "bp12")
RESULTS = Path("results/local_experts/figures.h5")


def gate_regions(config: MixtureConfig, params: Params, split: VowelSplit, size: int = 200
                 ) -> dict[str, np.ndarray]:
    """The arrays of one formant-plane panel for one network (params with leading axis 1).

    A ``size × size`` grid spans the training tokens (±50 Hz in F1, ±100 Hz in F2): ``f1
    (size,)``, ``f2 (size,)`` in Hz, ``gate (size, size)`` the arg-max of the gate probabilities
    and ``margin (K, size, size)``, for each expert the difference of its outputs for the two
    vowels it most often outputs where the gate uses it (gate-weighted votes over the training
    tokens); its zero contour is the expert's decision line.
    """
    hz = split.train.features
    f1 = np.linspace(hz[:, 0].min() - 50, hz[:, 0].max() + 50, size)
    f2 = np.linspace(hz[:, 1].min() - 100, hz[:, 1].max() + 100, size)
    grid_f2, grid_f1 = np.meshgrid(f2, f1)
    grid = split.standardise(np.stack([grid_f1.ravel(), grid_f2.ravel()], axis=1))
    gate = gate_probabilities(params, grid, config.temperature)[0].argmax(-1).reshape(
        grid_f1.shape)
    outputs = expert_outputs(params, grid)[0]  # (G, K, C)
    tokens_out = expert_outputs(params, split.x_train)[0]
    gate_tokens = gate_probabilities(params, split.x_train, config.temperature)[0]
    margins = []
    for i in range(config.n_experts):
        votes = np.bincount(tokens_out[:, i].argmax(-1), weights=gate_tokens[:, i],
                            minlength=config.n_out)
        a, b = np.argsort(votes)[-2:]
        margins.append((outputs[:, i, a] - outputs[:, i, b]).reshape(grid_f1.shape))
    return {"f1": f1, "f2": f2, "gate": gate, "margin": np.stack(margins)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    parser = ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/local_experts/figures"),
                        help="folder for local_experts_*.png/.pdf (default "
                             "results/local_experts/figures; the README's are in docs/figures)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help=f"HDF5 file receiving the figures' arrays (default {RESULTS})")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the network drawn in the regions figure; the curves use "
                             "--seeds seeds from here (default 0)")
    parser.add_argument("--seeds", type=positive_int, default=10,
                        help="seeds averaged in the curves figure (default 10)")
    parser.add_argument("--epochs", type=int, default=400,
                        help="epochs trained for every figure (default 400)")
    parser.add_argument("--lr-mixture", type=float, default=2.0,
                        help="mixture learning rate (default 2, tuned by table1)")
    parser.add_argument("--lr-backprop", type=float, default=10.0,
                        help="backprop learning rate (default 10, tuned by table1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing figures and this seed's entry in --results")
    return parser.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Train, store the arrays, draw the three figures from the stored entry."""
    args = parse_args(argv)
    if args.epochs < 1 or args.seeds < 1 or args.lr_mixture <= 0 or args.lr_backprop <= 0:
        fail("--epochs, --seeds and learning rates must be positive")
    entry = f"seed{args.seed}"
    split = make_split("paper")
    sources = {"data": split.digest()}
    note = claim(args.results, entry, args.overwrite, sources)
    refuse_existing([args.out / f"local_experts_{n}.png" for n in NAMES],
                    args.overwrite or note is not None)
    if note is not None:
        print(note)
    train_config = TrainConfig(max_epochs=args.epochs, stop_at_criterion=False)

    def fit(key: str, seed_list):
        config = parse_system(key)
        lr = args.lr_mixture if isinstance(config, MixtureConfig) else args.lr_backprop
        return train_population(config, split.x_train, split.y_train, split.x_test,
                                split.y_test, seed_list, lr, train_config, track_test=True)

    config = parse_system("mix4")
    mix4 = fit("mix4", [args.seed])
    curves = {}
    for key in CURVE_SYSTEMS:
        result = fit(key, np.arange(args.seed, args.seed + args.seeds))
        curves[key] = {"label": result.config.label,
                       "train_accuracy": result.curves["train_accuracy"],
                       "test_accuracy": result.curves["test_accuracy"]}
    labels = [VOWEL_IPA[v] for v in split.train.vowels]
    results = {
        "epochs": args.epochs, "n_experts": config.n_experts,
        "tokens": {"hz": split.train.features, "labels": split.train.labels,
                   "vowels": np.array(labels)},
        "regions": {"start": gate_regions(config, mix4.initial_params, split),
                    "end": gate_regions(config, mix4.params, split)},
        "systems": np.array(CURVE_SYSTEMS), "curves": curves,
        "responsibility": responsibility_by_class(config, mix4.params, split.x_train,
                                                  split.y_train, config.n_out)[0],
        "accuracy": {"train": mix4.train_accuracy[0], "test": mix4.test_accuracy[0]},
    }
    run_config = {"seed": args.seed, "seeds": args.seeds, "epochs": args.epochs,
                  "lr_mixture": args.lr_mixture, "lr_backprop": args.lr_backprop,
                  "split": "paper"}
    save_results(args.results, entry, results, config=run_config, overwrite=True,
                 provenance=record(args.results, None, sources=sources))
    stored = load_results(args.results, entry)
    for stem, fig in vowel_figures(stored).items():
        save_figure(fig, args.out / stem)

    table = stored["responsibility"]
    print("| vowel | " + " | ".join(f"E{i + 1}" for i in range(config.n_experts)) + " |")
    print("|---" * (config.n_experts + 1) + "|")
    for label, row in zip(labels, table, strict=True):
        print(f"| {label} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    print(f"4-expert seed {args.seed}: train {mix4.train_accuracy[0]:.3f}, "
          f"test {mix4.test_accuracy[0]:.3f}")
    print(f"arrays: {args.results} [{entry}]")


if __name__ == "__main__":
    main()
