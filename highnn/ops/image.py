"""Image operations (Keras's ``keras.ops.image``): sampling at arbitrary coordinates and affine transforms, patches,
colour spaces, and (from :mod:`highnn.ops.image_resizing`) resizing, padding and cropping.

Sampling and transforms are compositions of highnn's primitives: the neighbours of every sample point are gathered
with ``take`` and weighted, so the gradient reaches the images (a scatter-add) and, for bilinear sampling, the
coordinates.
Points outside the input read the extension ``fill_mode`` names (as ``scipy.ndimage`` and ``jax.scipy.ndimage``):

- ``"constant"``: ``(k k k k | a b c d | k k k k)``, ``k = fill_value``;
- ``"nearest"``: ``(a a a a | a b c d | d d d d)``;
- ``"wrap"``: ``(a b c d | a b c d | a b c d)``;
- ``"mirror"``: ``(c d c b | a b c d | c b a b)``, reflected about the edge pixels' centres;
- ``"reflect"``: ``(d c b a | a b c d | d c b a)``, reflected about the edge pixels' outer edges.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from highnn.backends.base import ALL_FLOAT_DTYPES
from highnn.checks import check_choice, fail
from highnn.graph import Tensor, TensorLike, to_tensor
from highnn.ops import primitives as P
from highnn.ops.composites import clip
from highnn.ops.image_resizing import crop_images, pad_images, resize  # noqa: F401 - keras.ops.image's names
from highnn.ops.math_ops import mod
from highnn.ops.numpy_ops import logical_and, stack
from highnn.ops.primitives import (
    abs,
    cast,
    channels_back,
    channels_last,
    conv,
    data_format_of,
    floor,
    greater_equal,
    less_equal,
    maximum,
    minimum,
    take,
    where,
)

FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
#: ``affine_transform``'s interpolations and the spline order of each
INTERPOLATIONS = {"nearest": 0, "bilinear": 1}

#: one sample's neighbour along an axis: its index (a float tensor of whole numbers, already inside the axis),
#: its weight (None: 1) and whether it lies inside the input (None: always, for every mode but ``constant``)
Neighbour = tuple[Tensor, Tensor | None, Tensor | None]


def map_coordinates(
    inputs: TensorLike,
    coordinates: TensorLike | Sequence[TensorLike],
    order: int,
    fill_mode: str = "constant",
    fill_value: float = 0.0,
) -> Tensor:
    """``inputs`` sampled at ``coordinates`` (one array of positions per axis of ``inputs``, stacked first), with
    the nearest value (``order=0``, halves rounded away from zero) or linear interpolation (``order=1``).

    >>> hn.ops.image.map_coordinates(np.arange(4.0), [[0.5, 3.5]], order=1, fill_mode="nearest")  # [0.5, 3.0]
    """
    inputs = to_tensor(inputs)
    coordinates = to_tensor(coordinates)
    if coordinates.ndim < 2 or coordinates.shape[0] != inputs.ndim:
        fail(
            "map_coordinates", "coordinates",
            f"an array of shape (rank of inputs = {inputs.ndim}, ...) with at least 2 dimensions",
            f"shape {coordinates.shape}",
        )  # fmt: skip
    check_choice("map_coordinates", "order", order, (0, 1))
    check_choice("map_coordinates", "fill_mode", fill_mode, FILL_MODES)
    work = _work_dtype(inputs)
    coordinates = cast(coordinates, work)
    table = cast(inputs, work).reshape(-1, 1)
    sampled = _sample(table, [coordinates[axis] for axis in range(inputs.ndim)], inputs.shape, order, fill_mode,
                      fill_value)  # fmt: skip
    return cast(sampled.reshape(coordinates.shape[1:]), _float_dtype(inputs))


def affine_transform(
    images: TensorLike,
    transform: TensorLike,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    data_format: str | None = None,
) -> Tensor:
    """Each image resampled through its ``transform`` ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (one row per image,
    or one for all), as ``keras.ops.image.affine_transform``: the output pixel at column ``x`` and row ``y`` reads
    the input at column ``a0 x + a1 y + a2`` and row ``b0 x + b1 y + b2`` (``c0`` and ``c1``, the projective
    terms, are ignored, as Keras ignores them). Images are ``(batch, height, width, channels)`` (or one image of
    rank 3) in the layout ``data_format`` names.

    >>> shift_right = [1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0]  # each pixel reads its left neighbour
    >>> hn.ops.image.affine_transform(np.arange(4.0).reshape(1, 4, 1), shift_right)[0, :, 0]  # [0, 0, 1, 2]
    """
    images, transform = to_tensor(images), to_tensor(transform)
    check_choice("affine_transform", "interpolation", interpolation, tuple(INTERPOLATIONS))
    check_choice("affine_transform", "fill_mode", fill_mode, FILL_MODES)
    layout = data_format_of("affine_transform", data_format)
    if images.ndim not in (3, 4):
        fail("affine_transform", "images", "a batch of rank 4 or an image of rank 3", f"shape {images.shape}")
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        fail("affine_transform", "transform", "an array of shape (8,) or (batch, 8)", f"shape {transform.shape}")
    batched = images.ndim == 4
    if not batched:
        images = images.reshape(1, *images.shape)
    images = channels_last(images, layout)
    batch, height, width, channels = images.shape
    if transform.ndim == 2 and transform.shape[0] not in (1, batch):
        fail("affine_transform", "transform", f"one row or one per image ({batch})", f"shape {transform.shape}")
    work = _work_dtype(images)
    transform = cast(transform.reshape(-1, 8), work).reshape(-1, 8, 1, 1)
    rows = to_tensor(np.arange(height, dtype=work).reshape(height, 1))
    columns = to_tensor(np.arange(width, dtype=work).reshape(1, width))
    a0, a1, a2, b0, b1, b2 = (transform[:, i] for i in range(6))  # each (batch or 1, 1, 1)
    source_rows = b0 * columns + b1 * rows + b2
    source_columns = a0 * columns + a1 * rows + a2
    table = cast(images, work).reshape(batch, height * width, channels)
    pixels = _sample(table, [source_rows, source_columns], (height, width), INTERPOLATIONS[interpolation],
                     fill_mode, fill_value, batch)  # fmt: skip
    pixels = cast(pixels, _float_dtype(images))
    out = channels_back(pixels, layout)
    return out if batched else out.reshape(out.shape[1:])


def _sample(
    table: Tensor,
    coordinates: list[Tensor],
    sizes: Sequence[int],
    order: int,
    fill_mode: str,
    fill_value: float,
    batch: int | None = None,
) -> Tensor:
    """The rows of ``table`` (positions of a grid of ``sizes`` in C order, by values) at ``coordinates`` (one
    tensor per grid axis, broadcast together), interpolated. With a ``batch``, ``table`` is ``(batch, positions,
    values)`` and the coordinates' leading axis picks each sample's image (length ``batch`` or 1)."""
    per_axis = [_neighbours(c, n, order, fill_mode) for c, n in zip(coordinates, sizes)]
    strides = [int(np.prod(sizes[axis + 1 :])) for axis in range(len(sizes))]
    sampled: Tensor | None = None
    for corner in itertools.product(*per_axis):
        position: Tensor | None = None
        for (index, _, _), stride in zip(corner, strides):
            term = cast(index, "int32") * stride
            position = term if position is None else position + term
        assert position is not None
        if batch is None:
            values = take(table, position, axis=0)
        else:  # each image's rows follow the previous images' positions
            first_rows = np.arange(batch, dtype=np.int32).reshape(-1, *[1] * len(sizes)) * table.shape[1]
            values = take(table.reshape(-1, table.shape[-1]), position + first_rows, axis=0)
        weights = [weight for _, weight, _ in corner if weight is not None]
        inside = [valid for _, _, valid in corner if valid is not None]
        if inside:
            valid = inside[0] if len(inside) == 1 else logical_and(*inside[:2])
            for more in inside[2:]:
                valid = logical_and(valid, more)
            values = where(valid.reshape(*valid.shape, 1), values, fill_value)
        for weight in weights:
            values = values * weight.reshape(*weight.shape, 1)
        sampled = values if sampled is None else sampled + values
    assert sampled is not None
    return sampled


def _neighbours(coordinate: Tensor, size: int, order: int, fill_mode: str) -> list[Neighbour]:
    """The samples' neighbours along one axis of ``size`` positions: the nearest one, or the two around each
    coordinate with their linear weights, their indices brought inside the axis as ``fill_mode`` extends it."""
    if order == 0:  # halves away from zero, as scipy and JAX round
        nearest = where(greater_equal(coordinate, 0.0), floor(coordinate + 0.5), -floor(0.5 - coordinate))
        return [_inside(nearest, None, size, fill_mode)]
    lower = floor(coordinate)
    upper_weight = coordinate - lower
    return [_inside(lower, 1.0 - upper_weight, size, fill_mode), _inside(lower + 1.0, upper_weight, size, fill_mode)]


def _inside(index: Tensor, weight: Tensor | None, size: int, fill_mode: str) -> Neighbour:
    last = float(size - 1)
    if fill_mode == "constant":
        valid = logical_and(greater_equal(index, 0.0), less_equal(index, last))
        return clip(index, 0.0, last), weight, valid
    if fill_mode == "nearest":
        return clip(index, 0.0, last), weight, None
    if fill_mode == "wrap":
        return _modulo(index, size), weight, None
    if fill_mode == "mirror":
        return _mirrored(index, size), weight, None
    # reflect: the mirror of a grid with a point between each two pixels and at the outer edges
    return floor((_mirrored(2.0 * index + 1.0, 2 * size + 1) - 1.0) / 2.0), weight, None


def _mirrored(index: Tensor, size: int) -> Tensor:
    """``index`` reflected about the centres of an axis's first and last of ``size`` positions (a triangle wave)."""
    if size == 1:
        return index * 0.0
    half = size - 1
    return abs(_modulo(index + half, 2 * half) - half)


