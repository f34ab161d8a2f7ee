"""Helpers shared by the tests: backend availability, finite differences and the size of a traced step."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

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


def assert_matches_reference(fn: Callable[..., Any], reference: Callable[..., Any], inputs: Any) -> Any:
    """``fn`` on Tensors of ``inputs`` has the shape and (to 1e-10) the values of ``reference`` on the arrays;
    returns ``fn``'s output and the reference's."""
    out = fn(*(hn.tensor(x) for x in inputs))
    expected = np.asarray(reference(*inputs))
    assert out.shape == expected.shape
    np.testing.assert_allclose(np.asarray(out.numpy(), dtype=expected.dtype), expected, rtol=1e-10, atol=1e-12)
    return out, expected


def assert_gradient_matches_finite_differences(
    fn: Callable[..., Any], reference: Callable[..., Any], inputs: Any
) -> None:
    """The gradient of a weighted sum of ``fn``'s output with respect to its first input equals the central
    finite differences of ``reference``'s."""
    first, *rest = inputs
    weights = np.random.default_rng(0).uniform(0.5, 1.5, np.shape(reference(*inputs)))
    x = hn.tensor(first, requires_grad=True)
    (grad,) = hn.grad((fn(x, *(hn.tensor(r) for r in rest)) * weights).sum(), [x])
    expected = numeric_gradient(lambda v: float((reference(v, *rest) * weights).sum()), first)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-5, atol=1e-6)
