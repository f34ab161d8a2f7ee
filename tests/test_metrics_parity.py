"""Keras parity of the metrics: per-label sample weights, state held in sub-metrics, wrapper configs, Keras's
remaining metrics (numbers from Keras's own tests, NumPy and scikit-learn), copies and pickles."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from helpers import require_backend
from sklearn import metrics as sk

import highnn as hn
from highnn import metrics as M
from highnn.tracing import TracedFunction

RNG = np.random.default_rng(7)
N = 30
SPLITS = (9, 20)  # three batches: 9, 11, 10
WEIGHTS = RNG.uniform(0.0, 2.0, size=N)
Y = (RNG.random(N) < 0.5).astype(float)
P = np.clip(0.35 * Y + 0.65 * RNG.random(N), 0.0, 1.0)
P[:3] = [0.0, 0.5, 1.0]


@pytest.fixture(autouse=True)
def numpy_float64() -> Iterator[None]:
    with hn.config.use_backend("numpy", floatx="float64"):
        yield


def value(metric: M.Metric, *args: Any, **kwargs: Any) -> Any:
    metric.update_state(*args, **kwargs)
    return metric.result().numpy()


def in_batches(metric: M.Metric, y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None = None) -> Any:
    for i, (t, p) in enumerate(zip(np.split(y_true, SPLITS), np.split(y_pred, SPLITS))):
        metric.update_state(t, p, sample_weight=None if weights is None else np.split(weights, SPLITS)[i])
    return metric.result().numpy()


# ---------------------------------------------------- sample weights per label
@pytest.mark.parametrize(
    "metric, y_true, y_pred, weights, expected",
    [  # Keras's accuracy_metrics_test numbers
        (M.Accuracy, [[1, 2], [3, 4]], [[0, 2], [3, 4]], [[1, 0], [0, 1]], 0.5),
        (M.Accuracy, [[1, 2], [3, 4]], [[0, 2], [3, 4]], [[1, 0]], 0.5),
        (M.Accuracy, [1, 2, 3, 4], [0, 2, 3, 4], [1, 1, 0, 0], 0.5),
        (M.BinaryAccuracy, [[1, 1], [0, 0]], [[0.98, 1], [0, 0.6]], [[1, 0], [0, 1]], 0.5),
        (M.BinaryAccuracy, [[1, 1], [0, 0]], [[0.98, 1], [0, 0.6]], [[1, 0]], 1.0),
        (M.BinaryAccuracy, [1, 1, 0, 0], [[0.98], [1], [0], [0.6]], [1, 0, 0, 1], 0.5),
    ],
)
def test_accuracies_take_a_weight_per_label_as_keras_does(
    metric: type[M.Metric], y_true: Any, y_pred: Any, weights: Any, expected: float
) -> None:
    np.testing.assert_allclose(value(metric(), np.array(y_true), np.array(y_pred), np.array(weights)), expected)


def test_per_label_and_per_time_step_weights_match_numpy() -> None:
    labels, scores = RNG.integers(0, 3, size=(N, 5)), RNG.random((N, 5, 3))
    one_hot, weights = np.eye(3)[labels], RNG.uniform(0.0, 2.0, size=(N, 5))
    hits = (scores.argmax(-1) == labels).astype(float)
    top2 = (np.argsort(-scores, -1)[..., :2] == labels[..., None]).any(-1).astype(float)
    cases = [
        (M.SparseCategoricalAccuracy(), labels, scores, hits),
        (M.SparseCategoricalAccuracy(), labels[..., None], scores, hits),
        (M.CategoricalAccuracy(), one_hot, scores, hits),
        (M.SparseTopKCategoricalAccuracy(k=2), labels, scores, top2),
        (M.TopKCategoricalAccuracy(k=2), one_hot, scores, top2),
        (M.BinaryAccuracy(threshold=0.6), one_hot[..., 0], scores[..., 0], one_hot[..., 0] == (scores[..., 0] > 0.6)),
        (M.Accuracy(), labels, scores.argmax(-1), hits),
    ]
    for metric, y_true, y_pred, matches in cases:
        expected = np.sum(matches * weights) / np.sum(weights)  # every example has 5 values: Keras's mean of means
        np.testing.assert_allclose(in_batches(metric, y_true, y_pred, weights), expected, rtol=1e-12)


def test_a_sample_weight_that_does_not_fit_leaves_the_state_alone() -> None:
    metric = M.BinaryAccuracy()
    with pytest.raises(ValueError, match=r"binary_accuracy: `sample_weight` of shape \(3,\) does not fit values"):
        metric.update_state(np.ones((2, 2)), np.ones((2, 2)), sample_weight=np.ones(3))
    assert all(not np.any(v.numpy()) for v in metric.variables)


# ------------------------------------------------ state in attributes and sub-metrics
class Example(M.Metric):
    """Keras's test metric: a sum of squared errors over a count, in two variables."""

    def __init__(self, name: str = "example", dtype: str | None = None) -> None:
        super().__init__(name, dtype)
        self.sum = self.add_variable((), name="sum")
        self.total = self.add_variable((), name="total")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        error = hn.ops.to_tensor(y_pred) - y_true
        self.sum.assign_add(hn.ops.sum(error * error))
        self.total.assign_add(float(error.shape[0]))

    def result(self) -> hn.Tensor:
        return self.sum / self.total


