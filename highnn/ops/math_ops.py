"""Keras's ``keras.ops`` elementwise math beyond the primitives: inverse and hyperbolic trigonometry, logarithms
and exponentials of other bases, integer-style division, and the tests and replacements of NaN and infinity.

The transcendental functions are primitives of their own (``highnn.ops.primitives``); the rest are composed
from primitives, so every gradient follows from their rules. Integer inputs of a float function become
floatx first, as in Keras.
"""

from __future__ import annotations

import math

import numpy as np

from highnn.backends.base import ALL_FLOAT_DTYPES
from highnn.config import settings
from highnn.graph import Tensor, TensorLike, to_tensor
from highnn.ops import primitives as P
from highnn.ops.numpy_ops import _truth, ceil, where
from highnn.ops.primitives import abs, equal, floor, greater, less, log, maximum, minimum, not_equal, sqrt


def float_of(x: TensorLike) -> Tensor:
    """``x`` as a float tensor: its own float dtype (low precision included), else floatx."""
    x = to_tensor(x)
    return x if x.dtype in ALL_FLOAT_DTYPES else P.cast(x, settings.floatx)


def _floats(x1: TensorLike, x2: TensorLike) -> tuple[Tensor, Tensor]:
    """Two operands in one float dtype: a float operand's (the first's when both are), else floatx."""
    a, b = to_tensor(x1), to_tensor(x2)
    dtype = next((t.dtype for t in (a, b) if t.dtype in ALL_FLOAT_DTYPES), None)
    dtype = dtype or settings.floatx
    return P.cast(a, dtype), P.cast(b, dtype)


# ------------------------------------------------------------------ trigonometric and hyperbolic
def tan(x: TensorLike) -> Tensor:
    return P.tan(float_of(x))


def arcsin(x: TensorLike) -> Tensor:
    return P.arcsin(float_of(x))


def arccos(x: TensorLike) -> Tensor:
    return P.arccos(float_of(x))


def arctan(x: TensorLike) -> Tensor:
    return P.arctan(float_of(x))


