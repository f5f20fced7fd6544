"""`bench/run.py --quick` runs every benchmark and prints every row with its target.

Only that it runs and reports: no timing is asserted here (figures live in docs/benchmarks.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_quick_benchmark_prints_every_row_with_its_target():
    done = subprocess.run([sys.executable, "bench/run.py", "--quick", "--device", "cpu"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for figure in ("masked dynamic-sparse train step", "amortised mask overhead", "update event",
                   "per-step masking", "edge-popup train step", "compact checkpoint", "lines in maskforge/sparsity"):
        assert figure in out, figure
    for target in ("<= 1.05", "<= 1.01", "<= 1.3", "<= 0.085", "<= 900 lines"):
        assert target in out, target


def test_an_unknown_benchmark_name_is_refused():
    done = subprocess.run([sys.executable, "bench/run.py", "--only", "nope"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "unknown benchmark" in done.stderr
