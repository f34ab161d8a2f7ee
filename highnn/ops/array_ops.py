"""Keras's ``keras.ops`` array functions beyond the core NumPy group: joining and splitting, rolling and rotating,
triangles and diagonals, grids and ranges, products of vectors, comparisons with tolerances, differences,
order statistics, and reductions that skip NaN.

Every function is composed from the primitives, so its gradient follows from their rules; names, arguments
and defaults are Keras 3's (NumPy's). Sizes that decide shapes (sections, counts, offsets) must be Python ints.
"""

from __future__ import annotations

import builtins
import itertools
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from highnn.checks import check_choice, fail, is_integer
from highnn.config import settings
from highnn.graph import Axis, Tensor, TensorLike, is_tracing, normalize_axis, to_tensor
from highnn.ops import composites as C
from highnn.ops import primitives as P
from highnn.ops.math_ops import floor_divide, isfinite, isnan, mod
from highnn.ops.numpy_ops import (
    _as_float,
    _one_axis,
    _truth,
    argmax,
    argmin,
    cumprod,
    cumsum,
    flip,
    logical_and,
    logical_not,
    logical_or,
    moveaxis,
    prod,
    sort,
    take_along_axis,
    take_positions,
    where,
)
from highnn.ops.primitives import (
    abs,
    broadcast_to,
    cast,
    concatenate,
    equal,
    floor,
    less_equal,
    max,
    maximum,
    minimum,
    pow,
    sqrt,
    sum,
    take,
    transpose,
)


def _tensors(owner: str, xs: Sequence[TensorLike]) -> list[Tensor]:
    if not isinstance(xs, (list, tuple)) or not xs:
        fail(owner, "xs", "a non-empty list of tensors", xs, TypeError)
    return [to_tensor(x) for x in xs]


# ------------------------------------------------------------------ shapes and joining
def ravel(x: TensorLike) -> Tensor:
    return to_tensor(x).reshape(-1)


def ndim(x: TensorLike) -> int:
    return to_tensor(x).ndim


def size(x: TensorLike) -> int:
    return math.prod(to_tensor(x).shape)


def copy(x: TensorLike) -> Tensor:
    x = to_tensor(x)
    return x.reshape(x.shape)


def get_item(x: TensorLike, key: Any) -> Tensor:
    return to_tensor(x)[key]


def hstack(xs: Sequence[TensorLike]) -> Tensor:
    """Join along the second axis (the first for vectors)."""
    parts = _tensors("hstack", xs)
    return concatenate(parts, axis=0 if parts[0].ndim == 1 else 1)


def vstack(xs: Sequence[TensorLike]) -> Tensor:
    """Join along the first axis, vectors as rows."""
    return concatenate([_at_least(x, 2) for x in _tensors("vstack", xs)], axis=0)


def dstack(xs: Sequence[TensorLike]) -> Tensor:
    """Join along the third axis, vectors as ``(1, n, 1)`` and matrices as ``(m, n, 1)``."""
    return concatenate([_at_least(x, 3) for x in _tensors("dstack", xs)], axis=2)


def _at_least(x: Tensor, rank: int) -> Tensor:
    """NumPy's ``atleast_2d``/``atleast_3d``: scalars and vectors gain leading ones, matrices a trailing one."""
    if x.ndim >= rank:
        return x
    rows = x.reshape(1, -1) if x.ndim < 2 else x  # a scalar or a vector as one row
    return rows if rank == 2 else rows.reshape(*rows.shape, 1)


def append(x1: TensorLike, x2: TensorLike, axis: int | None = None) -> Tensor:
    """``x2`` after ``x1`` along ``axis`` (both flattened first without one)."""
    a, b = to_tensor(x1), to_tensor(x2)
    if axis is None:
        return concatenate([a.reshape(-1), b.reshape(-1)], 0)
    return concatenate([a, b], axis)


def _cut_points(owner: str, n: int, indices_or_sections: int | Sequence[int], even: bool) -> list[int]:
    """Where the pieces of an axis of ``n`` start and end."""
    if is_integer(indices_or_sections):
        sections = int(indices_or_sections)  # type: ignore[arg-type]
        if sections < 1 or (even and n % sections):
            fail(owner, "indices_or_sections", f"a number of equal parts that divides the axis's {n}" if even
                 else "a positive number of parts", indices_or_sections)  # fmt: skip
        base, extra = divmod(n, sections)
        sizes = [base + 1] * extra + [base] * (sections - extra)
        return [0, *np.cumsum(sizes).tolist()]
    if not isinstance(indices_or_sections, (list, tuple)) or not builtins.all(map(is_integer, indices_or_sections)):
        fail(owner, "indices_or_sections", "an int or a list of ints", indices_or_sections, TypeError)
    points = [builtins.min(builtins.max(int(i) + (n if i < 0 else 0), 0), n) for i in indices_or_sections]
    return [0, *points, n]


