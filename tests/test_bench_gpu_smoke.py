"""Smoke test of benchmarks/gpu.py: its --device cpu --smoke mode runs end to end and writes the table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import require_backend

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


def test_cpu_smoke_run_writes_a_row_per_workload_and_dtype(tmp_path: Path) -> None:
    require_backend("torch")
    output = tmp_path / "gpu.md"
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--smoke", "--libraries", "torch"]
    command += ["--workloads", "mlp-medium,lstm", "--output", str(output)]  # the CNN's 28x28 images take long
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    lines = output.read_text().splitlines()
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:2]): line for line in lines if "| mlp" in line
            or "| lstm" in line}  # fmt: skip
    assert set(rows) == {(w, d) for w in ("mlp-medium", "lstm") for d in ("float32", "bfloat16")}
    cells = [cell.strip() for cell in rows[("mlp-medium", "float32")].strip("|").split("|")]
    highnn_ms, hand_ms, ratio = float(cells[2]), float(cells[3]), float(cells[5])
    assert highnn_ms > 0 and hand_ms > 0
    # the table rounds times to 0.05 ms and ratios (of the unrounded times) to 0.005
    assert (highnn_ms - 0.05) / (hand_ms + 0.05) - 0.005 <= ratio <= (highnn_ms + 0.05) / (hand_ms - 0.05) + 0.005
    assert "error" not in output.read_text()
