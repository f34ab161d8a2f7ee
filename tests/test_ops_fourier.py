"""keras.ops stft and istft against Keras 3's own recipe (SciPy's stft and istft with Keras's padding, window
and scaling), on every backend; gradients against finite differences; a round trip; errors that name the
argument. The other transforms are rows of test_ops_math_and_arrays.py."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.signal
from helpers import numeric_gradient

import highnn as hn

RNG = np.random.default_rng(5)
SIGNAL = RNG.normal(size=(2, 40))
#: (sequence_length, sequence_stride, fft_length): equal, a window shorter than the FFT, frames that do not overlap
FRAMINGS = [(8, 4, 8), (6, 3, 10), (8, 8, 16)]


def keras_window(window: Any, length: int, fft_length: int) -> np.ndarray:
    if window is None:
        return np.ones(fft_length)
    values = scipy.signal.get_window(window, length) if isinstance(window, str) else np.asarray(window)
    before = (fft_length - length) // 2
    return np.pad(values, [before, fft_length - length - before])


def keras_stft(x: np.ndarray, length: int, stride: int, fft_length: int, window: Any, center: bool) -> np.ndarray:
    """Keras 3's stft (its NumPy backend's steps)."""
    if center:
        x = np.pad(x, [(0, 0), (fft_length // 2, fft_length // 2)], mode="reflect")
    win = keras_window(window, length, fft_length)
    spectrum = scipy.signal.stft(x, fs=1.0, window=win, nperseg=fft_length, noverlap=fft_length - stride,
                                 nfft=fft_length, boundary=None, padded=False)[-1]  # fmt: skip
    return np.swapaxes(spectrum * win.sum(), -2, -1)


def keras_istft(
    z: np.ndarray, length: int, stride: int, fft_length: int, window: Any, center: bool, size: int | None = None
) -> np.ndarray:
    """Keras 3's istft (its NumPy backend's steps)."""
    win = keras_window(window, length, fft_length)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SciPy warns where the windows do not overlap enough to invert
        signal = scipy.signal.istft(z, fs=1.0, window=win, nperseg=fft_length, noverlap=fft_length - stride,
                                    nfft=fft_length, boundary=False, time_axis=-2, freq_axis=-1)[-1]  # fmt: skip
    signal = signal / win.sum() if window is not None else signal / stride
    start = fft_length // 2 if center else 0
    if size is not None:
        return signal[..., start : start + size]
    return signal[..., start : -(fft_length // 2)] if center else signal[..., start:]


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("window", ["hann", "hamming", None, "array"])
@pytest.mark.parametrize("center", [True, False])
def test_stft_and_istft_match_keras(backend64: str, framing: tuple[int, int, int], window: Any, center: bool) -> None:
    length, stride, fft_length = framing
    window = RNG.uniform(0.5, 1.0, length) if window == "array" else window
    expected = keras_stft(SIGNAL, length, stride, fft_length, window, center)
    real, imag = hn.ops.stft(SIGNAL, length, stride, fft_length, window, center)
    np.testing.assert_allclose(real.numpy(), expected.real, atol=1e-12)
    np.testing.assert_allclose(imag.numpy(), expected.imag, atol=1e-12)
    back = hn.ops.istft((expected.real, expected.imag), length, stride, fft_length, window=window, center=center)
    np.testing.assert_allclose(back.numpy(), keras_istft(expected, length, stride, fft_length, window, center),
                               atol=1e-12)  # fmt: skip


def test_istft_inverts_stft_and_crops_to_length(backend64: str) -> None:
    """Hann frames a quarter apart add up to a constant, so the signal comes back whole."""
    real, imag = hn.ops.stft(SIGNAL, 8, 2, 8)
    np.testing.assert_allclose(hn.ops.istft((real, imag), 8, 2, 8).numpy(), SIGNAL, atol=1e-12)
    cropped = hn.ops.istft((real, imag), 8, 2, 8, length=25)
    np.testing.assert_allclose(cropped.numpy(), SIGNAL[:, :25], atol=1e-12)


def test_stft_and_istft_gradients_match_finite_differences(float64: None) -> None:
    signal = SIGNAL[:1, :20]
    for function, inputs in (
        (lambda x: sum(part.sum() * w for part, w in zip(hn.ops.stft(x, 6, 3, 8), (1.0, -0.5))), signal),
        (lambda x: (hn.ops.istft((x, x * 0.5), 6, 3, 8) * np.arange(1.0, 7.0)).sum(), RNG.normal(size=(1, 3, 5))),
    ):
        tensor = hn.tensor(inputs, requires_grad=True)
        (grad,) = hn.grad(function(tensor), [tensor])

        def loss(x: np.ndarray, function: Any = function) -> float:
            return float(function(hn.tensor(x)).numpy())

        np.testing.assert_allclose(grad.numpy(), numeric_gradient(loss, inputs), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: hn.ops.stft(SIGNAL, 8, 4, 6), ValueError, r"stft: `fft_length` must be at least `sequence_length`"),
        (lambda: hn.ops.stft(SIGNAL, 8, 0, 8), ValueError, r"stft: `sequence_stride` must be"),
        (lambda: hn.ops.stft(SIGNAL, 8, 4, 8, window="kaiser"), ValueError, r"stft: `window` must be one of"),
        (lambda: hn.ops.stft(SIGNAL, 8, 4, 8, window=np.ones(5)), ValueError,
         r"stft: `window` must be an array of shape \(8,\), received 'shape \(5,\)'"),
        (lambda: hn.ops.stft(SIGNAL[:, :4], 8, 4, 8, center=False), ValueError,
         r"stft: `x` must be a signal of at least 8 points"),
        (lambda: hn.ops.istft(np.ones((3, 5)), 8, 4, 8), ValueError, r"istft: `x` must be a tuple \(real, imag\)"),
        (lambda: hn.ops.istft((np.ones(5), np.ones(5)), 8, 4, 8), ValueError,
         r"istft: `x` must be parts of shape \(\.\.\., frames, frequencies\)"),
    ],
)  # fmt: skip
def test_bad_arguments_name_what_was_expected(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()