class Spread(M.Metric):
    """A user metric made of metrics in an attribute, a dict and a list, plus a variable of its own."""

    def __init__(self, name: str = "spread", dtype: str | None = None) -> None:
        super().__init__(name, dtype)
        self.mae = M.MeanAbsoluteError()
        self.parts = {"mse": M.MeanSquaredError(), "more": [M.Mean("bias")]}
        self.batches = hn.Variable(0.0, "batches", trainable=False)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self.mae.update_state(y_true, y_pred, sample_weight)
        self.parts["mse"].update_state(y_true, y_pred, sample_weight)
        self.parts["more"][0].update_state(hn.ops.to_tensor(y_pred) - y_true, sample_weight)
        self.batches.assign_add(1.0)

    def result(self) -> hn.Tensor:
        return self.mae.result() + self.parts["mse"].result() + self.parts["more"][0].result() + self.batches


def spread_reference(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray, batches: int) -> float:
    error = y_pred - y_true
    return float(
        np.average(np.abs(error).mean(-1), weights=weights)
        + np.average((error**2).mean(-1), weights=weights)
        + np.average(error.mean(-1), weights=weights)
        + batches
    )


def variable(x: float) -> hn.Variable:
    return hn.Variable(x, "extra", trainable=False)


@pytest.mark.parametrize(
    "attach, count",
    [  # Keras's metric_test numbers: Example has two variables of its own
        (lambda m: setattr(m, "more", [variable(0.0), variable(1.0)]), 4),
        (lambda m: setattr(m, "more", {"a": variable(0.0), "b": variable(1.0)}), 4),
        (lambda m: setattr(m, "more", {"a": [variable(0.0), variable(1.0)]}), 4),
        (lambda m: setattr(m, "sub", Example("sub")), 4),
        (lambda m: setattr(m, "subs", [Example("sub1"), Example("sub2")]), 6),
        (lambda m: setattr(m, "subs", {"1": Example("sub1"), "2": Example("sub2")}), 6),
        (lambda m: (setattr(m, "sub", Example("sub")), setattr(m.sub, "sub", Example("subsub"))), 6),
        (lambda m: (setattr(m, "subs", []), m.subs.append(Example("late"))), 4),
        (lambda m: setattr(m, "same", [m.sum, m]), 2),
    ],
)
def test_variables_and_metrics_held_in_attributes_are_tracked(attach: Callable[[M.Metric], Any], count: int) -> None:
    metric = Example()
    attach(metric)
    assert len(metric.variables) == count
    assert metric.variables[:2] == [metric.sum, metric.total]


