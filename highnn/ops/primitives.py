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
import functools
import math
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np

from highnn.checks import check_choice, fail, is_integer
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
    check_along_axis,
    check_average_pool_vjp,
    check_broadcast_to,
    check_cast,
    check_concatenate,
    check_conv_general,
    check_elementwise,
    check_float,
    check_float_elementwise,
    check_getitem,
    check_integer_elementwise,
    check_integers_elementwise,
    check_log_softmax,
    check_matmul,
    check_matrices,
    check_max_pool_select,
    check_max_pool_vjp,
    check_pad,
    check_pick_along_axis,
    check_place_along_axis,
    check_pool,
    check_random,
    check_reduce,
    check_reshape,
    check_scan,
    check_scan_vjp,
    check_scatter_add,
    check_solve,
    check_spectrum,
    check_square,
    check_take,
    check_transpose,
    check_unindex,
    check_where,
    dilated_size,
)


def _define(name: str, n_inputs: int, check: Check | None, *vjp: VjpRule) -> Primitive:
    """Add a row to the table."""
    PRIMITIVES[name] = Primitive(name, vjp, check, n_inputs)
    return PRIMITIVES[name]


# ------------------------------------------------------------ helpers of the rules
def _not_yet(name: str) -> VjpRule:
    """The rule of a primitive that cannot be differentiated yet: asking is an error, never a silent zero."""

    def rule(g: Tensor, out: Tensor, *inputs: Tensor, **attrs: Any) -> Tensor:
        raise NotImplementedError(
            f"{name}: differentiating through a gradient of it (a second derivative) is not supported yet."
        )

    return rule


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


