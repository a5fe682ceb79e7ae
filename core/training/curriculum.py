"""Curricula over the memory length N and their training loop.

Khajehabdollahi, Zeraati et al. (ICLR 2024). Training starts with the ``init_heads`` Ns from
``n_start`` and, each time the network solves the current set of active Ns, the newest N grows:

- ``single``: one head, re-keyed to the new N and reused (only the newest N is trained; N grows
  by one);
- ``multi`` (the reference's ``cumulative``, accepted as a name): a head per N, all Ns from
  ``n_start`` up to the newest one stay active; ``add_heads`` new Ns per step;
- ``sliding``: a head per N, only the last ``window`` Ns stay active; ``forget_heads`` Ns are
  dropped and as many added per step. The reference's ``sliding_10_5`` networks are
  ``init_heads = window = 10, forget_heads = 5``. Heads are keyed by N: a new N gets a fresh head
(the reference's sliding curriculum re-uses head positions, so a head that answered N = 2 goes on
to answer N = 7).

The reference's flags map as ``--init_heads`` → ``init_heads``, ``--add_heads`` → ``add_heads``,
``--forget_heads`` → ``forget_heads`` (defaults 1, as there); its sliding curriculum always keeps
``init_heads`` heads, here ``window`` (which may be larger, so the window first fills up).

N advances when the mean accuracy over active heads **and** the newest head's accuracy both
exceed ``threshold`` (98 %). The loss is the sum over active heads of the cross-entropy at the
last time step. Optimiser: SGD with Nesterov momentum (paper: lr 0.05, momentum 0.1) or Adam;
gradients clipped to norm ``clip`` (paper: 2). The paper evaluates every 600 steps on 50 batches
of 256; both numbers are configurable.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core.errors import CheckpointError, TrainingInterrupted
from core.fileio import save_json
from core.io import delete_results
from core.models import build_model
from core.models.timescale_rnn import TimescaleRNN, TimescaleRNNConfig
from core.tasks.memory import MEMORY_TASKS, make_memory_batch
from core.training.checkpoint import (
    load_checkpoint,
    load_model_state,
    model_state,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from core.training.naming import run_name
from core.training.trainer import STOP_SIGNALS, deferred_signals

CURRICULA = ("single", "multi", "sliding")
#: Other names of curricula (the reference code's).
CURRICULUM_ALIASES = {"cumulative": "multi"}
OPTIMIZERS = ("sgd", "adam")


@dataclass
class CurriculumConfig:
    """Curriculum and optimiser settings (defaults: the paper's)."""

    task: str = "parity"
    curriculum: str = "multi"
    n_start: int = 2
    window: int = 5
    init_heads: int = 1
    add_heads: int = 1
    forget_heads: int = 1
    threshold: float = 0.98
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.1
    clip: float = 2.0
    batch_size: int = 256
    eval_every: int = 600
    eval_batches: int = 50
    max_steps: int = 600_000
    n_max: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in MEMORY_TASKS:
            raise ValueError(f"task must be one of {MEMORY_TASKS}, got {self.task!r}")
        self.curriculum = CURRICULUM_ALIASES.get(self.curriculum, self.curriculum)
        if self.curriculum not in CURRICULA:
            raise ValueError(f"curriculum must be one of {CURRICULA}, got {self.curriculum!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold is a fraction in (0, 1), got {self.threshold}")
        for name in ("n_start", "window", "init_heads", "add_heads", "forget_heads", "batch_size",
                     "eval_every", "eval_batches", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_max is not None and self.n_max < self.n_start:
            raise ValueError(f"n_max={self.n_max} is below n_start={self.n_start}: no N to train")
        if self.curriculum == "single" and self.init_heads != 1:
            raise ValueError(f"the single curriculum has one head, "
                             f"got init_heads={self.init_heads}")
        if self.curriculum == "sliding" and not (
                self.forget_heads <= self.window and self.init_heads <= self.window):
            raise ValueError(f"sliding needs init_heads and forget_heads <= window={self.window}, "
                             f"got {self.init_heads} and {self.forget_heads}")

    @property
    def step_heads(self) -> int:
        """How far the newest N advances when the active Ns are solved."""
        return {"single": 1, "multi": self.add_heads, "sliding": self.forget_heads}[
            self.curriculum]


@dataclass
class CurriculumHistory:
    """What happened during training, one entry per evaluation.

    ``n_start`` is the curriculum's first N. ``step``, ``n_newest``, ``loss`` (mean training loss
    since the previous evaluation), ``mean_accuracy`` and ``newest_accuracy`` are lists of equal
    length; ``accuracy`` holds the per-head accuracies (dict N → accuracy) of each evaluation.
    ``reached`` maps every solved N to the training step at which it was solved.
    """

    n_start: int
    step: list[int] = field(default_factory=list)
    n_newest: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    mean_accuracy: list[float] = field(default_factory=list)
    newest_accuracy: list[float] = field(default_factory=list)
    accuracy: list[dict[int, float]] = field(default_factory=list)
    reached: dict[int, int] = field(default_factory=dict)

    @property
    def n_reached(self) -> int:
        """Largest solved N; ``n_start - 1`` if none was solved, as the curricula figure counts
        it (:func:`core.plotting.timescales.plot_curricula`), so means over runs agree."""
        return max(self.reached, default=self.n_start - 1)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Flat numpy arrays for storage (``reached_n``/``reached_step`` sorted by N).

        ``head_accuracy (n_evals, N_top + 1)`` holds each evaluation's accuracy at column N (NaN
        for heads not active then).
        """
        ns = sorted(self.reached)
        top = max((max(a) for a in self.accuracy), default=0)
        head_accuracy = np.full((len(self.accuracy), top + 1), np.nan)
        for i, acc in enumerate(self.accuracy):
            for n, a in acc.items():
                head_accuracy[i, n] = a
        return {
            "head_accuracy": head_accuracy,
            "step": np.asarray(self.step, dtype=np.int64),
            "n_newest": np.asarray(self.n_newest, dtype=np.int64),
            "loss": np.asarray(self.loss, dtype=np.float64),
            "mean_accuracy": np.asarray(self.mean_accuracy, dtype=np.float64),
            "newest_accuracy": np.asarray(self.newest_accuracy, dtype=np.float64),
            "reached_n": np.asarray(ns, dtype=np.int64),
            "reached_step": np.asarray([self.reached[n] for n in ns], dtype=np.int64),
        }


def active_ns(curriculum: str, n_newest: int, n_start: int, window: int) -> list[int]:
    """The Ns trained together when the newest N is ``n_newest``."""
    if curriculum == "single":
        return [n_newest]
    if curriculum == "multi":
        return list(range(n_start, n_newest + 1))
    if curriculum == "sliding":
        return list(range(max(n_start, n_newest - window + 1), n_newest + 1))
    raise ValueError(f"curriculum must be one of {CURRICULA}, got {curriculum!r}")


def should_advance(accuracies: Sequence[float], threshold: float) -> bool:
    """True when the mean accuracy and the last (newest) head's both exceed ``threshold``."""
    if len(accuracies) == 0:
        raise ValueError("need the accuracy of at least one head")
    return float(np.mean(accuracies)) > threshold and float(accuracies[-1]) > threshold


def make_optimizer(model: torch.nn.Module, config: CurriculumConfig) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum or Adam over ``model``'s trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=True)
    return torch.optim.Adam(params, lr=config.lr)


def memory_loss(model: TimescaleRNN, x: torch.Tensor, targets: torch.Tensor,
                ns: Sequence[int]) -> torch.Tensor:
    """Sum over heads of the cross-entropy at the last step; ``targets (len(ns), B)``."""
    logits = model.final_logits(x, ns)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="mean") * len(ns)


