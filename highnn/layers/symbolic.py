"""Symbolic tensors: what ``hn.Input`` returns and layers return when called on it (Keras's ``KerasTensor``).

A :class:`SymbolicTensor` holds a shape (``None`` where not known, the batch
axis first), a dtype and the :class:`Node` that produced it: the layer call, its
inputs and outputs. The nodes form the graph a functional ``hn.Model`` runs.

Calling a layer on symbolic tensors builds it and infers the output shape
without running data through it: from ``compute_output_shape`` where the layer
defines it, else by :func:`infer_output_shape`, which calls the layer on
zero-size arrays (batch axis 0) and puts back every variable value and the
random generator's state afterwards, so a call with side effects (a state
update, a random draw) leaves nothing behind. Only a call that builds weights
(a sub-layer created lazily) keeps its draws, so no two weights start alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from highnn import random
from highnn.config import settings
from highnn.graph import Tensor, no_grad
from highnn.nest import flatten, map_structure

if TYPE_CHECKING:
    from highnn.layers.layer import Layer

Shape = tuple[int | None, ...]
MIGRATION = "see docs/keras-migration.md"
_serials = itertools.count()


class SymbolicTensor:
    """A placeholder for a batch of data of ``shape`` and ``dtype``, made by ``node`` (output ``index``)."""

    def __init__(self, shape: Shape, dtype: str, node: Node | None = None, index: int = 0, name: str = "") -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"A symbolic tensor ({self.name}, shape {self.shape}) holds no values: it can only be passed to layers. "
            "Wrap operations in a layer (hn.layers.Add, Multiply, Concatenate, Lambda, ...); " + MIGRATION + "."
        )

    __array__ = __float__ = __int__ = __bool__ = __len__ = __iter__ = __getitem__ = _unsupported
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _unsupported
    __matmul__ = __rmatmul__ = __pow__ = __neg__ = __abs__ = _unsupported
    __hash__ = object.__hash__


KerasTensor = SymbolicTensor  # Keras's name


class Node:
    """One call of ``layer`` on positional ``args`` and keyword ``kwargs`` holding symbolic tensors, and its outputs.

    ``serial`` is the creation order. An input's node has no arguments.
    """

    def __init__(self, layer: Layer, args: list[Any], outputs: Any, kwargs: dict[str, Any] | None = None) -> None:
        self.layer = layer
        self.args = list(args)
        self.kwargs = dict(kwargs or {})
        self.outputs = outputs
        self.flat_inputs: list[SymbolicTensor] = [
            leaf for leaf in flatten([self.args, self.kwargs]) if isinstance(leaf, SymbolicTensor)
        ]
        self.flat_outputs: list[SymbolicTensor] = flatten(outputs)
        self.serial = next(_serials)

    @property
    def inputs(self) -> Any:
        """The call's symbolic tensors: its one argument as given, or a flat list when it had several."""
        return self.args[0] if len(self.args) == 1 and not self.kwargs else self.flat_inputs

    @property
    def parents(self) -> list[Node]:
        return [t.node for t in self.flat_inputs if t.node is not None]

    def arguments(self, value_of: Callable[[SymbolicTensor], Any]) -> tuple[list[Any], dict[str, Any]]:
        """The call's arguments with each symbolic tensor replaced by ``value_of(tensor)``."""

        def replace(leaf: Any) -> Any:
            return value_of(leaf) if isinstance(leaf, SymbolicTensor) else leaf

        return [map_structure(replace, arg) for arg in self.args], map_structure(replace, self.kwargs)


def is_symbolic(structure: Any) -> bool:
    return any(isinstance(leaf, SymbolicTensor) for leaf in flatten(structure))


