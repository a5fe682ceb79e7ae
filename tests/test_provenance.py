"""core.provenance: results record the network and inputs they came from; stale ones are caught."""

import numpy as np
import pytest
import torch

from core.errors import ResultsFileError, StaleResultsError
from core.io import load_provenance, save_results
from core.provenance import (
    claim,
    code_version,
    load_current,
    network_digest,
    option_sources,
    record,
    stale_reason,
)
from core.training.checkpoint import save_checkpoint

CONFIG = {"name": "run", "model": {"hidden": 4}}


def _checkpoint(path, scale=1.0, config=CONFIG, step=3):
    state = {"w": torch.arange(6.0).reshape(2, 3) * scale, "b": torch.ones(2)}
    return save_checkpoint(path, {"model": state, "config": config, "step": step})


def test_digest_follows_tensors_and_config():
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    base = network_digest(state, CONFIG)
    assert network_digest({"w": torch.arange(6.0).reshape(2, 3)}, dict(CONFIG)) == base
    assert network_digest({"w": torch.arange(6.0).reshape(3, 2)}, CONFIG) != base
    assert network_digest({"w": torch.arange(6.0, dtype=torch.float64).reshape(2, 3)},
                          CONFIG) != base
    changed = state["w"].clone()
    changed[1, 2] += 1e-6
    assert network_digest({"w": changed}, CONFIG) != base
    assert network_digest(state, {**CONFIG, "model": {"hidden": 5}}) != base


def test_results_are_current_until_the_network_or_an_input_changes(tmp_path):
    checkpoint = _checkpoint(tmp_path / "checkpoint.pt")
    first, second = tmp_path / "analysis.h5", tmp_path / "lesion.h5"
    save_results(first, "run", {"x": np.ones(3)}, provenance=record(first, checkpoint))
    save_results(second, "run", {"y": np.zeros(2)},
                 provenance=record(second, checkpoint, inputs=[(first, "run")]))
    stored = load_provenance(second, "run")
    assert stored["checkpoint"] == "checkpoint.pt" and stored["step"] == 3
    assert stored["inputs"][0]["file"] == "analysis.h5"
    assert stored["code"] == code_version() and stored["code"].startswith("mtplab ")
    assert stale_reason(first, "run") is None and stale_reason(second, "run") is None
    np.testing.assert_array_equal(load_current(second, "run", "REFRESH")["y"], np.zeros(2))

    # the input is recomputed with other values: the result built on it is stale
    save_results(first, "run", {"x": np.full(3, 2.0)}, overwrite=True,
                 provenance=record(first, checkpoint))
    assert "analysis.h5 was recomputed" in stale_reason(second, "run")
    # the network is trained further: both are stale, and loading names the refresh command
    _checkpoint(tmp_path / "checkpoint.pt", scale=2.0, step=5)
    assert "another network" in stale_reason(first, "run")
    with pytest.raises(StaleResultsError, match=r"stale: .*step 3 then, step 5 now.*refresh "
                                                r"them with: REFRESH$") as info:
        load_current(first, "run", "REFRESH")
    assert "\n" not in str(info.value)
    (tmp_path / "checkpoint.pt").unlink()
    assert "is gone" in stale_reason(first, "run")


def test_unrecorded_missing_and_corrupt_entries_name_the_refresh_command(tmp_path):
    path = tmp_path / "old.h5"
    save_results(path, "run", {"x": np.ones(2)})  # written without provenance
    with pytest.raises(StaleResultsError, match="record no provenance.*REFRESH$"):
        load_current(path, "run", "REFRESH")
    with pytest.raises(ResultsFileError, match="no such results file; compute it with: R$"):
        load_current(tmp_path / "none.h5", "run", "R")
    path.write_bytes(b"garbage" * 20)
    with pytest.raises(ResultsFileError, match="corrupted.*compute it with: R$"):
        load_current(path, "run", "R")


def test_claim_keeps_current_results_recomputes_stale_ones_and_replaces_corrupt_files(
        tmp_path):
    checkpoint = _checkpoint(tmp_path / "checkpoint.pt")
    path = tmp_path / "analysis.h5"
    assert claim(path, "run", overwrite=False) is None  # nothing stored yet
    save_results(path, "run", {"x": np.ones(3)}, provenance=record(path, checkpoint))
    assert claim(path, "other", overwrite=False) is None
    with pytest.raises(FileExistsError, match="current; pass --overwrite"):
        claim(path, "run", overwrite=False)
    assert claim(path, "run", overwrite=True) is None
    _checkpoint(tmp_path / "checkpoint.pt", scale=3.0)
    assert "replacing the stored results" in claim(path, "run", overwrite=False)
    path.write_bytes(b"garbage" * 20)
    with pytest.raises(ResultsFileError, match="pass --overwrite to replace the file$"):
        claim(path, "run", overwrite=False)
    assert claim(path, "run", overwrite=True) is None


def test_results_without_a_checkpoint_are_checked_on_their_inputs_only(tmp_path):
    history, summary = tmp_path / "curricula.h5", tmp_path / "summary.h5"
    save_results(history, "run", {"n": np.arange(3)}, provenance=record(history, None))
    save_results(summary, "run", {"m": np.ones(1)},
                 provenance=record(summary, None, inputs=[(history, "run")]))
    assert load_provenance(history, "run")["checkpoint"] is None
    assert stale_reason(summary, "run") is None
    save_results(history, "run", {"n": np.arange(4)}, overwrite=True,
                 provenance=record(history, None))
    assert "curricula.h5 was recomputed" in stale_reason(summary, "run")


