"""Layers (Keras 3 names) and their registry, the allow-list of classes a saved model may name."""

from collections.abc import Mapping
from typing import Any

from highnn.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from highnn.layers.attention import Attention, MultiHeadAttention
from highnn.layers.augmentation import (
    CenterCrop,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from highnn.layers.conv_lstm import CONV_LSTM_LAYERS, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from highnn.layers.convolutional import (
    CONVOLUTION_LAYERS,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from highnn.layers.core import (
    Activation,
    Dense,
    Identity,
    Input,
    InputLayer,
    Lambda,
    Masking,
    Permute,
    RepeatVector,
)
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
from highnn.layers.normalization import (
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
    RMSNormalization,
    UnitNormalization,
)
from highnn.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from highnn.layers.preprocessing import CategoryEncoding, Discretization, Normalization, Rescaling, Resizing
from highnn.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed, Wrapper
from highnn.layers.regularization import (
    ActivityRegularization,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from highnn.layers.reshaping import Flatten, Reshape
from highnn.layers.rnn import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from highnn.layers.spatial import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from highnn.registry import Registry

#: the layer classes a saved model may name (nothing else is ever constructed); models register theirs too
LAYERS: Registry[Layer] = Registry("layer", Layer)
LAYERS.register_all((
    InputLayer, Dense, Activation, Dropout, GaussianNoise, BatchNormalization, LayerNormalization, Flatten, Reshape,
    GroupNormalization, RMSNormalization, UnitNormalization,
    ReLU, LeakyReLU, Softmax, ELU, PReLU,
    *CONVOLUTION_LAYERS, *CONV_LSTM_LAYERS,
    MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D, AveragePooling3D,
    GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
    ZeroPadding1D, ZeroPadding2D, ZeroPadding3D, Cropping1D, Cropping2D, Cropping3D,
    UpSampling1D, UpSampling2D, UpSampling3D, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
    Embedding, SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed,
    RNN, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells,
    MultiHeadAttention, Attention,
    *MERGING_LAYERS, Identity, RepeatVector, Permute, Lambda, Masking,
    Rescaling, Normalization, Resizing, CategoryEncoding, Discretization, GaussianDropout, ActivityRegularization,
    RandomFlip, RandomRotation, RandomTranslation, RandomZoom, RandomContrast, RandomBrightness, RandomCrop,
    CenterCrop,
))  # fmt: skip
Wrapper.registry = LAYERS  # wrappers rebuild their inner layers from the same allow-list

# Keras's other names for the same classes (a saved config names the class itself)
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
)  # fmt: skip
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = (
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
)  # fmt: skip
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D


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
    "RNN",
    "Activation",
    "ActivityRegularization",
    "Add",
    "Attention",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "BatchNormalization",
    "Bidirectional",
    "CategoryEncoding",
    "CenterCrop",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Convolution3D",
    "Convolution3DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Discretization",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRUCell",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GroupNormalization",
    "Identity",
    "Input",
    "InputLayer",
    "LSTMCell",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "Masking",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Maximum",
    "Minimum",
    "MultiHeadAttention",
    "Multiply",
    "Normalization",
    "PReLU",
    "Permute",
    "RMSNormalization",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "Resizing",
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
    "SimpleRNN",
    "SimpleRNNCell",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "StackedRNNCells",
    "Subtract",
    "TimeDistributed",
    "UnitNormalization",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
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
