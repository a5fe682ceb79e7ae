"""N-parity and N-DMS targets on hand-made sequences, and batch shapes/lengths."""

import numpy as np
import pytest

from core.tasks.memory import (
    dms_targets,
    make_memory_batch,
    parity_targets,
    sequence_length_range,
)


def test_parity_hand_examples():
    bits = np.array([[1, 0, 1, 1, 0],
                     [0, 0, 0, 0, 1],
                     [1, 1, 1, 1, 1]])
    # last 2 bits: (1,0)->1, (0,1)->1, (1,1)->0
    assert parity_targets(bits, 2).tolist() == [1, 1, 0]
    # last 3 bits: (1,1,0)->0, (0,0,1)->1, (1,1,1)->1
    assert parity_targets(bits, 3).tolist() == [0, 1, 1]
    assert parity_targets(bits, 5).tolist() == [1, 1, 1]


def test_dms_hand_examples():
    bits = np.array([[1, 0, 1, 1, 0],
                     [0, 1, 0, 0, 0],
                     [1, 1, 0, 1, 1]])
    # N=2 compares bits[-2] with bits[-1]
    assert dms_targets(bits, 2).tolist() == [0, 1, 1]
    # N=4 compares bits[-4] with bits[-1]
    assert dms_targets(bits, 4).tolist() == [1, 0, 1]


def test_batch_targets_match_bits_and_length_range():
    rng = np.random.default_rng(0)
    lengths = set()
    for _ in range(200):
        b = make_memory_batch("parity", [2, 3, 5], 8, rng)
        bits = b.x[:, :, 0].T.astype(np.int64)
        assert b.x.shape == (bits.shape[1], 8, 1) and b.targets.shape == (3, 8)
        for row, n in zip(b.targets, b.ns, strict=True):
            assert (row == parity_targets(bits, n)).all()
        lengths.add(b.x.shape[0])
    lo, hi = sequence_length_range(5)
    assert (lo, hi) == (7, 21)
    assert min(lengths) >= lo and max(lengths) <= hi and len(lengths) > 10


def test_parity_p_per_sequence_and_dms_balanced():
    rng = np.random.default_rng(1)
    b = make_memory_batch("parity", [2], 512, rng, length=200)
    means = b.x[:, :, 0].mean(axis=0)
    assert np.corrcoef(means, b.p)[0, 1] > 0.95 and b.p.std() > 0.2
    d = make_memory_batch("dms", [3], 4096, rng)
    assert abs(d.x.mean() - 0.5) < 0.02 and abs(d.targets.mean() - 0.5) < 0.05


def test_bad_input_is_rejected():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown memory task"):
        make_memory_batch("copy", [2], 4, rng)
    with pytest.raises(ValueError, match="shorter"):
        make_memory_batch("dms", [5], 4, rng, length=3)
