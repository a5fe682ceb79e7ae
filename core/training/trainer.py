"""A generic, resumable training loop.

The :class:`Trainer` knows nothing about tasks (the MoP and curriculum trainers reuse it): it
draws a batch with ``sample_batch(rng)``, scores it with ``loss_fn(model, batch) -> (loss,
outputs)``, adds the L1/L2 weight penalty, clips the gradient norm, steps Adam, AdamW or
schedule-free AdamW (Defazio et al. 2024, ``schedulefree``; its averaged weights are what
validation sees and checkpoints store) and an optional schedule (linear warm-up, StepLR,
ReduceLROnPlateau), and
every ``val_every`` steps calls ``evaluate(model) -> Validation`` (validation loss and accuracy
per rule). It stops early when every rule reaches ``target_accuracy`` or, when the config has an
``early_stopping_threshold``, after the first step whose training loss is below it (validated
at that step), and raises :class:`TrainingDiverged` on a non-finite loss or gradient, keeping
the last good checkpoint (or by the divergence rule below). It refuses ``n_steps < 1`` (a run
without training).

Divergence: :class:`TrainingDiverged` is raised, keeping the last good checkpoint, when the loss
or the gradient norm of a step is NaN/inf, or when the validation loss exceeds
:data:`DIVERGENCE_FACTOR` (10) times its value at step 0 at :data:`DIVERGENCE_PATIENCE` (3)
validations in a row, or when training ends (step budget, target accuracy, loss threshold,
:meth:`Trainer.request_stop`) with its latest validation above it. While the latest validation
loss is above that threshold no checkpoint is written, so the stored one is the last below it,
and ``status.json`` (written with each checkpoint) keeps describing it: its step, unfinished.

Signals: during :meth:`Trainer.fit` SIGINT (Ctrl-C) and SIGTERM (sent by SLURM before pre-empting
a job) end the current step, save a checkpoint at that step (unless the validation loss is above
the divergence threshold: then the last good one stays) and raise
:class:`~core.errors.TrainingInterrupted`, which scripts turn into one line and exit status
128 + signal number. A second signal stops at once. ``fit(resume=True)`` then continues
bit-for-bit.

A run lives in one folder ``<out>/<run name>/``: ``checkpoint.pt`` (model, optimiser, scheduler,
RNG states, curves, extra state such as the rule sampler), ``config.json``, ``curves.csv``,
``validation.csv`` and ``status.json`` (steps done, step budget and why training stopped, or null
while unfinished: :func:`write_status`), all written atomically. Resuming restores everything,
so a killed and resumed run ends with the same weights as an uninterrupted one (CPU, same seed).

:class:`RuleTraining` wires the task suite in (adaptive rule sampling, the masked loss of
:func:`trial_loss`, a fixed per-rule validation set).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from core.errors import CheckpointError, RunExistsError, TrainingDiverged, TrainingInterrupted
from core.fileio import atomic_write_bytes, atomic_write_text, make_folder, save_json
from core.tasks import (
    RuleSampler,
    RuleScore,
    TaskConfig,
    Trials,
    accuracy_by_rule,
    chance_level,
    concat,
    generate_mixed_trials,
    generate_trials,
    resolve_rules,
    score_fresh_trials,
)
from core.training.checkpoint import (
    load_checkpoint,
    load_json,
    load_model_state,
    model_state,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from core.training.config import TrainConfig
from core.training.losses import OUTPUT_LOSSES, activity_penalty, weight_matrices, weight_penalty

CHECKPOINT_FILE = "checkpoint.pt"
CONFIG_FILE = "config.json"
CURVES_FILE = "curves.csv"
VALIDATION_FILE = "validation.csv"
EVALUATION_FILE = "evaluation.csv"  # accuracy on fresh trials after training (score_table_csv)
STATUS_FILE = "status.json"  # steps done, step budget, why training stopped (write_status)
RUN_FILES = (CHECKPOINT_FILE, CONFIG_FILE, CURVES_FILE, VALIDATION_FILE, EVALUATION_FILE,
             STATUS_FILE)
STAGES_DIR = "stages"  # StageRecorder's sub-folder of a run
#: What a run folder holds besides RUN_FILES that is derived from the run (cleared on overwrite):
#: sub-folders, and files by suffix (stored results, figures).
DERIVED_DIRS = (STAGES_DIR, "figures")
DERIVED_SUFFIXES = (".h5", ".png", ".pdf")

#: Divergence: validation loss above this multiple of its step-0 value ...
DIVERGENCE_FACTOR = 10.0
#: ... at this many validations in a row (or at the one before training ends) raises
#: TrainingDiverged.
DIVERGENCE_PATIENCE = 3
#: Signals after which :meth:`Trainer.fit` (and :func:`core.training.curriculum.train_curriculum`)
#: saves a checkpoint and stops.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: ``resume`` value that starts a run without a checkpoint instead of refusing (and says so).
RESUME_IF_EXISTS = "if-exists"

LossFn = Callable[[torch.nn.Module, Any], tuple[torch.Tensor, Any]]


class Stateful(Protocol):
    """Anything whose state must survive a resume (e.g. an adaptive rule sampler)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class Validation:
    """One validation pass: mean loss and accuracy per rule (fraction correct in [0, 1]), and
    each rule's chance level (:func:`core.tasks.chance_level`; empty where none is defined)."""

    loss: float
    accuracy: dict[str, float]
    chance: dict[str, float] = field(default_factory=dict)

    @property
    def mean_accuracy(self) -> float:
        """Mean accuracy over rules."""
        return float(np.mean(list(self.accuracy.values())))

    @property
    def min_accuracy(self) -> float:
        """Accuracy of the weakest rule."""
        return float(min(self.accuracy.values()))


