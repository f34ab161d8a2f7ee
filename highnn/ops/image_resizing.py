"""Keras's ``keras.ops.image`` resizing, padding and cropping (exported from :mod:`highnn.ops.image`).

Resizing multiplies each axis that changes by an interpolation matrix, as ``jax.image.resize`` and
``tf.image.resize`` weigh the input pixels (half-pixel centres); padding runs on the ``pad`` primitive and
cropping on slicing, so every gradient comes from existing VJPs. The layers that resize (``Resizing``,
``UpSampling2D``, ``CenterCrop``) use the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from highnn.backends.base import ALL_FLOAT_DTYPES
from highnn.checks import check_bool, check_choice, check_number, fail, is_integer
from highnn.graph import Tensor, TensorLike, to_tensor
from highnn.ops.composites import clip
from highnn.ops.core_ops import saturate_cast
from highnn.ops.numpy_ops import round
from highnn.ops.primitives import cast, data_format_of, pad, rows_axis, transpose


def _keys_cubic(distance: np.ndarray) -> np.ndarray:
    """Keys's cubic convolution kernel with a = -0.5 (that of ``tf.image.resize`` and ``jax.image.resize``)."""
    near = ((1.5 * distance - 2.5) * distance) * distance + 1.0
    far = ((-0.5 * distance + 2.5) * distance - 4.0) * distance + 2.0
    return np.where(distance < 1.0, near, np.where(distance < 2.0, far, 0.0))


def _lanczos(radius: int) -> Callable[[np.ndarray], np.ndarray]:
    """The Lanczos kernel of ``radius`` lobes: ``sinc(d) sinc(d / radius)`` within the radius."""
    return lambda distance: np.where(distance < radius, np.sinc(distance) * np.sinc(distance / radius), 0.0)


#: Keras's interpolations other than "nearest": the kernel of each, a function of the distance in input pixels
KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bilinear": lambda distance: np.maximum(1.0 - distance, 0.0),
    "bicubic": _keys_cubic,
    "lanczos3": _lanczos(3),
    "lanczos5": _lanczos(5),
}
INTERPOLATIONS = ("nearest", *KERNELS)


def resize(
    images: TensorLike,
    size: Sequence[int],
    interpolation: str = "bilinear",
    antialias: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    data_format: str | None = None,
) -> Tensor:
    """Images (rank 4, or one image of rank 3) resized to ``size = (height, width)``, as Keras's: the
    interpolation's kernel weighs the input pixels around each output pixel's centre (widened when shrinking
    with ``antialias``). ``crop_to_aspect_ratio`` first crops the largest centred window of the target's aspect
    ratio; ``pad_to_aspect_ratio`` first pads it with ``fill_value``. Integer images are rounded back to their
    dtype, saturating at the range of the one they came in (a NumPy ``uint8`` image stays within 0..255, in
    highnn's integer dtype)."""
    given = images.dtype if isinstance(images, np.ndarray) and images.dtype.kind in "iu" else None
    images = to_tensor(images)
    layout = data_format_of("resize", data_format)
    rows, cols = _spatial_axes("resize", images, layout)
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(is_integer(n) and n >= 1 for n in size)):
        fail("resize", "size", "a tuple (height, width) of two positive integers", size)
    check_choice("resize", "interpolation", interpolation, INTERPOLATIONS)
    check_bool("resize", "antialias", antialias)
    if check_bool("resize", "crop_to_aspect_ratio", crop_to_aspect_ratio) and check_bool(
        "resize", "pad_to_aspect_ratio", pad_to_aspect_ratio
    ):
        raise ValueError("resize: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True.")
    check_choice("resize", "fill_mode", fill_mode, ("constant",))
    check_number("resize", "fill_value", fill_value)
    target_height, target_width = (int(n) for n in size)
    x = images if images.dtype in ALL_FLOAT_DTYPES else cast(images, "float32")
    height, width = x.shape[rows], x.shape[cols]
    if crop_to_aspect_ratio:  # the largest centred window of the target's aspect ratio
        crop_height = max(min(height, int(width * target_height / target_width)), 1)
        crop_width = max(min(width, int(height * target_width / target_height)), 1)
        top, left = (height - crop_height) // 2, (width - crop_width) // 2
        x = _window(x, (rows, cols), (top, left), (crop_height, crop_width))
    elif pad_to_aspect_ratio:  # as much fill before as after, as Keras pads
        top = (max(height, int(width * target_height / target_width)) - height) // 2
        left = (max(width, int(height * target_width / target_height)) - width) // 2
        widths = [(0, 0)] * x.ndim
        widths[rows], widths[cols] = (top, top), (left, left)
        x = pad(x, tuple(widths), constant_values=fill_value)
    resized = resample(x, {rows: target_height, cols: target_width}, interpolation, antialias)
    if resized.dtype == images.dtype:
        return resized
    rounded = round(resized)
    if given is not None:
        rounded = clip(rounded, float(np.iinfo(given).min), float(np.iinfo(given).max))
    return saturate_cast(rounded, images.dtype)


