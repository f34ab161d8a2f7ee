"""The Optimizer base class: slots, learning rate (a number or a schedule), clipping, weight decay.

An optimizer's state (its slots, the learning rate and the step count) lives
in variables, so :meth:`Optimizer.apply` is ordinary variable assignment that
the tracer compiles into the train step together with the forward and
backward passes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from highnn.graph import Tensor, no_grad
from highnn.ops import composites as C
from highnn.ops.primitives import cast, sqrt, sum, to_tensor, where
from highnn.optimizers.schedules import LearningRateSchedule
from highnn.variables import Variable


class Optimizer:
    """Updates variables from their gradients: ``optimizer.apply(grads, variables)``."""

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        from highnn.layers.layer import snake_case

        given = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"{type(self).__name__}: use only one of clipnorm, clipvalue and global_clipnorm; received {', '.join(given)}.")
        for argument, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm), ("weight_decay", weight_decay)):
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"{type(self).__name__}: `{argument}` must be a non-negative number, received {value!r}.")
        self.name = name or snake_case(type(self).__name__)
        self.weight_decay, self.clipnorm, self.clipvalue, self.global_clipnorm = weight_decay, clipnorm, clipvalue, global_clipnorm
        self.iterations = Variable(np.array(0, dtype=np.int64), name="iterations", trainable=False, path=f"{self.name}/iterations")
        if isinstance(learning_rate, LearningRateSchedule):
            self.schedule: LearningRateSchedule | None = learning_rate
            self._learning_rate = None
        else:
            if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or learning_rate < 0:
                raise ValueError(f"{type(self).__name__}: `learning_rate` must be a non-negative number or a schedule, received {learning_rate!r}.")
            self.schedule = None
            self._learning_rate = Variable(float(learning_rate), name="learning_rate", trainable=False, path=f"{self.name}/learning_rate")
        self.built = False
        self._slots: list[Variable] = []

    # -------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> Tensor:
        """The current learning rate (a variable, or the schedule's value at this step)."""
        if self.schedule is not None:
            with no_grad():
                return self.schedule(self.iterations)
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if self._learning_rate is None:
            raise TypeError(f"{type(self).__name__} uses a learning-rate schedule; it cannot be set to {value!r}.")
        self._learning_rate.assign(float(value))

    # ---------------------------------------------------------------- state
    def build(self, variables: Sequence[Variable]) -> None:
        """Create the slots for ``variables`` (subclasses add theirs with :meth:`add_slot`)."""
        self.built = True

    def add_slot(self, reference: Variable, name: str, initial: float = 0.0) -> Variable:
        """A zero-initialised slot variable shaped like ``reference``."""
        slot = Variable(np.full(reference.shape, initial), name=name, trainable=False, dtype=reference.dtype,
                        path=f"{self.name}/{reference.path.replace('/', '_')}_{name}")  # fmt: skip
        self._slots.append(slot)
        return slot

    @property
    def variables(self) -> list[Variable]:
        """The optimizer's state: step count, learning rate and slots."""
        return [self.iterations] + ([self._learning_rate] if self._learning_rate is not None else []) + self._slots

    # --------------------------------------------------------------- update
    def apply(self, grads: Sequence[Tensor], variables: Sequence[Variable]) -> None:
        """Update each variable from its gradient, then count the step."""
        if len(grads) != len(variables):
            raise ValueError(f"{type(self).__name__}.apply: {len(grads)} gradients for {len(variables)} variables.")
        with no_grad():
            if not self.built:
                self.build(variables)
            grads = self.clip(list(grads))
            learning_rate = self.learning_rate
            for gradient, variable in zip(grads, variables):
                rate = cast(learning_rate, variable.dtype)
                if self.weight_decay:
                    variable.assign(variable - variable * rate * self.weight_decay)
                self.update_step(cast(gradient, variable.dtype), variable, rate)
            self.iterations.assign_add(1)

    def apply_gradients(self, grads_and_vars: Sequence[tuple[Tensor, Variable]]) -> None:
        """Keras's form: a list of ``(gradient, variable)`` pairs."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def clip(self, grads: list[Tensor]) -> list[Tensor]:
        """Apply clipvalue, clipnorm (per gradient) or global_clipnorm (over all)."""
        if self.clipvalue is not None:
            return [C.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            return [_scale_to_norm(g, sqrt(sum(g * g)), self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            norm = sqrt(_sum_all([sum(g * g) for g in grads]))
            return [_scale_to_norm(g, cast(norm, g.dtype), self.global_clipnorm) for g in grads]
        return grads

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        from highnn.optimizers.schedules import serialize

        rate = serialize(self.schedule) if self.schedule is not None else float(self._learning_rate.item())
        return {"name": self.name, "learning_rate": rate, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        from highnn.optimizers.schedules import deserialize

        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize(config["learning_rate"])
        return cls(**config)


def _sum_all(values: list[Tensor]) -> Tensor:
    total = values[0]
    for value in values[1:]:
        total = total + cast(value, total.dtype)
    return total


def _scale_to_norm(g: Tensor, norm: Tensor, limit: float) -> Tensor:
    """``g`` scaled down so its norm is at most ``limit``."""
    return g * where(norm > limit, limit / where(norm > 0.0, norm, 1.0), 1.0)


def power(base: float, exponent: Tensor) -> Tensor:
    """``base ** exponent`` for a Python base and a tensor exponent."""
    return to_tensor(base, exponent.dtype) ** exponent


def check_in_range(optimizer: str, argument: str, value: float, low: float, high: float) -> None:
    """Raise unless ``low <= value <= high`` (used for momenta and decay rates)."""
    if not (isinstance(value, (int, float)) and low <= value <= high and math.isfinite(value)):
        raise ValueError(f"{optimizer}: `{argument}` must be in [{low}, {high}], received {value!r}.")
