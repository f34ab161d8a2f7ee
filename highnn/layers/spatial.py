"""Layers that resize sequences, images and volumes (Keras 3 names): ZeroPadding1D/2D/3D, Cropping1D/2D/3D and
UpSampling1D/2D/3D.

Inputs are ``(batch, *spatial axes, channels)``, or ``(batch, channels, *spatial
axes)`` with ``data_format="channels_first"``. Padding runs on the ``pad`` primitive,
cropping on slicing, nearest upsampling on a broadcast and the other
interpolations on two small interpolation matrices, so every gradient comes
from existing VJPs.
"""

from __future__ import annotations

from typing import Any

from highnn.checks import check_choice, fail, is_integer
from highnn.graph import Tensor
from highnn.layers.layer_utils import Shape
from highnn.layers.pooling import SpatialLayer, int_tuple, spatial_axes
from highnn.ops.image_resizing import INTERPOLATIONS, KERNELS, resample
from highnn.ops.primitives import broadcast_to, pad, reshape

Pairs = tuple[tuple[int, int], ...]


def int_pairs(owner: str, argument: str, value: Any, rank: int = 2) -> Pairs:
    """An integer (every side), ``rank`` integers (both sides of each axis) or ``rank`` (before, after) pairs, as
    ``rank`` pairs of non-negative integers, or a clear error; with one axis, two integers are its pair (Keras's 1-D
    layers)."""

    def non_negative(n: Any) -> bool:
        return is_integer(n) and n >= 0

    if non_negative(value):
        return ((int(value),) * 2,) * rank
    if rank == 1 and isinstance(value, (list, tuple)) and len(value) == 2 and all(map(non_negative, value)):
        return ((int(value[0]), int(value[1])),)
    if isinstance(value, (list, tuple)) and len(value) == rank:
        if all(non_negative(n) for n in value):
            return tuple((int(n), int(n)) for n in value)
        if all(isinstance(p, (list, tuple)) and len(p) == 2 and all(non_negative(n) for n in p) for p in value):
            return tuple((int(p[0]), int(p[1])) for p in value)
    pairs = "two integers (before, after)" if rank == 1 else f"{rank} of them, or {rank} (before, after) pairs of them"
    fail(owner, argument, f"a non-negative integer, {pairs}", value)


class ChannelsLastOnly(SpatialLayer):
    """A spatial layer without a ``data_format`` argument (Keras's Cropping1D and UpSampling1D): channels last,
    and no such config entry."""

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["data_format"]
        return config


class ZeroPadding(SpatialLayer):
    """Adds zeros around each input along its ``rank`` spatial axes: ``padding`` is an integer (every side),
    ``rank`` integers (both sides of each axis) or ``rank`` (before, after) pairs."""

    def __init__(self, padding: Any, data_format: str | None = None, **kwargs: Any) -> None:
        self.padding = int_pairs(type(self).__name__, "padding", padding, self.rank)
        super().__init__(data_format, **kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return pad(inputs, self.with_spatial(((0, 0),) * inputs.ndim, self.padding))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        spatial = self.spatial_shape(input_shape)
        return self.with_spatial(input_shape, [n and n + sum(p) for n, p in zip(spatial, self.padding)])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding}


class ZeroPadding1D(ZeroPadding):
    """Adds zero steps at the start and the end of each sequence: ``padding`` is an integer or (start, end).

    >>> hn.layers.ZeroPadding1D((1, 2))(np.ones((4, 3, 2))).shape
    (4, 6, 2)
    """

    rank = 1

    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(ZeroPadding):
    """Adds rows and columns of zeros around each image: ``padding`` is an integer (every side), two
    integers (rows, cols: both sides) or ``((top, bottom), (left, right))``.

    >>> hn.layers.ZeroPadding2D(((1, 0), (2, 2)))(np.ones((4, 3, 3, 2))).shape
    (4, 4, 7, 2)
    """

    rank = 2

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(ZeroPadding):
    """Adds zeros around each volume: ``padding`` takes the forms of :class:`ZeroPadding2D`'s, for three axes."""

    rank = 3

    def __init__(self, padding: Any = ((1, 1),) * 3, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(padding, data_format, **kwargs)


class Cropping(SpatialLayer):
    """Removes positions from the edges of each input along its ``rank`` spatial axes: ``cropping`` takes the
    forms of :class:`ZeroPadding`'s ``padding``."""

    def __init__(self, cropping: Any, data_format: str | None = None, **kwargs: Any) -> None:
        self.cropping = int_pairs(type(self).__name__, "cropping", cropping, self.rank)
        super().__init__(data_format, **kwargs)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # cropping an input away fails here, naming the layer

    def call(self, inputs: Tensor) -> Tensor:
        axes = spatial_axes(self.data_format, inputs.ndim)
        kept = [slice(before, inputs.shape[axis] - after) for axis, (before, after) in zip(axes, self.cropping)]
        return inputs[self.with_spatial((slice(None),) * inputs.ndim, kept)]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        spatial = self.spatial_shape(input_shape)
        if any(n is not None and sum(c) >= n for n, c in zip(spatial, self.cropping)):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: `cropping` {self.cropping} must leave at least one position "
                f"along each spatial axis of the input's spatial shape {tuple(spatial)}."
            )
        return self.with_spatial(input_shape, [n and n - sum(c) for n, c in zip(spatial, self.cropping)])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping}


