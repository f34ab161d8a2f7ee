"""Smoke test of benchmarks/bench_distributed.py: a few steps through its machinery (never its timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import require_backend

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_distributed.py"


def test_benchmark_reports_overheads_as_ratios() -> None:
    require_backend("jax")
    command = [sys.executable, str(BENCH), "--devices", "2", "--steps", "3", "--rounds", "1", "--batch-size", "8",
               "--width", "8"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| devices | plain step (ms) | DataParallel step (ms) | ratio |")
    cells = [float(cell) for cell in lines[2].strip("|").split("|")]
    assert cells[0] == 2 and all(cell > 0 for cell in cells)
    assert abs(cells[3] - cells[2] / cells[1]) <= 0.01 + 0.01 * cells[3]  # the ratio is DataParallel / plain
