"""The ``keras.ops`` math, array and normalisation functions added on top of the core group: values against NumPy
(or a direct formula) on every backend in float64, gradients against central finite differences, Keras's
integer and edge-case conventions, and errors that name the argument."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import einops
import numpy as np
import pytest
from helpers import BACKENDS, assert_gradient_matches_finite_differences, assert_matches_reference, require_backend

import highnn as hn
from highnn import ops
from highnn.backends import numpy_backend, to_host
from highnn.tracing import TracedFunction

RNG = np.random.default_rng(11)
X = RNG.uniform(-2.0, 2.0, (3, 4))
Y = RNG.uniform(-2.0, 2.0, (3, 4))
P = RNG.uniform(0.5, 2.0, (3, 4))
UNIT = RNG.uniform(-0.9, 0.9, (3, 4))
ABOVE_ONE = RNG.uniform(1.2, 3.0, (3, 4))
V = RNG.uniform(-2.0, 2.0, (5,))
W = RNG.uniform(-2.0, 2.0, (5,))
B = RNG.uniform(-2.0, 2.0, (2, 3, 4))
SPECIAL = np.array([[1.0, np.nan, -np.inf], [np.inf, 0.0, -2.5]])
WITH_NAN = np.where(RNG.uniform(size=(3, 4)) < 0.25, np.nan, X)
WITH_NAN[:, 0] = X[:, 0]  # every row and column keeps a number
WITH_NAN[0, :] = X[0, :]
INTS = np.array([[7, -7, 3], [-3, 8, 0]])
DIVISORS = np.array([[2, 2, -2], [2, -3, 5]])
MATRICES = RNG.normal(0.0, 0.3, (2, 3, 3)) + 2.0 * np.eye(3)  # well conditioned
SPD = MATRICES @ np.swapaxes(MATRICES, -1, -2)
RHS = RNG.normal(size=(2, 3, 2))
IMAGES = RNG.normal(size=(2, 2, 2, 8))
CHANNELS_FIRST = RNG.normal(size=(2, 3, 7, 6))  # (N, C, H, W)
Q = RNG.normal(size=(2, 5, 4, 3))  # (batch, length, heads, head_dim)
K = RNG.normal(size=(2, 6, 4, 3))
VALUES = RNG.normal(size=(2, 6, 4, 3))


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    logits = np.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        logits = np.where(mask, logits, -0.7 * np.finfo(np.float32).max)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return np.einsum("bnts,bsnh->btnh", weights / weights.sum(-1, keepdims=True), v)


def _scattered(values: np.ndarray) -> np.ndarray:
    out = np.zeros((3, 4))
    np.add.at(out, ([0, 2, 0], [1, 3, 1]), values)
    return out


def _sparsemax(z: np.ndarray) -> np.ndarray:
    """Martins & Astudillo's projection onto the simplex along the last axis."""
    ordered = -np.sort(-z, -1)
    running = np.cumsum(ordered, -1)
    size = (1 + np.arange(1, z.shape[-1] + 1) * ordered > running).sum(-1, keepdims=True)
    return np.maximum(z - (np.take_along_axis(running, size - 1, -1) - 1) / size, 0)


