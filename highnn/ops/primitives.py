"""The primitive table: every operation the engine knows, declared once, one row each.

A row names the primitive, which is also the backend function that computes it
(``Backend.<name>``), its number of tensor inputs, its shape/dtype check (in
``highnn.ops.operand_checks``) and one VJP rule per input. A rule takes the
output's adjoint ``g``, the output ``out``, the inputs and the static attributes,
and returns the adjoint of its input, written with highnn operations, so backprop
runs on every backend (and can itself be differentiated). Broadcasting in the
forward direction is undone centrally by ``graph.unbroadcast``; rules return the
broadcast shape. A row without rules is not differentiable.

The engine (``highnn.graph``) applies the rows, and ``Tensor``'s operators apply
them by name. Below the table, the functions that normalise arguments before a
row applies (``sum``, ``reshape``, ``matmul``, ...); everything else (mean,
softmax, sigmoid, ...) is composed from these in ``highnn.ops.composites``.
"""

from __future__ import annotations

import builtins
import math
from contextvars import ContextVar
from typing import Any

import numpy as np

from highnn.graph import (
    PRIMITIVES,
    Axis,
    Check,
    Primitive,
    Tensor,
    TensorLike,
    VjpRule,
    full_like,
    normalize_axis,
    to_tensor,
)
from highnn.ops.operand_checks import (
    MAX_SCAN_OPERANDS,
    check_broadcast_to,
    check_cast,
    check_elementwise,
    check_float,
    check_getitem,
    check_log_softmax,
    check_matmul,
    check_random,
    check_reduce,
    check_reshape,
    check_scan,
    check_scan_vjp,
    check_scatter_add,
    check_take,
    check_transpose,
    check_unindex,
    check_where,
)


def _define(name: str, n_inputs: int, check: Check | None, *vjp: VjpRule) -> Primitive:
    """Add a row to the table."""
    PRIMITIVES[name] = Primitive(name, vjp, check, n_inputs)
    return PRIMITIVES[name]


# ------------------------------------------------------------ helpers of the rules
def _zero_grad(g: Tensor, out: Tensor, *inputs: Tensor, **attrs: Any) -> Tensor:
    return full_like(inputs[0], 0.0)


def _maximum_mask(a: Tensor, b: Tensor) -> Tensor:
    """1 where a wins, 0.5 at ties, 0 where b wins (the convention of PyTorch and JAX)."""
    return cast(greater(a, b), a.dtype) + cast(equal(a, b), a.dtype) * 0.5


def _keep_axes(g: Tensor, x: Tensor, axis: tuple[int, ...] | None, keepdims: bool) -> Tensor:
    """``g`` reshaped so the reduced axes of ``x`` are there again with length 1."""
    if keepdims:
        return g
    axes = range(x.ndim) if axis is None else axis
    return g.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _max_vjp(g: Tensor, out: Tensor, x: Tensor, axis: tuple[int, ...] | None, keepdims: bool) -> Tensor:
    """The adjoint goes to the maxima, split evenly among ties."""
    is_max = cast(equal(x, _keep_axes(out, x, axis, keepdims)), x.dtype)
    count = _sum(is_max, axis=axis, keepdims=True)
    return is_max * (_keep_axes(g, x, axis, keepdims) / count)


# ---------------------------------------------------------------------- the table
# fmt: off
# each row: _define(name, number of tensor inputs, shape/dtype check, VJP rule per input...)
add: Primitive = _define("add", 2, check_elementwise, lambda g, out, a, b: g, lambda g, out, a, b: g)
sub: Primitive = _define("sub", 2, check_elementwise, lambda g, out, a, b: g, lambda g, out, a, b: -g)
mul: Primitive = _define("mul", 2, check_elementwise, lambda g, out, a, b: g * b, lambda g, out, a, b: g * a)
div: Primitive = _define("div", 2, check_elementwise, lambda g, out, a, b: g / b, lambda g, out, a, b: -g * out / b)
pow: Primitive = _define("pow", 2, check_elementwise,
                         lambda g, out, a, b: g * b * a ** (b - 1),
                         lambda g, out, a, b: g * out * log(where(a > 0, a, 1.0)))
