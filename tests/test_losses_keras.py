"""Keras 3's further losses, shape checks, ``dtype``/``axis`` arguments and reductions, against NumPy and Keras."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import numeric_gradient

import highnn as hn
from highnn import losses

RNG = np.random.default_rng(7)
EPS = 1e-7
REAL_TRUE, REAL_PRED = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
POSITIVE_TRUE, POSITIVE_PRED = RNG.uniform(0.1, 2.0, size=(4, 3)), RNG.uniform(0.1, 2.0, size=(4, 3))
BINARY = RNG.integers(0, 2, size=(4, 3)).astype(float)
PROBABILITIES = RNG.uniform(0.05, 0.95, size=(4, 3))
ONE_HOT = np.eye(3)[[0, 2, 1, 2]]
SIMPLEX = RNG.dirichlet(np.ones(3), size=4)
LOGITS = RNG.normal(size=(4, 3)) * 2


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def bce(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def binary_focal(y: np.ndarray, p: np.ndarray, gamma: float = 2.0, alpha: float | None = None) -> np.ndarray:
    p_t = y * p + (1 - y) * (1 - p)
    weight = 1.0 if alpha is None else y * alpha + (1 - y) * (1 - alpha)
    return (weight * (1 - p_t) ** gamma * bce(y, p)).mean(axis=-1)


def categorical_focal(y: np.ndarray, p: np.ndarray, alpha: float = 0.25, gamma: float = 2.0) -> np.ndarray:
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return (-y * alpha * (1 - p) ** gamma * np.log(p)).sum(axis=-1)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.maximum((x**2).sum(axis=-1, keepdims=True), 1e-12))


def dice(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.array(1 - 2 * (y * p).sum() / (y.sum() + p.sum() + EPS))


def tversky(y: np.ndarray, p: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    tp, fp, fn = (y * p).sum(), ((1 - y) * p).sum(), (y * (1 - p)).sum()
    return np.array(1 - tp / (tp + alpha * fp + beta * fn + EPS))


# (class, its function, its string name, y_true, y_pred, keyword arguments, NumPy per-example values)
CASES: list[tuple[type[losses.Loss], Callable[..., hn.Tensor], str, np.ndarray, np.ndarray, dict[str, Any], np.ndarray]]
CASES = [
    (losses.Hinge, losses.hinge, "hinge", BINARY, REAL_PRED, {},
     np.maximum(1 - (2 * BINARY - 1) * REAL_PRED, 0).mean(axis=-1)),
    (losses.SquaredHinge, losses.squared_hinge, "squared_hinge", 2 * BINARY - 1, REAL_PRED, {},
     (np.maximum(1 - (2 * BINARY - 1) * REAL_PRED, 0) ** 2).mean(axis=-1)),
    (losses.CategoricalHinge, losses.categorical_hinge, "categorical_hinge", ONE_HOT, REAL_PRED, {},
     np.maximum(((1 - ONE_HOT) * REAL_PRED).max(axis=-1) - (ONE_HOT * REAL_PRED).sum(axis=-1) + 1, 0)),
    (losses.KLDivergence, losses.kl_divergence, "kld", SIMPLEX, PROBABILITIES, {},
     (SIMPLEX * np.log(SIMPLEX / PROBABILITIES)).sum(axis=-1)),
    (losses.Poisson, losses.poisson, "poisson", POSITIVE_TRUE, POSITIVE_PRED, {},
     (POSITIVE_PRED - POSITIVE_TRUE * np.log(POSITIVE_PRED + EPS)).mean(axis=-1)),
    (losses.LogCosh, losses.log_cosh, "log_cosh", REAL_TRUE, REAL_PRED, {},
     np.log(np.cosh(REAL_PRED - REAL_TRUE)).mean(axis=-1)),
    (losses.CosineSimilarity, losses.cosine_similarity, "cosine_similarity", REAL_TRUE, REAL_PRED, {},
     -(l2_normalize(REAL_TRUE) * l2_normalize(REAL_PRED)).sum(axis=-1)),
    (losses.MeanAbsolutePercentageError, losses.mean_absolute_percentage_error, "mape", REAL_TRUE, REAL_PRED, {},
     100 * np.abs((REAL_TRUE - REAL_PRED) / np.abs(REAL_TRUE)).mean(axis=-1)),
    (losses.MeanSquaredLogarithmicError, losses.mean_squared_logarithmic_error, "msle", POSITIVE_TRUE, POSITIVE_PRED,
     {}, ((np.log1p(POSITIVE_PRED) - np.log1p(POSITIVE_TRUE)) ** 2).mean(axis=-1)),
    (losses.BinaryFocalCrossentropy, losses.binary_focal_crossentropy, "binary_focal_crossentropy", BINARY,
     PROBABILITIES, {}, binary_focal(BINARY, PROBABILITIES)),
    (losses.BinaryFocalCrossentropy, losses.binary_focal_crossentropy, "binary_focal_crossentropy", BINARY, LOGITS,
     {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5, "from_logits": True},
     binary_focal(BINARY, sigmoid(LOGITS), 1.5, 0.3)),
    (losses.CategoricalFocalCrossentropy, losses.categorical_focal_crossentropy, "categorical_focal_crossentropy",
     ONE_HOT, PROBABILITIES, {}, categorical_focal(ONE_HOT, PROBABILITIES)),
    (losses.CategoricalFocalCrossentropy, losses.categorical_focal_crossentropy, "categorical_focal_crossentropy",
     ONE_HOT, LOGITS, {"from_logits": True, "alpha": 0.5, "gamma": 1.0},
     categorical_focal(ONE_HOT, softmax(LOGITS), 0.5, 1.0)),
    (losses.Dice, losses.dice, "dice", BINARY, PROBABILITIES, {}, dice(BINARY, PROBABILITIES)),
    (losses.Tversky, losses.tversky, "tversky", BINARY, PROBABILITIES, {"alpha": 0.2, "beta": 0.8},
     tversky(BINARY, PROBABILITIES, 0.2, 0.8)),
]  # fmt: skip
IDS = [f"{case[0].__name__}-{i}" for i, case in enumerate(CASES)]


@pytest.mark.parametrize(("cls", "function", "name", "y_true", "y_pred", "kwargs", "expected"), CASES, ids=IDS)
def test_values_against_numpy_by_class_function_and_name(
    cls: type[losses.Loss],
    function: Callable[..., hn.Tensor],
    name: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    kwargs: dict[str, Any],
    expected: np.ndarray,
    backend64: str,
) -> None:
    np.testing.assert_allclose(function(y_true, y_pred, **kwargs).numpy(), expected, rtol=1e-10, atol=1e-12)
    loss = cls(**kwargs)
    assert loss(y_true, y_pred).item() == pytest.approx(expected.mean(), rel=1e-10)
    weights = np.array([1.0, 0.5, 0.0, 2.0])[: expected.size]
    if expected.ndim:
        mean_weighted = cls(reduction="mean_with_sample_weight", **kwargs)(y_true, y_pred, sample_weight=weights)
        assert mean_weighted.item() == pytest.approx((expected * weights).sum() / weights.sum(), rel=1e-10)
    if not kwargs:
        assert losses.get(name)(y_true, y_pred).item() == pytest.approx(expected.mean(), rel=1e-10)
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is cls and again.get_config() == loss.get_config()


@pytest.mark.parametrize(("cls", "function", "name", "y_true", "y_pred", "kwargs", "expected"), CASES, ids=IDS)
def test_gradients_through_highnn_match_finite_differences(
    cls: type[losses.Loss],
    function: Callable[..., hn.Tensor],
    name: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    kwargs: dict[str, Any],
    expected: np.ndarray,
    float64: None,
) -> None:
    loss = cls(**kwargs)
    prediction = hn.tensor(y_pred, requires_grad=True)
    loss(y_true, prediction).backward()
    numeric = numeric_gradient(lambda p: float(loss(y_true, p).item()), y_pred)
    np.testing.assert_allclose(prediction.grad.numpy(), numeric, rtol=1e-5, atol=1e-8)


def test_keras_unit_test_numbers(float64: None) -> None:
    y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    assert losses.Hinge()(y_true, y_pred).item() == pytest.approx(1.3)
    assert losses.Hinge(reduction="sum")(y_true, y_pred).item() == pytest.approx(2.6)
    np.testing.assert_allclose(losses.Hinge(reduction=None)(y_true, y_pred).numpy(), [1.1, 1.5])
    focal = losses.BinaryFocalCrossentropy(gamma=2.0)(np.array([[1, 0], [1, 0]]), np.array([[0.9, 0.8], [0.7, 0.2]]))
    assert focal.item() == pytest.approx(0.268, abs=1e-3)
    probabilities = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
    assert losses.CategoricalFocalCrossentropy()(np.eye(3), probabilities).item() == pytest.approx(0.02059, abs=1e-4)
    counts, predicted = np.array([[1, 2], [1, 2]]), np.array([[4, 1], [6, 1]])
    assert losses.Dice()(counts, predicted).item() == pytest.approx(-0.55555546, rel=1e-6)
    assert losses.Tversky(alpha=0.2, beta=0.8)(counts, predicted).item() == pytest.approx(-0.94444442, rel=1e-6)
    masks = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
    guesses = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])
    per_image = losses.Dice(axis=(1, 2, 3), reduction=None)(masks, guesses).numpy()
    np.testing.assert_allclose(per_image, [0.5, 0.75757575], rtol=1e-6)
    per_image = losses.Tversky(alpha=0.2, beta=0.8, axis=(1, 2, 3), reduction=None)(masks, guesses).numpy()
    np.testing.assert_allclose(per_image, [0.5, 0.78494626], rtol=1e-6)
    assert losses.Huber()(y_true, y_pred).item() == pytest.approx(0.155)
    assert losses.LogCosh()(y_true, np.array([[1.0, 1.0], [0.0, 0.0]])).item() == pytest.approx(0.108, abs=1e-3)
    similarity = losses.cosine_similarity(np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),
                                          np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]))  # fmt: skip
    np.testing.assert_allclose(similarity.numpy(), [0.0, -1.0, 1.0], atol=1e-12)


def test_hinge_keeps_labels_that_are_already_minus_one_and_one(float64: None) -> None:
    signs = 2 * BINARY - 1
    np.testing.assert_allclose(losses.hinge(signs, REAL_PRED).numpy(), losses.hinge(BINARY, REAL_PRED).numpy())


@pytest.mark.parametrize(
    "loss",
    [losses.BinaryCrossentropy(), losses.CategoricalCrossentropy(), losses.MeanSquaredError(), losses.Hinge(),
     losses.KLDivergence(), losses.Dice(), losses.BinaryFocalCrossentropy(), losses.CosineSimilarity()],
    ids=lambda loss: type(loss).__name__,
)  # fmt: skip
def test_y_true_of_another_shape_is_rejected_not_broadcast(loss: losses.Loss) -> None:
    with pytest.raises(
        ValueError,
        match=r"`y_true` must (have|be one-hot with) the shape of `y_pred` \(4, 3\), received shape \(4, 1\)",
    ):
        loss(np.ones((4, 1)), np.full((4, 3), 0.5))


def test_a_trailing_axis_of_one_is_squeezed_or_added_as_keras_does(float64: None) -> None:
    column, flat = np.array([[0.2], [0.9]]), np.array([0.0, 1.0])
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(flat, column).numpy(), [0.04, 0.01])
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(column, flat).numpy(), [0.04, 0.01])


def test_dtype_argument_sets_the_computation_dtype() -> None:
    with hn.config.use_backend("numpy", floatx="float32"):
        loss = losses.MeanSquaredError(dtype="float64")
        value = loss(np.ones((2, 3)), np.full((2, 3), 1.0 + 1e-9))
        assert value.dtype == "float64" and loss.dtype == "float64"
        assert value.item() == pytest.approx(1e-18, rel=1e-6)
        assert losses.MeanSquaredError()(np.ones(3), np.zeros(3)).dtype == "float32"
        assert losses.MeanSquaredError.from_config(loss.get_config()).dtype == "float64"
    with pytest.raises(ValueError, match=r"MeanSquaredError: `dtype` must be one of None, 'float32', 'float64'"):
        losses.MeanSquaredError(dtype="int8")


def test_axis_arguments_of_the_crossentropies(float64: None) -> None:
    probabilities = softmax(LOGITS)
    by_columns = losses.categorical_crossentropy(ONE_HOT.T, probabilities.T, axis=0).numpy()
    np.testing.assert_allclose(by_columns, losses.categorical_crossentropy(ONE_HOT, probabilities).numpy())
    by_columns = losses.CategoricalCrossentropy(from_logits=True, axis=0, reduction=None)(ONE_HOT.T, LOGITS.T).numpy()
    np.testing.assert_allclose(by_columns, -(ONE_HOT * np.log(softmax(LOGITS))).sum(axis=-1))
    sparse = losses.SparseCategoricalCrossentropy(from_logits=True, axis=0, reduction=None)(
        np.array([0, 2, 1, 2]), LOGITS.T
    )
    np.testing.assert_allclose(sparse.numpy(), by_columns)
    np.testing.assert_allclose(losses.binary_crossentropy(BINARY, PROBABILITIES, axis=0).numpy(),
                               bce(BINARY, PROBABILITIES).mean(axis=0))  # fmt: skip
    with pytest.raises(TypeError, match=r"CategoricalCrossentropy: `axis` must be an integer, received True"):
        losses.CategoricalCrossentropy(axis=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"categorical_crossentropy: `axis` must be an axis of `y_pred`'s 2"):
        losses.categorical_crossentropy(ONE_HOT, probabilities, axis=2)


def test_reductions(float64: None) -> None:
    y_true, y_pred = REAL_TRUE, REAL_PRED
    values = ((y_pred - y_true) ** 2).mean(axis=-1)
    weights = np.array([0.0, 1.0, 3.0, 0.5])
    expected = {
        "sum_over_batch_size": (values * weights).mean(),
        "mean": (values * weights).mean(),
        "sum": (values * weights).sum(),
        "mean_with_sample_weight": (values * weights).sum() / weights.sum(),
    }
    for reduction, value in expected.items():
        got = losses.MeanSquaredError(reduction=reduction)(y_true, y_pred, sample_weight=weights[:, None])
        assert got.item() == pytest.approx(value, rel=1e-12), reduction
    without_weights = losses.MeanSquaredError(reduction="mean_with_sample_weight")(y_true, y_pred)
    assert without_weights.item() == pytest.approx(values.mean())
    zero = losses.MeanSquaredError(reduction="mean_with_sample_weight")(y_true, y_pred, sample_weight=np.zeros(4))
    assert zero.item() == 0.0
    with pytest.raises(ValueError, match=r"`reduction` must be one of .*'mean_with_sample_weight'.*received 'avg'"):
        losses.Hinge(reduction="avg")


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"BinaryFocalCrossentropy: `alpha` must be a number in \[0, 1\], received 2"):
        losses.BinaryFocalCrossentropy(alpha=2)
    with pytest.raises(ValueError, match=r"CategoricalFocalCrossentropy: `gamma` must be a number >= 0, received -1"):
        losses.CategoricalFocalCrossentropy(gamma=-1)
    with pytest.raises(TypeError, match=r"BinaryCrossentropy: `from_logits` must be True or False, received 'yes'"):
        losses.BinaryCrossentropy(from_logits="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Huber: `delta` must be a number > 0, received 0"):
        losses.Huber(delta=0)
    with pytest.raises(TypeError, match=r"Dice: `axis` must be an integer or a non-empty list of distinct integers"):
        losses.Dice(axis="all")  # type: ignore[arg-type]


def test_keras_default_names() -> None:
    assert losses.Huber().name == "huber_loss"
    assert losses.KLDivergence().name == "kl_divergence"
    assert losses.BinaryFocalCrossentropy().name == "binary_focal_crossentropy"
    assert losses.LossFunctionWrapper(losses.poisson).name == "poisson"


def test_a_new_loss_trains_a_model() -> None:
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((3,)), hn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=hn.optimizers.SGD(0.5), loss="categorical_focal_crossentropy")
    x, y = RNG.normal(size=(32, 3)), np.eye(3)[RNG.integers(0, 3, size=32)]
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
