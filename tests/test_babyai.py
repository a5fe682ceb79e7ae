"""BabyAI agent family: environments + bot, observation encoding, stateful policies, DAgger."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch
from minigrid.core.grid import Grid
from minigrid.core.world_object import Ball
from minigrid.utils.baby_ai_bot import BabyAIBot

from core.analysis.babyai import bot_episodes, routing_by_cell, routing_by_phase
from core.envs.babyai import (
    TRAIN_SEEDS,
    VOCABULARY,
    BotVecEnv,
    encode_observation,
    observation_size,
)
from core.io import load_results
from core.models.mop import MixtureOfPathways, MixtureOfPathwaysConfig
from core.models.rnn import GRUConfig, GRUNet, GRUState
from core.runs import index_runs
from core.training.checkpoint import load_checkpoint, save_checkpoint
from core.training.dagger import DaggerConfig, DaggerLearner
from core.training.trainer import read_scores
from tests.script_loader import load_script

LEVEL = "BabyAI-GoToRedBall-v0"
D = observation_size(True)


def small_gru(seed: int = 0) -> GRUNet:
    torch.manual_seed(seed)
    return GRUNet(GRUConfig(n_in=D, n_hidden=16, n_out=7, output_bias=True))


def small_mop(seed: int = 0) -> MixtureOfPathways:
    torch.manual_seed(seed)
    return MixtureOfPathways(MixtureOfPathwaysConfig(
        n_stimulus=D - len(VOCABULARY), n_tasks=len(VOCABULARY), n_output=7,
        layers=((0, 4, 8), (0, 4, 8)), intermediate_dim=8, router_dim=8, task_dim=4))


def test_bot_solves_a_seeded_goto_red_ball_episode():
    found = bot_episodes(LEVEL, [11, 12])
    assert found["success"].all()
    assert np.all((found["length"] > 0) & (found["length"] < 64))
    again = bot_episodes(LEVEL, [11, 12])
    np.testing.assert_array_equal(again["length"], found["length"])


def test_observation_encoding_of_a_hand_built_grid():
    env = gym.make(LEVEL).unwrapped
    env.reset(seed=0)
    env.grid = Grid(8, 8)
    env.grid.wall_rect(0, 0, 8, 8)
    env.grid.set(5, 3, Ball("red"))  # two cells ahead of an agent at (3, 3) facing east
    env.agent_pos, env.agent_dir, env.carrying = (3, 3), 0, None
    obs = env.gen_obs()
    vec = encode_observation(obs["image"], obs["direction"], False, "go to the red ball")
    view = vec[:7 * 7 * 20].reshape(7, 7, 20)
    # the agent sits at view column 3, row 6, looking up the rows: the ball is at column 3, row 4
    assert np.flatnonzero(view[3, 4]).tolist() == [6, 11 + 0, 17 + 0]  # ball, red, state 0
    assert np.flatnonzero(view[3, 5]).tolist() == [1, 11 + 0, 17 + 0]  # empty floor
    assert view.sum(-1).min() == 3 and view.sum(-1).max() == 3  # one code per channel group
    rest = vec[7 * 7 * 20:]
    np.testing.assert_array_equal(rest[:4], [1, 0, 0, 0])  # facing east
    assert rest[4] == 0  # carries nothing
    words = dict(zip(VOCABULARY, rest[5:], strict=True))
    assert {w for w, c in words.items() if c} == {"go", "to", "the", "red", "ball"}
    raw = encode_observation(obs["image"], obs["direction"], True, "go to the red ball",
                             one_hot=False)
    np.testing.assert_array_equal(raw[:147].reshape(7, 7, 3)[3, 4], [6, 0, 0])
    assert raw.shape == (observation_size(False),) and raw[147 + 4] == 1
    with pytest.raises(ValueError, match="vocabulary"):
        encode_observation(obs["image"], 0, False, "go to the red banana")


@pytest.mark.parametrize("make", [small_gru, small_mop])
def test_resets_zero_only_the_finished_environments_states(make):
    model = make()
    learner = DaggerLearner(model, BotVecEnv(LEVEL, 6, seed=3),
                            DaggerConfig(n_envs=6, unroll=1, replay=1, beta0=1.0),
                            np.random.default_rng(0))
    for _ in range(40):
        batch = learner.update()
        done = batch.done[-1]
        if done.any() and not done.all():
            break
    assert done.any() and not done.all()
    hidden = (learner.state.hidden if isinstance(learner.state, GRUState)
              else torch.cat(learner.state.router, -1))
    assert torch.all(hidden[torch.as_tensor(done)] == 0)
    assert torch.all(hidden[torch.as_tensor(~done)].abs().sum(-1) > 0)


def test_gru_step_equals_gru_sequence():
    model = small_gru().eval()
    x = torch.randn(9, 3, D)
    with torch.no_grad():
        y, _ = model(x)
        state = model.initial_state(3)
        steps = []
        for t in range(9):
            yt, state = model.step(x[t], state)
            steps.append(yt)
    torch.testing.assert_close(torch.stack(steps), y, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="obs must have shape"):
        model.step(x[0, :, :5], state)


def test_dagger_batch_holds_the_bots_labels_for_the_visited_states():
    n, seed = 2, 5
    learner = DaggerLearner(small_gru(), BotVecEnv(LEVEL, n, seed=seed),
                            DaggerConfig(n_envs=n, unroll=30, replay=1, beta0=0.5),
                            np.random.default_rng(1))
    batch = learner.update()
    assert (batch.actions != batch.labels).any()  # the student acted, not only the bot
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]
    for i in range(n):  # replay env i independently: own env, own bot, the actions taken
        env = gym.make(LEVEL)
        obs, bot = None, None
        for t in range(batch.obs.shape[0]):
            if bot is None:
                obs, _ = env.reset(seed=int(rngs[i].integers(*TRAIN_SEEDS)))
                bot = BabyAIBot(env)
                label = bot.replan()
            carrying = env.unwrapped.carrying is not None
            expected = encode_observation(obs["image"], obs["direction"], carrying,
                                          obs["mission"])
            np.testing.assert_array_equal(batch.obs[t, i], expected)
            assert batch.labels[t, i] == label
            obs, _, term, trunc, _ = env.step(int(batch.actions[t, i]))
            assert bool(term or trunc) == batch.done[t, i]
            if term or trunc:
                bot = None
            else:
                label = bot.replan(int(batch.actions[t, i]))
        assert batch.done[:, i].any()


class FaultyBot(BabyAIBot):
    """Raises on its second re-plan, as the real bot does on states it cannot handle."""

    def __init__(self, env):
        super().__init__(env)
        self.calls = 0

    def replan(self, action_taken=None):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("bot cannot plan here")
        return super().replan(action_taken)


def test_an_environment_whose_bot_raises_is_reset_and_counted():
    venv = BotVecEnv(LEVEL, 2, seed=0, bot_factory=FaultyBot)
    _, labels = venv.reset()
    first = venv.episode_seed.copy()
    out = venv.step(labels)  # each bot's second replan raises
    assert venv.bot_failures == 2
    assert out.bot_failed.all() and out.done.all() and not out.success.any()
    assert np.all(venv.episode_seed != first) and np.all(venv.steps == 0)
    out = venv.step(out.labels)  # the fresh bots plan again
    assert venv.bot_failures == 4


def test_two_runs_with_one_seed_give_identical_losses(tmp_path, capsys):
    train = load_script("babyai/train.py", "babyai_train")
    flags = ["--steps", "3", "--n-envs", "2", "--unroll", "3", "--replay", "2", "--hidden", "8",
             "-l", "0,4", "--alpha", "1e-3", "--no-progress", "--seed", "4"]
    losses = []
    for out in ("a", "b"):
        assert train.main([*flags, "--out", str(tmp_path / out)]) == 0
        (run,) = (tmp_path / out).iterdir()
        with open(run / "curves.csv", newline="") as f:
            losses.append([float(r["loss"]) for r in csv.DictReader(f)])
    assert len(losses[0]) == 3 and losses[0] == losses[1]
    assert run.name == "BabyAI-GoToRedBall-v0_seed4_cost1e3+hidden8+batch2+dagger+mop"
    with pytest.raises(SystemExit) as exc:
        train.main([*flags, "--out", str(tmp_path / "a")])
    assert exc.value.code == 2
    # the index knows the budget: finished; --resume with a larger one goes on, and then is
    (row,) = index_runs(tmp_path / "b")
    assert (row.steps, row.n_steps, row.finished) == (3, 3, True)
    assert train.main([*flags[2:], "--steps", "4", "--out", str(tmp_path / "b"),
                       "--resume"]) == 0
    (row,) = index_runs(tmp_path / "b")
    assert (row.steps, row.n_steps, row.finished) == (4, 4, True)
    (tmp_path / "c" / run.name).mkdir(parents=True)  # --resume of an empty folder is refused
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        train.main([*flags, "--out", str(tmp_path / "c"), "--resume"])
    assert exc.value.code == 2 and "cannot resume" in capsys.readouterr().err
    evaluate = load_script("babyai/evaluate.py", "babyai_evaluate")
    results = tmp_path / "babyai.h5"
    assert evaluate.main([run.name, "--runs", str(tmp_path / "a"), "--episodes", "3",
                          "--results", str(results), "--figures", str(tmp_path / "fig"),
                          "--no-progress"]) == 0
    stored = load_results(results, run.name)
    assert len(stored["success"]) == 3 and stored["bot_success"].all()
    assert stored["random_success"].shape == (3,)
    assert stored["cells"]["layer0"].shape == (2, 8, 8)  # experts of -l 0,4; 8x8 grid
    assert (tmp_path / "fig" / f"{run.name}_cells.png").is_file()
    (row,) = index_runs(tmp_path / "a")  # success on the episodes as the index's accuracy
    assert (row.eval_accuracy, row.eval_trials) == (stored["success"].mean(), 3)
    (score,) = read_scores(tmp_path / "a" / run.name / "evaluation.csv").values()
    assert score.chance == stored["random_success"].mean()
    assert evaluate.main([run.name, "--runs", str(tmp_path / "a"), "--episodes", "2",
                          "--results", str(tmp_path / "other.h5"), "--figures",
                          str(tmp_path / "fig2"), "--no-progress"]) == 0
    assert "(of an evaluation stored elsewhere; --overwrite replaces it)" in \
        capsys.readouterr().out
    assert index_runs(tmp_path / "a")[0].eval_trials == 3  # not replaced by the 2 episodes
    paper_plot = load_script("paper_plot.py", "paper_plot_babyai")
    assert paper_plot.main(["--only", "babyai", "--results", str(tmp_path),
                            "--out", str(tmp_path / "paper")]) == 0
    assert (tmp_path / "paper" / "babyai" / "babyai" / f"{run.name}_phase.png").is_file()
    # the run's network changes: paper_plot refuses its evaluation, evaluate.py recomputes it
    checkpoint = tmp_path / "a" / run.name / "checkpoint.pt"
    payload = load_checkpoint(checkpoint)
    payload["model"] = {k: v + 1 for k, v in payload["model"].items()}
    save_checkpoint(checkpoint, payload)
    assert paper_plot.main(["--only", "babyai", "--results", str(tmp_path),
                            "--out", str(tmp_path / "paper2")]) == 1
    out = capsys.readouterr().out
    assert "stale" in out and "babyai/evaluate.py" in out
    evaluate_again = [run.name, "--runs", str(tmp_path / "a"), "--episodes", "3", "--results",
                      str(results), "--figures", str(tmp_path / "fig"), "--no-progress"]
    figure = tmp_path / "fig" / f"{run.name}_cells.png"
    drawn = figure.stat().st_mtime_ns
    assert evaluate.main(evaluate_again) == 0
    assert "replacing the stored results" in capsys.readouterr().out
    assert figure.stat().st_mtime_ns > drawn  # figures of recomputed results are drawn again
    stamps = results.stat().st_mtime_ns, figure.stat().st_mtime_ns
    (tmp_path / "a" / run.name / "evaluation.csv").unlink()  # as for a run evaluated before
    assert evaluate.main(evaluate_again) == 0  # now current: kept (and their figures) unless
    out = capsys.readouterr().out              # --overwrite
    assert f"{run.name}: stored results are current, reused" in out and "kept" in out
    assert (results.stat().st_mtime_ns, figure.stat().st_mtime_ns) == stamps
    assert index_runs(tmp_path / "a")[0].eval_accuracy == load_results(results, run.name)[
        "success"].mean()


def test_routing_by_cell_and_phase():
    gates = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    cells = routing_by_cell(gates, np.array([[1, 2], [1, 2], [3, 0]]), (4, 3))
    np.testing.assert_allclose(cells[:, 2, 1], [0.5, 0.5])
    np.testing.assert_allclose(cells[:, 0, 3], [0.5, 0.5])
    assert np.isnan(cells[0, 0, 0])
    phase = routing_by_phase(gates, np.array([0, 3, 1]), np.array([4, 4, 4]), n_bins=2)
    np.testing.assert_allclose(phase, [[0.75, 0.25], [0.0, 1.0]])


def test_expert_use_across_alpha_needs_two_alphas_of_one_level():
    from core.plotting.babyai import babyai_figures

    def stored(alpha: float) -> dict:
        gates = np.array([[0.2, 0.8], [0.6, 0.4]])
        return {"layer_sizes": np.array([[0, 4]]), "success": np.array([True, False]),
                "level": LEVEL, "alpha": alpha, "gates0": gates,
                "cells": {"layer0": np.full((2, 3, 3), 0.5)},
                "phase": {"layer0": np.array([[0.2, 0.8], [0.6, 0.4]])}}

    one = babyai_figures({"a": stored(0.0)})
    assert sorted(one) == ["a_cells", "a_phase"]
    both = babyai_figures({"a": stored(0.0), "b": stored(1e-5)})
    assert f"{LEVEL}_alpha" in both
    bars = [p.get_height() for p in both[f"{LEVEL}_alpha"].axes[0].patches]
    np.testing.assert_allclose(sorted(bars), [0.4, 0.4, 0.6, 0.6])


def test_a_signal_saves_the_update_and_resume_matches_and_a_nan_loss_stops_as_diverged(
        tmp_path, monkeypatch, capsys):
    """SIGTERM during an update: checkpoint of that update, exit 143, and --resume trains the
    rest (with fresh episodes, so not bit-for-bit); a NaN loss ends the run as diverged, exit
    2."""
    import dataclasses
    import json
    import os
    import signal

    train = load_script("babyai/train.py", "babyai_train_signals")
    flags = ["--steps", "4", "--n-envs", "2", "--unroll", "3", "--replay", "2", "--hidden", "8",
             "--policy", "gru", "--no-progress"]
    update, calls = DaggerLearner.update, {"n": 0}

    def signalled(self):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return update(self)

    monkeypatch.setattr(DaggerLearner, "update", signalled)
    with pytest.raises(SystemExit) as info:
        train.main([*flags, "--out", str(tmp_path / "a")])
    assert info.value.code == 143
    assert "stopped by SIGTERM at update 2; checkpoint of update 2" in capsys.readouterr().err
    (run,) = (tmp_path / "a").iterdir()
    assert json.loads((run / "status.json").read_text())["step"] == 2
    monkeypatch.setattr(DaggerLearner, "update", update)
    assert train.main([*flags, "--out", str(tmp_path / "a"), "--resume"]) == 0
    assert train.main([*flags, "--out", str(tmp_path / "b")]) == 0
    resumed, whole = ((folder / "curves.csv").read_text().splitlines()
                      for folder in (run, tmp_path / "b" / run.name))
    assert len(resumed) == len(whole) == 5 and resumed[:3] == whole[:3]  # header + 2 updates

    monkeypatch.setattr(DaggerLearner, "update", lambda self: dataclasses.replace(
        update(self), loss=float("nan")))
    with pytest.raises(SystemExit) as info:
        train.main([*flags, "--out", str(tmp_path / "c")])
    assert info.value.code == 2 and "loss nan at update 1" in capsys.readouterr().err
    assert json.loads((tmp_path / "c" / run.name / "status.json").read_text())["stopped"] == \
        "diverged"
