"""Convolution layers (Keras 3 names, arguments, defaults and weights): Conv1D/2D/3D, their transposes,
DepthwiseConv1D/2D and SeparableConv1D/2D.

Every one is the ``conv_general`` primitive (``highnn.ops.primitives``) with padding pairs worked out
from Keras's ``"valid"``/``"same"``/``"causal"``; kernels have Keras's layout, ``(*kernel_size,
in_channels / groups, filters)``, whatever the ``data_format``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from highnn import activations
from highnn.checks import check_bool, check_choice, check_integer, fail, is_integer
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import (
    InputSpec,
    Shape,
    deserialize_weight_arguments,
    resolve_weight_arguments,
    serialize_weight_arguments,
)
from highnn.layers.reshaping import DATA_FORMATS
from highnn.ops.operand_checks import conv_output_spatial, dilated_size
from highnn.ops.primitives import conv, conv_padding, conv_transpose, depthwise_conv, separable_conv, transpose_padding


def per_axis(owner: str, argument: str, value: Any, rank: int, low: int = 1) -> tuple[int, ...]:
    """An int or a sequence of ``rank`` ints, each >= ``low``, as a tuple of ``rank`` ints."""
    values = (value,) * rank if is_integer(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != rank or not all(is_integer(v) for v in values):
        fail(owner, argument, f"an integer or a tuple of {rank} integers", value, TypeError)
    if any(v < low for v in values):
        fail(owner, argument, f"integers >= {low}", value)
    return tuple(int(v) for v in values)


def output_length(size: int, window: int, stride: int, dilation: int, padding: str) -> int:
    """The length a convolution's output has along an axis of ``size`` (``padding`` "valid", "same" or "causal")."""
    pads = conv_padding(padding, (size,), (window,), (stride,), (dilation,))
    return conv_output_spatial((size,), (window,), (stride,), pads, (1,), (dilation,))[0]


class BaseConv(Layer):
    """What the convolution layers share: the window arguments, bias, activation and data format.

    Subclasses name their weight arguments in ``WEIGHT_ARGUMENTS`` and create their
    kernels in ``build``; arguments are checked before any state changes.
    """

    rank: ClassVar[int] = 2
    paddings: ClassVar[tuple[str, ...]] = ("valid", "same")
    #: whether strides and a dilation above 1 go together (Keras: for depthwise and separable convolutions only)
    strides_with_dilation: ClassVar[bool] = False
    WEIGHT_ARGUMENTS: ClassVar[tuple[str, ...]] = ("kernel_initializer", "bias_initializer", "kernel_regularizer",
                                                   "bias_regularizer", "kernel_constraint",
                                                   "bias_constraint")  # fmt: skip

    def __init__(
        self,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...],
        padding: str,
        data_format: str | None,
        dilation_rate: int | tuple[int, ...],
        activation: str | activations.Activation | None,
        use_bias: bool,
        weight_arguments: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        kernel_size_ = per_axis(owner, "kernel_size", kernel_size, self.rank)
        strides_ = per_axis(owner, "strides", strides, self.rank)
        dilation = per_axis(owner, "dilation_rate", dilation_rate, self.rank)
        if max(strides_) > 1 and max(dilation) > 1 and not self.strides_with_dilation:
            fail(owner, "strides", "1 on every axis when `dilation_rate` is above 1 (Keras allows one or the other)",
                 strides)  # fmt: skip
        padding = check_choice(owner, "padding", padding.lower() if isinstance(padding, str) else padding,
                               self.paddings)  # fmt: skip
        data_format = check_choice(owner, "data_format", data_format or "channels_last", DATA_FORMATS)
        resolved = resolve_weight_arguments(weight_arguments)
        activation_ = activations.get(activation)
        use_bias = check_bool(owner, "use_bias", use_bias)
        super().__init__(**kwargs)
        self.kernel_size, self.strides, self.dilation_rate = kernel_size_, strides_, dilation
        self.padding, self.data_format, self.activation, self.use_bias = padding, data_format, activation_, use_bias
        for name, value in resolved.items():
            setattr(self, name, value)
        self.input_spec: InputSpec | None = None

    # ----------------------------------------------------------- shapes
    @property
    def channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def input_channels(self, input_shape: Shape) -> int:
        """The channel count of ``input_shape``; sets the spec later inputs must meet."""
        InputSpec(self.rank + 2).check(self.name, input_shape)
        channels = input_shape[self.channel_axis]
        if channels is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the channel axis of the input must be known, "
                             f"received input shape {tuple(input_shape)}.")  # fmt: skip
        self.input_spec = InputSpec(self.rank + 2, {self.channel_axis % (self.rank + 2): channels})
        return channels

    def check_input(self, x: Tensor) -> None:
        if self.input_spec is not None:
            self.input_spec.check(self.name, x.shape)

    def spatial(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[2:] if self.data_format == "channels_first" else input_shape[1:-1])

    def output_size(self, size: int, axis: int) -> int:
        """The output length of spatial axis ``axis`` for an input of length ``size``."""
        return output_length(size, self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis], self.padding)

    def output_channels(self, input_shape: Shape) -> int | None:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        sizes = tuple(None if n is None else self.output_size(n, i) for i, n in enumerate(self.spatial(input_shape)))
        if any(size is not None and size < 1 for size in sizes):
            raise ValueError(
                f"{type(self).__name__}: the computed output size would be zero or negative {sizes}: input shape "
                f"{tuple(input_shape)}, kernel_size={self.kernel_size}, strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}, padding={self.padding!r}."
            )
        channels = self.output_channels(input_shape)
        first = self.data_format == "channels_first"
        return (input_shape[0], channels, *sizes) if first else (input_shape[0], *sizes, channels)

    # --------------------------------------------------------- weights
    def add_kernel(self, shape: tuple[int, ...], prefix: str, name: str) -> Any:
        """A kernel from the ``<prefix>_initializer``/``_regularizer``/``_constraint`` arguments."""
        return self.add_weight(shape, getattr(self, f"{prefix}_initializer"), name=name,
                               regularizer=getattr(self, f"{prefix}_regularizer"),
                               constraint=getattr(self, f"{prefix}_constraint"))  # fmt: skip

    def add_bias(self, size: int) -> None:
        self.bias = self.add_kernel((size,), "bias", "bias") if self.use_bias else None

    def finish(self, out: Tensor) -> Tensor:
        """Add the bias (on the channel axis) and apply the activation."""
        if self.bias is not None:
            bias = self.bias if self.data_format == "channels_last" else self.bias.reshape(-1, *(1,) * self.rank)
            out = out + bias
        return self.activation(out)

    # ---------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **serialize_weight_arguments(self, self.WEIGHT_ARGUMENTS),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config(deserialize_weight_arguments(config, cls.WEIGHT_ARGUMENTS))

    def _weight_arguments(self, values: dict[str, Any]) -> dict[str, Any]:
        return {name: values[name] for name in self.WEIGHT_ARGUMENTS}


