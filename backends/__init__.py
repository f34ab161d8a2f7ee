"""Registry of array backends; each lives in its own module with one class."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from typing import Any

from highnn.backends.base import (
    ALL_FLOAT_DTYPES,
    DTYPES,
    FLOAT_DTYPES,
    LOW_PRECISION_DTYPES,
    Array,
    Backend,
    DeviceUnavailableError,
    numpy_dtype,
    parse_device,
)

#: backend name -> (module, class, the package it needs, the pip extra that installs it)
REGISTRY: dict[str, tuple[str, str, str, str]] = {
    "numpy": ("highnn.backends.numpy_backend", "NumpyBackend", "numpy", ""),
    "torch": ("highnn.backends.torch_backend", "TorchBackend", "torch", "torch"),
    "jax": ("highnn.backends.jax_backend", "JaxBackend", "jax", "jax"),
}

_loaded: dict[tuple[str, str | None, str], Backend] = {}
_loading = threading.Lock()  # one instance per key, even when threads ask at once: tensors compare backends by identity


def available_backends() -> list[str]:
    """Names of the registered backends whose array library is installed."""
    return [name for name, (_, _, package, _) in REGISTRY.items() if importlib.util.find_spec(package)]


def to_host(value: Any) -> Any:
    """A registered backend's array, from any device, as NumPy (found by type); anything else unchanged.

    Only libraries already imported are asked, so converting user data never imports torch or jax.
    """
    for module_name, class_name, package, _ in REGISTRY.values():
        if package in sys.modules:
            backend_class = getattr(importlib.import_module(module_name), class_name)
            if backend_class.is_array(value):
                return backend_class.to_numpy(value)
    return value


def load_backend(name: str, device: str | None = None, floatx: str = "float32") -> Backend:
    """The backend instance called ``name`` on ``device``; a one-line error says how to fix a bad choice."""
    key = name.strip().lower()
    if key not in REGISTRY:
        raise ValueError(f"Unknown HIGHNN_BACKEND {name!r}; choose one of: {', '.join(REGISTRY)}.")
    module_name, class_name, package, extra = REGISTRY[key]
    if importlib.util.find_spec(package) is None:
        raise ImportError(f"The {key} backend needs {package}, which is not installed: pip install 'highnn[{extra}]'.")
    cache_key = (key, device, floatx)
    with _loading:
        if cache_key not in _loaded:
            backend_class = getattr(importlib.import_module(module_name), class_name)
            _loaded[cache_key] = backend_class(device)
        backend = _loaded[cache_key]
    backend.enable_float64(floatx == "float64")
    return backend


__all__ = [
    "ALL_FLOAT_DTYPES",
    "DTYPES",
    "FLOAT_DTYPES",
    "LOW_PRECISION_DTYPES",
    "Array",
    "Backend",
    "DeviceUnavailableError",
    "available_backends",
    "load_backend",
    "numpy_dtype",
    "parse_device",
    "to_host",
]
