"""End to end on a tiny network: train (quick preset, few steps), analyse, lesion, plot, shift."""

import os
import re
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
from script_loader import ROOT, load_script

from core.io import list_runs, load_results, save_results


def _script(name):
    return load_script(f"multiple_task/{name}.py", f"mt_{name}")


multiple_task = _script("multiple_task")
multiple_task_analysis = _script("multiple_task_analysis")
lesion = _script("lesion")
lesion_plot = _script("lesion_plot")
preceding_trial_shift = _script("preceding_trial_shift")
state_space_shift = _script("state_space_shift")
fixed_points = _script("fixed_points")

NAME = "reach_seed0_L21e4+hidden12+batch16+angle"
SECOND = NAME.replace("seed0", "seed1")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    multiple_task.main(["--preset", "quick", "--rules", "reach", "--hidden", "12", "--batch",
                        "16", "--steps", "4", "--out", str(runs), "--threads", "1",
                        "--eval-trials", "20", "--no-progress"])
    assert (runs / NAME / "checkpoint.pt").is_file()
    evaluation = (runs / NAME / "evaluation.csv").read_text().splitlines()
    assert evaluation[0] == "rule,n_trials,n_correct,accuracy,ci_low,ci_high,chance"
    assert len(evaluation) == 7 and all(line.split(",")[1] == "20" and
                                        float(line.split(",")[-1]) == 1 / 8
                                        for line in evaluation[1:])
    return runs


@pytest.fixture(scope="module")
def second(trained):
    """A second tiny network of the same rules next to ``trained``: another seed, more steps."""
    multiple_task.main(["--preset", "quick", "--rules", "reach", "--hidden", "12", "--batch",
                        "16", "--steps", "6", "--seed", "1", "--out", str(trained), "--threads",
                        "1", "--eval-trials", "8", "--no-progress"])
    return SECOND


def test_analysis_lesion_and_shift_scripts_produce_results_and_every_figure(trained, capsys):
    from core.analysis.lesion import pair_additivity

    runs = str(trained)
    multiple_task_analysis.main([NAME, "--runs", runs, "--k-max", "5", "--n-init", "2",
                                 "--permutations", "3", "--max-points", "60"])
    assert f"{NAME} analysis: 100%" in capsys.readouterr().err  # the stages' progress bar
    lesion.main([NAME, "--runs", runs, "--random", "1", "--trials", "4", "--no-progress"])
    capsys.readouterr()
    lesion_plot.main([NAME, "--runs", runs])
    printed = capsys.readouterr().out
    preceding_trial_shift.main([NAME, "--runs", runs, "--probes", "go,anti", "--previous",
                                "fdgo,fdanti", "--trials", "16", "--no-progress"])
    run_dir = trained / NAME
    analysis = load_results(run_dir / "analysis.h5", NAME)
    assert list_runs(run_dir / "analysis.h5") == [NAME]
    tv = analysis["task_variance"]
    assert tv["hidden"]["by_rule"].shape == (12, 6)
    assert tv["M"]["by_rule"].shape == (12 * 12, 6)
    np.testing.assert_array_less(-1e-12, tv["WM"]["by_rule"])
    assert set(analysis["clusters"]) == {"input", "hidden", "M"}
    assert "task_set" in analysis["state_space"]
    om, ward = analysis["over_membership"], analysis["clusters"]
    k_in, k_hid = (int(ward[p]["ward"]["labels"].max()) + 1 for p in ("input", "hidden"))
    assert om["observed"].shape == om["z"].shape == (k_in, k_hid)
    assert om["n_synapses"].sum() == ward["M"]["ward"]["active"].sum()
    multiple_task_analysis.over_membership_seeds({"a": om, "b": om}, trained,
                                                 [(run_dir / "analysis.h5", NAME)])
    seeds = load_results(trained / multiple_task_analysis.SEEDS_FILE, "a,b")
    assert np.allclose(seeds["mean"][0], om["unnormalised"]) and list(seeds["runs"]) == ["a", "b"]
    assert (trained / "over_membership_seeds.png").is_file()
    lesions = load_results(run_dir / "lesion.h5", NAME)
    n_hidden_clusters = len(lesions["hidden_clusters"])
    assert lesions["hidden_weights"]["effect"].shape == (6, n_hidden_clusters)
    labels = analysis["clusters"]["hidden"]["kmeans"]["labels"]
    assert lesions["hidden_weights"]["sizes"].tolist() == [
        int((labels == int(c) - 1).sum()) for c in lesions["hidden_clusters"]]
    assert lesions["chance"].tolist() == [1 / 8] * 6
    add = pair_additivity(lesions["hidden_weights"]["baseline_accuracy"],
                          lesions["input_weights"]["accuracy"],
                          lesions["hidden_weights"]["accuracy"], lesions["pairs"]["accuracy"])
    assert (f"pair lesions against the sum of their single lesions: r = {add['r']:.2f}, "
            f"mean pair − sum {add['interaction']:+.3f}") in printed
    assert "Synapses, M frozen: drop (mean over rules) against cluster size" in printed
    assert lesions["pruning"]["accuracy"].shape == (6, len(lesion.PRUNE_FRACTIONS))
    shift = load_results(run_dir / "preceding_trial_shift.h5", NAME)
    assert shift["shift"].shape == (6, 2) and (shift["shift"] >= 0).all()
    assert int(shift["n_trials"]) == 16 and shift["accuracy_alone"].shape == (6,)
    np.testing.assert_allclose(shift["accuracy"] - shift["accuracy_alone"][:, None],
                               shift["accuracy_change"], atol=1e-12)
    assert (shift["accuracy_alone_low"] <= shift["accuracy_alone"]).all()
    assert (shift["accuracy_change_se"] <= 1 / 4 + 1e-12).all()  # at most 1 / sqrt(16)
    assert shift["chance"].tolist() == [1 / 8] * 6
    assert list(shift["probes"]) == ["fdgo", "reactgo", "delaygo", "fdanti", "reactanti",
                                     "delayanti"]
    figures = {p.stem for p in (run_dir / "figures").glob("*.png")}
    expected = {"task_variance_hidden_kmeans", "task_variance_hidden_ward",
                "task_variance_input_kmeans", "task_variance_M_ward", "silhouette_hidden_kmeans",
                "ftv_histograms", "pca_trajectories", "task_set", "lesion_hidden_weights",
                "lesion_hidden_activity", "lesion_input_weights", "lesion_pairs", "over_membership",
                "lesion_synapses_weights", "lesion_synapses_freeze", "pruning",
                "lesion_synapses_compare", "lesion_size_effect", "lesion_additivity",
                "preceding_trial_shift", "preceding_trial_shift_accuracy"}
    assert expected <= figures, expected - figures
    assert all((run_dir / "figures" / f"{f}.pdf").is_file() for f in expected)
    # results and figures are never overwritten silently
    stored = {p: p.stat().st_mtime_ns for p in [run_dir / "analysis.h5",
                                                *(run_dir / "figures").glob("*.p*")]}
    capsys.readouterr()
    multiple_task_analysis.main([NAME, "--runs", runs, "--k-max", "5", "--n-init", "2",
                                 "--permutations", "3", "--max-points", "60"])  # same options
    printed = capsys.readouterr().out
    assert "stored results are current, reused" in printed and "drew" not in printed
    assert "task_variance_hidden_kmeans" in printed.split("; kept ")[1]
    assert {p: p.stat().st_mtime_ns for p in stored} == stored


