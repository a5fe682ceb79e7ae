"""paper_plot.py end to end: tiny stored results of every family, redrawn without recomputation."""

import os
import sys
from fnmatch import fnmatch
from pathlib import Path

import h5py
import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from script_loader import load_script

from core.analysis.routing import MOP_SOURCES
from core.fileio import figure_files
from core.io import load_results, save_results
from core.provenance import record
from core.runs import rule_run_family
from core.tasks.vowels import make_split
from core.training.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # local_experts is a folder of scripts run with python -m


def _script(path: str):
    return load_script(path, Path(path).stem + "_pp")


paper_plot = _script("paper_plot.py")
multiple_task = _script("multiple_task/multiple_task.py")
multiple_task_analysis = _script("multiple_task/multiple_task_analysis.py")
lesion = _script("multiple_task/lesion.py")
preceding_trial_shift = _script("multiple_task/preceding_trial_shift.py")
state_space_shift = _script("multiple_task/state_space_shift.py")
accuracy_sweep = _script("multiple_task/accuracy_sweep.py")
one_task = _script("one_task/one_task.py")
local_experts_figures = _script("local_experts/figures.py")

NAME = "reach_seed0_L21e4+hidden8+batch8+angle"
MOP = "modcog-3_seed0_cost1e5+hidden8+batch4+mop+L0-4.0-4"
TS_RUNS = ("parity_seed0_multi+hidden8+batch4+adam", "parity_seed0_single+hidden8+batch4+adam")


def _timescale_checkpoint(folder: Path, name: str, weight: float = 1.0) -> Path:
    """A per-N checkpoint in the timescales curriculum format (``model_state`` + metadata)."""
    return save_checkpoint(folder / name / "checkpoint.pt",
                           {"model_state": {"w": torch.full((2,), weight)},
                            "model_kind": "timescale_rnn", "step": 1})