class _Conv(BaseConv):
    """An N-d convolution with ``filters`` outputs, in ``groups`` independent channel groups."""

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        groups: int = 1,
        activation: str | activations.Activation | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        filters = check_integer(owner, "filters", filters, 1)
        groups = check_integer(owner, "groups", groups, 1)
        if filters % groups:
            fail(owner, "groups", f"a divisor of `filters` ({filters})", groups)
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         self._weight_arguments(locals()), **kwargs)  # fmt: skip
        self.filters, self.groups = filters, groups

    def build(self, input_shape: Shape) -> None:
        channels = self.input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the input's {channels} channels must be divisible "
                             f"by `groups` ({self.groups}); received input shape {tuple(input_shape)}.")  # fmt: skip
        self.kernel = self.add_kernel((*self.kernel_size, channels // self.groups, self.filters), "kernel", "kernel")
        self.add_bias(self.filters)

    def call(self, inputs: Tensor) -> Tensor:
        out = conv(inputs, self.kernel, self.strides, self.padding, self.data_format, self.dilation_rate)
        return self.finish(out)

    def output_channels(self, input_shape: Shape) -> int:
        return self.filters

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "groups": self.groups}


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding="causal"`` looks only backwards.

    >>> hn.layers.Conv1D(4, 3, padding="causal")(np.ones((2, 10, 3))).shape
    (2, 10, 4)
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """2-D convolution over images ``(batch, height, width, channels)``.

    >>> hn.layers.Conv2D(8, (3, 3), padding="same", activation="relu")(np.ones((2, 28, 28, 1))).shape
    (2, 28, 28, 8)
    """

    rank = 2


class Conv3D(_Conv):
    """3-D convolution over volumes ``(batch, depth, height, width, channels)``."""

    rank = 3


class _ConvTranspose(BaseConv):
    """The transpose of a convolution (its gradient with respect to the input): upsamples by ``strides``.

    The kernel is ``(*kernel_size, filters, in_channels)``, as in Keras.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        output_padding: int | tuple[int, ...] | None = None,
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: str | activations.Activation | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        filters = check_integer(owner, "filters", filters, 1)
        extra = None if output_padding is None else per_axis(owner, "output_padding", output_padding, self.rank, 0)
        strides_ = per_axis(owner, "strides", strides, self.rank)
        if extra is not None and any(p >= s for p, s in zip(extra, strides_)):
            fail(owner, "output_padding", f"smaller than `strides` {strides_} on every axis", output_padding)
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         self._weight_arguments(locals()), **kwargs)  # fmt: skip
        self.filters, self.output_padding = filters, extra

    def build(self, input_shape: Shape) -> None:
        channels = self.input_channels(input_shape)
        self.kernel = self.add_kernel((*self.kernel_size, self.filters, channels), "kernel", "kernel")
        self.add_bias(self.filters)

    def call(self, inputs: Tensor) -> Tensor:
        out = conv_transpose(inputs, self.kernel, self.strides, self.padding, self.output_padding, self.data_format,
                             self.dilation_rate)  # fmt: skip
        return self.finish(out)

    def output_size(self, size: int, axis: int) -> int:
        window, stride, dilation = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        extra = None if self.output_padding is None else self.output_padding[axis]
        low, high = transpose_padding(self.padding, window, stride, dilation, extra)
        return dilated_size(size, stride) + low + high - dilated_size(window, dilation) + 1

    def output_channels(self, input_shape: Shape) -> int:
        return self.filters

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "output_padding": self.output_padding}


class Conv1DTranspose(_ConvTranspose):
    """The transpose of Conv1D."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """The transpose of Conv2D: ``strides=2`` doubles the height and width.

    >>> hn.layers.Conv2DTranspose(3, 3, strides=2, padding="same")(np.ones((1, 4, 4, 8))).shape
    (1, 8, 8, 3)
    """

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """The transpose of Conv3D."""

    rank = 3


class DepthwiseConv(BaseConv):
    """Each input channel convolved on its own with ``depth_multiplier`` filters (kernel ``(*kernel_size, in,
    depth_multiplier)``); output channel ``c * depth_multiplier + m`` comes from input channel ``c``."""

    strides_with_dilation = True

    WEIGHT_ARGUMENTS = ("depthwise_initializer", "bias_initializer", "depthwise_regularizer", "bias_regularizer",
                        "depthwise_constraint", "bias_constraint")  # fmt: skip

    def __init__(
        self,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: str | activations.Activation | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        depth_multiplier = check_integer(type(self).__name__, "depth_multiplier", depth_multiplier, 1)
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         self._weight_arguments(locals()), **kwargs)  # fmt: skip
        self.depth_multiplier = depth_multiplier

    def build(self, input_shape: Shape) -> None:
        channels = self.input_channels(input_shape)
        self.kernel = self.add_kernel((*self.kernel_size, channels, self.depth_multiplier), "depthwise", "kernel")
        self.add_bias(channels * self.depth_multiplier)

    def call(self, inputs: Tensor) -> Tensor:
        out = depthwise_conv(inputs, self.kernel, self.strides, self.padding, self.data_format, self.dilation_rate)
        return self.finish(out)

    def output_channels(self, input_shape: Shape) -> int | None:
        channels = input_shape[self.channel_axis]
        return None if channels is None else channels * self.depth_multiplier

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier}


class DepthwiseConv1D(DepthwiseConv):
    """The depthwise convolution of sequences."""

    rank = 1


class DepthwiseConv2D(DepthwiseConv):
    """The depthwise convolution of images."""

    rank = 2


class SeparableConv(BaseConv):
    """A depthwise convolution, then a pointwise (1x1) one that mixes the channels into ``filters``.

    Weights: ``depthwise_kernel`` ``(*kernel_size, in, depth_multiplier)``, ``pointwise_kernel``
    ``(1, ..., 1, in * depth_multiplier, filters)`` and ``bias`` ``(filters,)``, as in Keras.
    """

    strides_with_dilation = True

    WEIGHT_ARGUMENTS = ("depthwise_initializer", "pointwise_initializer", "bias_initializer", "depthwise_regularizer",
                        "pointwise_regularizer", "bias_regularizer", "depthwise_constraint", "pointwise_constraint",
                        "bias_constraint")  # fmt: skip

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        depth_multiplier: int = 1,
        activation: str | activations.Activation | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        filters = check_integer(owner, "filters", filters, 1)
        depth_multiplier = check_integer(owner, "depth_multiplier", depth_multiplier, 1)
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         self._weight_arguments(locals()), **kwargs)  # fmt: skip
        self.filters, self.depth_multiplier = filters, depth_multiplier

    def build(self, input_shape: Shape) -> None:
        channels = self.input_channels(input_shape)
        depth = channels * self.depth_multiplier
        self.depthwise_kernel = self.add_kernel(
            (*self.kernel_size, channels, self.depth_multiplier), "depthwise", "depthwise_kernel"
        )
        self.pointwise_kernel = self.add_kernel((1,) * self.rank + (depth, self.filters), "pointwise",
                                                "pointwise_kernel")  # fmt: skip
        self.add_bias(self.filters)

    def call(self, inputs: Tensor) -> Tensor:
        out = separable_conv(inputs, self.depthwise_kernel, self.pointwise_kernel, self.strides, self.padding,
                             self.data_format, self.dilation_rate)  # fmt: skip
        return self.finish(out)

    def output_channels(self, input_shape: Shape) -> int:
        return self.filters

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "depth_multiplier": self.depth_multiplier}


class SeparableConv1D(SeparableConv):
    """The separable convolution of sequences."""

    rank = 1


class SeparableConv2D(SeparableConv):
    """The separable convolution of images."""

    rank = 2


#: every convolution layer, in the order the registry lists them
CONVOLUTION_LAYERS = (Conv1D, Conv2D, Conv3D, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, DepthwiseConv1D,
                      DepthwiseConv2D, SeparableConv1D, SeparableConv2D)  # fmt: skip
