"""Utilities with Keras's names."""

from typing import Any

import numpy as np

from highnn.checks import fail, is_integer
from highnn.data_adapters import PyDataset
from highnn.graph import Tensor
from highnn.ops.numpy_ops import norm
from highnn.ops.primitives import where
from highnn.plotting import plot_history
from highnn.random import set_random_seed
from highnn.utils.model_plot import model_to_dot, plot_model
from highnn.utils.packing import pack_x_y_sample_weight, unpack_x_y_sample_weight

__all__ = [
    "PyDataset",
    "model_to_dot",
    "normalize",
    "pack_x_y_sample_weight",
    "plot_history",
    "plot_model",
    "set_random_seed",
    "to_categorical",
    "unpack_x_y_sample_weight",
]


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """Integer class labels to one-hot rows (``num_classes`` defaults to the largest label + 1); a trailing axis
    of length 1 is dropped first, as in Keras."""
    labels = np.asarray(x)
    if labels.size and ((labels.dtype.kind not in "iub" and np.any(labels != np.round(labels))) or labels.min() < 0):
        fail("to_categorical", "x", "integer class labels >= 0", x)
    labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    count = int(labels.max()) + 1 if num_classes is None and labels.size else num_classes or 0
    if not is_integer(count) or (labels.size and labels.max() >= count):
        fail("to_categorical", "num_classes", f"an integer above the largest label ({labels.max()})", num_classes)
    return np.eye(count)[labels]


def normalize(x: Any, axis: int = -1, order: int = 2) -> Any:
    """``x`` divided by its ``order``-norm along ``axis`` (zero vectors stay zero); NumPy in, NumPy out."""
    if isinstance(x, Tensor):
        size = norm(x, ord=order, axis=axis, keepdims=True)
        return x / where(size == 0.0, 1.0, size)
    array = np.asarray(x)
    size = np.linalg.norm(array, order, axis, keepdims=True)
    return array / np.where(size == 0, 1, size)
