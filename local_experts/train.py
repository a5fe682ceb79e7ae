"""Train one system of Jacobs et al. (1991) on the Peterson-Barney vowels for several seeds.

A system is ``mix<K>`` (``K`` linear experts, competitive objective), ``mix<K>coop``
(cooperative) or ``bp<H>`` (backprop, ``H`` hidden units); ``--sigma`` sets the competitive
objective's Gaussian scale and ``--temperature`` a mixture's gate temperature. Each seed gets a
name-coded run folder (:func:`core.models.local_experts.vowel_run_name`, listed by
``python -m core.runs``), ``<out>/vowels_seed<S>_<objective>+hidden<K or H>+batch400<flags>/``,
e.g. ``vowels_seed0_competitive+hidden4+batch400+sigma1+T1+lr2+stop0.88``, holding

- ``config.json`` (system, model, training and split settings) and ``status.json`` (epochs
  done, the epoch budget and why training stopped, :func:`core.training.trainer.write_status`:
  ``target_accuracy`` at the criterion, ``n_steps`` at ``--max-epochs``, ``diverged``, or null
  while training or after an interruption), both written before training;
- ``curves.csv`` (per epoch: ``step`` = epochs done, training ``loss``, ``lr``,
  ``train_accuracy``) and ``validation.csv`` (per epoch: loss and accuracy on the held-out test
  tokens, with the chance level; nothing in training looks at them);
- ``evaluation.csv``: the held-out accuracy at the end with its 95 % Wilson interval and the
  chance level 1/4 (:func:`core.training.trainer.score_table_csv`, one row ``vowels``);
- ``confusion.csv`` (test-set confusion counts) and ``params.npz`` (initial and final
  parameters, keys ``initial_<name>`` and ``final_<name>``).

SIGINT or SIGTERM stops training at the current epoch: the files are written with the
parameters reached, ``status.json`` says the runs are unfinished, and the script exits with
status 128 + the signal number (runs cannot be resumed; train them again with ``--overwrite``).

    python local_experts/train.py --system mix8 --lr 3 --seeds 5
    python local_experts/train.py --system mix16 --sigma 0.5 --temperature 2 --lr 1 --seeds 5
"""

from __future__ import annotations

import argparse
import csv
import io
import signal
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.cli import ArgumentParser, cli_main, fail, non_negative_int
from core.errors import TrainingInterrupted
from core.fileio import atomic_write_bytes, atomic_write_text, refuse_existing, save_json
from core.models.local_experts import (
    MixtureConfig,
    TrainConfig,
    TrainResult,
    confusion_matrices,
    parse_system,
    train_population,
    vowel_run_name,
)
from core.tasks.accuracy import RuleScore
from core.tasks.vowels import VOWEL_IPA, VowelSplit, make_split
from core.training.trainer import (
    CONFIG_FILE,
    CURVES_FILE,
    EVALUATION_FILE,
    STATUS_FILE,
    STOP_SIGNALS,
    VALIDATION_FILE,
    Curves,
    deferred_signals,
    score_table_csv,
    write_status,
)

#: The files of a run folder (status last: it is rewritten once the others are in place).
RUN_FILES = (CONFIG_FILE, CURVES_FILE, VALIDATION_FILE, EVALUATION_FILE, "confusion.csv",
             "params.npz", STATUS_FILE)
TASK = "vowels"


