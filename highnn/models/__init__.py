"""Models: ``Model`` (subclass it, or ``Model(inputs, outputs)`` for a graph of layer calls) and ``Sequential``."""

from highnn.layers import LAYERS
from highnn.models.functional import Functional
from highnn.models.model import Model
from highnn.models.sequential import Sequential
from highnn.saving import load_model as load_model  # re-exported: highnn.models.load_model, as in Keras

# A model is a layer: saving (a layer above, which this package imports) finds model classes among the layers.
LAYERS.register_all((Sequential, Functional))

__all__ = ["Functional", "Model", "Sequential", "load_model"]


# -- a Keras name highnn lacks: an AttributeError that names it and points to the migration page
from highnn.checks import missing_attribute as _missing_attribute  # noqa: E402


def __getattr__(name: str) -> None:
    raise _missing_attribute("highnn.models", name, "function")
