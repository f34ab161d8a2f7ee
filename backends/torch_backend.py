"""The PyTorch backend: arrays are ``torch.Tensor`` on a CPU, CUDA or MPS device.

highnn computes its own gradients, so tensors never require grad and compiled
programs run under ``torch.no_grad()``: autograd is never asked.
"""

from __future__ import annotations

import atexit
import functools
import math
import os
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn import grad as kernel_gradients

from highnn.backends.base import (
    Array,
    Axis,
    Backend,
    DeviceUnavailableError,
    Index,
    Layout,
    SingleDevice,
    bfloat16_to_host,
    index_error,
    parse_device,
    pool_counts,
    pool_padded_shape,
    pool_padding,
    scan_loop,
    scan_vjp_loop,
    transposed_crops,
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


def _leave_group() -> None:
    """Destroy the process group ``initialize`` made (one left to the interpreter's exit may abort the process)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def _rank_device(spec: str | None) -> str | None:
    """``cuda`` (or ``gpu``) without an index is ``cuda:LOCAL_RANK`` under a launcher that sets it (torchrun)."""
    if spec is not None and spec.strip().lower() in ("cuda", "gpu") and "LOCAL_RANK" in os.environ:
        return f"cuda:{os.environ['LOCAL_RANK']}"
    return spec


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


#: seconds a collective waits for a rank that does not come (torch's default: 30 minutes)
_TIMEOUT_VARIABLE = "HIGHNN_DISTRIBUTION_TIMEOUT"

_CONVOLUTIONS: dict[int, Callable[..., torch.Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_KERNEL_GRADIENTS: dict[int, Callable[..., torch.Tensor]] = {
    1: kernel_gradients.conv1d_weight,
    2: kernel_gradients.conv2d_weight,
    3: kernel_gradients.conv3d_weight,
}


_TRANSPOSED_CONVOLUTIONS: dict[int, Callable[..., torch.Tensor]] = {
    1: F.conv_transpose1d,
    2: F.conv_transpose2d,
    3: F.conv_transpose3d,
}


def _dilated_conv(
    x: torch.Tensor,
    kernel: torch.Tensor,
    padding: Sequence[tuple[int, int]],
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    groups: int,
) -> torch.Tensor:
    """A stride-1 convolution of channels-first ``x`` dilated by zeros, as the transposed convolution it is.

    ``F.conv_transpose`` is the convolution of the zero-dilated input, padded by
    ``reach - 1 - padding`` on each side (``output_padding`` more at the end),
    with the spatially flipped kernel; so its padding and output padding are
    chosen to crop what ``padding`` leaves out, and ``F.pad`` does any rest.
    """
    rank = x.ndim - 2
    *window, per_group, filters = kernel.shape
    # conv_transpose's weight: (groups x channels per group, filters per group, *window), spatially flipped
    weight = kernel.flip(tuple(range(rank))).reshape(*window, per_group, groups, filters // groups)
    weight = weight.permute(rank + 1, rank, rank + 2, *range(rank)).reshape(-1, filters // groups, *window)
    crops = transposed_crops(window, rhs_dilation, padding)
    shared = [max(0, min(pair)) for pair in crops]
    extra = [
        c - hi if 0 < c - hi < max(s, d) else 0 for (_, hi), c, s, d in zip(crops, shared, lhs_dilation, rhs_dilation)
    ]
    out = _TRANSPOSED_CONVOLUTIONS[rank](
        x, weight, stride=lhs_dilation, padding=shared, output_padding=extra, dilation=rhs_dilation, groups=groups
    )
    rest = [(c - lo, c - hi - e) for (lo, hi), c, e in zip(crops, shared, extra)]  # negative pads crop
    return F.pad(out, _torch_pads(rest)) if any(lo or hi for lo, hi in rest) else out


def _conv_as_kernel_gradient(
    x: torch.Tensor,
    kernel: torch.Tensor,
    padding: Sequence[tuple[int, int]],
    spatial: Sequence[int],
    strides: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
) -> torch.Tensor:
    """A convolution of channels-first ``x`` whose window outnumbers its outputs, as the kernel gradient it is shaped
    like: ``torch.nn.grad.conv*d_weight`` makes the same sums with the batch and channel axes swapped (``x``'s
    channels are contracted like a batch, its batch comes out as channels, the kernel plays the output gradient).
    """
    rank = x.ndim - 2
    if any(lo > 0 or hi > 0 for lo, hi in padding):
        x = F.pad(x, _torch_pads([(max(lo, 0), max(hi, 0)) for lo, hi in padding]))
    # crop to what the outputs read (a view), so that the sizes agree; up to `rhs_dilation - 1` (torch's stride
    # here) more at the end are kept, since torch skips them, and cropping them made torch copy the view
    kept = [(o - 1) * s + k * d for o, s, k, d in zip(spatial, strides, kernel.shape, rhs_dilation)]
    x = x[(slice(None), slice(None)) + tuple(slice(max(-lo, 0), max(-lo, 0) + n) for (lo, _), n in zip(padding, kept))]
    swapped = _KERNEL_GRADIENTS[rank](
        _canonical_strides(x.transpose(0, 1)),
        (kernel.shape[-1], x.shape[0], *spatial),
        _canonical_strides(kernel.permute(rank, rank + 1, *range(rank))),
        stride=rhs_dilation,
        dilation=strides,
    )  # (filters, batch, *spatial)
    return swapped.permute(1, *range(2, rank + 2), 0)


#: torch's channels-last memory format by the number of spatial axes
_CHANNELS_LAST = {2: torch.channels_last, 3: torch.channels_last_3d}


def _canonical_strides(x: torch.Tensor) -> torch.Tensor:
    """``x`` (channels-first) with the standard strides of its memory format, as a view.

    An axis of length 1 may have any stride, and torch then takes channels-last
    data for channels-first (and copies it to a slow layout): the view with the
    standard strides tells it right.
    """
    layout = _CHANNELS_LAST.get(x.ndim - 2)
    if layout is None or not x.is_contiguous(memory_format=layout):
        return x
    strides, stride = [0] * x.ndim, 1
    for axis in (1, *range(x.ndim - 1, 1, -1), 0):  # fastest first: channels, the spatial axes, the batch
        strides[axis] = stride
        stride *= x.shape[axis]
    return x.as_strided(x.shape, strides)


def _stacked_transform(transform: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``transform`` of ``x[0] + i x[1]`` along the last axis, real and imaginary parts stacked alike."""
    out = transform(torch.complex(x[0], x[1]))
    return torch.stack([out.real, out.imag])


def _largest_components(vectors: torch.Tensor) -> torch.Tensor:
    """``(..., 1, k)``: each column's component of largest magnitude."""
    return torch.gather(vectors, -2, vectors.abs().argmax(dim=-2, keepdim=True))


def _checked_indices(name: str, indices: torch.Tensor, size: int) -> torch.Tensor:
    """``indices`` flattened, negative ones counted from the end; out-of-range ones raise the shared error.

    Not checked while a CUDA graph is captured (the check reads the indices on the host, which capture forbids).
    """
    if not (indices.is_cuda and torch.cuda.is_current_stream_capturing()):
        error = index_error(name, indices.detach().cpu().numpy(), size)
        if error is not None:
            raise error
    flat = indices.reshape(-1).long()
    return torch.where(flat < 0, flat + size, flat)


class TorchBackend(SingleDevice):
    """Arrays are ``torch.Tensor``; programs run eagerly under ``torch.no_grad()``."""

    name = "torch"
    project_inputs_in_scan = False  # one product for every step, before the loop
    local_view = True  # one process per device under torchrun; see highnn.distribution.local_view

    def __init__(self, device: str | None = None) -> None:
        self.device = _torch_device(_rank_device(device))
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
        """On CUDA, a non-blocking copy from pinned host memory (the step queued before it keeps running)."""
        if self.device.type != "cuda":
            return self.asarray(array, dtype)
        pinned = torch.from_numpy(np.ascontiguousarray(array, dtype=dtype)).pin_memory()
        return pinned.to(self.device, non_blocking=True)

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
    tan, arcsin, arccos, arctan = (
        staticmethod(torch.tan),
        staticmethod(torch.asin),
        staticmethod(torch.acos),
        staticmethod(torch.atan),
    )
    sinh, cosh, expm1 = staticmethod(torch.sinh), staticmethod(torch.cosh), staticmethod(torch.expm1)
    arcsinh, arccosh, arctanh = staticmethod(torch.asinh), staticmethod(torch.acosh), staticmethod(torch.atanh)
    arctan2 = staticmethod(torch.atan2)
    bitwise_and, bitwise_or, bitwise_xor = (
        staticmethod(torch.bitwise_and),
        staticmethod(torch.bitwise_or),
        staticmethod(torch.bitwise_xor),
    )
    gcd, lcm, nextafter = staticmethod(torch.gcd), staticmethod(torch.lcm), staticmethod(torch.nextafter)
    bitwise_not, left_shift, right_shift = (
        staticmethod(torch.bitwise_not),
        staticmethod(torch.bitwise_left_shift),
        staticmethod(torch.bitwise_right_shift),
    )
    inv, solve, det = staticmethod(torch.linalg.inv), staticmethod(torch.linalg.solve), staticmethod(torch.linalg.det)

    @staticmethod
    def solve_triangular(a: Array, b: Array, lower: bool) -> Array:
        return torch.linalg.solve_triangular(a, b, upper=not lower)

    @staticmethod
    def cholesky(a: Array) -> Array:
        return torch.linalg.cholesky((a + a.transpose(-1, -2)) / 2)  # of the symmetric part, as JAX

    @staticmethod
    def qr(a: Array) -> Array:
        q, r = torch.linalg.qr(a)
        signs = torch.where(torch.diagonal(r, dim1=-2, dim2=-1) < 0, -1.0, 1.0).to(a.dtype)
        q, r = q * signs.unsqueeze(-2), r * signs.unsqueeze(-1)
        return torch.cat([F.pad(q, (0, r.shape[-1] - q.shape[-1])), r], dim=-2)

    fft, ifft = (staticmethod(functools.partial(_stacked_transform, f)) for f in (torch.fft.fft, torch.fft.ifft))

    @staticmethod
    def svd(a: Array) -> Array:
        u, s, vh = torch.linalg.svd(a, full_matrices=False)
        signs = torch.where(_largest_components(u) < 0, -1.0, 1.0).to(a.dtype)
        u, vh, padding = u * signs, vh * signs.transpose(-1, -2), (0, vh.shape[-1] - u.shape[-1])
        return torch.cat([F.pad(u, padding), F.pad(s.unsqueeze(-2), padding), vh], dim=-2)

    @staticmethod
    def eigh(a: Array) -> Array:
        values, vectors = torch.linalg.eigh((a + a.transpose(-1, -2)) / 2)
        return torch.cat([values.unsqueeze(-2), vectors * _largest_components(vectors).sign()], dim=-2)

    erf = staticmethod(torch.special.erf)
    erfc = staticmethod(torch.special.erfc)
    erfinv = staticmethod(torch.special.erfinv)
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

    # random numbers are a hash of (seed, position) computed on the device: the seed is never read on the host,
    # so a step never waits for the device and a captured CUDA graph draws new numbers as its seed moves on
    def random_uniform(self, seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        return _uniform(seed.to(self.device), math.prod(shape), _DTYPES[dtype]).reshape(shape)

    def random_normal(self, seed: Array, shape: tuple[int, ...], dtype: str) -> Array:
        """Box-Muller on two uniform draws per number (the first in (0, 1], so its log is finite)."""
        n, target = math.prod(shape), _DTYPES[dtype]
        working = torch.float32 if target.itemsize < 4 else target  # 16-bit numbers: computed in float32, rounded
        u = _uniform(seed.to(self.device), 2 * n, working)
        radius = torch.sqrt(-2.0 * torch.log1p(-u[:n]))
        return (radius * torch.cos((2 * math.pi) * u[n:])).reshape(shape).to(target)

    # padding and pooling: torch pools channels-first and pads symmetrically, so inputs are permuted and padded first
    @staticmethod
    def pad(x: Array, pad_width: tuple[tuple[int, int], ...], value: float) -> Array:
        return F.pad(x, _torch_pads(pad_width), value=value)

    @staticmethod
    def max_pool(x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        padded = _channels_first_padded(x, window, strides, padding, -torch.inf)
        return _channels_last(_MAX_POOLS[len(window)](padded, window, strides))

    def average_pool(self, x: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Array:
        padded = _averaged_in(_channels_first_padded(x, window, strides, padding, 0.0), window)
        mean = _channels_last(_AVERAGE_POOLS[len(window)](padded, window, strides)).to(x.dtype)
        if padded.shape[2:] == x.shape[1:-1]:  # nothing padded: every window is whole
            return mean
        counts = pool_counts(x.shape[1:-1], window, strides, padding)  # padding is not counted
        return mean * (math.prod(window) / self.asarray(counts, self.dtype(x)))

    # the pooling adjoints: torch's own adjoint kernels (no autograd)
    @staticmethod
    def max_pool_vjp(
        g: Array, x: Array, out: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        """The indices of a pooling pass that records its first maxima, and torch's kernel that adds ``g`` there
        (1-D pooling as 2-D over a unit axis)."""
        lift = len(window) == 1
        if lift:
            x, g, window, strides = x[:, None], g[:, None], (1, *window), (1, *strides)
        padded, indices = _first_maxima(x, window, strides, padding)
        unpooled = _MAX_POOL_ADJOINTS[len(window)](
            torch.movedim(g, -1, 1), padded, window, strides, (0,) * len(window), (1,) * len(window), False, indices
        )
        grad = _channels_last(unpooled)[pool_padded_shape(x.shape, window, strides, padding)[1]]
        return grad[:, 0] if lift else grad

    @staticmethod
    def max_pool_select(
        h: Array, x: Array, out: Array, window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        """``h`` gathered at the indices of a pooling pass that records its first maxima (1-D as 2-D)."""
        lift = len(window) == 1
        if lift:
            x, h, window, strides = x[:, None], h[:, None], (1, *window), (1, *strides)
        _, indices = _first_maxima(x, window, strides, padding)
        values = _channels_first_padded(h, window, strides, padding, 0.0).flatten(2)
        picked = _channels_last(values.gather(2, indices.flatten(2)).reshape(indices.shape))
        return picked[:, 0] if lift else picked

    def average_pool_vjp(
        self, g: Array, shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...], padding: str
    ) -> Array:
        """torch's average-pool adjoint kernel over the padded input (1-D as 2-D over a unit axis), ``g`` scaled
        first where padding is not counted, as the forward pass scales its means."""
        lift = len(window) == 1
        if lift:
            g, shape, window, strides = g[:, None], (shape[0], 1, *shape[1:]), (1, *window), (1, *strides)
        padded, crop = pool_padded_shape(shape, window, strides, padding)
        if padded != shape:
            counts = self.asarray(pool_counts(shape[1:-1], window, strides, padding), self.dtype(g))
            g = g * (math.prod(window) / counts)
        work = _averaged_in(g, window)
        like = torch.empty(  # only its shape and memory format are read: channels last, as the data is
            (padded[0], padded[-1], *padded[1:-1]),
            dtype=work.dtype,
            device=work.device,
            memory_format=_CHANNELS_LAST[len(window)],
        )
        zeros = (0,) * len(window)
        grad = _AVERAGE_POOL_ADJOINTS[len(window)](work.movedim(-1, 1), like, window, strides, zeros, False, True, None)
        grad = _channels_last(grad).to(g.dtype)[crop]
        return grad[:, 0] if lift else grad

    @staticmethod
    def conv_general(
        x: Array,
        kernel: Array,
        strides: tuple[int, ...],
        padding: tuple[tuple[int, int], ...],
        lhs_dilation: tuple[int, ...],
        rhs_dilation: tuple[int, ...],
        feature_group_count: int,
        bias: Array | None = None,
    ) -> Array:
        """``F.conv{1,2,3}d`` on a channels-first view of the channels-last data (torch keeps that memory format,
        so the permutes are free); an input dilated by zeros as ``F.conv_transpose{1,2,3}d``, which skips them;
        a window larger than the output (a kernel's gradient) by torch's kernel-gradient routine. A ``bias``
        (one per filter) is added by the convolution itself where it is a forward one."""
        if any(d > 1 for d in lhs_dilation) and all(s == 1 for s in strides):
            out = _dilated_conv(x.movedim(-1, 1), kernel, padding, lhs_dilation, rhs_dilation, feature_group_count)
            return _plus(out.movedim(1, -1), bias)
        rank = x.ndim - 2
        x = x.movedim(-1, 1)
        if any(d > 1 for d in lhs_dilation):
            spaced = x.new_zeros((*x.shape[:2], *((n - 1) * d + 1 for n, d in zip(x.shape[2:], lhs_dilation))))
            spaced[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in lhs_dilation)] = x
            x = spaced
        window = kernel.shape[:rank]
        spatial = [
            (n + lo + hi - (k - 1) * d - 1) // s + 1
            for n, (lo, hi), k, d, s in zip(x.shape[2:], padding, window, rhs_dilation, strides)
        ]
        if feature_group_count == 1 and math.prod(window) > math.prod(spatial):
            return _plus(_conv_as_kernel_gradient(x, kernel, padding, spatial, strides, rhs_dilation), bias)
        even = all(lo == hi >= 0 for lo, hi in padding)
        if not even:
            x = F.pad(x, _torch_pads(padding))
        pads = tuple(lo for lo, _ in padding) if even else (0,) * rank
        weight = kernel.permute(rank + 1, rank, *range(rank))  # (filters, channels / groups, *window)
        out = _CONVOLUTIONS[rank](
            x, weight, bias, stride=strides, padding=pads, dilation=rhs_dilation, groups=feature_group_count
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
        return scan_loop(body, init, operands, n_xs, init.new_empty((operands[0].shape[0], *init.shape)))

    @staticmethod
    def scan_vjp(g: Array, out: Array, init: Array, *operands: Array, body: Any, n_xs: int) -> Array:
        joined = init.new_empty(sum(x.numel() for x in (init, *operands)))
        return scan_vjp_loop(body, g, out, init, operands, n_xs, joined)

    @staticmethod
    def pick_along_axis(x: Array, indices: Array, axis: int) -> Array:
        return torch.gather(x, axis, indices.long().unsqueeze(axis)).squeeze(axis)

    @staticmethod
    def place_along_axis(updates: Array, indices: Array, size: int, axis: int) -> Array:
        out = updates.new_zeros(updates.shape[:axis] + (size,) + updates.shape[axis:])
        return out.scatter_(axis, indices.long().unsqueeze(axis), updates.unsqueeze(axis))

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

    # fused plan functions (highnn.tracing.fuse rewrites chains of primitives into them)
    @staticmethod
    def linear(x: Array, w: Array, b: Array) -> Array:
        return torch.addmm(b, x, w)

    @staticmethod
    def relu(x: Array) -> Array:
        return torch.relu(x)

    @staticmethod
    def relu_grad(g: Array, out: Array) -> Array:
        """``g`` where the ReLU's output is positive, else 0 (autograd's own fused kernel)."""
        return torch.ops.aten.threshold_backward(g, out, 0)

    @staticmethod
    def sub_scaled(w: Array, g: Array, scale: Array) -> Array:
        return torch.addcmul(w, g, scale, value=-1)

    # in-place twins, for operands the plan proves dead (see highnn.tracing.fuse): no new buffer to allocate
    @staticmethod
    def add_in_place(a: Array, b: Array) -> Array:
        return a.add_(b)

    @staticmethod
    def sub_in_place(a: Array, b: Array) -> Array:
        return a.sub_(b)

    @staticmethod
    def mul_in_place(a: Array, b: Array) -> Array:
        return a.mul_(b)

    @staticmethod
    def relu_in_place(x: Array) -> Array:
        return torch.relu_(x)

    @staticmethod
    def relu_grad_in_place(g: Array, out: Array) -> Array:
        return torch.ops.aten.threshold_backward.grad_input(g, out, 0, grad_input=g)

    @classmethod
    def conv_bias(cls, x: Array, kernel: Array, bias: Array, **conv: Any) -> Array:
        """``conv_general(x, kernel, **conv) + bias`` (one per filter), the bias added by ``F.conv{1,2,3}d``."""
        return cls.conv_general(x, kernel, bias=bias, **conv)

    def compile(
        self,
        fn: Callable[..., Any],
        donate_argnums: Sequence[int] = (),
        jit: bool | None = None,
        in_layouts: Sequence[Layout] | None = None,
        out_layouts: Sequence[Layout] | None = None,
    ) -> Callable[..., Any]:
        """The plan under ``no_grad``; ``torch.compile`` of it only on request (its compile time is long).

        On CUDA the plan is captured as a CUDA graph (one launch per step instead of one per operation)
        unless ``jit`` is False (``compile(jit_compile=False)``): every program has fixed shapes, since
        a traced function compiles one program per input signature.
        """
        plan = torch.no_grad()(fn)
        if jit:
            return torch.compile(plan, dynamic=False)
        return CudaGraphPlan(plan) if self.device.type == "cuda" and jit is None else plan

    # distribution: one process per device (torchrun, Slurm, Ray Train); see highnn.distribution.local_view
    def initialize(
        self, job_addresses: str | None = None, num_processes: int | None = None, process_id: int | None = None
    ) -> None:
        """Join the job's process group (gloo on CPU, NCCL on CUDA) unless the launcher already made one.

        Without arguments the rendezvous comes from torchrun's environment (``MASTER_ADDR``, ``RANK``, ...);
        ``HIGHNN_DISTRIBUTION_TIMEOUT`` (seconds) bounds how long a collective waits for a missing rank.
        """
        if dist.is_initialized():
            return
        options: dict[str, Any] = {"timeout": timedelta(seconds=float(os.environ.get(_TIMEOUT_VARIABLE, 1800)))}
        if job_addresses is not None:
            options |= {
                "init_method": f"tcp://{job_addresses.split(',')[0].strip()}",
                "world_size": num_processes,
                "rank": process_id,
            }
        dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo", **options)
        atexit.register(_leave_group)

    @staticmethod
    def process_index() -> int:
        return dist.get_rank() if dist.is_initialized() else 0

    @staticmethod
    def process_count() -> int:
        return dist.get_world_size() if dist.is_initialized() else 1

    def list_devices(self, device_type: str | None = None) -> list[str]:
        """One device per rank: ``cpu:0``, ``cpu:1``, ... (``cuda:N`` on CUDA), in rank order."""
        kind = device_type or self.device.type
        return [f"{kind}:{rank}" for rank in range(self.process_count())]

    @staticmethod
    def all_reduce(x: Array) -> Array:
        """The sum of ``x`` over the ranks, on a fresh copy (so the step stays pure); ``x`` itself alone."""
        out = x.clone()
        if dist.is_initialized():
            dist.all_reduce(out)
        return out

    @staticmethod
    def all_gather(x: Array, counts: tuple[int, ...]) -> Array:
        """Every rank's ``x`` (rank r's has ``counts[r]`` rows) joined along axis 0 in rank order."""
        if not dist.is_initialized():
            return x
        padded = x.new_zeros((max(counts), *x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in counts]
        dist.all_gather(parts, padded)
        return torch.cat([part[:count] for part, count in zip(parts, counts)])

    @staticmethod
    def broadcast(x: Array) -> Array:
        """Rank 0's ``x`` on every rank (a fresh copy)."""
        out = x.clone()
        if dist.is_initialized():
            dist.broadcast(out, src=0)
        return out

    @staticmethod
    def barrier() -> None:
        if dist.is_initialized():
            dist.barrier()


class CudaGraphPlan:
    """A plan captured as a CUDA graph on its first call, then replayed with each call's arguments.

    The plan is pure (it writes none of its arguments), so warming it up on the real arguments
    changes nothing. Each call copies its arguments into the graph's input buffers and returns
    copies of its output buffers (the next replay overwrites them). A plan that cannot be
    captured runs as it is, with a warning.
    """

    def __init__(self, plan: Callable[..., tuple[torch.Tensor, ...]]) -> None:
        self.plan = plan
        self.graph: torch.cuda.CUDAGraph | None = None
        self.capturable = True
        self.inputs: list[torch.Tensor] = []
        self.outputs: tuple[torch.Tensor, ...] = ()

    def __call__(self, *arguments: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.graph is None and self.capturable:
            try:
                self.graph = self._capture(arguments)
            except RuntimeError as error:  # an operation that cannot be captured: run the plan as it is
                warnings.warn(f"The step runs without a CUDA graph, since capturing it failed: {error}", stacklevel=2)
                self.capturable = False
        if self.graph is None:
            return self.plan(*arguments)
        for buffer, argument in zip(self.inputs, arguments):
            buffer.copy_(argument, non_blocking=True)
        self.graph.replay()
        return tuple(output.clone() for output in self.outputs)

    def _capture(self, arguments: Sequence[torch.Tensor]) -> torch.cuda.CUDAGraph:
        """Warm up on a side stream (as PyTorch's CUDA-graph recipe asks), then record one run."""
        self.inputs = [argument.clone() for argument in arguments]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self.plan(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.outputs = self.plan(*self.inputs)
        return graph


_MASK32 = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mix (xorshift-multiply rounds) on int64 tensors holding values below 2**32.

    The multipliers are below 2**31, so no product overflows int64 and every device computes the same bits.
    """
    for multiplier in (0x7FEB352D, 0x2C1B3C6D, 0x297A2D39):
        x = ((x ^ (x >> 16)) * multiplier) & _MASK32
    return x ^ (x >> 16)


def _uniform(seed: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """``n`` numbers in [0, 1) from an integer seed tensor, as many random bits as the type's significand holds
    (53 for float64, 24 for float32, 11 for float16, 8 for bfloat16), so none rounds up to 1."""
    seed = seed.long()
    key = _hash32(_hash32(seed & _MASK32) ^ ((seed >> 32) & _MASK32))
    if dtype == torch.float64:
        bits = _hash32(_hash32(torch.arange(2 * n, device=seed.device)) ^ key)
        return (((bits[:n] >> 5) << 26) | (bits[n:] >> 6)).to(dtype) * 2.0**-53  # 27 + 26 bits
    bits = _hash32(_hash32(torch.arange(n, device=seed.device)) ^ key)
    digits = 1 - round(math.log2(torch.finfo(dtype).eps))  # significand bits: 24, 11, 8
    return ((bits >> (32 - digits)).to(torch.float32) * 2.0**-digits).to(dtype)


_MAX_POOLS = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
#: the 16-bit float dtypes, which torch's CPU 3-D average pooling has no kernels for
_HALF_DTYPES = (torch.float16, torch.bfloat16)
_AVERAGE_POOLS = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_AVERAGE_POOL_ADJOINTS = {2: torch.ops.aten.avg_pool2d_backward, 3: torch.ops.aten.avg_pool3d_backward}
_MAX_POOL_ADJOINTS = {
    2: torch.ops.aten.max_pool2d_with_indices_backward,
    3: torch.ops.aten.max_pool3d_with_indices_backward,
}


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


def _first_maxima(
    x: torch.Tensor, window: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` channels first and padded (the padding never a maximum), and the flat spatial index of each window's
    first maximum, from a pooling pass that records them."""
    padded = _channels_first_padded(x, window, strides, padding, -torch.inf)
    return padded, _MAX_POOLS[len(window)](padded, window, strides, return_indices=True)[1]


def _averaged_in(x: torch.Tensor, window: tuple[int, ...]) -> torch.Tensor:
    """``x`` in a dtype torch averages windows in: float32 for 16-bit floats in 3-D on a CPU, which has no kernel."""
    return x.float() if len(window) == 3 and x.device.type == "cpu" and x.dtype in _HALF_DTYPES else x


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return torch.movedim(x, 1, -1)


def _plus(x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return x if bias is None else x + bias


if TYPE_CHECKING:  # mypy checks the class against the protocol: a missing or misspelled function fails here
    _check: Backend = TorchBackend()
