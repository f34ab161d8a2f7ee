"""Keras 3's guide "The Functional API" (keras-io guides/functional_api.py), its cells run as written after
``import highnn as keras`` (``.keras`` files become ``.highnn``). MNIST and CIFAR-10 cannot be downloaded here:
:func:`mnist_load_data` and :func:`cifar10_load_data` give arrays of their shapes and dtypes whose labels follow
the pixels, so a model can learn them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import highnn as keras
from highnn import layers, ops


def mnist_load_data(n: int = 6000) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Stand-in for ``keras.datasets.mnist.load_data()``: ``n`` train and ``n // 6`` test images (MNIST's ratio)."""
    rng = np.random.default_rng(0)
    prototypes = rng.integers(0, 256, size=(10, 28, 28))
    labels = rng.integers(0, 10, size=n + n // 6)
    noise = rng.integers(-60, 60, size=(len(labels), 28, 28))
    images = np.clip(prototypes[labels] + noise, 0, 255).astype("uint8")
    return (images[:n], labels[:n]), (images[n:], labels[n:])


def cifar10_load_data(n: int = 1000) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Stand-in for ``keras.datasets.cifar10.load_data()``: labels of shape (n, 1), as CIFAR-10's."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, size=(2 * n, 1))
    prototypes = rng.integers(0, 256, size=(10, 32, 32, 3))
    images = np.clip(prototypes[labels[:, 0]] + rng.integers(-40, 40, (2 * n, 32, 32, 3)), 0, 255).astype("uint8")
    return (images[:n], labels[:n]), (images[n:], labels[n:])


def mnist_model() -> keras.Model:
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def test_introduction(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = keras.Input(shape=(784,))
    img_inputs = keras.Input(shape=(32, 32, 3))
    assert inputs.shape == (None, 784) and img_inputs.shape == (None, 32, 32, 3)
    assert inputs.dtype == "float32"
    model = mnist_model()
    model.summary()
    assert "mnist_model" in capsys.readouterr().out
    assert model.count_params() == 55_050  # Keras: Total params: 55,050
    keras.utils.plot_model(model, "my_first_model.png")
    keras.utils.plot_model(model, "my_first_model_with_shape_info.png", show_shapes=True)
    assert Path("my_first_model.dot").exists() or Path("my_first_model.png").exists()


@pytest.mark.slow
def test_training_evaluation_and_inference_then_save_and_serialize(backend: str) -> None:
    model = mnist_model()
    (x_train, y_train), (x_test, y_test) = mnist_load_data()
    x_train = x_train.reshape(6000, 784).astype("float32") / 255  # the guide's 60000: a tenth, for run time
    x_test = x_test.reshape(1000, 784).astype("float32") / 255
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2)
    test_scores = model.evaluate(x_test, y_test, verbose=2)
    print("Test loss:", test_scores[0])
    print("Test accuracy:", test_scores[1])
    assert history.history["loss"][1] < history.history["loss"][0]
    assert test_scores[1] > 0.9  # Keras reaches about 0.96 on MNIST

    model.save("my_model.highnn")
    predictions = model.predict(x_test)
    del model
    model = keras.models.load_model("my_model.highnn")
    np.testing.assert_array_equal(model.predict(x_test), predictions)


def encoder_layers(encoder_input: keras.KerasTensor) -> keras.KerasTensor:
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    return layers.GlobalMaxPooling2D()(x)


def decoder_layers(decoder_input: keras.KerasTensor) -> keras.KerasTensor:
    x = layers.Reshape((4, 4, 1))(decoder_input)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)


def test_use_the_same_graph_of_layers_to_define_multiple_models(backend: str) -> None:
    encoder_input = keras.Input(shape=(28, 28, 1), name="img")
    encoder_output = encoder_layers(encoder_input)
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    encoder.summary()
    decoder_output = decoder_layers(encoder_output)
    autoencoder = keras.Model(encoder_input, decoder_output, name="autoencoder")
    autoencoder.summary()
    assert encoder.count_params() == 18_672 and autoencoder.count_params() == 28_241  # Keras's totals
    assert autoencoder.output.shape == (None, 28, 28, 1)