def pad_images(
    images: TensorLike,
    top_padding: int | None = None,
    left_padding: int | None = None,
    bottom_padding: int | None = None,
    right_padding: int | None = None,
    target_height: int | None = None,
    target_width: int | None = None,
    data_format: str | None = None,
) -> Tensor:
    """Images padded with zeros: two of ``top_padding``, ``bottom_padding`` and ``target_height`` give the rows,
    two of ``left_padding``, ``right_padding`` and ``target_width`` the columns (as Keras's)."""
    images = to_tensor(images)
    axes, sides = _edges("pad_images", "padding", images, data_format, (top_padding, bottom_padding, target_height),
                         (left_padding, right_padding, target_width))  # fmt: skip
    widths = [(0, 0)] * images.ndim
    for axis, side in zip(axes, sides):
        widths[axis] = side
    return pad(images, tuple(widths))


def crop_images(
    images: TensorLike,
    top_cropping: int | None = None,
    left_cropping: int | None = None,
    bottom_cropping: int | None = None,
    right_cropping: int | None = None,
    target_height: int | None = None,
    target_width: int | None = None,
    data_format: str | None = None,
) -> Tensor:
    """Images cropped: two of ``top_cropping``, ``bottom_cropping`` and ``target_height`` give the rows, two of
    ``left_cropping``, ``right_cropping`` and ``target_width`` the columns (as Keras's)."""
    images = to_tensor(images)
    axes, sides = _edges("crop_images", "cropping", images, data_format, (top_cropping, bottom_cropping,
                         target_height), (left_cropping, right_cropping, target_width))  # fmt: skip
    sizes = [images.shape[axis] - before - after for axis, (before, after) in zip(axes, sides)]
    return _window(images, axes, [before for before, _ in sides], sizes)


def resample(x: Tensor, targets: dict[int, int], interpolation: str, antialias: bool = False) -> Tensor:
    """``x`` resized to ``targets`` (an axis: its new size) by an interpolation matrix per axis that changes."""
    for axis, target in targets.items():
        if x.shape[axis] != target:
            x = _resize_axis(x, axis, _interpolation_matrix(x.shape[axis], target, interpolation, antialias))
    return x


