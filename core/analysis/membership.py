"""Over-membership: do synapses between an input and a hidden cluster share modulation clusters?

Following the MPN lab (AllenInstitute/MultiTaskMPN, ``core/clustering_metric.py``,
``count_pairs_with_clusters`` and ``count_pairs_with_clusters_control``, used in
``multiple_task/multiple_task_analysis.py``): synapses of M are grouped by their modulation (M)
cluster; the statistic is the number of unordered synapse pairs that share an M cluster, here
counted inside every block (input cluster i, hidden cluster j) of the synapse matrix, and it is
compared with the same count after shuffling the M-cluster labels of the synapses (the sizes of
the M clusters are kept). Over-membership is the lab's ``(observed - control) / control`` with
the control mean; ``z`` is ``(observed - control mean) / control sd``.

Three forms (our naming of the issue's forms; the lab shows only the unnormalised counts):

- unnormalised: the pair counts ``S_ij = Σ_c n_ijc (n_ijc - 1) / 2`` of block (i, j), with
  ``n_ijc`` its synapses in M cluster c;
- weighted: one over-membership over all blocks, each weighted by its number of synapses;
- variance-weighted: each pair counted with the product of the two synapses' summed task
  variance, ``Σ_c ((Σ v)^2 - Σ v^2) / 2`` over the synapses of block (i, j) in cluster c.

Deviation from the lab: it pools all blocks into one "same pre- and post-cluster" count;
here the count is kept per block (the issue asks for every pair), and the pooled count is the
sum of the blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.analysis.seeds import mean_interval

__all__ = ["FORMS", "aggregate_over_membership", "over_membership"]

FORMS = ("unnormalised", "weighted", "variance_weighted")


def _block_pairs(block: np.ndarray, m_labels: np.ndarray, weight: np.ndarray,
                 n_blocks: int, n_m: int) -> np.ndarray:
    """Weighted same-M-cluster pair count per block: ``(..., n_blocks)`` for labels
    ``(..., S)``."""
    key = block * n_m + m_labels
    lead = key.shape[:-1]
    flat = key.reshape(-1, key.shape[-1])
    offset = np.arange(flat.shape[0])[:, None] * (n_blocks * n_m)
    size = flat.shape[0] * n_blocks * n_m
    s = np.bincount((flat + offset).ravel(), np.broadcast_to(weight, flat.shape).ravel(), size)
    s2 = np.bincount((flat + offset).ravel(), np.broadcast_to(weight ** 2, flat.shape).ravel(),
                     size)
    pairs = ((s ** 2 - s2) / 2).reshape(flat.shape[0], n_blocks, n_m).sum(axis=-1)
    return pairs.reshape(*lead, n_blocks)


def over_membership(input_labels: np.ndarray, hidden_labels: np.ndarray, m_labels: np.ndarray,
                    task_variance: np.ndarray | None = None, keep: np.ndarray | None = None,
                    n_permutations: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """Same-M-cluster synapse pairs in every (input cluster, hidden cluster) block against
    shuffled M labels.

    Args:
        input_labels: ``(n_in,)`` int cluster of every presynaptic (input) unit.
        hidden_labels: ``(n_hid,)`` int cluster of every postsynaptic (hidden) unit.
        m_labels: ``(n_hid * n_in,)`` int M cluster of every synapse, M flattened row-major
            as ``(n_hid, n_in)`` (post, pre), as :func:`core.analysis.task_variance.
            compute_task_variance` flattens it.
        task_variance: ``(n_hid * n_in,)`` summed task variance of each synapse (>= 0), for
            the variance-weighted form; all ones if None.
        keep: ``(n_hid * n_in,)`` bool synapses to count (e.g. the active ones); all if None.
        n_permutations: shuffles of the kept synapses' M labels (>= 1).
        seed: seed of the shuffles.

    Returns:
        ``{"observed", "control_mean", "control_sd", "over_membership", "z"}`` each
        ``(K_in, K_hid)`` (unnormalised pair counts), ``"n_synapses"`` ``(K_in, K_hid)``,
        and for each of :data:`FORMS` a scalar ``"<form>"`` over-membership and ``"<form>_z"``.
        Blocks with a zero control give NaN over-membership. K = max label + 1.

    Raises:
        ValueError: mismatched shapes, negative labels or variance, n_permutations < 1.
    """
    inp = np.asarray(input_labels, dtype=np.int64).ravel()
    hid = np.asarray(hidden_labels, dtype=np.int64).ravel()
    m = np.asarray(m_labels, dtype=np.int64).ravel()
    n_syn = hid.size * inp.size
    v = np.ones(n_syn) if task_variance is None else np.asarray(task_variance, float).ravel()
    kept = np.ones(n_syn, bool) if keep is None else np.asarray(keep, bool).ravel()
    if m.size != n_syn or v.size != n_syn or kept.size != n_syn:
        raise ValueError(f"m_labels, task_variance and keep need {hid.size} * {inp.size} = "
                         f"{n_syn} synapses, got {m.size}, {v.size}, {kept.size}")
    if min(inp.min(initial=0), hid.min(initial=0), m.min(initial=0)) < 0 or (v < 0).any():
        raise ValueError("labels and task variance must be >= 0")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    k_in, k_hid = int(inp.max()) + 1, int(hid.max()) + 1
    n_blocks, n_m = k_in * k_hid, int(m.max(initial=0)) + 1
    block = (inp[None, :] * k_hid + hid[:, None]).ravel()[kept]
    m, v = m[kept], v[kept]
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(m) for _ in range(n_permutations)])
    sizes = np.bincount(block, minlength=n_blocks)
    out: dict[str, np.ndarray] = {"n_synapses": sizes.reshape(k_in, k_hid)}
    for form, weight in (("unnormalised", np.ones_like(v)), ("variance_weighted", v)):
        obs = _block_pairs(block, m, weight, n_blocks, n_m)
        ctrl = _block_pairs(block, shuffled, weight, n_blocks, n_m)
        if form == "unnormalised":
            mean, sd = ctrl.mean(axis=0), ctrl.std(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                out.update(observed=obs.reshape(k_in, k_hid),
                           control_mean=mean.reshape(k_in, k_hid),
                           control_sd=sd.reshape(k_in, k_hid),
                           over_membership=((obs - mean) / mean).reshape(k_in, k_hid),
                           z=((obs - mean) / sd).reshape(k_in, k_hid))
            # weighted: already an over-membership, so compared with its shuffled values
            om, om_ctrl = (_size_weighted(c, mean, sizes) for c in (obs, ctrl))
            out["weighted"] = float(om)
            out["weighted_z"] = _z(om, om_ctrl)
            name = "unnormalised"
        else:
            name = form
        total, total_ctrl = obs.sum(), ctrl.sum(axis=1)
        out[name] = float((total - total_ctrl.mean()) / total_ctrl.mean()) \
            if total_ctrl.mean() > 0 else float("nan")
        out[f"{name}_z"] = _z(total, total_ctrl)
    return out


def _size_weighted(counts: np.ndarray, control: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Block over-memberships ``(..., n_blocks)`` averaged with weights = block sizes."""
    ok = control > 0
    om = (counts[..., ok] - control[ok]) / control[ok]
    return (om * sizes[ok]).sum(axis=-1) / max(sizes[ok].sum(), 1)


def _z(observed: float, control: np.ndarray) -> float:
    """``(observed - mean) / sd`` of the shuffled ``control`` ``(P,)``; NaN for sd 0."""
    sd = control.std()
    return float((observed - control.mean()) / sd) if sd > 0 else float("nan")


def aggregate_over_membership(results: Sequence[dict], confidence: float = 0.95
                              ) -> dict[str, np.ndarray]:
    """Mean over runs (seeds) of each form's over-membership and z with the Student-t interval
    of :func:`core.analysis.seeds.mean_interval`.

    Args:
        results: one :func:`over_membership` output per run (>= 1).

    Returns:
        ``{"forms": (F,), "values": (n_runs, 2F) over-membership then z of every form,
        "mean", "low", "high": (2F,)}``, F = len(FORMS). ValueError for no run.
    """
    if not results:
        raise ValueError("need at least one run")
    keys = [*FORMS, *(f"{f}_z" for f in FORMS)]
    values = np.array([[float(r[k]) for k in keys] for r in results])
    mean, low, high = mean_interval(values, confidence)
    return {"forms": np.asarray(keys), "values": values, "mean": mean, "low": low,
            "high": high}
