"""flex_task: networks at equal trainable-parameter counts, counted from the built models."""

import json

import numpy as np
import pytest

from core.io import load_results
from core.models import build_model
from core.models.sizing import match_count
from core.runs import aggregate_seeds, index_runs
from core.training.config import FLEX_TASK, model_config
from core.training.flex import TOLERANCE, matched_configs
from tests.script_loader import load_script


def _count(kind, config, n_in, n_out):
    model = build_model(kind, model_config(config, n_in, n_out))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("hidden, n_in", [(16, 8), (48, 8), (100, 21), (200, 8)])
def test_matched_sizes_agree_within_two_percent(hidden, n_in):
    config = FLEX_TASK.replace(hidden=hidden)
    target, matched = matched_configs(config, n_in, 3, ["mpn", "mpn-rec", "rnn"])
    assert target == _count("vanilla", matched["rnn"][0], n_in, 3)
    for name, (variant, count) in matched.items():
        assert count == _count(variant.network, variant, n_in, 3)
        assert abs(count - target) <= 0.02 * target, (name, count, target)
    model = build_model("mpn", model_config(matched["mpn-rec"][0], n_in, 3))
    assert model.layers[0].w_rec is not None
    # equal hidden sizes (the lab's claim) do not give equal counts for the recurrent MPN
    same_hidden = matched["mpn-rec"][0].replace(hidden=hidden, model={
        **matched["mpn-rec"][0].model, "n_embed": hidden})
    assert abs(_count("mpn", same_hidden, n_in, 3) - target) > TOLERANCE * target


def test_match_count_finds_the_nearest_value():
    assert match_count(lambda v: v * v, 50) == (7, 49)
    assert match_count(lambda v: v * v, 60) == (8, 64)
    with pytest.raises(ValueError):
        match_count(lambda v: v, 0)