def _modulo(index: Tensor, size: int) -> Tensor:
    """``index mod size`` for whole numbers held as floats (exact below 2 ** 24 in float32)."""
    return index - floor(index / size) * size


def _float_dtype(x: Tensor) -> str:
    """The dtype of the samples of ``x``: its own where it is a float, else float32."""
    return x.dtype if x.dtype in ALL_FLOAT_DTYPES else "float32"


def _work_dtype(x: Tensor) -> str:
    """The dtype positions and weights are computed in: float64 for float64 inputs, else float32 (a bfloat16
    position would be off by a pixel past 256)."""
    return "float64" if x.dtype == "float64" else "float32"


def extract_patches(
    images: TensorLike, size: int | tuple[int, int], strides: int | tuple[int, int] | None = None,
    dilation_rate: int | tuple[int, int] = 1, padding: str = "valid", data_format: str | None = None,
) -> Tensor:  # fmt: skip
    """Each ``size`` patch of the images as a vector of its pixels (row by row, channels innermost), as Keras's:
    ``(batch, rows, cols, channels)`` to ``(batch, patch rows, patch cols, size_h * size_w * channels)``, patches
    ``strides`` apart (``size`` by default). A convolution with a kernel that copies each pixel to its place,
    so the gradient reaches the images."""
    images = to_tensor(images)
    layout = data_format_of("extract_patches", data_format)
    if images.ndim not in (3, 4):
        fail("extract_patches", "images", "a batch of rank 4 or an image of rank 3", f"shape {images.shape}")
    window = (size, size) if isinstance(size, int) else tuple(size)
    if len(window) != 2 or not all(isinstance(n, int) and n >= 1 for n in window):
        fail("extract_patches", "size", "a positive int or a pair of them", size)
    batched = images.ndim == 4
    x = images if batched else images.reshape(1, *images.shape)
    x = channels_last(x, layout)
    channels = x.shape[-1]
    height, width = window
    kernel = np.zeros((height, width, channels, height * width * channels))
    for i, j, c in itertools.product(range(height), range(width), range(channels)):
        kernel[i, j, c, (i * width + j) * channels + c] = 1.0
    patches = conv(x, to_tensor(kernel, x.dtype), strides=window if strides is None else strides, padding=padding,
                   dilation_rate=dilation_rate)  # fmt: skip
    patches = channels_back(patches, layout)
    return patches if batched else patches.reshape(patches.shape[1:])


