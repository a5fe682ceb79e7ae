import itertools

import numpy as np
import pytest
import torch

from core.analysis.lesion import (
    Lesion,
    cluster_lesion_effects,
    describe_r,
    evaluate,
    lesioned_copy,
    main_weight,
    pair_additivity,
    paired_effects,
    pruning_curve,
    size_effect,
    synapse_lesion_effects,
)
from core.models.mpn import DeepMultiPlasticNet, MPNConfig
from core.models.rnn import GRUConfig, GRUNet, LeakyRNN, LeakyRNNConfig
from core.models.timescale_rnn import TimescaleRNN, TimescaleRNNConfig
from core.tasks import MPN_LAB, generate_trials

TASK = MPN_LAB.with_rules(["fdgo", "fdanti"])


def _mpn(seed=0):
    torch.manual_seed(seed)
    return DeepMultiPlasticNet(MPNConfig(n_in=TASK.n_input, n_hidden=16, n_embed=12,
                                         n_out=TASK.n_output))


def _states(model, x, **kw):
    with torch.no_grad():
        return model(x, track_states=True, **kw)[1]


@pytest.mark.parametrize("mode", ["weights", "activity"])
@pytest.mark.parametrize("population,size", [("hidden", 16), ("input", 12)])
def test_unit_lesion_changes_only_those_units(mode, population, size):
    model = _mpn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(15, 6, TASK.n_input)
    units = (2, 5, 7)
    lesioned, kw = lesioned_copy(model, [Lesion(population, units, mode=mode)])
    intact, hit = _states(model, x)[population], _states(lesioned, x, **kw)[population]
    changed = (intact - hit).abs().amax(dim=(0, 1)) > 1e-6
    assert changed.nonzero().flatten().tolist() == list(units)
    assert hit[:, :, list(units)].abs().max() == 0
    for k, v in model.state_dict().items():  # the loaded model is untouched
        assert torch.equal(v, before[k]), k


def test_rnn_weight_lesion_silences_units_and_synapse_lesions_act_on_w_or_m():
    torch.manual_seed(0)
    rnn = LeakyRNN(LeakyRNNConfig(n_in=5, n_hidden=10, n_out=3))
    lesioned, _ = lesioned_copy(rnn, [Lesion("hidden", (1, 4))])
    hidden = _states(lesioned, torch.randn(12, 3, 5))["hidden"]
    assert hidden[:, :, [1, 4]].abs().max() == 0 and hidden.abs().max() > 0
    model = _mpn()
    mask = np.zeros((16, 12), dtype=bool)
    mask[:4, :3] = True
    cut, _ = lesioned_copy(model, [Lesion("hidden", synapses=mask, mode="weights")])
    assert (main_weight(cut)[torch.from_numpy(mask)] == 0).all()
    frozen, _ = lesioned_copy(model, [Lesion("hidden", synapses=mask, mode="freeze")])
    assert torch.equal(main_weight(frozen), main_weight(model))
    m_trace = _states(frozen, torch.randn(10, 2, TASK.n_input))["M"]
    assert m_trace[:, :, :4, :3].abs().max() == 0 and m_trace.abs().max() > 0
    assert (model.plasticity_mask == 1).all()


def test_pruning_zeroes_the_smallest_weights():
    model = _mpn()
    pruned, _ = lesioned_copy(model, prune_fraction=0.5)
    w, w0 = main_weight(pruned), main_weight(model)
    assert (w == 0).sum() == w.numel() // 2
    assert w0[w == 0].abs().max() <= w0[w != 0].abs().min()
    with pytest.raises(ValueError):
        lesioned_copy(model, prune_fraction=1.0)


def test_cluster_and_pruning_effects_have_the_documented_shapes():
    model = _mpn()
    rng = np.random.default_rng(0)
    trials = {r: generate_trials(r, TASK, None, rng, mode="test", noise=False) for r in TASK.rules}
    acc, cost = evaluate(model, trials, TASK)
    assert acc.shape == cost.shape == (2,) and (cost > 0).all()
    clusters = {"a": np.arange(8), "b": np.arange(8, 16)}
    out = cluster_lesion_effects(model, clusters, "hidden", trials, TASK, n_random=2, rng=rng)
    assert out["effect"].shape == (2, 2) and out["sizes"].tolist() == [8, 8]
    np.testing.assert_allclose(out["effect"], out["random_accuracy"] - out["accuracy"])
    # silencing every hidden unit leaves a constant readout: cost equals a zero-output network's
    everything = cluster_lesion_effects(model, {"all": np.arange(16)}, "hidden", trials, TASK,
                                        n_random=1)
    zero_cost = [np.mean((t.c_mask * t.y) ** 2) for t in trials.values()]
    np.testing.assert_allclose(everything["cost"][:, 0], zero_cost, rtol=1e-5)
    labels = np.repeat(np.arange(2), 96).reshape(16, 12)
    labels[0, :5] = -1  # not clustered
    syn = synapse_lesion_effects(model, labels, trials, TASK, n_random=1, rng=rng)
    assert syn["freeze_effect"].shape == (2, 2) and syn["weights_effect"].shape == (2, 2)
    assert syn["sizes"].tolist() == [91, 96]
    curve = pruning_curve(model, trials, TASK, fractions=(0.0, 0.9))
    assert curve["accuracy"].shape == (2, 2)
    np.testing.assert_allclose(curve["accuracy"][:, 0], acc)


