"""Checks for the hyperparameters of optimizers and schedules, with errors that name the argument."""

from __future__ import annotations

import math
from typing import Any


def check_number(
    owner: str,
    argument: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float, or an error unless it is a finite number between ``low`` and ``high``.

    The bounds are included unless ``low_open``/``high_open``: ``check_number("Adam", "beta_1", b, 0, 1,
    high_open=True)`` accepts ``0 <= b < 1``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{owner}: `{argument}` must be {_describe(low, high, low_open, high_open)}, received {value!r} of type {type(value).__name__}."
        )
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        raise ValueError(
            f"{owner}: `{argument}` must be {_describe(low, high, low_open, high_open)}, received {value!r}."
        )
    return float(value)


def check_flag(owner: str, argument: str, value: Any) -> bool:
    """``value`` unless it is not a bool (``amsgrad="yes"`` is a mistake, not ``True``)."""
    if not isinstance(value, bool):
        raise TypeError(
            f"{owner}: `{argument}` must be True or False, received {value!r} of type {type(value).__name__}."
        )
    return value


def _describe(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if low == -math.inf and high == math.inf:
        return "a finite number"
    if high == math.inf:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if low == -math.inf:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
