"""Helpers shared by the tests: backend availability and finite differences."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import numpy as np
import pytest

from highnn.backends import REGISTRY

BACKENDS = tuple(REGISTRY)  # every registered backend, so a new one is tested without editing the tests


def require_backend(name: str) -> None:
    """Skip (locally) or fail (in CI) when ``name``'s array library is missing."""
    if importlib.util.find_spec(REGISTRY[name][2]) is None:
        message = f"{name} not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must install every backend")
        pytest.skip(message)


def numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar function ``f`` at ``x``."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = f(x)
        x[i] = saved - eps
        down = f(x)
        x[i] = saved
        g[i] = (up - down) / (2 * eps)
    return g
