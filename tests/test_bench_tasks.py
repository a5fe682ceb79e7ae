"""benchmarks/bench_tasks.py: a table row per rule and one-line errors (tiny batches, CPU)."""

import subprocess
import sys
from pathlib import Path

from core.tasks import RULES

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_tasks.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=180)


def test_prints_every_rule_with_the_device_column():
    done = _bench("--preset", "yang19", "--batch", "4", "--repeats", "1", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    rows = {line.split("|")[0].strip(): line.split("|") for line in done.stdout.splitlines()
            if line.count("|") == 4}
    assert set(RULES) | {"mean"} <= set(rows)
    ms_noisy, ms_orig = float(rows["fdgo"][1].split()[0]), float(rows["fdgo"][3].split()[0])
    assert ms_noisy > 0 and ms_orig > 0
    assert "noise on cpu" in done.stdout and "goal: >= 5x orig" in done.stdout


def test_bad_arguments_give_one_line_errors():
    done = _bench("--repeats", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --batch and --repeats must be >= 1"
    done = _bench("--device", "nonsense", "--repeats", "1")
    assert done.returncode == 2 and done.stderr.startswith("error: --device 'nonsense'")
    assert "Traceback" not in done.stderr
