"""The 20 rules of Yang et al. (2019), built from three declarative families.

Yang, Joglekar, Song, Newsome & Wang (2019), *Task representations in neural networks trained to
perform many cognitive tasks*, Nat. Neurosci. 22:297 (Methods; public code gyyang/multitask).

A rule is a :class:`RuleSpec` (data): its family (``reach`` go/anti; ``decision`` dm / context
dm / multi-sensory dm, with or without delay; ``match`` DMS/DMC go/no-go), its timing group and
a few flags. :func:`generate_trials` draws a batch in three vectorised stages, none of which loops
over trials: stimulus parameters (random, test grid or explicit), the rule's target (one pure
function per family, :func:`rule_target`), and the rendering of inputs, targets and cost mask.

Differences from the reference code, on purpose:

* every random draw comes from the ``numpy.random.Generator`` passed in (the reference's multi-
  sensory DM split draws from the global ``np.random``); the input noise is float32 from torch's
  CPU sampler seeded by that Generator (:mod:`core.tasks.noise`), not float64 ``randn``;
* stimulus modalities of reach and match rules are drawn per trial, not once per batch (same
  marginal distribution per trial);
* in DMS psychometric mode a match is a circular distance below 5 degrees (as in the reference);
  in random mode matches are exact and non-matches at least 20 degrees away.

Returned ``Trials.params`` (every rule has every key, so mixed batches concatenate):
``stim1_loc``, ``stim2_loc`` (radians, NaN if absent); ``stim1_mod``, ``stim2_mod`` (1, 2,
3 = both modalities, 0 = absent); ``stim{1,2}_mod{1,2}_strength`` (0 where not shown);
``target_loc`` (NaN on no-go trials); ``target_strength``; ``respond`` (bool); ``match`` (1/0,
-1 for non-match rules).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.tasks.config import TEST_TIMINGS, TIMING_EPOCHS, Duration, TaskConfig
from core.tasks.noise import start_gaussian_noise
from core.tasks.rulesets import RULES
from core.tasks.trials import EPOCHS, Trials, concat

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class RuleSpec:
    """Declarative description of one rule.

    family: 'reach' (respond to the stimulus, or its opposite when ``anti``), 'decision' (respond
    to the stronger of two stimuli) or 'match' (respond to the second stimulus depending on whether
    it matches the first). ``timing``: key into the config's timing groups. ``modality``: the
    stimulus modality of single-modality DM, or the attended one of context DM. ``stimuli``:
    'single', 'context' (both modalities, attend ``modality``) or 'multi' (sum both). ``category``:
    DMC (category match, category boundary at pi) instead of DMS. ``nogo``: respond on non-match.
    """

    family: Literal["reach", "decision", "match"]
    timing: str
    anti: bool = False
    modality: int = 1
    stimuli: Literal["single", "context", "multi"] = "single"
    category: bool = False
    nogo: bool = False


def _decision(timing: str, stimuli: str, modality: int = 1) -> RuleSpec:
    return RuleSpec("decision", timing, modality=modality, stimuli=stimuli)


RULE_SPECS: dict[str, RuleSpec] = {
    "fdgo": RuleSpec("reach", "fd"),
    "reactgo": RuleSpec("reach", "react"),
    "delaygo": RuleSpec("reach", "delay"),
    "fdanti": RuleSpec("reach", "fd", anti=True),
    "reactanti": RuleSpec("reach", "react", anti=True),
    "delayanti": RuleSpec("reach", "delay", anti=True),
    "dm1": _decision("dm", "single", 1),
    "dm2": _decision("dm", "single", 2),
    "contextdm1": _decision("dm", "context", 1),
    "contextdm2": _decision("dm", "context", 2),
    "multidm": _decision("dm", "multi"),
    "delaydm1": _decision("delaydm", "single", 1),
    "delaydm2": _decision("delaydm", "single", 2),
    "contextdelaydm1": _decision("delaydm", "context", 1),
    "contextdelaydm2": _decision("delaydm", "context", 2),
    "multidelaydm": _decision("delaydm", "multi"),
    "dmsgo": RuleSpec("match", "dms"),
    "dmsnogo": RuleSpec("match", "dms", nogo=True),
    "dmcgo": RuleSpec("match", "dmc", category=True),
    "dmcnogo": RuleSpec("match", "dmc", category=True, nogo=True),
}
assert tuple(RULE_SPECS) == RULES

#: Where each stimulus is shown, per timing group: (first epoch, last epoch) inclusive, or
#: (first epoch, None) = until the trial's end.
STIMULUS_WINDOWS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "fd": (("stim1", None),),
    "react": (("go", None),),
    "delay": (("stim1", "stim1"),),
    "dm": (("stim1", "stim1"), ("stim1", "stim1")),
    "delaydm": (("stim1", "stim1"), ("stim2", "stim2")),
    "dms": (("stim1", "stim1"), ("go", None)),
    "dmc": (("stim1", "stim1"), ("go", None)),
}

#: Timing groups whose fixation input stays on for the whole trial (the stimulus is the go cue).
FIXATION_STAYS_ON = frozenset({"react", "dms", "dmc"})

#: Fixed DMS non-match distance range (radians): 20 to 340 degrees (Yang et al. 2019).
DMS_NONMATCH_RANGE = (math.pi / 9, 17 * math.pi / 9)
#: Stimulus separation in two-stimulus decision rules (radians): 90 to 270 degrees.
DM_SEPARATION_RANGE = (0.5 * math.pi, 1.5 * math.pi)
#: Psychometric-mode DMS match tolerance (radians), 5 degrees.
DMS_MATCH_TOLERANCE = math.pi / 36

PARAM_KEYS: tuple[str, ...] = (
    "stim1_loc", "stim2_loc", "stim1_mod", "stim2_mod",
    "stim1_mod1_strength", "stim1_mod2_strength", "stim2_mod1_strength", "stim2_mod2_strength",
    "target_loc", "target_strength", "respond", "match",
)


#: Stimulus keys accepted in psychometric mode (plus ``<epoch>_ms`` durations).
PSYCHOMETRIC_KEYS = frozenset({
    "stim1_loc", "stim2_loc", "stim1_mod", "stim2_mod", "stim1_strength", "stim2_strength",
    "stim1_mod1_strength", "stim1_mod2_strength", "stim2_mod1_strength", "stim2_mod2_strength",
})


def circular_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise distance on the circle, in ``[0, pi]``."""
    d = np.abs(np.asarray(a) - np.asarray(b)) % TWO_PI
    return np.minimum(d, TWO_PI - d)


