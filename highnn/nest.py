"""Nested structures of values: lists, tuples and dicts of leaves (tensors, arrays, shapes), as a model's inputs
and outputs, a recurrent layer's states or a loop's variables come."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def flatten(structure: Any) -> list[Any]:
    """The leaves of a structure of lists, tuples and dicts (dicts in key order as given)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten(item)]
    return [structure]


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    """The same structure with ``fn`` applied to every leaf (tuples become lists)."""
    if isinstance(structure, (list, tuple)):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, dict):
        return {key: map_structure(fn, item) for key, item in structure.items()}
    return fn(structure)


def map_together(fn: Callable[..., Any], *structures: Any) -> Any:
    """``fn`` applied leaf by leaf to structures of one shape, each list, tuple and dict kept as it is."""
    first = structures[0]
    if isinstance(first, (list, tuple)):
        return type(first)(map_together(fn, *parts) for parts in zip(*structures, strict=True))
    if isinstance(first, dict):
        return {key: map_together(fn, *(s[key] for s in structures)) for key in first}
    return fn(*structures)
