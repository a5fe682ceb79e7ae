"""How the plastic matrix M of an MPN acts on each input channel.

For an MPN (:mod:`core.models.mpn`, Aitken & Mihalas 2023) with input embedding ``x_t =
f(W_in u_t)`` and plastic layer ``h_t = f((W + W ⊙ M_t) x_t + b)``:

- :func:`input_contributions` (cancellation): the current each input group (fixation, stimulus,
  each rule cue; plus the bias) sends through ``W ⊙ (1 + M_t)``, linearised at the embedding:
  ``c_g(t) = (W ⊙ (1 + M_t)) W_in[:, g] u_t[g]``, and its projection through the readout
  ``W_out c_g(t)`` along the trial (the bias as ``W_out b``). Inputs whose projections have
  opposite signs on an output cancel there. The linearisation ignores the embedding's
  nonlinearity ``f``: it is the contribution each input would make through a linear embedding
  (the MPN lab's cancellation analysis reads the same products,
  AllenInstitute/MultiTaskMPN ``two_task/two_task_analysis.py``).
- :func:`channel_modulation`: ``‖M_t W_in[:, c]‖₂`` over hidden units for each raw input
  channel ``c`` (the modulation M applies to that channel's embedding direction), mean and
  s.d. over trials at each step (the lab's ``modulation_magnitude_by_component``).
- :func:`input_weight_geometry`: Gram ``W_inᵀ W_in`` and cosine matrices of the embedding's
  input columns.

M is recorded per chunk of trials (``(T, chunk, N, n_pre)`` at a time), so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch

from core.analysis.state_space import run_model
from core.tasks import TaskConfig, Trials

__all__ = ["input_groups", "input_channel_names", "input_contributions", "channel_modulation",
           "input_weight_geometry"]


def _require_mpn(model: torch.nn.Module) -> None:
    if type(model).__name__ != "DeepMultiPlasticNet" or model.w_in is None:
        raise ValueError(f"this analysis needs an MPN with an input layer, got "
                         f"{type(model).__name__}")


def input_groups(config: TaskConfig, rules: Sequence[str]) -> dict[str, np.ndarray]:
    """``{"fixation", "stimulus", "rule:<name>" ...: input columns}`` of a task config."""
    groups = {"fixation": np.arange(config.n_fixation_inputs),
              "stimulus": np.arange(config.n_fixation_inputs, config.rule_start)}
    groups.update({f"rule:{r}": np.array([config.rule_index(r)]) for r in rules})
    return groups


def input_channel_names(config: TaskConfig) -> tuple[list[str], list[str]]:
    """``(names, groups)`` of every input channel: e.g. ``fix``, ``mod1 sin`` ..., ``rule:delaygo``
    and their group (``fixation``, ``stimulus`` or ``rule:<name>``)."""
    fixation = ["fix", "fix off"][:config.n_fixation_inputs]
    units = (["sin", "cos"] if config.encoding == "lowdim"
             else [str(i) for i in range(config.n_modality_units)])
    stimulus = [f"mod{m} {u}" for m in (1, 2) for u in units]
    rules = [f"rule:{r}" for r in config.rules]
    return (fixation + stimulus + rules,
            ["fixation"] * len(fixation) + ["stimulus"] * len(stimulus) + rules)


def _m_chunks(model: torch.nn.Module, x: np.ndarray, chunk: int
              ) -> Iterator[tuple[slice, np.ndarray]]:
    """``(trial slice, M (T, b, N, n_pre))`` for chunks of ``chunk`` trials."""
    for lo in range(0, x.shape[1], chunk):
        cols = slice(lo, min(lo + chunk, x.shape[1]))
        _, states = run_model(model, x[:, cols], track_states=True)
        yield cols, states["M"].astype(np.float64)


def input_contributions(model: torch.nn.Module, trials: Trials,
                        groups: Mapping[str, Sequence[int]], chunk: int = 8
                        ) -> dict[str, np.ndarray]:
    """Readout projection of each input group's current through ``W ⊙ (1 + M_t)``.

    Returns ``groups (G + 1,)`` (the groups, then ``bias``), ``projection (T, G + 1, n_out)``
    (mean over trials; the bias row is constant) and ``current_norm (T, G + 1)`` (mean over
    trials of ``‖c_g(t)‖₂``).
    """
    _require_mpn(model)
    weight = model.layers[-1].W.detach().double().numpy()
    w_in = model.w_in.weight.detach().double().numpy()
    w_out = model.readout.weight.detach().double().numpy()
    bias = model.layers[-1].b
    bias = np.zeros(weight.shape[0]) if bias is None else bias.detach().double().numpy()
    names = list(groups)
    t, b = trials.n_steps, trials.batch_size
    proj = np.zeros((t, len(names) + 1, w_out.shape[0]))
    norm = np.zeros((t, len(names) + 1))
    x = trials.x.astype(np.float64)
    for cols, m in _m_chunks(model, trials.x, chunk):
        w_eff = weight * (1.0 + m)  # (T, b, N, n_pre)
        for g, name in enumerate(names):
            idx = np.asarray(groups[name])
            drive = np.einsum("ec,tbc->tbe", w_in[:, idx], x[:, cols][:, :, idx])
            current = np.einsum("tbne,tbe->tbn", w_eff, drive)
            proj[:, g] += np.einsum("on,tbn->to", w_out, current)
            norm[:, g] += np.linalg.norm(current, axis=2).sum(axis=1)
    proj[:, :-1] /= b
    norm[:, :-1] /= b
    proj[:, -1] = w_out @ bias
    norm[:, -1] = np.linalg.norm(bias)
    return {"groups": np.asarray(names + ["bias"]), "projection": proj, "current_norm": norm}


def channel_modulation(model: torch.nn.Module, trials: Trials, chunk: int = 8
                       ) -> dict[str, np.ndarray]:
    """``‖M_t W_in[:, c]‖₂`` per raw input channel: ``mean``, ``sd`` ``(T, n_in)`` over trials."""
    _require_mpn(model)
    w_in = model.w_in.weight.detach().double().numpy()  # (n_pre, n_in)
    total = np.zeros((trials.n_steps, w_in.shape[1]))
    total_sq = np.zeros_like(total)
    for _, m in _m_chunks(model, trials.x, chunk):
        mag = np.linalg.norm(np.einsum("tbne,ec->tbnc", m, w_in), axis=2)  # (T, b, n_in)
        total += mag.sum(axis=1)
        total_sq += (mag ** 2).sum(axis=1)
    n = trials.batch_size
    mean = total / n
    return {"mean": mean, "sd": np.sqrt(np.maximum(total_sq / n - mean ** 2, 0.0))}


def input_weight_geometry(w_in: np.ndarray) -> dict[str, np.ndarray]:
    """Gram ``W_inᵀ W_in`` and cosine matrices ``(n_in, n_in)`` of the columns of
    ``w_in (n_embed, n_in)``, and the column norms ``(n_in,)`` (cosine 0 for a zero column)."""
    w = np.asarray(w_in, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"w_in must be (n_embed, n_in), got shape {w.shape}")
    gram = w.T @ w
    norms = np.sqrt(np.diag(gram))
    safe = np.where(norms > 0, norms, 1.0)
    cosine = gram / np.outer(safe, safe) * np.outer(norms > 0, norms > 0)
    return {"gram": gram, "cosine": cosine, "norms": norms}