@dataclass
class Curves:
    """Training curves: per step (``step``, ``loss`` with penalties, ``lr``) and per validation
    (``val_*``; ``val_chance`` is each rule's chance level, the same at every validation)."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[dict[str, float]] = field(default_factory=list)
    val_chance: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists/dicts (checkpoint-safe)."""
        return {k: dict(v) if isinstance(v, dict) else list(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Curves:
        """Inverse of :meth:`to_dict` (curves stored without ``val_chance`` get none)."""
        return cls(**{k: dict(v) if isinstance(v, Mapping) else list(v) for k, v in d.items()})

    def last_validation(self) -> Validation | None:
        """The most recent validation, or None."""
        if not self.val_step:
            return None
        return Validation(self.val_loss[-1], dict(self.val_accuracy[-1]), dict(self.val_chance))

    def curves_csv(self) -> str:
        """``step,loss,lr`` rows."""
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["step", "loss", "lr"])
        w.writerows(zip(self.step, self.loss, self.lr, strict=True))
        return out.getvalue()

    def validation_csv(self) -> str:
        """``step,loss,mean_accuracy,<rule>...`` rows; with chance levels known, each rule's
        column is followed by ``<rule>_chance`` and ``mean_accuracy`` by ``mean_chance``."""
        rules = list(self.val_accuracy[0]) if self.val_accuracy else []
        chance = self.val_chance
        header = ["step", "loss", "mean_accuracy"] + (["mean_chance"] if chance else [])
        for r in rules:
            header += [r, f"{r}_chance"] if chance else [r]
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(header)
        for s, loss, acc in zip(self.val_step, self.val_loss, self.val_accuracy, strict=True):
            row = [s, loss, float(np.mean([acc[r] for r in rules]))]
            if chance:
                row.append(float(np.mean([chance[r] for r in rules])))
            for r in rules:
                row += [acc[r], chance[r]] if chance else [acc[r]]
            w.writerow(row)
        return out.getvalue()


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns: final step, why it stopped, curves and wall time (s)."""

    step: int
    stopped: str
    curves: Curves
    seconds: float

    @property
    def final_validation(self) -> Validation | None:
        """The last validation pass."""
        return self.curves.last_validation()


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or (``optimizer == "schedulefree"``) ``schedulefree.AdamWScheduleFree`` (with
    the config's ``warmup_steps``, if it has them) on the trainable parameters, with ``lr`` and
    ``weight_decay``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "schedulefree":
        from schedulefree import AdamWScheduleFree

        return AdamWScheduleFree(params, lr=config.lr, weight_decay=config.weight_decay,
                                 warmup_steps=getattr(config, "warmup_steps", 0))
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def set_optimizer_mode(optimizer: torch.optim.Optimizer, train: bool) -> None:
    """Put a schedule-free optimizer's parameters at its training point (``train``) or at its
    average (for evaluation and checkpoints); other optimizers have no modes."""
    mode = getattr(optimizer, "train" if train else "eval", None)
    if mode is not None:
        mode()


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """ReduceLROnPlateau (stepped per validation, on the validation loss), a per-step schedule
    (a linear warm-up over ``warmup_steps`` from ``lr / warmup_steps``, then StepLR when
    ``scheduler == "step"``), or None. Schedule-free optimizers warm up themselves."""
    lr_sched = torch.optim.lr_scheduler
    if config.scheduler == "plateau":
        return lr_sched.ReduceLROnPlateau(optimizer, mode="min", factor=config.scheduler_gamma,
                                          patience=config.plateau_patience, min_lr=1e-8)
    step = (lr_sched.StepLR(optimizer, step_size=config.scheduler_step,
                            gamma=config.scheduler_gamma)
            if config.scheduler == "step" else None)
    warmup = getattr(config, "warmup_steps", 0)
    if not warmup or config.optimizer == "schedulefree":
        return step
    ramp = lr_sched.LinearLR(optimizer, start_factor=1.0 / warmup, total_iters=warmup)
    return ramp if step is None else lr_sched.SequentialLR(optimizer, [ramp, step], [warmup])


class Trainer:
    """Train ``model`` with ``config``; see the module docstring.

    Args:
        model: any ``nn.Module``.
        config: a :class:`TrainConfig`, or any object with its fields ``n_steps``, ``lr``,
            ``optimizer``, ``weight_decay``, ``grad_clip``, ``scheduler`` (+ ``scheduler_step``/
            ``scheduler_gamma``/``plateau_patience`` when used; optionally ``warmup_steps``),
            ``l1``, ``l2``, ``l2_sum``,
            ``val_every``, ``checkpoint_every`` and ``target_accuracy`` (optionally
            ``early_stopping_threshold``; ``optimizer`` "adam", "adamw" or "schedulefree").
        sample_batch: ``sample_batch(rng: np.random.Generator) -> batch``, the only source of
            training randomness besides torch's RNG.
        loss_fn: ``loss_fn(model, batch) -> (loss, outputs)``; the trainer adds the weight penalty.
        evaluate: ``evaluate(model) -> Validation`` on a fixed validation set (called without
            gradients, model in eval mode), or None for no validation.
        on_validation: called with each :class:`Validation` (e.g. to update an adaptive sampler).
        run_dir: folder for checkpoint/config/curves, or None to keep nothing on disk.
        run_config: the run's full config (JSON-able), stored in ``config.json`` and the checkpoint.
        seed: seeds the numpy Generator passed to ``sample_batch`` and torch's RNG.
        extra_state: named :class:`Stateful` objects saved in and restored from checkpoints.
        on_step: called with the trainer after every step (after validation, before the
            checkpoint) and once at step 0 of a fresh run, e.g. a :class:`StageRecorder`; it
            may end training with :meth:`request_stop`.
        progress: show a tqdm bar with the loss and the mean validation accuracy.
        should_stop: ``should_stop(curves) -> bool``, asked after each validation (and on
            resume) besides ``target_accuracy``, e.g. :class:`core.training.transfer.HeldAccuracy`.
    """

    def __init__(self, model: torch.nn.Module, config: TrainConfig, *,
                 sample_batch: Callable[[np.random.Generator], Any], loss_fn: LossFn,
                 evaluate: Callable[[torch.nn.Module], Validation] | None = None,
                 on_validation: Callable[[Validation], None] | None = None,
                 run_dir: str | Path | None = None, run_config: dict[str, Any] | None = None,
                 seed: int = 0, extra_state: Mapping[str, Stateful] | None = None,
                 on_step: Callable[[Trainer], None] | None = None, progress: bool = True,
                 should_stop: Callable[[Curves], bool] | None = None):
        self.model = model
        self.config = config
        self.sample_batch = sample_batch
        self.loss_fn = loss_fn
        self.evaluate = evaluate
        self.on_validation = on_validation
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_config = run_config if run_config is not None else {"train": config.to_dict()}
        self.seed = seed
        self.extra_state = dict(extra_state or {})
        self.on_step = on_step
        self.progress = progress
        self.should_stop = should_stop
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_scheduler(self.optimizer, config)
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        self.step = 0
        self.curves = Curves()
        self.last_checkpoint_step: int | None = None
        self.stopped: str | None = None  # why training stopped; None while unfinished
        self._stop_request: str | None = None
        #: what the interruption message advises after the checkpoint (a caller that cannot be
        #: resumed, such as a wall-clock benchmark, says what to do instead)
        self.resume_advice = "continue with --resume"

    # ----------------------------------------------------------------------------- run folder
    @property
    def checkpoint_path(self) -> Path | None:
        """``<run_dir>/checkpoint.pt`` or None."""
        return self.run_dir / CHECKPOINT_FILE if self.run_dir is not None else None

    def prepare(self, resume: bool | str = False, overwrite: bool = False) -> bool:
        """Claim the run folder; returns True if training resumed from a checkpoint.

        An existing run is continued (``resume``, after checking its stored config matches apart
        from ``n_steps``/``target_accuracy``), replaced (``overwrite``: :func:`clear_run` first
        removes it and everything derived from it in its folder), or refused with
        :class:`RunExistsError`; ``resume=True`` without a checkpoint in the folder is refused
        with :class:`CheckpointError` (see :func:`check_run_target`), while
        ``resume=RESUME_IF_EXISTS`` then starts the run and says so on stderr.
        """
        if self.run_dir is None:
            return False
        existing = check_run_target(self.run_dir, resume, overwrite)
        if existing and overwrite and not resume:
            clear_run(self.run_dir)
        make_folder(self.run_dir)
        if resume and CHECKPOINT_FILE not in existing:
            tqdm.write(f"{self.run_dir}: no checkpoint to resume, starting the run",
                       file=sys.stderr)
        elif resume:
            stored = load_json(self.run_dir / CONFIG_FILE)
            _check_same_run(stored, self.run_config, self.run_dir, _field_defaults(self.config))
            self.load(self.run_dir / CHECKPOINT_FILE)
            save_json(self.run_dir / CONFIG_FILE, self.run_config)
            write_status(self.run_dir, self.step, self.config.n_steps, None)
            return True
        save_json(self.run_dir / CONFIG_FILE, self.run_config)
        return False

    def state_payload(self) -> dict[str, Any]:
        """Everything needed to resume, as a pickle-free checkpoint payload."""
        return {
            "format": "mtplab-train-v1",
            "step": self.step,
            "model": model_state(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "rng": rng_state(self.rng),
            "curves": self.curves.to_dict(),
            "extra": {k: v.state_dict() for k, v in self.extra_state.items()},
            "config": self.run_config,
        }

    def save(self) -> None:
        """Write the checkpoint, curves, validation table and status (:attr:`stopped`)
        atomically (no-op without run_dir)."""
        if self.run_dir is None:
            return
        set_optimizer_mode(self.optimizer, train=False)
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, self.state_payload())
        set_optimizer_mode(self.optimizer, train=True)
        atomic_write_text(self.run_dir / CURVES_FILE, self.curves.curves_csv())
        atomic_write_text(self.run_dir / VALIDATION_FILE, self.curves.validation_csv())
        write_status(self.run_dir, self.step, self.config.n_steps, self.stopped)
        self.last_checkpoint_step = self.step

    def load(self, path: str | Path) -> None:
        """Restore model, optimiser, scheduler, RNG states, curves and extra state from ``path``."""
        payload = load_checkpoint(path)
        if payload.get("format") != "mtplab-train-v1":
            raise CheckpointError(f"{path}: not a training checkpoint (format "
                                  f"{payload.get('format')!r})")
        load_model_state(self.model, payload["model"], source=str(path))
        try:
            self.optimizer.load_state_dict(payload["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(payload["scheduler"])
            for k, obj in self.extra_state.items():
                obj.load_state_dict(payload["extra"][k])
        except (KeyError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{path}: optimiser/scheduler/extra state does not fit "
                                  f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
        restore_rng_state(self.rng, payload["rng"])
        self.curves = Curves.from_dict(payload["curves"])
        self.step = int(payload["step"])
        self.last_checkpoint_step = self.step

    # ----------------------------------------------------------------------------- training
    def validate(self) -> Validation | None:
        """Run ``evaluate`` (eval mode, no gradients), record it and call ``on_validation``."""
        if self.evaluate is None:
            return None
        self.model.eval()
        set_optimizer_mode(self.optimizer, train=False)
        with torch.no_grad():
            val = self.evaluate(self.model)
        set_optimizer_mode(self.optimizer, train=True)
        self.model.train()
        self.curves.val_step.append(self.step)
        self.curves.val_loss.append(float(val.loss))
        self.curves.val_accuracy.append({k: float(v) for k, v in val.accuracy.items()})
        if val.chance:
            self.curves.val_chance = {k: float(v) for k, v in val.chance.items()}
        if self.on_validation is not None:
            self.on_validation(val)
        return val

    def train_step(self) -> float:
        """One gradient step; returns the loss (task loss + weight penalty)."""
        cfg = self.config
        batch = self.sample_batch(self.rng)
        loss, _ = self.loss_fn(self.model, batch)
        loss = loss + weight_penalty(weight_matrices(self.model), cfg.l1, cfg.l2, cfg.l2_sum)
        if not torch.isfinite(loss):
            self._diverged(f"loss is {loss.item()}", self.step + 1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(  # max_norm inf: measure without clipping
            params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        if not torch.isfinite(norm):
            self._diverged(f"gradient norm is {norm.item()}", self.step + 1)
        self.optimizer.step()
        if self.scheduler is not None and not isinstance(
                self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step()
        self.step += 1
        value = float(loss.detach())
        self.curves.step.append(self.step)
        self.curves.loss.append(value)
        self.curves.lr.append(float(self.optimizer.param_groups[0]["lr"]))
        return value

    def _diverged(self, what: str, step: int) -> None:
        kept = (f"last good checkpoint (step {self.last_checkpoint_step}) kept at "
                f"{self.checkpoint_path}" if self.last_checkpoint_step is not None
                else "no checkpoint written yet")
        raise TrainingDiverged(f"{what} at step {step}; {kept}; try a lower lr or "
                               "stronger gradient clipping")

    def validations_above_threshold(self) -> int:
        """How many of the latest validations in a row have a loss above
        :data:`DIVERGENCE_FACTOR` times the first validation's (a NaN loss counts as above; 0
        without validations)."""
        losses = self.curves.val_loss
        if len(losses) < 2 or not losses[0] > 0:
            return 0
        threshold = DIVERGENCE_FACTOR * losses[0]
        count = 0
        for loss in reversed(losses[1:]):
            if loss <= threshold:
                break
            count += 1
        return count

    def _check_divergence(self, ending: bool) -> None:
        """TrainingDiverged by the module docstring's rule (after a validation, and when
        training ends at this step: ``ending``)."""
        count = self.validations_above_threshold()
        if count >= DIVERGENCE_PATIENCE or (count and ending):
            self._diverged(
                f"validation loss {self.curves.val_loss[-1]:.3g} above {DIVERGENCE_FACTOR:g}x "
                f"its step-0 value {self.curves.val_loss[0]:.3g} at {count} validation(s) in a "
                "row", self.step)

    def _interrupted(self, signum: int) -> None:
        """Save a checkpoint at the current step (unless diverging) and raise
        TrainingInterrupted."""
        if self.last_checkpoint_step != self.step and not self.validations_above_threshold():
            self.save()
        name = signal.Signals(signum).name
        where = (f"checkpoint of step {self.last_checkpoint_step} in {self.run_dir}; "
                 f"{self.resume_advice}" if self.last_checkpoint_step is not None
                 else "nothing saved (no run folder)")
        raise TrainingInterrupted(f"stopped by {name} at step {self.step}; {where}", signum)

    def fit(self, resume: bool | str = False, overwrite: bool = False) -> TrainResult:
        """Train to ``config.n_steps`` (or early stop); see :meth:`prepare` for resume/overwrite.

        ValueError if ``config.n_steps < 1``; :class:`TrainingDiverged` and
        :class:`TrainingInterrupted` as in the module docstring.
        """
        cfg = self.config
        if cfg.n_steps < 1:
            raise ValueError(f"n_steps (--steps) must be >= 1, got {cfg.n_steps}: a run "
                             "without training steps would store an untrained network")
        start = time.perf_counter()
        with deferred_signals(STOP_SIGNALS) as received:
            resumed = self.prepare(resume=resume, overwrite=overwrite)
            self.stopped = self._stop_request = None
            self.model.train()
            set_optimizer_mode(self.optimizer, train=True)
            if not resumed:
                self.validate()
                if self.on_step is not None:
                    self.on_step(self)
                self.save()
            stopped = "n_steps"
            last = self.curves.last_validation()
            if self._reached_target(last):
                stopped = "target_accuracy"
            if self._below_loss_threshold(self.curves.loss[-1] if self.curves.loss else None):
                stopped = "early_stopping_threshold"
            bar = tqdm(total=cfg.n_steps, initial=self.step, disable=not self.progress,
                       desc=self.run_dir.name if self.run_dir is not None else "train",
                       dynamic_ncols=True)
            try:
                while self.step < cfg.n_steps and stopped == "n_steps" and not received:
                    loss = self.train_step()
                    val = None
                    early = self._below_loss_threshold(loss)
                    if self.step % cfg.val_every == 0 or self.step == cfg.n_steps or early:
                        val = self.validate()
                        if val is not None:
                            self._check_divergence(ending=self.step >= cfg.n_steps)
                        if isinstance(self.scheduler,
                                      torch.optim.lr_scheduler.ReduceLROnPlateau) \
                                and val is not None:
                            self.scheduler.step(val.loss)
                        if self._reached_target(val):
                            stopped = "target_accuracy"
                    if early:
                        stopped = "early_stopping_threshold"
                    if self.on_step is not None:
                        self.on_step(self)
                    if self._stop_request is not None and stopped == "n_steps":
                        stopped = self._stop_request
                    if stopped != "n_steps" or self.step >= cfg.n_steps:
                        self._check_divergence(ending=True)  # else this step is not stored
                        self.stopped = stopped
                    if (self.step % cfg.checkpoint_every == 0 or self.step == cfg.n_steps
                            or stopped != "n_steps") and not self.validations_above_threshold():
                        self.save()
                    bar.update(1)
                    last = self.curves.last_validation()
                    postfix = {"loss": f"{loss:.4f}"}
                    if last is not None:
                        postfix["acc"] = f"{last.mean_accuracy:.2f}"
                    bar.set_postfix(postfix, refresh=False)
            finally:
                bar.close()
                set_optimizer_mode(self.optimizer, train=False)  # the stored (averaged) weights
            if received:
                self._interrupted(received[0])
            self.stopped = stopped
            if self.run_dir is not None and self.last_checkpoint_step == self.step:
                # the status of the checkpoint on disk (also one resumed that needs no steps)
                write_status(self.run_dir, self.step, cfg.n_steps, stopped)
        return TrainResult(self.step, stopped, self.curves, time.perf_counter() - start)

    def request_stop(self, reason: str) -> None:
        """End :meth:`fit` after the current step (checkpointed), recording ``reason`` as why
        training stopped (``status.json``), e.g. ``"time_budget"`` from a wall-clock
        ``on_step``. Ignored when the step ends training for another reason."""
        self._stop_request = reason

    def _reached_target(self, val: Validation | None) -> bool:
        if val is not None and self.should_stop is not None and self.should_stop(self.curves):
            return True
        target = self.config.target_accuracy
        return target is not None and val is not None and val.min_accuracy >= target

    def _below_loss_threshold(self, loss: float | None) -> bool:
        threshold = getattr(self.config, "early_stopping_threshold", None)
        return threshold is not None and loss is not None and loss < threshold


def trial_loss(kind: str = "mse", act_l1: float = 0.0, act_l2: float = 0.0,
               device: str | torch.device = "cpu") -> LossFn:
    """``loss_fn(model, trials) -> (loss, y_hat)`` for a :class:`Trials` batch.

    ``kind`` is 'mse' (:func:`masked_mse`) or 'cross_entropy'; the hidden-activity penalty (which
    asks the model for ``states["hidden"]``) is added when ``act_l1`` or ``act_l2`` is non-zero.
    """
    output_loss = OUTPUT_LOSSES[kind]
    track = bool(act_l1 or act_l2)

    def loss_fn(model: torch.nn.Module, trials: Trials) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, c_mask = trials.to_torch(device)
        y_hat, states = model(x, track_states="hidden" if track else False)
        loss = output_loss(y_hat, y, c_mask)
        if track:
            hidden = states["hidden"]
            if torch.is_grad_enabled() and not hidden.requires_grad:
                raise ValueError(f"{type(model).__name__} returns detached hidden states, so an "
                                 "activity penalty (act_l1/act_l2) would not train anything")
            loss = loss + activity_penalty(hidden, act_l1, act_l2)
        return loss, y_hat

    return loss_fn


class RuleTraining:
    """Multi-task wiring for :class:`Trainer`: rule sampling, loss and per-rule validation.

    Training batches mix rules drawn by a :class:`core.tasks.RuleSampler`, or hold one drawn rule
    each (``config.batch_rules == 'single'``); the sampler is adaptive when
    ``config.adaptive_sampling`` (rules with lower validation accuracy are drawn more often).
    With a ``config.curriculum`` the rules are drawn among those of the stages entered so far
    (:meth:`active_rules`; the batches drawn are counted and survive a resume).
    Validation uses ``config.val_trials`` fixed trials per rule, drawn once from a Generator
    seeded with ``(seed, 1)`` so it never touches the training RNG. Pass ``extra_state={"sampler":
    rule_training}`` to the trainer so the sampler's accuracies survive a resume.
    """

    def __init__(self, task_config: TaskConfig, config: TrainConfig, seed: int,
                 device: str | torch.device = "cpu"):
        self.task_config = task_config
        self.config = config
        self.sampler = RuleSampler(config.rules, adaptive=config.adaptive_sampling,
                                   decay=config.sampling_decay)
        self.stages = curriculum_stages(config.curriculum, self.sampler.rules)
        self.batches = 0
        self.loss_fn = trial_loss(config.loss, config.act_l1, config.act_l2, device)
        val_rng = np.random.default_rng([seed, 1])
        self.validation_trials = concat([
            generate_trials(rule, task_config, config.val_trials, val_rng)
            for rule in self.sampler.rules])

    @property
    def rules(self) -> list[str]:
        """The rules trained on."""
        return self.sampler.rules

    def active_rules(self, batch: int) -> list[str]:
        """The rules drawn for the ``batch``-th training batch (0-based): with a curriculum,
        those of every stage entered by then (stage ``k`` from ``k * curriculum_steps``)."""
        if not self.stages:
            return self.rules
        entered = min(batch // self.config.curriculum_steps + 1, len(self.stages))
        return [r for stage in self.stages[:entered] for r in stage]

    def sample_batch(self, rng: np.random.Generator) -> Trials:
        """``config.batch_size`` trials of rules drawn by the sampler among :meth:`active_rules`
        (one rule for the whole batch when ``config.batch_rules == 'single'``)."""
        among = self.active_rules(self.batches) if self.stages else None
        self.batches += 1
        if self.config.batch_rules == "single":
            return generate_trials(self.sampler.sample(rng, among=among), self.task_config,
                                   self.config.batch_size, rng)
        return generate_mixed_trials(self.sampler.sample(rng, self.config.batch_size, among),
                                     self.task_config, rng)

    def evaluate(self, model: torch.nn.Module) -> Validation:
        """Loss and accuracy per rule on the fixed validation trials."""
        loss, y_hat = self.loss_fn(model, self.validation_trials)
        acc = accuracy_by_rule(y_hat, self.validation_trials, self.task_config)
        return Validation(float(loss), {r: acc[r] for r in self.rules},
                          {r: chance_level(r, self.task_config) for r in self.rules})

    def score_fresh(self, model: torch.nn.Module, n_trials: int, rng: np.random.Generator,
                    chunk: int = 128) -> dict[str, RuleScore]:
        """Accuracy of each rule on ``n_trials`` fresh trials drawn from ``rng`` (generated and
        run ``chunk`` at a time, eval mode, no gradients), with its chance level; use
        :meth:`RuleScore.interval` for a confidence interval."""
        model.eval()
        with torch.no_grad():
            return score_fresh_trials(lambda trials: self.loss_fn(model, trials)[1], self.rules,
                                      self.task_config, n_trials, rng, chunk)

    def on_validation(self, validation: Validation) -> None:
        """Feed the per-rule accuracies to the sampler."""
        self.sampler.update(validation.accuracy)

    def state_dict(self) -> dict[str, Any]:
        """The sampler's current per-rule accuracies and decayed error scores, and the batches
        drawn (the curriculum's clock)."""
        return {"accuracy": [float(a) for a in self.sampler.accuracy],
                "score": [float(a) for a in self.sampler.score], "batches": self.batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (checkpoints without scores restore zero scores; without
        a batch count, zero)."""
        self.sampler.accuracy = np.asarray(state["accuracy"], dtype=float)
        self.sampler.score = np.asarray(state.get("score", np.zeros(len(self.sampler.rules))),
                                        dtype=float)
        self.batches = int(state.get("batches", 0))


def curriculum_stages(curriculum: Sequence[str], rules: Sequence[str]) -> list[list[str]]:
    """The rules entering at each stage of ``curriculum`` (rule lists as
    :func:`core.tasks.resolve_rules` reads them), then a last stage of the ``rules`` in no
    stage; ``[]`` for no curriculum. ValueError for a rule outside ``rules`` or in two stages."""
    stages = [resolve_rules(stage) for stage in curriculum]
    named = [r for stage in stages for r in stage]
    outside = sorted(set(named) - set(rules))
    twice = sorted({r for r in named if named.count(r) > 1})
    if outside or twice:
        raise ValueError(f"curriculum {list(curriculum)}: "
                         + (f"rules not trained {outside}" if outside else
                            f"rules in two stages {twice}"))
    rest = [r for r in rules if r not in named]
    return [*stages, rest] if stages and rest else stages


def clear_run(run_dir: str | Path) -> None:
    """Remove a run and everything derived from it from its folder: :data:`RUN_FILES`, the
    sub-folders :data:`DERIVED_DIRS` (stages, figures) and the files ending in
    :data:`DERIVED_SUFFIXES` (analysis/lesion/state-space results, figures). Other files stay."""
    run_dir = Path(run_dir)
    for f in RUN_FILES:
        (run_dir / f).unlink(missing_ok=True)
    for d in DERIVED_DIRS:
        if (run_dir / d).is_dir():
            shutil.rmtree(run_dir / d)
    for f in run_dir.iterdir():
        if f.is_file() and f.suffix in DERIVED_SUFFIXES:
            f.unlink()


def write_status(run_dir: str | Path, step: int, n_steps: int, stopped: str | None) -> None:
    """Record in ``<run_dir>/status.json`` (atomically) the training ``step``s done, the step
    budget ``n_steps`` and why training stopped (``stopped``: ``"n_steps"`` when the budget was
    reached, ``"target_accuracy"`` (also a ``should_stop`` rule such as
    :class:`core.training.transfer.HeldAccuracy`), ``"early_stopping_threshold"``, or the reason
    given to :meth:`Trainer.request_stop`, e.g. ``"time_budget"``), or None while
    the run is unfinished (training, interrupted, or diverged after this checkpoint).
    ``python -m core.runs`` reads it to tell finished runs; BabyAI's DAgger runs write it too,
    and ``local_experts/train.py`` (epochs as steps; also ``"diverged"``, a stopping rule of its
    protocol)."""
    save_json(Path(run_dir) / STATUS_FILE, {"step": int(step), "n_steps": int(n_steps),
                                            "stopped": stopped})


def check_run_target(run_dir: str | Path, resume: bool | str = False, overwrite: bool = False,
                     resumable: bool = True) -> list[str]:
    """Check that a run may be written to ``run_dir``; returns the run files already there.

    :class:`RunExistsError` if it holds a run and neither ``resume`` nor ``overwrite`` is asked
    for (its advice names ``--resume`` only for a ``resumable`` caller: a benchmark run on a
    wall clock is not); :class:`CheckpointError` if ``resume`` is True and it holds no checkpoint
    (a mistyped name or flag would otherwise start a new run silently;
    ``resume=RESUME_IF_EXISTS`` allows it). Writes nothing, so scripts call it for every run
    before training any.
    """
    run_dir = Path(run_dir)
    existing = [f for f in RUN_FILES if (run_dir / f).exists()]
    if existing and not (resume or overwrite):
        advice = ("pass --resume to continue it or --overwrite to replace it" if resumable
                  else "pass --overwrite to replace it (it cannot be resumed)")
        raise RunExistsError(f"{run_dir} already holds a run ({', '.join(existing)}); {advice}")
    if resume and resume != RESUME_IF_EXISTS and CHECKPOINT_FILE not in existing:
        if existing:  # stopped before its first checkpoint: nothing to continue
            raise CheckpointError(f"cannot resume: run {run_dir} holds no {CHECKPOINT_FILE} (it "
                                  "stopped before its first checkpoint); pass --overwrite to "
                                  "start it again")
        raise CheckpointError(f"cannot resume: run {run_dir} does not exist; check the name and "
                              f"flags, start it without --resume, or pass "
                              f"--resume={RESUME_IF_EXISTS}")
    return existing


@contextmanager
def deferred_signals(signums: tuple[int, ...]) -> Iterator[list[int]]:
    """Within the block, the first of ``signums`` is only recorded in the yielded list (and the
    previous handlers come back, so a second signal acts at once). Outside the main thread,
    where handlers cannot be set, nothing changes. Every training loop stops on signals through
    this (:meth:`Trainer.fit`, :func:`core.training.curriculum.train_curriculum`)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def record(signum: int, frame: Any) -> None:
        received.append(signum)
        restore()

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    previous = {signum: signal.signal(signum, record) for signum in signums}
    try:
        yield received
    finally:
        restore()


def _field_defaults(config: Any) -> dict[str, Any]:
    """The plain default of each field of a dataclass ``config`` that has one."""
    if not dataclasses.is_dataclass(config):
        return {}
    return {f.name: f.default for f in dataclasses.fields(config)
            if f.default is not dataclasses.MISSING}


def _check_same_run(stored: dict[str, Any], current: dict[str, Any], run_dir: Path,
                    train_defaults: Mapping[str, Any] | None = None) -> None:
    """RunExistsError naming the first differing key unless only the step budget changed.

    Training fields missing from the stored ``train`` config count as their ``train_defaults``
    (fields added since the run was stored, which had their default's effect), so older runs
    still resume.
    """
    free = {"n_steps", "target_accuracy"}
    if train_defaults and isinstance(stored.get("train"), dict):
        stored = {**stored, "train": {**train_defaults, **stored["train"]}}
    difference = _first_difference(stored, current, "", free)
    if difference is not None:
        raise RunExistsError(
            f"{run_dir} holds a different run ({difference}); use another --out or --overwrite")


def _first_difference(a: Any, b: Any, where: str, free: set[str]) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key in free:
                continue
            if key not in a or key not in b:
                return f"{where}{key} present in only one config"
            found = _first_difference(a[key], b[key], f"{where}{key}.", free)
            if found is not None:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        a, b = list(a), list(b)
    if isinstance(a, float) and isinstance(b, float) and math.isclose(a, b):
        return None
    return None if a == b else f"{where.rstrip('.')}: stored {a!r}, now {b!r}"


def load_run(run_dir: str | Path) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any]]:
    """Rebuild a trained model from ``<run_dir>/checkpoint.pt`` (no pickled code is run).

    Returns ``(model, config, payload)``: the model (CPU, eval mode) built with
    :func:`core.models.build_model` from the stored ``model_kind``/``model`` config, the run's
    full config and the checkpoint payload (step, curves, ...). The checkpoint must belong to its
    folder (:func:`check_stored_run`).
    """
    from core.models import build_model

    path = Path(run_dir) / CHECKPOINT_FILE
    payload = load_checkpoint(path)
    config = payload.get("config", {})
    if "model_kind" not in config or "model" not in config:
        raise CheckpointError(f"{path}: no model_kind/model config stored")
    check_stored_run(run_dir, config)
    model = build_model(config["model_kind"], config["model"])
    load_model_state(model, payload["model"], source=str(path))
    return model.eval(), config, payload


