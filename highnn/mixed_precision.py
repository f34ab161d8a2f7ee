"""Mixed precision, as in Keras: compute in float16 or bfloat16, keep float32 variables.

>>> hn.mixed_precision.set_global_policy("mixed_bfloat16")
>>> model = hn.Sequential([hn.Input((784,)), hn.layers.Dense(256, activation="relu"),
...                        hn.layers.Dense(10), hn.layers.Activation("softmax", dtype="float32")])

Layers cast their float inputs to the policy's compute dtype and read their
variables in it; losses and metrics compute in float32. Under
``"mixed_float16"``, ``compile`` wraps the optimizer in a
:class:`LossScaleOptimizer`, whose dynamic loss scale keeps small float16
gradients from flushing to zero.
"""

from __future__ import annotations

from highnn.dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from highnn.optimizers.loss_scale import LossScaleOptimizer

Policy = DTypePolicy  # Keras's older name
set_global_policy = set_dtype_policy
global_policy = dtype_policy

__all__ = [
    "DTypePolicy",
    "LossScaleOptimizer",
    "Policy",
    "dtype_policy",
    "global_policy",
    "set_dtype_policy",
    "set_global_policy",
]
