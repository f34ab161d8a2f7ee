"""``hn.ops.image`` (map_coordinates, affine_transform) against ``jax.scipy.ndimage.map_coordinates`` (what
Keras's JAX backend calls), values and gradients, and the image augmentation layers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn import layers

RNG = np.random.default_rng(31)
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def jax_map_coordinates(image: np.ndarray, coordinates: np.ndarray, order: int, mode: str, cval: float,
                        cotangent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The oracle's samples and their VJP with respect to the image and the coordinates, in float64."""
    jax = pytest.importorskip("jax")
    from jax.scipy.ndimage import map_coordinates

    with jax.enable_x64(True):
        out, vjp = jax.vjp(lambda i, c: map_coordinates(i, list(c), order, mode=mode, cval=cval), image, coordinates)
        image_grad, coordinates_grad = vjp(cotangent)
        return np.asarray(out), np.asarray(image_grad), np.asarray(coordinates_grad)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("shape", [(4, 6), (1, 5), (3,)])
def test_map_coordinates_matches_jax(backend64: str, fill_mode: str, order: int, shape: tuple[int, ...]) -> None:
    image = RNG.normal(size=shape)
    coordinates = RNG.uniform(-13.0, 13.0, size=(len(shape), 5, 7))
    coordinates[:, 0, :3] = [[-2.5, 0.5, 1.5]] * len(shape)  # halves: rounded away from zero
    cotangent = RNG.normal(size=(5, 7))
    inputs = hn.tensor(image, requires_grad=True)
    at = hn.tensor(coordinates, requires_grad=True)
    out = hn.ops.image.map_coordinates(inputs, at, order, fill_mode, fill_value=0.25)
    expected, image_grad, coordinates_grad = jax_map_coordinates(image, coordinates, order, fill_mode, 0.25,
                                                                 cotangent)  # fmt: skip
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    grads = hn.grad(out, [inputs, at], cotangent)
    np.testing.assert_allclose(grads[0].numpy(), image_grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1].numpy(), coordinates_grad, rtol=1e-12, atol=1e-12)


def affine_oracle(images: np.ndarray, transform: np.ndarray, interpolation: str, fill_mode: str,
                  fill_value: float) -> np.ndarray:  # fmt: skip
    """Keras's definition, channel by channel: output pixel (row y, column x) reads the input at column
    ``a0 x + a1 y + a2`` and row ``b0 x + b1 y + b2``."""
    order = {"nearest": 0, "bilinear": 1}[interpolation]
    batch, height, width, channels = images.shape
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    out = np.empty_like(images)
    for b in range(batch):
        a0, a1, a2, b0, b1, b2 = transform[b % len(transform), :6]
        at = np.stack([b0 * x + b1 * y + b2, a0 * x + a1 * y + a2])
        for c in range(channels):
            zero = np.zeros((height, width))
            out[b, ..., c] = jax_map_coordinates(images[b, ..., c], at, order, fill_mode, fill_value, zero)[0]
    return out


def random_transforms(count: int) -> np.ndarray:
    transform = np.zeros((count, 8))
    transform[:, :6] = RNG.uniform(-1.5, 1.5, size=(count, 6))
    transform[:, [2, 5]] *= 4
    return transform


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_transform_matches_keras_definition(backend64: str, fill_mode: str, interpolation: str) -> None:
    images, transform = RNG.normal(size=(3, 5, 7, 2)), random_transforms(3)
    expected = affine_oracle(images, transform, interpolation, fill_mode, 0.5)
    out = hn.ops.image.affine_transform(images, transform, interpolation, fill_mode, fill_value=0.5)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    # channels first, one transform for every image, and one image alone
    first = hn.ops.image.affine_transform(
        np.moveaxis(images, -1, 1), transform[0], interpolation, fill_mode, 0.5, data_format="channels_first"
    )
    expected_one = affine_oracle(images, transform[:1], interpolation, fill_mode, 0.5)
    np.testing.assert_allclose(np.moveaxis(first.numpy(), 1, -1), expected_one, rtol=1e-12, atol=1e-12)
    single = hn.ops.image.affine_transform(images[1], transform[1], interpolation, fill_mode, 0.5)
    np.testing.assert_allclose(single.numpy(), expected[1], rtol=1e-12, atol=1e-12)