def check_stored_run(run_dir: str | Path, config: Mapping[str, Any]) -> None:
    """CheckpointError (one line) unless the run config stored in a checkpoint (``config``), the
    folder's ``config.json`` and the folder's name describe the same run: the stored name (when
    there is one) is the folder's, and the two configs agree apart from the step budget
    (``n_steps``/``target_accuracy``, which ``--resume`` may change). Tensor shapes against the
    model config are checked when they are loaded (:func:`load_model_state`).
    """
    run_dir = Path(run_dir)
    stored_name = config.get("name")
    if stored_name is not None and stored_name != run_dir.name:
        raise CheckpointError(f"{run_dir / CHECKPOINT_FILE} holds run {stored_name!r}, not the "
                              f"folder's {run_dir.name!r}; put each checkpoint in its own run's "
                              "folder")
    difference = _first_difference(load_json(run_dir / CONFIG_FILE), dict(config), "",
                                   {"n_steps", "target_accuracy"})
    if difference is not None:
        difference = difference.replace(": stored ", ": config.json has ", 1).replace(
            ", now ", ", the checkpoint ", 1)
        raise CheckpointError(f"{run_dir / CHECKPOINT_FILE} does not match its "
                              f"{CONFIG_FILE} ({difference})")


def accuracy_table(scores: Mapping[str, RuleScore]) -> str:
    """Markdown table ``| rule | accuracy | 95 % interval | chance | trials |`` (plus the mean
    accuracy and chance) of per-rule scores (:meth:`RuleTraining.score_fresh`)."""
    from core.tasks import RULE_LABELS

    rows = ["| rule | accuracy | 95 % interval | chance | trials |", "|---|---|---|---|---|"]
    for r, score in scores.items():
        low, high = score.interval()
        rows.append(f"| {r} ({RULE_LABELS.get(r, r)}) | {score.accuracy:.3f} | "
                    f"{low:.3f}–{high:.3f} | {score.chance:.3f} | {score.n_trials} |")
    mean_accuracy = float(np.mean([s.accuracy for s in scores.values()]))
    mean_chance = float(np.mean([s.chance for s in scores.values()]))
    rows.append(f"| **mean** | {mean_accuracy:.3f} | | {mean_chance:.3f} | |")
    return "\n".join(rows)


