"""Metrics against independent NumPy / scikit-learn computations, in eager code and in compiled fit/evaluate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from helpers import require_backend
from sklearn import metrics as sk

import highnn as hn
from highnn import metrics as M
from highnn.tracing import TracedFunction

RNG = np.random.default_rng(20240601)
N, CLASSES = 24, 4
SPLITS = (7, 15)  # three batches of unequal size: 7, 8, 9
WEIGHTS = RNG.uniform(0.0, 2.0, size=N)

# binary: labels and scores in [0, 1] (a few at exactly 0, 0.5 and 1)
BINARY_TRUE = (RNG.random(N) < 0.5).astype(float)
BINARY_PRED = np.clip(0.3 * BINARY_TRUE + RNG.random(N) * 0.7, 0.0, 1.0)
BINARY_PRED[:3] = [0.0, 0.5, 1.0]
# multi-class: integer labels, their one-hot form and continuous scores (no ties)
SPARSE_TRUE = RNG.integers(0, CLASSES, size=N)
ONE_HOT_TRUE = np.eye(CLASSES)[SPARSE_TRUE]
SCORES = RNG.random((N, CLASSES)) + 0.5 * ONE_HOT_TRUE
# multi-label indicators
MULTI_TRUE = (RNG.random((N, CLASSES)) < 0.5).astype(float)
MULTI_PRED = np.clip(0.35 * MULTI_TRUE + 0.65 * RNG.random((N, CLASSES)), 0.0, 1.0)
# regression with three outputs
REGRESSION_TRUE = RNG.normal(size=(N, 3))
REGRESSION_PRED = REGRESSION_TRUE + RNG.normal(scale=0.7, size=(N, 3))


@pytest.fixture(autouse=True)
def numpy_float64() -> Iterator[None]:
    """Every test runs on NumPy in float64 unless it picks a backend itself."""
    with hn.config.use_backend("numpy", floatx="float64"):
        yield


def batches(*arrays: np.ndarray | None) -> Iterator[list[np.ndarray | None]]:
    for chunk in zip(*(np.split(a, SPLITS) if a is not None else [None] * (len(SPLITS) + 1) for a in arrays)):
        yield list(chunk)


def accumulate(
    metric: M.Metric, y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """The metric's result after one update per batch."""
    for t, p, w in batches(y_true, y_pred, weights):
        metric.update_state(t, p, sample_weight=w)
    result = metric.result()
    assert isinstance(result, hn.Tensor)
    return result.numpy()


def weight_options() -> list[Any]:
    return [pytest.param(None, id="unweighted"), pytest.param(WEIGHTS, id="weighted")]


# --------------------------------------------------------------- accuracy
@pytest.mark.parametrize("weights", weight_options())
def test_accuracy_counts_exact_matches(weights: np.ndarray | None) -> None:
    predicted = np.where(np.random.default_rng(1).random(N) < 0.6, SPARSE_TRUE, (SPARSE_TRUE + 1) % CLASSES)
    result = accumulate(M.Accuracy(), SPARSE_TRUE[:, None], predicted[:, None], weights)
    np.testing.assert_allclose(result, sk.accuracy_score(SPARSE_TRUE, predicted, sample_weight=weights), rtol=1e-12)


@pytest.mark.parametrize("weights", weight_options())
@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_binary_accuracy_thresholds_predictions(threshold: float, weights: np.ndarray | None) -> None:
    metric = M.BinaryAccuracy(threshold=threshold)
    result = accumulate(metric, BINARY_TRUE, BINARY_PRED[:, None], weights)  # (N,) labels against (N, 1) predictions
    expected = sk.accuracy_score(BINARY_TRUE, threshold < BINARY_PRED, sample_weight=weights)
    np.testing.assert_allclose(result, expected, rtol=1e-12)


@pytest.mark.parametrize("weights", weight_options())
def test_categorical_and_sparse_categorical_accuracy(weights: np.ndarray | None) -> None:
    expected = sk.accuracy_score(SPARSE_TRUE, SCORES.argmax(-1), sample_weight=weights)
    np.testing.assert_allclose(accumulate(M.CategoricalAccuracy(), ONE_HOT_TRUE, SCORES, weights), expected, rtol=1e-12)
    for labels in (SPARSE_TRUE, SPARSE_TRUE[:, None], SPARSE_TRUE.astype(float)):
        np.testing.assert_allclose(
            accumulate(M.SparseCategoricalAccuracy(), labels, SCORES, weights), expected, rtol=1e-12
        )


@pytest.mark.parametrize("weights", weight_options())
@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracies_match_sklearn(k: int, weights: np.ndarray | None) -> None:
    expected = sk.top_k_accuracy_score(SPARSE_TRUE, SCORES, k=k, sample_weight=weights, labels=range(CLASSES))
    np.testing.assert_allclose(
        accumulate(M.TopKCategoricalAccuracy(k=k), ONE_HOT_TRUE, SCORES, weights), expected, rtol=1e-12
    )
    np.testing.assert_allclose(
        accumulate(M.SparseTopKCategoricalAccuracy(k=k), SPARSE_TRUE, SCORES, weights), expected, rtol=1e-12
    )


def test_top_k_counts_ties_at_the_kth_place_and_k_above_the_class_count() -> None:
    scores = np.array([[0.1, 0.5, 0.5, 0.2], [0.4, 0.4, 0.4, 0.1], [0.9, 0.1, 0.2, 0.3]])
    labels = np.array([2, 2, 1])
    strictly_higher = (scores > scores[np.arange(3), labels][:, None]).sum(-1)  # Keras's in_top_k: fewer than k above
    for k in (1, 2, 4, 7):
        result = M.sparse_top_k_categorical_accuracy(labels, scores, k=k).numpy()
        np.testing.assert_array_equal(result, (strictly_higher < k).astype(float))


def test_the_default_top_k_is_5() -> None:
    assert M.TopKCategoricalAccuracy().k == 5 and M.SparseTopKCategoricalAccuracy().k == 5
    assert M.BinaryAccuracy().threshold == 0.5


