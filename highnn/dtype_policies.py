"""Dtype policies: the dtype a layer computes in and the dtype it keeps its variables in (Keras's ``DTypePolicy``).

``"mixed_bfloat16"`` and ``"mixed_float16"`` compute in the 16-bit type and keep
float32 variables; a float type's name (``"float32"``) uses it for both::

    hn.mixed_precision.set_global_policy("mixed_bfloat16")
    layer = hn.layers.Dense(10)                                    # computes in bfloat16
    head = hn.layers.Activation("softmax", dtype="float32")        # the final softmax in float32
"""

from __future__ import annotations

from typing import Any

from highnn.backends import ALL_FLOAT_DTYPES
from highnn.checks import check_choice, fail
from highnn.config import floatx

#: mixed policy name -> its compute dtype (variables stay float32)
MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
POLICY_NAMES = (*MIXED, *ALL_FLOAT_DTYPES)


class DTypePolicy:
    """A layer's compute and variable dtypes, named as in Keras; ``name=None`` is floatx.

    >>> policy = hn.dtype_policies.DTypePolicy("mixed_bfloat16")
    >>> policy.compute_dtype, policy.variable_dtype
    ('bfloat16', 'float32')
    """

    def __init__(self, name: str | None = None) -> None:
        self._name = check_choice("DTypePolicy", "name", floatx() if name is None else name, POLICY_NAMES)

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype layer computations run in: float inputs are cast to it, and variables read in it."""
        return MIXED.get(self._name, self._name)

    @property
    def variable_dtype(self) -> str:
        """The dtype the layer's variables are created and updated in."""
        return "float32" if self._name in MIXED else self._name

    @property
    def is_mixed(self) -> bool:
        """Whether computations run in another dtype than the variables hold."""
        return self.compute_dtype != self.variable_dtype

    def get_config(self) -> dict[str, Any]:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DTypePolicy:
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self._name

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'


_global_policy: DTypePolicy | None = None  # None: floatx's policy, read when asked


def set_dtype_policy(policy: str | DTypePolicy | None) -> None:
    """Set the policy of layers created from now on without a ``dtype`` (None: back to floatx)."""
    global _global_policy
    if policy is not None and not isinstance(policy, (str, DTypePolicy)):
        fail("set_dtype_policy", "policy", "a policy name such as 'mixed_bfloat16' or a DTypePolicy", policy, TypeError)
    _global_policy = DTypePolicy(policy) if isinstance(policy, str) else policy


def is_set() -> bool:
    """Whether a policy was set (layers made now keep it); otherwise layers follow floatx."""
    return _global_policy is not None


def dtype_policy() -> DTypePolicy:
    """The policy of layers created without a ``dtype``: the one set, else floatx's."""
    return _global_policy or DTypePolicy()


def get(identifier: str | dict[str, Any] | DTypePolicy | None) -> DTypePolicy:
    """A policy from a name, a config (``{"name": ...}`` or a serialized policy), a policy, or None (the global one)."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    if isinstance(identifier, dict):
        return DTypePolicy.from_config(identifier.get("config", identifier))
    fail("dtype", "dtype", "a policy name such as 'mixed_bfloat16', a DTypePolicy or None", identifier, TypeError)


__all__ = ["MIXED", "POLICY_NAMES", "DTypePolicy", "dtype_policy", "get", "is_set", "set_dtype_policy"]
