"""The NumPy backend: the default, CPU only, nothing else to install."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from highnn.backends.base import (
    Array,
    Axis,
    Backend,
    DeviceUnavailableError,
    Index,
    Layout,
    SingleDevice,
    index_error,
    numpy_dtype,
    parse_device,
    pick_first_maxima,
    pool_counts,
    pool_output_shape,
    pool_padded_shape,
    pool_padding,
    scan_loop,
    scan_vjp_loop,
    transposed_crops,
    window_reads,
)

try:  # SciPy's erf is vectorised; the fallback is exact but loops in Python
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover - exercised only without SciPy
    _erf = np.vectorize(math.erf, otypes=[np.float64])


_SAME_WIDTH_INTEGER = {2: np.int16, 4: np.int32, 8: np.int64}
#: the type codes of float16 and ml_dtypes' bfloat16 (LOW_PRECISION_DTYPES), which add up many terms through
#: float32; tested by code because ``dtype.char`` is a C attribute and ``dtype.name`` a slow Python property
LOW_PRECISION_CODES = "eE"
_BIT_SELECT_MIN_SIZE = 4096  # below this np.where's lower call overhead wins
#: the most bytes of im2col rows (or of a transposed convolution's products) a convolution holds at once: larger
#: ones are made in blocks, so its workspace stays this size whatever the batch, and each block is still in the
#: cache when the GEMM reads it
CONV_BLOCK_BYTES = 1 << 19


def _dilate(x: np.ndarray, dilation: tuple[int, ...]) -> np.ndarray:
    """``x`` with ``dilation - 1`` zeros between neighbours on its spatial axes (all but the first and the last)."""
    if all(d == 1 for d in dilation):
        return x
    spaced = np.zeros((x.shape[0], *((n - 1) * d + 1 for n, d in zip(x.shape[1:-1], dilation)), x.shape[-1]), x.dtype)
    spaced[(slice(None),) + tuple(slice(None, None, d) for d in dilation)] = x
    return spaced


def _pad(x: np.ndarray, padding: tuple[tuple[int, int], ...]) -> np.ndarray:
    """``x`` with ``padding`` zeros (negative: cropped, a view) on its spatial axes (all but the first and the last)."""
    if any(lo > 0 or hi > 0 for lo, hi in padding):
        x = np.pad(x, [(0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in padding] + [(0, 0)])
        padding = tuple((min(lo, 0), min(hi, 0)) for lo, hi in padding)
    return x[(slice(None),) + tuple(slice(-lo, n + hi) for n, (lo, hi) in zip(x.shape[1:], padding))]


class NumpyBackend(SingleDevice):
    """Arrays are ``np.ndarray``; programs run as flat Python plans."""

    name = "numpy"
    project_inputs_in_scan = False  # one product for every step, before the loop
    device_name = "cpu"

    def __init__(self, device: str | None = None) -> None:
        kind, _ = parse_device(device, self.name)
        if kind != "cpu":
            raise DeviceUnavailableError(
                f"The numpy backend runs on the CPU only, not {device!r}: "
                "use HIGHNN_BACKEND=torch or jax for accelerators."
            )

    def asarray(self, value: Any, dtype: str) -> np.ndarray:
        return np.asarray(value, dtype=numpy_dtype(dtype))

    def batch(self, array: np.ndarray, dtype: str) -> np.ndarray:
        return self.asarray(array, dtype)

    @staticmethod
    def to_numpy(x: Array) -> np.ndarray:
        return np.asarray(x)

    def dtype(self, x: Array) -> str:
        return x.dtype.name

    @staticmethod
    def is_array(value: Any) -> bool:
        return isinstance(value, (np.ndarray, np.generic))

    def enable_float64(self, on: bool) -> None:
        pass

    add, sub, mul, div = (
        staticmethod(np.add),
        staticmethod(np.subtract),
        staticmethod(np.multiply),
        staticmethod(np.divide),
    )
    pow, maximum, minimum = staticmethod(np.power), staticmethod(np.maximum), staticmethod(np.minimum)
    equal, not_equal = staticmethod(np.equal), staticmethod(np.not_equal)
    greater, greater_equal = staticmethod(np.greater), staticmethod(np.greater_equal)
    less, less_equal = staticmethod(np.less), staticmethod(np.less_equal)
    neg, exp, log = staticmethod(np.negative), staticmethod(np.exp), staticmethod(np.log)
    log1p, tanh, sqrt = staticmethod(np.log1p), staticmethod(np.tanh), staticmethod(np.sqrt)
    abs, sign, floor = staticmethod(np.abs), staticmethod(np.sign), staticmethod(np.floor)
    sin, cos = staticmethod(np.sin), staticmethod(np.cos)
    tan, arcsin, arccos, arctan = (
        staticmethod(np.tan),
        staticmethod(np.arcsin),
        staticmethod(np.arccos),
        staticmethod(np.arctan),
    )
    sinh, cosh, expm1 = staticmethod(np.sinh), staticmethod(np.cosh), staticmethod(np.expm1)
    arcsinh, arccosh, arctanh = staticmethod(np.arcsinh), staticmethod(np.arccosh), staticmethod(np.arctanh)
    arctan2 = staticmethod(np.arctan2)
    bitwise_and, bitwise_or, bitwise_xor = (
        staticmethod(np.bitwise_and),
        staticmethod(np.bitwise_or),
        staticmethod(np.bitwise_xor),
    )
    bitwise_not, left_shift, right_shift = (
        staticmethod(np.invert),
        staticmethod(np.left_shift),
        staticmethod(np.right_shift),
    )
    inv, solve, det = staticmethod(np.linalg.inv), staticmethod(np.linalg.solve), staticmethod(np.linalg.det)

    @staticmethod
    def solve_triangular(a: Array, b: Array, lower: bool) -> Array:
        return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)  # the other triangle is never read

    @staticmethod
    def cholesky(a: Array) -> Array:
        return np.linalg.cholesky((a + np.swapaxes(a, -1, -2)) / 2)  # of the symmetric part, as JAX

    broadcast_to = staticmethod(np.broadcast_to)

    @staticmethod
    def where(condition: Array, a: Array, b: Array) -> Array:
        """``np.where``; on large float arrays a branch-free bit select, about 3x faster and bit-identical."""
        a, b = np.asarray(a), np.asarray(b)
        shape = np.broadcast_shapes(np.shape(condition), a.shape, b.shape)
        if a.dtype != b.dtype or a.dtype.kind != "f" or math.prod(shape) < _BIT_SELECT_MIN_SIZE:
            return np.where(condition, a, b)
        integer = _SAME_WIDTH_INTEGER[a.dtype.itemsize]
        mask = -np.broadcast_to(condition, shape).astype(integer)  # all bits set where the condition holds
        chosen = (np.broadcast_to(a, shape).view(integer) & mask) | (np.broadcast_to(b, shape).view(integer) & ~mask)
        return chosen.view(a.dtype)

    @staticmethod
    def matmul(a: Array, b: Array) -> Array:
        """``np.matmul``; float16 and bfloat16 accumulate in float32 (BLAS), rounded once, as torch and JAX do."""
        if a.dtype.char in LOW_PRECISION_CODES:
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)
        return np.matmul(a, b)

    @staticmethod
    def log_softmax(x: Array, axis: tuple[int, ...]) -> Array:
        shifted = x - np.maximum.reduce(x, axis=axis, keepdims=True)
        return shifted - np.log(_sum(np.exp(shifted), axis=axis, keepdims=True))

    @staticmethod
    def erf(x: Array) -> Array:
        return np.asarray(_erf(x), dtype=x.dtype)

    # ufunc methods skip the dispatch layers of np.sum/np.transpose: these run on every replayed step
    # (NumPy's stubs accept `keepdims` only as a literal, hence the ignores)
    @staticmethod
    def sum(x: Array, axis: Axis, keepdims: bool) -> Array:
        return _sum(x, axis, keepdims)

    @staticmethod
    def max(x: Array, axis: Axis, keepdims: bool) -> Array:
        return np.maximum.reduce(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload]

    @staticmethod
    def transpose(x: Array, axes: tuple[int, ...]) -> Array:
        return np.asarray(x).transpose(axes)

    @staticmethod
    def reshape(x: Array, shape: tuple[int, ...]) -> Array:
        return np.asarray(x).reshape(shape)

    @staticmethod
    def getitem(x: Array, index: Index) -> Array:
        return x[index]

    @staticmethod
    def unindex(g: Array, shape: tuple[int, ...], index: Index) -> Array:
        out = np.zeros(shape, dtype=g.dtype)
        out[index] = g
        return out

    @staticmethod
    def cast(x: Array, dtype: str) -> Array:
        return np.asarray(x).astype(numpy_dtype(dtype), copy=False)

    @staticmethod
    def random_uniform(seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        values = _drawn(np.random.default_rng(int(seed)).random, shape, dtype)
        return np.minimum(values, np.nextafter(values.dtype.type(1), values.dtype.type(0)))  # rounding may reach 1

    @staticmethod
    def random_normal(seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        return _drawn(np.random.default_rng(int(seed)).standard_normal, shape, dtype)

    # padding and pooling: a strided view of the windows, reduced over its window axes (no loop over pixels)
    @staticmethod
    def pad(x: Array, pad_width: tuple[tuple[int, int], ...], value: float) -> Array:
        return np.pad(x, pad_width, constant_values=value)

    @staticmethod
    def max_pool(x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        """The running maximum of one strided slice per window offset (long runs, unlike a reduction over a view
        whose window axes are innermost)."""
        pads = pool_padding(x.shape[1:-1], window, strides, padding)
        if any(before or after for before, after in pads):
            x = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-np.inf)
        sizes = pool_output_shape(x.shape[1:-1], window, strides, "valid")
        first, *rest = [
            x[(slice(None),) + tuple(_run(o, s, n) for o, s, n in zip(offset, strides, sizes))]
            for offset in np.ndindex(*window)
        ]
        out = np.maximum(first, rest[0]) if rest else first.copy()
        for piece in rest[1:]:
            np.maximum(out, piece, out=out)
        return out

    @staticmethod
    def average_pool(x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        total = _sum(_windows(x, window, strides, padding, 0.0), axis=_last(len(window)), keepdims=False)
        return total / pool_counts(x.shape[1:-1], window, strides, padding).astype(x.dtype)

    # the pooling adjoints: one zero buffer, one strided in-place add per window offset (no input-sized temporaries)
    @staticmethod
    def max_pool_vjp(
        g: Array, x: Array, out: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        """``rest``, the adjoint no earlier offset has taken, goes where an offset holds its window's maximum."""
        shape, crop = pool_padded_shape(x.shape, window, strides, padding)
        grad, padded = np.zeros(shape, g.dtype), _placed(x, shape, crop, -np.inf)  # padding never holds a maximum
        rest, taken = g.copy(), np.empty_like(g)
        for index in window_reads(window, strides, g.shape[1:-1]):
            np.multiply(rest, padded[index] == out, out=taken)  # multiplied, not masked: NumPy's masked loops are slow
            grad[index] += taken
            rest -= taken
        return grad[crop]

    @staticmethod
    def max_pool_select(
        h: Array, x: Array, out: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        shape, crop = pool_padded_shape(x.shape, window, strides, padding)
        return pick_first_maxima(
            np, _placed(x, shape, crop, -np.inf), _placed(h, shape, crop, 0.0), out, window, strides
        )

    @staticmethod
    def average_pool_vjp(
        g: Array, shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        padded, crop = pool_padded_shape(shape, window, strides, padding)
        grad = np.zeros(padded, g.dtype)
        share = g / pool_counts(shape[1:-1], window, strides, padding).astype(g.dtype)
        for index in window_reads(window, strides, g.shape[1:-1]):
            grad[index] += share
        return grad[crop]

    @staticmethod
    def conv_general(
        x: Array,
        kernel: Array,
        strides: tuple[int, ...],
        padding: tuple[tuple[int, int], ...],
        lhs_dilation: tuple[int, ...],
        rhs_dilation: tuple[int, ...],
        feature_group_count: int,
    ) -> Array:
        """im2col and one (grouped) GEMM; an input dilated by zeros (an input's gradient, a transposed convolution)
        as GEMM and col2im, so the zeros are never made, unless the output has fewer positions than the input."""
        spatial = x.shape[1:-1]
        # the transposed convolution multiplies every input position by every tap, im2col every output position
        dilated = [(n - 1) * d + 1 + lo + hi for n, d, (lo, hi) in zip(spatial, lhs_dilation, padding)]
        outputs = [(n - (k - 1) * d - 1) // s + 1 for n, k, d, s in zip(dilated, kernel.shape, rhs_dilation, strides)]
        if any(d > 1 for d in lhs_dilation) and math.prod(spatial) <= math.prod(outputs):
            out = _transposed_conv(x, kernel, padding, lhs_dilation, rhs_dilation, feature_group_count)
            if all(s == 1 for s in strides):
                return out
            return np.ascontiguousarray(out[(slice(None),) + tuple(slice(None, None, s) for s in strides)])
        padded = _pad(_dilate(x, lhs_dilation), padding)
        return _im2col_conv(padded, kernel, strides, rhs_dilation, feature_group_count)

    # gather/scatter and recurrence
    @staticmethod
    def take(x: Array, indices: Array, axis: int) -> Array:
        error = index_error("take", indices, x.shape[axis])
        if error is not None:
            raise error
        return np.take(x, indices, axis=axis)

    @staticmethod
    def scatter_add(updates: Array, indices: Array, shape: tuple[int, ...], axis: int) -> Array:
        error = index_error("scatter_add", indices, shape[axis])
        if error is not None:
            raise error
        out = np.zeros(shape, dtype=updates.dtype)
        flat = updates.reshape(shape[:axis] + (indices.size,) + shape[axis + 1 :])
        np.add.at(out, (slice(None),) * axis + (indices.reshape(-1),), flat)
        return out

    @staticmethod
    def scan(init: Array, *operands: Array, body: Any, n_xs: int) -> Array:
        return scan_loop(body, init, operands, n_xs, np.empty((operands[0].shape[0], *init.shape), init.dtype))

    @staticmethod
    def scan_vjp(g: Array, out: Array, init: Array, *operands: Array, body: Any, n_xs: int) -> Array:
        joined = np.empty(sum(x.size for x in (init, *operands)), init.dtype)
        return scan_vjp_loop(body, g, out, init, operands, n_xs, joined)

    @staticmethod
    def pick_along_axis(x: Array, indices: Array, axis: int) -> Array:
        return x[_along_axis(indices, axis)]

    @staticmethod
    def place_along_axis(updates: Array, indices: Array, size: int, axis: int) -> Array:
        out = np.zeros(updates.shape[:axis] + (size,) + updates.shape[axis:], updates.dtype)
        out[_along_axis(indices, axis)] = updates
        return out

    # keras.ops support: scans, sorting and rounding
    @staticmethod
    def cumsum(x: Array, axis: int) -> Array:
        return np.cumsum(x, axis=axis, dtype=x.dtype)

    @staticmethod
    def cumprod(x: Array, axis: int) -> Array:
        return np.cumprod(x, axis=axis, dtype=x.dtype)

    @staticmethod
    def argsort(x: Array, axis: int) -> Array:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int32)

    @staticmethod
    def round(x: Array) -> Array:
        return np.round(x)

    # merging
    @staticmethod
    def concatenate(a: Array, b: Array, axis: int) -> Array:
        return np.concatenate((a, b), axis=axis)

    # fused plan functions (highnn.tracing.fuse rewrites chains of primitives into them)
    @staticmethod
    def linear(x: Array, w: Array, b: Array) -> Array:
        out = np.matmul(x, w)
        out += b  # in place: the product is this function's own
        return out

    @staticmethod
    def relu(x: Array) -> Array:
        return np.maximum(x, 0)

    @staticmethod
    def relu_grad(g: Array, out: Array) -> Array:
        return np.multiply(g, out > 0)

    # in-place twins, for operands the plan proves dead (see highnn.tracing): no new buffer to allocate (a 0-d
    # result is a NumPy scalar, which has none to write into)
    @staticmethod
    def relu_in_place(x: Array) -> Array:
        return np.maximum(x, 0, out=x) if np.ndim(x) else np.maximum(x, 0)

    @staticmethod
    def relu_grad_in_place(g: Array, out: Array) -> Array:
        return np.multiply(g, out > 0, out=g) if np.ndim(g) else np.multiply(g, out > 0)

    @staticmethod
    def sub_scaled(w: Array, g: Array, scale: Array) -> Array:
        out = np.multiply(g, scale)
        if np.ndim(out) == 0 or np.shape(out) != np.shape(w):  # a scalar (no buffer to reuse), or w broadcasts
            return np.subtract(w, out)
        return np.subtract(w, out, out=out)  # in place: the product is this function's own

    @staticmethod
    def conv_bias(x: Array, kernel: Array, bias: Array, **conv: Any) -> Array:
        out = NumpyBackend.conv_general(x, kernel, **conv)
        fold = _folded(out.shape, out.ndim - 1)
        rows = out.reshape(-1, fold * bias.shape[-1])  # a view: in place, the convolution's output is our own
        rows += np.tile(bias, fold)
        return out

    def compile(
        self,
        fn: Callable[..., Any],
        donate_argnums: Sequence[int] = (),
        jit: bool | None = None,
        in_layouts: Sequence[Layout] | None = None,
        out_layouts: Sequence[Layout] | None = None,
    ) -> Callable[..., Any]:
        return fn  # the generated plan is already the fastest NumPy form

    # distribution: the all_reduce primitive of one process (on JAX the whole step sees the global batch)
    @staticmethod
    def all_reduce(x: Array) -> Array:
        return x


#: the fewest elements a sum over leading axes takes to BLAS (see :func:`_sum`)
BLAS_SUM_SIZE = 1 << 17
#: the longest row :func:`_folded` makes: longer ones gain nothing more
FOLDED_ROW_SIZE = 1 << 12


def _sum(x: Array, axis: Axis, keepdims: bool) -> Array:
    """``np.add.reduce``; float16 and bfloat16 accumulate in float32, rounded once, as torch and JAX do.

    A sum over the leading axes of a large contiguous float32 or float64 array (a convolution bias's gradient) is
    a product of its rows with a vector of ones, each row a few positions long (:func:`_folded`), whose sums are
    then added: BLAS reads the rows in order on every core, where ``np.add.reduce`` adds a short row at a time
    (25x faster for a (128, 24, 24, 6) gradient, and closer to the exact sum). Below :data:`BLAS_SUM_SIZE` elements
    the checks would cost more than they save.
    """
    if x.dtype.char in LOW_PRECISION_CODES:  # NumPy's stubs accept `keepdims` only as a literal, hence the ignores
        return np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=np.float32).astype(x.dtype)  # type: ignore[call-overload]
    # an empty array has no rows to reshape: np.add.reduce gives its zeros
    if x.size >= max(BLAS_SUM_SIZE, 1) and x.dtype.char in "fd" and x.flags.c_contiguous:
        leading = _leading_count(axis, x.ndim)
        if 0 < leading < x.ndim:
            fold = _folded(x.shape, leading)
            rows = x.reshape(-1, fold * math.prod(x.shape[leading:]))
            total = np.add.reduce((np.ones(rows.shape[0], x.dtype) @ rows).reshape(fold, -1))
            return total.reshape((1,) * leading * keepdims + x.shape[leading:])
    return np.add.reduce(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload]


def _folded(shape: tuple[int, ...], leading: int) -> int:
    """How many positions of the innermost of the first ``leading`` axes (never the first) to fold into a row with
    the other axes, so that a row is :data:`FOLDED_ROW_SIZE` elements long at most: NumPy and BLAS go a row at a
    time, and a short row (a convolution's channels) costs as much as a long one."""
    width, fold = math.prod(shape[leading:]), 1
    for n in reversed(shape[1:leading]):
        if fold * n * width > FOLDED_ROW_SIZE or n == 0:  # a row of nothing would not reshape
            break
        fold *= n
    return fold


def _placed(x: Array, shape: tuple[int, ...], index: tuple[slice, ...], fill: float) -> Array:
    """``x`` at ``index`` of an array of ``shape`` filled with ``fill`` (``x`` itself where it is that shape)."""
    if x.shape == shape:
        return x
    placed = np.full(shape, fill, x.dtype)
    placed[index] = x
    return placed


def _leading_count(axis: Axis, ndim: int) -> int:
    """``k`` when ``axis`` names exactly the first ``k`` axes of an ``ndim``-d array, else 0."""
    if axis is None:
        return ndim
    axes = sorted(a % ndim for a in ((axis,) if isinstance(axis, int) else axis)) if ndim else []
    return len(axes) if axes == list(range(len(axes))) else 0


def _drawn(sampler: Callable[..., np.ndarray], shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Numbers from a NumPy sampler in ``dtype``: samplers draw float32 or float64 only, lower types round float32."""
    if dtype in ("float32", "float64"):
        return sampler(shape, dtype=np.dtype(dtype))
    return sampler(shape, dtype=np.float32).astype(numpy_dtype(dtype))


def _last(n: int) -> tuple[int, ...]:
    """The last ``n`` axes."""
    return tuple(range(-n, 0))


def _windows(x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str, fill: float) -> Array:
    """A read-only view ``(batch, *windows, channels, *window)`` of ``x``'s pooling windows, padded with ``fill``."""
    pads = pool_padding(x.shape[1:-1], window, strides, padding)
    if any(before or after for before, after in pads):
        x = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=tuple(range(1, x.ndim - 1)))
    every_stride = (slice(None), *(slice(None, None, s) for s in strides))
    return view[every_stride]


def _work_dtype(x: np.ndarray) -> np.dtype:
    """The dtype convolutions add up in: float32 for float16 and bfloat16 (rounded once at the end), else ``x``'s."""
    return np.dtype(np.float32) if x.dtype.char in LOW_PRECISION_CODES else x.dtype


def _im2col_conv(
    padded: np.ndarray, kernel: np.ndarray, strides: tuple[int, ...], dilation: tuple[int, ...], groups: int
) -> np.ndarray:
    """The convolution of an already padded input: every window a row (im2col), the kernel a matrix, GEMMs.

    The rows are copies of strided views of the input, made a block at a time (:func:`_blocks`) into one
    workspace, in the order whose copy reads the longer runs of neighbouring values (:func:`_run_length`):

    - tap-major (a tap's rows one contiguous block, read transposed by BLAS) where the window has fewer taps than
      the output has positions and a row of positions lies together (stride 1, one channel), a block of examples
      at a time, whose GEMM writes its part of the output;
    - for a kernel's gradient (a window the size of the image) whose batch runs along the memory or has one
      element (a channels-last input with its batch and channels swapped, as a kernel's VJP hands it over; a
      reshape may give a length-1 axis any stride), a block of channels at a time, whose GEMM adds its part of
      the sum: a row per channel and tap (the rows transposed) or a row per position and example;
    - else position-major, each position's window a row, a block of examples (and, where one example's rows
      outgrow a block, of window rows) at a time.
    """
    rank, batch = padded.ndim - 2, padded.shape[0]
    *window, per_group, filters = kernel.shape
    positions = [(n - (k - 1) * d - 1) // s + 1 for n, k, d, s in zip(padded.shape[1:-1], window, dilation, strides)]
    taps, work, outputs = math.prod(window), _work_dtype(padded), math.prod(positions)
    grouped = padded.reshape(*padded.shape[:-1], groups, per_group)
    by_tap = kernel.reshape(taps, per_group, groups, filters // groups).transpose(2, 0, 1, 3)
    out = np.empty((batch, *positions, groups, filters // groups), work)
    example, *step, group, channel = grouped.strides  # bytes between neighbours along each axis
    along_positions = tuple(map(operator.mul, strides, step))
    along_window = (*map(operator.mul, dilation, step), channel)  # and the channels
    if taps <= outputs and _run_length(tuple(positions), along_positions, padded.itemsize) >= _run_length(
        (*window, per_group), along_window, padded.itemsize
    ):
        matrix = by_tap.reshape(groups, taps * per_group, -1).astype(work, copy=False)
        source = grouped.transpose(rank + 1, rank + 2, 0, *range(1, rank + 1))  # (groups, in / groups, batch, *spatial)
        blocks = _blocks(batch, groups * taps * per_group * outputs * work.itemsize)
        workspace = _workspace(blocks, groups * taps * per_group * outputs, work)
        for examples in blocks:
            taps_view = _strided(
                source[:, :, examples],
                (groups, *window, per_group, examples.stop - examples.start, *positions),
                (group, *along_window, example, *along_positions),
            )
            rows = _copied(workspace, taps_view).reshape(groups, taps * per_group, -1).transpose(0, 2, 1)
            np.matmul(rows, matrix, out=out[examples].reshape(-1, groups, filters // groups).transpose(1, 0, 2))
    elif taps > outputs and (batch == 1 or abs(example) < abs(channel)):
        # the kernel (an output gradient swapped alike) is read channel-major, a view
        matrix = by_tap.transpose(0, 2, 1, 3).reshape(groups, per_group * taps, -1).astype(work, copy=False)
        sums = np.empty((groups, *positions, batch, filters // groups), work)
        flat_sums = sums.reshape(groups, -1, filters // groups)  # (groups, positions x batch, filters / groups)
        blocks = _blocks(per_group, groups * taps * flat_sums.shape[1] * work.itemsize)
        workspace = _workspace(blocks, groups * taps * flat_sums.shape[1], work)
        moved = (*along_positions, example)  # along the positions and the batch
        taken = (channel, *along_window[:-1])  # along the channels and the window
        # the rows transposed (a row per channel and tap) or not (a row per position and example): whichever copy
        # reads the longer runs
        transposed = _run_length((*positions, batch), moved, padded.itemsize) >= _run_length(
            (per_group, *window), taken, padded.itemsize
        )
        for first, channels in enumerate(blocks):
            block = grouped[..., channels]
            count = channels.stop - channels.start
            if transposed:
                view = _strided(block, (groups, count, *window, *positions, batch), (group, *taken, *moved))
                rows = _copied(workspace, view).reshape(groups, -1, flat_sums.shape[1]).transpose(0, 2, 1)
            else:
                view = _strided(block, (groups, *positions, batch, count, *window), (group, *moved, *taken))
                rows = _copied(workspace, view).reshape(groups, flat_sums.shape[1], -1)
            _add_product(flat_sums, rows, matrix[:, channels.start * taps : channels.stop * taps], first == 0)
        out[...] = sums.transpose(rank + 1, *range(1, rank + 1), 0, rank + 2)
    else:
        matrix = by_tap.reshape(groups, taps * per_group, -1).astype(work, copy=False)
        # (groups, batch, *spatial, in / groups), made contiguous where it is a transposed view
        source = np.ascontiguousarray(np.moveaxis(grouped, -2, 0))
        group, example, *step, channel = source.strides
        row_size = math.prod(window[1:]) * per_group  # the matrix rows of one row of the window
        example_blocks = _blocks(batch, groups * outputs * taps * per_group * work.itemsize)
        widest = _widest(example_blocks)
        window_blocks = _blocks(window[0], groups * widest * outputs * row_size * work.itemsize)
        workspace = _workspace(window_blocks, groups * widest * outputs * row_size, work)
        for examples in example_blocks:
            count = examples.stop - examples.start
            sums = out[examples].reshape(-1, groups, filters // groups).transpose(1, 0, 2)  # (groups, rows, ...)
            for first, window_rows in enumerate(window_blocks):
                height = window_rows.stop - window_rows.start
                windows_view = _strided(
                    source[:, examples, window_rows.start * dilation[0] :],
                    (groups, count, *positions, height, *window[1:], per_group),
                    (group, example, *map(operator.mul, strides, step), *map(operator.mul, dilation, step), channel),
                )
                rows = _copied(workspace, windows_view).reshape(groups, -1, height * row_size)
                part = matrix[:, window_rows.start * row_size : window_rows.stop * row_size]
                _add_product(sums, rows, part, first == 0)
    return out.reshape(batch, *positions, filters).astype(padded.dtype, copy=False)


def _add_product(out: np.ndarray, a: np.ndarray, b: np.ndarray, first: bool) -> None:
    """``a @ b`` written into ``out`` for a sum's first block, added to it for the others."""
    if first:
        np.matmul(a, b, out=out)
    else:
        out += np.matmul(a, b)


def _run_length(shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int) -> int:
    """How many elements a C-order copy of the view with ``shape`` and ``strides`` reads at a time (in one run)."""
    run = 1
    for length, stride in zip(reversed(shape), reversed(strides)):
        if length > 1 and stride != run * itemsize:
            break
        run *= length
    return run


def _widest(blocks: list[slice]) -> int:
    """How many items the largest of ``blocks`` (the first) holds; none in no blocks (an empty batch)."""
    return blocks[0].stop - blocks[0].start if blocks else 0


def _workspace(blocks: list[slice], item_size: int, dtype: np.dtype) -> np.ndarray:
    """One flat buffer that holds the largest of ``blocks`` of items of ``item_size`` elements."""
    return np.empty(_widest(blocks) * item_size, dtype)


def _view(workspace: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The start of ``workspace`` in ``shape``."""
    return workspace[: math.prod(shape)].reshape(shape)


def _copied(workspace: np.ndarray, view: np.ndarray) -> np.ndarray:
    """``view`` copied into the start of ``workspace``, in its shape (every block reuses the one buffer)."""
    rows = _view(workspace, view.shape)
    rows[...] = view
    return rows


def _transposed_conv(
    x: np.ndarray,
    kernel: np.ndarray,
    padding: tuple[tuple[int, int], ...],
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    groups: int,
) -> np.ndarray:
    """The stride-1 convolution of ``x`` dilated by zeros and padded, as the transposed convolution it is: GEMMs
    multiply every input position by every tap of the kernel, and each tap's products are added where they land
    (col2im, a loop over the taps). The sums are kept split by phase (an output position ``q * s + phase`` for
    strides ``s``) with the batch axis innermost; ``x``'s rows are padded with zeros to the phases' width, so a
    tap's products land on one contiguous run per channel, shifted by the tap's offset. The phases are interleaved
    into the output, cropped, at the end. Examples go in blocks (:func:`_blocks`, of the sums), and each tap's
    products are added while they are still in the cache."""
    rank, batch, spatial = x.ndim - 2, x.shape[0], x.shape[1:-1]
    *window, per_group, filters = kernel.shape
    crops = transposed_crops(window, rhs_dilation, padding)
    out_spatial = [
        (n - 1) * s + (k - 1) * d + 1 - lo - hi
        for n, s, k, d, (lo, hi) in zip(spatial, lhs_dilation, window, rhs_dilation, crops)
    ]
    # input i with tap t lands at (k - 1 - t) * d + i * s of the full output: phase and offset from divmod by s
    phased = [n + (k - 1) * d // s for n, s, k, d in zip(spatial, lhs_dilation, window, rhs_dilation)]
    padded, positions = (spatial[0], *phased[1:]), math.prod(phased)  # per example, per phase
    work, taps, phases = _work_dtype(x), math.prod(window), math.prod(lhs_dilation)
    # per tap: (groups, filters / groups, in / groups) @ (groups, in / groups, positions x batch)
    matrix = kernel.reshape(taps, per_group, groups, filters // groups).transpose(0, 2, 3, 1)
    matrix = np.ascontiguousarray(matrix, work)  # (taps, groups, filters / groups, in / groups)
    lands = []  # per tap: (its phase's number, the offset of its first position in the phase)
    for tap in np.ndindex(*window):
        offsets, phase = zip(
            *(divmod((k - 1 - t) * d, s) for k, t, d, s in zip(window, tap, rhs_dilation, lhs_dilation))
        )
        lands.append((int(np.ravel_multi_index(phase, lhs_dilation)), int(np.ravel_multi_index(offsets, phased))))
    # per phase, a tap that lands on its first position: its GEMM writes the phase's sums, the others' add to them
    first_taps = {number: tap for tap, (number, offset) in enumerate(lands) if offset == 0}
    interleaves = []  # per phase that reaches the output: (the phase, positions read, output positions written)
    for phase in np.ndindex(*lhs_dilation):
        spans = [
            _landing(q, s, p - lo, o) for q, s, p, (lo, _), o in zip(phased, lhs_dilation, phase, crops, out_spatial)
        ]
        if all(span is not None for span in spans):
            reads, writes = zip(*spans)
            interleaves.append((phase, reads, writes))
    # negative crops add zeros around the full output, which no phase reaches
    out = (np.zeros if min(min(crop) for crop in crops) < 0 else np.empty)((batch, *out_spatial, filters), x.dtype)
    example_blocks = _blocks(batch, filters * phases * positions * work.itemsize)
    width = _widest(example_blocks) * math.prod(padded)  # the GEMMs' widest output
    inputs_space = _workspace(example_blocks, groups * per_group * math.prod(padded), work)
    sums_space = _workspace(example_blocks, filters * phases * positions, work)
    products_space = np.empty(filters * width, work)  # one tap's products
    for examples in example_blocks:
        count = examples.stop - examples.start
        block = x[examples].reshape(count, *spatial, groups, per_group)
        inputs = _view(inputs_space, (groups, per_group, *padded, count))
        inputs[(slice(None), slice(None)) + tuple(map(slice, spatial))] = block.transpose(
            rank + 1, rank + 2, *range(1, rank + 1), 0
        )
        for axis in range(1, rank):  # the zeros past each row, which the reused workspace does not hold
            inputs[(slice(None),) * (2 + axis) + (slice(spatial[axis], None),)] = 0
        inputs = inputs.reshape(groups, per_group, -1)
        sums = _view(sums_space, (groups, filters // groups, phases, positions * count))
        rows = inputs.shape[-1]
        for phase_number in range(phases):  # zeros where no first tap's GEMM writes
            sums[:, :, phase_number, rows if phase_number in first_taps else 0 :] = 0
        for phase_number, tap in first_taps.items():
            np.matmul(matrix[tap], inputs, out=sums[:, :, phase_number, :rows])
        products = _view(products_space, (groups, filters // groups, rows))
        for tap, (phase_number, offset) in enumerate(lands):  # added while they are in the cache
            if first_taps.get(phase_number) != tap:
                np.matmul(matrix[tap], inputs, out=products)
                start = offset * count
                length = min(rows, sums.shape[-1] - start)  # what runs past the phase is x's padding
                sums[:, :, phase_number, start : start + length] += products[..., :length]
        sums = sums.reshape(groups, filters // groups, *lhs_dilation, *phased, count)
        by_example = out[examples].reshape(count, *out_spatial, groups, filters // groups)  # writes land in out
        for phase, reads, writes in interleaves:
            by_example[(slice(None),) + writes] = sums[(slice(None), slice(None)) + phase + reads].transpose(
                rank + 2, *range(2, rank + 2), 0, 1
            )
    return out


def _strided(x: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """A read-only view of ``x`` with ``shape`` and ``strides`` (every element it reaches lies in ``x``)."""
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def _blocks(count: int, item_bytes: int) -> list[slice]:
    """``range(count)`` cut into consecutive slices of at most :data:`CONV_BLOCK_BYTES` of items (one at least)."""
    step = max(1, CONV_BLOCK_BYTES // max(item_bytes, 1))
    return [slice(first, min(first + step, count)) for first in range(0, count, step)]


def _run(start: int, step: int, count: int) -> slice:
    """``count`` elements from ``start``, ``step`` apart."""
    return slice(start, start + (count - 1) * step + 1, step)


def _landing(size: int, step: int, offset: int, length: int) -> tuple[slice, slice] | None:
    """Along one axis, which inputs ``i`` land in an output of ``length`` at ``i * step + offset``, and where
    (None: none do)."""
    first, last = max(0, -(offset // step)), min(size - 1, (length - 1 - offset) // step)
    if last < first:
        return None
    return slice(first, last + 1), _run(first * step + offset, step, last - first + 1)


def _along_axis(indices: Array, axis: int) -> tuple[Array, ...]:
    """The advanced index that reads ``indices`` along a new ``axis``: open grids on the other axes."""
    grids = _open_grids(indices.shape)
    return (*grids[:axis], indices, *grids[axis:])


@functools.lru_cache(maxsize=64)
def _open_grids(shape: tuple[int, ...]) -> tuple[Array, ...]:
    return tuple(np.indices(shape, sparse=True))


if TYPE_CHECKING:  # mypy checks the class against the protocol: a missing or misspelled function fails here
    _check: Backend = NumpyBackend()
