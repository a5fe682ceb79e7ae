"""Mod-Cog tasks: every task's targets follow its rule from the returned parameters."""

import numpy as np
import pytest

from core.tasks.modcog import (
    INTSEQ_TASKS,
    MODCOG_16,
    MODCOG_TASKS,
    ModCogConfig,
    generate_modcog,
    generate_stream,
    resolve_tasks,
    score_fresh_streams,
    split_generators,
    task_chance_level,
    trial_outcomes,
)

N = 16


def split_name(task: str) -> tuple[str, int, int]:
    """(base task, interval sign, sequence sign) read from the task's name."""
    for suffix, integ, seq in (("intseq", 1, 1), ("intr", 1, 0), ("intl", -1, 0),
                               ("seqr", 0, 1), ("seql", 0, -1)):
        if task.endswith(suffix):
            return task[: -len(suffix)], integ, seq
    return task, 0, 0


def rule_answer(base: str, p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Independent statement of each base rule: (respond (B,), direction (B,))."""
    b = len(p["dir1"])
    if base in ("go", "rtgo", "dlygo"):
        return np.ones(b, bool), p["dir1"]
    if base in ("anti", "rtanti", "dlyanti"):
        return np.ones(b, bool), (p["dir1"] + N // 2) % N
    if base in ("dms", "dnms", "dmc", "dnmc"):
        if base in ("dms", "dnms"):
            match = p["dir1"] == p["dir2"]
            assert np.all(match | (p["dir2"] == (p["dir1"] + N // 2) % N))
        else:
            match = (p["dir1"] >= N // 2) == (p["dir2"] >= N // 2)
        assert np.array_equal(match, p["match"] == 1)
        respond = match if base in ("dms", "dmc") else ~match
        return respond, p["dir2"]
    weights = {"1": (1, 0), "2": (0, 1)}
    if base.startswith("ctx"):
        w = weights[base[-1]]
    elif base.startswith("multi"):
        w = (1, 1)
    else:  # dm1 / dm2 / dlydm1 / dlydm2: only that modality carries stimuli
        w = weights[base[-1]]
        other = 2 if base[-1] == "1" else 1
        assert np.all(p[f"strength1_mod{other}"] == 0) and np.all(p[f"strength2_mod{other}"] == 0)
    e1 = w[0] * p["strength1_mod1"] + w[1] * p["strength1_mod2"]
    e2 = w[0] * p["strength2_mod1"] + w[1] * p["strength2_mod2"]
    assert np.all(e1 != e2)
    assert np.all(p["dir1"] != p["dir2"])
    return np.ones(b, bool), np.where(e1 > e2, p["dir1"], p["dir2"])


@pytest.mark.parametrize("task", MODCOG_TASKS + INTSEQ_TASKS)
def test_targets_follow_rule(task):
    trials = generate_modcog(f"modcog/{task}", 48, np.random.default_rng(3), noise=False)
    p, ep = trials.params, trials.epochs
    base, integ, seq = split_name(task)
    respond, direction = rule_answer(base, p)
    delay = np.where(ep["delay1"][:, 0] >= 0, ep["delay1"][:, 1] - ep["delay1"][:, 0], 0)
    if integ:
        assert ep["delay1"][:, 0].min() >= 0 and delay.max() > delay.min()
    labels = trials.y.argmax(-1)
    for i in range(trials.batch_size):
        go0, go1 = ep["go"][i]
        before = labels[:go0, i]
        assert np.all(before == 0), "must fixate before the response period"
        assert np.all(trials.x[:go0, i, 0] == 1) and np.all(trials.x[go0:, i, 0] == 0)
        assert np.all(trials.c_mask[go1:, i] == 0) and np.all(trials.c_mask[:go1, i] == 1)
        steps = np.arange(go1 - go0)
        expected = (1 + (direction[i] + integ * delay[i] + seq * steps) % N if respond[i]
                    else np.zeros_like(steps))
        assert np.array_equal(labels[go0:go1, i], expected), (task, i)
    assert np.array_equal(p["respond"], respond)


@pytest.mark.parametrize("task", ["go", "dlyanti", "ctxdlydm2", "multidlydm", "dmc", "dnms"])
def test_stimulus_shown_where_params_say(task):
    trials = generate_modcog(task, 32, np.random.default_rng(5), noise=False)
    p, ep = trials.params, trials.epochs
    for i in range(32):
        for epoch, which in (("stim1", 1), ("stim2", 2)):
            if ep[epoch][i, 0] < 0:
                continue
            for m in (1, 2):
                ring = trials.x[ep[epoch][i, 0], i, 1 + (m - 1) * N: 1 + m * N]
                strength = p[f"strength{which}_mod{m}"][i]
                if strength == 0:
                    assert not ring.any()
                else:
                    assert ring.argmax() == p[f"dir{which}"][i]
                    assert ring.max() == pytest.approx(0.8 * strength, abs=1e-6)
        delay = ep["delay1"][i]
        if delay[0] >= 0 and delay[1] > delay[0]:
            assert not trials.x[delay[0]:delay[1], i, 1:].any(), "memory period is blank"


def test_seeded_and_held_out_differs():
    a = generate_stream(MODCOG_16, 8, 60, np.random.default_rng(1))
    b = generate_stream(MODCOG_16, 8, 60, np.random.default_rng(1))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.labels, b.labels)
    train, held_out = split_generators(0)
    c = generate_stream(MODCOG_16, 8, 60, train)
    d = generate_stream(MODCOG_16, 8, 60, held_out)
    assert not np.array_equal(c.x, d.x)


def test_every_label_reachable_including_last_direction():
    rng = np.random.default_rng(0)
    for task in ("dlygointr", "goseqr", "dmsseql", "dlydm1intl"):
        labels = generate_modcog(task, 400, rng, noise=False).y.argmax(-1)
        assert set(np.unique(labels)) == set(range(N + 1)), task


def test_stream_layout():
    tasks = resolve_tasks("modcog/go,dm1,dnmc")
    s = generate_stream(tasks, 6, 120, np.random.default_rng(2))
    cfg = ModCogConfig()
    assert s.x.shape == (120, 6, cfg.n_input + 3)
    onehot = s.x[..., cfg.n_input:]
    assert np.all(onehot.sum(-1) == 1)
    assert np.array_equal(onehot.argmax(-1), s.task_ids)
    assert np.array_equal(s.response, s.x[..., 0] == 0)
    assert np.all(s.labels[~s.response] == 0)
    assert s.trial_start[0].all() and s.trial_start.sum() > 6
    # a task switch only happens at a trial start
    switch = np.zeros_like(s.trial_start)
    switch[1:] = s.task_ids[1:] != s.task_ids[:-1]
    assert np.all(s.trial_start[switch])


def test_task_names_and_errors():
    assert len(MODCOG_TASKS) == 82 and len(set(MODCOG_TASKS)) == 82
    assert resolve_tasks("modcog/all") == MODCOG_TASKS
    assert len(resolve_tasks("modcog/16")) == 16
    assert resolve_tasks("modcog/dm1") == ("dm1",)
    with pytest.raises(ValueError, match="unknown Mod-Cog task"):
        resolve_tasks("modcog/dm1intr")  # dm1 has no delay, so no interval variant
    with pytest.raises(ValueError, match="must start"):
        resolve_tasks("yang/go")


def test_input_noise_only_on_stimulus_rings_with_sigma_over_sqrt_dt():
    cfg = ModCogConfig()
    clean = generate_modcog("dm1", 256, np.random.default_rng(2), cfg, noise=False)
    noisy = generate_modcog("dm1", 256, np.random.default_rng(2), cfg, noise=True)
    assert noisy.x.dtype == np.float32
    diff = noisy.x - clean.x
    t = np.arange(noisy.n_steps)[:, None]
    shown = np.zeros(diff.shape[:2], dtype=bool)
    for epoch in ("stim1", "stim2"):
        on, off = noisy.epochs[epoch][:, 0], noisy.epochs[epoch][:, 1]
        shown |= (t >= on[None]) & (t < off[None])
    assert np.all(diff[:, :, 0] == 0)  # never on the fixation input
    assert np.all(diff[~shown] == 0)  # nor outside the stimulus epochs
    assert abs(diff[shown][:, 1:].std() / (cfg.sigma / np.sqrt(cfg.dt)) - 1) < 0.02
    reach = generate_modcog("go", 16, np.random.default_rng(2), cfg, noise=True)
    assert np.array_equal(reach.x, generate_modcog("go", 16, np.random.default_rng(2), cfg,
                                                   noise=False).x)


def test_stream_draws_tasks_uniformly_and_fills_every_step():
    tasks = resolve_tasks("modcog/go,dlydm1,dnmsseql")  # short and long trials
    s = generate_stream(tasks, 64, 200, np.random.default_rng(4), noise=False)
    assert np.all(s.x[..., ModCogConfig().n_input:].sum(-1) == 1)  # no step left empty
    counts = np.bincount(s.task_ids[s.trial_start], minlength=3)
    assert counts.sum() > 400
    assert np.all(np.abs(counts / counts.sum() - 1 / 3) < 0.05), counts


def one_hot(actions: np.ndarray) -> np.ndarray:
    """Logits ``(T, B, 1 + N)`` whose argmax is ``actions (T, B)``."""
    return np.eye(N + 1, dtype=np.float32)[actions]


def test_trial_outcomes_match_a_direct_count():
    tasks = resolve_tasks("modcog/go,dlydm1,dnmsseql")
    s = generate_stream(tasks, 16, 90, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    actions = np.where(rng.random(s.labels.shape) < 0.9, s.labels,
                       rng.integers(0, N + 1, s.labels.shape))
    expected = []
    for b in range(16):  # every trial starting at step <= 40, stream by stream
        starts = list(np.nonzero(s.trial_start[:, b])[0]) + [90]
        for start, end in zip(starts[:-1], starts[1:], strict=True):
            if start <= 40:
                resp = s.response[start:end, b]
                expected.append((int(s.task_ids[start, b]), bool(np.array_equal(
                    actions[start:end, b][resp], s.labels[start:end, b][resp]))))
    task, correct = trial_outcomes(torch_tensor(one_hot(actions)), s, 40)
    assert list(zip(task.tolist(), correct.tolist(), strict=True)) == expected
    assert 0.2 < correct.mean() < 0.9  # both outcomes occur
    with pytest.raises(ValueError, match="y_hat"):
        trial_outcomes(one_hot(actions[:-1]), s, 40)


def torch_tensor(a: np.ndarray):
    import torch

    return torch.from_numpy(a)


def test_chance_levels_and_scores_of_fixed_answers():
    """Reach tasks 1/16, decision and match tasks 1/2, variants as their base task; an answer
    that ignores the stimuli scores at (or, for sequences and decisions, below) chance, the
    targets themselves score every trial."""
    assert task_chance_level("go") == task_chance_level("antiseql") == 1 / N
    assert task_chance_level("dm1") == task_chance_level("ctxdlydm1intr") == 0.5
    assert task_chance_level("dms") == task_chance_level("dnmcintl") == 0.5
    tasks = ("go", "goseqr", "dlydm1", "dms")
    kwargs = {"tasks": tasks, "n_trials": 300, "seq_len": 80}

    def score(respond, seed=0):
        return score_fresh_streams(respond, rng=np.random.default_rng(seed), **kwargs)

    targets = score(lambda s: one_hot(s.labels))
    assert all(v.n_correct == v.n_trials == 300 for v in targets.values())
    fixate = score(lambda s: one_hot(np.zeros_like(s.labels)))
    assert fixate["go"].n_correct == fixate["dlydm1"].n_correct == 0
    constant = score(lambda s: one_hot(np.where(s.response, 1 + 3, 0)))
    for task, chance in (("go", 1 / N), ("dms", 0.5)):
        low, high = (fixate if task == "dms" else constant)[task].interval()
        assert fixate[task].chance == chance and low < chance < high, task
    assert constant["goseqr"].n_correct == 0  # a fixed direction never follows a sequence
    assert constant["dlydm1"].accuracy < 0.5
    assert score(lambda s: one_hot(np.where(s.response, 1 + 3, 0))) == constant  # seeded
    assert score(lambda s: one_hot(np.where(s.response, 1 + 3, 0)), seed=1) != constant
    with pytest.raises(ValueError, match="longest trial"):
        score_fresh_streams(lambda s: one_hot(s.labels), ("dnmsseql",), 10, 30,
                            np.random.default_rng(0))
