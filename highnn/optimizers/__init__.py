"""Optimizers (Keras 3 names, arguments, defaults and update rules) and learning-rate schedules.

>>> model.compile(optimizer="adam", loss="mse")
>>> model.compile(optimizer=hn.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="mse")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from highnn.optimizers import schedules
from highnn.optimizers.adam import Adam, Adamax, AdamW, Nadam
from highnn.optimizers.adaptive import Adadelta, Adagrad, RMSprop
from highnn.optimizers.base import Optimizer
from highnn.optimizers.lion import Lion
from highnn.optimizers.sgd import SGD
from highnn.registry import class_name_table, lookup

CLASSES: dict[str, type[Optimizer]] = class_name_table(SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)
_BY_STRING = {name.lower(): cls for name, cls in CLASSES.items()}


def get(identifier: str | dict[str, Any] | Optimizer | type[Optimizer]) -> Optimizer:
    """An optimizer from a string (``"adam"``, ``"sgd"``, ...: Keras's defaults), a config dict, a class or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return lookup("optimizer", identifier, _BY_STRING)()
    raise TypeError(f"`optimizer` must be a string, a config dict or an Optimizer, received {identifier!r} of type {type(identifier).__name__}.")


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` (the state is separate: ``optimizer.variables``)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, type] | None = None) -> Optimizer:
    """A fresh optimizer from :func:`serialize`'s output.

    Only the classes in :data:`CLASSES` are allowed, and those in ``custom_objects``
    (your Optimizer or LearningRateSchedule subclasses, by class name).
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A serialized optimizer must be a dict with a 'class_name' key, received {config!r}.")
    custom = {name: cls for name, cls in (custom_objects or {}).items() if isinstance(cls, type) and issubclass(cls, Optimizer)}
    return lookup("optimizer", config["class_name"], {**CLASSES, **custom}).from_config(config.get("config", {}), custom_objects)


__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lion", "Nadam", "Optimizer", "RMSprop",
    "deserialize", "get", "schedules", "serialize",
]  # fmt: skip
