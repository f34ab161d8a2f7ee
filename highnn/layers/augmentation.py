"""Image augmentation layers (Keras 3 names): random flips, rotations, translations, zooms, crops, contrast and
brightness while training, the identity (a centred crop for ``RandomCrop``) at inference; and ``CenterCrop``.
Each image of a batch draws its own change from the layer's seed (``RandomCrop`` one place for the batch).

Rotations, translations and zooms resample every image through an affine transform
(:func:`highnn.ops.image.affine_transform`) with Keras's matrices, fill modes and interpolations.
"""

from __future__ import annotations

import math
from typing import Any

from highnn.checks import check_choice, check_integer, check_number, fail, is_real
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import Shape
from highnn.layers.preprocessing import Resizing
from highnn.layers.regularization import RandomLayer
from highnn.ops.composites import clip, mean
from highnn.ops.image import affine_transform
from highnn.ops.indexing import slice as slice_block
from highnn.ops.numpy_ops import ones, zeros
from highnn.ops.primitives import cast, concatenate, cos, data_format_of, floor, random_uniform, rows_axis, sin, where

#: the fill modes and interpolations Keras's augmentation layers accept
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


class ImageAugmentation(RandomLayer):
    """The base of the augmentation layers: images in ``data_format``, one random draw per image."""

    def __init__(self, seed: int | None = None, data_format: str | None = None, **kwargs: Any) -> None:
        self.data_format = data_format_of(type(self).__name__, data_format)
        super().__init__(seed=seed, **kwargs)

    def check_images(self, images: Tensor) -> None:
        if images.ndim not in (3, 4):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: inputs must be images of rank 3 or batches of rank 4, "
                f"received shape {images.shape}."
            )

    def image_size(self, images: Tensor) -> tuple[int, int, int]:
        """``(number of images, height, width)`` of a batch or of one image."""
        height_axis = rows_axis(images.ndim, self.data_format)
        count = images.shape[0] if images.ndim == 4 else 1
        return count, images.shape[height_axis], images.shape[height_axis + 1]

    def uniform(self, images: Tensor, bounds: tuple[float, float]) -> Tensor:
        """One draw per image, uniform in ``bounds``, as a column."""
        if not self.built:  # drawn outside a call
            self.build(images.shape)
        low, high = bounds
        count = self.image_size(images)[0]
        return low + (high - low) * self.draw(random_uniform, (count, 1), per_example=images.ndim == 4)

    def per_image(self, draws: Tensor, images: Tensor) -> Tensor:
        """A column of draws shaped to broadcast over each image's pixels and channels."""
        return draws.reshape((-1, 1, 1, 1) if images.ndim == 4 else (1, 1, 1))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class RandomFlip(ImageAugmentation):
    """While training, flips each image with probability 1/2: left to right (``"horizontal"``), top to bottom
    (``"vertical"``), or both at once (``"horizontal_and_vertical"``, one draw for the two flips, as Keras draws);
    at inference the identity. A batch ``(batch, rows, cols, channels)`` draws per image, one image (rank 3) once.

    >>> layer = hn.layers.RandomFlip("horizontal", seed=1)
    >>> layer(np.arange(8.0).reshape(2, 1, 4, 1), training=True)  # each row reversed or not
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(
        self, mode: str = "horizontal_and_vertical", seed: int | None = None, data_format: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        self.mode = check_choice("RandomFlip", "mode", mode, self.MODES)
        super().__init__(seed, data_format, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training:
            return inputs
        self.check_images(inputs)
        batched = inputs.ndim == 4
        flips = self.draw(random_uniform, (inputs.shape[0], 1, 1, 1) if batched else (1, 1, 1), batched) <= 0.5
        rows = rows_axis(inputs.ndim, self.data_format)
        axes = {"horizontal": [rows + 1], "vertical": [rows], "horizontal_and_vertical": [rows + 1, rows]}[self.mode]
        for axis in axes:
            index = [slice(None)] * inputs.ndim
            index[axis] = slice(None, None, -1)
            inputs = where(flips, inputs[tuple(index)], inputs)
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class CenterCrop(Layer):
    """The centred ``height`` x ``width`` window of each image, as Keras's layer; an image smaller than that along
    an axis is instead resized, its largest centred window of the target's aspect ratio resized to the target
    (bilinear). Outputs are in the compute dtype.

    >>> hn.layers.CenterCrop(2, 2)(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]  # [[5, 6], [9, 10]]
    """

    def __init__(self, height: int, width: int, data_format: str | None = None, **kwargs: Any) -> None:
        self.height = check_integer("CenterCrop", "height", height, 1)
        self.width = check_integer("CenterCrop", "width", width, 1)
        self.data_format = data_format_of("CenterCrop", data_format)
        super().__init__(**kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return centre_cropped(self, inputs.astype(self.compute_dtype), self.height, self.width, self.data_format)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return cropped_shape(input_shape, self.height, self.width, self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": self.data_format}


def centre_cropped(owner: Layer, images: Tensor, height: int, width: int, data_format: str) -> Tensor:
    """The centred window of ``images`` (rank 3 or 4), or the target-aspect window resized where it is smaller."""
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{type(owner).__name__} {owner.name!r}: inputs must be images of rank 3 or batches of rank 4, received "
            f"shape {images.shape}."
        )
    rows = rows_axis(images.ndim, data_format)
    available_height, available_width = images.shape[rows], images.shape[rows + 1]
    if available_height >= height and available_width >= width:
        top, left = (available_height - height) // 2, (available_width - width) // 2
        index = [slice(None)] * images.ndim
        index[rows], index[rows + 1] = slice(top, top + height), slice(left, left + width)
        return images[tuple(index)]
    resizing = Resizing(height, width, crop_to_aspect_ratio=True, data_format=data_format)
    return resizing(images)


def cropped_shape(input_shape: Shape, height: int, width: int, data_format: str) -> Shape:
    shape = list(input_shape)
    rows = rows_axis(len(shape), data_format)
    shape[rows], shape[rows + 1] = height, width
    return tuple(shape)


class RandomCrop(ImageAugmentation):
    """While training, a ``height`` x ``width`` window at a random place, one place for the whole batch (as
    Keras draws); at inference, and for images no larger than the window, :class:`CenterCrop`'s result.

    >>> augment = hn.layers.RandomCrop(24, 24, seed=0)  # of 28 x 28 images
    """

    def __init__(
        self, height: int, width: int, seed: int | None = None, data_format: str | None = None, **kwargs: Any
    ) -> None:
        self.height = check_integer("RandomCrop", "height", height, 1)
        self.width = check_integer("RandomCrop", "width", width, 1)
        super().__init__(seed, data_format, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        images = inputs.astype(self.compute_dtype)
        self.check_images(images)
        _, available_height, available_width = self.image_size(images)
        if not training or available_height <= self.height or available_width <= self.width:
            return centre_cropped(self, images, self.height, self.width, self.data_format)
        offsets = []
        for room in (available_height - self.height + 1, available_width - self.width + 1):
            offsets.append(cast(floor(self.draw(random_uniform, (), per_example=False) * room), "int32"))
        rows = rows_axis(images.ndim, self.data_format)
        starts: list[Any] = [0] * images.ndim
        sizes = list(images.shape)
        starts[rows], starts[rows + 1] = offsets
        sizes[rows], sizes[rows + 1] = self.height, self.width
        return slice_block(images, starts, sizes)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return cropped_shape(input_shape, self.height, self.width, self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}


class AffineAugmentation(ImageAugmentation):
    """The base of the layers that resample images through a random affine transform per image.

    A subclass draws the transforms in :meth:`get_random_transformation`: ``(images, 8)`` rows in
    :func:`~highnn.ops.image.affine_transform`'s layout. Outputs are in the compute dtype, at inference too.
    """

    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        self.fill_mode = check_choice(owner, "fill_mode", fill_mode, FILL_MODES)
        self.interpolation = check_choice(owner, "interpolation", interpolation, INTERPOLATIONS)
        self.fill_value = check_number(owner, "fill_value", fill_value)
        super().__init__(seed, data_format, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        images = inputs.astype(self.compute_dtype)
        if not training:
            return images
        self.check_images(images)
        return affine_transform(
            images, self.get_random_transformation(images), self.interpolation, self.fill_mode, self.fill_value,
            self.data_format,
        )  # fmt: skip

    def get_random_transformation(self, images: Tensor) -> Tensor:
        """One transform row per image (one in all for a single image), drawn from the layer's seed."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }  # fmt: skip


