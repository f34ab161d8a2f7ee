"""Smoke test of benchmarks/bench_cnn.py on a tiny run (its machinery, never its timings)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # the script imports its neighbour `harness`
    spec = importlib.util.spec_from_file_location("bench_cnn", BENCHMARKS / "bench_cnn.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_cnn"] = module
    spec.loader.exec_module(module)
    return module


def test_a_tiny_interleaved_run_reports_every_contender(bench: ModuleType) -> None:
    pytest.importorskip("torch")
    results = bench.run(["numpy"], samples=128, epochs_timed=1, memory=False)
    assert {"highnn-numpy", "loop-torch"} <= set(results)
    assert all(result["median_s"] > 0 for result in results.values())
    table = bench.report(results)
    assert "| highnn-numpy |" in table and "x |" in table  # highnn-numpy is compared with the torch loop


def test_the_weights_match_the_highnn_model(bench: ModuleType) -> None:
    x, y, weights = bench.problem(8)
    assert x.shape == (8, 28, 28, 1) and y.shape == (8,)
    model = bench.highnn_model()
    model.build((None, 28, 28, 1))
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights]
