"""The NumPy backend: the default, CPU only, nothing else to install."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from highnn.backends.base import (
    Array,
    Axis,
    Backend,
    DeviceUnavailableError,
    Index,
    index_error,
    parse_device,
    scan_loop,
    scan_vjp_loop,
)

try:  # SciPy's erf is vectorised; the fallback is exact but loops in Python
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover - exercised only without SciPy
    _erf = np.vectorize(math.erf, otypes=[np.float64])


_SAME_WIDTH_INTEGER = {2: np.int16, 4: np.int32, 8: np.int64}
_BIT_SELECT_MIN_SIZE = 4096  # below this np.where's lower call overhead wins


class NumpyBackend:
    """Arrays are ``np.ndarray``; programs run as flat Python plans."""

    name = "numpy"
    device_name = "cpu"

    def __init__(self, device: str | None = None) -> None:
        kind, _ = parse_device(device, self.name)
        if kind != "cpu":
            raise DeviceUnavailableError(
                f"The numpy backend runs on the CPU only, not {device!r}: "
                "use HIGHNN_BACKEND=torch or jax for accelerators."
            )

    def asarray(self, value: Any, dtype: str) -> np.ndarray:
        return np.asarray(value, dtype=dtype)

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
    abs, sign, floor, matmul = (
        staticmethod(np.abs),
        staticmethod(np.sign),
        staticmethod(np.floor),
        staticmethod(np.matmul),
    )
    sin, cos = staticmethod(np.sin), staticmethod(np.cos)
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
    def log_softmax(x: Array, axis: tuple[int, ...]) -> Array:
        shifted = x - np.maximum.reduce(x, axis=axis, keepdims=True)
        return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))

    @staticmethod
    def erf(x: Array) -> Array:
        return np.asarray(_erf(x), dtype=x.dtype)

    # ufunc methods skip the dispatch layers of np.sum/np.transpose: these run on every replayed step
    # (NumPy's stubs accept `keepdims` only as a literal, hence the ignores)
    @staticmethod
    def sum(x: Array, axis: Axis, keepdims: bool) -> Array:
        return np.add.reduce(x, axis=axis, keepdims=keepdims)  # type: ignore[call-overload]

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
        return np.asarray(x).astype(dtype, copy=False)

    @staticmethod
    def random_uniform(seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        return np.random.default_rng(int(seed)).random(shape, dtype=np.dtype(dtype))

    @staticmethod
    def random_normal(seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        return np.random.default_rng(int(seed)).standard_normal(shape, dtype=np.dtype(dtype))

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
        return np.stack(scan_loop(body, init, operands, n_xs))

    @staticmethod
    def scan_vjp(g: Array, out: Array, init: Array, *operands: Array, body: Any, n_xs: int) -> Array:
        g_init, g_xs, g_consts = scan_vjp_loop(body, g, out, init, operands, n_xs)
        parts = [g_init, *(np.stack(steps) for steps in g_xs), *g_consts]
        return np.concatenate([np.ravel(p) for p in parts])

    def compile(
        self, fn: Callable[..., Any], donate_argnums: Sequence[int] = (), jit: bool | None = None
    ) -> Callable[..., Any]:
        return fn  # the generated plan is already the fastest NumPy form


if TYPE_CHECKING:  # mypy checks the class against the protocol: a missing or misspelled function fails here
    _check: Backend = NumpyBackend()