maximum: Primitive = _define("maximum", 2, check_elementwise,
                             lambda g, out, a, b: g * _maximum_mask(a, b),
                             lambda g, out, a, b: g * _maximum_mask(b, a))
minimum: Primitive = _define("minimum", 2, check_elementwise,
                             lambda g, out, a, b: g * _maximum_mask(b, a),
                             lambda g, out, a, b: g * _maximum_mask(a, b))
equal: Primitive = _define("equal", 2, check_elementwise)
not_equal: Primitive = _define("not_equal", 2, check_elementwise)
greater: Primitive = _define("greater", 2, check_elementwise)
greater_equal: Primitive = _define("greater_equal", 2, check_elementwise)
less: Primitive = _define("less", 2, check_elementwise)
less_equal: Primitive = _define("less_equal", 2, check_elementwise)
where: Primitive = _define("where", 3, check_where,
                           _zero_grad,
                           lambda g, out, c, a, b: where(c, g, 0.0),
                           lambda g, out, c, a, b: where(c, 0.0, g))
neg: Primitive = _define("neg", 1, None, lambda g, out, x: -g)
exp: Primitive = _define("exp", 1, check_float, lambda g, out, x: g * out)
log: Primitive = _define("log", 1, check_float, lambda g, out, x: g / x)
log1p: Primitive = _define("log1p", 1, check_float, lambda g, out, x: g / (x + 1.0))
tanh: Primitive = _define("tanh", 1, check_float, lambda g, out, x: g * (1.0 - out * out))
sqrt: Primitive = _define("sqrt", 1, check_float, lambda g, out, x: g * 0.5 / out)
abs: Primitive = _define("abs", 1, None, lambda g, out, x: g * sign(x))
sign: Primitive = _define("sign", 1, None)
floor: Primitive = _define("floor", 1, check_float, _zero_grad)  # piecewise constant: zero almost everywhere
sin: Primitive = _define("sin", 1, check_float, lambda g, out, x: g * cos(x))
cos: Primitive = _define("cos", 1, check_float, lambda g, out, x: -(g * sin(x)))
erf: Primitive = _define("erf", 1, check_float, lambda g, out, x: g * (2.0 / math.sqrt(math.pi)) * exp(-(x * x)))
# fused for speed and numerics: d/dx = g - softmax(x) * sum(g)
_log_softmax: Primitive = _define("log_softmax", 1, check_log_softmax,
                                  lambda g, out, x, axis: g - exp(out) * g.sum(axis, keepdims=True))
_sum: Primitive = _define("sum", 1, check_reduce,
                          lambda g, out, x, axis, keepdims: broadcast_to(_keep_axes(g, x, axis, keepdims), x.shape))
_max: Primitive = _define("max", 1, check_reduce, lambda g, out, x, axis, keepdims: _max_vjp(g, out, x, axis, keepdims))
_matmul: Primitive = _define("matmul", 2, check_matmul,
                             lambda g, out, a, b: g @ swap_last(b),
                             lambda g, out, a, b: swap_last(a) @ g)
_reshape: Primitive = _define("reshape", 1, check_reshape, lambda g, out, x, shape: g.reshape(x.shape))
_transpose: Primitive = _define("transpose", 1, check_transpose,
                                lambda g, out, x, axes: _transpose(g, axes=tuple(np.argsort(axes).tolist())))
_broadcast_to: Primitive = _define("broadcast_to", 1, check_broadcast_to, lambda g, out, x, shape: g)
_getitem: Primitive = _define("getitem", 1, check_getitem,
                              lambda g, out, x, index: unindex(g, shape=x.shape, index=index))
unindex: Primitive = _define("unindex", 1, check_unindex, lambda g, out, x, shape, index: _getitem(g, index=index))
_cast: Primitive = _define("cast", 1, check_cast, lambda g, out, x, dtype: _cast(g, dtype=x.dtype))
random_uniform: Primitive = _define("random_uniform", 1, check_random)
random_normal: Primitive = _define("random_normal", 1, check_random)
# fmt: on


