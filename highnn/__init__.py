"""highnn: Keras-style neural networks with their own gradient engine, on NumPy, PyTorch or JAX."""

from highnn import config, ops
from highnn.graph import Tensor, grad, no_grad, tensor

__version__ = "0.1.0"
