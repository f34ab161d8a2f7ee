"""Which backend, device and float type highnn computes with.

Read once at import from ``HIGHNN_BACKEND`` (numpy | torch | jax),
``HIGHNN_DEVICE`` (cpu | gpu | cuda | cuda:N | tpu | mps) and ``HIGHNN_FLOATX``
(float32 | float64), and settable from code::

    hn.config.set_backend("torch", device="cpu")
    with hn.config.use_backend("jax", floatx="float64"):
        ...

The choice lives in a context variable. ``set_backend``, ``set_device`` and
``set_floatx`` change the process-wide default, which every thread sees until it
chooses its own; ``use_backend`` chooses for the current context only (this
thread, or this asyncio task), so two threads can compute on two backends at
once. Inside a ``use_backend`` block the ``set_*`` functions change that block's
choice, which ends with the block.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from highnn.backends import FLOAT_DTYPES, Backend, load_backend

FLOAT_TYPES = FLOAT_DTYPES


class _Choice:
    """A backend instance and a float type: the process-wide default, or one ``use_backend`` block's."""

    __slots__ = ("backend", "floatx")

    def __init__(self, backend: Backend, floatx: str) -> None:
        self.backend = backend
        self.floatx = floatx


def _check_floatx(value: str) -> str:
    if value not in FLOAT_TYPES:
        raise ValueError(f"floatx must be one of {FLOAT_TYPES}, received {value!r}.")
    return value


_floatx = _check_floatx(os.environ.get("HIGHNN_FLOATX") or "float32")
_DEFAULT = _Choice(
    load_backend(os.environ.get("HIGHNN_BACKEND") or "numpy", os.environ.get("HIGHNN_DEVICE") or None, _floatx),
    _floatx,
)
#: the current context's choice; a context that has made none (every new thread) sees the default
_choice: ContextVar[_Choice] = ContextVar("highnn.config", default=_DEFAULT)


class _Settings:
    """The active backend instance and float type of the current context, read on the hot path."""

    __slots__ = ()

    @property
    def backend(self) -> Backend:
        return _choice.get().backend

    @property
    def floatx(self) -> str:
        return _choice.get().floatx


settings = _Settings()


def set_backend(name: str, device: str | None = None) -> Backend:
    """Make ``name`` the backend, on ``device`` (default: the backend's default)."""
    choice = _choice.get()
    choice.backend = load_backend(name, device, floatx=choice.floatx)
    return choice.backend


def set_floatx(value: str) -> None:
    """Set the default float type of new tensors and weights."""
    choice = _choice.get()
    choice.floatx = _check_floatx(value)
    choice.backend.enable_float64(value == "float64")


def set_device(device: str) -> None:
    """Place new arrays of the active backend on ``device``."""
    choice = _choice.get()
    choice.backend = load_backend(choice.backend.name, device, floatx=choice.floatx)


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
    """Run a block of this context on another backend (and optionally device or float type), then restore."""
    outer = _choice.get()
    chosen_floatx = outer.floatx if floatx is None else _check_floatx(floatx)
    choice = _Choice(load_backend(name, device, floatx=chosen_floatx), chosen_floatx)
    token = _choice.set(choice)
    try:
        yield choice.backend
    finally:
        _choice.reset(token)
        choice.backend.enable_float64(outer.floatx == "float64")  # JAX's x64 switch is process-wide
        outer.backend.enable_float64(outer.floatx == "float64")


# ------------------------------------------------------------------ Keras's other global settings
_keras_settings: dict[str, object] = {"epsilon": 1e-7, "image_data_format": "channels_last"}
IMAGE_DATA_FORMATS = ("channels_last", "channels_first")


def epsilon() -> float:
    """The fuzz factor that keeps logs and divisions finite (Keras's default, 1e-7)."""
    return float(_keras_settings["epsilon"])  # type: ignore[arg-type]


def set_epsilon(value: float) -> None:
    """Set the fuzz factor returned by :func:`epsilon`, for the whole process."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"set_epsilon: `value` must be a number >= 0, received {value!r}.")
    _keras_settings["epsilon"] = float(value)


def image_data_format() -> str:
    """The default layout of image tensors: ``"channels_last"`` (Keras's default) or ``"channels_first"``."""
    return str(_keras_settings["image_data_format"])


def set_image_data_format(data_format: str) -> None:
    """Set the default image layout, for the whole process."""
    if data_format not in IMAGE_DATA_FORMATS:
        raise ValueError(
            f"set_image_data_format: `data_format` must be one of {IMAGE_DATA_FORMATS}, received {data_format!r}."
        )
    _keras_settings["image_data_format"] = data_format


def disable_traceback_filtering() -> None:
    """Accepted for Keras compatibility: highnn does not filter tracebacks, so there is nothing to disable."""


def enable_traceback_filtering() -> None:
    """Accepted for Keras compatibility (highnn never filters tracebacks)."""


def is_traceback_filtering_enabled() -> bool:
    """Always False: highnn shows full tracebacks."""
    return False
