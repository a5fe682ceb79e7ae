"""Over-membership (core.analysis.membership): planted blocks against shuffled labels."""

import numpy as np
import pytest

from core.analysis.membership import FORMS, aggregate_over_membership, over_membership


def _network(rng: np.random.Generator, planted: bool):
    """8 input units in 2 clusters, 12 hidden in 3; M labels planted as f(i, j) = 3 i + j
    (six M clusters), or drawn at random."""
    inp = np.repeat([0, 1], 4)
    hid = np.repeat([0, 1, 2], 4)
    block = (inp[None, :] * 3 + hid[:, None]).ravel()
    m = block.copy() if planted else rng.integers(0, 6, block.size)
    return inp, hid, m


def test_planted_blocks_far_above_shuffle():
    rng = np.random.default_rng(0)
    inp, hid, m = _network(rng, planted=True)
    out = over_membership(inp, hid, m, task_variance=rng.uniform(0.5, 1.5, m.size),
                          n_permutations=200, seed=1)
    assert out["observed"].shape == (2, 3)
    assert np.array_equal(out["n_synapses"], np.full((2, 3), 16))
    assert np.allclose(out["observed"], 16 * 15 / 2)  # every pair in a block shares its cluster
    assert (out["z"] > 5).all()
    for form in FORMS:
        assert out[form] > 3 and out[f"{form}_z"] > 5


def test_shuffled_labels_give_none():
    zs = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        inp, hid, m = _network(rng, planted=False)
        out = over_membership(inp, hid, rng.permutation(m), n_permutations=200, seed=seed)
        zs.append([out[f"{f}_z"] for f in FORMS])
    zs = np.array(zs)
    assert np.abs(zs.mean(axis=0)).max() < 0.6
    assert np.abs(zs).max() < 4


def test_keep_and_errors():
    rng = np.random.default_rng(0)
    inp, hid, m = _network(rng, planted=True)
    keep = np.zeros(m.size, bool)
    keep[: m.size // 2] = True
    out = over_membership(inp, hid, m, keep=keep, n_permutations=10)
    assert out["n_synapses"].sum() == keep.sum()
    with pytest.raises(ValueError):
        over_membership(inp, hid, m[:-1])
    with pytest.raises(ValueError):
        over_membership(inp, hid, m, n_permutations=0)


def test_aggregate_over_seeds():
    rng = np.random.default_rng(0)
    runs = [over_membership(*_network(rng, planted=True), n_permutations=50, seed=s)
            for s in range(3)]
    agg = aggregate_over_membership(runs)
    assert agg["values"].shape == (3, 2 * len(FORMS))
    assert np.allclose(agg["mean"], agg["values"].mean(axis=0))
    assert (agg["low"] <= agg["mean"]).all() and (agg["mean"] <= agg["high"]).all()
    with pytest.raises(ValueError):
        aggregate_over_membership([])
