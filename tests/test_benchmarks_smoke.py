"""Smoke tests of benchmarks/bench_fit.py: its machinery on tiny configurations (never its timings)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from itertools import pairwise
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from helpers import BACKENDS, numeric_gradient, require_backend

import highnn as hn

BENCH_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fit.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """The benchmark script, imported as a module."""
    if str(BENCH_PATH.parent) not in sys.path:
        sys.path.insert(0, str(BENCH_PATH.parent))  # the script imports its neighbour `harness`
    spec = importlib.util.spec_from_file_location("bench_fit", BENCH_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_fit"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def small_problem(bench: ModuleType, samples: int = 24, batch_size: int = 8) -> object:
    spec = bench.ModelSpec("small", (5, 4, 3), batch_size=batch_size, samples=samples)
    return bench.Problem.make(spec, seed=3)


def test_end_to_end_run_writes_markdown_table(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results" / "results.md"
    argv = ["--models", "tiny", "--backends", "numpy", "--epochs-timed", "1", "--seconds", "0.2", "--samples", "256"]
    status = bench.main([*argv, "--output", str(output)])
    assert status == 0
    text = output.read_text()
    assert bench.TABLE_HEADER in text
    row = next(line for line in text.splitlines() if line.startswith("| tiny | numpy |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == bench.TABLE_HEADER.count(" | ") + 1
    highnn_ms, hand_ms, ratio = float(cells[2]), float(cells[3]), float(cells[5])
    assert highnn_ms > 0 and hand_ms > 0
    # times hold 3 significant digits, ratios 2 decimals
    assert ratio == pytest.approx(highnn_ms / hand_ms, rel=0.02, abs=0.006)
    expected_keras = (
        "not installed" if importlib.util.find_spec("keras") is None else "n/a (Keras's NumPy backend cannot train)"
    )
    assert cells[4] == expected_keras
    assert cells[6] == "≤ 1.50"  # the tiny NumPy target
    assert float(cells[-1]) < bench.CHECK_TOLERANCE  # highnn and the NumPy loop agree in float64
    assert "(tracemalloc)" in cells[-3]
    assert "float64 cross-check tiny/numpy" in capsys.readouterr().out
    epochs = next(line for line in text.splitlines() if line.startswith("| tiny | numpy | highnn |"))
    count, fastest, quartiles, slowest = [cell.strip() for cell in epochs.strip("|").split("|")][3:7]
    assert int(count) > 1  # rounds went on until they took the 0.2 s
    spread = [float(fastest), *map(float, quartiles.split(" / ")), float(slowest)]
    assert spread == sorted(spread) and len(spread) == 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_check_agrees_on_every_backend(bench: ModuleType, backend: str) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend, floatx="float64"):
        differences = bench.cross_check(small_problem(bench), backend)
    assert set(differences) == ({"highnn"} if backend == "numpy" else {"highnn", "hand-written"})
    assert max(differences.values()) < bench.CHECK_TOLERANCE


def test_numpy_loop_step_is_gradient_descent_on_the_crossentropy(bench: ModuleType) -> None:
    """One unshuffled step moves the weights by -lr times the finite-difference gradient of the mean loss."""
    problem = small_problem(bench, samples=8, batch_size=8)
    x, y = problem.x, problem.y

    def loss(flat: np.ndarray) -> float:
        w1, b1, w2, b2 = np.split(flat, np.cumsum([w.size for w in problem.weights])[:-1])
        hidden = np.maximum(x @ w1.reshape(5, 4) + b1, 0.0)
        logits = hidden @ w2.reshape(4, 3) + b2
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(y)), y].mean())

    start = np.concatenate([w.ravel() for w in problem.weights])
    loop = bench.NumpyLoop(problem, "float64", shuffle=False)
    loop.run_epoch()
    moved = np.concatenate([w.ravel() for w in loop.weights()])
    np.testing.assert_allclose((start - moved) / bench.LEARNING_RATE, numeric_gradient(loss, start), atol=1e-7)
    assert loop.loss_sum == pytest.approx(loss(start))


def test_epoch_flops_count_three_gemms_per_dense_but_two_for_the_first(bench: ModuleType) -> None:
    spec = bench.MODELS["medium"]
    batch, steps = 128, 80
    forward = 2 * batch * (784 * 512 + 512 * 512 + 512 * 10)
    input_gradients = 2 * batch * (512 * 512 + 512 * 10)
    assert spec.steps == steps
    assert spec.epoch_flops() == steps * (2 * forward + input_gradients)


def test_memory_probe_sees_an_allocation(bench: ModuleType) -> None:
    size = 32 * 2**20
    tracemalloc.start()
    try:
        probe = bench.MemoryProbe("tracemalloc")
        probe.start()
        np.ones(size, dtype=np.uint8)
        probe.stop()
    finally:
        tracemalloc.stop()
    assert size <= probe.peak < size + 2**20
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("no /proc/self/clear_refs: the RSS probe needs Linux")
    # in a fresh process: a long test run's process may reuse freed pages, and its threads report RSS late
    script = (
        f"import sys, numpy as np; sys.path.insert(0, {str(BENCH_PATH.parent)!r}); import bench_fit; "
        f"probe = bench_fit.MemoryProbe('rss'); probe.start(); array = np.ones({size}, dtype=np.uint8); "
        "probe.stop(); print(probe.peak)"
    )
    peak = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    assert peak >= 0.9 * size


def test_missing_backend_is_skipped_with_its_reason(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hn.backends, "available_backends", lambda: ["numpy"])
    row = bench.measure(bench.MODELS["tiny"], "torch", epochs_timed=1, profile=False)
    assert row.skipped == "torch is not installed"
    assert "| tiny | torch | skipped: torch is not installed |" in bench.table_row(row, rate=1e9)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--models", "huge"], "--models"),
        (["--backends", "numpy,mxnet"], "--backends"),
        (["--epochs-timed", "0"], "--epochs-timed"),
        (["--samples", "many"], "--samples"),
        (["--seconds", "-1"], "--seconds"),
        (["--seconds", "soon"], "--seconds"),
        (["--seconds", "inf"], "--seconds"),
    ],
)
def test_bad_arguments_are_rejected_naming_the_argument(
    bench: ModuleType, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    with pytest.raises(SystemExit) as raised:
        bench.main(argv)
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert named in error and argv[1] in error


def test_profile_breaks_the_epoch_down(bench: ModuleType) -> None:
    problem = small_problem(bench, samples=64, batch_size=8)
    with hn.config.use_backend("numpy"):
        profile = bench.profile_highnn(problem, "numpy")
    assert set(profile["per_step_us"]) >= {
        "fit epoch",
        "generated program alone",
        "generated program, Keras's state frozen in",
        "Batches iteration alone",
        "hand-written epoch",
    }
    assert all(us > 0 for us in profile["per_step_us"].values())
    assert profile["program_ops"] > 0
    assert sum(profile["profile_groups"].values()) == pytest.approx(1.0)
    assert any("<highnn program>" in name for name, _, _ in profile["profile_top"])
    row = bench.Row(problem.spec, "numpy", profile=profile)
    section = "\n".join(bench.profile_section(row))
    assert f"the program has {profile['program_ops']} operations per step" in section


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_program_with_keras_state_frozen_in_trains_the_weights_alike(bench: ModuleType, backend: str) -> None:
    """The profile's "Keras's state frozen in" row times the traced step with the optimizer's and the metrics'
    variables as constants: it takes and returns the weights alone, and computes the same new weights and logs."""
    require_backend(backend)
    problem = small_problem(bench)
    with hn.config.use_backend(backend, floatx="float64"):
        contender = bench.fit_contender(hn, problem, "float64")
        contender.run_epoch()  # traces the step; its state (iterations, the loss tracker) is no longer zero
        (program, _), *_ = contender.model._functions[("train", 2, False, True)].programs.values()
        backend_module = hn.config.settings.backend
        x, y = (backend_module.batch(a[:8], a.dtype.name) for a in (contender.x, problem.y))
        step, passed = bench.weights_only_program(program, 2)
        assert [program.read[i].path for i in passed] == [v.path for v in contender.model.trainable_weights]
        results = step(x, y, *bench.fresh_copies(program, passed))
        whole = program.function(x, y, *bench.fresh_copies(program, range(len(program.read))))
    position = {id(v): i for i, v in enumerate(program.updated)}
    new_weights = [whole[program.n_outputs + position[id(program.read[i])]] for i in passed]
    assert len(results) == program.n_outputs + len(passed)
    for got, expected in zip(results, [*whole[: program.n_outputs], *new_weights]):
        np.testing.assert_array_equal(backend_module.to_numpy(got), backend_module.to_numpy(expected))


def test_scaling_mode_writes_one_row_per_model_and_backend(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(bench.SCALING, "width", [("width 8", (6, 8, 8, 3), 4), ("width 16", (6, 16, 16, 3), 4)])
    output = tmp_path / "scaling.md"
    argv = ["--scaling", "width", "--backends", "numpy", "--samples", "16", "--epochs-timed", "1"]
    assert bench.main([*argv, "--output", str(output)]) == 0
    text = output.read_text()
    assert bench.SCALING_HEADER in text and text.startswith("`python benchmarks/bench_fit.py --scaling width")
    rows = [line for line in text.splitlines() if line.startswith("| width |")]
    assert [row.split("|")[2].strip() for row in rows] == ["width 8", "width 16"]
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        highnn_ms, hand_ms, ratio = float(cells[3]), float(cells[4]), float(cells[6])
        assert highnn_ms > 0 and hand_ms > 0 and ratio > 0
        assert cells[5] == "–"  # Keras's NumPy backend cannot train


def test_scaling_grid_covers_the_documented_ranges(bench: ModuleType) -> None:
    widths = [sizes[1] for _, sizes, _ in bench.SCALING["width"]]
    depths = [len(sizes) - 2 for _, sizes, _ in bench.SCALING["depth"]]
    batches = [batch for _, _, batch in bench.SCALING["batch"]]
    assert (widths[0], widths[-1], depths[0], depths[-1], batches[0], batches[-1]) == (64, 4096, 2, 16, 16, 4096)


def test_targets_are_the_issues(bench: ModuleType) -> None:
    medium = {("medium", backend): 1.05 for backend in bench.BACKENDS}
    tiny = {("tiny", "numpy"): 1.5, ("tiny", "torch"): 1.2, ("tiny", "jax"): 1.1}
    assert medium | tiny == bench.TARGETS


def test_the_keras_state_loop_trains_the_same_weights_and_keeps_the_mean_loss(bench: ModuleType) -> None:
    require_backend("jax")
    problem = small_problem(bench)
    with hn.config.use_backend("jax", floatx="float64"):
        plain = bench.JaxLoop(problem, "float64", shuffle=False)
        keras_state = bench.JaxKerasStateLoop(problem, "float64", shuffle=False)
        assert isinstance(bench.make_contender(bench.KERAS_STATE, problem, "jax", "float64"), bench.JaxKerasStateLoop)
        plain.run_epoch()
        keras_state.run_epoch()
    for a, b in zip(plain.weights(), keras_state.weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
    learning_rate, iterations, total, count = (np.asarray(v) for v in keras_state.state)
    assert learning_rate == bench.LEARNING_RATE and iterations == 3 and count == 24
    assert float(np.asarray(keras_state.logs)) == pytest.approx(float(total) / 24)
    assert float(total) / 24 == pytest.approx(float(np.asarray(plain.loss_sum)) / 3)  # equal batches: same mean


def test_the_turns_let_each_contender_follow_each_other(bench: ModuleType) -> None:
    calls: list[str] = []

    class Recorder(bench.Contender):  # type: ignore[name-defined,misc]
        def __init__(self, name: str) -> None:
            self.name = name

        def run_epoch(self) -> float:
            calls.append(self.name)
            return float(len(calls))

    times = bench.time_epochs({name: Recorder(name) for name in "abc"}, epochs_timed=5)
    assert calls[:3] == ["a", "b", "c"] and calls[3:6] == ["b", "c", "a"]  # the warm-up, then the next order
    timed = calls[3:]
    followers = Counter(pairwise(timed))
    assert all(followers[(x, y)] >= 1 for x in "abc" for y in "abc" if x != y)
    assert times == {name: [float(3 + i + 1) for i, n in enumerate(timed) if n == name] for name in "abc"}


def test_a_fast_row_takes_more_rounds_until_its_rounds_took_the_seconds(bench: ModuleType) -> None:
    class Sleeper(bench.Contender):  # type: ignore[name-defined,misc]
        def run_epoch(self) -> float:
            time.sleep(0.01)
            return 0.01

    assert [len(t) for t in bench.time_epochs({"a": Sleeper(), "b": Sleeper()}, epochs_timed=3).values()] == [3, 3]
    started = time.perf_counter()
    times = bench.time_epochs({"a": Sleeper(), "b": Sleeper()}, epochs_timed=3, seconds=0.3)
    assert time.perf_counter() - started >= 0.3
    assert len(times["a"]) == len(times["b"]) >= 0.3 / 0.02 - 1  # rounds of two 10 ms epochs
