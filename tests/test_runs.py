"""core.runs: the index lists exactly the name-coded runs present, with their parsed fields."""

import csv
import json

import numpy as np
import pytest

from core.analysis.seeds import mean_interval
from core.runs import COLUMNS, aggregate_seeds, filter_rows, index_runs, main
from core.tasks.accuracy import RuleScore
from core.training import TrainConfig, build_rule_run, parse_run_name
from core.training.trainer import score_table_csv


class Stop(Exception):
    pass


def rule_run(out, seed, hidden, n_steps=2, stop_after=None, should_stop=None):
    config = TrainConfig(rules="go", task_preset="mpn_lab", hidden=hidden, batch_size=4,
                         n_steps=n_steps, val_every=1, checkpoint_every=1, val_trials=4,
                         network="vanilla")
    run = build_rule_run(config, seed, out, progress=False)
    run.trainer.should_stop = should_stop
    if stop_after is not None:  # a run killed after its checkpoint at step `stop_after`
        def stop(trainer):
            if trainer.step > stop_after:
                raise Stop
        run.trainer.on_step = stop
        with pytest.raises(Stop):
            run.trainer.fit()
    else:
        run.trainer.fit()
    return run.run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    made = [rule_run(root / "grid", s, h) for s in (0, 1) for h in (8, 12)]
    made.append(rule_run(root, 5, 8, n_steps=6, stop_after=1))
    (root / "grid" / "figures").mkdir()  # not a run: no run name
    (root / "grid" / "figures" / "config.json").write_text("{}")
    hidden = root / "grid" / ".sweep" / "go_seed9_noreg+hidden8+batch4+angle"
    hidden.mkdir(parents=True)  # bookkeeping folders are skipped
    (hidden / "config.json").write_text("{}")
    return root, made


def test_index_lists_exactly_the_runs_with_their_parsed_fields(runs):
    root, made = runs
    rows = index_runs(root)
    assert sorted(r.run for r in rows) == sorted(str(p.relative_to(root)) for p in made)
    for row in rows:
        name = parse_run_name(row.run.split("/")[-1])
        assert (row.rule_set, row.seed, row.feature, row.hidden, row.batch, row.accfeature) == (
            name.task, name.seed, name.feature, name.hidden, name.batch, name.accfeature)
        assert row.family == "multiple_task"
        validation = (root / row.run / "validation.csv").read_text().strip().splitlines()
        assert row.val_accuracy == pytest.approx(float(validation[-1].split(",")[2]))
    killed = [r for r in rows if r.seed == 5]
    assert [(r.steps, r.n_steps, r.finished) for r in killed] == [(1, 6, False)]
    assert all(r.finished and r.steps == 2 for r in rows if r.seed != 5)
    assert [r.seed for r in filter_rows(rows, ["hidden=12", "finished=yes"])] == [0, 1]
    assert [r.seed for r in filter_rows(rows, ["finished=no"])] == [5]
    with pytest.raises(ValueError, match="FIELD one of"):
        filter_rows(rows, ["colour=red"])


def test_aggregate_over_seeds_and_command_line(runs, tmp_path, capsys):
    root, _ = runs
    rows = filter_rows(index_runs(root), ["run=grid/*"])
    groups = {g["label"].split("+")[1]: g for g in aggregate_seeds(rows)}
    assert set(groups) == {"hidden8", "hidden12"}
    group = groups["hidden8"]
    members = [r for r in rows if r.hidden == 8]
    assert group["n_seeds"] == 2 and group["seeds"] == [0, 1]
    assert group["rules"] == ["fdgo", "reactgo", "delaygo"]  # the rule set "go"
    mean, low, high = mean_interval(np.array([[r.rule_accuracy[k] for k in group["rules"]]
                                              for r in members]))
    np.testing.assert_allclose([group["accuracy"], group["accuracy_low"],
                                group["accuracy_high"]], np.clip([mean, low, high], 0, 1))
    assert list(group["steps"]) == [0, 1, 2] and group["curve"].shape == (3,)

    out = tmp_path / "index.csv"
    main([str(root), "--where", "run=grid/*", "--aggregate", "--csv", str(out),
          "--figure", str(tmp_path / "seeds")])
    printed = capsys.readouterr().out
    assert printed.count("grid/go_seed") == 4 and "hidden8+batch4+angle" in printed
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and {r["finished"] for r in table} == {"yes"}
    assert len((tmp_path / "index_seeds.csv").read_text().strip().splitlines()) == 3
    assert (tmp_path / "seeds.png").stat().st_size > 0
    with pytest.raises(SystemExit, match="^error: .*already exist"):
        main([str(root), "--csv", str(out)])
    with pytest.raises(SystemExit, match="^error: .*nope: no such folder of runs"):
        main([str(root / "nope")])


