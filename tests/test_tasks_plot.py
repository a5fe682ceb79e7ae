"""The task figure helper and its script."""


import numpy as np
import pytest
from script_loader import load_script

from core.plotting.tasks import plot_trial, plot_trials
from core.tasks import MPN_LAB, generate_trials


def _script():
    return load_script("multiple_task/plot_tasks.py", "plot_tasks")


def test_plot_trials_draws_three_panels_per_rule():
    rng = np.random.default_rng(0)
    batches = [generate_trials(r, MPN_LAB, 4, rng) for r in ("fdgo", "dmsnogo", "delaydm1")]
    fig = plot_trials(batches, MPN_LAB, n_cols=2)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 9
    # the input image of the first rule spans its trial's valid steps
    trial = batches[0]
    i = int(np.flatnonzero(trial.params["respond"])[0])
    image = panels[0].get_images()[0].get_array()
    assert image.shape == (MPN_LAB.n_input, trial.n_steps_valid[i])
    with pytest.raises(ValueError):
        plot_trial(fig.axes[:3], trial, 99, MPN_LAB)


def test_script_writes_and_refuses_to_overwrite(tmp_path, capsys):
    script = _script()
    out = tmp_path / "tasks"
    script.main(["--preset", "mpn_lab", "--rules", "go", "--batch", "2", "--out", str(out)])
    assert out.with_suffix(".png").stat().st_size > 0 and out.with_suffix(".pdf").exists()
    with pytest.raises(SystemExit, match="^error: .*already exist.*--overwrite"):
        script.main(["--rules", "go", "--out", str(out)])
    with pytest.raises(SystemExit, match="unknown rule"):
        script.main(["--rules", "nope", "--out", str(tmp_path / "x")])
