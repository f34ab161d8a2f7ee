"""Every activation against its NumPy definition, by function and by name, on every backend."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from helpers import numeric_gradient
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
    "celu": lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),
    "glu": lambda x: x[:, :2] * sigmoid(x[:, 2:]),
    "mish": lambda x: x * np.tanh(np.logaddexp(x, 0)),
    "log_sigmoid": lambda x: -np.logaddexp(-x, 0),
    "hard_silu": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "hard_swish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "soft_shrink": lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "squareplus": lambda x: (x + np.sqrt(x**2 + 4)) / 2,
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x)),
    "threshold": lambda x: np.where(x > 0, x, 0),
}


def test_every_activation_has_a_reference() -> None:
    assert set(REFERENCES) == set(ACTIVATIONS.names)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS.names))
def test_activation_values(name: str, backend64: str) -> None:
    x = X if name != "log_softmax" else X / 10  # log(softmax) in NumPy underflows at the extremes
    x = x[:, :4] if name == "glu" else x  # glu halves an axis of even size
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


def test_keras_arguments_of_the_further_activations(float64: None) -> None:
    x = np.array([-3.0, -1.0, -0.2, 0.0, 0.3, 2.0])
    activations = hn.activations
    np.testing.assert_allclose(
        activations.celu(x, alpha=2.0).numpy(), np.maximum(x, 0) + 2 * np.expm1(np.minimum(x, 0) / 2)
    )
    np.testing.assert_allclose(activations.hard_shrink(x, threshold=1.0).numpy(), [-3.0, 0, 0, 0, 0, 2.0])
    np.testing.assert_allclose(activations.soft_shrink(x, threshold=1.0).numpy(), [-2.0, 0, 0, 0, 0, 1.0])
    np.testing.assert_allclose(activations.squareplus(x, b=1.0).numpy(), (x + np.sqrt(x**2 + 1)) / 2)
    np.testing.assert_allclose(activations.threshold(x, 0.25, -7.0).numpy(), [-7.0, -7.0, -7.0, -7.0, 0.3, 2.0])
    matrix = np.arange(12.0).reshape(4, 3) / 10
    np.testing.assert_allclose(activations.glu(matrix, axis=0).numpy(), matrix[:2] * sigmoid(matrix[2:]))
    assert activations.hard_swish is activations.hard_silu


def test_glu_needs_an_even_axis_and_halves_the_output_shape() -> None:
    with pytest.raises(
        ValueError, match=r"glu: axis -1 of `x` must exist and have an even size, received shape \(2, 5\)"
    ):
        hn.activations.glu(X)
    model = hn.Sequential([hn.Input((5,)), hn.layers.Dense(8, activation="glu"), hn.layers.Activation("glu")])
    assert model.compute_output_shape((None, 5)) == (None, 2)
    assert model(np.ones((3, 5))).shape == (3, 2)


@pytest.mark.parametrize(
    "name", ["celu", "mish", "log_sigmoid", "hard_silu", "squareplus", "sparse_plus", "tanh_shrink"]
)
def test_further_activations_gradients_match_finite_differences(name: str, float64: None) -> None:
    x = np.array([-2.5, -0.7, 0.4, 1.6])  # away from the kinks
    activation = hn.activations.get(name)
    tensor = hn.tensor(x, requires_grad=True)
    activation(tensor).sum().backward()
    numeric = numeric_gradient(lambda v: float(activation(v).numpy().sum()), x)
    np.testing.assert_allclose(tensor.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)