def _matmul_rhs_vjp(g: Tensor, out: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``a^T g`` summed over the stack; when ``b`` is one matrix and ``a`` a stack of them, one 2-D product over
    all the stack's rows, rather than a product per matrix of the stack summed afterwards (a ``(stack, k, n)``
    array in between)."""
    if b.ndim == 2 and a.ndim > 2:
        return swap_last(a.reshape((-1, a.shape[-1]))) @ g.reshape((-1, g.shape[-1]))
    return swap_last(a) @ g


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
#: ``1 - erf(x)``, exact in the tail where ``1 - erf`` would round to 0
erfc: Primitive = _define("erfc", 1, check_float,
                          lambda g, out, x: g * (-2.0 / math.sqrt(math.pi)) * exp(-(x * x)))  # fmt: skip
#: the inverse of erf on (-1, 1) (infinite at +-1, NaN outside)
erfinv: Primitive = _define("erfinv", 1, check_float,
                            lambda g, out, x: g * (math.sqrt(math.pi) / 2.0) * exp(out * out))  # fmt: skip
tan: Primitive = _define("tan", 1, check_float, lambda g, out, x: g * (1.0 + out * out))
arcsin: Primitive = _define("arcsin", 1, check_float, lambda g, out, x: g / sqrt(1.0 - x * x))
arccos: Primitive = _define("arccos", 1, check_float, lambda g, out, x: -(g / sqrt(1.0 - x * x)))
arctan: Primitive = _define("arctan", 1, check_float, lambda g, out, x: g / (1.0 + x * x))
sinh: Primitive = _define("sinh", 1, check_float, lambda g, out, x: g * cosh(x))
cosh: Primitive = _define("cosh", 1, check_float, lambda g, out, x: g * sinh(x))
arcsinh: Primitive = _define("arcsinh", 1, check_float, lambda g, out, x: g / sqrt(x * x + 1.0))
arccosh: Primitive = _define("arccosh", 1, check_float, lambda g, out, x: g / sqrt(x * x - 1.0))
arctanh: Primitive = _define("arctanh", 1, check_float, lambda g, out, x: g / (1.0 - x * x))
expm1: Primitive = _define("expm1", 1, check_float, lambda g, out, x: g * (out + 1.0))
arctan2: Primitive = _define("arctan2", 2, check_float_elementwise,
                             lambda g, out, y, x: g * x / (x * x + y * y),
                             lambda g, out, y, x: -(g * y) / (x * x + y * y))  # fmt: skip
# bitwise operations on integers (and bool): not differentiable
bitwise_and: Primitive = _define("bitwise_and", 2, check_integer_elementwise)
bitwise_or: Primitive = _define("bitwise_or", 2, check_integer_elementwise)
bitwise_xor: Primitive = _define("bitwise_xor", 2, check_integer_elementwise)
bitwise_not: Primitive = _define("bitwise_not", 1, check_integer_elementwise)
left_shift: Primitive = _define("left_shift", 2, check_integers_elementwise)
right_shift: Primitive = _define("right_shift", 2, check_integers_elementwise)
#: the greatest common divisor and least common multiple of integers (never negative)
gcd: Primitive = _define("gcd", 2, check_integers_elementwise)
lcm: Primitive = _define("lcm", 2, check_integers_elementwise)
#: the next float after ``x1`` towards ``x2``: a step of one unit in the last place, not differentiable
nextafter: Primitive = _define("nextafter", 2, check_elementwise)

# linear algebra (float32 and float64): the VJPs are products and solves with the transposed matrices
inv: Primitive = _define("inv", 1, check_square, lambda g, out, a: -(swap_last(out) @ g @ swap_last(out)))
solve: Primitive = _define("solve", 2, check_solve,
                           lambda g, out, a, b: -(solve(swap_last(a), g) @ swap_last(out)),
                           lambda g, out, a, b: solve(swap_last(a), g))  # fmt: skip
det: Primitive = _define("det", 1, check_square,
                         lambda g, out, a: (g * out).reshape(*out.shape, 1, 1) * swap_last(inv(a)))  # fmt: skip


def _triangle(x: Tensor, lower: bool) -> Tensor:
    """The lower (or upper) triangle of the last two axes, zeros elsewhere."""
    rows, cols = x.shape[-2:]
    mask = np.tri(rows, cols, dtype=bool) if lower else np.tri(cols, rows, dtype=bool).T
    return where(to_tensor(mask), x, 0.0)


def _solve_triangular_vjp_b(g: Tensor, out: Tensor, a: Tensor, b: Tensor, lower: bool) -> Tensor:
    return solve_triangular(swap_last(a), g, lower=not lower)


def _solve_triangular_vjp_a(g: Tensor, out: Tensor, a: Tensor, b: Tensor, lower: bool) -> Tensor:
    return -_triangle(_solve_triangular_vjp_b(g, out, a, b, lower) @ swap_last(out), lower)


def _cholesky_vjp(g: Tensor, out: Tensor, a: Tensor) -> Tensor:
    """The symmetric gradient of ``L = cholesky((A + A^T) / 2)``: ``L^-T Phi(L^T g) L^-1``, symmetrised, where
    ``Phi`` keeps the lower triangle and halves the diagonal (Murray, 2016)."""
    product = swap_last(out) @ g
    eye = to_tensor(np.eye(out.shape[-1], dtype=bool))
    phi = _triangle(product, lower=True) - 0.5 * where(eye, product, 0.0)
    right = swap_last(solve_triangular(swap_last(out), swap_last(phi), lower=False))  # Phi L^-1
    full = solve_triangular(swap_last(out), right, lower=False)  # L^-T Phi L^-1
    return 0.5 * (full + swap_last(full))


#: the lower Cholesky factor of each symmetric positive-definite matrix, of its symmetric part ``(A + A^T) / 2``
cholesky: Primitive = _define("cholesky", 1, check_square, _cholesky_vjp)


# the discrete Fourier transform along the last axis of real and imaginary parts stacked on the first, ``(2, ..., n)``:
# linear maps whose adjoints are each other, scaled by n (the VJP of y = F x is F^H g = n ifft(g))
fft: Primitive = _define("fft", 1, check_spectrum, lambda g, out, x: ifft(g) * float(x.shape[-1]))
ifft: Primitive = _define("ifft", 1, check_spectrum, lambda g, out, x: fft(g) / float(x.shape[-1]))


def _qr_vjp(g: Tensor, out: Tensor, a: Tensor) -> Tensor:
    """The gradient of the reduced factors ``A = Q R`` of a matrix with ``m >= n``:
    ``(g_Q + Q sym(M)) R^-T`` with ``M = R g_R^T - g_Q^T Q`` and ``sym`` mirroring ``M``'s lower triangle."""
    rows, cols = a.shape[-2:]
    if rows < cols:
        raise NotImplementedError(
            f"qr: the gradient of a wide matrix's factors (m < n, received shape {a.shape}) is not supported."
        )
    q, r = out[..., :rows, :], out[..., rows:, :]
    g_q, g_r = g[..., :rows, :], g[..., rows:, :]
    m = r @ swap_last(g_r) - swap_last(g_q) @ q
    lower = _triangle(m, lower=True)
    mirrored = lower + swap_last(lower) - where(to_tensor(np.eye(cols, dtype=bool)), m, 0.0)  # the diagonal once
    return swap_last(solve_triangular(r, swap_last(g_q + q @ mirrored), lower=False))


