"""benchmarks/bench_mpn.py: JSON written through core.fileio, one-line errors (tiny, CPU)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--configs", "small", "--steps", "1", "--warmup", "0", "--T", "3"]


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_mpn.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_json_is_written_once_and_kept_without_overwrite(tmp_path):
    path = tmp_path / "sub" / "bench.json"
    done = _bench(*TINY, "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert "small: batch 32, hidden 100, T 3, cpu (1 threads), fused:" in done.stdout
    stored = json.loads(path.read_text())
    (result,) = stored["results"]
    assert result["name"] == "small" and result["threads"] == 1 and result["s_per_step"] > 0
    assert "--json" in stored["command"]
    assert [p.name for p in path.parent.iterdir()] == ["bench.json"]  # no temp file left
    again = _bench(*TINY, "--json", str(path))
    assert again.returncode == 2 and again.stdout == ""  # refused before measuring
    assert again.stderr.strip() == f"error: {path} already exist(s); pass --overwrite to replace"
    assert json.loads(path.read_text()) == stored


def test_bad_arguments_give_one_line_errors():
    done = _bench("--steps", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: need --steps >= 1, --warmup >= 0 and --T >= 2"
    done = _bench("--device", "nonsense")
    assert done.returncode == 2 and done.stderr.startswith("error: --device 'nonsense'")
    assert "Traceback" not in done.stderr
