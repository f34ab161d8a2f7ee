"""Regression metrics: mean errors of several kinds, their root, the cosine similarity and the R2 score.

The per-example functions are the loss functions where ``highnn.losses`` has
them; the percentage, logarithmic and log-cosh errors are computed here.
"""

from __future__ import annotations

from typing import Any

from highnn import losses
from highnn.checks import check_choice, check_integer
from highnn.config import epsilon
from highnn.graph import Tensor
from highnn.metrics.base import (
    FunctionMean,
    Metric,
    aligned,
    check_built,
    float_dtype,
    safe_divide,
    value_rows,
)
from highnn.ops import composites as C
from highnn.ops.primitives import (
    broadcast_to,
    cast,
    maximum,
    reshape,
    sqrt,
    sum,
    to_tensor,
    where,
)


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """Squared errors averaged over the last axis: the loss function, one value per example."""
    return losses.mean_squared_error(*value_rows(y_true, y_pred))


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """Absolute errors averaged over the last axis: the loss function, one value per example."""
    return losses.mean_absolute_error(*value_rows(y_true, y_pred))


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Tensor:
    """``100 * |y_true - y_pred| / max(|y_true|, 1e-7)`` averaged over the last axis, one value per example."""
    return losses.mean_absolute_percentage_error(*value_rows(y_true, y_pred, float_dtype(y_pred)))


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Tensor:
    """Squared differences of ``log(1 + max(y, 1e-7))`` averaged over the last axis, one value per example."""
    return losses.mean_squared_logarithmic_error(*value_rows(y_true, y_pred, float_dtype(y_pred)))


def log_cosh(y_true: Any, y_pred: Any) -> Tensor:
    """``log(cosh(y_pred - y_true))`` averaged over the last axis, computed without overflow."""
    return losses.log_cosh(*value_rows(y_true, y_pred, float_dtype(y_pred)))


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """The cosine of the angle between label and prediction vectors along ``axis`` (0 for a zero vector)."""
    y_true, y_pred = aligned(y_true, y_pred, float_dtype(y_pred))
    return sum(_l2_normalized(y_true, axis) * _l2_normalized(y_pred, axis), axis=axis)


def _l2_normalized(x: Tensor, axis: int) -> Tensor:
    return x / sqrt(maximum(sum(x * x, axis=axis, keepdims=True), epsilon() ** 2))


