"""Keras's ``keras.ops`` NumPy-style group: creation, shapes, arithmetic, reductions, sorting and contractions.

Every function is composed from the primitives (``highnn.ops.primitives``), so its
gradient follows from their rules; names, argument names and defaults are Keras 3's.
"""

from __future__ import annotations

import builtins
import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from highnn.checks import fail, is_integer
from highnn.config import settings
from highnn.graph import Primitive, Tensor, TensorLike, normalize_axis, to_tensor
from highnn.ops import composites as C
from highnn.ops.primitives import (
    _argsort,
    _cumprod,
    _cumsum,
    abs,
    broadcast_to,
    cast,
    div,
    equal,
    floor,
    matmul,
    max,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    sum,
    transpose,
)
from highnn.ops.primitives import concatenate as _concatenate
from highnn.ops.primitives import round as round_
from highnn.ops.primitives import take as _take
from highnn.ops.primitives import where as _select

Axis = int | tuple[int, ...] | None

# Keras's aliases of the primitives
subtract, multiply, divide, true_divide, negative, power, absolute = sub, mul, div, div, neg, pow, abs


# ------------------------------------------------------------------ creation
def _dtype_of(value: Any, dtype: str | None) -> str:
    """``dtype``, or Keras's default for ``value``: floatx for floats, int32 for integers, bool for bools."""
    if dtype is not None:
        return dtype
    kind = np.asarray(value).dtype.kind
    return "bool" if kind == "b" else "int32" if kind in "iu" else settings.floatx


def zeros(shape: int | Sequence[int], dtype: str | None = None) -> Tensor:
    return to_tensor(np.zeros(shape), dtype or settings.floatx)


def ones(shape: int | Sequence[int], dtype: str | None = None) -> Tensor:
    return to_tensor(np.ones(shape), dtype or settings.floatx)


def full(shape: int | Sequence[int], fill_value: Any, dtype: str | None = None) -> Tensor:
    """``fill_value`` everywhere; the dtype follows it unless given."""
    return to_tensor(np.full(shape, fill_value), _dtype_of(fill_value, dtype))


def zeros_like(x: TensorLike, dtype: str | None = None) -> Tensor:
    return full_like(x, 0, dtype)


def ones_like(x: TensorLike, dtype: str | None = None) -> Tensor:
    return full_like(x, 1, dtype)


def full_like(x: TensorLike, fill_value: Any, dtype: str | None = None) -> Tensor:
    """``fill_value`` in the shape of ``x``, with ``x``'s dtype unless given."""
    x = to_tensor(x)
    return to_tensor(np.full(x.shape, fill_value), dtype or x.dtype)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: str | None = None) -> Tensor:
    """``start, start + step, ...`` below ``stop`` (``arange(n)`` counts from 0); int32 unless a bound is a float."""
    values = np.arange(start, step=step) if stop is None else np.arange(start, stop, step)
    return to_tensor(values, _dtype_of(values, dtype))


def eye(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> Tensor:
    """Ones on the ``k``-th diagonal of an ``N`` x ``M`` matrix."""
    return to_tensor(np.eye(N, M, k), dtype or settings.floatx)


# ------------------------------------------------------------------ shapes
def shape(x: TensorLike) -> tuple[int, ...]:
    return to_tensor(x).shape


def expand_dims(x: TensorLike, axis: int | Sequence[int]) -> Tensor:
    """Insert axes of length 1 at ``axis`` (positions in the result)."""
    x = to_tensor(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = x.ndim + len(axes)
    for a in axes:
        if not -ndim <= a < ndim:
            fail("expand_dims", "axis", f"in [{-ndim}, {ndim}) for a tensor of shape {x.shape}", axis)
    inserted = {a % ndim for a in axes}
    dims = iter(x.shape)
    return x.reshape(tuple(1 if i in inserted else next(dims) for i in range(ndim)))


def squeeze(x: TensorLike, axis: Axis = None) -> Tensor:
    """Drop the axes of length 1 (those in ``axis``, which must have length 1)."""
    x = to_tensor(x)
    axes = tuple(i for i, n in enumerate(x.shape) if n == 1) if axis is None else normalize_axis(x, axis) or ()
    if any(x.shape[a] != 1 for a in axes):
        fail("squeeze", "axis", f"axes of length 1 of shape {x.shape}", axis)
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))


