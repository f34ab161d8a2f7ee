"""The NumPy backend's sum: over the leading axes of a large contiguous float array (a convolution bias's
gradient) a product of rows a few positions long with ones, elsewhere ``np.add.reduce``; the same values and
shapes either way, against a float64 sum."""

from __future__ import annotations

import numpy as np
import pytest

from highnn.backends import numpy_backend
from highnn.backends.numpy_backend import NumpyBackend

rng = np.random.default_rng(3)


@pytest.fixture(params=["BLAS from any size", "BLAS from any size, rows unfolded", "BLAS from the default size"])
def blas_from(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small arrays take the product with ones too (their rows a few positions long, or one), or only arrays of
    the default size do."""
    if request.param.startswith("BLAS from any size"):
        monkeypatch.setattr(numpy_backend, "BLAS_SUM_SIZE", 0)
    if request.param.endswith("unfolded"):
        monkeypatch.setattr(numpy_backend, "FOLDED_ROW_SIZE", 1)


AXES = [0, (0,), (0, 1), (1, 0), (-3, -2), (0, 1, 2), None, 1, 2, (1, 2), (0, 2), ()]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "float16"])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_matches_the_definition(axis: object, keepdims: bool, dtype: str, blas_from: None) -> None:
    x = (rng.standard_normal((7, 5, 3)) * 4).astype(dtype)
    exact = np.add.reduce(x.astype(np.float64), axis=axis, keepdims=keepdims)  # type: ignore[call-overload]
    result = NumpyBackend.sum(x, axis=axis, keepdims=keepdims)
    assert result.shape == exact.shape and result.dtype == x.dtype
    tolerance = {"float16": 2e-2, "float32": 1e-5, "float64": 1e-13, "int64": 0}[dtype]
    np.testing.assert_allclose(result.astype(np.float64), exact, rtol=tolerance, atol=tolerance)


def test_a_transposed_view_is_summed_by_reduction(blas_from: None) -> None:
    x = rng.standard_normal((6, 4)).T  # not C-contiguous: the product with ones would need a copy
    np.testing.assert_allclose(NumpyBackend.sum(x, axis=0, keepdims=False), x.sum(axis=0), rtol=1e-14)


@pytest.mark.parametrize("shape", [(0, 3), (2, 0, 3), (3, 0)])
def test_empty_arrays_sum_to_zeros_of_the_right_shape(shape: tuple[int, ...], blas_from: None) -> None:
    result = NumpyBackend.sum(np.ones(shape, np.float32), axis=(0, 1)[: len(shape) - 1], keepdims=False)
    assert result.shape == shape[len(shape) - 1 :] and not result.any()


def test_a_large_float32_bias_gradient_stays_within_float32_rounding() -> None:
    g = rng.standard_normal((64, 24, 24, 6)).astype(np.float32) + 1  # a large sum, where float32 drift shows
    assert g.size >= numpy_backend.BLAS_SUM_SIZE
    exact = g.astype(np.float64).reshape(-1, 6).sum(axis=0)
    np.testing.assert_allclose(NumpyBackend.sum(g, axis=(0, 1, 2), keepdims=False), exact, rtol=1e-5)


@pytest.mark.parametrize(
    ("shape", "leading", "fold"),
    [
        ((128, 24, 24, 6), 3, 24 * 24),  # a convolution's bias gradient: rows of 3456 elements
        ((64, 32, 32, 64), 3, 32),  # one more axis would make rows of 65536
        ((7, 5, 3), 2, 5),
        ((128, 1600), 1, 1),  # the first axis is never folded
        ((8, 3, 5000), 2, 1),  # rows already longer than FOLDED_ROW_SIZE
    ],
)
def test_rows_fold_positions_up_to_the_row_size(shape: tuple[int, ...], leading: int, fold: int) -> None:
    assert numpy_backend._folded(shape, leading) == fold
