"""Training configuration: one dataclass and its presets (``quick``, ``paper``, ``fast``, ...).

``paper`` is the multi-task MPN setting of the MPN lab (AllenInstitute/MultiTaskMPN,
``multiple_task/multiple_task.py`` and ``core/net_helpers.py``): hidden 300 (a trainable tanh
input embedding of 300 units, one plastic layer), batch 128, dt 40 ms, rule set ``everything``,
multiplicative ``hebb_assoc`` plasticity with a trainable scalar η and a fixed λ set from
``m_time_scale`` = 4000 ms, Adam lr 1e-3, gradient clipping at 10, 100 000 steps, weight penalty
``1e-3·Σ ½ W²`` (summed, on the embedding, W and readout) and activity penalty ``1e-3·mean h²``,
one rule per batch drawn by the lab's adaptive rule (decayed sum, 0.9, of normalised validation
errors), validation on 15 trials per rule every 50 steps and a plateau LR schedule (×0.95 after
30 flat validations). Our accuracy stays the per-trial criterion of ``core.tasks.accuracy`` (the
lab scores every step of the late response period). ``quick`` is a small version that finishes in
minutes on a 2-core CPU and still learns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.training.naming import regulariser_feature

OPTIMIZERS = ("adam", "adamw", "schedulefree")
SCHEDULERS = ("none", "plateau", "step")
LOSSES = ("mse", "cross_entropy")
NETWORKS = ("mpn", "vanilla", "gru")
BATCH_RULES = ("mixed", "single")


@dataclass
class TrainConfig:
    """Everything that defines a training run besides the seed.

    Task: ``rules`` (rule set, rule or list), ``task_preset`` (``core.tasks.config`` preset),
    ``dt`` (ms) and ``task`` (field overrides of that ``TaskConfig``). Model: ``network`` kind,
    ``hidden`` units and ``model`` (keyword overrides of the model's config dataclass, e.g.
    ``{"activation": "tanh"}``). Optimisation: ``n_steps`` gradient steps of ``batch_size``
    trials, ``optimizer`` with ``lr``/``weight_decay``, ``grad_clip`` (max gradient norm, 0 =
    off), ``scheduler`` ('none', 'plateau' on the validation loss, or 'step' every
    ``scheduler_step`` steps) with ``scheduler_gamma`` and ``plateau_patience`` (validations);
    ``warmup_steps`` > 0 raises the rate linearly from ``lr / warmup_steps`` to ``lr`` over the
    first steps (before a 'step' schedule; not with 'plateau'). ``optimizer`` 'schedulefree' is
    schedule-free AdamW (Defazio et al. 2024, ``schedulefree``; its own warm-up, no scheduler).
    Loss: ``loss`` ('mse' or 'cross_entropy') plus L1/L2 penalties on weight matrices (``l1``,
    ``l2`` averaged over each matrix; ``l2_sum`` on half the summed squares, the MPN lab's) and
    hidden activity (``act_l1``, ``act_l2``). Sampling: ``batch_rules`` 'mixed' (each trial's
    rule drawn) or 'single' (one drawn rule per batch, as the MPN lab trains);
    ``adaptive_sampling`` draws rules with lower validation accuracy more often, by the last
    accuracy or, with ``sampling_decay`` > 0, by the MPN lab's decayed sum of normalised errors
    (:class:`core.tasks.RuleSampler`). ``curriculum``: rule lists (each as
    :func:`core.tasks.resolve_rules` reads it) that enter training one after another, one every
    ``curriculum_steps`` steps (stage ``k`` from step ``k * curriculum_steps``); rules of the run
    in no stage enter after the last; empty (the default) trains every rule from the start.
    Validation always covers every rule. Bookkeeping: validate every ``val_every``
    steps on ``val_trials`` fixed trials per rule; stop early when every rule reaches
    ``target_accuracy`` (None = never); checkpoint every ``checkpoint_every`` steps.
    ``accuracy`` names the performance criterion (the run name's ``accfeature``).
    """

    rules: str | list[str] = "everything"
    task_preset: str = "mpn_lab"
    dt: float = 40.0
    task: dict[str, Any] = field(default_factory=dict)
    network: str = "mpn"
    hidden: int = 300
    model: dict[str, Any] = field(default_factory=dict)
    n_steps: int = 20000
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 10.0
    scheduler: str = "none"
    scheduler_step: int = 5000
    scheduler_gamma: float = 0.5
    plateau_patience: int = 30
    warmup_steps: int = 0
    loss: str = "mse"
    l1: float = 0.0
    l2: float = 1e-4
    l2_sum: float = 0.0
    act_l1: float = 0.0
    act_l2: float = 0.0
    batch_rules: str = "mixed"
    adaptive_sampling: bool = True
    sampling_decay: float = 0.0
    curriculum: list[str] = field(default_factory=list)
    curriculum_steps: int = 500
    val_every: int = 200
    val_trials: int = 64
    target_accuracy: float | None = None
    checkpoint_every: int = 200
    accuracy: str = "angle"

    def __post_init__(self) -> None:
        checks = [
            (self.network in NETWORKS, f"one of {NETWORKS}", ("network",)),
            (self.optimizer in OPTIMIZERS, f"one of {OPTIMIZERS}", ("optimizer",)),
            (self.scheduler in SCHEDULERS, f"one of {SCHEDULERS}", ("scheduler",)),
            (self.loss in LOSSES, f"one of {LOSSES}", ("loss",)),
            (self.batch_rules in BATCH_RULES, f"one of {BATCH_RULES}", ("batch_rules",)),
            (0 <= self.sampling_decay < 1, "in [0, 1)", ("sampling_decay",)),
            (self.hidden >= 1 and self.batch_size >= 1, ">= 1", ("hidden", "batch_size")),
            (self.n_steps >= 0, ">= 0", ("n_steps",)),
            (self.lr > 0 and self.dt > 0, "> 0", ("lr", "dt")),
            (min(self.l1, self.l2, self.l2_sum, self.act_l1, self.act_l2, self.grad_clip,
                 self.weight_decay) >= 0, ">= 0",
             ("l1", "l2", "l2_sum", "act_l1", "act_l2", "grad_clip", "weight_decay")),
            (min(self.val_every, self.checkpoint_every, self.val_trials) >= 1, ">= 1",
             ("val_every", "checkpoint_every", "val_trials")),
            (self.warmup_steps >= 0, ">= 0", ("warmup_steps",)),
            (not (self.warmup_steps and self.scheduler == "plateau"),
             "compatible (a warm-up runs before a 'none' or 'step' schedule, not 'plateau')",
             ("warmup_steps", "scheduler")),
            (self.optimizer != "schedulefree" or self.scheduler == "none", "'none' with "
             "'schedulefree' (it needs no schedule)", ("scheduler", "optimizer")),
            (self.curriculum_steps >= 1, ">= 1", ("curriculum_steps",)),
            (self.target_accuracy is None or 0 < self.target_accuracy <= 1, "None or in (0, 1]",
             ("target_accuracy",)),
        ]
        for ok, expected, names in checks:
            if not ok:
                got = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
                raise ValueError(f"TrainConfig: {'/'.join(names)} must be {expected}, got {got}")

    @property
    def feature(self) -> str:
        """The run name's ``feature``: regulariser codes, then the network kind unless 'mpn'."""
        reg = regulariser_feature(self.l1, self.l2, self.act_l1, self.act_l2, self.l2_sum)
        return reg if self.network == "mpn" else f"{reg}{self.network}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (``TrainConfig(**d)`` rebuilds it)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


#: Model-config overrides of the MPN-lab setting, per network kind.
PAPER_MODELS: dict[str, dict[str, Any]] = {
    "mpn": {"activation": "tanh", "mp_type": "mult", "update": "hebb_assoc",
            "eta_type": "scalar", "eta_train": True, "lam_type": "scalar", "lam_train": False,
            "m_time_scale": 4000.0},
    "vanilla": {"activation": "tanh"},
    "gru": {},
}

#: MPN-lab multi-task setting (see the module docstring).
PAPER = TrainConfig(
    rules="everything", task_preset="mpn_lab", dt=40.0, network="mpn", hidden=300,
    model=PAPER_MODELS["mpn"], n_steps=100_000, batch_size=128, lr=1e-3, grad_clip=10.0,
    l2=0.0, l2_sum=1e-3, act_l2=1e-3, batch_rules="single", sampling_decay=0.9,
    val_every=50, val_trials=15, scheduler="plateau", scheduler_gamma=0.95, plateau_patience=30,
)

#: The penalties, batching and sampling of this project's own small multi-rule runs: a mean-based
#: L2 weight penalty of 1e-4, no activity penalty, rules mixed within each batch, sampling by the
#: last validation error (floor 0.05), validation on 64 trials per rule every 200 steps.
OWN_REGIME: dict[str, Any] = {"l2": 1e-4, "l2_sum": 0.0, "act_l2": 0.0, "batch_rules": "mixed",
                              "sampling_decay": 0.0, "val_every": 200, "val_trials": 64}

#: Small and fast: a few minutes on a 2-core CPU and still learns the six reach rules (go/anti,
#: immediate/reaction-time/delayed). Deviates from ``paper`` in size, rule set, step count, a
#: larger learning rate (3e-3) so that learning shows within 400 steps, and :data:`OWN_REGIME`.
QUICK = PAPER.replace(**{**OWN_REGIME, "val_every": 50, "val_trials": 32},
                      rules="reach", hidden=64, batch_size=32, n_steps=400, lr=3e-3,
                      checkpoint_every=50, scheduler="none")

#: One-rule reference setting of the MPN lab (``one_task/one_task.py``): delaygo, hidden 200,
#: fixed η, λ from m_time_scale 400 ms, 3000 steps of 128 trials, one fixation input, stimuli in
#: one modality and unit-strength targets; penalties 1e-4·Σ½W² (summed) and 1e-4·mean h²;
#: validation on 50 trials every 50 steps.
ONE_TASK = PAPER.replace(
    rules="delaygo", hidden=200, n_steps=3000, l2_sum=1e-4, act_l2=1e-4, val_trials=50,
    model={**PAPER_MODELS["mpn"], "eta_train": False, "m_time_scale": 400.0},
    task={"fixation_off_input": False, "second_stim_other_modality": False,
          "target_scales_with_strength": False},
)

#: The one-rule setting, small enough for a 2-core CPU in about a minute.
ONE_TASK_QUICK = ONE_TASK.replace(hidden=32, batch_size=32, n_steps=300, val_every=50,
                                  checkpoint_every=50, val_trials=32, scheduler="none")

#: Two-task setting of the MPN lab (``two_task/two_task.py``): one network on a pro/anti pair
#: (delaygo, delayanti), hidden 200 with a 200-unit input embedding, fixed η (1), λ from
#: m_time_scale 4000 ms, Adam lr 1e-3, batch 128, 6000 steps, penalties 1e-2·Σ½W² (summed) and
#: 1e-2·mean h², ReduceLROnPlateau (×0.5 after 10 flat validations), one fixation input, stimuli
#: in one modality, unit-strength targets, no input noise, 8 directions; one-rule batches drawn
#: by the lab's decayed-error rule, validation on 60 trials per rule every 50 steps.
TWO_TASK = PAPER.replace(
    rules=["delaygo", "delayanti"], hidden=200, n_steps=6000, l2_sum=1e-2, act_l2=1e-2,
    scheduler="plateau", scheduler_gamma=0.5, plateau_patience=10, val_trials=60,
    model={**PAPER_MODELS["mpn"], "eta_train": False, "n_embed": 200},
    task={"fixation_off_input": False, "second_stim_other_modality": False,
          "target_scales_with_strength": False, "sigma_x": 0.0, "n_directions": 8},
)

#: The two-task setting, small enough to learn both rules on a 2-core CPU in a few minutes.
TWO_TASK_QUICK = TWO_TASK.replace(
    hidden=64, model={**TWO_TASK.model, "n_embed": 64}, batch_size=64, n_steps=800, lr=3e-3,
    val_every=50, checkpoint_every=50, val_trials=32, scheduler="none")

#: The lab's network (hidden 300, the model of ``paper``) in a regime for a CPU: the compiled MPN
#: kernel (``implementation="compiled"``: 2.03 s instead of 3.55 s of CPU time per paper-size
#: step on one core, benchmarks/bench_mpn.py), batches of 64 trials with the rules mixed in each
#: batch (every batch informs every rule; a step costs about half of one of 128: linear in B),
#: Adam lr 2e-3 without a schedule, and :data:`OWN_REGIME`'s penalties and sampling with a cheap
#: validation (32 trials per rule every 100 steps). The kernel was chosen by measurement; at
#: hidden 96, mixed batches of 64 beat one-rule batches and batches of 32 or 128, and Adam 4e-3
#: beat 2e-3, but at hidden 300 it was no clear gain in 60 minutes (README, time to accuracy).
FAST = PAPER.replace(**{**OWN_REGIME, "val_every": 100, "val_trials": 32},
                     batch_size=64, lr=2e-3, scheduler="none", checkpoint_every=500,
                     model={**PAPER_MODELS["mpn"], "implementation": "compiled"})

PRESETS: dict[str, TrainConfig] = {"quick": QUICK, "paper": PAPER, "fast": FAST,
                                   "one_task": ONE_TASK, "one_task_quick": ONE_TASK_QUICK,
                                   "two_task": TWO_TASK, "two_task_quick": TWO_TASK_QUICK}


def get_preset(name: str, network: str = "mpn") -> TrainConfig:
    """A fresh copy of preset ``name`` ('quick' or 'paper') for ``network`` (its model overrides).

    ValueError naming the accepted values otherwise.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown training preset {name!r}; expected one of {sorted(PRESETS)}")
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; expected one of {NETWORKS}")
    preset = PRESETS[name]
    model = dict(preset.model) if network == preset.network else dict(PAPER_MODELS[network])
    rules = list(preset.rules) if isinstance(preset.rules, list) else preset.rules
    return preset.replace(network=network, model=model, task=dict(preset.task), rules=rules)


def model_config(config: TrainConfig, n_in: int, n_out: int) -> dict[str, Any]:
    """The model-config dict for ``config.network``: ``n_in``/``n_out`` from the task, the run's
    ``hidden`` size and ``dt`` (MPN, vanilla RNN: α = dt/τ), then the ``config.model``
    overrides. The MPN's input embedding has ``hidden`` units too unless ``model`` sets
    ``n_embed`` (as in the MPN lab)."""
    base: dict[str, Any] = {"n_in": n_in, "n_hidden": config.hidden, "n_out": n_out}
    if config.network in ("mpn", "vanilla"):
        base["dt"] = config.dt
    if config.network == "mpn":
        base["n_embed"] = config.hidden
    return {**base, **config.model}

#: The MPN lab's ``flex_task`` setting: delaydm1 + delaydm2, hidden 200, Adam lr 1e-4, batch 128,
#: clip 10, 3000 steps, penalties 1e-4·Σ½W² and 1e-4·mean h², plateau (0.9, patience 30),
#: 100 validation trials per rule every 50 steps. Network sizes are matched by parameter count
#: (:func:`core.training.flex.matched_configs`).
FLEX_TASK = PAPER.replace(rules=["delaydm1", "delaydm2"], hidden=200, lr=1e-4, n_steps=3000,
                          l2_sum=1e-4, act_l2=1e-4, scheduler_gamma=0.9, plateau_patience=30,
                          val_trials=100, checkpoint_every=500)
#: CPU-sized flex_task: hidden 48, batch 32, lr 1e-3, 600 steps, 64 validation trials every 25.
FLEX_TASK_QUICK = FLEX_TASK.replace(hidden=48, batch_size=32, lr=1e-3, n_steps=600, val_every=25,
                                    val_trials=64, checkpoint_every=100, plateau_patience=10)
FLEX_PRESETS: dict[str, TrainConfig] = {"flex_task": FLEX_TASK, "flex_task_quick": FLEX_TASK_QUICK}
