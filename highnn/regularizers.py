"""Weight penalties added to the training loss: L1, L2 and L1L2 (Keras names and defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

from highnn.checks import check_number
from highnn.graph import Tensor
from highnn.ops.primitives import abs, sum
from highnn.registry import Registry


class Regularizer:
    """``regularizer(weights) -> scalar penalty``."""

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = check_number(type(self).__name__, "l1", l1, 0.0)
        self.l2 = check_number(type(self).__name__, "l2", l2, 0.0)

    def __call__(self, x: Tensor) -> Tensor:
        penalty = sum(abs(x)) * self.l1 if self.l1 else None
        if self.l2:
            squares = sum(x * x) * self.l2
            penalty = squares if penalty is None else penalty + squares
        return penalty if penalty is not None else sum(x) * 0.0

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


RegularizerLike = str | Regularizer | type[Regularizer] | dict[str, Any]

REGULARIZERS: Registry[Regularizer] = Registry("regularizer", Regularizer)
REGULARIZERS.register(L1, "l1")
REGULARIZERS.register(L2, "l2")
REGULARIZERS.register(L1L2, "l1_l2")


@overload
def get(identifier: None) -> None: ...
@overload
def get(identifier: RegularizerLike) -> Regularizer: ...
def get(identifier: RegularizerLike | None) -> Regularizer | None:
    """A regularizer from ``"l1"``, ``"l2"``, ``"l1_l2"``, a config, a class or an instance; None stays None.

    A function ``f(weights) -> penalty`` is returned as it is.
    """
    return REGULARIZERS.get(identifier)


def serialize(regularizer: Regularizer | None) -> dict[str, Any] | None:
    return None if regularizer is None else REGULARIZERS.serialize(regularizer)


def deserialize(config: dict[str, Any] | None, custom_objects: Mapping[str, Any] | None = None) -> Regularizer | None:
    """The regularizer :func:`serialize` described (None for None), built only from an allowed class."""
    return None if config is None else REGULARIZERS.deserialize(config, custom_objects)
