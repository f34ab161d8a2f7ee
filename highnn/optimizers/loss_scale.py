"""Dynamic loss scaling for float16 training (Keras's ``LossScaleOptimizer``).

float16 gradients below about 6e-8 flush to zero. The loss is multiplied by a
large scale before backprop, so its gradients stay representable, and the
gradients are divided by it again before the wrapped optimizer's step. A step
whose gradients hold an Inf or a NaN (the scale was too large) is skipped and
the scale halved; after ``dynamic_growth_steps`` finite steps in a row it is
doubled. The choice is made with ``where`` on the updated values, so a traced
step never reads a value back to the host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from highnn.checks import check_integer, check_number, fail
from highnn.graph import Tensor, no_grad
from highnn.ops.primitives import cast, sum, where
from highnn.optimizers.base import LearningRate, Optimizer
from highnn.registry import serialize
from highnn.variables import Variable


class LossScaleOptimizer(Optimizer):
    """Wraps ``inner_optimizer``: scales the loss, unscales the gradients, skips non-finite steps.

    Args:
        inner_optimizer: the optimizer that updates the weights.
        initial_scale: the starting loss scale.
        dynamic_growth_steps: how many finite steps in a row double the scale.
        name: prefix of the scale's variables; ``loss_scale_optimizer`` (made unique) by default.

    ``compile`` wraps the optimizer in one under the ``"mixed_float16"`` policy.

    >>> optimizer = hn.optimizers.LossScaleOptimizer(hn.optimizers.Adam(), initial_scale=2.0**15)
    """

    #: builds the inner optimizer from its config: ``highnn.optimizers`` sets its registry's ``deserialize`` here
    deserialize_inner: ClassVar[Callable[[dict[str, Any], Mapping[str, type] | None], Optimizer]]

    def __init__(
        self,
        inner_optimizer: Optimizer,
        initial_scale: float = 2.0**15,
        dynamic_growth_steps: int = 2000,
        name: str | None = None,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(inner_optimizer, Optimizer):
            fail(owner, "inner_optimizer", "an Optimizer", inner_optimizer, TypeError)
        self.initial_scale = check_number(owner, "initial_scale", initial_scale, 0.0, low_open=True)
        self.dynamic_growth_steps = check_integer(owner, "dynamic_growth_steps", dynamic_growth_steps, 1)
        super().__init__(name=name)
        self.inner_optimizer = inner_optimizer
        self.iterations = inner_optimizer.iterations  # a skipped step is not counted
        self.step_counter = Variable(
            np.array(0, np.int64), name="step_counter", trainable=False, path=f"{self.name}/step_counter"
        )
        self.dynamic_scale = Variable(
            np.array(self.initial_scale, np.float32), name="dynamic_scale", trainable=False,
            dtype="float32", path=f"{self.name}/dynamic_scale",
        )  # fmt: skip

    # ------------------------------------------------ the wrapped optimizer's
    @property
    def learning_rate(self) -> Tensor:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: LearningRate | Tensor) -> None:
        self.inner_optimizer.learning_rate = value

    @property
    def variables(self) -> list[Variable]:
        """The scale's state, then the wrapped optimizer's."""
        return [self.step_counter, self.dynamic_scale, *self.inner_optimizer.variables]

    def build(self, variables: Sequence[Variable]) -> None:
        self.inner_optimizer.build(variables)
        self._trainable_variables = self.inner_optimizer._trainable_variables
        self.built = True

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        raise NotImplementedError("LossScaleOptimizer updates through its inner optimizer's apply.")

    # ------------------------------------------------------------ scaling
    def scale_loss(self, loss: Tensor) -> Tensor:
        """``loss`` times the current scale, to differentiate instead of the loss."""
        return loss * cast(self.dynamic_scale, loss.dtype)

    def apply(self, grads: Sequence[Tensor | None], variables: Sequence[Variable] | None = None) -> None:
        """Unscale ``grads`` and let the inner optimizer step, keeping the old state where a gradient is not finite."""
        grads = list(grads)
        present = [g for g in grads if g is not None]
        if not present or (variables is None and not self.built):
            self.inner_optimizer.apply(grads, variables)  # raises the inner optimizer's error
            return
        with no_grad():
            self.build(self._trainable_variables if variables is None else variables)
            probe = sum(cast(sum(present[0] * 0.0), "float32"))  # Inf and NaN survive multiplication by 0 as NaN
            for g in present[1:]:
                probe = probe + cast(sum(g * 0.0), "float32")
            finite = probe == 0.0
            state = [*(self._trainable_variables if variables is None else variables), *self.inner_optimizer.variables]
            before = [v.detach() for v in state]
            scale = self.dynamic_scale
            self.inner_optimizer.apply([None if g is None else g / cast(scale, g.dtype) for g in grads], variables)
            for variable, old in zip(state, before):
                variable.assign(where(finite, variable, old))
            counted = self.step_counter + 1
            grown = counted >= self.dynamic_growth_steps
            self.dynamic_scale.assign(where(finite, where(grown, scale * 2.0, scale), scale * 0.5))
            self.step_counter.assign(where(finite, where(grown, 0, counted), 0))

    # --------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner_optimizer": serialize(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Mapping[str, type] | None = None) -> Optimizer:
        config = dict(config)
        config["inner_optimizer"] = cls.deserialize_inner(config["inner_optimizer"], custom_objects)
        return cls(**config)


__all__ = ["LossScaleOptimizer"]
