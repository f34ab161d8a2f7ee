"""The primitives' shape/dtype rules: each rejects bad operands before any backend sees them.

A check takes the primitive's name, its input tensors and its static attributes,
and raises an error that names the operation, what it expected and what it
received, identically on every backend. ``highnn.ops.primitives`` pairs each
primitive with its check.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from highnn.backends import ALL_FLOAT_DTYPES, DTYPES
from highnn.backends.base import index_error, pool_output_shape

if TYPE_CHECKING:
    from highnn.graph import Tensor


def _same_dtype(name: str, *tensors: Tensor) -> None:
    dtypes = [t.dtype for t in tensors]
    if len(set(dtypes)) > 1:
        raise TypeError(
            f"{name}: operands must have one dtype, received {' and '.join(dtypes)}; cast one with .astype() first."
        )


def _broadcast_shape(name: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{name}: shapes {' and '.join(map(str, shapes))} cannot be broadcast together.") from None


def check_elementwise(name: str, *tensors: Tensor) -> None:
    _same_dtype(name, *tensors)
    _broadcast_shape(name, *(t.shape for t in tensors))


def check_integer_elementwise(name: str, *tensors: Tensor) -> None:
    """Integer or bool operands of one dtype that broadcast (the logical bitwise operations)."""
    _check_dtype_elementwise(name, ("int32", "int64", "bool"), tensors)


def check_integers_elementwise(name: str, *tensors: Tensor) -> None:
    """Integer operands of one dtype that broadcast (shifts, gcd, lcm)."""
    _check_dtype_elementwise(name, ("int32", "int64"), tensors)


def _check_dtype_elementwise(name: str, allowed: tuple[str, ...], tensors: tuple[Tensor, ...]) -> None:
    check_elementwise(name, *tensors)
    if tensors[0].dtype not in allowed:
        raise TypeError(f"{name}: expected {' or '.join(allowed)} operands, received dtype {tensors[0].dtype}.")


def check_where(name: str, condition: Tensor, a: Tensor, b: Tensor) -> None:
    if condition.dtype != "bool":
        raise TypeError(f"{name}: the condition must have dtype bool, received {condition.dtype}.")
    check_elementwise(name, a, b)
    _broadcast_shape(name, condition.shape, a.shape, b.shape)


def check_float(name: str, x: Tensor) -> None:
    if x.dtype not in ALL_FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a float tensor, received dtype {x.dtype}.")


def check_float_elementwise(name: str, *tensors: Tensor) -> None:
    check_elementwise(name, *tensors)
    check_float(name, tensors[0])


def check_log_softmax(name: str, x: Tensor, axis: tuple[int, ...]) -> None:
    check_float(name, x)
    check_reduce(name, x, axis, True)
    if math.prod(x.shape[a] for a in axis) == 0:
        raise ValueError(f"{name}: cannot normalise over the empty axes {axis} of shape {x.shape}.")


def check_matmul(name: str, a: Tensor, b: Tensor) -> None:
    _same_dtype(name, a, b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"{name}: operands need at least 2 dimensions, received shapes {a.shape} and {b.shape}.")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"{name}: the last axis of the first operand ({a.shape[-1]}) must match the second-to-last "
            f"axis of the second ({b.shape[-2]}); received shapes {a.shape} and {b.shape}."
        )
    _broadcast_shape(name, a.shape[:-2], b.shape[:-2])


def check_square(name: str, a: Tensor) -> None:
    """A float32 or float64 batch of square matrices (linear algebra runs in single or double precision)."""
    check_matrices(name, a)
    if a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name}: expected square matrices (..., n, n), received shape {a.shape}.")


def check_spectrum(name: str, x: Tensor) -> None:
    """A float32 or float64 ``(2, ..., n)`` stack of real and imaginary parts."""
    if x.dtype not in ("float32", "float64"):
        raise TypeError(f"{name}: expected a float32 or float64 tensor, received dtype {x.dtype}.")
    if x.ndim < 2 or x.shape[0] != 2:
        raise ValueError(f"{name}: expected real and imaginary parts stacked, (2, ..., n), received shape {x.shape}.")


def check_matrices(name: str, a: Tensor) -> None:
    """A float32 or float64 batch of matrices."""
    if a.dtype not in ("float32", "float64"):
        raise TypeError(f"{name}: expected a float32 or float64 tensor, received dtype {a.dtype}.")
    if a.ndim < 2:
        raise ValueError(f"{name}: expected matrices (..., m, n), received shape {a.shape}.")


def check_solve(name: str, a: Tensor, b: Tensor, **attrs: Any) -> None:
    """Square matrices ``a`` and right-hand sides ``b`` of shape ``(..., n, k)`` with the same batch axes."""
    check_square(name, a)
    _same_dtype(name, a, b)
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ValueError(
            f"{name}: right-hand sides must have shape {(*a.shape[:-2], a.shape[-1], 'k')} for matrices of shape "
            f"{a.shape}, received {b.shape}."
        )


def check_reduce(name: str, x: Tensor, axis: tuple[int, ...] | None, keepdims: bool) -> None:
    for a in axis or ():
        if not 0 <= a < x.ndim:
            raise ValueError(f"{name}: axis {a} is out of range for a tensor of shape {x.shape}.")
    if name == "max" and x.shape and math.prod(x.shape[a] for a in (axis if axis is not None else range(x.ndim))) == 0:
        raise ValueError(f"{name}: cannot take the max over an empty axis of shape {x.shape}.")


def check_reshape(name: str, x: Tensor, shape: tuple[int, ...]) -> None:
    if math.prod(shape) != math.prod(x.shape) or any(n < 0 for n in shape):
        raise ValueError(f"{name}: cannot reshape a tensor of shape {x.shape} into shape {shape}.")


def check_transpose(name: str, x: Tensor, axes: tuple[int, ...]) -> None:
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"{name}: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}.")


def check_broadcast_to(name: str, x: Tensor, shape: tuple[int, ...]) -> None:
    try:
        fits = x.ndim <= len(shape) and np.broadcast_shapes(x.shape, shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: cannot broadcast shape {x.shape} to shape {shape}.")


def index_shape(shape: tuple[int, ...], index: Any) -> tuple[int, ...]:
    """The shape ``x[index]`` has; raises NumPy's IndexError for a bad index."""
    return np.broadcast_to(np.empty((), np.int8), shape)[index].shape


