"""core.fileio: atomic writes leave either the old or the new file, never a partial one."""

import json
import os
import stat
from pathlib import Path

import pytest

from core.fileio import (
    atomic_path,
    atomic_write_bytes,
    figure_files,
    make_folder,
    refuse_existing,
    save_json,
    update_text,
)


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "data.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".") and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["data.bin"]  # no temp file left


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_save_json_is_sorted_and_ends_with_newline(tmp_path):
    path = save_json(tmp_path / "c.json", {"b": 1, "a": [1.5, "x"]})
    text = path.read_text()
    assert json.loads(text) == {"a": [1.5, "x"], "b": 1}
    assert text.index('"a"') < text.index('"b"') and text.endswith("}\n")


def test_update_text_writes_only_a_change(tmp_path):
    path = tmp_path / "sub" / "table.md"
    assert update_text(path, "a\n") and path.read_text() == "a\n"
    earlier = path.stat().st_mtime_ns - 10**9
    os.utime(path, ns=(earlier, earlier))
    assert not update_text(path, "a\n") and path.stat().st_mtime_ns == earlier  # same text
    assert update_text(path, "b\n") and path.read_text() == "b\n"
    assert path.stat().st_mtime_ns > earlier


def test_refuse_existing(tmp_path):
    old = tmp_path / "old.txt"
    old.write_text("x")
    refuse_existing([tmp_path / "new.txt"], overwrite=False)
    refuse_existing([old], overwrite=True)
    with pytest.raises(FileExistsError, match="old.txt already exist.*--overwrite"):
        refuse_existing([old, tmp_path / "new.txt"], overwrite=False)


def test_figure_files_keep_a_dot_in_the_name(tmp_path):
    assert [p.name for p in figure_files(tmp_path / "ablation_fixtau1.5")] == [
        "ablation_fixtau1.5.pdf", "ablation_fixtau1.5.png"]
    assert [p.name for p in figure_files(tmp_path / "curves.v2.png")] == [
        "curves.v2.pdf", "curves.v2.png"]
    assert figure_files("fig", ("png",)) == [Path("fig.png")]


@pytest.mark.parametrize("inside", ["", "x", "x/y"])
def test_a_folder_where_a_file_is_is_refused_naming_the_file(inside, tmp_path):
    (tmp_path / "figs").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"^\S*figs is a file, not a folder$"):
        make_folder(tmp_path / "figs" / inside)
    assert make_folder(tmp_path / "a" / "b").is_dir() and make_folder(tmp_path / "a").is_dir()
