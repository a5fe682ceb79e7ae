"""Mod-Cog: the 82 tasks of Khona et al. (2023) used by Cook et al. (2025), arXiv 2506.02813.

The suite extends the 20 Yang et al. (2019) tasks with

- ``<task>intr`` / ``<task>intl`` for the 11 tasks with a delay: the response direction rotates
  by +/- one ring unit per time step of the (random) delay, so the network must integrate time;
- ``<task>seqr`` / ``<task>seql`` for all 20 tasks: during a longer response period the target
  steps one ring unit per time step clockwise / anticlockwise from the rule's answer;
- ``<task>intseq`` (interval and sequence together, +1 each) for the 11 delay tasks, as in the
  Mod-Cog code; these are not part of ``modcog/all``.

Names are ``modcog/<task>`` (``modcog/dm1``), ``modcog/all`` (the 82, in the order of the
reference code) and ``modcog/16`` (the reference's 16-task subset). Encoding follows Mod-Cog at
``dt = 100`` ms: input channel 0 is fixation (1 until the response period), channels
``1..n_ring`` and ``n_ring+1..2 n_ring`` are the two modality rings (Gaussian bumps ``0.8
exp(-d^2/2) * strength`` with ``d`` the circular distance in ring units); targets are class labels,
0 = fixate and ``1 + i`` = direction ``i``. A task is declared as its Yang et al. (2019) base rule
(:data:`YANG_RULE`) plus the two variant switches; stimuli are drawn per family (reach, decision,
match) with Mod-Cog's values and timing, vectorised over the batch from a numpy Generator, and the
answer comes from the Yang module's pure :func:`core.tasks.yang.rule_target`.

Deviations from the Mod-Cog reference code (github.com/mikailkhona/Mod_Cog), on purpose:

- Labels are ``1 + (i mod n_ring)``; the reference takes ``(1 + i) mod n_ring`` for rotated and
  sequence targets, so label ``n_ring`` (direction ``n_ring - 1``) is unreachable and those
  targets alias to fixation (0).
- Every random quantity (delays included) comes from the caller's Generator; the reference draws
  interval delays from the global ``np.random`` (unseeded) and the match-task delay once per
  environment instead of per trial.
- Rotations are in ring units throughout (one unit per step); the reference mixes radians
  (stimulus rotated by ``0.01 rad/ms * delay``) with ring indices (target shifted by
  ``0.01 * delay`` indices). Interval delays are drawn per trial from 0..1100 ms for every
  interval task (the reference fixes the delay at 500 ms for the decision family).
- ``go``/``anti`` keep the stimulus on through the response period (Yang et al. 2019); in the
  reference they are identical to ``dlygo``/``dlyanti``. Category boundaries split the ring in
  two equal halves (the reference's ``i > n/2`` puts 7 directions in one category and 9 in the
  other). Stimulus noise goes to the ring channels only, never to the fixation input.
- Evaluation batches come from a Generator independent of the training one (see
  :func:`split_generators`); the reference evaluates on its cached training set.

Scores: :func:`score_fresh_streams` gives each task's accuracy on fresh trials of such streams
(a trial is correct when every step of its response period is, :func:`trial_outcomes`) with its
chance level (:func:`task_chance_level`), as :class:`core.tasks.accuracy.RuleScore`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.tasks.accuracy import RuleScore, chance_level
from core.tasks.noise import gaussian_noise
from core.tasks.trials import Trials
from core.tasks.yang import RULE_SPECS, TWO_PI, RuleSpec, ring_code, rule_target

BASE_TASKS: tuple[str, ...] = (
    "go", "rtgo", "dlygo", "anti", "rtanti", "dlyanti", "dm1", "dm2", "ctxdm1", "ctxdm2",
    "multidm", "dlydm1", "dlydm2", "ctxdlydm1", "ctxdlydm2", "multidlydm", "dms", "dnms", "dmc",
    "dnmc",
)
DELAY_TASKS: tuple[str, ...] = (
    "dlygo", "dlyanti", "dlydm1", "dlydm2", "ctxdlydm1", "ctxdlydm2", "multidlydm", "dms", "dnms",
    "dmc", "dnmc",
)
#: The 82 Mod-Cog tasks, in the order of the reference code (``modcog/all``).
MODCOG_TASKS: tuple[str, ...] = (
    BASE_TASKS
    + tuple(f"{t}{v}" for t in DELAY_TASKS for v in ("intr", "intl"))
    + tuple(f"{t}seqr" for t in BASE_TASKS)
    + tuple(f"{t}seql" for t in BASE_TASKS)
)
#: Interval + sequence variants (in the Mod-Cog code, not in ``modcog/all``).
INTSEQ_TASKS: tuple[str, ...] = tuple(f"{t}intseq" for t in DELAY_TASKS)
#: The reference's 16-task subset (``modcog/16``).
MODCOG_16: tuple[str, ...] = (
    "go", "rtgo", "dlygo", "anti", "rtanti", "dlyanti", "ctxdlydm1intr", "dm2", "ctxdm1",
    "dnmcintl", "antiseql", "dlydm1", "dlydm2", "dnmsseql", "ctxdlydm2", "multidlydm",
)


@dataclass(frozen=True)
class ModCogConfig:
    """Encoding and timing constants of Mod-Cog (Khona et al. 2023): 16 units per ring, 100 ms
    steps, input noise ``sigma / sqrt(dt)`` (``sigma = 1``) on the ring channels of the decision
    and match families."""

    n_ring: int = 16
    dt: float = 100.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        if self.n_ring < 4 or self.n_ring % 2:
            raise ValueError(f"n_ring must be an even number >= 4, got {self.n_ring}")
        if self.dt <= 0:
            raise ValueError(f"dt must be > 0 ms, got {self.dt}")

    @property
    def n_input(self) -> int:
        """Stimulus channels: fixation + two rings."""
        return 1 + 2 * self.n_ring

    @property
    def n_output(self) -> int:
        """Action classes: fixate + one per ring direction."""
        return 1 + self.n_ring

    @property
    def n_directions(self) -> int:
        """Directions an answer can take (the ring's grid; read by
        :func:`core.tasks.accuracy.chance_level`)."""
        return self.n_ring

    def steps(self, ms: float) -> int:
        """Number of time steps lasting ``ms`` milliseconds."""
        return int(round(ms / self.dt))


#: The Yang et al. (2019) rule each Mod-Cog base task is (:data:`core.tasks.yang.RULE_SPECS`);
#: its answer comes from :func:`core.tasks.yang.rule_target`.
YANG_RULE: dict[str, str] = {
    "go": "fdgo", "rtgo": "reactgo", "dlygo": "delaygo", "anti": "fdanti", "rtanti": "reactanti",
    "dlyanti": "delayanti", "dm1": "dm1", "dm2": "dm2", "ctxdm1": "contextdm1",
    "ctxdm2": "contextdm2", "multidm": "multidm", "dlydm1": "delaydm1", "dlydm2": "delaydm2",
    "ctxdlydm1": "contextdelaydm1", "ctxdlydm2": "contextdelaydm2",
    "multidlydm": "multidelaydm", "dms": "dmsgo", "dnms": "dmsnogo", "dmc": "dmcgo",
    "dnmc": "dmcnogo",
}


@dataclass(frozen=True)
class TaskSpec:
    """One Mod-Cog task, declared: its base task (a Yang 2019 rule) and the two variant switches
    (``integrate`` +1 intr / -1 intl, ``seq`` +1 seqr / -1 seql, 0 = off)."""

    base: str
    integrate: int = 0
    seq: int = 0

    @property
    def rule(self) -> RuleSpec:
        """The Yang et al. (2019) rule of the base task."""
        return RULE_SPECS[YANG_RULE[self.base]]

    @property
    def family(self) -> str:
        """'reach', 'decision' or 'match'."""
        return self.rule.family

    @property
    def reach_timing(self) -> str:
        """Reach tasks: 'go' (stimulus stays on), 'rt' (reaction time) or 'dly' (memory)."""
        return {"fd": "go", "react": "rt", "delay": "dly"}[self.rule.timing]

    @property
    def delayed(self) -> bool:
        """Decision tasks: the two stimuli come in two epochs separated by a delay."""
        return self.rule.timing == "delaydm"

    @property
    def shown(self) -> tuple[bool, bool]:
        """Decision tasks: which modalities carry stimuli."""
        if self.rule.stimuli == "single":
            return (self.rule.modality == 1, self.rule.modality == 2)
        return (True, True)


_VARIANTS: dict[str, dict[str, int]] = {
    "intseq": {"integrate": 1, "seq": 1}, "intr": {"integrate": 1}, "intl": {"integrate": -1},
    "seqr": {"seq": 1}, "seql": {"seq": -1},
}

#: Durations in ms (Mod-Cog code); tuples are inclusive uniform ranges over whole steps.
TIMINGS: dict[str, dict[str, float | tuple[float, float]]] = {
    "reach": {"fix1": 500, "stim1": 500, "delay1": 500, "go": 500},
    "decision": {"fix1": (200, 500), "stim1": 500, "go": 200},
    "dlydecision": {"fix1": (200, 500), "stim1": 500, "delay1": 500, "stim2": 500, "go": 200},
    "match": {"fix1": 300, "stim1": 500, "delay1": (200, 1200), "stim2": 500, "go": 900},
}
SEQ_RESPONSE_MS = 1000.0  # response period of the sequence variants (not the reaction-time ones)
INTERVAL_DELAY_MS = (0.0, 1100.0)  # delay range of the interval variants
DM_COHERENCES = (0.08, 0.16, 0.32, 0.64)
DLYDM_STRENGTHS = (0.3, 0.6, 1.0)

#: Parameter names every Mod-Cog batch carries (``-1`` where a parameter does not apply).
PARAM_NAMES: tuple[str, ...] = (
    "dir1", "dir2", "modality", "strength1_mod1", "strength2_mod1", "strength1_mod2",
    "strength2_mod2", "match", "respond", "target", "rotation", "seq",
)


def task_spec(task: str) -> TaskSpec:
    """The declared spec of a Mod-Cog task (``'dm1'``, ``'modcog/dlygointr'``, ...)."""
    name = task.removeprefix("modcog/")
    if name in YANG_RULE:
        return TaskSpec(name)
    for suffix, switches in _VARIANTS.items():
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in YANG_RULE and (
                "integrate" not in switches or base in DELAY_TASKS):
            return TaskSpec(base, **switches)
    raise ValueError(f"unknown Mod-Cog task {task!r}; expected a base task {list(YANG_RULE)}, "
                     "optionally + 'seqr'/'seql', or a delay task + 'intr'/'intl'/'intseq' "
                     f"(delay tasks: {list(DELAY_TASKS)})")


def resolve_tasks(task_id: str) -> tuple[str, ...]:
    """Task names selected by ``modcog/all``, ``modcog/16``, ``modcog/<task>`` or a
    comma-separated list of tasks (``modcog/go,dm1``)."""
    if not task_id.startswith("modcog/"):
        raise ValueError(f"task id {task_id!r} must start with 'modcog/'")
    key = task_id.removeprefix("modcog/")
    if key == "all":
        return MODCOG_TASKS
    if key == "16":
        return MODCOG_16
    names = tuple(n.strip() for n in key.split(","))
    for n in names:
        task_spec(n)
    return names


def split_generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent training and held-out evaluation Generators derived from ``seed``."""
    train, held_out = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(train), np.random.default_rng(held_out)


