"""Metrics: stateful accumulators over batches (Keras 3 names, arguments, defaults and strings).

A metric keeps its running state in non-trainable :class:`~highnn.variables.Variable`\\ s
and changes it only with ``assign``, computing with highnn ops and no Python
branch on a tensor's value. That is what lets ``update_state`` run inside the
traced train and test steps of ``fit``/``evaluate`` exactly as it runs eagerly;
``result()`` turns the state into a Tensor whenever logs are wanted.

The package: ``base`` (Metric, Mean, Sum, MeanMetricWrapper), ``accuracy``,
``confusion`` (confusion counts, Precision, Recall, AUC, X-at-Y metrics,
F-scores) and ``regression``; this module holds the public names and the
string look-up.

>>> m = hn.metrics.AUC()
>>> m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> float(m.result())
0.75
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, overload

from highnn import losses
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
from highnn.metrics.base import FUNCTIONS, Mean, MeanMetricWrapper, Metric, Sum
from highnn.metrics.confusion import (
    AUC,
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from highnn.metrics.regression import (
    CosineSimilarity,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    R2Score,
    RootMeanSquaredError,
    cosine_similarity,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)
from highnn.registry import Registry

FUNCTIONS.update(
    (fn.__name__, fn)
    for fn in (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
               sparse_top_k_categorical_accuracy, mean_squared_error, mean_absolute_error,
               mean_absolute_percentage_error, mean_squared_logarithmic_error, log_cosh, cosine_similarity)
)  # fmt: skip
FUNCTIONS.update(
    (fn.__name__, fn)
    for fn in (losses.huber, losses.binary_crossentropy, losses.categorical_crossentropy,
               losses.sparse_categorical_crossentropy)
)  # fmt: skip

#: Every metric class, by class name and Keras's string names; a string gives a metric logged under that string.
METRICS: Registry[Metric] = Registry(
    "metric", Metric, argument="metric", from_name=lambda cls, name: cls(name=name), from_callable=MeanMetricWrapper
)
for _cls in (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, Precision, Recall, AUC, F1Score, FBetaScore, MeanSquaredError, MeanAbsoluteError,
    RootMeanSquaredError, R2Score, TruePositives, FalsePositives, TrueNegatives, FalseNegatives,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCoshError, CosineSimilarity,
):  # fmt: skip
    METRICS.register(_cls, snake_case(_cls.__name__))
METRICS.register(Accuracy, "acc")
METRICS.register(MeanSquaredError, "mse")
METRICS.register(MeanAbsoluteError, "mae")
METRICS.register(RootMeanSquaredError, "rmse")
METRICS.register(MeanAbsolutePercentageError, "mape")
METRICS.register(MeanSquaredLogarithmicError, "msle")
# Configs may name these, but no string does: they do not take (y_true, y_pred) alone, or need an argument.
METRICS.classes.update(
    {cls.__name__: cls for cls in (Mean, Sum, MeanMetricWrapper, PrecisionAtRecall, RecallAtPrecision,
                                   SensitivityAtSpecificity, SpecificityAtSensitivity)}
)  # fmt: skip
#: The allow-list by class name (``METRICS.classes``), kept for the saving code.


@overload
def get(identifier: None) -> None: ...
@overload
def get(identifier: str | Metric | type[Metric] | dict[str, Any] | Callable[..., Any]) -> Metric: ...
def get(identifier: Any) -> Metric | None:
    """A metric from a string (named after it), a class, an instance, a config dict or a function; None stays None.

    ``"accuracy"`` here is :class:`Accuracy`; ``compile`` resolves ``"accuracy"``
    and ``"acc"`` itself, with :func:`accuracy_for`. A plain function becomes a
    :class:`MeanMetricWrapper`.
    """
    return METRICS.get(identifier)


def serialize(metric: Metric) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``, as configs and saved files describe a metric."""
    return METRICS.serialize(metric)


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Metric:
    """The metric :func:`serialize` described, built only from a registered class or one in ``custom_objects``."""
    return METRICS.deserialize(config, custom_objects)


__all__ = [
    "ACCURACY_NAMES", "AUC", "FUNCTIONS", "METRICS", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "CosineSimilarity", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives", "LogCoshError", "Mean",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanMetricWrapper", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Metric", "Precision", "PrecisionAtRecall", "R2Score", "Recall",
    "RecallAtPrecision", "RootMeanSquaredError", "SensitivityAtSpecificity", "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "SpecificityAtSensitivity", "Sum", "TopKCategoricalAccuracy", "TrueNegatives",
    "TruePositives", "accuracy", "accuracy_for", "binary_accuracy", "categorical_accuracy", "cosine_similarity",
    "deserialize", "get", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "serialize", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]  # fmt: skip
