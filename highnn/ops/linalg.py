"""Keras's ``keras.ops`` linear algebra: inverse, determinant, factorisations (Cholesky, eigen, QR) and linear
solves of (batches of) matrices.

``inv``, ``det``, ``cholesky``, ``eigh``, ``qr``, ``solve`` and ``solve_triangular`` are primitives of their own,
in float32 or float64, with their VJPs written in highnn's operations (products and solves with the transposed
matrices), in the conformance suite on every backend. A right-hand side with one axis fewer than the matrices is a
vector."""

from __future__ import annotations

from typing import Any

import numpy as np

from highnn.checks import check_bool, check_choice, check_number, fail
from highnn.graph import Tensor, TensorLike, to_tensor
from highnn.ops import primitives as P
from highnn.ops.numpy_ops import _as_float
from highnn.ops.primitives import abs, cast, log, sign, stop_gradient, swap_last, take, where


def inv(x: TensorLike) -> Tensor:
    """The inverse of each square matrix."""
    return P.inv(_as_float(x))


def det(x: TensorLike) -> Tensor:
    """The determinant of each square matrix."""
    return P.det(_as_float(x))


def slogdet(x: TensorLike) -> tuple[Tensor, Tensor]:
    """The sign and the natural log of the absolute value of each matrix's determinant."""
    value = det(x)
    return sign(value), log(abs(value))


def logdet(x: TensorLike) -> Tensor:
    """The log of the determinant of each symmetric positive-definite matrix: twice the sum of the logs of its
    Cholesky factor's diagonal (no overflow where the determinant itself would)."""
    factor = cholesky(x)
    n = factor.shape[-1]
    diagonal = take(
        factor.reshape(*factor.shape[:-2], n * n), np.arange(0, n * n, n + 1, dtype=np.int32), factor.ndim - 2
    )
    return 2.0 * P.sum(log(diagonal), axis=-1)


def cholesky(x: TensorLike, upper: bool = False) -> Tensor:
    """The Cholesky factor of each symmetric positive-definite matrix (of its symmetric part): lower ``L`` with
    ``L @ L^T = x``, or its transpose with ``upper``."""
    factor = P.cholesky(_as_float(x))
    return swap_last(factor) if upper else factor


def eigh(x: TensorLike) -> tuple[Tensor, Tensor]:
    """The eigenvalues (ascending) and eigenvectors (the columns) of each symmetric matrix, of its symmetric part
    ``(x + x^T) / 2``. Each eigenvector is signed so that its component of largest magnitude is positive, so
    every backend gives the same vectors (Keras leaves the sign to the backend's solver); gradients assume
    distinct eigenvalues."""
    packed = P.eigh(_as_float(x))
    return packed[..., 0, :], packed[..., 1:, :]


