"""The Optimizer base class: state variables, learning rate (a number or a schedule), clipping, weight decay.

An optimizer's state (the step count, the learning rate and the per-weight
slots) lives in variables, so :meth:`Optimizer.apply` is ordinary variable
assignment that the tracer compiles into the train step together with the
forward and backward passes. One step does what Keras 3's ``BaseOptimizer``
does, in its order: clip the gradients, decay the weights
(``w -= w * weight_decay * lr``), run each weight's ``update_step``, count the step,
and project each weight that carries a ``constraint`` (``w = constraint(w)``).
"""

from __future__ import annotations

import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from typing_extensions import TypedDict

from highnn.checks import check_number, fail, is_real
from highnn.config import settings
from highnn.graph import Tensor, no_grad
from highnn.layers.layer import unique_name
from highnn.ops.composites import clip
from highnn.ops.primitives import cast, maximum, sqrt, sum, to_tensor
from highnn.optimizers import schedules
from highnn.variables import Variable, assign_all

#: a float, a schedule of the step, or a function of no arguments (read at every step, or once when traced)
LearningRate = float | schedules.LearningRateSchedule | Callable[[], Any]


class ClippingAndName(TypedDict, total=False):
    """The keyword arguments every optimizer takes, except ``weight_decay`` (AdamW gives that its own default)."""

    clipnorm: float | None
    clipvalue: float | None
    global_clipnorm: float | None
    name: str | None


class CommonArguments(ClippingAndName, total=False):
    """The keyword arguments every optimizer takes besides its own (Keras's names)."""

    weight_decay: float | None


