"""Lion (Chen et al., 2023): steps of equal size per weight, in the sign of an interpolated momentum."""

from __future__ import annotations

from typing_extensions import Unpack

from highnn.checks import check_number
from highnn.graph import Tensor
from highnn.ops.primitives import sign
from highnn.optimizers.base import CommonArguments, LearningRate, Optimizer
from highnn.variables import Variable


class Lion(Optimizer):
    """``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``, then ``m = beta_2 * m + (1 - beta_2) * g``.

    Its steps are larger than Adam's, so it wants a 3-10x smaller learning rate
    (and a correspondingly larger ``weight_decay``).

    >>> optimizer = hn.optimizers.Lion(learning_rate=0.0003, weight_decay=0.01)
    """

    hyperparameters = ("beta_1", "beta_2")

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        **kwargs: Unpack[CommonArguments],
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        # beta_1 = 0 would make Lion plain signSGD, so Keras requires beta_1 > 0
        self.beta_1 = check_number("Lion", "beta_1", beta_1, 0.0, 1.0, low_open=True)
        self.beta_2 = check_number("Lion", "beta_2", beta_2, 0.0, 1.0)

    def create_state(self, variables: list[Variable]) -> None:
        self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        m = self.slot("momentum", variable)
        variable.assign(variable - learning_rate * sign(m * self.beta_1 + gradient * (1.0 - self.beta_1)))
        m.assign(m * self.beta_2 + gradient * (1.0 - self.beta_2))
