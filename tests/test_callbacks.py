"""Monitoring callbacks: EarlyStopping, ReduceLROnPlateau, LearningRateScheduler, TerminateOnNaN, CSVLogger,
LambdaCallback, and the order in which ``fit`` calls hooks.

Scripted sequences drive the hooks directly; real fits (tiny Dense models, float64) check that the callbacks
act on training: the learning rate actually used by the compiled step, the weights restored, where a run stops.
Expected values are derived by hand in comments or computed in NumPy here, never copied from the implementation.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


# ---------------------------------------------------------------- fixtures
pytestmark = pytest.mark.usefixtures("float64")  # NumPy in float64 unless a test asks for `backend64`


@pytest.fixture
def regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3))
    return x, x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3


def make_model(
    learning_rate: float | hn.optimizers.schedules.LearningRateSchedule = 0.1,
    inputs: int = 3,
    run_eagerly: bool = False,
) -> hn.Sequential:
    """Dense(1) on ``inputs`` features, plain SGD (``w -= lr * g``), mean squared error."""
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input(shape=(inputs,)), hn.layers.Dense(1)])
    model.compile(hn.optimizers.SGD(learning_rate), "mse", run_eagerly=run_eagerly)
    return model


def learning_rate(model: hn.Sequential) -> float:
    return float(model.optimizer.learning_rate.numpy())


def script(key: str, values: list[float]) -> LambdaCallback:
    """Writes ``values[epoch]`` into the epoch logs as ``key`` (put it before the callback under test)."""
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update({key: values[epoch]}))


def drive(callback: Callback, model: hn.Sequential, monitor: str, values: list[float]) -> list[int]:
    """Call the hooks as ``fit`` would with scripted logs; returns the epochs that ran."""
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin({})
    epochs = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {monitor: value})
        epochs.append(epoch)
        if model.stop_training:
            break
    callback.on_train_end({})
    return epochs


class SGDSteps(Callback):
    """With one full batch per epoch: the weights before and after each epoch's step and the gradient there."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.before: list[list[np.ndarray]] = []
        self.gradients: list[list[np.ndarray]] = []
        self.after: list[list[np.ndarray]] = []

    def _weights(self) -> list[np.ndarray]:
        return [np.array(w.numpy()) for w in self.model.trainable_weights]

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.before.append(self._weights())
        self.gradients.append(self.model.compute_gradients(self.x, self.y))

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.after.append(self._weights())

    def check_learning_rates(self, rates: list[float]) -> None:
        """Each epoch's step was ``w - rate * grad`` with that epoch's rate."""
        assert len(self.after) == len(rates)
        for before, gradients, after, rate in zip(self.before, self.gradients, self.after, rates):
            for w0, g, w1 in zip(before, gradients, after):
                np.testing.assert_allclose(w1, w0 - rate * g, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------ EarlyStopping
@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_early_stopping_patience_on_scripted_values(patience: int) -> None:
    # The best value is 8.0 at epoch 2; every later value is worse, so the wait reaches `patience` at epoch
    # 2 + patience. With patience 0 the first non-improving epoch (3) stops: the wait is counted before the check.
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    stopper = EarlyStopping(monitor="loss", patience=patience)
    epochs = drive(stopper, make_model(), "loss", losses)
    assert stopper.stopped_epoch == 2 + max(patience, 1)
    assert epochs[-1] == stopper.stopped_epoch
    assert stopper.best == 8.0 and stopper.best_epoch == 2


def test_early_stopping_never_stops_at_epoch_zero() -> None:
    model = make_model()
    stopper = EarlyStopping(monitor="loss", patience=0)
    assert drive(stopper, model, "loss", [1.0]) == [0]
    assert not model.stop_training and stopper.stopped_epoch == 0


def test_early_stopping_min_delta_and_auto_max_for_accuracy() -> None:
    # val_accuracy improves upwards; with min_delta 0.05 the step 0.6 -> 0.605 is no improvement, so with
    # patience 1 training stops at epoch 2.
    stopper = EarlyStopping(monitor="val_accuracy", min_delta=-0.05, patience=1)
    assert stopper.min_delta == 0.05  # Keras takes the absolute value
    assert drive(stopper, make_model(), "val_accuracy", [0.5, 0.6, 0.605, 0.9]) == [0, 1, 2]
    assert stopper.stopped_epoch == 2 and stopper.best == 0.6


@pytest.mark.parametrize(
    ("monitor", "mode", "lower_is_better"),
    [("val_loss", "auto", True), ("loss", "auto", True), ("val_mse", "auto", True), ("accuracy", "auto", False),
     ("val_binary_accuracy", "auto", False), ("val_loss", "max", False), ("val_accuracy", "min", True)],
)  # fmt: skip
def test_mode_direction(monitor: str, mode: str, lower_is_better: bool) -> None:
    for callback in (EarlyStopping(monitor=monitor, mode=mode), ReduceLROnPlateau(monitor=monitor, mode=mode)):
        assert callback.monitor_op(1.0, 2.0) is lower_is_better


def test_early_stopping_baseline_and_restore_best_weights_when_nothing_beats_the_baseline() -> None:
    # Keras's case: no value beats the baseline 0.5, so the wait never restarts: it reaches patience 5 at
    # epoch 4; the best epoch (0.7, epoch 2) is restored anyway.
    model = make_model()
    model.build((None, 3))
    epoch_weights: list[list[np.ndarray]] = []
    stopper = EarlyStopping(monitor="val_loss", patience=5, baseline=0.5, restore_best_weights=True)
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch, value in enumerate([0.9, 0.8, 0.7, 0.71, 0.72, 0.73]):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        epoch_weights.append(model.get_weights())
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            break
    stopper.on_train_end()
    assert epoch == 4 and stopper.stopped_epoch == 4 and stopper.best_epoch == 2
    for restored, expected in zip(model.get_weights(), epoch_weights[2]):
        np.testing.assert_array_equal(restored, expected)


def test_early_stopping_baseline_beaten_restarts_the_wait() -> None:
    # 0.4 beats the baseline 0.5 at epoch 1, so the wait restarts there; patience 2 stops at epoch 3.
    stopper = EarlyStopping(monitor="val_loss", patience=2, baseline=0.5)
    assert drive(stopper, make_model(), "val_loss", [0.9, 0.4, 0.45, 0.46, 0.3]) == [0, 1, 2, 3]


def test_early_stopping_start_from_epoch() -> None:
    # Rising values stop at epoch 1 with patience 1; with start_from_epoch=2 epochs 0 and 1 are ignored,
    # epoch 2 sets the best and epoch 3 stops.
    rising = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert drive(EarlyStopping(monitor="loss", patience=1), make_model(), "loss", rising)[-1] == 1
    stopper = EarlyStopping(monitor="loss", patience=1, start_from_epoch=2)
    assert drive(stopper, make_model(), "loss", rising)[-1] == 3
    assert stopper.best == 3.0


def test_early_stopping_resets_between_fits() -> None:
    model = make_model()
    stopper = EarlyStopping(monitor="loss", patience=1)
    assert drive(stopper, model, "loss", [1.0, 2.0, 3.0]) == [0, 1]
    # A second run must not remember the best value 1.0 of the first one.
    assert drive(stopper, model, "loss", [5.0, 4.0, 3.0]) == [0, 1, 2]
    assert stopper.stopped_epoch == 0 and stopper.best == 3.0


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_early_stopping_in_fit_restores_the_best_epoch(
    backend64: str, regression: tuple[np.ndarray, np.ndarray], run_eagerly: bool
) -> None:
    # Scripted score: best 1.0 at epoch 2, then worse; patience 2 stops at epoch 4 (5 epochs run).
    x, y = regression
    model = make_model(run_eagerly=run_eagerly)
    snapshots: list[list[np.ndarray]] = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append([np.array(w) for w in model.get_weights()]))
    stopper = EarlyStopping(monitor="score", mode="min", patience=2, restore_best_weights=True)
    history = model.fit(
        x,
        y,
        batch_size=4,
        epochs=10,
        verbose=0,
        shuffle=False,
        callbacks=[script("score", [3.0, 2.0, 1.0, 1.5, 1.2, 0.1, 0.1, 0.1, 0.1, 0.1]), keep, stopper],
    )
    assert history.epoch == [0, 1, 2, 3, 4]
    assert stopper.stopped_epoch == 4 and stopper.best_epoch == 2
    assert not np.array_equal(snapshots[2][0], snapshots[4][0])  # training moved the weights after the best epoch
    for restored, expected in zip(model.get_weights(), snapshots[2]):
        np.testing.assert_array_equal(restored, expected)


