"""Embedding and the take/scatter_add gather behind it: values, gradients, masks, errors and config."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BACKENDS, require_backend

import highnn as hn
from highnn import layers

TOKENS = np.array([[1, 4, 4, 0], [3, 0, 0, 0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_are_gathered_and_gradients_add_into_the_rows_used(backend: str) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend, floatx="float64"):
        layer = layers.Embedding(5, 3)
        out = layer(TOKENS)
        (gradient,) = hn.grad(out.sum(), [layer.embeddings])
        table = layer.embeddings.numpy()
    np.testing.assert_array_equal(out.numpy(), table[TOKENS])
    np.testing.assert_array_equal(gradient.numpy(), np.bincount(TOKENS.ravel(), minlength=5)[:, None] * np.ones(3))


def test_keras_defaults_weight_name_and_initializer() -> None:
    layer = layers.Embedding(50, 4)
    layer.build((None, 7))
    assert [w.name for w in layer.weights] == ["embeddings"] and layer.embeddings.shape == (50, 4)
    values = layer.embeddings.numpy()
    assert values.min() >= -0.05 and values.max() <= 0.05  # Keras's "uniform"
    assert layer.compute_output_shape((None, 7)) == (None, 7, 4)
    assert layer.compute_mask(hn.tensor(TOKENS)) is None


def test_mask_zero_marks_padding() -> None:
    layer = layers.Embedding(5, 3, mask_zero=True)
    mask = layer.compute_mask(hn.tensor(TOKENS))
    assert mask is not None
    np.testing.assert_array_equal(mask.numpy(), TOKENS != 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_tokens_raise_the_same_error_everywhere(backend: str) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend):
        layer = layers.Embedding(5, 3)
        with pytest.raises(IndexError, match=r"^take: index 5 is out of range for an axis of size 5\.$"):
            layer(np.array([[1, 5]]))
        with pytest.raises(IndexError, match=r"^take: index 7 is out of range"):
            hn.config.settings.backend.take(layer.embeddings.value, hn.tensor([7]).value, axis=0)


def test_take_follows_keras_ops_take() -> None:
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(hn.ops.take(x, np.array([5, -1])).numpy(), np.take(x, [5, -1]))
    np.testing.assert_array_equal(hn.ops.take(x, np.array([[0], [2]]), axis=-1).numpy(), np.take(x, [[0], [2]], axis=1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input_dim": 0, "output_dim": 3}, ValueError, r"^Embedding: `input_dim` must be a positive integer"),
        ({"input_dim": 5, "output_dim": 2.5}, ValueError, r"`output_dim` must be a positive integer, received 2.5"),
        ({"input_dim": 5, "output_dim": 3, "mask_zero": "yes"}, TypeError, r"`mask_zero` must be"),
        (
            {"input_dim": 5, "output_dim": 3, "weights": [np.ones((3, 5))]},
            ValueError,
            r"Embedding: `weights` must be a matrix of shape \(5, 3\), received \(3, 5\)",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        layers.Embedding(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("as_list", [True, False])
def test_initial_weights_are_the_embeddings_from_the_start(as_list: bool) -> None:
    """Keras's ``weights=``: the layer is built at once with that matrix (or a list holding it) as its
    embeddings, which a model then trains from."""
    matrix = np.arange(15.0).reshape(5, 3)
    layer = layers.Embedding(5, 3, weights=[matrix] if as_list else matrix)
    assert layer.built
    np.testing.assert_array_equal(layer.embeddings.numpy(), matrix)
    model = hn.Sequential([hn.Input((2,)), layer])
    np.testing.assert_array_equal(model.predict(np.array([[4, 0]]), verbose=0), matrix[[[4, 0]]])


def test_config_round_trip() -> None:
    layer = layers.Embedding(9, 2, embeddings_regularizer="l2", mask_zero=True, name="tokens")
    config = layer.get_config()
    rebuilt = layers.deserialize(layers.serialize(layer))
    assert isinstance(rebuilt, layers.Embedding) and rebuilt.get_config() == config
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"
