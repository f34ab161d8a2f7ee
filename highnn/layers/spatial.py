"""Layers that resize images (Keras 3 names): ZeroPadding2D, Cropping2D and UpSampling2D.

Inputs are ``(batch, rows, cols, channels)``, or ``(batch, channels, rows, cols)``
with ``data_format="channels_first"``. Padding runs on the ``pad`` primitive,
cropping on slicing, nearest upsampling on a broadcast and the other
interpolations on two small interpolation matrices, so every gradient comes
from existing VJPs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from highnn.checks import check_choice, fail, is_integer
from highnn.graph import Tensor, to_tensor
from highnn.layers.layer_utils import Shape
from highnn.layers.pooling import SpatialLayer, int_tuple, spatial_axes
from highnn.ops.primitives import broadcast_to, pad, reshape, transpose

Pairs = tuple[tuple[int, int], ...]


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


def int_pairs(owner: str, argument: str, value: Any, rank: int = 2) -> Pairs:
    """An integer (every side), ``rank`` integers (both sides of each axis) or ``rank`` (before, after) pairs,
    as ``rank`` pairs of non-negative integers, or a clear error."""

    def non_negative(n: Any) -> bool:
        return is_integer(n) and n >= 0

    if non_negative(value):
        return ((int(value),) * 2,) * rank
    if isinstance(value, (list, tuple)) and len(value) == rank:
        if all(non_negative(n) for n in value):
            return tuple((int(n), int(n)) for n in value)
        if all(isinstance(p, (list, tuple)) and len(p) == 2 and all(non_negative(n) for n in p) for p in value):
            return tuple((int(p[0]), int(p[1])) for p in value)
    fail(owner, argument, f"a non-negative integer, {rank} of them, or {rank} (before, after) pairs of them", value)


class ZeroPadding2D(SpatialLayer):
    """Adds rows and columns of zeros around each image: ``padding`` is an integer (every side), two
    integers (rows, cols: both sides) or ``((top, bottom), (left, right))``.

    >>> hn.layers.ZeroPadding2D(((1, 0), (2, 2)))(np.ones((4, 3, 3, 2))).shape
    (4, 4, 7, 2)
    """

    rank = 2

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any) -> None:
        self.padding = int_pairs("ZeroPadding2D", "padding", padding)
        super().__init__(data_format, **kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return pad(inputs, self.with_spatial(((0, 0),) * inputs.ndim, self.padding))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        spatial = self.spatial_shape(input_shape)
        return self.with_spatial(input_shape, [n and n + sum(p) for n, p in zip(spatial, self.padding)])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding}


class Cropping2D(SpatialLayer):
    """Removes rows and columns from the edges of each image: ``cropping`` takes the forms of
    :class:`ZeroPadding2D`'s ``padding``.

    >>> hn.layers.Cropping2D(((1, 0), (2, 2)))(np.ones((4, 5, 5, 2))).shape
    (4, 4, 1, 2)
    """

    rank = 2

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any) -> None:
        self.cropping = int_pairs("Cropping2D", "cropping", cropping)
        super().__init__(data_format, **kwargs)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # cropping an image away fails here, naming the layer

    def call(self, inputs: Tensor) -> Tensor:
        axes = spatial_axes(self.data_format, inputs.ndim)
        kept = [slice(before, inputs.shape[axis] - after) for axis, (before, after) in zip(axes, self.cropping)]
        return inputs[self.with_spatial((slice(None),) * inputs.ndim, kept)]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        spatial = self.spatial_shape(input_shape)
        if any(n is not None and sum(c) >= n for n, c in zip(spatial, self.cropping)):
            raise ValueError(
                f"Cropping2D {self.name!r}: `cropping` {self.cropping} must leave at least one row and one column "
                f"of the input's spatial shape {tuple(spatial)}."
            )
        return self.with_spatial(input_shape, [n and n - sum(c) for n, c in zip(spatial, self.cropping)])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping}


class UpSampling2D(SpatialLayer):
    """Enlarges each image ``size = (rows, cols)`` times: ``"nearest"`` repeats rows and columns; ``"bilinear"``,
    ``"bicubic"``, ``"lanczos3"`` and ``"lanczos5"`` interpolate with half-pixel centres, as Keras does with
    ``jax.image.resize`` and ``tf.image.resize`` (bilinear is also PyTorch's ``F.interpolate(...,
    align_corners=False)``; PyTorch's bicubic has another kernel and edges).

    >>> hn.layers.UpSampling2D((1, 2))(np.ones((4, 2, 3, 1))).shape
    (4, 2, 6, 1)
    """

    rank = 2

    def __init__(
        self, size: Any = (2, 2), data_format: str | None = None, interpolation: str = "nearest", **kwargs: Any
    ) -> None:
        self.size = int_tuple("UpSampling2D", "size", size, 2)
        lowered = interpolation.lower() if isinstance(interpolation, str) else interpolation
        self.interpolation = check_choice("UpSampling2D", "interpolation", lowered, INTERPOLATIONS)
        super().__init__(data_format, **kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        if self.interpolation in KERNELS:
            for axis, factor in zip(spatial_axes(self.data_format, inputs.ndim), self.size):
                matrix = _interpolation_matrix(inputs.shape[axis], factor, KERNELS[self.interpolation])
                inputs = _resize_axis(inputs, axis, matrix)
            return inputs
        factors = self.with_spatial((1,) * inputs.ndim, self.size)
        split = reshape(inputs, _flat([(n, 1) for n in inputs.shape]))  # a length-1 axis after each axis
        repeated = broadcast_to(split, _flat(list(zip(inputs.shape, factors))))
        return reshape(repeated, tuple(n * f for n, f in zip(inputs.shape, factors)))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        spatial = self.spatial_shape(input_shape)
        return self.with_spatial(input_shape, [n and n * f for n, f in zip(spatial, self.size)])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}


def _flat(pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    """``[(a, b), (c, d)]`` as ``(a, b, c, d)``."""
    return tuple(n for pair in pairs for n in pair)


def _interpolation_matrix(n: int, factor: int, kernel: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The ``(n * factor, n)`` matrix that enlarges ``n`` samples ``factor`` times: each output pixel's centre is
    mapped into the input (half-pixel centres) and weighs the input pixels by ``kernel`` of their distance, the
    weights of the pixels inside the image normalised to sum to 1 (as ``jax.image.resize`` without antialiasing,
    which only matters when shrinking)."""
    source = (np.arange(n * factor) + 0.5) / factor - 0.5
    weights = kernel(np.abs(source[:, None] - np.arange(n)[None, :]))
    return weights / weights.sum(axis=1, keepdims=True)


def _resize_axis(x: Tensor, axis: int, matrix: np.ndarray) -> Tensor:
    """``matrix @ x`` along ``axis``: the axis is moved last, multiplied by ``matrix.T`` and moved back."""
    order = [a for a in range(x.ndim) if a != axis] + [axis]
    moved = transpose(x, tuple(order)) @ to_tensor(matrix.T, x.dtype)
    return transpose(moved, tuple(int(i) for i in np.argsort(order)))
