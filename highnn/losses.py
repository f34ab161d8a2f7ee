"""Losses (Keras 3 classes, functions, string names and reductions).

A loss class computes one value per example with its function and reduces
them (``"sum_over_batch_size"`` by default). ``y_true`` and ``y_pred`` must have
one shape (a trailing axis of 1 on either side is squeezed or added first, as
Keras does); sparse crossentropy takes one integer label per example. The
crossentropies are numerically stable: with ``from_logits=True`` they use
log-sum-exp, and a softmax or sigmoid output fed with ``from_logits=False`` is
traced back to its logits, so confident predictions never give ``log(0)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

import numpy as np

from highnn.checks import check_axes, check_bool, check_choice, check_integer, check_number, fail
from highnn.config import FLOAT_TYPES, epsilon, settings
from highnn.graph import Tensor
from highnn.layers.layer import snake_case
from highnn.ops import composites as C
from highnn.ops.nn_ops import integer_labels, log_probabilities, sparse_crossentropies
from highnn.ops.primitives import (
    abs,
    cast,
    exp,
    log,
    log1p,
    maximum,
    minimum,
    reshape,
    sqrt,
    sum,
    to_tensor,
    transpose,
    where,
)
from highnn.ops.primitives import max as reduce_max
from highnn.registry import Registry

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
Axes = int | tuple[int, ...] | None


def _carry_logits(transform: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``transform(x)``; a softmax/sigmoid output keeps its logits, transformed alike."""
    out = transform(x)
    out.logits = None if x.logits is None else transform(x.logits)
    return out


