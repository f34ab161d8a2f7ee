"""Preprocessing layers (Keras 3 names): Rescaling, Normalization and Resizing, which prepare a model's raw inputs
(the random image augmentations are in :mod:`highnn.layers.augmentation`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from highnn import config
from highnn.checks import check_axes, check_bool, check_choice, check_integer, check_number, fail
from highnn.graph import Tensor, to_tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import Shape, resolve_axes
from highnn.layers.pooling import data_format_of
from highnn.layers.spatial import INTERPOLATIONS, resize
from highnn.ops.primitives import maximum, pad, reshape, sqrt
from highnn.variables import Variable


class Rescaling(Layer):
    """``inputs * scale + offset`` in the compute dtype, as Keras's layer: ``Rescaling(1 / 255)`` maps bytes to
    [0, 1], ``Rescaling(1 / 127.5, offset=-1)`` to [-1, 1]. ``scale`` and ``offset`` are numbers or one number per
    channel (the last axis).

    >>> hn.layers.Rescaling(1 / 255)(np.array([[0, 51, 255]], dtype=np.uint8)).numpy()  # [[0.0, 0.2, 1.0]]
    """

    supports_masking = True

    def __init__(self, scale: float | list[float], offset: float | list[float] = 0.0, **kwargs: Any) -> None:
        self.scale, self.offset = _numbers("scale", scale), _numbers("offset", offset)
        super().__init__(**kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return inputs * to_tensor(np.asarray(self.scale), inputs.dtype) + to_tensor(
            np.asarray(self.offset), inputs.dtype
        )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def _numbers(argument: str, value: Any) -> float | list[float]:
    """Rescaling's ``scale`` or ``offset``: a finite number, or a non-empty list of them (one per channel)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and value:
        return [check_number("Rescaling", argument, v) for v in value]
    return check_number("Rescaling", argument, value)


