"""Networks of the reference code (LevinaLab/rnn_timescale_public) loaded into TimescaleRNN, on
small files written here in its format: ``{"state_dict": OrderedDict}`` with tensors tagged
``cuda:0`` as the published files are."""

import collections
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from script_loader import load_script

from core.errors import CheckpointError
from core.io import list_runs, load_results
from core.models.timescale_rnn import TimescaleRNN, reference_checkpoints, reference_task

HIDDEN, HEADS_STORED = 6, 5


def reference_state(tau: torch.Tensor, seed: int = 0) -> collections.OrderedDict:
    """A one-layer RNN_Stack state dict: τ, input layer, recurrent layer with bias, 5 heads."""
    g = torch.Generator().manual_seed(seed)
    state = collections.OrderedDict()
    state["parameterlist.0"] = tau
    state["modulelist.0.weight"] = torch.randn(HIDDEN, 1, generator=g)
    state["modulelist.0.bias"] = torch.randn(HIDDEN, generator=g)
    state["modulelist.1.weight"] = torch.randn(HIDDEN, HIDDEN, generator=g) / 2
    state["modulelist.1.bias"] = torch.randn(HIDDEN, generator=g)
    for i in range(HEADS_STORED):
        state[f"modulelist.{2 + i}.weight"] = torch.randn(2, HIDDEN, generator=g)
        state[f"modulelist.{2 + i}.bias"] = torch.randn(2, generator=g)
    return state


def write_reference(path: Path, state: dict, device: str = "cuda:0") -> Path:
    """torch.save({"state_dict": state}) with every tensor's storage tagged ``device``, as a file
    saved from a GPU is (the pickled location string is rewritten)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = path.with_name(path.name + ".cpu")
    torch.save({"state_dict": state}, plain)
    tag = bytes([len(device)]) + b"\x00\x00\x00" + device.encode()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                assert b"X\x03\x00\x00\x00cpu" in data
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X" + tag)
            dst.writestr(info.filename, data)
    plain.unlink()
    return path


def reference_step(state: dict, h: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
    """One step of the reference equations, written from the paper: with τ clamped at 1 and
    W without its diagonal, h' = LeakyReLU((1 − 1/τ) h + (W h + b_W + U x + b_U) / τ)."""
    tau = torch.clamp(state["parameterlist.0"], min=1.0)
    w = state["modulelist.1.weight"] * (1 - torch.eye(HIDDEN))
    drive = (h @ w.T + state["modulelist.1.bias"] + x_t @ state["modulelist.0.weight"].T
             + state["modulelist.0.bias"])
    return F.leaky_relu((1 - 1 / tau) * h + drive / tau)


@pytest.fixture
def tau() -> torch.Tensor:
    return torch.tensor([0.5, 0.999, 1.0, 1.7, 3.0, 12.0])


def test_gpu_saved_file_needs_map_location(tmp_path, tau):
    path = write_reference(tmp_path / "cumulative_parity_network_1" / "rnn_N2_N4",
                           reference_state(tau))
    if not torch.cuda.is_available():  # the tag is real: a plain load cannot place the tensors
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    model = TimescaleRNN.from_reference(path)
    assert all(p.device.type == "cpu" for p in model.state_dict().values())


