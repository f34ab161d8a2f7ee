"""Keras's ``keras.ops`` scatter, slice and segment functions, built on the ``take`` and ``scatter_add`` primitives
(so gradients flow to the values, updates and data).

Start indices may be tensors, also in a traced step: as JAX's dynamic slices, they are clamped so that the slice
fits in the input. Indices given to ``scatter`` and ``scatter_update`` that repeat a position add up their values.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from highnn.checks import fail, is_integer
from highnn.graph import Tensor, TensorLike, is_tracing, to_tensor
from highnn.ops import composites as C
from highnn.ops.numpy_ops import ones_like, prod, where
from highnn.ops.primitives import cast, concatenate, greater, max, scatter_add, take


def _positions(owner: str, indices: TensorLike, shape: tuple[int, ...]) -> tuple[Tensor, int]:
    """Rows of ``k`` indices into the first ``k`` axes of ``shape`` as flat positions, and ``k``."""
    index = to_tensor(indices)
    index = index if index.dtype in ("int32", "int64") else cast(index, "int32")
    if index.ndim < 1 or not 1 <= index.shape[-1] <= len(shape):
        fail(owner, "indices", f"integer rows of 1 to {len(shape)} indices, shape (..., k)", f"shape {index.shape}")
    k = index.shape[-1]
    strides = [math.prod(shape[j + 1 : k]) for j in range(k)]
    positions = sum(index[..., j] * stride for j, stride in enumerate(strides))
    return cast(to_tensor(positions), "int32").reshape(-1), k


def scatter(indices: TensorLike, values: TensorLike, shape: Sequence[int]) -> Tensor:
    """Zeros of ``shape`` with ``values`` added at ``indices`` (rows of ``k`` indices; each value is a slice of
    the last ``len(shape) - k`` axes)."""
    shape = tuple(int(n) for n in shape)
    positions, k = _positions("scatter", indices, shape)
    block = math.prod(shape[k:])
    values = to_tensor(values)
    if math.prod(values.shape) != positions.shape[0] * block:
        fail("scatter", "values", f"one slice of shape {shape[k:]} per row of indices", f"shape {values.shape}")
    flat = values.reshape(positions.shape[0], block)
    return scatter_add(flat, positions, shape=(math.prod(shape[:k]), block), axis=0).reshape(shape)


def scatter_update(inputs: TensorLike, indices: TensorLike, updates: TensorLike) -> Tensor:
    """``inputs`` with the slices at ``indices`` replaced by ``updates``."""
    x = to_tensor(inputs)
    updates = cast(to_tensor(updates), x.dtype)
    hit = greater(scatter(indices, ones_like(updates), x.shape), 0)
    return where(hit, scatter(indices, updates, x.shape), x)


def _starts(owner: str, x: Tensor, start_indices: Any, sizes: Sequence[int]) -> list[Any]:
    """Each axis's start: a Python int, or an int32 tensor clamped so that ``sizes`` fit."""
    starts = list(start_indices) if isinstance(start_indices, (list, tuple)) else None
    if starts is None and isinstance(start_indices, Tensor) and start_indices.ndim == 1:
        starts = [start_indices[i] for i in range(start_indices.shape[0])]
    if starts is None or len(starts) != x.ndim or len(sizes) != x.ndim:
        fail(owner, "start_indices", f"one start per axis of the input ({x.ndim})", start_indices)
    resolved: list[Any] = []
    for start, size, n in zip(starts, sizes, x.shape):
        if not 0 <= size <= n:
            fail(owner, "shape", f"sizes that fit the input {x.shape}", tuple(sizes))
        if is_integer(start):
            resolved.append(builtins.min(builtins.max(int(start), 0), n - size))
        else:
            resolved.append(C.clip(cast(to_tensor(start), "int32"), 0, n - size))
    return resolved


