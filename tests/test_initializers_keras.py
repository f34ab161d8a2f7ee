"""Initializers as Keras 3 has them: array constants, arrays as initializers, Keras's aliases, None."""

from __future__ import annotations

import numpy as np
import pytest

import highnn as hn
from highnn import initializers


def test_constant_takes_an_array_and_broadcasts_it() -> None:
    value = np.random.default_rng(0).random((3, 3))
    initializer = initializers.Constant(value=value)
    np.testing.assert_array_equal(initializer((3, 3), "float64"), value)
    row = initializers.Constant([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(row((2, 3), "float64"), [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    again = initializers.deserialize(initializers.serialize(initializer))
    np.testing.assert_array_equal(again((3, 3), "float64"), value)
    assert initializers.Constant(6).get_config() == {"value": 6.0}
    with pytest.raises(ValueError, match=r"Constant: a value of shape \(3,\) cannot fill a weight of shape \(3, 2\)"):
        row((3, 2))
    with pytest.raises(TypeError, match=r"Constant: `value` must be a number or an array of numbers, received 'a'"):
        initializers.Constant("a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Constant: `value` must be a finite number or an array of them"):
        initializers.Constant(np.nan)


def test_an_array_is_an_initializer_for_its_own_shape() -> None:
    kernel = np.arange(6.0).reshape(2, 3)
    for identifier in (kernel, hn.ops.to_tensor(kernel)):
        initializer = initializers.get(identifier)
        np.testing.assert_array_equal(initializer((2, 3), "float64"), kernel)
        with pytest.raises(ValueError, match=r"has shape \(2, 3\), so the weight must have it too; received shape"):
            initializer((3, 2))
    layer = hn.layers.Dense(3, kernel_initializer=kernel)  # type: ignore[arg-type]
    layer.build((None, 2))
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel.astype(layer.kernel.dtype))
    rebuilt = hn.layers.Dense.from_config(layer.get_config())
    rebuilt.build((None, 2))
    np.testing.assert_array_equal(rebuilt.kernel.numpy(), layer.kernel.numpy())


@pytest.mark.parametrize(
    ("alias", "cls"),
    [("normal", initializers.RandomNormal), ("uniform", initializers.RandomUniform),
     ("truncated_normal", initializers.TruncatedNormal), ("one", initializers.Ones), ("zero", initializers.Zeros),
     ("glorot_uniform", initializers.GlorotUniform), ("GlorotNormal", initializers.GlorotNormal),
     ("he_normal", initializers.HeNormal), ("lecun_uniform", initializers.LecunUniform),
     ("variance_scaling", initializers.VarianceScaling), ("IdentityInitializer", initializers.Identity),
     ("OrthogonalInitializer", initializers.Orthogonal)],
)  # fmt: skip
def test_keras_names_and_aliases(alias: str, cls: type) -> None:
    assert type(initializers.get(alias)) is cls


def test_get_none_is_none() -> None:
    assert initializers.get(None) is None
    assert hn.regularizers.get(None) is None
    assert hn.constraints.get(None) is None
    assert hn.losses.get(None) is None
    assert hn.optimizers.get(None) is None
