"""Callbacks that watch training and act on it (Keras 3 names, arguments, defaults and behaviour).

- :class:`EarlyStopping` stops ``fit`` when a logged quantity stops improving.
- :class:`ReduceLROnPlateau` and :class:`LearningRateScheduler` change the
  optimizer's learning rate between epochs. The rate lives in a Variable, so
  the compiled train step uses the new value on its next replay.
- :class:`TerminateOnNaN` stops a diverging run at the first non-finite batch loss.
- :class:`CSVLogger` writes one row per epoch; :class:`LambdaCallback` turns
  plain functions into a callback.

They run between steps, outside the traced program, so they may read values
(``variable.numpy()``) and change state freely.
"""

from __future__ import annotations

import csv
import inspect
import math
import operator
import os
import warnings
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

from highnn.callbacks.base import ALIASES, BATCH_HOOKS, Callback, Logs
from highnn.checks import check_bool, check_choice, check_integer, check_number, fail

MODES = ("auto", "min", "max")
HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))
EPOCH_HOOKS = ("on_epoch_begin", "on_epoch_end")


# ------------------------------------------------------------------ validation
def _check_verbose(owner: str, verbose: Any) -> int:
    """``verbose`` as an integer >= 0; True and False count as 1 and 0, as in Keras."""
    return check_integer(owner, "verbose", int(verbose) if isinstance(verbose, bool) else verbose, 0)


# --------------------------------------------------------------- learning rate
def read_learning_rate(optimizer: Any) -> np.ndarray:
    """The optimizer's current learning rate as a 0-d NumPy array (keeps the variable's dtype)."""
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError(f'The optimizer must have a "learning_rate" attribute; {type(optimizer).__name__} has none.')
    return np.asarray(optimizer.learning_rate)


