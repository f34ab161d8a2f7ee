"""Look-up of objects by the strings users write (``"relu"``, ``"adam"``, ...)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def lookup(kind: str, identifier: str, table: Mapping[str, T]) -> T:
    """``table[identifier]`` or a ValueError naming ``kind``, the bad string and the valid ones."""
    for key in (identifier, identifier.lower() if isinstance(identifier, str) else identifier):
        if key in table:
            return table[key]
    close = difflib.get_close_matches(str(identifier), list(table), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown {kind}: {identifier!r}.{hint} Valid {kind}s are: {', '.join(sorted(table))}.")


def class_name_table(*classes: type) -> dict[str, type]:
    """Classes keyed by their name, as configs and saved files refer to them."""
    return {cls.__name__: cls for cls in classes}


def check_type(argument: str, value: Any, expected: str, ok: bool) -> None:
    """Raise TypeError naming ``argument``, what it should be and what it is, unless ``ok``."""
    if not ok:
        raise TypeError(f"`{argument}` must be {expected}, received {value!r} of type {type(value).__name__}.")