def same_rank(x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    """Keras's rule when ranks differ by one and the longer ends in 1: squeeze it, or expand the other if rank 1."""
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        swapped = same_rank(x2, x1)
        return swapped[1], swapped[0]
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1:
            return x1, _carry_logits(lambda t: reshape(t, t.shape + (1,)), x2)
        return _carry_logits(lambda t: reshape(t, t.shape[:-1]), x1), x2
    return x1, x2


def align(y_true: Any, y_pred: Any, owner: str = "loss", one_hot: bool = False) -> tuple[Tensor, Tensor]:
    """Tensors of one shape (after :func:`same_rank`) and y_pred's dtype; other shapes raise, naming both."""
    y_pred = to_tensor(y_pred)
    y_true = to_tensor(y_true)
    aligned_true, aligned_pred = same_rank(y_true, y_pred)
    if aligned_true.shape != aligned_pred.shape:
        expected, hint = (
            ("be one-hot with", " (integer labels need sparse_categorical_crossentropy)") if one_hot else ("have", "")
        )
        raise ValueError(
            f"{owner}: `y_true` must {expected} the shape of `y_pred` {y_pred.shape}, received shape {y_true.shape}"
            f"{hint}."
        )
    return cast(aligned_true, aligned_pred.dtype), aligned_pred


def _class_axis(owner: str, axis: Any, ndim: int) -> int:
    """``axis`` as a non-negative position among ``ndim`` axes (Keras rejects a bool)."""
    if not -ndim <= check_integer(owner, "axis", axis) < ndim:
        fail(owner, "axis", f"an axis of `y_pred`'s {ndim} dimensions", axis)
    return int(axis) % ndim


def _warn_one_class(owner: str, y_pred: Tensor, axis: int) -> None:
    if y_pred.shape[axis] == 1:
        warnings.warn(
            f"{owner}: `y_pred` has one class along axis {axis} (shape {y_pred.shape}), so the loss is always 0; "
            "with 2 classes use binary_crossentropy.",
            SyntaxWarning,
            stacklevel=3,
        )


# ------------------------------------------------------------------ regression
def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean((y_true - y_pred)^2) over the last axis."""
    y_true, y_pred = align(y_true, y_pred, "mean_squared_error")
    return C.mean(C.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean(|y_true - y_pred|) over the last axis."""
    y_true, y_pred = align(y_true, y_pred, "mean_absolute_error")
    return C.mean(abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Tensor:
    """100 * mean(|y_true - y_pred| / max(|y_true|, epsilon)) over the last axis."""
    y_true, y_pred = align(y_true, y_pred, "mean_absolute_percentage_error")
    return C.mean(abs(y_true - y_pred) / maximum(abs(y_true), epsilon()), axis=-1) * 100.0


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean((log(1 + y_pred) - log(1 + y_true))^2) over the last axis, values below epsilon raised to it."""
    y_true, y_pred = align(y_true, y_pred, "mean_squared_logarithmic_error")
    return C.mean(C.square(log1p(maximum(y_pred, epsilon())) - log1p(maximum(y_true, epsilon()))), axis=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """Quadratic for errors up to ``delta``, linear beyond."""
    y_true, y_pred = align(y_true, y_pred, "huber")
    error = abs(y_pred - y_true)
    quadratic = minimum(error, delta)
    return C.mean(quadratic * quadratic * 0.5 + (error - quadratic) * delta, axis=-1)


def log_cosh(y_true: Any, y_pred: Any) -> Tensor:
    """mean(log(cosh(y_pred - y_true))) over the last axis, as x + softplus(-2x) - log(2), which never overflows."""
    y_true, y_pred = align(y_true, y_pred, "log_cosh")
    error = y_pred - y_true
    return C.mean(error + C.softplus(error * -2.0) - math.log(2.0), axis=-1)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    return x / sqrt(maximum(sum(x * x, axis, keepdims=True), 1e-12))


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along ``axis``: -1 for the same direction, 0 if either is 0."""
    axis = check_integer("cosine_similarity", "axis", axis)
    y_true, y_pred = align(y_true, y_pred, "cosine_similarity")
    return -sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis)


# --------------------------------------------------------------------- hinges
def _hinge_labels(y_true: Tensor) -> Tensor:
    """Labels that are all 0 or 1 become -1 and 1; others (such as -1 and 1) stay (decided in the graph, per batch)."""
    is_binary = cast(y_true == 0.0, y_true.dtype) + cast(y_true == 1.0, y_true.dtype)
    return where(C.min(is_binary) > 0.5, y_true * 2.0 - 1.0, y_true)


def hinge(y_true: Any, y_pred: Any) -> Tensor:
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; labels of 0/1 are taken as -1/1."""
    y_true, y_pred = align(y_true, y_pred, "hinge")
    return C.mean(maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """mean(max(1 - y_true * y_pred, 0)^2) over the last axis; labels of 0/1 are taken as -1/1."""
    y_true, y_pred = align(y_true, y_pred, "squared_hinge")
    return C.mean(C.square(maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """max(neg - pos + 1, 0) with pos = sum(y_true * y_pred) and neg = max((1 - y_true) * y_pred) over the last axis."""
    y_true, y_pred = align(y_true, y_pred, "categorical_hinge")
    positive = sum(y_true * y_pred, axis=-1)
    negative = reduce_max((1.0 - y_true) * y_pred, axis=-1)
    return maximum(negative - positive + 1.0, 0.0)


# ------------------------------------------------------------- probabilistic
def kl_divergence(y_true: Any, y_pred: Any) -> Tensor:
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [epsilon, 1]."""
    y_true, y_pred = align(y_true, y_pred, "kl_divergence")
    y_true, y_pred = C.clip(y_true, epsilon(), 1.0), C.clip(y_pred, epsilon(), 1.0)
    return sum(y_true * log(y_true / y_pred), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> Tensor:
    """mean(y_pred - y_true * log(y_pred + epsilon)) over the last axis."""
    y_true, y_pred = align(y_true, y_pred, "poisson")
    return C.mean(y_pred - y_true * log(y_pred + epsilon()), axis=-1)


def _logits_of(y_pred: Tensor, from_logits: bool) -> Tensor | None:
    """The logits to use: y_pred itself, those a softmax/sigmoid output remembers, or None."""
    return y_pred if from_logits else y_pred.logits


def _binary_crossentropies(y_true: Tensor, y_pred: Tensor, from_logits: bool) -> Tensor:
    """The elementwise crossentropies, from logits where known (stable), else from clipped probabilities."""
    logits = _logits_of(y_pred, from_logits)
    if logits is not None:  # max(x, 0) - x*y + log(1 + exp(-|x|))
        return maximum(logits, 0.0) - logits * y_true + log1p(exp(-abs(logits)))
    p = C.clip(y_pred, epsilon(), 1.0 - epsilon())
    return -(y_true * log(p) + (1.0 - y_true) * log(1.0 - p))


def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """The mean over ``axis`` of the crossentropy between labels (smoothed towards 0.5) and probabilities."""
    axis = check_integer("binary_crossentropy", "axis", axis)
    y_true, y_pred = align(y_true, y_pred, "binary_crossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return C.mean(_binary_crossentropies(y_true, y_pred, from_logits), axis=axis)


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Binary crossentropy scaled by ``(1 - p_t) ** gamma`` (and by ``alpha``/``1 - alpha`` with class balancing)."""
    axis = check_integer("binary_focal_crossentropy", "axis", axis)
    y_true, y_pred = align(y_true, y_pred, "binary_focal_crossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    crossentropy = _binary_crossentropies(y_true, y_pred, from_logits)
    p = C.sigmoid(y_pred) if from_logits else y_pred
    p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
    focal = (1.0 - p_t) ** gamma * crossentropy
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return C.mean(focal, axis=axis)


def _smoothed(y_true: Tensor, label_smoothing: float, num_classes: int) -> Tensor:
    return y_true * (1.0 - label_smoothing) + label_smoothing / num_classes if label_smoothing else y_true


def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """-sum(y_true * log(p)) along ``axis``: one-hot (or soft) labels against class probabilities."""
    y_pred = to_tensor(y_pred)
    axis = _class_axis("categorical_crossentropy", axis, y_pred.ndim)
    y_true, y_pred = align(y_true, y_pred, "categorical_crossentropy", one_hot=True)
    _warn_one_class("categorical_crossentropy", y_pred, axis)
    y_true = _smoothed(y_true, label_smoothing, y_pred.shape[axis])
    return -sum(y_true * log_probabilities(y_pred, from_logits, axis), axis=axis)


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    alpha: float | Sequence[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Categorical crossentropy with each class's term scaled by ``alpha * (1 - p) ** gamma``."""
    y_pred = to_tensor(y_pred)
    axis = _class_axis("categorical_focal_crossentropy", axis, y_pred.ndim)
    y_true, y_pred = align(y_true, y_pred, "categorical_focal_crossentropy", one_hot=True)
    _warn_one_class("categorical_focal_crossentropy", y_pred, axis)
    y_true = _smoothed(y_true, label_smoothing, y_pred.shape[axis])
    log_p = log_probabilities(y_pred, from_logits, axis)
    weights = to_tensor(np.asarray(alpha, dtype=np.float64), y_pred.dtype) * (1.0 - exp(log_p)) ** gamma
    return -sum(weights * y_true * log_p, axis=axis)


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
    return cast(_one_label_per_example(y_true, y_pred, what), "int32")


def _one_label_per_example(y_true: Any, y_pred: Tensor, what: str) -> Tensor:
    """``y_true`` of shape ``y_pred.shape[:-1]``, a trailing axis of 1 dropped; other shapes raise."""
    labels = to_tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = reshape(labels, labels.shape[:-1])
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{what}: `y_true` must hold one integer label per example, shape {y_pred.shape[:-1]}, "
            f"received shape {labels.shape}."
        )
    return labels


def _classes_last(x: Tensor, axis: int) -> Tensor:
    """``x`` with its ``axis`` moved to the end (a softmax output keeps its logits only if it was there)."""
    if axis == x.ndim - 1:
        return x
    order = tuple(a for a in range(x.ndim) if a != axis) + (axis,)
    return transpose(x, order)


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: int | None = None, axis: int = -1
) -> Tensor:
    """Crossentropy against integer labels of shape ``(batch,)`` or ``(batch, 1)``; ``ignore_class`` labels give 0.

    Each label's log probability is gathered (no one-hot is built); labels outside the classes raise a ValueError.
    """
    owner = "sparse_categorical_crossentropy"
    y_pred = to_tensor(y_pred)
    y_pred = _classes_last(y_pred, _class_axis(owner, axis, y_pred.ndim))
    labels = integer_labels(_one_label_per_example(y_true, y_pred, owner))
    ignored = None if ignore_class is None else labels == ignore_class
    if labels.backend.readable_on_host(labels.value):  # else a batch over several processes: fit() checked it
        kept = labels.numpy() if ignored is None else labels.numpy()[~ignored.numpy()]
        check_sparse_labels(kept, y_pred.shape[-1], "y_true")
    values = sparse_crossentropies(labels if ignored is None else where(ignored, 0, labels), y_pred, from_logits)
    return values if ignored is None else where(ignored, 0.0, values)


# -------------------------------------------------------------- segmentation
def dice(y_true: Any, y_pred: Any, axis: Axes = None) -> Tensor:
    """1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + epsilon), summed over ``axis`` (all by default)."""
    axis = None if axis is None else check_axes("dice", axis, allow_many=True)
    y_true, y_pred = align(y_true, y_pred, "dice")
    intersection = sum(y_true * y_pred, axis)
    return 1.0 - intersection * 2.0 / (sum(y_true, axis) + sum(y_pred, axis) + epsilon())


def tversky(y_true: Any, y_pred: Any, alpha: float = 0.5, beta: float = 0.5, axis: Axes = None) -> Tensor:
    """1 - TP / (TP + alpha * FP + beta * FN + epsilon), summed over ``axis`` (all by default); 0.5/0.5 is Dice."""
    axis = None if axis is None else check_axes("tversky", axis, allow_many=True)
    y_true, y_pred = align(y_true, y_pred, "tversky")
    true_positives = sum(y_pred * y_true, axis)
    false_positives = sum((1.0 - y_true) * y_pred, axis)
    false_negatives = sum(y_true * (1.0 - y_pred), axis)
    return 1.0 - true_positives / (true_positives + false_positives * alpha + false_negatives * beta + epsilon())


# --------------------------------------------------------------------- classes
class Loss:
    """``loss(y_true, y_pred, sample_weight=None)`` -> the reduced loss.

    Args:
        name: the loss's name.
        reduction: ``"sum_over_batch_size"`` (the mean over every value), ``"sum"``, ``"mean"`` (the same as
            the first), ``"mean_with_sample_weight"`` (the weighted sum over the sum of the weights), or
            ``"none"``/None (the values as they are).
        dtype: the float dtype the loss computes in (``y_true`` and ``y_pred`` are cast to it); floatx by default.
    """

    #: whether ``y_true`` reaches :meth:`call` as it is (integer class labels), not cast to the loss's dtype
    integer_labels = False

    def __init__(
        self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype: str | None = None
    ):
        owner = type(self).__name__
        self.reduction = check_choice(owner, "reduction", reduction, REDUCTIONS)
        self._dtype = check_choice(owner, "dtype", dtype, (None, *FLOAT_TYPES))
        self.name = name or snake_case(owner)

    @property
    def dtype(self) -> str:
        return self._dtype or settings.floatx

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        raise NotImplementedError

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_pred = to_tensor(y_pred)
        if y_pred.dtype != self.dtype:
            y_pred = _carry_logits(lambda t: cast(t, self.dtype), y_pred)
        labels = to_tensor(y_true)
        values = self.call(labels if self.integer_labels else cast(labels, self.dtype), y_pred)
        weights = None
        if sample_weight is not None:
            values, weights = same_rank(values, cast(to_tensor(sample_weight), values.dtype))
            values = values * weights
        return reduce_values(values, weights, self.reduction)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction, "dtype": self._dtype, **self.options()}

    def options(self) -> dict[str, Any]:
        """The arguments of the loss's function beyond ``y_true`` and ``y_pred``."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


def reduce_values(values: Tensor, sample_weight: Tensor | None, reduction: str | None) -> Tensor:
    """Reduce per-example values as Keras does (a scalar, or no values at all, stays as it is)."""
    if reduction in ("none", None) or values.shape in ((), (0,)):
        return values
    total = sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = sum(sample_weight)
        return where(divisor == 0.0, 0.0, total / where(divisor == 0.0, 1.0, divisor))
    return total / float(max(math.prod(values.shape), 1))


class LossFunctionWrapper(Loss):
    """A loss from a function ``fn(y_true, y_pred, **kwargs) -> per-example values``."""

    def __init__(
        self,
        fn: Callable[..., Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or getattr(fn, "__name__", None), reduction, dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def options(self) -> dict[str, Any]:
        return dict(self.fn_kwargs)


Reduction = str | None
SUM_OVER_BATCH = "sum_over_batch_size"


class MeanSquaredError(LossFunctionWrapper):
    def __init__(
        self, reduction: Reduction = SUM_OVER_BATCH, name: str = "mean_squared_error", dtype: str | None = None
    ):
        super().__init__(mean_squared_error, reduction, name, dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(
        self, reduction: Reduction = SUM_OVER_BATCH, name: str = "mean_absolute_error", dtype: str | None = None
    ):
        super().__init__(mean_absolute_error, reduction, name, dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    def __init__(
        self,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "mean_absolute_percentage_error",
        dtype: str | None = None,
    ):
        super().__init__(mean_absolute_percentage_error, reduction, name, dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    def __init__(
        self,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "mean_squared_logarithmic_error",
        dtype: str | None = None,
    ):
        super().__init__(mean_squared_logarithmic_error, reduction, name, dtype)


class CosineSimilarity(LossFunctionWrapper):
    def __init__(
        self,
        axis: int = -1,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "cosine_similarity",
        dtype: str | None = None,
    ):
        axis = check_integer("CosineSimilarity", "axis", axis)
        super().__init__(cosine_similarity, reduction, name, dtype, axis=axis)


class Huber(LossFunctionWrapper):
    def __init__(
        self,
        delta: float = 1.0,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "huber_loss",
        dtype: str | None = None,
    ):
        delta = check_number("Huber", "delta", delta, 0.0, low_open=True)
        super().__init__(huber, reduction, name, dtype, delta=delta)


class LogCosh(LossFunctionWrapper):
    def __init__(self, reduction: Reduction = SUM_OVER_BATCH, name: str = "log_cosh", dtype: str | None = None):
        super().__init__(log_cosh, reduction, name, dtype)


class Hinge(LossFunctionWrapper):
    def __init__(self, reduction: Reduction = SUM_OVER_BATCH, name: str = "hinge", dtype: str | None = None):
        super().__init__(hinge, reduction, name, dtype)


class SquaredHinge(LossFunctionWrapper):
    def __init__(self, reduction: Reduction = SUM_OVER_BATCH, name: str = "squared_hinge", dtype: str | None = None):
        super().__init__(squared_hinge, reduction, name, dtype)


class CategoricalHinge(LossFunctionWrapper):
    def __init__(
        self, reduction: Reduction = SUM_OVER_BATCH, name: str = "categorical_hinge", dtype: str | None = None
    ):
        super().__init__(categorical_hinge, reduction, name, dtype)


class KLDivergence(LossFunctionWrapper):
    def __init__(self, reduction: Reduction = SUM_OVER_BATCH, name: str = "kl_divergence", dtype: str | None = None):
        super().__init__(kl_divergence, reduction, name, dtype)


class Poisson(LossFunctionWrapper):
    def __init__(self, reduction: Reduction = SUM_OVER_BATCH, name: str = "poisson", dtype: str | None = None):
        super().__init__(poisson, reduction, name, dtype)


def _crossentropy_options(owner: str, from_logits: Any, label_smoothing: Any, axis: Any) -> dict[str, Any]:
    """The checked arguments every crossentropy class shares."""
    return {
        "from_logits": check_bool(owner, "from_logits", from_logits),
        "label_smoothing": check_number(owner, "label_smoothing", label_smoothing, 0.0, 1.0),
        "axis": check_integer(owner, "axis", axis),
    }


def _focal_options(owner: str, alpha: Any, gamma: Any) -> dict[str, Any]:
    """``alpha`` (a number or, for the categorical loss, one per class) and ``gamma``, both >= 0."""
    if isinstance(alpha, (list, tuple)):
        alpha = [check_number(owner, f"alpha[{i}]", a, 0.0) for i, a in enumerate(alpha)]
    else:
        alpha = check_number(owner, "alpha", alpha, 0.0)
    return {"alpha": alpha, "gamma": check_number(owner, "gamma", gamma, 0.0)}


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "binary_crossentropy",
        dtype: str | None = None,
    ):
        options = _crossentropy_options("BinaryCrossentropy", from_logits, label_smoothing, axis)
        super().__init__(binary_crossentropy, reduction, name, dtype, **options)


class BinaryFocalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "binary_focal_crossentropy",
        dtype: str | None = None,
    ):
        owner = "BinaryFocalCrossentropy"
        options = {
            "apply_class_balancing": check_bool(owner, "apply_class_balancing", apply_class_balancing),
            "alpha": check_number(owner, "alpha", alpha, 0.0, 1.0),
            "gamma": check_number(owner, "gamma", gamma, 0.0),
            **_crossentropy_options(owner, from_logits, label_smoothing, axis),
        }
        super().__init__(binary_focal_crossentropy, reduction, name, dtype, **options)


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "categorical_crossentropy",
        dtype: str | None = None,
    ):
        options = _crossentropy_options("CategoricalCrossentropy", from_logits, label_smoothing, axis)
        super().__init__(categorical_crossentropy, reduction, name, dtype, **options)


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        alpha: float | Sequence[float] = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "categorical_focal_crossentropy",
        dtype: str | None = None,
    ):
        owner = "CategoricalFocalCrossentropy"
        options = {
            **_focal_options(owner, alpha, gamma),
            **_crossentropy_options(owner, from_logits, label_smoothing, axis),
        }
        super().__init__(categorical_focal_crossentropy, reduction, name, dtype, **options)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    integer_labels = True

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: Reduction = SUM_OVER_BATCH,
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype: str | None = None,
    ):
        owner = "SparseCategoricalCrossentropy"
        options = {
            "from_logits": check_bool(owner, "from_logits", from_logits),
            "ignore_class": None if ignore_class is None else check_integer(owner, "ignore_class", ignore_class),
            "axis": check_integer(owner, "axis", axis),
        }
        super().__init__(sparse_categorical_crossentropy, reduction, name, dtype, **options)


class Dice(LossFunctionWrapper):
    def __init__(
        self, reduction: Reduction = SUM_OVER_BATCH, name: str = "dice", axis: Axes = None, dtype: str | None = None
    ):
        axis = None if axis is None else check_axes("Dice", axis, allow_many=True)
        super().__init__(dice, reduction, name, dtype, axis=axis)


class Tversky(LossFunctionWrapper):
    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction: Reduction = SUM_OVER_BATCH,
        name: str = "tversky",
        axis: Axes = None,
        dtype: str | None = None,
    ):
        options = {
            "alpha": check_number("Tversky", "alpha", alpha, 0.0),
            "beta": check_number("Tversky", "beta", beta, 0.0),
            "axis": None if axis is None else check_axes("Tversky", axis, allow_many=True),
        }
        super().__init__(tversky, reduction, name, dtype, **options)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
bce = BCE = binary_crossentropy
LossFunction = Callable[[Any, Any], Tensor]
LossLike = str | Loss | type[Loss] | dict[str, Any] | LossFunction

LOSSES: Registry[Loss] = Registry("loss", Loss, from_callable=LossFunctionWrapper)
LOSSES.register(MeanSquaredError, "mean_squared_error", "mse")
LOSSES.register(MeanAbsoluteError, "mean_absolute_error", "mae")
LOSSES.register(MeanAbsolutePercentageError, "mean_absolute_percentage_error", "mape")
LOSSES.register(MeanSquaredLogarithmicError, "mean_squared_logarithmic_error", "msle")
LOSSES.register(CosineSimilarity, "cosine_similarity")
LOSSES.register(Huber, "huber")
LOSSES.register(LogCosh, "log_cosh")
LOSSES.register(Hinge, "hinge")
LOSSES.register(SquaredHinge, "squared_hinge")
LOSSES.register(CategoricalHinge, "categorical_hinge")
LOSSES.register(KLDivergence, "kl_divergence", "kld")
LOSSES.register(Poisson, "poisson")
LOSSES.register(BinaryCrossentropy, "binary_crossentropy", "bce")
LOSSES.register(BinaryFocalCrossentropy, "binary_focal_crossentropy")
LOSSES.register(CategoricalCrossentropy, "categorical_crossentropy")
LOSSES.register(CategoricalFocalCrossentropy, "categorical_focal_crossentropy")
LOSSES.register(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")
LOSSES.register(Dice, "dice")
LOSSES.register(Tversky, "tversky")


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
