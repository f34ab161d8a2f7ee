"""One registry for every kind of named object: look-up, serialization and the allow-list.

Initializers, regularizers, constraints, losses, metrics, optimizers, schedules,
activations and layers each keep one :class:`Registry`. It resolves what users
write (``"adam"``, ``{"class_name": "Adam", "config": {...}}``, a class, an
instance, a function, or ``None``) the way Keras's ``get()`` does, and builds
objects from saved configs only out of the classes registered with it (plus the
``custom_objects`` a caller names): never an import path, never pickle.

>>> OPTIMIZERS = Registry("optimizer", Optimizer)
>>> OPTIMIZERS.register(Adam, "adam")
>>> OPTIMIZERS.get("adam")          # a fresh Adam()
>>> OPTIMIZERS.get(None)            # None, as in Keras
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def lookup(kind: str, identifier: str, table: Mapping[str, T]) -> T:
    """``table[identifier]`` (exact, then ignoring case) or a ValueError naming ``kind`` and the valid names."""
    if identifier in table:
        return table[identifier]
    folded = {key.lower(): key for key in table}
    wanted = str(identifier).lower()
    if isinstance(identifier, str) and wanted in folded:
        return table[folded[wanted]]
    close = difflib.get_close_matches(wanted, list(folded), n=1)
    hint = f" Did you mean {folded[close[0]]!r}?" if close else ""
    raise ValueError(
        f"Unknown {kind}: {identifier!r}.{hint} Valid {kind}s are: {', '.join(sorted(table))}. "
        f"See docs/keras-migration.md for what highnn supports."
    )


def serialize(obj: Any) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}``: how configs and saved files describe an object."""
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


class Registry(Generic[T]):
    """The named objects of one kind, whose instances derive from ``base``.

    ``classes`` (by class name) is the allow-list that configs may name;
    ``names`` maps the strings users write to a class or a function.
    ``from_name`` turns what a string found into the object ``get`` returns
    (by default: call a class, return a function as it is); ``from_callable``
    wraps a plain function given where an object is expected (a loss or metric
    function); ``None`` leaves such a callable as it is.
    """

    def __init__(
        self,
        kind: str,
        base: type,
        *,
        argument: str | None = None,
        from_name: Callable[[Any, str], Any] | None = None,
        from_callable: Callable[[Callable[..., Any]], Any] | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self.argument = argument or kind
        self.classes: dict[str, type] = {}
        self.names: dict[str, Any] = {}
        self.from_name = from_name or (lambda found, name: found() if isinstance(found, type) else found)
        self.from_callable = from_callable

    def register(self, obj: Any, *aliases: str) -> None:
        """Add a class (under its name, matched ignoring case, and ``aliases``) or a function (under ``aliases``)."""
        if isinstance(obj, type):
            self.classes[obj.__name__] = obj
            self.names.setdefault(obj.__name__, obj)
        for alias in aliases:
            self.names[alias] = obj

    def __iter__(self) -> Iterator[str]:
        """The names users may write, as iterating over a table of them gives."""
        return iter(self.names)

    def register_all(self, classes: Iterable[type]) -> None:
        for cls in classes:
            self.register(cls)

    def lookup(self, name: str) -> Any:
        """The class or function registered under ``name``."""
        return lookup(self.kind, name, self.names)

    def allowed(self, custom_objects: Mapping[str, Any] | None = None) -> dict[str, type]:
        """The allow-list: the registered classes plus the ``base`` subclasses in ``custom_objects`` and in the
        loading in progress (:func:`loading_with`)."""
        custom = {
            name: cls
            for name, cls in {**(_loading_custom_objects.get() or {}), **(custom_objects or {})}.items()
            if isinstance(cls, type) and issubclass(cls, self.base)
        }
        return {**self.classes, **custom}

    def get(self, identifier: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
        """An object from a name, a config dict, a class, an instance or a callable; ``None`` stays ``None``."""
        if identifier is None:
            return None
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if isinstance(identifier, dict):
            return self.deserialize(identifier, custom_objects)
        if isinstance(identifier, str):
            custom = (custom_objects or {}).get(identifier)
            found = custom if custom is not None else self.lookup(identifier)
            return self.from_name(found, identifier)
        if callable(identifier) and not isinstance(identifier, type):
            return identifier if self.from_callable is None else self.from_callable(identifier)
        raise TypeError(
            f"`{self.argument}` must be a string, a config dict, a {self.base.__name__} or a callable, "
            f"received {identifier!r:.200} of type {type(identifier).__name__}."
        )

    def serialize(self, obj: Any) -> dict[str, Any]:
        """``{"class_name": ..., "config": ...}`` of a registered object."""
        return serialize(obj)

    def deserialize(self, config: Any, custom_objects: Mapping[str, Any] | None = None, *from_config_args: Any) -> Any:
        """The object :meth:`serialize` described, built only from an allowed class."""
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(
                f"A serialized {self.kind} must be a dict with a 'class_name' key, received {config!r:.200}."
            )
        cls: Any = lookup(self.kind, config["class_name"], self.allowed(custom_objects))  # a class with from_config
        return cls.from_config(dict(config.get("config") or {}), *from_config_args)


#: the ``custom_objects`` of the model being loaded in this context, which nested configs (a wrapper's inner layer,
#: an RNN's cell) may name too
_loading_custom_objects: ContextVar[Mapping[str, Any] | None] = ContextVar("highnn.loading", default=None)


@contextmanager
def loading_with(custom_objects: Mapping[str, Any]) -> Iterator[None]:
    """In this block, every registry also allows the classes in ``custom_objects`` (a model file being loaded)."""
    token = _loading_custom_objects.set(custom_objects)
    try:
        yield
    finally:
        _loading_custom_objects.reset(token)
