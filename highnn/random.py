"""highnn's own seeded random generator, and Keras's ``keras.random`` functions.

Initial weights, shuffling and the seeds of random layers are drawn here, in
NumPy, and only then placed on the backend, so one seed gives bit-identical
weights on every backend. The generator is one for the process (NumPy's
generators are safe to share between threads): threads that must reproduce
their draws build their models before they start, or pass ``shuffle=False``.

``normal``, ``uniform``, ``randint``, ``truncated_normal``, ``dropout`` and
``shuffle`` draw on the backend, from a ``seed``: an integer (the same numbers
every call), a :class:`SeedGenerator` (new numbers every call, also inside a
compiled training step, since its state is a variable that the step advances),
or None (a fresh integer seed from the generator above; a compiled step would
freeze it, so use a SeedGenerator there).
"""

from __future__ import annotations

import random as _python_random
from collections.abc import Sequence
from typing import Any

import numpy as np

from highnn.checks import check_integer, check_number, check_seed, fail, is_integer
from highnn.config import settings
from highnn.graph import Tensor, TensorLike, to_tensor
from highnn.ops import composites as C
from highnn.ops.numpy_ops import argsort, take_positions
from highnn.ops.primitives import abs, cast, floor, minimum, random_normal, random_uniform, where
from highnn.variables import Variable

_generator = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Make initial weights, shuffling and dropout repeatable (also seeds Python's and NumPy's global RNGs)."""
    global _generator
    seed = check_integer("set_random_seed", "seed", seed)
    _generator = np.random.default_rng(int(seed))
    _python_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def generator() -> np.random.Generator:
    """The generator every random draw of highnn uses."""
    return _generator


def new_seed() -> int:
    """A fresh integer seed drawn from highnn's generator."""
    return int(_generator.integers(0, 2**31 - 1))


# ------------------------------------------------------------------ keras.random
class SeedGenerator:
    """A seed that advances by one with every draw; its state is a Variable, so a compiled step advances it.

    >>> gen = hn.random.SeedGenerator(1337)
    >>> a, b = hn.random.normal((2,), seed=gen), hn.random.normal((2,), seed=gen)  # a differs from b
    """

    def __init__(self, seed: int | None = None) -> None:
        seed = check_seed("SeedGenerator", seed)
        self.initial_seed = new_seed() if seed is None else seed
        self.state = Variable(np.asarray(self.initial_seed, dtype=np.int64), "seed_generator_state", trainable=False)

    def next(self) -> Tensor:
        """The current seed, as an integer scalar tensor; the state moves on."""
        seed = self.state + 0  # the value now, computed before the state moves on
        self.state.assign_add(1)
        return seed


Seed = int | SeedGenerator | None
# the seeds of the extra rounds of truncated_normal are the draw's seed plus multiples of this (a large prime)
_ROUND_OFFSET = 1_000_003
_TRUNCATED_ROUNDS = 8  # a normal draw falls outside 2 standard deviations with probability 0.0455; 8 rounds: 2e-11


def _seed(seed: Seed, owner: str) -> Tensor:
    """The integer scalar seed tensor of one draw."""
    if isinstance(seed, SeedGenerator):
        return seed.next()
    value = check_seed(owner, seed)
    return to_tensor(np.asarray(new_seed() if value is None else value, dtype=np.int64))


def _shape(shape: Any, owner: str) -> tuple[int, ...]:
    dims = (shape,) if is_integer(shape) else shape
    if not isinstance(dims, Sequence) or not all(is_integer(n) and n >= 0 for n in dims):
        fail(owner, "shape", "a tuple of integers >= 0", shape)
    return tuple(int(n) for n in dims)


def _float_dtype(dtype: str | None, owner: str) -> str:
    dtype = dtype or settings.floatx
    if dtype not in ("float32", "float64"):
        fail(owner, "dtype", "a float dtype, 'float32' or 'float64'", dtype)
    return dtype


def normal(
    shape: Sequence[int], mean: float = 0.0, stddev: float = 1.0, dtype: str | None = None, seed: Seed = None
) -> Tensor:
    """Draws from the normal distribution of ``mean`` and ``stddev``."""
    sample = random_normal(_seed(seed, "normal"), shape=_shape(shape, "normal"), dtype=_float_dtype(dtype, "normal"))
    return sample * stddev + mean


def uniform(
    shape: Sequence[int], minval: float = 0.0, maxval: float = 1.0, dtype: str | None = None, seed: Seed = None
) -> Tensor:
    """Draws from the uniform distribution on ``[minval, maxval)``."""
    sample = random_uniform(
        _seed(seed, "uniform"), shape=_shape(shape, "uniform"), dtype=_float_dtype(dtype, "uniform")
    )
    return sample * (maxval - minval) + minval


def randint(shape: Sequence[int], minval: int, maxval: int, dtype: str = "int32", seed: Seed = None) -> Tensor:
    """Integers drawn evenly from ``[minval, maxval)``."""
    if not is_integer(minval) or not is_integer(maxval) or not minval < maxval:
        fail("randint", "maxval", f"an integer > `minval` ({minval!r})", maxval)
    if dtype not in ("int32", "int64"):
        fail("randint", "dtype", "'int32' or 'int64'", dtype)
    sample = random_uniform(_seed(seed, "randint"), shape=_shape(shape, "randint"), dtype="float64")
    return cast(minimum(floor(sample * float(maxval - minval)), float(maxval - minval - 1)) + float(minval), dtype)


def truncated_normal(
    shape: Sequence[int], mean: float = 0.0, stddev: float = 1.0, dtype: str | None = None, seed: Seed = None
) -> Tensor:
    """Normal draws, those beyond two standard deviations from ``mean`` drawn again (as Keras does)."""
    dims, dtype = _shape(shape, "truncated_normal"), _float_dtype(dtype, "truncated_normal")
    base = _seed(seed, "truncated_normal")
    sample = random_normal(base, shape=dims, dtype=dtype)
    for round_ in range(1, _TRUNCATED_ROUNDS):
        again = random_normal(base + round_ * _ROUND_OFFSET, shape=dims, dtype=dtype)
        sample = where(abs(sample) > 2.0, again, sample)
    return C.clip(sample, -2.0, 2.0) * stddev + mean


def dropout(inputs: TensorLike, rate: float, noise_shape: Sequence[int] | None = None, seed: Seed = None) -> Tensor:
    """Zero each entry with probability ``rate`` and scale the rest by ``1 / (1 - rate)``; ``noise_shape`` (which
    broadcasts to the inputs' shape) shares one draw along the axes where it is 1."""
    check_number("dropout", "rate", rate, 0.0, 1.0, high_open=True)
    x = to_tensor(inputs)
    keep = uniform(x.shape if noise_shape is None else noise_shape, dtype=x.dtype, seed=seed) >= rate
    return where(keep, x / (1.0 - rate), 0.0)


def shuffle(x: TensorLike, axis: int = 0, seed: Seed = None) -> Tensor:
    """``x`` with its slices along ``axis`` in a random order."""
    x = to_tensor(x)
    return take_positions(x, argsort(uniform((x.shape[axis],), seed=seed)), axis)