# ----------------------------------------------------------------------------- trial families


def ring_bump(direction: np.ndarray, strength: np.ndarray, n_ring: int) -> np.ndarray:
    """Mod-Cog Gaussian bumps ``0.8 exp(-d^2 / 2) * strength``, ``d`` the circular distance in ring
    units; ``direction, strength (B,)`` -> ``(B, n_ring)``."""
    unit = TWO_PI / n_ring
    bumps = ring_code(np.asarray(direction) * unit, n_ring, unit, 0.8)
    return bumps * np.asarray(strength)[:, None]


def _epoch_table(spec: TaskSpec) -> dict[str, float | tuple[float, float]]:
    """Ordered epoch durations (ms; tuples are inclusive uniform ranges) of a task."""
    if spec.family == "reach":
        reach = TIMINGS["reach"]
        if spec.reach_timing == "rt":
            table = {"fix1": reach["fix1"], "go": reach["go"]}
        elif spec.reach_timing == "go":  # stimulus on to the end; stim1 spans stim + delay
            table = {"fix1": reach["fix1"], "stim1": reach["stim1"] + reach["delay1"],
                     "go": reach["go"]}
        else:
            table = dict(reach)
    else:
        key = "dlydecision" if spec.family == "decision" and spec.delayed else spec.family
        table = dict(TIMINGS[key])
    if spec.integrate:
        table["delay1"] = INTERVAL_DELAY_MS
    if spec.seq and not (spec.family == "reach" and spec.reach_timing == "rt"):
        table["go"] = SEQ_RESPONSE_MS
    return table


