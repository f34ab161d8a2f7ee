"""Keras's guide "Making new layers and models via subclassing", its Dense-family parts, on every backend.

The guide's code with ``import highnn as keras`` in place of ``import keras``; where it prints, the
tests check the numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, require_backend
from sklearn.datasets import load_digits

import highnn as keras
from highnn import ops

layers = keras.layers


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each backend in turn, in Keras's default float32."""
    require_backend(request.param)
    with keras.config.use_backend(request.param, floatx="float32"):
        keras.utils.set_random_seed(1337)
        yield request.param


class Linear(keras.layers.Layer):
    """Weights made in ``__init__``, for a known input size."""

    def __init__(self, units: int = 32, input_dim: int = 32) -> None:
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs: Any) -> Any:
        return ops.matmul(inputs, self.w) + self.b


def test_a_layer_holds_its_weights_and_computes() -> None:
    x = ops.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    assert y.shape == (2, 4)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    np.testing.assert_allclose(y.numpy(), np.ones((2, 2)) @ linear_layer.w.numpy(), rtol=1e-6)
    assert 0.01 < float(np.std(linear_layer.w.numpy())) < 0.2  # random_normal: stddev 0.05


class ComputeSum(keras.layers.Layer):
    """A non-trainable weight updated in ``call``."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs: Any) -> Any:
        self.total.assign_add(ops.sum(inputs, axis=0))
        return self.total


def test_non_trainable_weights() -> None:
    x = ops.ones((2, 2))
    my_sum = ComputeSum(2)
    np.testing.assert_array_equal(my_sum(x).numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(my_sum(x).numpy(), [4.0, 4.0])
    assert len(my_sum.weights) == 1
    assert len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []
    assert my_sum.non_trainable_variables == [my_sum.total] and my_sum.trainable_variables == []


class LazyLinear(keras.layers.Layer):
    """Weights made in ``build``, once the input size is known."""

    def __init__(self, units: int = 32) -> None:
        super().__init__()
        self.units = units

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs: Any) -> Any:
        return ops.matmul(inputs, self.w) + self.b


def test_weights_are_made_on_the_first_call() -> None:
    linear_layer = LazyLinear(32)
    assert linear_layer.weights == []
    y = linear_layer(ops.ones((2, 2)))
    assert y.shape == (2, 32)
    assert [w.shape for w in linear_layer.weights] == [(2, 32), (32,)]


class MLPBlock(keras.layers.Layer):
    """Layers nested as attributes: their weights are the outer layer's."""

    def __init__(self) -> None:
        super().__init__()
        self.linear_1 = LazyLinear(32)
        self.linear_2 = LazyLinear(32)
        self.linear_3 = LazyLinear(1)

    def call(self, inputs: Any) -> Any:
        x = keras.activations.relu(self.linear_1(inputs))
        x = keras.activations.relu(self.linear_2(x))
        return self.linear_3(x)


def test_nested_layers_track_their_weights() -> None:
    mlp = MLPBlock()
    y = mlp(ops.ones(shape=(3, 64)))
    assert y.shape == (3, 1)
    assert len(mlp.weights) == 6
    assert len(mlp.trainable_weights) == 6
    assert mlp.variables == mlp.trainable_variables