def _modes_agree(model, population, units, x, **forward):
    """Outputs (every head) and the other units' activity under both lesion modes."""
    n = (model.config.n_hidden if population == "hidden" else model.config.n_embed)
    others = [u for u in range(n) if u not in units]
    got = {}
    for mode in ("weights", "activity"):
        lesioned, kw = lesioned_copy(model, [Lesion(population, units, mode=mode)])
        lesioned.eval()
        with torch.no_grad():
            y, states = lesioned(x, track_states="hidden", **kw, **forward)
        got[mode] = (y, states["hidden"][..., others] if population == "hidden"
                     else states["hidden"])
    with torch.no_grad():
        intact = model.eval()(x, **forward)[0]
    for a, b in zip(got["weights"], got["activity"], strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
    return float((got["activity"][0] - intact).abs().max())


def test_the_issues_input_lesion_does_not_leak_through_the_plastic_matrix():
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(MPNConfig(n_in=8, n_hidden=16, n_out=3, n_embed=40,
                                          mp_type="add", activation="sigmoid"))
    assert _modes_agree(model, "input", tuple(range(20)), torch.randn(20, 5, 8)) > 1e-3


MPN_VARIANTS = list(itertools.product(
    ["linear", "relu", "tanh", "sigmoid", "softplus"],  # activation
    [(None, "linear"), ((-0.5, 2.0), "sigmoid")],  # M bounds, M activation
    [False, True],  # recurrent
    [True, False],  # input layer (embedding)
))


@pytest.mark.parametrize("mp_type", ["mult", "add"])
@pytest.mark.parametrize("update", ["hebb_assoc", "hebb_pre", "oja"])
def test_weight_and_activity_lesions_agree_for_every_mpn(mp_type, update):
    x = torch.randn(6, 3, 5)
    kinds = ("scalar", "pre_vector", "post_vector", "matrix")
    changed = []  # how much each lesion changes the outputs (relu units may be silent anyway)
    for i, (activation, (bounds, m_act), recurrent, embed) in enumerate(MPN_VARIANTS):
        torch.manual_seed(i)
        config = MPNConfig(n_in=5, n_hidden=6, n_out=3, n_embed=7, mp_type=mp_type,
                           update=update, activation=activation, m_bounds=bounds,
                           m_activation=m_act, recurrent=recurrent, input_layer=embed,
                           n_layers=1 + i % 2, eta_type=kinds[i % 4], lam_type=kinds[i // 4 % 4],
                           learn_M_init=i % 3 == 0, eta_init=0.2,
                           implementation=("fused", "stepwise")[i // 2 % 2])
        model = DeepMultiPlasticNet(config)
        with torch.no_grad():
            for layer in model.layers:  # a non-zero initial M must be cut too
                layer.M_init.uniform_(-0.3, 0.3)
        changed.append(_modes_agree(model, "hidden", (1, 4), x))
        if embed:
            changed.append(_modes_agree(model, "input", (0, 2, 3), x))
        else:
            with pytest.raises(ValueError, match="no input-embedding"):
                lesioned_copy(model, [Lesion("input", (0,), mode="activity")])
    assert np.mean(np.asarray(changed) > 1e-3) > 0.8


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid", "softplus"])
def test_weight_and_activity_lesions_agree_for_leaky_rnns_and_grus(activation):
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4)
    rnn = LeakyRNN(LeakyRNNConfig(n_in=4, n_hidden=9, n_out=2, activation=activation))
    assert _modes_agree(rnn, "hidden", (0, 3, 8), x) > 0
    gru = GRUNet(GRUConfig(n_in=4, n_hidden=9, n_out=2))
    assert _modes_agree(gru, "hidden", (0, 3, 8), x) > 0
    for model in (rnn, gru):
        with pytest.raises(ValueError, match="no input-embedding"):
            lesioned_copy(model, [Lesion("input", (0,))])
        with pytest.raises(ValueError, match=r"\[0, 9\)"):
            lesioned_copy(model, [Lesion("hidden", (9,))])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_weight_and_activity_lesions_agree_for_timescale_rnns(cell):
    x = torch.randn(8, 3, 2)
    for i, (activation, placement) in enumerate(itertools.product(
            ["leaky_relu", "relu", "tanh", "sigmoid"], ["after_leak", "before_leak"])):
        torch.manual_seed(i)
        model = TimescaleRNN(TimescaleRNNConfig(n_in=2, n_hidden=8, heads=(2, 3), cell=cell,
                                                activation=activation, placement=placement,
                                                train_tau=i % 2 == 0, tau_init_range=(1.0, 4.0)))
        for head in model.heads:
            assert _modes_agree(model, "hidden", (1, 5), x, head=head) > 0, (activation, head)


@pytest.mark.parametrize("mp_type", ["mult", "add"])
def test_cutting_every_synapse_of_an_input_unit_silences_it(mp_type):
    torch.manual_seed(0)
    model = DeepMultiPlasticNet(MPNConfig(n_in=5, n_hidden=6, n_out=3, n_embed=7,
                                          mp_type=mp_type, activation="sigmoid"))
    mask = np.zeros((6, 7), dtype=bool)
    mask[:, [1, 4]] = True
    x = torch.randn(6, 3, 5)
    cut, _ = lesioned_copy(model, [Lesion("hidden", synapses=mask, mode="weights")])
    silenced, kw = lesioned_copy(model, [Lesion("input", (1, 4), mode="activity")])
    with torch.no_grad():
        torch.testing.assert_close(cut(x)[0], silenced(x, **kw)[0], atol=2e-5, rtol=1e-4)
        pruned, _ = lesioned_copy(model, prune_fraction=0.6)
        m_trace = pruned(x, track_states=True)[1]["M"]
    gone = main_weight(pruned) == 0
    assert (m_trace[:, :, gone] == 0).all()  # a pruned synapse carries no M either


def test_size_effect_measures_drops_from_the_intact_network_and_their_correlation_with_size():
    baseline = np.array([0.9, 0.7])
    sizes = np.array([2, 4, 8, 16])
    accuracy = baseline[:, None] - 0.01 * sizes  # every rule loses 0.01 per lesioned unit
    random_accuracy = baseline[:, None] - np.array([0.3, 0.0, 0.1, 0.2])
    out = size_effect(sizes, accuracy, random_accuracy, baseline)
    np.testing.assert_allclose(out["drop"], 0.01 * sizes)
    np.testing.assert_allclose(out["random_drop"], [0.3, 0.0, 0.1, 0.2])
    assert out["r"] == pytest.approx(1.0)
    flipped = size_effect(sizes[::-1], accuracy, random_accuracy, baseline)
    assert flipped["r"] == pytest.approx(np.corrcoef(sizes[::-1], sizes)[0, 1])
    assert flipped["r"] < -0.7
    assert np.isnan(size_effect(sizes[:2], accuracy[:, :2], random_accuracy[:, :2],
                                baseline)["r"])  # two clusters: no correlation
    with pytest.raises(ValueError, match="shape"):
        size_effect(sizes, accuracy[:, :3], random_accuracy, baseline)


def test_paired_effects_agree_for_identical_and_not_for_independent_effects():
    rng = np.random.default_rng(0)
    zeroed = rng.normal(size=(6, 5))
    same = paired_effects(zeroed, zeroed)
    assert same["r"] == pytest.approx(1.0) and same["mean_difference"] == 0.0
    np.testing.assert_allclose(same["first_mean"], zeroed.mean(axis=0))
    shifted = paired_effects(zeroed, zeroed - 0.25)
    assert shifted["mean_difference"] == pytest.approx(0.25) and shifted["r"] == pytest.approx(1)
    independent = paired_effects(rng.normal(size=(40, 10)), rng.normal(size=(40, 10)))
    assert abs(independent["r"]) < 0.2
    with pytest.raises(ValueError, match="one shape"):
        paired_effects(zeroed, zeroed[:, :4])


def test_pair_additivity_detects_additive_and_redundant_lesions():
    rng = np.random.default_rng(1)
    baseline = np.full(3, 0.95)
    input_drop, hidden_drop = rng.uniform(0, 0.3, (3, 2)), rng.uniform(0, 0.3, (3, 4))
    total = input_drop[:, :, None] + hidden_drop[:, None, :]
    additive = pair_additivity(baseline, baseline[:, None] - input_drop,
                               baseline[:, None] - hidden_drop, baseline[:, None, None] - total)
    np.testing.assert_allclose(additive["sum_drop"], total)
    np.testing.assert_allclose(additive["pair_drop"], total)
    assert additive["r"] == pytest.approx(1.0) and additive["interaction"] == pytest.approx(0)
    # redundant clusters: the pair costs only the larger of its two single lesions
    larger = np.maximum(input_drop[:, :, None], hidden_drop[:, None, :])
    redundant = pair_additivity(baseline, baseline[:, None] - input_drop,
                                baseline[:, None] - hidden_drop,
                                baseline[:, None, None] - larger)
    assert redundant["interaction"] < -0.05
    assert redundant["interaction"] == pytest.approx(float(np.mean(larger - total)))
    with pytest.raises(ValueError, match="pair"):
        pair_additivity(baseline, baseline[:, None] - input_drop,
                        baseline[:, None] - hidden_drop, total[:, :, :3])


def test_two_clusters_give_no_size_correlation_and_say_why():
    two = size_effect(np.array([10, 30]), np.array([[0.5, 0.2]]), np.array([[0.6, 0.4]]),
                      np.array([0.9]))
    assert np.isnan(two["r"])
    assert describe_r(two["r"], 2) == "no r (fewer than 3 clusters: 2)"
    assert describe_r(np.nan, 5) == "no r (constant values)"
    assert describe_r(0.876, 5) == "r = 0.88"