class Cropping1D(ChannelsLastOnly, Cropping):
    """Removes steps from the start and the end of each sequence: ``cropping`` is an integer or (start, end).

    >>> hn.layers.Cropping1D((1, 2))(np.ones((4, 6, 2))).shape
    (4, 3, 2)
    """

    rank = 1

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(cropping, "channels_last", **kwargs)


class Cropping2D(Cropping):
    """Removes rows and columns from the edges of each image: ``cropping`` takes the forms of
    :class:`ZeroPadding2D`'s ``padding``.

    >>> hn.layers.Cropping2D(((1, 0), (2, 2)))(np.ones((4, 5, 5, 2))).shape
    (4, 4, 1, 2)
    """

    rank = 2

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(Cropping):
    """Removes positions from the edges of each volume: ``cropping`` takes the forms of
    :class:`ZeroPadding3D`'s ``padding``."""

    rank = 3

    def __init__(self, cropping: Any = ((1, 1),) * 3, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(cropping, data_format, **kwargs)


class UpSampling(SpatialLayer):
    """Enlarges each input ``size`` times along its ``rank`` spatial axes, repeating positions (nearest)."""

    interpolation = "nearest"

    def __init__(self, size: Any, data_format: str | None = None, **kwargs: Any) -> None:
        self.size = int_tuple(type(self).__name__, "size", size, self.rank)
        super().__init__(data_format, **kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        if self.interpolation in KERNELS:
            axes = spatial_axes(self.data_format, inputs.ndim)
            targets = {axis: inputs.shape[axis] * factor for axis, factor in zip(axes, self.size)}
            return resample(inputs, targets, self.interpolation)
        factors = self.with_spatial((1,) * inputs.ndim, self.size)
        split = reshape(inputs, _flat([(n, 1) for n in inputs.shape]))  # a length-1 axis after each axis
        repeated = broadcast_to(split, _flat(list(zip(inputs.shape, factors))))
        return reshape(repeated, tuple(n * f for n, f in zip(inputs.shape, factors)))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        spatial = self.spatial_shape(input_shape)
        return self.with_spatial(input_shape, [n and n * f for n, f in zip(spatial, self.size)])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class UpSampling1D(ChannelsLastOnly, UpSampling):
    """Repeats each step of each sequence ``size`` times.

    >>> hn.layers.UpSampling1D(3)(np.ones((4, 2, 5))).shape
    (4, 6, 5)
    """

    rank = 1

    def __init__(self, size: Any = 2, **kwargs: Any) -> None:
        super().__init__(size, "channels_last", **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size[0]}


class UpSampling2D(UpSampling):
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
        lowered = interpolation.lower() if isinstance(interpolation, str) else interpolation
        self.interpolation = check_choice("UpSampling2D", "interpolation", lowered, INTERPOLATIONS)
        super().__init__(size, data_format, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "interpolation": self.interpolation}


class UpSampling3D(UpSampling):
    """Repeats each voxel of each volume ``size = (dim1, dim2, dim3)`` times."""

    rank = 3

    def __init__(self, size: Any = (2, 2, 2), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(size, data_format, **kwargs)


def _flat(pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    """``[(a, b), (c, d)]`` as ``(a, b, c, d)``."""
    return tuple(n for pair in pairs for n in pair)
