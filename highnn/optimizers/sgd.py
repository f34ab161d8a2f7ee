"""Stochastic gradient descent with optional (Nesterov) momentum, Algorithm 2.2's update."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from highnn.graph import Tensor
from highnn.optimizers.base import Optimizer, check_in_range
from highnn.variables import Variable


class SGD(Optimizer):
    """``v = momentum * v - lr * g``; ``w += v`` (or ``w += momentum * v - lr * g`` with Nesterov).

    Without momentum it is ``w -= lr * g``. Keras's defaults: ``learning_rate=0.01``.
    """

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        check_in_range("SGD", "momentum", momentum, 0.0, 1.0)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.velocities: dict[int, Variable] = {}

    def build(self, variables: Sequence[Variable]) -> None:
        if self.momentum:
            self.velocities = {id(v): self.add_slot(v, "momentum") for v in variables}
        super().build(variables)

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        if not self.momentum:
            variable.assign(variable - gradient * learning_rate)
            return
        velocity = self.velocities[id(variable)]
        velocity.assign(velocity * self.momentum - gradient * learning_rate)
        step = velocity * self.momentum - gradient * learning_rate if self.nesterov else velocity
        variable.assign(variable + step)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