# ------------------------------------------------------------- regression
@pytest.mark.parametrize("weights", weight_options())
def test_regression_errors_match_sklearn(weights: np.ndarray | None) -> None:
    y, p = REGRESSION_TRUE, REGRESSION_PRED
    mse = sk.mean_squared_error(y, p, sample_weight=weights)
    np.testing.assert_allclose(accumulate(M.MeanSquaredError(), y, p, weights), mse, rtol=1e-12)
    np.testing.assert_allclose(
        accumulate(M.MeanAbsoluteError(), y, p, weights),
        sk.mean_absolute_error(y, p, sample_weight=weights),
        rtol=1e-12,
    )
    np.testing.assert_allclose(accumulate(M.RootMeanSquaredError(), y, p, weights), np.sqrt(mse), rtol=1e-12)


def test_one_dimensional_inputs_are_one_value_per_example() -> None:
    y, p = REGRESSION_TRUE[:, 0], REGRESSION_PRED[:, 0]
    np.testing.assert_allclose(
        accumulate(M.MeanSquaredError(), y, p, WEIGHTS), sk.mean_squared_error(y, p, sample_weight=WEIGHTS), rtol=1e-12
    )
    expected = sk.accuracy_score(BINARY_TRUE, BINARY_PRED > 0.5, sample_weight=WEIGHTS)
    np.testing.assert_allclose(accumulate(M.BinaryAccuracy(), BINARY_TRUE, BINARY_PRED, WEIGHTS), expected, rtol=1e-12)


@pytest.mark.parametrize("weights", weight_options())
@pytest.mark.parametrize(
    "aggregation, multioutput",
    [("uniform_average", "uniform_average"), ("variance_weighted_average", "variance_weighted"), (None, "raw_values")],
)
def test_r2_score_matches_sklearn(aggregation: str | None, multioutput: str, weights: np.ndarray | None) -> None:
    result = accumulate(M.R2Score(class_aggregation=aggregation), REGRESSION_TRUE, REGRESSION_PRED, weights)
    expected = sk.r2_score(REGRESSION_TRUE, REGRESSION_PRED, sample_weight=weights, multioutput=multioutput)
    np.testing.assert_allclose(result, expected, rtol=1e-10)


def test_adjusted_r2_and_its_fallback_to_the_plain_score() -> None:
    plain = sk.r2_score(REGRESSION_TRUE, REGRESSION_PRED)
    n = REGRESSION_TRUE.size  # Keras counts every target value as a sample
    for p in (2, 5):
        expected = 1 - (1 - plain) * (n - 1) / (n - p - 1)
        np.testing.assert_allclose(
            accumulate(M.R2Score(num_regressors=p), REGRESSION_TRUE, REGRESSION_PRED), expected, rtol=1e-10
        )
    np.testing.assert_allclose(
        accumulate(M.R2Score(num_regressors=n - 1), REGRESSION_TRUE, REGRESSION_PRED), plain, rtol=1e-10
    )


def test_r2_of_a_constant_target_is_zero_not_nan() -> None:
    metric = M.R2Score()
    metric.update_state(np.ones((4, 1)), np.arange(4.0)[:, None])
    assert metric.result().item() == 0.0


# -------------------------------------------------------- precision/recall
@pytest.mark.parametrize("weights", weight_options())
def test_precision_and_recall_at_the_default_threshold(weights: np.ndarray | None) -> None:
    predicted = BINARY_PRED > 0.5
    for cls, reference in ((M.Precision, sk.precision_score), (M.Recall, sk.recall_score)):
        result = accumulate(cls(), BINARY_TRUE, BINARY_PRED, weights)
        np.testing.assert_allclose(result, reference(BINARY_TRUE, predicted, sample_weight=weights), rtol=1e-12)
        assert result.shape == ()


@pytest.mark.parametrize("weights", weight_options())
def test_precision_and_recall_give_one_value_per_threshold(weights: np.ndarray | None) -> None:
    thresholds = [0.2, 0.5, 0.8]
    for cls, reference in ((M.Precision, sk.precision_score), (M.Recall, sk.recall_score)):
        result = accumulate(cls(thresholds=thresholds), BINARY_TRUE[:, None], BINARY_PRED[:, None], weights)
        expected = [reference(BINARY_TRUE, t < BINARY_PRED, sample_weight=weights) for t in thresholds]
        np.testing.assert_allclose(result, expected, rtol=1e-12)


def test_evenly_spaced_thresholds_clip_predictions_into_zero_one() -> None:
    scores = np.array([-0.5, 0.3, 1.5, 2.0])
    labels = np.array([0.0, 1.0, 1.0, 0.0])
    metric = M.Precision(thresholds=[0.0, 0.5, 1.0])
    metric.update_state(labels, scores)
    clipped = np.clip(scores, 0, 1)
    expected = [sk.precision_score(labels, clipped > t, zero_division=0) for t in (0.0, 0.5, 1.0)]
    np.testing.assert_allclose(metric.result().numpy(), expected)


@pytest.mark.parametrize("weights", weight_options())
def test_class_id_restricts_to_one_column(weights: np.ndarray | None) -> None:
    for cls, reference in ((M.Precision, sk.precision_score), (M.Recall, sk.recall_score)):
        result = accumulate(cls(class_id=2), MULTI_TRUE, MULTI_PRED, weights)
        np.testing.assert_allclose(
            result, reference(MULTI_TRUE[:, 2], MULTI_PRED[:, 2] > 0.5, sample_weight=weights), rtol=1e-12
        )


def top_k_indicator(scores: np.ndarray, k: int) -> np.ndarray:
    """1 at each row's k largest scores; ties go to the lower index (a stable sort of -scores)."""
    indicator = np.zeros_like(scores, dtype=bool)
    order = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
    np.put_along_axis(indicator, order, True, axis=-1)
    return indicator


