"""Turning user arrays into checked, shuffled minibatches on the active backend (Algorithm 2.2's sampling)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from highnn import random
from highnn.backends import Backend, to_host
from highnn.checks import check_integer, check_number
from highnn.config import settings
from highnn.graph import Tensor


def to_numpy(value: Any, argument: str) -> np.ndarray:
    """NumPy view of lists, NumPy, torch or JAX arrays and highnn tensors; a clear error otherwise."""
    if isinstance(value, Tensor):
        return value.numpy()
    try:
        array = np.asarray(to_host(value))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`{argument}` must be an array (NumPy, torch, JAX or nested lists), "
            f"received {type(value).__name__}: {error}"
        ) from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(f"`{argument}` must hold numbers, received an array of dtype {array.dtype}.")
    if array.ndim == 0:
        raise ValueError(f"`{argument}` must have a batch axis, received a scalar.")
    return array


def check_finite(array: np.ndarray, argument: str) -> None:
    """Reject NaN and Inf, naming where the first one is."""
    if array.dtype.kind != "f":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(array, axis=None)
    if np.isfinite(total):
        return  # NaN and Inf always reach the sum, so a finite sum needs no full mask
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        count = int(bad.sum())
        raise ValueError(
            f"`{argument}` contains {count} NaN or Inf value(s), the first at index {where}; "
            "clean or impute the data first."
        )


def is_target(argument: str) -> bool:
    """Whether ``argument`` names targets (``y``, or ``y_1``, ... for the further outputs): labels keep their type."""
    return argument == "y" or argument.startswith("y_")


def prepare(arrays: dict[str, Any], owner: str) -> dict[str, np.ndarray]:
    """Check and convert ``{"x": ..., "y": ..., "sample_weight": ...}`` (None entries dropped) for ``owner``.

    Floats become floatx (converted once, in place of the data when it already
    is floatx); integer labels stay integers. Values that overflow floatx are
    rejected like NaN and Inf. All arrays must hold the same, non-zero number
    of examples.
    """
    out: dict[str, np.ndarray] = {}
    for argument, value in arrays.items():
        if value is None:
            continue
        array = to_numpy(value, argument)
        converted = array
        if array.dtype.kind in "fb" or not is_target(argument):
            with np.errstate(over="ignore"):  # overflow becomes inf, which the check below reports
                converted = array.astype(settings.floatx, copy=False)
        try:
            check_finite(converted, argument)
        except ValueError:
            if converted is array:
                raise
            check_finite(array, argument)  # NaN or Inf in the data itself is reported as such
            raise ValueError(
                f"{owner}: `{argument}` must hold values within the {settings.floatx} range, "
                f"received values from {array.min()} to {array.max()}."
            ) from None
        out[argument] = converted
    sizes = {argument: len(array) for argument, array in out.items()}
    if len(set(sizes.values())) > 1:
        described = ", ".join(f"{argument} sizes: {size}" for argument, size in sizes.items())
        raise ValueError(
            f"Data cardinality is ambiguous: {described}. Make sure all arrays contain the same number of samples."
        )
    if 0 in sizes.values():
        shapes = ", ".join(f"{argument} of shape {array.shape}" for argument, array in out.items())
        raise ValueError(f"{owner}: `x` must hold at least one example, received {shapes}.")
    return out


def split_validation(
    arrays: dict[str, np.ndarray], validation_split: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The last ``validation_split`` fraction of the examples (before shuffling) is held out, as in Keras."""
    check_number("fit", "validation_split", validation_split, 0.0, 1.0, high_open=True)
    n = len(next(iter(arrays.values())))
    cut = n - int(n * validation_split)
    if cut == 0 or cut == n:
        raise ValueError(
            f"`validation_split={validation_split}` leaves no {'training' if cut == 0 else 'validation'} "
            f"examples out of {n}."
        )
    return {k: v[:cut] for k, v in arrays.items()}, {k: v[cut:] for k, v in arrays.items()}


#: Keras's batch size when none is given
DEFAULT_BATCH_SIZE = 32


def check_batch_size(
    owner: str, batch_size: Any, argument: str = "batch_size", default: int = DEFAULT_BATCH_SIZE
) -> int:
    """``batch_size`` as an integer >= 1; ``None`` means ``default`` (Keras's 32)."""
    return default if batch_size is None else check_integer(owner, argument, batch_size, 1)


def check_steps(owner: str, argument: str, steps: Any) -> int | None:
    """A number of steps as an integer >= 1; ``None`` means a whole pass over the data."""
    return None if steps is None else check_integer(owner, argument, steps, 1)


