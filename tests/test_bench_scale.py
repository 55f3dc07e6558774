"""bench/bench_scale.py at a tiny size, as a check of correctness (not of speed): every phase
runs, nothing is lost, and the figures are printed against their targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # runs the CLIs, servers or worker processes for real

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_scale.py"


def test_bench_scale_smallest_sizes_lose_nothing(tmp_path):
    root = tmp_path / "scale"
    cmd = [sys.executable, str(BENCH), "--sizes", "0", "64", "--root", str(root)]
    cmd += ["--new", "40", "--rate", "40", "--interval", "0.5"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "correctness: 9 of 9 checks passed" in out
    # report.html of the 64-sample store: 4 groups (2 types x match_exact/mismatch) of 16 each.
    assert "report.html:" in out and "64 samples in the browser" in out
    assert "generator resume:" in out and "0 requests, exit 0" in out
    assert "x the empty folder (target <= 1.5x" in out
    assert "restart after kill -9: ready in" in out
    assert "after the restart 104 of 104 graded" in out  # 64 stored + 40 new
    # The stored folders are restored to their built state after the run.
    store = root / "store_64" / "scale_math"
    assert len(list((store / "subjectives").iterdir())) == 32
    assert not (root / "store_64" / "merged").exists()
