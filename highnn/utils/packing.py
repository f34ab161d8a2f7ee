"""What a training step receives: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``, as in Keras."""

from __future__ import annotations

from typing import Any


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """The ``data`` a step receives: ``x`` alone (a tuple ``(x,)`` when ``x`` is itself a list or tuple),
    ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """``(x, y, sample_weight)`` from a step's ``data``, None for what it lacks.

    >>> unpack_x_y_sample_weight((x, y))
    (x, y, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(
        "unpack_x_y_sample_weight: `data` must be x, (x,), (x, y) or (x, y, sample_weight), "
        f"received a tuple of {len(data)} items."
    )
