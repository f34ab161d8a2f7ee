"""Keras 3's guide "Writing your own callbacks" (keras-io guides/writing_your_own_callbacks.py), run as written
after ``import highnn as keras``. MNIST cannot be downloaded here: :func:`load_data` gives 1,000 + 1,000 images of
its shapes and value range whose labels follow their pixels, as the guide's slice of MNIST does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import highnn as keras

pytestmark = pytest.mark.slow  # fits of up to 30 epochs on three backends: tens of seconds


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Stand-in for ``keras.datasets.mnist.load_data()`` (already cut to the guide's 1,000 samples)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2000, 28, 28)).astype("uint8")
    labels = (images.reshape(2000, -1)[:, :392].mean(1) > images.reshape(2000, -1)[:, 392:].mean(1)) * 9
    return (images[:1000], labels[:1000]), (images[1000:], labels[1000:])


def get_model() -> keras.Sequential:
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


@pytest.fixture
def data(backend: str) -> tuple[np.ndarray, ...]:
    (x_train, y_train), (x_test, y_test) = load_data()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
    return x_train[:1000], y_train[:1000], x_test[:1000], y_test[:1000]


class CustomCallback(keras.callbacks.Callback):
    """The guide's callback that prints every hook's log keys; here it also records them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[str]]] = []

    def record(self, hook: str, logs: Any) -> None:
        keys = list(logs.keys())
        print(f"{hook}; got log keys: {keys}")
        self.seen.append((hook, keys))

    def on_train_begin(self, logs: Any = None) -> None:
        self.record("train_begin", logs)

    def on_train_end(self, logs: Any = None) -> None:
        self.record("train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.record("epoch_begin", logs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.record("epoch_end", logs)

    def on_test_begin(self, logs: Any = None) -> None:
        self.record("test_begin", logs)

    def on_test_end(self, logs: Any = None) -> None:
        self.record("test_end", logs)

    def on_predict_begin(self, logs: Any = None) -> None:
        self.record("predict_begin", logs)

    def on_predict_end(self, logs: Any = None) -> None:
        self.record("predict_end", logs)

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.record("train_batch_begin", logs)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.record("train_batch_end", logs)

    def on_test_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.record("test_batch_begin", logs)

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        self.record("test_batch_end", logs)

    def on_predict_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.record("predict_batch_begin", logs)

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        self.record("predict_batch_end", logs)


def test_a_basic_example(data: tuple[np.ndarray, ...]) -> None:
    x_train, y_train, x_test, y_test = data
    model = get_model()
    fitting = CustomCallback()
    model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0, validation_split=0.5, callbacks=[fitting])
    evaluating = CustomCallback()
    model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[evaluating])
    predicting = CustomCallback()
    model.predict(x_test, batch_size=128, callbacks=[predicting])
    seen = dict(fitting.seen)
    assert fitting.seen[0] == ("train_begin", []) and fitting.seen[-1][0] == "train_end"
    assert seen["train_batch_end"] == ["loss", "mean_absolute_error"]
    assert seen["epoch_end"] == ["loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error"]
    assert [hook for hook, _ in fitting.seen].count("train_batch_end") == 4  # 500 samples in batches of 128
    assert dict(evaluating.seen)["test_end"] == ["loss", "mean_absolute_error"]
    assert [hook for hook, _ in predicting.seen].count("predict_batch_end") == 8


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        print(
            "The average loss for epoch {} is {:7.2f} and mean absolute error is {:7.2f}.".format(
                epoch, logs["loss"], logs["mean_absolute_error"]
            )
        )


def test_usage_of_logs_dict(data: tuple[np.ndarray, ...], capsys: pytest.CaptureFixture[str]) -> None:
    x_train, y_train, x_test, y_test = data
    model = get_model()
    model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0, callbacks=[LossAndErrorPrintingCallback()])
    model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[LossAndErrorPrintingCallback()])
    printed = capsys.readouterr().out
    losses = [float(line.split()[-1].rstrip(".")) for line in printed.splitlines() if "average loss is" in line]
    assert len(losses) == 2 * 8 + 8  # 2 epochs of 8 batches, then 8 test batches
    epochs = [line for line in printed.splitlines() if line.startswith("The average loss for epoch")]
    assert len(epochs) == 2 and float(epochs[1].split()[7]) < float(epochs[0].split()[7])


class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    """Stop training when the loss is at its min, i.e. the loss stops decreasing (the guide's class)."""

    def __init__(self, patience: int = 0) -> None:
        super().__init__()
        self.patience = patience
        self.best_weights = None

    def on_train_begin(self, logs: Any = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf  # the guide's np.Inf, an alias NumPy 2 removed

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                print("Restoring model weights from the end of the best epoch.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs: Any = None) -> None:
        if self.stopped_epoch > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


def test_early_stopping_at_minimum_loss(data: tuple[np.ndarray, ...]) -> None:
    x_train, y_train, _, _ = data
    model = get_model()
    stopper = EarlyStoppingAtMinLoss()
    history = model.fit(
        x_train, y_train, batch_size=64, epochs=30, verbose=0, callbacks=[LossAndErrorPrintingCallback(), stopper]
    )
    losses = history.history["loss"]
    assert 1 < len(losses) < 30 and stopper.stopped_epoch == len(losses) - 1  # RMSprop(0.1) overshoots, then stops
    assert losses[-1] >= min(losses[:-1]) and stopper.best == min(losses)
    np.testing.assert_array_equal(model.get_weights()[0], stopper.best_weights[0])


class CustomLearningRateScheduler(keras.callbacks.Callback):
    """Learning rate scheduler which sets the learning rate according to schedule (the guide's class)."""

    def __init__(self, schedule: Any) -> None:
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        lr = self.model.optimizer.learning_rate
        scheduled_lr = self.schedule(epoch, lr)
        self.model.optimizer.learning_rate = scheduled_lr
        print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")


LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]


def lr_schedule(epoch: int, lr: Any) -> Any:
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


def test_learning_rate_scheduling(data: tuple[np.ndarray, ...], capsys: pytest.CaptureFixture[str]) -> None:
    x_train, y_train, _, _ = data
    model = get_model()
    history = model.fit(
        x_train, y_train, batch_size=64, epochs=15, verbose=0,
        callbacks=[LossAndErrorPrintingCallback(), CustomLearningRateScheduler(lr_schedule)],
    )  # fmt: skip
    rates = [float(line.split()[-1].rstrip(".")) for line in capsys.readouterr().out.splitlines() if "Learning" in line]
    assert rates == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.01] * 3 + [0.005] * 3 + [0.001] * 3)  # float32 rates
    assert float(np.array(model.optimizer.learning_rate)) == pytest.approx(0.001)
    losses = history.history["loss"]
    assert min(losses[-3:]) < losses[0]