def check_getitem(name: str, x: Tensor, index: Any) -> None:
    try:
        index_shape(x.shape, index)
    except IndexError as error:
        raise IndexError(f"{name}: index {index!r} is invalid for shape {x.shape}: {error}") from None


def check_unindex(name: str, g: Tensor, shape: tuple[int, ...], index: Any) -> None:
    if index_shape(shape, index) != g.shape:
        raise ValueError(f"{name}: a tensor of shape {g.shape} does not fit index {index!r} of shape {shape}.")


def check_cast(name: str, x: Tensor, dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"{name}: dtype must be one of {DTYPES}, received {dtype!r}.")


def check_random(name: str, seed: Tensor, shape: tuple[int, ...], dtype: str) -> None:
    if seed.shape != () or seed.dtype not in ("int32", "int64"):
        raise TypeError(f"{name}: the seed must be an integer scalar, received {seed.dtype} of shape {seed.shape}.")
    if dtype not in ALL_FLOAT_DTYPES:
        raise ValueError(f"{name}: dtype must be one of {ALL_FLOAT_DTYPES}, received {dtype!r}.")


# ------------------------------------------------------------------ padding and pooling
def check_pad(name: str, x: Tensor, pad_width: tuple[tuple[int, int], ...], value: float) -> None:
    valid = len(pad_width) == x.ndim and all(
        len(pair) == 2 and all(isinstance(w, int) and w >= 0 for w in pair) for pair in pad_width
    )
    if not valid:
        raise ValueError(
            f"{name}: `pad_width` must hold one (before, after) pair of non-negative integers per axis of shape "
            f"{x.shape}, received {pad_width!r}."
        )