def test_affine_transform_gradient_reaches_the_images(float64: None) -> None:
    images, transform = RNG.normal(size=(2, 4, 5, 2)), random_transforms(2)
    cotangent = RNG.normal(size=images.shape)
    inputs = hn.tensor(images, requires_grad=True)
    out = hn.ops.image.affine_transform(inputs, transform, fill_mode="reflect")
    (grad,) = hn.grad(out, [inputs], cotangent)

    def loss(x: np.ndarray) -> float:
        return float(np.sum(hn.ops.image.affine_transform(x, transform, fill_mode="reflect").numpy() * cotangent))

    from helpers import numeric_gradient

    np.testing.assert_allclose(grad.numpy(), numeric_gradient(loss, images), rtol=1e-6, atol=1e-8)


def test_integer_images_are_sampled_as_float32() -> None:
    images = np.arange(16, dtype=np.uint8).reshape(1, 4, 4, 1)
    shift_right = [1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    out = hn.ops.image.affine_transform(images, shift_right, interpolation="nearest")
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy()[0, :, :, 0], np.pad(images[0, :, :-1, 0], ((0, 0), (1, 0))))


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (lambda: hn.ops.image.map_coordinates(np.ones((3, 3)), np.ones((3, 4)), 1), ValueError,
         r"map_coordinates: `coordinates` must be an array of shape \(rank of inputs = 2, ...\)"),
        (lambda: hn.ops.image.map_coordinates(np.ones(3), np.ones((1, 4)), 3), ValueError,
         "map_coordinates: `order` must be one of 0, 1, received 3"),
        (lambda: hn.ops.image.map_coordinates(np.ones(3), np.ones((1, 4)), 1, "edge"), ValueError,
         "map_coordinates: `fill_mode` must be one of 'constant', 'nearest', 'wrap', 'mirror', 'reflect'"),
        (lambda: hn.ops.image.affine_transform(np.ones((4, 4)), np.zeros(8)), ValueError,
         "affine_transform: `images` must be a batch of rank 4 or an image of rank 3, received 'shape"),
        (lambda: hn.ops.image.affine_transform(np.ones((2, 4, 4, 1)), np.zeros(6)), ValueError,
         r"affine_transform: `transform` must be an array of shape \(8,\) or \(batch, 8\), received 'shape \(6,\)'"),
        (lambda: hn.ops.image.affine_transform(np.ones((2, 4, 4, 1)), np.zeros((3, 8))), ValueError,
         r"affine_transform: `transform` must be one row or one per image \(2\)"),
        (lambda: hn.ops.image.affine_transform(np.ones((1, 4, 4, 1)), np.zeros(8), "cubic"), ValueError,
         "affine_transform: `interpolation` must be one of 'nearest', 'bilinear', received 'cubic'"),
        (lambda: hn.ops.image.affine_transform(np.ones((1, 4, 4, 1)), np.zeros(8), data_format="nhwc"), ValueError,
         "affine_transform: `data_format` must be one of 'channels_last', 'channels_first', received 'nhwc'"),
    ],
)  # fmt: skip
def test_image_op_errors_name_the_argument(action: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        action()  # type: ignore[operator]


def numpy_patches(images: np.ndarray, size: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """Valid patches, each flattened row by row with the channels innermost."""
    windows = np.lib.stride_tricks.sliding_window_view(images, size, axis=(1, 2))  # (b, r, c, ch, h, w)
    windows = windows[:, :: strides[0], :: strides[1]]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(*windows.shape[:3], -1)


@pytest.mark.parametrize(("size", "strides"), [((2, 2), None), ((3, 2), (1, 2)), ((2, 3), (2, 1))])
def test_extract_patches_flattens_each_window(backend64: str, size: tuple[int, int], strides: Any) -> None:
    images = RNG.normal(size=(2, 6, 7, 3))
    out = hn.ops.image.extract_patches(images, size, strides)
    np.testing.assert_allclose(out.numpy(), numpy_patches(images, size, strides or size), rtol=1e-12, atol=1e-12)
    first = hn.ops.image.extract_patches(np.moveaxis(images, -1, 1), size, strides, data_format="channels_first")
    np.testing.assert_allclose(np.moveaxis(first.numpy(), 1, -1), out.numpy(), rtol=1e-12, atol=1e-12)
    single = hn.ops.image.extract_patches(images[0], size, strides)
    np.testing.assert_allclose(single.numpy(), out.numpy()[0], rtol=1e-12, atol=1e-12)


def test_extract_patches_gradient_and_grayscale(float64: None) -> None:
    images = RNG.normal(size=(1, 4, 4, 2))
    weights = RNG.normal(size=(1, 2, 2, 8))
    x = hn.tensor(images, requires_grad=True)
    (grad,) = hn.grad(hn.ops.sum(hn.ops.image.extract_patches(x, 2) * weights), [x])
    expected = weights.reshape(1, 2, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(1, 4, 4, 2)  # each pixel once
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-12)
    rgb = RNG.uniform(size=(2, 3, 3, 3))
    gray = hn.ops.image.rgb_to_grayscale(rgb).numpy()
    np.testing.assert_allclose(gray, (rgb @ [0.2989, 0.5870, 0.1140])[..., None], rtol=1e-12)
    np.testing.assert_array_equal(hn.ops.image.rgb_to_grayscale(gray).numpy(), gray)
    with pytest.raises(ValueError, match="rgb_to_grayscale: `images` must be images of rank 3 or 4 with 3"):
        hn.ops.image.rgb_to_grayscale(np.ones((2, 3, 3, 2)))
    with pytest.raises(ValueError, match="extract_patches: `size` must be a positive int or a pair of them"):
        hn.ops.image.extract_patches(images, (2, 0))


# ------------------------------------------------------------------ the augmentation layers
def test_random_rotation_turns_counter_clockwise_about_the_centre(backend64: str) -> None:
    images = RNG.normal(size=(3, 5, 5, 2))
    quarter = layers.RandomRotation((0.25, 0.25), seed=1)(images, training=True)  # exactly 90 degrees
    np.testing.assert_allclose(quarter.numpy(), np.rot90(images, axes=(1, 2)), atol=1e-12)
    half = layers.RandomRotation((-0.5, -0.5), data_format="channels_first")(np.moveaxis(images, -1, 1), training=True)
    np.testing.assert_allclose(np.moveaxis(half.numpy(), 1, -1), np.rot90(images, 2, axes=(1, 2)), atol=1e-12)


def test_random_translation_shifts_by_whole_fractions(backend64: str) -> None:
    images = RNG.normal(size=(2, 4, 5, 1))
    down_left = layers.RandomTranslation((0.25, 0.25), (-0.2, -0.2), fill_mode="constant", fill_value=9.0)
    expected = np.full_like(images, 9.0)
    expected[:, 1:, :4] = images[:, :3, 1:]  # one row down, one column left
    np.testing.assert_allclose(down_left(images, training=True).numpy(), expected, atol=1e-12)
    wrapped = layers.RandomTranslation((0.5, 0.5), (0.4, 0.4), fill_mode="wrap")(images, training=True)
    np.testing.assert_allclose(wrapped.numpy(), np.roll(images, (2, 2), axis=(1, 2)), atol=1e-12)


def test_random_zoom_scales_about_the_centre(backend64: str) -> None:
    images = RNG.normal(size=(2, 5, 9, 1))
    zoomed_in = layers.RandomZoom((-0.5, -0.5), interpolation="nearest")(images, training=True).numpy()
    # row y reads 0.5 y + 1 and column x 0.5 x + 2 (the centre stays), halves rounded up
    rows, columns = np.floor(1 + 0.5 * np.arange(5) + 0.5), np.floor(2 + 0.5 * np.arange(9) + 0.5)
    np.testing.assert_array_equal(zoomed_in, images[:, rows.astype(int)][:, :, columns.astype(int)])
    stretched = layers.RandomZoom((0.0, 0.0), (1.0, 1.0), fill_mode="constant")(images, training=True).numpy()
    np.testing.assert_allclose(stretched[:, :, 4], images[:, :, 4], atol=1e-12)  # the centre column stays
    np.testing.assert_allclose(stretched[:, :, 6], images[:, :, 8], atol=1e-12)  # column 6 reads 4 + 2 x 2
    np.testing.assert_array_equal(stretched[:, :, [0, 1, 7, 8]], 0.0)  # beyond the edges: the fill value


@pytest.mark.parametrize(
    ("make", "bounds"),
    [
        (lambda: layers.RandomRotation(0.1, seed=4), "rotation"),
        (lambda: layers.RandomTranslation((-0.2, 0.1), 0.3, seed=4), "translation"),
        (lambda: layers.RandomZoom(0.3, (-0.1, 0.2), seed=4), "zoom"),
    ],
)  # fmt: skip
def test_each_image_draws_its_own_transform_within_the_factors(backend64: str, make: object, bounds: str) -> None:
    images = RNG.normal(size=(200, 6, 8, 1))
    layer = make()  # type: ignore[operator]
    transform = layer.get_random_transformation(hn.tensor(images)).numpy()
    assert transform.shape == (200, 8) and np.all(transform[:, 6:] == 0)
    a0, a1, a2, b0, b1, b2 = transform[:, :6].T
    if bounds == "rotation":  # Keras's matrix for an angle in [-36, 36] degrees about (3.5, 2.5)
        angle = np.arctan2(b0, a0)
        assert np.all(np.abs(angle) <= 0.2 * math.pi) and angle.std() > 0.1
        np.testing.assert_allclose([a1, b1], [-np.sin(angle), np.cos(angle)], atol=1e-12)
        np.testing.assert_allclose(a2, 3.5 - 3.5 * a0 - 2.5 * a1, atol=1e-12)
        np.testing.assert_allclose(b2, 2.5 - 3.5 * b0 - 2.5 * b1, atol=1e-12)
    elif bounds == "translation":  # rows shift by [-0.2, 0.1] x 6, columns by [-0.3, 0.3] x 8
        np.testing.assert_array_equal([a0, a1, b0, b1], [np.ones(200), np.zeros(200), np.zeros(200), np.ones(200)])
        assert np.all((-b2 >= -1.2) & (-b2 <= 0.6)) and np.all(np.abs(a2) <= 2.4)
        assert np.corrcoef(a2, b2)[0, 1] ** 2 < 0.05  # two draws
    else:  # zoom: width by 1 + [-0.1, 0.2], height by 1 + [-0.3, 0.3], about the centre
        assert np.all((a0 >= 0.9) & (a0 <= 1.2)) and np.all((b1 >= 0.7) & (b1 <= 1.3))
        np.testing.assert_allclose([a2, b2], [3.5 * (1 - a0), 2.5 * (1 - b1)], atol=1e-12)
    twin = make()  # type: ignore[operator]
    out = twin(images, training=True).numpy()  # the same seed draws the same transforms
    expected = hn.ops.image.affine_transform(images, transform, "bilinear", "reflect")
    np.testing.assert_allclose(out, expected.numpy(), atol=1e-12)
    assert not np.allclose(twin(images, training=True).numpy(), out), "each call draws again"
    np.testing.assert_array_equal(twin(images).numpy(), images)  # the identity at inference


def test_random_contrast_scales_each_image_about_its_channel_means(backend64: str) -> None:
    images = RNG.uniform(0.0, 1.0, size=(300, 4, 5, 2))
    out = layers.RandomContrast(0.3, value_range=(-10, 10), seed=3)(images, training=True).numpy()
    means = images.mean(axis=(1, 2), keepdims=True)
    contrast = (out - means) / (images - means)
    np.testing.assert_allclose(contrast, contrast[:, :1, :1, :1] * np.ones_like(contrast), rtol=1e-9)
    drawn = contrast[:, 0, 0, 0]  # one draw per image, in [0.7, 1.3] (Keras 3.15 draws in [1, 1.3])
    assert drawn.min() >= 0.7 and drawn.max() <= 1.3 and drawn.min() < 0.8 and drawn.max() > 1.2
    first = layers.RandomContrast((0.0, 1.0), value_range=(0, 1), data_format="channels_first", seed=3)
    clipped = first(np.moveaxis(images, -1, 1), training=True).numpy()
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0 and np.isclose(clipped.max(), 1.0)
    np.testing.assert_array_equal(layers.RandomContrast(0.3)(images).numpy(), images)  # inference


def test_random_brightness_adds_a_fraction_of_the_value_range(backend64: str) -> None:
    images = RNG.uniform(0.0, 255.0, size=(300, 3, 3, 3))
    out = layers.RandomBrightness((-0.2, 0.1), value_range=(-1000, 1000), seed=3)(images, training=True).numpy()
    delta = out - images
    np.testing.assert_allclose(delta, delta[:, :1, :1, :1] * np.ones_like(delta), atol=1e-9)
    drawn = delta[:, 0, 0, 0] / 2000.0  # the width of the value range
    assert drawn.min() >= -0.2 and drawn.max() <= 0.1 and drawn.min() < -0.18 and drawn.max() > 0.08
    one = layers.RandomBrightness(0.5, seed=4)(images[0], training=True).numpy()  # one image: one draw
    shift = one - images[0]
    inside = (one > 0) & (one < 255)
    assert np.ptp(shift[inside]) < 1e-9 and np.all((one >= 0) & (one <= 255))
    assert layers.RandomBrightness(0.1)(images.astype(np.uint8)).dtype == "float64"  # the compute dtype


def test_center_crop_takes_the_centred_window_or_resizes(backend64: str) -> None:
    images = RNG.normal(size=(2, 7, 9, 3))
    np.testing.assert_array_equal(layers.CenterCrop(4, 5)(images).numpy(), images[:, 1:5, 2:7])
    first = layers.CenterCrop(4, 5, data_format="channels_first")(np.moveaxis(images, -1, 1)).numpy()
    np.testing.assert_array_equal(np.moveaxis(first, 1, -1), images[:, 1:5, 2:7])
    larger = layers.CenterCrop(10, 6)(images).numpy()  # too few rows: the 7 x 4 centred window, resized
    np.testing.assert_allclose(larger, layers.Resizing(10, 6, crop_to_aspect_ratio=True)(images).numpy())
    assert layers.CenterCrop(4, 5).compute_output_shape((None, 7, 9, 3)) == (None, 4, 5, 3)
    assert layers.CenterCrop(3, 3)(images[0]).shape == (3, 3, 3)


def test_random_crop_takes_one_random_window_per_batch_while_training(backend64: str) -> None:
    images = RNG.normal(size=(3, 8, 10, 2))
    layer = layers.RandomCrop(5, 6, seed=2)
    places = set()
    for _ in range(12):
        out = layer(images, training=True).numpy()
        matches = [(top, left) for top in range(4) for left in range(5)
                   if np.array_equal(out, images[:, top : top + 5, left : left + 6])]  # fmt: skip
        assert len(matches) == 1, "the whole batch is cut at one place"
        places.add(matches[0])
    assert len(places) > 4, "each call draws a new place"
    np.testing.assert_array_equal(layer(images).numpy(), images[:, 1:6, 2:8])  # inference: the centred window
    small = layers.RandomCrop(9, 10, seed=2)(images, training=True).numpy()
    np.testing.assert_allclose(small, layers.CenterCrop(9, 10)(images).numpy())  # too small: as CenterCrop
    twin = layers.RandomCrop(5, 6, seed=2)
    np.testing.assert_array_equal(twin(images, training=True).numpy(),
                                  layers.RandomCrop(5, 6, seed=2)(images, training=True).numpy())  # fmt: skip


def test_augmentation_in_a_model_trains_saves_and_loads(tmp_path: object) -> None:
    hn.utils.set_random_seed(0)
    images, labels = RNG.normal(size=(32, 6, 6, 1)), RNG.integers(0, 2, size=32)
    model = hn.Sequential([
        hn.Input((6, 6, 1)),
        layers.RandomFlip("horizontal", seed=1),
        layers.RandomRotation(0.1, fill_mode="nearest", seed=2),
        layers.RandomTranslation(0.1, 0.1, interpolation="nearest", seed=3),
        layers.RandomZoom(0.2, fill_mode="constant", fill_value=0.5, seed=4),
        layers.RandomContrast(0.2, value_range=(-5, 5), seed=5),
        layers.RandomBrightness(0.1, value_range=(-5, 5), seed=6),
        layers.RandomCrop(5, 5, seed=7),
        layers.Flatten(),
        layers.Dense(2),
    ])  # fmt: skip
    model.compile("adam", hn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images, labels, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = f"{tmp_path}/augmented.highnn"
    model.save(path)
    loaded = hn.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (lambda: layers.RandomRotation(1.5), ValueError,
         r"RandomRotation: `factor` must be a number or a pair of numbers in \[-1, 1\], received 1.5"),
        (lambda: layers.RandomRotation("0.1"), TypeError, "RandomRotation: `factor` must be a number or a pair"),
        (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), ValueError, "RandomRotation: `factor` must be"),
        (lambda: layers.RandomZoom(-1.0), ValueError,
         r"RandomZoom: `height_factor` must be a number or a pair of numbers in \(-1, 1\], received -1.0"),
        (lambda: layers.RandomTranslation(0.1, (0.0, 2.0)), ValueError,
         r"RandomTranslation: `width_factor` must be a number or a pair of numbers in \[-1, 1\]"),
        (lambda: layers.RandomZoom(0.1, fill_mode="mirror"), ValueError,
         "RandomZoom: `fill_mode` must be one of 'reflect', 'wrap', 'constant', 'nearest', received 'mirror'"),
        (lambda: layers.RandomRotation(0.1, interpolation="bicubic"), ValueError,
         "RandomRotation: `interpolation` must be one of 'nearest', 'bilinear', received 'bicubic'"),
        (lambda: layers.RandomContrast(1.5), ValueError,
         r"RandomContrast: `factor` must be a number or a pair of numbers in \[0, 1\], received 1.5"),
        (lambda: layers.RandomBrightness(0.1, value_range=(1, 1)), ValueError,
         r"RandomBrightness: `value_range` must be a pair of two different numbers \(low, high\), received \(1, 1\)"),
        (lambda: layers.RandomBrightness(0.1, value_range=255), ValueError, "RandomBrightness: `value_range` must be"),
        (lambda: layers.CenterCrop(0, 3), ValueError, "CenterCrop: `height` must be"),
        (lambda: layers.RandomCrop(3, 2.5), TypeError, "RandomCrop: `width` must be"),
        (lambda: layers.CenterCrop(2, 2)(np.ones((2, 3))), ValueError, "inputs must be images of rank 3 or batches"),
        (lambda: layers.RandomRotation(0.1)(np.ones((2, 3)), training=True), ValueError,
         "inputs must be images of rank 3 or batches of rank 4, received shape"),
    ],
)  # fmt: skip
def test_augmentation_errors_name_the_argument(action: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        action()  # type: ignore[operator]


def test_augmentation_configs_round_trip() -> None:
    for layer in (
        layers.RandomRotation((-0.2, 0.1), fill_mode="wrap", seed=3, name="turn"),
        layers.RandomTranslation(0.1, (-0.3, 0.2), interpolation="nearest", fill_value=1.0),
        layers.RandomZoom(0.2, data_format="channels_first"),
        layers.RandomContrast((0.1, 0.4), value_range=(0, 1)),
        layers.RandomBrightness(0.2, seed=2),
        layers.RandomCrop(3, 4, seed=1),
        layers.CenterCrop(5, 2, data_format="channels_first"),
    ):
        clone = layers.deserialize(layers.serialize(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    assert layers.RandomRotation(0.2).get_config()["factor"] == (-0.2, 0.2)  # as Keras stores it
    assert layers.RandomZoom(0.2).get_config()["width_factor"] is None
    assert layers.RandomContrast(0.2).get_config()["factor"] == (0.2, 0.2)
    assert layers.RandomBrightness(0.2, value_range=[255, 0]).get_config()["value_range"] == (0.0, 255.0)
