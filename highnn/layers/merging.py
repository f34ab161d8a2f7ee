"""Merging layers (Keras 3 names): several inputs in, one out. ``Add()([a, b])``, ``Concatenate()([a, b])``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from highnn.checks import fail, is_integer
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.ops import primitives

Shape = tuple[int | None, ...]


class Merge(Layer):
    """Elementwise merging of a list of at least two inputs of broadcastable shapes."""

    arity: int | None = None  # exactly this many inputs (None: two or more)

    def build(self, input_shape: Any) -> None:
        self._check_shapes(input_shape)

    def _check_shapes(self, shapes: Any) -> list[Shape]:
        owner = type(self).__name__
        if not isinstance(shapes, list) or not all(isinstance(s, tuple) for s in shapes):
            fail(owner, "inputs", "a list of tensors", shapes, TypeError)
        wanted = "exactly 2" if self.arity == 2 else "at least 2"
        if len(shapes) < 2 or (self.arity is not None and len(shapes) != self.arity):
            fail(owner, "inputs", f"a list of {wanted} tensors", f"{len(shapes)} tensor(s)")
        return shapes

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = self._check_shapes(input_shape)
        rank = max(len(s) for s in shapes)
        padded = [(1,) * (rank - len(s)) + s for s in shapes]
        out: list[int | None] = []
        for sizes in zip(*padded):
            known = {n for n in sizes if n is not None and n != 1}
            if len(known) > 1:
                raise ValueError(f"{type(self).__name__} {self.name!r}: inputs of shapes {shapes} cannot be merged.")
            out.append(known.pop() if known else (None if None in sizes else 1))
        return tuple(out)

    def call(self, inputs: Any) -> Tensor:
        return functools.reduce(self.combine, inputs)

    combine: Callable[[Tensor, Tensor], Tensor]


class Add(Merge):
    """The sum of the inputs: ``Add()([a, b])``."""

    combine = staticmethod(lambda a, b: a + b)


class Subtract(Merge):
    """The first input minus the second: ``Subtract()([a, b])``."""

    arity = 2
    combine = staticmethod(lambda a, b: a - b)


class Multiply(Merge):
    """The elementwise product of the inputs."""

    combine = staticmethod(lambda a, b: a * b)


class Average(Merge):
    """The elementwise mean of the inputs."""

    combine = staticmethod(lambda a, b: a + b)

    def call(self, inputs: Any) -> Tensor:
        return super().call(inputs) / float(len(inputs))


class Maximum(Merge):
    """The elementwise maximum of the inputs."""

    combine = staticmethod(primitives.maximum)


class Minimum(Merge):
    """The elementwise minimum of the inputs."""

    combine = staticmethod(primitives.minimum)


class Concatenate(Merge):
    """The inputs joined along ``axis``; every other axis must match: ``Concatenate(axis=-1)([a, b])``."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        if not is_integer(axis):
            fail("Concatenate", "axis", "an int", axis, TypeError)
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = self._check_shapes(input_shape)
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not -rank <= self.axis < rank:
            raise ValueError(
                f"Concatenate {self.name!r}: inputs must have one rank with axis {self.axis} in it, "
                f"received shapes {shapes}."
            )
        axis = self.axis % rank
        out = list(shapes[0])
        for position in range(rank):
            sizes = {s[position] for s in shapes} - {None}
            if position == axis:
                out[position] = None if any(s[axis] is None for s in shapes) else sum(s[axis] for s in shapes)  # type: ignore[misc]
            elif len(sizes) > 1:
                raise ValueError(
                    f"Concatenate {self.name!r}: inputs must match on every axis except {self.axis}, "
                    f"received shapes {shapes}."
                )
            else:
                out[position] = sizes.pop() if sizes else None
        return tuple(out)

    def call(self, inputs: Any) -> Tensor:
        return primitives.concatenate(inputs, axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Dot products of two batches of samples along ``axes`` (Keras's ``batch_dot``), for inputs of rank 2 or 3.

    ``normalize=True`` divides each sample by its L2 norm along its axis first,
    so the result is the cosine similarity.
    """

    arity = 2

    def __init__(self, axes: int | tuple[int, int] | list[int], normalize: bool = False, **kwargs: Any) -> None:
        pair = (axes, axes) if is_integer(axes) else tuple(axes) if isinstance(axes, (tuple, list)) else ()
        if len(pair) != 2 or not all(is_integer(a) for a in pair):
            fail("Dot", "axes", "an int or a pair of ints", axes, TypeError)
        super().__init__(**kwargs)
        self.axes = axes if is_integer(axes) else list(pair)
        self.normalize = bool(normalize)

    def _pair(self, shapes: list[Shape]) -> tuple[int, int]:
        axes: tuple[int, ...] = (self.axes,) * 2 if isinstance(self.axes, int) else tuple(self.axes)  # type: ignore[arg-type]
        ranks = {len(s) for s in shapes}
        if not ranks <= {2, 3} or len(ranks) != 1:
            raise ValueError(f"Dot {self.name!r}: inputs must both have rank 2 or both rank 3, received {shapes}.")
        a, b = (axis % len(shape) for axis, shape in zip(axes, shapes))
        if 0 in (a, b) or (None not in (shapes[0][a], shapes[1][b]) and shapes[0][a] != shapes[1][b]):
            raise ValueError(
                f"Dot {self.name!r}: axes {self.axes} must name non-batch axes of equal length, received {shapes}."
            )
        return a, b

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = self._check_shapes(input_shape)
        a, b = self._pair(shapes)
        rest = [n for i, n in enumerate(shapes[0]) if i not in (0, a)] + [
            n for i, n in enumerate(shapes[1]) if i not in (0, b)
        ]
        return (shapes[0][0], *rest) if rest else (shapes[0][0], 1)

    def call(self, inputs: Any) -> Tensor:
        x, y = inputs
        a, b = self._pair([x.shape, y.shape])
        if self.normalize:
            x, y = _l2_normalize(x, a), _l2_normalize(y, b)
        if x.ndim == 2:
            return (x * y).sum(axis=1, keepdims=True)
        x = primitives.transpose(x, (0, 3 - a, a))  # (batch, other, contracted)
        y = primitives.transpose(y, (0, b, 3 - b))  # (batch, contracted, other)
        return x @ y

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    """``x`` divided by its L2 norm along ``axis``; squared norms below 1e-12 count as 1e-12, as in Keras."""
    return x / primitives.sqrt(primitives.maximum((x * x).sum(axis=axis, keepdims=True), 1e-12))


MERGING_LAYERS = (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot)


# the functional forms, as in Keras: ``add([a, b])`` is ``Add()([a, b])``
def add(inputs: list[Any], **kwargs: Any) -> Any:
    return Add(**kwargs)(inputs)


def subtract(inputs: list[Any], **kwargs: Any) -> Any:
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list[Any], **kwargs: Any) -> Any:
    return Multiply(**kwargs)(inputs)


def average(inputs: list[Any], **kwargs: Any) -> Any:
    return Average(**kwargs)(inputs)


def maximum(inputs: list[Any], **kwargs: Any) -> Any:
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list[Any], **kwargs: Any) -> Any:
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: list[Any], axis: int = -1, **kwargs: Any) -> Any:
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: list[Any], axes: int | tuple[int, int] | list[int] = -1, normalize: bool = False, **kwargs: Any) -> Any:
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