def test_a_metric_of_sub_metrics_updates_resets_and_traces() -> None:
    y_true, y_pred = RNG.normal(size=(N, 2)), RNG.normal(size=(N, 2))
    metric = Spread()
    assert [v.path for v in metric.variables] == [
        "batches", "mean_absolute_error/total", "mean_absolute_error/count", "mean_squared_error/total",
        "mean_squared_error/count", "bias/total", "bias/count",
    ]  # fmt: skip
    expected = spread_reference(y_true, y_pred, WEIGHTS, 3)
    np.testing.assert_allclose(in_batches(metric, y_true, y_pred, WEIGHTS), expected, rtol=1e-12)
    metric.reset_state()
    assert all(not np.any(v.numpy()) for v in metric.variables)
    step = TracedFunction(lambda t, p, w: (metric.update_state(t, p, w), [])[1])
    for t, p, w in zip(*(np.split(a, 3) for a in (y_true, y_pred, WEIGHTS))):
        step(t, p, w)
    assert len(step.programs) == 1
    np.testing.assert_allclose(metric.result().numpy(), expected, rtol=1e-12)


# ------------------------------------------------------------- wrapper configs
@pytest.mark.parametrize(
    "fn, options",
    [
        (M.binary_accuracy, {"threshold": 0.7}),
        (M.sparse_top_k_categorical_accuracy, {"k": 2}),
        (M.mean_absolute_percentage_error, {}),
        (M.cosine_similarity, {"axis": -1}),
        (hn.losses.binary_crossentropy, {"label_smoothing": 0.1}),
        (hn.losses.huber, {"delta": 0.5}),
    ],
)
def test_wrapper_configs_name_registered_functions_and_round_trip_through_json(
    fn: Callable[..., Any], options: dict[str, Any]
) -> None:
    y_true = RNG.integers(0, 3, size=N) if "sparse" in fn.__name__ else (RNG.random((N, 3)) < 0.5).astype(float)
    y_pred = RNG.uniform(0.05, 0.95, size=(N, 3))
    wrapper = M.MeanMetricWrapper(fn=fn, name="wrapped", **options)
    config = wrapper.get_config()
    assert config == {"name": "wrapped", "dtype": "float64", "fn": fn.__name__, **options}
    saved = json.loads(json.dumps(M.serialize(wrapper)))
    for rebuilt in (M.MeanMetricWrapper.from_config(config), M.deserialize(saved), M.get(saved)):
        assert rebuilt.fn is fn and rebuilt.get_config() == config
        np.testing.assert_allclose(
            in_batches(rebuilt, y_true, y_pred), in_batches(copy.deepcopy(wrapper), y_true, y_pred)
        )


def test_wrapper_reads_keras_serialized_functions_and_rejects_others() -> None:
    keras_fn = {"module": "keras.metrics", "class_name": "function", "config": "binary_accuracy"}
    wrapper = M.MeanMetricWrapper.from_config({"name": "b", "dtype": "float64", "fn": keras_fn, "threshold": 0.3})
    assert wrapper.fn is M.binary_accuracy and wrapper.get_config()["fn"] == "binary_accuracy"
    with pytest.raises(
        TypeError, match=r"MeanMetricWrapper: `fn` must be the name of a metric function, .* received 3"
    ):
        M.MeanMetricWrapper.from_config({"name": "x", "fn": 3})
    with pytest.raises(ValueError, match="Unknown metric function: 'mean_cubed_error'"):
        M.MeanMetricWrapper.from_config({"name": "x", "fn": "mean_cubed_error"})


