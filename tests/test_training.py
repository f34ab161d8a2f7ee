"""compile / fit / evaluate / predict: real data, Keras return shapes, repeatability, compiled vs eager."""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import weakref
from pathlib import Path

import numpy as np
import pytest
from helpers import BACKENDS, require_backend
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import highnn as hn
from highnn import layers
from highnn.backends import to_host
from highnn.config import settings
from highnn.tracing import MAX_PROGRAMS, TracedFunction


def digits_split() -> tuple[np.ndarray, ...]:
    digits = load_digits()
    return tuple(
        train_test_split(digits.data / 16.0, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    )


def classifier(seed: int = 0, inputs: int = 64) -> hn.Sequential:
    hn.utils.set_random_seed(seed)
    return hn.Sequential(
        [hn.Input((inputs,)), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")]
    )


def test_digits_mlp_reaches_95_percent_test_accuracy() -> None:
    x_train, x_test, y_train, y_test = digits_split()
    model = classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=30, validation_split=0.1, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 30 and history.epoch == list(range(30))
    predictions = model.predict(x_test, verbose=0)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (len(x_test), 10)
    assert np.mean(predictions.argmax(axis=1) == y_test) == pytest.approx(accuracy, abs=1e-6)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_sgd_with_momentum_and_categorical_labels_trains() -> None:
    x_train, x_test, y_train, y_test = digits_split()
    model = classifier(1)
    model.compile(
        optimizer=hn.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        loss="categorical_crossentropy",
        metrics=["accuracy", "mse"],
    )
    model.fit(x_train, np.eye(10)[y_train], epochs=10, verbose=0)
    _, accuracy, mse = model.evaluate(x_test, np.eye(10)[y_test], verbose=0)
    assert accuracy >= 0.93 and 0 < mse < 0.02


def test_evaluate_return_forms() -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = x.sum(axis=1, keepdims=True)
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert isinstance(model.evaluate(x, y, verbose=0), float)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    loss, mae = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == {"loss": loss, "mae": mae}
    expected = model.predict(x, verbose=0)
    assert loss == pytest.approx(np.mean((expected - y) ** 2), rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(expected - y)), rel=1e-5)


def test_linear_regression_converges_to_the_least_squares_solution(float64: None) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 4))
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.7
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((4,)), layers.Dense(1)])
    model.compile(optimizer=hn.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=32, epochs=60, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel.ravel(), [1.0, -2.0, 0.5, 3.0], atol=1e-6)
    assert bias[0] == pytest.approx(0.7, abs=1e-6)


def fit_weights(seed: int, run_eagerly: bool, shuffle: bool = True, **fit_args: object) -> list[np.ndarray]:
    x_train, _, y_train, _ = digits_split()
    model = classifier(seed)
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=run_eagerly
    )
    hn.utils.set_random_seed(seed)
    model.fit(x_train[:200], y_train[:200], batch_size=48, epochs=2, shuffle=shuffle, verbose=0, **fit_args)
    return model.get_weights()


def test_same_seed_same_result_and_compiled_equals_eager(float64: None) -> None:
    first, second = fit_weights(5, False), fit_weights(5, False)
    eager = fit_weights(5, True)
    for a, b, c in zip(first, second, eager):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-10)
    other_seed = fit_weights(6, False)
    assert not np.allclose(first[0], other_seed[0])


