"""Layers (Keras 3 names) and their registry, the allow-list of classes a saved model may name."""

from collections.abc import Mapping
from typing import Any

from highnn.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from highnn.layers.core import Activation, Dense, Input, InputLayer
from highnn.layers.embedding import Embedding
from highnn.layers.layer import Layer
from highnn.layers.normalization import BatchNormalization, LayerNormalization
from highnn.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed, Wrapper
from highnn.layers.regularization import Dropout, GaussianNoise
from highnn.layers.reshaping import Flatten, Reshape
from highnn.registry import Registry

#: the layer classes a saved model may name (nothing else is ever constructed); models register theirs too
LAYERS: Registry[Layer] = Registry("layer", Layer)
LAYERS.register_all((InputLayer, Dense, Activation, Dropout, GaussianNoise, BatchNormalization, LayerNormalization,
                     Flatten, Reshape, ReLU, LeakyReLU, Softmax, ELU, PReLU))  # fmt: skip
LAYERS.register_all((Embedding, SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed))
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
    "BatchNormalization",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GaussianNoise",
    "Input",
    "InputLayer",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "PReLU",
    "ReLU",
    "Reshape",
    "SimpleRNN",
    "Softmax",
    "TimeDistributed",
    "deserialize",
    "serialize",
]  # fmt: skip
