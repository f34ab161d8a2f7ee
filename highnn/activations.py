"""Activation functions, by function or by Keras's string names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import FunctionType
from typing import Any

from highnn.graph import Tensor
from highnn.ops import composites as C
from highnn.ops.primitives import exp, tanh, to_tensor
from highnn.registry import Registry

Activation = Callable[[Any], Tensor]


def linear(x: Any) -> Tensor:
    """The identity."""
    return to_tensor(x)


exponential = exp
relu, relu6, leaky_relu, elu, selu, gelu = C.relu, C.relu6, C.leaky_relu, C.elu, C.selu, C.gelu
sigmoid, hard_sigmoid, softmax, log_softmax = C.sigmoid, C.hard_sigmoid, C.softmax, C.log_softmax
softplus, softsign, silu = C.softplus, C.softsign, C.silu
swish = silu
celu, glu, mish, log_sigmoid, hard_silu, hard_tanh = C.celu, C.glu, C.mish, C.log_sigmoid, C.hard_silu, C.hard_tanh
hard_shrink, soft_shrink, tanh_shrink, squareplus, sparse_plus = (
    C.hard_shrink,
    C.soft_shrink,
    C.tanh_shrink,
    C.squareplus,
    C.sparse_plus,
)
hard_swish = hard_silu


def threshold(x: Any, threshold: float = 0.0, default_value: float = 0.0) -> Tensor:
    """x where x > threshold, ``default_value`` elsewhere (defaults let the name ``"threshold"`` stand alone)."""
    return C.threshold(x, threshold, default_value)


def compute_output_shape(activation: Activation, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
    """The shape ``activation`` gives inputs of ``input_shape``: glu halves the last axis, the rest keep it."""
    if activation is not glu:
        return tuple(input_shape)
    last = input_shape[-1]
    return tuple(input_shape[:-1]) + (None if last is None else last // 2,)


ACTIVATIONS: Registry[Activation] = Registry("activation", FunctionType)
ACTIVATIONS.register(linear, "linear")
ACTIVATIONS.register(relu, "relu")
ACTIVATIONS.register(sigmoid, "sigmoid")
ACTIVATIONS.register(tanh, "tanh")
ACTIVATIONS.register(softmax, "softmax")
ACTIVATIONS.register(log_softmax, "log_softmax")
ACTIVATIONS.register(leaky_relu, "leaky_relu")
ACTIVATIONS.register(elu, "elu")
ACTIVATIONS.register(selu, "selu")
ACTIVATIONS.register(gelu, "gelu")
ACTIVATIONS.register(softplus, "softplus")
ACTIVATIONS.register(softsign, "softsign")
ACTIVATIONS.register(silu, "silu")
ACTIVATIONS.register(swish, "swish")
ACTIVATIONS.register(hard_sigmoid, "hard_sigmoid")
ACTIVATIONS.register(exponential, "exponential")
ACTIVATIONS.register(relu6, "relu6")
ACTIVATIONS.register(celu, "celu")
ACTIVATIONS.register(glu, "glu")
ACTIVATIONS.register(mish, "mish")
ACTIVATIONS.register(log_sigmoid, "log_sigmoid")
ACTIVATIONS.register(hard_silu, "hard_silu")
ACTIVATIONS.register(hard_swish, "hard_swish")
ACTIVATIONS.register(hard_tanh, "hard_tanh")
ACTIVATIONS.register(hard_shrink, "hard_shrink")
ACTIVATIONS.register(soft_shrink, "soft_shrink")
ACTIVATIONS.register(tanh_shrink, "tanh_shrink")
ACTIVATIONS.register(squareplus, "squareplus")
ACTIVATIONS.register(sparse_plus, "sparse_plus")
ACTIVATIONS.register(threshold, "threshold")


def get(identifier: str | Activation | None) -> Activation:
    """The activation function for a name or a function; None is ``linear``, as in Keras."""
    return linear if identifier is None else ACTIVATIONS.get(identifier)


def serialize(activation: Activation) -> str:
    """The name an activation is saved under."""
    for name, function in ACTIVATIONS.names.items():
        if function is activation:
            return name
    raise ValueError(
        f"Cannot serialize the custom activation {activation!r}; use one of: {', '.join(ACTIVATIONS.names)} "
        "(custom functions cannot be saved; see docs/keras-migration.md)."
    )


def deserialize(name: str, custom_objects: Mapping[str, Any] | None = None) -> Activation:
    """The activation :func:`serialize` named (or one in ``custom_objects``)."""
    return ACTIVATIONS.get(name, custom_objects)