#: ``(..., m + k, n)``, ``k = min(m, n)``: the reduced QR factors, ``Q`` (zero-padded to ``n`` columns) over
#: ``R``, with ``R``'s diagonal made non-negative so that every backend gives the same factors
qr: Primitive = _define("qr", 1, check_matrices, _qr_vjp)


def _row(x: Tensor) -> Tensor:
    """``(..., k)`` as rows ``(..., 1, k)``."""
    return x.reshape(*x.shape[:-1], 1, x.shape[-1])


def _diagonal(x: Tensor) -> Tensor:
    """``(..., k)`` as diagonal matrices ``(..., k, k)``."""
    return where(to_tensor(np.eye(x.shape[-1], dtype=bool)), _row(x), 0.0)


def _reciprocal_gaps(x: Tensor) -> Tensor:
    """``F[..., i, j] = 1 / (x[j] - x[i])`` off the diagonal and 0 on it (the factor of a spectral VJP)."""
    eye = to_tensor(np.eye(x.shape[-1], dtype=bool))
    gaps = _row(x) - x.reshape(*x.shape, 1)
    return where(eye, 0.0, 1.0 / where(eye, 1.0, gaps))


def _svd_vjp(g: Tensor, out: Tensor, a: Tensor) -> Tensor:
    """The gradient of the reduced SVD ``A = U diag(s) V^T`` (distinct, non-zero singular values; Townsend, 2016):
    ``U ((F * skew(U^T g_U)) S + diag(g_s) + S (F * skew(V^T g_V))) V^T``, ``skew(X) = X - X^T``,
    ``F[i, j] = 1 / (s[j]^2 - s[i]^2)`` off the diagonal, plus the parts of ``g_U`` and ``g_V`` outside the
    spans of ``U`` and ``V`` (non-square matrices)."""
    rows, cols = a.shape[-2:]
    k = min(rows, cols)
    u, s, vh = out[..., :rows, :k], out[..., rows, :k], out[..., rows + 1 :, :]
    g_u, g_s, g_vh = g[..., :rows, :k], g[..., rows, :k], g[..., rows + 1 :, :]
    v, g_v = swap_last(vh), swap_last(g_vh)
    f = _reciprocal_gaps(s * s)
    left, right = swap_last(u) @ g_u, swap_last(v) @ g_v
    s_row, s_column = _row(s), s.reshape(*s.shape, 1)
    core = f * (left - swap_last(left)) * s_row + s_column * (f * (right - swap_last(right))) + _diagonal(g_s)
    grad = u @ core @ vh
    if rows > k:  # g_U's part outside U's span
        grad = grad + (g_u - u @ (swap_last(u) @ g_u)) / s_row @ vh
    if cols > k:  # g_V's part outside V's span
        grad = grad + u @ swap_last((g_v - v @ (swap_last(v) @ g_v)) / s_row)
    return grad


#: ``(..., m + 1 + k, n)``, ``k = min(m, n)``: the reduced SVD, ``U`` (zero-padded to ``n`` columns) over the
#: singular values (descending, padded) over ``V^T``; each pair of singular vectors signed so that the left one's
#: component of largest magnitude is positive, so that every backend gives the same factors
svd: Primitive = _define("svd", 1, check_matrices, _svd_vjp)


