"""Keras 3's guide "Save, serialize, and export models" (keras-io guides/serialization_and_saving.py), its cells
run as written after ``import highnn as keras`` (``.keras`` files become ``.highnn``, ``.weights.h5`` files
``.weights.safetensors``). Cells that need what highnn deliberately lacks or does not have yet are left out, each
with a comment; docs/keras-migration.md lists them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import highnn as keras


def get_model() -> keras.Model:
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    return model


@pytest.mark.slow
def test_saving(backend: str) -> None:
    model = get_model()
    test_input = np.random.random((128, 32))
    test_target = np.random.random((128, 1))
    model.fit(test_input, test_target)
    model.save("my_model.highnn")
    reconstructed_model = keras.models.load_model("my_model.highnn")
    np.testing.assert_allclose(model.predict(test_input), reconstructed_model.predict(test_input))


class CustomLayer(keras.layers.Layer):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def call(self, x: keras.Tensor) -> keras.Tensor:
        return x * self.factor

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor}


# @keras.saving.register_keras_serializable, keras.saving.get_custom_objects() and keras.saving.custom_object_scope
# are not supported yet, and a custom function (the guide's custom_fn activation) cannot be saved: highnn's files
# name only registered built-ins and classes passed as custom_objects. The guide's model with the built-in square
# activation it spells out:
@pytest.mark.slow
def test_passing_custom_objects_to_load_model(backend: str) -> None:
    def get_custom_model() -> keras.Model:
        inputs = keras.Input(shape=(4,))
        mid = CustomLayer(0.5)(inputs)
        outputs = keras.layers.Dense(1, activation="squareplus")(mid)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="rmsprop", loss="mean_squared_error")
        return model

    def train_model(model: keras.Model) -> keras.Model:
        input = np.random.random((4, 4))
        target = np.random.random((4, 1))
        model.fit(input, target)
        return model

    test_input = np.random.random((4, 4))
    model = get_custom_model()
    model = train_model(model)
    model.save("custom_model.highnn")
    reconstructed_model = keras.models.load_model("custom_model.highnn", custom_objects={"CustomLayer": CustomLayer})
    np.testing.assert_allclose(model.predict(test_input), reconstructed_model.predict(test_input))


# keras.models.clone_model, keras.Model.from_config for a functional model, to_json/model_from_json and
# keras.saving.serialize_keras_object are not supported yet (see docs/keras-migration.md).
def test_get_config_and_from_config(backend: str) -> None:
    layer = keras.layers.Dense(3, activation="relu")
    layer_config = layer.get_config()
    print(layer_config)
    new_layer = keras.layers.Dense.from_config(layer_config)
    assert new_layer.get_config() == layer_config

    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
    config = model.get_config()
    new_model = keras.Sequential.from_config(config)
    assert new_model.count_params() == model.count_params() == 33

    my_reg = keras.regularizers.L1(0.005)
    config = keras.regularizers.serialize(my_reg)  # the guide's keras.saving.serialize_keras_object(my_reg)
    new_reg = keras.regularizers.deserialize(config)
    assert new_reg.get_config() == my_reg.get_config()


def create_layer() -> keras.layers.Layer:
    layer = keras.layers.Dense(64, activation="relu", name="dense_2")
    layer.build((None, 784))
    return layer


def functional_mlp(dropout: bool = False) -> keras.Model:
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    if dropout:
        x = keras.layers.Dropout(0.5)(x)  # Add a dropout layer, which does not contain any weights.
    outputs = keras.layers.Dense(10, name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="3_layer_mlp")


class SubclassedModel(keras.Model):
    def __init__(self, output_dim: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.output_dim = output_dim
        self.dense_1 = keras.layers.Dense(64, activation="relu", name="dense_1")
        self.dense_2 = keras.layers.Dense(64, activation="relu", name="dense_2")
        self.dense_3 = keras.layers.Dense(output_dim, name="predictions")

    def call(self, inputs: keras.Tensor) -> keras.Tensor:
        x = self.dense_1(inputs)
        x = self.dense_2(x)
        x = self.dense_3(x)
        return x

    def get_config(self) -> dict[str, Any]:
        return {"output_dim": self.output_dim, "name": self.name}


def test_apis_for_in_memory_weight_transfer(backend: str) -> None:
    layer_1 = create_layer()
    layer_2 = create_layer()
    layer_2.set_weights(layer_1.get_weights())
    np.testing.assert_array_equal(layer_2.get_weights()[0], layer_1.get_weights()[0])

    functional_model = functional_mlp()
    subclassed_model = SubclassedModel(10)
    subclassed_model(np.ones((1, 784)))
    subclassed_model.set_weights(functional_model.get_weights())
    assert len(functional_model.weights) == len(subclassed_model.weights)
    for a, b in zip(functional_model.weights, subclassed_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy())

    functional_model = functional_mlp()
    functional_model_with_dropout = functional_mlp(dropout=True)
    functional_model_with_dropout.set_weights(functional_model.get_weights())
    x = np.random.random((2, 784))
    np.testing.assert_allclose(functional_model_with_dropout.predict(x), functional_model.predict(x), rtol=1e-6)


def test_apis_for_saving_weights_to_disk_and_loading_them_back(backend: str) -> None:
    sequential_model = keras.Sequential(
        [
            keras.Input(shape=(784,), name="digits"),
            keras.layers.Dense(64, activation="relu", name="dense_1"),
            keras.layers.Dense(64, activation="relu", name="dense_2"),
            keras.layers.Dense(10, name="predictions"),
        ]
    )
    sequential_model.save_weights("my_model.weights.safetensors")
    copy = keras.Sequential(
        [
            keras.Input(shape=(784,), name="digits"),
            keras.layers.Dense(64, activation="relu", name="dense_1"),
            keras.layers.Dense(64, activation="relu", name="dense_2"),
            keras.layers.Dense(10, name="predictions"),
        ]
    )
    copy.load_weights("my_model.weights.safetensors")
    for a, b in zip(sequential_model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)


# "Exporting" (model.export to a TensorFlow SavedModel, TFSMLayer) is left out: highnn has no TensorFlow.