#: the most bytes of examples a pass takes (gathers, converts) at once: whole batches, at least one. Small
#: batches share a gather (one per 256 KiB: 31 batches of the 64-64-10 MLP); a batch this large or larger is
#: gathered alone, so chunks never hold more memory than a batch and the one prefetched after it
GATHER_BYTES = 1 << 18


#: every batch a pass hands out as a NumPy array starts on a multiple of this many bytes: XLA's CPU runtime reads
#: such a batch in place, where it copies a less aligned one first (4-5 µs a step of the 64-64-10 MLP on JAX)
BATCH_ALIGNMENT = 64


def aligned_batches(rows: np.ndarray, batch_size: int, dtype: np.dtype) -> list[np.ndarray]:
    """``rows`` in ``dtype``, cut into batches of ``batch_size`` rows (the last may be shorter), each starting on
    a :data:`BATCH_ALIGNMENT`-byte boundary: views of ``rows`` where they already are, else of one new buffer."""
    row_shape = rows.shape[1:]
    row_bytes = dtype.itemsize * math.prod(row_shape)
    unit = BATCH_ALIGNMENT // math.gcd(row_bytes, BATCH_ALIGNMENT)  # the fewest rows that fill whole alignments
    stride = -(-batch_size // unit) * unit  # rows from one batch's start to the next one's
    starts = range(0, len(rows), batch_size)
    aligned = rows.flags.c_contiguous and rows.ctypes.data % BATCH_ALIGNMENT == 0
    if aligned and stride == batch_size and rows.dtype == dtype:
        return [rows[start : start + batch_size] for start in starts]
    raw = np.empty(len(starts) * stride * row_bytes + BATCH_ALIGNMENT, np.uint8)
    offset = -raw.ctypes.data % BATCH_ALIGNMENT
    slots = raw[offset : offset + len(starts) * stride * row_bytes].view(dtype).reshape(len(starts), stride, *row_shape)
    full = len(rows) // batch_size
    slots[:full, :batch_size] = rows[: full * batch_size].reshape(full, batch_size, *row_shape)
    if full < len(starts):
        slots[full, : len(rows) - full * batch_size] = rows[full * batch_size :]
    return [slots[slot, : min(batch_size, len(rows) - start)] for slot, start in enumerate(starts)]


class Batches:
    """Minibatches of ``arrays`` as backend arrays, in order or reshuffled every pass.

    A pass takes its examples in chunks of whole batches (at most
    :data:`GATHER_BYTES`; a shuffled pass gathers each chunk at once) and cuts
    each chunk into batches. Where the backend's batches are NumPy arrays
    (NumPy; JAX on a CPU) a chunk is converted at once too (JAX's int64 labels
    become int32 once), and every batch is a view of it that starts on a
    :data:`BATCH_ALIGNMENT`-byte boundary (:func:`aligned_batches`).
    """

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        batch_size: int,
        shuffle: bool = False,
        names: Sequence[str] = ("x", "y", "sample_weight"),
    ) -> None:
        self.arrays = [arrays[name] for name in names if name in arrays]
        self.dtypes = [a.dtype.name for a in self.arrays]
        self.size = len(self.arrays[0])
        self.batch_size = batch_size
        self.shuffle = shuffle
        example_bytes = sum(a[:1].nbytes for a in self.arrays)
        self.chunk_size = batch_size * max(1, GATHER_BYTES // max(example_bytes * batch_size, 1))

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __iter__(self) -> Iterator[list[Any]]:
        backend = settings.backend
        order = random.generator().permutation(self.size) if self.shuffle else None
        empties = [backend.batch(a[:0], dtype) for a, dtype in zip(self.arrays, self.dtypes)]
        for first in range(0, self.size, self.chunk_size):
            index = slice(first, first + self.chunk_size) if order is None else order[first : first + self.chunk_size]
            columns = [
                aligned_batches(a[index], self.batch_size, empty.dtype)
                if isinstance(empty, np.ndarray)
                else _converted(backend, a[index], self.batch_size, dtype)
                for a, dtype, empty in zip(self.arrays, self.dtypes, empties)
            ]
            yield from map(list, zip(*columns))


def _converted(backend: Backend, rows: np.ndarray, batch_size: int, dtype: str) -> Iterator[Any]:
    """``rows``' batches in the backend's form, each converted when it is drawn."""
    for start in range(0, len(rows), batch_size):
        yield backend.batch(rows[start : start + batch_size], dtype)