class Normalization(Layer):
    """Standardises each feature: ``(x - mean) / sqrt(variance)`` (Keras's layer; the square root is at least
    Keras's epsilon, 1e-7), or the inverse with ``invert=True``. There is a mean and a variance per position of
    the ``axis`` axes (None: one over everything), given as ``mean`` and ``variance`` or learned by
    :meth:`adapt` from data before training, as in Keras.

    >>> normalizer = hn.layers.Normalization()
    >>> normalizer.adapt(np.array([[1.0, 10.0], [3.0, 30.0]]))  # means (2, 20), variances (1, 100)
    >>> normalizer(np.array([[2.0, 40.0]])).numpy()  # [[0.0, 2.0]]
    """

    supports_masking = True

    def __init__(
        self,
        axis: int | tuple[int, ...] | list[int] | None = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        axes = () if axis is None else check_axes("Normalization", axis, allow_many=True)
        self.axis: tuple[int, ...] = (axes,) if isinstance(axes, int) else tuple(axes)
        self.invert = check_bool("Normalization", "invert", invert)
        if (mean is None) != (variance is None):
            raise ValueError(
                f"Normalization: `mean` and `variance` must be given together, received mean={mean!r} and "
                f"variance={variance!r}."
            )
        self.given = None if mean is None else (np.asarray(mean, np.float64), np.asarray(variance, np.float64))
        if self.given is not None and (
            self.given[0].shape != self.given[1].shape or self.given[0].ndim > len(self.axis)
        ):
            raise ValueError(
                f"Normalization: `mean` and `variance` must have the same shape, of at most one axis per "
                f"`axis` {self.axis}, received shapes {self.given[0].shape} and {self.given[1].shape}."
            )
        super().__init__(**kwargs)
        self.kept: tuple[int, ...] = ()
        self.adapt_mean: Variable | None = None
        self.adapt_variance: Variable | None = None

    def build(self, input_shape: Shape) -> None:
        self.kept = resolve_axes("Normalization", self.axis, input_shape) if self.axis else ()
        unknown = [a for a in self.kept if input_shape[a] is None]
        if unknown:
            raise ValueError(
                f"Normalization {self.name!r}: axis {unknown[0]} of the input must have a known size to keep a mean "
                f"per position, received an input of shape {tuple(input_shape)}."
            )
        if self.given is None:
            shape = tuple(int(n) for n in (input_shape[a] for a in self.kept) if n is not None)
            self.adapt_mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
            self.adapt_variance = self.add_weight(shape, "ones", trainable=False, name="variance")
            self.add_weight((), "zeros", dtype="int64", trainable=False, name="count")  # Keras's third weight, unused

    def statistics(self, ndim: int) -> tuple[Any, Any]:
        """The mean and variance shaped to broadcast against an input of ``ndim`` axes."""
        if self.adapt_mean is not None and self.adapt_variance is not None:
            shape = tuple(self.adapt_mean.shape[self.kept.index(a)] if a in self.kept else 1 for a in range(ndim))
            return reshape(self.adapt_mean, shape), reshape(self.adapt_variance, shape)
        assert self.given is not None  # built without variables only when given
        mean, variance = self.given
        given_shape = [1] * ndim
        for axis, size in zip(self.kept[::-1], mean.shape[::-1]):  # given values fill the last kept axes
            given_shape[axis] = size
        return mean.reshape(given_shape), variance.reshape(given_shape)

    def call(self, inputs: Tensor) -> Tensor:
        mean, variance = self.statistics(inputs.ndim)
        mean, variance = to_tensor(mean, inputs.dtype), to_tensor(variance, inputs.dtype)
        spread = maximum(sqrt(variance), config.epsilon())
        return mean + inputs * spread if self.invert else (inputs - mean) / spread

    def adapt(self, data: Any) -> None:
        """Learn the mean and variance of ``data``: an array or Tensor, or an iterable of batches (arrays, or
        tuples whose first entry is the batch), combined exactly as one array would be."""
        if self.given is not None:
            raise ValueError(
                f"Normalization {self.name!r}: `adapt` learns the statistics given as `mean` and `variance`."
            )
        batches = _batches(data)
        first = next(batches, None)
        if first is None:
            raise ValueError(f"Normalization {self.name!r}: `adapt` received no data.")
        if not self.built:
            self._maybe_build([to_tensor(first)], {})
        assert self.adapt_mean is not None and self.adapt_variance is not None
        total, average, spread = 0, np.zeros(self.adapt_mean.shape), np.zeros(self.adapt_mean.shape)
        for batch in itertools.chain([first], batches):
            kept = tuple(batch.shape[a] for a in self.kept) if batch.ndim > max(self.kept, default=-1) else None
            if kept != self.adapt_mean.shape:
                raise ValueError(
                    f"Normalization {self.name!r}: `adapt` data must have the sizes {self.adapt_mean.shape} along "
                    f"`axis` {self.axis}, received a batch of shape {batch.shape}."
                )
            reduced = tuple(a for a in range(batch.ndim) if a not in self.kept)
            count = math.prod(batch.shape[a] for a in reduced)
            batch_mean, batch_variance = batch.mean(axis=reduced), batch.var(axis=reduced)
            total += count  # Chan et al.'s pairwise combination of means and variances
            weight = count / total
            combined = average * (1 - weight) + batch_mean * weight
            spread = (spread + (average - combined) ** 2) * (1 - weight) + (
                batch_variance + (batch_mean - combined) ** 2
            ) * weight
            average = combined
        self.adapt_mean.assign(average.astype(self.adapt_mean.dtype))
        self.adapt_variance.assign(spread.astype(self.adapt_variance.dtype))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        mean, variance = (None, None) if self.given is None else (a.tolist() for a in self.given)
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert, "mean": mean,
                "variance": variance}  # fmt: skip


