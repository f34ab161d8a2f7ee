"""The NumPy backend's convolutions: copies and GEMMs (no Python loop over pixels), in blocks of examples.

- im2col: every window a row, the kernel a matrix (:func:`_im2col_conv`);
- an input dilated by zeros (an input's gradient, a transposed convolution): GEMMs of every input position with
  every tap, added where they land (col2im, :func:`_transposed_conv`), so the zeros are never made;
- banded products (:func:`_banded_conv`): along its last spatial axis a convolution is the product of each image
  row (width x channels values, one run in channels-last data) with a banded (Toeplitz) matrix that holds the
  kernel once per output position; along the other axes the taps only choose which rows meet. The one copy is of
  whole rows, and the GEMM does (row width / window width) times the direct multiply-adds: where the filters are
  few and the rows short (LeNet's first layer) that beats copying every window."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np

from highnn.backends.base import LOW_PRECISION_CODES, transposed_crops

#: the most bytes of im2col rows (or of a transposed convolution's products) a convolution holds at once: larger
#: ones are made in blocks, so its workspace stays this size whatever the batch, and each block is still in the
#: cache when the GEMM reads it
CONV_BLOCK_BYTES = 1 << 19

#: what copying one element costs, in multiply-adds of a GEMM: measured on the benchmark CNN's layers and the
#: usual 3 x 3 ones (docs/performance.md), it chooses between im2col and banded products
COPY_COST = 45


def conv_general(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    groups: int,
) -> np.ndarray:
    """``conv_general`` of the NumPy backend: im2col and one (grouped) GEMM, or banded products where their estimate
    is cheaper; an input dilated by zeros (an input's gradient, a transposed convolution) as GEMM and col2im, so
    the zeros are never made, unless the output has fewer positions than the input."""
    spatial, window, filters = x.shape[1:-1], kernel.shape[:-2], kernel.shape[-1]
    # the transposed convolution multiplies every input position by every tap, im2col every output position
    dilated = [(n - 1) * d + 1 + lo + hi for n, d, (lo, hi) in zip(spatial, lhs_dilation, padding)]
    outputs = [(n - (k - 1) * d - 1) // s + 1 for n, k, d, s in zip(dilated, window, rhs_dilation, strides)]
    if any(d > 1 for d in lhs_dilation) and math.prod(spatial) <= math.prod(outputs):
        out = _transposed_conv(x, kernel, padding, lhs_dilation, rhs_dilation, groups)
        if all(s == 1 for s in strides):
            return out
        return np.ascontiguousarray(out[(slice(None),) + tuple(slice(None, None, s) for s in strides)])
    padded = _pad(_dilate(x, lhs_dilation), padding)
    if groups == 1 and x.size > 0 and kernel.size > 0 and math.prod(window) <= math.prod(outputs):
        copies = x.shape[0] * math.prod(outputs) * math.prod(window) * x.shape[-1]  # im2col's rows
        if banded_is_cheaper((copies, copies * filters), _banded_counts(padded.shape, window, outputs, filters)):
            return _banded_conv(padded, kernel, outputs, strides, rhs_dilation).astype(x.dtype, copy=False)
    return _im2col_conv(padded, kernel, strides, rhs_dilation, groups)


def banded_is_cheaper(im2col: tuple[int, int], banded: tuple[int, int]) -> bool:
    """Whether banded products cost less than im2col, each ``(elements copied, multiply-adds)``."""
    return banded[0] * COPY_COST + banded[1] < im2col[0] * COPY_COST + im2col[1]


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


def spaced(start: int, step: int, count: int) -> slice:
    """``count`` elements from ``start``, ``step`` apart."""
    return slice(start, start + (count - 1) * step + 1, step)


def _landing(size: int, step: int, offset: int, length: int) -> tuple[slice, slice] | None:
    """Along one axis, which inputs ``i`` land in an output of ``length`` at ``i * step + offset``, and where
    (None: none do)."""
    first, last = max(0, -(offset // step)), min(size - 1, (length - 1 - offset) // step)
    if last < first:
        return None
    return slice(first, last + 1), spaced(first * step + offset, step, last - first + 1)


# ------------------------------------------------------------------ banded products of image rows
def _banded_counts(
    shape: Sequence[int], window: Sequence[int], positions: Sequence[int], filters: int
) -> tuple[int, int]:
    """The elements a banded convolution of an input of ``shape`` copies (its rows), and its multiply-adds."""
    batch, *spatial, channels = shape
    copies = batch * math.prod(positions[:-1]) * math.prod(window[:-1]) * spatial[-1] * channels
    return copies, copies * positions[-1] * filters


def _banded_conv(
    padded: np.ndarray, kernel: np.ndarray, positions: list[int], strides: tuple[int, ...], dilation: tuple[int, ...]
) -> np.ndarray:
    """The convolution of an already padded input with ``positions`` outputs along each spatial axis: the rows its
    windows read, a block of examples at a time, times one banded matrix."""
    batch, *spatial, channels = padded.shape
    *window, _, filters = kernel.shape
    work = _work_dtype(padded)
    # (*window rows, width, in, out width, out): the last window axis's taps where the input columns they read
    # meet the output positions they give
    band = np.zeros((*window[:-1], spatial[-1], channels, positions[-1], filters), work)
    outputs = np.arange(positions[-1])
    for tap in range(window[-1]):
        band[..., outputs * strides[-1] + tap * dilation[-1], :, outputs, :] = kernel[..., tap, :, :]
    matrix = band.reshape(-1, positions[-1] * filters)
    if padded.strides[-1] != padded.itemsize or padded.strides[-2] != channels * padded.itemsize:
        padded = np.ascontiguousarray(padded)  # each row one run of width x channels values
    example, *step, _, _ = padded.strides
    rows = _strided(  # per output position of the leading axes, the input rows its window reads
        padded,
        (batch, *positions[:-1], *window[:-1], spatial[-1] * channels),
        (example, *map(operator.mul, strides, step), *map(operator.mul, dilation, step), padded.itemsize),
    )
    per_example = math.prod(positions[:-1])
    out = np.empty((batch * per_example, positions[-1] * filters), work)
    blocks = _blocks(batch, per_example * matrix.shape[0] * work.itemsize)
    workspace = _workspace(blocks, per_example * matrix.shape[0], work)
    for examples in blocks:
        block = _copied(workspace, rows[examples]).reshape(-1, matrix.shape[0])
        np.matmul(block, matrix, out=out[examples.start * per_example : examples.stop * per_example])
    return out.reshape(batch, *positions, filters)
