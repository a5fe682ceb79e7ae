"""Transfer through a new rule vector: two-stage runs of the MPN lab's pretraining experiment.

AllenInstitute/MultiTaskMPN ``pretrain/pretraining.py``: stage 1 trains a network on a pair of
rules (``fdanti + delaygo``, which shares the "anti" motif with the held-out ``delayanti``, or
``fdgo + delaygo``, which does not) with one reserved rule-input column
(:attr:`core.tasks.TaskConfig.n_reserved_rules`); stage 2 freezes every parameter except that
column of the input weights (the new rule's vector) and trains it on the held-out rule. In the
MPN, M keeps evolving within each trial with the frozen η and λ, so whatever the network learns in
stage 2 it learns through the rule vector alone.

Deviations from the lab: stage 2 leaves the frozen weights bit-identical (the lab checks them
within 1e-4); the early-stopping rule is :class:`HeldAccuracy` (stated exactly there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.training.config import PAPER_MODELS, TrainConfig

#: Pretraining rule pairs by motif: 'relevant' shares the anti motif with the held-out rule.
MOTIFS: dict[str, tuple[str, ...]] = {"relevant": ("fdanti", "delaygo"),
                                      "irrelevant": ("fdgo", "delaygo")}
HELD_OUT_RULE = "delayanti"
#: Networks of the transfer experiment and their training-config network kind.
TRANSFER_NETWORKS = {"mpn": "mpn", "rnn": "vanilla"}


@dataclass(frozen=True)
class HeldAccuracy:
    """Early stopping: stop at the first validation at step ``>= min_step`` such that in each of
    the last ``hold`` validations (this one included) every rule's validation accuracy was
    ``>= threshold``. Called by the :class:`~core.training.trainer.Trainer` with its curves."""

    threshold: float = 0.97
    hold: int = 3
    min_step: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1 or self.hold < 1 or self.min_step < 0:
            raise ValueError(f"HeldAccuracy needs threshold in (0, 1], hold >= 1, min_step >= 0; "
                             f"got {self.threshold}, {self.hold}, {self.min_step}")

    def __call__(self, curves: Any) -> bool:
        """True when ``curves`` (``val_step``, ``val_accuracy`` lists) meet the rule."""
        if not curves.val_step or curves.val_step[-1] < self.min_step:
            return False
        recent = curves.val_accuracy[-self.hold:]
        return len(recent) == self.hold and all(min(acc.values()) >= self.threshold
                                                for acc in recent)

    def describe(self) -> str:
        """The rule in words (for ``--help``)."""
        return (f"stop at the first validation at step >= {self.min_step} such that every rule "
                f"scored >= {self.threshold} on each of the last {self.hold} validations "
                "(this one included)")


@dataclass(frozen=True)
class TransferPreset:
    """Both stages of a transfer run: ``stage1``/``stage2`` training configs (network kind
    'mpn'; :func:`stage_configs` adapts them), the early stop of stage 1 and the RNN's
    recurrent-weight initialisation."""

    stage1: TrainConfig
    stage2: TrainConfig
    early_stop: HeldAccuracy
    rnn_model: Mapping[str, Any]


_MPN = {**PAPER_MODELS["mpn"], "n_embed": 100}
_LAB = TrainConfig(
    rules=list(MOTIFS["relevant"]), task_preset="mpn_lab", dt=40.0, network="mpn", hidden=100,
    model=_MPN, n_steps=60_000, batch_size=128, lr=1e-3, grad_clip=10.0, l2=0.0, l2_sum=1e-4,
    act_l2=1e-4, batch_rules="single", sampling_decay=0.9, val_every=50, val_trials=200,
    scheduler="plateau", scheduler_gamma=0.9, plateau_patience=20, checkpoint_every=500,
    task={"n_reserved_rules": 1})
#: The lab's transfer setting (see the module docstring and the issue): MPN 100 hidden, 100-unit
#: embedding, η trainable (1), λ from 4000 ms, Adam 1e-3, batch 128, clip 10, weight and activity
#: L2 1e-4, plateau (0.9, 20), 200 validation trials per rule; stage 1 at most 60 000 steps with
#: early stop held >= 0.97 from step 1000; stage 2 80 000 steps. RNN: W_rec = 0.8 I, α = 0.2.
LAB = TransferPreset(stage1=_LAB, stage2=_LAB.replace(n_steps=80_000),
                     early_stop=HeldAccuracy(0.97, 3, 1000),
                     rnn_model={"activation": "tanh", "w_rec_init": "identity",
                                "w_rec_gain": 0.8, "tau": 200.0})
_QUICK = _LAB.replace(hidden=48, model={**_MPN, "n_embed": 48}, batch_size=32, lr=3e-3,
                      val_every=25, val_trials=64, checkpoint_every=100, n_steps=1500,
                      plateau_patience=10)
#: CPU-sized: hidden and embedding 48, batch 32, lr 3e-3, validation on 64 trials every 25 steps,
#: stage 1 at most 1500 steps (early stop held >= 0.97 over 3 validations from step 200), stage 2
#: 600 steps.
QUICK = TransferPreset(stage1=_QUICK, stage2=_QUICK.replace(n_steps=600),
                       early_stop=HeldAccuracy(0.97, 3, 200), rnn_model=LAB.rnn_model)
TRANSFER_PRESETS = {"lab": LAB, "quick": QUICK}


def stage_configs(preset: TransferPreset, motif: str, network: str
                  ) -> tuple[TrainConfig, TrainConfig]:
    """Stage-1 and stage-2 training configs of ``network`` ('mpn' or 'rnn') pretrained on the
    ``motif``'s rule pair ('relevant' or 'irrelevant'). Both share one task layout (the pair's
    cues, then one reserved column that cues :data:`HELD_OUT_RULE` in stage 2)."""
    if motif not in MOTIFS:
        raise ValueError(f"unknown motif {motif!r}; expected one of {sorted(MOTIFS)}")
    if network not in TRANSFER_NETWORKS:
        raise ValueError(f"unknown network {network!r}; expected one of "
                         f"{sorted(TRANSFER_NETWORKS)}")
    pair = list(MOTIFS[motif])
    kind = TRANSFER_NETWORKS[network]
    model = dict(preset.stage1.model) if kind == "mpn" else dict(preset.rnn_model)
    layout = {"rules": tuple(pair), "n_reserved_rules": 1, "reserved_rules": (HELD_OUT_RULE,)}
    stage1 = preset.stage1.replace(rules=pair, network=kind, model=model,
                                   task={"n_reserved_rules": 1})
    stage2 = preset.stage2.replace(rules=HELD_OUT_RULE, network=kind, model=model, task=layout)
    return stage1, stage2


def stage_names(motif: str, network: str, seed: int, config: TrainConfig) -> tuple[str, str]:
    """Run names of the two stages, e.g. ``fdanti_delaygo-pre_seed0_sL21e4aL21e4+hidden100+
    batch128+angle`` and ``fdanti_delaygo-to-delayanti_seed0_...`` (the network kind is coded
    in the feature as everywhere: ``...aL21e4vanilla``)."""
    from core.training.naming import run_name

    pair = "_".join(MOTIFS[motif])
    args = (seed, config.feature, config.hidden, config.batch_size, f"+{config.accuracy}")
    return run_name(f"{pair}-pre", *args), run_name(f"{pair}-to-{HELD_OUT_RULE}", *args)


def input_weight(model: torch.nn.Module) -> torch.nn.Parameter:
    """The input weights ``(n_units, n_in)`` whose columns are the rule vectors (the MPN's input
    embedding, the RNN's ``W_in``). ValueError for a model without ``w_in``."""
    layer = getattr(model, "w_in", None)
    if layer is None:
        raise ValueError(f"{type(model).__name__} has no input weights w_in")
    return layer.weight


def train_only_input_columns(model: torch.nn.Module, columns: Sequence[int]) -> None:
    """Freeze every parameter of ``model`` except ``columns`` of its input weights.

    All other parameters stop requiring gradients; the input weights keep requiring them, and a
    gradient hook zeroes every other column (also of weight penalties), so with a fresh Adam
    optimiser (no weight decay) those entries never move: Adam's moments stay 0 and its update
    ``lr · m / (√v + ε)`` is exactly 0. ValueError for a column outside the input.
    """
    weight = input_weight(model)
    n_in = weight.shape[1]
    if not columns or any(not 0 <= c < n_in for c in columns):
        raise ValueError(f"columns must be input indices in [0, {n_in}), got {list(columns)}")
    for p in model.parameters():
        p.requires_grad_(False)
    weight.requires_grad_(True)
    keep = torch.zeros_like(weight)
    keep[:, list(columns)] = 1.0
    weight.register_hook(lambda grad: grad * keep)