def train_step(model: TimescaleRNN, optimizer: torch.optim.Optimizer, task: str,
               ns: Sequence[int], batch_size: int, clip: float,
               rng: np.random.Generator) -> float:
    """One optimiser step on a fresh batch; returns the loss."""
    batch = make_memory_batch(task, ns, batch_size, rng)
    loss = memory_loss(model, torch.from_numpy(batch.x), torch.from_numpy(batch.targets), ns)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model: TimescaleRNN, task: str, ns: Sequence[int], batch_size: int, n_batches: int,
             rng: np.random.Generator, hidden_mask: torch.Tensor | None = None) -> np.ndarray:
    """Accuracy ``(len(ns),)`` of each head over ``n_batches`` fresh batches."""
    correct = np.zeros(len(ns))
    for _ in range(n_batches):
        batch = make_memory_batch(task, ns, batch_size, rng)
        logits = model.final_logits(torch.from_numpy(batch.x), ns, hidden_mask)
        correct += (logits.argmax(-1).numpy() == batch.targets).sum(axis=1)
    return correct / (n_batches * batch_size)


def _add_heads(model: TimescaleRNN, optimizer: torch.optim.Optimizer, ns: Sequence[int]) -> None:
    for n in ns:
        if n not in model.heads:
            model.add_head(n)
            optimizer.add_param_group({"params": list(model.readout[str(n)].parameters())})


