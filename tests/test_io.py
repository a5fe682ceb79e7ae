import h5py
import numpy as np
import pytest

from core.io import (
    ResultsFileError,
    delete_results,
    list_runs,
    load_config,
    load_results,
    save_results,
)


def _results(rng):
    return {
        "task_variance": rng.random((50, 15)).astype(np.float32),
        "labels": rng.integers(0, 5, size=50),
        "rules": np.array(["fdgo", "fdanti", "delaygo"]),
        "n_clusters": 5,
        "clusters": {"kmeans": {"silhouette": rng.random(28)}, "empty": np.zeros((0, 3))},
    }


def test_round_trip_keeps_arrays_config_and_other_runs(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "sub" / "analysis.h5"
    first, second = _results(rng), _results(rng)
    save_results(path, "runA", first, config={"hidden": 64, "rules": ["fdgo"]})
    save_results(path, "runB", second)
    assert list_runs(path) == ["runA", "runB"]
    back = load_results(path, "runA")
    np.testing.assert_array_equal(back["task_variance"], first["task_variance"])
    assert back["task_variance"].dtype == np.float32
    np.testing.assert_array_equal(back["labels"], first["labels"])
    assert back["rules"].tolist() == ["fdgo", "fdanti", "delaygo"]
    assert int(back["n_clusters"]) == 5
    np.testing.assert_array_equal(back["clusters"]["kmeans"]["silhouette"],
                                  first["clusters"]["kmeans"]["silhouette"])
    assert back["clusters"]["empty"].shape == (0, 3)
    assert load_config(path, "runA") == {"hidden": 64, "rules": ["fdgo"]}
    np.testing.assert_array_equal(load_results(path, "runB")["labels"], second["labels"])
    with h5py.File(path, "r") as f:  # compressed with checksums
        dset = f["runA/task_variance"]
        assert dset.fletcher32 and dset.chunks is not None
    assert sorted(p.name for p in path.parent.iterdir()) == ["analysis.h5"]  # no temp files


def test_existing_run_is_not_overwritten_silently(tmp_path):
    path = tmp_path / "a.h5"
    save_results(path, "run", {"x": np.ones(3)})
    with pytest.raises(FileExistsError):
        save_results(path, "run", {"x": np.zeros(3)})
    np.testing.assert_array_equal(load_results(path, "run")["x"], np.ones(3))
    save_results(path, "run", {"x": np.zeros(3)}, overwrite=True)
    np.testing.assert_array_equal(load_results(path, "run")["x"], np.zeros(3))


def _flip_data_byte(path):
    """Flip one byte inside the stored (compressed) chunk of the only big dataset."""
    with h5py.File(path, "r") as f:
        offset = f["run/x"].id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 40] ^= 0xFF
    path.write_bytes(bytes(raw))


def _damaged_results(path, damage):
    """A results file at ``path`` broken by ``damage``: garbage bytes, truncation or a flipped
    data byte."""
    save_results(path, "run", {"x": np.random.default_rng(1).random(4000)})
    if damage == "garbage":
        path.write_bytes(b"this is not an hdf5 file at all" * 10)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:700])
    else:
        _flip_data_byte(path)


def test_delete_results_removes_one_entry_and_keeps_the_others(tmp_path):
    path = tmp_path / "curricula.h5"
    assert not delete_results(path, "a") and not path.exists()
    for name in ("a", "b"):
        save_results(path, name, {"x": np.arange(3)}, config={"name": name})
    assert delete_results(path, "a") and list_runs(path) == ["b"]
    assert not delete_results(path, "a")
    np.testing.assert_array_equal(load_results(path, "b")["x"], np.arange(3))
    assert load_config(path, "b") == {"name": "b"}
    save_results(path, "a", {"x": np.ones(2)})  # stored again without overwrite
    assert list_runs(path) == ["a", "b"]


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip"])
def test_corrupted_file_gives_one_line_error(tmp_path, damage):
    path = tmp_path / "bad.h5"
    _damaged_results(path, damage)
    with pytest.raises(ResultsFileError) as info:
        load_results(path, "run")
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def test_missing_file_and_run_are_reported(tmp_path):
    with pytest.raises(ResultsFileError, match="no such results file"):
        load_results(tmp_path / "none.h5", "run")
    save_results(tmp_path / "a.h5", "run", {"x": np.ones(2)})
    with pytest.raises(ResultsFileError, match="no results for run 'other'"):
        load_results(tmp_path / "a.h5", "other")


def test_bad_keys_and_values_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        save_results(tmp_path / "a.h5", "run", {"a/b": np.ones(2)})
    with pytest.raises(TypeError):
        save_results(tmp_path / "a.h5", "run", {"x": np.array([object()])})
    assert not (tmp_path / "a.h5").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip"])
def test_corrupted_file_is_replaced_with_overwrite_and_the_refusal_says_so(tmp_path, damage):
    path = tmp_path / "bad.h5"
    _damaged_results(path, damage)
    with pytest.raises(ResultsFileError, match="pass --overwrite to replace the file$") as info:
        save_results(path, "run", {"x": np.ones(3)})
    assert "\n" not in str(info.value)
    save_results(path, "run", {"x": np.ones(3)}, overwrite=True)
    np.testing.assert_array_equal(load_results(path, "run")["x"], np.ones(3))
    assert list_runs(path) == ["run"]
