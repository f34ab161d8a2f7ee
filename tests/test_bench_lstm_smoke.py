"""Smoke test of benchmarks/bench_lstm.py on a tiny run (its machinery, never its timings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from helpers import require_backend

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_a_tiny_interleaved_run_times_every_contender(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_backend("torch")
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its neighbour `harness`
    spec = importlib.util.spec_from_file_location("bench_lstm", BENCHMARKS / "bench_lstm.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--units", "4", "--timesteps", "3", "--features", "2", "--batch", "4", "--batches", "2", "--rounds", "1"]
    results = bench.main([*argv, "--backends", "numpy,torch"])
    expected = {"highnn-numpy", "highnn-torch", "loop-torch"} | (
        {"keras-torch"} if importlib.util.find_spec("keras") else set()
    )
    assert set(results) == expected
    assert all(result["median_s"] > 0 and result["peak_mib"] >= 0 for result in results.values())
    assert all("vs_loop" in result for name, result in results.items() if name != "loop-torch")
    assert "| highnn-torch |" in capsys.readouterr().out
