"""The confusion-matrix family: counts, Precision, Recall, AUC and the X-at-Y metrics, and the F-scores.

The counts (TruePositives, ...), Precision, Recall, AUC and the metrics that
maximise one rate under a bound on another (PrecisionAtRecall, ...) count
weighted true/false positives and negatives at fixed thresholds (one grid
comparison per batch, no host read); the F-scores count them per class at
one threshold or at each row's maximum.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from highnn.checks import check_choice, check_integer, check_number, fail, is_real
from highnn.config import epsilon
from highnn.graph import Tensor
from highnn.metrics.base import (
    Metric,
    aligned,
    check_built,
    safe_divide,
    same_rank,
)
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
    sum,
    to_tensor,
    where,
)
from highnn.ops.primitives import (
    max as reduce_max,
)

NEG_INF = -1e10  # the score given to predictions outside the top k, so no threshold keeps them


def _parse_thresholds(owner: str, thresholds: float | Sequence[float] | None, default: float) -> list[float]:
    """``thresholds`` as a list of floats in [0, 1] (``[default]`` when None)."""
    if thresholds is None:
        return [default]
    expected = "a number or a non-empty list of numbers in [0, 1]"
    values: list[Any] | None = (
        [thresholds] if is_real(thresholds) else list(thresholds) if isinstance(thresholds, Iterable) else None
    )
    if values is None or not all(is_real(t) for t in values):
        fail(owner, "thresholds", expected, thresholds, TypeError)
    if not values or not all(0.0 <= t <= 1.0 for t in values):
        fail(owner, "thresholds", expected, thresholds)
    return [float(t) for t in values]


def _evenly_spaced(thresholds: Sequence[float]) -> bool:
    """Whether ``thresholds`` are ``0, 1/(n-1), ..., 1`` (Keras then clips predictions into [0, 1])."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n) / (n - 1), atol=epsilon()))


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
    y_pred, y_true = same_rank(y_pred, cast(to_tensor(y_true), dtype))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have one shape, received shapes {y_true.shape} and {y_pred.shape}.")
    weights = None
    if sample_weight is not None:
        weights = cast(to_tensor(sample_weight), dtype)
        _, weights = same_rank(y_true, reshape(weights, weights.shape + (1,)), expand_rank_1=False)
    if top_k is not None:
        y_pred = _top_k_only(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim < 2 or not class_id < y_pred.shape[-1]:
            raise ValueError(
                f"`class_id` {class_id} needs predictions of shape (batch_size, num_classes) with more than "
                f"{class_id} classes, received shape {y_pred.shape}."
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


def _per_threshold(values: Tensor) -> Tensor:
    """The one value at a single threshold, or the values at each threshold."""
    return values[0] if values.shape[0] == 1 else values


class _ConditionCount(Metric):
    """The weighted count of one confusion-matrix cell at each threshold (default 0.5)."""

    condition: ClassVar[str]  # "true_positives", "false_positives", "true_negatives" or "false_negatives"

    def __init__(
        self, thresholds: float | Sequence[float] | None = None, name: str | None = None, dtype: str | None = None
    ) -> None:
        parsed = _parse_thresholds(type(self).__name__, thresholds, 0.5)
        super().__init__(name, dtype)
        self.init_thresholds, self.thresholds = thresholds, parsed
        self.accumulator = self.add_variable((len(parsed),), name="accumulator")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        counts = _confusion_counts(
            y_true, y_pred, sample_weight, self.thresholds, self.dtype, clip=_evenly_spaced(self.thresholds)
        )
        self.accumulator.assign_add(getattr(counts, self.condition))

    def result(self) -> Tensor:
        """One count, or one per threshold when several were given."""
        return _per_threshold(self.accumulator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """The (weighted) number of positive labels predicted positive (above the threshold).

    >>> m = hn.metrics.TruePositives()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> float(m.result())
    2.0
    """

    condition = "true_positives"


class FalsePositives(_ConditionCount):
    """The (weighted) number of negative labels predicted positive.

    >>> m = hn.metrics.FalsePositives()
    >>> m.update_state([0, 1, 0, 0], [0, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    >>> float(m.result())
    1.0
    """

    condition = "false_positives"


class TrueNegatives(_ConditionCount):
    """The (weighted) number of negative labels predicted negative (at or below the threshold).

    >>> m = hn.metrics.TrueNegatives()
    >>> m.update_state([0, 1, 0, 0], [1, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    condition = "true_negatives"


class FalseNegatives(_ConditionCount):
    """The (weighted) number of positive labels predicted negative.

    >>> m = hn.metrics.FalseNegatives()
    >>> m.update_state([0, 1, 1, 1], [0, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    condition = "false_negatives"


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
        self.top_k = None if top_k is None else check_integer(owner, "top_k", top_k, 1)
        self.class_id = None if class_id is None else check_integer(owner, "class_id", class_id, 0)
        super().__init__(name, dtype)
        self.init_thresholds = thresholds
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
        return _per_threshold(safe_divide(self.true_positives, self.true_positives + getattr(self, self.error_name)))

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
        check_choice("AUC", "curve", curve.upper() if isinstance(curve, str) else curve, self.CURVES)
        check_choice(
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
            num_thresholds = check_integer("AUC", "num_thresholds", num_thresholds, 2)
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._clip = True
        if num_labels is not None:
            if not multi_label:
                fail("AUC", "num_labels", "None unless `multi_label=True`", num_labels)
            num_labels = check_integer("AUC", "num_labels", num_labels, 1)
        if label_weights is not None and (np.ndim(label_weights) != 1 or np.any(np.asarray(label_weights) < 0)):
            fail("AUC", "label_weights", "a list of non-negative numbers, one per label", label_weights)
        super().__init__(name, dtype)
        self.num_thresholds, self.curve, self.summation_method = num_thresholds, curve.upper(), summation_method.lower()
        self._init_from_thresholds = thresholds is not None
        self._thresholds = [0.0 - epsilon()] + inner + [1.0 + epsilon()]
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
            fail("AUC", "label_weights", f"one weight for each of the {num_labels} labels", self.label_weights.tolist())
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
                    f"AUC: `multi_label=True` needs y_pred of shape (batch_size, num_labels), "
                    f"received shape {y_pred.shape}."
                )
            self._build(y_pred.shape[-1])
        if self.from_logits:
            y_pred = C.sigmoid(cast(y_pred, self.dtype))
        counts = _confusion_counts(
            y_true, y_pred, sample_weight, self._thresholds, self.dtype, multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights, clip=self._clip,
        )  # fmt: skip
        for state in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            getattr(self, state).assign_add(getattr(counts, state))

    def result(self) -> Tensor:
        check_built(self)
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average_labels(_interpolated_pr_area(tp, fp, fn))
        recall = safe_divide(tp, tp + fn)
        if self.curve == "ROC":
            x, y = safe_divide(fp, fp + tn), recall
        else:
            x, y = recall, safe_divide(tp, tp + fp)
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
        return safe_divide(sum(areas * weights), sum(weights))

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
            "summation_method": self.summation_method, "multi_label": self.multi_label, "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self.from_logits,
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
    slope = safe_divide(dtp, maximum(dp, 0.0))
    intercept = tp[1:] - slope * predicted[1:]
    both_positive = greater(minimum(predicted[:-1], predicted[1:]), 0.0)
    ratio = where(both_positive, safe_divide(predicted[:-1], maximum(predicted[1:], 0.0)), 1.0)
    increments = safe_divide(slope * (dtp + intercept * log(ratio)), maximum(tp[1:] + fn[1:], 0.0))
    return sum(increments, axis=0)


# ------------------------------------------------ one rate under a bound on another
class _RateAtRate(Metric):
    """The best ``maximized`` rate over thresholds where the ``bounded`` rate is at least the given value.

    Counts are taken at ``num_thresholds`` thresholds evenly spaced in [0, 1]
    (just 0.5 when it is 1); with ``class_id`` only that class's column
    counts. No feasible threshold gives 0.
    """

    bounded: ClassVar[str]  # the rate bounded below, also the constructor argument's name
    maximized: ClassVar[str]

    def __init__(
        self, value: float, num_thresholds: int = 200, class_id: int | None = None, name: str | None = None,
        dtype: str | None = None,
    ) -> None:  # fmt: skip
        owner = type(self).__name__
        value = check_number(owner, self.bounded, value, 0.0, 1.0)
        self.num_thresholds = check_integer(owner, "num_thresholds", num_thresholds, 1)
        self.class_id = None if class_id is None else check_integer(owner, "class_id", class_id, 0)
        super().__init__(name, dtype)
        self.value = value
        setattr(self, self.bounded, value)  # as Keras: ``PrecisionAtRecall(0.8).recall == 0.8``
        n = self.num_thresholds
        self.thresholds = [0.5] if n == 1 else [i / (n - 1) for i in range(n)]
        self.true_positives = self.add_variable((n,), name="true_positives")
        self.false_positives = self.add_variable((n,), name="false_positives")
        self.true_negatives = self.add_variable((n,), name="true_negatives")
        self.false_negatives = self.add_variable((n,), name="false_negatives")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        counts = _confusion_counts(
            y_true, y_pred, sample_weight, self.thresholds, self.dtype, class_id=self.class_id,
            clip=self.num_thresholds > 1,
        )  # fmt: skip
        for state in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            getattr(self, state).assign_add(getattr(counts, state))

    def _rate(self, which: str) -> Tensor:
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        if which in ("recall", "sensitivity"):
            return safe_divide(tp, tp + fn)
        if which == "precision":
            return safe_divide(tp, tp + fp)
        return safe_divide(tn, tn + fp)  # specificity

    def result(self) -> Tensor:
        feasible = greater_equal(self._rate(self.bounded), self.value)
        return reduce_max(where(feasible, self._rate(self.maximized), 0.0))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
            self.bounded: self.value,
        }  # fmt: skip


class SensitivityAtSpecificity(_RateAtRate):
    """The best sensitivity (recall) where specificity ``tn / (tn + fp)`` is at least ``specificity``.

    >>> m = hn.metrics.SensitivityAtSpecificity(0.5)
    >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
    >>> float(m.result())
    0.5
    """

    bounded, maximized = "specificity", "sensitivity"

    def __init__(
        self, specificity: float, num_thresholds: int = 200, class_id: int | None = None, name: str | None = None,
        dtype: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_RateAtRate):
    """The best specificity where sensitivity (recall) is at least ``sensitivity``.

    >>> m = hn.metrics.SpecificityAtSensitivity(0.5)
    >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
    >>> round(float(m.result()), 4)
    0.6667
    """

    bounded, maximized = "sensitivity", "specificity"

    def __init__(
        self, sensitivity: float, num_thresholds: int = 200, class_id: int | None = None, name: str | None = None,
        dtype: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_RateAtRate):
    """The best precision where recall is at least ``recall``.

    >>> m = hn.metrics.PrecisionAtRecall(0.5)
    >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
    >>> float(m.result())
    0.5
    """

    bounded, maximized = "recall", "precision"

    def __init__(
        self, recall: float, num_thresholds: int = 200, class_id: int | None = None, name: str | None = None,
        dtype: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_RateAtRate):
    """The best recall where precision is at least ``precision`` (0 where no threshold reaches it).

    >>> m = hn.metrics.RecallAtPrecision(0.8)
    >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> float(m.result())
    0.5
    """

    bounded, maximized = "precision", "recall"

    def __init__(
        self, precision: float, num_thresholds: int = 200, class_id: int | None = None, name: str | None = None,
        dtype: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(precision, num_thresholds, class_id, name, dtype)


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
        check_choice(owner, "average", average, self.AVERAGES)
        self.beta = check_number(owner, "beta", beta, 0.0, low_open=True)
        self.threshold = (
            None if threshold is None else check_number(owner, "threshold", threshold, 0.0, 1.0, low_open=True)
        )
        super().__init__(name, dtype)
        self.average = average
        self.built = False

    def _build(self, num_classes: int) -> None:
        shape = () if self.average == "micro" else (num_classes,)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, name="intermediate_weights")
        self.built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = aligned(y_true, y_pred, self.dtype)
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                f"{type(self).__name__} expects y_true and y_pred of one shape (batch_size, num_classes), "
                f"received shapes {y_true.shape} and {y_pred.shape}."
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
        check_built(self)
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + epsilon())
        recall = tp / (tp + self.false_negatives + epsilon())
        beta_squared = self.beta**2
        scores = precision * recall / (precision * beta_squared + recall + epsilon()) * (1.0 + beta_squared)
        if self.average == "weighted":
            return sum(scores * (self.intermediate_weights / (sum(self.intermediate_weights) + epsilon())))
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
