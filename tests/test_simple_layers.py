"""Rescaling, GaussianDropout and ActivityRegularization: Keras 3's arguments, defaults and numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import highnn as hn
from highnn import layers

RNG = np.random.default_rng(13)


def test_rescaling_maps_bytes_to_floats_with_scalar_or_per_channel_factors(float64: None) -> None:
    pixels = RNG.integers(0, 256, size=(2, 3, 3, 3)).astype(np.uint8)
    out = layers.Rescaling(1 / 127.5, offset=-1)(pixels)
    assert out.dtype == "float64"
    np.testing.assert_allclose(out.numpy(), pixels * (1 / 127.5) - 1, rtol=1e-15, atol=1e-16)
    per_channel = layers.Rescaling([1.0, 0.5, 2.0], offset=[0.0, 1.0, -1.0])(pixels)
    np.testing.assert_allclose(per_channel.numpy(), pixels * [1.0, 0.5, 2.0] + [0.0, 1.0, -1.0], rtol=1e-15)
    with hn.config.use_backend("numpy", floatx="float32"):
        assert layers.Rescaling(1 / 255)(pixels).dtype == "float32"


def test_rescaling_config_round_trips_and_bad_factors_are_named() -> None:
    layer = layers.Rescaling(np.array([1.0, 2.0]), offset=0.5, name="scale")
    assert layer.get_config() == {"name": "scale", "trainable": True, "scale": [1.0, 2.0], "offset": 0.5}
    clone = layers.deserialize(layers.serialize(layer))
    assert isinstance(clone, layers.Rescaling) and clone.get_config() == layer.get_config()
    assert layer.compute_output_shape((None, 4, 2)) == (None, 4, 2)
    with pytest.raises(TypeError, match="Rescaling: `scale` must be a finite number, received 'x'"):
        layers.Rescaling("x")
    with pytest.raises(TypeError, match="Rescaling: `offset` must be a finite number, received None"):
        layers.Rescaling(1.0, offset=[1.0, None])


def test_gaussian_dropout_multiplies_by_noise_of_mean_one_while_training(float64: None) -> None:
    rate = 0.3
    x = np.ones((200, 500))
    layer = layers.GaussianDropout(rate, seed=4)
    noise = layer(x, training=True).numpy()
    assert abs(noise.mean() - 1.0) < 0.01
    assert abs(noise.std() - math.sqrt(rate / (1 - rate))) < 0.01
    np.testing.assert_array_equal(layer(x).numpy(), x)  # the identity at inference
    np.testing.assert_array_equal(layers.GaussianDropout(rate, seed=4)(x, training=True).numpy(), noise)  # seeded
    assert not np.array_equal(layer(x, training=True).numpy(), noise), "each call draws new noise"
    np.testing.assert_array_equal(layers.GaussianDropout(0.0)(x, training=True).numpy(), x)


def test_gaussian_dropout_config_and_errors() -> None:
    layer = layers.GaussianDropout(0.2, seed=3, name="noise")
    assert layer.get_config() == {"name": "noise", "trainable": True, "seed": 3, "rate": 0.2}
    assert isinstance(layers.deserialize(layers.serialize(layer)), layers.GaussianDropout)
    with pytest.raises(ValueError, match=r"GaussianDropout: `rate` must be a number in \[0, 1\), received 1"):
        layers.GaussianDropout(1)


def test_activity_regularization_adds_its_penalty_per_example(float64: None) -> None:
    x = RNG.normal(size=(4, 3))
    layer = layers.ActivityRegularization(l1=0.01, l2=0.02)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    (penalty,) = layer.losses
    expected = (0.01 * np.abs(x).sum() + 0.02 * np.square(x).sum()) / 4
    np.testing.assert_allclose(penalty.numpy(), expected, rtol=1e-14)
    model = hn.Sequential([hn.Input((3,)), layers.ActivityRegularization(l2=0.5)])
    model.compile(loss="mse")
    y = np.zeros((4, 3))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np.square(x).mean() + 0.5 * np.square(x).sum() / 4)


def test_activity_regularization_config_names_l1_and_l2_only() -> None:
    layer = layers.ActivityRegularization(l1=0.1, name="penalty")
    assert layer.get_config() == {"name": "penalty", "trainable": True, "l1": 0.1, "l2": 0.0}
    assert layers.deserialize(layers.serialize(layer)).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="ActivityRegularization: `l2` must be a number >= 0"):
        layers.ActivityRegularization(l2=-1)