def test_state_space_shift_stores_onset_geometry_and_summarises_r_across_runs(trained, capsys):
    runs = str(trained)
    state_space_shift.main([NAME, "--runs", runs, "--trials", "8", "--no-progress"])
    stored = load_results(trained / NAME / "state_space_shift.h5", NAME)
    assert list(stored["populations"]) == ["hidden", "M", "WM"]
    assert stored["hidden"]["pcs"].shape == (6 * 8, 2)
    assert set(stored["category"]) == {"pro delayed", "anti delayed", "pro reaction",
                                       "anti reaction"}
    table = stored["M"]
    assert table["pairs"].shape == (len(table["angle"]), 2) and len(table["angle"]) >= 15
    assert ((table["angle"] >= 0) & (table["angle"] <= 180)).all() and -1 <= table["r"] <= 1
    figures = {p.stem for p in (trained / NAME / "figures").glob("state_space_*.png")}
    assert figures == {"state_space_rule", "state_space_category", "state_space_distance_angle"}
    capsys.readouterr()
    state_space_shift.main([NAME, NAME, "--runs", runs, "--trials", "8",
                            "--no-progress"])  # same options: reused, summarised
    printed = capsys.readouterr().out
    assert "stored results are current, reused" in printed
    assert f"across 2 runs, hidden: mean r = {stored['hidden']['r']:.2f}" in printed
    assert (trained / "figures" / "state_space_r_across_runs.png").is_file()


def test_state_space_summary_of_two_different_networks_is_their_mean_and_t_interval(
        trained, second, tmp_path, capsys):
    from scipy import stats

    figures = tmp_path / "figs"
    state_space_shift.main([NAME, second, "--runs", str(trained), "--trials", "3", "--overwrite",
                            "--rules", "fdgo,fdanti,delaygo",
                            "--figures", str(figures), "--no-progress"])
    printed = capsys.readouterr().out
    summary = load_results(trained / state_space_shift.SUMMARY_FILE,
                           ",".join(sorted([NAME, second])))
    for pop in ("hidden", "M", "WM"):
        r = np.array([float(load_results(trained / n / "state_space_shift.h5", n)[pop]["r"])
                      for n in (NAME, second)])
        assert r[0] != r[1], pop  # two networks, two correlations
        half = stats.t.ppf(0.975, 1) * r.std(ddof=1) / np.sqrt(2)
        mean = r.mean()
        assert (f"across 2 runs, {pop}: mean r = {mean:.2f} (95 % interval "
                f"{mean - half:.2f} to {mean + half:.2f})") in printed, (pop, r, printed)
        np.testing.assert_allclose(summary[pop]["r"], r)
        np.testing.assert_allclose([summary[pop][k] for k in ("mean", "low", "high")],
                                   [mean, mean - half, mean + half])
    assert (figures / "state_space_r_across_runs.png").is_file()
    state_space_shift.main([second, NAME, "--runs", str(trained), "--figures", str(figures),
                            "--no-progress"])
    assert "summary of these runs is current, kept" in capsys.readouterr().out


