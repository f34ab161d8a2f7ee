"""Keras's masks travel on tensors: Embedding(mask_zero=True) reaches RNNs and attention through other layers."""

from __future__ import annotations

import numpy as np
import pytest

import highnn as hn
from highnn import layers

TOKENS = np.array([[3, 1, 4, 0, 0], [2, 7, 0, 0, 0], [5, 9, 2, 6, 5]])
MASK = TOKENS != 0


@pytest.fixture(autouse=True)
def seeded(float64: None) -> None:
    hn.utils.set_random_seed(3)


def unmasked(x: hn.Tensor) -> hn.Tensor:
    """The same values without the mask a layer attached."""
    return hn.tensor(x.numpy())


def test_the_embedding_mask_rides_on_its_output_and_through_mask_supporting_layers() -> None:
    embedded = layers.Embedding(10, 4, mask_zero=True)(TOKENS)
    np.testing.assert_array_equal(embedded.mask.numpy(), MASK)
    for layer in (layers.Dense(3), layers.Dropout(0.5), layers.Activation("tanh"), layers.LayerNormalization()):
        np.testing.assert_array_equal(layer(embedded).mask.numpy(), MASK, err_msg=type(layer).__name__)
    assert layers.Flatten()(embedded).mask is None  # Flatten does not support masking, as in Keras


def test_an_lstm_after_dropout_reads_the_embedding_mask_in_a_subclassed_model() -> None:
    embedding, dropout, lstm = layers.Embedding(10, 4, mask_zero=True), layers.Dropout(0.3), layers.LSTM(3)
    embedded = embedding(TOKENS)
    automatic = lstm(dropout(embedded, training=False))
    explicit = lstm(unmasked(embedded), mask=hn.tensor(MASK))
    ignored = lstm(unmasked(embedded))
    np.testing.assert_allclose(automatic.numpy(), explicit.numpy(), rtol=1e-12)
    assert not np.allclose(automatic.numpy(), ignored.numpy())  # the mask changes the result


def test_multi_head_attention_reads_query_and_value_masks_and_passes_the_query_mask_on() -> None:
    embedded = layers.Embedding(10, 4, mask_zero=True)(TOKENS)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    automatic = attention(embedded, embedded)
    plain = unmasked(embedded)
    explicit = attention(plain, plain, query_mask=MASK, value_mask=MASK)
    np.testing.assert_allclose(automatic.numpy(), explicit.numpy(), rtol=1e-12)
    assert not np.allclose(automatic.numpy(), attention(plain, plain).numpy())
    np.testing.assert_array_equal(automatic.mask.numpy(), MASK)


def test_the_attention_layer_reads_the_masks_of_its_inputs() -> None:
    embedded = layers.Embedding(10, 4, mask_zero=True)(TOKENS)
    attention = layers.Attention()
    automatic = attention([embedded, embedded])
    plain = unmasked(embedded)
    explicit = attention([plain, plain], mask=[MASK, MASK])
    np.testing.assert_allclose(automatic.numpy(), explicit.numpy(), rtol=1e-12)
    assert not np.allclose(automatic.numpy(), attention([plain, plain]).numpy())
    np.testing.assert_array_equal(automatic.mask.numpy(), MASK)
