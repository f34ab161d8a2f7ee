"""Layers (Keras 3 names)."""

from highnn.layers.core import Activation, Dense, Input, InputLayer
from highnn.layers.layer import Layer

#: the layer classes a saved model may name (an allow-list: nothing else is ever constructed)
LAYER_CLASSES: dict[str, type[Layer]] = {cls.__name__: cls for cls in (InputLayer, Dense, Activation)}

__all__ = ["LAYER_CLASSES", "Activation", "Dense", "Input", "InputLayer", "Layer"]
