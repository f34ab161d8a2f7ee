"""Embedding: integer tokens to dense vectors, and the mask of padding tokens."""

from __future__ import annotations

from typing import Any

import numpy as np

from highnn import constraints, initializers, regularizers
from highnn.checks import check_bool, fail, is_integer
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import Shape, deserialize_weight_arguments, serialize_weight_arguments
from highnn.ops.primitives import cast, not_equal, take


class Embedding(Layer):
    """Maps each integer in ``[0, input_dim)`` to a learned vector of ``output_dim`` numbers.

    The vectors are the rows of the ``embeddings`` weight, gathered with
    ``take`` (whose gradient adds into the rows used). With ``mask_zero=True``
    index 0 is padding: the layer emits a mask, False at padding, that recurrent
    layers read (``input_dim`` must then leave room for it).

    >>> layer = hn.layers.Embedding(1000, 64, mask_zero=True)
    >>> layer(np.array([[4, 9, 0]])).shape
    (1, 3, 64)
    """

    WEIGHT_ARGUMENTS = ("embeddings_initializer", "embeddings_regularizer", "embeddings_constraint")

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: str | initializers.Initializer = "uniform",
        embeddings_regularizer: str | regularizers.Regularizer | None = None,
        embeddings_constraint: constraints.ConstraintLike = None,
        mask_zero: bool = False,
        weights: Any = None,
        **kwargs: Any,
    ) -> None:
        for argument, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not is_integer(value) or value <= 0:
                fail("Embedding", argument, "a positive integer", value)
        mask_zero = check_bool("Embedding", "mask_zero", mask_zero)
        if weights is not None:  # Keras's initial embeddings: the matrix, or a list holding it
            weights = np.asarray(weights[0] if isinstance(weights, list) and len(weights) == 1 else weights)
            if weights.shape != (input_dim, output_dim):
                fail("Embedding", "weights", f"a matrix of shape {(input_dim, output_dim)}", weights.shape)
        uniform = embeddings_initializer == "uniform"  # Keras's default: RandomUniform(-0.05, 0.05)
        initializer = initializers.get("random_uniform" if uniform else embeddings_initializer)
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializer
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        if weights is not None:
            self.build((None, None))  # the table alone decides the shape
            self.set_weights([weights])

    def build(self, input_shape: Shape) -> None:
        self.embeddings = self.add_weight(
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            name="embeddings",
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
        )

    def call(self, inputs: Tensor) -> Tensor:
        indices = inputs if inputs.dtype in ("int32", "int64") else cast(inputs, "int32")
        return take(self.embeddings, indices, axis=0)

    def compute_mask(self, inputs: Tensor, previous_mask: Tensor | None = None) -> Tensor | None:
        """False where the input is the padding index 0 (with ``mask_zero``), else no mask."""
        return not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            **serialize_weight_arguments(self, self.WEIGHT_ARGUMENTS),
            "mask_zero": self.mask_zero,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config(deserialize_weight_arguments(config, cls.WEIGHT_ARGUMENTS))
