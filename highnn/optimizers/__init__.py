"""Optimizers (Keras 3 names, arguments, defaults and update rules) and learning-rate schedules.

>>> model.compile(optimizer="adam", loss="mse")
>>> model.compile(optimizer=hn.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="mse")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

from highnn.checks import fail
from highnn.optimizers import schedules
from highnn.optimizers.adam import Adam, Adamax, AdamW, Nadam
from highnn.optimizers.adaptive import Adadelta, Adagrad, RMSprop
from highnn.optimizers.base import Optimizer
from highnn.optimizers.lion import Lion
from highnn.optimizers.loss_scale import LossScaleOptimizer
from highnn.optimizers.sgd import SGD
from highnn.registry import Registry


def _not_an_optimizer(identifier: Any) -> Optimizer:
    fail("optimizers.get", "optimizer", "a string, a config dict or an Optimizer", identifier, TypeError)


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer", Optimizer, from_callable=_not_an_optimizer)
for _cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion):
    OPTIMIZERS.register(_cls, _cls.__name__.lower())  # Keras's strings: "adam", "rmsprop", ...

OptimizerLike = str | Optimizer | type[Optimizer] | dict[str, Any]


@overload
def get(identifier: None) -> None: ...
@overload
def get(identifier: OptimizerLike) -> Optimizer: ...
def get(identifier: OptimizerLike | None) -> Optimizer | None:
    """An optimizer from a name (``"adam"``, ``"sgd"``, ...: Keras's defaults), a config, a class or an instance.

    None stays None.
    """
    return OPTIMIZERS.get(identifier)


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    return OPTIMIZERS.serialize(optimizer)


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, type] | None = None) -> Optimizer:
    """A fresh optimizer from :func:`serialize`'s output.

    Only the registered classes are allowed, and those in ``custom_objects``
    (your Optimizer or LearningRateSchedule subclasses, by class name).
    """
    return OPTIMIZERS.deserialize(config, custom_objects, custom_objects)


OPTIMIZERS.register(LossScaleOptimizer)  # by class name only: it wraps another, so no string builds one
LossScaleOptimizer.deserialize_inner = deserialize

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "LossScaleOptimizer",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "schedules",
    "serialize",
]  # fmt: skip