def train_curriculum(model: TimescaleRNN, config: CurriculumConfig,
                     on_reached: Callable[[int, TimescaleRNN, int, np.ndarray], None] | None = None,
                     progress: bool = True, out_dir: str | os.PathLike | None = None,
                     resume: Mapping[str, Any] | None = None) -> CurriculumHistory:
    """Train ``model`` along the curriculum for ``config.max_steps`` steps (or until ``n_max``).

    ``on_reached(n, model, step, accuracies)`` is called each time N is solved, before the
    curriculum advances (e.g. to write the per-N checkpoint). The model gets the heads it needs;
    for ``single`` its newest head is re-keyed to each new N.

    With ``out_dir``, the run's last checkpoint (:func:`save_last_checkpoint`) is written when
    training ends, and SIGINT (Ctrl-C) or SIGTERM (SLURM, before pre-empting a job) ends the
    current step, writes it with the whole training state and raises
    :class:`~core.errors.TrainingInterrupted` (a second signal stops at once), through the
    trainer's :func:`~core.training.trainer.deferred_signals`. ``resume``, the payload of that
    checkpoint (:func:`load_checkpoint`), continues the run from there: ``model`` is built as for
    the start of the run (same configuration), and the run ends with the same weights and
    history as an uninterrupted one (CPU, same seed); ``config.max_steps`` may differ from the
    interrupted run's. CheckpointError if ``resume`` is not the checkpoint of an interrupted run
    of ``config``.
    """
    rng = np.random.default_rng(config.seed)
    eval_rng = np.random.default_rng(config.seed + 1_000_003)
    optimizer = make_optimizer(model, config)
    n_newest = config.n_start + config.init_heads - 1
    if config.curriculum == "single" and n_newest not in model.heads:
        model.move_head(model.heads[-1], n_newest)
    _add_heads(model, optimizer, active_ns(config.curriculum, n_newest, config.n_start,
                                           config.window))
    history = CurriculumHistory(config.n_start)
    losses: list[float] = []
    step = 0
    if resume is not None:
        history, losses, n_newest, step = _resume(resume, model, optimizer, config, rng, eval_rng)
    ns = active_ns(config.curriculum, n_newest, config.n_start, config.window)
    bar = tqdm(total=config.max_steps, initial=step, disable=not progress, desc=config.curriculum)
    with deferred_signals(STOP_SIGNALS if out_dir is not None else ()) as received:
        while step < config.max_steps and not received and not (
                config.n_max is not None and any(n >= config.n_max for n in history.reached)):
            step += 1
            losses.append(train_step(model, optimizer, config.task, ns, config.batch_size,
                                     config.clip, rng))
            bar.update(1)
            if step % config.eval_every and step != config.max_steps:
                continue
            acc = evaluate(model, config.task, ns, config.batch_size, config.eval_batches,
                           eval_rng)
            history.step.append(step)
            history.n_newest.append(n_newest)
            history.loss.append(float(np.mean(losses)))
            history.mean_accuracy.append(float(acc.mean()))
            history.newest_accuracy.append(float(acc[-1]))
            history.accuracy.append({n: float(a) for n, a in zip(ns, acc, strict=True)})
            losses = []
            bar.set_postfix(N=n_newest, acc=f"{acc.mean():.3f}", loss=f"{history.loss[-1]:.3f}")
            if not should_advance(acc, config.threshold):
                continue
            history.reached[n_newest] = step
            if on_reached is not None:
                on_reached(n_newest, model, step, acc)
            if config.n_max is not None and n_newest >= config.n_max:
                continue
            if config.curriculum == "single":
                model.move_head(n_newest, n_newest + 1)
            n_newest += config.step_heads
            ns = active_ns(config.curriculum, n_newest, config.n_start, config.window)
            _add_heads(model, optimizer, ns)
        bar.close()
    if out_dir is None:
        return history
    if not received:
        save_last_checkpoint(out_dir, model, config, history)
        return history
    path = save_last_checkpoint(out_dir, model, config, history, state={
        "step": step, "n_newest": n_newest, "losses": losses,
        "optimizer": optimizer.state_dict(), "rng": rng_state(rng),
        "eval_rng": rng_state(eval_rng)})
    name = signal.Signals(received[0]).name
    raise TrainingInterrupted(f"stopped by {name} at step {step}; checkpoint of step {step} in "
                              f"{path.parent}; continue with --resume", received[0])