def test_early_stopping_on_real_val_loss() -> None:
    # Six noisy training points, clean validation data: val_loss falls, then rises as the model fits the noise.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5))
    y = x[:, :1] + rng.normal(size=(6, 1))
    x_val = rng.normal(size=(20, 5))
    data = dict(x=x, y=y, batch_size=6, verbose=0, shuffle=False, validation_data=(x_val, x_val[:, :1]))
    reference = make_model(inputs=5)
    snapshots: list[list[np.ndarray]] = []
    keep = LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append([np.array(w) for w in reference.get_weights()])
    )
    val_loss = reference.fit(epochs=20, callbacks=[keep], **data).history["val_loss"]
    best = int(np.argmin(val_loss))
    assert 0 < best < 18, "the trajectory must turn upwards for this test to mean anything"
    patience = 2
    # Keras's rule with min_delta 0: stop at the first epoch whose distance to the best so far reaches patience.
    expected_stop = next(e for e in range(1, 20) if e - int(np.argmin(val_loss[: e + 1])) >= patience)

    model = make_model(inputs=5)
    stopper = EarlyStopping(patience=patience, restore_best_weights=True)  # monitor="val_loss" by default
    history = model.fit(epochs=20, callbacks=[stopper], **data)
    assert stopper.stopped_epoch == expected_stop and len(history.epoch) == expected_stop + 1
    np.testing.assert_allclose(history.history["val_loss"], val_loss[: expected_stop + 1], rtol=1e-12)
    for restored, expected in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_allclose(restored, expected, rtol=1e-12)


