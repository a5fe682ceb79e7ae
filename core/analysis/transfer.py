"""Measures of transfer (the MPN lab's ``pretrain/pretraining_analysis.py``): how fast a new rule
is learned, how its rule vector relates to the pretrained ones, whether its activity lives in the
pretrained rules' subspaces, and how far the plastic matrix M moves between stages.

Everything is a pure function of arrays; ``pretrain/pretraining_analysis.py`` and
``flex_task/flex_task_analysis.py`` wire them to runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.linalg

from core.analysis.seeds import curve_interval, mean_interval
from core.analysis.state_space import participation_ratio as participation_ratio_of
from core.analysis.state_space import pca_spectrum
from core.tasks import RuleScore

#: Readable names of the flex_task networks.
NETWORK_LABELS = {"mpn": "MPN", "mpn-rec": "MPN + W_rec", "rnn": "leaky RNN"}
#: Accuracy levels of the transfer-speed table.
SPEED_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
#: What ``flex_task_analysis.py`` results hold beyond the curves, recorded as a provenance
#: source (:func:`core.analysis.analyse_runs`): entries stored before they held the fresh-trial
#: scores are stale. Producer and ``paper_plot.py`` pass it.
FLEX_TASK_SOURCES = {"contents": "validation curves and fresh-trial scores per rule (evaluation)"}
#: Range of a step count, which a t-interval over few seeds can leave (its bounds are clipped).
STEP_LIMITS = (0.0, np.inf)


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


def interval_text(values: Sequence[float], digits: int, confidence: float = 0.95,
                  limits: tuple[float, float] | None = None) -> str:
    """``"mean [low, high]"`` of ``values`` (one per seed) with ``digits`` decimals: the mean and
    its Student-t interval over seeds (:func:`core.analysis.seeds.mean_interval`), the bounds
    clipped to ``limits`` when given; ``"mean"`` alone for one value (no interval). ValueError for
    no values."""
    mean, low, high = (float(v) for v in mean_interval(np.asarray(values, float), confidence))
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    if limits is not None:
        low, high = max(low, limits[0]), min(high, limits[1])
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def score_arrays(scores: Mapping[str, RuleScore]) -> dict[str, np.ndarray]:
    """Fresh-trial scores ``{rule: RuleScore}`` (``evaluation.csv``,
    :func:`core.analysis.fresh_evaluation`) as arrays over rules for a results file: ``rules``,
    ``n_trials``, ``n_correct``, ``accuracy``, ``ci_low``/``ci_high`` (95 % Wilson) and
    ``chance``, each ``(R,)``."""
    intervals = np.array([s.interval() for s in scores.values()]).reshape(len(scores), 2)
    return {"rules": np.asarray(list(scores)),
            "n_trials": np.array([s.n_trials for s in scores.values()]),
            "n_correct": np.array([s.n_correct for s in scores.values()]),
            "accuracy": np.array([s.accuracy for s in scores.values()]),
            "ci_low": intervals[:, 0], "ci_high": intervals[:, 1],
            "chance": np.array([s.chance for s in scores.values()])}


def _trial_counts(runs: Sequence[dict]) -> str:
    counts = sorted({int(n) for r in runs for n in np.atleast_1d(r["evaluation"]["n_trials"])})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


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


def speed_table(stored: dict[str, dict], confidence: float = 0.95) -> str:
    """Markdown transfer-speed table, one row per :func:`group_runs` group: for each threshold the
    first step at that accuracy, mean and Student-t ``confidence`` interval over the seeds that
    reached it (:func:`interval_text`, bounds clipped to steps >= 0) and how many of the seeds
    did; then the accuracy on fresh trials after training (``evaluation``, :func:`score_arrays`;
    mean over its rules per run), mean and interval over seeds (clipped to [0, 1]) with each
    seed's value, and the chance level. ValueError for no stored results."""
    if not stored:
        raise ValueError("no stored transfer results to tabulate")
    level = f"mean [{100 * confidence:g} % t-interval]"
    rows = []
    for label, runs in group_runs(stored).items():
        firsts = np.stack([np.asarray(r["speed"]["first_step"], float) for r in runs])
        cells = []
        for j in range(firsts.shape[1]):
            hit = firsts[~np.isnan(firsts[:, j]), j]
            cells.append(f"{interval_text(hit, 0, confidence, STEP_LIMITS) if hit.size else '—'} "
                         f"({hit.size}/{len(runs)})")
        fresh = [float(np.mean(r["evaluation"]["accuracy"])) for r in runs]
        chance = np.mean([np.mean(r["evaluation"]["chance"]) for r in runs])
        cells.append(f"{interval_text(fresh, 2, confidence, (0.0, 1.0))} "
                     f"({', '.join(f'{a:.2f}' for a in fresh)})")
        rows.append(f"| {label} | {' | '.join(cells)} | {chance:.3f} |")
    first = next(iter(stored.values()))
    thresholds = np.atleast_1d(first["speed"]["thresholds"])
    rules = "+".join(str(r) for r in np.atleast_1d(first["evaluation"]["rules"]))
    header = ("| network, pretraining pair | "
              + " | ".join(f"step to {t:g}: {level} (seeds reaching it)" for t in thresholds)
              + f" | {rules} accuracy, {_trial_counts(list(stored.values()))} fresh trials: "
                f"{level} (each seed) | chance |")
    return "\n".join([header, "|" + "---|" * (len(thresholds) + 3), *rows])


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