# --------------------------------------------------------------------------- stimulus parameters
@dataclass
class _Stimuli:
    """Stimulus parameters of a batch: ``loc (2, B)`` (NaN absent) and ``strength (2, 2, B)``
    indexed [stimulus, modality, trial]."""

    loc: np.ndarray
    strength: np.ndarray


def _angles(rng: np.random.Generator, config: TaskConfig, size: int) -> np.ndarray:
    """Uniform angles on [0, 2pi), or on ``config.n_directions`` equally spaced directions."""
    if config.n_directions is None:
        return rng.uniform(0.0, TWO_PI, size)
    return rng.integers(0, config.n_directions, size) * (TWO_PI / config.n_directions)


def _offsets(rng: np.random.Generator, config: TaskConfig, size: int,
             low: float, high: float) -> np.ndarray:
    """Signed angular offsets with magnitude uniform on ``[low, high]``.

    With a direction grid, the offsets are whole grid steps distributed as if a continuous
    offset and a continuous first angle had both been rounded to the grid (as the MPN lab's
    generator does): step ``k`` has weight ``∫ max(0, 1 - |d/h - k|) dd`` over ``d`` in
    ``[low, high]`` (``h`` the step). Zero offsets are left out: a DMS non-match is never the
    same direction (the lab's rounding makes about 2 % of its DMS trials such contradictory
    non-matches).
    """
    sign = rng.choice(np.array([-1.0, 1.0]), size)
    if config.n_directions is None:
        return rng.uniform(low, high, size) * sign
    step = TWO_PI / config.n_directions
    ks = np.arange(1, config.n_directions)
    return rng.choice(ks, size, p=rounded_offset_weights(ks, low / step, high / step)) \
        * step * sign


def rounded_offset_weights(ks: np.ndarray, low: float, high: float) -> np.ndarray:
    """Probabilities of the grid steps ``ks`` when an offset uniform on ``[low, high]`` (in grid
    steps) and a uniform starting angle are both rounded to the grid (normalised over ``ks``)."""

    def cdf(u: np.ndarray) -> np.ndarray:  # integral of the triangle max(0, 1 - |t|) up to u
        u = np.clip(u, -1.0, 1.0)
        return np.where(u < 0, (u + 1) ** 2 / 2, 1 - (1 - u) ** 2 / 2)

    w = cdf(high - ks) - cdf(low - ks)
    return w / w.sum()


def _category_grid(config: TaskConfig, n: int | None = None) -> np.ndarray:
    """DMC stimulus locations.

    Yang et al. (2019): 0.1pi, 0.3pi, ..., 1.9pi, none on the category boundary (0 or pi). With a
    direction grid, the grid itself, as in the MPN lab's generator: 0 falls in the first category
    (location < pi) and pi in the second. ``n`` (even) overrides the number of locations.
    """
    if config.n_directions is not None:
        n = n or config.n_directions
        return np.arange(n) * (TWO_PI / n)
    n = n or 10
    return (np.arange(n) + 0.5) * (TWO_PI / n)


