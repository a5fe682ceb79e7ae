import os

import matplotlib.pyplot as plt

from core.plotting import apply_style, draw_from_stored, figure_current, save_figure


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


def test_figures_of_stored_results_are_drawn_where_a_file_is_missing(tmp_path):
    def figures():
        return {stem: plt.subplots()[0] for stem in ("a", "b", "c")}

    assert draw_from_stored(figures(), tmp_path) == f"drew a, b, c in {tmp_path}"
    (tmp_path / "b.png").unlink()  # one file of b lost, its PDF still there
    (tmp_path / "c.pdf").unlink()
    (tmp_path / "c.png").unlink()  # c lost entirely
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    open_figures = plt.get_fignums()
    assert draw_from_stored(figures(), tmp_path) == (
        f"drew b, c in {tmp_path}; kept a (files exist in {tmp_path}; --overwrite recomputes "
        "and redraws)")
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.stem == "a"} == {
        n: t for n, t in before.items() if n.startswith("a.")}
    for stem in "bc":
        assert (tmp_path / f"{stem}.png").is_file() and (tmp_path / f"{stem}.pdf").is_file()
    assert plt.get_fignums() == open_figures  # every figure closed


def test_figures_of_results_written_since_are_drawn_again(tmp_path):
    def figures():
        return {stem: plt.subplots()[0] for stem in ("a", "b")}

    results = tmp_path / "lesion.h5"
    results.write_bytes(b"results")
    assert not figure_current(tmp_path / "a", results)  # not drawn yet
    assert draw_from_stored(figures(), tmp_path, results=results) == f"drew a, b in {tmp_path}"
    assert figure_current(tmp_path / "a", results) and figure_current(tmp_path / "a.png", results)
    assert not figure_current(tmp_path / "a", tmp_path / "missing.h5")
    assert draw_from_stored(figures(), tmp_path, results=results) == (
        f"kept a, b (drawn in {tmp_path} after lesion.h5 was written; --overwrite redraws)")
    earlier = results.stat().st_mtime_ns - 10**9
    for path in (tmp_path / "a.pdf", tmp_path / "a.png"):  # a drawn before the results were
        os.utime(path, ns=(earlier, earlier))  # written again
    assert not figure_current(tmp_path / "a", results) and figure_current(tmp_path / "b", results)
    assert draw_from_stored(figures(), tmp_path, results=results) == (
        f"drew a in {tmp_path}; kept b (drawn in {tmp_path} after lesion.h5 was written; "
        "--overwrite redraws)")
    assert figure_current(tmp_path / "a", results)
    (tmp_path / "b.pdf").unlink()  # one file of b lost: b is drawn again
    assert draw_from_stored(figures(), tmp_path, results=results).startswith(
        f"drew b in {tmp_path}; kept a")


def test_a_summary_is_current_only_after_every_results_file_it_is_drawn_from(tmp_path):
    results = [tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "table.md"]
    for path in results:
        path.write_bytes(b"results")
    assert draw_from_stored({"s": plt.subplots()[0]}, tmp_path, results=results) == (
        f"drew s in {tmp_path}")
    assert figure_current(tmp_path / "s", results)
    assert not figure_current(tmp_path / "s", [*results, tmp_path / "missing.h5"])
    assert draw_from_stored({"s": plt.subplots()[0]}, tmp_path, results=results) == (
        f"kept s (drawn in {tmp_path} after each of the 3 files it is drawn from (a.h5, b.h5, "
        "table.md) was written; --overwrite redraws)")
    later = (tmp_path / "s.png").stat().st_mtime_ns + 10**9
    os.utime(results[1], ns=(later, later))  # one of them written since
    assert figure_current(tmp_path / "s", results[::2])
    assert not figure_current(tmp_path / "s", results)
    assert draw_from_stored({"s": plt.subplots()[0]}, tmp_path, results=results) == (
        f"drew s in {tmp_path}")