@pytest.mark.parametrize("script, options, stems", [
    ("multiple_task_analysis", ["--k-max", "5", "--n-init", "2", "--permutations", "3",
                                "--max-points", "60"], {"task_variance_hidden_kmeans", "task_set"}),
    ("preceding_trial_shift", ["--probes", "go,anti", "--previous", "fdgo,fdanti",
                               "--trials", "4", "--no-progress"],
     {"preceding_trial_shift", "preceding_trial_shift_accuracy"}),
    ("state_space_shift", ["--trials", "8", "--no-progress"],
     {"state_space_rule", "state_space_category", "state_space_distance_angle"})])
def test_figures_of_current_results_are_drawn_from_them_never_over_existing_files(
        trained, tmp_path, capsys, script, options, stems):
    from core.provenance import stale_reason

    module = _script(script)
    argv = [NAME, "--runs", str(trained), *options]
    path = trained / NAME / module.RESULTS_FILE
    sources = (module.result_sources(module.parse_args(argv))
               if hasattr(module, "result_sources") else None)
    if not (path.is_file() and NAME in list_runs(path)
            and stale_reason(path, NAME, sources) is None):
        module.main(argv)  # (when this test runs alone, or after other options)
    written = path.stat().st_mtime_ns
    figures = tmp_path / "figs"
    capsys.readouterr()
    module.main([*argv, "--figures", str(figures)])
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"{NAME}: stored results are current, reused ({path}); drew "), line
    drawn = set(line.split("; drew ")[1].split(f" in {figures}")[0].split(", "))
    assert stems <= drawn and {p.stem for p in figures.glob("*.png")} == drawn
    assert {p.stem for p in figures.glob("*.pdf")} == drawn
    assert path.stat().st_mtime_ns == written  # nothing recomputed
    module.main([*argv, "--seed", "1", "--figures", str(tmp_path / "other")])
    assert "stored results are current" not in capsys.readouterr().out  # other options: redone
    assert path.stat().st_mtime_ns != written
    module.main(argv)  # back to the options the later tests expect


def test_shift_results_of_the_old_probes_are_stale_and_recomputed(trained, tmp_path, capsys):
    """An entry stored without the probe design (the 16-trial test grid, all match trials for
    DMC) is refused by the consumers with the refreshing command and recomputed by the script."""
    import shutil

    from core.analysis.state_space import SHIFT_SOURCES
    from core.errors import StaleResultsError
    from core.io import save_results
    from core.provenance import load_current, record

    runs = tmp_path / "runs"
    shutil.copytree(trained / NAME, runs / NAME, ignore=shutil.ignore_patterns("*.h5", "figures"))
    path = runs / NAME / preceding_trial_shift.RESULTS_FILE
    old = {"probes": np.array(["fdgo"]), "previous": np.array(["fdgo"]),
           "shift": np.zeros((1, 1)), "accuracy": np.ones((1, 1))}
    save_results(path, NAME, old, provenance=record(path, runs / NAME / "checkpoint.pt"))
    refresh = f"python multiple_task/preceding_trial_shift.py {NAME} --runs {runs} --overwrite"
    with pytest.raises(StaleResultsError, match="they do not record their probe design .*"
                                                f"refresh them with: {re.escape(refresh)}$"):
        load_current(path, NAME, refresh, sources=SHIFT_SOURCES)
    assert not _script("run_pipeline").results_current(path, NAME, SHIFT_SOURCES)
    capsys.readouterr()
    preceding_trial_shift.main([NAME, "--runs", str(runs), "--probes", "fdgo", "--previous",
                                "fdgo", "--trials", "4", "--no-progress"])
    assert "replacing the stored results" in capsys.readouterr().out
    assert int(load_current(path, NAME, refresh, sources=SHIFT_SOURCES)["n_trials"]) == 4
    assert _script("run_pipeline").results_current(path, NAME, SHIFT_SOURCES)
    argv = [NAME, "--runs", str(runs), "--probes", "fdgo", "--previous", "fdgo", "--no-progress"]
    preceding_trial_shift.main([*argv, "--trials", "6"])  # other options: recomputed, not reused
    assert "stored results are current" not in capsys.readouterr().out
    assert int(load_current(path, NAME, refresh, sources=SHIFT_SOURCES)["n_trials"]) == 6
    preceding_trial_shift.main([*argv, "--trials", "6"])
    assert "stored results are current" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="^error: --trials must be >= 2"):
        preceding_trial_shift.main([NAME, "--runs", str(runs), "--trials", "1"])


def test_every_named_run_is_checked_before_any_is_analysed(trained, tmp_path):
    missing = NAME.replace("seed0", "seed7")
    expected = f"^error: no trained run '{re.escape(missing)}'"
    with pytest.raises(SystemExit, match=expected):
        multiple_task_analysis.main([NAME, missing, "--runs", str(trained), "--figures",
                                     str(tmp_path / "figs"), "--k-max", "3"])
    with pytest.raises(SystemExit, match=expected):
        lesion.main([NAME, missing, "--runs", str(trained)])
    assert not (tmp_path / "figs").exists()


