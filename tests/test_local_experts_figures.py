"""local_experts/figures.py stores the arrays of its figures; paper_plot.py redraws them."""

import json
import shutil
from pathlib import Path

import h5py
import matplotlib.image as mpimg
import numpy as np
import pytest
from script_loader import load_script

from core.io import load_config, load_provenance, load_results
from core.models.local_experts import gate_probabilities, init_params, parse_system
from core.provenance import code_version
from core.tasks.vowels import make_split

ROOT = Path(__file__).resolve().parents[1]
figures = load_script("local_experts/figures.py", "local_experts_figures")

STEMS = ("local_experts_regions", "local_experts_curves", "local_experts_responsibility")
TINY = ["--epochs", "3", "--seeds", "2", "--seed", "5"]


def _paper_plot():
    return load_script("paper_plot.py", "paper_plot_le")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("le")
    results = root / "results" / "local_experts" / "figures.h5"
    figures.main([*TINY, "--out", str(root / "figs"), "--results", str(results)])
    return root, results


def test_arrays_are_stored_with_their_config(stored):
    _, results = stored
    data = load_results(results, "seed5")
    assert load_config(results, "seed5") == {"seed": 5, "seeds": 2, "epochs": 3,
                                             "lr_mixture": 2.0, "lr_backprop": 10.0,
                                             "split": "paper"}
    assert list(data["systems"]) == list(figures.CURVE_SYSTEMS)
    for key in figures.CURVE_SYSTEMS:
        assert data["curves"][key]["train_accuracy"].shape == (4, 2)  # epochs 0..3, 2 seeds
        assert str(data["curves"][key]["label"]) == parse_system(key).label
    assert data["responsibility"].shape == (4, 4)
    np.testing.assert_allclose(data["responsibility"].sum(1), 1.0, atol=1e-9)
    start = data["regions"]["start"]
    assert start["margin"].shape == (4, 200, 200) and start["gate"].shape == (200, 200)
    # the stored gate map is the arg-max of the untrained seed-5 gate on the grid
    split = make_split("paper")
    params = init_params(parse_system("mix4"), [5])
    i, j = 37, 151
    point = split.standardise(np.array([[start["f1"][i], start["f2"][j]]]))
    assert start["gate"][i, j] == gate_probabilities(params, point)[0, 0].argmax()
    assert data["tokens"]["hz"].shape == (len(split.y_train), 2)


def test_paper_plot_redraws_the_same_figures(stored, tmp_path):
    root, _ = stored
    out = tmp_path / "redrawn"
    assert _paper_plot().main(["--results", str(root / "results"), "--runs",
                               str(tmp_path / "none"), "--out", str(out), "--only",
                               "local_experts"]) == 0
    for stem in STEMS:
        drawn = np.asarray(mpimg.imread(root / "figs" / f"{stem}.png"))
        redrawn = np.asarray(mpimg.imread(out / "local_experts" / "seed5" / f"{stem}.png"))
        assert drawn.std() > 0.01
        np.testing.assert_array_equal(drawn, redrawn)


def test_existing_outputs_stop_the_script_before_any_work(stored, tmp_path):
    root, results = stored
    before = results.stat().st_mtime_ns
    with pytest.raises(SystemExit, match="^error: .*local_experts_regions.png.*already exist"):
        figures.main([*TINY, "--out", str(root / "figs"), "--results", str(tmp_path / "r.h5")])
    assert not (tmp_path / "r.h5").exists()
    with pytest.raises(SystemExit, match="^error: .*'seed5' already exist and are current"):
        figures.main([*TINY, "--out", str(tmp_path / "figs"), "--results", str(results)])
    assert not (tmp_path / "figs").exists() and results.stat().st_mtime_ns == before
    with pytest.raises(SystemExit, match="^error: --epochs"):
        figures.main(["--epochs", "0", "--out", str(tmp_path / "figs")])


def test_figures_default_outside_tracked_docs():
    assert not str(figures.parse_args([]).out).startswith("docs")


def test_corrupt_results_file_is_replaced_with_overwrite(tmp_path):
    results = tmp_path / "figures.h5"
    results.write_bytes(b"not hdf5" * 10)
    args = ["--epochs", "1", "--seeds", "1", "--out", str(tmp_path / "figs"), "--results",
            str(results)]
    with pytest.raises(SystemExit, match="^error: .*corrupted.*pass --overwrite"):
        figures.main(args)
    figures.main([*args, "--overwrite"])
    assert load_results(results, "seed0")["epochs"] == 1


def test_results_record_their_data_and_paper_plot_refuses_other_data(stored, tmp_path, capsys):
    root, results = stored
    stored_record = load_provenance(results, "seed5")
    assert stored_record["checkpoint"] is None and stored_record["code"] == code_version()
    assert stored_record["sources"] == {"data": make_split("paper").digest()}
    copy = tmp_path / "results" / "local_experts" / "figures.h5"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(results, copy)
    with h5py.File(copy, "a") as f:  # as if computed from another version of the vowel file
        f["seed5"].attrs["provenance"] = json.dumps(
            {**stored_record, "sources": {"data": "0" * 64}})
    args = ["--results", str(tmp_path / "results"), "--runs", str(tmp_path / "none"),
            "--out", str(tmp_path / "out"), "--only", "local_experts"]
    assert _paper_plot().main(args) == 1
    printed = capsys.readouterr().out
    assert "data has changed" in printed and "refresh them with: python local_experts/figures.py" \
        f" --results {copy} --seed 5 --seeds 2 --epochs 3" in printed
    # the script recomputes the stale entry without --overwrite (its figures go with it)
    figures.main([*TINY, "--out", str(tmp_path / "figs"), "--results", str(copy)])
    assert "replacing the stored results" in capsys.readouterr().out
    assert _paper_plot().main(args) == 0


def test_curves_band_is_the_t_interval_over_seeds():
    """The curves figure draws the mean and 95 % t-interval (t_{0.975, 2}) over three seeds."""
    from core.plotting.local_experts import plot_accuracy_curves

    values = np.array([[0.3, 0.4, 0.5], [0.5, 0.7, 0.6], [0.8, 0.9, 0.85]])  # (epochs, seeds)
    curves = {"mix4": {"label": "4 experts", "train_accuracy": values,
                       "test_accuracy": values - 0.1}}
    fig = plot_accuracy_curves(curves, ["mix4"], epochs=2)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), values.mean(1))
    half = 4.302652729911275 * values.std(1, ddof=1) / np.sqrt(3)
    band = ax.collections[0].get_paths()[0].vertices
    for x, mean, h in zip(range(3), values.mean(1), half, strict=True):
        at_x = band[np.isclose(band[:, 0], x), 1]
        assert at_x.min() == pytest.approx(mean - h) and at_x.max() == pytest.approx(mean + h)
    assert "t-interval" in fig.axes[1].get_legend().get_title().get_text()
