"""The Layer base class: weights, lazy building, input checks and regularisation penalties."""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from highnn import constraints, dtype_policies, initializers, regularizers
from highnn.backends import ALL_FLOAT_DTYPES
from highnn.config import settings
from highnn.graph import Tensor, autocast
from highnn.layers import symbolic
from highnn.ops.primitives import cast, to_tensor
from highnn.variables import Variable

_name_counts: defaultdict[str, int] = defaultdict(int)


def unique_name(prefix: str) -> str:
    """``dense``, then ``dense_1``, ``dense_2``, ... as Keras names layers."""
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def snake_case(name: str) -> str:
    """Keras's default-name rule: ``Conv2DTranspose`` -> ``conv2d_transpose``, ``F1Score`` -> ``f1_score``.

    An underscore goes before each capitalised word (``Transpose``, ``Score``) and between a lower-case
    letter and a capital (``ReLU`` -> ``re_lu``).
    """
    words = re.sub(r"(?<=.)(?=[A-Z][a-z]+)", "_", name)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", words).lower()


class Layer:
    """A callable transformation with weights, built on first call from the input shape.

    Subclasses define ``build(input_shape)`` (create weights with
    :meth:`add_weight`) and ``call(inputs, training=False)``.

    Masks follow Keras: a layer that makes one defines ``compute_mask(inputs,
    previous_mask)``; a layer that reads one takes ``mask`` in ``call``; one
    with ``supports_masking = True`` passes its input's mask on unchanged. The
    mask travels on the output tensor (``tensor.mask``), so it reaches the next
    layer in Sequential, subclassed and functional models alike.
    """

    supports_masking = False

    def __init__(
        self,
        name: str | None = None,
        trainable: bool = True,
        activity_regularizer: str | regularizers.Regularizer | None = None,
        dtype: str | dtype_policies.DTypePolicy | None = None,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.dtype_policy = dtype_policies.get(dtype)  # first: a bad `dtype` raises before anything is named
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.built = False
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.input_shape_hint = tuple(input_shape) if input_shape is not None else None
        self._own_weights: list[Variable] = []
        self._own_state: list[Variable] = []
        self._layers: list[Layer] = []
        self._activity_losses: list[Tensor] = []
        self._regularized: list[tuple[Variable, regularizers.Regularizer]] = []
        self.expected_last_dim: int | None = None
        self._call_takes_training = "training" in inspect.signature(self.call).parameters
        self._call_takes_mask = "mask" in inspect.signature(self.call).parameters
        self._inbound_nodes: list[symbolic.Node] = []  # the calls on symbolic tensors (functional models)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make every ``build`` mark the layer built, so building twice never adds weights twice."""
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            build = cls.__dict__["build"]

            @functools.wraps(build)
            def build_once(self: Layer, input_shape: tuple[int | None, ...]) -> None:
                build(self, input_shape)
                self.built = True

            cls.build = build_once  # type: ignore[method-assign]

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Layer) and name != "_parent" and value not in getattr(self, "_layers", ()):
            self.__dict__.setdefault("_layers", []).append(value)
        super().__setattr__(name, value)

    # --------------------------------------------------------------- weights
    def add_weight(
        self,
        shape: tuple[int, ...],
        initializer: str | initializers.Initializer = "glorot_uniform",
        name: str = "weight",
        trainable: bool = True,
        regularizer: str | regularizers.Regularizer | None = None,
        constraint: constraints.ConstraintLike = None,
        dtype: str | None = None,
    ) -> Variable:
        """Create a weight from ``initializer`` (drawn with highnn's seeded generator).

        A ``regularizer`` adds its penalty to :attr:`losses`; a ``constraint`` is kept
        on the weight (``weight.constraint``) and applied by the optimizer after each update.
        """
        charge_weight_budget(f"{self.name}/{name}", shape)
        value = initializers.get(initializer or "glorot_uniform")(shape, dtype or self.variable_dtype)
        variable = Variable(
            value,
            name=name,
            trainable=trainable and self.trainable,
            path=f"{self.name}/{name}",
            constraint=constraints.get(constraint),
        )
        self._own_weights.append(variable)
        penalty = regularizers.get(regularizer)
        if penalty is not None:
            self._regularized.append((variable, penalty))
        return variable

    def add_state_variable(self, value: Any, name: str) -> Variable:
        """Non-weight state, such as a random layer's seed: in :attr:`variables`, not in :attr:`weights`."""
        variable = Variable(value, name=name, trainable=False, path=f"{self.name}/{name}")
        self._own_state.append(variable)
        return variable

    @property
    def variables(self) -> list[Variable]:
        """The weights and every other state variable, this layer's and its sub-layers' (Keras's ``variables``)."""
        return _distinct(self.weights + self._own_state, (layer.variables for layer in self._layers))

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def weights(self) -> list[Variable]:
        """All weights, this layer's first, then its sub-layers' in order."""
        return _distinct(list(self._own_weights), (layer.weights for layer in self._layers))

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if not w.trainable] if self.trainable else self.weights

    def get_weights(self) -> list[np.ndarray]:
        """The weights' values as NumPy arrays, in the order of :attr:`weights`."""
        return [np.array(w.numpy()) for w in self.weights]  # copies: writing into them leaves the model alone

    def set_weights(self, weights: list[Any]) -> None:
        """Replace every weight's value; shapes must match."""
        current = self.weights
        if len(weights) != len(current):
            raise ValueError(
                f"set_weights of layer {self.name!r}: expected a list of {len(current)} arrays, "
                f"received {len(weights)}."
            )
        for variable, value in zip(current, weights):
            if tuple(np.shape(value)) != variable.shape:
                raise ValueError(
                    f"set_weights of layer {self.name!r}: weight {variable.path!r} has shape {variable.shape}, "
                    f"received an array of shape {tuple(np.shape(value))}."
                )
        for variable, value in zip(current, weights):
            variable.assign(np.asarray(value))

    def count_params(self) -> int:
        return sum(math.prod(w.shape) for w in self.weights)

    @property
    def losses(self) -> list[Tensor]:
        """Regularisation penalties: on weights (now) and on activities (last call), this layer's and sub-layers'."""
        own = [penalty(weight) for weight, penalty in self._regularized] + self._activity_losses
        return own + [loss for layer in self._layers for loss in layer.losses]

    # --------------------------------------------------------------- calling
    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first, may be None); a layer without weights
        is simply marked built."""
        self.built = True

    def call(self, inputs: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The layer's computation; subclasses take ``training`` too when they behave differently in training."""
        raise NotImplementedError(f"{type(self).__name__} must define call().")

    def __call__(self, inputs: Any, training: bool = False, mask: Tensor | None = None) -> Any:
        """Run the layer on a tensor, or on a list or dict of them; on symbolic tensors, record the call."""
        if symbolic.is_symbolic(inputs):
            return symbolic.call_symbolic(self, inputs)
        if mask is None and isinstance(inputs, Tensor):
            mask = inputs.mask
        several = isinstance(inputs, (list, tuple, dict))
        x = symbolic.map_structure(self._autocast_input, inputs) if several else self._autocast_input(inputs)
        if not self.built:
            self.build(symbolic.map_structure(lambda t: t.shape, x) if several else x.shape)
            self.built = True
        if not several:
            self.check_input(x)
        options: dict[str, Any] = {"training": training} if self._call_takes_training else {}
        if self._call_takes_mask:
            options["mask"] = mask
        with autocast(self.compute_dtype if self.dtype_policy.is_mixed else None):
            out = self.call(x, **options)
        if self.activity_regularizer is not None:
            self._activity_losses = [self.activity_regularizer(out) / float(max(out.shape[0], 1))]
        if isinstance(out, Tensor) and out is not inputs:
            out.mask = self.compute_mask(x, mask)
        return out

    # ------------------------------------------------------- dtype policy
    @property
    def compute_dtype(self) -> str:
        """The dtype of the layer's computations (its policy's): float inputs are cast to it, variables read in it."""
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype the layer's weights are created and kept in."""
        return self.dtype_policy.variable_dtype

    def _autocast_input(self, value: Any) -> Tensor:
        """An input as a tensor: a float one in the compute dtype, any other (as before policies) in floatx."""
        x = to_tensor(value)
        dtype = self.compute_dtype if x.dtype in ALL_FLOAT_DTYPES else settings.floatx
        return x if x.dtype == dtype else cast(x, dtype)

    @property
    def input(self) -> Any:
        """The symbolic input(s) of the layer's first call in a functional model."""
        return self._first_node("input").inputs

    @property
    def output(self) -> Any:
        """The symbolic output(s) of the layer's first call in a functional model."""
        return self._first_node("output").outputs

    def _first_node(self, attribute: str) -> symbolic.Node:
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer {self.name!r} has never been called on symbolic tensors, so it has no defined {attribute}."
            )
        return self._inbound_nodes[0]

    def check_input(self, x: Tensor) -> None:
        """Reject inputs whose last axis differs from the one the layer was built for."""
        if self.expected_last_dim is not None and (x.ndim < 1 or x.shape[-1] != self.expected_last_dim):
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected axis -1 of input "
                f"shape to have value {self.expected_last_dim}, but received input with shape {x.shape}."
            )

    def compute_mask(self, inputs: Tensor, previous_mask: Tensor | None = None) -> Tensor | None:
        """The mask of this layer's output: the input's when the layer supports masking, else None."""
        return previous_mask if self.supports_masking else None

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape for ``input_shape``, found by calling the layer on zero-size arrays, side-effect free."""
        return symbolic.infer_output_shape(self, input_shape)

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        default = dtype_policies.DTypePolicy()
        if self.dtype_policy != default or dtype_policies.dtype_policy() != default:
            config["dtype"] = self.dtype_policy.name  # only under policies, so floatx-only configs stay as they were
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = dict(config)
        if "activity_regularizer" in config:
            config["activity_regularizer"] = regularizers.deserialize(config["activity_regularizer"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# ------------------------------------------------- weight budget (loading files)
class WeightBudgetError(ValueError):
    """A layer asked for more weight elements than the budget set by :func:`weight_budget` allows."""


_budget: ContextVar[list[int] | None] = ContextVar("highnn.layers.weight_budget", default=None)


@contextmanager
def weight_budget(elements: int) -> Iterator[None]:
    """Within the block, :meth:`Layer.add_weight` refuses, before allocating, to create more than ``elements``
    weight elements in all (loading a file caps a model's size by the weights the file holds)."""
    token = _budget.set([elements])
    try:
        yield
    finally:
        _budget.reset(token)


def charge_weight_budget(path: str, shape: tuple[int, ...]) -> None:
    """Take the elements of a weight of ``shape`` from the current budget; raise WeightBudgetError if it is spent."""
    remaining = _budget.get()
    if remaining is None:
        return
    size = math.prod(shape)
    if size > remaining[0]:
        raise WeightBudgetError(
            f"weight {path!r} of shape {tuple(shape)} needs {size} elements, more than the {remaining[0]} "
            "left of what the file holds"
        )
    remaining[0] -= size


# ------------------------------------------------- distinct variables, in linear time
def _distinct(found: list[Variable], more: Iterable[list[Variable]]) -> list[Variable]:
    """``found`` extended by each variable of ``more`` not in it yet (by identity), in order, in linear time."""
    seen = {id(variable) for variable in found}
    for variables in more:
        for variable in variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)
    return found
