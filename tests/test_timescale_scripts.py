"""The timescales scripts write nothing tracked by default and check inputs before outputs."""

from pathlib import Path

import pytest
from script_loader import load_script

SCRIPTS = {name: load_script(f"timescales/{name}.py", f"timescales_{name}")
           for name in ("analyze", "ablate", "plot")}


@pytest.mark.parametrize("name", SCRIPTS)
def test_default_outputs_are_under_results(name):
    args = SCRIPTS[name].parse_args(["x"] if name != "plot" else [])
    for value in vars(args).values():
        if isinstance(value, Path):
            assert not value.parts or value.parts[0] != "docs", (name, value)


def test_plot_checks_input_before_output(tmp_path, capsys):
    out = tmp_path / "fig"
    with pytest.raises(SystemExit) as stop:
        SCRIPTS["plot"].main(["--results", str(tmp_path / "missing.h5"), "--out", str(out)])
    assert stop.value.code == 2 and "no such results file" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    (tmp_path / "c.h5").write_bytes(b"")
    out.with_suffix(".png").write_bytes(b"old")
    with pytest.raises(SystemExit):
        SCRIPTS["plot"].main(["--results", str(tmp_path / "c.h5"), "--out", str(out)])
    assert "--overwrite" in capsys.readouterr().err
    assert out.with_suffix(".png").read_bytes() == b"old"


def test_analyze_checks_every_input_before_any_output(tmp_path, capsys):
    with pytest.raises(SystemExit):
        SCRIPTS["analyze"].main(["nope", "--runs-dir", str(tmp_path),
                                 "--results", str(tmp_path / "a.h5"),
                                 "--figure", str(tmp_path / "f")])
    assert "no checkpoints" in capsys.readouterr().err and not list(tmp_path.iterdir())
