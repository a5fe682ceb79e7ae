"""local_experts/figures.py stores the arrays of its figures; paper_plot.py redraws them."""

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from script_loader import load_script

from core.io import load_config, load_results
from core.models.local_experts import gate_probabilities, init_params, parse_system
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
    with pytest.raises(SystemExit, match="^error: .*entry 'seed5' already exists"):
        figures.main([*TINY, "--out", str(tmp_path / "figs"), "--results", str(results)])
    assert not (tmp_path / "figs").exists() and results.stat().st_mtime_ns == before
    with pytest.raises(SystemExit, match="^error: --epochs"):
        figures.main(["--epochs", "0", "--out", str(tmp_path / "figs")])


def test_figures_default_outside_tracked_docs():
    assert not str(figures.parse_args([]).out).startswith("docs")