def test_script_prints_and_stores_both_counts(tmp_path, capsys):
    flex = load_script("flex_task/flex_task.py", "flex_task_script")
    flex.main(["--preset", "flex_task_quick", "--hidden", "12", "--batch", "4", "--steps", "2",
               "--network", "mpn-rec", "rnn", "--seed", "0", "1", "--out", str(tmp_path),
               "--eval-trials", "20", "--no-progress"])
    out = capsys.readouterr().out
    stored = {}
    for run in tmp_path.iterdir():
        config = json.loads((run / "config.json").read_text())
        stored[config["parameters"]["network"]] = config["parameters"]
    assert set(stored) == {"mpn-rec", "rnn"} and stored["rnn"]["count"] == stored["rnn"]["target"]
    for name, p in stored.items():
        assert f"{name}: " in out
        assert f"{p['count']} trainable parameters (target {p['target']}" in out
        assert abs(p["count"] - p["target"]) <= 0.02 * p["target"]
    assert any(r.name.endswith("+angle+rec") for r in tmp_path.iterdir())
    names = sorted(r.name for r in tmp_path.iterdir())
    # training scored every run on 20 fresh trials per rule (accuracy, Wilson interval, chance)
    trained = {n: (tmp_path / n / "evaluation.csv").read_text() for n in names}
    for text in trained.values():
        rows = [line.split(",") for line in text.splitlines()[1:]]
        assert [(r[0], r[1], r[6]) for r in rows] == [("delaydm1", "20", "0.5"),
                                                       ("delaydm2", "20", "0.5")]
    # a run trained without one: the analysis scores the same fresh trials and writes the file
    (tmp_path / names[0] / "evaluation.csv").unlink()
    analysis = load_script("flex_task/flex_task_analysis.py", "flex_task_analysis_script")
    analysis.main([*names, "--runs", str(tmp_path), "--figures", str(tmp_path / "fig"),
                   "--eval-trials", "20"])
    out, err = capsys.readouterr()
    assert f"{names[0]}: no evaluation.csv; scoring 20" in out and "runs analysed" in err  # bar
    assert (tmp_path / names[0] / "evaluation.csv").read_text() == trained[names[0]]
    table = (tmp_path / "fig" / "flex_task_speed.md").read_text()
    assert f"| MPN + W_rec | {stored['mpn-rec']['count']} ({stored['rnn']['count']}) | 2 |" in table
    assert "delaydm2 accuracy, 20 fresh trials: mean [95 % t-interval] (chance)" in table
    evaluation = load_results(tmp_path / names[0] / "flex_task.h5", names[0])["evaluation"]
    n_correct = [int(line.split(",")[2]) for line in trained[names[0]].splitlines()[1:]]
    np.testing.assert_array_equal(evaluation["n_correct"], n_correct)
    np.testing.assert_allclose(evaluation["accuracy"], np.array(n_correct) / 20)
    assert (tmp_path / "fig" / "flex_task_evaluation.png").is_file()
    # current results are reused, not recomputed, and the summary drawn since them is kept
    def written(*paths):
        return [p.stat().st_mtime_ns for p in paths]

    entries = [tmp_path / n / "flex_task.h5" for n in names]
    summary = [tmp_path / "fig" / f for f in ("flex_task_speed.md", "flex_task_curves.png",
                                              "flex_task_evaluation.pdf")]
    before = written(*entries, *summary)
    analysis.main([*names, "--runs", str(tmp_path), "--figures", str(tmp_path / "fig")])
    out = capsys.readouterr().out
    assert all(f"{n}: stored results are current, reused" in out for n in names), out
    assert "replacing" not in out and written(*entries, *summary) == before
    assert f"table unchanged in {summary[0]}; kept flex_task_curves, flex_task_evaluation" in out
    assert table in summary[0].read_text()  # the same table, with the runs it summarises
    assert f"<!-- runs: {', '.join(names)} -->" in summary[0].read_text()
    # a summary of one run replaces that of two: table and figures drawn again; a lost figure is
    # drawn again; another --level is stale, recomputed and said why
    analysis.main([names[0], "--runs", str(tmp_path), "--figures", str(tmp_path / "fig")])
    assert f"table written to {summary[0]}; drew flex_task_curves, flex_task_evaluation" in \
        capsys.readouterr().out
    assert "| 1 |" in summary[0].read_text() and written(*entries) == before[:len(names)]
    (tmp_path / "fig" / "flex_task_evaluation.png").unlink()
    analysis.main([names[0], "--runs", str(tmp_path), "--figures", str(tmp_path / "fig"),
                   "--level", "0.5"])
    out = capsys.readouterr().out
    assert "replacing the stored results" in out and "(level 0.9, now 0.5)" in out
    assert "table written to" in out and "drew flex_task_curves, flex_task_evaluation" in out
    assert load_results(entries[0], names[0])["level"] == 0.5
    analysis.main([*names, "--runs", str(tmp_path), "--figures", str(tmp_path / "fig"),
                   "--overwrite", "--no-progress"])  # recomputes current ones too
    out, err = capsys.readouterr()
    assert "runs analysed" not in err and "reused" not in out
    assert all(a > b for a, b in zip(written(*entries), before[:len(names)], strict=True))
    assert "drew flex_task_curves, flex_task_evaluation" in out
    with pytest.raises(SystemExit) as stop:  # --figures names a file: said in one line
        analysis.main([*names, "--runs", str(tmp_path), "--overwrite",
                       "--figures", str(tmp_path / "fig" / "flex_task_speed.md")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert f"{tmp_path / 'fig' / 'flex_task_speed.md'} is a file, not a folder" in err
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "flex_task").symlink_to(tmp_path)
    paper_plot = load_script("paper_plot.py", "paper_plot_flex")
    assert paper_plot.main(["--runs", str(tmp_path / "runs"), "--only", "flex_task", "--out",
                            str(tmp_path / "paper")]) == 0
    assert (tmp_path / "paper" / "flex_task" / "flex_task_curves.png").is_file()
    assert (tmp_path / "paper" / "flex_task" / "flex_task_evaluation.png").is_file()
    # the figure's curves are core.runs' aggregation over seeds of the run folders
    from_runs = sorted((g["n_seeds"], g["steps"].tolist(), g["curve"].tolist(),
                        g["curve_low"].tolist(), g["curve_high"].tolist())
                       for g in aggregate_seeds(index_runs(tmp_path)))
    results = {n: load_results(tmp_path / n / "flex_task.h5", n) for n in names}
    from_figure = sorted((n, steps.tolist(), mean.tolist(), low.tolist(), high.tolist())
                         for steps, mean, low, high, n
                         in paper_plot.transfer_groups("flex_task", results).values())
    assert [g[:2] for g in from_runs] == [g[:2] for g in from_figure] == [(2, [0, 2])] * 2
    np.testing.assert_allclose([g[2:] for g in from_figure], [g[2:] for g in from_runs])
    # results stored before they held the fresh-trial scores (no recorded contents) are stale:
    # paper_plot refuses them with the refresh command, the analysis recomputes them
    from core.io import save_results
    from core.provenance import record

    path = tmp_path / names[0] / "flex_task.h5"
    old = {k: v for k, v in load_results(path, names[0]).items() if k != "evaluation"}
    save_results(path, names[0], old, overwrite=True,
                 provenance=record(path, tmp_path / names[0] / "checkpoint.pt"))
    capsys.readouterr()
    assert paper_plot.main(["--runs", str(tmp_path / "runs"), "--only", "flex_task", "--out",
                            str(tmp_path / "paper2")]) != 0
    assert "do not record their contents" in capsys.readouterr().out
    analysis.main([names[0], "--runs", str(tmp_path), "--figures", str(tmp_path / "fig"),
                   "--no-progress"])
    assert "replacing the stored results" in capsys.readouterr().out
    assert "evaluation" in load_results(path, names[0])


def test_the_chance_line_is_the_mean_chance_of_the_runs_rules():
    from core.analysis.transfer import rules_chance
    from core.tasks import chance_level, get_preset

    stored = {"a": {"rules": np.array(["delaydm1", "delaydm2"])}, "b": {"rules": ["fdgo"]}}
    task = get_preset("mpn_lab")
    expected = np.mean([chance_level(r, task) for r in ("delaydm1", "delaydm2", "fdgo")])
    assert rules_chance(stored) == pytest.approx(expected)
    assert chance_level("fdgo", task) != chance_level("delaydm1", task)  # the mean is not trivial
