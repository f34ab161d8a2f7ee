"""Keras's guide "Training & evaluation with the built-in methods", its Dense parts, on every backend.

The guide's code runs with ``import highnn as keras`` and ``.highnn`` files. MNIST is not
downloaded: scikit-learn's digits, scaled up to 28x28, stand in for it (so the guide's
``60000`` and ``10000`` become the stand-in's sizes), so the guide's printed numbers do not
carry over: the checks are ranges that training of this kind reaches on the stand-in.
The ``tf.data`` cells need TensorFlow and the ``add_loss`` cells belong with ``add_loss``
itself; they are left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import BACKENDS, require_backend

import highnn as keras
from highnn import layers, ops

VALIDATION = 300  # the guide's 10,000, scaled to the stand-in


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each backend in turn, in float32 as the guide runs."""
    require_backend(request.param)
    with keras.config.use_backend(request.param, floatx="float32"):
        keras.utils.set_random_seed(0)
        yield request.param


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``keras.datasets.mnist.load_data()``'s shapes and dtypes from the digits data set: 28x28 uint8 images."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.kron(digits.images, np.ones((3, 3)))  # 8x8 -> 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # -> 28x28
    images = (images * (255 / 16)).astype("uint8")
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], digits.target[order].astype("uint8")
    return (images[:1500], labels[:1500]), (images[1500:], labels[1500:])


def mnist() -> tuple[np.ndarray, ...]:
    """The guide's preprocessing, then its validation hold-out."""
    (x_train, y_train), (x_test, y_test) = load_data()
    x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255
    y_train = y_train.astype("float32")
    y_test = y_test.astype("float32")
    x_val = x_train[-VALIDATION:]
    y_val = y_train[-VALIDATION:]
    x_train = x_train[:-VALIDATION]
    y_train = y_train[:-VALIDATION]
    return x_train, y_train, x_val, y_val, x_test, y_test


def get_uncompiled_model() -> keras.Model:
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def get_compiled_model() -> keras.Model:
    model = get_uncompiled_model()
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


# ------------------------------------------------------------------ API overview: a first end-to-end example
def test_end_to_end(backend: str) -> None:
    x_train, y_train, x_val, y_val, x_test, y_test = mnist()
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(),  # Optimizer
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_data=(x_val, y_val), verbose=0)
    assert list(history.history) == [
        "loss",
        "sparse_categorical_accuracy",
        "val_loss",
        "val_sparse_categorical_accuracy",
    ]
    results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    assert isinstance(results, list) and len(results) == 2
    assert results[0] < 0.7 and results[1] > 0.8
    predictions = model.predict(x_test[:3], verbose=0)
    assert predictions.shape == (3, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


# ------------------------------------------------------------------ compile(): losses, metrics, optimizers
def custom_mean_squared_error(y_true: keras.Tensor, y_pred: keras.Tensor) -> keras.Tensor:
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


class CustomMSE(keras.losses.Loss):
    def __init__(self, regularization_factor: float = 0.1, name: str = "custom_mse") -> None:
        super().__init__(name=name)
        self.regularization_factor = regularization_factor

    def call(self, y_true: keras.Tensor, y_pred: keras.Tensor) -> keras.Tensor:
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
        reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
        return mse + reg * self.regularization_factor


@pytest.mark.parametrize("loss", [custom_mean_squared_error, CustomMSE()], ids=["function", "subclass"])
def test_custom_losses(backend: str, loss: object) -> None:
    x_train, y_train, *_ = mnist()
    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss)
    y_train_one_hot = ops.one_hot(y_train, num_classes=10)
    history = model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, verbose=0)
    assert 0.0 < history.history["loss"][0] < 0.11  # uniform predictions start near 0.09 (+ 0.016 for CustomMSE)


class CategoricalTruePositives(keras.metrics.Metric):
    def __init__(self, name: str = "categorical_true_positives", **kwargs: object) -> None:
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true: keras.Tensor, y_pred: keras.Tensor, sample_weight: object = None) -> None:
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            values = ops.multiply(values, sample_weight)
        self.true_positives.assign_add(ops.sum(values))

    def result(self) -> keras.Tensor:
        return self.true_positives

    def reset_state(self) -> None:
        self.true_positives.assign(0)


