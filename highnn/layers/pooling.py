"""Pooling layers (Keras 3 names): max and average pooling over windows, and global pooling over all positions.

Inputs are ``(batch, *spatial, channels)`` (``data_format="channels_last"``, the
default) or ``(batch, channels, *spatial)`` (``"channels_first"``), with 1, 2 or
3 spatial axes. Window pooling runs on the ``max_pool`` and ``average_pool``
primitives; with ``padding="same"`` an average counts only the window's
elements inside the input, and max pooling sends each window's gradient to its
first maximum, as Keras does on TensorFlow, PyTorch and JAX.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from highnn.backends.base import pool_output_shape
from highnn.checks import check_bool, check_choice, fail, is_integer
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import InputSpec, Shape
from highnn.ops.composites import mean
from highnn.ops.primitives import average_pool, data_format_of, max_pool

PADDINGS = ("valid", "same")


def int_tuple(owner: str, argument: str, value: Any, rank: int) -> tuple[int, ...]:
    """``value`` (an integer, or ``rank`` integers) as ``rank`` positive integers, or a clear error."""
    values = (value,) * rank if is_integer(value) else value
    if not (isinstance(values, (list, tuple)) and len(values) == rank and all(is_integer(n) and n > 0 for n in values)):
        fail(owner, argument, f"a positive integer or a tuple of {rank} positive integers", value)
    return tuple(int(n) for n in values)


def spatial_axes(data_format: str, ndim: int) -> tuple[int, ...]:
    """The positions of the spatial axes in an input of ``ndim`` dimensions."""
    return tuple(range(1, ndim - 1)) if data_format == "channels_last" else tuple(range(2, ndim))


class SpatialLayer(Layer):
    """A layer for inputs with ``rank`` spatial axes, a batch axis and a channel axis placed by ``data_format``."""

    rank: ClassVar[int]

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        self.data_format = data_format_of(type(self).__name__, data_format)
        super().__init__(**kwargs)

    def check_input(self, x: Tensor) -> None:
        self.check_shape(x.shape)

    def check_shape(self, shape: Shape) -> None:
        """Reject a shape without ``rank`` spatial axes, a batch axis and a channel axis."""
        InputSpec(self.rank + 2).check(self.name, shape)

    def spatial_shape(self, shape: Shape) -> Shape:
        """The spatial part of an input shape."""
        return tuple(shape[axis] for axis in spatial_axes(self.data_format, len(shape)))

    def with_spatial(self, per_axis: Sequence[Any], spatial: Sequence[Any]) -> tuple[Any, ...]:
        """``per_axis`` (a shape, padding widths, an index: one entry per axis) with its spatial part replaced."""
        replaced = dict(zip(spatial_axes(self.data_format, len(per_axis)), spatial))
        return tuple(replaced.get(axis, entry) for axis, entry in enumerate(per_axis))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Pooling(SpatialLayer):
    """Max or average pooling over ``pool_size`` windows moved by ``strides`` (``pool_size`` by default)."""

    mode: ClassVar[str]  # "max" or "average"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        self.pool_size = int_tuple(owner, "pool_size", pool_size, self.rank)
        self.strides = self.pool_size if strides is None else int_tuple(owner, "strides", strides, self.rank)
        self.padding = check_choice(
            owner, "padding", padding.lower() if isinstance(padding, str) else padding, PADDINGS
        )
        super().__init__(data_format, **kwargs)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # a window that cannot fit fails here, naming the layer

    def call(self, inputs: Tensor) -> Tensor:
        pool = max_pool if self.mode == "max" else average_pool
        return pool(inputs, self.pool_size, self.strides, self.padding, self.data_format)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        spatial = self.spatial_shape(input_shape)
        sizes = pool_output_shape([n or 0 for n in spatial], self.pool_size, self.strides, self.padding)
        if any(n is not None and m <= 0 for n, m in zip(spatial, sizes)):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: `pool_size` {self.pool_size} does not fit in the spatial shape "
                f"{tuple(spatial)} of the input {tuple(input_shape)} with padding 'valid'."
            )
        return self.with_spatial(input_shape, [None if n is None else m for n, m in zip(spatial, sizes)])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
        }


class GlobalPooling(SpatialLayer):
    """The maximum or mean over every spatial position; ``keepdims`` keeps the spatial axes with length 1."""

    mode: ClassVar[str]  # "max" or "average"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        self.keepdims = check_bool(type(self).__name__, "keepdims", keepdims)
        super().__init__(data_format, **kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        axes = spatial_axes(self.data_format, inputs.ndim)
        return inputs.max(axes, self.keepdims) if self.mode == "max" else mean(inputs, axes, self.keepdims)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        if self.keepdims:
            return self.with_spatial(input_shape, (1,) * self.rank)
        axes = spatial_axes(self.data_format, len(input_shape))
        return tuple(n for axis, n in enumerate(input_shape) if axis not in axes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "keepdims": self.keepdims}


class MaxPooling1D(Pooling):
    """The maximum of each window of ``pool_size`` steps.

    >>> hn.layers.MaxPooling1D(2)(np.zeros((4, 10, 3))).shape
    (4, 5, 3)
    """

    rank, mode = 1, "max"


class MaxPooling2D(Pooling):
    """The maximum of each ``pool_size`` window of an image.

    >>> hn.layers.MaxPooling2D((2, 2), padding="same")(np.zeros((4, 5, 5, 3))).shape
    (4, 3, 3, 3)
    """

    rank, mode = 2, "max"


class MaxPooling3D(Pooling):
    """The maximum of each ``pool_size`` window of a volume."""

    rank, mode = 3, "max"


class AveragePooling1D(Pooling):
    """The mean of each window of ``pool_size`` steps (with ``padding="same"``, of its steps inside the input)."""

    rank, mode = 1, "average"


class AveragePooling2D(Pooling):
    """The mean of each ``pool_size`` window of an image (with ``padding="same"``, of its pixels inside it).

    >>> hn.layers.AveragePooling2D(2, strides=1)(np.zeros((4, 5, 5, 3))).shape
    (4, 4, 4, 3)
    """

    rank, mode = 2, "average"


class AveragePooling3D(Pooling):
    """The mean of each ``pool_size`` window of a volume (with ``padding="same"``, of its voxels inside it)."""

    rank, mode = 3, "average"


class GlobalMaxPooling1D(GlobalPooling):
    """The maximum over all steps: ``(batch, steps, channels) -> (batch, channels)``."""

    rank, mode = 1, "max"


class GlobalMaxPooling2D(GlobalPooling):
    """The maximum over all pixels: ``(batch, rows, cols, channels) -> (batch, channels)``."""

    rank, mode = 2, "max"


class GlobalMaxPooling3D(GlobalPooling):
    """The maximum over all voxels: ``(batch, dim1, dim2, dim3, channels) -> (batch, channels)``."""

    rank, mode = 3, "max"


class GlobalAveragePooling1D(GlobalPooling):
    """The mean over all steps: ``(batch, steps, channels) -> (batch, channels)``.

    >>> hn.layers.GlobalAveragePooling1D(keepdims=True)(np.zeros((4, 10, 3))).shape
    (4, 1, 3)
    """

    rank, mode = 1, "average"


class GlobalAveragePooling2D(GlobalPooling):
    """The mean over all pixels: ``(batch, rows, cols, channels) -> (batch, channels)``."""

    rank, mode = 2, "average"


class GlobalAveragePooling3D(GlobalPooling):
    """The mean over all voxels: ``(batch, dim1, dim2, dim3, channels) -> (batch, channels)``."""

    rank, mode = 3, "average"
