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
from highnn.layers.embedding import Embedding
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
)
from highnn.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed, Wrapper
from highnn.layers.regularization import Dropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D
from highnn.layers.reshaping import Flatten, Reshape
from highnn.layers.spatial import Cropping2D, UpSampling2D, ZeroPadding2D
from highnn.registry import Registry

#: the layer classes a saved model may name (nothing else is ever constructed); models register theirs too
LAYERS: Registry[Layer] = Registry("layer", Layer)
LAYERS.register_all((
    InputLayer, Dense, Activation, Dropout, GaussianNoise, BatchNormalization, LayerNormalization, Flatten, Reshape,
    ReLU, LeakyReLU, Softmax, ELU, PReLU,
    *CONVOLUTION_LAYERS,
    MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D, AveragePooling3D,
    GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
    ZeroPadding2D, Cropping2D, UpSampling2D, SpatialDropout1D, SpatialDropout2D,
    Embedding, SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed,
    MultiHeadAttention, Attention,
    *MERGING_LAYERS, Identity, RepeatVector, Permute, Lambda,
))  # fmt: skip
Wrapper.registry = LAYERS  # wrappers rebuild their inner layers from the same allow-list


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of a layer."""
    return LAYERS.serialize(layer)


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Layer:
    """A fresh layer from :func:`serialize`'s output, built only from a registered or a ``custom_objects`` class."""
    return LAYERS.deserialize(config, custom_objects)


__all__ = [
    "ELU",
    "GRU",
    "LAYERS",
    "LSTM",
    "Activation",
    "Add",
    "Attention",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Identity",
    "Input",
    "InputLayer",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Maximum",
    "Minimum",
    "MultiHeadAttention",
    "Multiply",
    "PReLU",
    "Permute",
    "ReLU",
    "RepeatVector",
    "Reshape",
    "SeparableConv2D",
    "SimpleRNN",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "Subtract",
    "TimeDistributed",
    "UpSampling2D",
    "ZeroPadding2D",
    "add",
    "average",
    "concatenate",
    "deserialize",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "serialize",
    "subtract",
]


# -- a Keras name highnn lacks: an AttributeError that names it and points to the migration page
from highnn.checks import missing_attribute as _missing_attribute  # noqa: E402


def __getattr__(name: str) -> None:
    raise _missing_attribute("highnn.layers", name, "layer")