class MeanSquaredError(FunctionMean):
    """The mean of squared errors.

    >>> m = hn.metrics.MeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.result())
    0.25
    """

    function = staticmethod(mean_squared_error)

    def __init__(self, name: str = "mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class MeanAbsoluteError(FunctionMean):
    """The mean of absolute errors.

    >>> m = hn.metrics.MeanAbsoluteError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(mean_absolute_error)

    def __init__(self, name: str = "mean_absolute_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class MeanAbsolutePercentageError(FunctionMean):
    """The mean of absolute errors in percent of the labels.

    >>> m = hn.metrics.MeanAbsolutePercentageError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.result())
    250000000.0
    """

    function = staticmethod(mean_absolute_percentage_error)

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class MeanSquaredLogarithmicError(FunctionMean):
    """The mean of squared differences of ``log(1 + y)``.

    >>> m = hn.metrics.MeanSquaredLogarithmicError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> round(float(m.result()), 5)
    0.12011
    """

    function = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class LogCoshError(FunctionMean):
    """The mean of ``log(cosh(error))``: about half the squared error when small, the absolute error when large.

    >>> m = hn.metrics.LogCoshError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> round(float(m.result()), 4)
    0.1084
    """

    function = staticmethod(log_cosh)

    def __init__(self, name: str = "logcosh", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class CosineSimilarity(FunctionMean):
    """The mean cosine similarity between labels and predictions, vectors along ``axis``.

    >>> m = hn.metrics.CosineSimilarity()
    >>> m.update_state([[0, 1], [1, 1]], [[1, 0], [1, 1]])
    >>> round(float(m.result()), 5)
    0.5
    """

    function = staticmethod(cosine_similarity)

    def __init__(self, name: str = "cosine_similarity", dtype: str | None = None, axis: int = -1) -> None:
        axis = check_integer("CosineSimilarity", "axis", axis)
        super().__init__(name, dtype, axis=axis)
        self.axis = axis


class RootMeanSquaredError(FunctionMean):
    """The square root of the (weighted) mean of squared errors.

    >>> m = hn.metrics.RootMeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(mean_squared_error)

    def __init__(self, name: str = "root_mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)

    def result(self) -> Tensor:
        return sqrt(super().result())


class R2Score(Metric):
    """The coefficient of determination, ``1 - SS_residual / SS_total``, per output and aggregated.

    ``class_aggregation`` is ``"uniform_average"`` (the mean over outputs),
    ``"variance_weighted_average"`` or ``None`` (one score per output).
    ``num_regressors > 0`` gives the adjusted R2 (the plain one when there are
    too few samples for it). Inputs are ``(batch, outputs)``.

    >>> m = hn.metrics.R2Score()
    >>> m.update_state(np.array([[1.0], [4.0], [3.0]]), np.array([[2.0], [4.0], [4.0]]))
    >>> round(float(m.result()), 4)
    0.5714
    """

    AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: str | None = None,
    ) -> None:
        check_choice("R2Score", "class_aggregation", class_aggregation, self.AGGREGATIONS)
        self.num_regressors = check_integer("R2Score", "num_regressors", num_regressors, 0)
        super().__init__(name, dtype)
        self.class_aggregation = class_aggregation
        self.num_samples = self.add_variable((), name="num_samples")
        self.built = False

    def _build(self, num_outputs: int) -> None:
        self.squared_sum = self.add_variable((num_outputs,), name="squared_sum")
        self.sum = self.add_variable((num_outputs,), name="sum")
        self.total_mse = self.add_variable((num_outputs,), name="residual")
        self.count = self.add_variable((num_outputs,), name="count")
        self.built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = aligned(y_true, y_pred, self.dtype)
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                f"R2Score expects y_true and y_pred of one shape (batch_size, outputs), "
                f"received shapes {y_true.shape} and {y_pred.shape}."
            )
        if not self.built:
            self._build(y_pred.shape[-1])
        weights = cast(to_tensor(1.0 if sample_weight is None else sample_weight), self.dtype)
        if weights.ndim == 1:
            weights = reshape(weights, weights.shape + (1,))
        weights = broadcast_to(weights, y_true.shape)
        weighted_true = y_true * weights
        self.sum.assign_add(sum(weighted_true, axis=0))
        self.squared_sum.assign_add(sum(y_true * weighted_true, axis=0))
        self.total_mse.assign_add(sum(C.square(y_true - y_pred) * weights, axis=0))
        self.count.assign_add(sum(weights, axis=0))
        self.num_samples.assign_add(float(y_true.shape[0] * y_true.shape[1]))

    def result(self) -> Tensor:
        check_built(self)
        mean = safe_divide(self.sum, self.count)
        total = self.squared_sum - self.sum * mean
        scores = where(total == 0.0, 0.0, 1.0 - safe_divide(self.total_mse, total))
        if self.class_aggregation == "uniform_average":
            scores = C.mean(scores)
        elif self.class_aggregation == "variance_weighted_average":
            scores = safe_divide(sum(total * scores), sum(total))
        if self.num_regressors == 0:
            return scores
        n, p = self.num_samples, float(self.num_regressors)
        enough = n - 1.0 > p  # otherwise the adjustment divides by zero or flips sign: keep the plain R2
        adjusted = 1.0 - (1.0 - scores) * (n - 1.0) / where(enough, n - p - 1.0, 1.0)
        return where(enough, adjusted, scores)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
