"""Variables: the state of layers, optimizers and metrics.

A :class:`Variable` is a leaf :class:`~highnn.graph.Tensor` whose value can be
replaced with :meth:`Variable.assign`. Code that reads and assigns variables
looks stateful, yet the tracer (``highnn.tracing``) turns it into a pure
function ``(variable values, inputs) -> (new variable values, outputs)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from highnn.config import settings
from highnn.graph import Tensor, engine_state, no_grad, to_tensor


class Variable(Tensor):
    """A named, assignable leaf tensor; trainable ones receive gradients.

    A ``constraint`` (any ``w -> w`` callable, e.g. ``hn.constraints.NonNeg()``)
    is applied by optimizers right after each update. An ``autocast`` float variable
    is read in the compute dtype inside a mixed-precision layer's call
    (``hn.mixed_precision``), and kept and updated in its own dtype.

    >>> v = hn.Variable(np.zeros(3), name="bias")
    >>> v.assign(v + 1.0)
    """

    __slots__ = ("autocast", "constraint", "path", "trainable")

    def __init__(
        self,
        initial_value: Any,
        name: str,
        trainable: bool = True,
        dtype: str | None = None,
        path: str | None = None,
        constraint: Callable[[Tensor], Tensor] | None = None,
        autocast: bool = True,
    ) -> None:
        value = to_tensor(initial_value, dtype or _default_dtype(initial_value)).value
        super().__init__(value, requires_grad=trainable, name=name)
        self.trainable = trainable
        self.path = path or name
        self.constraint = constraint
        self.autocast = autocast

    def assign(self, value: Any) -> Variable:
        """Replace the value (shape and dtype stay)."""
        with no_grad():
            new = to_tensor(value).astype(self.dtype)
        if new.shape != self.shape:
            raise ValueError(
                f"Variable {self.path!r} has shape {self.shape}; cannot assign a value of shape {new.shape}."
            )
        tape = engine_state().tape
        if tape is not None:
            tape.assign(self, new)  # first, so the tape sees the value before
        self.value = new.value
        return self

    def assign_add(self, delta: Any) -> Variable:
        with no_grad():
            return self.assign(self + delta)

    def assign_sub(self, delta: Any) -> Variable:
        with no_grad():
            return self.assign(self - delta)

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


def assign_all(owner: str, variables: Sequence[Variable], values: Sequence[Any]) -> None:
    """Assign ``values`` to ``variables`` in order, once the count and every shape are checked."""
    if len(values) != len(variables):
        raise ValueError(f"{owner}: `weights` must be a list of {len(variables)} arrays, received {len(values)}.")
    for variable, value in zip(variables, values):
        if tuple(np.shape(value)) != variable.shape:
            raise ValueError(
                f"{owner}: weight {variable.path!r} has shape {variable.shape}, "
                f"received an array of shape {tuple(np.shape(value))}."
            )
    for variable, value in zip(variables, values):
        variable.assign(np.asarray(value))


def _default_dtype(value: Any) -> str | None:
    if isinstance(value, Tensor):
        return value.dtype
    kind = np.asarray(value).dtype.kind
    return settings.floatx if kind == "f" else None
