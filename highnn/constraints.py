"""Weight constraints (Keras 3 names, arguments and formulas): projections applied after each optimizer step.

A layer stores the constraint given for a weight (``kernel_constraint=``, ...) on
that weight, and the optimizer assigns ``constraint(weight)`` right after each
update, inside the traced train step, so the projection is compiled with it.

>>> hn.layers.Dense(4, kernel_constraint="non_neg")
>>> hn.layers.Dense(4, kernel_constraint=hn.constraints.MaxNorm(max_value=2.0))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from highnn.checks import check_axes, check_number, fail
from highnn.config import epsilon
from highnn.graph import Tensor
from highnn.ops.composites import clip
from highnn.ops.primitives import maximum, sqrt, sum, to_tensor
from highnn.registry import Registry

Axis = int | list[int]


class Constraint:
    """``constraint(w) -> w projected``; the base class returns ``w`` unchanged.

    >>> class Clipped(hn.constraints.Constraint):
    ...     def __call__(self, w):
    ...         return hn.ops.clip(w, -1.0, 1.0)
    """

    def __call__(self, w: Any) -> Tensor:
        return to_tensor(w)

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)


def norm_axes(owner: str, axis: Any) -> Axis:
    """``axis`` as an int or a list of distinct ints (the axes a norm is taken over; a list as configs store it)."""
    axes = check_axes(owner, axis, allow_many=True)
    return axes if isinstance(axes, int) else list(axes)


def norms(w: Tensor, axis: Axis) -> Tensor:
    """The L2 norm of ``w`` over ``axis``, keeping the reduced axes with length 1."""
    return sqrt(sum(w * w, axis=axis if isinstance(axis, int) else tuple(axis), keepdims=True))


class NonNeg(Constraint):
    """Non-negative weights: ``max(w, 0)``."""

    def __call__(self, w: Any) -> Tensor:
        return maximum(to_tensor(w), 0.0)


class MaxNorm(Constraint):
    """The weights incident to each unit (those along ``axis``) rescaled to a norm of at most ``max_value``.

    ``w * clip(norm, 0, max_value) / (norm + epsilon)``; for a Dense kernel
    ``(inputs, units)``, ``axis=0`` constrains each unit's incoming weights.
    """

    def __init__(self, max_value: float = 2, axis: Axis = 0) -> None:
        self.max_value = check_number("MaxNorm", "max_value", max_value, 0.0)
        self.axis = norm_axes("MaxNorm", axis)

    def __call__(self, w: Any) -> Tensor:
        w = to_tensor(w)
        norm = norms(w, self.axis)
        return w * (clip(norm, 0.0, self.max_value) / (norm + epsilon()))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """The norms along ``axis`` moved towards ``[min_value, max_value]``.

    The new norm is ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm``:
    ``rate=1`` enforces the bounds at once, a smaller rate approaches them step by step.
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Axis = 0) -> None:
        self.min_value = check_number("MinMaxNorm", "min_value", min_value, 0.0)
        self.max_value = check_number("MinMaxNorm", "max_value", max_value, self.min_value)
        self.rate = check_number("MinMaxNorm", "rate", rate, 0.0, 1.0)
        self.axis = norm_axes("MinMaxNorm", axis)

    def __call__(self, w: Any) -> Tensor:
        w = to_tensor(w)
        norm = norms(w, self.axis)
        desired = clip(norm, self.min_value, self.max_value) * self.rate + norm * (1.0 - self.rate)
        return w * (desired / (norm + epsilon()))

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class UnitNorm(Constraint):
    """The weights along ``axis`` divided by their norm: ``w / (norm + epsilon)``."""

    def __init__(self, axis: Axis = 0) -> None:
        self.axis = norm_axes("UnitNorm", axis)

    def __call__(self, w: Any) -> Tensor:
        w = to_tensor(w)
        return w / (norms(w, self.axis) + epsilon())

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


ConstraintFunction = Callable[[Tensor], Tensor]
ConstraintLike = str | Constraint | type[Constraint] | dict[str, Any] | ConstraintFunction | None

CONSTRAINTS: Registry[Constraint] = Registry("constraint", Constraint)
CONSTRAINTS.register(Constraint)
CONSTRAINTS.register(NonNeg, "non_neg")
CONSTRAINTS.register(MaxNorm, "max_norm")
CONSTRAINTS.register(MinMaxNorm, "min_max_norm")
CONSTRAINTS.register(UnitNorm, "unit_norm")


def get(identifier: ConstraintLike) -> ConstraintFunction | None:
    """A constraint from a name (``"non_neg"``), a config, a class, an instance or a function; None stays None."""
    return CONSTRAINTS.get(identifier)


def serialize(constraint: ConstraintFunction | None) -> dict[str, Any] | None:
    """``{"class_name": ..., "config": ...}`` of a Constraint (None for None); a plain function cannot be saved."""
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        fail(
            "constraints.serialize", "constraint", "a Constraint (subclass it to save your own)", constraint, TypeError
        )
    return CONSTRAINTS.serialize(constraint)


def deserialize(config: dict[str, Any] | None, custom_objects: Mapping[str, Any] | None = None) -> Constraint | None:
    return None if config is None else CONSTRAINTS.deserialize(config, custom_objects)
