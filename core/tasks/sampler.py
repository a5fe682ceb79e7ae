"""Rule sampling for multi-task training: fixed or performance-weighted probabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.tasks.config import TaskConfig
from core.tasks.rulesets import resolve_rules
from core.tasks.trials import Trials, concat
from core.tasks.yang import generate_trials


class RuleSampler:
    """Draw rules with fixed probabilities, or adaptively (weaker rules more often).

    Args:
        rules: rule-set name or list of rules.
        probabilities: base probability per rule (same order as ``rules``; normalised); uniform
            if None.
        adaptive: after :meth:`update`, draw rule ``r`` with probability proportional to
            ``base_r * max(1 - accuracy_r, floor)``.
        floor: smallest error weight, so mastered rules are still rehearsed.
        decay: if > 0 (and ``adaptive``), the MPN lab's rule instead: each :meth:`update` adds the
            normalised errors ``e_r = (1 - accuracy_r) / sum(1 - accuracy)`` (uniform when every
            rule is perfect) to a score ``S <- decay * (S + e)``, and rule ``r`` is drawn with
            probability proportional to ``base_r * S_r`` (no floor; uniform before the first
            update).
    """

    def __init__(self, rules: str | Sequence[str], probabilities: Sequence[float] | None = None,
                 adaptive: bool = False, floor: float = 0.05, decay: float = 0.0):
        self.rules = resolve_rules(rules)
        n = len(self.rules)
        base = np.ones(n) if probabilities is None else np.asarray(probabilities, dtype=float)
        if base.shape != (n,) or np.any(base < 0) or base.sum() <= 0:
            raise ValueError(f"probabilities must be {n} non-negative numbers with a positive sum,"
                             f" got {probabilities!r}")
        if not 0 < floor <= 1:
            raise ValueError(f"floor must be in (0, 1], got {floor}")
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.base = base / base.sum()
        self.adaptive = adaptive
        self.floor = floor
        self.decay = decay
        self.accuracy = np.zeros(n)
        self.score = np.zeros(n)

    @property
    def probabilities(self) -> np.ndarray:
        """``(n_rules,)`` current draw probabilities."""
        if not self.adaptive:
            return self.base.copy()
        if self.decay > 0:
            w = self.base * self.score
            return w / w.sum() if w.sum() > 0 else self.base.copy()
        w = self.base * np.maximum(1.0 - self.accuracy, self.floor)
        return w / w.sum()

    def update(self, per_rule_accuracy: Mapping[str, float]) -> None:
        """Record the latest accuracy (0-1) of some rules (used when ``adaptive``)."""
        for rule, acc in per_rule_accuracy.items():
            if rule not in self.rules:
                raise ValueError(f"rule {rule!r} is not sampled by this sampler ({self.rules})")
            if not 0.0 <= acc <= 1.0:
                raise ValueError(f"accuracy of {rule!r} must be in [0, 1], got {acc}")
            self.accuracy[self.rules.index(rule)] = acc
        error = 1.0 - self.accuracy
        total = error.sum()
        normalised = error / total if total > 0 else np.full(len(error), 1.0 / len(error))
        self.score = self.decay * (self.score + normalised)

    def sample(self, rng: np.random.Generator, size: int | None = None,
               among: Sequence[str] | None = None):
        """One rule name (``size=None``) or a ``(size,)`` array of rule names, drawn among all
        rules or, with ``among``, only those (the probabilities renormalised over them;
        ValueError for an unknown rule or none of positive probability)."""
        p = self.probabilities
        if among is not None:
            unknown = sorted(set(among) - set(self.rules))
            if unknown:
                raise ValueError(f"rules {unknown} are not sampled by this sampler")
            p = np.where(np.isin(self.rules, list(among)), p, 0.0)
            if p.sum() <= 0:
                raise ValueError(f"no rule of {list(among)} has a positive probability")
            p = p / p.sum()
        idx = rng.choice(len(self.rules), size=size, p=p)
        if size is None:
            return self.rules[int(idx)]
        return np.asarray(self.rules, dtype=object)[idx]

    def __repr__(self) -> str:
        return f"RuleSampler(rules={self.rules}, adaptive={self.adaptive})"


def generate_mixed_trials(rules_per_trial: Sequence[str], config: TaskConfig,
                          rng: np.random.Generator, noise: bool = True) -> Trials:
    """A batch with one trial per entry of ``rules_per_trial`` (e.g. ``sampler.sample(rng, B)``),
    in that order, padded to the longest trial (see :func:`core.tasks.trials.concat`)."""
    names = np.asarray(rules_per_trial, dtype=object)
    if names.ndim != 1 or names.size == 0:
        raise ValueError("rules_per_trial must be a non-empty 1-D sequence of rule names")
    unique = list(dict.fromkeys(names.tolist()))
    parts, positions = [], []
    for rule in unique:
        where = np.flatnonzero(names == rule)
        parts.append(generate_trials(rule, config, where.size, rng, noise=noise))
        positions.append(where)
    order = np.argsort(np.concatenate(positions), kind="stable")
    return concat(parts).take(order)
