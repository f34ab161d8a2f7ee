"""Keras's ``keras.ops`` core group: moving values between NumPy, the backend and highnn tensors."""

from __future__ import annotations

from typing import Any

import numpy as np

from highnn.checks import fail
from highnn.config import settings
from highnn.graph import Tensor, TensorLike, to_tensor
from highnn.ops import composites


def convert_to_tensor(x: Any, dtype: str | None = None, sparse: bool | None = None) -> Tensor:
    """``x`` (number, list, NumPy or backend array, Tensor) as a Tensor, of ``dtype`` if given."""
    if sparse:
        fail("convert_to_tensor", "sparse", "False or None (sparse tensors are not supported)", sparse)
    result = to_tensor(x)
    return result if dtype is None else result.astype(dtype)


def array(x: Any, dtype: str | None = None) -> Tensor:
    """``x`` as a Tensor (Keras's ``ops.array``, the NumPy-style name of :func:`convert_to_tensor`)."""
    return convert_to_tensor(x, dtype)


def convert_to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array on the host."""
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a highnn Tensor or an array of the active backend (NumPy arrays count on NumPy only)."""
    return isinstance(x, Tensor) or settings.backend.is_array(x)


def dtype(x: TensorLike) -> str:
    """The dtype name of ``x``, as highnn would convert it (``"float32"``, ``"int32"``, ``"bool"``, ...)."""
    return to_tensor(x).dtype


def saturate_cast(x: Any, dtype: str) -> Tensor:
    """``x`` cast to ``dtype``, values beyond the type's range clipped to it first (no wrap-around)."""
    x = to_tensor(x)
    if np.dtype(dtype).kind in "iu":
        bounds = np.iinfo(np.dtype(dtype))
        low, high = (
            (float(b) for b in (bounds.min, bounds.max))
            if x.dtype.startswith(("float", "bfloat"))
            else (int(bounds.min), int(bounds.max))
        )
        x = composites.clip(x, low, high)
    return x.astype(dtype)