def arctan2(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The angle of the point ``(x2, x1)`` (``x1`` is the ordinate), in ``[-pi, pi]``."""
    return P.arctan2(*_floats(x1, x2))


def sinh(x: TensorLike) -> Tensor:
    return P.sinh(float_of(x))


def cosh(x: TensorLike) -> Tensor:
    return P.cosh(float_of(x))


def arcsinh(x: TensorLike) -> Tensor:
    return P.arcsinh(float_of(x))


def arccosh(x: TensorLike) -> Tensor:
    return P.arccosh(float_of(x))


def arctanh(x: TensorLike) -> Tensor:
    return P.arctanh(float_of(x))


def deg2rad(x: TensorLike) -> Tensor:
    return float_of(x) * (math.pi / 180.0)


def rad2deg(x: TensorLike) -> Tensor:
    return float_of(x) * (180.0 / math.pi)


def sinc(x: TensorLike) -> Tensor:
    """``sin(pi x) / (pi x)``, 1 at 0 (the gradient there is 0)."""
    x = float_of(x)
    zero = equal(x, 0.0)
    scaled = where(zero, 1.0, x) * math.pi  # no division by zero, even in the branch not taken
    return where(zero, 1.0, P.sin(scaled) / scaled)


def hypot(x1: TensorLike, x2: TensorLike) -> Tensor:
    """``sqrt(x1**2 + x2**2)``, scaled by the larger magnitude so that neither square overflows."""
    a, b = _floats(x1, x2)
    a, b = abs(a), abs(b)
    big, small = maximum(a, b), minimum(a, b)
    safe = where(equal(big, 0.0), 1.0, big)
    ratio = small / safe
    return big * sqrt(1.0 + ratio * ratio)


# ------------------------------------------------------------------ exponentials and logarithms
def expm1(x: TensorLike) -> Tensor:
    """``exp(x) - 1``, exact for small ``x``."""
    return P.expm1(float_of(x))


def exp2(x: TensorLike) -> Tensor:
    return P.exp(float_of(x) * math.log(2.0))


def log2(x: TensorLike) -> Tensor:
    return log(float_of(x)) / math.log(2.0)


def log10(x: TensorLike) -> Tensor:
    return log(float_of(x)) / math.log(10.0)


def logaddexp(x1: TensorLike, x2: TensorLike) -> Tensor:
    """``log(exp(x1) + exp(x2))`` without overflow."""
    a, b = _floats(x1, x2)
    return maximum(a, b) + P.log1p(P.exp(-abs(a - b)))


def logaddexp2(x1: TensorLike, x2: TensorLike) -> Tensor:
    """``log2(2**x1 + 2**x2)`` without overflow."""
    a, b = _floats(x1, x2)
    return logaddexp(a * math.log(2.0), b * math.log(2.0)) / math.log(2.0)


def cbrt(x: TensorLike) -> Tensor:
    """The real cube root, negative for negative ``x``."""
    x = float_of(x)
    return P.sign(x) * P.pow(abs(x), 1.0 / 3.0)


def reciprocal(x: TensorLike) -> Tensor:
    return 1.0 / float_of(x)


def rsqrt(x: TensorLike) -> Tensor:
    return 1.0 / sqrt(float_of(x))


def ldexp(x1: TensorLike, x2: TensorLike) -> Tensor:
    """``x1 * 2**x2``."""
    a = float_of(x1)
    return a * P.pow(2.0, P.cast(to_tensor(x2), a.dtype))


# ------------------------------------------------------------------ rounding and division
def trunc(x: TensorLike) -> Tensor:
    """Rounded toward zero; integers stay as they are."""
    x = to_tensor(x)
    if x.dtype not in ALL_FLOAT_DTYPES:
        return x
    return where(less(x, 0.0), ceil(x), floor(x))


def fabs(x: TensorLike) -> Tensor:
    return abs(float_of(x))


def floor_divide(x1: TensorLike, x2: TensorLike) -> Tensor:
    """``floor(x1 / x2)``; integers give integers, as in NumPy."""
    a, b = to_tensor(x1), to_tensor(x2)
    if a.dtype == b.dtype and a.dtype not in (*ALL_FLOAT_DTYPES, "bool"):
        return P.cast(floor(P.cast(a, "float64") / P.cast(b, "float64")), a.dtype)
    a, b = _floats(a, b)
    return floor(a / b)


def mod(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The remainder with the sign of the divisor, ``x1 - floor(x1 / x2) * x2``, as NumPy's ``mod``."""
    a, b = to_tensor(x1), to_tensor(x2)
    if a.dtype == b.dtype and a.dtype not in (*ALL_FLOAT_DTYPES, "bool"):
        return a - floor_divide(a, b) * b
    a, b = _floats(a, b)
    return a - floor(a / b) * b


def fmod(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The remainder with the sign of the dividend, ``x1 - trunc(x1 / x2) * x2``, as C's ``fmod``."""
    a, b = _floats(x1, x2)
    return a - trunc(a / b) * b


def divide_no_nan(x1: TensorLike, x2: TensorLike) -> Tensor:
    """``x1 / x2``, and 0 where ``x2`` is 0 (the gradient there too)."""
    a, b = _floats(x1, x2)
    zero = equal(b, 0.0)
    return where(zero, 0.0, a / where(zero, 1.0, b))


def heaviside(x1: TensorLike, x2: TensorLike) -> Tensor:
    """0 where ``x1 < 0``, 1 where ``x1 > 0``, and ``x2`` where ``x1 == 0``."""
    a, b = _floats(x1, x2)
    return where(less(a, 0.0), 0.0, where(greater(a, 0.0), 1.0, b))


def fmax(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The larger of the two, ignoring a NaN on one side (NaN only where both are)."""
    a, b = _floats(x1, x2)
    return where(isnan(a), b, where(isnan(b), a, maximum(a, b)))


def fmin(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The smaller of the two, ignoring a NaN on one side."""
    a, b = _floats(x1, x2)
    return where(isnan(a), b, where(isnan(b), a, minimum(a, b)))


# ------------------------------------------------------------------ NaN and infinity
def _is_float(x: Tensor) -> bool:
    return x.dtype in ALL_FLOAT_DTYPES


def isnan(x: TensorLike) -> Tensor:
    x = to_tensor(x)
    return not_equal(x, x) if _is_float(x) else _false_like(x)


def isinf(x: TensorLike) -> Tensor:
    x = to_tensor(x)
    return equal(abs(x), math.inf) if _is_float(x) else _false_like(x)


def isposinf(x: TensorLike) -> Tensor:
    x = to_tensor(x)
    return equal(x, math.inf) if _is_float(x) else _false_like(x)


def isneginf(x: TensorLike) -> Tensor:
    x = to_tensor(x)
    return equal(x, -math.inf) if _is_float(x) else _false_like(x)


def isfinite(x: TensorLike) -> Tensor:
    x = to_tensor(x)
    return less(abs(x), math.inf) if _is_float(x) else to_tensor(np.ones(x.shape, dtype=bool))


def _false_like(x: Tensor) -> Tensor:
    return to_tensor(np.zeros(x.shape, dtype=bool))


#: the largest finite value of each float dtype
LARGEST = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float32": 3.4028234663852886e38,
           "float64": 1.7976931348623157e308}  # fmt: skip


def nan_to_num(x: TensorLike, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """NaN replaced by ``nan``, infinities by ``posinf`` and ``neginf`` (the largest finite values by default)."""
    x = to_tensor(x)
    if not _is_float(x):
        return x
    high = LARGEST[x.dtype] if posinf is None else posinf
    low = -LARGEST[x.dtype] if neginf is None else neginf
    return where(isnan(x), nan, where(isposinf(x), high, where(isneginf(x), low, x)))


def logical_xor(x1: TensorLike, x2: TensorLike) -> Tensor:
    return not_equal(_truth(x1), _truth(x2))


def signbit(x: TensorLike) -> Tensor:
    """Whether the sign bit is set: true for negative numbers and for -0.0."""
    x = to_tensor(x)
    if not _is_float(x):
        return less(x, 0)
    return where(equal(x, 0.0), less(P.arctan2(x, to_tensor(-1.0, x.dtype)), 0.0), less(x, 0.0))


# ------------------------------------------------------------------ complex parts of real tensors
def real(x: TensorLike) -> Tensor:
    """The real part: the tensor itself (highnn's tensors are real)."""
    return to_tensor(x)


def imag(x: TensorLike) -> Tensor:
    """The imaginary part of a real tensor: zeros."""
    x = to_tensor(x)
    return x * 0


def conj(x: TensorLike) -> Tensor:
    """The complex conjugate of a real tensor: the tensor itself."""
    return to_tensor(x)


conjugate = conj


def angle(x: TensorLike) -> Tensor:
    """The argument of each (real) number: pi for negative numbers, else 0."""
    x = float_of(x)
    return where(less(x, 0.0), math.pi, 0.0) + x * 0.0


def isreal(x: TensorLike) -> Tensor:
    """True everywhere: highnn's tensors are real."""
    return to_tensor(np.ones(to_tensor(x).shape, dtype=bool))


# ------------------------------------------------------------------ bitwise operations (primitives)
def _integers(x1: TensorLike, x2: TensorLike) -> tuple[Tensor, Tensor]:
    """Both operands in the dtype of the first tensor among them (a Python int takes the other's)."""
    a, b = to_tensor(x1), to_tensor(x2)
    dtype = a.dtype if isinstance(x1, Tensor) or not isinstance(x2, Tensor) else b.dtype
    return P.cast(a, dtype), P.cast(b, dtype)


def bitwise_and(x: TensorLike, y: TensorLike) -> Tensor:
    return P.bitwise_and(*_integers(x, y))


def bitwise_or(x: TensorLike, y: TensorLike) -> Tensor:
    return P.bitwise_or(*_integers(x, y))


def bitwise_xor(x: TensorLike, y: TensorLike) -> Tensor:
    return P.bitwise_xor(*_integers(x, y))


def bitwise_not(x: TensorLike) -> Tensor:
    """Every bit flipped (``~x``: ``-x - 1`` for signed integers, ``not x`` for bools)."""
    return P.bitwise_not(to_tensor(x))


bitwise_invert = bitwise_not


def gcd(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The greatest common divisor of integers, elementwise (0 where both are 0)."""
    return P.gcd(*_integers(x1, x2))


def lcm(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The least common multiple of integers, elementwise (0 where either is 0)."""
    return P.lcm(*_integers(x1, x2))


def nextafter(x1: TensorLike, x2: TensorLike) -> Tensor:
    """The next representable float after ``x1`` towards ``x2`` (not differentiable)."""
    return P.nextafter(*_floats(x1, x2))


def left_shift(x: TensorLike, y: TensorLike) -> Tensor:
    """``x`` shifted left by ``y`` bits."""
    return P.left_shift(*_integers(x, y))


def right_shift(x: TensorLike, y: TensorLike) -> Tensor:
    """``x`` shifted right by ``y`` bits (arithmetic: the sign is kept)."""
    return P.right_shift(*_integers(x, y))


bitwise_left_shift, bitwise_right_shift = left_shift, right_shift
