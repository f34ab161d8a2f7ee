"""Layers behave as Keras 3's: building, the activation attribute, LayerNormalization's ranks, Sequential's build."""

from __future__ import annotations

import numpy as np
import pytest

import highnn as hn
from highnn import layers


@pytest.mark.parametrize("layer", [layers.Activation("relu"), layers.Dropout(0.5), layers.Flatten()])
def test_build_marks_a_weightless_layer_built(layer: layers.Layer) -> None:
    assert not layer.built
    layer.build((None, 3, 2))
    assert layer.built
    assert layer.weights == []


def test_setting_the_activation_resolves_it(float64: None) -> None:
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    dense = layers.Dense(3, activation="relu")
    dense.build((None, 2))
    dense.activation = None
    assert dense.activation is hn.activations.linear
    linear = x @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(dense(x).numpy(), linear)
    dense.activation = "tanh"
    np.testing.assert_allclose(dense(x).numpy(), np.tanh(linear))
    assert dense.get_config()["activation"] == "tanh"
    activation = layers.Activation("relu")
    activation.activation = None
    np.testing.assert_array_equal(activation(x).numpy(), x)
    with pytest.raises(ValueError, match="Unknown activation: 'relux'"):
        dense.activation = "relux"


def layer_norm_reference(x: np.ndarray, axes: tuple[int, ...], epsilon: float = 1e-3) -> np.ndarray:
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + epsilon)


def test_layer_normalization_accepts_inputs_of_any_rank(float64: None) -> None:
    rng = np.random.default_rng(0)
    layer = layers.LayerNormalization()
    for shape in [(2, 3, 4), (5, 4), (4,), (2, 1, 3, 4)]:
        x = rng.normal(size=shape)
        np.testing.assert_allclose(layer(x).numpy(), layer_norm_reference(x, (-1,)), rtol=1e-12)
        assert layer.compute_output_shape(shape) == shape
    assert [w.shape for w in layer.weights] == [(4,), (4,)]
    with pytest.raises(ValueError, match=r"expected axis 1 of input shape to have value 4.*\(5, 3\)"):
        layer(np.ones((5, 3)))
    several = layers.LayerNormalization(axis=[-2, -1])
    x = rng.normal(size=(2, 3, 4))
    several(x)
    x2 = x[0]
    np.testing.assert_allclose(several(x2).numpy(), layer_norm_reference(x2, (0, 1)), rtol=1e-12)


class Recording(layers.Layer):
    """A layer that notes every call and knows its output shape without being called."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.scale = self.add_weight((input_shape[-1],), "ones", name="scale")

    def call(self, inputs: hn.Tensor) -> hn.Tensor:
        self.calls += 1
        return inputs * self.scale

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


def test_building_a_sequential_runs_no_layer_on_dummy_data() -> None:
    recording = Recording()
    model = hn.Sequential([hn.Input((4,)), layers.Dense(3), recording, layers.LayerNormalization()])
    assert recording.built and recording.calls == 0
    assert [w.shape for w in model.weights] == [(4, 3), (3,), (3,), (3,), (3,)]
    later = Recording()
    model = hn.Sequential([layers.Dense(2), later])
    model.build((None, 5))
    assert later.built and later.calls == 0
    model.summary(print_fn=lambda line: None)
    assert later.calls == 0
    model(np.ones((1, 5)))
    assert later.calls == 1
