"""Peterson & Barney (1952) vowel formants: the four-vowel task of Jacobs et al. (1991).

Jacobs, Jordan, Nowlan & Hinton (1991), "Adaptive mixtures of local experts", Neural
Computation 3:79-87, discriminate the vowels [i] [ɪ] [a] [ʌ] (file codes ``i I A V``) from the
first two formants F1 and F2, training on 50 speakers and testing on 25 (75 speakers in all).

The shipped file (``core/data/peterson_barney_1952.csv``) holds 76 speakers: men 1-33, women
34-61, children 62-76, each saying every vowel twice. The paper names neither the speaker it
left out nor which speakers it trained on, so :func:`paper_split` fixes one explicit choice:

* speaker 76 (the last child) is left out, giving the paper's 75 speakers;
* within each group the lowest-numbered two thirds train and the rest test, which keeps the
  men/women/children proportions of the whole set in both halves:
  train = men 1-22, women 34-52, children 62-70 (22 + 19 + 9 = 50 speakers, 400 tokens);
  test = men 23-33, women 53-61, children 71-75 (11 + 9 + 5 = 25 speakers, 200 tokens).

:func:`stratified_speaker_split` draws a random split of speakers stratified by group instead.
No speaker ever appears on both sides of a split.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np

VOWELS: tuple[str, ...] = ("i", "I", "A", "V")
"""The paper's four vowels as Peterson-Barney file codes: [i] heed, [ɪ] hid, [a] hod, [ʌ] hud."""

VOWEL_IPA: dict[str, str] = {"i": "[i]", "I": "[ɪ]", "A": "[a]", "V": "[ʌ]"}
FEATURES: tuple[str, ...] = ("f1", "f2")
SPEAKER_GROUPS: tuple[str, ...] = ("m", "w", "c")

EXCLUDED_SPEAKERS: tuple[int, ...] = (76,)
PAPER_TRAIN_SPEAKERS: tuple[int, ...] = (
    tuple(range(1, 23)) + tuple(range(34, 53)) + tuple(range(62, 71))
)
PAPER_TEST_SPEAKERS: tuple[int, ...] = (
    tuple(range(23, 34)) + tuple(range(53, 62)) + tuple(range(71, 76))
)

_DATA_FILE = "peterson_barney_1952.csv"


@dataclass(frozen=True)
class VowelTokens:
    """Vowel tokens, one row each.

    ``features (N, F)`` formants in Hz (columns in ``feature_names``), ``labels (N,)`` index into
    ``vowels``, ``speakers (N,)`` speaker number 1-76, ``groups (N,)`` 'm'/'w'/'c'.
    """

    features: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    groups: np.ndarray
    vowels: tuple[str, ...]
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, speakers: tuple[int, ...] | np.ndarray) -> VowelTokens:
        """The tokens of the given speakers (in file order)."""
        keep = np.isin(self.speakers, np.asarray(speakers))
        return VowelTokens(self.features[keep], self.labels[keep], self.speakers[keep],
                           self.groups[keep], self.vowels, self.feature_names)


@dataclass(frozen=True)
class VowelSplit:
    """A speaker-disjoint train/test split with inputs standardised by the training set.

    ``x_train (N_train, F)`` and ``x_test (N_test, F)`` are ``(hz - mean) / std`` with ``mean (F,)``
    and ``std (F,)`` from the training tokens; ``y_train``/``y_test`` are class indices.
    """

    train: VowelTokens
    test: VowelTokens
    mean: np.ndarray
    std: np.ndarray

    @property
    def x_train(self) -> np.ndarray:
        return self.standardise(self.train.features)

    @property
    def x_test(self) -> np.ndarray:
        return self.standardise(self.test.features)

    @property
    def y_train(self) -> np.ndarray:
        return self.train.labels

    @property
    def y_test(self) -> np.ndarray:
        return self.test.labels

    def standardise(self, hz: np.ndarray) -> np.ndarray:
        """Map formants in Hz ``(..., F)`` to the network's input scale."""
        return (np.asarray(hz, dtype=np.float64) - self.mean) / self.std

    def digest(self) -> str:
        """SHA-256 (hex) of the split's tokens (inputs, labels, speakers of both sides), what
        results computed from it record (:mod:`core.provenance` ``sources``)."""
        from core.io import results_digest

        return results_digest({side: {"x": getattr(self, f"x_{side}"),
                                      "y": getattr(self, f"y_{side}"),
                                      "speakers": getattr(self, side).speakers}
                               for side in ("train", "test")})


