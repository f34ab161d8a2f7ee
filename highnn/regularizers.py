"""Weight penalties added to the training loss: L1, L2 and L1L2 (Keras names and defaults)."""

from __future__ import annotations

from typing import Any

from highnn import registry
from highnn.graph import Tensor
from highnn.ops.primitives import abs, sum
from highnn.registry import resolve


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
        for name, value in (("l1", l1), ("l2", l2)):
            if value < 0:
                raise ValueError(f"{type(self).__name__}: `{name}` must be >= 0, received {value}.")
        self.l1, self.l2 = float(l1), float(l2)

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


CLASSES = {cls.__name__: cls for cls in (L1, L2, L1L2)}


def get(identifier: str | Regularizer | dict[str, Any] | None) -> Regularizer | None:
    """A regularizer from ``"l1"``, ``"l2"``, ``"l1_l2"``, a class, a config, an instance, or None."""
    if identifier is None:
        return None
    return resolve(
        "regularizer",
        "regularizer",
        identifier,
        Regularizer,
        {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2, **CLASSES},
        CLASSES,
    )


def serialize(regularizer: Regularizer | None) -> dict[str, Any] | None:
    return None if regularizer is None else registry.serialize(regularizer)


def deserialize(config: dict[str, Any] | None) -> Regularizer | None:
    return None if config is None else registry.deserialize("regularizer", config, CLASSES)
