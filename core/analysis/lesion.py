"""Lesions and pruning of trained networks, always on a copy of the model.

- Unit lesions silence units of a population: ``"hidden"`` (every model; the MPN's last
  plastic layer) or ``"input"`` (the MPN's input-embedding units). Two modes:

  - ``mode="activity"`` multiplies the unit's activity by 0 after every step (the models'
    ``hidden_mask`` / MPN ``input_mask``): the unit emits exactly 0.
  - ``mode="weights"`` removes every connection of the unit, static and plastic: an MPN input
    unit loses its ``W_in`` row and the first plastic layer's ``W`` column, with ``M`` frozen
    at zero there (``M_init`` and ``plasticity_mask`` columns zeroed, so that ``W + M`` under
    "add" is zero too, not only ``W + W ⊙ M``); an MPN hidden unit loses its ``W`` row (``M``
    frozen at zero there), bias, readout column and recurrent row and column; a leaky-RNN or
    timescale-RNN unit its input row, bias, recurrent row and column and readout column (every
    head); a GRU/LSTM unit (``GRUNet``, ``TimescaleRNN`` gated cells) its candidate-gate rows
    (``n`` / ``g``: with its state starting at 0 it stays exactly 0), its recurrent column and
    readout column.

  The two modes give the same outputs for every model, activation and plasticity type (tested).
  They differ only in the lesioned unit's own recorded activity where the activation has
  f(0) ≠ 0 (sigmoid, softplus; a leaky unit relaxes towards f(0)): under "weights" the unit
  still fires f(0), but reaches nothing.
- Synapse lesions act on entries of the plastic ``W`` (``n_hidden, n_pre``): ``"weights"``
  removes the connection (``W`` zeroed and ``M`` frozen at zero there), ``"freeze"`` zeroes
  the MPN ``plasticity_mask`` there (removes the plasticity, M stays at its initial value).
- Every cluster lesion is compared with size-matched random lesions of the same population
  (``n_random`` >= 10 repeats); effect = random − cluster accuracy, so a positive effect means
  the cluster matters more than its size alone explains (the MPN lab's convention).
- Pruning removes the lowest-magnitude fraction of the main weight matrix (MPN: plastic ``W``,
  removed as a synapse lesion; leaky RNN: ``W_rec``).
- Summaries of stored lesion results (pure functions of arrays): :func:`size_effect` (cluster
  size against the accuracy drop, with the size-matched random drops), :func:`paired_effects`
  (two lesions of the same clusters, e.g. W zeroed against M frozen) and
  :func:`pair_additivity` (does a pair lesion cost the sum of its two single lesions?), all
  three of a stored ``lesion.h5`` entry by :func:`summarise_lesions`.

The loaded model is never modified: :func:`lesioned_copy` deep-copies it first.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from tqdm.auto import tqdm

from core.analysis.state_space import run_model
from core.tasks import Trials, accuracy

__all__ = [
    "POPULATIONS",
    "Lesion",
    "lesioned_copy",
    "main_weight",
    "evaluate",
    "cluster_lesion_effects",
    "pair_lesion_effects",
    "synapse_lesion_effects",
    "pruning_curve",
    "size_effect",
    "paired_effects",
    "pair_additivity",
    "summarise_lesions",
    "describe_r",
]

POPULATIONS = ("input", "hidden")


@dataclass(frozen=True)
class Lesion:
    """One lesion: ``units`` of a ``population`` (``"input"``/``"hidden"``), or ``synapses``
    (``(n_hidden, n_pre)`` bool) of the plastic ``W``.

    ``mode``: ``"weights"`` or ``"activity"`` for units; ``"weights"`` or ``"freeze"`` for
    synapses.
    """

    population: str
    units: tuple[int, ...] = ()
    synapses: np.ndarray | None = None
    mode: str = "weights"


def _population_size(model: torch.nn.Module, population: str) -> int:
    """Number of units of ``population`` (ValueError where the model has no such population)."""
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")
    if population == "hidden":
        return int(model.config.n_hidden)
    if type(model).__name__ != "DeepMultiPlasticNet" or model.w_in is None:
        raise ValueError(f"{type(model).__name__} has no input-embedding layer to lesion")
    return int(model.config.n_embed)


def _gate_rows(cell: torch.nn.Module, suffix: str = "") -> list[tuple[torch.Tensor, int, int]]:
    """Rows of a torch GRU/LSTM cell's candidate gate (``n`` / ``g``: the third block)."""
    n = cell.hidden_size
    rows = [(getattr(cell, f"{w}{suffix}"), 0, 2 * n)
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return rows + [(getattr(cell, f"weight_hh{suffix}"), 1, 0)]


def _slices(model: torch.nn.Module, population: str) -> list[tuple[torch.Tensor, int, int]]:
    """``(tensor, axis, offset)``: entries ``offset + unit`` along ``axis`` are a unit's
    connections (module docstring)."""
    _population_size(model, population)
    name = type(model).__name__
    if name == "DeepMultiPlasticNet":
        if population == "input":
            first = model.layers[0]
            return [(model.w_in.weight, 0, 0), (first.W, 1, 0), (first.M_init, 1, 0),
                    (first.plasticity_mask, 1, 0)]
        layer = model.layers[-1]
        out = [(layer.W, 0, 0), (layer.M_init, 0, 0), (layer.plasticity_mask, 0, 0),
               (model.readout.weight, 1, 0)]
        if layer.b is not None:
            out.append((layer.b, 0, 0))
        if layer.w_rec is not None:
            out += [(layer.w_rec, 0, 0), (layer.w_rec, 1, 0)]
        return out
    if name == "LeakyRNN":
        return [(model.w_in.weight, 0, 0), (model.w_in.bias, 0, 0), (model.w_rec, 0, 0),
                (model.w_rec, 1, 0), (model.readout.weight, 1, 0)]
    if name == "GRUNet":
        return _gate_rows(model.gru, "_l0") + [(model.readout.weight, 1, 0)]
    if name == "TimescaleRNN":
        heads = [(head.weight, 1, 0) for head in model.readout.values()]
        if model.config.cell != "rnn":
            return _gate_rows(model.cell) + heads
        return [(model.w_in.weight, 0, 0), (model.w_in.bias, 0, 0), (model.w_rec.weight, 0, 0),
                (model.w_rec.weight, 1, 0)] + heads
    raise ValueError(f"no unit lesion known for {name}")


def main_weight(model: torch.nn.Module) -> torch.Tensor:
    """The matrix pruned by :func:`pruning_curve`: MPN plastic ``W``, leaky-RNN ``W_rec``."""
    name = type(model).__name__
    if name == "DeepMultiPlasticNet":
        return model.layers[-1].W
    if name == "LeakyRNN":
        return model.w_rec
    raise ValueError(f"no prunable main weight known for {name}")


def lesioned_copy(model: torch.nn.Module, lesions: Sequence[Lesion] = (),
                  prune_fraction: float = 0.0) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """A lesioned deep copy of ``model`` and the forward keyword arguments it needs.

    Returns ``(copy, forward_kwargs)``; activity lesions come back as ``hidden_mask`` /
    ``input_mask`` in ``forward_kwargs``. ``prune_fraction`` in [0, 1) zeroes that fraction of
    the smallest-magnitude entries of :func:`main_weight`.
    """
    if not 0.0 <= prune_fraction < 1.0:
        raise ValueError(f"prune_fraction must be in [0, 1), got {prune_fraction}")
    lesioned = copy.deepcopy(model)
    kwargs: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for lesion in lesions:
            if lesion.population not in POPULATIONS:
                raise ValueError(f"population must be one of {POPULATIONS}, "
                                 f"got {lesion.population!r}")
            if lesion.synapses is not None:
                _lesion_synapses(lesioned, lesion)
                continue
            size = _population_size(model, lesion.population)
            units = torch.as_tensor(lesion.units, dtype=torch.long)
            if len(units) and not (0 <= int(units.min()) and int(units.max()) < size):
                raise ValueError(f"{lesion.population} units must lie in [0, {size}), "
                                 f"got {lesion.units}")
            if lesion.mode == "activity":
                mask = kwargs.setdefault(f"{lesion.population}_mask", torch.ones(size))
                mask[units] = 0.0
            elif lesion.mode == "weights":
                for tensor, axis, offset in _slices(lesioned, lesion.population):
                    tensor.index_fill_(axis, units + offset, 0.0)
            else:
                raise ValueError(f"unit lesion mode must be 'weights' or 'activity', "
                                 f"got {lesion.mode!r}")
        if prune_fraction > 0:
            weight = main_weight(lesioned)
            k = int(round(prune_fraction * weight.numel()))
            if k > 0:
                cut = torch.zeros(weight.numel(), dtype=torch.bool)
                cut[torch.argsort(weight.abs().flatten())[:k]] = True
                _cut_synapses(lesioned, cut.view(weight.shape))
    return lesioned, kwargs


def _cut_synapses(model: torch.nn.Module, mask: torch.Tensor) -> None:
    """Remove the connections ``mask`` of :func:`main_weight`: for an MPN, W and M (frozen at
    zero) both, so that ``W + M`` (add) and ``W + W ⊙ M`` (mult) are zero there."""
    main_weight(model)[mask] = 0.0
    if type(model).__name__ == "DeepMultiPlasticNet":
        layer = model.layers[-1]
        layer.M_init[mask] = 0.0
        layer.plasticity_mask[mask] = 0.0


def _lesion_synapses(model: torch.nn.Module, lesion: Lesion) -> None:
    if type(model).__name__ != "DeepMultiPlasticNet":
        raise ValueError("synapse lesions need a DeepMultiPlasticNet")
    mask = torch.as_tensor(np.asarray(lesion.synapses, dtype=bool))
    weight = model.layers[-1].W
    if mask.shape != weight.shape:
        raise ValueError(f"synapse mask must have shape {tuple(weight.shape)}, "
                         f"got {tuple(mask.shape)}")
    if lesion.mode == "weights":
        _cut_synapses(model, mask)
    elif lesion.mode == "freeze":
        model.plasticity_mask[mask] = 0.0
    else:
        raise ValueError(f"synapse lesion mode must be 'weights' or 'freeze', got {lesion.mode!r}")


def evaluate(model: torch.nn.Module, trials_by_rule: Mapping[str, Trials], task_config,
             forward_kwargs: Mapping[str, torch.Tensor] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per-rule accuracy ``(R,)`` and cost ``(R,)`` (masked MSE, c_mask inside the square)."""
    acc, cost = [], []
    for trials in trials_by_rule.values():
        y, _ = run_model(model, trials.x, **(forward_kwargs or {}))
        acc.append(float(accuracy(y, trials, task_config).mean()))
        cost.append(float(np.mean((trials.c_mask * (y - trials.y)) ** 2)))
    return np.asarray(acc), np.asarray(cost)


def cluster_lesion_effects(model: torch.nn.Module, clusters: Mapping[str, np.ndarray],
                           population: str, trials_by_rule: Mapping[str, Trials], task_config,
                           mode: str = "weights", n_random: int = 10,
                           rng: np.random.Generator | None = None, progress: bool = False
                           ) -> dict[str, np.ndarray]:
    """Lesion each cluster of ``population`` and size-matched random unit sets.

    Args:
        clusters: ``{name: (n_c,) unit indices}``.
    Returns ``accuracy`` / ``cost`` ``(R, C)`` after each cluster lesion, ``random_accuracy`` /
    ``random_cost`` ``(R, C)`` means over ``n_random`` random lesions of the same size,
    ``effect`` ``(R, C)`` = random − cluster accuracy, ``cost_effect`` = cluster − random cost,
    the intact ``baseline_accuracy`` / ``baseline_cost`` ``(R,)`` and the units per cluster,
    ``sizes`` ``(C,)``.
    """
    if n_random < 1:
        raise ValueError(f"n_random must be >= 1, got {n_random}")
    rng = rng if rng is not None else np.random.default_rng(0)
    n_units = _population_size(model, population)
    base_acc, base_cost = evaluate(model, trials_by_rule, task_config)
    shape = (len(trials_by_rule), len(clusters))
    out = {k: np.zeros(shape) for k in ("accuracy", "cost", "random_accuracy", "random_cost")}
    items = list(clusters.items())
    for j, (_, units) in enumerate(tqdm(items, desc=f"{population} lesions", disable=not progress)):
        units = tuple(int(u) for u in np.asarray(units))
        lesioned, kw = lesioned_copy(model, [Lesion(population, units, mode=mode)])
        out["accuracy"][:, j], out["cost"][:, j] = evaluate(lesioned, trials_by_rule,
                                                            task_config, kw)
        for _ in range(n_random):
            rand = tuple(int(u) for u in rng.choice(n_units, size=len(units), replace=False))
            lesioned, kw = lesioned_copy(model, [Lesion(population, rand, mode=mode)])
            acc, cost = evaluate(lesioned, trials_by_rule, task_config, kw)
            out["random_accuracy"][:, j] += acc / n_random
            out["random_cost"][:, j] += cost / n_random
    out["effect"] = out["random_accuracy"] - out["accuracy"]
    out["cost_effect"] = out["cost"] - out["random_cost"]
    out["baseline_accuracy"], out["baseline_cost"] = base_acc, base_cost
    out["sizes"] = np.asarray([len(np.asarray(units)) for _, units in items])
    return out


def pair_lesion_effects(model: torch.nn.Module, input_clusters: Mapping[str, np.ndarray],
                        hidden_clusters: Mapping[str, np.ndarray],
                        trials_by_rule: Mapping[str, Trials], task_config,
                        mode: str = "weights", n_random: int = 10,
                        rng: np.random.Generator | None = None, progress: bool = False
                        ) -> dict[str, np.ndarray]:
    """Lesion every (input cluster, hidden cluster) pair together, against random pairs of the
    same sizes. Returns ``accuracy``/``random_accuracy``/``effect`` ``(R, n_in_c, n_hid_c)``."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n_in, n_hid = _population_size(model, "input"), _population_size(model, "hidden")
    shape = (len(trials_by_rule), len(input_clusters), len(hidden_clusters))
    acc_out, rand_out = np.zeros(shape), np.zeros(shape)
    pairs = [(i, h, np.asarray(u_in), np.asarray(u_hid))
             for i, u_in in enumerate(input_clusters.values())
             for h, u_hid in enumerate(hidden_clusters.values())]
    for i, h, u_in, u_hid in tqdm(pairs, desc="pair lesions", disable=not progress):
        lesions = [Lesion("input", tuple(int(u) for u in u_in), mode=mode),
                   Lesion("hidden", tuple(int(u) for u in u_hid), mode=mode)]
        lesioned, kw = lesioned_copy(model, lesions)
        acc_out[:, i, h] = evaluate(lesioned, trials_by_rule, task_config, kw)[0]
        for _ in range(n_random):
            rand = [Lesion("input", tuple(int(u) for u in rng.choice(n_in, len(u_in), False)),
                           mode=mode),
                    Lesion("hidden", tuple(int(u) for u in rng.choice(n_hid, len(u_hid), False)),
                           mode=mode)]
            lesioned, kw = lesioned_copy(model, rand)
            rand_out[:, i, h] += evaluate(lesioned, trials_by_rule, task_config, kw)[0] / n_random
    return {"accuracy": acc_out, "random_accuracy": rand_out, "effect": rand_out - acc_out}


def synapse_lesion_effects(model: torch.nn.Module, labels: np.ndarray,
                           trials_by_rule: Mapping[str, Trials], task_config,
                           n_random: int = 10, rng: np.random.Generator | None = None,
                           progress: bool = False) -> dict[str, np.ndarray]:
    """Lesion each synapse cluster two ways, zero ``W`` (``weights``) or freeze ``M``
    (``freeze``), against size-matched random synapse sets.

    Args:
        labels: ``(n_hidden, n_pre)`` int cluster label per synapse (negative = not clustered).
    Returns ``{mode: {"accuracy", "random_accuracy", "effect"}}`` flattened as
    ``"<mode>_accuracy"`` etc., each ``(R, C)`` with C the non-negative labels in order
    (``clusters`` ``(C,)``), and the synapses per cluster, ``sizes`` ``(C,)``.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    labels = np.asarray(labels)
    clusters = [c for c in np.unique(labels) if c >= 0]
    out: dict[str, np.ndarray] = {
        "clusters": np.asarray(clusters),
        "sizes": np.asarray([int((labels == c).sum()) for c in clusters])}
    jobs = [(mode, j, c) for mode in ("weights", "freeze") for j, c in enumerate(clusters)]
    for mode in ("weights", "freeze"):
        out[f"{mode}_accuracy"] = np.zeros((len(trials_by_rule), len(clusters)))
        out[f"{mode}_random_accuracy"] = np.zeros_like(out[f"{mode}_accuracy"])
    for mode, j, c in tqdm(jobs, desc="synapse lesions", disable=not progress):
        mask = labels == c
        lesioned, _ = lesioned_copy(model, [Lesion("hidden", synapses=mask, mode=mode)])
        out[f"{mode}_accuracy"][:, j] = evaluate(lesioned, trials_by_rule, task_config)[0]
        for _ in range(n_random):
            rand = np.zeros(labels.size, dtype=bool)
            rand[rng.choice(labels.size, size=int(mask.sum()), replace=False)] = True
            lesioned, _ = lesioned_copy(
                model, [Lesion("hidden", synapses=rand.reshape(labels.shape), mode=mode)])
            out[f"{mode}_random_accuracy"][:, j] += evaluate(
                lesioned, trials_by_rule, task_config)[0] / n_random
    for mode in ("weights", "freeze"):
        out[f"{mode}_effect"] = out[f"{mode}_random_accuracy"] - out[f"{mode}_accuracy"]
    return out


def pruning_curve(model: torch.nn.Module, trials_by_rule: Mapping[str, Trials], task_config,
                  fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999),
                  progress: bool = False) -> dict[str, np.ndarray]:
    """Accuracy and cost per rule ``(R, F)`` after pruning each fraction ``(F,)`` of weights."""
    fractions = np.asarray(fractions, dtype=float)
    acc = np.zeros((len(trials_by_rule), len(fractions)))
    cost = np.zeros_like(acc)
    for i, fraction in enumerate(tqdm(fractions, desc="pruning", disable=not progress)):
        pruned, _ = lesioned_copy(model, prune_fraction=float(fraction))
        acc[:, i], cost[:, i] = evaluate(pruned, trials_by_rule, task_config)
    return {"fractions": fractions, "accuracy": acc, "cost": cost}


def _pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson r and two-sided p of the finite pairs of ``x``, ``y``; NaN for fewer than 3
    pairs or a constant side."""
    x, y = np.ravel(x).astype(float), np.ravel(y).astype(float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    fit = stats.pearsonr(x, y)
    return float(fit.statistic), float(fit.pvalue)


def size_effect(sizes: np.ndarray, accuracy: np.ndarray, random_accuracy: np.ndarray,
                baseline: np.ndarray) -> dict[str, np.ndarray | float]:
    """Cluster size against the accuracy a cluster lesion costs, with the size-matched random
    lesions' cost at the same size: is a cluster's effect more than its size?

    Args:
        sizes: ``(C,)`` units (or synapses) per lesioned cluster.
        accuracy, random_accuracy: ``(R, C)`` per-rule accuracy after each cluster lesion and
            the mean of its size-matched random lesions (:func:`cluster_lesion_effects`).
        baseline: ``(R,)`` per-rule accuracy of the intact network.
    Returns ``drop`` and ``random_drop`` ``(C,)``, the accuracy drops from the intact network
    averaged over rules, and Pearson ``r`` / ``p`` of ``drop`` against ``sizes`` (NaN for
    fewer than 3 clusters or constant values). ValueError for mismatched shapes.
    """
    sizes = np.asarray(sizes, dtype=float).ravel()
    accuracy, random_accuracy = np.asarray(accuracy, float), np.asarray(random_accuracy, float)
    baseline = np.asarray(baseline, dtype=float).ravel()
    shape = (len(baseline), len(sizes))
    if accuracy.shape != shape or random_accuracy.shape != shape:
        raise ValueError(f"accuracy and random_accuracy must have shape (rules, clusters) = "
                         f"{shape}, got {accuracy.shape} and {random_accuracy.shape}")
    drop = (baseline[:, None] - accuracy).mean(axis=0)
    random_drop = (baseline[:, None] - random_accuracy).mean(axis=0)
    r, p = _pearson(sizes, drop)
    return {"sizes": sizes, "drop": drop, "random_drop": random_drop, "r": r, "p": p}


def describe_r(r: float, n: int, items: str = "clusters") -> str:
    """``"r = 0.88"``, or why there is no r: fewer than 3 ``items`` or constant values."""
    if np.isfinite(r):
        return f"r = {r:.2f}"
    return f"no r (fewer than 3 {items}: {n})" if n < 3 else "no r (constant values)"


def paired_effects(first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray | float]:
    """Two effects of the same lesions, e.g. a synapse cluster's W zeroed (``first``) against
    its M frozen (``second``), both ``(R, C)`` (rules × clusters).

    Returns ``first_mean`` / ``second_mean`` ``(C,)`` (means over rules), Pearson ``r`` / ``p``
    over every (rule, cluster) entry, and ``mean_difference`` = mean(first − second).
    ValueError for shapes that differ.
    """
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if first.shape != second.shape or first.ndim != 2:
        raise ValueError(f"both effects must be (rules, clusters) of one shape, got "
                         f"{first.shape} and {second.shape}")
    r, p = _pearson(first, second)
    return {"first_mean": first.mean(axis=0), "second_mean": second.mean(axis=0), "r": r,
            "p": p, "mean_difference": float(np.mean(first - second))}


def pair_additivity(baseline: np.ndarray, input_accuracy: np.ndarray,
                    hidden_accuracy: np.ndarray, pair_accuracy: np.ndarray
                    ) -> dict[str, np.ndarray | float]:
    """Do combined lesions add up? The accuracy drop of each (input cluster, hidden cluster)
    pair lesion against the sum of the drops of its two single lesions.

    Drops are measured from the intact network (``baseline − accuracy``), not as the
    random-referenced ``effect``: additivity asks whether damage adds, and the random
    references of a pair and of its two singles are different lesions themselves.

    Args:
        baseline: ``(R,)`` per-rule accuracy of the intact network.
        input_accuracy: ``(R, I)`` after each input-cluster lesion.
        hidden_accuracy: ``(R, H)`` after each hidden-cluster lesion.
        pair_accuracy: ``(R, I, H)`` after each pair lesion (:func:`pair_lesion_effects`).
    Returns ``pair_drop`` and ``sum_drop`` ``(R, I, H)``, Pearson ``r`` / ``p`` over every
    entry, and ``interaction`` = mean(pair − sum) (> 0: the pair costs more than its parts;
    < 0: less, e.g. redundant clusters or a floor at chance). ValueError for mismatched shapes.
    """
    baseline = np.asarray(baseline, dtype=float).ravel()
    inputs, hidden = np.asarray(input_accuracy, float), np.asarray(hidden_accuracy, float)
    pair = np.asarray(pair_accuracy, dtype=float)
    n_rules = len(baseline)
    if (inputs.ndim != 2 or hidden.ndim != 2 or inputs.shape[0] != n_rules
            or hidden.shape[0] != n_rules
            or pair.shape != (n_rules, inputs.shape[1], hidden.shape[1])):
        raise ValueError(f"need baseline (R,), input (R, I), hidden (R, H) and pair (R, I, H) "
                         f"accuracies, got {baseline.shape}, {inputs.shape}, {hidden.shape}, "
                         f"{pair.shape}")
    input_drop = baseline[:, None] - inputs
    hidden_drop = baseline[:, None] - hidden
    sum_drop = input_drop[:, :, None] + hidden_drop[:, None, :]
    pair_drop = baseline[:, None, None] - pair
    r, p = _pearson(sum_drop, pair_drop)
    return {"pair_drop": pair_drop, "sum_drop": sum_drop, "r": r, "p": p,
            "interaction": float(np.mean(pair_drop - sum_drop))}


#: Lesion families of ``multiple_task/lesion.py`` results with a size summary, and their titles.
SIZE_FAMILIES = {"hidden_weights": "Hidden weights", "hidden_activity": "Hidden activity",
                 "input_weights": "Input weights", "synapses_weights": "Synapses, W zeroed",
                 "synapses_freeze": "Synapses, M frozen"}


def summarise_lesions(results: Mapping) -> dict[str, dict]:
    """The summaries of one run's stored lesion results (``multiple_task/lesion.py``: families
    of :func:`cluster_lesion_effects`, ``pairs``, ``synapses``), each where its inputs are
    stored:

    - ``size``: ``{family: size_effect(...)}`` for the families of :data:`SIZE_FAMILIES` that
      stored ``sizes`` (the intact baseline is ``hidden_weights``'s: every family runs on the
      same trials);
    - ``modes``: :func:`paired_effects` of the synapse clusters, W zeroed (first) against M
      frozen (second);
    - ``additivity``: :func:`pair_additivity` of the input × hidden pairs.
    """
    out: dict[str, dict] = {}
    hidden = results.get("hidden_weights", {})
    syn = results.get("synapses")
    families = {k: results.get(k) for k in ("hidden_weights", "hidden_activity",
                                             "input_weights")}
    if syn is not None:
        families.update({f"synapses_{mode}": {
            "sizes": syn.get("sizes"), "accuracy": syn[f"{mode}_accuracy"],
            "random_accuracy": syn[f"{mode}_random_accuracy"]} for mode in ("weights",
                                                                            "freeze")})
        out["modes"] = paired_effects(syn["weights_effect"], syn["freeze_effect"])
    if "baseline_accuracy" in hidden:
        size = {k: size_effect(f["sizes"], f["accuracy"], f["random_accuracy"],
                               hidden["baseline_accuracy"]) for k, f in families.items()
                if f is not None and f.get("sizes") is not None}
        if size:
            out["size"] = size
        if "pairs" in results and "input_weights" in results:
            out["additivity"] = pair_additivity(
                hidden["baseline_accuracy"], results["input_weights"]["accuracy"],
                hidden["accuracy"], results["pairs"]["accuracy"])
    return out
