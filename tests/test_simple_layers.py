"""Rescaling, Normalization, GaussianDropout and ActivityRegularization: Keras 3's arguments, defaults and numbers."""

from __future__ import annotations

import math
from pathlib import Path

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


# ------------------------------------------------------------ Normalization
FEATURES = RNG.normal(size=(40, 4, 3)) * [1.0, 10.0, 100.0] + 5.0


@pytest.mark.parametrize(("axis", "kept"), [(-1, (2,)), (None, ()), ((1, 2), (1, 2)), (1, (1,))])
def test_normalization_adapts_to_the_mean_and_variance_per_position_of_axis(
    float64: None, axis: object, kept: tuple[int, ...]
) -> None:
    reduced = tuple(a for a in range(3) if a not in kept)
    mean = FEATURES.mean(axis=reduced, keepdims=True)
    std = FEATURES.std(axis=reduced, keepdims=True)
    layer = layers.Normalization(axis=axis)
    layer.adapt(FEATURES)
    np.testing.assert_allclose(layer(FEATURES).numpy(), (FEATURES - mean) / std, rtol=1e-12, atol=1e-12)
    batched = layers.Normalization(axis=axis)
    batched.adapt([FEATURES[:7], FEATURES[7:30], FEATURES[30:]])  # batches combine exactly
    np.testing.assert_allclose(batched.get_weights()[0], layer.get_weights()[0], rtol=1e-13)
    np.testing.assert_allclose(batched.get_weights()[1], layer.get_weights()[1], rtol=1e-12)
    restored = layers.Normalization(axis=axis, invert=True)
    restored.adapt((FEATURES[i : i + 10], None) for i in range(0, 40, 10))  # (x, y) batches from a generator
    np.testing.assert_allclose(restored(layer(FEATURES)).numpy(), FEATURES, rtol=1e-12)


def test_normalization_with_given_statistics_fills_the_last_kept_axes(float64: None) -> None:
    layer = layers.Normalization(axis=(1, 2), mean=[1.0, 2.0, 3.0], variance=[4.0, 9.0, 16.0])
    np.testing.assert_allclose(layer(FEATURES).numpy(), (FEATURES - [1.0, 2.0, 3.0]) / [2.0, 3.0, 4.0], rtol=1e-14)
    assert not layer.weights
    constant = layers.Normalization(mean=0.0, variance=0.0)  # the square root is at least epsilon
    np.testing.assert_allclose(constant(np.array([[1e-7]])).numpy(), [[1.0]], rtol=1e-12)
    config = layer.get_config()
    assert (config["axis"], config["mean"], config["variance"]) == ([1, 2], [1.0, 2.0, 3.0], [4.0, 9.0, 16.0])
    clone = layers.deserialize(layers.serialize(layer))
    np.testing.assert_array_equal(clone(FEATURES).numpy(), layer(FEATURES).numpy())


