"""Callbacks: hooks into ``fit``, ``evaluate`` and ``predict`` (Keras 3 names and hooks)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from highnn.checks import fail

#: what hooks receive: each logged quantity's value (a float; an array for per-class metrics)
Logs = dict[str, Any]


class Callback:
    """Override any hook; ``self.model`` and ``self.params`` are set before training starts."""

    #: whether only process 0 of a distributed job runs it (a callback that only writes logs)
    chief_only = False

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs)  # Keras's older name, still called

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs: Logs | None = None) -> None: ...
    def on_test_end(self, logs: Logs | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_begin(self, logs: Logs | None = None) -> None: ...
    def on_predict_end(self, logs: Logs | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def wants(self, hook: str) -> bool:
        """Whether this callback overrides ``hook`` or its alias (batch logs are only computed when wanted)."""
        return any(_overrides(self, name) for name in (hook, ALIASES.get(hook)) if name is not None)


def _overrides(callback: Callback, hook: str) -> bool:
    method = getattr(callback, hook)
    return getattr(method, "__func__", method) is not getattr(Callback, hook)


#: Keras's older names of the train-batch hooks, called by them
ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}
BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
               "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")  # fmt: skip


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, callbacks: Iterable[Callback], model: Any, params: dict[str, Any], owner: str = "fit") -> None:
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                fail(owner, "callbacks", "a list of Callback instances", callback, TypeError)
        for callback in self.callbacks:  # only once all are known to be callbacks
            callback.set_model(model)
            callback.set_params(params)

    def wants(self, hook: str) -> bool:
        return any(callback.wants(hook) for callback in self.callbacks)

    def __getattr__(self, hook: str) -> Any:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call_all(*args: Any) -> None:
            for callback in self.callbacks:
                getattr(callback, hook)(*args)

        return call_all


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]`` is the list of epoch losses."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs: Logs) -> str:
    """``accuracy: 0.9123 - loss: 0.3120`` (Keras's format; per-class results as arrays)."""
    return " - ".join(f"{key}: {_format_value(value)}" for key, value in sorted(logs.items()))


def _format_value(value: float | np.ndarray) -> str:
    if np.ndim(value):
        return np.array2string(np.asarray(value), precision=4, separator=", ")
    number = float(value)
    return f"{number:.4f}" if abs(number) >= 1e-3 or number == 0 else f"{number:.4e}"


class ProgbarLogger(Callback):
    """Keras's progress display: a bar updated per batch (verbose=1) or a line per epoch (verbose=2)."""

    WIDTH = 20

    def __init__(self, verbose: int = 1, stream: Any = None) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.start = 0.0
        self.seen = 0

    def wants(self, hook: str) -> bool:
        return self.verbose == 1 and hook in ("on_train_batch_end", "on_test_batch_end", "on_predict_batch_end")

    def _begin(self) -> None:
        self.start, self.seen = time.perf_counter(), 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._begin()
        if self.verbose == 1:
            self.stream.write(f"Epoch {epoch + 1}/{self.params['epochs']}\n")

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._bar(batch + 1, self.params["steps"], logs or {}, final=False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        steps = self.params["steps"]
        if self.verbose == 1:
            self._bar(steps, steps, logs or {}, final=True)
        elif self.verbose == 2:
            elapsed = time.perf_counter() - self.start
            self.stream.write(f"Epoch {epoch + 1}/{self.params['epochs']}\n{steps}/{steps} - {elapsed:.0f}s - "
                              f"{_per_step(elapsed, steps)} - {format_logs(logs or {})}\n")  # fmt: skip
            self.stream.flush()

    def on_test_begin(self, logs: Logs | None = None) -> None:
        if self.params.get("mode") == "evaluate":
            self._begin()

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.params.get("mode") == "evaluate":
            self._bar(batch + 1, self.params["steps"], logs or {}, final=False)

    def on_test_end(self, logs: Logs | None = None) -> None:
        if self.params.get("mode") == "evaluate" and self.verbose:
            self._bar(self.params["steps"], self.params["steps"], logs or {}, final=True)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._begin()

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._bar(batch + 1, self.params["steps"], {}, final=False)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        if self.verbose:
            self._bar(self.params["steps"], self.params["steps"], {}, final=True)

    def _bar(self, done: int, total: int | None, logs: Logs, final: bool) -> None:
        interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        if not final and not interactive:
            return
        elapsed = time.perf_counter() - self.start
        total = done if total is None else total  # a generator's first epoch: its length is not known yet
        filled = int(self.WIDTH * done / max(total, 1))
        bar = "━" * filled + "─" * (self.WIDTH - filled)
        timing = (
            f"{elapsed:.0f}s {_per_step(elapsed, done)}" if final else f"{elapsed / max(done, 1) * (total - done):.0f}s"
        )
        text = f"{done}/{total} {bar} {timing}" + (f" - {format_logs(logs)}" if logs else "")
        self.stream.write(("\r" if interactive else "") + text + ("\n" if final else ""))
        self.stream.flush()


def _per_step(elapsed: float, steps: int) -> str:
    per_step = elapsed / max(steps, 1)
    return f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/step"