def _synthetic_results(results: Path, rng: np.random.Generator) -> None:
    """Timescales, Mixture-of-Pathways and local-experts results in the stored formats."""
    ts = results / "timescales"
    for i, name in enumerate(TS_RUNS):
        m = 4 - 2 * i
        per_n = [_timescale_checkpoint(results.parent / "ts", f"{name}+N{n}")
                 for n in range(2, 2 + m)]
        save_results(ts / "curricula.h5", name, {
            "reached_n": np.arange(2, 2 + m), "reached_step": np.arange(1, m + 1) * 50,
            "step": np.arange(1, 11) * 30}, config={"curriculum": {"n_start": 2}},
            provenance=record(ts / "curricula.h5", None, networks=per_n[-1:]))
        save_results(ts / "analysis.h5", name, {
            "n": np.arange(2, 2 + m), "tau_trained": 1 + rng.random((m, 8)),
            "tau_net": 1 + rng.random((m, 8)), "pca_dim": np.arange(1, m + 1)},
            config={"variance": 0.9}, provenance=record(ts / "analysis.h5", None,
                                                        networks=per_n))
    perturb = {"scale": np.array([0.1, 0.3]), "step": np.arange(0, 60, 20),
               "accuracy": rng.random((2, 3))}
    save_results(results / "timescales" / "ablation.h5", TS_RUNS[0] + "+N5", {
        "k": np.array([1, 2, 4]), "intact_accuracy": rng.random(4),
        **{f"ablate_{w}": rng.random((3, 4)) for w in ("fastest", "slowest", "random")},
        "perturb_w_rec": perturb, "perturb_tau": perturb},
        provenance=record(ts / "ablation.h5", results.parent / "ts" / f"{TS_RUNS[0]}+N5" /
                          "checkpoint.pt"))
    tasks = np.array(["go", "dm1", "dms"])
    layers = [[0, 4], [0, 4]]
    stats = {cond: {"tasks": tasks, "accuracy": rng.random(3), "trial_accuracy": rng.random(3),
                    "lpc": rng.random(3),
                    "n_steps": np.full(3, 10), "gates0": rng.random((3, 2)),
                    "gates1": rng.random((3, 2))}
             for cond in ("baseline", "prune0.1", "prune0.05", "disable_complex")}
    stats["difficulty"] = {"tasks": tasks, "difficulty": rng.random(3) + 1, "lpc": rng.random(3),
                           "learned": np.array([True, True, False]), "step_budget": 120,
                           "spearman_all": np.array([0.5, 0.6])}
    checkpoint = save_checkpoint(results.parent / "mop" / MOP / "checkpoint.pt",
                                 {"model": {"w": torch.ones(2)}, "config": {}, "step": 1})
    path = results / "mixture_of_pathways.h5"
    save_results(path, MOP, stats, config={"model": {"layers": layers}},
                 provenance=record(path, checkpoint, sources=MOP_SOURCES))
    table1 = results / "local_experts" / "table1.h5"
    save_results(table1, "table1", {
        "system": np.array(["4 experts", "backprop 6 hidden"]), "runs": np.array([5, 5]),
        "converged": np.array([5, 4]), "epochs_mean": np.array([80.0, 120.0]),
        "epochs_sd": np.array([10.0, 30.0]), "test_accuracy_mean": np.array([0.91, 0.9])},
        config={"split": "paper", "split_seed": 0},
        provenance=record(table1, None, sources={"data": make_split("paper").digest()}))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Tiny stored results of every family: real scripts for rule runs, synthetic elsewhere."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("stored")
    runs, results = root / "runs", root / "results"
    multiple_task.main(["--preset", "quick", "--rules", "reach", "--hidden", "8", "--batch", "8",
                        "--steps", "3", "--out", str(runs), "--eval-trials", "20",
                        "--no-progress"])
    multiple_task_analysis.main([NAME, "--runs", str(runs), "--k-max", "4", "--n-init", "1",
                                 "--permutations", "2", "--max-points", "30"])
    lesion.main([NAME, "--runs", str(runs), "--random", "1", "--trials", "4", "--no-progress"])
    preceding_trial_shift.main([NAME, "--runs", str(runs), "--probes", "fdgo,delaygo",
                                "--previous", "fdgo", "--trials", "4", "--no-progress"])
    state_space_shift.main([NAME, NAME, "--runs", str(runs), "--trials", "4", "--no-progress"])
    accuracy_sweep.main([str(runs), "--where", "family=multiple_task", "--trials", "8",
                         "--no-progress"])
    analysis = load_results(runs / NAME / "analysis.h5", NAME)
    inputs = [(runs / NAME / "analysis.h5", NAME)]
    multiple_task_analysis.over_membership_seeds(
        {NAME: analysis["over_membership"], "again": analysis["over_membership"]}, runs, inputs)
    multiple_task_analysis.clustering_seeds({NAME: analysis, "again": analysis}, runs, inputs)
    one_task.main(["--preset", "one_task_quick", "--rule", "fdgo", "--hidden", "6", "--steps",
                   "2", "--stages", "0", "--test-trials", "4", "--eval-trials", "10",
                   "--out", str(runs), "--no-progress"])
    _synthetic_results(results, np.random.default_rng(0))
    local_experts_figures.main(["--epochs", "2", "--seeds", "2", "--out", str(root / "le"),
                                "--results", str(results / "local_experts" / "figures.h5")])
    return runs, results


def _assert_drawn(path: Path) -> None:
    """PDF and PNG exist, the PNG is a real picture (several KB, not one flat colour)."""
    pdf, png = figure_files(path)
    assert pdf.stat().st_size > 2000, pdf
    assert png.stat().st_size > 5000, png
    assert np.asarray(mpimg.imread(png)).std() > 0.01, png