@pytest.mark.slow
def test_all_models_are_callable_just_like_layers(backend: str) -> None:
    encoder_input = keras.Input(shape=(28, 28, 1), name="original_img")
    encoder = keras.Model(encoder_input, encoder_layers(encoder_input), name="encoder")
    encoder.summary()
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    decoder = keras.Model(decoder_input, decoder_layers(decoder_input), name="decoder")
    decoder.summary()
    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    encoded_img = encoder(autoencoder_input)
    decoded_img = decoder(encoded_img)
    autoencoder = keras.Model(autoencoder_input, decoded_img, name="autoencoder")
    autoencoder.summary()
    assert (encoder.count_params(), decoder.count_params(), autoencoder.count_params()) == (18_672, 9_569, 28_241)
    images = np.random.default_rng(2).random((2, 28, 28, 1))
    np.testing.assert_allclose(
        autoencoder.predict(images, verbose=0), decoder.predict(encoder.predict(images, verbose=0), verbose=0),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip

    def get_model() -> keras.Model:
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    model1 = get_model()
    model2 = get_model()
    model3 = get_model()
    inputs = keras.Input(shape=(128,))
    y1 = model1(inputs)
    y2 = model2(inputs)
    y3 = model3(inputs)
    outputs = layers.average([y1, y2, y3])
    ensemble_model = keras.Model(inputs=inputs, outputs=outputs)
    x = np.random.default_rng(3).random((4, 128))
    expected = sum(m.predict(x, verbose=0) for m in (model1, model2, model3)) / 3
    np.testing.assert_allclose(ensemble_model.predict(x, verbose=0), expected, rtol=1e-5)


@pytest.mark.slow
def test_models_with_multiple_inputs_and_outputs(backend: str) -> None:
    num_tags = 12  # Number of unique issue tags
    num_words = 10000  # Size of vocabulary obtained when preprocessing text data
    num_departments = 4  # Number of departments for predictions

    title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
    body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
    tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs={"priority": priority_pred, "department": department_pred},
    )
    keras.utils.plot_model(model, "multi_input_and_output_model.png", show_shapes=True)
    assert model.count_params() == 640_000 + 98_816 + 640_000 + 12_416 + 173 + 692  # Keras: 1,392,097

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.losses.CategoricalCrossentropy(from_logits=True),
        ],
        loss_weights=[1.0, 0.2],
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "priority": keras.losses.BinaryCrossentropy(from_logits=True),
            "department": keras.losses.CategoricalCrossentropy(from_logits=True),
        },
        loss_weights={"priority": 1.0, "department": 0.2},
    )
    # Dummy input data (the guide's 1280 samples, bodies of 100 words: a quarter of both, for run time)
    title_data = np.random.randint(num_words, size=(320, 10))
    body_data = np.random.randint(num_words, size=(320, 25))
    tags_data = np.random.randint(2, size=(320, num_tags)).astype("float32")
    priority_targets = np.random.random(size=(320, 1))
    dept_targets = np.random.randint(2, size=(320, num_departments))
    history = model.fit(
        {"title": title_data, "body": body_data, "tags": tags_data},
        {"priority": priority_targets, "department": dept_targets},
        epochs=2,
        batch_size=32,
    )
    assert set(history.history) == {"loss", "priority_loss", "department_loss"}
    assert history.history["loss"][1] < history.history["loss"][0]
    # fit on a tf.data.Dataset (the guide's next remark) is not supported: highnn has no TensorFlow


@pytest.mark.slow
def test_a_toy_resnet_model(backend: str) -> None:
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs, outputs, name="toy_resnet")
    model.summary()
    keras.utils.plot_model(model, "mini_resnet.png", show_shapes=True)
    assert model.count_params() == 223_242  # Keras: Total params: 223,242

    (x_train, y_train), (x_test, y_test) = cifar10_load_data()
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    # The guide trains on the first 1000 samples "to limit execution time": here the first 200
    history = model.fit(x_train[:200], y_train[:200], batch_size=64, epochs=1, validation_split=0.2)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert np.isfinite(history.history["loss"][0]) and 0.0 <= history.history["acc"][0] <= 1.0