def test_early_stopping_warns_when_the_monitored_key_is_missing(regression: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = regression
    with pytest.warns(UserWarning, match=r"Early stopping conditioned on metric `val_loss` which is not available\. "
                                         r"Available metrics are: loss"):  # fmt: skip
        history = make_model().fit(x, y, epochs=3, verbose=0, callbacks=[EarlyStopping()])
    assert history.epoch == [0, 1, 2]


def test_early_stopping_verbose_messages(capsys: pytest.CaptureFixture[str]) -> None:
    drive(
        EarlyStopping(monitor="loss", patience=1, verbose=1, restore_best_weights=True),
        make_model(),
        "loss",
        [1.0, 0.5, 0.7],
    )
    assert (
        capsys.readouterr().out
        == "Epoch 3: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


# -------------------------------------------------------- ReduceLROnPlateau
SCRIPT = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.8, 0.85]


@pytest.mark.parametrize(
    ("options", "values", "expected_rates"),
    [
        # Best 0.9 at epoch 1; epochs 2, 3 do not improve -> halve at 3; 4, 5 -> halve at 5; 0.8 improves at 6.
        (dict(patience=2, min_delta=0.0), SCRIPT, [0.8, 0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.2]),
        # cooldown 2 after the cut at epoch 3: epoch 4 is in cooldown (no count), epoch 5 leaves it and counts 1,
        # epoch 6 improves: no second cut.
        (dict(patience=2, cooldown=2, min_delta=0.0), SCRIPT, [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.4, 0.4]),
        # patience 1, never improving: 0.8 -> 0.4 -> max(0.2, min_lr 0.3) = 0.3, then it stays at min_lr.
        (dict(patience=1, min_lr=0.3, min_delta=0.0), [1.0, 2.0, 3.0, 4.0, 5.0], [0.8, 0.4, 0.3, 0.3, 0.3]),
        # The default min_delta 1e-4: 0.99995 is no improvement on 1.0 (cut), 0.9998 is (no cut).
        (dict(patience=1), [1.0, 0.99995, 0.9998], [0.8, 0.4, 0.4]),
        # factor 0 drops straight to min_lr.
        (dict(patience=1, factor=0.0, min_lr=0.01, min_delta=0.0), [1.0, 2.0, 3.0], [0.8, 0.01, 0.01]),
    ],
)  # fmt: skip
def test_reduce_lr_on_plateau_scripted(
    options: dict[str, Any], values: list[float], expected_rates: list[float]
) -> None:
    model = make_model(learning_rate=0.8)
    reduce = ReduceLROnPlateau(**{"factor": 0.5, **options})  # monitor="val_loss" by default
    reduce.set_model(model)
    reduce.on_train_begin()
    rates, logged = [], []
    for epoch, value in enumerate(values):
        logs = {"val_loss": value}
        reduce.on_epoch_end(epoch, logs)
        rates.append(learning_rate(model))
        logged.append(logs["learning_rate"])
    np.testing.assert_allclose(rates, expected_rates, rtol=1e-15)
    np.testing.assert_allclose(logged, [0.8] + expected_rates[:-1], rtol=1e-15)  # the rate each epoch trained with


def test_reduce_lr_on_plateau_auto_mode_follows_accuracy_upwards() -> None:
    # Falling accuracy is a plateau (cut every epoch with patience 1); falling loss is progress (no cut).
    for monitor, expected in (("val_accuracy", [0.8, 0.4, 0.2]), ("val_loss", [0.8, 0.8, 0.8])):
        model = make_model(learning_rate=0.8)
        reduce = ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=1)
        reduce.set_model(model)
        rates = []
        for epoch, value in enumerate([0.5, 0.4, 0.3]):
            reduce.on_epoch_end(epoch, {monitor: value})
            rates.append(learning_rate(model))
        np.testing.assert_allclose(rates, expected, rtol=1e-15)


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_reduce_lr_on_plateau_changes_the_rate_the_step_uses(
    backend64: str, regression: tuple[np.ndarray, np.ndarray], run_eagerly: bool
) -> None:
    # Score 3, 2, 2, 2, 1 with patience 1: cuts at the ends of epochs 2 and 3, so epochs train with
    # 0.1, 0.1, 0.1, 0.05, 0.025.
    x, y = regression
    model = make_model(learning_rate=0.1, run_eagerly=run_eagerly)
    steps = SGDSteps(x, y)
    reduce = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1)
    history = model.fit(x, y, batch_size=len(x), epochs=5, verbose=0, shuffle=False,
                        callbacks=[script("score", [3.0, 2.0, 2.0, 2.0, 1.0]), reduce, steps])  # fmt: skip
    rates = [0.1, 0.1, 0.1, 0.05, 0.025]
    np.testing.assert_allclose(history.history["learning_rate"], rates, rtol=1e-15)
    steps.check_learning_rates(rates)
    assert learning_rate(model) == pytest.approx(0.025, rel=1e-15)  # epoch 4 improved (1 < 2): no further cut


