"""Figures for Jacobs et al. (1991) on the Peterson-Barney vowels (README figures).

1. ``local_experts_regions``: the formant plane (F2 across, F1 down, as phoneticians draw it)
   with the training tokens, the gate's regions (background colour = the expert with the largest
   gate probability) and each expert's decision line, at the start and the end of training.
2. ``local_experts_curves``: training and test accuracy per epoch (mean ± SD over seeds) of
   4 and 8 experts vs backprop with 6 and 12 hidden units, each at its learning rate.
3. ``local_experts_responsibility``: mean responsibility of each expert for each vowel.
The responsibility table is also printed as Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from core.cli import cli_main, fail
from core.fileio import refuse_existing
from core.models.local_experts import (
    MixtureConfig,
    TrainConfig,
    expert_outputs,
    gate_probabilities,
    responsibility_by_class,
    train_population,
)
from core.plotting import style
from core.tasks.vowels import VOWEL_IPA, make_split
from local_experts.common import SYSTEMS

NAMES = ("regions", "curves", "responsibility")
VOWEL_COLOURS = ("#0072B2", "#56B4E9", "#D55E00", "#E69F00")
EXPERT_COLOURS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666", "#e6ab02",
                  "#d95f02")


def _plane(ax, config: MixtureConfig, params: dict, split, title: str) -> None:
    """Gate regions, expert lines and tokens for one network (params with leading axis 1)."""
    hz = split.train.features
    f1 = np.linspace(hz[:, 0].min() - 50, hz[:, 0].max() + 50, 200)
    f2 = np.linspace(hz[:, 1].min() - 100, hz[:, 1].max() + 100, 200)
    grid_f2, grid_f1 = np.meshgrid(f2, f1)
    grid = split.standardise(np.stack([grid_f1.ravel(), grid_f2.ravel()], axis=1))
    gate = gate_probabilities(params, grid)[0].argmax(-1).reshape(grid_f1.shape)
    k = config.n_experts
    ax.pcolormesh(grid_f2, grid_f1, gate, cmap=ListedColormap(EXPERT_COLOURS[:k]), vmin=-0.5,
                  vmax=k - 0.5, alpha=0.18, shading="auto", rasterized=True)
    outputs = expert_outputs(params, grid)[0]  # (G, K, C)
    tokens_out = expert_outputs(params, split.x_train)[0]
    gate_tokens = gate_probabilities(params, split.x_train)[0]
    for i in range(k):
        # the expert's line separates the two vowels it most often outputs where the gate uses it
        votes = np.bincount(tokens_out[:, i].argmax(-1), weights=gate_tokens[:, i],
                            minlength=config.n_out)
        a, b = np.argsort(votes)[-2:]
        margin = (outputs[:, i, a] - outputs[:, i, b]).reshape(grid_f1.shape)
        ax.contour(grid_f2, grid_f1, margin, levels=[0.0], colors=[EXPERT_COLOURS[i]],
                   linewidths=1.2)
    for c, code in enumerate(split.train.vowels):
        sel = split.train.labels == c
        ax.scatter(hz[sel, 1], hz[sel, 0], s=4, color=VOWEL_COLOURS[c], label=VOWEL_IPA[code],
                   linewidths=0)
    ax.set_xlim(f2[0], f2[-1])
    ax.set_ylim(f1[-1], f1[0])
    ax.set_xlabel("F2 (Hz)")
    ax.set_ylabel("F1 (Hz)")
    ax.set_title(title)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/figures"),
                        help="folder for local_experts_*.png/.pdf (default docs/figures)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the network drawn in the regions figure; the curves use "
                             "--seeds seeds from here (default 0)")
    parser.add_argument("--seeds", type=int, default=10,
                        help="seeds averaged in the curves figure (default 10)")
    parser.add_argument("--epochs", type=int, default=400,
                        help="epochs trained for every figure (default 400)")
    parser.add_argument("--lr-mixture", type=float, default=2.0,
                        help="mixture learning rate (default 2, tuned by table1)")
    parser.add_argument("--lr-backprop", type=float, default=10.0,
                        help="backprop learning rate (default 10, tuned by table1)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing figures")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.seeds < 1 or args.lr_mixture <= 0 or args.lr_backprop <= 0:
        fail("--epochs, --seeds and learning rates must be positive")
    refuse_existing([args.out / f"local_experts_{n}.png" for n in NAMES], args.overwrite)

    style.apply_style()
    split = make_split("paper")
    train_config = TrainConfig(max_epochs=args.epochs, stop_at_criterion=False)
    seeds = np.arange(args.seed, args.seed + args.seeds)

    def fit(key: str, seed_list):
        config = SYSTEMS[key]
        lr = args.lr_mixture if isinstance(config, MixtureConfig) else args.lr_backprop
        return train_population(config, split.x_train, split.y_train, split.x_test,
                                split.y_test, seed_list, lr, train_config, track_test=True)

    mix4 = fit("mix4", [args.seed])
    config = SYSTEMS["mix4"]
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.2), sharey=True)
    _plane(axes[0], config, mix4.initial_params, split, "4 experts: start of training")
    _plane(axes[1], config, mix4.params, split, f"after {args.epochs} epochs")
    axes[1].set_ylabel("")
    axes[1].legend(loc="lower left", markerscale=3, frameon=True)
    style.save_figure(fig, args.out / "local_experts_regions")

    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), sharey=True)
    for key, colour in zip(("mix4", "mix8", "bp6", "bp12"),
                           ("#1b9e77", "#7570b3", "#d95f02", "#e7298a"), strict=True):
        result = fit(key, seeds)
        for ax, name in zip(axes, ("train_accuracy", "test_accuracy"), strict=True):
            mean, sd = result.curves[name].mean(1), result.curves[name].std(1)
            epochs = np.arange(mean.size)
            ax.plot(epochs, mean, color=colour, label=result.config.label)
            ax.fill_between(epochs, mean - sd, mean + sd, color=colour, alpha=0.2, linewidth=0)
    for ax, title in zip(axes, ("training set", "test set"), strict=True):
        ax.axhline(0.88, color="k", linestyle=":", linewidth=0.8)
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(0, args.epochs)
        ax.set_ylim(0.2, 1.0)
        ax.set_xlabel("epoch")
        ax.set_title(title)
    axes[0].set_ylabel("accuracy")
    axes[1].legend(loc="lower right")
    style.save_figure(fig, args.out / "local_experts_curves")

    table = responsibility_by_class(config, mix4.params, split.x_train, split.y_train,
                                    config.n_out)[0]
    fig, ax = plt.subplots(figsize=(3.2, 2.4))
    image = ax.imshow(table, cmap="viridis", vmin=0, vmax=1)
    labels = [VOWEL_IPA[v] for v in split.train.vowels]
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xticks(range(config.n_experts), [f"E{i + 1}" for i in range(config.n_experts)])
    for (r, c), value in np.ndenumerate(table):
        ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6,
                color="w" if value < 0.6 else "k")
    ax.set_title("responsibility h by vowel (train)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    style.save_figure(fig, args.out / "local_experts_responsibility")

    print("| vowel | " + " | ".join(f"E{i + 1}" for i in range(config.n_experts)) + " |")
    print("|---" * (config.n_experts + 1) + "|")
    for label, row in zip(labels, table, strict=True):
        print(f"| {label} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    print(f"4-expert seed {args.seed}: train {mix4.train_accuracy[0]:.3f}, "
          f"test {mix4.test_accuracy[0]:.3f}")


if __name__ == "__main__":
    main()
