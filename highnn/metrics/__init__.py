"""Metrics: stateful accumulators over batches (Keras 3 names, arguments, defaults and strings).

A metric keeps its running state in non-trainable :class:`~highnn.variables.Variable`\\ s
and changes it only with ``assign``, computing with highnn ops and no Python
branch on a tensor's value. That is what lets ``update_state`` run inside the
traced train and test steps of ``fit``/``evaluate`` exactly as it runs eagerly;
``result()`` turns the state into a Tensor whenever logs are wanted.

The package: ``base`` (Metric, Mean, MeanMetricWrapper), ``accuracy``,
``confusion`` (Precision, Recall, AUC, F-scores) and ``regression``; this
module holds the public names and the string look-up.

>>> m = hn.metrics.AUC()
>>> m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> float(m.result())
0.75
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from highnn import registry
from highnn.layers.layer import snake_case
from highnn.metrics.accuracy import (
    ACCURACY_NAMES,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    accuracy_for,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from highnn.metrics.base import FUNCTIONS, Mean, MeanMetricWrapper, Metric
from highnn.metrics.confusion import AUC, F1Score, FBetaScore, Precision, Recall
from highnn.metrics.regression import (
    MeanAbsoluteError,
    MeanSquaredError,
    R2Score,
    RootMeanSquaredError,
    mean_absolute_error,
    mean_squared_error,
)
from highnn.registry import class_name_table, lookup
from highnn.registry import serialize as serialize

FUNCTIONS.update(
    (fn.__name__, fn)
    for fn in (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
               sparse_top_k_categorical_accuracy, mean_squared_error, mean_absolute_error)
)  # fmt: skip
_COMPILABLE = (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, Precision, Recall, AUC, F1Score, FBetaScore, MeanSquaredError, MeanAbsoluteError,
    RootMeanSquaredError, R2Score,
)  # fmt: skip
CLASSES: dict[str, type[Metric]] = class_name_table(Mean, MeanMetricWrapper, *_COMPILABLE)
STRINGS: dict[str, type[Metric]] = {
    **{name: cls for name, cls in CLASSES.items() if cls in _COMPILABLE},
    **{snake_case(name): cls for name, cls in CLASSES.items() if cls in _COMPILABLE},
    "acc": Accuracy, "mse": MeanSquaredError, "mae": MeanAbsoluteError, "rmse": RootMeanSquaredError,
}  # fmt: skip


def get(identifier: str | Metric | type[Metric] | dict[str, Any] | Callable[..., Any]) -> Metric:
    """A metric from a string (named after it), a class, an instance, a config dict or a function.

    ``"accuracy"`` here is :class:`Accuracy`; ``compile`` resolves ``"accuracy"``
    and ``"acc"`` itself, with :func:`accuracy_for`.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        return lookup("metric", identifier, STRINGS)(name=identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"`metrics` entries must be strings, Metrics, configs or functions, received {identifier!r}.")


def deserialize(config: dict[str, Any]) -> Metric:
    return registry.deserialize("metric", config, CLASSES)


__all__ = [
    "ACCURACY_NAMES", "AUC", "CLASSES", "FUNCTIONS", "STRINGS", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "F1Score", "FBetaScore", "Mean", "MeanAbsoluteError", "MeanMetricWrapper", "MeanSquaredError", "Metric",
    "Precision", "R2Score", "Recall", "RootMeanSquaredError", "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy", "accuracy", "accuracy_for", "binary_accuracy",
    "categorical_accuracy", "deserialize", "get", "mean_absolute_error", "mean_squared_error", "serialize",
    "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy",
]  # fmt: skip