def test_custom_metric(backend: str) -> None:
    x_train, y_train, *_ = mnist()
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[CategoricalTruePositives()],
    )
    history = model.fit(x_train, y_train[:, None], batch_size=64, epochs=3, verbose=0)
    positives = history.history["categorical_true_positives"]
    assert positives[0] < positives[-1] <= len(x_train) and positives[-1] > 0.85 * len(x_train)


# (The add_loss cells, "Handling losses and metrics that don't fit the standard signature", come with add_loss.)


def test_validation_split(backend: str) -> None:
    x_train, y_train, *_ = mnist()
    model = get_compiled_model()
    history = model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1, verbose=0)
    assert history.history["val_sparse_categorical_accuracy"][0] > 0.6


# ------------------------------------------------------------------ PyDataset and DataLoader
class ExamplePyDataset(keras.utils.PyDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.x = x
        self.y = y
        self.batch_size = batch_size

    def __len__(self) -> int:
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        batch_x = self.x[idx * self.batch_size : (idx + 1) * self.batch_size]
        batch_y = self.y[idx * self.batch_size : (idx + 1) * self.batch_size]
        return batch_x, batch_y


@pytest.mark.parametrize("workers", [1, 4])
def test_pydataset(backend: str, workers: int) -> None:
    x_train, y_train, x_val, y_val, *_ = mnist()
    train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32, workers=workers)
    val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32, workers=workers)
    model = get_compiled_model()
    with pytest.warns(UserWarning, match="`batch_size=64` is ignored"):  # Keras ignores it silently
        history = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1, verbose=0)
    assert history.params["steps"] == len(train_py_dataset)
    loss, accuracy = model.evaluate(val_py_dataset, verbose=0)
    assert accuracy > 0.8 and loss == pytest.approx(history.history["val_loss"][0], rel=1e-5)


def test_torch_dataloader(backend: str) -> None:
    require_backend("torch")
    import torch

    x_train, y_train, x_val, y_val, *_ = mnist()

    class ExampleTorchDataset(torch.utils.data.Dataset):
        def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
            self.x = x
            self.y = y

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
            return self.x[idx], self.y[idx]

    torch.manual_seed(0)  # the DataLoader shuffles with torch's generator
    train_dataloader = torch.utils.data.DataLoader(ExampleTorchDataset(x_train, y_train), batch_size=32, shuffle=True)
    val_dataloader = torch.utils.data.DataLoader(ExampleTorchDataset(x_val, y_val), batch_size=32, shuffle=True)
    model = get_compiled_model()
    with pytest.warns(UserWarning, match="`batch_size=64` is ignored"):
        model.fit(train_dataloader, batch_size=64, validation_data=val_dataloader, epochs=1, verbose=0)
    _, accuracy = model.evaluate(val_dataloader, verbose=0)
    assert accuracy > 0.7  # one epoch on a fifth of the data (chance: 0.1)


# ------------------------------------------------------------------ sample and class weights
def test_class_and_sample_weights(backend: str) -> None:
    x_train, y_train, *_ = mnist()
    class_weight = {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 2.0, 6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0}
    keras.utils.set_random_seed(1)
    model = get_compiled_model()
    by_class = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1, verbose=0)
    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.0
    keras.utils.set_random_seed(1)
    model = get_compiled_model()
    by_sample = model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1, verbose=0)
    # the same weights either way: the same losses; accuracy is not weighted (it is in `metrics`, not
    # `weighted_metrics`), so it averages over the examples
    for key, values in by_class.history.items():
        np.testing.assert_allclose(by_sample.history[key], values, rtol=1e-6)
    assert 0.4 < by_class.history["sparse_categorical_accuracy"][0] < 1.0