@pytest.mark.parametrize("weights", weight_options())
@pytest.mark.parametrize("k", [1, 2])
def test_top_k_precision_and_recall(k: int, weights: np.ndarray | None) -> None:
    chosen = top_k_indicator(MULTI_PRED, k).ravel()
    flat_weights = None if weights is None else np.repeat(weights, CLASSES)
    for cls, reference in ((M.Precision, sk.precision_score), (M.Recall, sk.recall_score)):
        result = accumulate(cls(top_k=k), MULTI_TRUE, MULTI_PRED, weights)
        np.testing.assert_allclose(
            result, reference(MULTI_TRUE.ravel(), chosen, sample_weight=flat_weights), rtol=1e-12
        )


def test_top_k_breaks_ties_by_the_lower_index() -> None:
    scores = np.array([[0.5, 0.5, 0.5, 0.1]])
    labels = np.array([[0.0, 0.0, 1.0, 0.0]])
    metric = M.Recall(top_k=2)
    metric.update_state(labels, scores)
    assert metric.result().item() == 0.0  # columns 0 and 1 win the tie; the label in column 2 is missed
    np.testing.assert_array_equal(top_k_indicator(scores, 2), [[True, True, False, False]])


# -------------------------------------------------------------------- AUC
def keras_thresholds(num_thresholds: int) -> np.ndarray:
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return np.array([-1e-7] + inner + [1 + 1e-7])


def confusion_at(
    thresholds: np.ndarray, labels: np.ndarray, scores: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, ...]:
    """(tp, fp, tn, fn) at each threshold, a prediction being positive above it, by brute force."""
    above = np.clip(scores, 0, 1)[None, :] > thresholds[:, None]
    positive, negative = labels * weights, (1 - labels) * weights
    tp, fp = (above * positive).sum(1), (above * negative).sum(1)
    return tp, fp, negative.sum() - fp, positive.sum() - tp


def roc_areas(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, num_thresholds: int = 200
) -> dict[str, float]:
    """Keras's ROC area by each summation method, from brute-force counts."""
    tp, fp, tn, fn = confusion_at(keras_thresholds(num_thresholds), labels, scores, weights)
    return {
        method: riemann(fp / (fp + tn), tp / (tp + fn), method) for method in ("interpolation", "minoring", "majoring")
    }


def riemann(x: np.ndarray, y: np.ndarray, method: str) -> float:
    heights = {
        "interpolation": (y[:-1] + y[1:]) / 2,
        "minoring": np.minimum(y[:-1], y[1:]),
        "majoring": np.maximum(y[:-1], y[1:]),
    }[method]
    return float(np.sum((x[:-1] - x[1:]) * heights))


def interpolated_pr_area(tp: np.ndarray, fp: np.ndarray, positives: float) -> float:
    """Davis & Goadrich: tp and tp + fp vary linearly between thresholds; integrate precision d(recall) numerically."""
    s = (np.arange(4000) + 0.5) / 4000  # midpoint rule, never at an end point
    area = 0.0
    predicted = tp + fp
    for a in range(len(tp) - 1):
        dtp = tp[a] - tp[a + 1]
        if dtp == 0:
            continue
        true_pos = tp[a + 1] + s * dtp
        pred_pos = predicted[a + 1] + s * (predicted[a] - predicted[a + 1])
        area += np.mean(true_pos / pred_pos) * dtp / positives
    return area


@pytest.mark.parametrize("weights", weight_options())
def test_roc_auc_is_within_bucket_tolerance_of_sklearn(weights: np.ndarray | None) -> None:
    rng = np.random.default_rng(2)
    scores = rng.random(200)
    labels = (scores + rng.normal(scale=0.4, size=200) > 0.5).astype(float)
    w = None if weights is None else rng.uniform(0, 2, size=200)
    metric = M.AUC()
    for chunk in np.array_split(np.arange(200), 5):
        metric.update_state(labels[chunk], scores[chunk], sample_weight=None if w is None else w[chunk])
    exact = sk.roc_auc_score(labels, scores, sample_weight=w)
    assert abs(metric.result().item() - exact) < 1e-2
    bounds = [M.AUC(summation_method=method) for method in ("minoring", "majoring")]
    for bound in bounds:
        bound.update_state(labels, scores, sample_weight=w)
    assert bounds[0].result().item() - 1e-12 <= exact <= bounds[1].result().item() + 1e-12


@pytest.mark.parametrize("weights", weight_options())
@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
def test_auc_follows_keras_riemann_sums_exactly(curve: str, method: str, weights: np.ndarray | None) -> None:
    num_thresholds = 17
    result = accumulate(M.AUC(num_thresholds, curve=curve, summation_method=method), BINARY_TRUE, BINARY_PRED, weights)
    tp, fp, tn, fn = confusion_at(
        keras_thresholds(num_thresholds), BINARY_TRUE, BINARY_PRED, np.ones(N) if weights is None else weights
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.nan_to_num(tp / (tp + fn))
        if curve == "ROC":
            expected = riemann(np.nan_to_num(fp / (fp + tn)), recall, method)
        elif method == "interpolation":
            expected = interpolated_pr_area(tp, fp, tp[0] + fn[0])
        else:
            expected = riemann(recall, np.nan_to_num(tp / (tp + fp)), method)
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-9)


def test_auc_with_given_thresholds_and_logits() -> None:
    logits = np.log(BINARY_PRED.clip(1e-3, 1 - 1e-3) / (1 - BINARY_PRED.clip(1e-3, 1 - 1e-3)))
    from_logits = accumulate(M.AUC(from_logits=True), BINARY_TRUE, logits)
    from_probabilities = accumulate(M.AUC(), BINARY_TRUE, 1 / (1 + np.exp(-logits)))
    np.testing.assert_allclose(from_logits, from_probabilities, rtol=1e-12)
    given = [0.9, 0.25, 0.5]
    metric = M.AUC(thresholds=given)
    assert metric.num_thresholds == 5 and metric.thresholds == [-1e-7, 0.25, 0.5, 0.9, 1 + 1e-7]
    tp, fp, tn, fn = confusion_at(np.array(metric.thresholds), BINARY_TRUE, BINARY_PRED, np.ones(N))
    np.testing.assert_allclose(
        accumulate(metric, BINARY_TRUE, BINARY_PRED),
        riemann(fp / (fp + tn), tp / (tp + fn), "interpolation"),
        rtol=1e-12,
    )