def split(x: TensorLike, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Pieces of ``x`` along ``axis``: a number of equal parts, or the positions where each new part starts."""
    return _split("split", to_tensor(x), indices_or_sections, axis, even=True)


def array_split(x: TensorLike, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """As :func:`split`, where a number of parts need not divide the axis (the first parts are one longer)."""
    return _split("array_split", to_tensor(x), indices_or_sections, axis, even=False)


def _split(owner: str, x: Tensor, indices_or_sections: Any, axis: int, even: bool) -> list[Tensor]:
    axis = _one_axis(x, axis, owner)
    points = _cut_points(owner, x.shape[axis], indices_or_sections, even)
    lead = (slice(None),) * axis
    return [x[lead + (slice(start, builtins.max(start, stop)),)] for start, stop in itertools.pairwise(points)]


def hsplit(x: TensorLike, indices_or_sections: int | Sequence[int]) -> list[Tensor]:
    x = to_tensor(x)
    return _split("hsplit", x, indices_or_sections, 0 if x.ndim == 1 else 1, even=True)


def vsplit(x: TensorLike, indices_or_sections: int | Sequence[int]) -> list[Tensor]:
    return _split("vsplit", to_tensor(x), indices_or_sections, 0, even=True)


def dsplit(x: TensorLike, indices_or_sections: int | Sequence[int]) -> list[Tensor]:
    return _split("dsplit", to_tensor(x), indices_or_sections, 2, even=True)


def unstack(x: TensorLike, num: int | None = None, axis: int = 0) -> list[Tensor]:
    """The slices of ``x`` along ``axis``, each without it."""
    x = to_tensor(x)
    axis = _one_axis(x, axis, "unstack")
    if num is not None and num != x.shape[axis]:
        fail("unstack", "num", f"None or the length of axis {axis} ({x.shape[axis]})", num)
    lead = (slice(None),) * axis
    return [x[lead + (i,)] for i in range(x.shape[axis])]


def roll(x: TensorLike, shift: int | Sequence[int], axis: Axis = None) -> Tensor:
    """Elements shifted by ``shift`` along ``axis`` (of the flattened tensor without one), those past the end
    coming back at the start."""
    x = to_tensor(x)
    if axis is None:
        return roll(x.reshape(-1), shift, 0).reshape(x.shape)
    shifts: list[int] = [int(shift)] if isinstance(shift, int) else [int(s) for s in shift]
    axes: list[int] = [axis] if isinstance(axis, int) else list(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        fail("roll", "shift", f"one shift or one per axis ({len(axes)})", shift)
    for s, a in zip(shifts, axes):
        a = _one_axis(x, a, "roll")
        n = x.shape[a]
        s = int(s) % n if n else 0
        if s:
            lead = (slice(None),) * a
            x = concatenate([x[lead + (slice(n - s, None),)], x[lead + (slice(0, n - s),)]], a)
    return x


def rot90(array: TensorLike, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Tensor:
    """``array`` turned by ``k`` quarter turns in the plane of ``axes``, from the first axis toward the second."""
    x = to_tensor(array)
    if len(axes) != 2:
        fail("rot90", "axes", "two different axes", axes)
    first, second = (_one_axis(x, a, "rot90") for a in axes)
    if first == second:
        fail("rot90", "axes", "two different axes", axes)
    order = list(range(x.ndim))
    order[first], order[second] = second, first
    turns = int(k) % 4
    if turns == 0:
        return x
    if turns == 2:
        return flip(flip(x, first), second)
    if turns == 1:
        return transpose(flip(x, second), tuple(order))
    return flip(transpose(x, tuple(order)), second)


def fliplr(x: TensorLike) -> Tensor:
    return flip(x, 1)


def flipud(x: TensorLike) -> Tensor:
    return flip(x, 0)


# ------------------------------------------------------------------ triangles and diagonals
def tri(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> Tensor:
    """Ones at and below the ``k``-th diagonal of an ``N`` x ``M`` matrix."""
    return to_tensor(np.tri(N, M, k), dtype or settings.floatx)


def tril(x: TensorLike, k: int = 0) -> Tensor:
    """``x`` with the elements above the ``k``-th diagonal of its last two axes set to zero."""
    x = to_tensor(x)
    rows, cols = x.shape[-2:]
    return where(np.tri(rows, cols, k, dtype=bool), x, 0)


def triu(x: TensorLike, k: int = 0) -> Tensor:
    """``x`` with the elements below the ``k``-th diagonal of its last two axes set to zero."""
    x = to_tensor(x)
    rows, cols = x.shape[-2:]
    return where(np.tri(rows, cols, k - 1, dtype=bool), 0, x)


def diagonal(x: TensorLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The ``offset``-th diagonal of the planes of ``axis1`` and ``axis2``, as a last axis."""
    x = to_tensor(x)
    if x.ndim < 2:
        fail("diagonal", "x", "a tensor of at least 2 dimensions", f"shape {x.shape}")
    planes = moveaxis(x, [axis1, axis2], [-2, -1])
    rows, cols = planes.shape[-2:]
    first_row, first_col = builtins.max(-offset, 0), builtins.max(offset, 0)
    length = builtins.max(0, builtins.min(rows - first_row, cols - first_col))
    positions = (first_row + np.arange(length)) * cols + first_col + np.arange(length)
    return take(planes.reshape(*planes.shape[:-2], rows * cols), positions.astype(np.int32), axis=planes.ndim - 2)


def trace(x: TensorLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diag(x: TensorLike, k: int = 0) -> Tensor:
    """A vector's square matrix with it on the ``k``-th diagonal, or a matrix's ``k``-th diagonal."""
    x = to_tensor(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        fail("diag", "x", "a vector or a matrix", f"shape {x.shape}")
    n = x.shape[0] + builtins.abs(k)
    slots = np.zeros((n, n), np.int32)  # 0 reads the zero before x, i + 1 reads x[i]
    row, col = np.arange(x.shape[0]) + builtins.max(-k, 0), np.arange(x.shape[0]) + builtins.max(k, 0)
    slots[row, col] = np.arange(1, x.shape[0] + 1)
    return take(concatenate([to_tensor(np.zeros(1), x.dtype), x], 0), slots, axis=0)


def diagflat(x: TensorLike, k: int = 0) -> Tensor:
    return diag(ravel(x), k)


# ------------------------------------------------------------------ ranges and grids
def linspace(
    start: TensorLike, stop: TensorLike, num: int = 50, endpoint: bool = True, retstep: bool = False,
    dtype: str | None = None, axis: int = 0,
) -> Any:  # fmt: skip
    """``num`` evenly spaced values from ``start`` to ``stop`` (included with ``endpoint``), along a new
    ``axis`` when the bounds are arrays; with ``retstep``, also the spacing."""
    a, b = _as_float(start), _as_float(stop)
    values, step = _spaced("linspace", a, b, num, endpoint)
    values = moveaxis(values, 0, axis)
    values = values if dtype is None else cast(values, dtype)
    return (values, step) if retstep else values


def _spaced(owner: str, a: Tensor, b: Tensor, num: int, endpoint: bool) -> tuple[Tensor, Tensor]:
    """``num`` evenly spaced values from ``a`` to ``b`` along a new first axis (``b`` itself last with
    ``endpoint``, as NumPy gives it), and the spacing."""
    if not is_integer(num) or num < 0:
        fail(owner, "num", "a non-negative int", num)
    divisions = (num - 1 if endpoint else num) or 1
    step = (b - a) / divisions
    rank = builtins.max(a.ndim, b.ndim)
    fractions = to_tensor(np.arange(num).reshape(num, *[1] * rank), a.dtype)
    values = a + fractions * step
    if endpoint and num > 1:
        values = where(np.arange(num).reshape(num, *[1] * rank) == num - 1, b, values)
    return values, step


def logspace(
    start: TensorLike, stop: TensorLike, num: int = 50, endpoint: bool = True, base: float = 10.0,
    dtype: str | None = None, axis: int = 0,
) -> Tensor:  # fmt: skip
    """``base ** linspace(start, stop, ...)``."""
    values = C.exp(linspace(start, stop, num, endpoint, axis=axis) * math.log(base))
    return values if dtype is None else cast(values, dtype)


def geomspace(
    start: TensorLike, stop: TensorLike, num: int = 50, endpoint: bool = True, dtype: str | None = None,
    axis: int = 0,
) -> Tensor:  # fmt: skip
    """``num`` values from ``start`` to ``stop`` (both positive) in a geometric progression, the ends exact."""
    a, b = _as_float(start), _as_float(stop)
    values = C.exp(_spaced("geomspace", C.log(a), C.log(b), num, endpoint)[0])
    rank = builtins.max(a.ndim, b.ndim)
    first = np.arange(num).reshape(num, *[1] * rank) == 0
    values = where(first, a, values)
    if endpoint and num > 1:
        values = where(np.arange(num).reshape(num, *[1] * rank) == num - 1, b, values)
    values = moveaxis(values, 0, axis)
    return values if dtype is None else cast(values, dtype)


def _axis_shape(rank: int, axis: int, n: int) -> tuple[int, ...]:
    return tuple(n if i == axis % rank else 1 for i in range(rank))


def meshgrid(*x: TensorLike, indexing: str = "xy") -> list[Tensor]:
    """Coordinate grids from 1-D arrays: ``"xy"`` (the first two axes swapped, as for images) or ``"ij"``."""
    check_choice("meshgrid", "indexing", indexing, ("xy", "ij"))
    vectors = [ravel(v) for v in x]
    shape = [v.shape[0] for v in vectors]
    if indexing == "xy" and len(vectors) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    grids = []
    for i, v in enumerate(vectors):
        position = (1 if i == 0 else 0 if i == 1 else i) if indexing == "xy" and len(vectors) > 1 else i
        grids.append(broadcast_to(v.reshape(_axis_shape(len(shape), position, v.shape[0])), tuple(shape)))
    return grids


def identity(n: int, dtype: str | None = None) -> Tensor:
    return to_tensor(np.eye(n), dtype or settings.floatx)


def empty(shape: int | Sequence[int], dtype: str | None = None) -> Tensor:
    """Zeros (highnn has no uninitialised memory to hand out)."""
    return to_tensor(np.zeros(shape), dtype or settings.floatx)


def empty_like(x: TensorLike, dtype: str | None = None) -> Tensor:
    x = to_tensor(x)
    return to_tensor(np.zeros(x.shape), dtype or x.dtype)


# ------------------------------------------------------------------ products of vectors
def outer(x1: TensorLike, x2: TensorLike) -> Tensor:
    return ravel(x1).reshape(-1, 1) * ravel(x2).reshape(1, -1)


def inner(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The sum of products over the last axes (a scalar for vectors; a product of the two otherwise)."""
    a, b = to_tensor(x1), to_tensor(x2)
    if not a.ndim or not b.ndim:
        return a * b
    return sum(a.reshape(*a.shape[:-1], *[1] * (b.ndim - 1), a.shape[-1]) * b, axis=-1)


def vdot(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The sum of products of the flattened tensors."""
    return sum(ravel(x1) * ravel(x2))


def cross(
    x1: TensorLike, x2: TensorLike, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> Tensor:
    """The cross product of 3-vectors (or the z component of 2-vectors') along the vectors' axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(to_tensor(x1), axisa, -1), moveaxis(to_tensor(x2), axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        fail("cross", "x1", "vectors of 2 or 3 components", f"shapes {a.shape} and {b.shape}")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2] if a.shape[-1] == 3 else None
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2] if b.shape[-1] == 3 else None
    z = a0 * b1 - a1 * b0
    if a2 is None and b2 is None:
        return z
    a2 = a0 * 0 if a2 is None else a2
    b2 = b0 * 0 if b2 is None else b2
    stacked = concatenate([(a1 * b2 - a2 * b1)[..., None], (a2 * b0 - a0 * b2)[..., None], z[..., None]], -1)
    return moveaxis(stacked, -1, axisc)


def kron(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The Kronecker product: every element of ``x1`` times the whole of ``x2``, in blocks."""
    a, b = to_tensor(x1), to_tensor(x2)
    rank = builtins.max(a.ndim, b.ndim)
    a = a.reshape((1,) * (rank - a.ndim) + a.shape)
    b = b.reshape((1,) * (rank - b.ndim) + b.shape)
    blocks = a.reshape(tuple(n for d in a.shape for n in (d, 1))) * b.reshape(tuple(n for d in b.shape for n in (1, d)))
    return blocks.reshape(tuple(m * n for m, n in zip(a.shape, b.shape)))


# ------------------------------------------------------------------ comparisons and selection
def isclose(x1: TensorLike, x2: TensorLike, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """``|x1 - x2| <= atol + rtol * |x2|`` elementwise; an infinity is close only to itself, NaN to nothing (to
    NaN with ``equal_nan``)."""
    a, b = _as_float(x1), _as_float(x2)
    finite = logical_and(isfinite(a), isfinite(b))
    a_finite, b_finite = where(finite, a, 0.0), where(finite, b, 0.0)  # no inf - inf
    within = less_equal(abs(a_finite - b_finite), atol + rtol * abs(b_finite))
    close = logical_or(logical_and(finite, within), equal(a, b))
    return logical_or(close, logical_and(isnan(a), isnan(b))) if equal_nan else close


def allclose(x1: TensorLike, x2: TensorLike, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    return all(isclose(x1, x2, rtol, atol, equal_nan))


def select(condlist: Sequence[TensorLike], choicelist: Sequence[TensorLike], default: TensorLike = 0) -> Tensor:
    """The value from the first choice whose condition holds, else ``default``, elementwise."""
    if len(condlist) != len(choicelist) or not condlist:
        fail("select", "choicelist", f"as many choices as conditions ({len(condlist)}), at least one",
             f"{len(choicelist)} choices")  # fmt: skip
    out = to_tensor(default)
    for condition, choice in zip(reversed(condlist), reversed(choicelist)):
        out = where(condition, choice, out)
    return out


def digitize(x: TensorLike, bins: TensorLike) -> Tensor:
    """For increasing ``bins``, the index of the bin each value falls in: how many bins are at or below it."""
    edges = np.asarray(to_tensor(bins).numpy())
    if edges.ndim != 1 or np.any(np.diff(edges) < 0):
        fail("digitize", "bins", "a 1-D array of increasing edges", edges.tolist())
    x = to_tensor(x)
    return _count(less_equal(to_tensor(edges, x.dtype), x.reshape(*x.shape, 1)), -1)


def searchsorted(sorted_sequence: TensorLike, values: TensorLike, side: str = "left") -> Tensor:
    """Where each value would be inserted into the increasing 1-D ``sorted_sequence`` to keep it sorted: before
    equal elements (``"left"``) or after them (``"right"``)."""
    check_choice("searchsorted", "side", side, ("left", "right"))
    sequence, v = to_tensor(sorted_sequence), to_tensor(values)
    if sequence.ndim != 1:
        fail("searchsorted", "sorted_sequence", "a 1-D tensor", f"shape {sequence.shape}")
    column = v.reshape(*v.shape, 1)
    before = sequence < column if side == "left" else sequence <= column
    return _count(before, -1)


# ------------------------------------------------------------------ differences
def diff(a: TensorLike, n: int = 1, axis: int = -1) -> Tensor:
    """The ``n``-th differences along ``axis``."""
    x = to_tensor(a)
    axis = _one_axis(x, axis, "diff")
    lead = (slice(None),) * axis
    for _ in range(n):
        x = x[lead + (slice(1, None),)] - x[lead + (slice(None, -1),)]
    return x


def trapezoid(y: TensorLike, x: TensorLike | None = None, dx: float = 1.0, axis: int = -1) -> Tensor:
    """The integral of ``y`` along ``axis`` by the trapezoidal rule, at points ``x`` or spaced ``dx``."""
    y = _as_float(y)
    axis = _one_axis(y, axis, "trapezoid")
    lead = (slice(None),) * axis
    heights = (y[lead + (slice(1, None),)] + y[lead + (slice(None, -1),)]) / 2.0
    widths = dx if x is None else diff(x, axis=-1 if to_tensor(x).ndim == 1 else axis)
    if x is not None and to_tensor(x).ndim == 1:
        widths = to_tensor(widths).reshape(_axis_shape(y.ndim, axis, y.shape[axis] - 1))
    return sum(heights * widths, axis=axis)


# ------------------------------------------------------------------ reductions
def all(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return equal(sum(cast(logical_not(x), "int32"), axis, keepdims), 0)


def any(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return logical_not(equal(sum(cast(_truth(x), "int32"), axis, keepdims), 0))


def amax(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return max(x, axis, keepdims)


def amin(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return C.min(x, axis, keepdims)


def ptp(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """The range, maximum minus minimum."""
    return max(x, axis, keepdims) - C.min(x, axis, keepdims)


def count_nonzero(x: TensorLike, axis: Axis = None) -> Tensor:
    return _count(_truth(x), axis)


def _count(flags: Tensor, axis: Axis) -> Tensor:
    """How many of ``flags`` hold over ``axis``, as int32 (Keras's dtype for counts and positions)."""
    return cast(sum(cast(flags, "int32"), axis), "int32")


def average(x: TensorLike, axis: int | None = None, weights: TensorLike | None = None) -> Tensor:
    """The mean over ``axis`` (every axis without one), weighted by ``weights`` (of ``x``'s shape, or a vector
    along ``axis``)."""
    x = _as_float(x)
    if weights is None:
        return C.mean(x, axis)
    w = cast(to_tensor(weights), x.dtype)
    if w.shape != x.shape:
        if axis is None or w.ndim != 1 or w.shape[0] != x.shape[axis]:
            fail("average", "weights", f"of the shape of x {x.shape}, or a vector along `axis`", f"shape {w.shape}")
        w = w.reshape(_axis_shape(x.ndim, axis, w.shape[0]))
        w = broadcast_to(w, x.shape)
    return sum(x * w, axis) / sum(w, axis)


def quantile(x: TensorLike, q: TensorLike, axis: Axis = None, method: str = "linear", keepdims: bool = False) -> Tensor:
    """The ``q``-th quantiles (``q`` in [0, 1], a number or a vector, which then leads the result) over ``axis``,
    interpolated as NumPy's ``method``: "linear", "lower", "higher", "midpoint" or "nearest"."""
    check_choice("quantile", "method", method, ("linear", "lower", "higher", "midpoint", "nearest"))
    x = _as_float(x)
    rows, axes = _rows_over(x, axis)
    ordered = sort(rows, axis=-1)
    n = ordered.shape[-1]
    fractions = np.asarray(to_tensor(q).numpy(), dtype=np.float64)
    if np.any((fractions < 0) | (fractions > 1)):
        fail("quantile", "q", "numbers in [0, 1]", fractions.tolist())
    position = fractions * (n - 1)
    low, high = np.floor(position).astype(np.int32), np.ceil(position).astype(np.int32)
    weight = position - low
    if method == "lower":
        high, weight = low, weight * 0
    elif method == "higher":
        low, weight = high, weight * 0
    elif method == "midpoint":
        weight = np.where(high > low, 0.5, 0.0)
    elif method == "nearest":  # halves to the even position, as NumPy
        low = high = np.round(position).astype(np.int32)
        weight = weight * 0
    picks = np.stack([low.ravel(), high.ravel()])
    below, above = (take_positions(ordered, p, axis=ordered.ndim - 1) for p in picks)
    values = below + (above - below) * to_tensor(weight.ravel(), x.dtype)  # (..., count of q)
    return _per_quantile(values, fractions.shape, x.shape, axes, keepdims)


def _rows_over(x: Tensor, axis: Axis) -> tuple[Tensor, tuple[int, ...]]:
    """``x`` with the reduced ``axis`` (every axis by default) flattened into one last axis, and those axes."""
    axes = tuple(range(x.ndim)) if axis is None else normalize_axis(x, axis) or ()
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    return transpose(x, kept + axes).reshape(*(x.shape[i] for i in kept), -1), axes


def _per_quantile(
    values: Tensor, q_shape: tuple[int, ...], shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool
) -> Tensor:
    """Values ``(..., count of q)`` with ``q``'s shape leading, the reduced axes kept as ones with ``keepdims``."""
    values = moveaxis(values, -1, 0).reshape(*q_shape, *values.shape[:-1])
    if keepdims:
        values = values.reshape(*q_shape, *(1 if i in axes else n for i, n in enumerate(shape)))
    return values


def percentile(
    x: TensorLike, q: TensorLike, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    return quantile(x, np.asarray(to_tensor(q).numpy(), dtype=np.float64) / 100.0, axis, method, keepdims)


def median(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return quantile(x, 0.5, axis, keepdims=keepdims)


def nanquantile(x: TensorLike, q: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """:func:`quantile` (linear) of the values that are not NaN; NaN where a slice has none."""
    x = _as_float(x)
    rows, axes = _rows_over(x, axis)
    present = cast(logical_not(isnan(rows)), x.dtype)
    ordered = sort(where(isnan(rows), math.inf, rows), axis=-1)  # the numbers first, in order
    valid = sum(present, axis=-1, keepdims=True)  # (..., 1) counts of numbers per row
    fractions = np.asarray(to_tensor(q).numpy(), dtype=np.float64).reshape(-1)
    if np.any((fractions < 0) | (fractions > 1)):
        fail("nanquantile", "q", "numbers in [0, 1]", fractions.tolist())
    position = C.clip(to_tensor(fractions, x.dtype) * (valid - 1.0), 0.0, float(ordered.shape[-1] - 1))
    low = floor(position)
    high = minimum(low + 1.0, maximum(valid - 1.0, 0.0))  # the row's last number at most, never a filler
    below = take_along_axis(ordered, cast(low, "int32"), axis=-1)
    above = take_along_axis(ordered, cast(high, "int32"), axis=-1)
    values = below + (above - below) * (position - low)
    values = where(equal(valid, 0.0), math.nan, values)  # (..., count of q)
    return _per_quantile(values, np.shape(to_tensor(q).numpy()), x.shape, axes, keepdims)


def nanpercentile(x: TensorLike, q: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return nanquantile(x, np.asarray(to_tensor(q).numpy(), dtype=np.float64) / 100.0, axis, keepdims)


def nanmedian(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return nanquantile(x, 0.5, axis, keepdims)


def histogram(x: TensorLike, bins: int = 10, range: tuple[float, float] | None = None) -> tuple[Tensor, Tensor]:
    """The counts (int32) of ``x``'s values in ``bins`` equal bins over ``range`` (the values' own range by
    default; the last bin includes its right edge), and the ``bins + 1`` edges."""
    if not is_integer(bins) or bins < 1:
        fail("histogram", "bins", "a positive int", bins)
    values = _as_float(x).reshape(-1)
    if range is None:
        low, high = C.min(values), max(values)
    else:
        low, high = (to_tensor(float(bound), values.dtype) for bound in range)
    width = where(equal(high, low), 1.0, high - low)
    edges = low + width * to_tensor(np.linspace(0.0, 1.0, bins + 1), values.dtype)
    slot = floor((values - low) / width * bins)
    inside = logical_and(values >= low, values <= high)
    slot = C.clip(slot, 0.0, float(bins - 1))
    counted = C.one_hot(cast(slot, "int32"), bins, "int32") * cast(inside, "int32").reshape(-1, 1)
    return cast(sum(counted, axis=0), "int32"), edges


def isin(x1: TensorLike, x2: TensorLike, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each element of ``x1`` is among the elements of ``x2``."""
    a, b = to_tensor(x1), ravel(x2)
    found = any(equal(a.reshape(*a.shape, 1), b), axis=-1)
    return logical_not(found) if invert else found


def vander(x: TensorLike, N: int | None = None, increasing: bool = False) -> Tensor:
    """The powers of a vector, one column per power (decreasing from ``N - 1`` unless ``increasing``)."""
    v = ravel(x)
    count = v.shape[0] if N is None else int(N)
    powers = np.arange(count) if increasing else np.arange(count - 1, -1, -1)
    return pow(v.reshape(-1, 1), to_tensor(powers, v.dtype))


def unravel_index(indices: TensorLike, shape: Sequence[int]) -> tuple[Tensor, ...]:
    """The coordinates in an array of ``shape`` of each flat index."""
    flat = to_tensor(indices)
    flat = flat if flat.dtype in ("int32", "int64") else cast(flat, "int32")
    coordinates = []
    for n in reversed([int(n) for n in shape]):
        coordinates.append(mod(flat, n))
        flat = floor_divide(flat, n)
    return tuple(reversed(coordinates))


def corrcoef(x: TensorLike) -> Tensor:
    """The Pearson correlation coefficients of the rows of ``x`` (each row a variable)."""
    x = _as_float(x)
    x = x.reshape(1, -1) if x.ndim == 1 else x
    centred = x - C.mean(x, 1, keepdims=True)
    covariance = centred @ transpose(centred, (1, 0))
    scale = sqrt(diagonal(covariance))
    return covariance / (scale.reshape(-1, 1) * scale.reshape(1, -1))


def correlate(x1: TensorLike, x2: TensorLike, mode: str = "valid") -> Tensor:
    """The cross-correlation of two vectors, ``sum_n x1[n + k] * x2[n]``, as NumPy's ``mode``: "valid",
    "same" or "full"."""
    check_choice("correlate", "mode", mode, ("valid", "same", "full"))
    a, b = _as_float(x1), _as_float(x2)
    if a.ndim != 1 or b.ndim != 1:
        fail("correlate", "x1", "two vectors", f"shapes {a.shape} and {b.shape}")
    if a.shape[0] < b.shape[0]:  # NumPy swaps them and reverses the result
        return flip(correlate(b, a, mode), 0)
    n, m = a.shape[0], b.shape[0]
    before = {"valid": 0, "same": m // 2, "full": m - 1}[mode]
    after = {"valid": 0, "same": m - 1 - m // 2, "full": m - 1}[mode]
    padded = concatenate([to_tensor(np.zeros(before), a.dtype), a, to_tensor(np.zeros(after), a.dtype)], 0)
    windows = n + before + after - m + 1
    rows = take(padded, (np.arange(windows)[:, None] + np.arange(m)[None, :]).astype(np.int32), axis=0)
    return sum(rows * b, axis=-1)


def extract_sequences(x: TensorLike, sequence_length: int, sequence_stride: int) -> Tensor:
    """Frames of ``sequence_length`` values along the last axis, ``sequence_stride`` apart (as for a short-time
    Fourier transform): ``(..., n)`` to ``(..., frames, sequence_length)``."""
    x = to_tensor(x)
    if not is_integer(sequence_length) or not 1 <= sequence_length <= x.shape[-1]:
        fail("extract_sequences", "sequence_length", f"an int in [1, {x.shape[-1]}]", sequence_length)
    if not is_integer(sequence_stride) or sequence_stride < 1:
        fail("extract_sequences", "sequence_stride", "a positive int", sequence_stride)
    frames = (x.shape[-1] - sequence_length) // sequence_stride + 1
    index = np.arange(frames)[:, None] * sequence_stride + np.arange(sequence_length)[None, :]
    return take(x, index.astype(np.int32), axis=x.ndim - 1)


def _window(name: str, points: int, values: Any) -> Tensor:
    if not is_integer(points) or points < 0:
        fail(name, "x", "a non-negative int (the number of points)", points)
    return to_tensor(np.asarray(values, dtype=np.float64), settings.floatx)


def bartlett(x: int) -> Tensor:
    """The triangular (Bartlett) window of ``x`` points."""
    return _window("bartlett", x, np.bartlett(int(x)))


def blackman(x: int) -> Tensor:
    """The Blackman window of ``x`` points."""
    return _window("blackman", x, np.blackman(int(x)))


def hamming(x: int) -> Tensor:
    """The Hamming window of ``x`` points."""
    return _window("hamming", x, np.hamming(int(x)))


def hanning(x: int) -> Tensor:
    """The Hann window of ``x`` points."""
    return _window("hanning", x, np.hanning(int(x)))


def kaiser(x: int, beta: float) -> Tensor:
    """The Kaiser window of ``x`` points and shape ``beta``."""
    return _window("kaiser", x, np.kaiser(int(x), float(beta)))


# ------------------------------------------------------------------ reductions that skip NaN
def _without_nan(x: TensorLike, fill: float) -> tuple[Tensor, Tensor]:
    x = _as_float(x)
    missing = isnan(x)
    return where(missing, fill, x), missing


def nansum(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return sum(_without_nan(x, 0.0)[0], axis, keepdims)


def nanprod(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return prod(_without_nan(x, 1.0)[0], axis, keepdims)


def nanmean(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    filled, missing = _without_nan(x, 0.0)
    return sum(filled, axis, keepdims) / sum(cast(logical_not(missing), filled.dtype), axis, keepdims)


def nanvar(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    filled, missing = _without_nan(x, 0.0)
    present = cast(logical_not(missing), filled.dtype)
    count = sum(present, axis, keepdims=True)
    centred = (filled - sum(filled, axis, keepdims=True) / count) * present
    result = sum(centred * centred, axis, keepdims=True) / count
    return result if keepdims else result.reshape(sum(present, axis, keepdims).shape)


def nanstd(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return sqrt(nanvar(x, axis, keepdims))


def nanmax(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return max(_without_nan(x, -math.inf)[0], axis, keepdims)


def nanmin(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return C.min(_without_nan(x, math.inf)[0], axis, keepdims)


def nanargmax(x: TensorLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return argmax(_without_nan(x, -math.inf)[0], axis, keepdims)


def nanargmin(x: TensorLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return argmin(_without_nan(x, math.inf)[0], axis, keepdims)


def nancumsum(x: TensorLike, axis: int | None = None, dtype: str | None = None) -> Tensor:
    return cumsum(_without_nan(x, 0.0)[0], axis, dtype)


def nancumprod(x: TensorLike, axis: int | None = None, dtype: str | None = None) -> Tensor:
    return cumprod(_without_nan(x, 1.0)[0], axis, dtype)


def rearrange(tensor: TensorLike, pattern: str, **axes_lengths: int) -> Tensor:
    """Axes renamed, reordered, split and merged by an einops pattern, as Keras's (and ``einops.rearrange``):
    ``"b h w c -> b c h w"``, ``"b h w c -> b (h w c)"``, ``"b (h h1) (w w1) c -> b h w (c h1 w1)"`` with
    ``h1=2, w1=2``. Each input group may leave one length to infer. A reshape, a transpose and a reshape."""
    x = to_tensor(tensor)
    sides = pattern.split("->") if isinstance(pattern, str) else []
    if len(sides) != 2:
        fail("rearrange", "pattern", 'one "->" between the input axes and the output axes', pattern)
    inputs, outputs = (_axis_groups(side, pattern) for side in sides)
    names = [name for group in inputs for name in group]
    if sorted(names) != sorted(name for group in outputs for name in group) or len(set(names)) != len(names):
        fail("rearrange", "pattern", "each axis name once on each side", pattern)
    if len(inputs) != x.ndim:
        fail("rearrange", "pattern", f"{x.ndim} input axes for a tensor of shape {x.shape}", pattern)
    for name, length in axes_lengths.items():
        if name not in names or not (is_integer(length) and length >= 1):
            fail("rearrange", name, "a positive length of an axis of the pattern", length)
    lengths: dict[str, int] = {}
    for group, size in zip(inputs, x.shape):
        unknown = [name for name in group if name not in axes_lengths]
        known = math.prod(int(axes_lengths[name]) for name in group if name in axes_lengths)
        if len(unknown) > 1 or (not unknown and known != size) or size % known:
            fail("rearrange", "axes_lengths", f"lengths that split the axis ({' '.join(group)}) of length {size}",
                 {name: axes_lengths.get(name) for name in group})  # fmt: skip
        lengths.update({name: int(axes_lengths[name]) for name in group if name in axes_lengths})
        lengths.update({name: size // known for name in unknown})
    split = x.reshape(*(lengths[name] for name in names))
    order = [names.index(name) for group in outputs for name in group]
    return P.transpose(split, tuple(order)).reshape(*(math.prod(lengths[n] for n in group) for group in outputs))


def _axis_groups(side: str, pattern: str) -> list[list[str]]:
    """``"b (h w) c"`` as ``[["b"], ["h", "w"], ["c"]]``."""
    groups = []
    for grouped, single, stray in re.findall(r"\(([^()]*)\)|([^\s()]+)|(\S)", side):
        names = grouped.split() if grouped or not single else [single]
        if stray or not names or not builtins.all(name.isidentifier() for name in names):
            fail("rearrange", "pattern", "axis names and non-empty, unnested groups of them in parentheses", pattern)
        groups.append(names)
    return groups


def bincount(x: TensorLike, weights: TensorLike | None = None, minlength: int = 0, sparse: bool = False) -> Tensor:
    """How often each non-negative integer occurs in ``x`` (1-D, or 2-D counted row by row), or the sum of
    ``weights`` where it does, as Keras's: ``max(max(x) + 1, minlength)`` bins, int32 counts or weights in the
    type of their sum. The length depends on the values, so ``x`` is read; inside a traced step, where it cannot
    be, ``minlength`` bins are made and larger values are dropped, as by JAX's ``length``. A scatter-add, so the
    gradient reaches the weights."""
    if sparse:
        fail("bincount", "sparse", "False (highnn has no sparse tensors)", sparse)
    x = to_tensor(x)
    if x.dtype not in ("int32", "int64") or x.ndim not in (1, 2):
        fail("bincount", "x", "integers of rank 1 or 2", f"{x.dtype} of shape {x.shape}")
    if not (is_integer(minlength) and minlength >= 0):
        fail("bincount", "minlength", "a non-negative int", minlength)
    if is_tracing():  # a traced step cannot read x: minlength bins
        if not minlength:
            fail("bincount", "minlength", "the number of bins inside a traced step (x cannot be read there)", 0)
        length = int(minlength)
    else:
        values = x.numpy()
        if values.size and values.min() < 0:
            fail("bincount", "x", "non-negative integers", f"a minimum of {values.min()}")
        length = builtins.max(int(values.max()) + 1 if values.size else 0, int(minlength))
    if weights is None:
        counted = P.cast(P.broadcast_to(to_tensor(1), x.shape), "int32")
    else:
        counted = to_tensor(weights)
        if counted.shape != x.shape:
            fail("bincount", "weights", f"one weight per element of x {x.shape}", f"shape {counted.shape}")
    inside = P.less(x, length)  # always, but for larger values inside a traced step: dropped, as JAX's
    counted = P.where(inside, counted, P.cast(to_tensor(0), counted.dtype))
    rows = 1 if x.ndim == 1 else x.shape[0]
    offsets = to_tensor(np.repeat(np.arange(rows) * length, math.prod(x.shape) // rows), x.dtype)
    bins = P.where(inside, x, P.cast(to_tensor(0), x.dtype)).reshape(-1) + offsets
    totals = P.scatter_add(counted.reshape(-1), bins, shape=(rows * length,), axis=0)
    return totals.reshape(length) if x.ndim == 1 else totals.reshape(rows, length)


def nonzero(x: TensorLike) -> tuple[Tensor, ...]:
    """The int32 positions of the non-zero elements, one index tensor per axis (as NumPy's). How many there are
    depends on the values, so ``x`` is read: not inside a traced step, where ``where(x != 0, ...)`` keeps the
    shape."""
    x = to_tensor(x)
    _refuse_in_trace("nonzero", "x", "a tensor outside a traced step (how many elements are non-zero depends on it)")
    return tuple(to_tensor(positions.astype(np.int32)) for positions in np.nonzero(x.numpy()))


def unique(
    x: TensorLike,
    sorted: bool = True,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: int | None = None,
    size: int | None = None,
    fill_value: Any = None,
) -> Any:
    """The distinct elements of ``x`` (of the flattened tensor, or the distinct slices along ``axis``), ascending,
    and with the ``return_*`` flags the positions of their first occurrences, the positions that rebuild ``x`` and
    their counts (int32), as Keras's and NumPy's. ``size`` pads (with ``fill_value``, by default the smallest
    element, as JAX's) or cuts the distinct elements to that many. ``x`` is read, so not inside a traced step.
    highnn always sorts (``sorted=False`` gives the same order)."""
    x = to_tensor(x)
    _refuse_in_trace("unique", "x", "a tensor outside a traced step (how many elements are distinct depends on it)")
    if axis is not None:
        axis = _one_axis(x, axis, "unique")
    values = x.numpy()
    distinct, first, inverse, counts = np.unique(
        values, return_index=True, return_inverse=True, return_counts=True, axis=axis
    )
    if size is not None:
        if not (is_integer(size) and size >= 1):
            fail("unique", "size", "a positive int or None", size)
        along = 0 if axis is None else axis
        present = distinct.shape[along]
        if present >= size:
            distinct = np.take(distinct, np.arange(size), axis=along)
            first, counts = first[:size], counts[:size]
        else:
            filler = np.min(values) if fill_value is None else fill_value
            shape = list(distinct.shape)
            shape[along] = size - present
            distinct = np.concatenate([distinct, np.full(shape, filler, distinct.dtype)], axis=along)
            first = np.concatenate([first, np.zeros(size - present, first.dtype)])
            counts = np.concatenate([counts, np.zeros(size - present, counts.dtype)])
    results = [to_tensor(distinct, x.dtype)]
    for wanted, extra in ((return_index, first), (return_inverse, inverse.reshape(-1)), (return_counts, counts)):
        if wanted:
            results.append(to_tensor(extra.astype(np.int32)))
    return results[0] if len(results) == 1 else tuple(results)


def _refuse_in_trace(owner: str, argument: str, expected: str) -> None:
    """A clear error for an operation whose output shape depends on values, called inside a traced step."""
    if is_tracing():
        fail(owner, argument, expected, "a tensor being traced")