def test_mean_interval_is_the_t_interval():
    values = np.array([0.5, 0.7, 0.9])
    mean, low, high = mean_interval(values)
    half = 4.302652729911275 * values.std(ddof=1) / np.sqrt(3)  # t_{0.975, 2}
    assert mean == pytest.approx(0.7) and (low, high) == pytest.approx((0.7 - half, 0.7 + half))
    assert np.isnan(mean_interval(np.array([0.4]))[1])


def test_a_run_stopped_by_its_stopping_rule_is_finished_and_old_runs_say_unknown(tmp_path,
                                                                                 capsys):
    """Early stopping by a rule outside the config (pretraining's held accuracy) is a finished
    run; a run stored before ``status.json`` is finished where its files show it, else unknown."""
    stopped = rule_run(tmp_path, 0, 8, n_steps=6, should_stop=lambda c: len(c.val_step) > 2)
    killed = rule_run(tmp_path, 1, 8, n_steps=6, stop_after=2)
    done = rule_run(tmp_path, 2, 8, n_steps=2)
    status = json.loads((stopped / "status.json").read_text())
    assert status == {"step": 2, "n_steps": 6, "stopped": "target_accuracy"}
    rows = {r.seed: r for r in index_runs(tmp_path)}
    assert [(rows[s].steps, rows[s].n_steps, rows[s].finished) for s in (0, 1, 2)] == [
        (2, 6, True), (2, 6, False), (2, 2, True)]
    for run in (stopped, killed, done):  # as stored before the trainer wrote a status
        (run / "status.json").unlink()
    rows = {r.seed: r for r in index_runs(tmp_path)}
    assert [rows[s].finished for s in (0, 1, 2)] == [None, None, True]
    assert [r.seed for r in filter_rows(rows.values(), ["finished=unknown"])] == [0, 1]
    # fresh-trial accuracy from evaluation.csv; the index as a Markdown table
    (done / "evaluation.csv").write_text(score_table_csv(
        {"fdgo": RuleScore(400, 500, 0.5), "delaygo": RuleScore(300, 600, 0.5)}))
    main([str(tmp_path), "--format", "markdown"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |" and lines[1] == "|---" * 14 + "|"
    cells = {line.split(" | ")[0].removeprefix("| "): line.strip("| ").split(" | ")
             for line in lines[2:]}
    assert len(cells) == 3 and all(len(c) == len(COLUMNS) for c in cells.values())
    row = dict(zip(COLUMNS, cells[done.name], strict=True))
    assert (row["eval_accuracy"], row["eval_trials"], row["finished"]) == ("0.650", "500", "yes")
    assert [dict(zip(COLUMNS, c, strict=True))["finished"] for c in cells.values()].count(
        "unknown") == 2
    # resuming a finished run with a larger budget: unfinished until it reaches it
    config = TrainConfig(rules="go", task_preset="mpn_lab", hidden=8, batch_size=4, n_steps=4,
                         val_every=1, checkpoint_every=1, val_trials=4, network="vanilla")
    run = build_rule_run(config, 2, tmp_path, progress=False)
    run.trainer.prepare(resume=True)
    assert json.loads((done / "status.json").read_text())["stopped"] is None
    run.trainer.fit(resume=True)
    assert json.loads((done / "status.json").read_text()) == {
        "step": 4, "n_steps": 4, "stopped": "n_steps"}


def test_babyai_runs_are_indexed_by_their_updates(tmp_path):
    """A BabyAI run (config with ``dagger``, curves counted in DAgger updates) gets its own
    family and step count instead of a KeyError on ``step``."""
    name = "BabyAI-GoToRedBall-v0_seed3_cost1e5+hidden64+batch32+dagger+mop"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text('{"kind": "mop", "dagger": {"alpha": 1e-5}, "seed": 3}')
    with open(folder / "curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["update", "agent_steps", "success_rate"])
        writer.writerows([[1, 640, 0.1], [7, 4480, 0.5]])
    (row,) = index_runs(tmp_path)
    assert (row.family, row.seed, row.hidden, row.steps) == ("babyai", 3, 64, 7)
    assert (row.n_steps, row.finished, row.fields()["finished"]) == (None, None, "unknown")


@pytest.mark.parametrize("name, config, family", [
    ("fdgo_delaygo-pre_seed0_noreg+hidden8+batch4+angle", {}, "pretrain"),
    ("fdgo_delaygo-to-delayanti_seed0_noreg+hidden8+batch4+angle", {}, "pretrain"),
    ("delaydm1_delaydm2_seed0_noreg+hidden8+batch4+angle", {"parameters": {"count": 9}},
     "flex_task"),
    ("delaydm1_delaydm2_seed0_noreg+hidden8+batch4+angle", {}, "multiple_task")])
def test_pretraining_and_flex_task_runs_are_told_from_multi_task_runs(tmp_path, name, config,
                                                                     family):
    from core.runs import rule_run_family

    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_kind": "mpn", **config}))
    assert rule_run_family(folder) == family


def test_timescales_runs_give_their_budget_and_an_interrupted_run_is_not_finished(tmp_path,
                                                                                   monkeypatch):
    """A curriculum run (``timescales/train.py``): per-N folders and ``+last`` show the step
    budget (``max_steps``) and are finished only once ``+last`` is written without a signal."""
    import torch

    import core.training.curriculum as cur
    from core.models.timescale_rnn import TimescaleRNN, TimescaleRNNConfig

    monkeypatch.setattr(cur, "evaluate", lambda model, task, ns, *args, **kwargs: np.ones(len(ns)))
    rows = {}  # every evaluation solves the newest N
    for seed, interrupted in ((0, False), (1, True)):
        torch.manual_seed(seed)
        model = TimescaleRNN(TimescaleRNNConfig(n_hidden=4))
        config = cur.CurriculumConfig(optimizer="adam", batch_size=4, eval_every=2,
                                      eval_batches=1, max_steps=4, seed=seed)
        history = cur.train_curriculum(
            model, config, progress=False,
            on_reached=lambda n, m, step, acc, c=config: cur.save_reached_checkpoint(
                tmp_path, m, c, n, step, acc))
        cur.save_last_checkpoint(tmp_path, model, config, history, state={
            "step": 3, "n_newest": 4, "losses": []} if interrupted else None)
        rows[seed] = {r.accfeature: r for r in index_runs(tmp_path) if r.seed == seed}
    assert set(rows[0]) == {"+adam+N2", "+adam+N3", "+adam+last"}
    for seed, finished in ((0, True), (1, False)):
        assert {r.family for r in rows[seed].values()} == {"timescales"}
        assert {r.n_steps for r in rows[seed].values()} == {4}
        assert {r.finished for r in rows[seed].values()} == {finished}
        assert [rows[seed][f"+adam+N{n}"].steps for n in (2, 3)] == [2, 4]
    assert (rows[0]["+adam+last"].steps, rows[1]["+adam+last"].steps) == (4, 3)
    (tmp_path / rows[0]["+adam+last"].run).joinpath("config.json").unlink()  # killed: no +last
    assert {r.finished for r in index_runs(tmp_path) if r.seed == 0} == {None}