def test_an_adapted_normalization_trains_unchanged_and_saves_its_statistics(tmp_path: Path) -> None:
    x, y = FEATURES[:, 0, :], RNG.normal(size=(40, 1))
    normalizer = layers.Normalization()
    normalizer.adapt(x)
    model = hn.Sequential([hn.Input((3,)), normalizer, layers.Dense(1)])
    assert [w.path for w in model.non_trainable_weights] == [
        f"{normalizer.name}/mean", f"{normalizer.name}/variance", f"{normalizer.name}/count"
    ]  # fmt: skip
    statistics = [w.numpy().copy() for w in model.non_trainable_weights]
    model.compile("adam", "mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for before, after in zip(statistics, model.non_trainable_weights):
        np.testing.assert_array_equal(after.numpy(), before)
    model.save(tmp_path / "normalized.highnn")
    loaded = hn.models.load_model(tmp_path / "normalized.highnn")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (lambda: layers.Normalization(mean=1.0), ValueError, "`mean` and `variance` must be given together"),
        (lambda: layers.Normalization(mean=[1.0, 2.0], variance=[1.0]), ValueError, r"shapes \(2,\) and \(1,\)"),
        (lambda: layers.Normalization(axis=-1, mean=np.ones((2, 2)), variance=np.ones((2, 2))), ValueError,
         "of at most one axis per `axis`"),
        (lambda: layers.Normalization(axis="last"), TypeError, "Normalization: `axis` must be an integer"),
        (lambda: layers.Normalization(mean=0.0, variance=1.0).adapt(FEATURES), ValueError,
         "`adapt` learns the statistics given as `mean` and `variance`"),
        (lambda: layers.Normalization().adapt([]), ValueError, "`adapt` received no data"),
        (lambda: layers.Normalization().adapt([FEATURES, FEATURES[:, :, :2]]), ValueError,
         r"must have the sizes \(3,\) along `axis` \(-1,\), received a batch of shape \(40, 4, 2\)"),
        (lambda: layers.Normalization().adapt(3), TypeError, "Normalization.adapt: `data` must be an array"),
    ],
)  # fmt: skip
def test_normalization_errors_name_the_argument(action: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        action()  # type: ignore[operator]


# ------------------------------------------------------------------ Resizing
def jax_resized(x: np.ndarray, shape: tuple[int, ...], method: str, antialias: bool, cotangent: np.ndarray) -> tuple:
    """``jax.image.resize`` (Keras's resize on its JAX backend) and its VJP, in float64."""
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        method = {"bilinear": "linear", "bicubic": "cubic"}.get(method, method)
        out, vjp = jax.vjp(lambda t: jax.image.resize(t, shape, method=method, antialias=antialias), x)
        return np.asarray(out), np.asarray(vjp(cotangent)[0])


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize(("size", "antialias"), [((3, 5), False), ((3, 5), True), ((10, 4), False), ((13, 17), True)])
def test_resizing_matches_jax_image_resize(
    backend64: str, interpolation: str, size: tuple[int, int], antialias: bool
) -> None:
    x = RNG.normal(size=(2, 7, 9, 3))
    inputs = hn.tensor(x, requires_grad=True)
    out = layers.Resizing(*size, interpolation=interpolation, antialias=antialias)(inputs)
    cotangent = RNG.normal(size=out.shape)
    expected, expected_grad = jax_resized(x, (2, *size, 3), interpolation, antialias, cotangent)
    (grad,) = hn.grad(out, [inputs], cotangent)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-12, atol=1e-12)


def test_resizing_crops_or_pads_to_the_aspect_ratio_first(float64: None) -> None:
    x = RNG.normal(size=(2, 7, 9, 3))
    zeros = np.zeros((2, 4, 4, 3))
    cropped = layers.Resizing(4, 4, crop_to_aspect_ratio=True)(x).numpy()  # the centred 7 x 7 window, then resized
    np.testing.assert_allclose(cropped, jax_resized(x[:, :, 1:8], (2, 4, 4, 3), "bilinear", False, zeros)[0])
    padded = layers.Resizing(8, 4, pad_to_aspect_ratio=True, fill_value=0.5)(x).numpy()  # 18 rows: 5.5 above, below
    filled = np.pad(x, ((0, 0), (5, 5), (0, 0), (0, 0)), constant_values=0.5)
    np.testing.assert_allclose(padded, jax_resized(filled, (2, 8, 4, 3), "bilinear", False, np.zeros((2, 8, 4, 3)))[0])
    image = layers.Resizing(3, 5, data_format="channels_first")(np.moveaxis(x[0], -1, 0)).numpy()  # one image
    np.testing.assert_allclose(image, np.moveaxis(layers.Resizing(3, 5)(x).numpy()[0], -1, 0), rtol=1e-13)