def check_pool(name: str, x: Tensor, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> None:
    check_float(name, x)
    if x.ndim not in (3, 4, 5):
        raise ValueError(
            f"{name}: expected a (batch, *spatial, channels) input with 1 to 3 spatial axes, received shape {x.shape}."
        )
    for argument, sizes in (("window", window), ("strides", strides)):
        if len(sizes) != x.ndim - 2 or not all(isinstance(n, int) and n > 0 for n in sizes):
            raise ValueError(
                f"{name}: `{argument}` must be {x.ndim - 2} positive integers (one per spatial axis of shape "
                f"{x.shape}), received {sizes!r}."
            )
    if padding not in ("valid", "same"):
        raise ValueError(f"{name}: `padding` must be 'valid' or 'same', received {padding!r}.")
    if min(pool_output_shape(x.shape[1:-1], window, strides, padding)) <= 0:
        raise ValueError(
            f"{name}: the window {window} does not fit in the spatial shape {x.shape[1:-1]} with 'valid' padding."
        )


def _pooled_shape(
    name: str, shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> tuple[int, ...]:
    """The shape pooling gives a channels-last input of ``shape`` (a pooling adjoint's ``g`` and ``out``)."""
    sizes = (*window, *strides)
    if not (len(window) == len(strides) == len(shape) - 2 and all(isinstance(n, int) and n > 0 for n in sizes)):
        raise ValueError(
            f"{name}: `window` and `strides` must be {len(shape) - 2} positive integers each (one per spatial axis "
            f"of shape {shape}), received {window!r} and {strides!r}."
        )
    if padding not in ("valid", "same"):
        raise ValueError(f"{name}: `padding` must be 'valid' or 'same', received {padding!r}.")
    return (shape[0], *pool_output_shape(shape[1:-1], window, strides, padding), shape[-1])


def check_max_pool_vjp(
    name: str, g: Tensor, x: Tensor, out: Tensor, window: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> None:
    check_pool(name, x, window, strides, padding)
    pooled = _pooled_shape(name, x.shape, window, strides, padding)
    for argument, tensor in (("g", g), ("out", out)):
        _check_shaped_like(name, argument, tensor, "the pooled shape", pooled, x.dtype)


def check_max_pool_select(
    name: str, h: Tensor, x: Tensor, out: Tensor, window: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> None:
    check_pool(name, x, window, strides, padding)
    _check_shaped_like(name, "h", h, "the input's shape", x.shape, x.dtype)
    _check_shaped_like(
        name, "out", out, "the pooled shape", _pooled_shape(name, x.shape, window, strides, padding), x.dtype
    )


def _check_shaped_like(name: str, argument: str, tensor: Tensor, what: str, shape: tuple[int, ...], dtype: Any) -> None:
    """``tensor`` must have ``shape`` (``what`` names it) and ``dtype``."""
    if tensor.shape != shape or tensor.dtype != dtype:
        raise ValueError(
            f"{name}: `{argument}` must be {dtype} of {what} {shape}, received {tensor.dtype} of shape {tensor.shape}."
        )


def check_average_pool_vjp(
    name: str, g: Tensor, shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> None:
    check_float(name, g)
    if len(shape) not in (3, 4, 5):
        raise ValueError(
            f"{name}: `shape` must be a (batch, *spatial, channels) shape with 1 to 3 spatial axes, received {shape!r}."
        )
    pooled = _pooled_shape(name, shape, window, strides, padding)
    if g.shape != pooled:
        raise ValueError(f"{name}: `g` must have the pooled shape {pooled}, received shape {g.shape}.")


# ------------------------------------------------------------------ convolution
def dilated_size(size: int, dilation: int) -> int:
    """The length of ``size`` elements with ``dilation - 1`` zeros between neighbours."""
    return 0 if size == 0 else (size - 1) * dilation + 1


def conv_output_spatial(
    spatial: tuple[int, ...],
    window: tuple[int, ...],
    strides: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
) -> tuple[int, ...]:
    """The spatial output shape of ``conv_general``: (dilated, padded input - dilated kernel) // stride + 1."""
    return tuple(
        (dilated_size(n, dl) + lo + hi - dilated_size(k, dr)) // s + 1
        for n, k, s, (lo, hi), dl, dr in zip(spatial, window, strides, padding, lhs_dilation, rhs_dilation)
    )


def check_conv_general(
    name: str,
    x: Tensor,
    kernel: Tensor,
    strides: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int,
) -> None:
    _same_dtype(name, x, kernel)
    check_float(name, x)
    rank = x.ndim - 2
    if rank not in (1, 2, 3) or kernel.ndim != x.ndim:
        raise ValueError(
            f"{name}: expected an input (batch, *spatial, channels) with 1 to 3 spatial axes and a kernel "
            f"(*window, channels / groups, filters) of the same rank, received shapes {x.shape} and {kernel.shape}."
        )
    for attribute, values in (("strides", strides), ("lhs_dilation", lhs_dilation), ("rhs_dilation", rhs_dilation)):
        if len(values) != rank or any(v < 1 for v in values):
            raise ValueError(f"{name}: `{attribute}` must be {rank} integers >= 1, received {values}.")
    if len(padding) != rank or any(len(pair) != 2 for pair in padding):
        raise ValueError(f"{name}: `padding` must be {rank} (low, high) pairs, received {padding}.")
    groups, channels, filters = feature_group_count, x.shape[-1], kernel.shape[-1]
    if groups < 1 or channels % groups or filters % groups:
        raise ValueError(
            f"{name}: `feature_group_count` must be >= 1 and divide the input channels ({channels}) and the "
            f"filters ({filters}), received {groups}."
        )
    if kernel.shape[-2] * groups != channels:
        raise ValueError(
            f"{name}: the kernel's input channels ({kernel.shape[-2]}) times `feature_group_count` ({groups}) must "
            f"equal the input's channels ({channels}); received shapes {x.shape} and {kernel.shape}."
        )
    out = conv_output_spatial(x.shape[1:-1], kernel.shape[:-2], strides, padding, lhs_dilation, rhs_dilation)
    if any(n < 1 for n in out):
        raise ValueError(
            f"{name}: the dilated kernel {kernel.shape[:-2]} (dilation {rhs_dilation}) is larger than the "
            f"padded input {x.shape[1:-1]} (padding {padding}, input dilation {lhs_dilation})."
        )


# ------------------------------------------- gather/scatter (Embedding) and recurrence (highnn.scan)
MAX_SCAN_OPERANDS = 32  # the scan primitive has one VJP rule per operand position


def _check_indices(name: str, indices: Tensor, size: int) -> None:
    if indices.dtype not in ("int32", "int64"):
        raise TypeError(f"{name}: indices must have an integer dtype (int32 or int64), received {indices.dtype}.")
    error = index_error(name, indices.numpy(), size)
    if error is not None:
        raise error


def _check_axis(name: str, axis: int, shape: tuple[int, ...]) -> None:
    if not 0 <= axis < len(shape):
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor of shape {shape}.")


def check_take(name: str, x: Tensor, indices: Tensor, axis: int) -> None:
    _check_axis(name, axis, x.shape)
    _check_indices(name, indices, x.shape[axis])


def check_scatter_add(name: str, updates: Tensor, indices: Tensor, shape: tuple[int, ...], axis: int) -> None:
    _check_axis(name, axis, tuple(shape))
    expected = tuple(shape[:axis]) + indices.shape + tuple(shape[axis + 1 :])
    if updates.shape != expected:
        raise ValueError(
            f"{name}: updates of shape {updates.shape} do not fit indices of shape {indices.shape} "
            f"along axis {axis} of shape {tuple(shape)} (expected {expected})."
        )
    _check_indices(name, indices, shape[axis])


def check_scan(name: str, init: Tensor, *operands: Tensor, body: Any, n_xs: int) -> None:
    if not 1 <= n_xs <= len(operands) or 1 + len(operands) > MAX_SCAN_OPERANDS:
        raise ValueError(
            f"{name}: expected 1 to {MAX_SCAN_OPERANDS - 1} operands after init, at least one of them scanned; "
            f"received {len(operands)} operands with n_xs={n_xs}."
        )
    lengths = {x.shape[0] if x.ndim else 0 for x in operands[:n_xs]}
    if len(lengths) != 1 or 0 in lengths:
        shapes = [x.shape for x in operands[:n_xs]]
        raise ValueError(f"{name}: the scanned operands need one non-empty first (time) axis, received {shapes}.")
    for t in (init, *operands):
        check_float(name, t)
    _same_dtype(name, init, *operands)


def check_scan_vjp(name: str, g: Tensor, out: Tensor, init: Tensor, *operands: Tensor, body: Any, n_xs: int) -> None:
    check_scan(name, init, *operands, body=body, n_xs=n_xs)
    if g.shape != out.shape or out.shape != (operands[0].shape[0],) + init.shape:
        raise ValueError(
            f"{name}: the adjoint {g.shape} and the output {out.shape} must both have shape (time,) + {init.shape}."
        )


def check_pick_along_axis(name: str, x: Tensor, indices: Tensor, axis: int) -> None:
    """``indices`` of ``x``'s shape without ``axis``, each in ``[0, x.shape[axis])``."""
    _check_axis(name, axis, x.shape)
    _check_picks(name, indices, x.shape[:axis] + x.shape[axis + 1 :], x.shape[axis], "x", x.shape)


def check_place_along_axis(name: str, updates: Tensor, indices: Tensor, size: int, axis: int) -> None:
    """``indices`` of ``updates``' shape, each in ``[0, size)``; ``axis`` at most ``updates.ndim``."""
    _check_axis(name, axis, updates.shape + (size,))
    _check_picks(name, indices, updates.shape, size, "updates", updates.shape)


def _check_picks(name: str, indices: Tensor, shape: tuple[int, ...], size: int, of: str, of_shape: Any) -> None:
    if indices.dtype not in ("int32", "int64"):
        raise TypeError(f"{name}: indices must have an integer dtype (int32 or int64), received {indices.dtype}.")
    if indices.shape != shape:
        raise ValueError(f"{name}: indices must have shape {shape} (from `{of}` of shape {of_shape}), "
                         f"received shape {indices.shape}.")  # fmt: skip
    if not indices.backend.readable_on_host(indices.value):
        return  # a batch sharded over several processes: fit() checked every label before training
    values = indices.numpy()
    if values.size and (values.min() < 0 or values.max() >= size):
        bad = values.min() if values.min() < 0 else values.max()
        raise IndexError(f"{name}: index {bad} is out of range [0, {size}).")


# ------------------------------------------------------------------ keras.ops support: scans and sorting
def check_along_axis(name: str, x: Tensor, axis: int) -> None:
    """``axis``, one non-negative axis of ``x`` (the functions normalise negative ones before the primitive)."""
    if not isinstance(axis, int) or not 0 <= axis < x.ndim:
        raise ValueError(f"{name}: `axis` must be an axis of a tensor of shape {x.shape}, received {axis!r}.")
    if x.dtype == "bool":
        raise TypeError(f"{name}: expected a numeric tensor, received dtype bool.")


# -- merging: concatenate
def check_concatenate(name: str, a: Tensor, b: Tensor, axis: int) -> None:
    """One dtype, one rank, ``axis`` a non-negative axis, and equal lengths on every other axis."""
    _same_dtype(name, a, b)
    if a.ndim != b.ndim or not 0 <= axis < a.ndim:
        raise ValueError(f"{name}: operands of one rank >= 1 and an axis in it are needed, received shapes "
                         f"{a.shape} and {b.shape} with axis {axis}.")  # fmt: skip
    if a.shape[:axis] + a.shape[axis + 1 :] != b.shape[:axis] + b.shape[axis + 1 :]:
        raise ValueError(f"{name}: shapes {a.shape} and {b.shape} must match except on axis {axis}.")