def test_partial_last_batch_uses_a_second_cached_program() -> None:
    x = np.random.default_rng(0).normal(size=(50, 3)).astype("float32")
    model = hn.Sequential([hn.Input((3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :2], batch_size=16, epochs=3, verbose=0)
    train = model._functions[("train", 2, False, True)]
    assert sorted(key[2][0][0] for key in train.programs) == [2, 16]  # 3 full batches of 16, then 2


def test_sample_weight_and_class_weight_change_the_loss(float64: None) -> None:
    x = np.random.default_rng(0).normal(size=(8, 3))
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=hn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    p = model.predict(x, verbose=0)
    per_example = -np.log(p[np.arange(8), y])
    weights = np.arange(1.0, 9.0)
    history = model.fit(x, y, sample_weight=weights, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(np.mean(per_example * weights))
    history = model.fit(x, y, class_weight={0: 1.0, 1: 3.0}, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(np.mean(per_example * np.where(y == 1, 3.0, 1.0)))


def test_validation_data_steps_per_epoch_and_initial_epoch() -> None:
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x[:, :1] * 2.0
    model = hn.Sequential([hn.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen: list[int] = []
    counter = hn.callbacks.Callback()
    counter.on_train_batch_end = lambda batch, logs=None: seen.append(batch)  # type: ignore[method-assign]
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        initial_epoch=1,
        steps_per_epoch=3,
        validation_data=(x[:8], y[:8]),
        validation_freq=2,
        verbose=0,
        callbacks=[counter],
    )
    assert history.epoch == [1, 2, 3]
    assert seen == [0, 1, 2] * 3
    assert len(history.history["val_loss"]) == 2  # after epochs 1 and 3: (epoch + 1) % 2 == 0


def test_verbose_modes_print_keras_style_progress(capsys: pytest.CaptureFixture[str]) -> None:
    x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    model = hn.Sequential([hn.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(x, x[:, :1], batch_size=10, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 - ") and ("ms/step" in lines[1] or "us/step" in lines[1])
    assert lines[1].index("- loss: ") < lines[1].index("- mae: ")  # logs in alphabetical order, as Keras prints them
    model.fit(x, x[:, :1], batch_size=10, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, x[:, :1], batch_size=10, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/1\n2/2 ━━━━━━━━━━━━━━━━━━━━ ") and "loss: " in out


def test_summary_counts_parameters() -> None:
    model = classifier()
    text = io.StringIO()
    model.summary(print_fn=lambda line: text.write(line))
    out = text.getvalue()
    assert "(None, 64)" in out and "(None, 10)" in out
    assert "Total params: 4,810" in out and "Trainable params: 4,810" in out and "Non-trainable params: 0" in out


def test_weights_are_named_like_keras_and_round_trip() -> None:
    model = classifier()
    names = [w.name for w in model.trainable_weights]
    assert names == ["kernel", "bias", "kernel", "bias"]
    assert [w.shape for w in model.trainable_weights] == [(64, 64), (64,), (64, 10), (10,)]
    assert all(isinstance(w.numpy(), np.ndarray) for w in model.trainable_weights)
    weights = model.get_weights()
    other = classifier(seed=9)
    other.set_weights(weights)
    x = np.random.default_rng(0).random((4, 64))
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(model(x), hn.Tensor)


def test_sequential_add_pop_and_lazy_build() -> None:
    model = hn.Sequential()
    model.add(layers.Dense(8, activation="relu"))
    model.add(layers.Dense(2))
    assert not model.built and model.weights == []
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 5)), np.ones((4, 2)), verbose=0)
    assert model.built and [w.shape for w in model.weights] == [(5, 8), (8,), (8, 2), (2,)]
    assert isinstance(model.pop(), layers.Dense) and len(model.layers) == 1


def test_initial_weights_are_seeded_glorot_uniform() -> None:
    model = classifier(seed=11)
    kernel = model.get_weights()[0]
    limit = np.sqrt(6 / (64 + 64))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert np.all(model.get_weights()[1] == 0)
    np.testing.assert_array_equal(kernel, classifier(seed=11).get_weights()[0])


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_steps_per_execution_gives_the_same_training(run_eagerly: bool, float64: None) -> None:
    x = np.random.default_rng(0).normal(size=(70, 3))
    y = np.random.default_rng(1).integers(0, 2, 70)
    results = []
    for per_call in (1, 4):
        hn.utils.set_random_seed(3)
        model = hn.Sequential(
            [hn.Input((3,)), layers.Dense(4, activation="tanh"), layers.Dense(2, activation="softmax")]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=per_call, run_eagerly=run_eagerly)  # fmt: skip
        ends: list[int] = []
        recorder = hn.callbacks.Callback()
        recorder.on_train_batch_end = lambda batch, logs=None, ends=ends: ends.append(batch)  # type: ignore[method-assign]
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[recorder])
        evaluation = model.evaluate(x, y, batch_size=8, verbose=0)
        predictions = model.predict(x, batch_size=8, verbose=0)
        results.append((model.get_weights(), history.history, evaluation, predictions, ends))
    (w1, h1, e1, p1, ends1), (w4, h4, e4, p4, ends4) = results
    for a, b in zip(w1, w4):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert h1.keys() == h4.keys() and all(h1[key] == pytest.approx(h4[key]) for key in h1)
    assert e1 == pytest.approx(e4)
    np.testing.assert_allclose(p1, p4, atol=1e-12)
    assert ends1 == list(range(9)) * 2 and ends4 == [3, 7, 8] * 2  # 9 batches: groups of 4, 4 and 1


def test_steps_per_execution_must_be_positive() -> None:
    model = hn.Sequential([hn.Input((3,)), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"compile: `steps_per_execution` must be an integer >= 1, received 0\."):
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=0)


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_compiled_and_eager_training_agree_on_every_backend(backend64: str, jit_compile: object) -> None:
    x = np.random.default_rng(0).normal(size=(40, 5))
    y = np.random.default_rng(1).integers(0, 3, 40)
    weights = []
    for run_eagerly in (False, True):
        hn.utils.set_random_seed(2)
        model = hn.Sequential(
            [hn.Input((5,)), layers.Dense(8, activation="gelu"), layers.Dense(3, activation="softmax")]
        )
        model.compile(optimizer=hn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=run_eagerly, jit_compile=jit_compile)  # fmt: skip
        hn.utils.set_random_seed(2)
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        weights.append(model.get_weights())
    for compiled, eager in zip(*weights):
        np.testing.assert_allclose(compiled, eager, rtol=0, atol=1e-10)


def test_jit_compile_must_be_a_known_choice() -> None:
    model = hn.Sequential([hn.Input((3,)), layers.Dense(1)])
    with pytest.raises(
        ValueError, match=r"compile: `jit_compile` must be one of True, False, 'auto', received 'yes'\."
    ):
        model.compile(optimizer="sgd", loss="mse", jit_compile="yes")


def test_jit_compile_true_hands_the_torch_plan_to_torch_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    require_backend("torch")
    import torch

    compiled: list[object] = []

    def spy(fn: object, **options: object) -> object:
        compiled.append(options)
        return fn

    monkeypatch.setattr(torch, "compile", spy)
    with hn.config.use_backend("torch"):
        for jit_compile, calls in (("auto", 0), (True, 1)):
            compiled.clear()
            model = hn.Sequential([hn.Input((3,)), layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
            model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=8, verbose=0)
            assert len(compiled) == calls


# --------------------------------------------- tracing: first step, program cache, float64 on JAX
class Interrupt(hn.callbacks.Callback):
    """Stops a run with an error at the end of ``epoch``, as a crash would."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_resumed_run_is_bit_identical_in_float32(backend: str, tmp_path: Path) -> None:
    """The first step of a signature runs the compiled program too, so a resumed run rounds as the original did."""
    require_backend(backend)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 1))

    def run(callbacks: list[hn.callbacks.Callback], seed: int = 0) -> list[np.ndarray]:
        hn.utils.set_random_seed(seed)
        model = hn.Sequential([hn.Input((5,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
        model.compile(hn.optimizers.Adam(0.01), "mse")
        model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=callbacks)
        return model.get_weights()

    with hn.config.use_backend(backend, floatx="float32"):
        expected = run([])
        backup = hn.callbacks.BackupAndRestore(tmp_path / "backup")
        with pytest.raises(RuntimeError, match="interrupted"):
            run([backup, Interrupt(epoch=1)])
        resumed = run([backup], seed=7)
    for a, b in zip(resumed, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_tracing_changes_no_state_and_the_first_call_runs_the_program() -> None:
    counter = hn.Variable(np.zeros(2), name="counter")
    seen: list[np.ndarray] = []

    def step(x: hn.Tensor) -> list[hn.Tensor]:
        seen.append(counter.numpy())
        counter.assign_add(x)
        return [counter * 2.0]

    traced = TracedFunction(step)
    program = traced.trace(np.ones(2, dtype="float32"))
    np.testing.assert_array_equal(counter.numpy(), [0.0, 0.0])  # traced, not applied
    assert program.updated == [counter]
    (out,) = traced(np.ones(2, dtype="float32"))
    np.testing.assert_array_equal(to_host(out), [2.0, 2.0])
    np.testing.assert_array_equal(counter.numpy(), [1.0, 1.0])  # applied once, by the compiled program
    assert len(seen) == 2  # the Python body ran only while tracing


def test_a_step_failing_while_traced_leaves_the_variables_as_they_were() -> None:
    counter = hn.Variable(np.zeros(2), name="counter")

    def step(x: hn.Tensor) -> list[hn.Tensor]:
        counter.assign_add(x)
        raise RuntimeError("bug after an assignment")

    with pytest.raises(RuntimeError, match="bug after an assignment"):
        TracedFunction(step)(np.ones(2, dtype="float32"))
    np.testing.assert_array_equal(counter.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_program_cache_is_a_bounded_lru(backend: str) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend):
        scale = hn.Variable(np.full((1,), 3.0), name="scale")
        traced = TracedFunction(lambda x: [hn.ops.sum(x * scale)])

        def total(rows: int) -> float:
            (out,) = traced(settings.backend.asarray(np.ones((rows, 1)), "float32"))
            return float(to_host(out))

        assert total(1) == 3.0
        kept = weakref.ref(traced.programs[next(iter(traced.programs))][0])
        evicted = [weakref.ref(traced.programs[key][0]) for key in traced.programs]
        for rows in range(2, MAX_PROGRAMS + 3):
            assert total(rows) == 3.0 * rows
            assert total(1) == 3.0  # used again and again: never the least recently used
            if rows == 2:
                evicted = [weakref.ref(traced.programs[key][0]) for key in traced.programs if key[2][0] == (2, 1)]
        assert len(traced.programs) == MAX_PROGRAMS
        gc.collect()
        assert kept() is not None and evicted[0]() is None  # evicted programs are released
        assert total(2) == 6.0  # traced again, right after its eviction


def test_jax_float64_is_float64_without_the_floatx_setting() -> None:
    require_backend("jax")
    import jax

    with hn.config.use_backend("jax", floatx="float32"):
        try:
            tensor = hn.tensor([1.0, 1e-10], dtype="float64")
            assert tensor.dtype == "float64" and to_host(tensor.value).dtype == np.float64
            assert (tensor + 1.0).dtype == "float64"
            assert (tensor + 1.0).numpy()[1] != 1.0  # float32 would round 1 + 1e-10 to 1
            assert hn.tensor([1.0]).dtype == "float32"  # floatx still rules by default
        finally:
            jax.config.update("jax_enable_x64", False)


def test_without_a_batch_hook_the_train_step_computes_no_logs_and_the_epoch_logs_are_the_metrics(
    backend64: str,
) -> None:
    """fit without a batch hook traces a step that returns nothing (no division of the loss tracker, no
    accuracy read-out each step); the history is what a run whose callback reads every batch's logs records."""
    x = np.random.default_rng(3).normal(size=(40, 3))
    y = np.random.default_rng(4).integers(0, 2, 40)

    class EveryBatch(hn.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[dict[str, float]] = []

        def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
            self.seen.append(dict(logs or {}))

    def trained(callbacks: list[hn.callbacks.Callback]) -> tuple[hn.Sequential, dict[str, list[float]]]:
        hn.utils.set_random_seed(1)
        model = hn.Sequential([hn.Input((3,)), layers.Dense(2, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
        return model, history.history

    quiet, quiet_history = trained([])
    hook = EveryBatch()
    loud, loud_history = trained([hook])
    steps = [{key for key in model._functions if key[0] == "train"} for model in (quiet, loud)]
    assert steps == [{("train", 2, False, True)}, {("train", 2, True, False)}]
    ((program, _),) = quiet._functions[("train", 2, False, True)].programs.values()
    assert program.n_outputs == 0
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(quiet_history[name], loud_history[name], rtol=1e-12)
    np.testing.assert_allclose(hook.seen[-1]["loss"], loud_history["loss"][-1], rtol=1e-12)
    for a, b in zip(quiet.get_weights(), loud.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the counts no step reads are left out of the quiet program and added up after the pass: the same state
    counters = [(v.path, increment) for v, increment in program.counters]
    assert counters == [("loss/count", 8), ("accuracy/count", 8), (quiet.optimizer.iterations.path, 1)]
    assert not {path for path, _ in counters} & {v.path for v in [*program.read, *program.updated]}
    assert int(quiet.optimizer.iterations.numpy()) == int(loud.optimizer.iterations.numpy()) == 10  # 2 x 5 batches
    for a, b in zip(quiet.metrics, loud.metrics):
        for u, v in zip(a.variables, b.variables, strict=True):
            np.testing.assert_array_equal(u.numpy(), v.numpy())


def test_the_counts_left_out_of_a_step_are_added_when_the_data_fails_mid_pass() -> None:
    def batches() -> object:
        for _ in range(4):
            yield np.ones((4, 3)), np.ones((4, 1))
        raise ValueError("the data source failed")

    def counts(callbacks: list[hn.callbacks.Callback]) -> tuple[int, float]:
        model = hn.Sequential([hn.Input((3,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match="the data source failed"):
            model.fit(batches(), epochs=1, verbose=0, callbacks=callbacks)
        return int(model.optimizer.iterations.numpy()), float(model.metrics[0].variables[1].numpy())

    quiet = counts([])
    assert quiet == (4, 16.0)  # every batch the source made ran; the loss tracker counted 4 rows a step
    assert quiet == counts([hn.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: None)])


def test_only_a_variable_the_step_just_advances_by_a_whole_constant_is_left_out() -> None:
    """Adam reads its iteration count (bias correction), and a weighted metric's count adds the sample weights:
    both stay in the program; the loss tracker's and the unweighted metric's counts are added up after the pass."""
    rng = np.random.default_rng(0)
    x, y, weights = rng.normal(size=(20, 3)), rng.integers(0, 2, 20), rng.uniform(size=20)
    model = hn.Sequential([hn.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])  # fmt: skip
    model.fit(x, y, sample_weight=weights, batch_size=20, epochs=2, verbose=0)
    ((program, _),) = model._functions[("train", 3, False, True)].programs.values()
    loss, accuracy, weighted_accuracy = model.metrics
    counted = [(id(v), increment) for v, increment in program.counters]
    assert counted == [(id(loss.variables[1]), 20), (id(accuracy.variables[1]), 20)]
    read = {id(v) for v in program.read}
    assert id(model.optimizer.iterations) in read and id(weighted_accuracy.variables[1]) in read
    assert int(model.optimizer.iterations.numpy()) == 2
    np.testing.assert_allclose(weighted_accuracy.variables[1].numpy(), weights.sum(), rtol=1e-6)


def test_deferred_counts_add_every_run_of_every_program_once() -> None:
    steps = hn.Variable(0, name="steps", trainable=False)
    seen = hn.Variable(0.0, name="seen", trainable=False)
    halves = hn.Variable(0.0, name="halves", trainable=False)

    def step(batch: hn.Tensor) -> list[hn.Tensor]:
        steps.assign_add(1)
        seen.assign_add(float(batch.shape[0]))
        halves.assign_add(0.5)  # not a whole number: stays in the program
        return []

    traced = TracedFunction(step, defer_counters=True)
    for rows in (4, 4, 4, 2):
        traced(np.zeros((rows, 1), "float32"))
    assert int(steps.numpy()) == 0 and float(seen.numpy()) == 0.0 and float(halves.numpy()) == 2.0
    traced.count()
    assert int(steps.numpy()) == 4 and float(seen.numpy()) == 14.0
    traced.count()  # nothing run since: nothing added
    assert int(steps.numpy()) == 4 and float(seen.numpy()) == 14.0


def test_a_custom_train_step_keeps_returning_its_own_logs() -> None:
    class BatchLoss(hn.Sequential):
        def train_step(self, data: object) -> dict[str, object]:
            super().train_step(data)
            return {"batch_size": hn.ops.shape(data[0])[0] * 1.0}  # type: ignore[index]

    model = BatchLoss([hn.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((10, 3)), np.ones(10), batch_size=4, epochs=1, verbose=0)
    assert history.history == {"batch_size": [2.0]}  # the last batch's own logs, not the loss tracker's


def test_metrics_results_are_one_traced_call_that_follows_state_built_on_the_first_batch(backend64: str) -> None:
    """get_metrics_result runs every metric's result() in one traced program (eager scalar ops cost more than a
    small model's step); an R2Score held as an attribute, whose state its first batch shapes, fails as it does
    eagerly before that batch and gets its program after it; run_eagerly computes the results eagerly. The values
    are always the metrics' own."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(24, 3)), rng.normal(size=(24, 2))
    for run_eagerly in (False, True):
        model = hn.Sequential([hn.Input((3,)), layers.Dense(2)])
        model.compile("sgd", "mse", metrics=["mae"], run_eagerly=run_eagerly)
        model.r2 = hn.metrics.R2Score()
        with pytest.raises(ValueError, match="R2Score has seen no data yet"):
            model.get_metrics_result()
        model.r2.update_state(y, np.zeros_like(y))  # built now, under the same key a failed trace left alone
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        results = model.get_metrics_result()
        assert results == {metric.name: float(metric.result().numpy()) for metric in model.metrics}
        assert set(results) == {"loss", "mae", "r2_score"}
        traced = results_programs(model)
        assert len(traced) == (0 if run_eagerly else 1)  # the program of the built state
        model.reset_metrics()  # the same variables, zeroed: the same program
        assert model.get_metrics_result()["loss"] == 0.0
        assert results_programs(model) == traced


def results_programs(model: hn.Model) -> list[tuple[object, ...]]:
    """The keys of the model's traced metrics-results functions that hold a program."""
    return [key for key, function in model._functions.items() if key[0] == "results" and function.programs]


def test_every_program_has_a_name_of_its_own_so_a_profile_tells_them_apart() -> None:
    """cProfile keys functions by file, line and name: the train step's program, the program that adds the step
    counts after the pass and the epoch's metrics program, all generated, are entries with their own call counts."""
    model = classifier(inputs=3)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.zeros((32, 3)), np.zeros(32, dtype=int)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    profiler = cProfile.Profile()
    profiler.enable()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    profiler.disable()
    calls = sorted(
        stats[1] for (filename, _, _), stats in pstats.Stats(profiler).stats.items() if filename == "<highnn program>"
    )
    assert calls == [1, 1, 4]  # the step counts and the metrics' results once, the train step once a batch


def test_in_a_job_of_several_processes_a_trace_computes_on_the_backends_stand_ins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording runs every operation eagerly; with several processes the inputs' and variables' values are the
    backend's ``traceable`` stand-ins (JAX: host copies, or zeros of a sharded array), constants keep theirs,
    and the program computes on the real values."""
    kernel = hn.Variable(np.ones((2, 2), "float32"), name="kernel")
    shift = hn.tensor(np.full(2, 3.0, "float32"))
    batch = np.ones((1, 2), "float32")
    spread = {id(kernel.value): "kernel", id(batch): "batch"}  # as if spread over the processes' devices
    requested: list[str] = []

    def stand_in(x: np.ndarray) -> np.ndarray:
        if id(x) not in spread:
            return x  # what this process holds computes as it is
        requested.append(spread[id(x)])
        return np.full_like(x, 7.0)

    backend = type(settings.backend)
    monkeypatch.setattr(backend, "process_count", lambda self: 2)
    monkeypatch.setattr(backend, "traceable", staticmethod(stand_in))
    while_traced: list[np.ndarray] = []

    def step(x: hn.Tensor) -> list[hn.Tensor]:
        y = x @ kernel + shift
        while_traced.append(y.numpy())
        return [y]

    (result,) = TracedFunction(step)(batch)
    np.testing.assert_array_equal(while_traced[0], [[7 * 7 * 2 + 3] * 2])  # stand-ins for x and kernel, not shift
    assert sorted(requested) == ["batch", "kernel"]
    np.testing.assert_array_equal(to_host(result), [[5.0, 5.0]])  # the program: ones @ ones + 3