# ------------------------------------------------------- Keras's remaining metrics
def counts(thresholds: list[float], y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """sklearn's weighted confusion matrix at each threshold (a prediction is positive above it)."""
    cells = np.array([sk.confusion_matrix(y, p > t, sample_weight=w, labels=[0, 1]).ravel() for t in thresholds])
    return dict(zip(("true_negatives", "false_positives", "false_negatives", "true_positives"), cells.T))


COUNTS = {
    "true_positives": M.TruePositives, "false_positives": M.FalsePositives, "true_negatives": M.TrueNegatives,
    "false_negatives": M.FalseNegatives,
}  # fmt: skip


@pytest.mark.parametrize("cell", COUNTS)
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.0, 0.25, 0.5, 0.75, 1.0], [0.1, 0.6]])
def test_confusion_counts_match_sklearn(cell: str, thresholds: Any) -> None:
    listed = [0.5] if thresholds is None else np.atleast_1d(thresholds).tolist()
    expected = counts(listed, Y, P, WEIGHTS)[cell]
    result = in_batches(COUNTS[cell](thresholds=thresholds), Y, P, WEIGHTS)
    np.testing.assert_allclose(result, expected[0] if len(listed) == 1 else expected, rtol=1e-12)


def test_confusion_counts_give_keras_numbers() -> None:
    assert value(M.FalsePositives(), [0, 1, 0, 0], [0, 0, 1, 1]) == 2.0
    assert value(M.FalsePositives(), [0, 1, 0, 0], [0, 0, 1, 1], sample_weight=[0, 0, 1, 0]) == 1.0
    assert value(M.FalseNegatives(), [0, 1, 1, 1], [0, 1, 0, 0], sample_weight=[0, 0, 1, 0]) == 1.0
    assert value(M.TrueNegatives(), [0, 1, 0, 0], [1, 1, 0, 0]) == 2.0
    assert value(M.TruePositives(), [0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0]) == 1.0


SENSITIVITY_PRED = [0.0, 0.1, 0.2, 0.3, 0.4, 0.01, 0.02, 0.25, 0.26, 0.26]
PRECISION_PRED = [0.0, 0.1, 0.2, 0.5, 0.6, 0.2, 0.5, 0.6, 0.8, 0.9]
RECALL_PRED = [0.05, 0.1, 0.2, 0.3, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.9, 0.95]
RECALL_LABELS = [0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 1]
HALVES = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
HIGH_PRED = [0.0, 0.1, 0.2, 0.3, 0.4, 0.1, 0.45, 0.5, 0.8, 0.9]
SEVEN_PRED = [0.1, 0.2, 0.3, 0.5, 0.6, 0.9, 0.9]


@pytest.mark.parametrize(
    "make, y_true, y_pred, weights, expected",
    [  # Keras's confusion_metrics_test numbers
        (lambda: M.SensitivityAtSpecificity(0.8), HALVES, HIGH_PRED, None, 0.8),
        (lambda: M.SensitivityAtSpecificity(0.4), HALVES, SENSITIVITY_PRED, None, 0.6),
        (lambda: M.SensitivityAtSpecificity(0.4), HALVES, SENSITIVITY_PRED, list(range(1, 11)), 0.675),
        (lambda: M.SpecificityAtSensitivity(1.0), HALVES, SENSITIVITY_PRED, None, 0.2),
        (lambda: M.SpecificityAtSensitivity(0.4), HALVES, SENSITIVITY_PRED, None, 0.6),
        (lambda: M.SpecificityAtSensitivity(0.4), HALVES, SENSITIVITY_PRED, list(range(1, 11)), 0.4),
        (lambda: M.PrecisionAtRecall(0.8), HALVES, PRECISION_PRED, None, 2.0 / 3),
        (lambda: M.PrecisionAtRecall(0.6), HALVES, PRECISION_PRED, None, 0.75),
        (lambda: M.PrecisionAtRecall(7.0 / 8), HALVES, PRECISION_PRED, [2, 1, 2, 1, 2, 1, 2, 2, 1, 2], 0.7),
        (lambda: M.RecallAtPrecision(0.75), RECALL_LABELS, RECALL_PRED, None, 0.5),
        (lambda: M.RecallAtPrecision(2.0 / 3), RECALL_LABELS, RECALL_PRED, None, 5.0 / 6),
        (lambda: M.RecallAtPrecision(0.75), [0, 1, 0, 0, 0, 1, 1], SEVEN_PRED, [1, 2, 1, 2, 1, 2, 1], 0.6),
        (lambda: M.RecallAtPrecision(2.0 / 3), [1, 1, 0, 0], [0.1, 0.2, 0.3, 0.9], None, 0.0),
    ],
)  # fmt: skip
def test_rate_at_rate_metrics_give_keras_numbers(
    make: Callable[[], M.Metric], y_true: Any, y_pred: Any, weights: Any, expected: float
) -> None:
    np.testing.assert_allclose(value(make(), y_true, y_pred, sample_weight=weights), expected, rtol=1e-9)


