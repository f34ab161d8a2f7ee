"""Convolutional LSTMs (Shi et al., 2015; Keras 3's ``ConvLSTM1D/2D/3D``): an LSTM whose states are images and whose
products are convolutions, for sequences of images such as video frames.

Each step's gates are ``conv(x_t, kernel) + conv(h_{t-1}, recurrent_kernel, padding="same") + bias``, in Keras's
gate order ``i, f, c, o``; the cell is :class:`~highnn.layers.recurrent.LSTM`'s. As there, the input convolution
runs before the scan for every frame at once, and the recurrence is one ``scan`` over time whose step holds the
recurrent convolution, so the gradient is highnn's own on every backend.
"""

from __future__ import annotations

from typing import Any, ClassVar

from highnn import activations
from highnn.checks import check_choice, fail, is_integer
from highnn.graph import Tensor
from highnn.layers.convolutional import output_length, per_axis
from highnn.layers.layer_utils import InputSpec, Shape
from highnn.layers.recurrent import LSTM
from highnn.nest import flatten
from highnn.ops.primitives import conv, transpose


class ConvLSTM(LSTM):
    """The convolutional LSTM of ``rank`` spatial axes: inputs ``(batch, time, *spatial, channels)`` (or
    ``(batch, time, channels, *spatial)`` with ``data_format="channels_first"``), states ``[h, c]`` of shape
    ``(batch, *output spatial, filters)``. Dropout masks are drawn once per sequence, one per input pixel and
    channel (and per state pixel and filter for ``recurrent_dropout``), shared by the four gates.
    """

    rank: ClassVar[int] = 2

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: str | activations.Activation | None = "tanh",
        recurrent_activation: str | activations.Activation = "sigmoid",
        **kwargs: Any,
    ) -> None:
        """The LSTM's other arguments (``use_bias``, the initializers, regularizers and constraints,
        ``unit_forget_bias``, ``dropout``, ``recurrent_dropout``, ``seed``, the sequence flags) pass through."""
        owner = type(self).__name__
        if not is_integer(filters) or filters <= 0:
            fail(owner, "filters", "a positive integer", filters)
        self.kernel_size = per_axis(owner, "kernel_size", kernel_size, self.rank)
        self.strides = per_axis(owner, "strides", strides, self.rank)
        self.dilation_rate = per_axis(owner, "dilation_rate", dilation_rate, self.rank)
        self.padding = check_choice(owner, "padding", padding.lower() if isinstance(padding, str) else padding,
                                    ("valid", "same"))  # fmt: skip
        self.data_format = check_choice(owner, "data_format", data_format or "channels_last",
                                        ("channels_last", "channels_first"))  # fmt: skip
        super().__init__(filters, activation, recurrent_activation, **kwargs)
        self.filters = self.units
        self.output_spatial: tuple[int, ...] = ()  # set by build

    # ------------------------------------------------------------------ shapes
    def channels_last_shape(self, input_shape: Shape) -> Shape:
        """``input_shape`` with its channels last (the layout the layer computes in)."""
        if self.data_format == "channels_last":
            return tuple(input_shape)
        return (*input_shape[:2], *input_shape[3:], input_shape[2])

    def spatial_output(self, spatial: Shape) -> tuple[int | None, ...]:
        """The output frames' size for input frames of ``spatial`` size (None where that is unknown)."""
        return tuple(
            None if n is None else output_length(n, k, stride, d, self.padding)
            for n, k, stride, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        )

    @property
    def state_shapes(self) -> list[tuple[int, ...]]:
        return [(*self.output_spatial, self.filters)] * 2

    def step_shapes(self, input_shape: Shape) -> tuple[tuple[int | None, ...], list[tuple[int | None, ...]]]:
        spatial = self.spatial_output(self.channels_last_shape(input_shape)[2:-1])
        step = (self.filters, *spatial) if self.data_format == "channels_first" else (*spatial, self.filters)
        return step, [step, step]

    # ------------------------------------------------------------------ weights
    @property
    def window(self) -> tuple[int, ...]:
        return self.kernel_size

    def input_features(self, input_shape: Shape) -> int:
        """The channels of each frame, from ``input_shape`` (checked); sets the output frames' size and the spec
        later inputs must meet."""
        shape = self.channels_last_shape(input_shape)
        if len(shape) != self.rank + 3 or shape[-1] is None or None in shape[2:-1]:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} needs inputs of shape (batch, timesteps, {self.rank} spatial "
                f"sizes, channels) with known spatial sizes and channels (as data_format says), received "
                f"{tuple(input_shape)}."
            )
        self.output_spatial = tuple(int(n) for n in self.spatial_output(shape[2:-1]))  # type: ignore[arg-type]
        if min(self.output_spatial) < 1:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: the frames {tuple(shape[2:-1])} are smaller than the "
                f"kernel {self.kernel_size} (with dilation_rate={self.dilation_rate}, padding={self.padding!r})."
            )
        channels = int(shape[-1])
        channel_axis = -1 if self.data_format == "channels_last" else 2
        self.input_spec = InputSpec(ndim=self.rank + 3, axes={channel_axis: channels})
        return channels

    # ------------------------------------------------------------------ the cell's products
    def input_projection(self, x: Tensor, weights: list[Tensor]) -> Tensor:
        """The input convolution, plus the bias, of every frame: ``(batch, time, ...)`` or one step's frames."""
        frames = x.reshape(-1, *x.shape[-(self.rank + 1) :])
        out = conv(frames, weights[0], self.strides, self.padding, dilation_rate=self.dilation_rate)
        out = out + weights[1] if len(weights) > 1 else out
        return out.reshape(*x.shape[: -(self.rank + 1)], *out.shape[1:])

    def recurrent_product(self, h: Tensor, recurrent_kernel: Tensor) -> Tensor:
        return conv(h, recurrent_kernel, padding="same")

    # ------------------------------------------------------------------ calling
    def call(
        self, inputs: Tensor, training: bool = False, mask: Tensor | None = None, initial_state: Any = None
    ) -> Any:
        """The sequence's outputs; ``initial_state`` is ``[h, c]``, each shaped like one output frame."""
        if self.data_format == "channels_last":
            return super().call(inputs, training, mask, initial_state)
        states = None if initial_state is None else [self.moved(s, last=True) for s in flatten(initial_state)]
        result = super().call(self.moved(inputs, last=True), training, mask, states)
        return [self.moved(t, last=False) for t in result] if isinstance(result, list) else self.moved(result, False)

    def moved(self, x: Tensor, last: bool) -> Tensor:
        """``x`` (a sequence of frames, or one frame per example) with its channel axis moved from after the batch
        and time axes to the end (``last``), or back."""
        lead = x.ndim - self.rank - 1  # the batch and time axes, or the batch axis
        axes = tuple(range(x.ndim))
        order = (*axes[:lead], *axes[lead + 1 :], lead) if last else (*axes[:lead], x.ndim - 1, *axes[lead:-1])
        return transpose(x, order)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["units"]
        return {
            **config, "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "data_format": self.data_format, "dilation_rate": self.dilation_rate,
        }  # fmt: skip


class ConvLSTM1D(ConvLSTM):
    """A convolutional LSTM over sequences of 1-D signals ``(batch, time, steps, channels)``.

    >>> hn.layers.ConvLSTM1D(4, 3, padding="same")(np.ones((2, 5, 10, 3))).shape
    (2, 10, 4)
    """

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """A convolutional LSTM over sequences of images ``(batch, time, rows, cols, channels)``, as for video frames.

    >>> hn.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)(np.ones((2, 5, 8, 8, 1))).shape
    (2, 5, 8, 8, 4)
    """

    rank = 2


class ConvLSTM3D(ConvLSTM):
    """A convolutional LSTM over sequences of volumes ``(batch, time, depth, rows, cols, channels)``.

    >>> hn.layers.ConvLSTM3D(2, 3)(np.ones((1, 3, 5, 5, 5, 1))).shape
    (1, 3, 3, 3, 2)
    """

    rank = 3


CONV_LSTM_LAYERS = (ConvLSTM1D, ConvLSTM2D, ConvLSTM3D)