def test_shared_layers(backend: str) -> None:
    shared_embedding = layers.Embedding(1000, 128)
    text_input_a = keras.Input(shape=(None,), dtype="int32")
    text_input_b = keras.Input(shape=(None,), dtype="int32")
    encoded_input_a = shared_embedding(text_input_a)
    encoded_input_b = shared_embedding(text_input_b)
    model = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])
    assert len(model.weights) == 1 and encoded_input_a.shape == encoded_input_b.shape == (None, None, 128)
    a, b = model.predict([np.array([[1, 2]]), np.array([[1, 2]])], verbose=0)
    np.testing.assert_array_equal(a, b)


# "Extract and reuse nodes in the graph of layers" starts from keras.applications.VGG19 (pre-trained ImageNet
# weights), which highnn does not provide; the same feature extraction on a model of ours:
def test_extract_and_reuse_nodes_in_the_graph_of_layers(backend: str) -> None:
    encoder_input = keras.Input(shape=(28, 28, 1))
    encoder = keras.Model(encoder_input, encoder_layers(encoder_input))
    features_list = [layer.output for layer in encoder.layers]
    feat_extraction_model = keras.Model(inputs=encoder.input, outputs=features_list)
    img = np.random.random((1, 28, 28, 1)).astype("float32")
    extracted_features = feat_extraction_model(img)
    assert [tuple(f.shape) for f in extracted_features] == [
        (1, 28, 28, 1), (1, 26, 26, 16), (1, 24, 24, 32), (1, 8, 8, 32), (1, 6, 6, 32), (1, 4, 4, 16), (1, 16)
    ]  # fmt: skip


class CustomDense(layers.Layer):
    def __init__(self, units: int = 32) -> None:
        super().__init__()
        self.units = units

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs: keras.Tensor) -> keras.Tensor:
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self) -> dict[str, int]:
        return {"units": self.units}


def test_extend_the_api_using_custom_layers(backend: str) -> None:
    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)
    model = keras.Model(inputs, outputs)
    config = model.get_config()
    assert model.count_params() == 50 and model.output.shape == (None, 10)
    assert config["layers"][1] == {"class_name": "CustomDense", "config": {"units": 10}}
    # keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense}) is not supported yet (custom
    # classes come back through load_model(..., custom_objects=...) only); see docs/keras-migration.md


units = 32
timesteps = 10
input_dim = 5
batch_size = 16


def test_mix_and_match_api_styles(backend: str) -> None:
    inputs = keras.Input((None, units))
    x = layers.GlobalAveragePooling1D()(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)

    class CustomRNN(layers.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            self.classifier = model  # Our previously-defined Functional model

        def call(self, inputs: keras.Tensor) -> keras.Tensor:
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = ops.stack(outputs, axis=1)
            return self.classifier(features)

    rnn_model = CustomRNN()
    out = rnn_model(ops.zeros((1, timesteps, input_dim)))
    assert tuple(out.shape) == (1, 1)


@pytest.mark.slow
def test_a_custom_rnn_written_from_scratch_in_a_functional_model(backend: str) -> None:
    class CustomRNN(layers.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            self.classifier = layers.Dense(1)

        def call(self, inputs: keras.Tensor) -> keras.Tensor:
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = ops.stack(outputs, axis=1)
            return self.classifier(features)

    # Note that you specify a static batch size for the inputs with the `batch_shape` arg, because the inner
    # computation of `CustomRNN` requires a static batch size (when you create the `state` zeros tensor).
    inputs = keras.Input(batch_shape=(batch_size, timesteps, input_dim))
    x = layers.Conv1D(32, 3)(inputs)
    outputs = CustomRNN()(x)
    model = keras.Model(inputs, outputs)
    assert model.output.shape == (batch_size, 8, 1)
    rnn_model = CustomRNN()
    assert tuple(rnn_model(ops.zeros((1, 10, 5))).shape) == (1, 10, 1)
    assert model.predict(np.ones((batch_size, timesteps, input_dim)), verbose=0).shape == (batch_size, 8, 1)