def test_multi_label_auc_averages_the_per_label_areas() -> None:
    areas = [roc_areas(MULTI_TRUE[:, j], MULTI_PRED[:, j], np.ones(N)) for j in range(CLASSES)]
    per_label = np.array([a["interpolation"] for a in areas])
    for j, area in enumerate(areas):
        assert (
            area["minoring"] - 1e-12 <= sk.roc_auc_score(MULTI_TRUE[:, j], MULTI_PRED[:, j]) <= area["majoring"] + 1e-12
        )
    lazily_built = M.AUC(multi_label=True)
    np.testing.assert_allclose(accumulate(lazily_built, MULTI_TRUE, MULTI_PRED), per_label.mean(), rtol=1e-12)
    assert lazily_built.true_positives.shape == (200, CLASSES)
    label_weights = [1.0, 0.0, 2.0, 1.0]
    weighted = accumulate(
        M.AUC(multi_label=True, num_labels=CLASSES, label_weights=label_weights), MULTI_TRUE, MULTI_PRED
    )
    np.testing.assert_allclose(weighted, np.average(per_label, weights=label_weights), rtol=1e-12)
    flattened = roc_areas(MULTI_TRUE.ravel(), MULTI_PRED.ravel(), np.ones(N * CLASSES))
    np.testing.assert_allclose(accumulate(M.AUC(), MULTI_TRUE, MULTI_PRED), flattened["interpolation"], rtol=1e-12)
    weighted_entries = roc_areas(MULTI_TRUE.ravel(), MULTI_PRED.ravel(), np.tile(label_weights, N))
    np.testing.assert_allclose(
        accumulate(M.AUC(label_weights=label_weights), MULTI_TRUE, MULTI_PRED),
        weighted_entries["interpolation"],
        rtol=1e-12,
    )


# -------------------------------------------------------------- F-scores
def chosen_classes(scores: np.ndarray, threshold: float | None) -> np.ndarray:
    if threshold is not None:
        return scores > threshold
    return (scores == scores.max(-1, keepdims=True)) & (np.abs(scores) > 1e-9)


@pytest.mark.parametrize("weights", weight_options())
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.5])
def test_f1_score_matches_sklearn(average: str | None, threshold: float | None, weights: np.ndarray | None) -> None:
    y_true, scores = (ONE_HOT_TRUE, SCORES / SCORES.max()) if threshold is None else (MULTI_TRUE, MULTI_PRED)
    result = accumulate(M.F1Score(average=average, threshold=threshold), y_true, scores, weights)
    expected = sk.f1_score(
        y_true, chosen_classes(scores, threshold), average=average, sample_weight=weights, zero_division=0
    )
    np.testing.assert_allclose(result, expected, rtol=1e-5)


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_fbeta_score_matches_sklearn(beta: float) -> None:
    result = accumulate(M.FBetaScore(average="macro", beta=beta, threshold=0.5), MULTI_TRUE, MULTI_PRED, WEIGHTS)
    expected = sk.fbeta_score(
        MULTI_TRUE, MULTI_PRED > 0.5, beta=beta, average="macro", sample_weight=WEIGHTS, zero_division=0
    )
    np.testing.assert_allclose(result, expected, rtol=1e-5)


# ---------------------------------------------------------- mean, wrappers
def test_mean_weighs_examples_and_batches_as_keras_does() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(6, 3))
    weights_2d = rng.uniform(0, 1, size=(6, 3))
    m = M.Mean()
    m.update_state(values, sample_weight=weights_2d)  # per example: mean(v * w) / mean(w), summed over examples
    np.testing.assert_allclose(m.result().item(), (values * weights_2d).mean(1).sum() / weights_2d.mean(1).sum())
    m = M.Mean()
    m.update_state(np.array([1.0, 3.0]), sample_weight=4.0)  # one weight for the batch's mean
    m.update_state(np.array([10.0]), sample_weight=1.0)
    np.testing.assert_allclose(m.result().item(), (2.0 * 4 + 10.0) / 5)


def test_mean_metric_wrapper_averages_any_function() -> None:
    def cubed_error(y_true: Any, y_pred: Any) -> hn.Tensor:
        return hn.ops.mean((hn.ops.to_tensor(y_pred) - y_true) ** 3.0, axis=-1)

    metric = M.MeanMetricWrapper(cubed_error)
    assert metric.name == "cubed_error"
    expected = np.average(((REGRESSION_PRED - REGRESSION_TRUE) ** 3).mean(-1), weights=WEIGHTS)
    np.testing.assert_allclose(accumulate(metric, REGRESSION_TRUE, REGRESSION_PRED, WEIGHTS), expected, rtol=1e-12)


# --------------------------------------------------------- state handling
def every_metric() -> list[Callable[[], M.Metric]]:
    return [
        M.Accuracy, M.BinaryAccuracy, M.CategoricalAccuracy, M.SparseCategoricalAccuracy,
        lambda: M.TopKCategoricalAccuracy(k=2), lambda: M.SparseTopKCategoricalAccuracy(k=2), M.Precision, M.Recall,
        lambda: M.Precision(thresholds=[0.3, 0.6], class_id=1), lambda: M.Recall(top_k=2), M.AUC,
        lambda: M.AUC(curve="PR", multi_label=True), lambda: M.F1Score(average="weighted"),
        lambda: M.FBetaScore(beta=2.0, threshold=0.4), M.MeanSquaredError, M.MeanAbsoluteError,
        M.RootMeanSquaredError, lambda: M.R2Score(num_regressors=2), M.TruePositives, M.TrueNegatives,
        lambda: M.FalsePositives(thresholds=[0.2, 0.7]), lambda: M.FalseNegatives(thresholds=0.3),
        lambda: M.PrecisionAtRecall(0.6), lambda: M.RecallAtPrecision(0.5, num_thresholds=50),
        lambda: M.SensitivityAtSpecificity(0.5, class_id=2), lambda: M.SpecificityAtSensitivity(0.5, num_thresholds=1),
        M.MeanAbsolutePercentageError, M.MeanSquaredLogarithmicError, M.LogCoshError, M.CosineSimilarity,
    ]  # fmt: skip


