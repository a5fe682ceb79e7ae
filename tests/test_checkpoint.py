import json
import os
import pickle

import numpy as np
import pytest
import torch

from core.fileio import save_json
from core.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_json,
    load_model_state,
    model_state,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)


def test_round_trip_of_nested_payload(tmp_path):
    model = torch.nn.Linear(3, 2)
    payload = {"step": 7, "name": "x", "lr": 1e-3, "flags": [True, None, (1, 2)],
               "model": model_state(model), "nested": {"a": np.arange(3.0), "b": np.float32(2)}}
    path = save_checkpoint(tmp_path / "run" / "checkpoint.pt", payload)
    back = load_checkpoint(path)
    assert back["step"] == 7 and back["name"] == "x" and back["flags"] == [True, None, (1, 2)]
    assert torch.equal(back["model"]["weight"], model.weight.detach())
    assert torch.equal(back["nested"]["a"], torch.arange(3.0, dtype=torch.float64))
    assert back["nested"]["b"] == 2.0
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt"]  # no temp files


def test_unstorable_object_is_rejected_before_writing(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        save_checkpoint(tmp_path / "c.pt", {"bad": object()})
    assert not (tmp_path / "c.pt").exists()


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):  # unpickling would create (and truncate) the target file
        return (open, (self.target, "w"))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "payload": _Evil(str(target))}, path)
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(path)
    assert not target.exists()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None])
def test_missing_or_corrupt_files_give_one_line_errors(tmp_path, content):
    path = tmp_path / "c.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_truncated_checkpoint_is_reported(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.randn(100, 100)})
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_shape_mismatch_names_the_tensor_in_one_line(tmp_path):
    small, big = torch.nn.Sequential(torch.nn.Linear(3, 4)), torch.nn.Sequential(
        torch.nn.Linear(3, 5))
    path = save_checkpoint(tmp_path / "c.pt", {"model": model_state(small)})
    state = load_checkpoint(path)["model"]
    with pytest.raises(CheckpointError) as info:
        load_model_state(big, state, source=str(path))
    message = str(info.value)
    assert "'0.weight'" in message and "(4, 3)" in message and "(5, 3)" in message
    assert "\n" not in message
    before = big[0].weight.detach().clone()
    assert torch.equal(big[0].weight, before)  # nothing was loaded
    with pytest.raises(CheckpointError, match="missing"):
        load_model_state(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1)),
                         state)
    other = torch.nn.Sequential(torch.nn.Linear(3, 4))
    load_model_state(other, state)
    assert torch.equal(other[0].weight, small[0].weight)


def test_rng_state_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    torch.manual_seed(5)
    rng.random(3)
    path = save_checkpoint(tmp_path / "c.pt", {"rng": rng_state(rng)})
    expected_np, expected_torch = rng.random(4), torch.rand(4)
    fresh = np.random.default_rng(99)
    torch.manual_seed(99)
    restore_rng_state(fresh, load_checkpoint(path)["rng"])
    assert np.array_equal(fresh.random(4), expected_np)
    assert torch.equal(torch.rand(4), expected_torch)


def test_json_helpers(tmp_path):
    path = save_json(tmp_path / "config.json", {"b": 1, "a": [1.5, "x"]})
    assert load_json(path) == {"a": [1.5, "x"], "b": 1}
    assert json.loads(path.read_text()) == {"a": [1.5, "x"], "b": 1}
    path.write_text("{broken")
    with pytest.raises(CheckpointError, match="unreadable JSON"):
        load_json(path)


class _System:
    def __reduce__(self):  # unpickling would run a shell command (module posix is blocked)
        return (os.system, ("echo pwned",))


def _raw_pickle(path, obj):  # a plain pickle (no torch zip container), protocol 4
    path.write_bytes(pickle.dumps(obj, protocol=4))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("payload,write", [
    ({"w": torch.zeros(2), "run": _System()}, torch.save),
    ({"w": np.zeros(3)}, torch.save),
    ({"w": _System()}, lambda obj, path: _raw_pickle(path, obj)),
])
def test_refusal_of_an_untrusted_checkpoint_never_advises_unsafe_loading(tmp_path, payload,
                                                                          write):
    path = tmp_path / "crafted.pt"
    write(payload, path)
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for advice in ("weights_only", "trust", "safe_globals", "Re-running"):
        assert advice not in message.replace(str(path), "")