def _adaptive(x: np.ndarray, sizes: tuple[int, int], reduce: Any) -> np.ndarray:
    """PyTorch's adaptive pooling bins over the two spatial axes of channels-last images."""
    rows = [(i * x.shape[1] // sizes[0], -(-(i + 1) * x.shape[1] // sizes[0])) for i in range(sizes[0])]
    cols = [(j * x.shape[2] // sizes[1], -(-(j + 1) * x.shape[2] // sizes[1])) for j in range(sizes[1])]
    return np.stack([np.stack([reduce(x[:, a:b, c:d], axis=(1, 2)) for c, d in cols], 1) for a, b in rows], 1)


def _pairs(*values: Any) -> list[tuple[int, int]]:
    return [(v, v) if isinstance(v, int) else tuple(v) for v in values]


def _unfolded(x: np.ndarray, kernel: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> np.ndarray:
    """PyTorch's unfold (the definition Keras follows), written out: each block's values channel by channel, row
    by row, as a column."""
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = _pairs(kernel, dilation, padding, stride)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    rows = (padded.shape[2] - dh * (kh - 1) - 1) // sh + 1
    cols = (padded.shape[3] - dw * (kw - 1) - 1) // sw + 1
    blocks = [padded[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw]
              for i in range(rows) for j in range(cols)]  # fmt: skip
    return np.stack([block.reshape(x.shape[0], -1) for block in blocks], axis=-1)


def _folded(columns: np.ndarray, size: tuple[int, int], kernel: Any, dilation: Any = 1, padding: Any = 0,
            stride: Any = 1) -> np.ndarray:  # fmt: skip
    """PyTorch's fold, written out: each column added back where its block lies."""
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = _pairs(kernel, dilation, padding, stride)
    channels = columns.shape[1] // (kh * kw)
    out = np.zeros((columns.shape[0], channels, size[0] + 2 * ph, size[1] + 2 * pw))
    cols = (out.shape[3] - dw * (kw - 1) - 1) // sw + 1
    for block in range(columns.shape[2]):
        i, j = divmod(block, cols)
        window = (slice(None), slice(None), slice(i * sh, i * sh + dh * (kh - 1) + 1, dh),
                  slice(j * sw, j * sw + dw * (kw - 1) + 1, dw))  # fmt: skip
        out[window] += columns[:, :, block].reshape(columns.shape[0], channels, kh, kw)
    return out[:, :, ph : ph + size[0], pw : pw + size[1]]


def _signed_svd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reduced SVD with each left singular vector's largest component positive (highnn's convention)."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    largest = np.take_along_axis(u, np.argmax(np.abs(u), axis=-2)[..., None, :], axis=-2)
    signs = np.where(largest < 0, -1.0, 1.0)
    return u * signs, s, vh * np.swapaxes(signs, -1, -2)


def _signed_qr(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reduced QR factors with R's diagonal non-negative (highnn's convention)."""
    q, r = np.linalg.qr(a)
    signs = np.where(np.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    return q * signs[..., None, :], r * signs[..., :, None]


def _signed_eigenvectors(a: np.ndarray) -> np.ndarray:
    """The eigenvectors of the symmetric part, each signed so that its component of largest magnitude is
    positive (highnn's convention, the same on every backend)."""
    vectors = np.linalg.eigh(_symmetric(a))[1]
    largest = np.take_along_axis(vectors, np.argmax(np.abs(vectors), axis=-2)[..., None, :], axis=-2)
    return vectors * np.sign(largest)


def _symmetric(a: np.ndarray) -> np.ndarray:
    """The symmetric part, which ``cholesky`` factors (as JAX's does)."""
    return (a + np.swapaxes(a, -1, -2)) / 2


def _updated(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[0, 0], out[2, 1] = 7.0, 8.0
    return out


def _nanvar(x: np.ndarray, axis: Any = None) -> np.ndarray:
    return np.nanvar(x, axis=axis)


Case = tuple[str, Callable[..., Any], Callable[..., Any], tuple[np.ndarray, ...], bool]
# (id, highnn function, NumPy reference, inputs, differentiable in the first input)
CASES: list[Case] = [
    # trigonometric and hyperbolic (primitives)
    ("tan", ops.tan, np.tan, (UNIT,), True),
    ("arcsin", ops.arcsin, np.arcsin, (UNIT,), True),
    ("arccos", ops.arccos, np.arccos, (UNIT,), True),
    ("arctan", ops.arctan, np.arctan, (X,), True),
    ("arctan2", ops.arctan2, np.arctan2, (X, Y), True),
    ("arctan2-second", lambda x, y: ops.arctan2(y, x), lambda x, y: np.arctan2(y, x), (P, X), True),
    ("sinh", ops.sinh, np.sinh, (X,), True),
    ("cosh", ops.cosh, np.cosh, (X,), True),
    ("arcsinh", ops.arcsinh, np.arcsinh, (X,), True),
    ("arccosh", ops.arccosh, np.arccosh, (ABOVE_ONE,), True),
    ("arctanh", ops.arctanh, np.arctanh, (UNIT,), True),
    ("deg2rad", ops.deg2rad, np.deg2rad, (X,), True),
    ("rad2deg", ops.rad2deg, np.rad2deg, (X,), True),
    ("sinc", ops.sinc, np.sinc, (np.array([0.0, 0.5, -1.3, 2.2]),), True),
    ("hypot", ops.hypot, np.hypot, (X, Y), True),
    ("hypot-huge", ops.hypot, np.hypot, (np.array([3e200, 0.0]), np.array([4e200, 0.0])), False),
    # exponentials and logarithms
    ("expm1", ops.expm1, np.expm1, (np.array([1e-10, -0.5, 2.0]),), True),
    ("exp2", ops.exp2, np.exp2, (X,), True),
    ("log2", ops.log2, np.log2, (P,), True),
    ("log10", ops.log10, np.log10, (P,), True),
    ("logaddexp", ops.logaddexp, np.logaddexp, (X, Y), True),
    ("logaddexp-large", ops.logaddexp, np.logaddexp, (np.array([800.0, -800.0]), np.array([799.0, -801.0])), True),
    ("logaddexp2", ops.logaddexp2, np.logaddexp2, (X, Y), True),
    ("cbrt", ops.cbrt, np.cbrt, (X,), True),
    ("reciprocal", ops.reciprocal, np.reciprocal, (P,), True),
    ("rsqrt", ops.rsqrt, lambda x: 1.0 / np.sqrt(x), (P,), True),
    ("ldexp", ops.ldexp, np.ldexp, (X, np.array([1, -2, 0, 3])), True),
    # rounding and division
    ("trunc", ops.trunc, np.trunc, (X * 2.3,), False),
    ("trunc-int", ops.trunc, np.trunc, (INTS,), False),
    ("fabs", ops.fabs, np.fabs, (X,), True),
    ("floor_divide", ops.floor_divide, np.floor_divide, (X * 3.0, P), False),
    ("floor_divide-int", ops.floor_divide, np.floor_divide, (INTS, DIVISORS), False),
    ("mod", ops.mod, np.mod, (X * 3.0, P), True),
    ("mod-negative-divisor", ops.mod, np.mod, (X * 3.0, -P), True),
    ("mod-int", ops.mod, np.mod, (INTS, DIVISORS), False),
    ("fmod", ops.fmod, np.fmod, (X * 3.0, P), True),
    ("divide_no_nan", ops.divide_no_nan, lambda a, b: np.where(b == 0, 0.0, a / np.where(b == 0, 1, b)),
     (X, np.array([1.5, 0.0, -2.0, 0.0])), True),
    ("heaviside", ops.heaviside, np.heaviside, (np.array([-1.5, 0.0, 2.0]), np.array([0.3, 0.5, 0.7])), False),
    ("fmax", ops.fmax, np.fmax, (SPECIAL, SPECIAL[::-1]), False),
    ("fmin", ops.fmin, np.fmin, (SPECIAL, SPECIAL[::-1]), False),
    # NaN and infinity
    ("isnan", ops.isnan, np.isnan, (SPECIAL,), False),
    ("isinf", ops.isinf, np.isinf, (SPECIAL,), False),
    ("isposinf", ops.isposinf, np.isposinf, (SPECIAL,), False),
    ("isneginf", ops.isneginf, np.isneginf, (SPECIAL,), False),
    ("isfinite", ops.isfinite, np.isfinite, (SPECIAL,), False),
    ("isfinite-int", ops.isfinite, np.isfinite, (INTS,), False),
    ("nan_to_num", ops.nan_to_num, np.nan_to_num, (SPECIAL,), False),
    ("nan_to_num-values", lambda x: ops.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0),
     lambda x: np.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0), (SPECIAL,), False),
    ("logical_xor", ops.logical_xor, np.logical_xor, (INTS, DIVISORS - 2), False),
    # bitwise operations
    ("bitwise_and", ops.bitwise_and, np.bitwise_and, (INTS, DIVISORS), False),
    ("gcd", ops.gcd, np.gcd, (INTS, DIVISORS), False),
    ("lcm", ops.lcm, np.lcm, (INTS, DIVISORS), False),
    ("gcd-python-int", lambda x: ops.gcd(x, 6), lambda x: np.gcd(x, 6), (INTS,), False),
    ("nextafter", ops.nextafter, np.nextafter, (X, Y), False),
    ("nextafter-ints", lambda x: ops.nextafter(x, 0.0), lambda x: np.nextafter(x.astype(np.float64), 0.0),
     (INTS,), False),
    ("bitwise_or", lambda x: ops.bitwise_or(x, 6), lambda x: np.bitwise_or(x, 6), (INTS,), False),
    ("bitwise_xor", ops.bitwise_xor, np.bitwise_xor, (INTS > 2, INTS > 5), False),
    ("bitwise_not", ops.bitwise_not, np.invert, (INTS,), False),
    ("bitwise_invert", ops.bitwise_invert, np.invert, (INTS > 2,), False),
    ("left_shift", lambda x: ops.left_shift(x, np.array([1, 2, 3])), lambda x: np.left_shift(x, [1, 2, 3]), (INTS,),
     False),
    ("right_shift", lambda x: ops.bitwise_right_shift(x, 1), lambda x: np.right_shift(x, 1), (INTS,), False),
    # shapes, joining and splitting
    ("ravel", ops.ravel, np.ravel, (B,), True),
    ("copy", ops.copy, np.copy, (X,), True),
    ("get_item", lambda x: ops.get_item(x, (slice(None), 1)), lambda x: x[:, 1], (X,), True),
    ("hstack", lambda x, y: ops.hstack([x, y]), lambda x, y: np.hstack([x, y]), (X, Y), True),
    ("hstack-vectors", lambda x, y: ops.hstack([x, y]), lambda x, y: np.hstack([x, y]), (V, W), True),
    ("vstack", lambda x, y: ops.vstack([x, y]), lambda x, y: np.vstack([x, y]), (V, W), True),
    ("dstack", lambda x, y: ops.dstack([x, y]), lambda x, y: np.dstack([x, y]), (X, Y), True),
    ("dstack-vectors", lambda x, y: ops.dstack([x, y]), lambda x, y: np.dstack([x, y]), (V, W), True),
    ("append", ops.append, np.append, (X, V), True),
    ("append-axis", lambda x, y: ops.append(x, y, axis=0), lambda x, y: np.append(x, y, axis=0), (X, Y), True),
    ("split", lambda x: ops.split(x, 2, axis=1)[1], lambda x: np.split(x, 2, axis=1)[1], (X,), True),
    ("split-indices", lambda x: ops.split(x, [1, 3], axis=1)[2], lambda x: np.split(x, [1, 3], axis=1)[2], (X,), True),
    ("array_split", lambda x: ops.array_split(x, 3)[0], lambda x: np.array_split(x, 3)[0], (V,), True),
    ("hsplit", lambda x: ops.hsplit(x, 2)[0], lambda x: np.hsplit(x, 2)[0], (X,), True),
    ("vsplit", lambda x: ops.vsplit(x, 3)[2], lambda x: np.vsplit(x, 3)[2], (X,), True),
    ("dsplit", lambda x: ops.dsplit(x, 2)[1], lambda x: np.dsplit(x, 2)[1], (B,), True),
    ("unstack", lambda x: ops.unstack(x, axis=1)[2], lambda x: x[:, 2], (X,), True),
    ("roll", lambda x: ops.roll(x, 2, axis=1), lambda x: np.roll(x, 2, axis=1), (X,), True),
    ("roll-flat", lambda x: ops.roll(x, -5), lambda x: np.roll(x, -5), (X,), True),
    ("roll-axes", lambda x: ops.roll(x, (1, -1), axis=(0, 2)), lambda x: np.roll(x, (1, -1), axis=(0, 2)), (B,), True),
    ("rot90", ops.rot90, np.rot90, (X,), True),
    ("rot90-3", lambda x: ops.rot90(x, 3, (1, 2)), lambda x: np.rot90(x, 3, (1, 2)), (B,), True),
    ("rot90-2", lambda x: ops.rot90(x, -2), lambda x: np.rot90(x, -2), (X,), True),
    ("fliplr", ops.fliplr, np.fliplr, (X,), True),
    ("flipud", ops.flipud, np.flipud, (X,), True),
    # triangles and diagonals
    ("tril", ops.tril, np.tril, (X,), True),
    ("tril-k", lambda x: ops.tril(x, -1), lambda x: np.tril(x, -1), (B,), True),
    ("triu", lambda x: ops.triu(x, 1), lambda x: np.triu(x, 1), (X,), True),
    ("diagonal", ops.diagonal, np.diagonal, (X,), True),
    ("diagonal-offset", lambda x: ops.diagonal(x, -1, 2, 1), lambda x: np.diagonal(x, -1, 2, 1), (B,), True),
    ("trace", lambda x: ops.trace(x, 1), lambda x: np.trace(x, 1), (X,), True),
    ("diag-vector", lambda v: ops.diag(v, -2), lambda v: np.diag(v, -2), (V,), True),
    ("diag-matrix", lambda x: ops.diag(x, 1), lambda x: np.diag(x, 1), (X,), True),
    ("diagflat", ops.diagflat, np.diagflat, (X[:2, :2],), True),
    # products and comparisons
    ("outer", ops.outer, np.outer, (V, W), True),
    ("inner", ops.inner, np.inner, (X, Y), True),
    ("inner-vectors", ops.inner, np.inner, (V, W), True),
    ("vdot", ops.vdot, np.vdot, (X, Y), True),
    ("cross", ops.cross, np.cross, (X[:, :3], Y[:, :3]), True),
    ("cross-axis", lambda a, b: ops.cross(a, b, axis=0), lambda a, b: np.cross(a, b, axis=0), (X[:, :2], Y[:, :2]),
     True),
    ("kron", ops.kron, np.kron, (X[:2, :3], Y[:2, :2]), True),
    ("isclose", ops.isclose, np.isclose, (SPECIAL, SPECIAL + 1e-9), False),
    ("isclose-nan", lambda a, b: ops.isclose(a, b, equal_nan=True), lambda a, b: np.isclose(a, b, equal_nan=True),
     (SPECIAL, SPECIAL), False),
    ("allclose", ops.allclose, np.allclose, (X, X + 1e-9), False),
    ("select", lambda x: ops.select([x < -1, x > 1], [x * 2, -x], 0.5),
     lambda x: np.select([x < -1, x > 1], [x * 2, -x], 0.5), (X,), True),
    ("digitize", lambda x: ops.digitize(x, [-1.0, 0.0, 1.0]), lambda x: np.digitize(x, [-1.0, 0.0, 1.0]), (X,), False),
    ("searchsorted", lambda v: ops.searchsorted(np.array([-1.0, 0.0, 0.5, 1.0]), v),
     lambda v: np.searchsorted([-1.0, 0.0, 0.5, 1.0], v), (np.array([-2.0, 0.0, 0.7, 1.0, 3.0]),), False),
    ("searchsorted-right", lambda v: ops.searchsorted(np.array([-1.0, 0.0, 0.5]), v, side="right"),
     lambda v: np.searchsorted([-1.0, 0.0, 0.5], v, side="right"), (np.array([-1.0, 0.0, 0.7]),), False),
    ("diff", lambda x: ops.diff(x, 2), lambda x: np.diff(x, 2), (X,), True),
    ("diff-axis", lambda x: ops.diff(x, axis=0), lambda x: np.diff(x, axis=0), (X,), True),
    ("trapezoid", ops.trapezoid, np.trapezoid, (X,), True),
    ("trapezoid-x", lambda y: ops.trapezoid(y, np.array([0.0, 0.5, 1.5, 3.0]), axis=1),
     lambda y: np.trapezoid(y, np.array([0.0, 0.5, 1.5, 3.0]), axis=1), (X,), True),
    # ranges and grids
    ("linspace", lambda a, b: ops.linspace(a, b, 7), lambda a, b: np.linspace(a, b, 7), (np.array(-1.5), np.array(2.0)),
     True),
    ("linspace-open", lambda a, b: ops.linspace(a, b, 4, endpoint=False), lambda a, b: np.linspace(a, b, 4, False),
     (np.array(0.5), np.array(2.0)), True),
    ("linspace-arrays", lambda a, b: ops.linspace(a, b, 3, axis=1), lambda a, b: np.linspace(a, b, 3, axis=1), (V, W),
     True),
    ("logspace", lambda a, b: ops.logspace(a, b, 5, base=2.0), lambda a, b: np.logspace(a, b, 5, base=2.0),
     (np.array(-1.0), np.array(2.0)), True),
    ("geomspace", lambda a, b: ops.geomspace(a, b, 5), lambda a, b: np.geomspace(a, b, 5),
     (np.array(0.5), np.array(8.0)), True),
    ("meshgrid-xy", lambda a, b: ops.meshgrid(a, b)[0], lambda a, b: np.meshgrid(a, b)[0], (V, W[:3]), True),
    ("meshgrid-xy-second", lambda a, b: ops.meshgrid(a, b)[1], lambda a, b: np.meshgrid(a, b)[1], (V, W[:3]), True),
    ("meshgrid-ij", lambda a, b: ops.meshgrid(a, b, indexing="ij")[1],
     lambda a, b: np.meshgrid(a, b, indexing="ij")[1], (V, W[:3]), True),
    # reductions
    ("all", lambda x: ops.all(x, axis=1), lambda x: np.all(x, axis=1), (INTS,), False),
    ("any", lambda x: ops.any(x, axis=0, keepdims=True), lambda x: np.any(x, 0, keepdims=True), (INTS - 7,), False),
    ("amax", lambda x: ops.amax(x, axis=0), lambda x: np.amax(x, 0), (X,), True),
    ("amin", lambda x: ops.amin(x, axis=1), lambda x: np.amin(x, 1), (X,), True),
    ("ptp", lambda x: ops.ptp(x, axis=1), lambda x: np.ptp(x, 1), (X,), True),
    ("count_nonzero", lambda x: ops.count_nonzero(x, axis=1), lambda x: np.count_nonzero(x, 1), (INTS,), False),
    ("average", ops.average, np.average, (X,), True),
    ("average-weights", lambda x: ops.average(x, 1, weights=np.array([1.0, 2.0, 0.5, 3.0])),
     lambda x: np.average(x, 1, weights=[1.0, 2.0, 0.5, 3.0]), (X,), True),
    ("median", ops.median, np.median, (X,), True),
    ("median-axis", lambda x: ops.median(x, axis=1, keepdims=True), lambda x: np.median(x, 1, keepdims=True), (X,),
     True),
    ("quantile", lambda x: ops.quantile(x, [0.1, 0.75], axis=0), lambda x: np.quantile(x, [0.1, 0.75], axis=0), (X,),
     True),
    ("quantile-lower", lambda x: ops.quantile(x, 0.3, method="lower"), lambda x: np.quantile(x, 0.3, method="lower"),
     (X,), True),
    ("quantile-midpoint", lambda x: ops.quantile(x, 0.3, axis=1, method="midpoint"),
     lambda x: np.quantile(x, 0.3, axis=1, method="midpoint"), (X,), True),
    ("percentile", lambda x: ops.percentile(x, 40, axis=(0, 2)), lambda x: np.percentile(x, 40, axis=(0, 2)), (B,),
     True),
    ("nansum", lambda x: ops.nansum(x, axis=1), lambda x: np.nansum(x, 1), (WITH_NAN,), False),
    ("nanmean", lambda x: ops.nanmean(x, axis=0), lambda x: np.nanmean(x, 0), (WITH_NAN,), False),
    ("nanvar", lambda x: ops.nanvar(x, axis=1), lambda x: _nanvar(x, 1), (WITH_NAN,), False),
    ("nanstd", ops.nanstd, np.nanstd, (WITH_NAN,), False),
    ("nanmax", lambda x: ops.nanmax(x, axis=1), lambda x: np.nanmax(x, 1), (WITH_NAN,), False),
    ("nanmin", ops.nanmin, np.nanmin, (WITH_NAN,), False),
    ("nanprod", lambda x: ops.nanprod(x, axis=0), lambda x: np.nanprod(x, 0), (WITH_NAN,), False),
    ("nanargmax", lambda x: ops.nanargmax(x, axis=1), lambda x: np.nanargmax(x, 1), (WITH_NAN,), False),
    ("nanargmin", ops.nanargmin, np.nanargmin, (WITH_NAN,), False),
    ("nancumsum", lambda x: ops.nancumsum(x, axis=1), lambda x: np.nancumsum(x, 1), (WITH_NAN,), False),
    ("nancumprod", lambda x: ops.nancumprod(x, axis=0), lambda x: np.nancumprod(x, 0), (WITH_NAN,), False),
    # linear algebra
    ("inv", ops.inv, np.linalg.inv, (MATRICES,), True),
    ("det", ops.det, np.linalg.det, (MATRICES,), True),
    ("solve", ops.solve, np.linalg.solve, (MATRICES, RHS), True),
    ("solve-rhs", lambda b, a: ops.solve(a, b), lambda b, a: np.linalg.solve(a, b), (RHS, MATRICES), True),
    ("solve-vector", lambda a, b: ops.solve(a, b), lambda a, b: np.linalg.solve(a, b[..., None])[..., 0],
     (MATRICES, RHS[..., 0]), True),
    ("solve_triangular-lower", lambda a, b: ops.solve_triangular(a, b, lower=True),
     lambda a, b: np.linalg.solve(np.tril(a), b), (MATRICES, RHS), True),
    ("solve_triangular-upper", lambda b, a: ops.solve_triangular(a, b),
     lambda b, a: np.linalg.solve(np.triu(a), b), (RHS, MATRICES), True),
    ("slogdet-sign", lambda a: ops.slogdet(a)[0], lambda a: np.linalg.slogdet(a)[0], (MATRICES * [-1, 1, 1],), False),
    ("slogdet-log", lambda a: ops.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1], (MATRICES * [-1, 1, 1],), True),
    ("logdet", ops.logdet, lambda a: np.linalg.slogdet(a)[1], (SPD,), True),
    ("cholesky", ops.cholesky, lambda a: np.linalg.cholesky(_symmetric(a)), (SPD,), True),
    ("cholesky-upper", lambda a: ops.cholesky(a, upper=True),
     lambda a: np.swapaxes(np.linalg.cholesky(_symmetric(a)), -1, -2), (SPD,), True),
    ("eigh-values", lambda a: ops.eigh(a)[0], lambda a: np.linalg.eigh(_symmetric(a))[0], (SPD,), True),
    ("eigh-vectors", lambda a: ops.eigh(a)[1], _signed_eigenvectors, (SPD,), True),
    ("eigh-nonsymmetric", lambda a: ops.eigh(a)[1], _signed_eigenvectors, (MATRICES,), True),
    ("qr-q", lambda a: ops.qr(a)[0], lambda a: _signed_qr(a)[0], (RHS,), True),  # tall (3, 2) matrices
    ("qr-r", lambda a: ops.qr(a)[1], lambda a: _signed_qr(a)[1], (MATRICES,), True),
    ("qr-wide-q", lambda a: ops.qr(a)[0], lambda a: _signed_qr(a)[0], (np.swapaxes(RHS, -1, -2),), False),
    ("qr-wide-r", lambda a: ops.qr(a, mode="complete")[1], lambda a: _signed_qr(a)[1], (np.swapaxes(RHS, -1, -2),),
     False),  # complete is reduced for wide matrices
    ("svd-u", lambda a: ops.svd(a, full_matrices=False)[0], lambda a: _signed_svd(a)[0], (RHS,), True),
    ("svd-s", lambda a: ops.svd(a, compute_uv=False), lambda a: np.linalg.svd(a, compute_uv=False), (RHS,), True),
    ("svd-vh", lambda a: ops.svd(a)[2], lambda a: _signed_svd(a)[2], (MATRICES,), True),
    ("svd-wide-vh", lambda a: ops.svd(a, full_matrices=False)[2], lambda a: _signed_svd(a)[2],
     (np.swapaxes(RHS, -1, -2),), True),
    ("pinv", ops.pinv, np.linalg.pinv, (RHS,), True),
    ("pinv-rank-deficient", lambda a: ops.pinv(a), np.linalg.pinv, (np.ones((2, 3, 3)),), False),
    ("lstsq", lambda a, b: ops.lstsq(a, b), lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0],
     (MATRICES[0], RHS[0]), True),
    ("lstsq-tall-vector", lambda a, b: ops.lstsq(a, b), lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0],
     (X.T, V[:4]), True),  # four equations, three unknowns
    ("matrix_rank", ops.matrix_rank, lambda a: np.linalg.matrix_rank(a).astype(np.int32),
     (np.stack([MATRICES[0], np.outer([1.0, 2.0, 3.0], [1.0, 0.0, 1.0])]),), False),
    ("fft-real", lambda a, b: ops.fft((a, b))[0], lambda a, b: np.fft.fft(a + 1j * b).real, (X, Y), True),
    ("fft-imag", lambda a, b: ops.fft((a, b))[1], lambda a, b: np.fft.fft(a + 1j * b).imag, (X, Y), True),
    ("fft2-imag", lambda a, b: ops.fft2((a, b))[1], lambda a, b: np.fft.fft2(a + 1j * b).imag, (X, Y), True),
    ("ifft2-real", lambda a, b: ops.ifft2((a, b))[0], lambda a, b: np.fft.ifft2(a + 1j * b).real, (X, Y), True),
    ("rfft-imag", lambda a: ops.rfft(a)[1], lambda a: np.fft.rfft(a).imag, (X,), True),
    ("rfft-padded", lambda a: ops.rfft(a, fft_length=7)[0], lambda a: np.fft.rfft(a, 7).real, (X,), True),
    ("irfft", lambda a, b: ops.irfft((a, b)), lambda a, b: np.fft.irfft(a + 1j * b), (X, Y), True),
    ("irfft-odd", lambda a, b: ops.irfft((a, b), 7), lambda a, b: np.fft.irfft(a + 1j * b, 7), (X, Y), True),
    ("irfft-cropped", lambda a, b: ops.irfft((a, b), 4), lambda a, b: np.fft.irfft(a + 1j * b, 4), (X, Y), True),
    ("unfold", lambda x: ops.unfold(x, 2), lambda x: _unfolded(x, 2), (CHANNELS_FIRST,), True),
    ("unfold-strided", lambda x: ops.unfold(x, (3, 2), (1, 2), (1, 0), (2, 1)),
     lambda x: _unfolded(x, (3, 2), (1, 2), (1, 0), (2, 1)), (CHANNELS_FIRST,), True),
    ("fold", lambda c: ops.fold(c, (7, 6), 2), lambda c: _folded(c, (7, 6), 2), (RNG.normal(size=(2, 12, 30)),), True),
    ("fold-strided", lambda c: ops.fold(c, (7, 6), 3, 1, 1, 2), lambda c: _folded(c, (7, 6), 3, 1, 1, 2),
     (RNG.normal(size=(2, 27, 12)),), True),
    ("rearrange", lambda x: ops.rearrange(x, "b h w c -> b c (h w)"),
     lambda x: einops.rearrange(x, "b h w c -> b c (h w)"), (IMAGES,), True),
    ("rearrange-split", lambda x: ops.rearrange(x, "b h w (c c1) -> (b c1) h w c", c1=4),
     lambda x: einops.rearrange(x, "b h w (c c1) -> (b c1) h w c", c1=4), (IMAGES,), True),
    ("rearrange-infer", lambda x: ops.rearrange(x, "(a b) c -> b (c a)", b=3),
     lambda x: einops.rearrange(x, "(a b) c -> b (c a)", b=3), (np.arange(24.0).reshape(6, 4),), True),
    ("bincount", lambda w: ops.bincount(np.array([1, 1, 3, 0]), weights=w),
     lambda w: np.bincount([1, 1, 3, 0], weights=w), (V[:4],), True),
    ("bincount-counts", lambda: ops.bincount(np.array([[1, 1, 3], [0, 2, 2]]), minlength=6),
     lambda: np.stack([np.bincount([1, 1, 3], minlength=6), np.bincount([0, 2, 2], minlength=6)]), (), False),
    ("cholesky_inverse", ops.cholesky_inverse, lambda f: np.linalg.inv(f @ np.swapaxes(f, -1, -2)),
     (np.linalg.cholesky(SPD),), False),
    ("cholesky_inverse-upper", lambda f: ops.cholesky_inverse(np.swapaxes(f, -1, -2), upper=True),
     lambda f: np.linalg.inv(f @ np.swapaxes(f, -1, -2)), (np.linalg.cholesky(SPD),), False),
    # scatter, slices and segments
    ("slice", lambda x: ops.slice(x, [1, 2], (2, 2)), lambda x: x[1:3, 2:4], (X,), True),
    ("slice-tensor-start", lambda x: ops.slice(x, [hn.tensor(2), hn.tensor(3)], (2, 2)), lambda x: x[1:3, 2:4],
     (X,), True),  # clamped so that the block fits, as JAX's dynamic slices
    ("slice_update", lambda x: ops.slice_update(x, [0, hn.tensor(1)], np.full((2, 2), 9.0)),
     lambda x: np.concatenate([x[:, :1], np.vstack([np.full((2, 2), 9.0), x[2:, 1:3]]), x[:, 3:]], 1), (X,), True),
    ("slice_update-updates", lambda u: ops.slice_update(X, [1, 2], u),
     lambda u: np.concatenate([X[:1], np.hstack([X[1:, :2], u]), ], 0), (Y[:2, :2],), True),
    ("scatter", lambda v: ops.scatter(np.array([[0, 1], [2, 3], [0, 1]]), v, (3, 4)),
     _scattered, (V[:3],), True),
    ("scatter-rows", lambda v: ops.scatter(np.array([[2], [0]]), v, (3, 4)),
     lambda v: np.stack([v[1], np.zeros(4), v[0]]), (Y[:2],), True),
    ("scatter_update", lambda x: ops.scatter_update(x, np.array([[0, 0], [2, 1]]), np.array([7.0, 8.0])),
     _updated, (X,), True),
    ("segment_sum", lambda d: ops.segment_sum(d, np.array([1, 0, 1]), num_segments=3),
     lambda d: np.stack([d[1], d[0] + d[2], np.zeros(4)]), (X,), True),
    ("segment_max", lambda d: ops.segment_max(d, np.array([1, 1, 0])),
     lambda d: np.stack([d[2], np.maximum(d[0], d[1])]), (X,), True),
    # more of Keras's group: order statistics with NaN, histograms, membership, complex parts of real tensors
    ("nanmedian", lambda x: ops.nanmedian(x, axis=1), lambda x: np.nanmedian(x, 1), (WITH_NAN,), False),
    ("nanquantile", lambda x: ops.nanquantile(x, [0.2, 0.9], axis=0), lambda x: np.nanquantile(x, [0.2, 0.9], 0),
     (WITH_NAN,), False),
    ("nanquantile-numbers", lambda x: ops.nanquantile(x, 0.3), lambda x: np.quantile(x, 0.3), (X,), True),
    ("nanpercentile", lambda x: ops.nanpercentile(x, 75, axis=1, keepdims=True),
     lambda x: np.nanpercentile(x, 75, axis=1, keepdims=True), (WITH_NAN,), False),
    ("histogram-counts", lambda x: ops.histogram(x, bins=4)[0], lambda x: np.histogram(x, bins=4)[0], (X,), False),
    ("histogram-edges", lambda x: ops.histogram(x, bins=4)[1], lambda x: np.histogram(x, bins=4)[1], (X,), False),
    ("histogram-range", lambda x: ops.histogram(x, 3, (-1.0, 1.0))[0], lambda x: np.histogram(x, 3, (-1.0, 1.0))[0],
     (X,), False),
    ("isin", lambda x: ops.isin(x, np.array([0, 3, 8])), lambda x: np.isin(x, [0, 3, 8]), (INTS,), False),
    ("isin-invert", lambda x: ops.isin(x, np.array([0, 3]), invert=True), lambda x: np.isin(x, [0, 3], invert=True),
     (INTS,), False),
    ("vander", lambda v: ops.vander(v, 4), lambda v: np.vander(v, 4), (V,), True),
    ("vander-increasing", lambda v: ops.vander(v, increasing=True), lambda v: np.vander(v, increasing=True), (V,),
     True),
    ("unravel_index-rows", lambda i: ops.unravel_index(i, (3, 4, 5))[0], lambda i: np.unravel_index(i, (3, 4, 5))[0],
     (np.array([7, 59, 23]),), False),
    ("unravel_index-last", lambda i: ops.unravel_index(i, (3, 4, 5))[2], lambda i: np.unravel_index(i, (3, 4, 5))[2],
     (np.array([7, 59, 23]),), False),
    ("corrcoef", ops.corrcoef, np.corrcoef, (X,), True),
    ("correlate-valid", lambda a, b: ops.correlate(a, b), np.correlate, (V, W[:3]), True),
    ("correlate-same", lambda a, b: ops.correlate(a, b, "same"), lambda a, b: np.correlate(a, b, "same"),
     (V, W[:3]), True),
    ("correlate-full", lambda a, b: ops.correlate(a, b, "full"), lambda a, b: np.correlate(a, b, "full"),
     (V[:2], W), True),
    ("signbit", ops.signbit, np.signbit, (np.array([-0.0, 0.0, -1.5, 2.0, -np.inf]),), False),
    ("signbit-int", ops.signbit, np.signbit, (INTS - 4,), False),
    ("real", ops.real, np.real, (X,), True),
    ("imag", ops.imag, np.imag, (X,), False),
    ("conj", ops.conj, np.conj, (X,), True),
    ("angle", ops.angle, np.angle, (X,), False),
    ("isreal", ops.isreal, np.isreal, (X,), False),
    ("saturate_cast", lambda x: ops.saturate_cast(x * 2e9, "int32"),
     lambda x: np.clip(x * 2e9, -(2**31), 2**31 - 1).astype(np.int32), (X,), False),
    ("segment_min", lambda d: ops.segment_min(d, np.array([0, 1, 1]), 3),
     lambda d: np.stack([d[0], np.minimum(d[1], d[2]), np.full(4, np.inf)]), (X,), False),
    ("segment_prod", lambda d: ops.segment_prod(d, np.array([1, 0, 1])), lambda d: np.stack([d[1], d[0] * d[2]]),
     (X,), True),
    ("sparse_sigmoid", ops.sparse_sigmoid, lambda x: np.clip((x + 1) / 2, 0, 1), (X * 0.9,), True),
    ("in_top_k", lambda p: ops.in_top_k(np.array([2, 0, 3]), p, 2),
     lambda p: np.argsort(-p, 1)[:, :2].__eq__(np.array([2, 0, 3])[:, None]).any(1), (X,), False),
    ("depth_to_space", lambda x: ops.depth_to_space(x, 2),
     lambda x: x.reshape(2, 2, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(2, 4, 4, 2), (IMAGES,), True),
    ("space_to_depth", lambda x: ops.space_to_depth(ops.depth_to_space(x, 2), 2), lambda x: x, (IMAGES,), True),
    ("depth_to_space-first", lambda x: ops.depth_to_space(x, 2, "channels_first"),
     lambda x: np.moveaxis(x.transpose(0, 2, 3, 1).reshape(2, 2, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(
         2, 4, 4, 2), -1, 1), (np.moveaxis(IMAGES, -1, 1).copy(),), True),
    ("cdist", ops.cdist, lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)), (X, Y[:2]), True),
    ("cdist-p1", lambda a, b: ops.cdist(a, b, p=1.0), lambda a, b: np.abs(a[:, None] - b[None]).sum(-1), (X, Y[:2]),
     False),
    ("adaptive_average_pool", lambda x: ops.adaptive_average_pool(x, (2, 3)),
     lambda x: _adaptive(x, (2, 3), np.mean), (RNG.normal(size=(2, 5, 7, 2)),), True),
    ("adaptive_max_pool", lambda x: ops.adaptive_max_pool(x, (3, 2)), lambda x: _adaptive(x, (3, 2), np.max),
     (RNG.normal(size=(2, 5, 7, 2)),), True),
    ("adaptive_average_pool-first", lambda x: ops.adaptive_average_pool(x, 2, data_format="channels_first"),
     lambda x: np.moveaxis(_adaptive(np.moveaxis(x, 1, -1), (2, 2), np.mean), -1, 1), (RNG.normal(size=(1, 2, 5, 4)),),
     True),
    ("sparsemax", ops.sparsemax, _sparsemax, (X,), True),
    ("sparsemax-axis", lambda x: ops.sparsemax(x, axis=0), lambda x: _sparsemax(x.T).T, (X,), True),
    ("extract_sequences", lambda x: ops.extract_sequences(x, 3, 2),
     lambda x: np.lib.stride_tricks.sliding_window_view(x, 3, axis=-1)[..., ::2, :], (RNG.normal(size=(3, 8)),), True),
    ("hamming", lambda _: ops.hamming(6), lambda _: np.hamming(6), (V,), False),
    ("hanning", lambda _: ops.hanning(6), lambda _: np.hanning(6), (V,), False),
    ("bartlett", lambda _: ops.bartlett(5), lambda _: np.bartlett(5), (V,), False),
    ("blackman", lambda _: ops.blackman(5), lambda _: np.blackman(5), (V,), False),
    ("kaiser", lambda _: ops.kaiser(5, 2.5), lambda _: np.kaiser(5, 2.5), (V,), False),
    # neural-network group
    ("swish", ops.swish, lambda x: x / (1.0 + np.exp(-x)), (X,), True),
    ("hard_swish", ops.hard_swish, lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0, (X,), True),
    ("normalize", ops.normalize, lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True), (X,), True),
    ("normalize-order", lambda x: ops.normalize(x, axis=0, order=3),
     lambda x: x / np.sum(np.abs(x) ** 3, 0, keepdims=True) ** (1 / 3), (X,), True),
    ("moments-mean", lambda x: ops.moments(x, axes=(0, 2))[0], lambda x: x.mean((0, 2)), (B,), True),
    ("moments-variance", lambda x: ops.moments(x, axes=[1], keepdims=True)[1], lambda x: x.var(1, keepdims=True),
     (B,), True),
    ("batch_normalization", lambda x: ops.batch_normalization(x, X[0], P[0], axis=1, offset=Y[0], scale=X[1]),
     lambda x: (x - X[0]) / np.sqrt(P[0] + 1e-3) * X[1] + Y[0], (X,), True),
    ("layer_normalization", lambda x: ops.layer_normalization(x, X[0], Y[0], epsilon=1e-5),
     lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * X[0] + Y[0], (X,), True),
    ("layer_normalization-rms", lambda x: ops.layer_normalization(x, X[0], axis=-1, epsilon=1e-5, rms_scaling=True),
     lambda x: x / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * X[0], (X,), True),
    ("rms_normalization", lambda x: ops.rms_normalization(x, P[0], epsilon=1e-6),
     lambda x: x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * P[0], (X,), True),
    ("psnr", lambda a, b: ops.psnr(a, b, 2.0), lambda a, b: 20 * np.log10(2.0) - 10 * np.log10(((a - b) ** 2).mean()),
     (X, Y), True),
    ("dot_product_attention", lambda q, k, v: ops.dot_product_attention(q, k, v), _attention, (Q, K, VALUES), True),
    ("dot_product_attention-causal", lambda q, k, v: ops.dot_product_attention(q, k[:, :5], v[:, :5], is_causal=True),
     lambda q, k, v: _attention(q, k[:, :5], v[:, :5], np.tril(np.ones((5, 5), bool))), (Q, K, VALUES), True),
    ("dot_product_attention-grouped", lambda q, k, v: ops.dot_product_attention(q, k[:, :, :2], v[:, :, :2]),
     lambda q, k, v: _attention(q, np.repeat(k[:, :, :2], 2, 2), np.repeat(v[:, :, :2], 2, 2)), (Q, K, VALUES), True),
    ("multi_hot", lambda x: ops.multi_hot(x, 5), lambda x: (np.eye(5)[x].max(-2)), (np.array([[0, 3, 3], [4, 1, 0]]),),
     False),
]  # fmt: skip
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "fn", "reference", "inputs", "differentiable"), CASES, ids=IDS)
def test_values_match_numpy(
    backend64: str, name: str, fn: Callable[..., Any], reference: Callable[..., Any], inputs: Any, differentiable: bool
) -> None:
    assert_matches_reference(fn, reference, inputs)


