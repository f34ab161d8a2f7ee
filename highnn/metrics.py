"""Metrics: stateful accumulators over batches (Keras 3 names, arguments, defaults and strings).

A metric keeps its running state in non-trainable :class:`~highnn.variables.Variable`\\ s
and changes it only with ``assign``, computing with highnn ops and no Python
branch on a tensor's value. That is what lets ``update_state`` run inside the
traced train and test steps of ``fit``/``evaluate`` exactly as it runs eagerly;
``result()`` turns the state into a Tensor whenever logs are wanted.

>>> m = hn.metrics.AUC()
>>> m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> float(m.result())
0.75
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from highnn import losses, registry
from highnn.config import FLOAT_TYPES, settings
from highnn.graph import Tensor, no_grad
from highnn.initializers import Initializer
from highnn.initializers import get as get_initializer
from highnn.layers.layer import snake_case
from highnn.ops import composites as C
from highnn.ops.primitives import (
    abs,
    broadcast_to,
    cast,
    equal,
    greater,
    greater_equal,
    less,
    log,
    maximum,
    minimum,
    reshape,
    sqrt,
    sum,
    to_tensor,
    where,
)
from highnn.ops.primitives import (
    max as reduce_max,
)
from highnn.registry import class_name_table, lookup
from highnn.registry import serialize as serialize
from highnn.variables import Variable

EPSILON = 1e-7  # Keras's backend.epsilon(): the AUC end thresholds and the F-score guards
NEG_INF = -1e10  # the score given to predictions outside the top k, so no threshold keeps them


# ------------------------------------------------------------------ the base
class Metric:
    """Accumulates with ``update_state(y_true, y_pred, sample_weight=None)`` and reports ``result()``.

    Subclasses create their state with :meth:`add_variable` and change it with
    ``variable.assign(...)`` only, so the update can be traced into a compiled
    step. ``update_state`` runs without recording gradients.

    >>> class PositivePredictions(hn.metrics.Metric):
    ...     def __init__(self, name="positive_predictions", dtype=None):
    ...         super().__init__(name, dtype)
    ...         self.total = self.add_variable((), name="total")
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         self.total.assign_add(hn.ops.sum(hn.ops.cast(hn.ops.greater(y_pred, 0.5), self.dtype)))
    ...     def result(self):
    ...         return self.total
    """

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        dtype = dtype or settings.floatx
        if dtype not in FLOAT_TYPES:
            raise _invalid(type(self).__name__, "dtype", f"one of {FLOAT_TYPES}", dtype)
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self.variables: list[Variable] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "update_state" in cls.__dict__:
            cls.update_state = _without_gradients(cls.__dict__["update_state"])  # type: ignore[method-assign]

    def add_variable(
        self,
        shape: Sequence[int],
        initializer: str | Initializer = "zeros",
        dtype: str | None = None,
        name: str | None = None,
    ) -> Variable:
        """A non-trainable state variable, reset to zeros by :meth:`reset_state`."""
        name = name or f"variable_{len(self.variables)}"
        dtype = dtype or self.dtype
        value = get_initializer(initializer)(tuple(shape), dtype)
        variable = Variable(value, name=name, trainable=False, dtype=dtype, path=f"{self.name}/{name}")
        self.variables.append(variable)
        return variable

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Fold one batch into the state."""
        raise NotImplementedError(f"{type(self).__name__} must define update_state().")

    def result(self) -> Tensor:
        """The metric's value from the state seen so far."""
        raise NotImplementedError(f"{type(self).__name__} must define result().")

    def reset_state(self) -> None:
        """Zero every state variable (``fit`` does this at the start of every epoch)."""
        for variable in self.variables:
            variable.assign(np.zeros(variable.shape))

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        """Update with one batch and return the running result."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _without_gradients(update_state: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(update_state)
    def update(self: Metric, *args: Any, **kwargs: Any) -> None:
        with no_grad():
            update_state(self, *args, **kwargs)

    return update


def _invalid(owner: str, argument: str, expected: str, received: Any) -> ValueError:
    return ValueError(f"{owner}: `{argument}` must be {expected}, received {received!r}.")


def _check_int(owner: str, argument: str, value: Any, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise _invalid(owner, argument, f"an integer >= {minimum}", value)


def _check_choice(owner: str, argument: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise _invalid(owner, argument, f"one of {tuple(choices)}", value)


def _check_built(metric: Any) -> None:
    """A metric whose state is shaped by its first batch has no result before one."""
    if not metric.built:
        raise ValueError(f"{type(metric).__name__} has seen no data yet: call update_state() first.")


def _safe_divide(a: Tensor, b: Tensor) -> Tensor:
    """a / b, and 0 where b is 0 (Keras's divide_no_nan: an empty metric reports 0)."""
    zero = b == 0.0
    return where(zero, 0.0, a / where(zero, 1.0, b))


def _same_rank(x1: Tensor, x2: Tensor, expand_rank_1: bool = True) -> tuple[Tensor, Tensor]:
    """Keras's squeeze_or_expand_to_same_rank: drop or add a trailing axis of 1 where ranks differ by one."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            return x1, reshape(x2, x2.shape + (1,))
        return reshape(x1, x1.shape[:-1]), x2
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            return reshape(x1, x1.shape + (1,)), x2
        return x1, reshape(x2, x2.shape[:-1])
    return x1, x2


def _inputs(y_true: Any, y_pred: Any, dtype: str | None = None) -> tuple[Tensor, Tensor]:
    """Both as tensors of one rank; y_true in y_pred's dtype (or both in ``dtype``)."""
    y_pred = to_tensor(y_pred) if dtype is None else cast(to_tensor(y_pred), dtype)
    y_true = cast(to_tensor(y_true), y_pred.dtype)
    return _same_rank(y_true, y_pred)


def _per_example(values: Tensor) -> Tensor:
    """Average the last axis; 1-D values are already one per example."""
    return values if values.ndim <= 1 else C.mean(values, axis=-1)


# --------------------------------------------------------- mean and wrappers
class Mean(Metric):
    """The (weighted) mean of all values seen, one value per example.

    Values with more than one axis are first averaged per example, as Keras
    does; ``sample_weight`` weighs examples (or, with the values' shape, each
    value); a scalar weight weighs the whole batch.

    >>> m = hn.metrics.Mean()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    def __init__(self, name: str = "mean", dtype: str | None = None) -> None:
        super().__init__(name, dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = cast(to_tensor(values), self.dtype)
        if sample_weight is None:
            values = _mean_over_axes(values, 1)
            self.total.assign_add(sum(values))
            self.count.assign_add(float(values.shape[0]) if values.ndim else 1.0)
            return
        weights = cast(to_tensor(sample_weight), self.dtype)
        values, weights = _same_rank(values, weights)
        values = _mean_over_axes(values, weights.ndim)
        if np.broadcast_shapes(weights.shape, values.shape) != values.shape:
            raise ValueError(
                f"{self.name}: `sample_weight` of shape {weights.shape} does not fit values of shape {values.shape}."
            )
        weights = broadcast_to(weights, values.shape)
        self.total.assign_add(sum(_mean_over_axes(values * weights, 1)))
        self.count.assign_add(sum(_mean_over_axes(weights, 1)))

    def result(self) -> Tensor:
        return _safe_divide(self.total, self.count)


def _mean_over_axes(x: Tensor, first_axis: int) -> Tensor:
    """The mean over every axis from ``first_axis`` on (``x`` itself if it has no such axis)."""
    return x if x.ndim <= first_axis else C.mean(x, axis=tuple(range(first_axis, x.ndim)))


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` (one value per example) over every example seen.

    >>> m = hn.metrics.MeanMetricWrapper(lambda t, p: abs(t - p), name="abs_error")
    """

    def __init__(
        self, fn: Callable[..., Any], name: str | None = None, dtype: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name or str(getattr(fn, "__name__", "mean_metric_wrapper")), dtype)
        self.fn, self.fn_kwargs = fn, kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        super().update_state(self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)

    def get_config(self) -> dict[str, Any]:
        """The config; ``fn`` is named when it is one of this module's metric functions."""
        named = {"fn": self.fn.__name__} if FUNCTIONS.get(getattr(self.fn, "__name__", "")) is self.fn else {}
        return {**super().get_config(), **named, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        config = dict(config)
        if "fn" not in config:
            raise ValueError(f"{cls.__name__}.from_config: the config names no `fn`; received keys {sorted(config)}.")
        return cls(lookup("metric function", config.pop("fn"), FUNCTIONS), **config)


class _FunctionMean(MeanMetricWrapper):
    """A MeanMetricWrapper whose function is fixed by the subclass; its options are its config."""

    function: ClassVar[Callable[..., Tensor]]

    def __init__(self, name: str, dtype: str | None, **options: Any) -> None:
        super().__init__(type(self).function, name, dtype, **options)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)


# -------------------------------------------------- the accuracy functions
def accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1 where the prediction equals the label, averaged over the last axis."""
    y_true, y_pred = _inputs(y_true, y_pred)
    return _per_example(cast(equal(y_true, y_pred), settings.floatx))


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """1 where ``y_pred > threshold`` agrees with the 0/1 label, averaged over the last axis."""
    y_true, y_pred = _inputs(y_true, y_pred)
    return _per_example(cast(equal(y_true, cast(greater(y_pred, threshold), y_pred.dtype)), settings.floatx))


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


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """Squared errors averaged over the last axis."""
    y_true, y_pred = _inputs(y_true, y_pred)
    return _per_example(C.square(y_pred - y_true))


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """Absolute errors averaged over the last axis."""
    y_true, y_pred = _inputs(y_true, y_pred)
    return _per_example(abs(y_pred - y_true))


# ---------------------------------------------------- the accuracy metrics
class Accuracy(_FunctionMean):
    """How often predictions equal labels exactly.

    >>> m = hn.metrics.Accuracy()
    >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    >>> float(m.result())
    0.75
    """

    function = staticmethod(accuracy)

    def __init__(self, name: str = "accuracy", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class BinaryAccuracy(_FunctionMean):
    """How often ``y_pred > threshold`` matches 0/1 labels.

    >>> m = hn.metrics.BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> float(m.result())
    0.75
    """

    function = staticmethod(binary_accuracy)

    def __init__(self, name: str = "binary_accuracy", dtype: str | None = None, threshold: float = 0.5) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
            raise _invalid("BinaryAccuracy", "threshold", "a number in the open interval (0, 1)", threshold)
        super().__init__(name, dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(_FunctionMean):
    """How often the largest prediction is at the one-hot label's class.

    >>> m = hn.metrics.CategoricalAccuracy()
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(categorical_accuracy)

    def __init__(self, name: str = "categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class SparseCategoricalAccuracy(_FunctionMean):
    """How often the largest prediction is at the integer label.

    >>> m = hn.metrics.SparseCategoricalAccuracy()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(sparse_categorical_accuracy)

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class _TopK(_FunctionMean):
    """Checks ``k`` for the two top-k accuracies."""

    def __init__(self, k: int, name: str, dtype: str | None) -> None:
        _check_int(type(self).__name__, "k", k, 1)
        super().__init__(name, dtype, k=int(k))
        self.k = int(k)


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


# ------------------------------------------------------ regression metrics
class MeanSquaredError(_FunctionMean):
    """The mean of squared errors.

    >>> m = hn.metrics.MeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.result())
    0.25
    """

    function = staticmethod(mean_squared_error)

    def __init__(self, name: str = "mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class MeanAbsoluteError(_FunctionMean):
    """The mean of absolute errors.

    >>> m = hn.metrics.MeanAbsoluteError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    >>> float(m.result())
    0.5
    """

    function = staticmethod(mean_absolute_error)

    def __init__(self, name: str = "mean_absolute_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)


class RootMeanSquaredError(Mean):
    """The square root of the (weighted) mean of squared errors.

    >>> m = hn.metrics.RootMeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.result())
    0.5
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype: str | None = None) -> None:
        super().__init__(name, dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        y_true, y_pred = _inputs(y_true, y_pred, self.dtype)
        super().update_state(C.square(y_pred - y_true), sample_weight)

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
        _check_choice("R2Score", "class_aggregation", class_aggregation, self.AGGREGATIONS)
        _check_int("R2Score", "num_regressors", num_regressors, 0)
        super().__init__(name, dtype)
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        self.num_samples = self.add_variable((), name="num_samples")
        self.built = False

    def _build(self, num_outputs: int) -> None:
        self.squared_sum = self.add_variable((num_outputs,), name="squared_sum")
        self.sum = self.add_variable((num_outputs,), name="sum")
        self.total_mse = self.add_variable((num_outputs,), name="residual")
        self.count = self.add_variable((num_outputs,), name="count")
        self.built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _inputs(y_true, y_pred, self.dtype)
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                f"R2Score expects y_true and y_pred of one shape (batch_size, outputs), received shapes {y_true.shape} and {y_pred.shape}."
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
        _check_built(self)
        mean = _safe_divide(self.sum, self.count)
        total = self.squared_sum - self.sum * mean
        scores = where(total == 0.0, 0.0, 1.0 - _safe_divide(self.total_mse, total))
        if self.class_aggregation == "uniform_average":
            scores = C.mean(scores)
        elif self.class_aggregation == "variance_weighted_average":
            scores = _safe_divide(sum(total * scores), sum(total))
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


# --------------------------------------------------- confusion-matrix counts
def _parse_thresholds(owner: str, thresholds: float | Sequence[float] | None, default: float) -> list[float]:
    """``thresholds`` as a list of floats in [0, 1] (``[default]`` when None)."""
    if thresholds is None:
        return [default]
    values = [thresholds] if isinstance(thresholds, (int, float, np.number)) else list(thresholds)
    valid = [isinstance(t, (int, float, np.number)) and not isinstance(t, bool) and 0.0 <= t <= 1.0 for t in values]
    if not values or not all(valid):
        raise _invalid(owner, "thresholds", "a number or a non-empty list of numbers in [0, 1]", thresholds)
    return [float(t) for t in values]


def _evenly_spaced(thresholds: Sequence[float]) -> bool:
    """Whether ``thresholds`` are ``0, 1/(n-1), ..., 1`` (Keras then clips predictions into [0, 1])."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n) / (n - 1), atol=EPSILON))


def _top_k_only(scores: Tensor, k: int) -> Tensor:
    """``scores`` with all but the k largest of each row set to NEG_INF (ties go to the lower index, as in top_k)."""
    n = scores.shape[-1]
    mine = reshape(scores, scores.shape + (1,))  # [..., i, 1]
    others = reshape(scores, scores.shape[:-1] + (1, n))  # [..., 1, j]
    earlier = to_tensor(np.tril(np.ones((n, n)), -1), scores.dtype)  # [i, j] = 1 where j < i
    ahead = sum(cast(greater(others, mine), scores.dtype) + cast(equal(others, mine), scores.dtype) * earlier, axis=-1)
    return where(less(ahead, float(k)), scores, NEG_INF)


class _Counts:
    """Weighted true/false positives and negatives at each threshold: shape (thresholds,) or (thresholds, labels)."""

    def __init__(self, true_positives: Tensor, false_positives: Tensor, positives: Tensor, negatives: Tensor) -> None:
        self.true_positives, self.false_positives = true_positives, false_positives
        self.false_negatives = positives - true_positives
        self.true_negatives = negatives - false_positives


def _confusion_counts(
    y_true: Any,
    y_pred: Any,
    sample_weight: Any,
    thresholds: Sequence[float],
    dtype: str,
    top_k: int | None = None,
    class_id: int | None = None,
    multi_label: bool = False,
    label_weights: np.ndarray | None = None,
    clip: bool = False,
) -> _Counts:
    """Keras's update_confusion_matrix_variables: a prediction is positive where it is above the threshold.

    Labels are cast to bool; predictions are compared with every threshold at
    once (a (thresholds, predictions) grid), so the counts are sums, with no
    host read and no branch on values. Without ``multi_label`` every
    label/prediction pair is one data point. ``clip`` limits predictions to
    [0, 1] first, as Keras does for evenly spaced thresholds.
    """
    y_pred = cast(to_tensor(y_pred), dtype)
    y_pred, y_true = _same_rank(y_pred, cast(to_tensor(y_true), dtype))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have one shape, received shapes {y_true.shape} and {y_pred.shape}.")
    weights = None
    if sample_weight is not None:
        weights = cast(to_tensor(sample_weight), dtype)
        _, weights = _same_rank(y_true, reshape(weights, weights.shape + (1,)), expand_rank_1=False)
    if top_k is not None:
        y_pred = _top_k_only(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim < 2 or not class_id < y_pred.shape[-1]:
            raise ValueError(
                f"`class_id` {class_id} needs predictions of shape (batch_size, num_classes) with more than {class_id} classes, received shape {y_pred.shape}."
            )
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    if clip:
        y_pred = C.clip(y_pred, 0.0, 1.0)
    weights = to_tensor(np.ones(()), dtype) if weights is None else weights
    if label_weights is not None:
        weights = weights * to_tensor(label_weights, dtype)
    weights = broadcast_to(weights, y_pred.shape)
    is_true = cast(y_true != 0.0, dtype)
    grid: tuple[int, ...]
    if multi_label:
        if y_pred.ndim != 2:
            raise ValueError(
                f"`multi_label=True` needs y_pred of shape (batch_size, num_labels), received shape {y_pred.shape}."
            )
        grid = (len(thresholds), 1, 1)
    else:
        y_pred, is_true, weights = (reshape(t, (-1,)) for t in (y_pred, is_true, weights))
        grid = (len(thresholds), 1)
    above = cast(greater(reshape(y_pred, (1,) + y_pred.shape), to_tensor(np.reshape(thresholds, grid), dtype)), dtype)
    true_weights, false_weights = is_true * weights, (1.0 - is_true) * weights
    return _Counts(
        sum(above * true_weights, axis=1),
        sum(above * false_weights, axis=1),
        sum(true_weights, axis=0),
        sum(false_weights, axis=0),
    )


class _PrecisionRecall(Metric):
    """Precision and Recall: true positives and one kind of error, at each threshold."""

    error_name: ClassVar[str]  # "false_positives" or "false_negatives"

    def __init__(
        self,
        thresholds: float | Sequence[float] | None = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        owner = type(self).__name__
        if top_k is not None:
            _check_int(owner, "top_k", top_k, 1)
        if class_id is not None:
            _check_int(owner, "class_id", class_id, 0)
        super().__init__(name, dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _parse_thresholds(owner, thresholds, 0.5 if top_k is None else NEG_INF)
        self.true_positives = self.add_variable((len(self.thresholds),), name="true_positives")
        setattr(self, self.error_name, self.add_variable((len(self.thresholds),), name=self.error_name))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        counts = _confusion_counts(
            y_true,
            y_pred,
            sample_weight,
            self.thresholds,
            self.dtype,
            self.top_k,
            self.class_id,
            clip=_evenly_spaced(self.thresholds),
        )
        self.true_positives.assign_add(counts.true_positives)
        getattr(self, self.error_name).assign_add(getattr(counts, self.error_name))

    def result(self) -> Tensor:
        """One value, or one per threshold when several were given."""
        values = _safe_divide(self.true_positives, self.true_positives + getattr(self, self.error_name))
        return values[0] if len(self.thresholds) == 1 else values

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_PrecisionRecall):
    """The fraction of positive predictions that are right: ``tp / (tp + fp)``.

    A prediction is positive above ``thresholds`` (default 0.5; one result per
    threshold given as a list); with ``top_k`` only each row's k largest
    predictions count; with ``class_id`` only that class's column.

    >>> m = hn.metrics.Precision()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 4)
    0.6667
    """

    error_name = "false_positives"


class Recall(_PrecisionRecall):
    """The fraction of positive labels that are found: ``tp / (tp + fn)``.

    Arguments as for :class:`Precision`.

    >>> m = hn.metrics.Recall()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 4)
    0.6667
    """

    error_name = "false_negatives"


class AUC(Metric):
    """The area under the ROC or precision-recall curve, from confusion counts at fixed thresholds.

    Predictions are counted against ``num_thresholds`` thresholds evenly
    spaced in [0, 1] (the end ones moved out by 1e-7 so 0 and 1 count), or
    against the given ``thresholds``; the area is a Riemann sum over them
    (``summation_method``: ``"interpolation"``, ``"minoring"``, ``"majoring"``;
    for ``curve="PR"`` interpolation follows Davis & Goadrich). With
    ``multi_label`` each column gets its own AUC and they are averaged
    (weighted by ``label_weights``); otherwise every entry is one data point.

    >>> m = hn.metrics.AUC(num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> float(m.result())
    0.75
    """

    CURVES = ("ROC", "PR")
    SUMMATION_METHODS = ("interpolation", "minoring", "majoring")

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: str | None = None,
        thresholds: Sequence[float] | None = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Sequence[float] | None = None,
        from_logits: bool = False,
    ) -> None:
        _check_choice("AUC", "curve", curve.upper() if isinstance(curve, str) else curve, self.CURVES)
        _check_choice(
            "AUC",
            "summation_method",
            summation_method.lower() if isinstance(summation_method, str) else summation_method,
            self.SUMMATION_METHODS,
        )
        if thresholds is not None:
            inner = sorted(_parse_thresholds("AUC", thresholds, 0.5))
            num_thresholds = len(inner) + 2
            self._clip = _evenly_spaced([0.0] + inner + [1.0])
        else:
            _check_int("AUC", "num_thresholds", num_thresholds, 2)
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._clip = True
        if num_labels is not None:
            if not multi_label:
                raise ValueError("AUC: `num_labels` is needed only when `multi_label=True`.")
            _check_int("AUC", "num_labels", num_labels, 1)
        if label_weights is not None and (np.ndim(label_weights) != 1 or np.any(np.asarray(label_weights) < 0)):
            raise _invalid("AUC", "label_weights", "a list of non-negative numbers, one per label", label_weights)
        super().__init__(name, dtype)
        self.num_thresholds, self.curve, self.summation_method = num_thresholds, curve.upper(), summation_method.lower()
        self._init_from_thresholds = thresholds is not None
        self._thresholds = [0.0 - EPSILON] + inner + [1.0 + EPSILON]
        self.multi_label, self.num_labels, self.from_logits = multi_label, num_labels, from_logits
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self.built = False
        if not multi_label or num_labels:
            self._build(num_labels)

    @property
    def thresholds(self) -> list[float]:
        """Every threshold, the two end points included."""
        return list(self._thresholds)

    def _build(self, num_labels: int | None) -> None:
        shape = (self.num_thresholds,) if num_labels is None else (self.num_thresholds, num_labels)
        if self.label_weights is not None and self.multi_label and len(self.label_weights) != num_labels:
            raise ValueError(f"AUC: `label_weights` has {len(self.label_weights)} entries for {num_labels} labels.")
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self.built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = to_tensor(y_pred)
        if not self.built:
            if y_pred.ndim != 2:
                raise ValueError(
                    f"AUC: `multi_label=True` needs y_pred of shape (batch_size, num_labels), received shape {y_pred.shape}."
                )
            self._build(y_pred.shape[-1])
        if self.from_logits:
            y_pred = C.sigmoid(cast(y_pred, self.dtype))
        counts = _confusion_counts(
            y_true, y_pred, sample_weight, self._thresholds, self.dtype,
            multi_label=self.multi_label, label_weights=None if self.multi_label else self.label_weights, clip=self._clip,
        )  # fmt: skip
        for state in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            getattr(self, state).assign_add(getattr(counts, state))

    def result(self) -> Tensor:
        _check_built(self)
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average_labels(_interpolated_pr_area(tp, fp, fn))
        recall = _safe_divide(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _safe_divide(fp, fp + tn), recall
        else:
            x, y = recall, _safe_divide(tp, tp + fp)
        heights = {"interpolation": lambda: (y[:-1] + y[1:]) * 0.5, "minoring": lambda: minimum(y[:-1], y[1:]),
                   "majoring": lambda: maximum(y[:-1], y[1:])}[self.summation_method]()  # fmt: skip
        return self._average_labels(sum((x[:-1] - x[1:]) * heights, axis=0))

    def _average_labels(self, areas: Tensor) -> Tensor:
        """The one area, or the (label-weighted) mean of the per-label areas."""
        if not self.multi_label:
            return areas
        if self.label_weights is None:
            return C.mean(areas)
        weights = to_tensor(self.label_weights, self.dtype)
        return _safe_divide(sum(areas * weights), sum(weights))

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
            "summation_method": self.summation_method, "multi_label": self.multi_label, "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(), "from_logits": self.from_logits,
        }  # fmt: skip
        if self._init_from_thresholds:
            config["thresholds"] = self._thresholds[1:-1]
        return config


def _interpolated_pr_area(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
    """The PR area with true and false positives interpolated linearly between thresholds (Davis & Goadrich).

    Within one interval precision is ``(tp_A + slope * (p - p_A)) / p`` for
    ``p = tp + fp``; its integral over recall is
    ``slope * (dtp + intercept * log(p_A / p_B)) / (tp + fn)``.
    """
    dtp = tp[:-1] - tp[1:]
    predicted = tp + fp
    dp = predicted[:-1] - predicted[1:]
    slope = _safe_divide(dtp, maximum(dp, 0.0))
    intercept = tp[1:] - slope * predicted[1:]
    both_positive = greater(minimum(predicted[:-1], predicted[1:]), 0.0)
    ratio = where(both_positive, _safe_divide(predicted[:-1], maximum(predicted[1:], 0.0)), 1.0)
    increments = _safe_divide(slope * (dtp + intercept * log(ratio)), maximum(tp[1:] + fn[1:], 0.0))
    return sum(increments, axis=0)


# ------------------------------------------------------------- F-scores
class FBetaScore(Metric):
    """The F-beta score per class, ``(1 + b^2) * p * r / (b^2 * p + r)``, optionally averaged.

    ``y_pred`` becomes 0/1 by ``y_pred > threshold``, or, with
    ``threshold=None``, 1 at each row's largest value. ``average``: ``None``
    (one score per class), ``"micro"`` (from the counts over all classes),
    ``"macro"`` (the mean over classes) or ``"weighted"`` (weighted by each
    class's support). Inputs are ``(batch, classes)``.

    >>> m = hn.metrics.FBetaScore(beta=2.0, threshold=0.5, average="macro")
    """

    AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: str | None = None,
    ) -> None:
        owner = type(self).__name__
        _check_choice(owner, "average", average, self.AVERAGES)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise _invalid(owner, "beta", "a number > 0", beta)
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1
        ):
            raise _invalid(owner, "threshold", "None or a number in (0, 1]", threshold)
        super().__init__(name, dtype)
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self.built = False

    def _build(self, num_classes: int) -> None:
        shape = () if self.average == "micro" else (num_classes,)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, name="intermediate_weights")
        self.built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _inputs(y_true, y_pred, self.dtype)
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                f"{type(self).__name__} expects y_true and y_pred of one shape (batch_size, num_classes), received shapes {y_true.shape} and {y_pred.shape}."
            )
        if not self.built:
            self._build(y_pred.shape[-1])
        if self.threshold is None:  # 1 at each row's maximum, unless the whole row is 0
            row_max = reduce_max(y_pred, axis=-1, keepdims=True)
            chosen = cast(greater_equal(y_pred, row_max), self.dtype) * cast(greater(abs(y_pred), 1e-9), self.dtype)
        else:
            chosen = cast(greater(y_pred, self.threshold), self.dtype)
        weights = None if sample_weight is None else reshape(cast(to_tensor(sample_weight), self.dtype), (-1, 1))
        axis = None if self.average == "micro" else 0

        def weighted_sum(values: Tensor) -> Tensor:
            return sum(values if weights is None else values * weights, axis=axis)

        self.true_positives.assign_add(weighted_sum(chosen * y_true))
        self.false_positives.assign_add(weighted_sum(chosen * (1.0 - y_true)))
        self.false_negatives.assign_add(weighted_sum((1.0 - chosen) * y_true))
        self.intermediate_weights.assign_add(weighted_sum(y_true))

    def result(self) -> Tensor:
        """Keras's formula, with its 1e-7 guards in every denominator."""
        _check_built(self)
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + EPSILON)
        recall = tp / (tp + self.false_negatives + EPSILON)
        beta_squared = self.beta**2
        scores = precision * recall / (precision * beta_squared + recall + EPSILON) * (1.0 + beta_squared)
        if self.average == "weighted":
            return sum(scores * (self.intermediate_weights / (sum(self.intermediate_weights) + EPSILON)))
        return scores if self.average is None else C.mean(scores)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, the harmonic mean of precision and recall (FBetaScore with beta 1).

    >>> m = hn.metrics.F1Score(average="macro", threshold=0.5)
    >>> m.update_state(np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]]),
    ...                np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]))
    >>> round(float(m.result()), 4)
    0.6556
    """

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str = "f1_score",
        dtype: str | None = None,
    ) -> None:
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config


# ---------------------------------------------------- strings and look-up
FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    fn.__name__: fn
    for fn in (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
               sparse_top_k_categorical_accuracy, mean_squared_error, mean_absolute_error)
}  # fmt: skip
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
ACCURACY_NAMES = ("accuracy", "acc")


def accuracy_for(y_true_shape: tuple[int, ...], y_pred_shape: tuple[int | None, ...], loss: Any) -> type[Metric]:
    """Keras's choice for ``"accuracy"``: binary, sparse categorical or categorical, by loss and shapes."""
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy
    if isinstance(loss, losses.BinaryCrossentropy) or y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


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
