"""Image augmentation layers (Keras 3 names): random flips, rotations, translations and zooms while training, the
identity at inference. Each image of a batch draws its own transformation from the layer's seed.

Rotations, translations and zooms resample every image through an affine transform
(:func:`highnn.ops.image.affine_transform`) with Keras's matrices, fill modes and interpolations.
"""

from __future__ import annotations

import math
from typing import Any

from highnn.checks import check_choice, check_number, fail, is_real
from highnn.graph import Tensor
from highnn.layers.pooling import data_format_of
from highnn.layers.regularization import RandomLayer
from highnn.ops.image import affine_transform
from highnn.ops.numpy_ops import ones, zeros
from highnn.ops.primitives import concatenate, cos, random_uniform, sin, where

#: the fill modes and interpolations Keras's augmentation layers accept
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


def _check_images(owner: RandomLayer, inputs: Tensor) -> None:
    if inputs.ndim not in (3, 4):
        raise ValueError(
            f"{type(owner).__name__} {owner.name!r}: inputs must be images of rank 3 or batches of rank 4, received "
            f"shape {inputs.shape}."
        )


class RandomFlip(RandomLayer):
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
        self.data_format = data_format_of("RandomFlip", data_format)
        super().__init__(seed=seed, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training:
            return inputs
        _check_images(self, inputs)
        batched = inputs.ndim == 4
        flips = self.draw(random_uniform, (inputs.shape[0], 1, 1, 1) if batched else (1, 1, 1), batched) <= 0.5
        rows = inputs.ndim - (3 if self.data_format == "channels_last" else 2)
        axes = {"horizontal": [rows + 1], "vertical": [rows], "horizontal_and_vertical": [rows + 1, rows]}[self.mode]
        for axis in axes:
            index = [slice(None)] * inputs.ndim
            index[axis] = slice(None, None, -1)
            inputs = where(flips, inputs[tuple(index)], inputs)
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode, "data_format": self.data_format}


class AffineAugmentation(RandomLayer):
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
        self.data_format = data_format_of(owner, data_format)
        super().__init__(seed=seed, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        images = inputs.astype(self.compute_dtype)
        if not training:
            return images
        _check_images(self, images)
        return affine_transform(
            images, self.get_random_transformation(images), self.interpolation, self.fill_mode, self.fill_value,
            self.data_format,
        )  # fmt: skip

    def get_random_transformation(self, images: Tensor) -> Tensor:
        """One transform row per image (one in all for a single image), drawn from the layer's seed."""
        raise NotImplementedError

    def image_size(self, images: Tensor) -> tuple[int, int, int]:
        """``(number of images, height, width)`` of a batch or of one image."""
        height_axis = images.ndim - (3 if self.data_format == "channels_last" else 2)
        count = images.shape[0] if images.ndim == 4 else 1
        return count, images.shape[height_axis], images.shape[height_axis + 1]

    def uniform(self, images: Tensor, bounds: tuple[float, float]) -> Tensor:
        """One draw per image, uniform in ``bounds``, as a column."""
        if not self.built:  # drawn outside a call
            self.build(images.shape)
        low, high = bounds
        count = self.image_size(images)[0]
        return low + (high - low) * self.draw(random_uniform, (count, 1), per_example=images.ndim == 4)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
            "fill_value": self.fill_value, "data_format": self.data_format,
        }  # fmt: skip


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
