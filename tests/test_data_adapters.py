"""Input pipelines: generators, iterators, PyDataset and torch DataLoader train, evaluate and predict as arrays do."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn

N, BATCH, FEATURES = 40, 8, 3


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES))
    y = (x @ np.array([1.0, -2.0, 0.5]) > 0).astype("float64")[:, None]
    return x, y, rng.uniform(0.5, 2.0, size=N)


def make_model() -> hn.Sequential:
    hn.utils.set_random_seed(1)
    model = hn.Sequential([hn.Input((FEATURES,)), hn.layers.Dense(4, activation="tanh"), hn.layers.Dense(1)])
    model.compile(optimizer=hn.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return model


def batches(*arrays: np.ndarray, epochs: int = 1) -> Iterator[tuple[np.ndarray, ...]]:
    """The arrays' minibatches in order, ``epochs`` times over."""
    for _ in range(epochs):
        for start in range(0, N, BATCH):
            yield tuple(a[start : start + BATCH] for a in arrays)


class Batches(hn.utils.PyDataset):
    """A PyDataset of the arrays' minibatches, recording its hooks and the batches asked for."""

    def __init__(self, *arrays: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrays = arrays
        self.calls: list[str] = []
        self.asked: list[int] = []
        self.threads: set[int] = set()

    def __len__(self) -> int:
        return N // BATCH

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        self.asked.append(index)
        self.threads.add(threading.get_ident())
        return tuple(a[index * BATCH : (index + 1) * BATCH] for a in self.arrays)

    def on_epoch_begin(self) -> None:
        self.calls.append("begin")

    def on_epoch_end(self) -> None:
        self.calls.append("end")


def fit_both(source: Any, **kwargs: Any) -> tuple[hn.Sequential, hn.Sequential, Any, Any]:
    """The same model fitted on arrays (in order, in minibatches) and on ``source``."""
    x, y, _ = data()
    by_arrays, by_source = make_model(), make_model()
    expected = by_arrays.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    history = by_source.fit(source, epochs=2, verbose=0, **kwargs)
    return by_arrays, by_source, expected, history


def assert_same_training(by_arrays: hn.Sequential, by_source: hn.Sequential, expected: Any, history: Any) -> None:
    for a, b in zip(by_arrays.get_weights(), by_source.get_weights()):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    assert history.history.keys() == expected.history.keys()
    for key, values in expected.history.items():
        np.testing.assert_allclose(history.history[key], values, rtol=0, atol=1e-10)


# ------------------------------------------------------------------ generators
def test_generator_fit_equals_array_fit(backend64: str) -> None:
    x, y, _ = data()
    assert_same_training(*fit_both(batches(x, y, epochs=2), steps_per_epoch=N // BATCH))


def test_iterator_and_generator_of_lists_train(backend64: str) -> None:
    x, y, _ = data()
    assert_same_training(*fit_both(iter(list(batches(x, y, epochs=2))), steps_per_epoch=N // BATCH))


def test_generator_with_sample_weights_evaluates_as_arrays(backend64: str) -> None:
    x, y, w = data()
    model = make_model()
    expected = model.evaluate(x, y, sample_weight=w, batch_size=BATCH, verbose=0, return_dict=True)
    logs = model.evaluate(batches(x, y, w), verbose=0, return_dict=True)
    assert logs.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(logs[key], expected[key], rtol=0, atol=1e-12)


@pytest.mark.parametrize("form", ["x", "(x,)", "(x, y)"])
def test_predict_on_a_generator(backend64: str, form: str) -> None:
    x, y, _ = data()
    model = make_model()
    items = {"x": (b[0] for b in batches(x)), "(x,)": batches(x), "(x, y)": batches(x, y)}[form]
    np.testing.assert_allclose(model.predict(items, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-12)


def test_steps_per_epoch_draws_on_from_where_the_last_epoch_stopped(backend64: str) -> None:
    x, y, _ = data()
    drawn: list[int] = []

    def counting() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i, batch in enumerate(batches(x, y, epochs=2)):
            drawn.append(i)
            yield batch

    history = make_model().fit(counting(), steps_per_epoch=3, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and history.params["steps"] == 3
    assert drawn == list(range(9))


def test_a_generator_that_runs_out_warns_and_ends_training(backend64: str) -> None:
    x, y, _ = data()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = make_model().fit(batches(x, y), steps_per_epoch=2, epochs=5, verbose=0)
    assert len(history.history["loss"]) == 3  # 2 + 2 + the last batch, then no more epochs
    with pytest.warns(UserWarning, match="ran out of data"):
        history = make_model().fit(batches(x, y), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1 and history.params["steps"] == N // BATCH


def test_an_infinite_generator_without_steps_runs_until_stopped_as_in_keras(backend64: str) -> None:
    x, y, _ = data()

    class StopAfter(hn.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 6:
                self.model.stop_training = True

    def forever() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            yield from batches(x, y)

    model = make_model()
    seen: list[int] = []
    counter = hn.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    history = model.fit(forever(), epochs=3, callbacks=[StopAfter(), counter], verbose=0)
    assert len(history.history["loss"]) == 1 and seen == list(range(7))


def test_validation_data_from_a_generator_with_validation_steps(backend64: str) -> None:
    x, y, _ = data()
    model = make_model()
    history = model.fit(
        x, y, batch_size=BATCH, epochs=2, verbose=0, validation_data=batches(x, y, epochs=2), validation_steps=5
    )
    assert len(history.history["val_loss"]) == 2
    np.testing.assert_allclose(history.history["val_loss"][-1], model.evaluate(x, y, verbose=0)[0], rtol=1e-10)


def test_multi_input_generator_of_dicts(backend64: str) -> None:
    x, y, _ = data()
    hn.utils.set_random_seed(2)
    a, b = hn.Input((2,), name="a"), hn.Input((1,), name="b")
    out = hn.layers.Dense(1)(hn.layers.Concatenate()([a, b]))
    model = hn.Model([a, b], out)
    model.compile(optimizer="sgd", loss="mse")
    inputs = {"a": x[:, :2], "b": x[:, 2:]}
    expected = model.evaluate(inputs, y, batch_size=BATCH, verbose=0)
    dicts = ({"a": xb[:, :2], "b": xb[:, 2:]} for xb in (xb for xb, _ in batches(x, y)))
    labelled = zip(dicts, (yb for _, yb in batches(x, y)))
    np.testing.assert_allclose(model.evaluate(labelled, verbose=0), expected, rtol=0, atol=1e-12)
    lists = ([xb[:, :2], xb[:, 2:]] for xb, _ in batches(x, y))  # a generator's tuple is (x, y): inputs as a list
    np.testing.assert_allclose(model.predict(lists, verbose=0), model.predict(inputs, verbose=0), atol=1e-12)


# ------------------------------------------------------------------ PyDataset
def test_pydataset_fit_equals_array_fit_and_calls_the_epoch_hooks(backend64: str) -> None:
    x, y, _ = data()
    dataset = Batches(x, y)
    assert_same_training(*fit_both(dataset, shuffle=False))
    assert dataset.calls == ["begin", "end"] * 2
    assert dataset.asked == list(range(5)) * 2  # the first batch, checked against the model first, is not loaded twice


def test_pydataset_workers_load_in_threads_in_order(backend64: str) -> None:
    x, y, _ = data()
    dataset = Batches(x, y, workers=3, max_queue_size=2)
    assert_same_training(*fit_both(dataset, shuffle=False))
    assert dataset.threads and threading.get_ident() not in dataset.threads


def test_pydataset_shuffle_reorders_batches_every_epoch() -> None:
    x, y, _ = data()
    dataset = Batches(x, y)
    hn.utils.set_random_seed(3)
    make_model().fit(dataset, epochs=4, verbose=0)
    epochs = [dataset.asked[5 * e : 5 * e + 5] for e in range(4)]
    assert all(sorted(order) == list(range(5)) for order in epochs)
    assert any(order != list(range(5)) for order in epochs)


def test_pydataset_class_weight_weighs_the_loss(float64: None) -> None:
    x, y, _ = data()
    model = make_model()
    weights = {0: 1.0, 1: 3.0}
    expected = make_model().fit(x, y, batch_size=BATCH, shuffle=False, class_weight=weights, verbose=0)
    history = model.fit(Batches(x, y), shuffle=False, class_weight=weights, verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=0, atol=1e-12)


def test_pydataset_as_validation_data_and_for_predict(backend64: str) -> None:
    x, y, _ = data()
    model = make_model()
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=Batches(x, y))
    np.testing.assert_allclose(history.history["val_loss"], [model.evaluate(x, y, verbose=0)[0]], rtol=1e-10)
    np.testing.assert_allclose(model.predict(Batches(x), verbose=0), model.predict(x, verbose=0), atol=1e-12)


def test_pydataset_must_define_its_batches() -> None:
    with pytest.raises(NotImplementedError, match="must define __len__"):
        make_model().fit(hn.utils.PyDataset(), verbose=0)


# ------------------------------------------------------------------ torch DataLoader
def test_torch_dataloader_fit_evaluate_predict(backend64: str) -> None:
    require_backend("torch")
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x, y, _ = data()
    loader = DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=BATCH, shuffle=False)
    by_arrays, by_loader, expected, history = fit_both(loader, shuffle=False)
    assert_same_training(by_arrays, by_loader, expected, history)
    assert history.params["steps"] == N // BATCH
    np.testing.assert_allclose(
        by_loader.evaluate(loader, verbose=0), by_loader.evaluate(x, y, batch_size=BATCH, verbose=0), atol=1e-12
    )
    only_x = DataLoader(torch.tensor(x), batch_size=BATCH)
    np.testing.assert_allclose(by_loader.predict(only_x, verbose=0), by_loader.predict(x, verbose=0), atol=1e-12)


def test_importing_highnn_does_not_import_torch() -> None:
    code = "import sys, highnn; highnn.utils.PyDataset; assert 'torch' not in sys.modules, 'torch was imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"HIGHNN_BACKEND": "numpy"}
    )
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ bad inputs
def empty() -> Iterator[Any]:
    yield from ()


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "message"),
    [
        ("text", {}, TypeError, r"fit: `x` must be NumPy, torch or JAX arrays .* a Python generator or iterator .*"
         r"`highnn.utils.PyDataset` or a `torch.utils.data.DataLoader`, received 'text' of type str\."),
        (None, {}, TypeError, r"fit: `x` must be NumPy, torch or JAX arrays .*received None of type NoneType\."),
        ({1, 2}, {}, TypeError, r"fit: `x` must be .*received \{1, 2\} of type set\."),
        ("gen", {"y": np.zeros((N, 1))}, ValueError, r"fit: `y` must not be passed when `x` is a generator"),
        ("gen", {"sample_weight": np.ones(N)}, ValueError, r"fit: `sample_weight` must not be passed"),
        ("gen", {"class_weight": {0: 1.0}}, ValueError, r"fit: `class_weight` must not be passed when `x` is a gen"),
        ("gen", {"validation_split": 0.2}, ValueError, r"fit: `validation_split` must be 0 when `x` is a generator"),
        ("x only", {}, ValueError, r"fit\(\) needs targets: pass `y` in each batch\."),
        ("four", {}, ValueError, r"fit: a batch from the generator must be `x`, `\(x,\)`, `\(x, y\)` or "
         r"`\(x, y, sample_weight\)`, received a tuple of 4 items\."),
        ("empty", {}, ValueError, r"fit: `x` must yield at least one batch, received an empty generator\."),
        ("nan", {}, ValueError, r"`x` contains 1 NaN or Inf value\(s\)"),
        ("gen", {"batch_size": 0}, ValueError, r"fit: `batch_size` must be an integer >= 1, received 0"),
    ],
)  # fmt: skip
def test_bad_inputs_are_refused_before_anything_changes(
    x: Any, kwargs: dict[str, Any], error: type, message: str
) -> None:
    xs, y, _ = data()
    bad = xs.copy()
    bad[3, 1] = np.nan
    sources = {
        "gen": lambda: batches(xs, y),
        "dataset": lambda: Batches(xs, y),
        "x only": lambda: (b[0] for b in batches(xs)),
        "four": lambda: (b + (b[1], b[1]) for b in batches(xs, y)),
        "empty": empty,
        "nan": lambda: batches(bad, y),
    }
    model = make_model()
    before = model.get_weights()
    with pytest.raises(error, match=message):
        model.fit(sources[x]() if isinstance(x, str) and x in sources else x, verbose=0, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not model.optimizer.built


def test_evaluate_and_predict_name_the_accepted_types() -> None:
    model = make_model()
    with pytest.raises(TypeError, match=r"evaluate: `x` must be NumPy, torch or JAX arrays"):
        model.evaluate(object(), verbose=0)
    with pytest.raises(TypeError, match=r"predict: `x` must be NumPy, torch or JAX arrays"):
        model.predict("text", verbose=0)


def test_batch_size_is_ignored_with_a_warning_for_inputs_that_bring_batches(backend64: str) -> None:
    x, y, _ = data()
    model = make_model()
    with pytest.warns(UserWarning, match=r"predict: `batch_size=4` is ignored when `x` is a generator"):
        predicted = model.predict(batches(x), batch_size=4, verbose=0)
    np.testing.assert_allclose(predicted, model.predict(x, verbose=0), atol=1e-12)
    with pytest.warns(UserWarning, match=r"fit: `batch_size=64` is ignored when `x` is a PyDataset"):
        history = model.fit(Batches(x, y), batch_size=64, verbose=0)
    assert history.params["steps"] == N // BATCH


def test_torch_data_parallel_takes_arrays_only() -> None:
    """Each process takes its share of every global batch, which a generator cannot give: a clear error, before
    anything changes."""
    require_backend("torch")
    with hn.config.use_backend("torch", floatx="float64"):
        hn.utils.set_random_seed(0)
        model = hn.Sequential([hn.Input((3,)), hn.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        before = model.get_weights()
        batches = ((np.ones((4, 3)), np.ones((4, 1))) for _ in range(2))
        with hn.distribution.DataParallel().scope(), pytest.raises(TypeError, match="arrays under torch DataParallel"):
            model.fit(batches, epochs=1, verbose=0)
        for old, new in zip(before, model.get_weights()):
            np.testing.assert_array_equal(old, new)


# ------------------------------------------------------------------ arrays: batches cut from chunks
@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_array_batches_are_cut_from_chunks_of_whole_batches(
    backend: str, shuffle: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gathering (and converting) a chunk of 3 batches at once hands out exactly the batches of one permutation,
    the last one short; on NumPy the batches of a chunk are views of one array."""
    require_backend(backend)
    x, y = np.arange(70 * 3, dtype="float32").reshape(70, 3), np.arange(70)
    monkeypatch.setattr(hn.data, "GATHER_BYTES", 3 * 8 * (x[:1].nbytes + y[:1].nbytes))
    with hn.config.use_backend(backend):
        cut = hn.data.Batches({"x": x, "y": y}, 8, shuffle=shuffle)
        assert cut.chunk_size == 24 and len(cut) == 9
        hn.utils.set_random_seed(3)
        got = list(cut)
        hn.utils.set_random_seed(3)
        order = hn.random.generator().permutation(70) if shuffle else np.arange(70)
    assert len(got) == 9
    for start, (x_batch, y_batch) in zip(range(0, 70, 8), got):
        np.testing.assert_array_equal(hn.backends.to_host(x_batch), x[order[start : start + 8]])
        np.testing.assert_array_equal(hn.backends.to_host(y_batch), y[order[start : start + 8]])
    if backend == "numpy" and shuffle:
        assert got[0][0].base is got[2][0].base is not got[3][0].base  # chunks of 3 batches, gathered once each
    for batch in got:  # NumPy batches (NumPy; JAX on a CPU) start on the alignment XLA reads in place
        for array in batch:
            assert not isinstance(array, np.ndarray) or array.ctypes.data % hn.data.BATCH_ALIGNMENT == 0


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("row_shape", [(), (3,), (5, 7)])
@pytest.mark.parametrize("batch_size", [1, 7, 16, 32])
def test_aligned_batches_start_on_the_alignment_and_hold_the_rows(
    dtype: str, row_shape: tuple[int, ...], batch_size: int
) -> None:
    rows = (np.arange(70 * int(np.prod(row_shape))) % 97).reshape(70, *row_shape)  # int64: converted on the way
    got = hn.data.aligned_batches(rows, batch_size, np.dtype(dtype))
    starts = range(0, 70, batch_size)
    assert [len(batch) for batch in got] == [min(batch_size, 70 - start) for start in starts]
    for start, batch in zip(starts, got):
        assert batch.ctypes.data % hn.data.BATCH_ALIGNMENT == 0
        assert batch.dtype == dtype and batch.flags.c_contiguous
        np.testing.assert_array_equal(batch, rows[start : start + batch_size].astype(dtype))


def test_aligned_rows_whose_batches_fill_whole_alignments_are_cut_in_place() -> None:
    """No copy where every batch already starts on the alignment; a copy where one would not."""
    (rows,) = hn.data.aligned_batches(np.ones((64, 16), "float32"), 64, np.dtype("float32"))
    assert all(np.shares_memory(batch, rows) for batch in hn.data.aligned_batches(rows, 16, np.dtype("float32")))
    for other in [rows.reshape(-1)[4:].reshape(255, 4), rows.astype("float64")]:  # 16 bytes off; another dtype
        assert not any(np.shares_memory(b, rows) for b in hn.data.aligned_batches(other, 16, np.dtype("float32")))
    uneven = hn.data.aligned_batches(rows, 3, np.dtype("float32"))  # 3 rows of 64 bytes: every batch fits
    assert all(np.shares_memory(batch, rows) for batch in uneven)
    odd = hn.data.aligned_batches(rows[:, :3], 4, np.dtype("float32"))  # 48-byte batches: padded apart
    assert [b.ctypes.data % hn.data.BATCH_ALIGNMENT for b in odd] == [0] * 16


def test_a_batch_larger_than_the_gather_budget_is_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hn.data, "GATHER_BYTES", 1)
    assert hn.data.Batches({"x": np.zeros((10, 4))}, 4, shuffle=True).chunk_size == 4