def test_every_family_is_redrawn_from_stored_results(stored, tmp_path, capsys):
    runs, results = stored
    out = tmp_path / "figs"
    assert paper_plot.main(["--runs", str(runs), "--results", str(results), "--out",
                            str(out), "--task-rules", "reach"]) == 0
    run = out / "multi_task" / NAME
    expected = [out / "tasks" / "tasks_yang19_reach", run / "curves", run / "accuracy_per_rule",
                run / "task_variance_hidden_kmeans", run / "task_variance_input_ward",
                run / "task_variance_M_ward", run / "silhouette_hidden_ward",
                run / "ftv_histograms", run / "pca_trajectories", run / "task_set",
                run / "lesion_hidden_weights", run / "lesion_pairs",
                run / "lesion_synapses_freeze", run / "pruning", run / "preceding_trial_shift",
                run / "preceding_trial_shift_accuracy", run / "state_space_rule",
                run / "state_space_category", run / "state_space_distance_angle",
                run / "lesion_synapses_compare", run / "lesion_size_effect",
                run / "lesion_additivity", out / "multi_task" / "accuracy_by_l2",
                *(out / "multi_task" / "across_runs" / stem for stem in (
                    "over_membership_seeds", "clustering_agreement_seeds_hidden_kmeans",
                    "clustering_agreement_seeds_input_ward", "state_space_r_across_runs")),
                out / "timescales" / "curricula", out / "timescales" / "tau_vs_N",
                out / "timescales" / f"ablation_{TS_RUNS[0]}+N5",
                out / "mixture_of_pathways" / MOP / "mop_routing_maps",
                out / "mixture_of_pathways" / MOP / "mop_interventions",
                out / "mixture_of_pathways" / MOP / "mop_lpc_vs_difficulty",
                out / "local_experts" / "table1_epochs",
                *(out / "local_experts" / "seed0" / f"local_experts_{stem}"
                  for stem in ("regions", "curves", "responsibility"))]
    for path in expected:
        _assert_drawn(path)
    one_task_runs = list((out / "one_task").iterdir())
    assert len(one_task_runs) == 1 and one_task_runs[0].name.startswith("fdgo_seed0")
    for stem in ("curves", "stages_network", "stages_summary"):
        _assert_drawn(one_task_runs[0] / stem)
    drawn = [p.relative_to(out).with_suffix("").as_posix() for p in out.rglob("*.png")]
    for path in drawn:  # every figure drawn is catalogued for --list
        family, stem = path.split("/", 1)
        assert any(fnmatch(stem, name.replace("NAME", "*"))
                   for name, _ in paper_plot.CATALOGUE[family]), path
    printed = capsys.readouterr().out
    assert "| mixture_of_pathways |" in printed
    assert f"{len(drawn)} figures written, 0 kept, 0 failed" in printed and len(drawn) == 54

    # existing figures are kept unless --overwrite; skipped families name their producer
    curves = one_task_runs[0] / "curves.png"
    before = curves.stat().st_mtime_ns
    only_one_task = ["--runs", str(runs), "--results", str(results), "--out", str(out),
                     "--only", "one_task"]
    assert paper_plot.main(only_one_task) == 0
    assert curves.stat().st_mtime_ns == before
    assert "kept (exists" in capsys.readouterr().out
    assert paper_plot.main([*only_one_task, "--overwrite"]) == 0
    assert curves.stat().st_mtime_ns > before
    capsys.readouterr()
    assert paper_plot.main(["--runs", str(tmp_path / "none"), "--results", str(tmp_path),
                            "--out", str(out), "--only", "timescales", "one_task"]) == 0
    printed = capsys.readouterr().out
    assert "timescales: no stored results, skipped" in printed and "timescales/train.py" in printed
    assert "one_task: no stored results, skipped" in printed


def test_corrupted_results_are_reported_and_the_rest_still_drawn(tmp_path, capsys):
    results = tmp_path / "results"
    (results / "timescales").mkdir(parents=True)
    (results / "timescales" / "curricula.h5").write_bytes(b"not hdf5")
    with h5py.File(results / "mixture_of_pathways.h5", "w") as f:
        f.create_group(MOP)  # a run without its condition groups
    _synthetic_results(tmp_path / "good", np.random.default_rng(1))
    (tmp_path / "good" / "local_experts").rename(results / "local_experts")
    (results / "local_experts" / "figures.h5").write_bytes(b"not hdf5 either")
    out = tmp_path / "figs"
    assert paper_plot.main(["--results", str(results), "--runs", str(tmp_path / "none"),
                            "--out", str(out), "--only", "timescales",
                            "mixture_of_pathways", "local_experts"]) == 1
    printed = capsys.readouterr().out
    assert printed.count("failed:") == 3 and "curricula.h5" in printed and "figures.h5" in printed
    _assert_drawn(out / "local_experts" / "table1_epochs")


