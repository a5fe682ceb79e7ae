"""Mixture-of-Pathways model: routing, cost, loss, independence and the stateful step API."""

import pytest
import torch

from core.models import build_model
from core.models.mop import (
    Expert,
    MixtureOfPathways,
    MixtureOfPathwaysConfig,
    expert_costs,
    mop_loss,
    parse_layers,
    routing_gates,
    task_routing_cost,
)


def small_model(**kw) -> MixtureOfPathways:
    cfg = dict(n_stimulus=5, n_tasks=3, n_output=4, layers=((0, 4, 6), (0, 3)),
               intermediate_dim=8, router_dim=6, task_dim=2)
    cfg.update(kw)
    torch.manual_seed(0)
    return MixtureOfPathways(MixtureOfPathwaysConfig(**cfg))


def inputs(T: int, B: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    stim = torch.randn(T, B, 5, generator=g)
    rule = torch.nn.functional.one_hot(torch.randint(0, 3, (B,), generator=g), 3).float()
    return torch.cat([stim, rule.expand(T, B, 3)], dim=-1)


def test_skip_expert_is_identity():
    expert = Expert(8, 0)
    x = torch.randn(7, 3, 8)
    out, h = expert(x, None)
    assert h is None
    assert torch.equal(out, x)
    assert len(list(expert.parameters())) == 0


def test_block_with_only_skip_expert_is_layernorm_of_doubled_input():
    model = small_model(layers=((0,),)).eval()
    x = inputs(4, 2)
    _, states = model(x, track_states=True)
    h0 = model._embed(x)
    expected = model.blocks[0].norm(h0 + h0)
    torch.testing.assert_close(states["hidden"], expected)
    assert torch.all(states["routing0"] == 1.0)


def test_dropout_never_drops_all_and_renormalises():
    g = torch.Generator().manual_seed(0)
    # many near-uniform tiny weights so that dropping everything is likely without the guard
    logits = torch.randn(2000, 12, generator=g) * 0.1
    probs = torch.softmax(logits, -1)  # every p ~ 1/12 < gamma = 0.1
    gates = routing_gates(probs, drop_max_prob=1.0, drop_threshold=0.5, generator=g)
    assert torch.all((gates > 0).sum(-1) >= 1)
    torch.testing.assert_close(gates.sum(-1), torch.ones(2000))
    assert (gates == 0).any()  # dropout really acted
    # kept experts keep their relative weights (softmax over the kept logits)
    kept = gates > 0
    ratio = gates[kept] / probs[kept]
    row_scale = (gates.sum(-1) / (probs * kept).sum(-1))
    torch.testing.assert_close(ratio, row_scale.unsqueeze(-1).expand_as(gates)[kept])


def test_dropout_probability_follows_eq3():
    probs = torch.tensor([[0.02, 0.08, 0.9]]).expand(20000, 3)
    g = torch.Generator().manual_seed(1)
    gates = routing_gates(probs, drop_max_prob=0.8, drop_threshold=0.1, generator=g)
    dropped = (gates == 0).float().mean(0)
    expected = torch.tensor([0.8 * (1 - 0.2), 0.8 * (1 - 0.8), 0.0])
    torch.testing.assert_close(dropped, expected, atol=0.02, rtol=0)


def test_pruning_and_disabling():
    probs = torch.tensor([[0.05, 0.15, 0.8], [0.5, 0.45, 0.05]])
    pruned = routing_gates(probs, prune_threshold=0.1)
    torch.testing.assert_close(pruned[0], torch.tensor([0.0, 0.15, 0.8]) / 0.95)
    torch.testing.assert_close(pruned[1], torch.tensor([0.5, 0.45, 0.0]) / 0.95)
    disabled = routing_gates(probs, disabled=torch.tensor([False, False, True]))
    torch.testing.assert_close(disabled[0], torch.tensor([0.25, 0.75, 0.0]))
    # pruning everything but the disabled expert falls back to the best allowed one
    both = routing_gates(probs, prune_threshold=0.5, disabled=torch.tensor([False, False, True]))
    torch.testing.assert_close(both[0], torch.tensor([0.0, 1.0, 0.0]))


def test_cost_matches_hand_computation():
    # two layers, T=2, B=2; tasks [[0, 1], [0, 0]]
    p0 = torch.tensor([[[0.5, 0.5], [1.0, 0.0]], [[0.0, 1.0], [0.25, 0.75]]])
    p1 = torch.tensor([[[0.2, 0.3, 0.5], [0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0], [0.6, 0.4, 0.0]]])
    c0 = expert_costs((0, 4), 2.0)  # [0, 16]
    c1 = expert_costs((2, 3, 5), 2.0)  # [4, 9, 25]
    tasks = torch.tensor([[0, 1], [0, 0]])
    cost = task_routing_cost([p0, p1], [c0, c1], tasks, n_tasks=3)
    # task 0 steps: (0,0), (1,0), (1,1)
    l0_task0 = (0.5 * 16 + 1.0 * 16 + 0.75 * 16) / 3
    l1_task0 = ((0.2 * 4 + 0.3 * 9 + 0.5 * 25) + 4.0 + (0.6 * 4 + 0.4 * 9)) / 3
    l0_task1, l1_task1 = 0.0, 25.0
    expected = torch.tensor([l0_task0 + l1_task0, l0_task1 + l1_task1, 0.0])
    torch.testing.assert_close(cost, expected)
    masked = task_routing_cost([p0, p1], [c0, c1], tasks, 3,
                               mask=torch.tensor([[True, True], [False, False]]))
    torch.testing.assert_close(masked[0], torch.tensor(8.0 + (0.8 + 2.7 + 12.5)))


def test_loss_hand_computation():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0]], [[0.0, 3.0], [1.0, 1.0]]])
    labels = torch.tensor([[0, 1], [1, 0]])
    tasks = torch.tensor([[0, 1], [0, 1]])
    response = torch.tensor([[False, True], [True, True]])
    cost = torch.tensor([100.0, 200.0])
    loss, parts = mop_loss(logits, labels, tasks, response, cost, alpha=1e-2, epsilon=0.5)
    ce = torch.nn.functional.cross_entropy
    ce0 = ce(torch.tensor([[0.0, 3.0]]), torch.tensor([1]))
    ce1 = (ce(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
           + ce(torch.tensor([[1.0, 1.0]]), torch.tensor([0]))) / 2
    fix = ((2.0 - 1.0) ** 2 + 0.0) / 2
    expected = ce0 + ce1 + 1.0 / (0.5 + ce0) + 2.0 / (0.5 + ce1) + fix
    torch.testing.assert_close(loss, expected)
    flat, _ = mop_loss(logits, labels, tasks, response, cost, alpha=1e-2, epsilon=0.5,
                       performance_scaling=False, fixation_loss=False)
    torch.testing.assert_close(flat, ce0 + ce1 + 1.0 + 2.0)
    torch.testing.assert_close(parts["action"], torch.stack([ce0, ce1]))


def test_per_sample_independence_in_training_mode_without_dropout():
    model = small_model(dropout_max_prob=0.0)
    model.train()
    x = inputs(12, 3)
    y, _ = model(x)
    x2 = x.clone()
    x2[:, 0, :5] += torch.randn(12, 5)
    y2, _ = model(x2)
    assert not torch.allclose(y[:, 0], y2[:, 0])
    torch.testing.assert_close(y[:, 1:], y2[:, 1:], rtol=0, atol=0)


def test_recurrence_runs_over_time():
    model = small_model().eval()
    x = inputs(10, 2)
    y, _ = model(x)
    x2 = x.clone()
    x2[3, 0, :5] += 1.0
    y2, _ = model(x2)
    torch.testing.assert_close(y[:3], y2[:3], rtol=0, atol=0)  # causal
    assert not torch.allclose(y[5:, 0], y2[5:, 0])  # the past matters later on


@pytest.mark.parametrize("task_embedding", [True, False])
def test_step_equals_sequence_forward(task_embedding):
    model = small_model(task_embedding=task_embedding).eval()
    x = inputs(15, 4)
    with torch.no_grad():
        y, states = model(x, track_states=True)
        state = model.initial_state(4)
        ys = []
        for t in range(15):
            yt, state = model.step(x[t], state)
            ys.append(yt)
    torch.testing.assert_close(torch.stack(ys), y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state.routing[1], states["gates1"][-1], rtol=1e-5, atol=1e-5)


def test_episode_reset_zeroes_only_that_env():
    model = small_model().eval()
    x = inputs(6, 3)
    with torch.no_grad():
        state = model.initial_state(3)
        for t in range(6):
            _, state = model.step(x[t], state)
        reset = state.reset(torch.tensor([False, True, False]))
    for old, new in zip(state.router, reset.router, strict=True):
        assert torch.all(new[1] == 0)
        torch.testing.assert_close(new[[0, 2]], old[[0, 2]], rtol=0, atol=0)
        assert torch.any(old[1] != 0)
    for old_l, new_l in zip(state.experts, reset.experts, strict=True):
        for old, new in zip(old_l, new_l, strict=True):
            if old is None:
                assert new is None
                continue
            assert torch.all(new[1] == 0)
            torch.testing.assert_close(new[[0, 2]], old[[0, 2]], rtol=0, atol=0)
    # after a reset, env 1 continues exactly like a fresh episode
    with torch.no_grad():
        y_fresh, _ = model(x[:2, 1:2])
        y1, s = model.step(x[0], reset)
        y2, _ = model.step(x[1], s)
    torch.testing.assert_close(torch.stack([y1[1], y2[1]]), y_fresh[:, 0], rtol=1e-5, atol=1e-5)


def test_config_round_trip_and_validation():
    model = small_model()
    rebuilt = build_model("mop", model.config_dict())
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    x = inputs(5, 2)
    torch.testing.assert_close(rebuilt.eval()(x)[0], model.eval()(x)[0])
    with pytest.raises(ValueError, match="negative"):
        parse_layers(["0,-1"])
    assert parse_layers(["0,16,32", "0,8"]) == ((0, 16, 32), (0, 8))
    with pytest.raises(ValueError, match="input channels"):
        model(torch.zeros(3, 1, 4))


def test_disable_complex_removes_largest_expert():
    model = small_model().eval()
    _, states = model(inputs(5, 2), track_states=True, disable_complex=True)
    assert torch.all(states["gates0"][..., 2] == 0)  # size 6 is the largest in layer 0
    assert torch.all(states["gates1"][..., 1] == 0)
    torch.testing.assert_close(states["gates0"].sum(-1), torch.ones(5, 2))


def test_hidden_mask_lesions_block_outputs():
    model = small_model().eval()
    x = inputs(6, 2)
    mask = torch.ones(model.n_hidden)
    mask[model.config.intermediate_dim:] = 0.0  # silence the last block
    y, states = model(x, track_states=True, hidden_mask=mask)
    assert states["hidden"].shape == (6, 2, model.n_hidden)
    assert torch.all(states["hidden"][..., model.config.intermediate_dim:] == 0)
    torch.testing.assert_close(y, model.output_layer.bias.expand_as(y))
    y_full, _ = model(x)
    assert not torch.allclose(y_full, y)
