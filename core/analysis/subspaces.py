"""Cross-epoch subspaces: how much of one (rule, epoch)'s activity lies in another's leading PCs.

For each group ``g`` (a rule and one of its epochs) the states ``X_g (n_g, D)`` of every trial
of the rule at every step of the epoch are centred on their own mean, and their leading ``k``
principal axes ``V_g (D, k)`` are fitted (scikit-learn PCA). The variance of group ``h``
explained by the subspace of group ``g`` is

    ``EV_k(h | g) = ‖(X_h − mean_h) V_g[:, :k]‖²_F / ‖X_h − mean_h‖²_F``,

which is 1 at ``k = D`` and, on the diagonal, the cumulative explained-variance ratio of ``g``
itself (the MPN lab's cross-period PCA, AllenInstitute/MultiTaskMPN
``two_task/two_task_analysis.py``). :func:`cross_epoch_variance` returns it for every pair and
every ``k`` up to ``n_components`` (cumulative curves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.decomposition import PCA

from core.tasks import Trials

__all__ = ["epoch_groups", "cross_epoch_variance"]

#: Epochs grouped by default (those every reach/delay rule has).
DEFAULT_EPOCHS = ("fix1", "stim1", "delay1", "go")


def epoch_groups(states: np.ndarray, trials: Trials, epochs: Sequence[str] = DEFAULT_EPOCHS
                 ) -> dict[str, np.ndarray]:
    """``{"<rule>/<epoch>": (n, D)}``: ``states (T, B, ...)`` (flattened per step) of every trial
    of each rule at every step of each epoch the rule has."""
    states = np.asarray(states)
    flat = states.reshape(states.shape[0], states.shape[1], -1)
    out = {}
    for rule in dict.fromkeys(trials.rule):
        idx = np.flatnonzero(trials.rule == rule)
        for epoch in epochs:
            bounds = trials.epochs[epoch][idx]
            if np.any(bounds[:, 0] < 0) or np.any(bounds[:, 1] <= bounds[:, 0]):
                continue
            rows = [flat[s:e, b] for b, (s, e) in zip(idx, bounds, strict=True)]
            out[f"{rule}/{epoch}"] = np.concatenate(rows, axis=0)
    return out


def cross_epoch_variance(groups: Mapping[str, np.ndarray], n_components: int = 10
                         ) -> dict[str, np.ndarray]:
    """Variance of each group explained by the leading PCs of every group.

    Args:
        groups: ``{name: (n_g, D)}`` (e.g. from :func:`epoch_groups`), at least 2 rows each.
        n_components: largest ``k`` (capped at each group's rank bound ``min(n_g, D)``).

    Returns ``names (G,)``, ``explained (G, G, K)`` with ``explained[g, h, k-1] = EV_k(h | g)``
    (NaN where group ``g`` has fewer than ``k`` components) and ``components (K,)`` = 1..K.
    """
    names = list(groups)
    if not names:
        raise ValueError("cross_epoch_variance needs at least one group")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    centred = {}
    for name in names:
        x = np.asarray(groups[name], dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"group {name!r} must be (n >= 2, D), got shape {x.shape}")
        centred[name] = x - x.mean(axis=0)
    n_features = {centred[n].shape[1] for n in names}
    if len(n_features) != 1:
        raise ValueError(f"groups differ in their number of features: {sorted(n_features)}")
    explained = np.full((len(names), len(names), n_components), np.nan)
    for g, name in enumerate(names):
        x = centred[name]
        k = min(n_components, *x.shape)
        axes = PCA(n_components=k, svd_solver="full" if x.shape[1] <= 2000 else "randomized",
                   random_state=0).fit(x).components_.T  # (D, k)
        for h, other in enumerate(names):
            y = centred[other]
            total = float(np.sum(y * y))
            if total > 0:
                explained[g, h, :k] = np.cumsum(np.sum((y @ axes) ** 2, axis=0)) / total
    return {"names": np.asarray(names), "explained": explained,
            "components": np.arange(1, n_components + 1)}
