"""Merging layers and Identity, RepeatVector, Permute: values against NumPy, shapes, configs, errors."""

from __future__ import annotations

import numpy as np
import pytest

import highnn as hn
from highnn import layers

RNG = np.random.default_rng(1)
A, B, C = (RNG.normal(size=(3, 4)) for _ in range(3))

ELEMENTWISE = [
    (layers.Add, lambda *xs: sum(xs)),
    (layers.Multiply, lambda *xs: np.prod(xs, axis=0)),
    (layers.Average, lambda *xs: np.mean(xs, axis=0)),
    (layers.Maximum, lambda *xs: np.max(xs, axis=0)),
    (layers.Minimum, lambda *xs: np.min(xs, axis=0)),
]


@pytest.mark.parametrize(("cls", "reference"), ELEMENTWISE)
def test_elementwise_merges_match_numpy(cls: type[layers.Layer], reference) -> None:
    np.testing.assert_allclose(cls()([A, B, C]).numpy(), reference(A, B, C), rtol=1e-5, atol=1e-6)
    assert cls()([hn.Input((4,)), hn.Input((1,))]).shape == (None, 4)


def test_subtract_concatenate_dot() -> None:
    np.testing.assert_allclose(layers.Subtract()([A, B]).numpy(), A - B, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        layers.Concatenate(axis=0)([A, B]).numpy(), np.concatenate([A, B], 0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(layers.Dot(axes=1)([A, B]).numpy(), (A * B).sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    x, y = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    np.testing.assert_allclose(
        layers.Dot(axes=(2, 2))([x, y]).numpy(), np.einsum("bik,bjk->bij", x, y), rtol=1e-5, atol=1e-6
    )
    cosine = layers.Dot(axes=1, normalize=True)([A, B]).numpy()[:, 0]
    np.testing.assert_allclose(
        cosine, (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1), rtol=1e-5, atol=1e-6
    )
    assert layers.Concatenate()([hn.Input((None, 2)), hn.Input((7, 3))]).shape == (None, 7, 5)


def test_identity_repeat_vector_permute() -> None:
    np.testing.assert_array_equal(layers.Identity()(A).numpy(), A.astype(np.float32))
    np.testing.assert_allclose(
        layers.RepeatVector(2)(A).numpy(), np.repeat(A[:, None], 2, axis=1), rtol=1e-5, atol=1e-6
    )
    x = RNG.normal(size=(2, 3, 4))
    np.testing.assert_allclose(layers.Permute((2, 1))(x).numpy(), x.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)
    assert layers.Permute((2, 1))(hn.Input((3, 4))).shape == (None, 4, 3)


@pytest.mark.parametrize(
    "layer",
    [layers.Concatenate(axis=1), layers.Dot(axes=(1, 2), normalize=True), layers.RepeatVector(3),
     layers.Permute((2, 1)), layers.Add(name="plus"), layers.Identity()],
)  # fmt: skip
def test_config_round_trip(layer: layers.Layer) -> None:
    again = layers.deserialize(layers.serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def test_bad_arguments_and_inputs_are_named() -> None:
    with pytest.raises(ValueError, match=r"Add: `inputs` must be a list of at least 2 tensors, received '1 tensor"):
        layers.Add()([A])
    with pytest.raises(ValueError, match=r"Subtract: `inputs` must be a list of exactly 2 tensors"):
        layers.Subtract()([A, B, C])
    with pytest.raises(ValueError, match="must match on every axis except -1"):
        layers.Concatenate()([hn.Input((2, 3)), hn.Input((4, 3))])
    with pytest.raises(TypeError, match=r"Dot: `axes` must be an int or a pair of ints"):
        layers.Dot(axes="x")
    with pytest.raises(ValueError, match=r"RepeatVector: `n` must be a positive integer, received 0"):
        layers.RepeatVector(0)
    with pytest.raises(ValueError, match=r"Permute: `dims` must be a permutation"):
        layers.Permute((0, 1))