def test_reduce_lr_on_plateau_warns_and_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(learning_rate=0.8)
    reduce = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, verbose=True)  # Keras scripts pass booleans
    reduce.set_model(model)
    with pytest.warns(UserWarning, match=r"Learning rate reduction is conditioned on metric `val_loss` which is not "
                                         r"available\. Available metrics are: loss,learning_rate"):  # fmt: skip
        reduce.on_epoch_end(0, {"loss": 1.0})
    reduce.on_epoch_end(1, {"val_loss": 1.0})
    reduce.on_epoch_end(2, {"val_loss": 1.0})
    assert capsys.readouterr().out == "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.4.\n"


SCHEDULE = hn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)  # set by the step, not settable


def test_reduce_lr_on_plateau_rejects_a_schedule_driven_optimizer() -> None:
    model = make_model(learning_rate=SCHEDULE)
    reduce = ReduceLROnPlateau(monitor="loss", patience=0)
    reduce.set_model(model)
    with pytest.raises(TypeError, match=r"SGD .*schedule.* cannot be set .*0\.01"):
        reduce.on_epoch_end(0, {"loss": 1.0})
        reduce.on_epoch_end(1, {"loss": 1.0})


# ----------------------------------------------------- LearningRateScheduler
@pytest.mark.parametrize("run_eagerly", [False, True])
def test_scheduler_sets_the_rate_the_compiled_step_uses(
    backend64: str, regression: tuple[np.ndarray, np.ndarray], run_eagerly: bool
) -> None:
    # schedule(epoch, lr) multiplies the current rate by 0.5 ** epoch: 0.1, 0.1 * 0.5, 0.05 * 0.25, 0.0125 * 0.125.
    x, y = regression
    model = make_model(learning_rate=0.1, run_eagerly=run_eagerly)
    steps = SGDSteps(x, y)
    calls: list[tuple[int, float]] = []

    def schedule(epoch: int, lr: float) -> float:
        calls.append((epoch, lr))
        return lr * 0.5**epoch

    history = model.fit(x, y, batch_size=len(x), epochs=4, verbose=0, shuffle=False,
                        callbacks=[LearningRateScheduler(schedule), steps])  # fmt: skip
    rates = [0.1, 0.05, 0.0125, 0.0015625]
    assert [epoch for epoch, _ in calls] == [0, 1, 2, 3]
    np.testing.assert_allclose([lr for _, lr in calls], [0.1] + rates[:-1], rtol=1e-15)  # the current rate is passed
    np.testing.assert_allclose(history.history["learning_rate"], rates, rtol=1e-15)
    steps.check_learning_rates(rates)
    assert learning_rate(model) == pytest.approx(rates[-1], rel=1e-15)


def test_scheduler_compiled_and_eager_agree(regression: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = regression
    final = []
    for run_eagerly in (False, True):
        model = make_model(learning_rate=0.3, run_eagerly=run_eagerly)
        model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False,
                  callbacks=[LearningRateScheduler(lambda epoch: 0.2 / (epoch + 1))])  # fmt: skip
        final.append(model.get_weights())
    for compiled, eager in zip(*final):
        np.testing.assert_allclose(compiled, eager, rtol=1e-12)


def test_scheduler_one_argument_schedule_and_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(learning_rate=0.1)
    scheduler = LearningRateScheduler(lambda epoch: [0.5, np.float64(0.25)][epoch], verbose=1)
    scheduler.set_model(model)
    scheduler.on_epoch_begin(0)
    assert learning_rate(model) == 0.5
    scheduler.on_epoch_begin(1)
    assert learning_rate(model) == 0.25
    assert capsys.readouterr().out == ("\nEpoch 1: LearningRateScheduler setting learning rate to 0.5.\n"
                                       "\nEpoch 2: LearningRateScheduler setting learning rate to 0.25.\n")  # fmt: skip


@pytest.mark.parametrize("returned", ["0.1", None, [0.1], -0.1, math.nan, True])
def test_scheduler_rejects_a_bad_schedule_output(returned: Any) -> None:
    scheduler = LearningRateScheduler(lambda epoch, lr: returned)
    scheduler.set_model(make_model())
    with pytest.raises(ValueError, match=rf"LearningRateScheduler: `schedule` must return a non-negative finite float, "
                                         rf"returned {re.escape(repr(returned))} for epoch 3\."):  # fmt: skip
        scheduler.on_epoch_begin(3)


def test_scheduler_with_a_schedule_driven_optimizer_fails_clearly() -> None:
    scheduler = LearningRateScheduler(lambda epoch, lr: 0.1)
    scheduler.set_model(make_model(learning_rate=SCHEDULE))
    with pytest.raises(TypeError, match=r"SGD .*schedule.* cannot be set .*0\.1"):
        scheduler.on_epoch_begin(0)


