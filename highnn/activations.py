"""Activation functions, by function or by Keras's string names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from highnn.graph import Tensor
from highnn.ops import composites as C
from highnn.ops.primitives import exp, tanh, to_tensor
from highnn.registry import lookup

Activation = Callable[[Any], Tensor]


def linear(x: Any) -> Tensor:
    """The identity."""
    return to_tensor(x)


exponential = exp
relu, relu6, leaky_relu, elu, selu, gelu = C.relu, C.relu6, C.leaky_relu, C.elu, C.selu, C.gelu
sigmoid, hard_sigmoid, softmax, log_softmax = C.sigmoid, C.hard_sigmoid, C.softmax, C.log_softmax
softplus, softsign, silu = C.softplus, C.softsign, C.silu
swish = silu

ACTIVATIONS: dict[str, Activation] = {
    "linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax, "leaky_relu": leaky_relu, "elu": elu, "selu": selu, "gelu": gelu,
    "softplus": softplus, "softsign": softsign, "silu": silu, "swish": swish,
    "hard_sigmoid": hard_sigmoid, "exponential": exponential, "relu6": relu6,
}  # fmt: skip


def get(identifier: str | Activation | None) -> Activation:
    """The activation function for a name, a function, or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return lookup("activation", identifier, ACTIVATIONS)
    if callable(identifier):
        return identifier
    raise TypeError(f"`activation` must be a string or a callable, received {identifier!r}.")


def serialize(activation: Activation) -> str:
    """The name an activation is saved under."""
    for name, function in ACTIVATIONS.items():
        if function is activation:
            return name
    raise ValueError(f"Cannot serialize the custom activation {activation!r}; use one of: {', '.join(ACTIVATIONS)}.")
