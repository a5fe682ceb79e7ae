"""Measures of transfer (the MPN lab's ``pretrain/pretraining_analysis.py``): how fast a new rule
is learned, how its rule vector relates to the pretrained ones, whether its activity lives in the
pretrained rules' subspaces, and how far the plastic matrix M moves between stages.

Everything is a pure function of arrays; ``pretrain/pretraining_analysis.py`` and
``flex_task/flex_task_analysis.py`` wire them to runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg

from core.analysis.seeds import curve_interval
from core.analysis.state_space import participation_ratio as participation_ratio_of
from core.analysis.state_space import pca_spectrum

#: Readable names of the flex_task networks.
NETWORK_LABELS = {"mpn": "MPN", "mpn-rec": "MPN + W_rec", "rnn": "leaky RNN"}
#: Accuracy levels of the transfer-speed table.
SPEED_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def first_step_reaching(steps: Sequence[int], accuracy: Sequence[float],
                        thresholds: Sequence[float] = SPEED_THRESHOLDS) -> np.ndarray:
    """``(n_thresholds,)`` the first validation step at which ``accuracy`` (one value per entry of
    ``steps``) is ``>= threshold``; NaN where it never is. ValueError on unequal lengths."""
    steps, accuracy = np.asarray(steps, dtype=float), np.asarray(accuracy, dtype=float)
    if steps.shape != accuracy.shape or steps.ndim != 1:
        raise ValueError(f"steps and accuracy must be equal-length 1-D, got {steps.shape}, "
                         f"{accuracy.shape}")
    out = np.full(len(thresholds), np.nan)
    for i, threshold in enumerate(thresholds):
        hit = np.flatnonzero(accuracy >= threshold)
        if hit.size:
            out[i] = steps[hit[0]]
    return out


def sem(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Standard error of the mean, ``std(ddof=1) / sqrt(n)`` along ``axis``; 0 for one value."""
    values = np.asarray(values, dtype=float)
    n = values.size if axis is None else values.shape[axis]
    if n > 1:
        return values.std(axis=axis, ddof=1) / np.sqrt(n)
    return 0.0 if axis is None else np.zeros(np.delete(values.shape, axis))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two arrays of equal shape (flattened); NaN if one is zero."""
    a, b = np.ravel(a).astype(float), np.ravel(b).astype(float)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


def principal_components(x: np.ndarray, k: int) -> np.ndarray:
    """``(n_features, k')`` orthonormal top principal axes of ``x (n_samples, n_features)``
    (centred), ``k' = min(k, rank)``."""
    x = np.asarray(x, dtype=float)
    _, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    rank = int((s > s.max() * 1e-10).sum()) if s.size and s.max() > 0 else 0
    return vt[:min(k, rank)].T


def participation_ratio(x: np.ndarray) -> float:
    """Participation ratio ``(Σλ)² / Σλ²`` of the covariance eigenvalues of ``x (n_samples,
    n_features)`` (Gao et al. 2017; the lab's dimensionality measure); NaN for no variance."""
    spectrum = pca_spectrum(np.asarray(x, dtype=float))
    return participation_ratio_of(spectrum) if spectrum.sum() > 0 else float("nan")


def cumulative_variance(x: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """``(k,)`` fraction of the variance of ``x (n_samples, n_features)`` (centred) inside the
    span of the first 1, 2, ..., k columns of the orthonormal ``axes (n_features, k)``: the new
    rule's activity in its own or in a pretrained rule's principal components."""
    x = np.asarray(x, dtype=float)
    xc = x - x.mean(axis=0)
    total = float((xc ** 2).sum())
    if total == 0:
        return np.full(axes.shape[1], np.nan)
    return np.cumsum(((xc @ axes) ** 2).sum(axis=0)) / total


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, descending) between the column spans of ``a (n, k)`` and
    ``b (n, l)`` (``scipy.linalg.subspace_angles``)."""
    return scipy.linalg.subspace_angles(a, b)


def matrix_change(m1: np.ndarray, m2: np.ndarray) -> tuple[float, float]:
    """``(cosine, Frobenius distance)`` between two matrices of equal shape (M of stage 1 and
    stage 2)."""
    return cosine(m1, m2), float(np.linalg.norm(np.asarray(m1, float) - np.asarray(m2, float)))


def direction_means(activity: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``(n_directions · T, ...)``: ``activity (T, B, ...)`` averaged over the trials of each
    stimulus direction in ``directions (B,)`` (sorted unique values), stacked over time — the
    condition-averaged samples whose subspaces are compared. Trials must share their timing."""
    activity = np.asarray(activity)
    means = [activity[:, directions == d].mean(axis=1) for d in np.unique(directions)]
    return np.concatenate(means, axis=0)


def _group_label(results: dict) -> str:
    pair = [str(r) for r in np.atleast_1d(results["pair"])]
    network = {"mpn": "MPN", "vanilla": "RNN"}.get(str(results["network"]), str(results["network"]))
    return f"{network}, {'+'.join(pair)}"


def group_runs(stored: dict[str, dict]) -> dict[str, list[dict]]:
    """Stored transfer results (run name -> results of ``pretraining_analysis.py``) grouped by
    network and pretraining pair, e.g. ``"MPN, fdanti+delaygo"``, in sorted order."""
    groups: dict[str, list[dict]] = {}
    for name in sorted(stored):
        groups.setdefault(_group_label(stored[name]), []).append(stored[name])
    return dict(sorted(groups.items()))


def speed_table(stored: dict[str, dict]) -> str:
    """Markdown transfer-speed table: per group, for each threshold the mean ± SEM over the seeds
    that reached it of the first step at that accuracy, and how many of the seeds did."""
    thresholds = None
    rows = []
    for label, runs in group_runs(stored).items():
        firsts = np.stack([np.asarray(r["speed"]["first_step"], float) for r in runs])
        thresholds = runs[0]["speed"]["thresholds"]
        cells = []
        for j in range(firsts.shape[1]):
            hit = firsts[~np.isnan(firsts[:, j]), j]
            if hit.size == 0:
                cells.append(f"— (0/{len(runs)})")
                continue
            cells.append(f"{hit.mean():.0f} ± {sem(hit):.0f} ({hit.size}/{len(runs)})")
        final = np.mean([np.asarray(r["speed"]["accuracy"], float)[-1] for r in runs])
        rows.append(f"| {label} | {' | '.join(cells)} | {final:.2f} |")
    if thresholds is None:
        raise ValueError("no stored transfer results to tabulate")
    header = ("| network, pretraining pair | "
              + " | ".join(f"step to {t:g}" for t in thresholds) + " | final accuracy |")
    return "\n".join([header, "|" + "---|" * (len(thresholds) + 2), *rows])


def curve_groups(groups: dict[str, list[tuple[np.ndarray, np.ndarray]]], confidence: float = 0.95
                 ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Per group of curves ``label -> [(steps, accuracy), ...]`` (one per seed): ``(steps, mean,
    low, high, n_runs)``, the mean and Student-t interval over seeds at the steps every run
    reached (:func:`core.analysis.seeds.curve_interval`, the aggregation of ``core.runs``)."""
    return {label: (*curve_interval(curves, confidence), len(curves))
            for label, curves in groups.items()}


def transfer_curve_groups(stored: dict[str, dict], confidence: float = 0.95
                          ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                               int]]:
    """:func:`curve_groups` of the stage-2 validation curves of stored transfer results, grouped
    by :func:`group_runs`."""
    return curve_groups({label: [(r["speed"]["steps"], r["speed"]["accuracy"]) for r in runs]
                         for label, runs in group_runs(stored).items()}, confidence)


def network_summary(stored: dict[str, dict]) -> tuple[dict, str]:
    """Stored ``flex_task_analysis.py`` results (run name -> results) per network: the
    :func:`curve_groups` of their mean validation accuracy (labelled with the parameter count)
    and a markdown table of counts, steps to the stored level (mean ± SEM over the seeds that
    reached it) and final mean accuracy (mean ± SEM)."""
    by_network: dict[str, list[dict]] = {}
    for name in sorted(stored):
        by_network.setdefault(str(stored[name]["network"]), []).append(stored[name])
    groups, rows = {}, ["| network | trainable parameters (target) | steps to level | "
                        "final mean accuracy |", "|---|---|---|---|"]
    for network, runs in sorted(by_network.items()):
        label = f"{NETWORK_LABELS.get(network, network)}, {int(runs[0]['count'])} parameters"
        groups[label] = [(r["steps"], r["mean_accuracy"]) for r in runs]
        firsts = np.array([float(r["first_step"]) for r in runs])
        hit = firsts[~np.isnan(firsts)]
        speed = f"{hit.mean():.0f} ± {sem(hit):.0f}" if hit.size else "—"
        final = np.array([r["mean_accuracy"][-1] for r in runs])
        rows.append(f"| {NETWORK_LABELS.get(network, network)} | {int(runs[0]['count'])} "
                    f"({int(runs[0]['target'])}) | {speed} ({hit.size}/{len(runs)} reached "
                    f"{float(runs[0]['level']):g}) | {final.mean():.3f} ± "
                    f"{sem(final):.3f} |")
    return curve_groups(groups), "\n".join(rows)


def rules_chance(stored: dict[str, dict]) -> float:
    """Mean chance level (:func:`core.tasks.chance_level`, the ``mpn_lab`` task setting) over
    the rules of stored flex_task results (run name -> results with ``rules``): the chance line
    of a figure of mean accuracy over rules."""
    from core.tasks import chance_level, get_preset

    task = get_preset("mpn_lab")
    rules = {str(r) for results in stored.values() for r in np.asarray(results["rules"])}
    return float(np.mean([chance_level(r, task) for r in sorted(rules)]))