def _eigh_vjp(g: Tensor, out: Tensor, a: Tensor) -> Tensor:
    """The symmetric gradient of the eigendecomposition ``A = V diag(w) V^T`` of ``(A + A^T) / 2``:
    ``V (diag(g_w) + F * (V^T g_V)) V^T``, symmetrised, where ``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal
    (distinct eigenvalues; the signs of the eigenvectors are locally constant)."""
    values, vectors = out[..., 0, :], out[..., 1:, :]
    g_values, g_vectors = g[..., 0, :], g[..., 1:, :]
    inner = _diagonal(g_values) + _reciprocal_gaps(values) * (swap_last(vectors) @ g_vectors)
    full = vectors @ inner @ swap_last(vectors)
    return 0.5 * (full + swap_last(full))


#: ``(..., n + 1, n)``: the ascending eigenvalues of each matrix's symmetric part over its eigenvectors (columns),
#: each eigenvector signed so that its component of largest magnitude is positive, the same on every backend
eigh: Primitive = _define("eigh", 1, check_square, _eigh_vjp)

#: ``a^-1 b`` for a triangular ``a``, read from its lower (or upper) triangle alone
solve_triangular: Primitive = _define("solve_triangular", 2, check_solve, _solve_triangular_vjp_a,
                                      _solve_triangular_vjp_b)  # fmt: skip
# fused for speed and numerics: d/dx = g - softmax(x) * sum(g)
_log_softmax: Primitive = _define("log_softmax", 1, check_log_softmax,
                                  lambda g, out, x, axis: g - exp(out) * g.sum(axis, keepdims=True))
_sum: Primitive = _define("sum", 1, check_reduce,
                          lambda g, out, x, axis, keepdims: broadcast_to(_keep_axes(g, x, axis, keepdims), x.shape))
_max: Primitive = _define("max", 1, check_reduce, lambda g, out, x, axis, keepdims: _max_vjp(g, out, x, axis, keepdims))
_matmul: Primitive = _define("matmul", 2, check_matmul,
                             lambda g, out, a, b: g @ swap_last(b),
                             _matmul_rhs_vjp)
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
# -- convolution: one N-d primitive in the style of jax.lax.conv_general_dilated, channels last; its VJPs are
# -- convolutions again (see _conv_input_vjp and _conv_kernel_vjp below), so they differentiate again
conv_general: Primitive = _define("conv_general", 2, check_conv_general,
                                  lambda g, out, x, kernel, **attrs: _conv_input_vjp(g, x, kernel, **attrs),
                                  lambda g, out, x, kernel, **attrs: _conv_kernel_vjp(g, x, kernel, **attrs))
# -- merging: two tensors joined along an axis; each adjoint is its slice of g
_concatenate: Primitive = _define("concatenate", 2, check_concatenate,
                                  lambda g, out, a, b, axis: _getitem(g, index=(slice(None),) * axis
                                                                      + (slice(0, a.shape[axis]),)),
                                  lambda g, out, a, b, axis: _getitem(g, index=(slice(None),) * axis
                                                                      + (slice(a.shape[axis], None),)))
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
scan_vjp: Primitive = _define("scan_vjp", MAX_SCAN_OPERANDS + 2, check_scan_vjp,
                              *[_not_yet("scan (a recurrence)")] * (MAX_SCAN_OPERANDS + 2))
pick_along_axis: Primitive = _define("pick_along_axis", 2, check_pick_along_axis,
                                     lambda g, out, x, indices, axis: place_along_axis(g, indices, size=x.shape[axis],
                                                                                       axis=axis))
place_along_axis: Primitive = _define("place_along_axis", 2, check_place_along_axis,
                                      lambda g, out, updates, indices, size, axis: pick_along_axis(g, indices,
                                                                                                   axis=axis))
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


# ------------------------------------------------------------------ padding and pooling
DATA_FORMATS = ("channels_last", "channels_first")


def data_format_of(owner: str, data_format: str | None) -> str:
    """``data_format`` checked, ``channels_last`` when None (Keras's default image data format)."""
    return check_choice(owner, "data_format", data_format or "channels_last", DATA_FORMATS)


def rows_axis(ndim: int, data_format: str) -> int:
    """The rows axis of an image (``ndim`` 3) or a batch of images (``ndim`` 4) in ``data_format``; the columns
    axis follows it."""
    return ndim - 3 if data_format == "channels_last" else ndim - 2


