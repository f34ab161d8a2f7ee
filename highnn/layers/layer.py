"""The Layer base class: weights, lazy building, input checks and regularisation penalties."""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from highnn import constraints, dtype_policies, initializers, regularizers
from highnn.backends import ALL_FLOAT_DTYPES, DTYPES
from highnn.checks import check_bool, check_choice, fail, is_integer
from highnn.config import settings
from highnn.graph import Tensor, autocast
from highnn.layers import symbolic
from highnn.layers.symbolic import MIGRATION
from highnn.ops.primitives import cast, to_tensor
from highnn.variables import Variable, assign_all

_name_counts: defaultdict[str, int] = defaultdict(int)

#: how a distribution strategy may combine a weight's replicas (Keras's ``aggregation`` values)
AGGREGATIONS = ("none", "mean", "sum", "only_first_replica")


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
        # first: a bad `dtype` raises before anything is named; None (no policy set) follows floatx when used
        self._dtype_policy = dtype_policies.get(dtype) if dtype is not None or dtype_policies.is_set() else None
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.built = False
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.input_shape_hint = tuple(input_shape) if input_shape is not None else None
        self._own_weights: list[Variable] = []
        self._own_state: list[Variable] = []
        self._layers: list[Layer] = []
        self._added_losses: list[Tensor] = []
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
            def build_once(self: Layer, *args: Any, **kwargs: Any) -> None:
                build(self, *args, **kwargs)
                self.built = True

            cls.build = build_once  # type: ignore[method-assign]

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Layer) and name != "_parent" and value not in getattr(self, "_layers", ()):
            self.__dict__.setdefault("_layers", []).append(value)
        super().__setattr__(name, value)

    # --------------------------------------------------------------- weights
    def add_weight(
        self,
        shape: Sequence[int] | None = None,
        initializer: str | initializers.Initializer | None = None,
        dtype: str | None = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: str | regularizers.Regularizer | None = None,
        constraint: constraints.ConstraintLike = None,
        aggregation: str = "none",
        overwrite_with_gradient: bool = False,
        name: str | None = None,
    ) -> Variable:
        """Create a weight (Keras's signature and argument order), drawn with highnn's seeded generator.

        ``shape`` None is a scalar; ``initializer`` None is ``"glorot_uniform"`` for a float
        ``dtype`` and ``"zeros"`` otherwise; ``name`` None is ``variable``, ``variable_1``, ...
        A ``regularizer`` adds its penalty to :attr:`losses`; a ``constraint`` is kept on the
        weight (``weight.constraint``) and applied by the optimizer after each update.
        ``autocast=False`` keeps the weight in its own dtype inside a mixed-precision call;
        ``aggregation`` is accepted for Keras scripts (highnn keeps one copy of each weight).
        """
        shape = _check_shape(shape)
        check_bool("add_weight", "trainable", trainable)
        check_bool("add_weight", "autocast", autocast)
        check_choice("add_weight", "aggregation", aggregation, AGGREGATIONS)
        if overwrite_with_gradient is not False:
            fail("add_weight", "overwrite_with_gradient", f"False (float8 training is not supported; {MIGRATION})",
                 overwrite_with_gradient)  # fmt: skip
        if dtype is not None and dtype not in DTYPES:  # Keras's order: a name passed third lands here
            fail("add_weight", "dtype", f"one of {DTYPES} (pass the weight's name as `name=`)", dtype, TypeError)
        dtype = dtype or self.variable_dtype
        name = name or unique_name("variable")
        if initializer is None:
            initializer = "glorot_uniform" if np.dtype(dtype).kind == "f" else "zeros"
        charge_weight_budget(f"{self.name}/{name}", shape)
        value = initializers.get(initializer)(shape, dtype)
        variable = Variable(
            value,
            name=name,
            trainable=trainable and self.trainable,
            dtype=dtype,
            path=f"{self.name}/{name}",
            constraint=constraints.get(constraint),
            autocast=autocast,
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
        """The weights that training updates: none when the layer is frozen (``trainable = False``, also set after
        building), else its own trainable weights and its sub-layers' trainable weights."""
        if not self.trainable:
            return []
        return _distinct([w for w in self._own_weights if w.trainable], (sub.trainable_weights for sub in self._layers))

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """The weights that training leaves alone (frozen layers' included), in the order of :attr:`weights`."""
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def trainable_variables(self) -> list[Variable]:
        """The trainable ones among :attr:`variables` (Keras's name; the same as :attr:`trainable_weights`)."""
        return [v for v in self.variables if v.trainable] if self.trainable else []

    @property
    def non_trainable_variables(self) -> list[Variable]:
        """The rest of :attr:`variables`: non-trainable weights and state such as a random layer's seed."""
        return [v for v in self.variables if not v.trainable] if self.trainable else self.variables

    def get_weights(self) -> list[np.ndarray]:
        """The weights' values as NumPy arrays, in the order of :attr:`weights`."""
        return [np.array(w.numpy()) for w in self.weights]  # copies: writing into them leaves the model alone

    def set_weights(self, weights: list[Any]) -> None:
        """Replace every weight's value; shapes must match."""
        assign_all(f"set_weights of layer {self.name!r}", self.weights, weights)

    def count_params(self) -> int:
        return sum(math.prod(w.shape) for w in self.weights)

    @property
    def losses(self) -> list[Tensor]:
        """Penalties on weights (now) and the losses added during the last call (activity regularisation,
        :meth:`add_loss`), this layer's and its sub-layers'."""
        own = [penalty(weight) for weight, penalty in self._regularized] + self._added_losses
        return own + [loss for layer in self._layers for loss in layer.losses]

    def add_loss(self, loss: Any) -> None:
        """Add ``loss`` (a tensor; summed if not a scalar) to :attr:`losses`, from inside ``call``.

        The losses a call adds last until the next call of the outermost layer, so
        within a training step they join the step's loss (``compute_loss``), traced
        like the rest of the step.
        """
        if not isinstance(loss, (Tensor, float, int, np.ndarray)) or isinstance(loss, bool):
            fail(f"{type(self).__name__}.add_loss", "loss", "a tensor", loss, TypeError)
        self._added_losses.append(to_tensor(loss))

    def _clear_losses(self) -> None:
        """Forget the losses added by the last call, this layer's and its sub-layers'."""
        self._added_losses = []
        for layer in self._layers:
            layer._clear_losses()

    # --------------------------------------------------------------- calling
    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first, may be None); a layer without weights
        is simply marked built."""
        self.built = True

    def call(self, inputs: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The layer's computation; subclasses take ``training`` too when they behave differently in training."""
        raise NotImplementedError(f"{type(self).__name__} must define call().")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the layer, as Keras's ``Layer.__call__``: on its first argument (a tensor, or a list or dict of them)
        and any other tensors among the positional and keyword arguments; on symbolic tensors, record the call.

        ``training`` reaches ``call`` when it takes it; a ``mask`` it takes defaults to the first input's mask
        (a list of masks for a list of inputs), and a ``<name>_mask`` to the mask of its ``<name>`` argument.
        """
        first = _parameters(type(self).call)[1]  # after self: inputs, query, ...
        if not args and first in kwargs:
            args = (kwargs.pop(first),)
        if not args:
            raise TypeError(
                f"Layer {self.name!r}: call it on its inputs, layer({first}, ...); received only the keyword "
                f"arguments {sorted(kwargs)}."
            )
        if symbolic.is_symbolic([args, kwargs]):
            return symbolic.call_symbolic(self, args, kwargs)
        training, mask = kwargs.pop("training", False), kwargs.pop("mask", None)
        inputs, rest = args[0], [symbolic.map_structure(self._autocast_float, arg) for arg in args[1:]]
        kwargs = {name: symbolic.map_structure(self._autocast_float, value) for name, value in kwargs.items()}
        several = isinstance(inputs, (list, tuple, dict))
        x = symbolic.map_structure(self._autocast_input, inputs) if several else self._autocast_input(inputs)
        if mask is None:
            mask = _mask_of(inputs)
        self._maybe_build([x, *rest], kwargs)
        if not several:
            self.check_input(x)
        if self._call_takes_training:
            kwargs["training"] = training
        if self._call_takes_mask:
            kwargs["mask"] = mask
        self._fill_argument_masks([x, *rest], kwargs)
        with _call_context(self), autocast(self.compute_dtype if self.dtype_policy.is_mixed else None):
            out = self.call(x, *rest, **kwargs)
        outputs = symbolic.flatten(out)
        if self.activity_regularizer is not None and outputs:
            main = outputs[0]  # a layer's main output (MultiHeadAttention's, not its scores)
            self.add_loss(self.activity_regularizer(main) / float(max(main.shape[0], 1)))
        output_masks = self.compute_mask(x, mask)
        masks = symbolic.flatten(output_masks) if isinstance(output_masks, (list, tuple)) else [output_masks]
        for tensor, output_mask in zip(outputs, masks):
            if isinstance(tensor, Tensor) and tensor is not inputs:
                tensor.mask = output_mask
        return out

    def _tensor_arguments(self, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's tensor arguments by ``call``'s parameter names, in order (masks and ``training`` left out)."""
        try:
            bound = inspect.signature(self.call).bind_partial(*args, **kwargs).arguments
        except TypeError as error:
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}): {error}.") from error
        return {
            name: value
            for name, value in bound.items()
            if name not in ("training", "mask", "args", "kwargs")
            and not name.endswith("_mask")
            and value is not None
            and all(isinstance(leaf, (Tensor, symbolic.SymbolicTensor)) for leaf in symbolic.flatten(value))
        }

    def _maybe_build(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Build from the shapes of the call's tensor arguments, as Keras does: a ``build(input_shape)`` gets the
        first one's; a ``build`` of several parameters gets each as ``<name>_shape`` (``query_shape``, ...)."""
        if self.built:
            return
        shapes = {
            f"{name}_shape": symbolic.map_structure(lambda t: tuple(t.shape), value)
            for name, value in self._tensor_arguments(args, kwargs).items()
        }
        parameters = [
            p.name
            for p in inspect.signature(self.build).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        if len(parameters) == 1:
            self.build(next(iter(shapes.values())))
        else:
            stray = [
                p
                for p in parameters
                if not (p.endswith("_shape") and p[: -len("_shape")] in _parameters(type(self).call))
            ]
            if stray:
                raise TypeError(
                    f"Layer {self.name!r} ({type(self).__name__}): a build() of several parameters must name each "
                    f"after a tensor argument of call() (build(query_shape, value_shape) for call(query, value)), "
                    f"as in Keras; received build({', '.join(parameters)})."
                )
            self.build(**{p: shapes[p] for p in parameters if p in shapes})
        self.built = True

    def _fill_argument_masks(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Give a ``<name>_mask`` parameter of ``call`` left unset the mask its ``<name>`` tensor carries."""
        wanted = [name for name in _parameters(type(self).call) if name.endswith("_mask")]
        if not wanted:
            return
        tensors = self._tensor_arguments(args, kwargs)
        for name in wanted:
            source = tensors.get(name[: -len("_mask")])
            if kwargs.get(name) is None and isinstance(source, Tensor) and source.mask is not None:
                kwargs[name] = source.mask

    # ------------------------------------------------------- dtype policy
    @property
    def dtype_policy(self) -> dtype_policies.DTypePolicy:
        """The layer's policy: the one given (``dtype=``) or set globally when it was made, else floatx's."""
        return self._dtype_policy or dtype_policies.DTypePolicy()

    @dtype_policy.setter
    def dtype_policy(self, policy: str | dtype_policies.DTypePolicy) -> None:
        self._dtype_policy = dtype_policies.get(policy)

    @property
    def compute_dtype(self) -> str:
        """The dtype of the layer's computations (its policy's): float inputs are cast to it, variables read in it."""
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype the layer's weights are created and kept in."""
        return self.dtype_policy.variable_dtype

    def _autocast_float(self, value: Any) -> Any:
        """A float array or Tensor among a call's other arguments as a Tensor of the compute dtype; anything else
        as is (masks, flags, integer arrays)."""
        if isinstance(value, (Tensor, np.ndarray)) and str(value.dtype) in ALL_FLOAT_DTYPES:
            return self._autocast_input(value)
        return value

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
        if self._dtype_policy is not None:
            config["dtype"] = self._dtype_policy.name  # only under policies, so floatx-only configs stay as they were
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = dict(config)
        if "activity_regularizer" in config:
            config["activity_regularizer"] = regularizers.deserialize(config["activity_regularizer"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


_entry_layer: ContextVar[Layer | None] = ContextVar("highnn.layers.entry_layer", default=None)


@contextmanager
def _call_context(layer: Layer) -> Iterator[None]:
    """A call's scope: the outermost call (not one nested in another layer's) first clears the added losses."""
    if _entry_layer.get() is not None:
        yield
        return
    layer._clear_losses()
    token = _entry_layer.set(layer)
    try:
        yield
    finally:
        _entry_layer.reset(token)


def _check_shape(shape: Any) -> tuple[int, ...]:
    """A weight's shape as a tuple of non-negative ints (None is a scalar's ``()``)."""
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(is_integer(n) and n >= 0 for n in shape):
        fail("add_weight", "shape", "a tuple of non-negative integers", shape, TypeError)
    return tuple(int(n) for n in shape)


def _mask_of(inputs: Any) -> Any:
    """The mask an input tensor carries; for a list of inputs, the list of their masks (None when none has one)."""
    if isinstance(inputs, Tensor):
        return inputs.mask
    if isinstance(inputs, (list, tuple)):
        masks = [x.mask if isinstance(x, Tensor) else None for x in inputs]
        return masks if any(m is not None for m in masks) else None
    return None


@functools.cache
def _parameters(function: Callable[..., Any]) -> tuple[str, ...]:
    """The parameter names of ``function`` (a class's ``call``: ``self`` first)."""
    return tuple(inspect.signature(function).parameters)


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