def score_table_csv(scores: Mapping[str, RuleScore]) -> str:
    """``rule,n_trials,n_correct,accuracy,ci_low,ci_high,chance`` rows (95 % Wilson interval)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["rule", "n_trials", "n_correct", "accuracy", "ci_low", "ci_high", "chance"])
    for r, score in scores.items():
        w.writerow([r, score.n_trials, score.n_correct, score.accuracy, *score.interval(),
                    score.chance])
    return out.getvalue()


def read_scores(path: str | Path) -> dict[str, RuleScore]:
    """``{rule: RuleScore}`` read back from a :func:`score_table_csv` file (``evaluation.csv``).
    FileNotFoundError for a missing file, ValueError for one without score rows."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "n_correct" not in rows[0]:
        raise ValueError(f"{path}: no rule scores (rule,n_trials,n_correct,... rows)")
    return {r["rule"]: RuleScore(int(r["n_correct"]), int(r["n_trials"]), float(r["chance"]))
            for r in rows}


@dataclass
class RuleRun:
    """A ready-to-train rule-based run: its name, folder, task config, model, wiring and trainer."""

    name: str
    run_dir: Path
    task_config: TaskConfig
    model: torch.nn.Module
    wiring: RuleTraining
    trainer: Trainer

    def store_evaluation(self, n_trials: int) -> dict[str, RuleScore]:
        """Score the model on ``n_trials`` fresh trials per rule, drawn from ``(seed, 2)`` (a
        stream training never uses), and write them to ``evaluation.csv`` (:func:`score_table_csv`:
        accuracy, 95 % Wilson interval, chance level per rule); returns the scores."""
        scores = self.wiring.score_fresh(self.model, n_trials,
                                         np.random.default_rng([self.trainer.seed, 2]))
        atomic_write_text(self.run_dir / EVALUATION_FILE, score_table_csv(scores))
        return scores