def test_hidden_states_equal_hand_written_reference_step(tmp_path, tau):
    state = reference_state(tau)
    path = write_reference(tmp_path / "cumulative_parity_network_1" / "rnn_N2_N4", state)
    model = TimescaleRNN.from_reference(path)
    assert model.tau.tolist() == [1.0, 1.0, 1.0, pytest.approx(1.7), 3.0, 12.0]  # τ < 1 → 1
    assert not model.config.train_tau and model.config.placement == "after_leak"
    x = (torch.rand(12, 3, 1, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    h0 = 0.1 * torch.rand(3, HIDDEN, generator=torch.Generator().manual_seed(2))
    h, expected = h0, []
    for t in range(12):
        h = reference_step(state, h, x[t])
        expected.append(h)
    assert torch.allclose(model.hidden_trajectory(x, h0=h0), torch.stack(expected), atol=1e-6)
    logits = model.final_logits(x, [2, 3, 4], h0=h0)
    for i in range(3):
        w, b = state[f"modulelist.{2 + i}.weight"], state[f"modulelist.{2 + i}.bias"]
        head = expected[-1] @ w.T + b
        assert torch.allclose(logits[i], head, atol=1e-6)


@pytest.mark.parametrize(("folder", "file", "heads"), [
    ("cumulative_parity_network_1", "rnn_N2_N6", (2, 3, 4, 5, 6)),   # head i → N = min + i
    ("single_parity_network_1", "rnn_N7_N7", (7,)),                  # head 0 → N = max
    ("sliding_3_1_dms_network_2", "rnn_N4_N6", (4, 5, 6)),           # positional window
])
def test_heads_map_to_n(tmp_path, tau, folder, file, heads):
    state = reference_state(tau)
    model = TimescaleRNN.from_reference(write_reference(tmp_path / folder / file, state))
    assert model.heads == heads
    for i, n in enumerate(heads):
        assert torch.equal(model.readout[str(n)].weight, state[f"modulelist.{2 + i}.weight"])
    assert reference_task(tmp_path / folder / file) == folder.split("_")[-3]


def test_modified_model_fixed_tau_and_random_initial_state(tmp_path):
    state = reference_state(torch.tensor([4.0]))  # fixed-τ network: one τ for all neurons
    path = write_reference(tmp_path / "cumulative_parity_mod_tanh_network_1" / "rnn_N2_N3", state)
    model = TimescaleRNN.from_reference(path, initial_state="random")
    assert model.config.placement == "before_leak" and model.config.activation == "tanh"
    assert torch.equal(model.tau, torch.full((HIDDEN,), 4.0))
    x = torch.zeros(3, 4, 1)
    torch.manual_seed(0)
    h0 = model.initial_hidden(x)
    assert (h0 >= 0).all() and (h0 <= 0.1).all() and h0.std() > 0
    torch.manual_seed(0)
    first = model.hidden_trajectory(x)[0]
    pre = h0 @ (state["modulelist.1.weight"] * (1 - torch.eye(HIDDEN))).T + \
        state["modulelist.1.bias"] + state["modulelist.0.bias"]
    assert torch.allclose(first, 0.75 * h0 + torch.tanh(pre) / 4, atol=1e-6)


def test_bad_reference_files_refused(tmp_path, tau):
    good = reference_state(tau)
    with pytest.raises(CheckpointError, match="rnn_N<min>_N<max>"):
        TimescaleRNN.from_reference(write_reference(tmp_path / "c_parity_network_1" / "rnn_init",
                                                    good))
    with pytest.raises(CheckpointError, match="6 heads"):  # N2..N7 needs 6, 5 are stored
        TimescaleRNN.from_reference(write_reference(tmp_path / "c" / "rnn_N2_N7", good))
    two_layers = collections.OrderedDict(good, **{"parameterlist.1": tau})
    with pytest.raises(CheckpointError, match="one-layer"):
        TimescaleRNN.from_reference(write_reference(tmp_path / "d" / "rnn_N2_N3", two_layers))

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    (tmp_path / "e_rnn").mkdir()
    torch.save({"state_dict": Payload()}, tmp_path / "e_rnn" / "rnn_N2_N2")
    with pytest.raises(CheckpointError, match="refused"):  # weights_only: nothing is run
        TimescaleRNN.from_reference(tmp_path / "e_rnn" / "rnn_N2_N2")
    assert list(reference_checkpoints(tmp_path / "c")) == [7]
    with pytest.raises(FileNotFoundError):
        reference_checkpoints(tmp_path / "nothing")


def test_scripts_run_on_a_reference_folder(tmp_path, tau, capsys):
    analyze = load_script("timescales/analyze.py", "timescales_analyze")
    ablate = load_script("timescales/ablate.py", "timescales_ablate")
    folder = tmp_path / "trained_models" / "cumulative_parity_network_1"
    for n in (2, 3):
        write_reference(folder / f"rnn_N2_N{n}", reference_state(tau, seed=n))
    results, figure = tmp_path / "analysis.h5", tmp_path / "fig"
    argv = ["--from-reference", str(folder), "--trials", "4", "--length", "80", "--burn-in", "10",
            "--fit-lag", "8", "--results", str(results), "--figure", str(figure)]
    analyze.main(argv)
    assert "reference_cumulative_parity_network_1: N=[2, 3]" in capsys.readouterr().out
    stored = load_results(results, "reference_cumulative_parity_network_1")
    assert stored["n"].tolist() == [2, 3] and np.isfinite(stored["tau_trained"]).all()
    assert stored["fit_status"].shape == (2, HIDDEN)
    with pytest.raises(SystemExit) as stop:  # outputs exist: refused before any work
        analyze.main(argv)
    assert stop.value.code == 2 and "--overwrite" in capsys.readouterr().err
    ablate.main(["--from-reference", str(folder / "rnn_N2_N3"), "--k", "1", "2", "--scales",
                 "0.1", "--retrain-steps", "2", "--eval-every", "1", "--eval-batches", "1",
                 "--batch", "8", "--results", str(tmp_path / "ablation.h5"),
                 "--figure", str(tmp_path / "abl")])
    name = "reference_cumulative_parity_network_1_rnn_N2_N3"
    assert list_runs(tmp_path / "ablation.h5") == [name]
    assert load_results(tmp_path / "ablation.h5", name)["ns"].tolist() == [2, 3]
    ablate.main(["--from-reference", str(folder), "--k", "1", "--scales", "0.1",  # a folder
                 "--retrain-steps", "1", "--eval-every", "1", "--eval-batches", "1", "--batch",
                 "4", "--results", str(tmp_path / "a2.h5"), "--figure", str(tmp_path / "a2")])
    assert list_runs(tmp_path / "a2.h5") == [name.replace("N3", "N2"), name]
    assert (tmp_path / f"a2_{name}.png").is_file()
    with pytest.raises(SystemExit):
        ablate.main([str(folder / "rnn_N2_N3"), "--from-reference", str(folder)])
    assert "either CHECKPOINT or --from-reference" in capsys.readouterr().err
