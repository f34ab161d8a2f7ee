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


# ------------------------------------------------------------------ Masking
PADDED = np.array([[[1.0, 2.0], [0.5, 0.0], [0.0, 0.0], [0.0, 0.0]], [[3.0, 1.0], [0.0, 0.0], [2.0, 2.0], [0.0, 0.0]]])


def test_masking_marks_the_steps_whose_features_all_equal_mask_value_and_zeroes_them() -> None:
    out = layers.Masking()(PADDED)
    np.testing.assert_array_equal(out.mask.numpy(), [[True, True, False, False], [True, False, True, False]])
    np.testing.assert_array_equal(out.numpy(), PADDED)  # masked steps hold zeros already
    x = PADDED + 1.0  # now the padding is 1.0, and a step with one 1.0 feature is kept
    out = layers.Masking(mask_value=1.0)(x)
    np.testing.assert_array_equal(out.mask.numpy(), [[True, True, False, False], [True, False, True, False]])
    expected = x * out.mask.numpy()[..., None]
    np.testing.assert_array_equal(out.numpy(), expected)
    assert out.numpy()[0, 2].tolist() == [0.0, 0.0]  # masked steps are zeros, whatever mask_value


def test_an_lstm_after_masking_gives_the_output_of_the_unpadded_sequences() -> None:
    model = hn.Sequential([hn.Input((4, 2)), layers.Masking(), layers.LSTM(3)])
    lstm = model.layers[-1]
    padded = model(PADDED).numpy()
    first = lstm(hn.tensor(PADDED[:1, :2])).numpy()  # the first sequence without its padding
    np.testing.assert_allclose(padded[:1], first, rtol=1e-12)
    second = lstm(hn.tensor(PADDED[1:, [0, 2]])).numpy()  # the masked step in the middle is skipped
    np.testing.assert_allclose(padded[1:], second, rtol=1e-12)
    assert not np.allclose(padded, lstm(hn.tensor(PADDED)).numpy())  # without the mask the zeros count


def test_masking_config_round_trips_and_bad_values_are_named() -> None:
    layer = layers.Masking(mask_value=-1, name="pad")
    config = layer.get_config()
    assert config == {"name": "pad", "trainable": True, "mask_value": -1.0}
    clone = layers.deserialize(layers.serialize(layer))
    assert isinstance(clone, layers.Masking) and clone.get_config() == config
    assert layer.compute_output_shape((None, 4, 2)) == (None, 4, 2)
    with pytest.raises(TypeError, match="Masking: `mask_value` must be a finite number, received '0' of type str"):
        layers.Masking("0")
