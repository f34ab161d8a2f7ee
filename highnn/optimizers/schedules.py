"""Learning-rate schedules: ``schedule(step) -> learning rate`` (eta_t in Algorithm 2.2).

A schedule is built from highnn operations, so an optimizer evaluates it on its
``iterations`` variable inside the traced train step, and every replayed step
sees the rate for its own step. Arguments and formulas are Keras 3's::

    schedule = hn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.5)
    optimizer = hn.optimizers.SGD(learning_rate=schedule)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from highnn.checks import check_bool, check_number
from highnn.config import settings
from highnn.graph import Tensor
from highnn.ops.primitives import cast, cos, floor, log, maximum, minimum, to_tensor, where
from highnn.ops.primitives import pow as power
from highnn.registry import Registry


class LearningRateSchedule(ABC):
    """Base class: override ``__call__(step)`` (and ``get_config`` to make the schedule serializable).

    >>> class Halving(LearningRateSchedule):
    ...     def __call__(self, step):
    ...         return 0.1 * hn.ops.pow(0.5, hn.ops.cast(step, "float32"))
    """

    @abstractmethod
    def __call__(self, step: Tensor | int) -> Tensor:
        """The learning rate at ``step`` (an integer scalar tensor: the optimizer's step count)."""

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"Learning rate schedule {type(self).__name__!r} must override get_config() to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)


def _float_step(step: Tensor | int) -> Tensor:
    """The step count as a floatx scalar."""
    return cast(to_tensor(step), settings.floatx)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase`` the exponent is floored.

    >>> schedule = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.96, staircase=True)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        owner = type(self).__name__
        self.initial_learning_rate = check_number(owner, "initial_learning_rate", initial_learning_rate, 0.0)
        self.decay_steps = check_number(owner, "decay_steps", decay_steps, 0.0, low_open=True)
        self.decay_rate = check_number(owner, "decay_rate", decay_rate, 0.0, low_open=True)
        self.staircase = check_bool(owner, "staircase", staircase)
        self.name = name

    def __call__(self, step: Tensor | int) -> Tensor:
        exponent = _float_step(step) / self.decay_steps
        if self.staircase:
            exponent = floor(exponent)
        return self.initial_learning_rate * power(self.decay_rate, exponent)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}  # fmt: skip


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with ``staircase`` the ratio is floored.

    >>> schedule = InverseTimeDecay(0.1, decay_steps=1.0, decay_rate=0.5)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        owner = type(self).__name__
        self.initial_learning_rate = check_number(owner, "initial_learning_rate", initial_learning_rate, 0.0)
        self.decay_steps = check_number(owner, "decay_steps", decay_steps, 0.0, low_open=True)
        self.decay_rate = check_number(owner, "decay_rate", decay_rate, 0.0)
        self.staircase = check_bool(owner, "staircase", staircase)
        self.name = name

    def __call__(self, step: Tensor | int) -> Tensor:
        ratio = _float_step(step) / self.decay_steps
        if self.staircase:
            ratio = floor(ratio)
        return self.initial_learning_rate / (1.0 + self.decay_rate * ratio)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}  # fmt: skip


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]``,
    ``values[-1]`` after the last boundary.

    >>> schedule = PiecewiseConstantDecay(boundaries=[100, 110], values=[1.0, 0.5, 0.1])
    """

    def __init__(self, boundaries: Sequence[float], values: Sequence[float], name: str = "PiecewiseConstant") -> None:
        owner = type(self).__name__
        for argument, sequence in (("boundaries", boundaries), ("values", values)):
            if isinstance(sequence, (str, bytes)) or not isinstance(sequence, Sequence):
                raise TypeError(f"{owner}: `{argument}` must be a list of numbers, received {sequence!r}.")
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                f"{owner}: `values` must have one more entry than `boundaries`; received {len(boundaries)} "
                f"boundaries {list(boundaries)} and {len(values)} values {list(values)}."
            )
        self.boundaries = [check_number(owner, f"boundaries[{i}]", b) for i, b in enumerate(boundaries)]
        self.values = [check_number(owner, f"values[{i}]", v, 0.0) for i, v in enumerate(values)]
        if any(low >= high for low, high in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"{owner}: `boundaries` must be strictly increasing, received {list(boundaries)}.")
        self.name = name

    def __call__(self, step: Tensor | int) -> Tensor:
        step = to_tensor(step)
        integral = step.dtype in ("int32", "int64")
        rate = to_tensor(self.values[-1], settings.floatx)
        for boundary, value in zip(reversed(self.boundaries), reversed(self.values[:-1])):
            # an integer step is <= b exactly when it is <= floor(b)
            rate = where(step <= (math.floor(boundary) if integral else boundary), value, rate)
        return rate

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` in ``decay_steps``: ``(1 - step / decay_steps)**power``.

    Without ``cycle`` the rate stays at ``end_learning_rate`` after ``decay_steps``;
    with it the decay restarts, over the first multiple of ``decay_steps`` not below ``step``.

    >>> schedule = PolynomialDecay(0.1, decay_steps=10000, end_learning_rate=0.01, power=0.5)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        owner = type(self).__name__
        self.initial_learning_rate = check_number(owner, "initial_learning_rate", initial_learning_rate, 0.0)
        self.decay_steps = check_number(owner, "decay_steps", decay_steps, 0.0, low_open=True)
        self.end_learning_rate = check_number(owner, "end_learning_rate", end_learning_rate, 0.0)
        self.power = check_number(owner, "power", power, 0.0)
        self.cycle = check_bool(owner, "cycle", cycle)
        self.name = name

    def __call__(self, step: Tensor | int) -> Tensor:
        step = _float_step(step)
        if self.cycle:
            periods = -floor(-step / self.decay_steps)  # ceil; step 0 counts as the first period
            decay_steps: Tensor | float = self.decay_steps * where(step == 0.0, 1.0, periods)
        else:
            step = minimum(step, self.decay_steps)
            decay_steps = self.decay_steps
        remaining = 1.0 - step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * remaining**self.power + self.end_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}  # fmt: skip


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup to ``warmup_target`` in ``warmup_steps``, then a half cosine over ``decay_steps``.

    The decay goes from its start ``r`` (``warmup_target``, or ``initial_learning_rate``
    without warmup) to ``r * alpha``: ``r * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``
    with ``s = min(step - warmup_steps, decay_steps)``.

    >>> schedule = CosineDecay(0.0, decay_steps=1000, warmup_target=0.1, warmup_steps=100)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ) -> None:
        owner = type(self).__name__
        self.initial_learning_rate = check_number(owner, "initial_learning_rate", initial_learning_rate, 0.0)
        self.decay_steps = check_number(owner, "decay_steps", decay_steps, 0.0, low_open=True)
        self.alpha = check_number(owner, "alpha", alpha, 0.0, 1.0)
        self.name = name
        self.warmup_target = None if warmup_target is None else check_number(owner, "warmup_target", warmup_target, 0.0)
        self.warmup_steps = check_number(owner, "warmup_steps", warmup_steps, 0.0)

    def __call__(self, step: Tensor | int) -> Tensor:
        step = _float_step(step)
        if self.warmup_target is None:
            return self._decay(minimum(step, self.decay_steps), self.initial_learning_rate)
        decayed = self._decay(minimum(maximum(step - self.warmup_steps, 0.0), self.decay_steps), self.warmup_target)
        if not self.warmup_steps:
            return decayed
        warmup = (self.warmup_target - self.initial_learning_rate) * (
            step / self.warmup_steps
        ) + self.initial_learning_rate
        return where(step < self.warmup_steps, warmup, decayed)

    def _decay(self, step: Tensor, start: float) -> Tensor:
        cosine = 0.5 * (1.0 + cos(step * (math.pi / self.decay_steps)))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}  # fmt: skip


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2017).

    The multiplier decays from 1 to ``alpha`` over ``first_decay_steps``, then
    restarts; period ``i`` (from 0) lasts ``first_decay_steps * t_mul**i`` steps
    and starts from ``m_mul**i``: the rate is ``initial_learning_rate *
    ((1 - alpha) * m_mul**i * 0.5 * (1 + cos(pi * f)) + alpha)`` with ``f`` the
    fraction of period ``i`` completed.

    >>> schedule = CosineDecayRestarts(0.1, first_decay_steps=1000, t_mul=2.0, m_mul=0.9)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: float,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        owner = type(self).__name__
        self.initial_learning_rate = check_number(owner, "initial_learning_rate", initial_learning_rate, 0.0)
        self.first_decay_steps = check_number(owner, "first_decay_steps", first_decay_steps, 0.0, low_open=True)
        self.t_mul = check_number(owner, "t_mul", t_mul, 0.0, low_open=True)
        self.m_mul = check_number(owner, "m_mul", m_mul, 0.0)
        self.alpha = check_number(owner, "alpha", alpha, 0.0, 1.0)
        self.name = name

    def __call__(self, step: Tensor | int) -> Tensor:
        completed = _float_step(step) / self.first_decay_steps  # in units of the first period
        if self.t_mul == 1.0:
            restart = floor(completed)
            fraction = completed - restart
        else:  # periods 0..i-1 last (1 - t_mul**i) / (1 - t_mul) first periods together
            restart = floor(log(1.0 - completed * (1.0 - self.t_mul)) / math.log(self.t_mul))
            restart = where(completed < self._start(restart), restart - 1.0, restart)  # the logarithm's rounding
            restart = where(completed >= self._start(restart + 1.0), restart + 1.0, restart)  # can miss a boundary
            fraction = (completed - self._start(restart)) / power(self.t_mul, restart)
        cosine = power(self.m_mul, restart) * 0.5 * (1.0 + cos(fraction * math.pi))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def _start(self, restart: Tensor) -> Tensor:
        """Where period ``restart`` starts, in first periods: (1 - t_mul**restart) / (1 - t_mul)."""
        return (1.0 - power(self.t_mul, restart)) / (1.0 - self.t_mul)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}  # fmt: skip


SCHEDULES: Registry[LearningRateSchedule] = Registry("learning rate schedule", LearningRateSchedule)
SCHEDULES.register_all(
    (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay, CosineDecay, CosineDecayRestarts)
)


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    return SCHEDULES.serialize(schedule)


def deserialize(
    config: dict[str, Any], custom_objects: Mapping[str, type[LearningRateSchedule]] | None = None
) -> LearningRateSchedule:
    """The schedule :func:`serialize` described; only the registered classes and ``custom_objects`` are allowed."""
    return SCHEDULES.deserialize(config, custom_objects)


__all__ = [
    "SCHEDULES",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "deserialize",
    "serialize",
]  # fmt: skip