@pytest.mark.parametrize("make", [M.SpecificityAtSensitivity, M.PrecisionAtRecall, M.RecallAtPrecision])
def test_class_id_takes_one_column_as_keras_does(make: Callable[..., M.Metric]) -> None:
    labels, predictions = np.array(HALVES) * 2, np.array(SENSITIVITY_PRED)
    single, column = make(0.4), make(0.4, class_id=2)
    np.testing.assert_allclose(
        value(column, np.eye(3)[labels], np.stack([predictions] * 3, -1)), value(single, labels // 2, predictions)
    )


RATES: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
    "recall": lambda c: c["true_positives"] / np.maximum(c["true_positives"] + c["false_negatives"], 1e-300),
    "precision": lambda c: c["true_positives"] / np.maximum(c["true_positives"] + c["false_positives"], 1e-300),
    "specificity": lambda c: c["true_negatives"] / np.maximum(c["true_negatives"] + c["false_positives"], 1e-300),
}
RATES["sensitivity"] = RATES["recall"]


@pytest.mark.parametrize(
    "make", [M.SensitivityAtSpecificity, M.SpecificityAtSensitivity, M.PrecisionAtRecall, M.RecallAtPrecision]
)
@pytest.mark.parametrize("bound", [0.3, 0.7, 0.95])
@pytest.mark.parametrize("num_thresholds", [1, 2, 25, 200])
def test_rate_at_rate_metrics_match_a_numpy_search_over_thresholds(
    make: Callable[..., M.Metric], bound: float, num_thresholds: int
) -> None:
    metric = make(bound, num_thresholds=num_thresholds)
    thresholds = [0.5] if num_thresholds == 1 else list(np.linspace(0.0, 1.0, num_thresholds))
    cells = counts(thresholds, Y, P, WEIGHTS)
    bounded, maximized = RATES[type(metric).bounded](cells), RATES[type(metric).maximized](cells)
    expected = np.max(np.where(bounded >= bound, maximized, 0.0), initial=0.0)
    np.testing.assert_allclose(in_batches(metric, Y, P, WEIGHTS), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "method, expected",
    [  # Keras's AUC tests: weighted PR areas at 3 thresholds
        ("majoring", 1.0),
        ("minoring", 0.7 * (1 - 4 / 7)),
        ("interpolation", (0.5 * (3 + 2 * np.log(2.5))) / 7 + 4 / 7),
    ],
)
def test_pr_auc_summation_methods_give_keras_numbers(method: str, expected: float) -> None:
    metric = M.AUC(num_thresholds=3, curve="PR", summation_method=method)
    np.testing.assert_allclose(value(metric, [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 2, 3, 4]), expected)
    negative = M.AUC(num_thresholds=3, curve="PR")
    assert value(negative, [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[-1, -2, -3, -4]) == 0.0


def test_sum_adds_weighted_values_as_keras_does() -> None:
    assert value(M.Sum(), [1, 3, 5, 7]) == 16.0
    assert value(M.Sum(), [1, 3, 5, 7], sample_weight=[1, 1, 0, 0]) == 4.0
    values, weights = RNG.normal(size=(N, 3, 2)), RNG.random((N, 3))
    metric = M.Sum()
    metric.update_state(values, sample_weight=weights)  # values summed over the axis the weights lack
    metric.update_state(values[:4], sample_weight=2.0)
    np.testing.assert_allclose(metric.result().numpy(), (values.sum(-1) * weights).sum() + 2 * values[:4].sum())
    assert M.Sum().name == "sum" and M.deserialize(M.serialize(M.Sum(name="s"))).name == "s"


def l2_normalized(x: np.ndarray, axis: int) -> np.ndarray:
    return x / np.sqrt(np.maximum(np.sum(x * x, axis=axis, keepdims=True), 1e-14))


KERAS_TRUE = np.array([[0, 1, 0, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0, 1]], dtype=float)
KERAS_PRED = np.array([[0, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1]], dtype=float)
KERAS_WEIGHTS = np.array([1.0, 1.5, 2.0, 2.5])


def test_regression_metrics_give_keras_numbers() -> None:
    np.testing.assert_allclose(value(M.MeanAbsolutePercentageError(), KERAS_TRUE, KERAS_PRED), 35e7, rtol=1e-7)
    mape = M.MeanAbsolutePercentageError()
    np.testing.assert_allclose(value(mape, KERAS_TRUE, KERAS_PRED, sample_weight=KERAS_WEIGHTS), 40e7, rtol=1e-7)
    np.testing.assert_allclose(value(M.MeanSquaredLogarithmicError(), KERAS_TRUE, KERAS_PRED), 0.24022, atol=1e-5)
    msle = M.MeanSquaredLogarithmicError()
    np.testing.assert_allclose(value(msle, KERAS_TRUE, KERAS_PRED, sample_weight=KERAS_WEIGHTS), 0.26082, atol=1e-5)
    assert value(
        M.MeanAbsolutePercentageError(), np.array([[0, 1], [0, 0]]), np.array([[1, 1], [0, 0]])
    ) == pytest.approx(2.5e8)


@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_regression_metrics_match_numpy(weights: np.ndarray | None) -> None:
    y_true, y_pred = RNG.normal(size=(N, 3)) * 5, RNG.normal(size=(N, 3)) * 5
    y_true[0] = 0.0  # a zero label vector: cosine 0, percentage error over 1e-7
    error = y_pred - y_true
    expected = {
        M.MeanAbsolutePercentageError: 100 * np.mean(np.abs(error) / np.maximum(np.abs(y_true), 1e-7), -1),
        M.MeanSquaredLogarithmicError: np.mean(
            (np.log1p(np.maximum(y_pred, 1e-7)) - np.log1p(np.maximum(y_true, 1e-7))) ** 2, -1
        ),
        M.LogCoshError: np.mean(np.log(np.cosh(error)), -1),
        M.CosineSimilarity: np.sum(l2_normalized(y_true, -1) * l2_normalized(y_pred, -1), -1),
    }
    for cls, per_example in expected.items():
        result = in_batches(cls(), y_true, y_pred, weights)
        np.testing.assert_allclose(result, np.average(per_example, weights=weights), rtol=1e-10, err_msg=cls.__name__)
    huge = M.LogCoshError()  # no overflow where cosh would: log(cosh(x)) = |x| - log 2 for large x
    np.testing.assert_allclose(value(huge, np.zeros((1, 1)), np.full((1, 1), 1000.0)), 1000.0 - np.log(2.0))


def test_cosine_similarity_along_another_axis() -> None:
    y_true, y_pred = RNG.normal(size=(N, 4, 3)), RNG.normal(size=(N, 4, 3))
    per_example = np.sum(l2_normalized(y_true, 1) * l2_normalized(y_pred, 1), 1).mean(-1)
    result = in_batches(M.CosineSimilarity(axis=1), y_true, y_pred, WEIGHTS)
    np.testing.assert_allclose(result, np.average(per_example, weights=WEIGHTS), rtol=1e-12)
    assert M.CosineSimilarity(axis=1).get_config() == {"name": "cosine_similarity", "dtype": "float64", "axis": 1}


def test_integer_inputs_are_computed_in_floatx() -> None:
    metric = M.MeanSquaredLogarithmicError()
    expected = (np.log(2.0) - np.log1p(1e-7)) ** 2 / 2  # the zero label counts as 1e-7
    np.testing.assert_allclose(value(metric, np.array([[0, 1]]), np.array([[1, 1]])), expected, rtol=1e-12)
    assert metric.result().dtype == "float64"


def test_default_names_and_configs_are_keras_ones() -> None:
    names = {
        M.TruePositives(): "true_positives", M.FalseNegatives(): "false_negatives", M.Sum(): "sum",
        M.PrecisionAtRecall(0.5): "precision_at_recall", M.RecallAtPrecision(0.5): "recall_at_precision",
        M.SensitivityAtSpecificity(0.5): "sensitivity_at_specificity",
        M.SpecificityAtSensitivity(0.5): "specificity_at_sensitivity", M.LogCoshError(): "logcosh",
        M.MeanAbsolutePercentageError(): "mean_absolute_percentage_error", M.CosineSimilarity(): "cosine_similarity",
        M.MeanSquaredLogarithmicError(): "mean_squared_logarithmic_error",
    }  # fmt: skip
    assert {metric.name: name for metric, name in names.items()} == {name: name for name in names.values()}
    assert M.PrecisionAtRecall(0.4, num_thresholds=100, class_id=2, name="p").get_config() == {
        "name": "p", "dtype": "float64", "class_id": 2, "num_thresholds": 100, "recall": 0.4,
    }  # fmt: skip
    assert M.TruePositives(thresholds=[0.2, 0.4]).get_config()["thresholds"] == [0.2, 0.4]
    assert M.RecallAtPrecision(0.7).precision == 0.7 and M.SensitivityAtSpecificity(0.2).specificity == 0.2
    with pytest.raises(ValueError, match="Unknown metric: 'precision_at_recall'"):
        M.get("precision_at_recall")  # it needs its `recall`: only configs and instances name it
    assert type(M.deserialize({"class_name": "RecallAtPrecision", "config": {"precision": 0.5}})) is M.RecallAtPrecision


NEW_BAD_ARGUMENTS = [
    (lambda: M.SensitivityAtSpecificity(-1), ValueError, "`specificity` must be a number in [0, 1], received -1"),
    (lambda: M.SpecificityAtSensitivity(1.5), ValueError, "`sensitivity` must be a number in [0, 1], received 1.5"),
    (lambda: M.PrecisionAtRecall("0.5"), TypeError, "`recall` must be a number in [0, 1], received '0.5' of type str"),
    (lambda: M.RecallAtPrecision(0.5, num_thresholds=0), ValueError, "`num_thresholds` must be an integer >= 1"),
    (lambda: M.PrecisionAtRecall(0.5, class_id=-1), ValueError, "`class_id` must be an integer >= 0, received -1"),
    (lambda: M.TruePositives(thresholds=2), ValueError, "`thresholds` must be a number or a non-empty list"),
    (lambda: M.CosineSimilarity(axis=1.5), TypeError, "`axis` must be an integer, received 1.5"),
    (lambda: M.Sum(dtype="int32"), ValueError, "`dtype` must be one of 'float32', 'float64', received 'int32'"),
]


@pytest.mark.parametrize("make, error, message", NEW_BAD_ARGUMENTS, ids=[m for _, _, m in NEW_BAD_ARGUMENTS])
def test_new_metrics_reject_bad_arguments(make: Callable[[], M.Metric], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        make()
    assert message in str(raised.value)


# ------------------------------------------------------------------- inside fit
X = RNG.normal(size=(N, 3))
Y_FIT = (X[:, 0] + RNG.normal(scale=0.8, size=N) > 0).astype(float)


def new_metrics() -> list[Any]:
    return [
        "true_positives", M.FalseNegatives(thresholds=[0.3, 0.6]), M.PrecisionAtRecall(0.5),
        M.RecallAtPrecision(0.6), M.SensitivityAtSpecificity(0.5), M.SpecificityAtSensitivity(0.5), "mape", "msle",
        "log_cosh_error", "cosine_similarity", M.AUC(curve="PR", summation_method="minoring", name="pr_auc"), Spread(),
    ]  # fmt: skip


def fit_and_evaluate(run_eagerly: bool) -> tuple[dict[str, list[float]], dict[str, Any], np.ndarray]:
    hn.utils.set_random_seed(11)
    model = hn.Sequential([hn.Input((3,)), hn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=new_metrics(), run_eagerly=run_eagerly)
    history = model.fit(X, Y_FIT, batch_size=10, epochs=2, shuffle=False, verbose=0)
    logs = model.evaluate(X, Y_FIT, batch_size=10, verbose=0, return_dict=True)
    return history.history, logs, model.predict(X, verbose=0)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_new_metrics_in_compiled_fit_match_eager_numpy_and_references(backend: str) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend, floatx="float64"):
        history, logs, predicted = fit_and_evaluate(False)
    eager_history, eager_logs, _ = fit_and_evaluate(True)
    assert list(history) == list(eager_history) and list(logs) == list(eager_logs)
    for name in logs:
        np.testing.assert_allclose(history[name], eager_history[name], rtol=1e-10, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(logs[name], eager_logs[name], rtol=1e-10, atol=1e-12, err_msg=name)
    p = predicted[:, 0]
    np.testing.assert_allclose(logs["true_positives"], np.sum((p > 0.5) * Y_FIT), rtol=1e-12)
    np.testing.assert_allclose(logs["false_negatives"], [np.sum((p <= t) * Y_FIT) for t in (0.3, 0.6)], rtol=1e-12)
    np.testing.assert_allclose(logs["mape"], 100 * np.mean(np.abs(p - Y_FIT) / np.maximum(Y_FIT, 1e-7)), rtol=1e-9)
    np.testing.assert_allclose(logs["log_cosh_error"], np.mean(np.log(np.cosh(p - Y_FIT))), rtol=1e-9)
    np.testing.assert_allclose(logs["spread"], spread_reference(Y_FIT[:, None], predicted, np.ones(N), 3), rtol=1e-9)


# ------------------------------------------------------------ copies and pickles
def updated(metric: M.Metric, y_true: np.ndarray, y_pred: np.ndarray) -> M.Metric:
    metric.update_state(y_true, y_pred, sample_weight=WEIGHTS)
    return metric


def copyable() -> list[Callable[[], M.Metric]]:
    multi_true, multi_pred = (RNG.random((N, 3)) < 0.5).astype(float), RNG.random((N, 3))
    return [
        lambda: updated(M.AUC(multi_label=True), multi_true, multi_pred),
        lambda: updated(M.R2Score(), multi_true, multi_pred),
        lambda: updated(M.PrecisionAtRecall(0.5), Y, P),
        lambda: updated(M.get("mse"), multi_true, multi_pred),
        lambda: updated(Spread(), multi_true, multi_pred),
        lambda: M.AUC(multi_label=True),  # not built yet
    ]


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))], ids=["deepcopy", "pickle"])
@pytest.mark.parametrize("make", copyable())
def test_copies_carry_the_state_and_are_independent(
    backend64: str, make: Callable[[], M.Metric], clone: Callable[[M.Metric], M.Metric]
) -> None:
    metric = make()
    twin = clone(metric)
    assert type(twin) is type(metric) and twin.get_config() == metric.get_config()
    assert [v.path for v in twin.variables] == [v.path for v in metric.variables]
    assert all(a is not b for a, b in zip(twin.variables, metric.variables))
    if metric.variables and getattr(metric, "built", True):
        np.testing.assert_array_equal(twin.result().numpy(), metric.result().numpy())
        before = metric.result().numpy()
        twin.reset_state()
        np.testing.assert_array_equal(metric.result().numpy(), before)
    assert all(v.backend is hn.config.settings.backend for v in twin.variables)
