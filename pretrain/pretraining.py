"""Transfer through a new rule vector: pretrain on a rule pair, then learn ``delayanti`` through
the rule column of the input weights alone (the MPN lab's ``pretrain/pretraining.py``).

For every motif, network and seed two name-coded runs are trained under ``--out``
(:func:`core.training.transfer.stage_names`):

- stage 1, ``<pair>-pre_seed<seed>_...``: the network learns the pair (``relevant``: fdanti +
  delaygo, sharing the anti motif with delayanti; ``irrelevant``: fdgo + delaygo) with one
  reserved rule-input column that stays zero; it stops early by the rule printed in ``--help``;
- stage 2, ``<pair>-to-delayanti_seed<seed>_...``: starting from stage 1's final weights,
  every parameter is frozen except the reserved column of the input weights (the MPN's input
  embedding, the RNN's W_in), which learns delayanti, cued in that column. The MPN's M keeps
  evolving within each trial with the frozen η and λ. After stage 2 the network is scored on
  ``--eval-trials`` fresh delayanti trials (``evaluation.csv``: accuracy, 95 % Wilson interval,
  chance; :meth:`core.training.trainer.RuleRun.store_evaluation`, as every family's training).

Each stage resumes on its own (``--resume``); stage 2 records the digest of the stage-1 network it
started from, so a retrained stage 1 makes ``--resume`` of stage 2 refuse (use ``--overwrite``).
Details and deviations: :mod:`core.training.transfer`.

Examples::

    python pretrain/pretraining.py --preset quick --seed 0 1
    python pretrain/pretraining.py --preset lab --network mpn rnn --seed 0 1 2 --device cuda
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import (
    ArgumentParser,
    add_run_arguments,
    cli_main,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.plotting.training import plot_curves
from core.provenance import payload_digest
from core.training.checkpoint import load_checkpoint, load_model_state
from core.training.trainer import CHECKPOINT_FILE, build_rule_run
from core.training.transfer import (
    HELD_OUT_RULE,
    MOTIFS,
    TRANSFER_NETWORKS,
    TRANSFER_PRESETS,
    stage_configs,
    stage_names,
    train_only_input_columns,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one documented in ``--help``)."""
    p = ArgumentParser(
        description="Two-stage transfer runs: pretrain on a rule pair with a reserved rule "
                    f"column, then train only that column on {HELD_OUT_RULE}.",
        epilog="Early stopping of stage 1: " + "; ".join(
            f"preset {k}: {v.early_stop.describe()}" for k, v in TRANSFER_PRESETS.items())
        + ". Stage 2 never stops early.")
    p.add_argument("--preset", choices=sorted(TRANSFER_PRESETS), default="lab",
                   help="'lab' (the MPN lab: hidden 100, batch 128, stage 1 <= 60 000 steps, "
                        "stage 2 80 000; the default) or 'quick' (CPU-sized: hidden 48, batch 32, "
                        "stage 1 <= 1500 steps, stage 2 600)")
    p.add_argument("--motif", choices=sorted(MOTIFS), nargs="+", default=sorted(MOTIFS),
                   help="pretraining pair(s): relevant = fdanti + delaygo, irrelevant = fdgo + "
                        "delaygo (default: both)")
    p.add_argument("--network", choices=sorted(TRANSFER_NETWORKS), nargs="+",
                   default=sorted(TRANSFER_NETWORKS),
                   help="mpn (multi-plastic network) and/or rnn (leaky RNN, W_rec = 0.8 I); "
                        "default: both")
    p.add_argument("--seed", type=non_negative_int, nargs="+", default=[0],
                   help="one or several seeds; each trains its own pair of runs (default: 0)")
    p.add_argument("--steps1", type=positive_int, default=None,
                   help="stage-1 step limit (default: the preset's)")
    p.add_argument("--steps2", type=positive_int, default=None,
                   help="stage-2 steps (default: the preset's)")
    p.add_argument("--hidden", type=positive_int, default=None,
                   help="hidden units, and MPN embedding units (default: the preset's)")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="trials per batch (default: the preset's)")
    p.add_argument("--eval-trials", type=positive_int, default=500,
                   help="fresh delayanti trials scored after stage 2 (Generator seeded with "
                        "(seed, 2); evaluation.csv of the stage-2 run); default: 500")
    add_run_arguments(p, out="runs/pretrain")
    return p.parse_args(argv)


def _sized(config, args: argparse.Namespace, steps: int | None):
    changes = {"n_steps": steps, "batch_size": args.batch}
    if args.hidden is not None:
        changes["hidden"] = args.hidden
        if "n_embed" in config.model:
            changes["model"] = {**config.model, "n_embed": args.hidden}
    return config.replace(**{k: v for k, v in changes.items() if v is not None})


@cli_main
def main(argv: list[str] | None = None) -> None:
    """Train stage 1 then stage 2 for every motif, network and seed."""
    args = parse_args(argv)
    set_threads(args.threads)
    resolve_device(args.device)
    preset = TRANSFER_PRESETS[args.preset]
    for motif in args.motif:
        for network in args.network:
            config1, config2 = stage_configs(preset, motif, network)
            config1, config2 = _sized(config1, args, args.steps1), _sized(config2, args,
                                                                         args.steps2)
            for seed in args.seed:
                name1, name2 = stage_names(motif, network, seed, config1)
                run1 = build_rule_run(config1, seed, args.out, device=args.device,
                                      progress=not args.no_progress, name=name1)
                run1.trainer.should_stop = preset.early_stop
                result1 = run1.trainer.fit(resume=args.resume, overwrite=args.overwrite)
                plot_curves(result1.curves, run1.run_dir / "curves", title=name1)
                print(f"{name1}: stage 1 stopped at step {result1.step} ({result1.stopped}) "
                      f"after {result1.seconds:.0f} s")
                stage1 = run1.run_dir / CHECKPOINT_FILE
                payload = load_checkpoint(stage1)
                digest, step = payload_digest(payload)
                state = payload["model"]

                def start_from_stage1(model, task_config, state=state, source=str(stage1)):
                    load_model_state(model, state, source=source)
                    train_only_input_columns(model, [task_config.rule_index(HELD_OUT_RULE)])

                run2 = build_rule_run(config2, seed, args.out, device=args.device,
                                      progress=not args.no_progress, name=name2,
                                      init_model=start_from_stage1,
                                      run_info={"stage1": {"name": name1, "network": digest,
                                                           "step": step}})
                result2 = run2.trainer.fit(resume=args.resume, overwrite=args.overwrite)
                plot_curves(result2.curves, run2.run_dir / "curves", title=name2)
                score = run2.store_evaluation(args.eval_trials)[HELD_OUT_RULE]
                low, high = score.interval()
                print(f"{name2}: stage 2, {result2.step} steps in {result2.seconds:.0f} s; "
                      f"{HELD_OUT_RULE} accuracy on {args.eval_trials} fresh trials "
                      f"{score.accuracy:.3f} (95 % {low:.3f}-{high:.3f}, chance "
                      f"{score.chance:.3f}); runs in {Path(args.out)}")


if __name__ == "__main__":
    main()
