"""Metrics: stateful accumulators over batches (Keras 3 names and strings).

A metric's state lives in non-trainable variables, so ``update_state`` runs
inside the traced train step like any other assignment and ``result`` is read
only when logs are needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from highnn import losses
from highnn.graph import Tensor, no_grad
from highnn.ops import composites as C
from highnn.ops.primitives import cast, equal, greater, reshape, sum, to_tensor, where
from highnn.registry import lookup
from highnn.variables import Variable


class Metric:
    """Accumulates with ``update_state(y_true, y_pred, sample_weight=None)``, reports ``result()``."""

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        from highnn.layers.layer import snake_case

        self.name = name or snake_case(type(self).__name__)
        self.variables: list[Variable] = []

    def add_variable(self, shape: tuple[int, ...], name: str, initial: float = 0.0) -> Variable:
        variable = Variable(np.full(shape, initial), name=name, trainable=False, path=f"{self.name}/{name}")
        self.variables.append(variable)
        return variable

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError

    def result(self) -> Tensor:
        raise NotImplementedError

    def reset_state(self) -> None:
        for variable in self.variables:
            variable.assign(np.zeros(variable.shape))

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        """Update with one batch and return the running result."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)


class Mean(Metric):
    """The (weighted) mean of all values seen."""

    def __init__(self, name: str = "mean", dtype: str | None = None) -> None:
        super().__init__(name, dtype)
        self.total = self.add_variable((), "total")
        self.count = self.add_variable((), "count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        with no_grad():
            values = to_tensor(values)
            if sample_weight is None:
                self.total.assign_add(sum(values))
                self.count.assign_add(float(math.prod(values.shape)))
                return
            weights = cast(to_tensor(sample_weight), values.dtype)
            if weights.shape == ():  # one weight for the whole batch of values
                self.total.assign_add(C.mean(values) * weights)
                self.count.assign_add(weights)
                return
            weights = C.mean(reshape(weights, weights.shape[:1] + (-1,)), axis=-1) if weights.ndim > 1 else weights
            per_example = C.mean(reshape(values, values.shape[:1] + (-1,)), axis=-1) if values.ndim > 1 else values
            self.total.assign_add(sum(per_example * weights))
            self.count.assign_add(sum(weights))

    def result(self) -> Tensor:
        with no_grad():
            return _safe_divide(self.total, self.count)


def _safe_divide(a: Tensor, b: Tensor) -> Tensor:
    """a / b, and 0 where b is 0 (an empty metric reports 0)."""
    return where(b == 0.0, 0.0, a / where(b == 0.0, 1.0, b))


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred)`` over every example seen."""

    def __init__(self, fn: Callable[..., Tensor], name: str | None = None, dtype: str | None = None, **fn_kwargs: Any) -> None:
        super().__init__(name or fn.__name__, dtype)
        self.fn, self.fn_kwargs = fn, fn_kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        with no_grad():
            super().update_state(self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.fn_kwargs}


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    y_true, y_pred = losses.align(y_true, y_pred)
    return C.mean(cast(equal(y_true, cast(greater(y_pred, threshold), y_pred.dtype)), y_pred.dtype), axis=-1)


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    y_pred = to_tensor(y_pred)
    return cast(equal(C.argmax(y_true), C.argmax(y_pred)), y_pred.dtype)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    y_pred = to_tensor(y_pred)
    labels = to_tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = reshape(labels, labels.shape[:-1])
    return cast(equal(cast(labels, "int32"), C.argmax(y_pred)), y_pred.dtype)


class _Wrapped(MeanMetricWrapper):
    """A MeanMetricWrapper whose function is fixed by the subclass."""

    function: Callable[..., Tensor]
    default_name: str

    def __init__(self, name: str | None = None, dtype: str | None = None, **fn_kwargs: Any) -> None:
        super().__init__(type(self).function, name or self.default_name, dtype, **fn_kwargs)


def _wrapped(class_name: str, function: Callable[..., Tensor], default_name: str) -> type[_Wrapped]:
    return type(class_name, (_Wrapped,), {"function": staticmethod(function), "default_name": default_name,
                                          "__doc__": f"The mean of {function.__name__} over the examples seen."})  # fmt: skip


BinaryAccuracy = _wrapped("BinaryAccuracy", binary_accuracy, "binary_accuracy")
CategoricalAccuracy = _wrapped("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _wrapped("SparseCategoricalAccuracy", sparse_categorical_accuracy, "sparse_categorical_accuracy")
MeanSquaredError = _wrapped("MeanSquaredError", losses.mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapped("MeanAbsoluteError", losses.mean_absolute_error, "mean_absolute_error")

CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (Mean, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError)
}
_STRINGS: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}  # fmt: skip
ACCURACY_NAMES = ("accuracy", "acc")


def accuracy_for(y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...], loss: losses.Loss | None) -> type[Metric]:
    """Keras's choice for ``"accuracy"``: binary, sparse categorical or categorical, by loss and shapes."""
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy
    if isinstance(loss, losses.BinaryCrossentropy) or y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier: str | Metric | type[Metric]) -> Metric:
    """A metric object from a string (not ``"accuracy"``, which depends on the model), class or instance."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        valid = {**_STRINGS, **{k.lower(): v for k, v in CLASSES.items()}, **{a: SparseCategoricalAccuracy for a in ACCURACY_NAMES}}
        return lookup("metric", identifier, valid)(name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"`metrics` entries must be strings, Metrics or functions, received {identifier!r}.")
