"""Loader and split checks for the Peterson-Barney four-vowel task."""

import numpy as np
import pytest

from core.tasks.vowels import (
    EXCLUDED_SPEAKERS,
    PAPER_TEST_SPEAKERS,
    PAPER_TRAIN_SPEAKERS,
    VOWELS,
    load_tokens,
    make_split,
    paper_split,
    stratified_speaker_split,
)


def test_loader_keeps_four_vowels_of_76_speakers():
    tokens = load_tokens()
    assert len(tokens) == 76 * 4 * 2
    assert np.unique(tokens.speakers).size == 76
    assert np.bincount(tokens.labels).tolist() == [152] * 4
    assert tokens.features.shape == (len(tokens), 2)
    # [i] has the lowest F1 and the highest F2 of the four vowels on average
    means = np.array([tokens.features[tokens.labels == c].mean(0) for c in range(4)])
    assert VOWELS[means[:, 0].argmin()] == "i" and VOWELS[means[:, 1].argmax()] == "i"


def test_loader_rejects_unknown_codes():
    with pytest.raises(ValueError, match="unknown vowel"):
        load_tokens(vowels=("i", "x"))
    with pytest.raises(ValueError, match="unknown feature"):
        load_tokens(features=("f9",))


def test_paper_split_is_50_25_disjoint_and_standardised():
    split = paper_split()
    train, test = set(split.train.speakers), set(split.test.speakers)
    assert len(train) == 50 and len(test) == 25 and not train & test
    assert train == set(PAPER_TRAIN_SPEAKERS) and test == set(PAPER_TEST_SPEAKERS)
    assert not (train | test) & set(EXCLUDED_SPEAKERS)
    assert len(split.train) == 400 and len(split.test) == 200
    np.testing.assert_allclose(split.x_train.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(split.x_train.std(0), 1.0, atol=1e-12)
    groups = {g: (split.train.groups == g).sum() // 8 for g in "mwc"}
    assert groups == {"m": 22, "w": 19, "c": 9}


def test_stratified_split_keeps_group_shares_and_varies_with_seed():
    a, b = stratified_speaker_split(0), stratified_speaker_split(1)
    for split in (a, b):
        train, test = set(split.train.speakers), set(split.test.speakers)
        assert len(test) == 25 and len(train) == 50 and not train & test
        n_test = {g: len(set(split.test.speakers[split.test.groups == g])) for g in "mwc"}
        assert n_test == {"m": 11, "w": 9, "c": 5}
    assert set(a.test.speakers) != set(b.test.speakers)
    assert set(stratified_speaker_split(0).test.speakers) == set(a.test.speakers)
    with pytest.raises(ValueError, match="unknown split"):
        make_split("random")
