"""A GPU-ready training step: no host reads inside a step, batches prefetched, CUDA graphs only on CUDA."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn
from highnn import trainer
from highnn.prefetch import prefetched

# every torch.Tensor method that copies a value to the host (and so waits for the device)
TORCH_HOST_READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__", "__array__")


def _model(seed: int = 0) -> hn.Model:
    hn.utils.set_random_seed(seed)
    model = hn.Sequential(
        [
            hn.layers.Input((6,)),
            hn.layers.Dense(16, activation="relu"),
            hn.layers.Dropout(0.3, seed=3),
            hn.layers.GaussianNoise(0.1, seed=4),
            hn.layers.Dense(3),
        ]
    )
    loss = hn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(80, 6)).astype("float32"), rng.integers(0, 3, 80)


class HostReadCounter(hn.callbacks.Callback):
    """Counts host reads from the start of the second step to the start of the last one (whole steps only)."""

    def __init__(self, guard: Any) -> None:
        super().__init__()
        self.guard = guard
        self.stack = ExitStack()
        self.reads: list[str] = []
        self.steps_watched = 0

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if batch == 1:
            self.stack.enter_context(self.guard(self.reads))
        elif batch == self.params["steps"] - 1:
            self.stack.close()
        if 1 <= batch < self.params["steps"] - 1:
            self.steps_watched += 1


@contextmanager
def _torch_guard(reads: list[str]) -> Iterator[None]:
    import torch

    originals = {name: getattr(torch.Tensor, name) for name in TORCH_HOST_READS}

    def counting(name: str) -> Any:
        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            reads.append(name)
            return originals[name](self, *args, **kwargs)

        return read

    for name in TORCH_HOST_READS:
        setattr(torch.Tensor, name, counting(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


@contextmanager
def _jax_guard(reads: list[str]) -> Iterator[None]:
    import jax

    with jax.transfer_guard_device_to_host("disallow"):
        yield


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_no_host_reads_inside_training_steps(backend: str) -> None:
    require_backend(backend)
    guard = _torch_guard if backend == "torch" else _jax_guard
    x, y = _data()
    with hn.config.use_backend(backend):
        model = _model()
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # traces the step
        counter = HostReadCounter(guard)
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[counter])
    assert counter.steps_watched == 8
    assert counter.reads == [], f"host reads inside training steps: {counter.reads}"
    assert np.isfinite(history.history["loss"][0]) and 0 <= history.history["accuracy"][0] <= 1


def test_host_read_counter_sees_a_read() -> None:
    """The torch guard counts what it should: a step that reads a value on the host is caught."""
    require_backend("torch")
    import torch

    reads: list[str] = []
    with _torch_guard(reads):
        float(torch.ones(()))
        torch.ones(2).numpy()
    assert reads == ["__float__", "numpy"]


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_dropout_draws_new_masks_every_step_and_repeats_from_a_seed(backend: str) -> None:
    require_backend(backend)
    x = np.ones((4, 50), "float32")
    with hn.config.use_backend(backend):
        layer = hn.layers.Dropout(0.5, seed=7)
        first, second = (np.asarray(layer(x, training=True).numpy()) for _ in range(2))
        again = np.asarray(hn.layers.Dropout(0.5, seed=7)(x, training=True).numpy())
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)
    assert set(np.unique(first)) == {0.0, 2.0} and 0.3 < (first == 0).mean() < 0.7


def test_prefetch_prepares_the_next_batch_before_handing_out_the_current_one() -> None:
    pulled: list[int] = []

    def source() -> Iterator[int]:
        for i in range(4):
            pulled.append(i)
            yield i

    seen = []
    for item in prefetched(source()):
        seen.append((item, list(pulled)))
    assert [item for item, _ in seen] == [0, 1, 2, 3]
    assert [pulls for _, pulls in seen] == [[0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3]]
    assert list(prefetched([])) == []


def test_a_source_that_fails_preparing_the_next_batch_hands_out_the_current_one_first() -> None:
    def source() -> Iterator[int]:
        yield from range(3)
        raise ValueError("the data source failed")

    seen: list[int] = []
    with pytest.raises(ValueError, match="the data source failed"):
        for item in prefetched(source()):
            seen.append(item)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_fit_gives_the_same_numbers_with_and_without_prefetch(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    require_backend(backend)
    x, y = _data()
    results = []
    for wrapper in (prefetched, iter):
        monkeypatch.setattr(trainer, "prefetched", wrapper)
        with hn.config.use_backend(backend):
            model = _model()
            history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25)
            results.append((history.history, [w.numpy() for w in model.weights], model.predict(x, verbose=0)))
    (history_a, weights_a, predictions_a), (history_b, weights_b, predictions_b) = results
    assert history_a == history_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(predictions_a, predictions_b)


def test_cuda_graphs_engage_only_on_cuda_unless_jit_compile_is_false() -> None:
    require_backend("torch")
    import torch

    from highnn.backends.torch_backend import CudaGraphPlan, TorchBackend

    def plan(a: torch.Tensor) -> tuple[torch.Tensor]:
        return (a + 1,)

    backend = TorchBackend("cpu")
    assert not isinstance(backend.compile(plan), CudaGraphPlan)
    backend.device = torch.device("cuda", 0)  # what compile decides, without a GPU to run it
    assert isinstance(backend.compile(plan), CudaGraphPlan)
    assert not isinstance(backend.compile(plan, jit=False), CudaGraphPlan)


def test_fit_on_a_torch_cpu_device_runs_the_plain_plan() -> None:
    require_backend("torch")
    from highnn.backends.torch_backend import CudaGraphPlan

    x, y = _data()
    with hn.config.use_backend("torch"):
        model = _model()
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    compiled = [entry[1] for function in model._functions.values() for entry in function.programs.values()]
    assert compiled and not any(isinstance(c, CudaGraphPlan) for c in compiled)


def test_a_plan_that_cannot_be_captured_runs_as_it_is_with_one_warning() -> None:
    """Capture fails here (no CUDA); the plan's results come back and later calls do not try again."""
    require_backend("torch")
    import torch

    from highnn.backends.torch_backend import CudaGraphPlan

    calls = []

    def plan(a: torch.Tensor) -> tuple[torch.Tensor]:
        calls.append(a)
        return (a + 1,)

    graph_plan = CudaGraphPlan(plan)
    with pytest.warns(UserWarning, match="without a CUDA graph"):
        first = graph_plan(torch.ones(2))
    second = graph_plan(torch.zeros(2))
    assert graph_plan.graph is None and not graph_plan.capturable
    torch.testing.assert_close(first[0], torch.full((2,), 2.0))
    torch.testing.assert_close(second[0], torch.ones(2))
    assert len(calls) == 2