def rule_run_name(config: TrainConfig, seed: int) -> str:
    """The name :func:`build_rule_run` gives the run of ``config`` and ``seed`` (nothing built);
    a comma list of rules and rule sets is named with ``-`` between its entries (``go-dm1``)."""
    from core.training.naming import run_name

    rules = config.rules if isinstance(config.rules, str) else ",".join(config.rules)
    task = "-".join(r.strip() for r in rules.split(","))
    return run_name(task, seed, config.feature, config.hidden, config.batch_size,
                    f"+{config.accuracy}")


def build_rule_run(config: TrainConfig, seed: int, out: str | Path,
                   device: str | torch.device = "cpu", progress: bool = True, *,
                   name: str | None = None,
                   init_model: Callable[[torch.nn.Module, TaskConfig], None] | None = None,
                   run_info: Mapping[str, Any] | None = None) -> RuleRun:
    """Wire a :class:`TrainConfig` and a seed into a named run under ``out``.

    The task config is the ``task_preset`` with rule units for ``config.rules``, step
    ``config.dt`` and the ``config.task`` overrides; the model is ``config.network`` built by
    :func:`core.models.build_model` from :func:`core.training.config.model_config` (initialised
    from ``seed``). The run is named by :func:`rule_run_name`
    (``{rules}_seed{seed}_{feature}+hidden{hidden}+batch{batch}+{accuracy}``; a list of rules is
    joined by ``-``, e.g. ``delaygo-delayanti``) and its full config
    (name, seed, model kind and config, task config, training config) goes to ``config.json`` and
    every checkpoint. Options of multi-stage runs (``pretrain/``): ``name`` replaces the built
    name, ``init_model(model, task_config)`` runs before the optimiser is made (load earlier
    weights, freeze parameters) and ``run_info`` adds entries to the run config.
    """
    from core.models import build_model
    from core.tasks import get_preset as get_task_preset
    from core.training.config import model_config

    task_config = dataclasses.replace(get_task_preset(config.task_preset).with_rules(config.rules),
                                      dt=config.dt, **config.task)
    if name is None:
        name = rule_run_name(config, seed)
    torch.manual_seed(seed)
    model = build_model(config.network, model_config(config, task_config.n_input,
                                                     task_config.n_output)).to(device)
    if init_model is not None:
        init_model(model, task_config)
    wiring = RuleTraining(task_config, config, seed, device=device)
    run_config = {"name": name, "seed": seed, "model_kind": config.network,
                  "model": model.config_dict(), "task": task_config.to_dict(),
                  "train": config.to_dict(), **(run_info or {})}
    run_dir = Path(out) / name
    trainer = Trainer(model, config, sample_batch=wiring.sample_batch, loss_fn=wiring.loss_fn,
                      evaluate=wiring.evaluate, on_validation=wiring.on_validation,
                      run_dir=run_dir, run_config=run_config, seed=seed,
                      extra_state={"sampler": wiring}, progress=progress)
    return RuleRun(name, run_dir, task_config, model, wiring, trainer)