# ------------------------------------------------------------ TerminateOnNaN
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_terminate_on_nan_stops_at_the_first_bad_batch(
    regression: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    # The loss weighs squared errors by sqrt(y); y is negative only in row 9 of 12, so with unshuffled batches
    # of 4 the loss first turns NaN in batch 2 of epoch 0.
    x, y = regression
    x, y = np.concatenate([x, x[:4]]), np.abs(np.concatenate([y, y[:4]]))
    y[9] = -1.0
    model = make_model()
    model.compile(
        hn.optimizers.SGD(0.1), loss=lambda y_true, y_pred: hn.ops.mean(hn.ops.sqrt(y_true) * (y_pred - y_true) ** 2)
    )
    batches: list[int] = []
    seen = LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = model.fit(x, y, batch_size=4, epochs=5, verbose=0, shuffle=False, callbacks=[TerminateOnNaN(), seen])
    assert batches == [0, 1, 2]
    assert history.epoch == [0] and math.isnan(history.history["loss"][0])
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"


@pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)
@pytest.mark.parametrize("run_eagerly", [False, True])
def test_terminate_on_nan_stops_a_diverging_run(
    backend64: str, regression: tuple[np.ndarray, np.ndarray], run_eagerly: bool
) -> None:
    # A learning rate of 1e6 multiplies the loss by about 1e12 per step: it overflows within a few epochs.
    x, y = regression
    options = dict(batch_size=4, epochs=30, verbose=0, shuffle=False)
    unguarded = make_model(learning_rate=1e6, run_eagerly=run_eagerly).fit(x, y, **options).history["loss"]
    assert len(unguarded) == 30 and not math.isfinite(unguarded[-1])

    losses: list[tuple[int, int, float]] = []
    epoch_of = LambdaCallback(on_epoch_begin=lambda epoch, logs: losses.append((epoch, -1, 0.0)))
    seen = LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append((losses[-1][0], batch, logs["loss"])))
    history = make_model(learning_rate=1e6, run_eagerly=run_eagerly).fit(
        x, y, callbacks=[epoch_of, TerminateOnNaN(), seen], **options
    )
    batch_losses = [(epoch, batch, loss) for epoch, batch, loss in losses if batch >= 0]
    first_bad = next(i for i, (_, _, loss) in enumerate(batch_losses) if not math.isfinite(loss))
    assert first_bad == len(batch_losses) - 1  # nothing ran after the first non-finite batch loss
    bad_epoch = batch_losses[-1][0]
    assert 0 < bad_epoch < 29 and history.epoch == list(range(bad_epoch + 1))
    assert all(math.isfinite(loss) for loss in history.history["loss"][:-1]) and not math.isfinite(
        history.history["loss"][-1]
    )
    np.testing.assert_allclose(history.history["loss"][:-1], unguarded[:bad_epoch], rtol=1e-12)


def test_terminate_on_nan_raise_error() -> None:
    with pytest.raises(
        RuntimeError,
        match=r"NaN or Inf loss encountered at batch 7\. Loss value: inf\. Terminating training immediately\.",
    ):
        TerminateOnNaN(raise_error=True).on_train_batch_end(7, {"loss": math.inf})


def test_terminate_on_nan_ignores_finite_and_missing_losses() -> None:
    model = make_model()
    guard = TerminateOnNaN()
    guard.set_model(model)
    model.stop_training = False
    guard.on_train_batch_end(0, {"loss": 1e300})
    guard.on_train_batch_end(1, {})
    guard.on_train_batch_end(2)
    assert model.stop_training is False


# ------------------------------------------------------------------ CSVLogger
def read_csv(path: Any, separator: str = ",") -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file, delimiter=separator))


def test_csv_logger_writes_one_row_per_epoch(tmp_path: Any, regression: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = regression
    path = tmp_path / "log.csv"
    history = make_model().fit(x, y, batch_size=4, epochs=3, verbose=0, validation_data=(x, y),
                               callbacks=[LearningRateScheduler(lambda epoch, lr: lr), CSVLogger(path)])  # fmt: skip
    header, *rows = read_csv(path)
    assert header == ["epoch", "learning_rate", "loss", "val_loss"]  # log keys, sorted
    assert [int(row[0]) for row in rows] == [0, 1, 2]
    for column, key in enumerate(header[1:], start=1):
        assert [float(row[column]) for row in rows] == history.history[key]  # exact: floats are written with repr


def test_csv_logger_append_separator_and_missing_keys(tmp_path: Any) -> None:
    path = tmp_path / "log.tsv"
    logger = CSVLogger(str(path), separator="\t")
    logger.set_model(make_model())
    for append, runs in (
        (False, [{"loss": 0.5, "val_loss": 0.25}, {"loss": 0.125}]),
        (True, [{"loss": 2.0, "val_loss": 1.0}]),
    ):
        logger.append = append
        logger.on_train_begin()
        for epoch, logs in enumerate(runs):
            logger.on_epoch_end(epoch, logs)
        logger.on_train_end()
    assert read_csv(path, "\t") == [
        ["epoch", "loss", "val_loss"],
        ["0", "0.5", "0.25"],
        ["1", "0.125", "NA"],
        ["0", "2.0", "1.0"],
    ]
    fresh = tmp_path / "fresh.csv"
    logger = CSVLogger(fresh, append=True)  # appending to a file that does not exist yet writes the header
    logger.set_model(make_model())
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 1.0, "vector": np.array([1.0, 2.0])})
    logger.on_train_end()
    assert read_csv(fresh) == [["epoch", "loss", "vector"], ["0", "1.0", "[1.0, 2.0]"]]