def resume_mismatch(payload: Mapping[str, Any], config: CurriculumConfig) -> str | None:
    """The curriculum settings (all but ``max_steps``, which a resumed run may change) of the
    interrupted run's checkpoint ``payload`` that differ from ``config``, as ``name then, now
    value`` phrases joined by ``, ``; None if none differ."""
    then, now = {**payload.get("curriculum", {}), "max_steps": config.max_steps}, asdict(config)
    differ = [f"{k} {then.get(k, 'not set')}, now {now[k]}" for k in now if then.get(k) != now[k]]
    return ", ".join(differ) or None


def _resume(payload: Mapping[str, Any], model: TimescaleRNN, optimizer: torch.optim.Optimizer,
            config: CurriculumConfig, rng: np.random.Generator, eval_rng: np.random.Generator
            ) -> tuple[CurriculumHistory, list[float], int, int]:
    """Restore an interrupted run's heads, weights, optimiser and RNG states from ``payload``;
    returns its history, losses since the last evaluation, newest N and step."""
    state = payload.get("training_state")
    if not payload.get("interrupted") or state is None:
        raise CheckpointError("cannot resume: the checkpoint is not one of an interrupted run")
    if (differ := resume_mismatch(payload, config)) is not None:
        raise CheckpointError(f"cannot resume: the checkpoint's curriculum settings differ from "
                              f"this run's ({differ})")
    heads = [int(n) for n in payload["model_config"]["heads"]]
    if config.curriculum == "single":
        if model.heads != (heads[-1],):
            model.move_head(model.heads[-1], heads[-1])
    else:
        _add_heads(model, optimizer, heads)  # in the order they were added: the same groups
    if payload["model_config"] != model.config_dict():
        raise CheckpointError("cannot resume: the checkpoint's network settings differ from "
                              "this run's")
    load_model_state(model, payload["model_state"], source="interrupted run")
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"cannot resume: optimiser state does not fit ({exc})") from None
    restore_rng_state(eval_rng, state["eval_rng"])
    restore_rng_state(rng, state["rng"])
    history = CurriculumHistory(**state["history"])
    return history, [float(x) for x in state["losses"]], int(state["n_newest"]), int(state["step"])


