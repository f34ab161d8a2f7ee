"""The backend protocol: the array functions highnn lowers every primitive to.

A backend is one module with one class that implements these functions on its
array type; each module asserts ``_check: type[Backend] = TheClass``, so mypy
fails a backend that misses or misspells one. They are pure (no in-place mutation of their inputs, since JAX
arrays are immutable) and take static arguments (axes, shapes, dtypes) as
Python values. Dtypes are named by strings: ``float32``, ``float64``,
``int32``, ``int64``, ``bool``, and the low-precision ``float16`` and
``bfloat16``. Arrays arrive by position and static arguments by keyword, with
the parameter names used here (``axis``, ``keepdims``, ``shape``, ``axes``,
``index``, ``dtype``). A new backend passes ``tests/conformance``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

Array = Any  # the backend's own array type: np.ndarray, torch.Tensor, jax.Array
Axis = int | tuple[int, ...] | None
Index = Any  # a basic index: ints, slices, None, Ellipsis, or a tuple of them

DEVICE_KINDS = ("cpu", "cuda", "tpu", "mps")
FLOAT_DTYPES = ("float32", "float64")  # the float types highnn's floatx may be
LOW_PRECISION_DTYPES = ("float16", "bfloat16")  # compute types of mixed precision (never floatx)
#: the type codes of float16 and ml_dtypes' bfloat16 (LOW_PRECISION_DTYPES), which add up many terms through
#: float32; tested by code because ``dtype.char`` is a C attribute and ``dtype.name`` a slow Python property
LOW_PRECISION_CODES = "eE"
ALL_FLOAT_DTYPES = FLOAT_DTYPES + LOW_PRECISION_DTYPES
DTYPES = ("float32", "float64", "int32", "int64", "bool", *LOW_PRECISION_DTYPES)  # the names every backend speaks


class Mesh(Protocol):
    """A named grid of devices (``hn.distribution.DeviceMesh``), as backends read it."""

    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def axis_names(self) -> tuple[str, ...]: ...
    @property
    def devices(self) -> np.ndarray:
        """Device names (``"cpu:0"``) in the mesh's shape."""


class Layout(Protocol):
    """How an array is split over a mesh (``hn.distribution.TensorLayout``): per array axis, a mesh axis or None."""

    @property
    def axes(self) -> tuple[str | None, ...]: ...
    @property
    def device_mesh(self) -> Mesh | None: ...