def test_csv_logger_needs_on_train_begin(tmp_path: Any) -> None:
    with pytest.raises(RuntimeError, match="CSVLogger: on_epoch_end was called before on_train_begin opened the file"):
        CSVLogger(tmp_path / "log.csv").on_epoch_end(0, {"loss": 1.0})


# ------------------------------------------------------------- LambdaCallback
def test_lambda_callback_passes_keras_arguments(regression: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = regression
    calls: list[tuple[Any, ...]] = []

    def batch_end(batch: int, *, logs: dict[str, float]) -> None:  # keyword-only: Keras passes batch logs as logs=
        calls.append(("batch_end", batch, dict(logs)))

    callback = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch, logs)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch, logs)),
        on_train_batch_end=batch_end,
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, dict(logs))),
        on_train_end=lambda logs: calls.append(("train_end", dict(logs))),
    )
    history = make_model().fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=[callback])
    loss = history.history["loss"]
    assert calls[0] == ("train_begin", {}) and calls[1] == ("epoch_begin", 0, {}) and calls[2] == ("batch_begin", 0, {})
    assert [c[:2] for c in calls] == [("train_begin", {}), ("epoch_begin", 0), ("batch_begin", 0), ("batch_end", 0),
                                      ("batch_begin", 1), ("batch_end", 1), ("epoch_end", 0), ("epoch_begin", 1),
                                      ("batch_begin", 0), ("batch_end", 0), ("batch_begin", 1), ("batch_end", 1),
                                      ("epoch_end", 1), ("train_end", {"loss": loss[1]})]  # fmt: skip
    # The last batch's running loss is the epoch loss; the epoch logs are the History's.
    assert [c[2] for c in calls if c[0] == "epoch_end"] == [{"loss": loss[0]}, {"loss": loss[1]}]
    assert calls[5][2] == {"loss": loss[0]} and calls[11][2] == {"loss": loss[1]}


def test_lambda_callback_other_hooks_by_keyword(regression: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = regression
    calls: list[tuple[Any, ...]] = []
    callback = LambdaCallback(
        on_test_batch_end=lambda batch, logs: calls.append(("test_batch_end", batch, sorted(logs))),
        on_test_end=lambda logs: calls.append(("test_end", logs)),
        on_predict_batch_begin=lambda batch, logs: calls.append(("predict_batch_begin", batch, logs)),
        on_predict_end=lambda logs: calls.append(("predict_end", logs)),
    )
    model = make_model()
    loss = model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[callback])
    model.predict(x, batch_size=8, verbose=0, callbacks=[callback])
    assert calls == [
        ("test_batch_end", 0, ["loss"]),
        ("test_end", {"loss": loss}),
        ("predict_batch_begin", 0, {}),
        ("predict_end", {}),
    ]


def test_lambda_callback_only_wants_the_hooks_it_was_given() -> None:
    epoch_only = LambdaCallback(on_epoch_end=lambda epoch, logs: None)
    assert not epoch_only.wants("on_train_batch_end") and epoch_only.wants("on_epoch_end")
    assert LambdaCallback(on_train_batch_end=lambda batch, logs: None).wants("on_train_batch_end")


# ---------------------------------------------------------------- hook order
def recorder(calls: list[tuple[Any, ...]]) -> LambdaCallback:
    """A LambdaCallback on every hook that records (hook, index) or (hook,)."""

    def record(hook: str) -> Callable[..., None]:
        return lambda *args, **kwargs: calls.append((hook, *[a for a in args if isinstance(a, int)]))

    return LambdaCallback(**{hook: record(hook) for hook in HOOKS})


def expected_fit_order(epochs: int, steps: int, validation_steps: int) -> list[tuple[Any, ...]]:
    order: list[tuple[Any, ...]] = [("on_train_begin",)]
    for epoch in range(epochs):
        order.append(("on_epoch_begin", epoch))
        for step in range(steps):
            order += [("on_train_batch_begin", step), ("on_train_batch_end", step)]
        if validation_steps:
            order.append(("on_test_begin",))
            for step in range(validation_steps):
                order += [("on_test_batch_begin", step), ("on_test_batch_end", step)]
            order.append(("on_test_end",))
        order.append(("on_epoch_end", epoch))
    return order + [("on_train_end",)]


