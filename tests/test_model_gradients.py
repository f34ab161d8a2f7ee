"""Whole-model gradients from highnn's backward pass against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import numeric_gradient

import highnn as hn
from highnn import layers
from highnn.activations import ACTIVATIONS

RNG = np.random.default_rng(7)
X = RNG.normal(size=(6, 5))
Y_REGRESSION = RNG.normal(size=(6, 3))
Y_SPARSE = np.array([0, 2, 1, 2, 0, 1])
Y_ONE_HOT = np.eye(3)[Y_SPARSE]
Y_BINARY = (RNG.random(size=(6, 3)) > 0.5).astype(float)


def check_model_gradients(model: hn.Model, y: np.ndarray, loss: object, atol: float = 1e-6) -> None:
    """compute_gradients equals finite differences of the loss, weight by weight."""
    model.compile(optimizer="sgd", loss=loss)
    grads = model.compute_gradients(X, y)
    weights = model.get_weights()
    assert [g.shape for g in grads] == [w.shape for w in weights]
    for i, weight in enumerate(weights):

        def loss_at(value: np.ndarray, i: int = i) -> float:
            model.set_weights(weights[:i] + [value] + weights[i + 1 :])
            y_pred = model(X, training=True)
            return float(model.compute_loss(y=hn.tensor(y), y_pred=y_pred).item())

        numeric = numeric_gradient(loss_at, weight)
        model.set_weights(weights)
        np.testing.assert_allclose(grads[i], numeric, atol=atol, rtol=1e-4, err_msg=model.trainable_weights[i].path)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS.names))
def test_mlp_gradients_for_every_activation(activation: str, float64: None) -> None:
    hn.utils.set_random_seed(1)
    model = hn.Sequential([hn.Input((5,)), layers.Dense(4, activation=activation), layers.Dense(3)])
    check_model_gradients(model, Y_REGRESSION, "mse")


LOSSES = [
    ("mse", None, Y_REGRESSION),
    ("mae", None, Y_REGRESSION),
    (hn.losses.Huber(delta=0.5), None, Y_REGRESSION),
    ("binary_crossentropy", "sigmoid", Y_BINARY),
    (hn.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), None, Y_BINARY),
    ("categorical_crossentropy", "softmax", Y_ONE_HOT),
    (hn.losses.CategoricalCrossentropy(from_logits=True), None, Y_ONE_HOT),
    ("sparse_categorical_crossentropy", "softmax", Y_SPARSE),
    (hn.losses.SparseCategoricalCrossentropy(from_logits=True), None, Y_SPARSE),
]


@pytest.mark.parametrize("loss, output_activation, y", LOSSES, ids=lambda v: v if isinstance(v, str) else None)
def test_mlp_gradients_for_every_loss(
    loss: object, output_activation: str | None, y: np.ndarray, float64: None
) -> None:
    hn.utils.set_random_seed(2)
    model = hn.Sequential(
        [hn.Input((5,)), layers.Dense(4, activation="tanh"), layers.Dense(3, activation=output_activation)]
    )
    check_model_gradients(model, y, loss)


def test_max_aggregation_without_bias_and_with_regularizers(float64: None) -> None:
    hn.utils.set_random_seed(3)
    model = hn.Sequential([
        hn.Input((5,)),
        layers.Dense(4, activation="elu", aggregation="max", kernel_regularizer=hn.regularizers.L2(0.1)),
        layers.Dense(3, use_bias=False, kernel_regularizer=hn.regularizers.L1L2(l1=0.01, l2=0.02)),
    ])  # fmt: skip
    check_model_gradients(model, Y_REGRESSION, "mse")


def test_max_aggregation_computes_max_of_weighted_inputs(float64: None) -> None:
    layer = layers.Dense(3, aggregation="max", bias_initializer="ones")
    out = layer(X).numpy()
    kernel = layer.kernel.numpy()
    np.testing.assert_allclose(out, (X[:, :, None] * kernel[None]).max(axis=1) + 1.0)


def test_the_theory_three_layer_network(float64: None) -> None:
    """y = g2(g1(x W1 + b1) W2 + b2) W3 with a bias-free last layer, as in the seed notes."""
    hn.utils.set_random_seed(4)
    model = hn.Sequential([
        hn.Input((5,)), layers.Dense(6, activation="sigmoid"), layers.Dense(4, activation="tanh"),
        layers.Dense(3, use_bias=False),
    ])  # fmt: skip
    w1, b1, w2, b2, w3 = model.get_weights()
    expected = (np.tanh((1 / (1 + np.exp(-(X @ w1 + b1)))) @ w2 + b2)) @ w3
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-12)
    check_model_gradients(model, Y_REGRESSION, "mse")