def data_for(metric: M.Metric) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(metric, (M.SparseCategoricalAccuracy, M.SparseTopKCategoricalAccuracy)):
        return SPARSE_TRUE, SCORES
    if isinstance(metric, (M.CategoricalAccuracy, M.TopKCategoricalAccuracy)):
        return ONE_HOT_TRUE, SCORES
    if isinstance(metric, M.Accuracy):
        return SPARSE_TRUE, SCORES.argmax(-1)
    if isinstance(metric, (M.MeanSquaredError, M.MeanAbsoluteError, M.RootMeanSquaredError, M.R2Score)):
        return REGRESSION_TRUE, REGRESSION_PRED
    if isinstance(metric, (M.MeanAbsolutePercentageError, M.MeanSquaredLogarithmicError)):
        return np.exp(REGRESSION_TRUE), np.exp(REGRESSION_PRED)
    if isinstance(metric, (M.LogCoshError, M.CosineSimilarity)):
        return REGRESSION_TRUE, REGRESSION_PRED
    return MULTI_TRUE, MULTI_PRED


@pytest.mark.parametrize("make", every_metric())
def test_reset_state_zeroes_and_restarts(make: Callable[[], M.Metric]) -> None:
    metric = make()
    y_true, y_pred = data_for(metric)
    first = accumulate(metric, y_true, y_pred, WEIGHTS)
    metric.reset_state()
    assert all(not np.any(v.numpy()) for v in metric.variables)
    np.testing.assert_allclose(accumulate(metric, y_true, y_pred, WEIGHTS), first, rtol=1e-12)


@pytest.mark.parametrize("make", every_metric())
def test_traced_update_replays_like_eager_updates(make: Callable[[], M.Metric]) -> None:
    """update_state traced once and replayed on new batches: no value is frozen at trace time."""
    traced, eager = make(), make()
    y_true, y_pred = data_for(traced)
    step = TracedFunction(lambda t, p, w: (traced.update_state(t, p, w), [])[1])
    for t, p, w in zip(*(np.split(a, 3) for a in (y_true, y_pred, WEIGHTS))):
        step(t, p, w)
        eager.update_state(t, p, w)
    assert len(step.programs) == 1
    np.testing.assert_allclose(traced.result().numpy(), eager.result().numpy(), rtol=1e-12)


@pytest.mark.parametrize("make", every_metric())
def test_config_round_trip(make: Callable[[], M.Metric]) -> None:
    metric = make()
    config = metric.get_config()
    for copy in (type(metric).from_config(config), M.deserialize(M.serialize(metric)), M.get(M.serialize(metric))):
        assert type(copy) is type(metric) and copy.get_config() == config
        y_true, y_pred = data_for(metric)
        np.testing.assert_allclose(accumulate(copy, y_true, y_pred), accumulate(make(), y_true, y_pred), rtol=1e-12)


def test_wrapper_config_names_module_functions_only() -> None:
    wrapper = M.MeanMetricWrapper(M.sparse_top_k_categorical_accuracy, name="top2", k=2)
    config = wrapper.get_config()
    assert config == {"name": "top2", "dtype": "float64", "fn": "sparse_top_k_categorical_accuracy", "k": 2}
    rebuilt = M.MeanMetricWrapper.from_config(config)
    np.testing.assert_allclose(
        accumulate(rebuilt, SPARSE_TRUE, SCORES), accumulate(M.SparseTopKCategoricalAccuracy(k=2), SPARSE_TRUE, SCORES)
    )
    with pytest.raises(ValueError, match="names no `fn`"):
        M.MeanMetricWrapper.from_config({"name": "x"})


def test_dtype_defaults_to_floatx_and_can_be_chosen() -> None:
    with hn.config.use_backend("numpy", floatx="float32"):
        metric = M.AUC()
        assert metric.dtype == "float32" and metric.true_positives.dtype == "float32"
    metric = M.Precision(dtype="float32")
    metric.update_state([1.0, 0.0], [0.7, 0.2])
    assert metric.result().dtype == "float32" and metric.get_config()["dtype"] == "float32"


# ------------------------------------------------------ strings and names
STRING_CLASSES = {
    "binary_accuracy": M.BinaryAccuracy, "categorical_accuracy": M.CategoricalAccuracy,
    "sparse_categorical_accuracy": M.SparseCategoricalAccuracy, "top_k_categorical_accuracy": M.TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": M.SparseTopKCategoricalAccuracy, "precision": M.Precision, "recall": M.Recall,
    "auc": M.AUC, "f1_score": M.F1Score, "mse": M.MeanSquaredError, "mean_squared_error": M.MeanSquaredError,
    "mae": M.MeanAbsoluteError, "mean_absolute_error": M.MeanAbsoluteError, "rmse": M.RootMeanSquaredError,
    "root_mean_squared_error": M.RootMeanSquaredError, "r2_score": M.R2Score, "accuracy": M.Accuracy,
    "AUC": M.AUC, "Precision": M.Precision, "F1Score": M.F1Score, "R2Score": M.R2Score,
    "true_positives": M.TruePositives, "false_positives": M.FalsePositives, "true_negatives": M.TrueNegatives,
    "false_negatives": M.FalseNegatives, "mean_absolute_percentage_error": M.MeanAbsolutePercentageError,
    "mape": M.MeanAbsolutePercentageError, "MAPE": M.MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": M.MeanSquaredLogarithmicError, "msle": M.MeanSquaredLogarithmicError,
    "log_cosh_error": M.LogCoshError, "cosine_similarity": M.CosineSimilarity,
}  # fmt: skip