GRADIENT_CASES = [case for case in CASES if case[4]]


@pytest.mark.parametrize(
    ("name", "fn", "reference", "inputs", "differentiable"), GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES]
)
def test_gradients_match_finite_differences(
    backend64: str, name: str, fn: Callable[..., Any], reference: Callable[..., Any], inputs: Any, differentiable: bool
) -> None:
    assert_gradient_matches_finite_differences(fn, reference, inputs)


def test_keras_dtype_conventions() -> None:
    assert ops.sinh(np.array([1, 2])).dtype == hn.config.floatx()  # integers become floatx
    assert ops.mod(INTS, DIVISORS).dtype == ops.floor_divide(INTS, DIVISORS).dtype == hn.tensor(INTS).dtype
    assert ops.isnan(INTS).dtype == "bool" and not ops.isnan(INTS).numpy().any()
    assert ops.digitize(X, [0.0]).dtype == ops.searchsorted(np.array([0.0]), X[0]).dtype == "int32"
    assert ops.count_nonzero(INTS).dtype == "int32"
    assert ops.ndim(B) == 3 and ops.size(B) == 24 and isinstance(ops.size(B), int)
    assert ops.array([1, 2], dtype="float32").dtype == "float32" and ops.array(X).shape == (3, 4)
    assert ops.identity(3).dtype == ops.empty((2, 2)).dtype == hn.config.floatx()
    np.testing.assert_array_equal(ops.tri(3, 4, 1, dtype="int32").numpy(), np.tri(3, 4, 1, dtype=np.int32))
    values, step = ops.linspace(0.0, 1.0, 5, retstep=True)
    assert float(step.numpy()) == 0.25 and float(values.numpy()[-1]) == 1.0
    assert [t.shape for t in ops.split(np.ones((6, 2)), [2, -1])] == [(2, 2), (3, 2), (1, 2)]
    assert bool(ops.allclose(np.array([np.inf, 1.0]), np.array([np.inf, 1.0 + 1e-9])).numpy())