def swapaxes(x: TensorLike, axis1: int, axis2: int) -> Tensor:
    x = to_tensor(x)
    first, second = _one_axis(x, axis1, "swapaxes"), _one_axis(x, axis2, "swapaxes")
    order = list(range(x.ndim))
    order[first], order[second] = second, first
    return transpose(x, tuple(order))


def moveaxis(x: TensorLike, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move axes ``source`` to positions ``destination``; the others keep their order."""
    x = to_tensor(x)
    sources: list[int] = [source] if isinstance(source, int) else list(source)
    targets: list[int] = [destination] if isinstance(destination, int) else list(destination)
    if len(sources) != len(targets):
        fail("moveaxis", "destination", f"as many axes as `source` ({source})", destination)
    sources = [_one_axis(x, a, "moveaxis") for a in sources]
    order = [a for a in range(x.ndim) if a not in sources]
    for target, moved in sorted(zip((_one_axis(x, t, "moveaxis") for t in targets), sources)):
        order.insert(target, moved)
    return transpose(x, tuple(order))


def flip(x: TensorLike, axis: Axis = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (every axis by default)."""
    x = to_tensor(x)
    axes = range(x.ndim) if axis is None else normalize_axis(x, axis) or ()
    return x[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim))]


def tile(x: TensorLike, repeats: int | Sequence[int]) -> Tensor:
    """``x`` repeated ``repeats[i]`` times along axis i (``repeats`` is aligned with the last axes, as in NumPy)."""
    x = to_tensor(x)
    given = [int(repeats)] if isinstance(repeats, int) else [int(r) for r in repeats]
    ndim = builtins.max(x.ndim, len(given))
    dims = (1,) * (ndim - x.ndim) + x.shape
    reps = (1,) * (ndim - len(given)) + tuple(given)
    interleaved = x.reshape(tuple(n for d in dims for n in (1, d)))
    spread = broadcast_to(interleaved, tuple(n for r, d in zip(reps, dims) for n in (r, d)))
    return spread.reshape(tuple(r * d for r, d in zip(reps, dims)))