@pytest.mark.parametrize("string, cls", STRING_CLASSES.items())
def test_strings_give_the_keras_class_named_after_the_string(string: str, cls: type) -> None:
    metric = M.get(string)
    assert type(metric) is cls and metric.name == string


def test_unknown_string_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="Unknown metric: 'auroc'") as error:
        M.get("auroc")
    for name in ("auc", "precision", "f1_score", "rmse", "sparse_top_k_categorical_accuracy"):
        assert name in str(error.value)
    with pytest.raises(TypeError, match="`metric` must be a string, a config dict, a Metric or a callable, received 3"):
        M.get(3)


def test_get_keeps_none_and_wraps_functions() -> None:
    assert M.get(None) is None
    metric = M.get(M.mean_absolute_error)
    assert type(metric) is M.MeanMetricWrapper and metric.name == "mean_absolute_error"
    assert metric.get_config()["fn"] == "mean_absolute_error"


def test_the_registry_allows_mean_in_configs_but_not_as_a_string() -> None:
    assert {"Mean", "MeanMetricWrapper", "AUC"} <= set(M.METRICS.allowed())
    assert type(M.deserialize({"class_name": "Mean", "config": {"name": "m"}})) is M.Mean
    with pytest.raises(ValueError, match="Unknown metric: 'mean'"):
        M.get("mean")


def test_default_names_are_keras_names() -> None:
    expected = {
        M.Accuracy: "accuracy", M.BinaryAccuracy: "binary_accuracy", M.Precision: "precision", M.Recall: "recall",
        M.AUC: "auc", M.F1Score: "f1_score", M.FBetaScore: "fbeta_score", M.R2Score: "r2_score",
        M.MeanSquaredError: "mean_squared_error", M.RootMeanSquaredError: "root_mean_squared_error",
        M.TopKCategoricalAccuracy: "top_k_categorical_accuracy",
    }  # fmt: skip
    assert {cls: cls().name for cls in expected} == expected


@pytest.mark.parametrize(
    "y_shape, out_shape, loss, expected",
    [
        ((8,), (None, 3), "sparse_categorical_crossentropy", M.SparseCategoricalAccuracy),
        ((8, 3), (None, 3), "binary_crossentropy", M.BinaryAccuracy),
        ((8,), (None, 1), "mse", M.BinaryAccuracy),
        ((8, 1), (None, 3), "mse", M.SparseCategoricalAccuracy),
        ((8, 3), (None, 3), "categorical_crossentropy", M.CategoricalAccuracy),
    ],
)
def test_accuracy_for_picks_as_keras_does(
    y_shape: tuple[int, ...], out_shape: tuple[Any, ...], loss: str, expected: type
) -> None:
    assert M.accuracy_for(y_shape, out_shape, hn.losses.get(loss)) is expected


# --------------------------------------------------------- bad arguments
THRESHOLDS = "`thresholds` must be a number or a non-empty list of numbers in [0, 1], received"
BAD_ARGUMENTS = [
    (lambda: M.TopKCategoricalAccuracy(k=0), ValueError, "`k` must be an integer >= 1, received 0"),
    (lambda: M.SparseTopKCategoricalAccuracy(k=-2), ValueError, "`k` must be an integer >= 1, received -2"),
    (lambda: M.TopKCategoricalAccuracy(k=2.5), TypeError, "`k` must be an integer >= 1, received 2.5 of type float"),
    (lambda: M.Precision(thresholds=1.5), ValueError, f"{THRESHOLDS} 1.5"),
    (lambda: M.Recall(thresholds=[0.2, -0.1]), ValueError, f"{THRESHOLDS} [0.2, -0.1]"),
    (lambda: M.Precision(thresholds=[]), ValueError, f"{THRESHOLDS} []"),
    (lambda: M.Precision(thresholds=["0.5"]), TypeError, f"{THRESHOLDS} ['0.5'] of type list"),
    (lambda: M.Precision(top_k=0), ValueError, "`top_k` must be an integer >= 1, received 0"),
    (lambda: M.Recall(class_id=-1), ValueError, "`class_id` must be an integer >= 0, received -1"),
    (lambda: M.AUC(num_thresholds=1), ValueError, "`num_thresholds` must be an integer >= 2, received 1"),
    (lambda: M.AUC(curve="AUROC"), ValueError, "`curve` must be one of 'ROC', 'PR', received 'AUROC'"),
    (
        lambda: M.AUC(summation_method="trapezoid"),
        ValueError,
        "`summation_method` must be one of 'interpolation', 'minoring', 'majoring', received 'trapezoid'",
    ),
    (lambda: M.AUC(thresholds=[0.5, 1.2]), ValueError, f"{THRESHOLDS} [0.5, 1.2]"),
    (lambda: M.AUC(num_labels=3), ValueError, "`num_labels` must be None unless `multi_label=True`, received 3"),
    (lambda: M.AUC(label_weights=[1.0, -1.0]), ValueError, "`label_weights` must be a list of non-negative numbers"),
    (
        lambda: M.AUC(multi_label=True, num_labels=3, label_weights=[1.0, 2.0]),
        ValueError,
        "`label_weights` must be one weight for each of the 3 labels, received [1.0, 2.0]",
    ),
    (
        lambda: M.F1Score(average="samples"),
        ValueError,
        "`average` must be one of None, 'micro', 'macro', 'weighted', received 'samples'",
    ),
    (lambda: M.F1Score(threshold=0.0), ValueError, "`threshold` must be a number in (0, 1], received 0.0"),
    (lambda: M.FBetaScore(beta=0.0), ValueError, "`beta` must be a number > 0, received 0.0"),
    (lambda: M.FBetaScore(beta="2"), TypeError, "`beta` must be a number > 0, received '2' of type str"),
    (lambda: M.BinaryAccuracy(threshold=1.0), ValueError, "`threshold` must be a number in (0, 1), received 1.0"),
    (
        lambda: M.R2Score(class_aggregation="median"),
        ValueError,
        "`class_aggregation` must be one of None, 'uniform_average', 'variance_weighted_average', received 'median'",
    ),
    (lambda: M.R2Score(num_regressors=-1), ValueError, "`num_regressors` must be an integer >= 0, received -1"),
    (lambda: M.Mean(dtype="int32"), ValueError, "`dtype` must be one of 'float32', 'float64', received 'int32'"),
]