def _pads(pad_width: tuple[tuple[int, int], ...]) -> bool:
    """Whether ``pad_width`` adds anything."""
    return any(before or after for before, after in pad_width)


def _unpad(g: Tensor, pad_width: tuple[tuple[int, int], ...]) -> Tensor:
    """The part of ``g`` that is not padding: the VJP of ``pad``."""
    if not _pads(pad_width):
        return g
    return _getitem(g, index=tuple(slice(before, n - after) for (before, after), n in zip(pad_width, g.shape)))


# fmt: off
_pad: Primitive = _define("pad", 1, check_pad, lambda g, out, x, pad_width, value: _unpad(g, pad_width))
# -- each pooling's VJP is one backend function: one buffer, a strided add per window offset; max pooling's adjoint
# -- goes to each window's first maximum in row-major order (as in PyTorch, JAX and TF), and picking the value at
# -- that maximum is its transpose (x and out only choose where values go: piecewise constant, no rule); average
# -- pooling and its adjoint are each other's transpose
_max_pool: Primitive = _define("max_pool", 1, check_pool,
                               lambda g, out, x, **attrs: max_pool_vjp(g, x, out, **attrs))
_average_pool: Primitive = _define("average_pool", 1, check_pool,
                                   lambda g, out, x, **attrs: average_pool_vjp(g, shape=x.shape, **attrs))
max_pool_vjp: Primitive = _define("max_pool_vjp", 3, check_max_pool_vjp,
                                  lambda h, grad, g, x, out, **attrs: max_pool_select(h, x, out, **attrs))
max_pool_select: Primitive = _define("max_pool_select", 3, check_max_pool_select,
                                     lambda g, picked, h, x, out, **attrs: max_pool_vjp(g, x, out, **attrs))
average_pool_vjp: Primitive = _define("average_pool_vjp", 1, check_average_pool_vjp,
                                      lambda g, out, h, shape, **attrs: _average_pool(g, **attrs))
# fmt: on


def pad(x: TensorLike, pad_width: Any, mode: str = "constant", constant_values: float | None = None) -> Tensor:
    """Pad with ``constant_values`` (0 by default); ``pad_width`` is one (before, after) pair per axis, or one pair
    or one integer for every axis, as in NumPy. Only ``mode="constant"`` is supported."""
    x = to_tensor(x)
    check_choice("pad", "mode", mode, ("constant",))
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2)).tolist()
    except ValueError:
        fail("pad", "pad_width", f"one (before, after) pair per axis of shape {x.shape}", pad_width)
    return _pad(x, pad_width=tuple(map(tuple, widths)), value=0.0 if constant_values is None else constant_values)


