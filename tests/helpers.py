"""Helpers shared by the tests: backend availability, finite differences and the size of a traced step."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import numpy as np
import pytest

import highnn as hn
from highnn.backends import REGISTRY
from highnn.tracing import TracedFunction

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


def traced_gradient_steps(model: hn.Sequential, input_shape: tuple[int, ...]) -> int:
    """How many steps the traced program of ``model``'s weight gradients holds, for inputs of ``input_shape``."""

    def gradients(x: hn.Tensor) -> list[hn.Tensor]:
        out = model(x)
        return hn.grad((out * out).sum(), model.trainable_weights)

    traced = TracedFunction(gradients)
    x = hn.tensor(np.ones(input_shape)).value  # a backend array, as the trainer passes
    traced(x)  # trace
    traced(x)  # compile (jax.jit) and run
    ((program, _),) = traced.programs.values()
    return program.n_steps
