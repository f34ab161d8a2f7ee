"""Losses (Keras 3 classes, functions, string names and reductions).

A loss class computes one value per example with :meth:`Loss.call` and reduces
them (``"sum_over_batch_size"`` by default). The crossentropies are
numerically stable: with ``from_logits=True`` they use log-sum-exp, and a
softmax or sigmoid output fed with ``from_logits=False`` is traced back to its
logits, so confident predictions never give ``log(0)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, overload

import numpy as np

from highnn.checks import check_choice, check_number
from highnn.graph import Tensor
from highnn.layers.layer import snake_case
from highnn.ops import composites as C
from highnn.ops.primitives import abs, cast, exp, log, log1p, maximum, minimum, reshape, sum, to_tensor, where
from highnn.registry import Registry

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


def align(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Tensors of one rank (a trailing axis of 1 is added or removed) and y_pred's dtype."""
    y_pred = to_tensor(y_pred)
    y_true = to_tensor(y_true)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = reshape(y_true, y_true.shape + (1,))
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = reshape(y_true, y_true.shape[:-1])
    return cast(y_true, y_pred.dtype), y_pred


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    y_true, y_pred = align(y_true, y_pred)
    return C.mean(C.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    y_true, y_pred = align(y_true, y_pred)
    return C.mean(abs(y_pred - y_true), axis=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """Quadratic for errors up to ``delta``, linear beyond."""
    y_true, y_pred = align(y_true, y_pred)
    error = abs(y_pred - y_true)
    quadratic = minimum(error, delta)
    return C.mean(quadratic * quadratic * 0.5 + (error - quadratic) * delta, axis=-1)


def _logits_of(y_pred: Tensor, from_logits: bool) -> Tensor | None:
    """The logits to use: y_pred itself, those a softmax/sigmoid output remembers, or None."""
    return y_pred if from_logits else y_pred.logits


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0) -> Tensor:
    y_true, y_pred = align(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    logits = _logits_of(y_pred, from_logits)
    if logits is not None:  # max(x, 0) - x*y + log(1 + exp(-|x|))
        values = maximum(logits, 0.0) - logits * y_true + log1p(exp(-abs(logits)))
    else:
        p = C.clip(y_pred, EPSILON, 1.0 - EPSILON)
        values = -(y_true * log(p) + (1.0 - y_true) * log(1.0 - p))
    return C.mean(values, axis=-1)


def _log_probabilities(y_pred: Tensor, from_logits: bool) -> Tensor:
    logits = _logits_of(y_pred, from_logits)
    if logits is not None:
        return C.log_softmax(logits, axis=-1)
    return log(C.clip(y_pred / sum(y_pred, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> Tensor:
    y_true, y_pred = align(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"categorical_crossentropy: `y_true` must be one-hot with the shape of `y_pred` {y_pred.shape}, "
            f"received shape {y_true.shape} (integer labels need sparse_categorical_crossentropy)."
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    return -sum(y_true * _log_probabilities(y_pred, from_logits), axis=-1)


def check_sparse_labels(labels: np.ndarray, num_classes: int, argument: str = "y") -> None:
    """Raise if integer labels are not whole numbers in ``[0, num_classes)``."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return
    low, high = labels.min(), labels.max()
    fractional = labels.dtype.kind == "f" and bool(np.any(labels != np.round(labels)))
    if fractional or low < 0 or high >= num_classes:
        raise ValueError(
            f"`{argument}` holds sparse labels for {num_classes} classes, so they must be integers in "
            f"[0, {num_classes}); received values from {low} to {high}."
        )


def sparse_labels(y_true: Any, y_pred: Tensor, what: str) -> Tensor:
    """Integer labels of shape ``y_pred.shape[:-1]`` (a trailing axis of 1 is dropped), as int32."""
    labels = to_tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = reshape(labels, labels.shape[:-1])
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{what}: `y_true` must hold one integer label per example, shape {y_pred.shape[:-1]}, "
            f"received shape {labels.shape}."
        )
    return cast(labels, "int32")


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: int | None = None
) -> Tensor:
    """Crossentropy against integer labels of shape ``(batch,)`` or ``(batch, 1)``."""
    y_pred = to_tensor(y_pred)
    labels = sparse_labels(y_true, y_pred, "sparse_categorical_crossentropy")
    safe_labels = labels if ignore_class is None else where(labels == ignore_class, 0, labels)
    values = -sum(
        C.one_hot(safe_labels, y_pred.shape[-1], y_pred.dtype) * _log_probabilities(y_pred, from_logits), axis=-1
    )
    return values if ignore_class is None else where(labels == ignore_class, 0.0, values)


class Loss:
    """``loss(y_true, y_pred, sample_weight=None)`` -> the reduced loss."""

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size") -> None:
        self.reduction = check_choice(type(self).__name__, "reduction", reduction, REDUCTIONS)
        self.name = name or snake_case(type(self).__name__)

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        raise NotImplementedError

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        values = self.call(y_true, y_pred)
        if sample_weight is not None:
            weights = cast(to_tensor(sample_weight), values.dtype)
            if weights.ndim > values.ndim:
                weights = reshape(weights, weights.shape[: values.ndim])
            values = values * weights
        if self.reduction in ("none", None):
            return values
        total = sum(values)
        return total if self.reduction == "sum" else total / float(max(math.prod(values.shape), 1))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction, **self.options()}

    def options(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A loss from a function ``fn(y_true, y_pred) -> per-example values``."""

    def __init__(self, fn: Callable[[Any, Any], Tensor], **kwargs: Any) -> None:
        super().__init__(**{"name": getattr(fn, "__name__", None), **kwargs})
        self.fn = fn

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return self.fn(y_true, y_pred)


class MeanSquaredError(Loss):
    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(Loss):
    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return mean_absolute_error(y_true, y_pred)


class Huber(Loss):
    def __init__(self, delta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return huber(y_true, y_pred, self.delta)

    def options(self) -> dict[str, Any]:
        return {"delta": self.delta}


class _Crossentropy(Loss):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.from_logits = from_logits
        self.label_smoothing = check_number(type(self).__name__, "label_smoothing", label_smoothing, 0.0, 1.0)

    def options(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_Crossentropy):
    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)


class CategoricalCrossentropy(_Crossentropy):
    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)


class SparseCategoricalCrossentropy(Loss):
    def __init__(self, from_logits: bool = False, ignore_class: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.from_logits, self.ignore_class = from_logits, ignore_class

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits, self.ignore_class)

    def options(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "ignore_class": self.ignore_class}


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
LossFunction = Callable[[Any, Any], Tensor]
LossLike = str | Loss | type[Loss] | dict[str, Any] | LossFunction

LOSSES: Registry[Loss] = Registry("loss", Loss, from_callable=LossFunctionWrapper)
LOSSES.register(MeanSquaredError, "mean_squared_error", "mse")
LOSSES.register(MeanAbsoluteError, "mean_absolute_error", "mae")
LOSSES.register(Huber, "huber")
LOSSES.register(BinaryCrossentropy, "binary_crossentropy")
LOSSES.register(CategoricalCrossentropy, "categorical_crossentropy")
LOSSES.register(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")


@overload
def get(identifier: None) -> None: ...
@overload
def get(identifier: LossLike) -> Loss: ...
def get(identifier: LossLike | None) -> Loss | None:
    """A loss from a name (``"mse"``), a config, a class, an instance or a function; None stays None.

    A function of ``(y_true, y_pred)`` is wrapped in a :class:`LossFunctionWrapper`, so every loss reduces the same way.
    """
    return LOSSES.get(identifier)


def serialize(loss: Loss) -> dict[str, Any]:
    return LOSSES.serialize(loss)


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Loss:
    """The loss :func:`serialize` described, built only from a registered class or one in ``custom_objects``."""
    return LOSSES.deserialize(config, custom_objects)
