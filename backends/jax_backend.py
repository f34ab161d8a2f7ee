"""The JAX backend: arrays are ``jax.Array`` on a CPU, GPU or TPU; programs compile with ``jax.jit``.

JAX computes in 32 bits unless ``jax_enable_x64`` is on: highnn turns it on
with ``floatx=float64`` and whenever float64 is asked for (``hn.tensor(x,
dtype="float64")``), so a float64 request is never silently float32; other
64-bit dtypes become their 32-bit kin until then (``dtype()`` reports what an
array really holds).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from highnn.backends.base import (
    Array,
    Axis,
    Backend,
    DeviceUnavailableError,
    Index,
    Layout,
    index_error,
    packed_eigh,
    packed_qr,
    packed_svd,
    parse_device,
    pick_first_maxima,
    pool_counts,
    pool_padded_shape,
    pool_padding,
    stacked_transform,
    window_reads,
)

#: how to get more devices of a kind than JAX sees
_FIXES = {
    "cpu": "set XLA_FLAGS=--xla_force_host_platform_device_count=N for more CPU devices",
    "cuda": "install jax[cuda12] (pip install -U 'jax[cuda12]') or set HIGHNN_DEVICE=cpu",
    "tpu": "install jax[tpu] (pip install -U 'jax[tpu]') on a TPU VM or set HIGHNN_DEVICE=cpu",
}


def _jax_device(spec: str | None, local: bool = True) -> tuple[jax.Device, str]:
    """The JAX device ``spec`` names and its highnn name; a one-line error says how to get it when it is missing.

    ``local``: count this process's devices (HIGHNN_DEVICE), else every process's (``hn.distribution`` names).
    """
    kind, index = parse_device(spec, "jax")
    if kind == "mps":
        raise DeviceUnavailableError(
            f"The jax backend cannot run on {spec!r}: use HIGHNN_BACKEND=torch for Apple MPS, or HIGHNN_DEVICE=cpu."
        )
    platform = "gpu" if kind == "cuda" else kind
    try:
        devices = jax.local_devices(backend=platform) if local else jax.devices(platform)
    except RuntimeError:  # JAX raises when it has no such platform
        devices = []
    if index >= len(devices):
        raise DeviceUnavailableError(
            f"The jax backend cannot use {spec!r}: JAX sees {len(devices)} {kind} device(s); {_FIXES[kind]}."
        )
    return devices[index], "cpu" if (kind, index) == ("cpu", 0) else f"{kind}:{index}"


def _dtype(name: str) -> np.dtype:
    """The dtype JAX will actually use for ``name`` (int64 is int32 without x64), so it never warns.

    Asking for float64 turns x64 on: float64 is then what JAX computes in.
    """
    if name == "float64" and not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)
    return jax.dtypes.canonicalize_dtype(name)


def _checked_indices(name: str, indices: Array, size: int) -> Array:
    """``indices`` with negative ones counted from the end; out-of-range ones raise the shared error when known."""
    if JaxBackend.readable_on_host(indices):
        error = index_error(name, np.asarray(indices), size)
        if error is not None:
            raise error
    return jnp.where(indices < 0, indices + size, indices)


class JaxBackend:
    """Arrays are ``jax.Array`` committed to one device (or laid out over a distribution's mesh); ``compile`` is
    ``jax.jit``.

    The device is looked up at its first use, not when the backend loads: asking JAX for its devices starts its
    runtime, after which ``jax.distributed.initialize`` (``hn.distribution.initialize()``) can no longer run.
    """

    name = "jax"
    local_view = False  # one program over the global batch, laid out on the mesh
    #: where ``asarray`` lays out new arrays instead of the device (a distribution's replicated layout); process-wide
    #: like JAX's own state, so every JaxBackend instance shares it
    _default_sharding: jax.sharding.Sharding | None = None

    def __init__(self, device: str | None = None) -> None:
        kind, index = parse_device(device, "jax")
        self._spec = device
        self._device: jax.Device | None = None
        self.device_name = "cpu" if (kind, index) == ("cpu", 0) else f"{kind}:{index}"

    @property
    def device(self) -> jax.Device:
        """The JAX device, found at first use; :class:`DeviceUnavailableError` says how to get a missing one."""
        if self._device is None:
            self._device = _jax_device(self._spec)[0]
        return self._device

    @property
    def project_inputs_in_scan(self) -> bool:
        """On a CPU: XLA runs a small product in each step faster than one for every step before the loop, whose
        slices the loop then reads (measured for an LSTM; accelerators keep the one large product)."""
        return self.device.platform == "cpu"

    def asarray(self, value: Any, dtype: str) -> Array:
        value = value.astype(_dtype(dtype)) if isinstance(value, jax.Array) else np.asarray(value, _dtype(dtype))
        return _put(value, self._default_sharding or self.device)

    @staticmethod
    def where(condition: Array, a: Array, b: Array) -> Array:
        return jnp.where(condition, a, b)  # a def: mypy sees only the first overload of `staticmethod(jnp.where)`

    @staticmethod
    def log_softmax(x: Array, axis: tuple[int, ...]) -> Array:
        return jax.nn.log_softmax(x, axis=axis)

    def batch(self, array: np.ndarray, dtype: str) -> Array:
        """On a CPU the NumPy batch itself (``jax.jit`` converts it far faster than ``device_put``); on an
        accelerator an asynchronous ``device_put``, which copies while the step queued before it runs."""
        host = np.asarray(array, dtype=_dtype(dtype))
        return host if self.device.platform == "cpu" else jax.device_put(host, self.device)

    @staticmethod
    def to_numpy(x: Array) -> np.ndarray:
        return np.array(x)  # a writable copy: NumPy views of JAX buffers are read-only

    @staticmethod
    def readable_on_host(x: Array) -> bool:
        if isinstance(x, jax.core.Tracer):
            return False
        return not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated

    def dtype(self, x: Array) -> str:
        return x.dtype.name

    @staticmethod
    def is_array(value: Any) -> bool:
        return isinstance(value, jax.Array)

    def enable_float64(self, on: bool) -> None:
        jax.config.update("jax_enable_x64", on)

    add, sub = staticmethod(jnp.add), staticmethod(jnp.subtract)
    mul, div = staticmethod(jnp.multiply), staticmethod(jnp.divide)
    pow, maximum, minimum = staticmethod(jnp.power), staticmethod(jnp.maximum), staticmethod(jnp.minimum)
    equal, not_equal = staticmethod(jnp.equal), staticmethod(jnp.not_equal)
    greater, greater_equal = staticmethod(jnp.greater), staticmethod(jnp.greater_equal)
    less, less_equal = staticmethod(jnp.less), staticmethod(jnp.less_equal)
    neg = staticmethod(jnp.negative)
    exp, log = staticmethod(jnp.exp), staticmethod(jnp.log)
    log1p, tanh, sqrt = staticmethod(jnp.log1p), staticmethod(jnp.tanh), staticmethod(jnp.sqrt)
    abs, sign, floor = staticmethod(jnp.abs), staticmethod(jnp.sign), staticmethod(jnp.floor)
    sin, cos = staticmethod(jnp.sin), staticmethod(jnp.cos)
    tan, arcsin, arccos, arctan = (
        staticmethod(jnp.tan),
        staticmethod(jnp.arcsin),
        staticmethod(jnp.arccos),
        staticmethod(jnp.arctan),
    )
    sinh, cosh, expm1 = staticmethod(jnp.sinh), staticmethod(jnp.cosh), staticmethod(jnp.expm1)
    arcsinh, arccosh, arctanh = staticmethod(jnp.arcsinh), staticmethod(jnp.arccosh), staticmethod(jnp.arctanh)
    arctan2 = staticmethod(jnp.arctan2)
    bitwise_and, bitwise_or, bitwise_xor = (
        staticmethod(jnp.bitwise_and),
        staticmethod(jnp.bitwise_or),
        staticmethod(jnp.bitwise_xor),
    )
    gcd, lcm, nextafter = staticmethod(jnp.gcd), staticmethod(jnp.lcm), staticmethod(jnp.nextafter)
    bitwise_not, left_shift, right_shift = (
        staticmethod(jnp.invert),
        staticmethod(jnp.left_shift),
        staticmethod(jnp.right_shift),
    )
    inv, solve, det = staticmethod(jnp.linalg.inv), staticmethod(jnp.linalg.solve), staticmethod(jnp.linalg.det)

    @staticmethod
    def solve_triangular(a: Array, b: Array, lower: bool) -> Array:
        return jax.scipy.linalg.solve_triangular(a, b, lower=lower)

    @staticmethod
    def cholesky(a: Array) -> Array:
        return jnp.linalg.cholesky(a)  # JAX's factors the symmetric part itself

    # the factorisations made unique and the FFT of real pairs, as backends.base defines them for both NumPy and JAX
    qr, svd, eigh = (staticmethod(functools.partial(f, jnp)) for f in (packed_qr, packed_svd, packed_eigh))
    fft, ifft = (staticmethod(functools.partial(stacked_transform, jnp, name)) for name in ("fft", "ifft"))

    erf = staticmethod(jax.scipy.special.erf)
    erfc = staticmethod(jax.scipy.special.erfc)
    erfinv = staticmethod(jax.scipy.special.erfinv)
    reshape, transpose = staticmethod(jnp.reshape), staticmethod(jnp.transpose)
    broadcast_to = staticmethod(jnp.broadcast_to)

    @staticmethod
    def matmul(a: Array, b: Array) -> Array:
        """``a @ b``; a stack of matrices times one matrix as one matrix product (XLA on a CPU runs a dot with
        several free axes, ``(batch, time, features) @ kernel``, several times slower)."""
        if a.ndim > 2 and b.ndim == 2:
            return jnp.matmul(a.reshape(-1, a.shape[-1]), b).reshape(*a.shape[:-1], b.shape[-1])
        return jnp.matmul(a, b)

    @staticmethod
    def sum(x: Array, axis: Axis, keepdims: bool) -> Array:
        return jnp.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def max(x: Array, axis: Axis, keepdims: bool) -> Array:
        return jnp.max(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def getitem(x: Array, index: Index) -> Array:
        return x[index]

    @staticmethod
    def unindex(g: Array, shape: tuple[int, ...], index: Index) -> Array:
        return jnp.zeros(shape, g.dtype).at[index].set(g)

    @staticmethod
    def cast(x: Array, dtype: str) -> Array:
        return x.astype(_dtype(dtype))

    @staticmethod
    def random_uniform(seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        return jax.random.uniform(jax.random.key(seed), shape, _dtype(dtype))

    @staticmethod
    def random_normal(seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        return jax.random.normal(jax.random.key(seed), shape, _dtype(dtype))

    # padding and pooling: one lax.reduce_window, which pads with its initial value (never the max, adds nothing)
    @staticmethod
    def pad(x: Array, pad_width: tuple[tuple[int, int], ...], value: float) -> Array:
        return jnp.pad(x, pad_width, constant_values=value)

    @staticmethod
    def max_pool(x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        return _reduce_windows(x, -np.inf, jax.lax.max, window, strides, padding)

    @staticmethod
    def average_pool(x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        total = _reduce_windows(x, 0.0, jax.lax.add, window, strides, padding)
        return total / pool_counts(x.shape[1:-1], window, strides, padding).astype(x.dtype)

    # the pooling adjoints: one buffer, one strided add per window offset, which XLA fuses
    @staticmethod
    def max_pool_vjp(
        g: Array, x: Array, out: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        """``rest``, the adjoint no earlier offset has taken, goes where an offset holds its window's maximum."""
        shape, crop = pool_padded_shape(x.shape, window, strides, padding)
        padded = _placed(x, shape, crop, -jnp.inf)  # padding never holds a maximum
        grad, rest = jnp.zeros(shape, g.dtype), g
        for index in window_reads(window, strides, g.shape[1:-1]):
            hit = padded[index] == out
            grad = grad.at[index].add(jnp.where(hit, rest, 0))
            rest = jnp.where(hit, 0, rest)
        return grad[crop]

    @staticmethod
    def max_pool_select(
        h: Array, x: Array, out: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        shape, crop = pool_padded_shape(x.shape, window, strides, padding)
        return pick_first_maxima(
            jnp, _placed(x, shape, crop, -jnp.inf), _placed(h, shape, crop, 0.0), out, window, strides
        )

    @staticmethod
    def average_pool_vjp(
        g: Array, shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        padded, crop = pool_padded_shape(shape, window, strides, padding)
        share = g / pool_counts(shape[1:-1], window, strides, padding).astype(g.dtype)
        grad = jnp.zeros(padded, g.dtype)
        for index in window_reads(window, strides, g.shape[1:-1]):
            grad = grad.at[index].add(share)
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
        rank = x.ndim - 2
        spatial = tuple(range(1, rank + 1))
        layout = jax.lax.ConvDimensionNumbers(  # (batch, feature, *spatial) positions of each operand
            lhs_spec=(0, rank + 1, *spatial), rhs_spec=(rank + 1, rank, *range(rank)), out_spec=(0, rank + 1, *spatial)
        )
        return jax.lax.conv_general_dilated(
            x,
            kernel,
            window_strides=strides,
            padding=padding,
            lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation,
            dimension_numbers=layout,
            feature_group_count=feature_group_count,
        )

    # gather/scatter and recurrence; under jit indices are not known, and out-of-range ones are clamped
    @staticmethod
    def take(x: Array, indices: Array, axis: int) -> Array:
        return jnp.take(x, _checked_indices("take", indices, x.shape[axis]), axis=axis, mode="clip")

    @staticmethod
    def scatter_add(updates: Array, indices: Array, shape: tuple[int, ...], axis: int) -> Array:
        flat = _checked_indices("scatter_add", indices, shape[axis]).reshape(-1)
        rows = updates.reshape(shape[:axis] + (flat.shape[0],) + shape[axis + 1 :])
        return jnp.zeros(shape, updates.dtype).at[(slice(None),) * axis + (flat,)].add(rows, mode="clip")

    @staticmethod
    def scan(init: Array, *operands: Array, body: Any, n_xs: int) -> Array:
        xs, consts = operands[:n_xs], operands[n_xs:]
        with jax.ensure_compile_time_eval():  # the body is traced by highnn on concrete arrays, even under jit
            step = body.forward(init, *(x[0] for x in xs), *consts)

        def scan_step(carry: Array, *x_t: Array) -> tuple[Array, Array]:
            new = step(carry, *x_t, *consts)
            return new, new

        return _scan_prefetched(scan_step, init, len(xs[0]), tuple(map(_slicer, xs)))[1]

    @staticmethod
    def scan_vjp(g: Array, out: Array, init: Array, *operands: Array, body: Any, n_xs: int) -> Array:
        xs, consts = operands[:n_xs], operands[n_xs:]
        with jax.ensure_compile_time_eval():
            vjp = body.vjp(init, *(x[0] for x in xs), *consts, init)

        def previous(t: Array) -> Array:  # the carry step t started from
            return jnp.where(t == 0, init, jax.lax.dynamic_index_in_dim(out, jnp.maximum(t - 1, 0), keepdims=False))

        def step(carried: tuple[Array, tuple[Array, ...]], g_t: Array, previous_t: Array, *x_t: Array) -> Any:
            g_carry, g_consts = carried
            grads = vjp(previous_t, *x_t, *consts, g_t + g_carry)
            summed = tuple(a + b for a, b in zip(g_consts, grads[1 + n_xs :]))
            return (grads[0], summed), tuple(grads[1 : 1 + n_xs])

        start = (jnp.zeros_like(init), tuple(jnp.zeros_like(c) for c in consts))
        slicers = (_slicer(g), previous, *map(_slicer, xs))
        (g_init, g_consts), g_xs = _scan_prefetched(step, start, len(g), slicers, reverse=True)
        return jnp.concatenate([jnp.ravel(p) for p in (g_init, *g_xs, *g_consts)])

    @staticmethod
    def pick_along_axis(x: Array, indices: Array, axis: int) -> Array:
        return jnp.take_along_axis(x, jnp.expand_dims(indices, axis), axis=axis, mode="clip").squeeze(axis)

    @staticmethod
    def place_along_axis(updates: Array, indices: Array, size: int, axis: int) -> Array:
        """A compare and select, which XLA fuses into one loop (a scatter would not be)."""
        positions = jnp.arange(size, dtype=indices.dtype).reshape((size,) + (1,) * (updates.ndim - axis))
        return jnp.where(jnp.expand_dims(indices, axis) == positions, jnp.expand_dims(updates, axis), 0)

    # keras.ops support: scans, sorting and rounding
    @staticmethod
    def cumsum(x: Array, axis: int) -> Array:
        return jnp.cumsum(x, axis=axis, dtype=x.dtype)

    @staticmethod
    def cumprod(x: Array, axis: int) -> Array:
        return jnp.cumprod(x, axis=axis, dtype=x.dtype)

    @staticmethod
    def argsort(x: Array, axis: int) -> Array:
        return jnp.argsort(x, axis=axis, stable=True).astype(jnp.int32)

    @staticmethod
    def round(x: Array) -> Array:
        return jnp.round(x)

    # merging
    @staticmethod
    def concatenate(a: Array, b: Array, axis: int) -> Array:
        return jnp.concatenate((a, b), axis=axis)

    def compile(
        self,
        fn: Callable[..., Any],
        donate_argnums: Sequence[int] = (),
        jit: bool | None = None,
        in_layouts: Sequence[Layout] | None = None,
        out_layouts: Sequence[Layout] | None = None,
    ) -> Callable[..., Any]:
        """``jax.jit`` of the whole step, donating the variables it replaces (unless ``jit=False``); under a
        distribution every argument and result gets its sharding, so jit moves any argument that is elsewhere."""
        if jit is False:
            return fn
        shardings: dict[str, Any] = {}
        if in_layouts is not None and out_layouts is not None:
            shardings = {
                "in_shardings": tuple(_sharding(layout) for layout in in_layouts),
                "out_shardings": tuple(_sharding(layout) for layout in out_layouts),
            }
        return jax.jit(fn, donate_argnums=tuple(donate_argnums), **shardings)

    # distribution: a mesh of JAX devices, one program over the global batch (see highnn.distribution)
    def list_devices(self, device_type: str | None = None) -> list[str]:
        return [_device_name(device) for device in _devices(device_type)]

    def check_devices(self, names: Sequence[str]) -> None:
        for name in names:
            _jax_device(name, local=False)[0]

    def initialize(self, job_addresses: str | None, num_processes: int | None, process_id: int | None) -> None:
        """``jax.distributed.initialize``, the coordinator being the first of ``job_addresses``."""
        coordinator = job_addresses.split(",")[0].strip() if job_addresses else None
        try:
            jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
        except RuntimeError as error:
            if "before" not in str(error):  # JAX: "must be called before any JAX computations are executed"
                raise
            raise RuntimeError(
                "hn.distribution.initialize: call it before creating tensors or models (JAX's devices are in use)."
            ) from error

    @staticmethod
    def process_index() -> int:
        return jax.process_index()

    @staticmethod
    def process_count() -> int:
        return jax.process_count()

    @staticmethod
    def traceable(x: Any) -> Any:
        """An array spread over several processes' devices would make every eager operation of a trace a
        computation all processes must join in the same order (where two can deadlock): a trace computes
        instead on a host copy of a replicated array, and on zeros of a sharded one's shape."""
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return x
        return np.asarray(x.addressable_data(0)) if x.is_fully_replicated else np.zeros(x.shape, x.dtype)

    def set_default_layout(self, layout: Layout | None) -> None:
        type(self)._default_sharding = None if layout is None else _sharding(layout)

    @staticmethod
    def place(x: Array, layout: Layout) -> Array:
        sharding = _sharding(layout)
        if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
            return x
        return _put(x, sharding)

    @staticmethod
    def global_batch(array: Any, layout: Layout) -> Any:
        """The NumPy batch itself in one process (jit places it); in several, a global array of this process's
        rows (jit refuses NumPy with a sharding that spans processes)."""
        return array if jax.process_count() == 1 else _put(array, _sharding(layout))

    @staticmethod
    def wait(x: Array) -> None:
        jax.block_until_ready(x)

    # distribution: the all_reduce primitive of one process (on JAX the whole step sees the global batch)
    @staticmethod
    def all_reduce(x: Array) -> Array:
        return x


def _devices(device_type: str | None) -> list[jax.Device]:
    """JAX's devices of every process, of one kind (``cuda`` is JAX's ``gpu``) or of its default one."""
    if device_type is None:
        return jax.devices()
    try:
        return jax.devices("gpu" if device_type == "cuda" else device_type)
    except RuntimeError:  # JAX raises when it has no such platform
        return []


def _device_name(device: jax.Device) -> str:
    """``kind:index``, the index counting the devices of that kind in every process (as HIGHNN_DEVICE counts)."""
    kind = "cuda" if device.platform == "gpu" else device.platform
    return f"{kind}:{_devices(device.platform).index(device)}"


@functools.lru_cache(maxsize=64)
def _mesh(names: tuple[str, ...], shape: tuple[int, ...], axis_names: tuple[str, ...]) -> jax.sharding.Mesh:
    devices = np.array([_jax_device(name, local=False)[0] for name in names], dtype=object).reshape(shape)
    return jax.sharding.Mesh(devices, axis_names)


def _sharding(layout: Layout) -> jax.sharding.NamedSharding:
    """The ``NamedSharding`` a highnn layout (over a complete device mesh) means."""
    mesh = layout.device_mesh
    assert mesh is not None, "hn.distribution hands backends layouts with a device mesh"
    jax_mesh = _mesh(tuple(mesh.devices.ravel().tolist()), tuple(mesh.shape), tuple(mesh.axis_names))
    return jax.sharding.NamedSharding(jax_mesh, jax.sharding.PartitionSpec(*layout.axes))


def _put(value: Any, where: jax.Device | jax.sharding.Sharding) -> Array:
    """``value`` on a device or laid out by a sharding; across processes each one supplies its own devices' parts
    (every process holds the whole value)."""
    if isinstance(where, jax.Device) or where.is_fully_addressable:
        return jax.device_put(value, where)
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return jax.device_put(value, where)  # a global array: reshard
    host = np.asarray(value)
    return jax.make_array_from_callback(host.shape, where, lambda index: host[index])


def _slicer(x: Array) -> Callable[[Array], Array]:
    """``t -> x[t]`` for a traced step index ``t``."""
    return lambda t: jax.lax.dynamic_index_in_dim(x, t, keepdims=False)


def _scan_prefetched(
    step: Callable[..., tuple[Any, Any]],
    init: Any,
    length: int,
    slicers: tuple[Callable[[Array], Array], ...],
    reverse: bool = False,
) -> tuple[Any, Any]:
    """``jax.lax.scan`` of ``step(carry, *slices_t) -> (carry, y_t)`` over ``length`` steps, each step's slices
    (``slicer(t)``) fetched one step ahead and carried.

    The step then reads its slices as whole arrays: XLA on a CPU compiles a slice
    taken inside fused element-wise code (``dynamic-slice`` in a loop fusion) to
    scalar code, several times slower than the copy a separate fetch is.
    """
    first = length - 1 if reverse else 0

    def prefetching(carried: tuple[Any, tuple[Array, ...]], t: Array) -> tuple[Any, Any]:
        carry, slices = carried
        following = jnp.clip(t - 1 if reverse else t + 1, 0, length - 1)
        carry, y_t = step(carry, *slices)
        return (carry, tuple(slicer(following) for slicer in slicers)), y_t

    start = (init, tuple(slicer(jnp.asarray(first)) for slicer in slicers))
    (carry, _), ys = jax.lax.scan(prefetching, start, jnp.arange(length), reverse=reverse)
    return carry, ys


def _reduce_windows(
    x: Array,
    initial: float,
    reducer: Callable[[Array, Array], Array],
    window: tuple[int, ...],
    strides: tuple[int, ...],
    padding: str,
) -> Array:
    """``reducer`` over each channels-last window; ``initial`` is a concrete identity, so JAX knows its VJP."""
    pads = pool_padding(x.shape[1:-1], window, strides, padding)
    return jax.lax.reduce_window(
        x, np.array(initial, x.dtype), reducer, (1, *window, 1), (1, *strides, 1), ((0, 0), *pads, (0, 0))
    )


def _placed(x: Array, shape: tuple[int, ...], index: tuple[slice, ...], fill: float) -> Array:
    """``x`` at ``index`` of an array of ``shape`` filled with ``fill`` (``x`` itself where it is that shape)."""
    return x if x.shape == shape else jnp.full(shape, fill, x.dtype).at[index].set(x)


if TYPE_CHECKING:  # mypy checks the class against the protocol: a missing or misspelled function fails here
    _check: Backend = JaxBackend()
