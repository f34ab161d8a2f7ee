"""Helpers the layer modules share: axis checks, input specs and config entries for weight arguments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from highnn import constraints, initializers, regularizers
from highnn.registry import Registry

Shape = tuple[int | None, ...]


def axis_config(axis: int | tuple[int, ...]) -> int | list[int]:
    """An ``axis`` argument as a config holds it: an integer, or a list (JSON has no tuples)."""
    return list(axis) if isinstance(axis, tuple) else axis


def resolve_axes(owner: str, axes: int | tuple[int, ...], input_shape: Shape) -> tuple[int, ...]:
    """``axes`` as sorted non-negative positions in ``input_shape``, or a ValueError if one is out of range."""
    ndim = len(input_shape)
    for axis in (axes,) if isinstance(axes, int) else axes:
        if not -ndim <= axis < ndim:
            raise ValueError(
                f"{owner}: `axis` {axis} is out of range for an input of shape {tuple(input_shape)} "
                f"({ndim} dimensions)."
            )
    resolved = sorted({a % ndim for a in ((axes,) if isinstance(axes, int) else axes)})
    if len(resolved) != (1 if isinstance(axes, int) else len(axes)):
        raise ValueError(f"{owner}: `axis` {axes!r} names one axis twice for an input of shape {tuple(input_shape)}.")
    return tuple(resolved)


@dataclass(frozen=True)
class InputSpec:
    """What a built layer requires of its inputs: the number of dimensions and the sizes of some axes."""

    ndim: int
    axes: dict[int, int] = field(default_factory=dict)

    def check(self, layer_name: str, shape: Shape) -> None:
        """Raise the Keras-style incompatibility error if ``shape`` does not fit."""
        if len(shape) != self.ndim:
            raise ValueError(
                f"Input 0 of layer {layer_name!r} is incompatible with the layer: expected ndim={self.ndim}, "
                f"found ndim={len(shape)}. Full shape received: {tuple(shape)}."
            )
        for axis, size in self.axes.items():
            if shape[axis] != size:
                raise ValueError(
                    f"Input 0 of layer {layer_name!r} is incompatible with the layer: expected axis {axis} of input "
                    f"shape to have value {size}, but received input with shape {tuple(shape)}."
                )


#: the registry of each kind of weight argument, by the suffix of the argument's name
WEIGHT_ARGUMENT_KINDS: dict[str, Registry[Any]] = {
    "_initializer": initializers.INITIALIZERS,
    "_regularizer": regularizers.REGULARIZERS,
    "_constraint": constraints.CONSTRAINTS,
}
#: how a weight argument given by name, config, class, instance (or array, for initializers) becomes its object
_GETTERS = {"_initializer": initializers.get, "_regularizer": regularizers.get, "_constraint": constraints.get}


def _by_suffix(table: dict[str, Any], name: str) -> Any:
    return next(entry for suffix, entry in table.items() if name.endswith(suffix))


def weight_argument_registry(name: str) -> Registry[Any]:
    """The registry for a weight argument such as ``kernel_initializer`` or ``bias_constraint``."""
    return _by_suffix(WEIGHT_ARGUMENT_KINDS, name)


def resolve_weight_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Initializer, regularizer and constraint arguments (``{"kernel_initializer": "zeros", ...}``) as objects."""
    return {name: _by_suffix(_GETTERS, name)(value) for name, value in arguments.items()}


def serialize_weight_arguments(layer: Any, names: Iterable[str]) -> dict[str, Any]:
    """The config entries of a layer's initializer, regularizer and constraint arguments (None stays None)."""
    config = {}
    for name in names:
        value = getattr(layer, name)
        config[name] = None if value is None else weight_argument_registry(name).serialize(value)
    return config


def deserialize_weight_arguments(config: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``config`` with its initializer, regularizer and constraint entries turned back into objects."""
    config = dict(config)
    for name in names:
        if isinstance(config.get(name), dict):
            config[name] = weight_argument_registry(name).deserialize(config[name])
    return config
