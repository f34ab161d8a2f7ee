"""Keras's generic recurrence: ``RNN(cell)`` runs any cell over time, and the cells of the built-in layers.

A cell is a layer whose ``call(inputs, states, training=False)`` takes one time
step ``(batch, features)`` and a list of states ``(batch, size)`` and returns
``(output, new_states)``; its ``state_size`` is an integer or a list of them
(nested for :class:`StackedRNNCells`), and ``output_size`` (optional) the
output's size. :class:`RNN` traces the cell's step once into the ``scan``
primitive, as the built-in recurrent layers do (``highnn.scan``): the cell's
weights enter the step as operands, read in place of its variables
(``highnn.graph.substituted``), so their gradients come from highnn's engine and
a sequence of 500 steps traces as fast as one of 5. A cell's step must not
draw random numbers or assign variables; the built-in cells' dropout masks are
drawn once per sequence, before the scan, as Keras draws them.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from highnn.checks import fail, is_integer
from highnn.graph import Tensor, substituted, to_tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import InputSpec, Shape
from highnn.layers.recurrent import (
    GRU,
    LSTM,
    Recurrence,
    Recurrent,
    SimpleRNN,
    Wrapper,
    as_list,
    join,
    split_sizes,
)
from highnn.nest import flatten
from highnn.scan import ScanBody, scan

#: the recurrent layers' arguments about the whole sequence, which a cell (one step) does not take
SEQUENCE_ARGUMENTS = frozenset({"return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                                "zero_output_for_mask", "use_cudnn", "implementation"})  # fmt: skip


class RecurrentCell(Recurrent):
    """What SimpleRNNCell, LSTMCell and GRUCell share: their layer's weights and arguments, one step at a time."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        refused = sorted(SEQUENCE_ARGUMENTS & set(kwargs))
        if refused:
            raise TypeError(
                f"{type(self).__name__}: a cell runs one time step and takes no `{refused[0]}`; give the sequence "
                "arguments to the RNN layer that runs it."
            )
        super().__init__(units, **kwargs)
        #: the dropout factors of the sequence being run (set by RNN around its traced step), else drawn per call
        self.sequence_masks: tuple[Tensor | None, Tensor | None] | None = None

    @property
    def state_size(self) -> int | list[int]:
        return self.units if self.STATES == 1 else [self.units] * self.STATES

    __call__ = Layer.__call__  # a cell is called on one step and its states: cell(inputs, states)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} steps through inputs of shape (batch, features), received "
                f"{tuple(input_shape)}."
            )
        super().build((input_shape[0], None, input_shape[-1]))
        self.input_spec = InputSpec(ndim=2, axes={-1: int(input_shape[-1])})

    def dropout_masks(self, batch: int, features: int, training: bool) -> tuple[Tensor | None, Tensor | None]:
        """The factors that drop inputs and recurrent states (None where there is no dropout), as Keras draws them
        once per sequence."""
        if not training:
            return None, None
        inputs = self._dropout_mask((batch, features), self.dropout) if self.dropout > 0 else None
        recurrent = self._dropout_mask((batch, self.units), self.recurrent_dropout) if self.recurrent_dropout else None
        return inputs, recurrent

    def call(  # type: ignore[override]
        self, inputs: Tensor, states: Any, training: bool = False
    ) -> tuple[Tensor, list[Tensor]]:
        states = as_list(states)
        masks = self.sequence_masks or self.dropout_masks(inputs.shape[0], inputs.shape[-1], training)
        if masks[0] is not None:
            inputs = inputs * masks[0]
        h = states[0] if masks[1] is None else states[0] * masks[1]
        new = self.cell(h, states, self.input_projection(inputs, self.input_weights()), self.recurrent_constants())
        return new[0], new

    def compute_output_shape(self, input_shape: Shape) -> Any:
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        return {name: value for name, value in config.items() if name not in SEQUENCE_ARGUMENTS}


class SimpleRNNCell(RecurrentCell, SimpleRNN):
    """One step of SimpleRNN: ``h = activation(x @ kernel + h @ recurrent_kernel + bias)``, output ``h``.

    >>> hn.layers.RNN(hn.layers.SimpleRNNCell(8))(np.ones((2, 5, 3))).shape
    (2, 8)
    """


class LSTMCell(RecurrentCell, LSTM):
    """One step of LSTM (Keras's gate order ``i, f, c, o``); states ``[h, c]``, output ``h``."""


class GRUCell(RecurrentCell, GRU):
    """One step of GRU (Keras's gate order ``z, r, h``, ``reset_after=True`` by default); state and output ``h``."""