@pytest.mark.parametrize("make, error, message", BAD_ARGUMENTS, ids=[m for _, _, m in BAD_ARGUMENTS])
def test_bad_arguments_raise_clear_errors(make: Callable[[], M.Metric], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        make()
    assert message in str(raised.value)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"`class_id` 5 needs predictions of shape \(batch_size, num_classes\) with more than 5 classes, "
        r"received shape \(24, 4\)",
    ):
        M.Precision(class_id=5).update_state(MULTI_TRUE, MULTI_PRED)
    with pytest.raises(
        ValueError,
        match=r"R2Score expects y_true and y_pred of one shape \(batch_size, outputs\), received shapes \(3, 2, 1\)",
    ):
        M.R2Score().update_state(np.zeros((3, 2, 1)), np.zeros((3, 2, 1)))
    with pytest.raises(ValueError, match=r"F1Score expects .* received shapes \(24, 3\) and \(24, 4\)"):
        M.F1Score().update_state(np.zeros((N, 3)), MULTI_PRED)
    with pytest.raises(
        ValueError,
        match=r"sparse_categorical_accuracy: `y_true` must hold one integer label per example, shape \(24,\), "
        r"received shape \(24, 2\)",
    ):
        M.SparseCategoricalAccuracy().update_state(np.zeros((N, 2)), SCORES)
    with pytest.raises(
        ValueError, match=r"y_true and y_pred must have one shape, received shapes \(24, 3\) and \(24, 4\)"
    ):
        M.AUC().update_state(np.zeros((N, 3)), MULTI_PRED)
    with pytest.raises(ValueError, match=r"mean: `sample_weight` of shape \(2,\) does not fit values of shape \(\)"):
        M.Mean().update_state(np.float64(1.0), sample_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"root_mean_squared_error: `sample_weight` of shape \(24, 3\) does not fit"):
        M.RootMeanSquaredError().update_state(REGRESSION_TRUE, REGRESSION_PRED, sample_weight=np.ones((N, 3)))
    for unbuilt in (M.F1Score(), M.R2Score(), M.AUC(multi_label=True)):
        with pytest.raises(ValueError, match="has seen no data yet"):
            unbuilt.result()


# ------------------------------------------------- inside fit and evaluate
X_BINARY = RNG.normal(size=(N, 3))
Y_BINARY = (X_BINARY[:, 0] + RNG.normal(scale=0.8, size=N) > 0).astype(float)
X_CLASSES = RNG.normal(size=(N, 5))


def binary_metrics() -> list[Any]:
    return [
        "auc", "accuracy", "precision", M.Recall(thresholds=0.4), "mse", "rmse", "r2_score",
        M.AUC(curve="PR", name="pr_auc"), M.F1Score(average="micro", threshold=0.5),
    ]  # fmt: skip


def class_metrics() -> list[Any]:
    return [
        "acc", "top_k_categorical_accuracy", M.TopKCategoricalAccuracy(k=2, name="top2"),
        M.F1Score(average="weighted"), M.Precision(class_id=1), M.Recall(top_k=2), M.AUC(multi_label=True),
    ]  # fmt: skip


def train_and_evaluate(
    run_eagerly: bool,
    x: np.ndarray,
    y: np.ndarray,
    units: int,
    activation: str,
    loss: str,
    metrics: Callable[[], list[Any]],
) -> tuple[dict[str, list[float]], dict[str, float], np.ndarray]:
    """History of two epochs, weighted evaluation logs and predictions (one batch shape each, to trace little)."""
    hn.utils.set_random_seed(5)
    model = hn.Sequential([hn.Input((x.shape[1],)), hn.layers.Dense(units, activation=activation)])
    model.compile(optimizer="sgd", loss=loss, weighted_metrics=metrics(), run_eagerly=run_eagerly)  # as Keras weighs
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    logs = model.evaluate(x, y, batch_size=6, sample_weight=WEIGHTS, verbose=0, return_dict=True)
    return history.history, logs, model.predict(x, verbose=0)


CASES = {
    "binary": (X_BINARY, Y_BINARY, 1, "sigmoid", "binary_crossentropy", binary_metrics),
    "one_hot": (X_CLASSES, ONE_HOT_TRUE, CLASSES, "softmax", "categorical_crossentropy", class_metrics),
}


