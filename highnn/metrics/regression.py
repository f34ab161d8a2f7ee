"""Regression metrics: the mean squared and absolute errors, their root, and the R2 score."""

from __future__ import annotations

from typing import Any

from highnn import losses
from highnn.checks import check_choice, check_integer
from highnn.graph import Tensor
from highnn.metrics.base import (
    FunctionMean,
    Metric,
    aligned,
    check_built,
    safe_divide,
    value_rows,
)
from highnn.ops import composites as C
from highnn.ops.primitives import broadcast_to, cast, reshape, sqrt, sum, to_tensor, where


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """Squared errors averaged over the last axis: the loss function, one value per example."""
    return losses.mean_squared_error(*value_rows(y_true, y_pred))


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """Absolute errors averaged over the last axis: the loss function, one value per example."""
    return losses.mean_absolute_error(*value_rows(y_true, y_pred))


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