def test_bad_input_gives_a_one_line_error(trained, tmp_path):
    with pytest.raises(SystemExit, match="^error: not a run name"):
        multiple_task_analysis.main(["not-a-run", "--runs", str(trained)])
    with pytest.raises(SystemExit, match="^error: no trained run"):
        lesion.main(["reach_seed9_L21e4+hidden12+batch16+angle", "--runs", str(trained)])
    with pytest.raises(SystemExit, match="^error: .*no such results file"):
        lesion_plot.main([NAME, "--runs", str(tmp_path)])
    with pytest.raises(SystemExit, match="^error: .*trained on none of the pairs dmcgo-dmcnogo, "
                                         "delaydm1-delaydm2 .its rules: fdgo, "):
        fixed_points.main([NAME, "--runs", str(trained)])
    assert not (trained / NAME / fixed_points.RESULTS_FILE).exists()
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "lesion.h5").write_bytes(b"garbage" * 50)
    with pytest.raises(SystemExit) as info:
        lesion_plot.main([NAME, "--runs", str(tmp_path)])
    assert "\n" not in str(info.value) and "corrupted" in str(info.value)


def _copy_with_analysis(trained, tmp_path):
    """A copy of the trained run without lesion results and figures, with an analysis."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(trained / NAME, runs / NAME,
                    ignore=shutil.ignore_patterns("lesion*.h5", "figures"))
    if not (runs / NAME / "analysis.h5").exists():
        multiple_task_analysis.main([NAME, "--runs", str(runs), "--k-max", "4", "--n-init", "2",
                                     "--permutations", "2", "--max-points", "40"])
    return runs


def test_a_killed_lesion_run_resumes_without_redoing_finished_families(trained, tmp_path,
                                                                        monkeypatch):
    runs = _copy_with_analysis(trained, tmp_path)
    argv = [NAME, "--runs", str(runs), "--random", "1", "--trials", "4", "--no-progress",
            "--no-pairs"]
    real, calls = lesion.cluster_lesion_effects, []

    def killed_after_first_family(model, clusters, population, *args, **kwargs):
        calls.append((population, kwargs.get("mode", "weights")))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(model, clusters, population, *args, **kwargs)

    monkeypatch.setattr(lesion, "cluster_lesion_effects", killed_after_first_family)
    with pytest.raises(KeyboardInterrupt):
        lesion.main(argv)
    partial = runs / NAME / lesion.PARTIAL_FILE
    assert not (runs / NAME / "lesion.h5").exists()
    assert set(load_results(partial, NAME)["families"]) == {"hidden_weights"}

    def spy(model, clusters, population, *args, **kwargs):
        calls.append((population, kwargs.get("mode", "weights")))
        return real(model, clusters, population, *args, **kwargs)

    calls.clear()
    monkeypatch.setattr(lesion, "cluster_lesion_effects", spy)
    lesion.main(argv)
    assert calls == [("hidden", "activity"), ("input", "weights")]  # hidden_weights not redone
    assert not partial.exists()
    resumed = load_results(runs / NAME / "lesion.h5", NAME)
    lesion.main([*argv, "--overwrite"])  # uninterrupted: the same numbers
    fresh = load_results(runs / NAME / "lesion.h5", NAME)
    for family in ("hidden_weights", "hidden_activity", "input_weights", "synapses", "pruning"):
        for key, value in fresh[family].items():
            np.testing.assert_array_equal(resumed[family][key], value, err_msg=family)
    assert resumed["protocol"]["random"] == 1 and resumed["protocol"]["trials"] == 4


def test_every_result_option_of_lesion_is_recomputed_and_never_resumed_into(tmp_path,
                                                                           monkeypatch):
    """The options that change lesion results (RESULT_OPTIONS, also one added later) both make
    stored results stale and keep a partial file of other options from being resumed into."""
    from core.provenance import record, stale_reason

    monkeypatch.setattr(lesion, "RESULT_OPTIONS", (*lesion.RESULT_OPTIONS, "protocol"))
    base = lesion.parse_args([NAME, "--random", "2", "--trials", "8"])
    changed = {"method": "ward", "random": 5, "trials": 9, "seed": 1, "no_pairs": True,
               "no_synapses": True, "protocol": "lab"}
    assert set(changed) == set(lesion.RESULT_OPTIONS)
    path = tmp_path / lesion.PARTIAL_FILE

    def store(args):
        save_results(path, NAME, {"settings": lesion.settings(args),
                                  "families": {"pruning": {"x": np.ones(2)}}}, overwrite=True,
                     provenance=record(path, None, sources=lesion.result_sources(args)))

    store(base)
    assert set(lesion.finished_families(path, NAME, lesion.settings(base))) == {"pruning"}
    for option, value in changed.items():
        other = types.SimpleNamespace(**{**vars(base), option: value})
        assert stale_reason(path, NAME, lesion.result_sources(other)) is not None, option
        assert lesion.finished_families(path, NAME, lesion.settings(other)) == {}, option


LESION = ["--trials", "4", "--no-pairs", "--no-synapses", "--no-progress"]


def test_lesion_results_of_other_options_are_recomputed_and_current_ones_kept(trained, tmp_path,
                                                                              capsys):
    """Before, lesion.py refused stored results of another --protocol as current (asking for
    --overwrite), and the pipeline skipped its lesion step as current whatever the options."""
    pipeline = _script("run_pipeline")
    runs = _copy_with_analysis(trained, tmp_path)
    path = runs / NAME / lesion.RESULTS_FILE
    argv = [NAME, "--runs", str(runs), *LESION]

    def pipeline_skips_lesions(*options):
        args = pipeline.parse_args([NAME, "--runs", str(runs), "--no-progress",
                                    f"--lesion-args={' '.join(LESION[:-1])}", *options])
        return dict((step[0], step[1]) for step in pipeline.steps(NAME, args))["lesion"]()

    lesion.main(argv)  # quick: 3 random lesions per cluster
    written = path.stat().st_mtime_ns
    capsys.readouterr()
    lesion.main(argv)
    assert capsys.readouterr().out == (f"{NAME}: stored results are current, kept ({path}; "
                                       "--overwrite recomputes them)\n")
    assert path.stat().st_mtime_ns == written
    assert pipeline_skips_lesions() and not pipeline_skips_lesions("--protocol", "lab")
    lesion.main([*argv, "--protocol", "lab"])  # 10 random lesions: recomputed, saying why
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{path}: replacing the stored results for {NAME!r}: they were computed with other "
        "options (random 3, now 10)")
    assert int(load_results(path, NAME)["protocol"]["random"]) == 10
    assert pipeline_skips_lesions("--protocol", "lab") and not pipeline_skips_lesions()
    written = path.stat().st_mtime_ns
    lesion.main([*argv, "--random", "10"])  # quick with lab's 10 random lesions: the same
    assert "stored results are current, kept" in capsys.readouterr().out
    assert path.stat().st_mtime_ns == written


def test_lesion_figures_are_kept_while_current_drawn_where_missing_redrawn_with_overwrite(
        trained, tmp_path, capsys):
    """Before, lesion_plot.py redrew every figure on every run. (Figures older than lesion.h5 are
    redrawn: test_the_pipeline_skips_current_steps_and_recomputes_after_retraining.)"""
    runs, folder = _copy_with_analysis(trained, tmp_path), tmp_path / "figures"
    lesion.main([NAME, "--runs", str(runs), *LESION])
    argv = [NAME, "--runs", str(runs), "--figures", str(folder)]

    def plot(*options) -> tuple[list[str], str]:
        capsys.readouterr()
        lesion_plot.main([*argv, *options])
        line = capsys.readouterr().out.splitlines()[0]
        drawn = line.split(": drew ")[1].split(f" in {folder}")[0] if ": drew " in line else ""
        return [stem for stem in drawn.split(", ") if stem], line

    drawn, _ = plot()
    assert {"lesion_hidden_weights", "lesion_size_effect", "pruning"} <= set(drawn)
    assert {p.stem for p in folder.glob("*.png")} == {p.stem for p in folder.glob("*.pdf")} \
        == set(drawn)
    files = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert plot() == ([], f"{NAME}: kept {', '.join(drawn)} (drawn in {folder} after lesion.h5 "
                          "was written; --overwrite redraws)")
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == files  # nothing redrawn
    (folder / "pruning.pdf").unlink()  # one file lost
    assert plot()[0] == ["pruning"]
    assert {p: t for p, t in files.items() if p.stem != "pruning"} == {
        p: p.stat().st_mtime_ns for p in folder.iterdir() if p.stem != "pruning"}
    assert plot("--overwrite")[0] == drawn
    assert all(p.stat().st_mtime_ns > t for p, t in files.items() if p.exists())


def test_lesion_figures_of_several_runs_in_one_figure_folder_go_to_a_folder_per_run(
        trained, second, tmp_path, capsys):
    """Before, ``--figures F`` put every run's figures in F itself: the second run's figures
    were kept as current although they were the first run's (``--overwrite``: replaced them)."""
    import shutil

    runs, folder = _copy_with_analysis(trained, tmp_path), tmp_path / "figures"
    shutil.copytree(trained / second, runs / second,
                    ignore=shutil.ignore_patterns("*.h5", "figures"))
    multiple_task_analysis.main([second, "--runs", str(runs), "--k-max", "4", "--n-init", "2",
                                 "--permutations", "2", "--max-points", "40"])
    for name in (NAME, second):
        lesion.main([name, "--runs", str(runs), *LESION])
    capsys.readouterr()
    lesion_plot.main([NAME, second, "--runs", str(runs), "--figures", str(folder)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("reach")]
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == ["drew", "drew"]
    assert not list(folder.glob("*.png"))
    for name in (NAME, second):
        assert f" in {folder / name}" in lines[(NAME, second).index(name)]
        assert (folder / name / "lesion_hidden_weights.png").is_file()
    # the same for the analysis and the state space (their figures across runs stay in F)
    multiple_task_analysis.main([NAME, second, "--runs", str(runs), "--figures", str(folder),
                                 "--k-max", "4", "--n-init", "2", "--permutations", "2",
                                 "--max-points", "40", "--no-progress"])
    state_space_shift.main([NAME, second, "--runs", str(runs), "--figures", str(folder),
                            "--trials", "4", "--no-progress"])
    for name in (NAME, second):
        assert (folder / name / "ftv_histograms.png").is_file()
        assert (folder / name / "state_space_rule.png").is_file()
    assert not list(folder.glob("ftv_*")) and not list(folder.glob("state_space_rule*"))
    assert (folder / "state_space_r_across_runs.png").is_file()


@pytest.mark.parametrize("script", ["multiple_task_analysis", "lesion", "lesion_plot",
                                    "preceding_trial_shift", "state_space_shift", "fixed_points",
                                    "run_pipeline"])
def test_every_analysis_script_and_the_pipeline_take_no_progress(capsys, script):
    with pytest.raises(SystemExit) as info:
        _script(script).parse_args(["--help"])
    assert info.value.code == 0
    assert re.search(r"^\s+--no-progress\s+\w", capsys.readouterr().out, re.MULTILINE)
    assert _script(script).parse_args([NAME, "--no-progress"]).no_progress


def test_no_progress_hides_the_analysis_progress_bar(trained, tmp_path, capsys):
    import shutil

    shutil.copytree(trained / NAME, tmp_path / NAME, ignore=shutil.ignore_patterns("*.h5",
                                                                                   "figures"))
    capsys.readouterr()
    multiple_task_analysis.main([NAME, "--runs", str(tmp_path), "--k-max", "3", "--n-init", "1",
                                 "--permutations", "1", "--no-synapses", "--no-progress"])
    captured = capsys.readouterr()
    assert f"{NAME}: results in" in captured.out and f"{NAME} analysis" not in captured.err


def test_lesion_protocols():
    quick, lab = lesion.parse_args([NAME]), lesion.parse_args([NAME, "--protocol", "lab"])
    assert (quick.trials, quick.random) == (32, 3)
    assert (lab.trials, lab.random) == (200, 10)
    assert lesion.parse_args([NAME, "--protocol", "lab", "--random", "2"]).random == 2
    assert lesion.PRUNE_FRACTIONS == (0.0, 0.1, 0.5, 0.9, 0.95, 0.98, 0.99, 0.999)


def test_a_fixed_k_clusters_units_and_synapses_and_the_clusterings_are_compared(
        trained, second, tmp_path, capsys):
    from core.analysis.clustering import _n_distinct, rule_partition

    figures = tmp_path / "figs"
    k = 13  # above the 12 hidden units: capped at 11 (not one unit per cluster), with a message
    argv = [NAME, second, "--runs", str(trained), "--k", str(k), "--n-init", "2",
            "--permutations", "2", "--max-points", "60", "--overwrite", "--figures", str(figures)]
    multiple_task_analysis.main(argv)
    out = capsys.readouterr().out
    # across networks: the rule partitions their unit clusters induce
    stored = load_results(trained / multiple_task_analysis.CLUSTERING_SEEDS_FILE,
                          f"{NAME},{second}")
    assert list(stored["runs"]) == [NAME, second]
    seeds = load_results(trained / multiple_task_analysis.SEEDS_FILE, f"{NAME},{second}")
    assert list(seeds["runs"]) == [NAME, second]  # results with the runs, figures apart
    assert (figures / "over_membership_seeds.png").is_file()
    analyses = [load_results(trained / n / "analysis.h5", n) for n in (NAME, second)]
    for pop in ("input", "hidden"):
        for method in ("kmeans", "ward"):
            expected = np.stack([rule_partition(a["task_variance"][pop]["by_rule"],
                                                a["clusters"][pop][method]["labels"],
                                                a["clusters"][pop][method]["active"])
                                 for a in analyses])
            agree = stored[pop][method]
            np.testing.assert_array_equal(agree["rule_labels"], expected)
            assert agree["ari"].shape == (2, 2) and agree["mean_ari"] == agree["ari"][0, 1]
            assert agree["n_groups"].tolist() == [len(set(e)) for e in expected]
            assert f"{pop} {method}: rule partitions agree across 2 runs with mean adjusted " \
                   f"Rand index {agree['mean_ari']:.2f} (rule groups per run: " \
                   f"{agree['n_groups'][0]}, {agree['n_groups'][1]})" in out
            assert (figures / f"clustering_agreement_seeds_{pop}_{method}.png").is_file()
    analysis = load_results(trained / NAME / "analysis.h5", NAME)
    for pop, methods in analysis["clusters"].items():
        by_rule = analysis["task_variance"][pop]["by_rule"]
        for method, fit in methods.items():
            active = np.asarray(fit["active"])
            profiles = by_rule[active] / by_rule[active].max(axis=1, keepdims=True)
            expected = min(k, _n_distinct(profiles), int(active.sum()) - 1)
            assert int(fit["n_clusters"]) == expected, (pop, method)
            assert int(fit["fixed_k"]) == k
            assert sorted(set(np.asarray(fit["labels"])[active].tolist())) == list(
                range(expected))
    assert f"hidden, kmeans: {k} clusters asked for" in out
    for pop in ("input", "hidden"):
        agree = analysis["agreement"][pop]
        n = len(agree["partitions"])
        assert agree["ari"].shape == (n, n) and set(agree["method"]) == {"kmeans", "ward"}
        np.testing.assert_allclose(np.diag(agree["ari"]), 1.0)
        assert (figures / NAME / f"clustering_agreement_{pop}.png").is_file()  # per run
    assert "KMeans vs Ward adjusted Rand index at k=" in out
    with pytest.raises(SystemExit, match="^error: .*--k must be >= 1"):
        multiple_task_analysis.main([NAME, "--runs", str(trained), "--k", "0"])
    # run again without --overwrite: the current results across runs are kept, not refused
    files = [trained / f for f in (multiple_task_analysis.SEEDS_FILE,
                                   multiple_task_analysis.CLUSTERING_SEEDS_FILE)]
    stamps = [f.stat().st_mtime_ns for f in files]
    for lost in figures.glob("over_membership_seeds.*"):
        lost.unlink()
    multiple_task_analysis.main([a for a in argv if a != "--overwrite"])
    out = capsys.readouterr().out
    assert [f.stat().st_mtime_ns for f in files] == stamps
    for f in files:
        assert f"across runs: stored results are current, reused ({f})" in out
    assert "  hidden kmeans: rule partitions agree across 2 runs with mean adjusted Rand " in out
    assert "over-membership over 2 runs, mean [95 % interval]: " in out  # the stored summaries
    assert (figures / "over_membership_seeds.png").is_file()  # a missing figure is drawn
    # one run trained again (its checkpoint changes): it and the summaries are recomputed
    from core.training.checkpoint import load_checkpoint, save_checkpoint

    checkpoint = trained / second / "checkpoint.pt"
    payload = load_checkpoint(checkpoint)
    payload["model"] = {k: v * 1.01 for k, v in payload["model"].items()}
    save_checkpoint(checkpoint, payload)
    multiple_task_analysis.main([a for a in argv if a != "--overwrite"])
    assert all(f.stat().st_mtime_ns > t for f, t in zip(files, stamps, strict=True))
    assert f"{NAME}: stored results are current, reused" in capsys.readouterr().out


def _evaluation(run_dir, correct, n_trials=500, chance=1 / 8, rules=6):
    """Write ``run_dir/evaluation.csv`` as training does: ``correct`` of ``n_trials`` per rule."""
    from core.tasks.accuracy import RuleScore
    from core.training.trainer import score_table_csv

    run_dir.mkdir(parents=True, exist_ok=True)
    scores = {f"rule{i}": RuleScore(correct, n_trials, chance) for i in range(rules)}
    (run_dir / "evaluation.csv").write_text(score_table_csv(scores))
    return run_dir


@pytest.mark.parametrize(("correct", "chance", "warns"), [
    (0, 1 / 8, True), (60, 1 / 8, True),  # below chance, at chance
    (65, 1 / 8, True),  # 0.13: its interval 0.118-0.143 holds 0.125
    (70, 1 / 8, False),  # 0.14: interval 0.128-0.153, above chance
    (450, 1 / 8, False), (255, 1 / 2, True), (300, 1 / 2, False)])
def test_a_run_at_chance_gets_one_warning(tmp_path, capsys, correct, chance, warns):
    from core.analysis import warn_if_at_chance

    run_dir = _evaluation(tmp_path / NAME, correct, chance=chance)
    message = warn_if_at_chance(run_dir)
    err = capsys.readouterr().err
    assert (message is not None) == warns and err == (f"warning: {message}\n" if warns else "")
    if warns:
        where = "below chance" if correct == 0 else "at chance"  # 0: interval 0.000-0.008
        assert message.startswith(f"run {NAME} is {where}: accuracy {correct / 500:.3f} (95 % "
                                  "interval ") and "3000 fresh trials of 6 rules" in message
        assert message.endswith(f"against chance {chance:.3f}; the analysis of an untrained "
                                "network is not meaningful")
        assert warn_if_at_chance(run_dir) is None and capsys.readouterr().err == ""  # once
    assert warn_if_at_chance(tmp_path) is None  # no evaluation.csv: nothing to say


@pytest.mark.parametrize("script", ["multiple_task_analysis", "lesion", "lesion_plot",
                                    "preceding_trial_shift", "state_space_shift", "fixed_points",
                                    "run_pipeline"])
def test_every_analysis_script_warns_about_a_run_at_chance(tmp_path, capsys, script):
    run_dir = _evaluation(tmp_path / NAME, 50)
    (run_dir / "checkpoint.pt").write_bytes(b"")  # unreadable: the script stops after warning
    (run_dir / "lesion.h5").write_bytes(b"")  # the same for lesion_plot.py
    with pytest.raises(SystemExit):
        _script(script).main([NAME, "--runs", str(tmp_path)])
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"warning: run {NAME} is below chance: accuracy 0.100 "), err
    assert sum(line.startswith("warning: ") for line in err) == 1