def retrain_curve(model: TimescaleRNN, config: CurriculumConfig, ns: Sequence[int], n_steps: int,
                  eval_every: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Train ``model`` on fixed ``ns`` for ``n_steps``; mean accuracy at step 0 and every
    ``eval_every`` steps. Returns ``steps (K,)`` and ``accuracy (K,)``.
    """
    rng = np.random.default_rng(config.seed)
    eval_rng = np.random.default_rng(config.seed + 1_000_003)
    optimizer = make_optimizer(model, config)
    steps = [0]
    accs = [float(evaluate(model, config.task, ns, config.batch_size, config.eval_batches,
                           eval_rng).mean())]
    for step in tqdm(range(1, n_steps + 1), disable=not progress, desc="retrain"):
        train_step(model, optimizer, config.task, ns, config.batch_size, config.clip, rng)
        if step % eval_every == 0 or step == n_steps:
            steps.append(step)
            accs.append(float(evaluate(model, config.task, ns, config.batch_size,
                                       config.eval_batches, eval_rng).mean()))
    return np.asarray(steps), np.asarray(accs)


def run_feature(config: CurriculumConfig, model_config: TimescaleRNNConfig) -> str:
    """The ``feature`` of a run name: curriculum (``sliding`` with its window), head flags that
    differ from 1 (``init{k}``, ``add{k}`` for multi, ``forget{k}`` for sliding), then the cell,
    ``before`` for the before-leak placement, ``fixtau{τ}`` when τ is fixed and ``ct{k}`` for a
    continuous-time network of ``k`` substeps, joined by ``-``.
    """
    parts = [f"sliding{config.window}" if config.curriculum == "sliding" else config.curriculum]
    flags = {"init": config.init_heads,
             "add": config.add_heads if config.curriculum == "multi" else 1,
             "forget": config.forget_heads if config.curriculum == "sliding" else 1}
    parts += [f"{flag}{k}" for flag, k in flags.items() if k != 1]
    if model_config.cell != "rnn":
        parts.append(model_config.cell)
    elif model_config.placement == "before_leak":
        parts.append("before")
    if model_config.cell == "rnn" and not model_config.train_tau:
        parts.append(f"fixtau{model_config.tau_fixed:g}")
    if model_config.substeps > 1:
        parts.append(f"ct{model_config.substeps}")
    return "-".join(parts)


def curriculum_run_name(config: CurriculumConfig, model_config: TimescaleRNNConfig,
                        n: int | None = None) -> str:
    """``{task}_seed{seed}_{feature}+hidden{H}+batch{B}+{optimizer}[+N{n}]`` (per-N checkpoint
    names carry ``+N{n}``).
    """
    acc = f"+{config.optimizer}" + ("" if n is None else f"+N{n}")
    return run_name(config.task, config.seed, run_feature(config, model_config),
                    model_config.n_hidden, config.batch_size, acc)


def save_reached_checkpoint(out_dir: str | os.PathLike, model: TimescaleRNN,
                            config: CurriculumConfig, n: int, step: int,
                            accuracies: np.ndarray) -> Path:
    """Write ``<out_dir>/<name +N{n}>/checkpoint.pt`` and ``config.json`` atomically.

    FileExistsError if that checkpoint already exists (runs are never overwritten silently).
    """
    folder = Path(out_dir) / curriculum_run_name(config, model.config, n)
    path = folder / "checkpoint.pt"
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    meta = {"model_kind": "timescale_rnn", "model_config": model.config_dict(),
            "curriculum": asdict(config), "n": n, "step": step,
            "accuracy": [float(a) for a in accuracies]}
    save_checkpoint(path, {**meta, "model_state": model_state(model)})
    save_json(folder / "config.json", meta)
    return path


def last_checkpoint_path(out_dir: str | os.PathLike, config: CurriculumConfig,
                         model_config: TimescaleRNNConfig) -> Path:
    """``<out_dir>/<run name>+last/checkpoint.pt``, where :func:`save_last_checkpoint` writes."""
    return Path(out_dir) / (curriculum_run_name(config, model_config) + "+last") / "checkpoint.pt"


def curriculum_run_folders(out_dir: str | os.PathLike, config: CurriculumConfig,
                           model_config: TimescaleRNNConfig) -> list[Path]:
    """The folders of the run under ``out_dir`` that exist: ``<run name>+N{n}/`` of each solved
    N (:func:`save_reached_checkpoint`) and ``<run name>+last/`` (:func:`save_last_checkpoint`)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    pattern = re.compile(re.escape(curriculum_run_name(config, model_config)) + r"\+(N\d+|last)")
    return sorted(p for p in out_dir.iterdir() if p.is_dir() and pattern.fullmatch(p.name))


def clear_curriculum_run(out_dir: str | os.PathLike, config: CurriculumConfig,
                         model_config: TimescaleRNNConfig, results: str | os.PathLike) -> None:
    """Remove the run from ``out_dir`` (:func:`curriculum_run_folders`) and its entry from the
    results file ``results`` (:func:`core.io.delete_results`), before it is trained again
    (``timescales/train.py --overwrite``)."""
    for folder in curriculum_run_folders(out_dir, config, model_config):
        shutil.rmtree(folder)
    delete_results(results, curriculum_run_name(config, model_config))


def save_last_checkpoint(out_dir: str | os.PathLike, model: TimescaleRNN,
                         config: CurriculumConfig, history: CurriculumHistory,
                         state: Mapping[str, Any] | None = None) -> Path:
    """Write the network as it is at the end of training to ``<out_dir>/<name>+last/`` (same
    format as :func:`save_reached_checkpoint`, ``n`` = the newest N it was training on,
    ``solved`` = the Ns it solved), so a run that solved no N still leaves its network.

    ``state`` (``step``, ``n_newest``, ``losses`` since the last evaluation, ``optimizer``,
    ``rng`` and ``eval_rng`` states; from :func:`train_curriculum` on a signal) marks the run
    ``interrupted``: it is stored with the history as ``training_state``, and ``step`` and ``n``
    say where the run stopped. An interrupted run's checkpoint is replaced; FileExistsError if
    that of a finished run exists.
    """
    path = last_checkpoint_path(out_dir, config, model.config)
    if path.exists() and not load_checkpoint(path).get("interrupted"):
        raise FileExistsError(f"{path} already exists")
    at_end = {"n": history.n_newest[-1] if history.n_newest else
              config.n_start + config.init_heads - 1,
              "step": history.step[-1] if history.step else 0}
    meta = {"model_kind": "timescale_rnn", "model_config": model.config_dict(),
            "curriculum": asdict(config),
            **(at_end if state is None else {"n": state["n_newest"], "step": state["step"]}),
            "accuracy": list(history.accuracy[-1].values()) if history.accuracy else [],
            "solved": sorted(history.reached), "interrupted": state is not None}
    payload = {**meta, "model_state": model_state(model)}
    if state is not None:
        payload["training_state"] = {**state, "history": asdict(history)}
    save_checkpoint(path, payload)
    save_json(path.parent / "config.json", meta)
    return path


def load_reached_checkpoint(path: str | os.PathLike) -> tuple[TimescaleRNN, dict]:
    """Rebuild the model stored by :func:`save_reached_checkpoint`; returns ``(model, payload)``.

    ``CheckpointError`` (one line) for a missing, unsafe or mismatching file.
    """
    payload = load_checkpoint(path)
    try:
        model = build_model(payload["model_kind"], payload["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a memory-task checkpoint ({exc})") from None
    load_model_state(model, payload["model_state"], source=str(path))
    return model, payload
