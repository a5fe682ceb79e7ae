import matplotlib.pyplot as plt

from core.plotting import apply_style, save_figure


def test_save_figure_writes_pdf_and_png(tmp_path):
    apply_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    paths = save_figure(fig, tmp_path / "sub" / "fig.png")
    assert sorted(p.name for p in paths) == ["fig.pdf", "fig.png"]
    assert all(p.stat().st_size > 100 for p in paths)
    assert list((tmp_path / "sub").iterdir()).__len__() == 2  # no temporary files left behind


def test_a_dot_in_the_figure_name_is_kept(tmp_path):
    fig, _ = plt.subplots()
    written = save_figure(fig, tmp_path / "ablation_fixtau1.5")
    assert sorted(p.name for p in written) == ["ablation_fixtau1.5.pdf", "ablation_fixtau1.5.png"]
    fig, _ = plt.subplots()
    assert [p.name for p in save_figure(fig, tmp_path / "x.png", formats=("png",))] == ["x.png"]