def load_tokens(vowels: tuple[str, ...] = VOWELS,
                features: tuple[str, ...] = FEATURES) -> VowelTokens:
    """Load the shipped Peterson-Barney file, keeping ``vowels`` (file codes) and ``features``.

    Labels follow the order of ``vowels``. Raises ValueError naming the bad code or column.
    """
    path = resources.files("core").joinpath("data", _DATA_FILE)
    with path.open("r", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    known_vowels = sorted({row["vowel"] for row in rows})
    for code in vowels:
        if code not in known_vowels:
            raise ValueError(f"unknown vowel code {code!r}; expected some of {known_vowels}")
    if len(set(vowels)) != len(vowels) or not vowels:
        raise ValueError(f"vowels must be distinct and non-empty, got {vowels!r}")
    known_features = ("f0", "f1", "f2", "f3")
    for name in features:
        if name not in known_features:
            raise ValueError(f"unknown feature {name!r}; expected some of {known_features}")
    kept = [row for row in rows if row["vowel"] in vowels]
    return VowelTokens(
        features=np.array([[float(row[f]) for f in features] for row in kept]),
        labels=np.array([vowels.index(row["vowel"]) for row in kept], dtype=np.int64),
        speakers=np.array([int(row["speaker"]) for row in kept], dtype=np.int64),
        groups=np.array([row["type"] for row in kept]),
        vowels=tuple(vowels),
        feature_names=tuple(features),
    )


def _standardised(train: VowelTokens, test: VowelTokens) -> VowelSplit:
    mean = train.features.mean(axis=0)
    std = train.features.std(axis=0)
    return VowelSplit(train=train, test=test, mean=mean, std=std)


def paper_split(tokens: VowelTokens | None = None) -> VowelSplit:
    """The fixed 50/25-speaker split documented in the module docstring (speaker 76 left out)."""
    tokens = load_tokens() if tokens is None else tokens
    return _standardised(tokens.subset(PAPER_TRAIN_SPEAKERS), tokens.subset(PAPER_TEST_SPEAKERS))


def stratified_speaker_split(seed: int, n_test: int = 25, tokens: VowelTokens | None = None,
                             exclude: tuple[int, ...] = EXCLUDED_SPEAKERS) -> VowelSplit:
    """A random speaker split, stratified by group (men/women/children).

    Each group gives ``round(n_test * group_size / n_speakers)`` test speakers (the last group
    takes the remainder so the total is ``n_test``); the others train. ``exclude`` speakers are
    dropped first (default: speaker 76, as in :func:`paper_split`).
    """
    tokens = load_tokens() if tokens is None else tokens
    speakers = np.setdiff1d(np.unique(tokens.speakers), np.asarray(exclude, dtype=np.int64))
    if not 0 < n_test < speakers.size:
        raise ValueError(f"n_test must be in 1..{speakers.size - 1}, got {n_test}")
    rng = np.random.default_rng(seed)
    group_of = {int(s): str(g) for s, g in zip(tokens.speakers, tokens.groups, strict=True)}
    test: list[int] = []
    remaining = n_test
    groups = [g for g in SPEAKER_GROUPS if any(group_of[int(s)] == g for s in speakers)]
    for i, group in enumerate(groups):
        members = np.array([s for s in speakers if group_of[int(s)] == group])
        share = remaining if i == len(groups) - 1 else round(n_test * members.size / speakers.size)
        share = min(share, members.size)
        test.extend(int(s) for s in rng.choice(members, size=share, replace=False))
        remaining -= share
    train = tuple(int(s) for s in speakers if int(s) not in test)
    return _standardised(tokens.subset(train), tokens.subset(tuple(sorted(test))))


def make_split(split: str = "paper", seed: int = 0) -> VowelSplit:
    """``"paper"`` -> :func:`paper_split`; ``"stratified"`` -> :func:`stratified_speaker_split`."""
    if split == "paper":
        return paper_split()
    if split == "stratified":
        return stratified_speaker_split(seed)
    raise ValueError(f"unknown split {split!r}; expected 'paper' or 'stratified'")
