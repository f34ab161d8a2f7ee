"""Shared fixtures: each backend in turn, and float64 NumPy for finite-difference checks."""

from __future__ import annotations

import os

if "PYTEST_XDIST_WORKER" in os.environ:  # the workers share the cores: one BLAS/OpenMP thread each (before numpy)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Iterator

import pytest
from helpers import BACKENDS, require_backend

import highnn as hn


@pytest.fixture(params=BACKENDS)
def backend64(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each backend in turn, in float64."""
    require_backend(request.param)
    with hn.config.use_backend(request.param, floatx="float64"):
        yield request.param


@pytest.fixture
def float64() -> Iterator[None]:
    """The NumPy backend in float64 (for finite-difference checks)."""
    with hn.config.use_backend("numpy", floatx="float64"):
        yield