class Backend(Protocol):
    """What highnn needs from an array library."""

    name: str
    device_name: str

    # conversion and placement
    def asarray(self, value: Any, dtype: str) -> Array:
        """Convert NumPy, Python or any backend's arrays to this backend, on its device."""

    def batch(self, array: np.ndarray, dtype: str) -> Any:
        """A host batch in the form a compiled step takes fastest (this backend's array, or NumPy for jit to place)."""

    def to_numpy(self, x: Array) -> np.ndarray:
        """Copy an array to host NumPy."""

    def readable_on_host(self, x: Array) -> bool:
        """Whether this process can read every element of ``x`` (not a JAX tracer, nor a JAX array sharded over
        other processes' devices): checks that read values on the host skip what they cannot read."""

    def dtype(self, x: Array) -> str:
        """The dtype name of an array."""

    def is_array(self, value: Any) -> bool:
        """Whether ``value`` is this backend's native array type."""

    def enable_float64(self, on: bool) -> None:
        """Allow float64 arrays (JAX needs a switch)."""

    # elementwise arithmetic (inputs have equal dtypes and broadcastable shapes)
    def add(self, a: Array, b: Array, /) -> Array: ...
    def sub(self, a: Array, b: Array, /) -> Array: ...
    def mul(self, a: Array, b: Array, /) -> Array: ...
    def div(self, a: Array, b: Array, /) -> Array: ...
    def pow(self, a: Array, b: Array, /) -> Array: ...
    def maximum(self, a: Array, b: Array, /) -> Array: ...
    def minimum(self, a: Array, b: Array, /) -> Array: ...
    def equal(self, a: Array, b: Array, /) -> Array: ...
    def not_equal(self, a: Array, b: Array, /) -> Array: ...
    def greater(self, a: Array, b: Array, /) -> Array: ...
    def greater_equal(self, a: Array, b: Array, /) -> Array: ...
    def less(self, a: Array, b: Array, /) -> Array: ...
    def less_equal(self, a: Array, b: Array, /) -> Array: ...
    def where(self, condition: Array, a: Array, b: Array, /) -> Array: ...
    def neg(self, x: Array, /) -> Array: ...
    def exp(self, x: Array, /) -> Array: ...
    def log(self, x: Array, /) -> Array: ...
    def log1p(self, x: Array, /) -> Array: ...
    def tanh(self, x: Array, /) -> Array: ...
    def sqrt(self, x: Array, /) -> Array: ...
    def abs(self, x: Array, /) -> Array: ...
    def sign(self, x: Array, /) -> Array: ...
    def floor(self, x: Array, /) -> Array: ...
    def sin(self, x: Array, /) -> Array: ...
    def cos(self, x: Array, /) -> Array: ...
    def erf(self, x: Array, /) -> Array: ...
    def erfc(self, x: Array, /) -> Array: ...
    def erfinv(self, x: Array, /) -> Array: ...
    def tan(self, x: Array, /) -> Array: ...
    def arcsin(self, x: Array, /) -> Array: ...
    def arccos(self, x: Array, /) -> Array: ...
    def arctan(self, x: Array, /) -> Array: ...
    def sinh(self, x: Array, /) -> Array: ...
    def cosh(self, x: Array, /) -> Array: ...
    def arcsinh(self, x: Array, /) -> Array: ...
    def arccosh(self, x: Array, /) -> Array: ...
    def arctanh(self, x: Array, /) -> Array: ...
    def expm1(self, x: Array, /) -> Array: ...
    def arctan2(self, y: Array, x: Array, /) -> Array: ...

    # bitwise operations on integers (and bool)
    def bitwise_and(self, a: Array, b: Array, /) -> Array: ...
    def bitwise_or(self, a: Array, b: Array, /) -> Array: ...
    def bitwise_xor(self, a: Array, b: Array, /) -> Array: ...
    def bitwise_not(self, x: Array, /) -> Array: ...
    def left_shift(self, a: Array, b: Array, /) -> Array: ...
    def gcd(self, a: Array, b: Array, /) -> Array: ...
    def lcm(self, a: Array, b: Array, /) -> Array: ...
    def nextafter(self, a: Array, b: Array, /) -> Array: ...
    def right_shift(self, a: Array, b: Array, /) -> Array: ...

    # linear algebra (float32 and float64)
    def inv(self, a: Array, /) -> Array: ...
    def solve(self, a: Array, b: Array, /) -> Array: ...
    def det(self, a: Array, /) -> Array: ...
    def solve_triangular(self, a: Array, b: Array, /, *, lower: bool) -> Array: ...
    def cholesky(self, a: Array, /) -> Array: ...
    def qr(self, a: Array, /) -> Array:
        """The reduced QR factors of each matrix ``(..., m, n)``, ``k = min(m, n)``, the diagonal of ``R`` made
        non-negative: ``Q`` (zero-padded to ``n`` columns) over ``R``, ``(..., m + k, n)``."""

    def fft(self, x: Array, /) -> Array:
        """The DFT along the last axis of the complex numbers ``x[0] + i x[1]``, stacked the same way."""

    def ifft(self, x: Array, /) -> Array:
        """The inverse DFT (divided by n) along the last axis, stacked as :meth:`fft`'s."""

    def svd(self, a: Array, /) -> Array:
        """The reduced SVD of each matrix ``(..., m, n)``, ``k = min(m, n)``, each pair of singular vectors signed
        so that the left one's component of largest magnitude is positive: ``U`` (zero-padded to ``n`` columns),
        the singular values (descending, padded) and ``V^T``, ``(..., m + 1 + k, n)``."""

    def eigh(self, a: Array, /) -> Array:
        """The eigenvalues (ascending, row 0) over the eigenvectors (columns, rows 1..n) of each matrix's symmetric
        part, each eigenvector signed so that its component of largest magnitude is positive: ``(..., n + 1, n)``."""

    # reductions, linear algebra, shapes
    def sum(self, x: Array, /, *, axis: Axis, keepdims: bool) -> Array: ...
    def max(self, x: Array, /, *, axis: Axis, keepdims: bool) -> Array: ...
    def log_softmax(self, x: Array, /, *, axis: tuple[int, ...]) -> Array: ...
    def matmul(self, a: Array, b: Array, /) -> Array: ...
    def reshape(self, x: Array, /, *, shape: tuple[int, ...]) -> Array: ...
    def transpose(self, x: Array, /, *, axes: tuple[int, ...]) -> Array: ...
    def broadcast_to(self, x: Array, /, *, shape: tuple[int, ...]) -> Array: ...
    def getitem(self, x: Array, /, *, index: Index) -> Array: ...
    def unindex(self, g: Array, /, *, shape: tuple[int, ...], index: Index) -> Array:
        """Zeros of ``shape`` with ``g`` written at ``index`` (the adjoint of getitem)."""

    def cast(self, x: Array, /, *, dtype: str) -> Array: ...

    # counter-based randomness: the same seed gives the same numbers
    def random_uniform(self, seed: Array, /, *, shape: tuple[int, ...], dtype: str) -> Array: ...
    def random_normal(self, seed: Array, /, *, shape: tuple[int, ...], dtype: str) -> Array: ...

    # padding and pooling windows; pooled inputs are channels-last, (batch, *spatial, channels), 1 to 3 spatial axes
    def pad(self, x: Array, /, *, pad_width: tuple[tuple[int, int], ...], value: float) -> Array:
        """``x`` with ``pad_width[i] = (before, after)`` elements of ``value`` added on axis i."""

    def max_pool(self, x: Array, /, *, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        """The maximum of each window; "same" padding (see :func:`pool_padding`) never wins."""

    def average_pool(self, x: Array, /, *, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        """The mean of each window over its elements inside ``x`` (padding is not counted, as in Keras and TF)."""

    def max_pool_vjp(
        self, g: Array, x: Array, out: Array, /, *, window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        """The adjoint of ``x`` in max pooling (``out``: the window maxima): each window's ``g`` added at its
        first maximum in row-major window order, where PyTorch, JAX and TF send it."""

    def max_pool_select(
        self, h: Array, x: Array, out: Array, /, *, window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        """Per window, ``h`` (shaped like ``x``) at the window's first maximum of ``x`` (``out``: the maxima): the
        transpose of :meth:`max_pool_vjp`, and so its VJP."""

    def average_pool_vjp(
        self, g: Array, /, *, shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        """The adjoint of an input of ``shape`` in average pooling: each window's ``g`` shared evenly among the
        elements it counts (the transpose of :meth:`average_pool`)."""

    # convolution (channels last: input (batch, *spatial, channels), kernel (*window, channels / groups, filters))
    def conv_general(
        self,
        x: Array,
        kernel: Array,
        /,
        *,
        strides: tuple[int, ...],
        padding: tuple[tuple[int, int], ...],
        lhs_dilation: tuple[int, ...],
        rhs_dilation: tuple[int, ...],
        feature_group_count: int,
    ) -> Array:
        """``jax.lax.conv_general_dilated`` in channels-last layout: the input dilated by ``lhs_dilation``,
        padded by ``padding`` (negative entries crop), correlated with the kernel dilated by ``rhs_dilation``
        at ``strides``; the channels split into ``feature_group_count`` independent groups."""

    # gather/scatter (Embedding) and recurrence (recurrent layers); `body` is a ScanBody (see highnn.scan)
    def take(self, x: Array, indices: Array, /, *, axis: int) -> Array:
        """``x`` gathered at integer ``indices`` (negative ones count from the end) along ``axis``."""

    def scatter_add(self, updates: Array, indices: Array, /, *, shape: tuple[int, ...], axis: int) -> Array:
        """Zeros of ``shape`` with ``updates`` added at ``indices`` along ``axis`` (the adjoint of take)."""

    def scan(self, init: Array, /, *operands: Array, body: Any, n_xs: int) -> Array:
        """The carries ``c[t] = body(c[t-1], *xs[t], *consts)`` stacked on a new first axis (``c[-1] = init``)."""

    def scan_vjp(self, g: Array, out: Array, init: Array, /, *operands: Array, body: Any, n_xs: int) -> Array:
        """The gradients of ``sum(scan(...) * g)`` for init, xs and consts, raveled and joined in that order."""

    @property
    def project_inputs_in_scan(self) -> bool:
        """Whether recurrent layers multiply each step's input by their kernel inside the scan's step (as Keras's
        cells do) rather than every step's at once before it."""

    # one element per position along an axis (sparse crossentropy's label gather); indices lie in [0, size)
    def pick_along_axis(self, x: Array, indices: Array, /, *, axis: int) -> Array:
        """``x``'s element at ``indices`` along ``axis``, for every position off it (``axis`` is dropped)."""

    def place_along_axis(self, updates: Array, indices: Array, /, *, size: int, axis: int) -> Array:
        """Zeros with a new ``axis`` of length ``size`` holding ``updates`` at ``indices`` (pick's adjoint)."""

    # keras.ops support: scans, sorting and rounding
    def cumsum(self, x: Array, /, *, axis: int) -> Array: ...
    def cumprod(self, x: Array, /, *, axis: int) -> Array: ...
    def argsort(self, x: Array, /, *, axis: int) -> Array:
        """int32 positions that sort ``x`` ascending along ``axis``; stable (ties keep their order)."""

    def round(self, x: Array, /) -> Array:
        """Round to the nearest integer, halves to even."""

    # merging
    def concatenate(self, a: Array, b: Array, /, *, axis: int) -> Array:
        """``a`` and ``b`` joined along ``axis``."""

    def compile(
        self,
        fn: Callable[..., Any],
        donate_argnums: Sequence[int] = (),
        jit: bool | None = None,
        in_layouts: Sequence[Layout] | None = None,
        out_layouts: Sequence[Layout] | None = None,
    ) -> Callable[..., Any]:
        """Lower a pure function of arrays to the backend's fastest form of it.

        ``jit`` asks for (True) or against (False) the backend's just-in-time
        compiler where it has one (``jax.jit``, ``torch.compile``); None is the
        backend's default. Under a distribution, ``in_layouts`` and
        ``out_layouts`` give every argument's and every result's layout.
        """

    # distribution (see highnn.distribution); SingleDevice implements these for one device in one process
    #: whether a distributed job runs one process per device, each stepping on its share of every global batch
    #: (torch.distributed), rather than one program over the global batch (JAX)
    local_view: bool

    def list_devices(self, device_type: str | None = None) -> list[str]:
        """Every device of the job (all processes' ones), named ``kind:index``; only ``device_type``'s if given."""

    def check_devices(self, names: Sequence[str]) -> None:
        """Raise :class:`DeviceUnavailableError`, naming a fix, unless every name is one of :meth:`list_devices`."""

    def initialize(self, job_addresses: str | None, num_processes: int | None, process_id: int | None) -> None:
        """Join a multi-process job (arguments already checked; None: the launcher's environment decides)."""

    def process_index(self) -> int:
        """This process's index in the job (0 in a single-process run)."""

    def process_count(self) -> int:
        """How many processes the job has."""

    def traceable(self, x: Array) -> Any:
        """What a trace's eager operations compute on in place of an input's or a variable's value ``x``, in a job
        of several processes (only shapes and dtypes reach the program): ``x`` itself where that needs no other
        process."""

    def set_default_layout(self, layout: Layout | None) -> None:
        """Lay out arrays made from now on (``asarray``) by ``layout``; None: on the backend's device again."""

    def place(self, x: Array, layout: Layout) -> Array:
        """``x`` laid out by ``layout`` (``x`` itself when it already is)."""

    def global_batch(self, array: Any, layout: Layout) -> Any:
        """A batch from :meth:`batch` as the step takes it under ``layout``: in a multi-process job, one global
        array made of this process's rows (every process passes the same global batch)."""

    def wait(self, x: Array) -> None:
        """Block until ``x`` is computed (on backends that dispatch asynchronously)."""


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype called ``name``; NumPy has no bfloat16 of its own, so that one comes from ml_dtypes."""
    if name != "bfloat16":
        return np.dtype(name)
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError(
            "bfloat16 arrays in NumPy need the ml_dtypes package: pip install 'highnn[bfloat16]'; "
            "the torch and jax backends support bfloat16 natively."
        ) from None
    return np.dtype(ml_dtypes.bfloat16)


def bfloat16_to_host(values: np.ndarray) -> np.ndarray:
    """bfloat16 values held (exactly) in float32, as NumPy's bfloat16 when ml_dtypes is installed, else as they are."""
    try:
        return values.astype(numpy_dtype("bfloat16"))
    except ImportError:
        return values


def parse_device(spec: str | None, backend: str) -> tuple[str, int]:
    """Split ``cuda:1``/``gpu``/``cpu`` into a device kind and an index; ``gpu`` means ``cuda``."""
    if spec is None:
        return "cpu", 0
    kind, _, index = spec.strip().lower().partition(":")
    kind = "cuda" if kind == "gpu" else kind
    if kind not in DEVICE_KINDS or (index and not index.isdigit()):
        raise ValueError(
            f"HIGHNN_DEVICE must be one of cpu, gpu, cuda, cuda:N, tpu, mps; received {spec!r} (backend {backend!r})."
        )
    return kind, int(index or 0)


class DeviceUnavailableError(RuntimeError):
    """The requested device is not there or the backend cannot use it."""


# ------------------------------------------------------------ pooling geometry, shared by every backend
def pool_padding(
    spatial: Sequence[int], window: Sequence[int], strides: Sequence[int], padding: str
) -> tuple[tuple[int, int], ...]:
    """Per spatial axis, the (before, after) padding of Keras and TF: none for "valid"; for "same", just
    enough for ``ceil(n / stride)`` windows, the odd element after."""
    if padding == "valid":
        return ((0, 0),) * len(spatial)
    totals = [max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip(spatial, window, strides)]
    return tuple((total // 2, total - total // 2) for total in totals)


def pool_output_shape(
    spatial: Sequence[int], window: Sequence[int], strides: Sequence[int], padding: str
) -> tuple[int, ...]:
    """The number of windows along each spatial axis (zero or less: the window does not fit)."""
    if padding == "valid":
        return tuple((n - k) // s + 1 for n, k, s in zip(spatial, window, strides))
    return tuple(-(-n // s) for n, s in zip(spatial, strides))


def pool_counts(spatial: Sequence[int], window: Sequence[int], strides: Sequence[int], padding: str) -> np.ndarray:
    """How many elements of the input each window covers, shaped ``(1, *windows, 1)`` to divide pooled sums."""
    pads, sizes = pool_padding(spatial, window, strides, padding), pool_output_shape(spatial, window, strides, padding)
    counts = np.ones(())
    for n, k, s, (before, _), size in zip(spatial, window, strides, pads, sizes):
        starts = np.arange(size) * s - before
        counts = np.multiply.outer(counts, np.minimum(starts + k, n) - np.maximum(starts, 0))
    return counts.reshape((1, *counts.shape, 1))


def pool_padded_shape(
    shape: Sequence[int], window: Sequence[int], strides: Sequence[int], padding: str
) -> tuple[tuple[int, ...], tuple[slice, ...]]:
    """A channels-last input's shape with its pooling padding, and the index of the input within that."""
    pads = ((0, 0), *pool_padding(shape[1:-1], window, strides, padding), (0, 0))
    padded = tuple(n + before + after for n, (before, after) in zip(shape, pads))
    return padded, tuple(slice(before, before + n) for n, (before, _) in zip(shape, pads))


def window_reads(window: Sequence[int], strides: Sequence[int], sizes: Sequence[int]) -> list[tuple[slice, ...]]:
    """Per window offset, row-major, the index that reads that offset of every one of ``sizes`` windows at once
    from a padded channels-last input (the pieces a pooling adjoint adds back, one strided slice each)."""
    return [
        (slice(None), *(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, strides, sizes)), slice(None))
        for offset in np.ndindex(*window)
    ]


def pick_first_maxima(
    xp: Any, padded_x: Array, padded_h: Array, out: Array, window: Sequence[int], strides: Sequence[int]
) -> Array:
    """Per window, ``padded_h`` at the first offset where ``padded_x`` holds the window's maximum ``out`` (later
    offsets find the window taken): ``max_pool_select`` in the array module ``xp`` (NumPy or ``jax.numpy``)."""
    picked, free = xp.zeros(out.shape, padded_h.dtype), xp.ones(out.shape, bool)
    for index in window_reads(window, strides, out.shape[1:-1]):
        hit = (padded_x[index] == out) & free
        picked = xp.where(hit, padded_h[index], picked)
        free = free & ~hit
    return picked


# ------------------------------------------------------------ convolution geometry, shared by the backends
def transposed_crops(
    window: Sequence[int], rhs_dilation: Sequence[int], padding: Sequence[tuple[int, int]]
) -> tuple[tuple[int, int], ...]:
    """Per spatial axis, what a convolution of an input dilated by zeros and padded by ``padding`` crops from each
    end of the transposed convolution of the undilated input (whose full output is ``(n - 1) * lhs_dilation +
    (k - 1) * rhs_dilation + 1`` long); negative: zeros it adds."""
    return tuple(((k - 1) * d - lo, (k - 1) * d - hi) for k, d, (lo, hi) in zip(window, rhs_dilation, padding))


# ------------------------------------------- factorisations made unique, and complex numbers as real pairs
# NumPy and JAX share these (``xp`` is ``numpy`` or ``jax.numpy``); the torch backend writes them in torch's words
def packed_qr(xp: Any, a: Any) -> Any:
    """``Backend.qr`` in the array namespace ``xp``: R's diagonal made non-negative, Q padded over R."""
    q, r = xp.linalg.qr(a)
    signs = xp.where(xp.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0).astype(a.dtype)
    q, r = q * signs[..., None, :], r * signs[..., :, None]
    padding = [(0, 0)] * (a.ndim - 1) + [(0, r.shape[-1] - q.shape[-1])]
    return xp.concatenate([xp.pad(q, padding), r], axis=-2)


def packed_svd(xp: Any, a: Any) -> Any:
    """``Backend.svd`` in ``xp``: each pair of singular vectors signed by the left one's largest component."""
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    signs = xp.where(_largest_components(xp, u) < 0, -1.0, 1.0).astype(a.dtype)
    u, vh = u * signs, vh * xp.swapaxes(signs, -1, -2)
    padding = [(0, 0)] * (a.ndim - 1) + [(0, vh.shape[-1] - u.shape[-1])]
    return xp.concatenate([xp.pad(u, padding), xp.pad(s[..., None, :], padding), vh], axis=-2)


def packed_eigh(xp: Any, a: Any) -> Any:
    """``Backend.eigh`` in ``xp``: the symmetric part's eigenvalues over its eigenvectors, each signed by its
    largest component."""
    values, vectors = xp.linalg.eigh((a + xp.swapaxes(a, -1, -2)) / 2)
    return xp.concatenate([values[..., None, :], vectors * xp.sign(_largest_components(xp, vectors))], axis=-2)


def _largest_components(xp: Any, vectors: Any) -> Any:
    """``(..., 1, k)``: each column's component of largest magnitude."""
    return xp.take_along_axis(vectors, xp.argmax(xp.abs(vectors), axis=-2)[..., None, :], axis=-2)


def stacked_transform(xp: Any, transform: str, x: Any) -> Any:
    """``xp.fft.<transform>`` of ``x[0] + i x[1]`` along the last axis, real and imaginary parts stacked alike."""
    out = getattr(xp.fft, transform)(x[0] + 1j * x[1])
    return xp.stack([out.real, out.imag]).astype(x.dtype)


# ------------------------------------------- helpers the backends share for take and scan
def index_error(name: str, indices: np.ndarray, size: int) -> IndexError | None:
    """The error every backend raises for indices outside ``[-size, size)``, or None when all fit."""
    if indices.size == 0:
        return None
    low, high = int(indices.min()), int(indices.max())
    bad = low if low < -size else high if high >= size else None
    return None if bad is None else IndexError(f"{name}: index {bad} is out of range for an axis of size {size}.")


def scan_loop(body: Any, init: Array, operands: Sequence[Array], n_xs: int, carries: Array) -> Array:
    """A scan's carries, one per time step, computed in a Python loop (NumPy, PyTorch) and written into
    ``carries``, a buffer of shape ``(time,) + init.shape`` the backend allocated (so no list is stacked)."""
    xs, consts = operands[:n_xs], operands[n_xs:]
    step = body.forward(init, *(x[0] for x in xs), *consts)
    carry = init
    for t in range(len(carries)):
        carry = step(carry, *(x[t] for x in xs), *consts)
        carries[t] = carry
    return carries


def scan_vjp_loop(
    body: Any, g: Array, out: Array, init: Array, operands: Sequence[Array], n_xs: int, joined: Array
) -> Array:
    """A scan's gradients by a reverse Python loop over the body's VJP, written into ``joined``: a flat buffer the
    backend allocated for init's gradient, each x's and each const's, raveled one after the other."""
    xs, consts = operands[:n_xs], operands[n_xs:]
    parts, start = [], 0
    for operand in (init, *operands):
        size = math.prod(operand.shape)
        parts.append(joined[start : start + size].reshape(operand.shape))  # views of the buffer
        start += size
    g_init, g_xs, g_consts = parts[0], parts[1 : 1 + n_xs], parts[1 + n_xs :]
    vjp = body.vjp(init, *(x[0] for x in xs), *consts, init)
    g_carry: Array = None
    sums: list[Array] = [None] * len(consts)
    for t in reversed(range(len(out))):
        adjoint = g[t] if g_carry is None else g[t] + g_carry
        grads = vjp(init if t == 0 else out[t - 1], *(x[t] for x in xs), *consts, adjoint)
        g_carry = grads[0]
        for g_x, grad in zip(g_xs, grads[1 : 1 + n_xs]):
            g_x[t] = grad
        sums = [grad if total is None else total + grad for total, grad in zip(sums, grads[1 + n_xs :])]
    g_init[...] = g_carry
    for g_const, total in zip(g_consts, sums):
        g_const[...] = total
    return joined


# ----------------------------------------------- distribution functions of a backend with one device and one process
class SingleDevice:
    """The distribution functions of a backend that computes on its one device in one process.

    There is nothing to place or gather: ``DataParallel`` over the one device is a no-op, so scripts stay
    portable, and asking for more devices or processes is a one-line error naming :attr:`more_devices`.
    """

    name: str
    device_name: str
    local_view = False
    #: how to get several devices or processes, named in errors
    more_devices = "use HIGHNN_BACKEND=torch (gloo) or HIGHNN_BACKEND=jax for several devices or processes"

    @staticmethod
    def readable_on_host(x: Array) -> bool:
        return True  # one process holds all of it

    @staticmethod
    def traceable(x: Array) -> Array:
        return x  # under torch DataParallel each process computes on its own arrays

    def list_devices(self, device_type: str | None = None) -> list[str]:
        kind, index = parse_device(self.device_name, self.name)
        return [f"{kind}:{index}"] if device_type in (None, kind) else []

    def check_devices(self, names: Sequence[str]) -> None:
        known = self.list_devices()
        unknown = [name for name in names if name not in known]
        if unknown:
            raise DeviceUnavailableError(
                f"The {self.name} backend has only the devices {known}, not {unknown[0]!r}: {self.more_devices}."
            )

    def initialize(self, job_addresses: str | None, num_processes: int | None, process_id: int | None) -> None:
        raise RuntimeError(f"The {self.name} backend runs in one process: {self.more_devices}.")

    def process_index(self) -> int:
        return 0

    def process_count(self) -> int:
        return 1

    def set_default_layout(self, layout: Layout | None) -> None:
        pass

    def place(self, x: Array, layout: Layout) -> Array:
        return x

    def global_batch(self, array: Any, layout: Layout) -> Any:
        return array

    def wait(self, x: Array) -> None:
        pass
