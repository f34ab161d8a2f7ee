"""The PyTorch backend: arrays are ``torch.Tensor`` on a CPU, CUDA or MPS device.

highnn computes its own gradients, so tensors never require grad and compiled
programs run under ``torch.no_grad()``: autograd is never asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from highnn.backends.base import (
    Array,
    Axis,
    Backend,
    DeviceUnavailableError,
    Index,
    bfloat16_to_host,
    index_error,
    parse_device,
    pool_counts,
    pool_padding,
    scan_loop,
    scan_vjp_loop,
)

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def _torch_device(spec: str | None) -> torch.device:
    """The torch device ``spec`` names; a one-line error says how to get it when it is not there."""
    kind, index = parse_device(spec, "torch")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "tpu":
        raise DeviceUnavailableError(
            f"The torch backend cannot run on {spec!r}: use the jax backend for TPUs (HIGHNN_BACKEND=jax)."
        )
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        fix = "install a CUDA build of PyTorch (https://pytorch.org/get-started) or set HIGHNN_DEVICE=cpu"
    else:
        count = int(torch.backends.mps.is_available())
        fix = "MPS needs PyTorch on Apple silicon with macOS 12.3 or later; otherwise set HIGHNN_DEVICE=cpu"
    if index >= count:
        raise DeviceUnavailableError(
            f"The torch backend cannot use {spec!r}: PyTorch sees {count} {kind} device(s); {fix}."
        )
    return torch.device(kind, index)


def _reduce(reduction: Callable[..., torch.Tensor], x: torch.Tensor, axis: Axis, keepdims: bool) -> torch.Tensor:
    """Apply a torch reduction with NumPy's axis meaning: ``None`` is every axis, ``()`` none.

    torch reads ``dim=()`` as every axis, so reducing nothing is done as reducing
    a new length-1 axis (which keeps torch's result dtype, as NumPy keeps its own).
    """
    if axis == ():
        return reduction(x.unsqueeze(0), dim=0)
    return reduction(x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def _forward_steps(index: Index, shape: tuple[int, ...]) -> tuple[Index, tuple[int, ...]]:
    """``index`` with each negative-step slice turned forward, and the result axes to flip back.

    torch slices only step forward; ``x[a:b:-s]`` is the flip of the forward
    slice that selects the same elements.
    """
    parts = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(p, slice) and p.step is not None and p.step < 0 for p in parts):
        return index, ()
    consumed = len([p for p in parts if p is not None and p is not Ellipsis])
    forward: list[Any] = []
    flips: list[int] = []
    axis = result_axis = 0
    for part in parts:
        if part is Ellipsis:
            axis += len(shape) - consumed
            result_axis += len(shape) - consumed
        elif part is None:
            result_axis += 1
        elif isinstance(part, slice):
            if part.step is not None and part.step < 0:
                chosen = range(*part.indices(shape[axis]))
                part = slice(chosen[-1], chosen[0] + 1, -part.step) if chosen else slice(0, 0)
                flips.append(result_axis)
            axis += 1
            result_axis += 1
        else:  # an integer removes its axis
            axis += 1
        forward.append(part)
    return tuple(forward), tuple(flips)


_CONVOLUTIONS: dict[int, Callable[..., torch.Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _checked_indices(name: str, indices: torch.Tensor, size: int) -> torch.Tensor:
    """``indices`` flattened, negative ones counted from the end; out-of-range ones raise the shared error."""
    error = index_error(name, indices.detach().cpu().numpy(), size)
    if error is not None:
        raise error
    flat = indices.reshape(-1).long()
    return torch.where(flat < 0, flat + size, flat)


class TorchBackend:
    """Arrays are ``torch.Tensor``; programs run eagerly under ``torch.no_grad()``."""

    name = "torch"

    def __init__(self, device: str | None = None) -> None:
        self.device = _torch_device(device)
        self.device_name = str(self.device)

    def asarray(self, value: Any, dtype: str) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value.detach().to(device=self.device, dtype=_DTYPES[dtype])
        array = np.asarray(value, dtype="float32" if dtype == "bfloat16" else dtype)  # NumPy lacks bfloat16
        if not array.flags.writeable or any(stride < 0 for stride in array.strides):
            array = array.copy()  # torch shares NumPy memory and supports neither read-only nor reversed views
        return torch.as_tensor(array, device=self.device).to(_DTYPES[dtype])

    @staticmethod
    def where(condition: Array, a: Array, b: Array) -> Array:
        return torch.where(condition, a, b)  # a def: mypy sees only the first overload of `staticmethod(torch.where)`

    @staticmethod
    def log_softmax(x: torch.Tensor, axis: tuple[int, ...]) -> torch.Tensor:
        return torch.log_softmax(x, dim=axis[0]) if len(axis) == 1 else x - torch.logsumexp(x, dim=axis, keepdim=True)

    def batch(self, array: np.ndarray, dtype: str) -> torch.Tensor:
        return self.asarray(array, dtype)

    @staticmethod
    def to_numpy(x: Array) -> np.ndarray:
        if x.dtype == torch.bfloat16:  # NumPy has no bfloat16 of its own: float32 holds it exactly
            return bfloat16_to_host(x.detach().cpu().float().numpy())
        return x.detach().cpu().numpy()

    def dtype(self, x: Array) -> str:
        return str(x.dtype).removeprefix("torch.")

    @staticmethod
    def is_array(value: Any) -> bool:
        return isinstance(value, torch.Tensor)

    def enable_float64(self, on: bool) -> None:
        pass

    add, sub = staticmethod(torch.add), staticmethod(torch.sub)
    mul, div = staticmethod(torch.mul), staticmethod(torch.div)
    pow, maximum, minimum = staticmethod(torch.pow), staticmethod(torch.maximum), staticmethod(torch.minimum)
    equal, not_equal = staticmethod(torch.eq), staticmethod(torch.ne)
    greater, greater_equal = staticmethod(torch.gt), staticmethod(torch.ge)
    less, less_equal = staticmethod(torch.lt), staticmethod(torch.le)
    neg = staticmethod(torch.neg)
    exp, log = staticmethod(torch.exp), staticmethod(torch.log)
    log1p, tanh, sqrt = staticmethod(torch.log1p), staticmethod(torch.tanh), staticmethod(torch.sqrt)
    abs, sign, floor = staticmethod(torch.abs), staticmethod(torch.sign), staticmethod(torch.floor)
    sin, cos = staticmethod(torch.sin), staticmethod(torch.cos)
    erf = staticmethod(torch.special.erf)
    matmul = staticmethod(torch.matmul)

    # the engine passes static arguments by the protocol's names, which torch spells differently
    @staticmethod
    def reshape(x: Array, shape: tuple[int, ...]) -> Array:
        return torch.reshape(x, shape)

    @staticmethod
    def transpose(x: Array, axes: tuple[int, ...]) -> Array:
        return torch.permute(x, axes)

    @staticmethod
    def broadcast_to(x: Array, shape: tuple[int, ...]) -> Array:
        return torch.broadcast_to(x, shape)  # a stride-0 view: safe, since nothing writes in place

    @staticmethod
    def sum(x: Array, axis: Axis, keepdims: bool) -> Array:
        return _reduce(torch.sum, x, axis, keepdims)

    @staticmethod
    def max(x: Array, axis: Axis, keepdims: bool) -> Array:
        return _reduce(torch.amax, x, axis, keepdims)

    @staticmethod
    def getitem(x: Array, index: Index) -> Array:
        forward, flips = _forward_steps(index, tuple(x.shape))
        return x[forward].flip(flips) if flips else x[forward]

    @staticmethod
    def unindex(g: Array, shape: tuple[int, ...], index: Index) -> Array:
        forward, flips = _forward_steps(index, shape)
        out = torch.zeros(shape, dtype=g.dtype, device=g.device)
        out[forward] = g.flip(flips) if flips else g
        return out

    @staticmethod
    def cast(x: Array, dtype: str) -> Array:
        return x.to(_DTYPES[dtype])

    def random_uniform(self, seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        return torch.rand(shape, generator=self._generator(seed), dtype=_DTYPES[dtype], device=self.device)

    def random_normal(self, seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        return torch.randn(shape, generator=self._generator(seed), dtype=_DTYPES[dtype], device=self.device)

    def _generator(self, seed: Array) -> torch.Generator:
        """A fresh generator on this device: the same seed gives the same numbers."""
        return torch.Generator(device=self.device).manual_seed(int(seed))

    # padding and pooling: torch pools channels-first and pads symmetrically, so inputs are permuted and padded first
    @staticmethod
    def pad(x: Array, pad_width: tuple[tuple[int, int], ...], value: float) -> Array:
        return F.pad(x, _torch_pads(pad_width), value=value)

    @staticmethod
    def max_pool(x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        padded = _channels_first_padded(x, window, strides, padding, -torch.inf)
        return _channels_last(_MAX_POOLS[len(window)](padded, window, strides))

    def average_pool(self, x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        padded = _channels_first_padded(x, window, strides, padding, 0.0)
        if len(window) == 3 and padded.device.type == "cpu" and padded.dtype in (torch.float16, torch.bfloat16):
            padded = padded.float()  # torch's CPU avg_pool3d has no 16-bit kernel: average in float32
        mean = _channels_last(_AVERAGE_POOLS[len(window)](padded, window, strides)).to(x.dtype)
        if padded.shape[2:] == x.shape[1:-1]:  # nothing padded: every window is whole
            return mean
        counts = pool_counts(x.shape[1:-1], window, strides, padding)  # padding is not counted
        return mean * (math.prod(window) / self.asarray(counts, self.dtype(x)))

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
        """``F.conv{1,2,3}d`` on a channels-first view; input dilation by zero insertion, uneven or negative
        padding by ``F.pad`` (which crops where it is negative)."""
        rank = x.ndim - 2
        x = x.movedim(-1, 1)
        if any(d > 1 for d in lhs_dilation):
            spaced = x.new_zeros((*x.shape[:2], *((n - 1) * d + 1 for n, d in zip(x.shape[2:], lhs_dilation))))
            spaced[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in lhs_dilation)] = x
            x = spaced
        even = all(lo == hi >= 0 for lo, hi in padding)
        if not even:
            x = F.pad(x, [side for pair in reversed(padding) for side in pair])
        weight = kernel.permute(rank + 1, rank, *range(rank))  # (filters, channels / groups, *window)
        out = _CONVOLUTIONS[rank](
            x,
            weight,
            stride=strides,
            padding=tuple(lo for lo, _ in padding) if even else 0,
            dilation=rhs_dilation,
            groups=feature_group_count,
        )
        return out.movedim(1, -1)

    # gather/scatter and recurrence
    @staticmethod
    def take(x: Array, indices: Array, axis: int) -> Array:
        flat = _checked_indices("take", indices, x.shape[axis])
        return torch.index_select(x, axis, flat).reshape(x.shape[:axis] + indices.shape + x.shape[axis + 1 :])

    @staticmethod
    def scatter_add(updates: Array, indices: Array, shape: tuple[int, ...], axis: int) -> Array:
        flat = _checked_indices("scatter_add", indices, shape[axis])
        out = torch.zeros(shape, dtype=updates.dtype, device=updates.device)
        return out.index_add(axis, flat, updates.reshape(shape[:axis] + (flat.numel(),) + shape[axis + 1 :]))

    @staticmethod
    def scan(init: Array, *operands: Array, body: Any, n_xs: int) -> Array:
        return torch.stack(scan_loop(body, init, operands, n_xs))

    @staticmethod
    def scan_vjp(g: Array, out: Array, init: Array, *operands: Array, body: Any, n_xs: int) -> Array:
        g_init, g_xs, g_consts = scan_vjp_loop(body, g, out, init, operands, n_xs)
        parts = [g_init, *(torch.stack(steps) for steps in g_xs), *g_consts]
        return torch.cat([p.reshape(-1) for p in parts])

    # keras.ops support: scans, sorting and rounding
    @staticmethod
    def cumsum(x: Array, axis: int) -> Array:
        return torch.cumsum(x, dim=axis, dtype=x.dtype)

    @staticmethod
    def cumprod(x: Array, axis: int) -> Array:
        return torch.cumprod(x, dim=axis, dtype=x.dtype)

    @staticmethod
    def argsort(x: Array, axis: int) -> Array:
        return torch.argsort(x, dim=axis, stable=True).to(torch.int32)

    @staticmethod
    def round(x: Array) -> Array:
        return torch.round(x)

    # merging
    @staticmethod
    def concatenate(a: Array, b: Array, axis: int) -> Array:
        return torch.cat((a, b), dim=axis)

    def compile(
        self, fn: Callable[..., Any], donate_argnums: Sequence[int] = (), jit: bool | None = None
    ) -> Callable[..., Any]:
        """The plan under ``no_grad``; ``torch.compile`` of it only on request (its compile time is long)."""
        plan = torch.no_grad()(fn)
        return torch.compile(plan, dynamic=False) if jit else plan


_MAX_POOLS = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVERAGE_POOLS = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _torch_pads(pad_width: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """(before, after) per axis as ``F.pad`` wants them: flat, last axis first."""
    return tuple(width for pair in reversed(pad_width) for width in pair)


def _channels_first_padded(
    x: torch.Tensor, window: tuple[int, ...], strides: tuple[int, ...], padding: str, fill: float
) -> torch.Tensor:
    """``(batch, *spatial, channels)`` as ``(batch, channels, *spatial)``, with Keras's "same" padding of ``fill``."""
    x = torch.movedim(x, -1, 1)
    pads = pool_padding(x.shape[2:], window, strides, padding)
    return F.pad(x, _torch_pads(pads), value=fill) if any(before or after for before, after in pads) else x


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return torch.movedim(x, 1, -1)


if TYPE_CHECKING:  # mypy checks the class against the protocol: a missing or misspelled function fails here
    _check: Backend = TorchBackend()
