"""Layers (Keras 3 names) and their registry, the allow-list of classes a saved model may name."""

from collections.abc import Mapping
from typing import Any

from highnn.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from highnn.layers.attention import Attention, MultiHeadAttention
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
from highnn.layers.core import Activation, Dense, Identity, Input, InputLayer, Lambda, Permute, RepeatVector
from highnn.layers.layer import Layer
from highnn.layers.merging import (
    MERGING_LAYERS,
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from highnn.layers.normalization import BatchNormalization, LayerNormalization
from highnn.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)  # fmt: skip
from highnn.layers.regularization import Dropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D
from highnn.layers.reshaping import Flatten, Reshape
from highnn.layers.spatial import Cropping2D, UpSampling2D, ZeroPadding2D
from highnn.registry import Registry

#: the layer classes a saved model may name (nothing else is ever constructed); models register theirs too
LAYERS: Registry[Layer] = Registry("layer", Layer)
LAYERS.register_all((InputLayer, Dense, Activation, Dropout, GaussianNoise, BatchNormalization, LayerNormalization,
                     Flatten, Reshape, ReLU, LeakyReLU, Softmax, ELU, PReLU))  # fmt: skip
LAYERS.register_all((MultiHeadAttention, Attention))  # attention
LAYERS.register_all((MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D, AveragePooling3D,
                     GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                     ZeroPadding2D, Cropping2D, UpSampling2D, SpatialDropout1D, SpatialDropout2D))  # fmt: skip
LAYERS.register_all(CONVOLUTION_LAYERS)
LAYERS.register_all(MERGING_LAYERS + (Identity, RepeatVector, Permute, Lambda))  # merging and the functional API


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of a layer."""
    return LAYERS.serialize(layer)


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Layer:
    """A fresh layer from :func:`serialize`'s output, built only from a registered or a ``custom_objects`` class."""
    return LAYERS.deserialize(config, custom_objects)


__all__ = [
    "ELU", "LAYERS", "Activation", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "BatchNormalization",
    "Cropping2D", "Dense", "Dropout", "Flatten", "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Input", "InputLayer", "Layer", "LayerNormalization", "LeakyReLU",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "PReLU", "ReLU", "Reshape", "Softmax", "SpatialDropout1D",
    "SpatialDropout2D", "UpSampling2D", "ZeroPadding2D", "deserialize", "serialize",
]  # fmt: skip
__all__ += ["Attention", "MultiHeadAttention"]  # attention
# convolution
__all__ += ["Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "DepthwiseConv2D",
            "SeparableConv2D"]  # fmt: skip
# merging and the functional API
__all__ += ["Add", "Average", "Concatenate", "Dot", "Identity", "Lambda", "Maximum", "Minimum", "Multiply", "Permute",
            "RepeatVector", "Subtract", "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply",
            "subtract"]  # fmt: skip
