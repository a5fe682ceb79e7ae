"""The ``Trials`` container: one batch of trials with inputs, targets, cost mask and parameters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Epoch names every batch carries (absent epochs are ``[-1, -1]``).
EPOCHS: tuple[str, ...] = ("fix1", "stim1", "delay1", "stim2", "delay2", "go")


@dataclass
class Trials:
    """A batch of ``B`` trials of ``T`` steps (time-major, float32).

    Attributes:
        x: ``(T, B, n_in)`` network input.
        y: ``(T, B, n_out)`` target output.
        c_mask: ``(T, B, n_out)`` cost mask; multiplies the error inside the square.
        y_loc: ``(T, B)`` target angle (radians), ``-1`` while the network must fixate.
        rule: ``(B,)`` rule name of each trial.
        epochs: name -> ``(B, 2)`` int ``[start, end)`` step indices; ``go`` ends at the trial's
            last valid step + 1 (later steps are padding with ``c_mask = 0``).
        params: name -> ``(B,)`` trial parameters (stimulus locations, strengths, modalities,
            target, whether to respond, match flag); see :mod:`core.tasks.yang`.
        dt: step size in ms.
    """

    x: np.ndarray
    y: np.ndarray
    c_mask: np.ndarray
    y_loc: np.ndarray
    rule: np.ndarray
    epochs: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    dt: float

    @property
    def batch_size(self) -> int:
        """Number of trials B."""
        return self.x.shape[1]

    @property
    def n_steps(self) -> int:
        """Number of time steps T (the longest trial)."""
        return self.x.shape[0]

    @property
    def n_steps_valid(self) -> np.ndarray:
        """``(B,)`` number of valid (non-padding) steps of each trial."""
        return self.epochs["go"][:, 1].copy()

    @property
    def response_step(self) -> np.ndarray:
        """``(B,)`` step at which the response is read: each trial's last valid step."""
        return self.epochs["go"][:, 1] - 1

    def take(self, index: np.ndarray | Sequence[int]) -> Trials:
        """The trials at ``index`` (1-D integer indices), same ``T``."""
        idx = np.asarray(index, dtype=np.int64)
        return Trials(
            x=self.x[:, idx], y=self.y[:, idx], c_mask=self.c_mask[:, idx],
            y_loc=self.y_loc[:, idx], rule=self.rule[idx],
            epochs={k: v[idx] for k, v in self.epochs.items()},
            params={k: v[idx] for k, v in self.params.items()}, dt=self.dt,
        )

    def to_torch(self, device: str | object = "cpu", noise_std: float = 0.0,
                 generator: object | None = None):
        """``(x, y, c_mask)`` as float32 torch tensors on ``device`` (shapes as the arrays).

        ``noise_std > 0`` adds Gaussian input noise on the device (drawn with the torch
        ``generator``, which must live on ``device``) to every valid step of ``x``: with batches
        generated with ``noise=False`` this is the fast path on a GPU, where drawing
        ``T * B * n_in`` normals costs next to nothing (on a CPU that draw dominates
        :func:`generate_trials`).
        """
        import torch

        x, y, c_mask = (torch.from_numpy(np.ascontiguousarray(a)).to(device)
                        for a in (self.x, self.y, self.c_mask))
        if noise_std > 0:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            valid = torch.arange(self.n_steps, device=x.device)[:, None] < torch.as_tensor(
                self.n_steps_valid, device=x.device)[None]
            x = x + noise_std * noise * valid[:, :, None]
        return x, y, c_mask


def _pad_time(a: np.ndarray, n_steps: int, fill: float) -> np.ndarray:
    if a.shape[0] == n_steps:
        return a
    pad = np.full((n_steps - a.shape[0],) + a.shape[1:], fill, dtype=a.dtype)
    return np.concatenate([a, pad], axis=0)


def concat(batches: Sequence[Trials]) -> Trials:
    """Concatenate batches along the trial axis, padding each to the longest ``T``.

    Padding steps have ``x = y = c_mask = 0`` and ``y_loc = -1``, so they cost nothing and
    :attr:`Trials.response_step` still points at each trial's own last step. All batches must share
    ``dt``, the input/output sizes and the parameter names.
    """
    if not batches:
        raise ValueError("concat needs at least one Trials batch")
    first = batches[0]
    for b in batches[1:]:
        if b.dt != first.dt or b.x.shape[2] != first.x.shape[2] or b.y.shape[2] != first.y.shape[2]:
            raise ValueError("concat: batches differ in dt or input/output size")
        if set(b.params) != set(first.params) or set(b.epochs) != set(first.epochs):
            raise ValueError("concat: batches differ in parameter or epoch names")
    n_steps = max(b.n_steps for b in batches)
    return Trials(
        x=np.concatenate([_pad_time(b.x, n_steps, 0.0) for b in batches], axis=1),
        y=np.concatenate([_pad_time(b.y, n_steps, 0.0) for b in batches], axis=1),
        c_mask=np.concatenate([_pad_time(b.c_mask, n_steps, 0.0) for b in batches], axis=1),
        y_loc=np.concatenate([_pad_time(b.y_loc, n_steps, -1.0) for b in batches], axis=1),
        rule=np.concatenate([b.rule for b in batches]),
        epochs={k: np.concatenate([b.epochs[k] for b in batches]) for k in first.epochs},
        params={k: np.concatenate([b.params[k] for b in batches]) for k in first.params},
        dt=first.dt,
    )
