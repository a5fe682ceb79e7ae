"""Train one system of Jacobs et al. (1991) on the Peterson-Barney vowels for several seeds.

A system is ``mix<K>`` (``K`` linear experts, competitive objective), ``mix<K>coop``
(cooperative) or ``bp<H>`` (backprop, ``H`` hidden units); ``--sigma`` and ``--temperature`` set
the mixtures' Gaussian scale and gate temperature. Writes
``<out>/<system>[_sigma<σ>][_T<T>]_seeds<first>-<last>_lr<lr>/`` with ``config.json`` (system,
training and split settings), ``summary.csv`` (per seed: epochs to criterion, train and test
accuracy), ``curves.csv`` (per epoch and seed: loss, train and test accuracy), ``confusion.csv``
(test-set confusion counts summed over seeds) and ``params.npz`` (initial and final parameters,
keys ``initial_<name>`` and ``final_<name>``).

    python local_experts/train.py --system mix8 --lr 3 --seeds 5
    python local_experts/train.py --system mix16 --sigma 0.5 --temperature 2 --lr 1
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.cli import ArgumentParser, cli_main, fail
from core.fileio import atomic_write_bytes, atomic_write_text, refuse_existing, save_json
from core.models.local_experts import (
    MixtureConfig,
    TrainConfig,
    confusion_matrices,
    parse_system,
    train_population,
)
from core.tasks.vowels import VOWEL_IPA, make_split


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", default="mix4",
                        help="mix<K> (K experts, competitive), mix<K>coop (cooperative) or "
                             "bp<H> (backprop, H hidden) (default mix4)")
    parser.add_argument("--sigma", type=float, default=1.0,
                        help="Gaussian scale of the competitive objective (default 1, the paper)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="gate softmax temperature of a mixture (default 1, the paper)")
    parser.add_argument("--lr", type=float, default=2.0, help="learning rate (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument("--max-epochs", type=int, default=3000,
                        help="epoch budget (default 3000)")
    parser.add_argument("--criterion", type=float, default=0.88,
                        help="training accuracy that counts as converged (default 0.88)")
    parser.add_argument("--no-stop", action="store_true",
                        help="keep training after the criterion until --max-epochs")
    parser.add_argument("--split", choices=("paper", "stratified"), default="paper",
                        help="speaker split (default: the fixed 50/25 paper split)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of a stratified split")
    parser.add_argument("--out", type=Path, default=Path("runs/local_experts"),
                        help="parent folder of the run folder (default runs/local_experts)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.lr <= 0:
        fail("--seeds and --lr must be positive")
    config = parse_system(args.system, args.sigma, args.temperature)
    if not isinstance(config, MixtureConfig) and (args.sigma != 1 or args.temperature != 1):
        fail("--sigma and --temperature apply to mixtures (mix<K>) only")
    train_config = TrainConfig(max_epochs=args.max_epochs, criterion=args.criterion,
                               stop_at_criterion=not args.no_stop)
    seeds = np.arange(args.seed, args.seed + args.seeds)
    gate = "".join(f"_{tag}{value:g}" for tag, value in
                   (("sigma", args.sigma), ("T", args.temperature)) if value != 1)
    run = args.out / f"{args.system}{gate}_seeds{seeds[0]}-{seeds[-1]}_lr{args.lr:g}"
    files = [run / n for n in ("config.json", "summary.csv", "curves.csv", "params.npz",
                               "confusion.csv")]
    refuse_existing(files, args.overwrite)

    split = make_split(args.split, args.split_seed)
    with tqdm(total=train_config.max_epochs, desc=args.system, unit="epoch") as bar:
        result = train_population(config, split.x_train, split.y_train, split.x_test,
                                  split.y_test, seeds, args.lr, train_config, bar.update,
                                  track_test=True)

    save_json(files[0], {
        "system": args.system, "kind": type(config).__name__, "model": asdict(config),
        "train": asdict(train_config), "learning_rate": args.lr, "seeds": seeds.tolist(),
        "split": args.split, "split_seed": args.split_seed})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["seed", "epochs_to_criterion", "train_accuracy", "test_accuracy"])
    for row in zip(seeds, result.epochs_to_criterion, result.train_accuracy,
                   result.test_accuracy, strict=True):
        writer.writerow([int(row[0]), int(row[1]), f"{row[2]:.4f}", f"{row[3]:.4f}"])
    atomic_write_text(files[1], buf.getvalue())
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["epoch", "seed", "loss", "train_accuracy", "test_accuracy"])
    for epoch in range(result.curves["loss"].shape[0]):
        for s, seed in enumerate(seeds):
            writer.writerow([epoch, int(seed)] + [f"{result.curves[k][epoch, s]:.6g}" for k in
                                                  ("loss", "train_accuracy", "test_accuracy")])
    atomic_write_text(files[2], buf.getvalue())
    arrays = {f"initial_{k}": v for k, v in result.initial_params.items()}
    arrays.update({f"final_{k}": v for k, v in result.params.items()})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(files[3], buffer.getvalue())
    counts = confusion_matrices(config, result.params, split.x_test, split.y_test,
                                config.n_out).sum(axis=0)
    vowels = [VOWEL_IPA[v] for v in split.test.vowels]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["true \\ predicted", *vowels])
    writer.writerows([vowel, *row] for vowel, row in zip(vowels, counts.tolist(), strict=True))
    atomic_write_text(files[4], buf.getvalue())
    for seed, ep, tr, te in zip(seeds, result.epochs_to_criterion, result.train_accuracy,
                                result.test_accuracy, strict=True):
        status = f"{ep} epochs" if ep >= 0 else "not converged"
        print(f"seed {seed}: {status}, train {tr:.3f}, test {te:.3f}")
    print(f"{config.label}: test confusion (rows true, columns predicted, summed over seeds):\n"
          f"{buf.getvalue()}wrote {run}")


if __name__ == "__main__":
    main()
