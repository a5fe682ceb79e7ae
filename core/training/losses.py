"""Training losses and regularisers (pure functions of tensors).

Following Yang et al. (2019, Nat. Neurosci., "Task representations in neural networks trained to
perform many cognitive tasks"), the cost mask multiplies the error *inside* the square and every
term is a mean over its elements; weight and activity regularisers are L1 = mean |·| and
L2 = mean (·)² per tensor, summed over weight matrices.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def masked_mse(y_hat: torch.Tensor, y: torch.Tensor, c_mask: torch.Tensor) -> torch.Tensor:
    """``mean(((y_hat - y) * c_mask)²)`` over all elements; inputs ``(T, B, n_out)``."""
    return torch.mean(torch.square((y_hat - y) * c_mask))


def masked_cross_entropy(logits: torch.Tensor, y: torch.Tensor,
                         c_mask: torch.Tensor) -> torch.Tensor:
    """Soft-target cross-entropy over the output units, weighted per time step and trial.

    ``logits, y, c_mask (T, B, n_out)``. The target distribution is ``y`` normalised over the
    outputs; each ``(t, b)`` term is weighted by the mean of ``c_mask`` over outputs and the result
    is the mean over ``(T, B)`` (Yang et al. 2019's ``reduce_mean(c_mask · softmax_xent)``).
    """
    target = y / y.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    xent = -(target * torch.log_softmax(logits, dim=-1)).sum(dim=-1)
    return torch.mean(c_mask.mean(dim=-1) * xent)


OUTPUT_LOSSES = {"mse": masked_mse, "cross_entropy": masked_cross_entropy}


def weight_penalty(params: Iterable[torch.Tensor], l1: float = 0.0, l2: float = 0.0,
                   l2_sum: float = 0.0) -> torch.Tensor:
    """``l1·Σ mean|W| + l2·Σ mean W² + l2_sum·Σ ½ sum W²`` over the given weight tensors.

    ``l2_sum`` is the MPN lab's weight penalty (``reg_lambda``: half the summed squares, so each
    weight's gradient is ``l2_sum·w`` whatever the matrix size); ``l1``/``l2`` average over each
    matrix instead. 0 if every strength is 0.
    """
    params = list(params)
    total = torch.zeros((), device=params[0].device if params else None)
    for w in params:
        if l1:
            total = total + l1 * w.abs().mean()
        if l2:
            total = total + l2 * w.square().mean()
        if l2_sum:
            total = total + 0.5 * l2_sum * w.square().sum()
    return total


def activity_penalty(hidden: torch.Tensor, l1: float = 0.0, l2: float = 0.0) -> torch.Tensor:
    """``l1·mean|h| + l2·mean h²`` of hidden activity ``(T, B, n_hidden)``."""
    total = torch.zeros((), device=hidden.device)
    if l1:
        total = total + l1 * hidden.abs().mean()
    if l2:
        total = total + l2 * hidden.square().mean()
    return total


def weight_matrices(model: torch.nn.Module) -> list[torch.Tensor]:
    """The trainable parameters with at least two dimensions (weight matrices, not biases/η/λ)."""
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
