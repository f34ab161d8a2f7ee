"""Keras 3's guide "Working with RNNs" (keras-io guides/working_with_rnns.py), its cells run as written after
``import highnn as keras``. Changed: MNIST (a download) is random data of its shape, a sample is predicted without
``tf.device``, and the guide's printed summaries become assertions. Left out: the last section, a cell with
nested inputs and multi-axis states, which is written in TensorFlow (``tf.TensorShape``, ``tf.nest``, ``tf.einsum``);
highnn's RNN takes one input tensor and states of shape ``(batch, size)``."""

from __future__ import annotations

import numpy as np

import highnn as keras
from highnn import layers


def test_built_in_rnn_layers_a_simple_example(backend: str) -> None:
    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1000, output_dim=64))
    model.add(layers.LSTM(128))
    model.add(layers.Dense(10))
    model.summary()
    assert model(np.ones((2, 7))).shape == (2, 10)
    assert model.count_params() == 64000 + 4 * (128 * (64 + 128) + 128) + 1290


def test_outputs_and_states(backend: str) -> None:
    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1000, output_dim=64))
    model.add(layers.GRU(256, return_sequences=True))  # (batch_size, timesteps, 256)
    model.add(layers.SimpleRNN(128))  # (batch_size, 128)
    model.add(layers.Dense(10))
    model.summary()
    assert model(np.ones((2, 7))).shape == (2, 10)

    encoder_vocab = 1000
    decoder_vocab = 2000
    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(encoder_input)
    # Return states in addition to output
    output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoder_embedded)
    encoder_state = [state_h, state_c]
    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(decoder_input)
    # Pass the 2 states to a new LSTM layer, as initial state
    decoder_output = layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=encoder_state)
    output = layers.Dense(10)(decoder_output)
    model = keras.Model([encoder_input, decoder_input], output)
    model.summary()
    assert model.count_params() == 258698  # the guide's summary

    # the decoder starts from the encoder's last states
    encoder_tokens, decoder_tokens = np.arange(10).reshape(2, 5) + 1, np.arange(14).reshape(2, 7) + 3
    embedded_encoder, embedded_decoder = (layer for layer in model.layers if isinstance(layer, layers.Embedding))
    encoder, decoder, dense = model.get_layer("encoder"), model.get_layer("decoder"), model.layers[-1]
    _, h, c = encoder(embedded_encoder(encoder_tokens))
    expected = dense(decoder(embedded_decoder(decoder_tokens), initial_state=[h, c]))
    np.testing.assert_allclose(model([encoder_tokens, decoder_tokens]).numpy(), expected.numpy(), rtol=1e-5)


def test_rnn_layers_and_rnn_cells(backend: str) -> None:
    x = np.random.random((4, 6, 3)).astype(np.float32)
    layer, rnn = layers.LSTM(10), layers.RNN(layers.LSTMCell(10))
    layer(x)
    rnn(x)
    rnn.set_weights(layer.get_weights())
    np.testing.assert_allclose(rnn(x).numpy(), layer(x).numpy(), rtol=1e-5, atol=1e-6)  # "the same result"


def test_cross_batch_statefulness_and_state_reuse(backend: str) -> None:
    paragraph1 = np.random.random((20, 10, 50)).astype(np.float32)
    paragraph2 = np.random.random((20, 10, 50)).astype(np.float32)
    paragraph3 = np.random.random((20, 10, 50)).astype(np.float32)

    lstm_layer = layers.LSTM(64, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)
    output = lstm_layer(paragraph3)
    assert output.shape == (20, 64) and all(state.numpy().any() for state in lstm_layer.states)

    # reset_states() will reset the cached state to the original initial_state.
    # If no initial_state was provided, zero-states will be used by default.
    lstm_layer.reset_states()
    assert not any(state.numpy().any() for state in lstm_layer.states)

    lstm_layer = layers.LSTM(64, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)

    existing_state = lstm_layer.states

    new_lstm_layer = layers.LSTM(64)
    new_output = new_lstm_layer(paragraph3, initial_state=existing_state)
    assert new_output.shape == (20, 64)
    assert len(lstm_layer.weights) == 3  # the recorded states are not weights


def test_bidirectional_rnns(backend: str) -> None:
    model = keras.Sequential()
    model.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True), input_shape=(5, 10)))
    model.add(layers.Bidirectional(layers.LSTM(32)))
    model.add(layers.Dense(10))
    model.summary()
    assert model.count_params() == 80266  # the guide's summary


def test_cudnn_and_cell_models_train_the_same_weights(backend: str) -> None:
    batch_size = 64
    # Each MNIST image batch is a tensor of shape (batch_size, 28, 28).
    # Each input sequence will be of size (28, 28) (height is treated like time).
    input_dim = 28
    units = 64
    output_size = 10  # labels are from 0 to 9

    # Build the RNN model
    def build_model(allow_cudnn_kernel: bool = True) -> keras.Sequential:
        # CuDNN is only available at the layer level, and not at the cell level.
        # This means `LSTM(units)` will use the CuDNN kernel,
        # while RNN(LSTMCell(units)) will run on non-CuDNN kernel.
        if allow_cudnn_kernel:
            # The LSTM layer with default options uses CuDNN.
            lstm_layer = keras.layers.LSTM(units, input_shape=(None, input_dim))
        else:
            # Wrapping a LSTMCell in a RNN layer will not use CuDNN.
            lstm_layer = keras.layers.RNN(keras.layers.LSTMCell(units), input_shape=(None, input_dim))
        model = keras.models.Sequential(
            [
                lstm_layer,
                keras.layers.BatchNormalization(),
                keras.layers.Dense(output_size),
            ]
        )
        return model

    rng = np.random.default_rng(0)  # MNIST's shapes: images of 28 x 28 in [0, 1], labels 0 to 9
    x_train, y_train = rng.random((256, 28, 28)), rng.integers(0, 10, 256)
    x_test, y_test = rng.random((64, 28, 28)), rng.integers(0, 10, 64)
    sample = x_train[0]

    model = build_model(allow_cudnn_kernel=True)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1)

    noncudnn_model = build_model(allow_cudnn_kernel=False)
    noncudnn_model.set_weights(model.get_weights())
    noncudnn_model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    noncudnn_model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1)

    cpu_model = build_model(allow_cudnn_kernel=True)
    cpu_model.set_weights(model.get_weights())
    result = keras.ops.argmax(cpu_model.predict_on_batch(keras.ops.expand_dims(sample, 0)), axis=1)
    assert result.shape == (1,) and 0 <= int(result[0]) < 10

    # the two kinds of model compute the same thing: one more epoch from the same weights agrees
    cell_model = build_model(allow_cudnn_kernel=False)
    cell_model.set_weights(model.get_weights())
    for each in (model, cell_model):
        each.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd")
        each.fit(x_train, y_train, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), cell_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