def _stopped_line(signum: int) -> str:
    return (f"error: stopped by {signal.Signals(signum).name} in the analysis step of {NAME}; no "
            "later step ran; run the same command again to continue from there (current steps "
            "are skipped)")


def test_sigterm_stops_the_pipeline_in_its_step_with_status_143(tmp_path):
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "checkpoint.pt").touch()  # enough for the run check; the step sleeps
    code = (f"import sys, time, types; sys.path.insert(0, {str(ROOT / 'tests')!r}); "
            "from script_loader import load_script; "
            "pipeline = load_script('multiple_task/run_pipeline.py', 'pipeline'); "
            "step = lambda argv: (print('step started', flush=True), time.sleep(120)); "
            "pipeline._script = lambda stem: types.SimpleNamespace(main=step, "
            "parse_args=lambda argv: None); "
            f"pipeline.main([{NAME!r}, '--runs', {str(tmp_path)!r}])")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline() == f"{NAME}:\n"
    assert proc.stdout.readline().startswith("  analysis: python multiple_task/")
    assert proc.stdout.readline() == "step started\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err == _stopped_line(signal.SIGTERM) + "\n"
    assert out == ""  # neither "done" nor a later step


def test_the_pipeline_checks_every_steps_options_before_the_first_step(trained, tmp_path):
    """Before, a bad ``--lesion-args`` failed after the analysis step had run (minutes to an
    hour), with an error naming run_pipeline.py instead of lesion.py."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(trained / NAME, runs / NAME, ignore=shutil.ignore_patterns("*.h5", "figures"))
    with pytest.raises(SystemExit, match=r"^error: lesion\.py: unrecognized arguments: --bogus "
                                         r"\(see lesion\.py --help\)$"):
        _script("run_pipeline").main([NAME, "--runs", str(runs), "--lesion-args=--bogus"])
    assert not list((runs / NAME).glob("*.h5"))  # no step ran


def test_sigint_stops_the_pipeline_in_its_step_with_status_130(tmp_path, monkeypatch, capsys):
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "checkpoint.pt").touch()
    pipeline = _script("run_pipeline")
    ran = []

    def step(argv):  # Ctrl-C while the step works
        ran.append(argv)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        ran.append("not stopped")

    def unhandled(signum, frame):  # a failure, not pytest's KeyboardInterrupt
        raise AssertionError("the pipeline did not handle SIGINT")

    monkeypatch.setattr(pipeline, "_script", lambda stem: types.SimpleNamespace(
        main=step, parse_args=lambda argv: None))
    before = signal.signal(signal.SIGINT, unhandled)
    try:
        with pytest.raises(SystemExit) as info:
            pipeline.main([NAME, "--runs", str(tmp_path)])
        assert signal.getsignal(signal.SIGINT) is unhandled  # the handler is given back
    finally:
        signal.signal(signal.SIGINT, before)
    assert info.value.code == 130 and str(info.value) == _stopped_line(signal.SIGINT)
    assert len(ran) == 1 and "  lesion" not in capsys.readouterr().out


def test_the_pipeline_skips_current_steps_and_recomputes_after_retraining(tmp_path, capsys):
    pipeline = _script("run_pipeline")
    runs = tmp_path / "runs"
    train = ["--preset", "quick", "--rules", "reach", "--hidden", "12", "--batch", "16",
             "--out", str(runs), "--threads", "1", "--eval-trials", "8", "--no-progress"]
    multiple_task.main([*train, "--steps", "3"])
    argv = [NAME, "--runs", str(runs), "--no-progress", "--k", "3",
            "--analysis-args", "--k-max 4 --n-init 2 --permutations 2 --max-points 40",
            "--lesion-args", "--random 1 --trials 4 --no-pairs --no-synapses",
            "--shift-args", "--probes go --previous fdgo --trials 8", "--state-space-args",
            "--trials 4"]
    steps = ("analysis", "lesion", "lesion figures", "preceding trial shift", "state space")
    stored = [runs / NAME / f for f in ("analysis.h5", "lesion.h5", "preceding_trial_shift.h5",
                                        "state_space_shift.h5", "figures/pruning.png")]

    def run() -> str:
        capsys.readouterr()
        pipeline.main(argv)
        return capsys.readouterr().out

    first = run()
    assert all(f"  {s}: done in" in first for s in steps), first
    assert "  fixed points: skipped, the run has none of the rule pairs" in first
    written = [p.stat().st_mtime_ns for p in stored]
    second = run()
    assert all(f"  {s}: current, skipped" in second for s in steps), second
    assert [p.stat().st_mtime_ns for p in stored] == written
    (runs / NAME / "figures" / "pruning.pdf").unlink()  # as if killed while drawing
    redrawn = run()
    assert "  lesion figures: done in" in redrawn and redrawn.count("current, skipped") == 4
    multiple_task.main([*train, "--steps", "5", "--overwrite"])  # another network, same name
    third = run()
    assert all(f"  {s}: done in" in third for s in steps), third
    assert all(p.stat().st_mtime_ns > t for p, t in zip(stored, written, strict=True))