def max_pool(
    inputs: TensorLike,
    pool_size: int | tuple[int, ...],
    strides: int | tuple[int, ...] | None = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """The maximum of each ``pool_size`` window, moved by ``strides`` (``pool_size`` by default) along the 1 to 3
    spatial axes; ``padding="same"`` keeps ``ceil(size / stride)`` windows. Channels last unless ``data_format``
    says ``"channels_first"``."""
    return _pool(_max_pool, inputs, pool_size, strides, padding, data_format)


def average_pool(
    inputs: TensorLike,
    pool_size: int | tuple[int, ...],
    strides: int | tuple[int, ...] | None = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """The mean of each window (as :func:`max_pool`); with ``padding="same"`` the padding is not counted."""
    return _pool(_average_pool, inputs, pool_size, strides, padding, data_format)


def _pool(
    primitive: Primitive,
    inputs: TensorLike,
    pool_size: int | tuple[int, ...],
    strides: int | tuple[int, ...] | None,
    padding: str,
    data_format: str | None,
) -> Tensor:
    x = to_tensor(inputs)
    data_format = data_format_of(primitive.name, data_format)
    window = _per_spatial_axis(pool_size, x.ndim - 2)
    steps = window if strides is None else _per_spatial_axis(strides, x.ndim - 2)
    channels_first = data_format == "channels_first" and x.ndim > 2
    if channels_first:
        x = _transpose(x, axes=(0, *range(2, x.ndim), 1))
    out = primitive(x, window=window, strides=steps, padding=padding.lower() if isinstance(padding, str) else padding)
    return _transpose(out, axes=(0, out.ndim - 1, *range(1, out.ndim - 1))) if channels_first else out


def _per_spatial_axis(value: Any, rank: int) -> Any:
    """An integer repeated ``rank`` times, a sequence as a tuple of ints; anything else as is, for the check to name."""
    if is_integer(value):
        return (int(value),) * rank
    if isinstance(value, (list, tuple)):
        return tuple(int(n) if is_integer(n) else n for n in value)
    return value


# ------------------------------------------------------------------ convolution
Padding = tuple[tuple[int, int], ...]


def _conv_input_vjp(
    g: Tensor,
    x: Tensor,
    kernel: Tensor,
    strides: tuple[int, ...],
    padding: Padding,
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int,
) -> Tensor:
    """The adjoint of the input: ``g`` dilated by the strides, convolved with the flipped, transposed kernel."""
    rank, groups = x.ndim - 2, feature_group_count
    before = [dilated_size(k, dr) - 1 - lo for k, dr, (lo, _) in zip(kernel.shape, rhs_dilation, padding)]
    after = [
        dilated_size(n, dl) + dilated_size(k, dr) - 1 - dilated_size(o, s) - b
        for n, k, o, s, dl, dr, b in zip(
            x.shape[1:], kernel.shape, g.shape[1:], strides, lhs_dilation, rhs_dilation, before
        )
    ]
    *window, per_group, filters = kernel.shape
    flipped = kernel[(slice(None, None, -1),) * rank]  # (*window, in/groups, out): out = groups x out/groups
    regrouped = flipped.reshape(*window, per_group, groups, filters // groups)
    regrouped = regrouped.transpose(*range(rank), rank + 2, rank + 1, rank).reshape(
        *window, filters // groups, groups * per_group
    )
    return conv_general(
        g,
        regrouped,
        strides=lhs_dilation,
        padding=tuple(zip(before, after)),
        lhs_dilation=strides,
        rhs_dilation=rhs_dilation,
        feature_group_count=groups,
    )


def _conv_kernel_vjp(
    g: Tensor,
    x: Tensor,
    kernel: Tensor,
    strides: tuple[int, ...],
    padding: Padding,
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int,
) -> Tensor:
    """The adjoint of the kernel: the input convolved with ``g``, the batch axis playing the channels' part."""
    rank, groups = x.ndim - 2, feature_group_count
    batch, spatial, per_group = x.shape[0], x.shape[1:-1], kernel.shape[-2]
    spatial_axes = tuple(range(1, rank + 1))
    # input (batch, *spatial, groups x in/groups) -> (in/groups, *spatial, groups x batch)
    lhs = x.reshape(batch, *spatial, groups, per_group).transpose(rank + 2, *spatial_axes, rank + 1, 0)
    lhs = lhs.reshape(per_group, *spatial, groups * batch)
    rhs = g.transpose(*spatial_axes, 0, rank + 1)  # (*out_spatial, batch, filters)
    high = [
        dilated_size(o, s) - dilated_size(n, dl) + dilated_size(k, dr) - 1 - lo
        for o, s, n, dl, k, dr, (lo, _) in zip(
            g.shape[1:], strides, spatial, lhs_dilation, kernel.shape, rhs_dilation, padding
        )
    ]
    result = conv_general(
        lhs,
        rhs,
        strides=rhs_dilation,
        padding=tuple((lo, hi) for (lo, _), hi in zip(padding, high)),
        lhs_dilation=lhs_dilation,
        rhs_dilation=strides,
        feature_group_count=groups,
    )  # (in/groups, *window, filters)
    return result.transpose(*spatial_axes, 0, rank + 1)


def conv_padding(
    padding: str,
    spatial: tuple[int, ...],
    window: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
) -> Padding:
    """Keras's padding modes as (low, high) pairs per spatial axis.

    ``valid``: none; ``same``: the output has ``ceil(n / stride)`` positions, the odd
    element of padding going after (as TensorFlow does); ``causal`` (1-D): all of it before.
    """
    pairs = []
    for n, k, s, d in zip(spatial, window, strides, dilation):
        reach = dilated_size(k, d)
        if padding == "same":
            total = builtins.max((-(-n // s) - 1) * s + reach - n, 0)
            pairs.append((total // 2, total - total // 2))
        else:
            pairs.append((reach - 1, 0) if padding == "causal" else (0, 0))
    return tuple(pairs)


def channels_last(x: Tensor, data_format: str) -> Tensor:
    """``x`` with its channel axis last (a no-op for ``channels_last``)."""
    return x if data_format == "channels_last" else x.transpose(0, *range(2, x.ndim), 1)


def channels_back(x: Tensor, data_format: str) -> Tensor:
    """Undo :func:`channels_last`."""
    return x if data_format == "channels_last" else x.transpose(0, x.ndim - 1, *range(1, x.ndim - 1))


def _per_axis(value: int | tuple[int, ...] | list[int], rank: int) -> tuple[int, ...]:
    return (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)


def conv(
    inputs: TensorLike,
    kernel: TensorLike,
    strides: int | tuple[int, ...] = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: int | tuple[int, ...] = 1,
) -> Tensor:
    """N-d convolution as Keras's ``ops.conv``: kernel ``(*window, in / groups, filters)``; groups follow from it.

    >>> hn.ops.conv(np.ones((2, 8, 8, 3)), np.ones((3, 3, 3, 4)), padding="same").shape
    (2, 8, 8, 4)
    """
    data_format = data_format or "channels_last"
    x, kernel = channels_last(to_tensor(inputs), data_format), to_tensor(kernel)
    rank = x.ndim - 2
    strides_, dilation = _per_axis(strides, rank), _per_axis(dilation_rate, rank)
    out = conv_general(
        x,
        kernel,
        strides=strides_,
        padding=conv_padding(padding, x.shape[1:-1], kernel.shape[:-2], strides_, dilation),
        lhs_dilation=(1,) * rank,
        rhs_dilation=dilation,
        feature_group_count=builtins.max(x.shape[-1] // builtins.max(kernel.shape[-2], 1), 1),
    )
    return channels_back(out, data_format)


def depthwise_conv(
    inputs: TensorLike,
    kernel: TensorLike,
    strides: int | tuple[int, ...] = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: int | tuple[int, ...] = 1,
) -> Tensor:
    """Each input channel convolved with its own ``depth_multiplier`` filters: kernel ``(*window, in, multiplier)``."""
    kernel = to_tensor(kernel)
    *window, channels, multiplier = kernel.shape
    return conv(inputs, kernel.reshape(*window, 1, channels * multiplier), strides, padding, data_format, dilation_rate)


def separable_conv(
    inputs: TensorLike,
    depthwise_kernel: TensorLike,
    pointwise_kernel: TensorLike,
    strides: int | tuple[int, ...] = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: int | tuple[int, ...] = 1,
) -> Tensor:
    """A depthwise convolution followed by a pointwise (window 1) one that mixes the channels."""
    depthwise = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(depthwise, pointwise_kernel, 1, "valid", data_format)


def conv_transpose(
    inputs: TensorLike,
    kernel: TensorLike,
    strides: int | tuple[int, ...] = 1,
    padding: str = "valid",
    output_padding: int | tuple[int, ...] | None = None,
    data_format: str | None = None,
    dilation_rate: int | tuple[int, ...] = 1,
) -> Tensor:
    """The transpose (gradient) of ``conv``, as Keras's ``ops.conv_transpose``: kernel ``(*window, filters, in)``.

    It is a convolution of the input dilated by ``strides`` with the flipped kernel;
    ``output_padding`` adds positions at the end of each axis.
    """
    data_format = data_format or "channels_last"
    x, kernel = channels_last(to_tensor(inputs), data_format), to_tensor(kernel)
    rank = x.ndim - 2
    strides_, dilation = _per_axis(strides, rank), _per_axis(dilation_rate, rank)
    extra = (None,) * rank if output_padding is None else _per_axis(output_padding, rank)
    pads = tuple(
        transpose_padding(padding, k, s, d, e) for k, s, d, e in zip(kernel.shape[:-2], strides_, dilation, extra)
    )
    flipped = kernel[(slice(None, None, -1),) * rank].transpose(*range(rank), rank + 1, rank)
    out = conv_general(
        x,
        flipped,
        strides=(1,) * rank,
        padding=pads,
        lhs_dilation=strides_,
        rhs_dilation=dilation,
        feature_group_count=1,
    )
    return channels_back(out, data_format)


def transpose_padding(padding: str, window: int, stride: int, dilation: int, extra: int | None) -> tuple[int, int]:
    """The (low, high) padding of a transposed convolution, as Keras computes it.

    Output length: ``valid``: ``(n - 1) * stride + max(reach, stride)``; ``same``:
    ``n * stride``; with ``output_padding`` p: ``(n - 1) * stride + reach - 2 * pad + p``
    where pad is 0 (``valid``) or ``reach // 2`` (``same``).
    """
    reach = dilated_size(window, dilation)
    if padding == "valid":
        return reach - 1, reach - 1 + (builtins.max(reach, stride) - reach if extra is None else extra)
    total = stride + reach - 2 if extra is None else reach + reach % 2 - 2 + extra
    low = min(total // 2 + total % 2, reach - 1)
    return low, total - low


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


# ------------------------------------------------------------------ keras.ops support: scans, sorting, rounding
def _reverse_cumsum(g: Tensor, axis: int) -> Tensor:
    """The VJP of ``cumsum``: each input receives the sum of the adjoints at and after it."""
    backwards = (slice(None),) * axis + (slice(None, None, -1),)
    return _getitem(_cumsum(_getitem(g, index=backwards), axis=axis), index=backwards)


def _cumprod_vjp(g: Tensor, x: Tensor, axis: int) -> Tensor:
    """The VJP of ``cumprod``, exact where ``x`` has zeros (no division): input i receives the sum over j >= i
    of ``g[j]`` times the product of ``x[:j + 1]`` without ``x[i]``, a cumprod of ``x`` with ``x[i]`` set to 1."""
    n, order = x.shape[axis], (*range(axis), *range(axis + 1, x.ndim), axis)  # ``axis`` moved last
    rows = (*_transpose(x, axes=order).shape[:-1], 1, n)
    without_one = where(to_tensor(np.eye(n, dtype=bool)), 1.0, _transpose(x, axes=order).reshape(rows))
    partial_products = _cumprod(without_one, axis=x.ndim)  # (..., n, n): row i is the cumprod without x[i]
    later = to_tensor(np.triu(np.ones((n, n))), x.dtype)  # j >= i
    grad = _sum(partial_products * later * _transpose(g, axes=order).reshape(rows), axis=(x.ndim,), keepdims=False)
    return _transpose(grad, axes=tuple(np.argsort(order).tolist()))


# fmt: off
_cumsum: Primitive = _define("cumsum", 1, check_along_axis, lambda g, out, x, axis: _reverse_cumsum(g, axis))
_cumprod: Primitive = _define("cumprod", 1, check_along_axis, lambda g, out, x, axis: _cumprod_vjp(g, x, axis))
_argsort: Primitive = _define("argsort", 1, check_along_axis)
round: Primitive = _define("round", 1, check_float, _zero_grad)  # piecewise constant, as floor
# fmt: on
# ------------------------------------------------------------------ merging
def concatenate(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join tensors along ``axis`` (Keras's ``ops.concatenate``), one binary primitive after another."""
    if not isinstance(tensors, (list, tuple)) or not tensors:
        fail("concatenate", "tensors", "a non-empty list of tensors", tensors, TypeError)
    parts = [to_tensor(t) for t in tensors]
    ndim = parts[0].ndim
    if not is_integer(axis) or not -ndim <= axis < ndim:
        fail("concatenate", "axis", f"an int in [{-ndim}, {ndim})", axis)
    return functools.reduce(lambda a, b: _concatenate(a, b, axis=int(axis) % ndim), parts)


# ------------------------------------------------------------------ distribution
def _all_reduce_vjp(g: Tensor, out: Tensor, x: Tensor) -> Tensor:
    """Every rank's output depends on every rank's input, so each input's adjoint is the sum of the adjoints."""
    return all_reduce(g)


#: the sum of a tensor over the processes of a job (torch.distributed); one process: the identity
all_reduce: Primitive = _define("all_reduce", 1, check_float, _all_reduce_vjp)
