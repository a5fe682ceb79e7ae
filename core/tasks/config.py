"""Task configuration: one frozen dataclass, two presets (data, not code).

``YANG19`` follows Yang et al. (2019), *Task representations in neural networks trained to perform
many cognitive tasks*, Nat. Neurosci. 22:297, Methods: ring encoding, dt 20 ms, tau 100 ms,
``n_eachring`` 32, input noise ``sigma_x * sqrt(2 / alpha)``, target baseline 0.05, fixation target
0.8, per-batch epoch timing drawn from the paper's sets.

``MPN_LAB`` is the multi-task preset of the MPN lab, with the low-dimensional encoding of Driscoll
et al. (2024), *Flexible multitask computation in recurrent networks utilizes shared dynamical
motifs*, Nat. Neurosci.: fixation-on/off inputs, (sin, cos) stimulus and response channels,
8 directions, per-trial uniform epoch timing, no input noise, fixation target 1.0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.tasks.rulesets import RULE_SETS, RULES, resolve_rules


@dataclass(frozen=True)
class Duration:
    """A distribution of epoch durations in ms: ``kind`` 'choice' (one of ``values``), 'uniform'
    (``values = (low, high)``) or 'fixed' (``values = (ms,)``)."""

    kind: Literal["choice", "uniform", "fixed"]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        expected = {"choice": None, "uniform": 2, "fixed": 1}
        if self.kind not in expected:
            raise ValueError(f"Duration kind {self.kind!r}; expected choice, uniform or fixed")
        n = expected[self.kind]
        if (n is not None and len(self.values) != n) or len(self.values) == 0:
            raise ValueError(f"Duration {self.kind!r} got values {self.values!r}")
        if min(self.values) < 0:
            raise ValueError(f"Duration values must be >= 0 ms, got {self.values!r}")

    @property
    def low(self) -> float:
        """Shortest possible duration (ms)."""
        return float(min(self.values))

    @property
    def high(self) -> float:
        """Longest possible duration (ms)."""
        return float(max(self.values))


def choice(*ms: float) -> Duration:
    """Duration drawn uniformly from the listed values (ms)."""
    return Duration("choice", tuple(float(v) for v in ms))


def uniform(low: float, high: float) -> Duration:
    """Duration drawn uniformly from ``[low, high)`` (ms)."""
    return Duration("uniform", (float(low), float(high)))


def fixed(ms: float) -> Duration:
    """A constant duration (ms)."""
    return Duration("fixed", (float(ms),))


#: Epoch order of each timing group. ``go`` is the response period (until the trial's end).
TIMING_EPOCHS: dict[str, tuple[str, ...]] = {
    "fd": ("fix1", "stim1", "go"),
    "react": ("fix1", "go"),
    "delay": ("fix1", "stim1", "delay1", "go"),
    "dm": ("fix1", "stim1", "go"),
    "delaydm": ("fix1", "stim1", "delay1", "stim2", "delay2", "go"),
    "dms": ("fix1", "stim1", "delay1", "go"),
    "dmc": ("fix1", "stim1", "delay1", "go"),
}

Timings = Mapping[str, Mapping[str, Duration]]

#: Yang et al. (2019) Methods (and gyyang/multitask ``task.py``, random mode), in ms.
YANG19_TIMINGS: dict[str, dict[str, Duration]] = {
    "fd": {"fix1": uniform(300, 700), "stim1": uniform(500, 1500), "go": fixed(500)},
    "react": {"fix1": uniform(500, 2500), "go": fixed(500)},
    "delay": {"fix1": choice(300, 500, 700), "stim1": choice(200, 400, 600),
              "delay1": choice(200, 400, 800, 1600), "go": fixed(500)},
    "dm": {"fix1": uniform(100, 400), "stim1": choice(400, 800, 1600), "go": fixed(500)},
    "delaydm": {"fix1": choice(200, 400, 600), "stim1": choice(200, 400, 600),
                "delay1": choice(200, 400, 800, 1600), "stim2": choice(200, 400, 600),
                "delay2": uniform(100, 300), "go": fixed(500)},
    "dms": {"fix1": choice(200, 400, 600), "stim1": choice(200, 400, 600),
            "delay1": choice(200, 400, 800, 1600), "go": fixed(500)},
    "dmc": {"fix1": choice(200, 400, 600), "stim1": choice(200, 400, 600),
            "delay1": choice(200, 400, 800, 1600), "go": choice(200, 400, 600)},
}

#: Fixed timings of the ``test`` and ``psychometric`` modes (Yang et al. 2019 test mode), in ms.
TEST_TIMINGS: dict[str, dict[str, float]] = {
    "fd": {"fix1": 500, "stim1": 1000, "go": 500},
    "react": {"fix1": 2000, "go": 500},
    "delay": {"fix1": 500, "stim1": 500, "delay1": 1000, "go": 500},
    "dm": {"fix1": 500, "stim1": 1000, "go": 500},
    "delaydm": {"fix1": 500, "stim1": 500, "delay1": 1000, "stim2": 500, "delay2": 200,
                "go": 500},
    "dms": {"fix1": 500, "stim1": 500, "delay1": 1200, "go": 500},
    "dmc": {"fix1": 500, "stim1": 500, "delay1": 1200, "go": 500},
}

_ONSET = uniform(300, 700)
_ONSET_TWO_STIM = uniform(200, 600)
_STIM = uniform(200, 1600)
_RESPONSE = uniform(300, 700)

#: MPN-lab timings, drawn per trial, as the lab's multi-task generator draws them in training
#: (AllenInstitute/MultiTaskMPN ``core/mpn_tasks.py``, per-trial random mode; delaygo is the
#: example in the issue: onset 300-700, stimulus 200-1600, delay 200-1600, response 300-700 ms).
#: Rules with a second or test stimulus fixate 200-600 ms; FD stimuli last 200-1500 ms and
#: reaction-time responses 300-1700 ms.
MPN_LAB_TIMINGS: dict[str, dict[str, Duration]] = {
    "fd": {"fix1": _ONSET, "stim1": uniform(200, 1500), "go": _RESPONSE},
    "react": {"fix1": uniform(500, 2500), "go": uniform(300, 1700)},
    "delay": {"fix1": _ONSET, "stim1": _STIM, "delay1": _STIM, "go": _RESPONSE},
    "dm": {"fix1": _ONSET, "stim1": _STIM, "go": _RESPONSE},
    "delaydm": {"fix1": _ONSET_TWO_STIM, "stim1": _STIM, "delay1": _STIM, "stim2": _STIM,
                "delay2": uniform(100, 300), "go": _RESPONSE},
    "dms": {"fix1": _ONSET_TWO_STIM, "stim1": _STIM, "delay1": _STIM, "go": _RESPONSE},
    "dmc": {"fix1": _ONSET_TWO_STIM, "stim1": _STIM, "delay1": _STIM, "go": _RESPONSE},
}


@dataclass(frozen=True)
class TaskConfig:
    """How trials are encoded and timed. Build variants with ``dataclasses.replace`` or
    :meth:`with_rules`; the presets are :data:`YANG19` and :data:`MPN_LAB`.

    Cost-mask values multiply the error *inside* the square (Yang et al. 2019):
    ``loss = mean((c_mask * (y_hat - y)) ** 2)``. YANG19 uses Yang's values as they are (1 before
    the response, 5 during it, fixation x2), so the squared error is weighted 1, 25 and x4.
    MPN_LAB stores the square roots of the lab's weights (1, 5, fixation x0.5), as the lab's code
    does, so its squared error is weighted 1 and 5, fixation x0.5: ``mask_post = sqrt(5)``,
    ``mask_fixation = sqrt(0.5)``.

    The low-dimensional encoding carries one direction per modality at a time: rules that show two
    stimuli at once in one modality (dm1/dm2, context and multi-sensory DM without delay) sum two
    (sin, cos) vectors there, and with ``second_stim_other_modality`` dm1 and dm2 differ only in
    their rule cue. MPN_LAB's default rule set (``everything``) contains none of these rules.
    """

    name: str
    encoding: Literal["ring", "lowdim"]
    dt: float = 20.0
    tau: float = 100.0
    sigma_x: float = 0.01
    n_eachring: int = 32
    n_directions: int | None = None
    stim_amplitude: float = 0.8
    stim_width: float = math.pi / 8
    target_baseline: float = 0.05
    fixation_target: float = 0.8
    fixation_off_input: bool = False
    timing_per_trial: bool = False
    timings: Timings = field(default_factory=lambda: YANG19_TIMINGS, hash=False)
    second_stim_other_modality: bool = False
    target_scales_with_strength: bool = False
    strength_mean_range: tuple[float, float] = (0.8, 1.2)
    dm_coherences: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08)
    delaydm_coherences: tuple[float, ...] = (0.08, 0.16, 0.32)
    mask_ignore_ms: float = 100.0
    mask_grace_ms: float = 100.0
    mask_pre: float = 1.0
    mask_post: float = 5.0
    mask_fixation: float = 2.0
    min_response: float = 0.25
    rules: tuple[str, ...] = RULES
    n_reserved_rules: int = 0
    reserved_rules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.encoding not in ("ring", "lowdim"):
            raise ValueError(f"encoding {self.encoding!r}; expected 'ring' or 'lowdim'")
        if self.dt <= 0 or self.tau <= 0:
            raise ValueError(f"dt and tau must be > 0, got dt={self.dt}, tau={self.tau}")
        if self.n_directions is not None and self.n_directions < 4:
            raise ValueError(f"n_directions must be None or >= 4, got {self.n_directions}")
        for group, epochs in TIMING_EPOCHS.items():
            if group not in self.timings or set(self.timings[group]) != set(epochs):
                raise ValueError(f"timings[{group!r}] must define epochs {epochs}")
        unknown = [r for r in self.rules if r not in RULES]
        if unknown or len(set(self.rules)) != len(self.rules) or not self.rules:
            raise ValueError(f"rules must be distinct names from RULES, got {self.rules!r}")
        object.__setattr__(self, "reserved_rules", tuple(self.reserved_rules))
        held = self.reserved_rules
        if (self.n_reserved_rules < 0 or len(held) > self.n_reserved_rules
                or len(set(held)) != len(held) or any(r not in RULES or r in self.rules
                                                      for r in held)):
            raise ValueError(f"reserved_rules must be at most n_reserved_rules "
                             f"({self.n_reserved_rules}) distinct rules from RULES outside rules "
                             f"{list(self.rules)}, got {held!r}")

    @property
    def alpha(self) -> float:
        """dt / tau."""
        return self.dt / self.tau

    @property
    def noise_std(self) -> float:
        """Input noise s.d. per step, ``sigma_x * sqrt(2 / alpha)`` (Yang et al. 2019)."""
        return self.sigma_x * math.sqrt(2.0 / self.alpha)

    @property
    def n_fixation_inputs(self) -> int:
        """1 (fixation) or 2 (fixation-on, fixation-off)."""
        return 2 if self.fixation_off_input else 1

    @property
    def n_modality_units(self) -> int:
        """Units per stimulus modality (ring: ``n_eachring``; lowdim: 2 = sin, cos)."""
        return self.n_eachring if self.encoding == "ring" else 2

    @property
    def n_rule(self) -> int:
        """Number of one-hot rule units (the rules' cues, then the reserved columns)."""
        return len(self.rules) + self.n_reserved_rules

    @property
    def rule_start(self) -> int:
        """Input index of the first rule unit."""
        return self.n_fixation_inputs + 2 * self.n_modality_units

    @property
    def n_input(self) -> int:
        """Fixation input(s) + two modalities + rule units."""
        return self.rule_start + self.n_rule

    @property
    def n_output(self) -> int:
        """Fixation output + response units (ring or sin/cos)."""
        return 1 + self.n_modality_units

    def rule_index(self, rule: str) -> int:
        """Input index of ``rule``'s one-hot unit (a held-out rule's: its reserved column);
        ValueError if the preset has no unit for it."""
        if rule in self.reserved_rules:
            return self.rule_start + len(self.rules) + self.reserved_rules.index(rule)
        if rule not in self.rules:
            raise ValueError(f"rule {rule!r} has no rule unit in preset {self.name!r} "
                             f"(rules {list(self.rules)}); use config.with_rules(...)")
        return self.rule_start + self.rules.index(rule)

    def with_rules(self, rules: str | Sequence[str]) -> TaskConfig:
        """The same config with rule units for ``rules`` (a rule-set name or a list of rules)."""
        return dataclasses.replace(self, rules=tuple(resolve_rules(rules)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``dataclasses.asdict``: each Duration becomes ``{kind, values}``), as
        stored in a run's ``config.json``; :meth:`from_dict` rebuilds the config."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskConfig:
        """Rebuild a config from :meth:`to_dict`'s form, also after a JSON round trip (lists back
        to tuples). ValueError naming unknown fields or invalid values."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"task config has unknown fields {unknown}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        if "timings" in data:
            kwargs["timings"] = {group: {epoch: Duration(d["kind"], tuple(d["values"]))
                                         for epoch, d in epochs.items()}
                                 for group, epochs in data["timings"].items()}
        return cls(**kwargs)


YANG19 = TaskConfig(name="yang19", encoding="ring")

MPN_LAB = TaskConfig(
    name="mpn_lab",
    encoding="lowdim",
    dt=40.0,
    sigma_x=0.0,
    n_directions=8,
    target_baseline=0.0,
    fixation_target=1.0,
    fixation_off_input=True,
    timing_per_trial=True,
    timings=MPN_LAB_TIMINGS,
    second_stim_other_modality=True,
    target_scales_with_strength=True,
    mask_post=math.sqrt(5.0),
    mask_fixation=math.sqrt(0.5),
    rules=tuple(RULE_SETS["everything"]),
)

PRESETS: dict[str, TaskConfig] = {"yang19": YANG19, "mpn_lab": MPN_LAB}


def get_preset(name: str) -> TaskConfig:
    """The preset called ``name`` (case-insensitive): 'yang19' or 'mpn_lab'."""
    key = name.lower()
    if key not in PRESETS:
        raise ValueError(f"unknown task preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[key]
