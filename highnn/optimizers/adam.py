"""Adam (Kingma & Ba, 2015) as Keras implements it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from highnn.graph import Tensor
from highnn.ops.primitives import cast, maximum, sqrt
from highnn.optimizers.base import Optimizer, check_in_range, power
from highnn.variables import Variable


class Adam(Optimizer):
    """Per-weight steps from running means of the gradient (m) and its square (v).

    ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``,
    ``m += (g - m)(1 - beta_1)``, ``v += (g**2 - v)(1 - beta_2)``,
    ``w -= alpha * m / (sqrt(v) + epsilon)``.
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        check_in_range("Adam", "beta_1", beta_1, 0.0, 1.0)
        check_in_range("Adam", "beta_2", beta_2, 0.0, 1.0)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)
        self.moments: dict[int, tuple[Variable, Variable, Variable | None]] = {}

    def build(self, variables: Sequence[Variable]) -> None:
        self.moments = {
            id(v): (self.add_slot(v, "momentum"), self.add_slot(v, "velocity"), self.add_slot(v, "velocity_hat") if self.amsgrad else None)
            for v in variables
        }
        super().build(variables)

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        m, v, v_hat = self.moments[id(variable)]
        step = cast(self.iterations + 1, variable.dtype)
        alpha = learning_rate * sqrt(1.0 - power(self.beta_2, step)) / (1.0 - power(self.beta_1, step))
        m.assign(m + (gradient - m) * (1.0 - self.beta_1))
        v.assign(v + (gradient * gradient - v) * (1.0 - self.beta_2))
        second = v
        if v_hat is not None:
            v_hat.assign(maximum(v_hat, v))
            second = v_hat
        variable.assign(variable - m * alpha / (sqrt(second) + self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}
