"""Demixed PCA (Kobak et al. 2016, eLife 5:e10989) of activity over stimulus, rule and time.

The decomposition itself is the ``dpca`` package (machenslab, ``from dPCA import dPCA``; it
installs and runs with numpy 2 and this scikit-learn, and needs ``numexpr`` and ``numba``).
The activity of each trial ``(T, D)`` is averaged per (stimulus, rule) condition into
``X (D, S, R, T)`` (``(D, S, T)`` with one rule), centred over conditions and time, and split
into the marginalizations stimulus (``s`` joined with ``st``), rule (``r`` with ``rt``), time
(``t``) and stimulus × rule (``sr`` with ``srt``), as Kobak et al. join time into each task
parameter. No regularisation (the test trials are noise-free, so there is no trial-to-trial
variability to cross-validate it on).

The explained variance of component ``k`` of a marginalization is Kobak et al.'s
``1 − ‖X − P_k D_kᵀ X‖² / ‖X‖²`` (encoder ``P_k``, decoder ``D_k``); the package's own
``explained_variance_ratio_`` is ``‖D_kᵀ X‖² / ‖X‖²``, which differs when the decoder is not
orthonormal. Features of very high dimension (``W ⊙ M``: N² synapses) are first projected onto
their ``max_features`` leading principal components (the dPCA package builds ``D × D``
matrices).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from sklearn.decomposition import PCA

__all__ = ["condition_average", "demixed_pca"]

#: Joined marginalizations with two task parameters (stimulus s, rule r) and time t.
JOIN_TWO = {"s": ["s", "st"], "r": ["r", "rt"], "sr": ["sr", "srt"]}
#: ... and with one task parameter (one-rule runs).
JOIN_ONE = {"s": ["s", "st"]}


def condition_average(activity: np.ndarray, stimulus: np.ndarray, rule: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X (D, S, R, T)``: the mean of ``activity (T, B, D)`` over the trials of each (stimulus,
    rule) condition, with the sorted ``stimuli (S,)`` and ``rules (R,)`` (order of appearance).
    ValueError if a condition has no trial."""
    activity = np.asarray(activity, dtype=np.float64)
    if activity.ndim != 3:
        raise ValueError(f"activity must be (T, B, D), got shape {activity.shape}")
    stimulus = np.round(np.asarray(stimulus, dtype=float), 6)
    rule = np.asarray(rule).astype(str)
    stimuli, rules = np.unique(stimulus), np.asarray(list(dict.fromkeys(rule)))
    x = np.empty((activity.shape[2], stimuli.size, rules.size, activity.shape[0]))
    for i, s in enumerate(stimuli):
        for j, r in enumerate(rules):
            sel = (stimulus == s) & (rule == r)
            if not sel.any():
                raise ValueError(f"no trial of stimulus {s} under rule {r}")
            x[:, i, j] = activity[:, sel].mean(axis=1).T
    return x, stimuli, rules


def demixed_pca(activity: np.ndarray, stimulus: np.ndarray, rule: np.ndarray,
                n_components: int = 3, max_features: int = 100) -> dict[str, np.ndarray]:
    """dPCA of ``activity (T, B, D)`` with trial labels ``stimulus (B,)`` and ``rule (B,)``.

    Returns ``marginalizations (M,)``, ``explained (M, k)`` (Kobak et al.'s explained variance
    of each component), ``components (M, k, S, R, T)`` (the projections ``D_kᵀ X``),
    ``stimuli (S,)``, ``rules (R,)`` and ``pca_features`` (the number of leading PCs the
    features were reduced to, 0 if not reduced).
    """
    from dPCA.dPCA import dPCA

    activity = np.asarray(activity, dtype=np.float64)
    t, b, d = activity.shape
    reduced = 0
    if d > max_features:
        reduced = min(max_features, t * b)
        flat = activity.reshape(t * b, d)
        activity = PCA(n_components=reduced, svd_solver="randomized", random_state=0
                       ).fit_transform(flat).reshape(t, b, reduced)
    x, stimuli, rules = condition_average(activity, stimulus, rule)
    two = rules.size > 1
    if not two:
        x = x[:, :, 0]
    x = x - x.reshape(x.shape[0], -1).mean(axis=1).reshape((-1,) + (1,) * (x.ndim - 1))
    model = dPCA(labels="srt" if two else "st", join=JOIN_TWO if two else JOIN_ONE,
                 n_components=n_components, regularizer=None)
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(x)
    flat_x = x.reshape(x.shape[0], -1)
    total = float(np.sum(flat_x ** 2))
    names = sorted(model.D)
    explained = np.zeros((len(names), n_components))
    components = np.zeros((len(names), n_components) + x.shape[1:])
    for m, name in enumerate(names):
        dec, enc = model.D[name], model.P[name]
        for k in range(min(n_components, dec.shape[1])):
            z = dec[:, k] @ flat_x
            explained[m, k] = 1.0 - np.sum((flat_x - np.outer(enc[:, k], z)) ** 2) / total
            components[m, k] = z.reshape(x.shape[1:])
    if not two:
        components = components[:, :, :, None]
    return {"marginalizations": np.asarray(names), "explained": explained,
            "components": components, "stimuli": stimuli, "rules": rules,
            "pca_features": np.asarray(reduced)}
