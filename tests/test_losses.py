"""Losses against NumPy formulas, their reductions, and stability for confident predictions."""

from __future__ import annotations

import numpy as np
import pytest

import highnn as hn
from highnn import losses

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(5, 4)) * 3
LABELS = np.array([0, 3, 1, 1, 2])
FIVE = np.arange(5)
ONE_HOT = np.eye(4)[LABELS]
BINARY = RNG.integers(0, 2, size=(5, 4)).astype(float)
Y_TRUE, Y_PRED = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def huber(error: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(error)
    return np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta)).mean(axis=-1)


CASES = [
    (losses.MeanSquaredError(), Y_TRUE, Y_PRED, ((Y_PRED - Y_TRUE) ** 2).mean(axis=-1)),
    (losses.MeanAbsoluteError(), Y_TRUE, Y_PRED, np.abs(Y_PRED - Y_TRUE).mean(axis=-1)),
    (losses.Huber(delta=0.7), Y_TRUE, Y_PRED, huber(Y_PRED - Y_TRUE, 0.7)),
    (losses.CategoricalCrossentropy(from_logits=True), ONE_HOT, LOGITS, -(ONE_HOT * log_softmax(LOGITS)).sum(axis=-1)),
    (losses.CategoricalCrossentropy(), ONE_HOT, softmax(LOGITS), -(ONE_HOT * log_softmax(LOGITS)).sum(axis=-1)),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), ONE_HOT, LOGITS,
     -((ONE_HOT * 0.8 + 0.05) * log_softmax(LOGITS)).sum(axis=-1)),
    (losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS, -log_softmax(LOGITS)[FIVE, LABELS]),
    (losses.SparseCategoricalCrossentropy(), LABELS[:, None], softmax(LOGITS), -log_softmax(LOGITS)[FIVE, LABELS]),
    (losses.BinaryCrossentropy(from_logits=True), BINARY, LOGITS,
     -(BINARY * np.log(sigmoid(LOGITS)) + (1 - BINARY) * np.log(1 - sigmoid(LOGITS))).mean(axis=-1)),
    (losses.BinaryCrossentropy(), BINARY, sigmoid(LOGITS),
     -(BINARY * np.log(sigmoid(LOGITS)) + (1 - BINARY) * np.log(1 - sigmoid(LOGITS))).mean(axis=-1)),
]  # fmt: skip


@pytest.mark.parametrize(
    "loss, y_true, y_pred, expected", CASES, ids=lambda v: type(v).__name__ if isinstance(v, losses.Loss) else ""
)
def test_values_and_reductions(
    loss: losses.Loss, y_true: np.ndarray, y_pred: np.ndarray, expected: np.ndarray, float64: None
) -> None:
    assert loss(y_true, y_pred).item() == pytest.approx(expected.mean(), rel=1e-7)
    weights = np.arange(1.0, 6.0)
    assert loss(y_true, y_pred, sample_weight=weights).item() == pytest.approx((expected * weights).mean(), rel=1e-7)
    for reduction, value in (("sum", expected.sum()), ("mean", expected.mean())):
        reduced = type(loss).from_config({**loss.get_config(), "reduction": reduction})
        assert reduced(y_true, y_pred).item() == pytest.approx(value, rel=1e-7)
    unreduced = type(loss).from_config({**loss.get_config(), "reduction": "none"})
    np.testing.assert_allclose(unreduced(y_true, y_pred).numpy(), expected, rtol=1e-7)


@pytest.mark.parametrize("activation, loss, y", [
    ("softmax", "sparse_categorical_crossentropy", np.array([1])),
    ("softmax", "categorical_crossentropy", np.array([[0.0, 1.0, 0.0]])),
    ("sigmoid", "binary_crossentropy", np.array([[0.0, 1.0, 0.0]])),
])  # fmt: skip
def test_confident_wrong_predictions_give_finite_loss_and_gradients(activation: str, loss: str, y: np.ndarray) -> None:
    """Logits of +-200 saturate softmax/sigmoid to exact 0 and 1 in float32; the loss stays exact and finite."""
    model = hn.Sequential([hn.Input((3,)), hn.layers.Dense(3, activation=activation, kernel_initializer="identity")])
    model.compile(optimizer="sgd", loss=loss)
    x = np.array([[200.0, -200.0, 200.0]], dtype="float32")
    value = model.evaluate(x, y, verbose=0)
    grads = model.compute_gradients(x, y)
    assert np.isfinite(value) and value > 100
    assert all(np.all(np.isfinite(g)) for g in grads)
    if loss == "sparse_categorical_crossentropy":
        assert value == pytest.approx(400 + np.log(2), rel=1e-5)  # -log_softmax at the true class, computed from logits


def test_sparse_labels_out_of_range_in_a_direct_call_are_named() -> None:
    with pytest.raises(ValueError, match=r"`y` holds sparse labels for 4 classes.*received values from 0 to 4"):
        losses.check_sparse_labels(np.array([0, 4]), 4)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"`reduction` must be one of .*received 'average'"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match=r"`label_smoothing` must be a number in \[0, 1\], received 1.5"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(TypeError, match=r"`loss` must be a string, a config dict, a Loss or a callable, received 3"):
        losses.get(3)
    with pytest.raises(
        ValueError,
        match=r"sparse_categorical_crossentropy: `y_true` must hold one integer label per example, shape \(5,\), "
        r"received shape \(5, 4\)",
    ):
        losses.sparse_categorical_crossentropy(ONE_HOT, LOGITS)