class ColourAugmentation(ImageAugmentation):
    """The base of the layers that change each image's values by a random draw, then clip them to
    ``value_range`` (the range the images come in: ``(0, 255)`` or ``(0, 1)``, say). Outputs are in the compute
    dtype, at inference too."""

    def __init__(
        self, value_range: tuple[float, float] = (0, 255), seed: int | None = None, data_format: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        pair = list(value_range) if isinstance(value_range, (list, tuple)) else None
        if pair is None or len(pair) != 2 or not all(is_real(v) for v in pair) or pair[0] == pair[1]:
            fail(type(self).__name__, "value_range", "a pair of two different numbers (low, high)", value_range)
        self.value_range = tuple(sorted(float(v) for v in pair))
        super().__init__(seed, data_format, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        images = inputs.astype(self.compute_dtype)
        if not training:
            return images
        self.check_images(images)
        return clip(self.adjust(images), *self.value_range)

    def adjust(self, images: Tensor) -> Tensor:
        """The images changed by this batch's draws, before clipping."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value_range": self.value_range}


def _bounds(owner: str, argument: str, factor: Any, low: float, low_open: bool = False) -> tuple[float, float]:
    """A factor as Keras reads it: ``f`` means ``(-|f|, |f|)``, a pair its two bounds in order, each within
    ``[low, 1]`` (``(low, 1]`` when ``low_open``)."""
    expected = f"a number or a pair of numbers in {'(' if low_open else '['}{low:g}, 1]"
    values = list(factor) if isinstance(factor, (list, tuple)) else [factor]
    if len(values) not in (1, 2) or not all(is_real(v) for v in values):
        fail(owner, argument, expected, factor, TypeError if len(values) in (1, 2) else ValueError)
    if not all((v > low if low_open else v >= low) and v <= 1 for v in values):
        fail(owner, argument, expected, factor)
    if len(values) == 1:
        return -abs(float(values[0])), abs(float(values[0]))
    lower, upper = sorted(float(v) for v in values)
    return lower, upper


def _rows(*columns: Tensor) -> Tensor:
    """``(count, 1)`` columns side by side, as transform rows."""
    return concatenate(list(columns), axis=1)


class RandomRotation(AffineAugmentation):
    """While training, rotates each image about its centre by a random angle: ``factor`` is a fraction of a full
    turn, ``f`` for angles in ``[-f, f] x 360`` degrees, or a pair ``(lower, upper)``; positive angles turn
    counter-clockwise. Points from outside the image are filled as ``fill_mode`` says (see
    :mod:`highnn.ops.image`).

    >>> augment = hn.layers.RandomRotation(0.1, seed=0)  # up to 36 degrees either way
    """

    def __init__(
        self,
        factor: float | tuple[float, float],
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.factor = _bounds("RandomRotation", "factor", factor, -1.0)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def get_random_transformation(self, images: Tensor) -> Tensor:
        count, height, width = self.image_size(images)
        turn = self.uniform(images, self.factor) * (2 * math.pi)
        cosine, sine = cos(turn), sin(turn)
        centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
        none = zeros((count, 2), self.compute_dtype)
        return _rows(
            cosine, -sine, centre_x - centre_x * cosine + centre_y * sine,
            sine, cosine, centre_y - centre_x * sine - centre_y * cosine, none,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class RandomTranslation(AffineAugmentation):
    """While training, shifts each image by a random fraction of its height and of its width: ``height_factor``
    ``f`` shifts by up to ``f x height`` rows either way, a pair ``(lower, upper)`` by between those fractions
    (positive: down), and ``width_factor`` likewise along the columns (positive: right).

    >>> augment = hn.layers.RandomTranslation(0.1, 0.2, fill_mode="constant", seed=0)
    """

    def __init__(
        self,
        height_factor: float | tuple[float, float],
        width_factor: float | tuple[float, float],
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_bounds = _bounds("RandomTranslation", "height_factor", height_factor, -1.0)
        self.width_bounds = _bounds("RandomTranslation", "width_factor", width_factor, -1.0)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def get_random_transformation(self, images: Tensor) -> Tensor:
        count, height, width = self.image_size(images)
        down = self.uniform(images, self.height_bounds) * height  # drawn first, as Keras draws
        right = self.uniform(images, self.width_bounds) * width
        one, none = ones((count, 1), self.compute_dtype), zeros((count, 1), self.compute_dtype)
        return _rows(one, none, -right, none, one, -down, none, none)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomZoom(AffineAugmentation):
    """While training, zooms each image about its centre by a random factor: ``height_factor`` ``f`` scales the
    region read by ``1 + [-f, f]`` along the height (positive values zoom out, negative in), a pair
    ``(lower, upper)`` by ``1 + [lower, upper]``; ``width_factor`` likewise along the width, or None (the default)
    for the height's draw, which keeps the aspect ratio.

    >>> augment = hn.layers.RandomZoom((-0.2, 0.0), seed=0)  # zoom in by up to 20%
    """

    def __init__(
        self,
        height_factor: float | tuple[float, float],
        width_factor: float | tuple[float, float] | None = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_bounds = _bounds("RandomZoom", "height_factor", height_factor, -1.0, low_open=True)
        self.width_bounds = (
            None if width_factor is None else _bounds("RandomZoom", "width_factor", width_factor, -1.0, low_open=True)
        )
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def get_random_transformation(self, images: Tensor) -> Tensor:
        count, height, width = self.image_size(images)
        zoom_y = 1.0 + self.uniform(images, self.height_bounds)
        zoom_x = zoom_y if self.width_bounds is None else 1.0 + self.uniform(images, self.width_bounds)
        none = zeros((count, 1), self.compute_dtype)
        return _rows(
            zoom_x, none, (width - 1) / 2 * (1.0 - zoom_x), none, zoom_y, (height - 1) / 2 * (1.0 - zoom_y), none, none
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomContrast(ColourAugmentation):
    """While training, scales each image's contrast: ``(x - mean) * c + mean``, the mean over the image's pixels
    per channel, ``c`` drawn in ``[1 - lower, 1 + upper]`` for ``factor=(lower, upper)`` (``factor=f`` for
    ``[1 - f, 1 + f]``), then clipped to ``value_range``.

    >>> augment = hn.layers.RandomContrast(0.2, value_range=(0, 1), seed=0)  # contrast x0.8 to x1.2
    """

    def __init__(
        self, factor: float | tuple[float, float], value_range: tuple[float, float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        lower, upper = _bounds("RandomContrast", "factor", factor, 0.0)
        self.factor = (upper, upper) if is_real(factor) else (lower, upper)
        super().__init__(value_range, seed, data_format, **kwargs)

    def adjust(self, images: Tensor) -> Tensor:
        rows = rows_axis(images.ndim, self.data_format)
        average = mean(images, axis=(rows, rows + 1), keepdims=True)
        contrast = self.per_image(self.uniform(images, (1.0 - self.factor[0], 1.0 + self.factor[1])), images)
        return (images - average) * contrast + average

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class RandomBrightness(ColourAugmentation):
    """While training, adds to every value of each image a draw from ``factor`` (a fraction of the width of
    ``value_range``: ``f`` for ``[-f, f]``, or a pair ``(lower, upper)``), then clips to ``value_range``.

    >>> augment = hn.layers.RandomBrightness(0.1, seed=0)  # -25.5 to +25.5 on images in [0, 255]
    """

    def __init__(
        self, factor: float | tuple[float, float], value_range: tuple[float, float] = (0, 255),
        seed: int | None = None, data_format: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        self.factor = _bounds("RandomBrightness", "factor", factor, -1.0)
        super().__init__(value_range, seed, data_format, **kwargs)

    def adjust(self, images: Tensor) -> Tensor:
        low, high = self.value_range
        return images + self.per_image(self.uniform(images, self.factor), images) * (high - low)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}
