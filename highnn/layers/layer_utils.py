"""Helpers the layer modules share: argument checks, input specs and config entries for weight arguments."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from highnn import initializers, regularizers

Shape = tuple[int | None, ...]


def check_number(
    owner: str,
    argument: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    high_inclusive: bool = True,
) -> float:
    """``value`` as a float, or an error naming ``owner``, ``argument``, what was expected and ``value``.

    The valid range is ``[low, high]`` (``[low, high)`` with
    ``high_inclusive=False``); a None bound is no limit.
    """
    if low is None:
        expected = "a number"
    elif high is None:
        expected = f"a number >= {low}"
    else:
        expected = f"a number in [{low}, {high}{']' if high_inclusive else ')'}"
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool) or math.isnan(value):
        raise TypeError(f"{owner}: `{argument}` must be {expected}, received {value!r} of type {type(value).__name__}.")
    below = low is not None and value < low
    above = high is not None and (value > high or (value == high and not high_inclusive))
    if below or above:
        raise ValueError(f"{owner}: `{argument}` must be {expected}, received {value!r}.")
    return float(value)


def check_seed(owner: str, seed: Any) -> int | None:
    """``seed`` if it is None or an integer, else a TypeError naming ``owner``."""
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise TypeError(f"{owner}: `seed` must be an integer or None, received {seed!r} of type {type(seed).__name__}.")
    return None if seed is None else int(seed)


def check_axes(owner: str, axis: Any, allow_many: bool = False) -> int | tuple[int, ...]:
    """``axis`` as an int (or a tuple of distinct ints when ``allow_many``), else a TypeError naming ``owner``."""
    is_int = isinstance(axis, int) and not isinstance(axis, bool)
    many = (
        allow_many
        and isinstance(axis, (list, tuple))
        and axis
        and all(isinstance(a, int) and not isinstance(a, bool) for a in axis)
    )
    if is_int:
        return axis
    if many and len(set(axis)) == len(axis):
        return tuple(axis)
    expected = "an integer or a non-empty list of distinct integers" if allow_many else "an integer"
    raise TypeError(f"{owner}: `axis` must be {expected}, received {axis!r}.")


def resolve_axes(owner: str, axes: int | tuple[int, ...], input_shape: Shape) -> tuple[int, ...]:
    """``axes`` as sorted non-negative positions in ``input_shape``, or a ValueError if one is out of range."""
    ndim = len(input_shape)
    for axis in (axes,) if isinstance(axes, int) else axes:
        if not -ndim <= axis < ndim:
            raise ValueError(
                f"{owner}: `axis` {axis} is out of range for an input of shape {tuple(input_shape)} ({ndim} dimensions)."
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


def serialize_weight_arguments(
    layer: Any, initializer_names: Iterable[str], regularizer_names: Iterable[str]
) -> dict[str, Any]:
    """The config entries of a layer's initializer and regularizer arguments."""
    config = {name: initializers.serialize(getattr(layer, name)) for name in initializer_names}
    config.update({name: regularizers.serialize(getattr(layer, name)) for name in regularizer_names})
    return config


def deserialize_weight_arguments(
    config: dict[str, Any], initializer_names: Iterable[str], regularizer_names: Iterable[str]
) -> dict[str, Any]:
    """``config`` with its initializer and regularizer entries turned back into objects."""
    config = dict(config)
    for name in initializer_names:
        if isinstance(config.get(name), dict):
            config[name] = initializers.deserialize(config[name])
    for name in regularizer_names:
        if isinstance(config.get(name), dict):
            config[name] = regularizers.deserialize(config[name])
    return config
