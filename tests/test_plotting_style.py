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
