"""Preprocessing layers (Keras 3 names): Rescaling, Normalization, Resizing, Discretization and
CategoryEncoding, which prepare a model's raw inputs (the random image augmentations are in
:mod:`highnn.layers.augmentation`)."""

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
from highnn.ops import composites as C
from highnn.ops.array_ops import digitize
from highnn.ops.image_resizing import INTERPOLATIONS, resize
from highnn.ops.nn_ops import integer_labels
from highnn.ops.primitives import cast, data_format_of, maximum, reshape, rows_axis, sqrt
from highnn.ops.primitives import max as reduce_max
from highnn.ops.primitives import sum as reduce_sum
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
        first = rows_axis(ndim, self.data_format)
        return first, first + 1

    def call(self, inputs: Tensor) -> Tensor:
        self.spatial_axes(inputs.ndim)  # the layer's own error for another rank
        return resize(
            inputs, (self.height, self.width), self.interpolation, self.antialias, self.crop_to_aspect_ratio,
            self.pad_to_aspect_ratio, self.fill_mode, self.fill_value, self.data_format,
        )  # fmt: skip

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


#: Keras's categorical encodings of integer indices
ENCODINGS = ("one_hot", "multi_hot", "count")


def encode_categories(
    indices: Tensor, mode: str, depth: int, dtype: str, count_weights: Tensor | None = None
) -> Tensor:
    """Integer ``indices`` (in ``[0, depth)``; others encode as zeros) as Keras encodes them: ``"one_hot"`` a
    row per index (a last axis of length 1 replaced), ``"multi_hot"`` and ``"count"`` one row per sample (the
    indices along axis 1 of a batch, or all of a vector), marking or counting (weighted by ``count_weights``)
    the indices present."""
    indices = indices.reshape(1) if not indices.ndim else indices
    if mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = indices.reshape(*indices.shape[:-1])
        return C.one_hot(indices, depth, dtype)
    encoded = C.one_hot(indices, depth, dtype)
    sample_axis = 1 if indices.ndim > 1 else 0
    if mode == "multi_hot":
        return reduce_max(encoded, axis=sample_axis)
    if count_weights is not None:
        encoded = encoded * cast(count_weights, dtype).reshape(*count_weights.shape, 1)
    return reduce_sum(encoded, axis=sample_axis)


def encoded_shape(input_shape: Shape, mode: str, depth: int) -> Shape:
    """The shape :func:`encode_categories` gives inputs of ``input_shape``."""
    shape = tuple(input_shape) or (1,)
    if mode == "one_hot":
        return (*(shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape), depth)
    return (shape[0], *shape[2:], depth) if len(shape) > 1 else (depth,)