def _wide_qr_gradient() -> Any:
    x = hn.tensor(np.eye(2, 3) + 1.0, requires_grad=True)
    return hn.grad(ops.qr(x)[1].sum(), [x])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: ops.split(np.ones(5), 2), ValueError,
         "split: `indices_or_sections` must be a number of equal parts that divides the axis's 5, received 2"),
        (lambda: ops.split(np.ones(5), "2"), TypeError, "split: `indices_or_sections` must be an int or a list"),
        (lambda: ops.unstack(np.ones((2, 3)), num=3), ValueError, r"unstack: `num` must be None or the length"),
        (lambda: ops.roll(np.ones((2, 3)), (1, 2, 3), axis=(0, 1)), ValueError, "roll: `shift` must be one shift"),
        (lambda: ops.rot90(np.ones((2, 3)), axes=(1, 1)), ValueError, "rot90: `axes` must be two different axes"),
        (lambda: ops.diagonal(np.ones(3)), ValueError, "diagonal: `x` must be a tensor of at least 2 dimensions"),
        (lambda: ops.diag(np.ones((2, 2, 2))), ValueError, "diag: `x` must be a vector or a matrix"),
        (lambda: ops.cross(np.ones(4), np.ones(3)), ValueError, "cross: `x1` must be vectors of 2 or 3 components"),
        (lambda: ops.select([X > 0], [X, Y]), ValueError, r"select: `choicelist` must be as many choices"),
        (lambda: ops.digitize(X, [1.0, 0.0]), ValueError, "digitize: `bins` must be a 1-D array of increasing edges"),
        (lambda: ops.searchsorted(X, V), ValueError, "searchsorted: `sorted_sequence` must be a 1-D tensor"),
        (lambda: ops.searchsorted(V, V, side="middle"), ValueError, "searchsorted: `side` must be one of"),
        (lambda: ops.quantile(X, 1.5), ValueError, r"quantile: `q` must be numbers in \[0, 1\]"),
        (lambda: ops.quantile(X, 0.5, method="cubic"), ValueError, "quantile: `method` must be one of"),
        (lambda: ops.average(X, 1, weights=np.ones(3)), ValueError, "average: `weights` must be of the shape of x"),
        (lambda: ops.linspace(0.0, 1.0, -1), ValueError, "linspace: `num` must be a non-negative int"),
        (lambda: ops.meshgrid(V, W, indexing="ji"), ValueError, "meshgrid: `indexing` must be one of 'xy', 'ij'"),
        (lambda: ops.normalize(X, order=0), ValueError, "normalize: `order` must be an int >= 1, received 0"),
        (lambda: ops.moments(X, 0, synchronized=True), ValueError, "moments: `synchronized` must be False"),
        (lambda: ops.psnr(X, V, 1.0), ValueError, r"psnr: `x2` must be of the shape of x1 \(3, 4\)"),
        (lambda: ops.dot_product_attention(X, X, X), ValueError, "dot_product_attention: `query` must be 4-D"),
        (lambda: ops.dot_product_attention(Q, K[:, :, :3], VALUES[:, :, :3]), ValueError,
         "dot_product_attention: `key` must be a number of heads dividing the query's 4, received 3"),
        (lambda: ops.dot_product_attention(Q, K, VALUES, flash_attention=True), ValueError,
         "dot_product_attention: `flash_attention` must be None or False"),
        (lambda: ops.multi_hot(np.array([1]), 3, sparse=True), ValueError, "multi_hot: `sparse` must be False"),
        (lambda: ops.scatter(np.array([[0, 1, 2, 3]]), np.ones(1), (2, 2)), ValueError,
         r"scatter: `indices` must be integer rows of 1 to 2 indices"),
        (lambda: ops.scatter(np.array([[0]]), np.ones(3), (2, 2)), ValueError,
         r"scatter: `values` must be one slice of shape \(2,\) per row of indices"),
        (lambda: ops.slice(X, [0], (1, 1)), ValueError, "slice: `start_indices` must be one start per axis"),
        (lambda: ops.slice(X, [0, 0], (5, 1)), ValueError, r"slice: `shape` must be sizes that fit the input \(3, 4\)"),
        (lambda: ops.segment_sum(X, np.array([0, 1])), ValueError,
         r"segment_sum: `segment_ids` must be one id per row of data \(3\)"),
        (lambda: ops.depth_to_space(np.ones((1, 2, 2, 3)), 2), ValueError,
         r"depth_to_space: `block_size` must be an int >= 2 whose square divides the channels \(3\)"),
        (lambda: ops.space_to_depth(np.ones((1, 3, 3, 1)), 2), ValueError,
         r"space_to_depth: `block_size` must be an int >= 2 dividing the height and width \(3, 3\)"),
        (lambda: ops.space_to_depth(np.ones((3, 3)), 2), ValueError, "space_to_depth: `x` must be a batch of images"),
        (lambda: ops.correlate(X, V), ValueError, "correlate: `x1` must be two vectors"),
        (lambda: ops.correlate(V, V, mode="wide"), ValueError, "correlate: `mode` must be one of"),
        (lambda: ops.histogram(X, bins=0), ValueError, "histogram: `bins` must be a positive int"),
        (lambda: ops.cdist(X, np.ones((2, 3))), ValueError, "cdist: `x2` must be rows of 4 features"),
        (lambda: ops.nanquantile(X, -0.1), ValueError, r"nanquantile: `q` must be numbers in \[0, 1\]"),
        (lambda: ops.inv(np.ones((2, 3))), ValueError, r"inv: expected square matrices \(\.\.\., n, n\)"),
        (lambda: ops.solve(np.eye(3), np.ones((2, 2))), ValueError, r"solve: right-hand sides must have shape"),
        (lambda: ops.qr(np.ones((3, 2)), mode="complete"), ValueError,
         r"qr: `mode` must be \"reduced\" for a matrix taller than wide"),
        (lambda: ops.qr(X, mode="full"), ValueError, "qr: `mode` must be one of"),
        (_wide_qr_gradient, NotImplementedError,
         r"qr: the gradient of a wide matrix's factors \(m < n, received shape \(2, 3\)\) is not supported"),
        (lambda: ops.svd(np.ones((3, 2))), ValueError,
         r"svd: `full_matrices` must be False for a non-square matrix \(its full U or V is not unique\)"),
        (lambda: ops.lstsq(np.ones((3, 2)), np.ones(4)), ValueError,
         r"lstsq: `b` must be a vector or matrix of 3 rows"),
        (lambda: ops.pinv(X, rcond="small"), TypeError, r"pinv: `rcond` must be a finite number"),
        (lambda: ops.fft(X), ValueError, r"fft: `x` must be a tuple \(real, imag\) of two tensors"),
        (lambda: ops.fft((X, V)), ValueError, r"fft: `x` must be real and imaginary parts of one shape"),
        (lambda: ops.fft2((V, V)), ValueError, r"fft2: `x` must be parts of at least 2 dimensions"),
        (lambda: ops.rfft(X, fft_length=0), ValueError, r"rfft: `fft_length` must be"),
        (lambda: ops.unfold(np.ones((2, 3, 4)), 2), ValueError, r"unfold: `x` must be a channels-first batch"),
        (lambda: ops.unfold(CHANNELS_FIRST, (2, 0)), ValueError,
         r"unfold: `kernel_size` must be an int >= 1 or a pair"),
        (lambda: ops.unfold(CHANNELS_FIRST, 9), ValueError, r"unfold: `kernel_size` must be a window that fits"),
        (lambda: ops.fold(np.ones((2, 5, 30)), (7, 6), 2), ValueError, r"fold: `x` must be columns \(N, C \* 4, 30\)"),
        (lambda: ops.rearrange(X, "a b"), ValueError, r'rearrange: `pattern` must be one "->"'),
        (lambda: ops.rearrange(X, "a b -> a"), ValueError, r"rearrange: `pattern` must be each axis name once"),
        (lambda: ops.rearrange(X, "a (b (c)) -> a b c"), ValueError, r"rearrange: `pattern` must be axis names and"),
        (lambda: ops.rearrange(X, "a (b c) -> a b c", c=3), ValueError,
         r"rearrange: `axes_lengths` must be lengths that split the axis \(b c\) of length 4"),
        (lambda: ops.rearrange(X, "a b -> b a", c=3), ValueError, r"rearrange: `c` must be a positive length"),
        (lambda: ops.bincount(np.array([1, -1])), ValueError, r"bincount: `x` must be non-negative integers"),
        (lambda: ops.bincount(X), ValueError, r"bincount: `x` must be integers of rank 1 or 2"),
        (lambda: ops.bincount(np.array([1]), sparse=True), ValueError, r"bincount: `sparse` must be False"),
        (lambda: ops.bincount(np.array([1, 2]), weights=V), ValueError, r"bincount: `weights` must be one weight"),
        (lambda: ops.eigh(np.ones(3)), ValueError, r"eigh: expected matrices \(\.\.\., m, n\), received shape \(3,\)"),
    ],
)  # fmt: skip
def test_bad_arguments_name_what_was_expected(call: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_segments_inside_a_traced_step_need_their_count() -> None:
    class Segments(hn.layers.Layer):
        def call(self, x: hn.Tensor) -> hn.Tensor:
            return ops.segment_sum(x, ops.cast(x[:, 0] > 0, "int32"))

        def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return (2, input_shape[-1])

    model = hn.Sequential([hn.Input((2,)), Segments()])
    with pytest.raises(ValueError, match="segment_sum: `num_segments` must be an int inside a traced step"):
        model.predict(np.ones((4, 2)), batch_size=4, verbose=0)


def test_erfinv_without_scipy_is_within_1e12_of_scipys() -> None:
    """The NumPy backend's own erfinv (used where SciPy is not installed), against SciPy's."""
    scipy_special = pytest.importorskip("scipy.special")
    x = np.concatenate([np.linspace(-0.999999, 0.999999, 2001), [1 - 1e-12, -(1 - 1e-15), 1e-300, 0.0]])
    np.testing.assert_allclose(numpy_backend._erfinv_by_newton(x), scipy_special.erfinv(x), rtol=1e-12, atol=0)
    edges = numpy_backend._erfinv_by_newton(np.array([1.0, -1.0, 1.5, -2.0]))
    assert edges[0] == np.inf and edges[1] == -np.inf and np.isnan(edges[2:]).all()


def test_bincount_inside_a_traced_step_makes_minlength_bins_and_drops_larger_values() -> None:
    """A traced step cannot read x, so the bins are minlength (required there), and values past them are dropped
    (as by JAX's length); the same program counts every call's values."""
    step = TracedFunction(lambda x: [ops.bincount(x, minlength=4)])
    (first,) = step(np.array([[1, 2, 2], [0, 0, 3]]))
    (second,) = step(np.array([[5, 1, 1], [3, 9, 0]]))
    np.testing.assert_array_equal(to_host(first), [[0, 1, 2, 0], [2, 0, 0, 1]])
    np.testing.assert_array_equal(to_host(second), [[0, 2, 0, 0], [1, 0, 0, 1]])
    with pytest.raises(ValueError, match=r"bincount: `minlength` must be the number of bins inside a traced step"):
        TracedFunction(lambda x: [ops.bincount(x)])(np.array([1, 2]))


def test_jvp_matches_jax_jvp_with_nested_outputs_and_aux(backend64: str) -> None:
    """The Jacobian-vector product, computed as the transpose of the VJP, against jax.jvp in float64."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    x, y, tx, ty = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(3, 4)), rng.normal(size=(4, 2))

    def ours(a: Any, b: Any) -> Any:
        return {"product": ops.sin(a) @ b, "squares": (a * a).sum()}, "aux"

    (output, tangents, aux) = ops.jvp(ours, (x, y), (tx, ty), has_aux=True)
    with jax.enable_x64(True):
        expected_output, expected = jax.jvp(lambda a, b: {"product": jnp.sin(a) @ b, "squares": (a * a).sum()},
                                            (x, y), (tx, ty))  # fmt: skip
    assert aux == "aux"
    for name in ("product", "squares"):
        np.testing.assert_allclose(to_host(output[name].value), np.asarray(expected_output[name]), atol=1e-12)
        np.testing.assert_allclose(to_host(tangents[name].value), np.asarray(expected[name]), atol=1e-12)
    with pytest.raises(ValueError, match=r"jvp: `tangents` must be shapes \[\(3, 4\), \(4, 2\)\]"):
        ops.jvp(lambda a, b: a @ b, (x, y), (tx, ty[:2]))
    with pytest.raises(ValueError, match=r"jvp: `tangents` must be a tuple or list like `primals`"):
        ops.jvp(lambda a: a, (x,), tx)


@pytest.mark.parametrize(("kth", "axis"), [(2, -1), (0, 0), ([1, 3], -1), (-1, 1)])
def test_argpartition_puts_the_kth_element_in_place(backend64: str, kth: Any, axis: int) -> None:
    """Every element before position kth (along the axis) is at most the kth smallest, every one after at least."""
    values = np.random.default_rng(8).normal(size=(4, 5))
    positions = to_host(ops.argpartition(values, kth, axis=axis).value)
    assert positions.dtype == np.int32
    parted = np.take_along_axis(values, positions, axis=axis)
    expected = np.sort(values, axis=axis)
    for k in np.atleast_1d(kth):
        np.testing.assert_array_equal(np.take(parted, k, axis=axis), np.take(expected, k, axis=axis))
        k %= values.shape[axis]
        kept = np.expand_dims(np.take(parted, k, axis=axis), axis)
        before, after = np.split(parted, [k], axis=axis)
        assert (before <= kept).all() and (after >= kept).all()
    with pytest.raises(ValueError, match=r"argpartition: `kth` must be positions in \[-5, 5\)"):
        ops.argpartition(values, 5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonzero_and_unique_match_numpy_and_refuse_a_traced_step(backend: str) -> None:
    """Their output shapes depend on the values: eager, equal to NumPy's (unique's size pads with the smallest
    element or cuts, as JAX's), and a clear error inside a traced step."""
    require_backend(backend)
    data = np.array([[3, 1, 3], [0, 1, 2]])
    with hn.config.use_backend(backend):
        for ours, theirs in zip(ops.nonzero(data), np.nonzero(data), strict=True):
            np.testing.assert_array_equal(to_host(ours.value), theirs)
        found = ops.unique(data, return_index=True, return_inverse=True, return_counts=True)
        for ours, theirs in zip(found, np.unique(data, True, True, True), strict=True):
            np.testing.assert_array_equal(to_host(ours.value), np.asarray(theirs).reshape(-1))
        np.testing.assert_array_equal(to_host(ops.unique(data, size=6).value), [0, 1, 2, 3, 0, 0])
        np.testing.assert_array_equal(to_host(ops.unique(data, size=6, fill_value=-1).value), [0, 1, 2, 3, -1, -1])
        np.testing.assert_array_equal(to_host(ops.unique(data, size=2).value), [0, 1])
        rows = np.array([[1, 2], [1, 2], [0, 5]])
        np.testing.assert_array_equal(to_host(ops.unique(rows, axis=0).value), [[0, 5], [1, 2]])
        for operation in (ops.nonzero, ops.unique):
            with pytest.raises(ValueError, match=rf"{operation.__name__}: `x` must be a tensor outside a traced step"):
                TracedFunction(lambda x, operation=operation: list(np.atleast_1d(operation(x))))(data)
        with pytest.raises(ValueError, match=r"unique: `size` must be a positive int or None"):
            ops.unique(data, size=0)
