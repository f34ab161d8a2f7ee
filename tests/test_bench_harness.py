"""benchmarks/harness.py: which contenders share a process, and what each is compared with."""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import harness


def test_each_library_is_timed_in_a_process_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], str | None]] = []
    medians = {"highnn-numpy": 6.0, "highnn-torch": 2.4, "loop-torch": 2.0, "keras-torch": 3.0, "loop-jax": 1.0}

    def fake_child(script: str, arguments: list[str], keras_backend: str | None = None, memory: bool = False) -> object:
        assert memory == arguments[-1].startswith("--memory-of=")  # only memory is measured with freed buffers unmapped
        calls.append((arguments, keras_backend))
        if arguments[-1].startswith("--memory-of="):
            return 1.5
        return {name: medians[name] for name in arguments[-1].removeprefix("--only=").split(",")}

    monkeypatch.setattr(harness, "in_child", fake_child)
    names = ["highnn-numpy", "highnn-torch", "loop-torch", "loop-jax", "keras-torch"]
    results = harness.side_by_side("bench.py", names, ["--rounds=3"], memory=False)
    assert calls == [
        (["--rounds=3", "--only=highnn-numpy"], "numpy"),
        (["--rounds=3", "--only=highnn-torch,loop-torch,keras-torch"], "torch"),
        (["--rounds=3", "--only=loop-jax"], "jax"),
    ]
    assert results["highnn-numpy"]["vs_loop"] == pytest.approx(3.0)  # NumPy is compared with the PyTorch loop
    assert results["highnn-torch"]["vs_loop"] == pytest.approx(1.2)
    assert results["keras-torch"]["vs_loop"] == pytest.approx(1.5)
    assert "vs_loop" not in results["loop-torch"] and "vs_loop" not in results["loop-jax"]
    assert all("peak_mib" not in result for result in results.values())

    calls.clear()
    with_memory = harness.side_by_side("bench.py", ["loop-jax"], [], memory=True)
    assert with_memory == {"loop-jax": {"median_s": 1.0, "peak_mib": 1.5}}
    assert calls[-1] == (["--memory-of=loop-jax"], "jax")


#: a child measuring an epoch that frees a 16 MiB buffer, then holds three of 8 MiB at once (24 MiB at its peak)
GROWTH_CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, {benchmarks!r})
import harness
print(json.dumps(harness.peak_growth_mib(lambda: (np.ones(1 << 21).sum(), [np.ones(1 << 20) for _ in range(3)]))))
"""


@pytest.mark.parametrize(("memory", "low", "high"), [(True, 23.5, 28), (False, 0, 20)])
def test_memory_children_return_freed_buffers_so_an_epoch_s_peak_is_seen(
    tmp_path: Path, memory: bool, low: float, high: float
) -> None:
    """By default glibc raises its mmap threshold to the freed 16 MiB, puts the 8 MiB buffers in its heap and keeps
    them there after the warm-up, so later epochs seem to add only the 16 MiB; a memory child sees all 24."""
    script = tmp_path / "growth.py"
    script.write_text(GROWTH_CHILD.format(benchmarks=str(Path(harness.__file__).parent)))
    measured = harness.in_child(str(script), [], memory=memory)
    assert isinstance(measured, float) and low <= measured <= high


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_within_the_rounds_every_contender_follows_every_other_equally_often(n: int) -> None:
    names = [f"c{i}" for i in range(n)]
    design = n if n % 2 == 0 else 2 * n  # rounds until the orders repeat
    rounds = list(itertools.islice(harness.turns(names), 2 * design))
    assert all(sorted(order) == names for order in rounds) and rounds[:design] == rounds[design:]
    followers = Counter((order[i], order[i + 1]) for order in rounds[:design] for i in range(n - 1))
    assert set(followers) == {(a, b) for a in names for b in names if a != b}
    assert len(set(followers.values())) == 1  # every ordered pair equally often
    assert [order[0] for order in rounds[:n]] == names  # and each starts a round


def test_interleaved_medians_time_every_contender_in_rotating_turns() -> None:
    calls: list[str] = []
    medians = harness.interleaved_medians({name: (lambda name=name: calls.append(name)) for name in "ab"}, rounds=3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # the warm-ups, then the three rounds
    assert set(medians) == {"a", "b"} and all(seconds >= 0 for seconds in medians.values())