# ------------------------------------------------------------------ several inputs and outputs
def test_multi_input_multi_output(backend: str) -> None:
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")
    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)
    x2 = layers.Conv1D(3, 3)(timeseries_input)
    x2 = layers.GlobalMaxPooling1D()(x2)
    x = layers.concatenate([x1, x2])
    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, name="class_output")(x)
    model = keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "score_output": keras.losses.MeanSquaredError(),
            "class_output": keras.losses.CategoricalCrossentropy(),
        },
        metrics={
            "score_output": [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            "class_output": [keras.metrics.CategoricalAccuracy()],
        },
        loss_weights={"score_output": 2.0, "class_output": 1.0},
    )
    img_data = np.random.random_sample(size=(100, 32, 32, 3))
    ts_data = np.random.random_sample(size=(100, 20, 10))
    score_targets = np.random.random_sample(size=(100, 1))
    class_targets = np.random.random_sample(size=(100, 5))
    history = model.fit(
        {"img_input": img_data, "ts_input": ts_data},
        {"score_output": score_targets, "class_output": class_targets},
        batch_size=32,
        epochs=1,
        verbose=0,
    )
    assert set(history.history) == {
        "loss",
        "score_output_loss",
        "class_output_loss",
        "score_output_mean_absolute_percentage_error",
        "score_output_mean_absolute_error",
        "class_output_categorical_accuracy",
    }
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[keras.losses.MeanSquaredError(), keras.losses.CategoricalCrossentropy()],
    )
    history = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ------------------------------------------------------------------ callbacks, checkpoints, schedules
class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs: dict[str, float]) -> None:
        self.per_batch_losses: list[float] = []

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.per_batch_losses.append(logs.get("loss"))  # type: ignore[arg-type]


def test_callbacks(backend: str) -> None:
    x_train, y_train, *_ = mnist()
    model = get_compiled_model()
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2, verbose=0),
        LossHistory(),
    ]
    history = model.fit(
        x_train, y_train, epochs=20, batch_size=64, callbacks=callbacks, validation_split=0.2, verbose=0
    )
    assert 3 <= len(history.history["loss"]) < 20  # stops once val_loss stalls, as in Keras
    assert len(callbacks[1].per_batch_losses) == len(history.history["loss"]) * int(np.ceil(960 / 64))


def test_checkpointing(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    x_train, y_train, *_ = mnist()
    model = get_compiled_model()
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            filepath="mymodel_{epoch}.highnn", save_best_only=True, monitor="val_loss", verbose=0
        )
    ]
    model.fit(x_train, y_train, epochs=2, batch_size=64, callbacks=callbacks, validation_split=0.2, verbose=0)
    assert {"mymodel_1.highnn", "mymodel_2.highnn"} >= set(os.listdir(".")) > set()

    checkpoint_dir = "./ckpt"
    if not os.path.exists(checkpoint_dir):
        os.makedirs(checkpoint_dir)

    def make_or_restore_model() -> keras.Model:
        checkpoints = [os.path.join(checkpoint_dir, name) for name in os.listdir(checkpoint_dir)]
        if checkpoints:
            latest_checkpoint = max(checkpoints, key=os.path.getctime)
            return keras.models.load_model(latest_checkpoint)
        return get_compiled_model()

    for _ in range(2):
        model = make_or_restore_model()
        callbacks = [
            keras.callbacks.ModelCheckpoint(
                filepath=os.path.join(checkpoint_dir, "model-loss={loss:.2f}.highnn"), save_freq=10
            )
        ]
        model.fit(x_train, y_train, epochs=1, callbacks=callbacks, verbose=0)
    assert len(os.listdir(checkpoint_dir)) >= 2


def test_learning_rate_schedule(backend: str) -> None:
    x_train, y_train, *_ = mnist()
    initial_learning_rate = 0.1
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
    )
    optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
    model = get_uncompiled_model()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(x_train[:256], y_train[:256], batch_size=64, epochs=1, verbose=0)
    assert int(optimizer.iterations.numpy()) == 4
    keras.callbacks.TensorBoard(log_dir="/full_path_to_your_logs", histogram_freq=0, embeddings_freq=0,
                                update_freq="epoch")  # fmt: skip
