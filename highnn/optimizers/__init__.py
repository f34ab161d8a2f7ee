"""Optimizers (Keras 3 names, arguments and defaults) and learning-rate schedules."""

from __future__ import annotations

from typing import Any

from highnn.optimizers import schedules
from highnn.optimizers.adam import Adam
from highnn.optimizers.base import Optimizer
from highnn.optimizers.sgd import SGD
from highnn.registry import lookup

CLASSES: dict[str, type[Optimizer]] = {cls.__name__: cls for cls in (SGD, Adam)}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from a string (``"adam"``, ``"sgd"``), a class or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        return lookup("optimizer", identifier, {k.lower(): v for k, v in CLASSES.items()})()
    raise TypeError(f"`optimizer` must be a string or an Optimizer, received {identifier!r}.")


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any]) -> Optimizer:
    return lookup("optimizer", config["class_name"], CLASSES).from_config(config.get("config", {}))


__all__ = ["SGD", "Adam", "Optimizer", "get", "schedules", "serialize", "deserialize"]
