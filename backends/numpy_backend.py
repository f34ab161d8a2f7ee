"""The NumPy backend: the default, CPU only, nothing else to install."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from highnn.backends import numpy_conv
from highnn.backends.base import (
    LOW_PRECISION_CODES,
    Array,
    Axis,
    Backend,
    DeviceUnavailableError,
    Index,
    Layout,
    SingleDevice,
    index_error,
    numpy_dtype,
    packed_eigh,
    packed_qr,
    packed_svd,
    parse_device,
    pick_first_maxima,
    pool_counts,
    pool_output_shape,
    pool_padded_shape,
    pool_padding,
    scan_loop,
    scan_vjp_loop,
    stacked_transform,
    window_reads,
)
from highnn.backends.numpy_conv import spaced


def _erfinv_by_newton(x: np.ndarray) -> np.ndarray:
    """erfinv without SciPy: Newton's steps on ``erf(y) = |x|`` from Winitzki's approximation (0.2% off; each step
    squares the error), the residual through erfc near 1, where erf would cancel; +-inf at +-1, NaN outside
    [-1, 1]. Within 1e-12 of SciPy's."""
    x = np.asarray(x, np.float64)
    a = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = np.log1p(-a * a)
        t = 2.0 / (np.pi * 0.147) + log / 2.0
        y = np.sqrt(np.sqrt(t * t - log / 0.147) - t)
        for _ in range(3):
            residual = np.where(a < 0.5, _erf(y) - a, (1.0 - a) - _erfc(y))
            y = np.where(np.isfinite(y), y - residual / (2.0 / np.sqrt(np.pi) * np.exp(-y * y)), y)
    return np.sign(x) * y


try:  # SciPy's erf, erfc and erfinv are vectorised; the fallbacks are exact but loop in Python
    from scipy.special import erf as _erf
    from scipy.special import erfc as _erfc
    from scipy.special import erfinv as _erfinv
except ImportError:  # pragma: no cover - exercised only without SciPy
    _erf = np.vectorize(math.erf, otypes=[np.float64])
    _erfc = np.vectorize(math.erfc, otypes=[np.float64])
    _erfinv = _erfinv_by_newton


_SAME_WIDTH_INTEGER = {2: np.int16, 4: np.int32, 8: np.int64}
_BIT_SELECT_MIN_SIZE = 4096  # below this np.where's lower call overhead wins


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
    gcd, lcm, nextafter = staticmethod(np.gcd), staticmethod(np.lcm), staticmethod(np.nextafter)
    inv, solve, det = staticmethod(np.linalg.inv), staticmethod(np.linalg.solve), staticmethod(np.linalg.det)

    @staticmethod
    def solve_triangular(a: Array, b: Array, lower: bool) -> Array:
        return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)  # the other triangle is never read

    @staticmethod
    def cholesky(a: Array) -> Array:
        return np.linalg.cholesky((a + np.swapaxes(a, -1, -2)) / 2)  # of the symmetric part, as JAX

    # the factorisations made unique and the FFT of real pairs, as backends.base defines them for both NumPy and JAX
    qr, svd, eigh = (staticmethod(functools.partial(f, np)) for f in (packed_qr, packed_svd, packed_eigh))
    fft, ifft = (staticmethod(functools.partial(stacked_transform, np, name)) for name in ("fft", "ifft"))

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

    @staticmethod
    def erfc(x: Array) -> Array:
        return np.asarray(_erfc(x), dtype=x.dtype)

    @staticmethod
    def erfinv(x: Array) -> Array:
        return np.asarray(_erfinv(x), dtype=x.dtype)

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
            x[(slice(None),) + tuple(spaced(o, s, n) for o, s, n in zip(offset, strides, sizes))]
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
        return numpy_conv.conv_general(x, kernel, strides, padding, lhs_dilation, rhs_dilation, feature_group_count)

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


def _along_axis(indices: Array, axis: int) -> tuple[Array, ...]:
    """The advanced index that reads ``indices`` along a new ``axis``: open grids on the other axes."""
    grids = _open_grids(indices.shape)
    return (*grids[:axis], indices, *grids[axis:])


@functools.lru_cache(maxsize=64)
def _open_grids(shape: tuple[int, ...]) -> tuple[Array, ...]:
    return tuple(np.indices(shape, sparse=True))


if TYPE_CHECKING:  # mypy checks the class against the protocol: a missing or misspelled function fails here
    _check: Backend = NumpyBackend()
