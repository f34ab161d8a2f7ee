"""Per-weight step sizes from accumulated squared gradients: Adagrad, Adadelta and RMSprop (Keras 3's rules)."""

from __future__ import annotations

from typing_extensions import Unpack

from highnn.checks import check_bool, check_number
from highnn.graph import Tensor
from highnn.ops.primitives import sqrt
from highnn.optimizers.base import (
    CommonArguments,
    LearningRate,
    Optimizer,
    check_epsilon,
)
from highnn.variables import Variable


class Adagrad(Optimizer):
    """``a += g**2``; ``w -= lr * g / sqrt(a + epsilon)``, ``a`` starting at ``initial_accumulator_value``.

    Weights that have received large gradients take ever smaller steps (Duchi et al., 2011).

    >>> optimizer = hn.optimizers.Adagrad(learning_rate=0.01)
    """

    hyperparameters = ("initial_accumulator_value", "epsilon")

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Unpack[CommonArguments],
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = check_number(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0
        )
        self.epsilon = check_epsilon("Adagrad", epsilon)

    def create_state(self, variables: list[Variable]) -> None:
        self.add_optimizer_variables(variables, "accumulator", self.initial_accumulator_value)

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        accumulator = self.slot("accumulator", variable)
        accumulator.assign(accumulator + gradient * gradient)
        variable.assign(variable - learning_rate * gradient / sqrt(accumulator + self.epsilon))


class Adadelta(Optimizer):
    """Running means of squared gradients ``E[g²]`` and squared steps ``E[dx²]`` (decay ``rho``):

    ``E[g²] = rho E[g²] + (1 - rho) g²``; ``dx = -sqrt(E[dx²] + eps) / sqrt(E[g²] + eps) * g``;
    ``E[dx²] = rho E[dx²] + (1 - rho) dx²``; ``w += lr * dx`` (Zeiler, 2012, whose form is ``lr=1.0``).

    >>> optimizer = hn.optimizers.Adadelta(learning_rate=1.0)
    """

    hyperparameters = ("rho", "epsilon")

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        **kwargs: Unpack[CommonArguments],
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = check_number("Adadelta", "rho", rho, 0.0, 1.0)
        self.epsilon = check_epsilon("Adadelta", epsilon)

    def create_state(self, variables: list[Variable]) -> None:
        self.add_optimizer_variables(variables, "accumulated_grad")
        self.add_optimizer_variables(variables, "accumulated_delta_var")

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        mean_square_grad = self.slot("accumulated_grad", variable)
        mean_square_delta = self.slot("accumulated_delta_var", variable)
        mean_square_grad.assign(mean_square_grad * self.rho + gradient * gradient * (1.0 - self.rho))
        delta = -(sqrt(mean_square_delta + self.epsilon) * gradient / sqrt(mean_square_grad + self.epsilon))
        mean_square_delta.assign(mean_square_delta * self.rho + delta * delta * (1.0 - self.rho))
        variable.assign(variable + learning_rate * delta)


class RMSprop(Optimizer):
    """``v = rho v + (1 - rho) g²``; ``w -= lr * g / sqrt(v + epsilon)`` (Hinton, 2012).

    ``centered=True`` also keeps the mean gradient ``a = rho a + (1 - rho) g`` and
    divides by ``sqrt(v - a² + epsilon)`` (an estimate of the variance); with
    ``momentum`` the step accumulates: ``s = momentum * s + step``; ``w -= s``.

    >>> optimizer = hn.optimizers.RMSprop(learning_rate=0.001, centered=True)
    """

    hyperparameters = ("rho", "momentum", "epsilon", "centered")

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Unpack[CommonArguments],
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = check_number("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = check_number("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = check_epsilon("RMSprop", epsilon)
        self.centered = check_bool("RMSprop", "centered", centered)

    def create_state(self, variables: list[Variable]) -> None:
        self.add_optimizer_variables(variables, "velocity")
        if self.momentum:
            self.add_optimizer_variables(variables, "momentum")
        if self.centered:
            self.add_optimizer_variables(variables, "average_gradient")

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        velocity = self.slot("velocity", variable)
        velocity.assign(velocity * self.rho + gradient * gradient * (1.0 - self.rho))
        if self.centered:
            average = self.slot("average_gradient", variable)
            average.assign(average * self.rho + gradient * (1.0 - self.rho))
            denominator = velocity - average * average + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = learning_rate * gradient / sqrt(denominator)
        if self.momentum:
            momentum = self.slot("momentum", variable)
            momentum.assign(momentum * self.momentum + increment)
            increment = momentum
        variable.assign(variable - increment)