def qr(x: TensorLike, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """The QR factors of each matrix ``(..., m, n)``: orthonormal columns ``Q`` and upper-triangular ``R`` with
    ``Q @ R = x``, ``R``'s diagonal non-negative (so every backend gives the same factors; Keras leaves the signs
    to the backend). ``"reduced"``: ``Q`` is ``(..., m, k)`` and ``R`` ``(..., k, n)``, ``k = min(m, n)``;
    ``"complete"`` is the same for ``m <= n`` and refused for taller matrices, whose extra columns of ``Q`` are
    not unique. Differentiable for ``m >= n``."""
    check_choice("qr", "mode", mode, ("reduced", "complete"))
    x = _as_float(x)
    rows, cols = x.shape[-2:] if x.ndim >= 2 else (0, 0)
    if mode == "complete" and rows > cols:
        fail("qr", "mode", '"reduced" for a matrix taller than wide (its complete Q is not unique)', mode)
    packed = P.qr(x)
    return packed[..., :rows, : min(rows, cols)], packed[..., rows:, :]


def svd(x: TensorLike, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """The singular value decomposition ``x = U diag(s) V^T`` of each matrix: ``(U, s, V^T)``, or the singular
    values alone (descending) without ``compute_uv``. Each pair of singular vectors is signed so that the left
    one's component of largest magnitude is positive, so every backend gives the same factors (Keras leaves the
    signs to the backend). ``full_matrices`` (Keras's default) is the reduced decomposition for square matrices
    and refused for others, whose extra singular vectors are not unique: pass ``full_matrices=False``.
    Gradients assume distinct, non-zero singular values."""
    x = _as_float(x)
    rows, cols = x.shape[-2:] if x.ndim >= 2 else (0, 0)
    if (
        check_bool("svd", "full_matrices", full_matrices)
        and rows != cols
        and check_bool("svd", "compute_uv", compute_uv)
    ):
        fail("svd", "full_matrices", "False for a non-square matrix (its full U or V is not unique)", full_matrices)
    k = min(rows, cols)
    packed = P.svd(x)
    values = packed[..., rows, :k]
    if not compute_uv:
        return values
    return packed[..., :rows, :k], values, packed[..., rows + 1 :, :]


def pinv(x: TensorLike, rcond: float | None = None) -> Tensor:
    """The Moore-Penrose pseudo-inverse of each matrix, from its SVD: singular values at most ``rcond`` times the
    largest (default ``10 max(m, n)`` machine epsilons, as JAX's) count as zero."""
    rcond = None if rcond is None else check_number("pinv", "rcond", rcond)
    return _pseudo_inverse(x, 10.0, rcond)


def lstsq(a: TensorLike, b: TensorLike, rcond: float | None = None) -> Tensor:
    """The least-squares solution of ``a @ x = b`` (``b`` a vector or a matrix of right-hand sides), the
    pseudo-inverse's with singular values at most ``rcond`` times the largest (default one machine epsilon times
    ``max(m, n)``, as NumPy's and JAX's) as zero."""
    rcond = None if rcond is None else check_number("lstsq", "rcond", rcond)
    a = _as_float(a)
    b = to_tensor(b)
    if a.ndim != 2 or b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        fail("lstsq", "b", f"a vector or matrix of {a.shape[0] if a.ndim == 2 else 'm'} rows, with `a` a matrix",
             f"shapes {a.shape} and {b.shape}")  # fmt: skip
    solution = _pseudo_inverse(a, 1.0, rcond) @ (b if b.ndim == 2 else b.reshape(-1, 1))
    return solution if b.ndim == 2 else solution.reshape(-1)


def matrix_rank(x: TensorLike, tol: float | None = None) -> Tensor:
    """The number of singular values above ``tol`` (default: the largest times ``max(m, n)`` machine epsilons,
    as NumPy's and JAX's), as int32."""
    s = svd(x, compute_uv=False)
    rows, cols = to_tensor(x).shape[-2:]
    cutoff = _cutoff(s, rows, cols, 1.0, None) if tol is None else to_tensor(check_number("matrix_rank", "tol", tol))
    return cast((s > cutoff).astype("int32").sum(axis=-1), "int32")


def _pseudo_inverse(x: TensorLike, scale: float, rcond: float | None) -> Tensor:
    """``V diag(1 / s) U^T``, singular values at most the cutoff (:func:`_cutoff`) counted as zero."""
    u, s, vh = svd(x, full_matrices=False)
    cutoff = _cutoff(s, u.shape[-2], vh.shape[-1], scale, rcond)
    kept = s > cutoff
    inverse = where(kept, 1.0 / where(kept, s, 1.0), 0.0)
    return swap_last(vh) @ (inverse.reshape(*inverse.shape, 1) * swap_last(u))


def _cutoff(s: Tensor, rows: int, cols: int, scale: float, rcond: float | None) -> Tensor:
    """The singular value below which ``s`` counts as zero: ``rcond`` (default ``scale * max(m, n)`` machine
    epsilons of ``s``'s dtype) times the largest."""
    if rcond is None:
        rcond = scale * max(rows, cols) * float(np.finfo(s.dtype).eps)
    largest = s.max(axis=-1, keepdims=True) if s.shape[-1] else s.sum(axis=-1, keepdims=True)
    return rcond * stop_gradient(largest)


def cholesky_inverse(x: TensorLike, upper: bool = False) -> Tensor:
    """The inverse of ``L @ L^T`` from its Cholesky factor ``L`` (or of ``U^T @ U`` from ``U`` with ``upper``)."""
    factor = _as_float(x)
    lower = swap_last(factor) if upper else factor
    eye = to_tensor(np.broadcast_to(np.eye(lower.shape[-1]), lower.shape), lower.dtype)
    inverse_factor = P.solve_triangular(lower, eye, lower=True)  # L^-1
    return swap_last(inverse_factor) @ inverse_factor


def _right_hand_sides(a: Tensor, b: TensorLike) -> tuple[Tensor, bool]:
    """``b`` as matrices ``(..., n, k)`` in ``a``'s dtype, and whether it was a vector (one axis fewer)."""
    b = cast(to_tensor(b), a.dtype)
    vector = b.ndim == a.ndim - 1
    return (b.reshape(*b.shape, 1) if vector else b), vector


def solve(a: TensorLike, b: TensorLike) -> Tensor:
    """``x`` with ``a @ x = b``: ``b`` a matrix of right-hand sides ``(..., n, k)`` or a vector ``(..., n)``."""
    matrices = _as_float(a)
    rhs, vector = _right_hand_sides(matrices, b)
    x = P.solve(matrices, rhs)
    return x.reshape(*x.shape[:-1]) if vector else x


def solve_triangular(a: TensorLike, b: TensorLike, lower: bool = False) -> Tensor:
    """:func:`solve` for triangular ``a``, read from its lower (``lower=True``) or upper triangle alone."""
    matrices = _as_float(a)
    rhs, vector = _right_hand_sides(matrices, b)
    x = P.solve_triangular(matrices, rhs, lower=bool(lower))
    return x.reshape(*x.shape[:-1]) if vector else x
