"""Stochastic gradient descent with optional (Nesterov) momentum: Algorithm 2.2's update."""

from __future__ import annotations

from typing_extensions import Unpack

from highnn.checks import check_bool, check_number
from highnn.graph import Tensor
from highnn.optimizers.base import CommonArguments, LearningRate, Optimizer
from highnn.variables import Variable


class SGD(Optimizer):
    """Gradient descent, ``w -= lr * g``, optionally with momentum.

    With ``momentum``: ``v = momentum * v - lr * g``; ``w += v``, or with
    ``nesterov=True``: ``w += momentum * v - lr * g`` (the new ``v``).

    >>> optimizer = hn.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    """

    hyperparameters = ("momentum", "nesterov")

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        **kwargs: Unpack[CommonArguments],
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = check_number("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = check_bool("SGD", "nesterov", nesterov)

    def create_state(self, variables: list[Variable]) -> None:
        if self.momentum:
            self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        if not self.momentum:
            variable.assign(variable - gradient * learning_rate)
            return
        velocity = self.slot("momentum", variable)
        velocity.assign(velocity * self.momentum - gradient * learning_rate)
        step = velocity * self.momentum - gradient * learning_rate if self.nesterov else velocity
        variable.assign(variable + step)
