"""Optimizers (Keras 3 names, arguments, defaults and update rules) and learning-rate schedules.

>>> model.compile(optimizer="adam", loss="mse")
>>> model.compile(optimizer=hn.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="mse")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from highnn import registry
from highnn.optimizers import schedules
from highnn.optimizers.adam import Adam, Adamax, AdamW, Nadam
from highnn.optimizers.adaptive import Adadelta, Adagrad, RMSprop
from highnn.optimizers.base import Optimizer
from highnn.optimizers.lion import Lion
from highnn.optimizers.sgd import SGD
from highnn.registry import allowed_classes, class_name_table, lookup, serialize

CLASSES: dict[str, type[Optimizer]] = class_name_table(
    SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion
)
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
    raise TypeError(
        f"`optimizer` must be a string, a config dict or an Optimizer, received {identifier!r} of type {type(identifier).__name__}."
    )


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, type] | None = None) -> Optimizer:
    """A fresh optimizer from :func:`serialize`'s output.

    Only the classes in :data:`CLASSES` are allowed, and those in ``custom_objects``
    (your Optimizer or LearningRateSchedule subclasses, by class name).
    """
    return registry.deserialize(
        "optimizer", config, allowed_classes(CLASSES, custom_objects, Optimizer), custom_objects
    )


__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lion", "Nadam", "Optimizer", "RMSprop",
    "deserialize", "get", "schedules", "serialize",
]  # fmt: skip