def repeat(x: TensorLike, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times (or ``repeats[i]`` times for element i) along ``axis``
    (of the flattened tensor by default)."""
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = _one_axis(x, axis, "repeat")
    n = x.shape[axis]
    if is_integer(repeats):
        r = int(repeats)  # type: ignore[arg-type]
        stretched = broadcast_to(expand_dims(x, axis + 1), x.shape[: axis + 1] + (r,) + x.shape[axis + 1 :])
        return stretched.reshape(x.shape[:axis] + (n * r,) + x.shape[axis + 1 :])
    counts = np.asarray(repeats)
    if counts.shape != (n,):
        fail("repeat", "repeats", f"an integer or {n} counts (the length of axis {axis})", repeats)
    return take_positions(x, np.repeat(np.arange(n), counts), axis)


# ------------------------------------------------------------------ arithmetic
def ceil(x: TensorLike) -> Tensor:
    return -floor(-to_tensor(x))


def round(x: TensorLike, decimals: int = 0) -> Tensor:
    """Round to ``decimals`` places, halves to even (as NumPy and Keras); integers stay as they are."""
    x = to_tensor(x)
    if x.dtype not in ("float32", "float64"):
        return x
    if not decimals:
        return round_(x)
    scale = 10.0**decimals
    return round_(x * scale) / scale


def logical_and(x1: TensorLike, x2: TensorLike) -> Tensor:
    return _select(_truth(x1), _truth(x2), False)


def logical_or(x1: TensorLike, x2: TensorLike) -> Tensor:
    return _select(_truth(x1), True, _truth(x2))


def logical_not(x: TensorLike) -> Tensor:
    return equal(_truth(x), False)


def _truth(x: TensorLike) -> Tensor:
    """``x != 0`` as bool (bools as they are)."""
    x = to_tensor(x)
    return x if x.dtype == "bool" else x != 0


def cumsum(x: TensorLike, axis: int | None = None, dtype: str | None = None) -> Tensor:
    """Running sums along ``axis`` (over the flattened tensor by default)."""
    return _scan(_cumsum, x, axis, dtype)


def cumprod(x: TensorLike, axis: int | None = None, dtype: str | None = None) -> Tensor:
    """Running products along ``axis`` (over the flattened tensor by default); the gradient is exact at zeros
    and costs ``n`` times the input along ``axis``."""
    return _scan(_cumprod, x, axis, dtype)


def _scan(primitive: Primitive, x: TensorLike, axis: int | None, dtype: str | None) -> Tensor:
    x = to_tensor(x) if dtype is None else cast(x, dtype)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return primitive(x, axis=_one_axis(x, axis, primitive.name))


def prod(x: TensorLike, axis: Axis = None, keepdims: bool = False, dtype: str | None = None) -> Tensor:
    """The product over ``axis`` (every axis by default): the last running product of the reduced axes."""
    x = to_tensor(x) if dtype is None else cast(x, dtype)
    axes = tuple(range(x.ndim)) if axis is None else normalize_axis(x, axis) or ()
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    flat = transpose(x, kept + axes).reshape(tuple(x.shape[i] for i in kept) + (math.prod(x.shape[i] for i in axes),))
    result = _cumprod(flat, axis=flat.ndim - 1)[..., -1] if flat.shape[-1] else ones(flat.shape[:-1], x.dtype)
    return result.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape))) if keepdims else result


def _one_axis(x: Tensor, axis: int, owner: str) -> int:
    if not is_integer(axis) or not -x.ndim <= axis < builtins.max(x.ndim, 1):
        fail(owner, "axis", f"an axis of a tensor of shape {x.shape}", axis)
    return int(axis) % x.ndim


# ------------------------------------------------------------------ reductions
def var(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Population variance (``ddof=0``) over ``axis``."""
    x = _as_float(x)
    centred = x - C.mean(x, axis, keepdims=True)
    return C.mean(centred * centred, axis, keepdims)


def std(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return sqrt(var(x, axis, keepdims))


def _as_float(x: TensorLike) -> Tensor:
    x = to_tensor(x)
    return x if x.dtype in ("float32", "float64") else cast(x, settings.floatx)


def argmax(x: TensorLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The position of the largest value along ``axis`` (in the flattened tensor by default), the first at ties."""
    return _arg_extreme(to_tensor(x), axis, keepdims)


def argmin(x: TensorLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The position of the smallest value, as :func:`argmax`."""
    return _arg_extreme(-to_tensor(x), axis, keepdims)


def _arg_extreme(x: Tensor, axis: int | None, keepdims: bool) -> Tensor:
    if axis is None:
        result = C.argmax(x.reshape(-1), 0)
        return result.reshape((1,) * x.ndim) if keepdims else result
    result = C.argmax(x, _one_axis(x, axis, "argmax"))
    return expand_dims(result, axis) if keepdims else result


def norm(x: TensorLike, ord: Any = None, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Vector norms (``ord`` None/2, a number p, inf, -inf, 0) over one axis, or matrix norms ("fro", 1, -1,
    inf, -inf) over two; without ``axis``, the 2-norm of the flattened tensor, or by ``ord`` for 1-D and 2-D."""
    x = _as_float(x)
    if axis is None:
        if ord is None or x.ndim == 1:
            axes: tuple[int, ...] = tuple(range(x.ndim)) if ord is None else (0,)
        elif x.ndim == 2:
            axes = (0, 1)
        else:
            fail("norm", "axis", "given when `ord` is set for a tensor of more than 2 axes", axis)
    else:
        axes = normalize_axis(x, axis) or ()
    if len(axes) == 2 and ord is not None:
        result = _matrix_norm(x, ord, axes)
    elif len(axes) == 1 or ord is None:
        result = _vector_norm(x, ord, axes)
    else:
        fail("norm", "axis", "one axis (a vector norm) or two (a matrix norm)", axis)
    return result if keepdims else result.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))


def _vector_norm(x: Tensor, ord: Any, axes: tuple[int, ...]) -> Tensor:
    size = abs(x)
    if ord is None or ord == 2:
        return sqrt(sum(x * x, axes, keepdims=True))
    if ord == math.inf:
        return max(size, axes, keepdims=True)
    if ord == -math.inf:
        return C.min(size, axes, keepdims=True)
    if ord == 0:
        return sum(cast(x != 0.0, x.dtype), axes, keepdims=True)
    if isinstance(ord, (int, float)) and not isinstance(ord, bool):
        return sum(size ** float(ord), axes, keepdims=True) ** (1.0 / ord)
    fail("norm", "ord", "None, a number, inf or -inf for a vector norm", ord)


def _matrix_norm(x: Tensor, ord: Any, axes: tuple[int, ...]) -> Tensor:
    rows, cols = axes
    if ord == "fro":
        return sqrt(sum(x * x, axes, keepdims=True))
    if ord in (1, -1, math.inf, -math.inf):
        summed, over = (rows, cols) if ord in (1, -1) else (cols, rows)
        totals = sum(abs(x), summed, keepdims=True)
        return max(totals, over, keepdims=True) if ord > 0 else C.min(totals, over, keepdims=True)
    fail("norm", "ord", '"fro", 1, -1, inf or -inf for a matrix norm (2, -2 and "nuc" need an SVD)', ord)


# ------------------------------------------------------------------ sorting
def argsort(x: TensorLike, axis: int | None = -1) -> Tensor:
    """int32 positions that sort ``x`` ascending along ``axis`` (the flattened tensor for None); stable."""
    x = to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return _argsort(x, axis=_one_axis(x, axis, "argsort"))


def argpartition(x: TensorLike, kth: int | Sequence[int], axis: int = -1) -> Tensor:
    """int32 positions that put the ``kth`` smallest element of ``x`` along ``axis`` in place, the smaller ones
    before it and the larger after (as NumPy's). highnn gives the stable sorting positions, a partition for every
    ``kth`` at once, and the same on every backend (NumPy's order within the parts is unspecified)."""
    x = to_tensor(x)
    moved = _one_axis(x, axis, "argpartition")
    size = x.shape[moved]
    for k in np.atleast_1d(np.asarray(kth)):
        if not (is_integer(k) and -size <= int(k) < size):
            fail("argpartition", "kth", f"positions in [-{size}, {size}) along axis {axis}", kth)
    return _argsort(x, axis=moved)


def sort(x: TensorLike, axis: int = -1) -> Tensor:
    """``x`` sorted ascending along ``axis``; differentiable (each value's adjoint goes back to where it was)."""
    x = to_tensor(x)
    axis = _one_axis(x, axis, "sort")
    moved = moveaxis(x, axis, -1)
    return moveaxis(_gather_last(moved, _argsort(moved, axis=moved.ndim - 1)), -1, axis)


def top_k(x: TensorLike, k: int, sorted: bool = True) -> tuple[Tensor, Tensor]:
    """The ``k`` largest values along the last axis, largest first, and their int32 positions (the lower one
    first at ties). Results are always sorted, which ``sorted=False`` allows."""
    x = to_tensor(x)
    if not is_integer(k) or not 0 < k <= (x.shape[-1] if x.ndim else 0):
        fail("top_k", "k", f"an integer in [1, {x.shape[-1] if x.ndim else 0}] (the last axis of {x.shape})", k)
    positions = _argsort(-x, axis=x.ndim - 1)[..., :k]
    return _gather_last(x, positions), positions


def _gather_last(x: Tensor, positions: Tensor) -> Tensor:
    """``x`` read at integer ``positions`` along its last axis: one list for every row, or a list per row
    (``positions`` of ``x``'s leading shape). A gather (``take``), so infinities and NaN are read as they are
    and each value's adjoint goes back to where it was read."""
    if positions.ndim == 1:
        return _take(x, positions, axis=x.ndim - 1)
    return take_along_axis(x, positions, axis=-1)


def take_positions(x: TensorLike, positions: TensorLike, axis: int) -> Tensor:
    """The slices of ``x`` at the integer ``positions`` (one list, static or computed) along ``axis``."""
    x = to_tensor(x)
    moved = moveaxis(x, axis, -1)
    return moveaxis(_gather_last(moved, to_tensor(positions)), -1, axis)


# ------------------------------------------------------------------ products and contractions
def dot(x1: TensorLike, x2: TensorLike) -> Tensor:
    """NumPy's ``dot``: a product for scalars, else the sum over the last axis of ``x1`` and the second-to-last
    of ``x2`` (its only axis when 1-D)."""
    a, b = to_tensor(x1), to_tensor(x2)
    if not a.ndim or not b.ndim:
        return a * b
    return tensordot(a, b, ([a.ndim - 1], [builtins.max(b.ndim - 2, 0)]))


def tensordot(x1: TensorLike, x2: TensorLike, axes: int | Sequence[Any] = 2) -> Tensor:
    """Sum of products over ``axes``: the last n axes of ``x1`` with the first n of ``x2``, or two lists of axes."""
    a, b = to_tensor(x1), to_tensor(x2)
    if is_integer(axes):
        n = int(axes)  # type: ignore[arg-type]
        pairs = (list(range(a.ndim - n, a.ndim)), list(range(n)))
    else:
        first, second = axes  # type: ignore[misc]
        pairs = ([first] if is_integer(first) else list(first), [second] if is_integer(second) else list(second))
    if len(pairs[0]) != len(pairs[1]):
        fail("tensordot", "axes", "two lists of equal length", axes)
    letters = iter(string.ascii_letters)
    a_letters = [next(letters) for _ in range(a.ndim)]
    b_letters = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(*pairs):
        b_letters[j % b.ndim] = a_letters[i % a.ndim]
    kept = [c for c in a_letters + b_letters if (a_letters + b_letters).count(c) == 1]
    return einsum(f"{''.join(a_letters)},{''.join(b_letters)}->{''.join(kept)}", a, b)


def einsum(subscripts: str, *operands: TensorLike) -> Tensor:
    """Einstein summation, e.g. ``"bij,bjk->bik"``: letters shared by operands are multiplied together, letters
    missing from the output summed over. Pairs are contracted with one batched matmul each. Not supported:
    ``...`` and a letter repeated within one operand (a diagonal)."""
    tensors = [to_tensor(o) for o in operands]
    inputs, output = _parse_einsum(subscripts, tensors)
    sizes: dict[str, int] = {}
    for letters, t in zip(inputs, tensors):
        for c, n in zip(letters, t.shape):
            if sizes.setdefault(c, n) != n:
                fail("einsum", "operands", f"one length for index {c!r} ({sizes[c]})", f"{n} in shape {t.shape}")
    result, letters = tensors[0], inputs[0]
    for i in range(1, len(tensors)):
        later = set(output).union(*inputs[i + 1 :])
        result, letters = _contract(result, letters, tensors[i], inputs[i], later)
    result, letters = _sum_out(result, letters, set(output))
    return transpose(result, tuple(letters.index(c) for c in output)) if letters != output else result


def _parse_einsum(subscripts: str, tensors: list[Tensor]) -> tuple[list[str], str]:
    spec = subscripts.replace(" ", "")
    left, arrow, output = spec.partition("->")
    inputs = left.split(",")
    if "." in spec or any(len(set(letters)) != len(letters) for letters in inputs):
        fail("einsum", "subscripts", "no `...` and no index repeated within one operand (unsupported)", subscripts)
    if len(inputs) != len(tensors) or any(len(s) != t.ndim for s, t in zip(inputs, tensors)):
        fail("einsum", "subscripts", f"one index per axis of each of the {len(tensors)} operands", subscripts)
    if not arrow:
        output = "".join(sorted(c for c in set(left) - {","} if left.count(c) == 1))
    if not set(output) <= set(left) or len(set(output)) != len(output):
        fail("einsum", "subscripts", "output indices that appear once and in the inputs", subscripts)
    return inputs, output


def _sum_out(x: Tensor, letters: str, keep: set[str]) -> tuple[Tensor, str]:
    """``x`` summed over the axes whose letters are not in ``keep``."""
    dropped = tuple(i for i, c in enumerate(letters) if c not in keep)
    if not dropped:
        return x, letters
    return sum(x, dropped), "".join(c for c in letters if c in keep)


def _contract(a: Tensor, la: str, b: Tensor, lb: str, later: set[str]) -> tuple[Tensor, str]:
    """``a`` times ``b``, summed over the letters they share that ``later`` (the rest of the expression) lacks."""
    a, la = _sum_out(a, la, later | set(lb))
    b, lb = _sum_out(b, lb, later | set(la))
    batch = [c for c in la if c in lb and c in later]
    summed = [c for c in la if c in lb and c not in later]
    free_a, free_b = [c for c in la if c not in lb], [c for c in lb if c not in la]

    def arranged(x: Tensor, letters: str, groups: list[list[str]]) -> Tensor:
        order = [c for group in groups for c in group]
        x = transpose(x, tuple(letters.index(c) for c in order)) if order != list(letters) else x
        return x.reshape(tuple(math.prod(x.shape[order.index(c)] for c in group) for group in groups))

    product = matmul(arranged(a, la, [batch, free_a, summed]), arranged(b, lb, [batch, summed, free_b]))
    letters = batch + free_a + free_b
    sizes = {**dict(zip(la, a.shape)), **dict(zip(lb, b.shape))}
    return product.reshape(tuple(sizes[c] for c in letters)), "".join(letters)


def where(condition: TensorLike, x1: TensorLike | None = None, x2: TensorLike | None = None) -> Tensor:
    """``x1`` where ``condition`` holds, else ``x2`` (Keras's ``where``; the one-argument form is not supported)."""
    if x1 is None or x2 is None:
        fail("where", "x1", "given with `x2` (the one-argument form, nonzero, is not supported)", x1)
    return _select(_truth(condition), x1, x2)


# ------------------------------------------------------------------ take_along_axis (a composite over take)
def take_along_axis(x: TensorLike, indices: TensorLike, axis: int | None = None) -> Tensor:
    """The values of ``x`` at integer ``indices`` along ``axis``, as NumPy's and Keras's ``take_along_axis``.

    ``indices`` has the rank of ``x`` and broadcasts with it on every other axis;
    with ``axis=None`` both are flattened first. Negative indices count from the
    end; indices out of range are clipped to it (as JAX does). Built from
    ``take`` on the flattened ``x``, so its gradient is ``take``'s (adjoints add
    up where an element is read twice).

    >>> hn.ops.take_along_axis(x, hn.ops.argsort(x, axis=1), axis=1)  # x sorted along axis 1
    """
    x, indices = to_tensor(x), to_tensor(indices)
    if not indices.dtype.startswith(("int", "uint")):
        raise TypeError(
            f"take_along_axis: `indices` must be an array of integers, received one of dtype {indices.dtype}."
        )
    if axis is None:
        x, indices, axis = x.reshape(-1), indices.reshape(-1), 0
    if indices.ndim != x.ndim:
        fail("take_along_axis", "indices", f"an array of the rank of `x` ({x.ndim})", indices.shape)
    (axis,) = normalize_axis(x, axis) or (0,)
    n = x.shape[axis]
    try:
        shape = np.broadcast_shapes(x.shape[:axis] + (1,) + x.shape[axis + 1 :], indices.shape)
    except ValueError:
        fail("take_along_axis", "indices", f"a shape that broadcasts with x's {x.shape} off axis {axis}", indices.shape)
    x = broadcast_to(x, shape[:axis] + (n,) + shape[axis + 1 :])
    indices = broadcast_to(indices, shape)
    indices = _select(indices < 0, indices + n, indices)
    indices = _select(indices < 0, 0, _select(indices > n - 1, n - 1, indices))
    strides = np.cumprod((x.shape[1:] + (1,))[::-1])[::-1]  # of each axis of x, in elements
    grid = builtins.sum(  # the flat offset of every position off ``axis``
        np.arange(size).reshape((1,) * d + (size,) + (1,) * (len(shape) - d - 1)) * strides[d]
        for d, size in enumerate(shape)
        if d != axis
    )
    return _take(x.reshape(-1), indices * int(strides[axis]) + grid)


def stack(x: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new ``axis`` (Keras's ``ops.stack``): each gains the axis, then they are
    concatenated."""
    if not isinstance(x, (list, tuple)) or not x:
        fail("stack", "x", "a non-empty list of tensors", x, TypeError)
    tensors = [to_tensor(t) for t in x]
    if len({t.shape for t in tensors}) > 1:
        fail("stack", "x", "tensors of one shape", [t.shape for t in tensors])
    return _concatenate([expand_dims(t, axis) for t in tensors], axis=axis)