def test_timescales_results_of_a_changed_per_n_checkpoint_are_refused(tmp_path, capsys):
    results = tmp_path / "results"
    _synthetic_results(results, np.random.default_rng(2))
    _timescale_checkpoint(tmp_path / "ts", f"{TS_RUNS[1]}+N2", weight=2.0)  # retrained N=2
    out = tmp_path / "figs"
    assert paper_plot.main(["--results", str(results), "--runs", str(tmp_path / "none"),
                            "--out", str(out), "--only", "timescales"]) == 1
    failed = [line for line in capsys.readouterr().out.splitlines() if "failed:" in line]
    assert len(failed) == 1 and "analysis.h5" in failed[0] and "stale" in failed[0]
    assert "timescales/analyze.py" in failed[0]
    assert (out / "timescales" / "curricula.png").is_file()


def test_bad_arguments_exit_cleanly(tmp_path):
    with pytest.raises(SystemExit):
        paper_plot.main(["--only", "nonsense"])
    run = tmp_path / "runs" / "reach_seed0_L21e4+hidden8+batch8+angle"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "curves.csv").write_text("step,loss,lr\n1,0.5,0.001\n")
    with pytest.raises(SystemExit, match="^error: unknown rule or rule set 'nope'"):
        paper_plot.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "figs"),
                         "--only", "multi_task", "tasks", "--task-rules", "go,nope"])
    assert not (tmp_path / "figs").exists()  # inputs are checked before any figure is written
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="^error: --out .* is a file"):
        paper_plot.main(["--out", str(tmp_path / "file")])


@pytest.mark.parametrize("stem", ["map", "ablation_fixtau1.5+N5"])  # a dot is no suffix
def test_a_kept_figure_older_than_its_stored_results_is_redrawn(stem, tmp_path, capsys):
    source = tmp_path / "analysis.h5"
    source.write_bytes(b"results")
    log = paper_plot.FigureLog(tmp_path / "figs")
    figure = tmp_path / "figs" / "multi_task" / f"{stem}.png"

    def draw():
        fig, ax = paper_plot.plt.subplots()
        ax.plot([0, 1], [1, 0])
        log.figure("multi_task", stem, fig, source)
        return figure.stat().st_mtime_ns

    first = draw()
    assert draw() == first and log.rows[-1][2].startswith("kept")  # results older: kept
    os.utime(source, ns=(first + 10**9, first + 10**9))  # the results are refreshed
    assert draw() > first and log.rows[-1][2] == f"written (replaces a figure older than {source})"


