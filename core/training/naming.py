"""Name-coded runs: one function builds a run name, one parses it back.

A run name is ``{task}_seed{seed}_{feature}+hidden{hidden}+batch{batch}{accfeature}``, e.g.
``everything_seed749_L21e4+hidden300+batch128+angle``. The checkpoint folder, config, training
curves and validation outputs of a run all carry this name, so a name alone says what was trained.

- ``task``: the rule set (or single rule) trained on; may contain ``_`` but not ``_seed``.
- ``feature``: the regularisers, as tokens ``L1``/``L2`` (weights) and ``aL1``/``aL2`` (hidden
  activity) each followed by a strength code (``1e4`` = 1e-4, ``25e5`` = 2.5e-4), or ``noreg``;
  then an optional descriptor (the network kind when it is not the default MPN, e.g. ``L21e4gru``).
- ``accfeature``: zero or more ``+word`` suffixes, e.g. ``+angle`` (the accuracy measure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_REGULARISATION = "noreg"
REGULARISER_TOKENS = ("aL1", "aL2", "sL2", "L1", "L2")  # order matters for parsing: longest first
_WORD = r"[A-Za-z0-9.\-]+"
_NAME_RE = re.compile(
    rf"^(?P<task>{_WORD}(?:_{_WORD})*?)_seed(?P<seed>\d+)_(?P<feature>{_WORD})"
    rf"\+hidden(?P<hidden>\d+)\+batch(?P<batch>\d+)(?P<accfeature>(?:\+{_WORD})*)$"
)
_STRENGTH_RE = re.compile(r"(\d+)e(\d+)")
_FEATURE_RE = re.compile(r"(aL1|aL2|sL2|L1|L2)(\d+e\d+)")


@dataclass(frozen=True)
class RunName:
    """The fields of a run name; ``str(run)`` gives the name."""

    task: str
    seed: int
    feature: str
    hidden: int
    batch: int
    accfeature: str = ""

    def __str__(self) -> str:
        return run_name(self.task, self.seed, self.feature, self.hidden, self.batch,
                        self.accfeature)


def run_name(task: str, seed: int, feature: str, hidden: int, batch: int,
             accfeature: str = "") -> str:
    """Build ``{task}_seed{seed}_{feature}+hidden{hidden}+batch{batch}{accfeature}``.

    ValueError naming the bad field when a part would make the name ambiguous (``+`` or ``/`` in
    a field, ``_seed`` inside the task, a negative number, an ``accfeature`` not made of ``+word``).
    """
    for field, value in (("seed", seed), ("hidden", hidden), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"run name: {field} must be a non-negative int, got {value!r}")
    name = f"{task}_seed{seed}_{feature}+hidden{hidden}+batch{batch}{accfeature}"
    parsed = _match(name)
    if parsed is None or parsed != RunName(task, seed, feature, hidden, batch, accfeature):
        raise ValueError(
            f"run name: cannot encode task={task!r}, feature={feature!r}, accfeature={accfeature!r}"
            " unambiguously (letters, digits, '.', '-' only; task may use '_' but not '_seed'; "
            "accfeature is empty or '+word' parts)"
        )
    return name


def parse_run_name(name: str) -> RunName:
    """Split a run name into its fields (inverse of :func:`run_name`); ValueError if malformed."""
    parsed = _match(name)
    if parsed is None:
        raise ValueError(
            f"not a run name: {name!r} (expected "
            "'{task}_seed{seed}_{feature}+hidden{hidden}+batch{batch}{accfeature}')"
        )
    return parsed


def _match(name: str) -> RunName | None:
    m = _NAME_RE.match(name)
    if m is None or "_seed" in m["task"]:
        return None
    return RunName(m["task"], int(m["seed"]), m["feature"], int(m["hidden"]), int(m["batch"]),
                   m["accfeature"])


def format_strength(value: float) -> str:
    """Encode a strength in (0, 10) as ``{mantissa}e{k}`` meaning ``mantissa·10^-k``.

    ``1e-4 -> '1e4'``, ``2.5e-4 -> '25e5'``, ``0.5 -> '5e1'``, ``1 -> '1e0'``. ValueError when the
    value is not positive, not below 10, or needs more than 12 decimal places.
    """
    if not 0 < value < 10:
        raise ValueError(f"regulariser strength must be in (0, 10), got {value!r}")
    for k in range(13):
        mantissa = value * 10**k
        if abs(mantissa - round(mantissa)) <= 1e-9 * mantissa and round(mantissa) >= 1:
            return f"{round(mantissa)}e{k}"
    raise ValueError(f"regulariser strength {value!r} needs more than 12 decimal places")


def parse_strength(code: str) -> float:
    """Decode ``'1e4' -> 1e-4`` (inverse of :func:`format_strength`)."""
    m = _STRENGTH_RE.fullmatch(code)
    if m is None:
        raise ValueError(f"not a strength code: {code!r} (expected e.g. '1e4' for 1e-4)")
    return int(m[1]) / 10 ** int(m[2])


def regulariser_feature(l1: float = 0.0, l2: float = 0.0, act_l1: float = 0.0,
                        act_l2: float = 0.0, l2_sum: float = 0.0) -> str:
    """The ``feature`` part of a run name for these regulariser strengths (zero ones omitted).

    ``regulariser_feature(l2=1e-4) -> 'L21e4'``; all zero gives ``'noreg'``. Tokens: ``L1``/``L2``
    (mean-based weight penalties), ``sL2`` (sum-based weight L2), ``aL1``/``aL2`` (activity).
    """
    parts = [f"{token}{format_strength(value)}"
             for token, value in (("L1", l1), ("L2", l2), ("sL2", l2_sum), ("aL1", act_l1),
                                  ("aL2", act_l2))
             if value != 0]
    return "".join(parts) or NO_REGULARISATION


def parse_regulariser_feature(feature: str) -> tuple[dict[str, float], str]:
    """Split ``feature`` into regulariser strengths and the descriptor that follows them.

    Returns ``({'l1', 'l2', 'l2_sum', 'act_l1', 'act_l2'} (missing ones 0), descriptor)``, e.g.
    ``'L21e4gru' -> ({..., 'l2': 1e-4, ...}, 'gru')``. ValueError unless ``feature`` starts with
    ``noreg`` or a regulariser token.
    """
    keys = {"L1": "l1", "L2": "l2", "sL2": "l2_sum", "aL1": "act_l1", "aL2": "act_l2"}
    out = dict.fromkeys(keys.values(), 0.0)
    if feature.startswith(NO_REGULARISATION):
        return out, feature[len(NO_REGULARISATION):]
    pos = 0
    for m in _FEATURE_RE.finditer(feature):
        if m.start() != pos or out[keys[m[1]]] != 0:
            break
        out[keys[m[1]]] = parse_strength(m[2])
        pos = m.end()
    if pos == 0:
        raise ValueError(
            f"not a regulariser feature: {feature!r} (expected 'noreg' or tokens like 'L21e4', "
            "'L11e5', 'aL21e3', then an optional descriptor)"
        )
    return out, feature[pos:]
