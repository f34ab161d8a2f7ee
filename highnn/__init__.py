"""highnn: Keras-style neural networks with their own gradient engine, on NumPy, PyTorch or JAX.

>>> import highnn as hn
>>> model = hn.Sequential([hn.Input(shape=(4,)), hn.layers.Dense(3, activation="softmax")])
"""

from highnn import (
    activations,
    callbacks,
    config,
    constraints,
    distribution,
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
from highnn.graph import GradientTape, Tensor, grad, no_grad, tensor
from highnn.layers import Input
from highnn.models import Model, Sequential
from highnn.variables import Variable
from highnn.verify import verify
from highnn.version import __version__

__all__ = [
    "GradientTape",
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
    "distribution",
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


# -- a Keras name highnn lacks: an AttributeError that names it and points to the migration page
from highnn.checks import missing_attribute as _missing_attribute


def __getattr__(name: str) -> None:
    raise _missing_attribute("highnn", name, "name")
