"""Normalisation layers: BatchNormalization, LayerNormalization, GroupNormalization, RMSNormalization and
UnitNormalization.

The first three compute ``gamma * (x - mean) / sqrt(variance + epsilon) + beta``;
they differ in which axes the statistics are taken over. RMSNormalization
divides by the root mean square, UnitNormalization by the L2 norm. The statistics are
composed from primitives, so gradients through them come from highnn's
engine like any other.
"""

from __future__ import annotations

import math
from typing import Any

from highnn import constraints, initializers, regularizers
from highnn.batch_share import current_share
from highnn.checks import check_axes, check_bool, check_number, fail, is_integer
from highnn.graph import Tensor, no_grad
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import (
    InputSpec,
    Shape,
    axis_config,
    deserialize_weight_arguments,
    resolve_axes,
    serialize_weight_arguments,
)
from highnn.ops.composites import mean, square
from highnn.ops.primitives import all_reduce, maximum, reshape, sqrt, sum
from highnn.variables import Variable

Initializer = str | initializers.Initializer
Regularizer = str | regularizers.Regularizer | None
Constraint = constraints.ConstraintLike


def moments(x: Tensor, axes: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Mean and (biased) variance of ``x`` over ``axes``, keeping those axes with length 1."""
    average = mean(x, axes, keepdims=True)
    return average, mean(square(x - average), axes, keepdims=True)


def global_moments(x: Tensor, axes: tuple[int, ...], global_rows: int) -> tuple[Tensor, Tensor]:
    """:func:`moments` over the global batch of which ``x`` (axis 0 in ``axes``) is this process's share: the
    sums are all-reduced over the processes (torch DataParallel), and the all-reduce's VJP sums the gradients."""
    count = float(global_rows * math.prod(x.shape[a] for a in axes if a != 0))
    average = all_reduce(sum(x, axes, keepdims=True)) / count
    return average, all_reduce(sum(square(x - average), axes, keepdims=True)) / count


def normalize(
    x: Tensor, average: Tensor, variance: Tensor, gamma: Tensor | None, beta: Tensor | None, epsilon: float
) -> Tensor:
    """``gamma * (x - average) / sqrt(variance + epsilon) + beta`` (without gamma or beta when None)."""
    scale = 1.0 / sqrt(variance + epsilon)
    if gamma is not None:
        scale = scale * gamma
    out = (x - average) * scale
    return out if beta is None else out + beta


class AffineNormalization(Layer):
    """What BatchNormalization and LayerNormalization share: ``axis``, ``epsilon``, and ``gamma``/``beta`` on it.

    ``gamma`` and ``beta`` have one entry per position of the ``axis`` axes;
    subclasses choose the statistics.
    """

    supports_masking = True  # the mask passes through, as in Keras

    WEIGHT_ARGUMENTS: tuple[str, ...] = ("beta_initializer", "gamma_initializer", "beta_regularizer",
                                         "gamma_regularizer", "beta_constraint", "gamma_constraint")  # fmt: skip
    ALLOWS_MANY_AXES = False

    def __init__(
        self,
        axis: int | tuple[int, ...] | list[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Initializer = "zeros",
        gamma_initializer: Initializer = "ones",
        beta_regularizer: Regularizer = None,
        gamma_regularizer: Regularizer = None,
        beta_constraint: Constraint = None,
        gamma_constraint: Constraint = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        self.axis = check_axes(owner, axis, allow_many=self.ALLOWS_MANY_AXES)
        self.epsilon = check_number(owner, "epsilon", epsilon, 0.0)
        super().__init__(**kwargs)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.axes: tuple[int, ...] = ()
        self.param_shape: tuple[int, ...] = ()
        self.input_spec: InputSpec | None = None
        self.gamma: Variable | None = None
        self.beta: Variable | None = None

    def build(self, input_shape: Shape) -> None:
        self.axes = resolve_axes(type(self).__name__, self.axis, input_shape)
        sizes = {a: size for a in self.axes if (size := input_shape[a]) is not None}
        unknown = [a for a in self.axes if a not in sizes]
        if unknown:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: axis {unknown[0]} of the input must have a defined size, "
                f"received an input of shape {tuple(input_shape)}."
            )
        self.param_shape = tuple(sizes.values())
        self.input_spec = InputSpec(len(input_shape), sizes)
        if self.scale:
            self.gamma = self.add_weight(
                self.param_shape,
                self.gamma_initializer,
                name="gamma",
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
            )
        if self.center:
            self.beta = self.add_weight(
                self.param_shape,
                self.beta_initializer,
                name="beta",
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
            )

    def check_input(self, x: Tensor) -> None:
        self.check_shape(x.shape)

    def check_shape(self, shape: Shape) -> None:
        """Raise the Keras-style incompatibility error if inputs of ``shape`` do not fit the built layer."""
        if self.input_spec is not None:
            self.input_spec.check(self.name, shape)

    def axes_for(self, shape: Shape) -> tuple[int, ...]:
        """The normalised axes of an input of ``shape`` (by default those of the input the layer was built for)."""
        return self.axes

    def broadcast_shape(self, shape: Shape) -> tuple[int, ...]:
        """``param_shape`` with axes of length 1 added, to broadcast against an input of ``shape``."""
        axes = self.axes_for(shape)
        return tuple(self.param_shape[axes.index(i)] if i in axes else 1 for i in range(len(shape)))

    def broadcastable(self, parameter: Tensor | None, shape: Shape) -> Tensor | None:
        """``parameter`` (shaped like ``param_shape``) reshaped to broadcast against an input of ``shape``."""
        return None if parameter is None else reshape(parameter, self.broadcast_shape(shape))

    def normalize_with(self, x: Tensor, average: Tensor, variance: Tensor) -> Tensor:
        """``x`` normalised with the given statistics, then scaled by gamma and shifted by beta."""
        return normalize(
            x,
            average,
            variance,
            self.broadcastable(self.gamma, x.shape),
            self.broadcastable(self.beta, x.shape),
            self.epsilon,
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self.check_shape(input_shape)
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": axis_config(self.axis),
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **serialize_weight_arguments(self, self.WEIGHT_ARGUMENTS),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config(deserialize_weight_arguments(config, cls.WEIGHT_ARGUMENTS))


class BatchNormalization(AffineNormalization):
    """Normalises each feature (position along ``axis``) with statistics over the batch and every other axis.

    Training (``training=True`` and the layer trainable): the batch's mean and
    (biased) variance are used, and the moving statistics are updated:
    ``moving = moving * momentum + batch_statistic * (1 - momentum)``.
    Inference: the moving statistics are used. ``gamma``/``beta`` are trained;
    ``moving_mean``/``moving_variance`` are non-trainable weights.
    ``synchronized=True`` (Keras's argument) takes the statistics over the global
    batch under torch DataParallel, all-reducing each process's sums; elsewhere
    the batch is whole already (one process, or JAX's global view).

    >>> layer = hn.layers.BatchNormalization()
    >>> out = layer(np.random.rand(32, 4), training=True)  # each column: mean ~0, variance ~1
    """

    WEIGHT_ARGUMENTS = AffineNormalization.WEIGHT_ARGUMENTS + ("moving_mean_initializer", "moving_variance_initializer")

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Initializer = "zeros",
        gamma_initializer: Initializer = "ones",
        moving_mean_initializer: Initializer = "zeros",
        moving_variance_initializer: Initializer = "ones",
        beta_regularizer: Regularizer = None,
        gamma_regularizer: Regularizer = None,
        beta_constraint: Constraint = None,
        gamma_constraint: Constraint = None,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        self.momentum = check_number("BatchNormalization", "momentum", momentum, 0.0, 1.0)
        self.synchronized = check_bool("BatchNormalization", "synchronized", synchronized)
        super().__init__(
            axis,
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.moving_mean: Variable  # created by build, as are the two below
        self.moving_variance: Variable

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        self.moving_mean = self.add_weight(
            self.param_shape, self.moving_mean_initializer, name="moving_mean", trainable=False
        )
        self.moving_variance = self.add_weight(
            self.param_shape, self.moving_variance_initializer, name="moving_variance", trainable=False
        )

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if training and self.trainable:
            reduction_axes = tuple(i for i in range(inputs.ndim) if i not in self.axes)
            share = current_share()
            if self.synchronized and share is not None and not share.replicated:
                average, variance = global_moments(inputs, reduction_axes, share.global_rows)
            else:
                average, variance = moments(inputs, reduction_axes)
            with no_grad():
                for moving, statistic in ((self.moving_mean, average), (self.moving_variance, variance)):
                    moving.assign(moving * self.momentum + reshape(statistic, self.param_shape) * (1.0 - self.momentum))
        else:
            average = reshape(self.moving_mean, self.broadcast_shape(inputs.shape))
            variance = reshape(self.moving_variance, self.broadcast_shape(inputs.shape))
        return self.normalize_with(inputs, average, variance)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "synchronized": self.synchronized}


class LayerNormalization(AffineNormalization):
    """Normalises each example over ``axis`` (the features by default), the same at training and inference.

    ``axis`` may be a list to normalise over several axes; ``gamma`` and
    ``beta`` then have one entry per position of those axes.

    >>> layer = hn.layers.LayerNormalization()
    >>> out = layer(np.random.rand(2, 8))  # each row: mean ~0, variance ~1
    """

    ALLOWS_MANY_AXES = True

    def axes_for(self, shape: Shape) -> tuple[int, ...]:
        """``axis`` resolved for this input's rank: ``-1`` is the last axis of a rank-2 input as of a rank-4 one."""
        return resolve_axes(type(self).__name__, self.axis, shape)

    def check_shape(self, shape: Shape) -> None:
        """Inputs of any rank fit, as long as the normalised axes keep the sizes the layer was built for."""
        if self.built:
            InputSpec(len(shape), dict(zip(self.axes_for(shape), self.param_shape))).check(self.name, shape)

    def call(self, inputs: Tensor) -> Tensor:
        average, variance = moments(inputs, self.axes_for(inputs.shape))
        return self.normalize_with(inputs, average, variance)


class GroupNormalization(AffineNormalization):
    """Normalises each example over groups of channels (Wu and He, 2018): the ``axis`` channels are cut into
    ``groups`` consecutive blocks, each normalised with its mean and variance over its channels and every other
    non-batch axis, then ``gamma`` and ``beta`` (one per channel) apply. ``groups=-1`` gives each channel its own
    group (instance normalisation); ``groups=1`` normalises over all of an example.

    >>> hn.layers.GroupNormalization(groups=2)(np.random.rand(4, 5, 5, 6)).shape
    (4, 5, 5, 6)
    """

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        if not is_integer(groups) or (groups <= 0 and groups != -1):
            fail("GroupNormalization", "groups", "a positive integer, or -1 for one group per channel", groups)
        self.groups = int(groups)
        super().__init__(axis, epsilon, **kwargs)  # center, scale and the weights' arguments pass through

    def build(self, input_shape: Shape) -> None:
        (axis,) = resolve_axes("GroupNormalization", self.axis, input_shape)
        channels = input_shape[axis]
        if channels is not None and channels % self.group_count(channels):
            raise ValueError(
                f"GroupNormalization {self.name!r}: `groups` ({self.groups}) must divide the number of channels "
                f"along axis {self.axis} ({channels}) into groups of equal size, received an input of shape "
                f"{tuple(input_shape)}."
            )
        super().build(input_shape)  # and an unknown channel count fails there

    def group_count(self, channels: int) -> int:
        return channels if self.groups == -1 else self.groups

    def call(self, inputs: Tensor) -> Tensor:
        (axis,) = self.axes
        shape, channels = inputs.shape, inputs.shape[axis]
        groups = self.group_count(channels)
        grouped_shape = (*shape[:axis], groups, channels // groups, *shape[axis + 1 :])
        grouped = reshape(inputs, grouped_shape)
        average, variance = moments(grouped, tuple(a for a in range(1, grouped.ndim) if a != axis))
        per_channel = tuple(n if a in (axis, axis + 1) else 1 for a, n in enumerate(grouped_shape))
        gamma, beta = (None if p is None else reshape(p, per_channel) for p in (self.gamma, self.beta))
        return reshape(normalize(grouped, average, variance, gamma, beta, self.epsilon), shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "groups": self.groups}


class RMSNormalization(Layer):
    """Divides each example by its root mean square over ``axis`` and multiplies by a learned ``scale`` (one per
    position of those axes, ones at first): ``x * scale / sqrt(mean(x**2) + epsilon)`` (Zhang and Sennrich,
    2019), as Keras's layer.

    >>> hn.layers.RMSNormalization()(np.random.rand(2, 8)).shape
    (2, 8)
    """

    supports_masking = True

    def __init__(self, axis: int | tuple[int, ...] | list[int] = -1, epsilon: float = 1e-6, **kwargs: Any) -> None:
        self.axis = check_axes("RMSNormalization", axis, allow_many=True)
        self.epsilon = check_number("RMSNormalization", "epsilon", epsilon, 0.0)
        super().__init__(**kwargs)
        self.axes: tuple[int, ...] = ()
        self.scale: Variable | None = None

    def build(self, input_shape: Shape) -> None:
        self.axes = resolve_axes("RMSNormalization", self.axis, input_shape)
        sizes = [input_shape[a] for a in self.axes]
        if any(n is None for n in sizes):
            raise ValueError(
                f"RMSNormalization {self.name!r}: the `axis` {self.axis} of the input must have defined sizes, "
                f"received an input of shape {tuple(input_shape)}."
            )
        self.scale = self.add_weight(tuple(int(n) for n in sizes if n is not None), "ones", name="scale")

    def call(self, inputs: Tensor) -> Tensor:
        assert self.scale is not None  # built by the first call
        axes = resolve_axes("RMSNormalization", self.axis, inputs.shape)
        scale = reshape(self.scale, tuple(inputs.shape[a] if a in axes else 1 for a in range(inputs.ndim)))
        return inputs * (1.0 / sqrt(mean(square(inputs), axes, keepdims=True) + self.epsilon)) * scale

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": axis_config(self.axis), "epsilon": self.epsilon}


#: the smallest L2 norm UnitNormalization divides by (Keras's epsilon there)
UNIT_NORM_EPSILON = 1e-12


class UnitNormalization(Layer):
    """Scales each example to unit L2 norm over ``axis`` (norms below 1e-12 count as 1e-12), as Keras's layer.

    >>> hn.layers.UnitNormalization()(np.array([[3.0, 4.0]])).numpy()  # [[0.6, 0.8]]
    """

    supports_masking = True

    def __init__(self, axis: int | tuple[int, ...] | list[int] = -1, **kwargs: Any) -> None:
        self.axis = check_axes("UnitNormalization", axis, allow_many=True)
        super().__init__(**kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        axes = resolve_axes("UnitNormalization", self.axis, inputs.shape)
        norm = sqrt(sum(square(inputs), axes, keepdims=True))
        return inputs / maximum(norm, UNIT_NORM_EPSILON)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        resolve_axes("UnitNormalization", self.axis, input_shape)
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": axis_config(self.axis)}
