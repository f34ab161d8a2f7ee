"""``hn.ops.take_along_axis``, ``stack`` and ``concatenate`` against NumPy on every backend, and the errors for Keras
names highnn lacks (they name the thing and point to docs/keras-migration.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import numeric_gradient

import highnn as hn

RNG = np.random.default_rng(5)
X = RNG.normal(size=(3, 4, 5))
CASES = {
    "sorted-along-1": (np.argsort(X, axis=1), 1),
    "last-axis-picks-repeats": (RNG.integers(0, 5, size=(3, 4, 7)), -1),
    "broadcast-indices": (np.array([[[0], [3], [1]]]), 1),
    "negative-indices": (np.array([[[-1, -5, 2]]]), 2),
    "flattened": (np.array([0, 59, 7, 7, -2]), None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_gradients_match_numpy(backend64: str, case: str) -> None:
    indices, axis = CASES[case]
    expected = reference(X, indices, axis)
    x = hn.tensor(X, requires_grad=True)
    out = hn.ops.take_along_axis(x, indices, axis=axis)
    np.testing.assert_array_equal(out.numpy(), expected)
    weights = RNG.uniform(0.5, 1.5, expected.shape)
    (grad,) = hn.grad((out * weights).sum(), [x])
    numeric = numeric_gradient(lambda v: float((reference(v, indices, axis) * weights).sum()), X)
    np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def reference(x: np.ndarray, indices: np.ndarray, axis: int | None) -> np.ndarray:
    """NumPy's take_along_axis, the indices broadcast off ``axis`` first (NumPy broadcasts them too)."""
    if axis is None:
        return np.take_along_axis(x, indices, axis=None)
    axis %= x.ndim
    shape = np.broadcast_shapes(x.shape[:axis] + (1,) + x.shape[axis + 1 :], indices.shape)
    return np.take_along_axis(x, np.broadcast_to(indices, shape), axis=axis)


def test_indices_from_argmax_read_the_maxima(float64: None) -> None:
    positions = hn.ops.expand_dims(hn.ops.argmax(X, axis=-1), -1)
    np.testing.assert_array_equal(hn.ops.take_along_axis(X, positions, axis=-1).numpy()[..., 0], X.max(-1))


@pytest.mark.parametrize(
    ("indices", "axis", "error", "message"),
    [
        (np.zeros((3, 4, 5)), 1, TypeError, "`indices` must be an array of integers, received one of dtype float"),
        (np.zeros((3, 4), int), 1, ValueError, r"`indices` must be an array of the rank of `x` \(3\)"),
        (np.zeros((2, 4, 5), int), 1, ValueError, "`indices` must be a shape that broadcasts with x's"),
        (np.zeros((3, 4, 5), int), 3, ValueError, "axis"),
    ],
)
def test_bad_indices_are_named(indices: np.ndarray, axis: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        hn.ops.take_along_axis(X, indices, axis=axis)


@pytest.mark.parametrize(
    ("reach", "message"),
    [
        (lambda: hn.ops.lu_factor, "highnn.ops has no function 'lu_factor'"),
        (lambda: hn.layers.TextVectorization, "highnn.layers has no layer 'TextVectorization'"),
        (lambda: hn.models.clone_model, "highnn.models has no function 'clone_model'"),
        (lambda: hn.datasets, "highnn has no name 'datasets'"),
    ],
)
def test_a_keras_name_highnn_lacks_names_itself_and_the_migration_page(reach: Any, message: str) -> None:
    with pytest.raises(AttributeError, match=message + r": it is not among .* see docs/keras-migration.md"):
        reach()


def test_python_probes_get_the_plain_error() -> None:
    assert not hasattr(hn.ops, "__wrapped__") and not hasattr(hn, "__wrapped__")


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        (lambda: hn.losses.get("focal"), r"Unknown loss: 'focal'\..* Valid loss.* are: .*docs/keras-migration.md"),
        (lambda: hn.optimizers.get("adamw2"), r"Did you mean 'adamw'\?.*docs/keras-migration.md"),
        (lambda: hn.layers.deserialize({"class_name": "Foo", "config": {}}), r"Unknown layer: 'Foo'.*migration"),
    ],
)
def test_unknown_names_point_to_the_migration_page(lookup: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lookup()


def test_a_custom_activation_that_cannot_be_saved_points_to_the_migration_page() -> None:
    layer = hn.layers.Dense(2, activation=lambda x: x * 2.0)
    with pytest.raises(ValueError, match=r"custom functions cannot be saved; see docs/keras-migration.md"):
        layer.get_config()


def test_stack_and_concatenate_follow_numpy(backend64: str) -> None:
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    for axis in (0, 1, -1, 2):
        np.testing.assert_array_equal(hn.ops.stack([a, b], axis=axis).numpy(), np.stack([a, b], axis=axis))
    np.testing.assert_array_equal(hn.ops.concatenate([a, b], axis=1).numpy(), np.concatenate([a, b], axis=1))
    x = hn.tensor(a, requires_grad=True)
    (grad,) = hn.grad((hn.ops.stack([x, x * 2.0], axis=1) * hn.tensor(b[:, None, :])).sum(), [x])
    np.testing.assert_allclose(grad.numpy(), 3.0 * b)
    with pytest.raises(ValueError, match="`x` must be tensors of one shape"):
        hn.ops.stack([a, b.T])
