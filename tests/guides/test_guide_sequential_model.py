"""Keras 3's guide "The Sequential model" (keras-io guides/sequential_model.py), its cells run as written after
``import highnn as keras``; only ``tf.ones`` became ``keras.ops.ones`` (the guide imports TensorFlow for it)."""

from __future__ import annotations

import highnn as keras
from highnn import layers


def test_when_to_use_a_sequential_model(backend: str) -> None:
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    x = keras.ops.ones((3, 3))
    y = model(x)

    layer1 = layers.Dense(2, activation="relu", name="layer1")
    layer2 = layers.Dense(3, activation="relu", name="layer2")
    layer3 = layers.Dense(4, name="layer3")
    x = keras.ops.ones((3, 3))
    y2 = layer3(layer2(layer1(x)))
    assert y.shape == y2.shape == (3, 4)


def test_creating_a_sequential_model(backend: str) -> None:
    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"), layers.Dense(4)])
    assert len(model.layers) == 3

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    assert len(model.layers) == 2  # the guide prints 2

    model = keras.Sequential(name="my_sequential")
    model.add(layers.Dense(2, activation="relu", name="layer1"))
    model.add(layers.Dense(3, activation="relu", name="layer2"))
    model.add(layers.Dense(4, name="layer3"))
    assert model.name == "my_sequential" and [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]


def test_specifying_the_input_shape_in_advance(backend: str, capsys: object) -> None:
    layer = layers.Dense(3)
    assert layer.weights == []  # Empty
    x = keras.ops.ones((1, 4))
    layer(x)
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3,)]

    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"), layers.Dense(4)])
    x = keras.ops.ones((1, 4))
    model(x)
    assert len(model.weights) == 6  # "Number of weights after calling the model: 6"
    model.summary()

    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    model.summary()
    assert len(model.layers) == 1  # the Input is not a layer of the model
    assert model.count_params() == 10

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
    model.summary()
    assert model.count_params() == 10


def test_a_common_debugging_workflow_add_and_summary(backend: str) -> None:
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.summary()
    assert model.compute_output_shape((None, 250, 250, 3)) == (None, 40, 40, 32)  # "The answer was: (40, 40, 32)"

    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    model.summary()
    assert model.compute_output_shape((None, 250, 250, 3)) == (None, 4, 4, 32)  # "now that we have 4x4 feature maps"
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert model.count_params() == 2432 + 4 * 9248 + 9248 + 330  # Keras's count: 48,106


def test_feature_extraction_with_a_sequential_model(backend: str) -> None:
    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    x = keras.ops.ones((1, 250, 250, 3))
    features = feature_extractor(x)
    assert [tuple(f.shape) for f in features] == [(1, 123, 123, 32), (1, 121, 121, 32), (1, 119, 119, 32)]

    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    x = keras.ops.ones((1, 250, 250, 3))
    features = feature_extractor(x)
    assert tuple(features.shape) == (1, 121, 121, 32)


# "Transfer learning with a Sequential model" shows its blueprints as text, not cells (and uses keras.applications).
