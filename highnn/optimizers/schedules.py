"""Learning-rate schedules: ``schedule(step) -> learning rate``, evaluated inside the train step."""

from __future__ import annotations

from typing import Any

from highnn.graph import Tensor
from highnn.registry import lookup


class LearningRateSchedule:
    """A learning rate that changes with the optimizer's step count (eta_t in Algorithm 2.2)."""

    def __call__(self, step: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)


CLASSES: dict[str, type[LearningRateSchedule]] = {}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    return lookup("learning rate schedule", config["class_name"], CLASSES).from_config(config.get("config", {}))