def _by_network(stored: dict[str, dict]) -> dict[str, list[dict]]:
    """Stored flex_task results per group label ``"<network>, <count> parameters"``, sorted by
    network."""
    by_network: dict[str, list[dict]] = {}
    for name in sorted(stored):
        by_network.setdefault(str(stored[name]["network"]), []).append(stored[name])
    return {f"{NETWORK_LABELS.get(n, n)}, {int(runs[0]['count'])} parameters": runs
            for n, runs in sorted(by_network.items())}


def evaluation_groups(stored: dict[str, dict], confidence: float = 0.95
                      ) -> dict[str, dict[str, np.ndarray]]:
    """Fresh-trial accuracy of stored ``flex_task_analysis.py`` results (run name -> results
    with ``evaluation``, :func:`score_arrays`) per network (labels as :func:`network_summary`'s):
    ``columns (C,)`` (the rules, then ``mean over rules``), ``accuracy (n_seeds, C)`` (each
    run's), ``mean``/``low``/``high (C,)`` (mean and Student-t ``confidence`` interval over
    seeds, :func:`core.analysis.seeds.mean_interval`, bounds clipped to [0, 1] and NaN for one
    seed), ``chance (C,)`` and ``n_trials`` (fewest fresh trials of a rule). ValueError when the
    runs of a network were scored on different rules."""
    groups = {}
    for label, runs in _by_network(stored).items():
        rules = [str(r) for r in runs[0]["evaluation"]["rules"]]
        if any([str(r) for r in run["evaluation"]["rules"]] != rules for run in runs):
            raise ValueError(f"the {label} runs were evaluated on different rules")
        per_rule = np.array([np.asarray(r["evaluation"]["accuracy"], float) for r in runs])
        accuracy = np.column_stack([per_rule, per_rule.mean(axis=1)])
        chance = np.asarray(runs[0]["evaluation"]["chance"], float)
        mean, low, high = mean_interval(accuracy, confidence)
        groups[label] = {"columns": np.array([*rules, "mean over rules"]), "accuracy": accuracy,
                         "mean": mean, "low": np.clip(low, 0, 1), "high": np.clip(high, 0, 1),
                         "chance": np.append(chance, chance.mean()),
                         "n_trials": min(int(n) for r in runs
                                         for n in r["evaluation"]["n_trials"])}
    return groups


def network_summary(stored: dict[str, dict], confidence: float = 0.95) -> tuple[dict, str]:
    """Stored ``flex_task_analysis.py`` results (run name -> results) per network: the
    :func:`curve_groups` of their mean validation accuracy (labelled with the parameter count)
    and a markdown table of parameter counts, seeds, steps to the stored level (mean and
    Student-t ``confidence`` interval over the seeds that reached it, :func:`interval_text`,
    clipped to steps >= 0) and
    the accuracy on fresh trials (``evaluation``) of each rule and their mean, as mean and
    interval over seeds (:func:`evaluation_groups`), with the chance level of each."""
    level = f"mean [{100 * confidence:g} % t-interval]"
    groups, scores = {}, evaluation_groups(stored, confidence)
    rows = []
    for label, runs in _by_network(stored).items():
        groups[label] = [(r["steps"], r["mean_accuracy"]) for r in runs]
        firsts = np.array([float(r["first_step"]) for r in runs])
        hit = firsts[~np.isnan(firsts)]
        speed = interval_text(hit, 0, confidence, STEP_LIMITS) if hit.size else "—"
        score = scores[label]
        cells = [interval_text(score["accuracy"][:, j], 3, confidence, (0.0, 1.0))
                 + f" ({score['chance'][j]:.3f})" for j in range(len(score["columns"]))]
        network = str(runs[0]["network"])
        rows.append(f"| {NETWORK_LABELS.get(network, network)} | {int(runs[0]['count'])} "
                    f"({int(runs[0]['target'])}) | {len(runs)} | {speed} ({hit.size}/{len(runs)}"
                    f" reached {float(runs[0]['level']):g}) | {' | '.join(cells)} |")
    columns = next(iter(scores.values()))["columns"]
    trials = _trial_counts(list(stored.values()))
    names = [f"{c} accuracy, {trials} fresh trials" for c in columns[:-1]] + ["mean over rules"]
    header = ("| network | trainable parameters (target) | seeds | steps to level: "
              f"{level} | " + " | ".join(f"{c}: {level} (chance)" for c in names) + " |")
    return curve_groups(groups, confidence), "\n".join(
        [header, "|" + "---|" * (4 + len(columns)), *rows])


def rules_chance(stored: dict[str, dict]) -> float:
    """Mean chance level (:func:`core.tasks.chance_level`, the ``mpn_lab`` task setting) over
    the rules of stored flex_task results (run name -> results with ``rules``): the chance line
    of a figure of mean accuracy over rules."""
    from core.tasks import chance_level, get_preset

    task = get_preset("mpn_lab")
    rules = {str(r) for results in stored.values() for r in np.asarray(results["rules"])}
    return float(np.mean([chance_level(r, task) for r in sorted(rules)]))