def min_trial_steps(task: str, config: ModCogConfig | None = None) -> int:
    """Shortest possible trial of ``task`` in steps."""
    return _trial_steps(task, config, bound=0)


def max_trial_steps(task: str, config: ModCogConfig | None = None) -> int:
    """Longest possible trial of ``task`` in steps."""
    return _trial_steps(task, config, bound=1)


def _trial_steps(task: str, config: ModCogConfig | None, bound: int) -> int:
    """Steps of a trial of ``task`` whose ranged epochs all take their lower (``bound`` 0) or
    upper (1) duration."""
    cfg = config or ModCogConfig()
    return sum(cfg.steps(v[bound] if isinstance(v, tuple) else v)
               for v in _epoch_table(task_spec(task)).values())


def task_chance_level(task: str, config: ModCogConfig | None = None) -> float:
    """Accuracy of a guess that ignores what ``task`` asks for, as
    :func:`core.tasks.accuracy.chance_level` of its Yang et al. (2019) base rule on the ring's
    grid of ``n_ring`` directions: 1 / n_ring for the reach family (one fixed direction),
    1/2 for the decision family (one of the two stimuli) and the match family (respond or fixate;
    half the trials match). The interval and sequence variants keep their base task's chance:
    the guess follows the task's timing and sequence rule but not the stimuli."""
    cfg = config or ModCogConfig()
    return chance_level(YANG_RULE[task_spec(task).base], cfg)


