"""keras.ops.image's resize, pad_images, crop_images, rgb_to_hsv and hsv_to_rgb: values against independent
definitions (``jax.image.resize``, NumPy's padding and slicing, the standard library's ``colorsys``) on every
backend, gradients against finite differences, and errors that name the argument."""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np
import pytest
from helpers import numeric_gradient

import highnn as hn

RNG = np.random.default_rng(11)
#: highnn's interpolation names and jax.image.resize's
JAX_METHODS = {"nearest": "nearest", "bilinear": "linear", "bicubic": "cubic", "lanczos3": "lanczos3",
               "lanczos5": "lanczos5"}  # fmt: skip


def jax_resize(images: np.ndarray, size: tuple[int, int], interpolation: str, antialias: bool) -> np.ndarray:
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        shape = (*images.shape[:-3], *size, images.shape[-1])
        return np.asarray(jax.image.resize(images, shape, JAX_METHODS[interpolation], antialias=antialias))


@pytest.mark.parametrize("interpolation", list(JAX_METHODS))
@pytest.mark.parametrize(("size", "antialias"), [((9, 4), False), ((3, 11), False), ((2, 3), True)])
def test_resize_matches_jax_image_resize(
    backend64: str, interpolation: str, size: tuple[int, int], antialias: bool
) -> None:
    images = RNG.normal(size=(2, 6, 7, 3))
    expected = jax_resize(images, size, interpolation, antialias)
    out = hn.ops.image.resize(images, size, interpolation, antialias=antialias)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    single = hn.ops.image.resize(images[0], size, interpolation, antialias=antialias)
    np.testing.assert_allclose(single.numpy(), expected[0], rtol=1e-10, atol=1e-10)
    first = hn.ops.image.resize(np.moveaxis(images, -1, 1), size, interpolation, antialias=antialias,
                                data_format="channels_first")  # fmt: skip
    np.testing.assert_allclose(np.moveaxis(first.numpy(), 1, -1), expected, rtol=1e-10, atol=1e-10)


def test_resize_to_an_aspect_ratio_crops_or_pads_the_centred_window_first(backend64: str) -> None:
    images = RNG.normal(size=(2, 6, 10, 1))
    cropped = hn.ops.image.resize(images, (4, 4), crop_to_aspect_ratio=True)  # the centred 6 x 6 window
    np.testing.assert_allclose(cropped.numpy(), jax_resize(images[:, :, 2:8], (4, 4), "bilinear", False), atol=1e-12)
    padded = hn.ops.image.resize(images, (4, 4), pad_to_aspect_ratio=True, fill_value=2.0)  # 10 x 10, 2 rows each
    filled = np.pad(images, ((0, 0), (2, 2), (0, 0), (0, 0)), constant_values=2.0)
    np.testing.assert_allclose(padded.numpy(), jax_resize(filled, (4, 4), "bilinear", False), atol=1e-12)


def test_resize_rounds_integer_images_back_to_their_dtype_saturating() -> None:
    images = np.array([[[0], [255]], [[255], [0]]], dtype=np.uint8)  # 2 x 2, one channel
    out = hn.ops.image.resize(images, (4, 4), "bicubic")  # bicubic overshoots past 255 and below 0
    assert out.dtype == hn.tensor(images).dtype  # highnn's integer dtype for uint8
    values = out.numpy().astype(np.int64)
    assert values.min() >= 0 and values.max() <= 255
    expected = np.clip(np.round(jax_resize(images.astype(np.float64), (4, 4), "bicubic", False)), 0, 255)
    np.testing.assert_array_equal(values, expected)


def test_resize_gradient_reaches_the_images(float64: None) -> None:
    images = RNG.normal(size=(1, 4, 5, 2))
    cotangent = RNG.normal(size=(1, 7, 3, 2))
    inputs = hn.tensor(images, requires_grad=True)
    (grad,) = hn.grad(hn.ops.image.resize(inputs, (7, 3), "bicubic"), [inputs], cotangent)

    def loss(x: np.ndarray) -> float:
        return float(np.sum(hn.ops.image.resize(x, (7, 3), "bicubic").numpy() * cotangent))

    np.testing.assert_allclose(grad.numpy(), numeric_gradient(loss, images), rtol=1e-7, atol=1e-9)


PAD_AND_CROP = [  # (top, left, bottom, right, target height, target width): two of each three given
    dict(top=1, left=2, bottom=3, right=0),
    dict(top=2, left=1, target_height=9, target_width=8),
    dict(bottom=1, right=2, target_height=8, target_width=10),
]


