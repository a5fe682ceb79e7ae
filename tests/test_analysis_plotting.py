import numpy as np
import pytest

from core.plotting import apply_style, save_figure
from core.plotting.analysis import (
    plot_clustering_agreement,
    plot_ftv_histograms,
    plot_lesion_map,
    plot_pca_trajectories,
    plot_preceding_trial_shift,
    plot_pruning_curves,
    plot_silhouette,
    plot_task_set,
    plot_task_variance_map,
)

RULES = ["Go", "Anti", "Dly Go", "Dly Anti"]


def _figures(rng):
    labels = np.repeat([0, 1, 2], [5, 7, 3])
    yield "tv_map", plot_task_variance_map(rng.random((15, 4)), labels, RULES)
    yield "silhouette", plot_silhouette(np.arange(2, 10), rng.random(8), 4)
    yield "ftv", plot_ftv_histograms({("Go", "Anti"): rng.uniform(-1, 1, 50),
                                      ("Go", "Dly Go"): np.array([np.nan, 0.5])})
    yield "pca", plot_pca_trajectories({r: rng.random((10, 2)) for r in RULES},
                                       explained=np.array([0.5, 0.2]))
    yield "task_set", plot_task_set(rng.random((4, 2)), RULES, edges=[(0, 1), (2, 3)])
    yield "lesion", plot_lesion_map(rng.uniform(-0.5, 0.5, (4, 3)), RULES, ["1", "2", "3"])
    yield "pruning", plot_pruning_curves(np.array([0, 0.5, 0.9, 0.99, 0.999]),
                                         rng.random((4, 5)), RULES)
    yield "shift", plot_preceding_trial_shift(rng.random((4, 4)), RULES, RULES)
    yield "agreement", plot_clustering_agreement(np.array([[1, 0.4], [0.4, 1]]),
                                                 ["kmeans k=3", "ward k=3"])


def test_every_analysis_figure_is_drawn_and_saved(tmp_path):
    apply_style()
    rng = np.random.default_rng(0)
    for name, fig in _figures(rng):
        paths = save_figure(fig, tmp_path / name)
        assert all(p.stat().st_size > 1000 for p in paths), name


def test_lesion_map_is_centred_on_zero():
    apply_style()
    fig = plot_lesion_map(np.array([[0.1, -0.4]]), ["Go"], ["1", "2"])
    norm = fig.axes[0].images[0].norm
    assert norm.vcenter == 0
    assert norm.vmin == pytest.approx(-0.4) and norm.vmax == pytest.approx(0.4)


def test_shapes_are_validated():
    with pytest.raises(ValueError, match="shape"):
        plot_task_variance_map(np.zeros((3, 2)), np.zeros(3, int), RULES)
    with pytest.raises(ValueError, match="shape"):
        plot_lesion_map(np.zeros((2, 2)), RULES, ["1", "2"])
    with pytest.raises(ValueError, match="fractions"):
        plot_pruning_curves(np.array([0.0, 1.0]), np.zeros((4, 2)), RULES)


def test_labels_say_what_each_axis_shows():
    apply_style()
    from core.plotting.multi_task import (
        analysis_figures,
        lesion_figures,
        preceding_trial_shift_figures,
    )

    rules = np.array(["fdgo", "fdanti"])
    change = np.array([[0.1, -0.25], [0.0, 0.5]])
    shift = preceding_trial_shift_figures({
        "probes": rules, "previous": rules, "shift": np.ones((2, 2)),
        "accuracy_alone": np.array([0.9, 0.5]), "accuracy_change": change,
        "accuracy_change_se": np.array([[0.01, 0.02], [0.0, 0.03]]), "n_trials": 500})
    ax, bar = shift["preceding_trial_shift_accuracy"].axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Preceding task", "Probe task (accuracy alone)")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Go (0.90)", "Anti (0.50)"]
    assert bar.get_ylabel() == "Accuracy after − accuracy alone"
    assert "500 trials per probe; SE of a cell ≤ 0.03" in ax.get_title()
    np.testing.assert_array_equal(ax.images[0].get_array(), change)  # drawn: the change
    assert [t.get_text() for t in ax.texts] == ["0.10", "-0.25", "0.00", "0.50"]
    assert shift["preceding_trial_shift"].axes[1].get_ylabel() == (
        "Distance to trajectory alone / its spread")
    fit = {"labels": np.array([0, 0, 1, 1]), "active": np.ones(4, bool),
           "order": np.arange(4), "n_clusters": 2, "k_values": np.array([2, 3]),
           "silhouette": np.array([0.5, 0.4])}
    tv = {pop: {"by_rule": np.random.default_rng(0).random((4, 2)) + 0.1}
          for pop in ("hidden", "M")}
    figures = analysis_figures({"rules": rules, "task_variance": tv,
                                "clusters": {"hidden": {"ward": fit}, "M": {"ward": fit}},
                                "state_space": {"trajectories": {r: np.zeros((5, 3))
                                                                 for r in rules},
                                                "explained_variance_ratio": np.ones(3) / 3}})
    xlabels = {stem: [a.get_xlabel() for a in fig.axes] for stem, fig in figures.items()}
    assert "Synapses sorted by cluster" in xlabels["task_variance_M_ward"]
    assert "Units sorted by cluster" in xlabels["task_variance_hidden_ward"]
    fractions = np.array([0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999])
    lesion = lesion_figures({"rules": rules, "method": "kmeans",
                             "hidden_clusters": np.array(["1", "2"]),
                             "hidden_weights": {"effect": np.array([[-0.001, 0.3],
                                                                    [0.0, -0.2]])},
                             "pruning": {"fractions": fractions,
                                         "accuracy": np.ones((2, len(fractions)))},
                             "chance": np.array([0.125, 0.5])})
    assert set(lesion) == {"lesion_hidden_weights", "pruning"}  # no sizes: no size figure
    chance = [line for line in lesion["pruning"].axes[0].lines
              if line.get_label() == "Chance (mean)"]
    assert len(chance) == 1 and set(chance[0].get_ydata()) == {0.3125}
    ticks = [t.get_text() for t in lesion["pruning"].axes[0].get_xticklabels()]
    assert ticks == ["0", "25", "50", "75", "90", "95", "99", "99.9"]
    lab_grid = np.array([0.0, 0.1, 0.5, 0.9, 0.95, 0.98, 0.99, 0.999])  # 10 % sits on 0 %
    fig = plot_pruning_curves(lab_grid, np.ones((2, len(lab_grid))), rules)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["0", "", "50", "90", "95", "98", "99", "99.9"]
    assert lesion["lesion_hidden_weights"].axes[0].get_title() == \
        "Hidden KMeans clusters (weights zeroed)"
    cells = [t.get_text() for t in lesion["lesion_hidden_weights"].axes[0].texts]
    assert cells == ["0.00", "0.30", "0.00", "-0.20"]


def test_silhouette_figure_shows_a_k_of_one_chosen_by_the_gap_test():
    k_values, scores = np.arange(1, 6), np.array([np.nan, 0.5, 0.4, 0.3, 0.2])
    ax = plot_silhouette(k_values, scores, 1).axes[0]
    assert ax.get_xlim()[0] < 1 and any("gap test" in t.get_text() for t in ax.texts)
    assert not plot_silhouette(k_values, scores, 2).axes[0].texts
