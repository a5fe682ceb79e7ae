import numpy as np
import pytest
import torch

from core.analysis.lesion import (
    Lesion,
    cluster_lesion_effects,
    evaluate,
    lesioned_copy,
    main_weight,
    pruning_curve,
    synapse_lesion_effects,
)
from core.models.mpn import DeepMultiPlasticNet, MPNConfig
from core.models.rnn import LeakyRNN, LeakyRNNConfig
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
    assert out["effect"].shape == (2, 2)
    np.testing.assert_allclose(out["effect"], out["random_accuracy"] - out["accuracy"])
    # silencing every hidden unit leaves a constant readout: cost equals a zero-output network's
    everything = cluster_lesion_effects(model, {"all": np.arange(16)}, "hidden", trials, TASK,
                                        n_random=1)
    zero_cost = [np.mean((t.c_mask * t.y) ** 2) for t in trials.values()]
    np.testing.assert_allclose(everything["cost"][:, 0], zero_cost, rtol=1e-5)
    labels = np.repeat(np.arange(2), 96).reshape(16, 12)
    syn = synapse_lesion_effects(model, labels, trials, TASK, n_random=1, rng=rng)
    assert syn["freeze_effect"].shape == (2, 2) and syn["weights_effect"].shape == (2, 2)
    curve = pruning_curve(model, trials, TASK, fractions=(0.0, 0.9))
    assert curve["accuracy"].shape == (2, 2)
    np.testing.assert_allclose(curve["accuracy"][:, 0], acc)
