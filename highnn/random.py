"""highnn's own seeded random generator.

Initial weights, shuffling and the seeds of random layers are drawn here, in
NumPy, and only then placed on the backend, so one seed gives bit-identical
weights on every backend. The generator is one for the process (NumPy's
generators are safe to share between threads): threads that must reproduce
their draws build their models before they start, or pass ``shuffle=False``.
"""

from __future__ import annotations

import random as _python_random

import numpy as np

from highnn.checks import check_integer

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