def write_run(folder: Path, result: TrainResult, s: int, split: VowelSplit) -> None:
    """Write the files of network ``s`` of ``result`` into its run ``folder`` (not the config)."""
    stop = int(result.stop_epoch[s])
    curve = {k: v[: stop + 1, s].tolist() for k, v in result.curves.items()}
    steps = list(range(stop + 1))
    lr = float(result.learning_rates[s])
    chance = 1.0 / result.config.n_out  # the four vowels are equally frequent in both halves
    curves = Curves(steps, curve["loss"], [lr] * len(steps), steps, curve["test_loss"],
                    [{TASK: a} for a in curve["test_accuracy"]], {TASK: chance})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["step", "loss", "lr", "train_accuracy"])
    writer.writerows(zip(steps, curve["loss"], curves.lr, curve["train_accuracy"], strict=True))
    atomic_write_text(folder / CURVES_FILE, buf.getvalue())
    atomic_write_text(folder / VALIDATION_FILE, curves.validation_csv())
    params = {k: v[s: s + 1] for k, v in result.params.items()}
    counts = confusion_matrices(result.config, params, split.x_test, split.y_test,
                                result.config.n_out)[0]
    n_test = int(counts.sum())
    score = RuleScore(int(np.trace(counts)), n_test, chance)
    atomic_write_text(folder / EVALUATION_FILE, score_table_csv({TASK: score}))
    vowels = [VOWEL_IPA[v] for v in split.test.vowels]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["true \\ predicted", *vowels])
    writer.writerows([vowel, *row] for vowel, row in zip(vowels, counts.tolist(), strict=True))
    atomic_write_text(folder / "confusion.csv", buf.getvalue())
    arrays = {f"initial_{k}": v[s] for k, v in result.initial_params.items()}
    arrays.update({f"final_{k}": v[s] for k, v in result.params.items()})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(folder / "params.npz", buffer.getvalue())
    write_status(folder, stop, result.train_config.max_epochs, result.stopped[s])


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
    parser.add_argument("--seed", type=non_negative_int, default=0, help="first seed (default 0)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="number of consecutive seeds from --seed, one run each (default 1, "
                             "as a sweep job of core.sweep passes one --seed)")
    parser.add_argument("--max-epochs", type=int, default=3000,
                        help="epoch budget (default 3000)")
    parser.add_argument("--criterion", type=float, default=0.88,
                        help="training accuracy that counts as converged (default 0.88)")
    parser.add_argument("--no-stop", action="store_true",
                        help="keep training after the criterion until --max-epochs")
    parser.add_argument("--split", choices=("paper", "stratified"), default="paper",
                        help="speaker split (default: the fixed 50/25 paper split)")
    parser.add_argument("--split-seed", type=non_negative_int, default=0,
                        help="seed of a stratified split")
    parser.add_argument("--out", type=Path, default=Path("runs/local_experts"),
                        help="parent folder of the run folders (default runs/local_experts)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing runs")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.lr <= 0 or args.seed < 0:
        fail("--seeds and --lr must be positive, --seed not negative")
    if args.split != "stratified" and args.split_seed != 0:
        fail("--split-seed applies to --split stratified only (the paper split is fixed)")
    config = parse_system(args.system, args.sigma, args.temperature)
    if not isinstance(config, MixtureConfig) and (args.sigma != 1 or args.temperature != 1):
        fail("--sigma and --temperature apply to mixtures (mix<K>) only")
    if isinstance(config, MixtureConfig) and config.objective != "competitive" \
            and args.sigma != 1:
        fail("--sigma applies to the competitive objective (mix<K>) only, not to mix<K>coop")
    train_config = TrainConfig(max_epochs=args.max_epochs, criterion=args.criterion,
                               stop_at_criterion=not args.no_stop)
    split = make_split(args.split, args.split_seed)
    seeds = np.arange(args.seed, args.seed + args.seeds)
    folders = [args.out / vowel_run_name(config, int(s), args.lr, train_config, args.split,
                                         args.split_seed, split.y_train.size) for s in seeds]
    refuse_existing([f for f in folders if any((f / n).exists() for n in RUN_FILES)],
                    args.overwrite)

    with deferred_signals(STOP_SIGNALS) as received:
        for seed, folder in zip(seeds, folders, strict=True):
            save_json(folder / CONFIG_FILE, {
                "system": args.system, "kind": type(config).__name__, "model": asdict(config),
                "train": asdict(train_config), "learning_rate": args.lr, "seed": int(seed),
                "split": args.split, "split_seed": args.split_seed, "name": folder.name})
            for name in RUN_FILES[1:-1]:  # the old results of an --overwrite run go first
                (folder / name).unlink(missing_ok=True)
            write_status(folder, 0, train_config.max_epochs, None)
        with tqdm(total=train_config.max_epochs, desc=args.system, unit="epoch",
                  disable=args.no_progress) as bar:
            result = train_population(config, split.x_train, split.y_train, split.x_test,
                                      split.y_test, seeds, args.lr, train_config, bar.update,
                                      track_test=True, should_stop=lambda: bool(received))
        for s, folder in enumerate(folders):
            write_run(folder, result, s, split)
    for seed, ep, tr, te, why in zip(seeds, result.epochs_to_criterion, result.train_accuracy,
                                     result.test_accuracy, result.stopped, strict=True):
        status = f"criterion at epoch {ep}" if ep >= 0 else "criterion not reached"
        print(f"seed {seed}: {status}, stopped: {why}, train {tr:.3f}, test {te:.3f}")
    print(f"{config.label}: wrote {len(folders)} runs to {args.out}")
    if received:
        raise TrainingInterrupted(
            f"stopped by {signal.Signals(received[0]).name} at epoch "
            f"{int(result.stop_epoch.max())}; the runs in {args.out} are unfinished "
            "(status.json); train them again with --overwrite", received[0])


if __name__ == "__main__":
    main()