def test_list_names_every_figure_and_its_producer_and_only_takes_figure_names(stored, tmp_path,
                                                                               capsys):
    runs, results = stored
    out = tmp_path / "figs"
    base = ["--runs", str(runs), "--results", str(results), "--out", str(out)]
    assert paper_plot.main([*base, "--list", "--task-rules", "reach"]) == 0
    listed = capsys.readouterr().out
    assert not out.exists()  # --list draws nothing
    rows = [line.split(" | ") for line in listed.splitlines() if line.startswith("| multi_task")]
    by_figure = {Path(row[1]).name: row[2].rstrip(" |") for row in rows}
    assert by_figure["pruning"] == f"python multiple_task/lesion.py {NAME} --runs {runs}"
    assert by_figure["task_variance_hidden_kmeans"].startswith(
        "python multiple_task/multiple_task_analysis.py")
    assert by_figure["preceding_trial_shift"].startswith(
        "python multiple_task/preceding_trial_shift.py")
    assert by_figure["state_space_distance_angle"].startswith(
        "python multiple_task/state_space_shift.py")
    assert "| tasks |" in listed and "| local_experts |" in listed
    table = [line for line in listed.splitlines() if line.startswith("| ")][1:]
    missing = [line for line in table if "| missing: " in line]
    assert len(table) - len(missing) == 54 and "\n54 figures from stored results" in listed
    # every multi-task figure is drawn but the pair fixed points: the stored run has no rule pair
    assert [line.split(" | ")[1].rsplit("/", 1)[-1] for line in missing
            if line.startswith("| multi_task")] == ["fixed_points_*"]
    assert any("two_task/NAME/interpolation | missing: python two_task/two_task_analysis.py"
               in line for line in missing)
    assert {line.split(" | ")[0] for line in missing} == {
        "| multi_task", "| two_task", "| one_task", "| pretraining", "| flex_task", "| babyai"}
    # nothing stored: still every figure of every family, each with its producer
    assert paper_plot.main(["--runs", str(tmp_path / "none"), "--results", str(tmp_path / "none"),
                            "--out", str(out), "--list"]) == 0
    listed = capsys.readouterr().out
    catalogue = [(family, name) for family, names in paper_plot.CATALOGUE.items()
                 for name, _ in names]
    assert catalogue[0] == ("tasks", "tasks_yang19*")
    for family, name in catalogue[1:]:  # the task suite is drawn from --seed, never missing
        assert f"| {family} | {out / family / name} | missing: " in listed, name
    assert f"1 figures from stored results, {len(catalogue) - 1} missing" in listed
    assert paper_plot.main(["--runs", str(tmp_path / "none"), "--results", str(tmp_path / "none"),
                            "--out", str(out), "--list", "--only", "lesion_*"]) == 0
    listed = capsys.readouterr().out
    assert "lesion_additivity | missing: python multiple_task/lesion.py NAME" in listed
    assert "0 figures from stored results, 9 missing" in listed

    assert paper_plot.main([*base, "--only", "pruning", "lesion_hidden_*"]) == 0
    drawn = sorted(p.relative_to(out).with_suffix("").as_posix() for p in out.rglob("*.png"))
    assert drawn == [f"multi_task/{NAME}/{s}" for s in ("lesion_hidden_activity",
                                                        "lesion_hidden_weights", "pruning")]
    assert paper_plot.main([*base, "--only", "local_experts", "--overwrite"]) == 0
    assert {p.parent.name for p in (out / "local_experts").rglob("*.png")} == {"local_experts",
                                                                               "seed0"}
    with pytest.raises(SystemExit, match="^error: no figure named 'no_such_figure'.*--list"):
        paper_plot.main([*base, "--only", "multi_task", "no_such_figure"])


def test_runs_are_told_apart_by_their_stage_folders_and_rules(tmp_path):
    for name, stages in (("delaygo_seed0_L21e4+hidden8+batch8+angle", "stages"),
                         ("go-anti_seed0_L21e4+hidden8+batch8+angle", "stages/normal"),
                         ("dmcgo-dmcnogo_seed0_L21e4+hidden8+batch8+angle", "stages"),
                         ("reach_seed0_L21e4+hidden8+batch8+angle", None)):
        (tmp_path / name).mkdir()
        for file in ("config.json", "curves.csv"):
            (tmp_path / name / file).write_text("{}")
        if stages:
            (tmp_path / name / stages).mkdir(parents=True)
    assert {d.name.split("_")[0]: family for family, d in paper_plot.rule_runs(tmp_path)} == {
        "delaygo": "one_task", "go-anti": "two_task", "dmcgo-dmcnogo": "multi_task",
        "reach": "multi_task"}
    # the index of runs tells them apart the same way (one place: core.runs.rule_run_family)
    assert {d.name.split("_")[0]: rule_run_family(d) for _, d in
            paper_plot.rule_runs(tmp_path)}["dmcgo-dmcnogo"] == "multiple_task"
