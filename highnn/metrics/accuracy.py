"""The accuracy family: how often predictions hit the labels, as functions and as mean metrics.

Each metric is the mean of its function's values (0 or 1), so it takes
``sample_weight`` per example or, as Keras does, per value of
:func:`accuracy` and :func:`binary_accuracy` (one per label) and of the
categorical ones on sequences (one per time step), broadcast where it fits. :func:`accuracy_for` is Keras's choice of
accuracy for ``compile(metrics=["accuracy"])``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from highnn import losses
from highnn.checks import check_integer, check_number
from highnn.config import settings
from highnn.graph import Tensor
from highnn.metrics.base import FunctionMean, Metric, aligned
from highnn.ops import composites as C
from highnn.ops.primitives import cast, equal, greater, less, reshape, sum, to_tensor, where


def accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1 where the prediction equals the label, for each label."""
    y_true, y_pred = aligned(y_true, y_pred)
    return cast(equal(y_true, y_pred), settings.floatx)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """1 where ``y_pred > threshold`` agrees with the 0/1 label, for each label."""
    y_true, y_pred = aligned(y_true, y_pred)
    return cast(equal(y_true, cast(greater(y_pred, threshold), y_pred.dtype)), settings.floatx)


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1 where the largest prediction is at the one-hot label's class."""
    return cast(equal(C.argmax(y_true), C.argmax(y_pred)), settings.floatx)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1 where the largest prediction is at the integer label."""
    y_pred = to_tensor(y_pred)
    return cast(
        equal(losses.sparse_labels(y_true, y_pred, "sparse_categorical_accuracy"), C.argmax(y_pred)), settings.floatx
    )


def _in_top_k(labels: Tensor, y_pred: Tensor, k: int) -> Tensor:
    """1 where the label's score is among the k largest of its row; ties at the k-th place count (Keras's in_top_k)."""
    classes = to_tensor(np.arange(y_pred.shape[-1]), labels.dtype)
    is_label = equal(reshape(labels, labels.shape + (1,)), classes)
    label_score = sum(where(is_label, y_pred, 0.0), axis=-1, keepdims=True)
    higher = sum(cast(greater(y_pred, label_score), "int32"), axis=-1)
    return cast(less(higher, k), settings.floatx)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """1 where the one-hot label's class is among the ``k`` largest predictions."""
    return _in_top_k(C.argmax(y_true), to_tensor(y_pred), k)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """1 where the integer label is among the ``k`` largest predictions."""
    y_pred = to_tensor(y_pred)
    return _in_top_k(losses.sparse_labels(y_true, y_pred, "sparse_top_k_categorical_accuracy"), y_pred, k)


class Accuracy(FunctionMean):
    """How often predictions equal labels exactly.

    >>> m = hn.metrics.Accuracy()
    >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    >>> float(m.result())
    0.75
    """

    function = staticmethod(accuracy)

    def __init__(self, name: str = "accuracy", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class BinaryAccuracy(FunctionMean):
    """How often ``y_pred > threshold`` matches 0/1 labels.

    >>> m = hn.metrics.BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> float(m.result())
    0.75
    """

    function = staticmethod(binary_accuracy)

    def __init__(self, name: str = "binary_accuracy", dtype: str | None = None, threshold: float = 0.5) -> None:
        threshold = check_number("BinaryAccuracy", "threshold", threshold, 0.0, 1.0, low_open=True, high_open=True)
        super().__init__(name, dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(FunctionMean):
    """How often the largest prediction is at the one-hot label's class.

    >>> m = hn.metrics.CategoricalAccuracy()
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(categorical_accuracy)

    def __init__(self, name: str = "categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class SparseCategoricalAccuracy(FunctionMean):
    """How often the largest prediction is at the integer label.

    >>> m = hn.metrics.SparseCategoricalAccuracy()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(sparse_categorical_accuracy)

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class _TopK(FunctionMean):
    """Checks ``k`` for the two top-k accuracies."""

    def __init__(self, k: int, name: str, dtype: str | None) -> None:
        self.k = check_integer(type(self).__name__, "k", k, 1)
        super().__init__(name, dtype, k=self.k)


class TopKCategoricalAccuracy(_TopK):
    """How often the one-hot label's class is among the ``k`` largest predictions.

    >>> m = hn.metrics.TopKCategoricalAccuracy(k=1)
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(top_k_categorical_accuracy)

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(k, name, dtype)


class SparseTopKCategoricalAccuracy(_TopK):
    """How often the integer label is among the ``k`` largest predictions.

    >>> m = hn.metrics.SparseTopKCategoricalAccuracy(k=1)
    >>> m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(sparse_top_k_categorical_accuracy)

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(k, name, dtype)


ACCURACY_NAMES = ("accuracy", "acc")


def accuracy_for(y_true_shape: tuple[int, ...], y_pred_shape: tuple[int | None, ...], loss: Any) -> type[Metric]:
    """Keras's choice for ``"accuracy"``: binary, sparse categorical or categorical, by loss and shapes."""
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy
    if isinstance(loss, losses.BinaryCrossentropy) or y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1:  # one label against several outputs
        return SparseCategoricalAccuracy
    return CategoricalAccuracy
