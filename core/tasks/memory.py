"""N-parity and N-DMS memory tasks (Khajehabdollahi, Zeraati et al., ICLR 2024).

Both tasks feed one binary input per time step and ask, at the final step only, a binary question
about the last ``N`` bits; a batch asks it for several ``N`` at once (one readout head per ``N``).

- **N-parity**: bits ~ Bernoulli(p) with ``p ~ U(0, 1)`` drawn per sequence, as the reference
  code does (``generate_binary_sequence`` draws a fresh ``p`` for each sequence); the target is
  the sum of the last ``N`` bits modulo 2.
- **N-DMS** (delayed match-to-sample): bits ~ Bernoulli(0.5); the target is 1 when the first bit
  of the last-``N`` window equals the last bit, i.e. ``x[T-N] == x[T-1]``. "N steps back" counts
  the last bit as step 1, as in the paper and its reference code (``vec[-N] == vec[-1]``).

The sequence length ``T`` is drawn once per batch, uniformly from ``[N_max + 2, 4 N_max + 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MEMORY_TASKS = ("parity", "dms")


@dataclass
class MemoryBatch:
    """One batch of a memory task.

    Attributes:
        x: ``(T, B, 1)`` float32 input bits.
        targets: ``(len(ns), B)`` int64 class labels, row ``i`` answering ``ns[i]``.
        ns: the memory lengths asked, in the order of ``targets``.
        p: ``(B,)`` Bernoulli probability of each sequence.
    """

    x: np.ndarray
    targets: np.ndarray
    ns: tuple[int, ...]
    p: np.ndarray


def parity_targets(bits: np.ndarray, n: int) -> np.ndarray:
    """N-parity labels: sum of the last ``n`` bits mod 2. ``bits (B, T)`` → ``(B,)`` int64."""
    _check_window(bits, n)
    return (bits[:, -n:].sum(axis=1) % 2).astype(np.int64)


def dms_targets(bits: np.ndarray, n: int) -> np.ndarray:
    """N-DMS labels: 1 where ``bits[:, -n] == bits[:, -1]``. ``bits (B, T)`` → ``(B,)`` int64."""
    _check_window(bits, n)
    return (bits[:, -n] == bits[:, -1]).astype(np.int64)


def sequence_length_range(n_max: int) -> tuple[int, int]:
    """Inclusive range ``(N_max + 2, 4 N_max + 1)`` of the per-batch sequence length."""
    if n_max < 1:
        raise ValueError(f"n_max must be >= 1, got {n_max}")
    return n_max + 2, 4 * n_max + 1


def make_memory_batch(task: str, ns: Sequence[int], batch_size: int, rng: np.random.Generator,
                      length: int | None = None) -> MemoryBatch:
    """Draw a batch of ``task`` ("parity" or "dms") answering every ``N`` in ``ns``.

    ``length`` fixes ``T`` (must be ≥ max(ns)); by default it is drawn from
    :func:`sequence_length_range` of ``max(ns)``.
    """
    if task not in MEMORY_TASKS:
        raise ValueError(f"unknown memory task {task!r}; expected one of {MEMORY_TASKS}")
    ns = tuple(int(n) for n in ns)
    if not ns or min(ns) < 1:
        raise ValueError(f"ns must be a non-empty list of N >= 1, got {ns}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if length is None:
        lo, hi = sequence_length_range(max(ns))
        length = int(rng.integers(lo, hi + 1))
    elif length < max(ns):
        raise ValueError(f"length {length} is shorter than the largest N {max(ns)}")
    p = rng.uniform(0.0, 1.0, size=batch_size) if task == "parity" else np.full(batch_size, 0.5)
    bits = (rng.random((batch_size, length)) < p[:, None]).astype(np.int64)
    label_fn = parity_targets if task == "parity" else dms_targets
    targets = np.stack([label_fn(bits, n) for n in ns])
    x = bits.T[:, :, None].astype(np.float32)
    return MemoryBatch(x=x, targets=targets, ns=ns, p=p)


def _check_window(bits: np.ndarray, n: int) -> None:
    if bits.ndim != 2:
        raise ValueError(f"bits must have shape (B, T), got {bits.shape}")
    if not 1 <= n <= bits.shape[1]:
        raise ValueError(f"N must be in [1, T={bits.shape[1]}], got {n}")