def fit_with_validation(calls: list[tuple[Any, ...]], regression: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = regression
    make_model().fit(
        x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x[:4], y[:4]), callbacks=[recorder(calls)]
    )


def test_hook_order_of_training_hooks(regression: tuple[np.ndarray, np.ndarray]) -> None:
    calls: list[tuple[Any, ...]] = []
    fit_with_validation(calls, regression)
    training = [call for call in calls if not call[0].startswith("on_test")]
    assert training == expected_fit_order(epochs=2, steps=2, validation_steps=0)


def test_hook_order_with_validation_matches_keras(regression: tuple[np.ndarray, np.ndarray]) -> None:
    calls: list[tuple[Any, ...]] = []
    fit_with_validation(calls, regression)
    assert calls == expected_fit_order(epochs=2, steps=2, validation_steps=1)


# -------------------------------------------------------------------- errors
def f(*args: Any, **kwargs: Any) -> None:
    """A do-nothing hook."""


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: EarlyStopping(monitor=3),
            TypeError,
            "EarlyStopping: `monitor` must be the name of a logged quantity (a string), received 3",
        ),
        (
            lambda: EarlyStopping(mode="maximum"),
            ValueError,
            "EarlyStopping: `mode` must be one of 'auto', 'min', 'max', received 'maximum'",
        ),
        (
            lambda: EarlyStopping(patience=-1),
            ValueError,
            "EarlyStopping: `patience` must be an integer >= 0, received -1",
        ),
        (
            lambda: EarlyStopping(patience=1.5),
            TypeError,
            "EarlyStopping: `patience` must be an integer >= 0, received 1.5",
        ),
        (
            lambda: EarlyStopping(min_delta="0.1"),
            TypeError,
            "EarlyStopping: `min_delta` must be a finite number, received '0.1'",
        ),
        (
            lambda: EarlyStopping(min_delta=math.inf),
            ValueError,
            "EarlyStopping: `min_delta` must be a finite number, received inf",
        ),
        (
            lambda: EarlyStopping(verbose="loud"),
            TypeError,
            "EarlyStopping: `verbose` must be an integer >= 0, received 'loud'",
        ),
        (
            lambda: EarlyStopping(baseline="low"),
            TypeError,
            "EarlyStopping: `baseline` must be a finite number, received 'low'",
        ),
        (
            lambda: EarlyStopping(restore_best_weights=1),
            TypeError,
            "EarlyStopping: `restore_best_weights` must be True or False, received 1",
        ),
        (
            lambda: EarlyStopping(start_from_epoch=-2),
            ValueError,
            "EarlyStopping: `start_from_epoch` must be an integer >= 0, received -2",
        ),
        (
            lambda: ReduceLROnPlateau(factor=1.0),
            ValueError,
            "ReduceLROnPlateau: `factor` must be a number in [0, 1), received 1.0",
        ),
        (
            lambda: ReduceLROnPlateau(factor=-0.5),
            ValueError,
            "ReduceLROnPlateau: `factor` must be a number in [0, 1), received -0.5",
        ),
        (
            lambda: ReduceLROnPlateau(factor=None),
            TypeError,
            "ReduceLROnPlateau: `factor` must be a number in [0, 1), received None",
        ),
        (
            lambda: ReduceLROnPlateau(mode="up"),
            ValueError,
            "ReduceLROnPlateau: `mode` must be one of 'auto', 'min', 'max', received 'up'",
        ),
        (
            lambda: ReduceLROnPlateau(patience=-1),
            ValueError,
            "ReduceLROnPlateau: `patience` must be an integer >= 0, received -1",
        ),
        (
            lambda: ReduceLROnPlateau(cooldown=0.5),
            TypeError,
            "ReduceLROnPlateau: `cooldown` must be an integer >= 0, received 0.5",
        ),
        (
            lambda: ReduceLROnPlateau(min_lr=-1e-3),
            ValueError,
            "ReduceLROnPlateau: `min_lr` must be a number >= 0, received -0.001",
        ),
        (
            lambda: ReduceLROnPlateau(min_delta=math.nan),
            ValueError,
            "ReduceLROnPlateau: `min_delta` must be a finite number, received nan",
        ),
        (
            lambda: LearningRateScheduler(0.1),
            TypeError,
            "LearningRateScheduler: `schedule` must be a function schedule(epoch, lr) -> new learning rate, "
            "received 0.1",
        ),
        (
            lambda: LearningRateScheduler(f, verbose=-1),
            ValueError,
            "LearningRateScheduler: `verbose` must be an integer >= 0, received -1",
        ),
        (
            lambda: TerminateOnNaN(raise_error="yes"),
            TypeError,
            "TerminateOnNaN: `raise_error` must be True or False, received 'yes'",
        ),
        (
            lambda: CSVLogger(3),
            TypeError,
            "CSVLogger: `filename` must be a path (str or os.PathLike), received 3",
        ),
        (
            lambda: CSVLogger("log.csv", separator=", "),
            ValueError,
            "CSVLogger: `separator` must be a one-character string, received ', '",
        ),
        (
            lambda: CSVLogger("log.csv", append="yes"),
            TypeError,
            "CSVLogger: `append` must be True or False, received 'yes'",
        ),
        (
            lambda: LambdaCallback(on_epoch_end="print"),
            TypeError,
            "LambdaCallback: `on_epoch_end` must be a function (or None), received 'print'",
        ),
        (
            lambda: LambdaCallback(on_test_end=1),
            TypeError,
            "LambdaCallback: `on_test_end` must be a function (or None), received 1",
        ),
        (
            lambda: LambdaCallback(on_epoch_finish=f),
            TypeError,
            "LambdaCallback: unknown hook 'on_epoch_finish'. Valid hooks are: on_train_begin, ",
        ),
    ],
)
def test_argument_errors(make: Callable[[], Callback], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        make()
    assert str(raised.value).startswith(message)


def test_missing_learning_rate_attribute() -> None:
    class Bare:
        optimizer = object()

    scheduler = LearningRateScheduler(lambda epoch, lr: lr)
    scheduler.set_model(Bare())
    with pytest.raises(ValueError, match=r'The optimizer must have a "learning_rate" attribute; object has none\.'):
        scheduler.on_epoch_begin(0)


def test_exports() -> None:
    for name in (
        "CSVLogger",
        "EarlyStopping",
        "LambdaCallback",
        "LearningRateScheduler",
        "ReduceLROnPlateau",
        "TerminateOnNaN",
    ):
        assert name in hn.callbacks.__all__ and getattr(hn.callbacks, name).__module__ == "highnn.callbacks.monitoring"


# ----------------------------------------------------- Keras's aliases and logs on every hook
class EveryHook(Callback):
    """Records each hook it receives, checking that ``logs`` is always a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        for hook in [name for name in vars(Callback) if name.startswith("on_") and "train_batch" not in name]:
            setattr(self, hook, self._recorder(hook))

    def _recorder(self, hook: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            assert isinstance(args[-1], dict), f"{hook} received logs={args[-1]!r}"
            self.calls.append(hook)

        return record

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        super().on_train_batch_begin(batch, logs)  # calls the alias
        self._recorder("on_train_batch_begin")(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        super().on_train_batch_end(batch, logs)
        self._recorder("on_train_batch_end")(batch, logs)


def test_every_hook_receives_logs_as_a_dict_and_the_batch_aliases_are_called(
    regression: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = regression
    model = make_model()
    recorder = EveryHook()
    model.fit(x, y, batch_size=10, epochs=1, validation_split=0.5, verbose=0, callbacks=[recorder])
    model.evaluate(x, y, batch_size=100, verbose=0, callbacks=[recorder])
    model.predict(x, batch_size=100, verbose=0, callbacks=[recorder])
    calls = recorder.calls
    train_steps = calls.count("on_train_batch_end")
    assert train_steps > 0
    assert calls.count("on_batch_begin") == calls.count("on_batch_end") == train_steps  # train batches only
    assert calls.index("on_batch_begin") < calls.index("on_train_batch_begin")
    hooks = ("on_train_begin", "on_epoch_begin", "on_test_begin", "on_test_batch_begin", "on_test_batch_end",
             "on_test_end", "on_epoch_end", "on_train_end", "on_predict_begin", "on_predict_batch_begin",
             "on_predict_batch_end", "on_predict_end")  # fmt: skip
    assert set(hooks) <= set(calls)


def test_a_callback_overriding_only_the_old_batch_names_is_called(regression: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = regression
    batches: list[tuple[str, int, float]] = []

    class OldStyle(Callback):
        def on_batch_begin(self, batch: int, logs: Any = None) -> None:
            batches.append(("begin", batch, math.nan))

        def on_batch_end(self, batch: int, logs: Any = None) -> None:
            batches.append(("end", batch, logs["loss"]))

    make_model().fit(x, y, batch_size=40, epochs=1, verbose=0, callbacks=[OldStyle()])
    assert [(kind, batch) for kind, batch, _ in batches] == [("begin", 0), ("end", 0)]
    assert math.isfinite(batches[1][2])
    calls: list[int] = []
    make_model().fit(
        x, y, batch_size=40, verbose=0, callbacks=[LambdaCallback(on_batch_end=lambda b, logs: calls.append(b))]
    )
    assert calls == [0]


def test_csv_logger_keeps_validation_columns_when_validation_freq_skips_epochs(
    tmp_path: Any, regression: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = regression
    path = tmp_path / "log.csv"
    history = make_model().fit(x, y, batch_size=10, epochs=4, verbose=0, validation_data=(x, y), validation_freq=2,
                               callbacks=[CSVLogger(path)])  # fmt: skip
    header, *rows = read_csv(path)
    assert header == ["epoch", "loss", "val_loss"]
    assert [row[2] for row in rows[::2]] == ["NA", "NA"]  # epochs 0 and 2 ran no validation
    assert [float(row[2]) for row in rows[1::2]] == history.history["val_loss"]