def _epochs(spec: TaskSpec, cfg: ModCogConfig, b: int, rng: np.random.Generator
            ) -> dict[str, np.ndarray]:
    """``[start, end)`` steps of each epoch, ``(B, 2)``; absent epochs are ``[-1, -1]``."""
    epochs = {name: np.full((b, 2), -1, dtype=np.int64)
              for name in ("fix1", "stim1", "delay1", "stim2", "delay2", "go")}
    start = np.zeros(b, dtype=np.int64)
    for name, value in _epoch_table(spec).items():
        if isinstance(value, tuple):
            length = rng.integers(cfg.steps(value[0]), cfg.steps(value[1]), size=b,
                                  endpoint=True)
        else:
            length = np.full(b, cfg.steps(value), dtype=np.int64)
        epochs[name] = np.stack([start, start + length], axis=1)
        start = start + length
    return epochs


def _reach(spec: TaskSpec, cfg: ModCogConfig, b: int, rng: np.random.Generator
           ) -> dict[str, np.ndarray]:
    direction = rng.integers(0, cfg.n_ring, size=b)
    modality = rng.integers(0, 2, size=b)
    ones, zeros = np.ones(b), np.zeros(b)
    return {
        "dir1": direction, "dir2": np.full(b, -1), "modality": modality,
        "strength1_mod1": np.where(modality == 0, ones, zeros), "strength2_mod1": zeros,
        "strength1_mod2": np.where(modality == 1, ones, zeros), "strength2_mod2": zeros,
    }