def slice(inputs: TensorLike, start_indices: Any, shape: Sequence[int]) -> Tensor:
    """The block of ``shape`` at ``start_indices`` (ints or tensors) of ``inputs``."""
    x = to_tensor(inputs)
    sizes = [int(n) for n in shape]
    for axis, (start, size) in enumerate(zip(_starts("slice", x, start_indices, sizes), sizes)):
        if is_integer(start):
            x = x[(builtins.slice(None),) * axis + (builtins.slice(start, start + size),)]
        else:
            x = take(x, start + np.arange(size, dtype=np.int32), axis=axis)
    return x


def slice_update(inputs: TensorLike, start_indices: Any, updates: TensorLike) -> Tensor:
    """``inputs`` with the block at ``start_indices`` (ints or tensors) replaced by ``updates``."""
    x = to_tensor(inputs)
    updates = cast(to_tensor(updates), x.dtype)
    starts = _starts("slice_update", x, start_indices, list(updates.shape))
    grids = np.indices(updates.shape, dtype=np.int32)  # (rank, *updates.shape): each position's offsets
    rows = [start + grids[axis] for axis, start in enumerate(starts)]
    index = concatenate([to_tensor(row).reshape(-1, 1) for row in rows], 1)
    return scatter_update(x, index, updates.reshape(-1))


def _segments(
    owner: str, data: TensorLike, segment_ids: TensorLike, num_segments: int | None
) -> tuple[Tensor, Tensor, int]:
    values, ids = to_tensor(data), to_tensor(segment_ids)
    ids = ids if ids.dtype in ("int32", "int64") else cast(ids, "int32")
    if ids.ndim != 1 or not values.ndim or ids.shape[0] != values.shape[0]:
        fail(owner, "segment_ids", f"one id per row of data ({values.shape[0] if values.ndim else 0})",
             f"shape {ids.shape}")  # fmt: skip
    if num_segments is None:
        if is_tracing():
            fail(owner, "num_segments", "an int inside a traced step (the output's length)", None)
        num_segments = int(np.max(ids.numpy(), initial=-1)) + 1
    return values, ids, int(num_segments)


def segment_sum(
    data: TensorLike, segment_ids: TensorLike, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """The sum of the rows of ``data`` in each segment (ids in ``[0, num_segments)``; without ``num_segments``,
    one past the largest id, read eagerly)."""
    values, ids, count = _segments("segment_sum", data, segment_ids, num_segments)
    return scatter_add(values, ids, shape=(count, *values.shape[1:]), axis=0)


def segment_max(
    data: TensorLike, segment_ids: TensorLike, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """The largest row of ``data`` in each segment, elementwise (``-inf``, or the smallest integer, for an empty
    segment)."""
    values, member = _membership("segment_max", data, segment_ids, num_segments)
    lowest = -math.inf if values.dtype.startswith(("float", "bfloat")) else int(np.iinfo(values.dtype).min)
    return max(where(member, _spread(values), lowest), axis=0)


def segment_min(
    data: TensorLike, segment_ids: TensorLike, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """The smallest row of ``data`` in each segment, elementwise (``inf``, or the largest integer, if empty)."""
    values, member = _membership("segment_min", data, segment_ids, num_segments)
    highest = math.inf if values.dtype.startswith(("float", "bfloat")) else int(np.iinfo(values.dtype).max)
    return C.min(where(member, _spread(values), highest), axis=0)


def segment_prod(
    data: TensorLike, segment_ids: TensorLike, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """The product of the rows of ``data`` in each segment (1 for an empty segment)."""
    values, member = _membership("segment_prod", data, segment_ids, num_segments)
    return prod(where(member, _spread(values), 1), axis=0)


def _membership(
    owner: str, data: TensorLike, segment_ids: TensorLike, num_segments: int | None
) -> tuple[Tensor, Tensor]:
    """The data, and whether each row is in each segment, ``(rows, segments, 1...)``."""
    values, ids, count = _segments(owner, data, segment_ids, num_segments)
    member = greater(C.one_hot(ids, count, "int32"), 0)
    return values, member.reshape(*member.shape, *[1] * (values.ndim - 1))


def _spread(values: Tensor) -> Tensor:
    """``values`` with a segments axis after the rows."""
    return values.reshape(values.shape[0], 1, *values.shape[1:])