class StackedRNNCells(Layer):
    """Cells run one after the other at each time step, each on the previous one's output (Keras's layer):
    ``RNN([LSTMCell(8), LSTMCell(4)])`` is a two-layer LSTM in one scan. Its states are each cell's."""

    def __init__(self, cells: Sequence[Layer], **kwargs: Any) -> None:
        if not isinstance(cells, (list, tuple)) or not cells:
            fail("StackedRNNCells", "cells", "a non-empty list of RNN cells", cells, TypeError)
        for cell in cells:
            _check_cell("StackedRNNCells", "cells", cell)
        super().__init__(**kwargs)
        self.cells = list(cells)
        for cell in self.cells:  # tracked as sublayers, in order
            self._layers.append(cell)

    @property
    def state_size(self) -> list[Any]:
        return [state_size_of(cell) for cell in self.cells]

    @property
    def output_size(self) -> int:
        return output_size_of(self.cells[-1])

    def build(self, input_shape: Shape) -> None:
        for cell in self.cells:
            if not cell.built:
                cell.build(tuple(input_shape))
                cell.built = True
            input_shape = (input_shape[0], output_size_of(cell))

    def call(self, inputs: Tensor, states: Any, training: bool = False) -> tuple[Tensor, list[Any]]:  # type: ignore[override]
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            inputs, new = call_cell(cell, inputs, as_list(cell_states), training)
            new_states.append(new)
        return inputs, new_states

    def get_config(self) -> dict[str, Any]:
        cells = [{"class_name": type(cell).__name__, "config": cell.get_config()} for cell in self.cells]
        return {**super().get_config(), "cells": cells}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**{**config, "cells": [Wrapper.inner(cell) for cell in config["cells"]]})


class RNN(Recurrence):
    """Runs ``cell`` over the time axis of ``(batch, time, features)`` inputs (Keras's layer; a list of cells is a
    :class:`StackedRNNCells`). The arguments about the sequence are the built-in layers': ``return_sequences``,
    ``return_state`` (the output, then every state), ``go_backwards``, ``zero_output_for_mask``; masks skip steps
    (the states carry through, the output repeats); ``initial_state`` is a call argument.

    >>> class MinimalCell(hn.layers.Layer):
    ...     state_size = 4
    ...     def build(self, input_shape):
    ...         self.kernel = self.add_weight((input_shape[-1], 4), name="kernel")
    ...         self.recurrent_kernel = self.add_weight((4, 4), name="recurrent_kernel")
    ...     def call(self, inputs, states):
    ...         h = hn.ops.tanh(inputs @ self.kernel + states[0] @ self.recurrent_kernel)
    ...         return h, [h]
    >>> hn.layers.RNN(MinimalCell(), return_sequences=True)(np.ones((2, 5, 3))).shape
    (2, 5, 4)
    """

    def __init__(self, cell: Layer | Sequence[Layer], **kwargs: Any) -> None:
        """``kwargs``: the sequence arguments of :class:`~highnn.layers.recurrent.Recurrence` and the layer's."""
        the_cell: Any = StackedRNNCells(cell) if isinstance(cell, (list, tuple)) else cell
        _check_cell("RNN", "cell", the_cell)
        super().__init__(**kwargs)
        self.cell: Layer = the_cell
        self._bodies: dict[tuple[Any, ...], ScanBody] = {}

    @property
    def cells(self) -> list[Layer]:
        """The cells the step runs: a stack's, or the one cell."""
        return self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]

    @property
    def state_sizes(self) -> list[int]:
        return [int(n) for n in flatten(state_size_of(self.cell))]

    @property
    def output_size(self) -> int:
        return output_size_of(self.cell)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"RNN {self.name!r} needs inputs of shape (batch, timesteps, features), received {tuple(input_shape)}."
            )
        if not self.cell.built:
            self.cell.build((input_shape[0], input_shape[-1]))
            self.cell.built = True
        self.input_spec = InputSpec(ndim=3, axes={-1: int(input_shape[-1])})
        self.build_states(input_shape)

    def default_states(self, batch: int, dtype: str) -> list[Tensor]:
        """The cell's ``get_initial_state(batch_size)`` where it has one, else zeros."""
        make = getattr(self.cell, "get_initial_state", None)
        if make is None:
            return super().default_states(batch, dtype)
        return [to_tensor(s, dtype) for s in flatten(make(batch))]

    def call(
        self, inputs: Tensor, training: bool = False, mask: Tensor | None = None, initial_state: Any = None
    ) -> Any:
        """The sequence's outputs; ``mask`` is ``(batch, timesteps)``, False at padding; ``initial_state`` a list of
        states in the cell's (flattened) order."""
        batch, sizes = inputs.shape[0], self.state_sizes
        scanned = self.time_major(inputs, mask)
        masks = [_dropout(cell, batch, training) for cell in self.cells]
        drawn = [m for pair in masks for m in pair if m is not None]
        body = self._body(mask is not None, tuple((a is not None, b is not None) for a, b in masks), training)
        start = join(
            [
                to_tensor(np.zeros((batch, self.output_size)), inputs.dtype),
                *self.initial_states(batch, inputs.dtype, initial_state),
            ]
        )
        carries = scan(body, start, scanned, [*self.weights_read(), *drawn])
        return self.outputs(carries, scanned, split_sizes(carries[-1], [self.output_size, *sizes])[1:])

    def group_states(self, states: list[Any]) -> list[Any]:
        """Stacked cells' states as one list per cell (Keras's structure); a single cell's in order."""
        if not isinstance(self.cell, StackedRNNCells):
            return states
        flat = iter(states)
        return [[next(flat) for _ in flatten(state_size_of(cell))] for cell in self.cells]

    def weights_read(self) -> list[Tensor]:
        """The cell's float variables: the scan's operands its step reads in their place."""
        return [w for w in self.cell.variables if w.dtype.startswith(("float", "bfloat"))]

    def _body(self, masked: bool, dropout: tuple[tuple[bool, bool], ...], training: bool) -> ScanBody:
        """The traced step, one per combination of mask, dropout factors and training flag; its carry is the
        step's output and then every state."""
        key = (masked, dropout, training)
        if key not in self._bodies:
            cell, cells, sizes, width = self.cell, self.cells, self.state_sizes, self.output_size
            variables = self.weights_read()

            def step(carry: Tensor, x_t: Tensor, *rest: Tensor) -> Tensor:
                mask_t, rest = (rest[0], rest[1:]) if masked else (None, rest)
                weights, drawn = list(rest[: len(variables)]), iter(rest[len(variables) :])
                for each, (has_inputs, has_recurrent) in zip(cells, dropout):
                    if isinstance(each, RecurrentCell):
                        each.sequence_masks = (next(drawn) if has_inputs else None,
                                               next(drawn) if has_recurrent else None)  # fmt: skip
                try:
                    states = _nest(split_sizes(carry, [width, *sizes])[1:], state_size_of(cell))
                    with substituted(list(zip(variables, weights))):
                        output, new_states = call_cell(cell, x_t, states, training)
                finally:
                    for each in cells:
                        if isinstance(each, RecurrentCell):
                            each.sequence_masks = None
                new = join([output, *flatten(new_states)])
                return new if mask_t is None else mask_t * new + (1.0 - mask_t) * carry

            step.__name__ = f"{self.name}_step"
            self._bodies[key] = ScanBody(step)
        return self._bodies[key]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "cell": {"class_name": type(self.cell).__name__, "config": self.cell.get_config()},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**{**config, "cell": Wrapper.inner(config["cell"])})