# ------------------------------------------- gather/scatter (Embedding) and recurrence (highnn.scan)
def _scan_gradient(position: int) -> VjpRule:
    """The VJP rule of scan's operand ``position``: its part of the reverse scan's joined gradients."""

    def rule(g: Tensor, out: Tensor, *operands: Tensor, body: Any, n_xs: int) -> Tensor:
        cached = _last_scan_vjp.get()
        if cached is None or cached[0] is not g or cached[1] is not out:  # the operands' rules share one reverse scan
            cached = (g, out, scan_vjp(g, out, *operands, body=body, n_xs=n_xs))
            _last_scan_vjp.set(cached)
        start = builtins.sum(math.prod(x.shape) for x in operands[:position])
        part = cached[2][start : start + math.prod(operands[position].shape)]
        return part.reshape(operands[position].shape)

    return rule


#: the last reverse scan computed in this context: (adjoint, scan output, joined gradients); one entry, so
#: eager backprop computes each reverse scan once (a trace reuses it anyway, as an identical step)
_last_scan_vjp: ContextVar[tuple[Tensor, Tensor, Tensor] | None] = ContextVar("highnn.scan_vjp", default=None)

# fmt: off
_take: Primitive = _define("take", 2, check_take,
                           lambda g, out, x, indices, axis: scatter_add(g, indices, shape=x.shape, axis=axis))
scatter_add: Primitive = _define("scatter_add", 2, check_scatter_add,
                                 lambda g, out, updates, indices, shape, axis: _take(g, indices, axis=axis))
scan: Primitive = _define("scan", MAX_SCAN_OPERANDS, check_scan, *map(_scan_gradient, range(MAX_SCAN_OPERANDS)))
scan_vjp: Primitive = _define("scan_vjp", MAX_SCAN_OPERANDS + 2, check_scan_vjp)  # differentiating twice: not yet
# fmt: on


# ------------------------------------------------------- argument normalisation
def sum(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes by default)."""
    return to_tensor(x).sum(axis, keepdims)


def max(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; the gradient is shared evenly among ties."""
    return to_tensor(x).max(axis, keepdims)


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    """Matrix product; 1-D operands are treated as a row (left) or a column (right) vector."""
    return to_tensor(a) @ b


def reshape(x: TensorLike, shape: tuple[int, ...] | list[int]) -> Tensor:
    """Reshape; one entry of ``shape`` may be -1."""
    return to_tensor(x).reshape(shape)


def transpose(x: TensorLike, axes: tuple[int, ...] | None = None) -> Tensor:
    """Permute axes (reverse them by default)."""
    return to_tensor(x).transpose(*(axes or ()))


def swap_last(x: Tensor) -> Tensor:
    """Swap the last two axes (the matrix transpose of a batch of matrices)."""
    return _transpose(x, axes=tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def broadcast_to(x: TensorLike, shape: tuple[int, ...]) -> Tensor:
    x = to_tensor(x)
    shape = tuple(shape)
    return x if x.shape == shape else _broadcast_to(x, shape=shape)


def getitem(x: Tensor, index: Any) -> Tensor:
    """Basic indexing (integers, slices, None, Ellipsis)."""
    return x[index]


def log_softmax(x: TensorLike, axis: int | tuple[int, ...] = -1) -> Tensor:
    """log(softmax(x)) over ``axis`` (one or several): x - max - log(sum(exp(x - max))), one primitive."""
    x = to_tensor(x)
    return _log_softmax(x, axis=normalize_axis(x, axis))


def cast(x: TensorLike, dtype: str) -> Tensor:
    """Convert to ``dtype`` (no-op when it already has it)."""
    return to_tensor(x).astype(dtype)


def stop_gradient(x: TensorLike) -> Tensor:
    """The value of ``x``, treated as a constant by backprop."""
    return to_tensor(x).detach()


# -------------------------------------------- argument normalisation: gather (Embedding)
def take(x: TensorLike, indices: TensorLike, axis: int | None = None) -> Tensor:
    """Elements of ``x`` at integer ``indices`` along ``axis`` (of the flattened ``x`` if None), as ``keras.ops.take``.

    Negative indices count from the end; others out of range raise an IndexError on every backend.
    """
    x = to_tensor(x)
    indices = to_tensor(indices)
    if axis is None:
        return _take(x.reshape(-1), indices, axis=0)
    (resolved,) = normalize_axis(x, axis) or (0,)
    return _take(x, indices, axis=resolved)