def _decision(spec: TaskSpec, cfg: ModCogConfig, b: int, rng: np.random.Generator
              ) -> dict[str, np.ndarray]:
    n = cfg.n_ring
    dir1 = rng.integers(0, n, size=b)
    dir2 = (dir1 + rng.integers(1, n, size=b)) % n  # uniform over the other directions
    s = {key: np.zeros(b) for key in ("strength1_mod1", "strength2_mod1", "strength1_mod2",
                                      "strength2_mod2")}
    todo = np.ones(b, dtype=bool)
    while todo.any():  # multi-sensory tasks: redraw the trials whose summed evidence ties
        k = int(todo.sum())
        for m, shown in enumerate(spec.shown, start=1):
            if not shown:
                continue
            if spec.delayed:  # two different strengths, one per epoch
                s1 = rng.choice(DLYDM_STRENGTHS, size=k)
                s2 = np.array(DLYDM_STRENGTHS)[
                    (np.searchsorted(DLYDM_STRENGTHS, s1) + rng.integers(1, 3, size=k)) % 3]
            else:  # 0.5 +/- coh / 2 shown together
                coh = rng.choice(DM_COHERENCES, size=k) * rng.choice([-1.0, 1.0], size=k)
                s1, s2 = 0.5 + coh / 2, 0.5 - coh / 2
            s[f"strength1_mod{m}"][todo], s[f"strength2_mod{m}"][todo] = s1, s2
        todo = np.zeros(b, dtype=bool)
        if spec.rule.stimuli == "multi":
            todo = np.isclose(s["strength1_mod1"] + s["strength1_mod2"],
                              s["strength2_mod1"] + s["strength2_mod2"])
    return {"dir1": dir1, "dir2": dir2, "modality": np.full(b, -1), **s}


def _match(spec: TaskSpec, cfg: ModCogConfig, b: int, rng: np.random.Generator
           ) -> dict[str, np.ndarray]:
    n, half = cfg.n_ring, cfg.n_ring // 2
    sample = rng.integers(0, n, size=b)
    match = rng.random(b) < 0.5
    if spec.rule.category:  # categories: the two halves [0, n/2) and [n/2, n) of the ring
        sample_cat = (sample >= half).astype(np.int64)
        test = rng.integers(0, half, size=b) + half * np.where(match, sample_cat, 1 - sample_cat)
    else:  # a non-matching test is opposite the sample
        test = np.where(match, sample, (sample + half) % n)
    modality = rng.integers(0, 2, size=b)
    ones, zeros = np.ones(b), np.zeros(b)
    return {
        "dir1": sample, "dir2": test, "modality": modality,
        "strength1_mod1": np.where(modality == 0, ones, zeros),
        "strength2_mod1": np.where(modality == 0, ones, zeros),
        "strength1_mod2": np.where(modality == 1, ones, zeros),
        "strength2_mod2": np.where(modality == 1, ones, zeros),
    }