@pytest.mark.parametrize("sides", PAD_AND_CROP)
def test_pad_images_pads_with_zeros(backend64: str, sides: dict[str, int]) -> None:
    images = RNG.normal(size=(2, 5, 6, 3))
    top, left, bottom, right = _sides(sides, 5, 6, grow=True)
    expected = np.pad(images, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = hn.ops.image.pad_images(images, **_keras_arguments(sides, "padding"))
    np.testing.assert_array_equal(out.numpy(), expected)
    first = hn.ops.image.pad_images(np.moveaxis(images[0], -1, 0), **_keras_arguments(sides, "padding"),
                                    data_format="channels_first")  # fmt: skip
    np.testing.assert_array_equal(np.moveaxis(first.numpy(), 0, -1), expected[0])


@pytest.mark.parametrize("sides", PAD_AND_CROP)
def test_crop_images_takes_the_window(backend64: str, sides: dict[str, int]) -> None:
    images = RNG.normal(size=(2, 12, 13, 3))
    top, left, bottom, right = _sides(sides, 12, 13, grow=False)
    out = hn.ops.image.crop_images(images, **_keras_arguments(sides, "cropping"))
    np.testing.assert_array_equal(out.numpy(), images[:, top : 12 - bottom, left : 13 - right])


def test_pad_and_crop_check_their_arguments_before_anything_runs() -> None:
    images = np.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match=r"give exactly two of `top_padding`, `bottom_padding`, `target_height`"):
        hn.ops.image.pad_images(images, top_padding=1, bottom_padding=1, target_height=6, left_padding=0,
                                right_padding=0)  # fmt: skip
    with pytest.raises(ValueError, match=r"left_padding.*non-negative integer.*-1"):
        hn.ops.image.pad_images(images, 0, -1, 0, 0)
    with pytest.raises(ValueError, match=r"target_height.*received 3"):  # smaller than the image
        hn.ops.image.pad_images(images, top_padding=0, target_height=3, left_padding=0, right_padding=0)
    with pytest.raises(ValueError, match=r"target_width.*received 4"):  # 4 - 1 leaves no room for 4
        hn.ops.image.crop_images(images, 0, 1, 0, target_width=4)
    with pytest.raises(ValueError, match=r"top_cropping \+ bottom_cropping.*received 5"):
        hn.ops.image.crop_images(images, 3, 0, 2, 0)
    with pytest.raises(ValueError, match=r"images.*rank 4.*rank 3.*shape \(4, 4\)"):
        hn.ops.image.crop_images(np.zeros((4, 4)), 0, 0, 0, 0)
    with pytest.raises(ValueError, match=r"size.*\(height, width\).*\(3,\)"):
        hn.ops.image.resize(images, (3,))
    with pytest.raises(ValueError, match=r"interpolation.*'area'"):
        hn.ops.image.resize(images, (2, 2), "area")
    with pytest.raises(ValueError, match=r"only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio`"):
        hn.ops.image.resize(images, (2, 2), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)


def test_rgb_to_hsv_and_back_match_colorsys(backend64: str) -> None:
    images = RNG.uniform(size=(2, 4, 5, 3))
    images[0, 0, 0] = [0.5, 0.5, 0.5]  # grey: hue and saturation 0
    images[0, 0, 1] = [0.2, 0.9, 0.9]  # green and blue tie for the largest
    images[0, 0, 2] = [0.0, 0.0, 0.0]  # black
    expected = np.apply_along_axis(lambda pixel: colorsys.rgb_to_hsv(*pixel), -1, images)
    hsv = hn.ops.image.rgb_to_hsv(images)
    np.testing.assert_allclose(hsv.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hn.ops.image.hsv_to_rgb(hsv).numpy(), images, rtol=1e-12, atol=1e-12)
    back = np.apply_along_axis(lambda pixel: colorsys.hsv_to_rgb(*pixel), -1, expected)
    first = hn.ops.image.hsv_to_rgb(np.moveaxis(expected[1], -1, 0), data_format="channels_first")
    np.testing.assert_allclose(np.moveaxis(first.numpy(), 0, -1), back[1], rtol=1e-12, atol=1e-12)


def test_hsv_gradients_match_finite_differences(float64: None) -> None:
    images = RNG.uniform(0.1, 0.9, size=(1, 2, 3, 3))
    for function in (hn.ops.image.rgb_to_hsv, hn.ops.image.hsv_to_rgb):
        cotangent = RNG.normal(size=images.shape)
        inputs = hn.tensor(images, requires_grad=True)
        (grad,) = hn.grad(function(inputs), [inputs], cotangent)

        def loss(x: np.ndarray, function: Any = function, cotangent: np.ndarray = cotangent) -> float:
            return float(np.sum(function(x).numpy() * cotangent))

        np.testing.assert_allclose(grad.numpy(), numeric_gradient(loss, images), rtol=1e-6, atol=1e-8)


def test_colour_conversions_need_float_images_of_three_channels() -> None:
    with pytest.raises(ValueError, match=r"rgb_to_hsv.*images.*3 channels.*shape \(2, 2, 4\)"):
        hn.ops.image.rgb_to_hsv(np.zeros((2, 2, 4)))
    with pytest.raises(TypeError, match=r"hsv_to_rgb.*float images.*int"):
        hn.ops.image.hsv_to_rgb(np.zeros((2, 2, 3), dtype=np.int32))


def _sides(given: dict[str, int], height: int, width: int, grow: bool) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from two of each axis's three arguments."""
    sign = 1 if grow else -1
    top = given.get("top", sign * (given.get("target_height", 0) - height) - given.get("bottom", 0))
    bottom = given.get("bottom", sign * (given.get("target_height", 0) - height) - top)
    left = given.get("left", sign * (given.get("target_width", 0) - width) - given.get("right", 0))
    right = given.get("right", sign * (given.get("target_width", 0) - width) - left)
    return top, left, bottom, right


def _keras_arguments(given: dict[str, int], what: str) -> dict[str, int]:
    names = {"top": f"top_{what}", "left": f"left_{what}", "bottom": f"bottom_{what}", "right": f"right_{what}"}
    return {names.get(key, key): value for key, value in given.items()}
