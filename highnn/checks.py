"""Argument checks in one voice: ``Owner: `argument` must be <expected>, received <value>.``

Every public constructor and function validates its arguments here before it
changes any state, so a mistake is reported where it was made, naming the
argument, what was expected and what was received. A wrong *type* raises
``TypeError``; a value of the right type out of range raises ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any, NoReturn


def fail(owner: str, argument: str, expected: str, value: Any, error: type[Exception] = ValueError) -> NoReturn:
    """Raise ``error`` in the house voice; the received type is named for a TypeError."""
    received = f"{value!r:.200}" + (f" of type {type(value).__name__}" if error is TypeError else "")
    raise error(f"{owner}: `{argument}` must be {expected}, received {received}.")


def describe_range(
    low: float, high: float, low_open: bool = False, high_open: bool = False, kind: str = "a number"
) -> str:
    """``"a number in [0, 1)"``, ``"a number >= 0"``, ``"a finite number"``: the expected-value phrase."""
    if low == -math.inf and high == math.inf:
        return "a finite number" if kind == "a number" else kind
    if high == math.inf:
        return f"{kind} {'>' if low_open else '>='} {_bound(low)}"
    if low == -math.inf:
        return f"{kind} {'<' if high_open else '<='} {_bound(high)}"
    return f"{kind} in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"


def _bound(value: float) -> str:
    """Whole bounds print as integers (``4294967295``, not ``4.29497e+09``)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def is_real(value: Any) -> bool:
    """A real number that is not a bool (NumPy scalars included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """An integer that is not a bool (NumPy integers included)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_number(
    owner: str,
    argument: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number in the range (bounds included unless open).

    >>> check_number("Adam", "beta_1", 0.9, 0.0, 1.0, high_open=True)
    0.9
    """
    expected = describe_range(low, high, low_open, high_open)
    if not is_real(value):
        fail(owner, argument, expected, value, TypeError)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        fail(owner, argument, expected, value)
    return float(value)


def check_integer(owner: str, argument: str, value: Any, low: float = -math.inf, high: float = math.inf) -> int:
    """``value`` as an int if it is an integer (not a bool) in ``[low, high]``."""
    expected = describe_range(low, high, kind="an integer")
    if not is_integer(value):
        fail(owner, argument, expected, value, TypeError)
    if not low <= value <= high:
        fail(owner, argument, expected, value)
    return int(value)


def check_bool(owner: str, argument: str, value: Any) -> bool:
    """``value`` if it is a bool (``amsgrad="yes"`` is a mistake, not ``True``)."""
    if not isinstance(value, bool):
        fail(owner, argument, "True or False", value, TypeError)
    return value


def check_choice(owner: str, argument: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        fail(owner, argument, f"one of {', '.join(map(repr, choices))}", value)
    return value


def check_seed(owner: str, value: Any) -> int | None:
    """``value`` as an int if it is None or an integer in ``[0, 2**32)``."""
    if value is None:
        return None
    return check_integer(owner, "seed", value, 0, 2**32 - 1)


def check_axes(owner: str, value: Any, allow_many: bool = False) -> int | tuple[int, ...]:
    """``value`` as an int, or (when ``allow_many``) a non-empty list or tuple of distinct ints as a tuple."""
    if is_integer(value):
        return int(value)
    many = allow_many and isinstance(value, (list, tuple)) and value and all(is_integer(a) for a in value)
    if many and len(set(value)) == len(value):
        return tuple(int(a) for a in value)
    expected = "an integer or a non-empty list of distinct integers" if allow_many else "an integer"
    fail(owner, "axis", expected, value, TypeError)


def missing_attribute(module: str, name: str, kind: str) -> AttributeError:
    """The error for ``module.name`` that highnn does not define: names it and points to the migration page."""
    if name.startswith("__"):  # Python's own probes (``__path__``, ``__wrapped__``): the plain error
        return AttributeError(f"module {module!r} has no attribute {name!r}")
    return AttributeError(
        f"{module} has no {kind} {name!r}: it is not among the Keras {kind}s highnn provides; "
        "see docs/keras-migration.md for what is and is not supported."
    )
