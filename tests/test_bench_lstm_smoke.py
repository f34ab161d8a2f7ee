"""Smoke test of benchmarks/bench_lstm.py on a tiny run (its machinery, never its timings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from helpers import require_backend

BENCH_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_lstm.py"


def test_a_tiny_interleaved_run_times_every_contender(capsys: pytest.CaptureFixture[str]) -> None:
    for backend in ("torch", "jax"):
        require_backend(backend)
    spec = importlib.util.spec_from_file_location("bench_lstm", BENCH_PATH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--units", "4", "--timesteps", "3", "--features", "2", "--batch", "4", "--batches", "2", "--rounds", "1"]
    medians = bench.main(argv)
    expected = {"highnn-numpy", "highnn-torch", "hand-written torch", "highnn-jax", "hand-written jax"}
    assert set(medians) == expected
    assert all(seconds > 0 for seconds in medians.values())
    assert "the hand-written loop" in capsys.readouterr().out
