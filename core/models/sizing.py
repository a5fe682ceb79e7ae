"""Networks of equal size: count trainable parameters and choose sizes that match a target.

Comparisons of network kinds (the MPN lab's ``flex_task``) should hold the number of trainable
parameters fixed. The counts here are taken from built models (``requires_grad`` parameters),
never from a formula, so a default such as the MPN's embedding size cannot silently break the
match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn


def count_trainable(model: nn.Module) -> int:
    """Number of trainable scalars (``requires_grad`` parameters) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def match_count(count: Callable[[int], int], target: int, low: int = 1,
                high: int | None = None) -> tuple[int, int]:
    """The integer ``v`` in ``[low, high]`` whose ``count(v)`` (non-decreasing in ``v``) is
    closest to ``target`` (ties: the smaller ``v``), found by bisection; returns ``(v, count(v))``.
    Without ``high`` the range doubles from ``low`` until ``count`` reaches ``target``.
    ValueError if ``low > high``, ``low < 1`` or ``target < 1``."""
    if high is None:
        high = low
        while count(high) < target:
            high *= 2
    if not 1 <= low <= high or target < 1:
        raise ValueError(f"need 1 <= low <= high and target >= 1, got {low}, {high}, {target}")
    lo, hi = low, high
    while lo < hi:  # smallest v with count(v) >= target (or high)
        mid = (lo + hi) // 2
        if count(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    candidates = [v for v in (lo - 1, lo) if low <= v <= high]
    best = min(candidates, key=lambda v: (abs(count(v) - target), v))
    return best, count(best)


def match_mpn_size(config: Mapping[str, Any], target: int) -> tuple[dict[str, Any], int]:
    """An MPN config (``core.models.mpn.MPNConfig`` fields) with ``target`` trainable parameters
    as nearly as its integer sizes allow: first ``n_hidden = n_embed`` (the input embedding as
    wide as the plastic layer), then ``n_embed`` alone at that width and one unit either side.
    Returns ``(config, count)``; the error is at most half the cost of one embedding unit
    (``n_in + n_hidden`` parameters)."""
    from core.models.mpn import DeepMultiPlasticNet, MPNConfig

    def build(n_hidden: int, n_embed: int) -> int:
        return count_trainable(DeepMultiPlasticNet(
            MPNConfig(**{**config, "n_hidden": n_hidden, "n_embed": n_embed})))

    width, _ = match_count(lambda n: build(n, n), target)
    best: tuple[int, int, int] | None = None
    for n_hidden in (width - 1, width, width + 1):
        if n_hidden < 1:
            continue
        n_embed, n = match_count(lambda e, h=n_hidden: build(h, e), target)
        if best is None or abs(n - target) < abs(best[2] - target):
            best = (n_hidden, n_embed, n)
    n_hidden, n_embed, n = best
    return {**config, "n_hidden": n_hidden, "n_embed": n_embed}, n