class Optimizer(ABC):
    """Updates variables from their gradients: ``optimizer.apply(grads, variables)``.

    Args:
        learning_rate: a non-negative float, a :class:`~highnn.optimizers.schedules.LearningRateSchedule`, or a
            function of no arguments that returns the rate.
        weight_decay: if set, each step first shrinks every weight: ``w -= w * weight_decay * learning_rate``.
        clipnorm: if set, each gradient is scaled so its norm is at most this.
        clipvalue: if set, gradients are clipped elementwise to ``[-clipvalue, clipvalue]``.
        global_clipnorm: if set, all gradients are scaled together so their joint norm is at most this.
        name: prefix of the state variables' paths; by default the class's name in snake case, made unique
            as Keras does (``adam``, ``adam_1``, ...).

    Subclasses set ``hyperparameters`` (the attributes ``get_config`` adds),
    create their slots in :meth:`create_state` with
    :meth:`add_optimizer_variables`, and implement :meth:`update_step`.
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        owner = type(self).__name__
        clipping = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        given = [f"{argument}={value!r}" for argument, value in clipping.items() if value is not None]
        if len(given) > 1:
            raise ValueError(
                f"{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, "
                f"received {', '.join(given)}."
            )
        checked = {argument: None if value is None else check_number(owner, argument, value, 0.0)
                   for argument, value in {**clipping, "weight_decay": weight_decay}.items()}  # fmt: skip
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            checked["clipnorm"],
            checked["clipvalue"],
            checked["global_clipnorm"],
        )
        self.weight_decay = checked["weight_decay"]
        learning_rate = self._resolve_learning_rate(learning_rate, None)
        self.name = name or unique_name(owner.lower())  # Keras's names: "adam", "adamw", "rmsprop"
        self.built = False
        self._state: list[Variable] = []
        self._slots: dict[str, list[Variable]] = {}
        self._index: dict[int, int] = {}
        self._trainable_variables: list[Variable] = []
        self._excluded_from_weight_decay: set[int] = set()
        self._excluded_names: re.Pattern[str] | None = None
        self.iterations = Variable(
            np.array(0, dtype=np.int64), name="iterations", trainable=False, path=f"{self.name}/iterations"
        )
        self._learning_rate: Variable | schedules.LearningRateSchedule | Callable[[], Any]
        if isinstance(learning_rate, float):
            self._learning_rate = Variable(learning_rate, name="learning_rate", trainable=False,
                                           path=f"{self.name}/learning_rate")  # fmt: skip
        else:
            self._learning_rate = learning_rate

    def _resolve_learning_rate(
        self, value: Any, current: Any
    ) -> float | schedules.LearningRateSchedule | Callable[[], Any]:
        """A checked float (a scalar tensor, such as the ``learning_rate`` property, gives its value), a schedule or a
        function of no arguments; a float cannot replace a schedule or a function ``current``."""
        if isinstance(value, schedules.LearningRateSchedule) or (callable(value) and not isinstance(value, Tensor)):
            return value
        owner = type(self).__name__
        if isinstance(value, Tensor) and value.shape == () and value.dtype in ("float32", "float64"):
            value = value.item()
        if not is_real(value):
            fail(owner, "learning_rate", "a non-negative float, a LearningRateSchedule or a function", value, TypeError)
        rate = check_number(owner, "learning_rate", value, 0.0)
        if current is not None and not isinstance(current, Variable):
            kind = "schedule" if isinstance(current, schedules.LearningRateSchedule) else "function"
            raise TypeError(
                f"{owner} has a learning rate {kind}, so its learning rate cannot be set to a float (received "
                f"{value!r}); assign a schedule or a function, or create the optimizer with a float `learning_rate`."
            )
        return rate

    # -------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> Tensor:
        """The current learning rate: the variable, the schedule's value at ``iterations``, or the function's value."""
        if isinstance(self._learning_rate, Variable):
            return self._learning_rate
        with no_grad():
            if isinstance(self._learning_rate, schedules.LearningRateSchedule):
                return self._learning_rate(self.iterations)
            return to_tensor(self._learning_rate())

    @learning_rate.setter
    def learning_rate(self, value: LearningRate | Tensor) -> None:
        """Set a new rate, schedule or function (callbacks set rates between steps; the compiled step reads the
        variable). A schedule or function replaces the rate variable, so set it before the first ``fit`` (or
        compile again)."""
        rate = self._resolve_learning_rate(value, self._learning_rate)
        if not isinstance(rate, float):
            self._learning_rate = rate
        elif isinstance(self._learning_rate, Variable):
            self._learning_rate.assign(rate)

    # ------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(
        self, var_list: Sequence[Variable] | None = None, var_names: Sequence[str] | None = None
    ) -> None:
        """Spare the variables in ``var_list``, and those whose name contains one of ``var_names`` (regular
        expressions, e.g. ``["bias"]``), from weight decay; call it before the optimizer is built."""
        owner = f"{type(self).__name__}.exclude_from_weight_decay"
        if self.built:
            raise ValueError(f"{owner} can only be called before the optimizer is built.")
        variables = list(var_list or [])
        names = list(var_names or [])
        for i, variable in enumerate(variables):
            if not isinstance(variable, Variable):
                fail(owner, f"var_list[{i}]", "a Variable", variable, TypeError)
        for i, name in enumerate(names):
            if not isinstance(name, str):
                fail(owner, f"var_names[{i}]", "a string", name, TypeError)
        self._excluded_from_weight_decay = {id(variable) for variable in variables}
        self._excluded_names = re.compile("|".join(names)) if names else None

    def use_weight_decay(self, variable: Variable) -> bool:
        """Whether weight decay applies to ``variable`` (see :meth:`exclude_from_weight_decay`)."""
        if id(variable) in self._excluded_from_weight_decay:
            return False
        return self._excluded_names is None or self._excluded_names.search(variable.name or "") is None

    # ---------------------------------------------------------------- state
    def build(self, variables: Sequence[Variable]) -> None:
        """Create the state for ``variables`` (once; :meth:`apply` calls it on first use)."""
        if self.built:
            return
        self._trainable_variables = list(variables)
        self._index = {id(v): i for i, v in enumerate(self._trainable_variables)}
        self.create_state(self._trainable_variables)
        self.built = True

    def create_state(self, variables: list[Variable]) -> None:  # noqa: B027 (a hook: by default, no slots)
        """Add the optimizer's slots for ``variables`` (plain SGD has none)."""

    def add_variable(
        self, shape: tuple[int, ...], name: str, dtype: str | None = None, initial_value: float = 0.0
    ) -> Variable:
        """A state variable filled with ``initial_value``, listed in :attr:`variables`."""
        variable = Variable(
            np.full(shape, initial_value),
            name=name,
            trainable=False,
            dtype=dtype or settings.floatx,
            path=f"{self.name}/{name}",
        )
        self._state.append(variable)
        return variable

    def add_optimizer_variables(
        self, variables: Sequence[Variable], names: str | Sequence[str], initial_value: float = 0.0
    ) -> None:
        """One slot per variable and name, shaped like the variable and named ``{path}_{name}`` (see :meth:`slot`).

        Several names are created variable by variable (``m_w1, u_w1, m_w2, u_w2``), as Keras orders them.
        """
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            self._slots[name] = []
        for variable in variables:
            for name in names:
                slot = self.add_variable(
                    variable.shape, f"{variable.path.replace('/', '_')}_{name}", variable.dtype, initial_value
                )
                self._slots[name].append(slot)

    def slot(self, name: str, variable: Variable) -> Variable:
        """The ``name`` slot of ``variable``."""
        return self._slots[name][self._index[id(variable)]]

    @property
    def variables(self) -> list[Variable]:
        """The whole state, in a fixed order: ``iterations``, the learning rate (unless scheduled), then the slots
        in the order :meth:`build` created them."""
        rate = [self._learning_rate] if isinstance(self._learning_rate, Variable) else []
        return [self.iterations, *rate, *self._state]

    def get_weights(self) -> list[np.ndarray]:
        """The values of :attr:`variables` as NumPy arrays (copies), ``iterations`` first, as Keras orders them."""
        return [np.array(variable.numpy()) for variable in self.variables]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set every state variable from ``weights`` (in :attr:`variables`' order); the optimizer must be built."""
        owner = f"{type(self).__name__}.set_weights"
        if not self.built:
            raise ValueError(
                f"{owner}: the optimizer has no state yet; call build(trainable_variables) (or train) first."
            )
        assign_all(owner, self.variables, weights)

    # --------------------------------------------------------------- update
    def apply(self, grads: Sequence[Tensor | None], variables: Sequence[Variable] | None = None) -> None:
        """Update each variable from its gradient (``variables`` defaults to those the optimizer was built with).

        Variables whose gradient is None are left alone, with a warning; all None is an error.
        """
        owner = type(self).__name__
        if variables is None:
            if not self.built:
                raise ValueError(
                    f"{owner}.apply: pass `variables` (or call build(variables) first) so the optimizer knows what "
                    "to update."
                )
            variables = self._trainable_variables
        variables, grads = list(variables), list(grads)
        if len(grads) != len(variables):
            raise ValueError(
                f"{owner}.apply: received {len(grads)} gradients for {len(variables)} variables; they must pair up."
            )
        if not grads:
            return
        if all(g is None for g in grads):
            raise ValueError("No gradients provided for any variable.")
        missing = [v.path for g, v in zip(grads, variables) if g is None]
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss; they are left as they are.",
                stacklevel=2,
            )
        with no_grad():
            self.build(variables)
            unknown = [v.path for v in variables if id(v) not in self._index]
            if unknown:
                raise ValueError(
                    f"{owner}.apply: variables {unknown} are not among the {len(self._index)} this optimizer was "
                    "built with; create a new optimizer for new variables."
                )
            pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
            variables = [v for _, v in pairs]
            grads = self.clip_gradients([cast(g, v.dtype) for g, v in pairs])
            learning_rate = self.learning_rate
            if self.weight_decay:
                for variable in filter(self.use_weight_decay, variables):
                    variable.assign(variable - variable * self.weight_decay * cast(learning_rate, variable.dtype))
            self.update_steps(grads, variables, learning_rate)
            self.iterations.assign_add(1)
            for variable in variables:
                if variable.constraint is not None:
                    variable.assign(variable.constraint(variable))

    def scale_loss(self, loss: Tensor) -> Tensor:
        """The loss to differentiate: ``loss`` itself (a :class:`LossScaleOptimizer` multiplies it by its scale)."""
        return loss

    def apply_gradients(self, grads_and_vars: Sequence[tuple[Tensor | None, Variable]]) -> None:
        """Keras's form: a list of ``(gradient, variable)`` pairs."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def clip_gradients(self, grads: list[Tensor]) -> list[Tensor]:
        """Apply clipnorm (per gradient), global_clipnorm (over all) or clipvalue; a limit of 0 means off."""
        if self.clipnorm:
            return [_scale_to_norm(g, sqrt(sum(g * g)), self.clipnorm) for g in grads]
        if self.global_clipnorm:
            squares = [sum(g * g) for g in grads]
            total = squares[0]
            for square in squares[1:]:
                total = total + cast(square, total.dtype)
            norm = sqrt(total)
            return [_scale_to_norm(g, cast(norm, g.dtype), self.global_clipnorm) for g in grads]
        if self.clipvalue:
            return [clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def update_steps(self, grads: list[Tensor], variables: list[Variable], learning_rate: Tensor) -> None:
        """Run :meth:`update_step` for every variable (Nadam also updates a shared variable first)."""
        for gradient, variable in zip(grads, variables):
            self.update_step(gradient, variable, cast(learning_rate, variable.dtype))

    @abstractmethod
    def update_step(self, gradient: Tensor, variable: Variable, learning_rate: Tensor) -> None:
        """Update ``variable`` (and its slots) from its clipped ``gradient``, both of ``variable``'s dtype."""

    # --------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (state is not included: see :attr:`variables`)."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            rate: float | dict[str, Any] = schedules.serialize(self._learning_rate)
        else:  # a function's rate is saved as its current value
            rate = float(self.learning_rate.item())
        return {"name": self.name, "learning_rate": rate, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                **{attribute: getattr(self, attribute) for attribute in self.hyperparameters}}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Mapping[str, type] | None = None) -> Optimizer:
        """A fresh optimizer (no state) from :meth:`get_config`'s output.

        ``custom_objects`` may name your schedule classes.
        """
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    # ---------------------------------------------------- copying (fit's area)
    def __setstate__(self, state: dict[str, Any]) -> None:
        """After ``copy.deepcopy`` or unpickling: index the copied variables, whose ids are new."""
        self.__dict__.update(state)
        self._index = {id(v): i for i, v in enumerate(self._trainable_variables)}


def _scale_to_norm(g: Tensor, norm: Tensor, limit: float) -> Tensor:
    """``g`` scaled down so its norm is at most ``limit`` (``g * limit / max(norm, limit)``, as Keras)."""
    return g * (limit / maximum(norm, limit))


def check_beta(owner: str, argument: str, value: Any) -> float:
    """A moment decay rate: in [0, 1) (1 would divide by zero in the bias corrections)."""
    return check_number(owner, argument, value, 0.0, 1.0, high_open=True)


def check_epsilon(owner: str, value: Any) -> float:
    return check_number(owner, "epsilon", value, 0.0)


__all__ = ["ClippingAndName", "CommonArguments", "LearningRate", "Optimizer", "check_beta", "check_epsilon"]