class ActivityRegularizationLayer(keras.layers.Layer):
    def __init__(self, rate: float = 1e-2) -> None:
        super().__init__()
        self.rate = rate

    def call(self, inputs: Any) -> Any:
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class OuterLayer(keras.layers.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.activity_reg = ActivityRegularizationLayer(1e-2)

    def call(self, inputs: Any) -> Any:
        return self.activity_reg(inputs)


def test_add_loss_keeps_the_last_calls_losses() -> None:
    layer = OuterLayer()
    assert len(layer.losses) == 0  # no losses yet, the layer has never been called
    layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1  # one loss value was created
    layer(ops.ones((1, 1)) * 3.0)
    assert len(layer.losses) == 1  # the losses are reset at the start of each __call__
    assert layer.losses[0].item() == pytest.approx(0.03)


class OuterLayerWithKernelRegularizer(keras.layers.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.dense = keras.layers.Dense(32, kernel_regularizer=keras.regularizers.L2(1e-3))

    def call(self, inputs: Any) -> Any:
        return self.dense(inputs)


def test_weight_regularizers_are_losses_too() -> None:
    layer = OuterLayerWithKernelRegularizer()
    layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1
    kernel = layer.dense.kernel.numpy()
    assert layer.losses[0].item() == pytest.approx(1e-3 * float(np.sum(kernel**2)), rel=1e-5)


def test_added_losses_are_minimised_by_fit_with_or_without_a_compiled_loss() -> None:
    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(layers.Dense(3)(inputs))
    model = keras.Model(inputs, outputs)
    x, y = np.random.random((2, 3)), np.random.random((2, 3))
    model.compile(optimizer="adam", loss="mse")  # the added loss joins the compiled one
    first = model.fit(x, y, verbose=0).history["loss"][0]
    assert first == pytest.approx(model.evaluate(x, y, verbose=0), abs=0.05)
    model.compile(optimizer=keras.optimizers.SGD(1.0))  # the added loss alone is minimised
    history = model.fit(x, y, epochs=3, verbose=0)
    assert history.history["loss"][2] < history.history["loss"][0]


class SerializableLinear(keras.layers.Layer):
    def __init__(self, units: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs: Any) -> Any:
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"units": self.units})
        return config


def test_get_config_rebuilds_the_layer() -> None:
    layer = SerializableLinear(64, name="my_linear")
    config = layer.get_config()
    assert config == {"name": "my_linear", "trainable": True, "units": 64}
    new_layer = SerializableLinear.from_config(config)
    assert (new_layer.units, new_layer.name) == (64, "my_linear")


class CustomDropout(keras.layers.Layer):
    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training:
            return keras.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
        return inputs


def test_the_training_argument() -> None:
    layer = CustomDropout(0.5)
    x = ops.ones((100, 100))
    np.testing.assert_array_equal(layer(x).numpy(), np.ones((100, 100)))
    dropped = layer(x, training=True).numpy()
    assert set(np.unique(dropped)) == {0.0, 2.0}  # kept units scaled by 1 / (1 - rate)
    assert 0.45 < float(np.mean(dropped == 0.0)) < 0.55


class Sampling(layers.Layer):
    """Draws z from (z_mean, z_log_var)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs: Any) -> Any:
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class Encoder(layers.Layer):
    """Maps digits to a triplet (z_mean, z_log_var, z)."""

    def __init__(self, latent_dim: int = 32, intermediate_dim: int = 64, name: str = "encoder", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean = layers.Dense(latent_dim)
        self.dense_log_var = layers.Dense(latent_dim)
        self.sampling = Sampling()

    def call(self, inputs: Any) -> Any:
        x = self.dense_proj(inputs)
        z_mean = self.dense_mean(x)
        z_log_var = self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        return z_mean, z_log_var, z


class Decoder(layers.Layer):
    """Converts z back into a readable digit."""

    def __init__(self, original_dim: int, intermediate_dim: int = 64, name: str = "decoder", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs: Any) -> Any:
        return self.dense_output(self.dense_proj(inputs))


class VariationalAutoEncoder(keras.Model):
    """Encoder and decoder together, with the KL divergence added as a loss."""

    def __init__(
        self,
        original_dim: int,
        intermediate_dim: int = 64,
        latent_dim: int = 32,
        name: str = "autoencoder",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs: Any) -> Any:
        z_mean, z_log_var, z = self.encoder(inputs)
        reconstructed = self.decoder(z)
        kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return reconstructed


def test_the_variational_autoencoder_trains_end_to_end() -> None:
    # the guide trains on MNIST; the 8x8 digits keep the test small
    x_train = load_digits().data.astype("float32") / 16.0
    original_dim = x_train.shape[1]
    vae = VariationalAutoEncoder(original_dim, 64, 32)
    vae.compile(keras.optimizers.Adam(learning_rate=1e-3), loss=keras.losses.MeanSquaredError())
    history = vae.fit(x_train, x_train, epochs=4, batch_size=64, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert 0.0 < losses[-1] < 0.1  # MSE plus a small KL term: the guide's MNIST run ends near 0.07
    assert len(vae.losses) == 1  # the KL term of the last call