# ------------------------------------------------------------------ monitoring
def infer_direction(monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"``: ``mode`` itself, or for ``"auto"`` the direction read from the name.

    Accuracy-like names (containing ``"acc"``: ``accuracy``, ``val_binary_accuracy``)
    improve upwards; losses and errors (``loss``, ``val_mse``) downwards.
    """
    if mode != "auto":
        return mode
    return "max" if "acc" in monitor.removeprefix("val_") else "min"


class MonitorCallback(Callback):
    """Base of callbacks that watch one logged quantity: which way is better, and did it improve.

    ``monitor_op`` is :func:`operator.lt` (lower is better) or :func:`operator.gt`;
    a value improves on a reference when it beats it by more than ``min_delta``.
    """

    #: Start of the warning issued when the monitored key is missing from the logs.
    action = "Monitoring"

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        owner = type(self).__name__
        if not isinstance(monitor, str):
            fail(owner, "monitor", "the name of a logged quantity (a string)", monitor, TypeError)
        self.monitor = monitor
        self.mode = check_choice(owner, "mode", mode, MODES)
        self.min_delta = abs(check_number(owner, "min_delta", min_delta))
        self.monitor_op: Callable[[Any, Any], bool] = (
            operator.lt if infer_direction(monitor, mode) == "min" else operator.gt
        )

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        """Whether ``current`` beats ``reference`` by more than ``min_delta`` (anything beats ``None``)."""
        if reference is None:
            return True
        signed_delta = self.min_delta if self.monitor_op is operator.gt else -self.min_delta
        return bool(self.monitor_op(current - signed_delta, reference))

    def get_monitor_value(self, logs: Logs | None) -> float | None:
        """``logs[monitor]``, or ``None`` with a warning that lists the keys that are there."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"{self.action} conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=2,
            )
        return value


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    >>> stop = hn.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    >>> model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[stop])
    >>> stop.stopped_epoch  # 0-based epoch at which training stopped (0 if it never did)

    With ``baseline``, the wait only restarts on epochs that beat both the best
    value and the baseline. ``restore_best_weights`` puts back the weights of
    the best epoch when training ends (stopped or not). Epochs before
    ``start_from_epoch`` are ignored (a warm-up).
    """

    action = "Early stopping"

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = check_integer("EarlyStopping", "patience", patience, 0)
        self.verbose = _check_verbose("EarlyStopping", verbose)
        self.baseline = None if baseline is None else check_number("EarlyStopping", "baseline", baseline)
        self.restore_best_weights = check_bool("EarlyStopping", "restore_best_weights", restore_best_weights)
        self.start_from_epoch = check_integer("EarlyStopping", "start_from_epoch", start_from_epoch, 0)
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Reset, so one instance can serve several ``fit`` calls."""
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                # Copies: a backend may hand out its live buffers (torch's .numpy() shares memory).
                self.best_weights = [np.array(w) for w in self.model.get_weights()]
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    >>> reduce_lr = hn.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-4)
    >>> model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[reduce_lr])

    After a reduction, ``cooldown`` epochs pass before the wait counts again;
    the rate never goes below ``min_lr``. Each epoch's logs gain
    ``"learning_rate"``: the rate that epoch trained with.
    """

    action = "Learning rate reduction is"

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.factor = check_number("ReduceLROnPlateau", "factor", factor, 0.0, 1.0, high_open=True)
        self.patience = check_integer("ReduceLROnPlateau", "patience", patience, 0)
        self.verbose = _check_verbose("ReduceLROnPlateau", verbose)
        self.cooldown = check_integer("ReduceLROnPlateau", "cooldown", cooldown, 0)
        self.min_lr = check_number("ReduceLROnPlateau", "min_lr", min_lr, 0.0)
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Reset the wait and cooldown counters and the best value."""
        self.wait = 0
        self.cooldown_counter = 0
        self.best = math.inf if self.monitor_op is operator.lt else -math.inf

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(read_learning_rate(self.model.optimizer))
        current = self.get_monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch: int) -> None:
        """``lr = max(lr * factor, min_lr)`` unless already at ``min_lr`` (compared in the rate's own dtype)."""
        old = read_learning_rate(self.model.optimizer)
        if old > np.asarray(self.min_lr, dtype=old.dtype):
            new = max(float(old) * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch to ``schedule(epoch, lr)``.

    ``epoch`` counts from 0 and ``lr`` is the current rate; a one-argument
    ``schedule(epoch)`` works too. Each epoch's logs gain ``"learning_rate"``.

    >>> def schedule(epoch, lr):
    ...     return lr if epoch < 10 else lr * math.exp(-0.1)
    >>> model.fit(x, y, epochs=15, callbacks=[hn.callbacks.LearningRateScheduler(schedule)])
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            fail("LearningRateScheduler", "schedule", "a function schedule(epoch, lr) -> new learning rate",
                 schedule, TypeError)  # fmt: skip
        self.schedule = schedule
        self.verbose = _check_verbose("LearningRateScheduler", verbose)
        self._passes_learning_rate = _accepts_two_arguments(schedule)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self.model.optimizer
        current = float(read_learning_rate(optimizer))
        value = self.schedule(epoch, current) if self._passes_learning_rate else self.schedule(epoch)
        learning_rate = self._as_learning_rate(value, epoch)
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(read_learning_rate(self.model.optimizer))

    def _as_learning_rate(self, value: Any, epoch: int) -> float:
        """``value`` as a float, or a ValueError saying what the schedule returned."""
        array = None if isinstance(value, (bool, str)) else np.asarray(value)
        if array is None or not (
            array.shape == () and array.dtype.kind in "iuf" and math.isfinite(array) and array >= 0
        ):
            raise ValueError(
                "LearningRateScheduler: `schedule` must return a non-negative finite float, "
                f"returned {value!r} for epoch {epoch}."
            )
        return float(array)


def _accepts_two_arguments(function: Callable[..., Any]) -> bool:
    """Whether ``function(epoch, lr)`` binds (otherwise it is the one-argument ``schedule(epoch)``)."""
    try:
        inspect.signature(function).bind(0, 0.0)
    except TypeError:
        return False
    except ValueError:  # builtins without a signature: assume the two-argument form
        return True
    return True


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite.

    By default it sets ``model.stop_training`` (the epoch ends, ``on_train_end``
    runs, the history keeps the bad loss); with ``raise_error=True`` it raises
    a RuntimeError instead.

    >>> model.fit(x, y, epochs=10, callbacks=[hn.callbacks.TerminateOnNaN()])
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = check_bool("TerminateOnNaN", "raise_error", raise_error)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class CSVLogger(Callback):
    """Write every epoch's logs to a CSV file: an ``epoch`` column, then the log keys sorted.

    >>> model.fit(x, y, epochs=5, callbacks=[hn.callbacks.CSVLogger("training.csv")])

    The columns are the keys of the first epoch's logs and every quantity
    ``fit`` will log (so ``val_*`` columns exist even when ``validation_freq``
    skips the first epoch's validation); a key missing from an epoch's logs is
    written as ``NA``, as in Keras. With ``append=True`` rows are added to an existing file
    (its header is kept, not repeated).
    """

    chief_only = True

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        if not isinstance(filename, (str, os.PathLike)):
            fail("CSVLogger", "filename", "a path (str or os.PathLike)", filename, TypeError)
        if not (isinstance(separator, str) and len(separator) == 1):
            fail("CSVLogger", "separator", "a one-character string", separator)
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = check_bool("CSVLogger", "append", append)
        self.keys: list[str] | None = None
        self.writer: csv.DictWriter[str] | None = None
        self.csv_file: TextIO | None = None
        self.append_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._close()
        self.append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as existing:
                self.append_header = not existing.readline()
        # open across the epochs, closed in on_train_end
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer, self.keys = None, None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.csv_file is None:
            raise RuntimeError("CSVLogger: on_epoch_end was called before on_train_begin opened the file.")
        if self.keys is None:
            self.keys = sorted(set(logs) | set(self.params.get("metrics", ())))
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: _csv_value(logs.get(key, "NA")) for key in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._close()

    def _close(self) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file, self.writer = None, None


def _csv_value(value: Any) -> Any:
    """Numbers and strings as they are; a 1-D array or list as ``"[a, b]"`` (Keras's format)."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f"[{', '.join(map(str, value))}]"


class LambdaCallback(Callback):
    """A callback from plain functions, called as Keras calls them.

    - ``on_epoch_begin`` / ``on_epoch_end``: ``f(epoch, logs)``;
    - ``on_train_begin`` / ``on_train_end`` (and test / predict begin / end): ``f(logs)``;
    - batch hooks (``on_train_batch_begin``, ``on_test_batch_end``, ...): ``f(batch, logs=logs)``.

    Any other hook of :class:`Callback` can be passed by name as a keyword.

    >>> losses = []
    >>> record = hn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    >>> model.fit(x, y, epochs=3, callbacks=[record])
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any] | None,
    ) -> None:
        super().__init__()
        named = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end, "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end}  # fmt: skip
        for hook in kwargs:
            if hook not in HOOKS:
                raise TypeError(f"LambdaCallback: unknown hook {hook!r}. Valid hooks are: {', '.join(HOOKS)}.")
        self.functions = {hook: function for hook, function in {**named, **kwargs}.items() if function is not None}
        for hook, function in self.functions.items():
            if not callable(function):
                fail("LambdaCallback", hook, "a function (or None)", function, TypeError)
            setattr(self, hook, _keras_call(hook, function))

    def wants(self, hook: str) -> bool:
        """Only the hooks given as functions (so batch logs are computed only when a batch hook is set)."""
        return hook in self.functions or ALIASES.get(hook) in self.functions


def _keras_call(hook: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` adapted to ``hook``'s arguments, with ``{}`` for logs the loop did not pass."""
    if hook in BATCH_HOOKS:
        return lambda batch, logs=None: function(batch, logs={} if logs is None else logs)
    if hook in EPOCH_HOOKS:
        return lambda epoch, logs=None: function(epoch, {} if logs is None else logs)
    return lambda logs=None: function({} if logs is None else logs)