#: the luma weights of red, green and blue (ITU-R BT.601), as Keras and TensorFlow weigh them
GRAYSCALE_WEIGHTS = (0.2989, 0.5870, 0.1140)


def rgb_to_grayscale(images: TensorLike, data_format: str | None = None) -> Tensor:
    """RGB images as one channel of luma, ``0.2989 R + 0.5870 G + 0.1140 B``, as Keras's (one-channel images
    as they are)."""
    images = to_tensor(images)
    layout = data_format_of("rgb_to_grayscale", data_format)
    axis = _channel_axis(images.ndim, layout)
    if images.ndim not in (3, 4) or images.shape[axis] not in (1, 3):
        fail("rgb_to_grayscale", "images", "images of rank 3 or 4 with 3 (RGB) or 1 channels", f"shape {images.shape}")
    if images.shape[axis] == 1:
        return images
    x = cast(images, _float_dtype(images))
    weights = to_tensor(np.array(GRAYSCALE_WEIGHTS).reshape([3 if a == axis else 1 for a in range(x.ndim)]), x.dtype)
    return P.sum(x * weights, axis=axis, keepdims=True)


def rgb_to_hsv(images: TensorLike, data_format: str | None = None) -> Tensor:
    """RGB images as hue, saturation and value, each in [0, 1] (the hexcone model, as Keras's): the value is the
    largest channel, the saturation the spread over the value, the hue the position around the colour wheel of
    the largest channel's sector (0 where the pixel is grey). Values within the dtype's epsilon of 0 count as 0,
    as Keras's."""
    red, green, blue, axis = _planes("rgb_to_hsv", images, data_format)
    eps = float(np.finfo(red.dtype if red.dtype != "bfloat16" else "float32").eps)
    red, green, blue = (where(abs(plane) < eps, 0.0, plane) for plane in (red, green, blue))
    value = maximum(maximum(red, green), blue)
    spread = value - minimum(minimum(red, green), blue)
    saturation = where(value > 0.0, spread / where(value > 0.0, value, 1.0), 0.0)
    sixth = 1.0 / (6.0 * where(spread > 0.0, spread, 1.0))  # hue units per unit of spread
    hue = where(value == green, (blue - red) * sixth + 2.0 / 6.0, (red - green) * sixth + 4.0 / 6.0)
    hue = where(value == red, (green - blue) * sixth, hue)  # red's sector first, then green's, then blue's
    hue = where(spread > 0.0, hue, 0.0)
    hue = where(hue < 0.0, hue + 1.0, hue)
    return stack([hue, saturation, value], axis=axis)


