"""Activation layers with arguments: ReLU, LeakyReLU, Softmax, ELU and PReLU (whose slope is learned).

Each applies one of highnn's activation functions (``highnn.ops.composites``)
and keeps the shape of its input.
"""

from __future__ import annotations

from typing import Any

from highnn import constraints, initializers, regularizers
from highnn.checks import check_axes, check_number, fail, is_integer
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import (
    InputSpec,
    Shape,
    axis_config,
    deserialize_weight_arguments,
    resolve_axes,
    serialize_weight_arguments,
)
from highnn.ops import composites
from highnn.variables import Variable


class ElementwiseActivation(Layer):
    """Base of the activation layers: the output has the input's shape."""

    supports_masking = True  # the mask passes through, as in Keras

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)


class ReLU(ElementwiseActivation):
    """Rectified linear unit with Keras's options.

    ``f(x) = max_value`` for ``x >= max_value``, ``x`` for
    ``threshold < x < max_value`` and ``negative_slope * (x - threshold)``
    otherwise. The defaults give ``max(x, 0)``.

    >>> hn.layers.ReLU(max_value=6.0)(np.array([[-1.0, 3.0, 9.0]]))  # [[0, 3, 6]]
    """

    def __init__(
        self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0, **kwargs: Any
    ) -> None:
        self.max_value = None if max_value is None else check_number("ReLU", "max_value", max_value, 0.0)
        self.negative_slope = check_number("ReLU", "negative_slope", negative_slope, 0.0)
        self.threshold = check_number("ReLU", "threshold", threshold, 0.0)
        super().__init__(**kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return composites.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(ElementwiseActivation):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    >>> hn.layers.LeakyReLU(0.1)(np.array([[-2.0, 3.0]]))  # [[-0.2, 3.0]]
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        self.negative_slope = check_number("LeakyReLU", "negative_slope", negative_slope, 0.0)
        super().__init__(**kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return composites.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(ElementwiseActivation):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    >>> hn.layers.ELU()(np.array([[-1.0, 2.0]]))  # [[-0.632, 2.0]]
    """

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        self.alpha = check_number("ELU", "alpha", alpha)
        super().__init__(**kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return composites.elu(inputs, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(ElementwiseActivation):
    """Softmax along ``axis`` (an int or a list of ints): non-negative outputs that sum to 1 there.

    >>> hn.layers.Softmax()(np.array([[1.0, 1.0]]))  # [[0.5, 0.5]]
    """

    def __init__(self, axis: int | tuple[int, ...] | list[int] = -1, **kwargs: Any) -> None:
        self.axis = check_axes("Softmax", axis, allow_many=True)
        super().__init__(**kwargs)

    def build(self, input_shape: Shape) -> None:
        resolve_axes("Softmax", self.axis, input_shape)

    def call(self, inputs: Tensor) -> Tensor:
        axes = resolve_axes("Softmax", self.axis, inputs.shape)
        return composites.softmax(inputs, axes[0] if len(axes) == 1 else axes)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        resolve_axes("Softmax", self.axis, input_shape)
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": axis_config(self.axis)}


class PReLU(ElementwiseActivation):
    """Parametric ReLU: ``x`` for ``x > 0``, ``alpha * x`` otherwise, with a learned ``alpha`` per input unit.

    ``alpha`` has the shape of one example; ``shared_axes`` lists the axes
    (counting the batch axis as 0) along which one ``alpha`` is shared, e.g.
    ``shared_axes=[1]`` for one slope per feature of a ``(batch, steps, features)`` input.

    >>> layer = hn.layers.PReLU(alpha_initializer=hn.initializers.Constant(0.25))
    >>> layer(np.array([[-4.0, 2.0]]))  # [[-1.0, 2.0]]
    """

    WEIGHT_ARGUMENTS = ("alpha_initializer", "alpha_regularizer", "alpha_constraint")

    def __init__(
        self,
        alpha_initializer: str | initializers.Initializer = "zeros",
        alpha_regularizer: str | regularizers.Regularizer | None = None,
        alpha_constraint: constraints.ConstraintLike = None,
        shared_axes: int | list[int] | tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        self.shared_axes = _check_shared_axes(shared_axes)
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        self.input_spec: InputSpec | None = None
        self.alpha: Variable  # created by build

    def build(self, input_shape: Shape) -> None:
        shared = self.shared_axes or ()
        if any(a >= len(input_shape) for a in shared):
            raise ValueError(
                f"PReLU {self.name!r}: `shared_axes` {shared} is out of range for an input of shape "
                f"{tuple(input_shape)}."
            )
        sizes = {i: input_shape[i] for i in range(1, len(input_shape)) if i not in shared}
        known = {i: size for i, size in sizes.items() if size is not None}
        if len(known) != len(sizes):
            raise ValueError(
                f"PReLU {self.name!r}: every non-shared axis of the input must have a defined size, "
                f"received {tuple(input_shape)}."
            )
        shape = tuple(known.get(i, 1) for i in range(1, len(input_shape)))
        self.input_spec = InputSpec(len(input_shape), known)
        self.alpha = self.add_weight(
            shape,
            self.alpha_initializer,
            name="alpha",
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )

    def check_input(self, x: Tensor) -> None:
        if self.input_spec is not None:
            self.input_spec.check(self.name, x.shape)

    def call(self, inputs: Tensor) -> Tensor:
        return composites.leaky_relu(inputs, self.alpha)

    def get_config(self) -> dict[str, Any]:
        shared_axes = None if self.shared_axes is None else list(self.shared_axes)
        return {
            **super().get_config(),
            "shared_axes": shared_axes,
            **serialize_weight_arguments(self, self.WEIGHT_ARGUMENTS),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config(deserialize_weight_arguments(config, cls.WEIGHT_ARGUMENTS))


def _check_shared_axes(shared_axes: Any) -> tuple[int, ...] | None:
    """``shared_axes`` as a tuple of axes >= 1 (an int is one axis), or None."""
    if shared_axes is None:
        return None
    shared = (shared_axes,) if is_integer(shared_axes) else shared_axes
    if not isinstance(shared, (list, tuple)) or not all(is_integer(a) and a >= 1 for a in shared):
        fail("PReLU", "shared_axes", "None or a list of axes >= 1 (axis 0 is the batch)", shared_axes)
    return tuple(int(a) for a in shared)