# ------------------------------------------------------------ calling a layer
def call_symbolic(layer: Layer, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> Any:
    """Record ``layer(*args, **kwargs)`` as a node and return its symbolic outputs, shaped by :func:`output_shapes`.

    ``training`` is left out (the model's flag governs each run), and so is a ``mask`` of None.
    """
    kwargs = {
        name: value for name, value in kwargs.items() if name != "training" and not (name == "mask" and value is None)
    }
    bad = [leaf for leaf in flatten(args[0]) if not isinstance(leaf, SymbolicTensor)]
    if bad:
        raise TypeError(
            f"Layer {layer.name!r}: all inputs must be symbolic tensors when one is, received "
            f"{type(bad[0]).__name__}; {MIGRATION}."
        )
    constants = [leaf for leaf in flatten([list(args[1:]), kwargs]) if isinstance(leaf, (Tensor, np.ndarray))]
    if constants:
        raise TypeError(
            f"Layer {layer.name!r}: in a call on symbolic tensors, every array argument must be a symbolic tensor "
            f"too (an hn.Input), received a {type(constants[0]).__name__}; {MIGRATION}."
        )
    layer._maybe_build(list(args), kwargs)
    out_shapes = output_shapes(layer, list(args), kwargs)
    leaves = [t for t in flatten([list(args), kwargs]) if isinstance(t, SymbolicTensor)]
    dtype = leaves[0].dtype if leaves[0].dtype.startswith("float") else settings.floatx
    count = itertools.count()
    outputs = _map_shapes(lambda shape: SymbolicTensor(shape, dtype, None, next(count)), out_shapes)
    node = Node(layer, list(args), outputs, kwargs)
    for tensor in node.flat_outputs:
        tensor.node = node
        tensor.name = layer.name if len(node.flat_outputs) == 1 else f"{layer.name}/output_{tensor.index}"
    layer._inbound_nodes.append(node)
    return node.outputs


def output_shapes(layer: Layer, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """The output shape(s) of ``layer(*args, **kwargs)`` on symbolic tensors: ``compute_output_shape`` of the
    argument's shapes when the call has one argument, else found by calling the layer on zero-size arrays."""
    if len(args) == 1 and not kwargs:
        return layer.compute_output_shape(map_structure(lambda t: t.shape, args[0]))
    return _infer(layer, args, kwargs)


def infer_output_shape(layer: Layer, input_shapes: Any) -> Any:
    """The output shape(s) of ``layer`` for ``input_shapes``, found by calling it on zero-size arrays.

    The batch axis is 0; other unknown axes are 1, and then 2 in a second call:
    output axes that differ are unknown (None). Variable values and the random
    generator are restored afterwards, so the call has no side effects (the
    generator is not rewound when the call created weights).
    """
    return _infer(layer, [_map_shapes(lambda shape: SymbolicTensor(shape, settings.floatx), input_shapes)], {})


def _infer(layer: Layer, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """:func:`infer_output_shape` for a call on symbolic ``args`` and ``kwargs``."""
    shapes = [t.shape for t in flatten([args, kwargs]) if isinstance(t, SymbolicTensor)]
    batch = shapes[0][0] if shapes and shapes[0] else None

    def batch_back(shape: Shape) -> Shape:  # the batch axis of 0 becomes the inputs' again
        return ((batch,) + tuple(shape[1:])) if shape and shape[0] == 0 else tuple(shape)

    first = _run_on_zeros(layer, args, kwargs, 1)
    if not any(n is None for shape in shapes for n in shape[1:]):
        return _map_shapes(batch_back, first)
    second = _run_on_zeros(layer, args, kwargs, 2)
    merged = iter(
        tuple(a if a == b else None for a, b in zip(s1, s2)) for s1, s2 in zip(_shape_list(first), _shape_list(second))
    )
    return _map_shapes(lambda _: batch_back(next(merged)), first)


def is_shape(value: Any) -> bool:
    """Whether ``value`` is one shape (a tuple of ints and Nones), not a structure of shapes."""
    return isinstance(value, tuple) and all(n is None or isinstance(n, int) for n in value)


def _shape_list(shapes: Any) -> list[Shape]:
    """Shapes as a flat list: one shape or a structure of them."""
    if is_shape(shapes):
        return [shapes]
    return [shape for item in (shapes.values() if isinstance(shapes, dict) else shapes) for shape in _shape_list(item)]


def _run_on_zeros(layer: Layer, args: list[Any], kwargs: dict[str, Any], fill: int) -> Any:
    """The output shape(s) of ``layer`` on zeros for its symbolic arguments (batch 0, other unknown axes ``fill``)."""
    variables = layer.variables
    saved = [v.value for v in variables]
    generator_state = random.generator().bit_generator.state

    def zeros(leaf: Any) -> Any:
        if not isinstance(leaf, SymbolicTensor):
            return leaf
        return np.zeros((0,) + tuple(fill if n is None else n for n in leaf.shape[1:]), settings.floatx)

    try:
        with no_grad(), np.errstate(divide="ignore", invalid="ignore"):  # a mean over the empty batch is NaN
            out = layer(*map_structure(zeros, args), **map_structure(zeros, kwargs))
    except TypeError as error:
        shapes = map_structure(lambda t: t.shape if isinstance(t, SymbolicTensor) else t, args)
        raise TypeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) cannot be called on symbolic inputs of shape "
            f"{shapes[0] if len(shapes) == 1 else shapes}: {error}. Give the layer a compute_output_shape(input_shape) "
            f"method; {MIGRATION}."
        ) from error
    finally:
        for variable, value in zip(variables, saved):
            variable.value = value
        if len(layer.variables) == len(variables):  # draws that initialised new weights stay drawn
            random.generator().bit_generator.state = generator_state
    return map_structure(lambda t: tuple(t.shape), out) if isinstance(out, (list, tuple, dict)) else tuple(out.shape)


def _map_shapes(fn: Callable[[Shape], Any], shapes: Any) -> Any:
    """``fn`` applied to each shape of a shape or a structure of shapes."""
    if is_shape(shapes):
        return fn(shapes)
    if isinstance(shapes, dict):
        return {key: _map_shapes(fn, item) for key, item in shapes.items()}
    return [_map_shapes(fn, item) for item in shapes]