def assert_same_logs(first: tuple[Any, ...], second: tuple[Any, ...]) -> None:
    for logs, other in zip(first[:2], second[:2]):
        assert list(logs) == list(other)
        for name in logs:
            np.testing.assert_allclose(logs[name], other[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_compiled_steps_match_eager_steps(backend: str, case: str) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend, floatx="float64"):
        assert_same_logs(train_and_evaluate(False, *CASES[case]), train_and_evaluate(True, *CASES[case]))


def test_jax_jit_compiled_steps_match_numpy() -> None:
    """Under jax.jit (eager JAX compiles every op, so the eager twin runs on NumPy)."""
    require_backend("jax")
    with hn.config.use_backend("jax", floatx="float64"):
        jitted = train_and_evaluate(False, *CASES["one_hot"])
    assert_same_logs(jitted, train_and_evaluate(True, *CASES["one_hot"]))


def test_evaluate_logs_match_references_for_binary_outputs() -> None:
    _, logs, predicted = train_and_evaluate(False, *CASES["binary"])
    p, y, w = predicted[:, 0], Y_BINARY, WEIGHTS
    assert list(logs) == [
        "loss",
        "auc",
        "accuracy",
        "precision",
        "recall",
        "mse",
        "rmse",
        "r2_score",
        "pr_auc",
        "f1_score",
    ]
    areas = roc_areas(y, p, w)
    np.testing.assert_allclose(logs["auc"], areas["interpolation"], rtol=1e-9)
    assert areas["minoring"] - 1e-12 <= sk.roc_auc_score(y, p, sample_weight=w) <= areas["majoring"] + 1e-12
    tp, fp, _, fn = confusion_at(keras_thresholds(200), y, p, w)
    np.testing.assert_allclose(logs["pr_auc"], interpolated_pr_area(tp, fp, tp[0] + fn[0]), rtol=1e-6)
    np.testing.assert_allclose(logs["accuracy"], sk.accuracy_score(y, p > 0.5, sample_weight=w), rtol=1e-12)
    np.testing.assert_allclose(logs["precision"], sk.precision_score(y, p > 0.5, sample_weight=w), rtol=1e-12)
    np.testing.assert_allclose(logs["recall"], sk.recall_score(y, p > 0.4, sample_weight=w), rtol=1e-12)
    np.testing.assert_allclose(logs["mse"], sk.mean_squared_error(y, p, sample_weight=w), rtol=1e-12)
    np.testing.assert_allclose(logs["rmse"], np.sqrt(sk.mean_squared_error(y, p, sample_weight=w)), rtol=1e-12)
    np.testing.assert_allclose(logs["r2_score"], sk.r2_score(y, p, sample_weight=w), rtol=1e-10)
    np.testing.assert_allclose(logs["f1_score"], sk.f1_score(y, p > 0.5, sample_weight=w), rtol=1e-5)


def test_evaluate_logs_match_references_for_class_outputs() -> None:
    _, logs, predicted = train_and_evaluate(False, *CASES["one_hot"])
    y, w = SPARSE_TRUE, WEIGHTS
    assert list(logs) == ["loss", "acc", "top_k_categorical_accuracy", "top2", "f1_score", "precision", "recall", "auc"]
    np.testing.assert_allclose(logs["acc"], sk.accuracy_score(y, predicted.argmax(-1), sample_weight=w), rtol=1e-12)
    assert logs["top_k_categorical_accuracy"] == 1.0  # k=5 > 4 classes
    np.testing.assert_allclose(logs["top2"], sk.top_k_accuracy_score(y, predicted, k=2, sample_weight=w), rtol=1e-12)
    expected_f1 = sk.f1_score(
        ONE_HOT_TRUE, chosen_classes(predicted, None), average="weighted", sample_weight=w, zero_division=0
    )
    np.testing.assert_allclose(logs["f1_score"], expected_f1, rtol=1e-5)
    np.testing.assert_allclose(
        logs["precision"],
        sk.precision_score(ONE_HOT_TRUE[:, 1], predicted[:, 1] > 0.5, sample_weight=w, zero_division=0),
        rtol=1e-12,
    )
    expected_recall = sk.recall_score(
        ONE_HOT_TRUE.ravel(), top_k_indicator(predicted, 2).ravel(), sample_weight=np.repeat(w, CLASSES)
    )
    np.testing.assert_allclose(logs["recall"], expected_recall, rtol=1e-12)
    areas = [roc_areas(ONE_HOT_TRUE[:, j], predicted[:, j], w) for j in range(CLASSES)]
    np.testing.assert_allclose(logs["auc"], np.mean([a["interpolation"] for a in areas]), rtol=1e-9)
    for j, area in enumerate(areas):
        assert (
            area["minoring"] - 1e-12
            <= sk.roc_auc_score(ONE_HOT_TRUE[:, j], predicted[:, j], sample_weight=w)
            <= area["majoring"] + 1e-12
        )


def test_sparse_labels_and_string_accuracy_in_fit() -> None:
    hn.utils.set_random_seed(2)
    model = hn.Sequential([hn.Input((5,)), hn.layers.Dense(CLASSES, activation="softmax")])
    top2 = M.SparseTopKCategoricalAccuracy(k=2, name="top2")
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy",
        metrics=["accuracy", "sparse_top_k_categorical_accuracy", top2],
    )  # fmt: skip
    history = model.fit(X_CLASSES, SPARSE_TRUE, batch_size=8, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "accuracy", "sparse_top_k_categorical_accuracy", "top2"]
    logs = model.evaluate(X_CLASSES, SPARSE_TRUE, batch_size=5, verbose=0, return_dict=True)
    predicted = model.predict(X_CLASSES, verbose=0)
    np.testing.assert_allclose(logs["accuracy"], sk.accuracy_score(SPARSE_TRUE, predicted.argmax(-1)), rtol=1e-12)
    np.testing.assert_allclose(logs["top2"], sk.top_k_accuracy_score(SPARSE_TRUE, predicted, k=2), rtol=1e-12)


def test_compile_rejects_an_unknown_metric_string() -> None:
    model = hn.Sequential([hn.Input((3,)), hn.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"Unknown metric: 'precison'\. Did you mean 'precision'\?"):
        model.compile(loss="mse", metrics=["precison"])


# ------------------------------------------------------------ every backend
def results_in_equal_batches() -> list[np.ndarray]:
    results = []
    for make in every_metric():
        metric = make()
        for t, p, w in zip(*(np.split(a, 3) for a in (*data_for(metric), WEIGHTS))):
            metric.update_state(t, p, w)
        results.append(metric.result().numpy())
    return results


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_eager_results_agree_on_every_backend(backend: str) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend, floatx="float64"):
        results = results_in_equal_batches()
    for make, result, reference in zip(every_metric(), results, results_in_equal_batches()):
        np.testing.assert_allclose(result, reference, rtol=1e-12, err_msg=type(make()).__name__)
