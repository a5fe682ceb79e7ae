"""Derived results match the network they describe (issue 12): stale results are refused with
the command that refreshes them, --overwrite of a run clears what was derived from it, and every
loader checks checkpoint, config and run name against each other."""

import shutil

import pytest
from script_loader import load_script

from core.errors import CheckpointError
from core.io import load_provenance
from core.training import load_run


def _script(path):
    return load_script(path, "dr_" + path.replace("/", "_")[:-3])


multiple_task = _script("multiple_task/multiple_task.py")
analysis = _script("multiple_task/multiple_task_analysis.py")
lesion = _script("multiple_task/lesion.py")
lesion_plot = _script("multiple_task/lesion_plot.py")
preceding_trial_shift = _script("multiple_task/preceding_trial_shift.py")
paper_plot = _script("paper_plot.py")

NAME = "reach_seed0_L21e4+hidden8+batch8+angle"
ANALYSE = ["--k-max", "3", "--n-init", "1", "--permutations", "1", "--no-synapses"]
LESION = ["--random", "1", "--trials", "4", "--no-pairs", "--no-synapses", "--no-progress"]
SHIFT = ["--probes", "fdgo", "--previous", "fdgo", "--trials", "4", "--no-progress"]


def _train(runs, *extra, hidden=8):
    multiple_task.main(["--preset", "quick", "--rules", "reach", "--hidden", str(hidden),
                        "--batch", "8", "--steps", "3", "--out", str(runs), "--no-progress",
                        *extra])


def _error(call, *args) -> str:
    with pytest.raises(SystemExit) as info:
        call(list(args))
    message = str(info.value)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    """A tiny trained run with its analysis, lesion and state-space results."""
    runs = tmp_path_factory.mktemp("derived") / "runs"
    _train(runs)
    _derive(runs)
    return runs


def _derive(runs):
    analysis.main([NAME, "--runs", str(runs), *ANALYSE])
    lesion.main([NAME, "--runs", str(runs), *LESION])
    preceding_trial_shift.main([NAME, "--runs", str(runs), *SHIFT])


def test_stale_results_are_refused_with_the_command_that_refreshes_them(derived, tmp_path,
                                                                        capsys):
    runs = shutil.copytree(derived, tmp_path / "runs")
    run_dir = runs / NAME
    lesion_before = (run_dir / "lesion.h5").read_bytes()
    _train(runs, "--resume", "--steps", "5")  # the network trained further: results are stale
    capsys.readouterr()

    message = _error(lesion.main, NAME, "--runs", str(runs), *LESION)
    assert "analysis.h5: results for run" in message and "stale" in message
    assert message.endswith(f"refresh them with: python multiple_task/multiple_task_analysis.py "
                            f"{NAME} --runs {runs} --overwrite")
    assert (run_dir / "lesion.h5").read_bytes() == lesion_before
    message = _error(lesion_plot.main, NAME, "--runs", str(runs))
    assert "lesion.h5" in message and "python multiple_task/lesion.py" in message
    figures = tmp_path / "figs" / "multi_task" / NAME
    assert paper_plot.main(["--runs", str(runs), "--results", str(tmp_path / "none"), "--out",
                            str(tmp_path / "figs"), "--only", "multi_task"]) == 1
    printed = capsys.readouterr().out
    assert printed.count("are stale") == 3
    assert f"refresh them with: python multiple_task/preceding_trial_shift.py {NAME}" in printed
    assert (figures / "curves.png").is_file() and not (figures / "pruning.png").exists()

    # the computing scripts recompute stale results without --overwrite, and say so
    _derive(runs)
    assert capsys.readouterr().out.count("replacing the stored results") == 3
    assert load_provenance(run_dir / "lesion.h5", NAME)["step"] == 5

    # a corrupt analysis.h5: consumers and producer name --overwrite, which replaces it
    (run_dir / "analysis.h5").write_bytes(b"not hdf5" * 50)
    assert "--overwrite" in _error(lesion.main, NAME, "--runs", str(runs), *LESION)
    message = _error(analysis.main, NAME, "--runs", str(runs), *ANALYSE)
    assert "corrupted" in message and message.endswith("pass --overwrite to replace the file")
    analysis.main([NAME, "--runs", str(runs), *ANALYSE, "--overwrite"])
    assert load_provenance(run_dir / "analysis.h5", NAME)["step"] == 5


def test_overwriting_a_run_clears_everything_derived_from_it(derived, tmp_path):
    runs = shutil.copytree(derived, tmp_path / "runs")
    run_dir = runs / NAME
    derived_files = ["analysis.h5", "lesion.h5", "preceding_trial_shift.h5", "figures"]
    assert all((run_dir / f).exists() for f in derived_files)
    (run_dir / "notes.txt").write_text("the user's own file")
    _train(runs, "--overwrite", "--steps", "2")
    assert not any((run_dir / f).exists() for f in derived_files)
    assert (run_dir / "notes.txt").is_file() and (run_dir / "curves.png").is_file()
    message = _error(lesion.main, NAME, "--runs", str(runs), *LESION)
    assert "no such results file; compute it with: python multiple_task/" \
           "multiple_task_analysis.py" in message


def test_a_checkpoint_in_another_runs_folder_is_refused_by_every_loader(derived, tmp_path):
    runs = shutil.copytree(derived, tmp_path / "runs")
    _train(runs, hidden=12)
    small, big = runs / NAME, runs / NAME.replace("hidden8", "hidden12")
    big_config = (big / "config.json").read_text()
    shutil.copy(small / "checkpoint.pt", big / "checkpoint.pt")
    for script, extra in ((analysis, ANALYSE), (preceding_trial_shift, SHIFT), (lesion, LESION)):
        message = _error(script.main, big.name, "--runs", str(runs), *extra)
        assert f"holds run '{NAME}', not the folder's '{big.name}'" in message
    assert not any(big.glob("*.h5"))
    shutil.copy(small / "config.json", big / "config.json")  # config copied along: still refused
    assert "not the folder's" in _error(analysis.main, big.name, "--runs", str(runs), *ANALYSE)
    # checkpoint and folder agree, config.json does not
    (small / "config.json").write_text(big_config)
    message = _error(analysis.main, NAME, "--runs", str(runs), *ANALYSE)
    assert "does not match its config.json" in message
    with pytest.raises(CheckpointError, match="does not match its config.json"):
        load_run(small)
