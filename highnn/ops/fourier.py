"""Keras's Fourier transforms: ``fft``, ``fft2``, ``ifft2``, ``rfft``, ``irfft``, ``stft`` and ``istft``.

highnn's tensors are real, so a complex tensor is a pair ``(real, imag)``, as in Keras's signatures. Two
primitives, ``fft`` and ``ifft`` (each the other's adjoint, scaled by the length), transform along the last
axis of real and imaginary parts stacked on a new first axis; everything else (the 2-D transforms, the real
transforms' halves of the spectrum, framing and windows) is composed from them and existing operations, so
every gradient follows. float32 and float64 (the array libraries' FFTs have no half precision on a CPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from highnn.checks import check_integer, fail
from highnn.graph import Primitive, Tensor, TensorLike, to_tensor
from highnn.ops import primitives as P
from highnn.ops.numpy_ops import _as_float, flip, stack, swapaxes
from highnn.ops.primitives import concatenate, pad

Complex = tuple[Tensor, Tensor]


def fft(x: Any) -> Complex:
    """The discrete Fourier transform along the last axis of ``x = (real, imag)``."""
    return _transform(P.fft, _complex_pair("fft", x))


def fft2(x: Any) -> Complex:
    """The 2-D discrete Fourier transform over the last two axes of ``x = (real, imag)``."""
    return _over_last_two("fft2", P.fft, _complex_pair("fft2", x))


def ifft2(x: Any) -> Complex:
    """The inverse of :func:`fft2` (divided by the number of points)."""
    return _over_last_two("ifft2", P.ifft, _complex_pair("ifft2", x))


def rfft(x: TensorLike, fft_length: int | None = None) -> Complex:
    """The Fourier transform of the real ``x`` along its last axis, the ``fft_length // 2 + 1`` non-negative
    frequencies (``x`` cropped or zero-padded to ``fft_length``, its own length by default)."""
    x = _as_float(x)
    length = x.shape[-1] if fft_length is None else check_integer("rfft", "fft_length", fft_length, 1)
    x = _fitted(x, length)
    real, imag = _transform(P.fft, (x, x * 0.0))
    return real[..., : length // 2 + 1], imag[..., : length // 2 + 1]


def irfft(x: Any, fft_length: int | None = None) -> Tensor:
    """The real signal of ``fft_length`` points (default ``2 (m - 1)`` for ``m`` frequencies) whose
    non-negative frequencies are ``x = (real, imag)``: the spectrum completed by Hermitian symmetry, inverted.
    Frequencies past ``fft_length // 2`` are dropped, missing ones are zeros, as NumPy's."""
    real, imag = _complex_pair("irfft", x)
    length = 2 * (real.shape[-1] - 1) if fft_length is None else check_integer("irfft", "fft_length", fft_length, 1)
    if length < 1:
        fail("irfft", "x", "at least 2 frequencies when `fft_length` is not given", f"shape {real.shape}")
    kept = length // 2 + 1
    real, imag = _fitted(real, kept), _fitted(imag, kept)
    mirrored = slice(1, length - kept + 1)  # X[n - k] = conj(X[k]) for the negative frequencies
    full = (
        concatenate([real, flip(real[..., mirrored], axis=-1)], axis=-1),
        concatenate([imag, -flip(imag[..., mirrored], axis=-1)], axis=-1),
    )
    return _transform(P.ifft, full)[0]


