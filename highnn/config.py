"""Which backend, device and float type highnn computes with.

Read once at import from ``HIGHNN_BACKEND`` (numpy | torch | jax),
``HIGHNN_DEVICE`` (cpu | gpu | cuda | cuda:N | tpu | mps) and ``HIGHNN_FLOATX``
(float32 | float64), and settable from code::

    hn.config.set_backend("torch", device="cpu")
    with hn.config.use_backend("jax", floatx="float64"):
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from highnn.backends import Backend, load_backend

FLOAT_TYPES = ("float32", "float64")


class _Settings:
    """The active backend instance and float type; one object, read on the hot path."""

    backend: Backend
    floatx: str


settings = _Settings()


def _check_floatx(value: str) -> str:
    if value not in FLOAT_TYPES:
        raise ValueError(f"floatx must be one of {FLOAT_TYPES}, received {value!r}.")
    return value


def set_backend(name: str, device: str | None = None) -> Backend:
    """Make ``name`` the active backend, on ``device`` (default: the backend's default)."""
    settings.backend = load_backend(name, device, floatx=settings.floatx)
    return settings.backend


def set_floatx(value: str) -> None:
    """Set the default float type of new tensors and weights."""
    settings.floatx = _check_floatx(value)
    settings.backend.enable_float64(value == "float64")


def set_device(device: str) -> None:
    """Place new arrays of the active backend on ``device``."""
    settings.backend = load_backend(settings.backend.name, device, floatx=settings.floatx)


def backend() -> str:
    """The name of the active backend."""
    return settings.backend.name


def device() -> str:
    """The device new arrays are placed on, as the active backend names it."""
    return settings.backend.device_name


def floatx() -> str:
    """The default float type."""
    return settings.floatx


@contextmanager
def use_backend(name: str, device: str | None = None, floatx: str | None = None) -> Iterator[Backend]:
    """Run a block on another backend (and optionally device or float type), then restore."""
    saved_backend, saved_floatx = settings.backend, settings.floatx
    try:
        if floatx is not None:
            settings.floatx = _check_floatx(floatx)
        yield set_backend(name, device)
    finally:
        settings.backend.enable_float64(saved_floatx == "float64")  # JAX's x64 switch is process-wide
        settings.backend, settings.floatx = saved_backend, saved_floatx
        saved_backend.enable_float64(saved_floatx == "float64")


settings.floatx = _check_floatx(os.environ.get("HIGHNN_FLOATX") or "float32")
settings.backend = load_backend(
    os.environ.get("HIGHNN_BACKEND") or "numpy", os.environ.get("HIGHNN_DEVICE") or None, floatx=settings.floatx
)
