"""Layers (Keras 3 names)."""

from highnn.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from highnn.layers.core import Activation, Dense, Input, InputLayer
from highnn.layers.layer import Layer
from highnn.layers.normalization import BatchNormalization, LayerNormalization
from highnn.layers.regularization import Dropout, GaussianNoise
from highnn.layers.reshaping import Flatten, Reshape

#: the layer classes a saved model may name (an allow-list: nothing else is ever constructed)
LAYER_CLASSES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        InputLayer, Dense, Activation, Dropout, GaussianNoise, BatchNormalization, LayerNormalization,
        Flatten, Reshape, ReLU, LeakyReLU, Softmax, ELU, PReLU,
    )
}  # fmt: skip

__all__ = [
    "ELU", "LAYER_CLASSES", "Activation", "BatchNormalization", "Dense", "Dropout", "Flatten", "GaussianNoise",
    "Input", "InputLayer", "Layer", "LayerNormalization", "LeakyReLU", "PReLU", "ReLU", "Reshape", "Softmax",
]  # fmt: skip
