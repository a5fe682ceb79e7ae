"""Suite-wide settings."""

import pytest
import torch

from core.cli import DEFAULT_THREADS, set_threads


@pytest.fixture(autouse=True, scope="session")
def _script_threads():
    """Run every test with the scripts' default torch thread count (1): these small sequential
    models run fastest that way on a shared CPU."""
    before = torch.get_num_threads()
    set_threads(DEFAULT_THREADS)
    yield
    torch.set_num_threads(before)
