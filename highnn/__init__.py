"""highnn: Keras-style neural networks with their own gradient engine, on NumPy, PyTorch or JAX.

>>> import highnn as hn
>>> model = hn.Sequential([hn.Input(shape=(4,)), hn.layers.Dense(3, activation="softmax")])
"""

from highnn import (
    activations,
    callbacks,
    config,
    constraints,
    dtype_policies,
    graph,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    ops,
    optimizers,
    random,
    regularizers,
    saving,
    utils,
)
from highnn.graph import Tensor, grad, no_grad, tensor
from highnn.layers import Input
from highnn.models import Model, Sequential
from highnn.variables import Variable
from highnn.verify import verify
from highnn.version import __version__

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "Tensor",
    "Variable",
    "__version__",
    "activations",
    "callbacks",
    "config",
    "constraints",
    "dtype_policies",
    "grad",
    "graph",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "no_grad",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "saving",
    "tensor",
    "utils",
    "verify",
]  # fmt: skip