def hsv_to_rgb(images: TensorLike, data_format: str | None = None) -> Tensor:
    """Hue, saturation and value images (each in [0, 1]) as RGB, the inverse of :func:`rgb_to_hsv`."""
    hue, saturation, value, axis = _planes("hsv_to_rgb", images, data_format)
    sector = mod(hue, 1.0) * 6.0
    shares = (
        clip(abs(sector - 3.0) - 1.0, 0.0, 1.0),
        clip(2.0 - abs(sector - 2.0), 0.0, 1.0),
        clip(2.0 - abs(sector - 4.0), 0.0, 1.0),
    )
    return stack([value * (1.0 - saturation + saturation * share) for share in shares], axis=axis)


def _planes(owner: str, images: TensorLike, data_format: str | None) -> tuple[Tensor, Tensor, Tensor, int]:
    """The three colour planes of float images of rank 3 or 4 and the channel axis they stack back along."""
    images = to_tensor(images)
    layout = data_format_of(owner, data_format)
    axis = _channel_axis(images.ndim, layout)
    if images.ndim not in (3, 4) or images.shape[axis] != 3:
        fail(owner, "images", "images of rank 3 or 4 with 3 channels", f"shape {images.shape}")
    if images.dtype not in ALL_FLOAT_DTYPES:
        fail(owner, "images", "float images", f"dtype {images.dtype}", TypeError)
    first, second, third = (take(images, to_tensor(np.int32(i)), axis=axis) for i in range(3))
    return first, second, third, axis


def _channel_axis(ndim: int, data_format: str) -> int:
    """The channel axis of an image (``ndim`` 3) or a batch of images (``ndim`` 4) in ``data_format``."""
    return ndim - 1 if data_format == "channels_last" else ndim - 3