class StageRecorder:
    """Record weights, hidden activity and state on a fixed test set at chosen training steps.

    Called by the :class:`Trainer` after each step (``on_step``). At every step in ``stages`` the
    model runs on ``trials`` with ``track_states=True`` and ``<run_dir>/stages/step_XXXXXX.npz``
    (compressed, written atomically) receives: ``param/<name>`` every tensor of the model's state
    (e.g. W), ``output (T, B, n_out)``, ``state/<key>`` each recorded state — full ``(T, B, N)``
    for activity such as ``hidden``, and at each epoch's last step ``(n_epochs, B, ...)`` for
    per-trial matrices such as ``M`` (NaN where a trial lacks the epoch) — plus the test inputs,
    targets, epochs (``epoch_names``, ``epoch/<name>``) and trial parameters (``trial/<name>``).
    With ``subfolder`` (e.g. one per test set) the files go to ``<run_dir>/stages/<subfolder>/``.
    With ``accuracies`` a stage is also recorded at the first validation whose mean accuracy over
    rules reaches each value (judged from the trainer's curves, so a resumed run does not record
    a value reached before again).
    """

    def __init__(self, trials: Trials, stages: list[int], run_dir: str | Path,
                 device: str | torch.device = "cpu", subfolder: str = "",
                 accuracies: Sequence[float] = ()):
        self.trials = trials
        self.stages = sorted(set(stages))
        self.accuracies = sorted(set(accuracies))
        self.folder = Path(run_dir) / STAGES_DIR / subfolder
        self.device = device

    def path(self, step: int) -> Path:
        """File of the stage at ``step``."""
        return self.folder / f"step_{step:06d}.npz"

    def reached(self, curves: Curves, step: int) -> list[float]:
        """The values of ``accuracies`` first reached by a validation at ``step``."""
        if not self.accuracies or not curves.val_step or curves.val_step[-1] != step:
            return []
        means = [float(np.mean(list(a.values()))) for a in curves.val_accuracy]
        before = max(means[:-1], default=-np.inf)
        return [a for a in self.accuracies if before < a <= means[-1]]

    def __call__(self, trainer: Trainer) -> None:
        if trainer.step in self.stages or self.reached(trainer.curves, trainer.step):
            self.record(trainer.model, trainer.step)

    def record(self, model: torch.nn.Module, step: int) -> Path:
        """Run the test set through ``model`` and write the stage file for ``step``."""
        trials = self.trials
        x = torch.from_numpy(trials.x).to(self.device)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            y_hat, states = model(x, track_states=True)
        model.train(was_training)
        names = [e for e in trials.epochs if (trials.epochs[e][:, 1] > 0).any()]
        ends = np.stack([trials.epochs[e][:, 1] - 1 for e in names])  # (n_epochs, B)
        arrays: dict[str, np.ndarray] = {
            "step": np.array(step), "x": trials.x, "y": trials.y, "c_mask": trials.c_mask,
            "output": y_hat.cpu().numpy(), "rule": trials.rule.astype(str),
            "epoch_names": np.array(names), "epoch_end_step": ends,
        }
        arrays.update({f"epoch/{k}": v for k, v in trials.epochs.items()})
        arrays.update({f"trial/{k}": np.asarray(v) for k, v in trials.params.items()})
        arrays.update({f"param/{k}": v.detach().cpu().numpy()
                       for k, v in model.state_dict().items()})
        cols = np.arange(trials.batch_size)
        for key, value in states.items():
            value = value.detach().cpu().numpy()
            if value.ndim > 3:  # per-trial matrices: keep each epoch's last step
                taken = value[np.clip(ends, 0, None), cols].astype(np.float32)
                taken[ends < 0] = np.nan
                value = taken
            arrays[f"state/{key}"] = value
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return atomic_write_bytes(self.path(step), buffer.getvalue())
