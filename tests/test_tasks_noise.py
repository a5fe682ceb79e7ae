"""Input noise blocks: every block gets its own full MT19937 state, so no stream repeats."""

import numpy as np
import pytest
import torch

from core.tasks import noise
from core.tasks.modcog import ModCogConfig, generate_modcog, generate_stream

SMALL_BLOCK = 16  # blocks of 16 samples make a long run's worth of blocks cheap to draw


def _keys(states: np.ndarray) -> np.ndarray:
    """A 64-bit key per MT19937 state (words 1 and 2; distinct keys mean distinct states)."""
    return np.ascontiguousarray(states[:, 1:3]).view(np.uint64).ravel()


@pytest.fixture
def serial_small_blocks(monkeypatch):
    monkeypatch.setattr(noise, "BLOCK", SMALL_BLOCK)
    noise.set_noise_threads(1)
    yield
    noise.set_noise_threads(None)


def test_torch_keeps_only_32_bits_of_a_manual_seed_but_every_word_of_a_set_state():
    # the reason for full states: seeds equal modulo 2^32 give the same stream
    a = torch.randn(8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, torch.randn(8, generator=torch.Generator().manual_seed(5 + 2**40)))
    words = noise.block_states(np.random.default_rng(0), 1)[0]
    assert np.array_equal(noise._mt_words(noise._generator(words).get_state().numpy()), words)
    reference = torch.randn(2 * noise.MT_WORDS, generator=noise._generator(words))
    for word in (1, 300, noise.MT_WORDS - 1):  # one flipped bit anywhere changes the stream
        changed = words.copy()
        changed[word] ^= 1
        assert not torch.equal(torch.randn(2 * noise.MT_WORDS,
                                           generator=noise._generator(changed)), reference)


def test_noise_blocks_never_repeat_over_many_batches(serial_small_blocks):
    # 8 000 batches of 16 blocks: 32-bit seeds repeated blocks here (n^2 / 2^33 = 1.9 expected)
    n_batches, per_batch = 8_000, 16
    rng = np.random.default_rng(0)
    blocks = np.concatenate([
        noise.gaussian_noise(rng, (per_batch * SMALL_BLOCK,), 1.0).reshape(per_batch, -1)
        for _ in range(n_batches)])
    assert np.unique(blocks.view(f"V{4 * SMALL_BLOCK}")).size == n_batches * per_batch


def test_block_states_are_distinct_over_a_long_run():
    # yang19 batches of 128 hold about 17 blocks: 340 000 states for 20 000 steps, of which
    # 32-bit seeds would repeat about 13 (1.7 M and 330 for the 100 000 steps of `paper`)
    rng = np.random.default_rng(1)
    keys = np.concatenate([_keys(noise.block_states(rng, 17 * 1000)) for _ in range(20)])
    assert np.unique(keys).size == keys.size == 340_000
    # these are the states used: a batch's noise draws exactly block_states from the Generator
    drawn, replay = np.random.default_rng(2), np.random.default_rng(2)
    noise.gaussian_noise(drawn, (3, noise.BLOCK), 1.0)
    noise.block_states(replay, 3)
    assert drawn.bit_generator.state == replay.bit_generator.state


def test_modcog_noise_draws_distinct_block_states_independent_of_threads(monkeypatch):
    monkeypatch.setattr(noise, "BLOCK", SMALL_BLOCK)
    drawn = []

    def recording(rng, n_blocks):
        states = block_states(rng, n_blocks)
        drawn.append(states)
        return states

    block_states = noise.block_states
    monkeypatch.setattr(noise, "block_states", recording)
    tasks = ("dm1", "dlydm2", "dms")
    try:
        noise.set_noise_threads(1)
        serial = generate_stream(tasks, 16, 200, np.random.default_rng(4))
        noise.set_noise_threads(3)
        parallel = generate_stream(tasks, 16, 200, np.random.default_rng(4))
    finally:
        noise.set_noise_threads(None)
    assert np.array_equal(serial.x, parallel.x)
    half = len(drawn) // 2
    states = np.concatenate(drawn[:half])
    assert np.array_equal(states, np.concatenate(drawn[half:]))
    assert len(states) > 1000 and np.unique(_keys(states)).size == len(states)
    clean = generate_modcog("dm1", 8, np.random.default_rng(1), ModCogConfig(), noise=False)
    noisy = generate_modcog("dm1", 8, np.random.default_rng(1), ModCogConfig(), noise=True)
    assert not np.array_equal(clean.x, noisy.x) and len(drawn) == 2 * half + 1