class CategoryEncoding(Layer):
    """Integer category indices in ``[0, num_tokens)`` as vectors of ``num_tokens`` values, as Keras's layer:
    ``"multi_hot"`` (each sample's indices marked with 1; ``"binary"`` is its old name), ``"one_hot"`` (a
    vector per index) or ``"count"`` (each index's count in the sample, weighted by the call's
    ``count_weights``). A batch ``(batch, n)`` gives ``(batch, num_tokens)``.

    >>> hn.layers.CategoryEncoding(4)(np.array([[0, 1], [3, 3]])).numpy()  # [[1, 1, 0, 0], [0, 0, 0, 1]]
    """

    def __init__(
        self, num_tokens: int | None = None, output_mode: str = "multi_hot", sparse: bool = False, **kwargs: Any
    ) -> None:
        if num_tokens is None:
            fail("CategoryEncoding", "num_tokens", "a positive int (the number of categories)", num_tokens)
        self.num_tokens = check_integer("CategoryEncoding", "num_tokens", num_tokens, 1)
        mode = "multi_hot" if output_mode == "binary" else output_mode
        self.output_mode = check_choice("CategoryEncoding", "output_mode", mode, ENCODINGS)
        if check_bool("CategoryEncoding", "sparse", sparse):
            fail("CategoryEncoding", "sparse", "False (sparse tensors are not supported)", sparse)
        self.sparse = False
        super().__init__(**kwargs)

    def call(self, inputs: Tensor, count_weights: Any = None) -> Tensor:
        if count_weights is not None and self.output_mode != "count":
            fail("CategoryEncoding", "count_weights", f"None when `output_mode` is {self.output_mode!r}", "weights")
        weights = None if count_weights is None else to_tensor(count_weights)
        return encode_categories(
            integer_labels(to_tensor(inputs)), self.output_mode, self.num_tokens, self.compute_dtype, weights
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": self.sparse}  # fmt: skip


class Discretization(Layer):
    """Numbers to the index of the bin they fall in: bin ``i`` holds ``bin_boundaries[i - 1] <= x <
    bin_boundaries[i]``, so ``len(bin_boundaries) + 1`` bins; or ``num_bins`` bins of about equal counts,
    learned with ``adapt`` (Keras's approximate quantiles, to within ``epsilon``). ``output_mode`` ``"int"``
    gives the indices (int32), ``"one_hot"``, ``"multi_hot"`` and ``"count"`` encode them.

    >>> hn.layers.Discretization([0.0, 1.0])(np.array([-0.5, 0.0, 0.5, 3.0])).numpy()  # [0, 1, 1, 2]
    """

    def __init__(
        self, bin_boundaries: Any = None, num_bins: int | None = None, epsilon: float = 0.01,
        output_mode: str = "int", sparse: bool = False, **kwargs: Any,
    ) -> None:  # fmt: skip
        if (bin_boundaries is None) == (num_bins is None):
            fail("Discretization", "bin_boundaries", "given, or `num_bins` instead (one of the two)",
                 bin_boundaries)  # fmt: skip
        if num_bins is not None:
            num_bins = check_integer("Discretization", "num_bins", num_bins, 0)
        self.epsilon = check_number("Discretization", "epsilon", epsilon, 0.0, 1.0, low_open=True)
        self.output_mode = check_choice("Discretization", "output_mode", output_mode, ("int", *ENCODINGS))
        if check_bool("Discretization", "sparse", sparse):
            fail("Discretization", "sparse", "False (sparse tensors are not supported)", sparse)
        self.bin_boundaries = None if bin_boundaries is None else _boundaries(bin_boundaries)
        self.num_bins, self.sparse = num_bins, False
        self.summary = np.zeros((2, 0))  # adapt's running quantile summary: values, and the count each stands for
        super().__init__(**kwargs)

    def adapt(self, data: Any) -> None:
        """Learn ``num_bins - 1`` boundaries splitting ``data`` (an array, a Tensor, or an iterable of batches)
        into bins of about equal counts."""
        if self.num_bins is None:
            raise ValueError(
                f"Discretization {self.name!r}: `adapt` learns boundaries for `num_bins`; this layer was given "
                "`bin_boundaries`."
            )
        self.summary = np.zeros((2, 0))
        for batch in _batches(data):
            self.summary = _merged(self.summary, _summarized(batch.astype(np.float32), self.epsilon), self.epsilon)
        if not self.summary.shape[1]:
            raise ValueError(f"Discretization {self.name!r}: `adapt` received no data.")
        self.bin_boundaries = _compressed(self.summary, 1.0 / self.num_bins)[0, :-1].tolist()

    @property
    def depth(self) -> int:
        """The number of bins."""
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else int(self.num_bins or 0)

    def call(self, inputs: Tensor) -> Tensor:
        if self.bin_boundaries is None:
            raise ValueError(
                f"Discretization {self.name!r}: give `bin_boundaries` or call `adapt` before using the layer."
            )
        x = to_tensor(inputs)
        x = x if x.dtype in ("float32", "float64") else cast(x, config.floatx())
        indices = digitize(x, np.asarray(self.bin_boundaries)) if self.bin_boundaries else cast(x * 0.0, "int32")
        if self.output_mode == "int":
            return indices
        return encode_categories(indices, self.output_mode, self.depth, self.compute_dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape) if self.output_mode == "int" else encoded_shape(input_shape, self.output_mode,
                                                                                   self.depth)  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": self.sparse}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """An adapted layer's config has both ``num_bins`` and the learned ``bin_boundaries``."""
        config = dict(config)
        learned = config.pop("bin_boundaries") if config.get("num_bins") is not None else None
        layer = cls(**config)
        if learned is not None:
            assert isinstance(layer, Discretization)
            layer.bin_boundaries = _boundaries(learned)
        return layer


def _boundaries(values: Any) -> list[float]:
    bounds = np.asarray(values, dtype=np.float64).reshape(-1)
    if np.any(np.diff(bounds) < 0):
        fail("Discretization", "bin_boundaries", "increasing numbers", bounds.tolist())
    return bounds.tolist()


# Keras's quantile summary for Discretization.adapt: rows (values, the count of data each value stands for),
# sorted by value; each batch is summarised by every k-th of its sorted values, summaries merge by value and are
# compressed to 1 / epsilon points by interpolating the cumulative counts (the same numbers as Keras's adapt).
def _summarized(values: np.ndarray, epsilon: float) -> np.ndarray:
    ordered = np.sort(values.reshape(-1))
    step = max(ordered.size * epsilon, 1.0)
    picked = ordered[int(step - 1) :: int(step)]
    return np.stack([picked, np.full(picked.shape, step)])


def _merged(first: np.ndarray, second: np.ndarray, epsilon: float) -> np.ndarray:
    joined = np.concatenate([first, second], axis=1)
    return _compressed(joined[:, np.argsort(joined[0], kind="stable")], epsilon)


def _compressed(summary: np.ndarray, epsilon: float) -> np.ndarray:
    if summary.shape[1] * epsilon < 1:
        return summary
    targets = np.arange(0.0, 1.0, epsilon) + epsilon
    cumulative = np.cumsum(summary[1])
    shares = cumulative / cumulative[-1]
    points = np.interp(targets, shares, summary[0])
    counts = np.diff(np.interp(targets, shares, cumulative), prepend=0.0)
    return np.stack([points, counts]).astype(np.float32)


def _batches(data: Any) -> Iterator[np.ndarray]:
    """``data`` as an iterator of float64 NumPy batches: one for an array or Tensor, each item of an iterable."""
    if isinstance(data, (np.ndarray, Tensor)) or hasattr(data, "__array__"):
        return iter([np.asarray(to_tensor(data).numpy(), dtype=np.float64)])
    if isinstance(data, Iterable):
        return (np.asarray(to_tensor(b[0] if isinstance(b, tuple) else b).numpy(), np.float64) for b in data)
    fail("Normalization.adapt", "data", "an array, a Tensor or an iterable of batches", data, TypeError)