def test_results_of_other_options_name_the_options_that_differ(tmp_path):
    from types import SimpleNamespace

    path = tmp_path / "res.h5"
    then = SimpleNamespace(trials=32, epoch="delay1", pairs=("dmcgo", "dmcnogo"))
    save_results(path, "run", {"x": np.ones(1)},
                 provenance=record(path, None, sources=option_sources(then, vars(then))))
    assert stale_reason(path, "run", option_sources(then, vars(then))) is None
    now = SimpleNamespace(trials=500, epoch="delay1", pairs=("dmcgo", "dmcnogo"))
    assert stale_reason(path, "run", option_sources(now, vars(now))) == (
        "they were computed with other options (trials 32, now 500)")
    # values as a researcher reads them, not Python reprs
    then = SimpleNamespace(k=None, epoch="delay1", pairs=("dmcgo", "dmcnogo"), lr=1e-5,
                           noise=0.1234567, no_pairs=False, probes=[], removed=2)
    save_results(path, "run", {"x": np.ones(1)}, overwrite=True,
                 provenance=record(path, None, sources=option_sources(then, vars(then))))
    now = SimpleNamespace(k=3, epoch="go1", pairs=["dmcgo", "dm1"], lr=0.5, noise=0.1234568,
                          no_pairs=True, probes=["go"], added=0.25)
    assert stale_reason(path, "run", option_sources(now, vars(now))) == (
        "they were computed with other options (added not recorded, now 0.25; epoch delay1, "
        "now go1; k not set, now 3; lr 1e-05, now 0.5; no-pairs no, now yes; noise 0.1234567, "
        "now 0.1234568; pairs dmcgo,dmcnogo, now dmcgo,dm1; probes none, now go; removed 2, "
        "now not an option)")


def test_further_networks_and_sources_are_checked(tmp_path):
    main, other = _checkpoint(tmp_path / "a.pt"), _checkpoint(tmp_path / "b" / "c.pt", step=4)
    path = tmp_path / "res.h5"
    save_results(path, "run", {"x": np.ones(2)},
                 provenance=record(path, main, networks=[other], sources={"data": "d1"}))
    stored = load_provenance(path, "run")
    assert stored["networks"] == [{"checkpoint": "b/c.pt", "network": stored["network"],
                                   "step": 4}]
    assert stale_reason(path, "run") is None
    assert stale_reason(path, "run", {"data": "d1"}) is None
    assert "data has changed" in stale_reason(path, "run", {"data": "d2"})
    with pytest.raises(StaleResultsError, match="data has changed.*REFRESH$"):
        load_current(path, "run", "REFRESH", sources={"data": "d2"})
    assert claim(path, "run", False, {"data": "d2"}).endswith("their data has changed since")
    assert stale_reason(path, "run", {"seeds": "s"}).endswith("do not record their seeds "
                                                               "(stored before they did)")
    _checkpoint(tmp_path / "b" / "c.pt", scale=3.0, step=6)  # the further network retrained
    assert "another network than" in stale_reason(path, "run")
    assert "step 4 then, step 6 now" in stale_reason(path, "run")


def test_analyse_runs_reuses_current_entries_and_recomputes_stale_ones(tmp_path, capsys):
    from core.analysis import analyse_runs
    from core.io import load_results

    names = ["go_seed0_L21e4+hidden4+batch8+angle", "go_seed1_L21e4+hidden4+batch8+angle"]
    for name in names:
        _checkpoint(tmp_path / name / "checkpoint.pt")
    _checkpoint(tmp_path / "stage1.pt")
    seen = []

    def analyse(run_dir):
        seen.append(run_dir.name)
        return {"network": "mpn", "curve": np.arange(3.0) * len(seen)}, {"name": run_dir.name}

    def run(names, overwrite=False, sources=None):
        return analyse_runs(tmp_path, names, "summary.h5", overwrite, analyse, sources=sources,
                            networks=lambda run_dir: [tmp_path / "stage1.pt"])

    stored = run(names)
    assert seen == names and list(stored) == names
    for name in names:
        again = load_results(tmp_path / name / "summary.h5", name)
        assert stored[name]["network"] == again["network"] == "mpn"
        np.testing.assert_array_equal(stored[name]["curve"], again["curve"])
        load_current(tmp_path / name / "summary.h5", name, "refresh")  # current, with provenance
    capsys.readouterr()
    reused = run(names)  # current: read back, not recomputed, one line each says so
    out = capsys.readouterr().out
    assert len(seen) == 2 and list(reused) == names
    for name in names:
        np.testing.assert_array_equal(reused[name]["curve"], stored[name]["curve"])
        assert f"{name}: stored results are current, reused" in out
    with pytest.raises(FileNotFoundError, match="no trained run"):  # before any run is analysed
        analyse_runs(tmp_path, [names[0], names[1].replace("seed1", "seed2")], "new.h5", True,
                     analyse)
    assert len(seen) == 2
    _checkpoint(tmp_path / names[1] / "checkpoint.pt", scale=2.0)  # trained again: stale
    run(names)
    out = capsys.readouterr().out
    assert seen == [*names, names[1]] and f"{names[0]}: stored results are current" in out
    assert "replacing the stored results for" in out and "another network" in out
    _checkpoint(tmp_path / "stage1.pt", scale=3.0)  # the further network changed: both stale
    run(names)
    assert len(seen) == 5 and "stage1.pt" in capsys.readouterr().out
    run(names, sources={"options": "b"})  # other options: stale, recomputed, saying why
    assert len(seen) == 7 and "do not record their options" in capsys.readouterr().out
    run(names, overwrite=True, sources={"options": "b"})  # --overwrite recomputes current ones
    assert len(seen) == 9 and "reused" not in capsys.readouterr().out