def _answer(spec: TaskSpec, p: dict[str, np.ndarray], n: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(respond (B,) bool, direction (B,) ring index or -1, match (B,))`` from the Yang rule."""
    unit = 2 * np.pi / n
    loc = np.stack([p["dir1"] * unit, np.where(p["dir2"] >= 0, p["dir2"] * unit, np.nan)])
    strength = np.array([[p["strength1_mod1"], p["strength1_mod2"]],
                         [p["strength2_mod1"], p["strength2_mod2"]]])
    target_loc, _, respond, match = rule_target(spec.rule, loc, strength)
    direction = np.where(respond, np.rint(np.nan_to_num(target_loc) / unit).astype(np.int64) % n,
                         -1)
    return respond, direction, match.astype(np.int64)


_FAMILIES = {"reach": _reach, "decision": _decision, "match": _match}


def generate_modcog(task: str, batch_size: int, rng: np.random.Generator,
                    config: ModCogConfig | None = None, noise: bool = True) -> Trials:
    """A batch of ``batch_size`` trials of one Mod-Cog task, vectorised over the batch.

    Returns a :class:`~core.tasks.trials.Trials` with ``x (T, B, 1 + 2 n_ring)``, one-hot
    targets ``y (T, B, 1 + n_ring)`` (class labels: ``y.argmax(-1)``), ``c_mask`` 1 on every valid
    step, ``y_loc`` the target angle (radians, -1 while fixating), ``epochs`` (``fix1``, ``stim1``,
    ``delay1``, ``stim2``, ``go``) and ``params`` (:data:`PARAM_NAMES`: ring indices of both
    stimuli, modality, strengths per modality, match flag, whether to respond, the target
    direction at the first response step, the interval rotation and the sequence step). ``T`` is
    the longest trial; shorter trials are padded with zeros (``c_mask = 0``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    cfg = config or ModCogConfig()
    spec = task_spec(task)
    name = task.removeprefix("modcog/")
    n, b = cfg.n_ring, batch_size
    epochs = _epochs(spec, cfg, b, rng)
    p = _FAMILIES[spec.family](spec, cfg, b, rng)
    respond, base, match = _answer(spec, p, n)
    delay = epochs["delay1"]
    delay_len = np.where(delay[:, 0] >= 0, delay[:, 1] - delay[:, 0], 0)
    rotation = spec.integrate * delay_len
    target = np.where(respond, (base + rotation) % n, -1)

    T = int(epochs["go"][:, 1].max())
    t = np.arange(T)[:, None]

    def within(name: str) -> np.ndarray:  # (T, B) bool
        e = epochs[name]
        return (t >= e[None, :, 0]) & (t < e[None, :, 1])

    valid = t < epochs["go"][None, :, 1]
    go = within("go")
    x = np.zeros((T, b, cfg.n_input), dtype=np.float32)
    x[..., 0] = valid & ~go
    # stimulus 1 is shown in stim1, plus go for go/anti and in go only for reaction-time tasks
    show1 = within("stim1")
    if spec.family == "reach" and spec.reach_timing != "dly":
        show1 = show1 | go
    show2 = within("stim2") if (spec.family != "decision" or spec.delayed) else within("stim1")
    for m in (1, 2):
        ring = slice(1 + (m - 1) * n, 1 + m * n)
        x[:, :, ring] += show1[..., None] * ring_bump(p["dir1"], p[f"strength1_mod{m}"], n)[None]
        if spec.family != "reach":
            x[:, :, ring] += show2[..., None] * ring_bump(p["dir2"], p[f"strength2_mod{m}"],
                                                          n)[None]
    if noise and spec.family != "reach":
        noisy = (within("stim1") | within("stim2"))[..., None]
        x[:, :, 1:] += noisy * gaussian_noise(rng, (T, b, 2 * n), cfg.sigma / np.sqrt(cfg.dt))

    step_in_go = t - epochs["go"][None, :, 0]
    direction = (target[None, :] + spec.seq * step_in_go) % n
    labels = np.where(go & respond[None, :], 1 + direction, 0)
    y = np.zeros((T, b, cfg.n_output), dtype=np.float32)
    np.put_along_axis(y, labels[..., None], 1.0, axis=-1)
    y *= valid[..., None]
    y_loc = np.where(labels > 0, 2 * np.pi * (labels - 1) / n, -1.0)
    params = {**p, "match": match, "respond": respond, "target": target, "rotation": rotation,
              "seq": np.full(b, spec.seq, dtype=np.int64)}
    return Trials(
        x=x, y=y, c_mask=np.repeat(valid[..., None], cfg.n_output, axis=-1).astype(np.float32),
        y_loc=y_loc.astype(np.float32), rule=np.full(b, name), epochs=epochs,
        params={k: params[k] for k in PARAM_NAMES}, dt=cfg.dt,
    )


# ----------------------------------------------------------------------------- trial streams


@dataclass
class ModCogStream:
    """A batch of ``B`` continuous streams of ``T`` steps, each a run of back-to-back trials of
    tasks drawn uniformly at random (as neurogym's ``ScheduleEnvs`` with a random schedule).

    ``x (T, B, n_stimulus + n_tasks)`` float32 inputs (the rule one-hot last), ``labels (T, B)``
    int64 class labels, ``task_ids (T, B)`` int64 index into ``tasks``, ``response (T, B)`` bool
    (fixation input off), ``trial_start (T, B)`` bool (first step of a trial).
    """

    x: np.ndarray
    labels: np.ndarray
    task_ids: np.ndarray
    response: np.ndarray
    trial_start: np.ndarray
    tasks: tuple[str, ...]

    def to_torch(self, device: str | object = "cpu"):
        """``(x, labels, task_ids, response)`` as torch tensors on ``device``."""
        import torch

        return (torch.from_numpy(self.x).to(device), torch.from_numpy(self.labels).to(device),
                torch.from_numpy(self.task_ids).to(device),
                torch.from_numpy(self.response).to(device))


def generate_stream(tasks: Sequence[str], batch_size: int, seq_len: int,
                    rng: np.random.Generator, config: ModCogConfig | None = None,
                    noise: bool = True) -> ModCogStream:
    """``batch_size`` streams of ``seq_len`` steps of Mod-Cog trials (reference: 350 steps).

    Each stream concatenates whole trials; the task of every trial is drawn uniformly from
    ``tasks`` and announced by the rule one-hot for the trial's whole duration. The last trial is
    cut at ``seq_len``. All trials of one task in a round are generated in one vectorised call:
    a first round draws enough trials to fill a stream of average-length trials, a second one
    (only for the streams still short) enough to fill any stream.
    """
    cfg = config or ModCogConfig()
    tasks = tuple(t.removeprefix("modcog/") for t in tasks)
    if not tasks:
        raise ValueError("at least one task is needed")
    if seq_len < 1 or batch_size < 1:
        raise ValueError(f"seq_len and batch_size must be >= 1, got {seq_len}, {batch_size}")
    n_tasks = len(tasks)
    shortest_by_task = [max(1, min_trial_steps(task, cfg)) for task in tasks]
    shortest, mean_shortest = min(shortest_by_task), math.ceil(np.mean(shortest_by_task))

    placed = []  # (slots, streams, task index, Trials): every generated trial's place
    filled = np.zeros(batch_size, dtype=np.int64)
    short, n_slots, first_slot = np.arange(batch_size), -(-seq_len // mean_shortest) + 1, 0
    while short.size:
        choice = rng.integers(0, n_tasks, size=(n_slots, short.size))
        for k in np.unique(choice):
            slots, cols = np.nonzero(choice == k)
            trials = generate_modcog(tasks[k], slots.size, rng, cfg, noise)
            placed.append((first_slot + slots, short[cols], int(k), trials))
            np.add.at(filled, short[cols], trials.n_steps_valid)
        first_slot += n_slots
        short = np.nonzero(filled < seq_len)[0]
        if short.size:
            n_slots = -(-int((seq_len - filled[short]).max()) // shortest) + 1
    lengths = np.zeros((first_slot, batch_size), dtype=np.int64)
    for slots, streams, _, trials in placed:
        lengths[slots, streams] = trials.n_steps_valid
    offsets = np.cumsum(lengths, axis=0) - lengths

    x = np.zeros((seq_len, batch_size, cfg.n_input + n_tasks), dtype=np.float32)
    labels = np.zeros((seq_len, batch_size), dtype=np.int64)
    task_ids = np.zeros((seq_len, batch_size), dtype=np.int64)
    trial_start = np.zeros((seq_len, batch_size), dtype=bool)

    def place(trials: Trials, start: np.ndarray, streams: np.ndarray, k: int) -> None:
        """Write ``trials`` (task ``k``) at steps ``start + t`` of ``streams``, cut at seq_len."""
        t = np.arange(trials.n_steps)[:, None]
        pos = start[None, :] + t
        keep = (t < trials.n_steps_valid[None, :]) & (pos < seq_len)
        col = np.broadcast_to(streams[None, :], pos.shape)
        x[pos[keep], col[keep], :cfg.n_input] = trials.x[keep]
        x[pos[keep], col[keep], cfg.n_input + k] = 1.0
        labels[pos[keep], col[keep]] = trials.y[keep].argmax(-1)
        task_ids[pos[keep], col[keep]] = k
        first = start < seq_len
        trial_start[start[first], streams[first]] = True

    for slots, streams, k, trials in placed:
        place(trials, offsets[slots, streams], streams, k)
    return ModCogStream(x=x, labels=labels, task_ids=task_ids, response=x[..., 0] == 0,
                        trial_start=trial_start, tasks=tasks)


# ----------------------------------------------------------------------------- trial scores


def trial_outcomes(y_hat, stream: ModCogStream, last_start: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Score every trial of ``stream`` that starts at step ``last_start`` or earlier.

    ``y_hat (T, B, n_out)`` logits (numpy or torch) of the stream; the action of a step is its
    argmax. A trial is correct when the action equals the target label at every step of its
    response period (the fixation input off): the right direction at each step (the whole
    sequence of a sequence task), fixation (label 0) at each step of a no-go trial. This is
    stricter than one reading per trial (Yang et al. 2019 read the last step) and than the
    per-step accuracy of :func:`core.analysis.routing.routing_statistics`.

    Returns ``(task (N,) index into stream.tasks, correct (N,) bool)`` ordered by stream, then
    by start. With ``last_start <= seq_len - longest trial`` every counted trial is complete,
    and whether a trial is counted does not depend on its own length (only on the trials before
    it). ValueError for a ``y_hat`` of another ``(T, B)`` than the stream.
    """
    actions = y_hat.argmax(-1)
    actions = actions.cpu().numpy() if hasattr(actions, "cpu") else np.asarray(actions)
    if actions.shape != stream.labels.shape:
        raise ValueError(f"y_hat (T, B) {actions.shape} != the stream's {stream.labels.shape}")
    n_streams = stream.labels.shape[1]
    local = np.cumsum(stream.trial_start, axis=0) - 1  # (T, B) index of the trial in its stream
    n = int(local.max()) + 1
    trial = (local + n * np.arange(n_streams)).ravel()  # global index, stream-major
    wrong = np.bincount(trial, ((actions != stream.labels) & stream.response).ravel(),
                        minlength=n * n_streams)
    task = np.zeros(n * n_streams, dtype=np.int64)
    task[trial] = stream.task_ids.ravel()
    counted = stream.trial_start[: last_start + 1].sum(0)  # (B,) trials starting in time
    keep = (np.arange(n)[None, :] < counted[:, None]).ravel()
    return task[keep], wrong[keep] == 0


def score_fresh_streams(respond: Callable[[ModCogStream], object], tasks: Sequence[str],
                        n_trials: int, seq_len: int, rng: np.random.Generator,
                        config: ModCogConfig | None = None, chunk: int = 128
                        ) -> dict[str, RuleScore]:
    """``{task: RuleScore}`` of ``respond(stream) -> y_hat (T, B, n_out)`` logits on
    ``n_trials`` fresh trials of each task, in streams as the network was trained on.

    Streams of ``seq_len`` steps are drawn from ``rng`` ``chunk`` at a time
    (:func:`generate_stream`) until every task has ``n_trials`` trials that start early enough
    to end inside their stream whatever their length (:func:`trial_outcomes`); the first
    ``n_trials`` of each task count (so one Generator seed gives the same scores). Each score
    carries the task's :func:`task_chance_level`; :meth:`RuleScore.interval` is its 95 % Wilson
    interval, which treats the trials as independent (trials of one stream share the network's
    state). ValueError for ``n_trials`` or ``chunk`` < 1, or ``seq_len`` shorter than the
    longest trial of a task (:func:`max_trial_steps`).
    """
    cfg = config or ModCogConfig()
    tasks = tuple(t.removeprefix("modcog/") for t in tasks)
    if n_trials < 1 or chunk < 1:
        raise ValueError(f"n_trials and chunk must be >= 1, got {n_trials}, {chunk}")
    longest = max(max_trial_steps(t, cfg) for t in tasks)
    if seq_len < longest:
        raise ValueError(f"streams of {seq_len} steps cannot hold the longest trial of "
                         f"{list(tasks)} ({longest} steps)")
    outcomes: list[list[np.ndarray]] = [[] for _ in tasks]
    counts = np.zeros(len(tasks), dtype=np.int64)
    while counts.min() < n_trials:
        stream = generate_stream(tasks, chunk, seq_len, rng, cfg)
        task, correct = trial_outcomes(respond(stream), stream, seq_len - longest)
        for k in range(len(tasks)):
            outcomes[k].append(correct[task == k])
            counts[k] += outcomes[k][-1].size
    return {t: RuleScore(int(np.concatenate(outcomes[k])[:n_trials].sum()), n_trials,
                         task_chance_level(t, cfg)) for k, t in enumerate(tasks)}
