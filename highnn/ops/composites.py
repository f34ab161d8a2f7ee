"""Operations composed from primitives; their gradients follow from the primitives' rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from highnn.config import settings
from highnn.graph import Tensor
from highnn.ops.primitives import abs as abs_
from highnn.ops.primitives import (
    cast,
    equal,
    exp,
    log,
    log1p,
    log_softmax,
    max,
    maximum,
    minimum,
    reshape,
    sqrt,
    stop_gradient,
    sum,
    tanh,
    to_tensor,
    where,
)
from highnn.ops.primitives import erf as erf_

Axis = int | tuple[int, ...] | None


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis`` (all axes by default)."""
    x = to_tensor(x)
    axes = range(x.ndim) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    count = math.prod(x.shape[a] for a in axes)
    return sum(x, axis, keepdims) / float(count)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``."""
    return -max(-to_tensor(x), axis, keepdims)


def square(x: Any) -> Tensor:
    x = to_tensor(x)
    return x * x


def clip(x: Any, x_min: float, x_max: float) -> Tensor:
    """Limit values to ``[x_min, x_max]``."""
    return minimum(maximum(x, x_min), x_max)


def logsumexp(x: Any, axis: Axis = -1, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) without overflow: the max is taken out first."""
    x = to_tensor(x)
    shift = stop_gradient(max(x, axis, keepdims=True))
    result = log(sum(exp(x - shift), axis, keepdims=True)) + shift
    return result if keepdims else reshape(result, _reduced_shape(x.shape, axis))


def _reduced_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    axes = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    drop = {a % len(shape) for a in axes}
    return tuple(n for i, n in enumerate(shape) if i not in drop)


def softmax(x: Any, axis: int | tuple[int, ...] = -1) -> Tensor:
    """exp(x) normalised to sum to 1 along ``axis``, as exp(log_softmax(x)); remembers ``x`` as its logits."""
    x = to_tensor(x)
    out = exp(log_softmax(x, axis))
    out.logits = x if axis in (-1, x.ndim - 1) else None
    return out


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), as (tanh(x/2) + 1)/2, which never overflows; remembers ``x`` as its logits."""
    x = to_tensor(x)
    out = (tanh(x * 0.5) + 1.0) * 0.5
    out.logits = x
    return out


def relu(x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> Tensor:
    """max(x, 0) by default; with Keras's options, ``negative_slope * (x - threshold)`` below ``threshold``.

    ``max_value`` caps the result. The derivative at the kink is 0, as in PyTorch, JAX and Keras.
    """
    x = to_tensor(x)
    shifted = x - threshold if threshold else x
    out = where(x > threshold, x, shifted * negative_slope if negative_slope else 0.0)
    return out if max_value is None else minimum(out, max_value)


def relu6(x: Any) -> Tensor:
    return relu(x, max_value=6.0)


def leaky_relu(x: Any, negative_slope: float | Tensor = 0.2) -> Tensor:
    x = to_tensor(x)
    return where(x > 0.0, x, x * negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise (exp never sees large x)."""
    x = to_tensor(x)
    return where(x > 0.0, x, (exp(minimum(x, 0.0)) - 1.0) * alpha)


SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def selu(x: Any) -> Tensor:
    return elu(x, SELU_ALPHA) * SELU_SCALE


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """x * Phi(x), exactly with erf or by the tanh approximation."""
    x = to_tensor(x)
    if approximate:
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * (tanh(inner) + 1.0) * 0.5
    return x * (erf_(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5


def softplus(x: Any) -> Tensor:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for large |x|."""
    x = to_tensor(x)
    return maximum(x, 0.0) + log1p(exp(-abs_(x)))


def softsign(x: Any) -> Tensor:
    x = to_tensor(x)
    return x / (abs_(x) + 1.0)


def silu(x: Any) -> Tensor:
    """x * sigmoid(x), also called swish."""
    x = to_tensor(x)
    return x * sigmoid(x)


def hard_sigmoid(x: Any) -> Tensor:
    """relu6(x + 3) / 6, Keras 3's definition."""
    return relu6(to_tensor(x) + 3.0) / 6.0


def one_hot(labels: Any, num_classes: int, dtype: str | None = None) -> Tensor:
    """Integer labels of shape (...) to a (..., num_classes) indicator of ``dtype`` (default floatx)."""
    labels = to_tensor(labels)
    classes = to_tensor(np.arange(num_classes), labels.dtype)
    return cast(equal(reshape(labels, labels.shape + (1,)), classes), dtype or settings.floatx)


def argmax(x: Any, axis: int = -1) -> Tensor:
    """Index of the largest value along ``axis`` (the first one at ties), as int32; not differentiable."""
    x = to_tensor(x)
    axis = axis % x.ndim
    n = x.shape[axis]
    positions = to_tensor(np.arange(n).reshape([n if i == axis else 1 for i in range(x.ndim)]), "int32")
    is_max = equal(x, stop_gradient(max(x, axis, keepdims=True)))
    return -max(where(is_max, -positions, -n), axis)


# --------------------------------------------------- Keras 3's further activations
def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1): a continuously differentiable ELU."""
    x = to_tensor(x)
    return maximum(x, 0.0) + (exp(minimum(x, 0.0) / alpha) - 1.0) * alpha


def glu(x: Any, axis: int = -1) -> Tensor:
    """The gated linear unit: ``a * sigmoid(b)`` where ``a`` and ``b`` are the two halves of ``x`` along ``axis``."""
    x = to_tensor(x)
    if not -x.ndim <= axis < x.ndim or x.shape[axis] % 2:
        raise ValueError(f"glu: axis {axis} of `x` must exist and have an even size, received shape {x.shape}.")
    half = x.shape[axis] // 2
    before = (slice(None),) * (axis % x.ndim)
    return x[before + (slice(None, half),)] * sigmoid(x[before + (slice(half, None),)])


def mish(x: Any) -> Tensor:
    """x * tanh(softplus(x))."""
    x = to_tensor(x)
    return x * tanh(softplus(x))


def log_sigmoid(x: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for every x."""
    return -softplus(-to_tensor(x))


def hard_silu(x: Any) -> Tensor:
    """x * hard_sigmoid(x), also called hard_swish."""
    x = to_tensor(x)
    return x * hard_sigmoid(x)


def hard_tanh(x: Any) -> Tensor:
    """x clipped to [-1, 1]."""
    return clip(x, -1.0, 1.0)


def hard_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """x where |x| > threshold, 0 elsewhere."""
    x = to_tensor(x)
    return where(abs_(x) > threshold, x, 0.0)


def soft_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """x moved ``threshold`` towards 0, and 0 within ``[-threshold, threshold]``."""
    x = to_tensor(x)
    return where(x > threshold, x - threshold, where(x < -threshold, x + threshold, 0.0))


def tanh_shrink(x: Any) -> Tensor:
    """x - tanh(x)."""
    x = to_tensor(x)
    return x - tanh(x)


def squareplus(x: Any, b: float = 4.0) -> Tensor:
    """(x + sqrt(x^2 + b)) / 2: a smooth ReLU made of algebraic operations."""
    x = to_tensor(x)
    return (x + sqrt(x * x + b)) * 0.5


def sparse_plus(x: Any) -> Tensor:
    """0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1."""
    x = to_tensor(x)
    return where(x <= -1.0, 0.0, where(x < 1.0, square(x + 1.0) * 0.25, x))


def threshold(x: Any, threshold: float, default_value: float) -> Tensor:
    """x where x > threshold, ``default_value`` elsewhere."""
    x = to_tensor(x)
    return where(x > threshold, x, default_value)