def _check_cell(owner: str, argument: str, cell: Any) -> None:
    """A Layer with ``state_size`` and ``call(inputs, states, ...)``, or a clear error."""
    if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
        fail(owner, argument, "an RNN cell: a Layer with a `state_size` and call(inputs, states)", cell, TypeError)
    sizes = flatten(state_size_of(cell))
    if not sizes or not all(is_integer(n) and n > 0 for n in sizes):
        fail(owner, f"{argument}.state_size", "a positive integer or a list of them", state_size_of(cell))


def state_size_of(cell: Any) -> Any:
    """A cell's ``state_size``: an integer, or a list of them (nested for stacked cells)."""
    return cell.state_size


def output_size_of(cell: Any) -> int:
    """A cell's ``output_size``, or the size of its first state (Keras's rule)."""
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else int(flatten(state_size_of(cell))[0])


def call_cell(cell: Layer, inputs: Tensor, states: Any, training: bool) -> tuple[Tensor, Any]:
    """``cell.call(inputs, states)`` (with ``training`` where its call takes it); new states as a list."""
    takes_training = "training" in inspect.signature(cell.call).parameters
    result: Any = cell.call(inputs, states, training=training) if takes_training else cell.call(inputs, states)
    output, new_states = result
    return output, new_states if isinstance(new_states, (list, tuple)) else [new_states]


def _dropout(cell: Layer, batch: int, training: bool) -> tuple[Tensor | None, Tensor | None]:
    """A built-in cell's dropout factors for this sequence, drawn before the scan (none for other cells)."""
    if not isinstance(cell, RecurrentCell):
        return None, None
    assert cell.input_spec is not None  # built by RNN.build
    return cell.dropout_masks(batch, int(cell.input_spec.axes[-1]), training)


def _nest(flat: list[Any], structure: Any) -> Any:
    """``flat`` shaped like the state-size ``structure`` (a list of states for an int, as Keras passes them)."""
    leaves = iter(flat)

    def build(part: Any) -> Any:
        return [build(item) for item in part] if isinstance(part, (list, tuple)) else next(leaves)

    return build(structure) if isinstance(structure, (list, tuple)) else [next(leaves)]