class Resizing(Layer):
    """Resizes images to ``(height, width)`` as Keras's layer does (``jax.image.resize``'s interpolations, half-pixel
    centres, ``antialias`` widening the kernel when shrinking). ``crop_to_aspect_ratio`` first crops the largest
    centred window of the target's aspect ratio; ``pad_to_aspect_ratio`` first pads with ``fill_value`` to it.
    Inputs are a batch ``(batch, rows, cols, channels)`` or one image ``(rows, cols, channels)`` (channels first
    with ``data_format="channels_first"``).

    >>> hn.layers.Resizing(2, 3)(np.random.rand(4, 6, 6, 3)).shape
    (4, 2, 3, 3)
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.height = check_integer("Resizing", "height", height, 1)
        self.width = check_integer("Resizing", "width", width, 1)
        self.interpolation = check_choice("Resizing", "interpolation", interpolation, INTERPOLATIONS)
        self.crop_to_aspect_ratio = check_bool("Resizing", "crop_to_aspect_ratio", crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = check_bool("Resizing", "pad_to_aspect_ratio", pad_to_aspect_ratio)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("Resizing: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True.")
        self.fill_mode = check_choice("Resizing", "fill_mode", fill_mode, ("constant",))
        self.fill_value = check_number("Resizing", "fill_value", fill_value)
        self.antialias = check_bool("Resizing", "antialias", antialias)
        self.data_format = data_format_of("Resizing", data_format)
        super().__init__(**kwargs)

    def spatial_axes(self, ndim: int) -> tuple[int, int]:
        """The rows and columns axes of an image (``ndim`` 3) or a batch of images (``ndim`` 4)."""
        if ndim not in (3, 4):
            raise ValueError(
                f"Resizing {self.name!r}: inputs must be images of rank 3 or batches of rank 4, received rank {ndim}."
            )
        first = ndim - 3 if self.data_format == "channels_last" else ndim - 2
        return first, first + 1

    def call(self, inputs: Tensor) -> Tensor:
        rows, cols = self.spatial_axes(inputs.ndim)
        height, width = inputs.shape[rows], inputs.shape[cols]
        if self.crop_to_aspect_ratio:  # the largest centred window of the target's aspect ratio
            crop_height = max(min(height, int(width * self.height / self.width)), 1)
            crop_width = max(min(width, int(height * self.width / self.height)), 1)
            top, left = (height - crop_height) // 2, (width - crop_width) // 2
            index = [slice(None)] * inputs.ndim
            index[rows], index[cols] = slice(top, top + crop_height), slice(left, left + crop_width)
            inputs = inputs[tuple(index)]
        elif self.pad_to_aspect_ratio:  # as much fill before as after, as Keras pads
            top = (max(height, int(width * self.height / self.width)) - height) // 2
            left = (max(width, int(height * self.width / self.height)) - width) // 2
            widths = [(0, 0)] * inputs.ndim
            widths[rows], widths[cols] = (top, top), (left, left)
            inputs = pad(inputs, tuple(widths), constant_values=self.fill_value)
        return resize(inputs, {rows: self.height, cols: self.width}, self.interpolation, self.antialias)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rows, cols = self.spatial_axes(len(input_shape))
        shape = list(input_shape)
        shape[rows], shape[cols] = self.height, self.width
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
            "data_format": self.data_format,
        }


def _batches(data: Any) -> Iterator[np.ndarray]:
    """``data`` as an iterator of float64 NumPy batches: one for an array or Tensor, each item of an iterable."""
    if isinstance(data, (np.ndarray, Tensor)) or hasattr(data, "__array__"):
        return iter([np.asarray(to_tensor(data).numpy(), dtype=np.float64)])
    if isinstance(data, Iterable):
        return (np.asarray(to_tensor(b[0] if isinstance(b, tuple) else b).numpy(), np.float64) for b in data)
    fail("Normalization.adapt", "data", "an array, a Tensor or an iterable of batches", data, TypeError)