def _interpolation_matrix(size: int, target: int, interpolation: str, antialias: bool = False) -> np.ndarray:
    """The ``(target, size)`` matrix that resizes ``size`` samples to ``target``, as ``jax.image.resize`` (and
    ``tf.image.resize``) do: each output pixel's centre is mapped into the input (half-pixel centres) and weighs the
    input pixels by the kernel of their distance (widened by the shrink factor with ``antialias``), the weights of
    the pixels inside the image normalised to sum to 1; ``"nearest"`` takes the pixel under the centre."""
    inverse = size / target
    if interpolation == "nearest":  # computed in float32, as JAX does
        picked = np.floor((np.arange(target, dtype=np.float32) + 0.5) * np.float32(inverse)).astype(int)
        return np.eye(size)[np.minimum(picked, size - 1)]
    source = (np.arange(target) + 0.5) * inverse - 0.5
    widen = max(inverse, 1.0) if antialias else 1.0
    weights = KERNELS[interpolation](np.abs(source[:, None] - np.arange(size)[None, :]) / widen)
    total = weights.sum(axis=1, keepdims=True)
    usable = np.abs(total) > 1000 * np.finfo(np.float32).eps
    return np.where(usable, weights / np.where(total != 0, total, 1.0), 0.0)


def _resize_axis(x: Tensor, axis: int, matrix: np.ndarray) -> Tensor:
    """``matrix @ x`` along ``axis``: the axis is moved last, multiplied by ``matrix.T`` and moved back."""
    order = [a for a in range(x.ndim) if a != axis] + [axis]
    moved = transpose(x, tuple(order)) @ to_tensor(matrix.T, x.dtype)
    return transpose(moved, tuple(int(i) for i in np.argsort(order)))


def _window(x: Tensor, axes: Sequence[int], starts: Sequence[int], sizes: Sequence[int]) -> Tensor:
    """The ``sizes`` window of ``x`` from ``starts`` along the two ``axes``."""
    index = [slice(None)] * x.ndim
    for axis, start, length in zip(axes, starts, sizes):
        index[axis] = slice(start, start + length)
    return x[tuple(index)]


def _spatial_axes(owner: str, images: Tensor, data_format: str) -> tuple[int, int]:
    """The rows and columns axes of a batch of images (rank 4) or one image (rank 3)."""
    if images.ndim not in (3, 4):
        fail(owner, "images", "a batch of images of rank 4 or one image of rank 3", f"shape {images.shape}")
    rows = rows_axis(images.ndim, data_format)
    return rows, rows + 1


Side = tuple[int | None, int | None, int | None]


def _edges(
    owner: str, what: str, images: Tensor, data_format: str | None, height: Side, width: Side
) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """The rows and columns axes, and what padding or cropping adds or takes before and after along each."""
    axes = _spatial_axes(owner, images, data_format_of(owner, data_format))
    return axes, [_sides(owner, what, images.shape[axis], given, name)
                  for axis, given, name in zip(axes, (height, width), ("height", "width"))]  # fmt: skip


def _sides(owner: str, what: str, length: int, given: Side, axis: str) -> tuple[int, int]:
    """Before and after along one axis from two of (before, after, target) (Keras's arguments), checked."""
    names = (*((f"top_{what}", f"bottom_{what}") if axis == "height" else (f"left_{what}", f"right_{what}")),
             f"target_{axis}")  # fmt: skip
    if sum(value is None for value in given) != 1:
        raise ValueError(
            f"{owner}: give exactly two of {', '.join(f'`{n}`' for n in names)}; received "
            + ", ".join(f"{n}={v!r}" for n, v in zip(names, given))
            + "."
        )
    for name, value in zip(names, given):
        if value is not None and not (is_integer(value) and value >= 0):
            fail(owner, name, "a non-negative integer", value)
    before, after, target = given
    if target is None:
        assert before is not None and after is not None
        if what == "cropping" and before + after > length:
            fail(owner, f"{names[0]} + {names[1]}", f"at most the image's {length} pixels of {axis}", before + after)
        return int(before), int(after)
    one_side = after if before is None else before
    assert one_side is not None
    # padding: the target is the length and both sides; cropping: the length less both sides
    other = (target - length if what == "padding" else length - target) - one_side
    if other < 0:
        fail(owner, names[2], f"a {axis} the image's {length} pixels reach with {one_side} {what} on one side",
             target)  # fmt: skip
    return (int(other), int(one_side)) if before is None else (int(one_side), int(other))
