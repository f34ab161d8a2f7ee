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


def serialize(obj: Any) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``: how configs and saved files describe an object."""
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def allowed_classes(classes: Mapping[str, type], custom_objects: Mapping[str, Any] | None, base: type) -> dict[str, type]:
    """The allow-list: the built-in ``classes`` plus the ``base`` subclasses in ``custom_objects``."""
    custom = {name: cls for name, cls in (custom_objects or {}).items() if isinstance(cls, type) and issubclass(cls, base)}
    return {**classes, **custom}


def deserialize(kind: str, config: Any, classes: Mapping[str, type], *from_config_args: Any) -> Any:
    """The object :func:`serialize` described, built only from a class in ``classes`` (an allow-list)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A serialized {kind} must be a dict with a 'class_name' key, received {config!r:.200}.")
    return lookup(kind, config["class_name"], classes).from_config(config.get("config", {}), *from_config_args)


def resolve(kind: str, argument: str, identifier: Any, base: type[T], names: Mapping[str, Any], classes: Mapping[str, type] | None = None) -> T:
    """An instance of ``base`` from an instance, a subclass, a config dict (with ``classes``) or a name in ``names``."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if isinstance(identifier, dict) and classes is not None:
        return deserialize(kind, identifier, classes)
    if isinstance(identifier, str):
        return lookup(kind, identifier, names)()
    raise TypeError(f"`{argument}` must be a string or a {base.__name__}, received {identifier!r} of type {type(identifier).__name__}.")
