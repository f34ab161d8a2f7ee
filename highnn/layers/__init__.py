"""Layers (Keras 3 names) and their registry, the allow-list of classes a saved model may name."""

from collections.abc import Mapping
from typing import Any

from highnn.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from highnn.layers.convolutional import (
    CONVOLUTION_LAYERS,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv2D,
    SeparableConv2D,
)
from highnn.layers.core import Activation, Dense, Input, InputLayer
from highnn.layers.layer import Layer
from highnn.layers.normalization import BatchNormalization, LayerNormalization
from highnn.layers.regularization import Dropout, GaussianNoise
from highnn.layers.reshaping import Flatten, Reshape
from highnn.registry import Registry

#: the layer classes a saved model may name (nothing else is ever constructed); models register theirs too
LAYERS: Registry[Layer] = Registry("layer", Layer)
LAYERS.register_all((InputLayer, Dense, Activation, Dropout, GaussianNoise, BatchNormalization, LayerNormalization,
                     Flatten, Reshape, ReLU, LeakyReLU, Softmax, ELU, PReLU))  # fmt: skip
LAYERS.register_all(CONVOLUTION_LAYERS)


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of a layer."""
    return LAYERS.serialize(layer)


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Layer:
    """A fresh layer from :func:`serialize`'s output, built only from a registered or a ``custom_objects`` class."""
    return LAYERS.deserialize(config, custom_objects)


__all__ = [
    "ELU", "LAYERS", "Activation", "BatchNormalization", "Dense", "Dropout", "Flatten",
    "GaussianNoise", "Input", "InputLayer", "Layer", "LayerNormalization", "LeakyReLU", "PReLU", "ReLU", "Reshape",
    "Softmax", "deserialize", "serialize",
]  # fmt: skip

# convolution
__all__ += ["Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "DepthwiseConv2D",
            "SeparableConv2D"]  # fmt: skip