def _paired_strengths(rng: np.random.Generator, config: TaskConfig, size: int,
                      coherences: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Two stimulus strengths ``mean +- coherence`` (Yang et al. 2019): mean ~ U(0.8, 1.2),
    coherence from the rule's set, random sign."""
    mean = rng.uniform(*config.strength_mean_range, size)
    coh = rng.choice(np.asarray(coherences), size) * rng.choice(np.array([-1.0, 1.0]), size)
    return mean + coh, mean - coh


def _place(config: TaskConfig, spec: RuleSpec, loc1: np.ndarray, loc2: np.ndarray | None,
           s1: np.ndarray, s2: np.ndarray | None, mod1: np.ndarray,
           mod2: np.ndarray | None) -> _Stimuli:
    """Put single-modality stimuli with strengths ``s1, s2`` on modalities ``mod1, mod2``."""
    b = loc1.shape[0]
    strength = np.zeros((2, 2, b))
    cols = np.arange(b)
    strength[0, mod1 - 1, cols] = s1
    loc = np.full((2, b), np.nan)
    loc[0] = loc1
    if loc2 is not None:
        if config.second_stim_other_modality:
            mod2 = 3 - mod1
        strength[1, mod2 - 1, cols] = s2
        loc[1] = loc2
    return _Stimuli(loc % TWO_PI, strength)


def _random_stimuli(spec: RuleSpec, config: TaskConfig, b: int,
                    rng: np.random.Generator) -> _Stimuli:
    if spec.family == "reach":
        mod = rng.integers(1, 3, b)
        return _place(config, spec, _angles(rng, config, b), None, np.ones(b), None, mod, None)
    if spec.family == "match":
        if spec.category:
            grid = _category_grid(config)
            loc1, loc2 = rng.choice(grid, b), rng.choice(grid, b)
        else:
            match = rng.integers(0, 2, b)
            loc1 = _angles(rng, config, b)
            loc2 = loc1 + (1 - match) * _offsets(rng, config, b, *DMS_NONMATCH_RANGE)
        mod1, mod2 = rng.integers(1, 3, b), rng.integers(1, 3, b)
        return _place(config, spec, loc1, loc2, np.ones(b), np.ones(b), mod1, mod2)
    loc1 = _angles(rng, config, b)
    loc2 = loc1 + _offsets(rng, config, b, *DM_SEPARATION_RANGE)
    cohs = config.dm_coherences if spec.timing == "dm" else config.delaydm_coherences
    if spec.stimuli == "single":
        s1, s2 = _paired_strengths(rng, config, b, cohs)
        mod = np.full(b, spec.modality)
        return _place(config, spec, loc1, loc2, s1, s2, mod, mod)
    strength = np.zeros((2, 2, b))
    if spec.stimuli == "context":
        strength[0, 0], strength[1, 0] = _paired_strengths(rng, config, b, cohs)
        strength[0, 1], strength[1, 1] = _paired_strengths(rng, config, b, cohs)
    else:  # multi: split each stimulus's strength unevenly over the two modalities
        for k, s in enumerate(_paired_strengths(rng, config, b, cohs)):
            diff = s * rng.uniform(0.2, 0.8, b) * rng.choice(np.array([-1.0, 1.0]), b)
            strength[k, 0], strength[k, 1] = s + diff / 2, s - diff / 2
    return _Stimuli(np.stack([loc1, loc2]) % TWO_PI, strength)


def _test_stimuli(spec: RuleSpec, config: TaskConfig) -> _Stimuli:
    """Fixed condition grids (Yang et al. 2019 test mode): locations x strengths x modalities."""
    n_loc = config.n_directions or 20
    ring = TWO_PI * np.arange(n_loc) / n_loc
    if spec.family == "reach":
        il, im = np.unravel_index(np.arange(n_loc * 2), (n_loc, 2))
        b = il.size
        return _place(config, spec, ring[il], None, np.ones(b), None, im + 1, None)
    if spec.family == "match":
        n_mod2 = 1 if config.second_stim_other_modality else 2
        il, im1, im2 = np.unravel_index(np.arange(n_loc * 2 * n_mod2), (n_loc, 2, n_mod2))
        base = _category_grid(config, n_loc) if spec.category else ring
        loc1 = base[il]
        # every test trial asks for a response: match for go rules, opposite location for no-go
        loc2 = loc1 + (math.pi if spec.nogo else 0.0)
        b = il.size
        return _place(config, spec, loc1, loc2, np.ones(b), np.ones(b), im1 + 1, im2 + 1)
    levels = np.arange(5) / 5
    if spec.stimuli == "single":
        il, i1 = np.unravel_index(np.arange(n_loc * 5), (n_loc, 5))
        s1 = (0.8 + 0.4 * levels[i1]) if spec.timing == "dm" else (0.5 + 1.0 * levels[i1])
        mod = np.full(il.size, spec.modality)
        return _place(config, spec, ring[il], ring[il] + math.pi, s1, 2 - s1, mod, mod)
    il, i1, i2 = np.unravel_index(np.arange(n_loc * 25), (n_loc, 5, 5))
    strength = np.zeros((2, 2, il.size))
    strength[0, 0] = 0.8 + 0.4 * levels[i1]
    strength[0, 1] = 0.8 + 0.4 * levels[i2]
    strength[1] = 2 - strength[0]
    return _Stimuli(np.stack([ring[il], ring[il] + math.pi]) % TWO_PI, strength)


def _psychometric_stimuli(spec: RuleSpec, config: TaskConfig,
                          params: Mapping[str, np.ndarray]) -> _Stimuli:
    """Explicit stimuli. Keys: ``stim1_loc`` (+ ``stim2_loc`` for two-stimulus rules); reach and
    match rules take optional ``stim1_mod`` / ``stim2_mod`` (default 1); single-modality DM takes
    ``stim1_strength``, ``stim2_strength``; context/multi DM take ``stim{1,2}_mod{1,2}_strength``.
    """
    def arr(key: str, default: float | None = None) -> np.ndarray:
        if key in params:
            return np.atleast_1d(np.asarray(params[key], dtype=float))
        if default is None:
            raise ValueError(f"psychometric params for a {spec.family}/{spec.stimuli} rule need "
                             f"{key!r}; got {sorted(params)}")
        return np.full(b, default)

    loc1 = arr("stim1_loc")
    b = loc1.size
    if spec.family == "reach":
        return _place(config, spec, loc1, None, arr("stim1_strength", 1.0), None,
                      arr("stim1_mod", 1).astype(int), None)
    loc2 = arr("stim2_loc")
    if spec.family == "match":
        return _place(config, spec, loc1, loc2, np.ones(b), np.ones(b),
                      arr("stim1_mod", 1).astype(int), arr("stim2_mod", 1).astype(int))
    if spec.stimuli == "single":
        mod = np.full(b, spec.modality)
        return _place(config, spec, loc1, loc2, arr("stim1_strength"), arr("stim2_strength"),
                      mod, mod)
    strength = np.stack([[arr("stim1_mod1_strength"), arr("stim1_mod2_strength")],
                         [arr("stim2_mod1_strength"), arr("stim2_mod2_strength")]])
    return _Stimuli(np.stack([loc1, loc2]) % TWO_PI, strength)


# --------------------------------------------------------------------------------- rule logic
def rule_target(spec: RuleSpec, loc: np.ndarray, strength: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rule's answer from the stimuli (Yang et al. 2019).

    Args:
        loc: ``(2, B)`` stimulus locations (radians; row 1 NaN for one-stimulus rules).
        strength: ``(2, 2, B)`` strengths [stimulus, modality, trial].

    Returns:
        ``target_loc (B,)`` (NaN when not responding), ``target_strength (B,)``,
        ``respond (B,)`` bool, ``match (B,)`` int8 (1/0; -1 for non-match rules).
    """
    b = loc.shape[1]
    no_match = np.full(b, -1, dtype=np.int8)
    if spec.family == "reach":
        target = (loc[0] + (math.pi if spec.anti else 0.0)) % TWO_PI
        return target, strength[0].sum(0), np.ones(b, dtype=bool), no_match
    if spec.family == "decision":
        if spec.stimuli == "context":
            evidence = strength[:, spec.modality - 1]
            n_mod = 1
        else:  # single: each stimulus lies on one modality; multi: sum over both
            evidence = strength.sum(1)
            n_mod = 2 if spec.stimuli == "multi" else 1
        first = evidence[0] > evidence[1]  # ties go to stimulus 2, as in the reference
        target = np.where(first, loc[0], loc[1])
        return target, np.where(first, evidence[0], evidence[1]) / n_mod, np.ones(b, bool), no_match
    if spec.category:
        match = (loc[0] < math.pi) == (loc[1] < math.pi)
    else:
        match = circular_distance(loc[0], loc[1]) < DMS_MATCH_TOLERANCE
    respond = match != spec.nogo
    target = np.where(respond, loc[1], np.nan)
    return target, np.where(respond, strength[1].sum(0), 0.0), respond, match.astype(np.int8)


# ----------------------------------------------------------------------------------- timing
#: Epoch names a long test set can stretch -> the epoch they stretch. In rules with two stimuli
#: or delays, the first one (``stim1``, ``delay1``); the response is ``go``.
LONG_EPOCHS: dict[str, str] = {"fixation": "fix1", "stimulus": "stim1", "delay": "delay1",
                               "response": "go"}
#: Duration of a stretched epoch in the MPN lab's long test sets (ms): 250 steps at dt 40 ms.
LONG_EPOCH_MS = 10_000.0


def _draw_ms(dist: Duration, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` durations (ms) drawn from ``dist``."""
    if dist.kind == "uniform":
        return rng.uniform(dist.values[0], dist.values[1], size)
    if dist.kind == "choice":
        return rng.choice(np.asarray(dist.values), size)
    return np.full(size, dist.values[0])


def _epoch_steps(spec: RuleSpec, config: TaskConfig, b: int, rng: np.random.Generator,
                 mode: str, params: Mapping[str, np.ndarray] | None,
                 timing: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """Per-trial duration in steps of each epoch of the rule's timing group (``floor(ms / dt)``).

    ``timing`` (ms per epoch, one value for the batch) overrides the drawn or test durations.
    """
    steps = {}
    for epoch in TIMING_EPOCHS[spec.timing]:
        if timing is not None and epoch in timing:
            ms = np.asarray(float(timing[epoch]))
            if ms < 0:
                raise ValueError(f"timing[{epoch!r}] must be >= 0 ms, got {float(ms)}")
        elif mode == "random":
            dist = config.timings[spec.timing][epoch]
            ms = _draw_ms(dist, b if config.timing_per_trial else 1, rng)
        else:
            ms = np.asarray((params or {}).get(f"{epoch}_ms", TEST_TIMINGS[spec.timing][epoch]),
                            dtype=float)
            if np.any(ms < 0):
                raise ValueError(f"{epoch}_ms must be >= 0, got {ms}")
        steps[epoch] = np.broadcast_to((ms / config.dt + 1e-9).astype(np.int64), (b,))
    return steps


# -------------------------------------------------------------------------------- rendering
def encode_angle(config: TaskConfig, loc: np.ndarray) -> np.ndarray:
    """Unit-strength population code of angles ``loc (B,)`` -> ``(B, n_modality_units)``.

    ring: ``amp * exp(-0.5 * (d / width)^2)`` with d the circular distance to each unit's preferred
    angle ``2 pi i / n_eachring`` (Yang et al. 2019); lowdim: ``(sin, cos)``.
    """
    loc = np.asarray(loc, dtype=np.float64)
    if config.encoding == "lowdim":
        return np.stack([np.sin(loc), np.cos(loc)], axis=-1)
    return ring_code(loc, config.n_eachring, config.stim_width, config.stim_amplitude)


def ring_code(loc: np.ndarray, n_units: int, width: float, amplitude: float) -> np.ndarray:
    """Gaussian bumps ``amplitude * exp(-0.5 (d / width)^2)`` on a ring of ``n_units`` units.

    ``d`` is the circular distance from ``loc (B,)`` (radians) to each unit's preferred angle
    ``2 pi i / n_units``; returns ``(B, n_units)``.
    """
    pref = TWO_PI * np.arange(n_units) / n_units
    d = circular_distance(np.asarray(loc, dtype=np.float64)[:, None], pref[None, :]) / width
    return amplitude * np.exp(-0.5 * d * d)


def _add_window(arr: np.ndarray, cols: slice, on: np.ndarray, off: np.ndarray,
                pattern: np.ndarray) -> None:
    """``arr[t, i, cols] += pattern[i]`` for ``on[i] <= t < off[i]`` (vectorised over trials)."""
    lo, hi = int(on.min()), int(off.max())
    if hi <= lo:
        return
    pattern = pattern.astype(np.float32)
    if np.all(on == lo) and np.all(off == hi):  # shared window (per-batch timing)
        arr[lo:hi, :, cols] += pattern[None]
        return
    t = np.arange(lo, hi)[:, None]
    active = (t >= on[None]) & (t < off[None])
    arr[lo:hi, :, cols] += active[:, :, None] * pattern[None]


def _render(rule: str, spec: RuleSpec, config: TaskConfig, stim: _Stimuli,
            durations: dict[str, np.ndarray], noise: bool, rng: np.random.Generator) -> Trials:
    b = stim.loc.shape[1]
    order = TIMING_EPOCHS[spec.timing]
    starts, t0 = {}, np.zeros(b, dtype=np.int64)
    for epoch in order:
        starts[epoch] = t0
        t0 = t0 + durations[epoch]
    end = t0
    if np.any(durations["go"] <= 0):
        raise ValueError("the response epoch must last at least one step")
    n_steps = int(end.max())
    epochs = {name: np.full((b, 2), -1, dtype=np.int64) for name in EPOCHS}
    for epoch in order:
        epochs[epoch][:, 0] = starts[epoch]
        epochs[epoch][:, 1] = starts[epoch] + durations[epoch]

    t = np.arange(n_steps)[:, None]
    valid = t < end[None]
    go_on = starts["go"]
    ragged = bool(np.any(end != n_steps))
    shape = (n_steps, b, config.n_input)
    # The noise is drawn by other threads while the targets and the cost mask are built; the
    # inputs are then added onto it, so that the largest array is written only once.
    pending = (start_gaussian_noise(rng, shape, config.noise_std)
               if noise and config.noise_std > 0 else None)
    mu = config.n_modality_units
    windows = []
    for k, (ep_on, ep_off) in enumerate(STIMULUS_WINDOWS[spec.timing]):
        code = encode_angle(config, np.nan_to_num(stim.loc[k]))
        pattern = (stim.strength[k].T[:, :, None] * code[:, None, :]).reshape(b, 2 * mu)
        windows.append((starts[ep_on], end if ep_off is None else epochs[ep_off][:, 1], pattern))

    target_loc, target_strength, respond, match = rule_target(spec, stim.loc, stim.strength)
    amp = target_strength if config.target_scales_with_strength else np.ones(b)
    code = encode_angle(config, np.where(respond, target_loc, 0.0)) * (amp * respond)[:, None]
    y = np.empty((n_steps, b, config.n_output), dtype=np.float32)
    responding = (t >= go_on[None]) & respond[None]
    y[:, :, 0] = np.where(responding, config.target_baseline, config.fixation_target)
    y[:, :, 1:] = config.target_baseline
    _add_window(y, slice(1, None), go_on, end, code)
    if ragged:
        y *= valid[:, :, None]
    y_loc = np.where(responding & valid, target_loc[None].astype(np.float32), np.float32(-1.0))

    ignore = int(config.mask_ignore_ms / config.dt + 1e-9)
    grace = int(config.mask_grace_ms / config.dt + 1e-9)
    cost = np.where(t < go_on[None], np.float32(config.mask_pre),
                    np.where(t < (go_on + grace)[None], np.float32(0.0),
                             np.float32(config.mask_post)))
    cost[:ignore] = 0.0
    if ragged:
        cost *= valid
    c_mask = np.empty((n_steps, b, config.n_output), dtype=np.float32)
    c_mask[...] = cost[:, :, None]
    c_mask[:, :, 0] *= np.float32(config.mask_fixation)

    x = pending.result() if pending is not None else np.zeros(shape, dtype=np.float32)
    fix_off = end if spec.timing in FIXATION_STAYS_ON else go_on
    fix_on = t < fix_off[None]
    x[:, :, 0] += fix_on
    if config.fixation_off_input:
        x[:, :, 1] += valid & ~fix_on
    first = config.n_fixation_inputs
    for on, off, pattern in windows:
        _add_window(x, slice(first, first + 2 * mu), on, off, pattern)
    x[:, :, config.rule_index(rule)] += valid
    if ragged:
        x *= valid[:, :, None]

    mods = (stim.strength != 0).astype(np.int8)  # (2, 2, B)
    stim_mod = mods[:, 0] + 2 * mods[:, 1]
    params = {
        "stim1_loc": stim.loc[0], "stim2_loc": stim.loc[1],
        "stim1_mod": stim_mod[0], "stim2_mod": stim_mod[1],
        "stim1_mod1_strength": stim.strength[0, 0], "stim1_mod2_strength": stim.strength[0, 1],
        "stim2_mod1_strength": stim.strength[1, 0], "stim2_mod2_strength": stim.strength[1, 1],
        "target_loc": target_loc, "target_strength": target_strength,
        "respond": respond, "match": match,
    }
    return Trials(x=x, y=y, c_mask=c_mask, y_loc=y_loc.astype(np.float32),
                  rule=np.full(b, rule, dtype=object), epochs=epochs, params=params, dt=config.dt)


def generate_trials(rule: str, config: TaskConfig, batch_size: int | None,
                    rng: np.random.Generator, mode: str = "random",
                    params: Mapping[str, np.ndarray] | None = None, noise: bool = True,
                    timing: Mapping[str, float] | None = None, long_epoch: str | None = None,
                    long_ms: float = LONG_EPOCH_MS) -> Trials:
    """One batch of ``rule`` (Yang et al. 2019) under ``config``.

    Args:
        rule: one of :data:`core.tasks.RULES`, with a rule unit in ``config.rules``.
        config: a :class:`TaskConfig` (e.g. ``YANG19``, ``MPN_LAB``).
        batch_size: number of trials (``random`` mode). In ``test`` mode the grid fixes the size:
            pass None or the grid size; in ``psychometric`` mode the params' length does.
        rng: the only source of randomness (stimuli, timings, input noise).
        mode: ``random`` (training distribution), ``test`` (fixed condition grid and timings) or
            ``psychometric`` (explicit stimuli in ``params``; optional ``<epoch>_ms`` durations,
            scalar or per trial, override the test timings).
        params: stimulus parameters for ``psychometric`` mode (see :func:`_psychometric_stimuli`).
        noise: add input noise ``N(0, config.noise_std^2)`` to every valid input entry.
        timing: ms per epoch of the rule's timing group (e.g. ``{"delay1": 800}``), one value
            for the whole batch, overriding the drawn (random mode), test or ``<epoch>_ms``
            durations of those epochs; the others keep theirs. ValueError for an epoch the rule
            does not have.
        long_epoch: ``test``/``psychometric`` modes only: a long test set (the MPN lab's), the
            named epoch (a key of :data:`LONG_EPOCHS`: fixation, stimulus, delay, response)
            lasts ``long_ms`` (default 10 000 ms) and the other epochs keep their test timing.
            A rule without that epoch (no delay in reaction-time or FD rules, no stimulus epoch
            in reaction-time rules) keeps its test timing.

    Returns:
        :class:`Trials` with ``x (T, B, n_input)``, ``y``/``c_mask (T, B, n_output)``, ...
    """
    if rule not in RULE_SPECS:
        raise ValueError(f"unknown rule {rule!r}; expected one of {list(RULES)}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    config.rule_index(rule)
    spec = RULE_SPECS[rule]
    unknown = sorted(set(timing or {}) - set(TIMING_EPOCHS[spec.timing]))
    if unknown:
        raise ValueError(f"timing names epochs {unknown} that {rule!r} does not have; expected "
                         f"some of {list(TIMING_EPOCHS[spec.timing])}")
    if long_epoch is not None:
        if mode == "random":
            raise ValueError("long_epoch is a test-set option: use mode='test' or 'psychometric'")
        if long_epoch not in LONG_EPOCHS:
            raise ValueError(f"long_epoch {long_epoch!r}; expected one of {list(LONG_EPOCHS)}")
        if LONG_EPOCHS[long_epoch] in TIMING_EPOCHS[spec.timing]:
            timing = {**(timing or {}), LONG_EPOCHS[long_epoch]: float(long_ms)}
    if mode == "random":
        if params is not None:
            raise ValueError("params are only used in mode='psychometric'")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        stim = _random_stimuli(spec, config, int(batch_size), rng)
    elif mode == "test":
        if params is not None:
            raise ValueError("params are only used in mode='psychometric'")
        stim = _test_stimuli(spec, config)
        if batch_size is not None and batch_size != stim.loc.shape[1]:
            raise ValueError(f"test mode of {rule!r} has a fixed grid of {stim.loc.shape[1]} "
                             f"trials; got batch_size={batch_size} (pass None)")
    elif mode == "psychometric":
        if params is None:
            raise ValueError("mode='psychometric' needs params (explicit stimulus parameters)")
        allowed = PSYCHOMETRIC_KEYS | {f"{e}_ms" for e in TIMING_EPOCHS[spec.timing]}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(f"unknown psychometric params {unknown} for {rule!r}; "
                             f"expected some of {sorted(allowed)}")
        stim = _psychometric_stimuli(spec, config, params)
        if batch_size is not None and batch_size != stim.loc.shape[1]:
            raise ValueError(f"batch_size={batch_size} but params describe {stim.loc.shape[1]} "
                             f"trials")
    else:
        raise ValueError(f"unknown mode {mode!r}; expected 'random', 'test' or 'psychometric'")
    durations = _epoch_steps(spec, config, stim.loc.shape[1], rng, mode, params, timing)
    return _render(rule, spec, config, stim, durations, noise, rng)


def same_epochs(rules: Sequence[str]) -> bool:
    """Whether ``rules`` have the same epochs in the same order (so they can share a timing)."""
    return len({TIMING_EPOCHS[RULE_SPECS[r].timing] for r in rules}) <= 1


def generate_aligned_trials(rules: Sequence[str], config: TaskConfig, batch_size: int | None,
                            rng: np.random.Generator, mode: str = "random",
                            params: Mapping[str, np.ndarray] | None = None, noise: bool = True,
                            long_epoch: str | None = None, long_ms: float = LONG_EPOCH_MS
                            ) -> Trials:
    """``batch_size`` trials of each of ``rules`` (concatenated in that order) sharing one epoch
    timing and the same stimulus draws, so states can be compared across rules step by step.

    The rules must have the same epochs in the same order (e.g. delaygo and delayanti; fdgo and
    dm1), else ValueError. The timing is one draw for the whole batch from the first rule's
    distributions (``random`` mode, even with ``config.timing_per_trial``) or the first rule's
    test timing (``test``/``psychometric``, where the first value of a ``<epoch>_ms`` param
    overrides it; ``long_epoch`` as in :func:`generate_trials`).
    Every rule draws its stimuli from a Generator seeded with the same number (taken from
    ``rng``), so rules of one family (e.g. pro and anti) see the same stimuli in the same order
    (with ``noise``, also the same input noise). Other arguments as :func:`generate_trials`.
    """
    rules = list(rules)
    if not rules:
        raise ValueError("generate_aligned_trials needs at least one rule")
    unknown = [r for r in rules if r not in RULE_SPECS]
    if unknown:
        raise ValueError(f"unknown rules {unknown}; expected some of {list(RULES)}")
    if not same_epochs(rules):
        orders = {r: TIMING_EPOCHS[RULE_SPECS[r].timing] for r in rules}
        raise ValueError(f"rules {rules} have different epochs ({orders}); aligned timing needs "
                         "rules with the same epochs")
    group = RULE_SPECS[rules[0]].timing
    if mode == "random":
        timing = {e: float(_draw_ms(config.timings[group][e], 1, rng)[0])
                  for e in TIMING_EPOCHS[group]}
    else:
        timing = {e: float(np.asarray((params or {}).get(f"{e}_ms", ms)).ravel()[0])
                  for e, ms in TEST_TIMINGS[group].items()}
    seed = int(rng.integers(2 ** 63))
    return concat([generate_trials(rule, config, batch_size, np.random.default_rng(seed),
                                   mode=mode, params=params, noise=noise, timing=timing,
                                   long_epoch=long_epoch, long_ms=long_ms)
                   for rule in rules])


def interpolate_rules(rule_a: str, rule_b: str, config: TaskConfig, alphas: Sequence[float],
                      rng: np.random.Generator, batch_size: int | None = None,
                      mode: str = "test", params: Mapping[str, np.ndarray] | None = None,
                      long_epoch: str | None = None, long_ms: float = LONG_EPOCH_MS) -> Trials:
    """Trials whose inputs, targets and cost mask are ``α·(rule A) + (1 − α)·(rule B)``.

    For each ``α`` in ``alphas`` (in [0, 1]) the same ``B`` stimuli and one shared timing
    (:func:`generate_aligned_trials`, noise-free) give ``x = α x_A + (1 − α) x_B`` and likewise
    ``y`` and ``c_mask``: for a pro/anti pair only the rule cue is mixed in the inputs. The
    result holds ``len(alphas) · B`` trials, α-major. α = 1 reproduces rule A's trials and
    α = 0 rule B's exactly. ``rule``, ``y_loc`` and ``params`` are those of the rule with the
    larger weight (A when α ≥ 0.5); ``params`` gains ``alpha`` and ``target_loc_a`` /
    ``target_loc_b`` (the two rules' answers, NaN on no-go trials).
    """
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or np.any((alphas < 0) | (alphas > 1)):
        raise ValueError(f"alphas must be a non-empty list of values in [0, 1], got {alphas}")
    both = generate_aligned_trials([rule_a, rule_b], config, batch_size, rng, mode=mode,
                                   params=params, noise=False, long_epoch=long_epoch,
                                   long_ms=long_ms)
    b = both.batch_size // 2
    a_trials, b_trials = both.take(np.arange(b)), both.take(np.arange(b, 2 * b))
    batches = []
    for alpha in alphas:
        w = np.float32(alpha)
        main = a_trials if alpha >= 0.5 else b_trials
        mix = {k: w * getattr(a_trials, k) + (np.float32(1) - w) * getattr(b_trials, k)
               for k in ("x", "y", "c_mask")}
        batch_params = {**main.params, "alpha": np.full(b, alpha),
                        "target_loc_a": a_trials.params["target_loc"],
                        "target_loc_b": b_trials.params["target_loc"]}
        batches.append(Trials(**mix, y_loc=main.y_loc, rule=main.rule, epochs=main.epochs,
                              params=batch_params, dt=main.dt))
    return concat(batches)


def long_test_sets(rules: Sequence[str], config: TaskConfig, long_ms: float = LONG_EPOCH_MS
                   ) -> dict[str, Trials]:
    """The MPN lab's five stage test sets of ``rules``, noise-free: ``normal`` (the test grid of
    each rule at its test timing) and ``long_<epoch>`` for each epoch of :data:`LONG_EPOCHS`
    (that epoch lasts ``long_ms``).

    Rules with the same epochs share one timing (:func:`generate_aligned_trials`); otherwise
    each rule keeps its own test timing and the batches are padded to the longest. The trials
    of each set are the rules' test grids in the order of ``rules``.
    """
    rules = list(rules)
    aligned = same_epochs(rules)

    def make(long_epoch: str | None) -> Trials:
        if aligned:
            return generate_aligned_trials(rules, config, None, np.random.default_rng(0),
                                           mode="test", noise=False, long_epoch=long_epoch,
                                           long_ms=long_ms)
        return concat([generate_trials(r, config, None, np.random.default_rng(0), mode="test",
                                       noise=False, long_epoch=long_epoch, long_ms=long_ms)
                       for r in rules])

    return {"normal": make(None), **{f"long_{e}": make(e) for e in LONG_EPOCHS}}
