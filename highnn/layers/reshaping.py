"""Layers that rearrange values without changing them: Flatten and Reshape (the batch axis stays)."""

from __future__ import annotations

import math
from typing import Any

from highnn.checks import check_choice, fail, is_integer
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import Shape
from highnn.ops.primitives import DATA_FORMATS, reshape, transpose


class Flatten(Layer):
    """Flattens each example to one axis: ``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``.

    With ``data_format="channels_first"`` the channel axis (axis 1) is moved
    last before flattening, so the order matches a ``channels_last`` model.

    >>> hn.layers.Flatten()(np.zeros((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_choice("Flatten", "data_format", data_format or "channels_last", DATA_FORMATS)

    def call(self, inputs: Tensor) -> Tensor:
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = transpose(inputs, (0, *range(2, inputs.ndim), 1))
        return reshape(inputs, (inputs.shape[0], math.prod(inputs.shape[1:])))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 1:
            raise ValueError(
                f"Flatten {self.name!r}: the input needs a batch axis, received shape {tuple(input_shape)}."
            )
        sizes = [n for n in input_shape[1:] if n is not None]
        return (input_shape[0], math.prod(sizes) if len(sizes) == len(input_shape) - 1 else None)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each example to ``target_shape`` (the batch axis excluded); one entry may be -1, inferred.

    >>> hn.layers.Reshape((3, -1))(np.zeros((2, 12))).shape
    (2, 3, 4)
    """

    def __init__(self, target_shape: tuple[int, ...] | list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        valid = isinstance(target_shape, (list, tuple)) and all(
            is_integer(n) and (n > 0 or n == -1) for n in target_shape
        )
        if not valid:
            fail("Reshape", "target_shape", "a tuple of positive integers (one may be -1)", target_shape)
        if list(target_shape).count(-1) > 1:
            fail("Reshape", "target_shape", "a tuple with at most one -1 (an inferred size)", tuple(target_shape))
        self.target_shape = tuple(target_shape)

    def output_example_shape(self, input_shape: Shape) -> Shape:
        """``target_shape`` with its -1 resolved for inputs of ``input_shape`` (None if a size is unknown)."""
        example = [n for n in input_shape[1:] if n is not None]
        if len(example) < len(input_shape) - 1:
            return tuple(None if n == -1 else n for n in self.target_shape)
        size, known = math.prod(example), math.prod(n for n in self.target_shape if n != -1)
        shape = tuple(size // known if n == -1 else n for n in self.target_shape)  # known >= 1: no 0 sizes
        if math.prod(shape) != size:
            raise ValueError(
                f"Reshape {self.name!r}: an example of shape {tuple(example)} has {size} values, which do not fit "
                f"`target_shape` {self.target_shape}; the total size must be unchanged."
            )
        return shape

    def build(self, input_shape: Shape) -> None:
        self.output_example_shape(input_shape)

    def call(self, inputs: Tensor) -> Tensor:
        return reshape(inputs, (inputs.shape[0], *self.target_shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0],) + self.output_example_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}
