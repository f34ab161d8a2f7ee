"""Every activation against its NumPy definition, by function and by name, on every backend."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.special import erf

import highnn as hn
from highnn.activations import ACTIVATIONS

X = np.array([[-40.0, -3.0, -1.0, -0.25, 0.0], [0.25, 1.0, 3.0, 6.5, 40.0]])
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


REFERENCES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "softmax": softmax,
    "log_softmax": lambda x: np.log(softmax(x)),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    "softplus": lambda x: np.logaddexp(x, 0),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x * sigmoid(x),
    "swish": lambda x: x * sigmoid(x),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "exponential": np.exp,
}


def test_every_activation_has_a_reference() -> None:
    assert set(REFERENCES) == set(ACTIVATIONS.names)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS.names))
def test_activation_values(name: str, backend64: str) -> None:
    x = X if name != "log_softmax" else X / 10  # log(softmax) in NumPy underflows at the extremes
    expected = REFERENCES[name](x)
    got = hn.activations.get(name)(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    layer_output = hn.layers.Activation(name)(x).numpy()
    np.testing.assert_array_equal(layer_output, got)


def test_gelu_tanh_approximation(float64: None) -> None:
    expected = 0.5 * X * (1 + np.tanh(np.sqrt(2 / np.pi) * (X + 0.044715 * X**3)))
    np.testing.assert_allclose(hn.activations.gelu(X, approximate=True).numpy(), expected, rtol=1e-12)


def test_relu_takes_keras_options(float64: None) -> None:
    x = np.array([-3.0, -1.0, 0.5, 2.0, 7.0])
    np.testing.assert_allclose(hn.activations.relu(x, negative_slope=0.1, max_value=6.0, threshold=1.0).numpy(),
                               [-0.4, -0.2, -0.05, 2.0, 6.0])  # fmt: skip


def test_unknown_activation_and_bad_type() -> None:
    with pytest.raises(ValueError, match=r"Unknown activation: 'sigmod'\. Did you mean 'sigmoid'\?"):
        hn.activations.get("sigmod")
    with pytest.raises(TypeError, match=r"`activation` must be a string, .* or a callable, received 3 of type int"):
        hn.activations.get(3)  # type: ignore[arg-type]


def test_get_none_is_linear_and_names_round_trip(float64: None) -> None:
    assert hn.activations.get(None) is hn.activations.linear
    assert hn.activations.get(hn.activations.relu) is hn.activations.relu
    for name in ACTIVATIONS.names:
        assert hn.activations.deserialize(hn.activations.serialize(hn.activations.get(name))) is ACTIVATIONS.names[name]