def stft(
    x: TensorLike,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    window: str | TensorLike | None = "hann",
    center: bool = True,
) -> Complex:
    """The short-time Fourier transform along the last axis of the real ``x``, as Keras's: frames of
    ``sequence_length`` points every ``sequence_stride``, each times ``window`` (``"hann"``, ``"hamming"``,
    periodic as SciPy's, an array, or None) centred in ``fft_length`` points, then :func:`rfft`; with ``center``
    the signal is first padded by ``fft_length // 2`` reflected points at each end. ``(real, imag)`` of shape
    ``(..., frames, fft_length // 2 + 1)``."""
    x = _as_float(x)
    window_values = _window("stft", window, sequence_length, fft_length, sequence_stride)
    length = x.shape[-1]
    padded = length + 2 * (fft_length // 2) if center else length
    if padded < fft_length:
        fail("stft", "x", f"a signal of at least {fft_length} points (after centring)", f"shape {x.shape}")
    starts = np.arange((padded - fft_length) // sequence_stride + 1) * sequence_stride
    positions = starts[:, None] + np.arange(fft_length)  # in the padded signal
    if center:
        positions = _reflected(positions - fft_length // 2, length)
    frames = P.take(x, to_tensor(positions.astype(np.int32)), axis=-1)  # (..., frames, fft_length), one gather
    return rfft(frames * to_tensor(window_values, x.dtype))


def istft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    length: int | None = None,
    window: str | TensorLike | None = "hann",
    center: bool = True,
) -> Tensor:
    """The signal whose :func:`stft` is ``x = (real, imag)``, as Keras's: each frame's :func:`irfft`, times the
    window, added up where the frames overlap and divided by the overlapping windows' squares (SciPy's
    ``istft``; without a window, scaled by ``fft_length / sequence_stride`` instead, as Keras's), then cropped by
    ``fft_length // 2`` at each end with ``center``, to ``length`` points if given."""
    real, imag = _complex_pair("istft", x)
    if real.ndim < 2:
        fail("istft", "x", "parts of shape (..., frames, frequencies)", f"shape {real.shape}")
    window_values = _window("istft", window, sequence_length, fft_length, sequence_stride)
    frames = irfft((real, imag), fft_length) * to_tensor(window_values, real.dtype)  # (..., frames, fft_length)
    count = real.shape[-2]
    positions = np.arange(count)[:, None] * sequence_stride + np.arange(fft_length)
    total = fft_length + sequence_stride * (count - 1)
    shape = (*frames.shape[:-2], total)
    added = P.scatter_add(frames, to_tensor(positions.astype(np.int32)), shape=shape, axis=len(shape) - 1)
    overlap = np.zeros(total)
    np.add.at(overlap, positions, np.broadcast_to(window_values**2, positions.shape))
    # without a window Keras scales by fft_length / sequence_stride, not by the overlap (TensorFlow's inverse_stft)
    scale = fft_length / sequence_stride if window is None else 1.0
    signal = added * to_tensor(scale / np.where(overlap > 1e-10, overlap, 1.0), real.dtype)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + check_integer("istft", "length", length, 0)
    else:
        end = total - fft_length // 2 if center else total
    return signal[..., start:end]


def _window(owner: str, window: Any, sequence_length: int, fft_length: int, sequence_stride: int) -> np.ndarray:
    """The analysis window of ``sequence_length`` points, zero-padded to ``fft_length`` on both sides (the extra
    point after), or ones over all ``fft_length`` points for None (as Keras's), checked along with the lengths."""
    check_integer(owner, "sequence_length", sequence_length, 1)
    check_integer(owner, "sequence_stride", sequence_stride, 1)
    if check_integer(owner, "fft_length", fft_length, 1) < sequence_length:
        fail(owner, "fft_length", f"at least `sequence_length` ({sequence_length})", fft_length)
    phases = 2.0 * np.pi * np.arange(sequence_length) / sequence_length  # periodic, as SciPy's get_window
    if window is None:
        return np.ones(fft_length)  # all fft_length points, as Keras's
    if isinstance(window, str):
        if window not in WINDOWS:
            fail(owner, "window", f"one of {list(WINDOWS)}, an array or None", window)
        values = WINDOWS[window](phases)
    else:
        values = np.asarray(to_tensor(window).numpy(), dtype=np.float64)
        if values.shape != (sequence_length,):
            fail(owner, "window", f"an array of shape ({sequence_length},)", f"shape {values.shape}")
    before = (fft_length - sequence_length) // 2
    return np.pad(values, (before, fft_length - sequence_length - before))


#: the named windows of :func:`stft` as functions of the phase ``2 pi n / N`` (periodic, as SciPy's)
WINDOWS = {
    "hann": lambda phase: 0.5 - 0.5 * np.cos(phase),
    "hamming": lambda phase: 0.54 - 0.46 * np.cos(phase),
}


def _reflected(positions: np.ndarray, length: int) -> np.ndarray:
    """Positions outside ``[0, length)`` reflected about the end points (NumPy's ``mode="reflect"``)."""
    if length == 1:
        return np.zeros_like(positions)
    period = 2 * (length - 1)
    folded = np.mod(positions, period)
    return np.where(folded < length, folded, period - folded)


def _complex_pair(owner: str, x: Any) -> Complex:
    """``(real, imag)`` as two float tensors of one shape, the last axis transformed."""
    if not (isinstance(x, (tuple, list)) and len(x) == 2):
        fail(owner, "x", "a tuple (real, imag) of two tensors", type(x).__name__)
    real, imag = _as_float(x[0]), _as_float(x[1])
    if real.shape != imag.shape or real.ndim == 0:
        fail(owner, "x", "real and imaginary parts of one shape, at least 1-D", f"shapes {real.shape} and {imag.shape}")
    return real, P.cast(imag, real.dtype)


def _transform(primitive: Primitive, x: Complex) -> Complex:
    out = primitive(stack(list(x), axis=0))
    return out[0], out[1]


def _over_last_two(owner: str, primitive: Primitive, x: Complex) -> Complex:
    if x[0].ndim < 2:
        fail(owner, "x", "parts of at least 2 dimensions", f"shape {x[0].shape}")
    along_rows = _transform(primitive, x)
    swapped = _transform(primitive, (swapaxes(along_rows[0], -1, -2), swapaxes(along_rows[1], -1, -2)))
    return swapaxes(swapped[0], -1, -2), swapaxes(swapped[1], -1, -2)


def _fitted(x: Tensor, length: int) -> Tensor:
    """``x`` cropped or zero-padded at the end of its last axis to ``length``."""
    if x.shape[-1] >= length:
        return x[..., :length]
    return pad(x, ((0, 0),) * (x.ndim - 1) + ((0, length - x.shape[-1]),))
