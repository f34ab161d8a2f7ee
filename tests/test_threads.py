"""Threads: each has its own backend choice and its own trace, and shared models give the serial results."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn
from highnn.tracing import TracedFunction

RNG = np.random.default_rng(7)
X = RNG.normal(size=(24, 5))
Y_REGRESSION = RNG.normal(size=(24, 3))
Y_CLASSES = RNG.integers(0, 3, size=24)


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    """Switch threads every microsecond, so concurrent work really interleaves."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def in_threads(tasks: list[Callable[[], Any]]) -> list[Any]:
    """Run ``tasks`` in one thread each, released together by a barrier; their results, in order."""
    barrier = threading.Barrier(len(tasks))

    def run(task: Callable[[], Any]) -> Any:
        barrier.wait()
        return task()

    with ThreadPoolExecutor(len(tasks)) as pool:
        return list(pool.map(run, tasks))


def test_each_thread_computes_on_the_backend_it_chose() -> None:
    require_backend("torch")
    default = hn.config.backend()

    both_inside = threading.Barrier(2)

    def compute(name: str) -> list[tuple[str, str, str]]:
        seen = []
        with hn.config.use_backend(name, floatx="float64"):
            both_inside.wait()  # both blocks are open from here on
            a, b, c = (hn.tensor(np.full(3, v)) for v in (2.0, 3.0, 1.0))
            for _ in range(200):  # long enough for the two threads to interleave
                out = a * b + c
                seen.append((hn.config.backend(), out.backend.name, out.dtype))
            assert out.numpy().tolist() == [7.0, 7.0, 7.0]
        seen.append((hn.config.backend(), "", ""))  # the block ended: back to the default
        return seen

    numpy_seen, torch_seen = in_threads([lambda: compute("numpy"), lambda: compute("torch")])
    assert set(numpy_seen[:-1]) == {("numpy", "numpy", "float64")}
    assert set(torch_seen[:-1]) == {("torch", "torch", "float64")}
    assert numpy_seen[-1][0] == torch_seen[-1][0] == hn.config.backend() == default


def test_a_new_thread_sees_the_process_default_not_another_threads_block() -> None:
    require_backend("torch")
    require_backend("jax")
    default = hn.config.backend()
    block = "jax" if default == "torch" else "torch"
    with hn.config.use_backend(block):
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(hn.config.backend).result() == default
        assert hn.config.backend() == block


def small_model(seed: int, units: int = 4, activation: str = "tanh") -> hn.Sequential:
    hn.utils.set_random_seed(seed)
    return hn.Sequential([hn.Input((5,)), hn.layers.Dense(units, activation=activation), hn.layers.Dense(3)])


def test_cold_predict_from_eight_threads_gives_the_serial_result() -> None:
    expected = small_model(1).predict(X, batch_size=8, verbose=0)
    model = small_model(1)  # the same weights, never traced
    results = in_threads([lambda: model.predict(X, batch_size=8, verbose=0)] * 8)
    for result in results:
        np.testing.assert_array_equal(result, expected)


def four_fits() -> list[tuple[hn.Sequential, dict[str, Any]]]:
    """Four different small models, their weights drawn now, with what to fit them on."""
    models = [
        (small_model(10), {"optimizer": "sgd", "loss": "mse"}, Y_REGRESSION),
        (small_model(11, units=6, activation="relu"), {"optimizer": "adam", "loss": "mae"}, Y_REGRESSION),
        (small_model(12, units=3, activation="sigmoid"), {"optimizer": "rmsprop", "loss": "mse"}, Y_REGRESSION),
        (
            small_model(13, units=5),
            {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
            Y_CLASSES,
        ),
    ]
    for model, compile_arguments, _ in models:
        model.compile(**compile_arguments)
    return [(model, {"x": X, "y": y}) for model, _, y in models]


def fit(model: hn.Sequential, data: dict[str, Any]) -> list[np.ndarray]:
    model.fit(**data, batch_size=6, epochs=3, shuffle=False, verbose=0)
    return model.get_weights()


def test_fits_of_four_models_in_four_threads_give_the_serial_weights() -> None:
    serial = [fit(model, data) for model, data in four_fits()]
    concurrent = in_threads([lambda model=model, data=data: fit(model, data) for model, data in four_fits()])
    for expected, got in zip(serial, concurrent):
        assert len(expected) == len(got)
        for e, g in zip(expected, got):
            np.testing.assert_array_equal(g, e)


def test_tracing_in_one_thread_does_not_stop_another_thread_from_tracing() -> None:
    tracing = threading.Event()
    other_done = threading.Event()

    def slow(x: hn.Tensor) -> list[hn.Tensor]:
        tracing.set()
        assert other_done.wait(10)  # still tracing while the other thread traces its own function
        return [x * 2.0]

    def other() -> list[Any]:
        assert tracing.wait(10)
        try:
            return TracedFunction(lambda x: [x + 1.0])(np.ones(2))
        finally:
            other_done.set()

    slow_result, other_result = in_threads([lambda: TracedFunction(slow)(np.ones(2)), other])
    np.testing.assert_array_equal(slow_result[0], [2.0, 2.0])
    np.testing.assert_array_equal(other_result[0], [2.0, 2.0])


def test_nesting_in_one_thread_is_still_an_error() -> None:
    inner = TracedFunction(lambda x: [x + 1.0])
    outer = TracedFunction(lambda x: inner(x.value))
    with pytest.raises(RuntimeError, match="cannot be called while another one is being traced"):
        outer(np.ones(2))
