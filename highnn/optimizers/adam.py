"""The Adam family (Kingma & Ba, 2015): Adam, AdamW, Adamax and Nadam, as Keras 3 computes them.

Each keeps a running mean of the gradient (``m``, decay ``beta_1``) and a
running measure of its size (``v``, decay ``beta_2``), corrects their bias
towards zero at step ``t`` and steps along ``m`` scaled down by ``v``.
"""

from __future__ import annotations

from typing import ClassVar

from typing_extensions import Unpack

from highnn.checks import check_bool
from highnn.config import settings
from highnn.graph import Tensor
from highnn.ops.primitives import abs, cast, maximum, sqrt
from highnn.ops.primitives import pow as power
from highnn.optimizers.base import (
    ClippingAndName,
    CommonArguments,
    LearningRate,
    Optimizer,
    check_beta,
    check_epsilon,
)
from highnn.variables import Variable


class _MomentOptimizer(Optimizer):
    """The arguments the family shares: ``beta_1``, ``beta_2`` (each in [0, 1)) and ``epsilon``."""

    hyperparameters: ClassVar[tuple[str, ...]] = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Unpack[CommonArguments],
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        owner = type(self).__name__
        self.beta_1 = check_beta(owner, "beta_1", beta_1)
        self.beta_2 = check_beta(owner, "beta_2", beta_2)
        self.epsilon = check_epsilon(owner, epsilon)

    def update_moments(self, gradient: Tensor, variable: Variable) -> tuple[Variable, Variable]:
        """``m += (g - m)(1 - beta_1)``, ``v += (g**2 - v)(1 - beta_2)``; the updated ``m`` and ``v``."""
        m, v = self.slot("momentum", variable), self.slot("velocity", variable)
        m.assign(m + (gradient - m) * (1.0 - self.beta_1))
        v.assign(v + (gradient * gradient - v) * (1.0 - self.beta_2))
        return m, v

    def step_count(self, dtype: str, ahead: int = 1) -> Tensor:
        """``iterations + ahead`` as a float: ``t``, the step being taken (counted from 1); ``ahead=2`` is ``t + 1``."""
        return cast(self.iterations + ahead, dtype)


class Adam(_MomentOptimizer):
    """Adam: ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``.

    With ``amsgrad=True`` the largest ``v`` seen so far replaces ``v`` (Reddi et al., 2018).

    >>> optimizer = hn.optimizers.Adam(learning_rate=0.001, amsgrad=True)
    """

    hyperparameters = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Unpack[CommonArguments],
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = check_bool(type(self).__name__, "amsgrad", amsgrad)

    def create_state(self, variables: list[Variable]) -> None:
        self.add_optimizer_variables(variables, "momentum")
        self.add_optimizer_variables(variables, "velocity")
        if self.amsgrad:
            self.add_optimizer_variables(variables, "velocity_hat")

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        t = self.step_count(variable.dtype)
        alpha = learning_rate * sqrt(1.0 - power(self.beta_2, t)) / (1.0 - power(self.beta_1, t))
        m, v = self.update_moments(gradient, variable)
        if self.amsgrad:
            v_hat = self.slot("velocity_hat", variable)
            v_hat.assign(maximum(v_hat, v))
            v = v_hat
        variable.assign(variable - m * alpha / (sqrt(v) + self.epsilon))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): each step first does
    ``w -= w * weight_decay * lr``, then Adam's update. Keras's default ``weight_decay`` is 0.004.

    >>> optimizer = hn.optimizers.AdamW(learning_rate=0.001, weight_decay=0.01)
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Unpack[ClippingAndName],
    ) -> None:
        if weight_decay is None:
            raise ValueError(
                "AdamW: `weight_decay` must be a non-negative float, received None; use Adam for no weight decay."
            )
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class Adamax(_MomentOptimizer):
    """Adam with the infinity norm: ``u = max(beta_2 * u, |g|)``; ``w -= lr * m / ((1 - beta_1**t) * (u + epsilon))``.

    >>> optimizer = hn.optimizers.Adamax(learning_rate=0.002)
    """

    def create_state(self, variables: list[Variable]) -> None:
        self.add_optimizer_variables(variables, ("momentum", "norm"))

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        t = self.step_count(variable.dtype)
        m, u = self.slot("momentum", variable), self.slot("norm", variable)
        m.assign(m + (gradient - m) * (1.0 - self.beta_1))
        u.assign(maximum(u * self.beta_2, abs(gradient)))
        variable.assign(variable - learning_rate * m / ((1.0 - power(self.beta_1, t)) * (u + self.epsilon)))


class Nadam(_MomentOptimizer):
    """Adam with Nesterov momentum (Dozat, 2016), with Keras's momentum schedule
    ``u_t = beta_1 * (1 - 0.5 * 0.96**t)`` and its running product ``prod_t = u_1 * ... * u_t``:

    ``m_hat = u_{t+1} * m / (1 - prod_t * u_{t+1}) + (1 - u_t) * g / (1 - prod_t)``,
    ``w -= lr * m_hat / (sqrt(v / (1 - beta_2**t)) + epsilon)``.

    >>> optimizer = hn.optimizers.Nadam(learning_rate=0.002)
    """

    def create_state(self, variables: list[Variable]) -> None:
        self.add_optimizer_variables(variables, "momentum")
        self.add_optimizer_variables(variables, "velocity")
        self.u_product = self.add_variable(
            (), "u_product", variables[0].dtype if variables else settings.floatx, initial_value=1.0
        )

    def momentum_schedule(self, t: Tensor) -> Tensor:
        """``u_t``: ``beta_1`` damped at the first steps."""
        return self.beta_1 * (1.0 - 0.5 * power(0.96, t))

    def update_steps(self, grads: list[Tensor], variables: list[Variable], learning_rate: Tensor) -> None:
        self.u_product.assign(self.u_product * self.momentum_schedule(self.step_count(self.u_product.dtype)))
        super().update_steps(grads, variables, learning_rate)

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        dtype = variable.dtype
        t = self.step_count(dtype)
        u_t, u_next = self.momentum_schedule(t), self.momentum_schedule(self.step_count(dtype, ahead=2))
        u_product = cast(self.u_product, dtype)
        m, v = self.update_moments(gradient, variable)
        m_hat = u_next * m / (1.0 - u_product * u_next) + (1.0 - u_t) * gradient / (1.0 - u_product)
        v_hat = v / (1.0 - power(self.beta_2, t))
        variable.assign(variable - m_hat * learning_rate / (sqrt(v_hat) + self.epsilon))