def test_resizing_config_shapes_and_errors() -> None:
    layer = layers.Resizing(3, 5, interpolation="bicubic", antialias=True, name="resize")
    clone = layers.deserialize(layers.serialize(layer))
    assert isinstance(clone, layers.Resizing) and clone.get_config() == layer.get_config()
    assert layer.get_config()["crop_to_aspect_ratio"] is False and layer.get_config()["fill_mode"] == "constant"
    assert layer.compute_output_shape((None, 7, 9, 3)) == (None, 3, 5, 3)
    assert layers.Resizing(3, 5, data_format="channels_first").compute_output_shape((2, 7, 9)) == (2, 3, 5)
    with pytest.raises(ValueError, match="only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio`"):
        layers.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="Resizing: `fill_mode` must be one of 'constant', received 'reflect'"):
        layers.Resizing(3, 3, fill_mode="reflect")
    with pytest.raises(ValueError, match="Resizing: `height` must be an integer >= 1, received 0"):
        layers.Resizing(0, 3)
    with pytest.raises(ValueError, match="Resizing: `interpolation` must be one of"):
        layers.Resizing(3, 3, interpolation="area")
    with pytest.raises(ValueError, match="inputs must be images of rank 3 or batches of rank 4, received rank 2"):
        layers.Resizing(3, 3)(np.ones((4, 4)))


# ---------------------------------------------------------------- RandomFlip
@pytest.mark.parametrize(
    ("mode", "data_format", "flipped_axes"),
    [
        ("horizontal", "channels_last", (2,)),
        ("vertical", "channels_last", (1,)),
        ("horizontal_and_vertical", "channels_last", (1, 2)),
        ("horizontal", "channels_first", (3,)),
    ],
)
def test_random_flip_flips_each_image_or_leaves_it_while_training(
    backend64: str, mode: str, data_format: str, flipped_axes: tuple[int, ...]
) -> None:
    images = RNG.normal(size=(400, 3, 4, 2))
    layer = layers.RandomFlip(mode, seed=5, data_format=data_format)
    out = layer(images, training=True).numpy()
    flipped = np.flip(images, axis=flipped_axes)
    same = np.all(out == images, axis=(1, 2, 3))
    turned = np.all(out == flipped, axis=(1, 2, 3))
    assert np.all(same ^ turned), "each image is left or flipped whole, by the mode's flips together"
    assert 150 < turned.sum() < 250  # probability 1/2
    np.testing.assert_array_equal(
        layers.RandomFlip(mode, seed=5, data_format=data_format)(images, training=True).numpy(), out
    )
    assert not np.array_equal(layer(images, training=True).numpy(), out), "each call draws again"
    np.testing.assert_array_equal(layer(images).numpy(), images)  # the identity at inference
    one = layers.RandomFlip(mode, seed=2, data_format=data_format)(images[0], training=True).numpy()
    assert np.array_equal(one, images[0]) or np.array_equal(one, np.flip(images[0], [a - 1 for a in flipped_axes]))


def test_random_flip_config_and_errors() -> None:
    layer = layers.RandomFlip("vertical", seed=3, name="flip")
    assert layer.get_config() == {"name": "flip", "trainable": True, "seed": 3, "mode": "vertical",
                                  "data_format": "channels_last"}  # fmt: skip
    assert isinstance(layers.deserialize(layers.serialize(layer)), layers.RandomFlip)
    with pytest.raises(ValueError, match="RandomFlip: `mode` must be one of 'horizontal', 'vertical'"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="inputs must be images of rank 3 or batches of rank 4, received shape"):
        layers.RandomFlip()(np.ones((2, 3)), training=True)


def test_a_model_trains_through_random_flip(backend64: str) -> None:
    hn.utils.set_random_seed(0)
    images, labels = RNG.normal(size=(32, 4, 4, 1)), RNG.integers(0, 2, size=32)
    model = hn.Sequential([
        hn.Input((4, 4, 1)), layers.RandomFlip(seed=1), layers.Flatten(), layers.Dense(2),
    ])  # fmt: skip
    model.compile("adam", hn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images, labels, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(model.predict(images, verbose=0), model.predict(images, verbose=0))
