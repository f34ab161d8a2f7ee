"""The training toolkit layers against NumPy formulas, finite differences, fit, and their configs.

Dropout, GaussianNoise, BatchNormalization, LayerNormalization, Flatten,
Reshape, ReLU, LeakyReLU, Softmax, ELU and PReLU.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import numeric_gradient
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import highnn as hn
from highnn import layers
from highnn.tracing import TracedFunction

RNG = np.random.default_rng(0)


def batch_statistics(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and biased variance over ``axes`` (kept with length 1), computed independently of highnn."""
    return x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)


def normalized(
    x: np.ndarray, mean: np.ndarray, variance: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float
) -> np.ndarray:
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta


# ================================================================== Dropout
def test_dropout_drops_about_rate_and_scales_kept_units_exactly(backend64: str) -> None:
    x = RNG.uniform(1.0, 2.0, size=(400, 50))
    layer = layers.Dropout(0.3, seed=11)
    out = layer(x, training=True).numpy()
    kept = out != 0.0
    assert abs(1.0 - kept.mean() - 0.3) < 0.015
    np.testing.assert_allclose(out[kept], x[kept] / 0.7, rtol=1e-15)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    np.testing.assert_array_equal(layer(x).numpy(), x)


def test_dropout_with_rate_zero_is_the_identity_while_training() -> None:
    x = RNG.normal(size=(4, 5))
    np.testing.assert_array_equal(layers.Dropout(0.0)(x, training=True).numpy(), x.astype(hn.config.floatx()))


def test_dropout_gradient_is_the_scaled_mask(float64: None) -> None:
    x = hn.tensor(RNG.uniform(1.0, 2.0, size=(6, 7)), requires_grad=True)
    out = layers.Dropout(0.4, seed=2)(x, training=True)
    (gradient,) = hn.grad(hn.ops.sum(out), [x])
    np.testing.assert_allclose(gradient.numpy(), (out.numpy() != 0) / 0.6, rtol=1e-15)


@pytest.mark.parametrize(
    ("noise_shape", "shared_axes"), [((None, 1, None), (1,)), ((1, None, 1), (0, 2)), ((None, None, None), ())]
)
def test_dropout_noise_shape_shares_the_mask_along_its_unit_axes(
    float64: None, noise_shape: tuple[int | None, ...], shared_axes: tuple[int, ...]
) -> None:
    x = RNG.uniform(1.0, 2.0, size=(30, 4, 6))
    kept = layers.Dropout(0.5, noise_shape=noise_shape, seed=4)(x, training=True).numpy() != 0
    for axis in shared_axes:
        assert (kept == kept.take([0], axis=axis)).all()
    assert 0.2 < kept.mean() < 0.8


def test_dropout_same_seed_same_masks_and_each_call_a_new_mask(float64: None) -> None:
    x = np.ones((20, 30))
    first, second, other = layers.Dropout(0.5, seed=7), layers.Dropout(0.5, seed=7), layers.Dropout(0.5, seed=8)
    masks = [first(x, training=True).numpy() for _ in range(3)]
    np.testing.assert_array_equal(np.stack(masks), np.stack([second(x, training=True).numpy() for _ in range(3)]))
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    assert not np.array_equal(masks[0], other(x, training=True).numpy())
    hn.utils.set_random_seed(3)
    unseeded = layers.Dropout(0.5)(x, training=True).numpy()
    hn.utils.set_random_seed(3)
    np.testing.assert_array_equal(layers.Dropout(0.5)(x, training=True).numpy(), unseeded)


def test_dropout_draws_a_new_mask_at_every_replay_of_a_traced_step(backend64: str) -> None:
    x = np.ones((10, 12))
    traced_layer, eager_layer = layers.Dropout(0.5, seed=21), layers.Dropout(0.5, seed=21)
    step = TracedFunction(lambda inputs: [traced_layer(inputs, training=True)])
    array = hn.tensor(x).value
    traced = [hn.tensor(step(array)[0]).numpy() for _ in range(4)]  # one trace, three replays
    eager = [eager_layer(x, training=True).numpy() for _ in range(4)]
    np.testing.assert_array_equal(np.stack(traced), np.stack(eager))
    assert len({m.tobytes() for m in traced}) == 4


def test_dropout_masks_change_across_steps_of_a_compiled_fit(float64: None) -> None:
    x = RNG.uniform(1.0, 2.0, size=(8, 20))
    y = np.zeros((8, 1))
    model = hn.Sequential(
        [hn.Input((20,)), layers.Dropout(0.5, seed=3), layers.Dense(1, use_bias=False, kernel_initializer="ones")]
    )
    model.compile(optimizer=hn.optimizers.SGD(0.0), loss="mse")
    losses = model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0).history["loss"]
    replay = layers.Dropout(0.5, seed=3)
    expected = [np.mean(replay(x, training=True).numpy().sum(axis=1) ** 2) for _ in range(4)]
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    assert len(set(losses)) == 4
    assert model.layers[0].seed_state.numpy() == 3 + 4


# ============================================================ GaussianNoise
def test_gaussian_noise_adds_noise_of_stddev_only_while_training(backend64: str) -> None:
    x = np.full((400, 50), 2.0)
    layer = layers.GaussianNoise(0.5, seed=5)
    noise = layer(x, training=True).numpy() - x
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 0.5) < 0.015
    assert not np.array_equal(layer(x, training=True).numpy() - x, noise)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    np.testing.assert_array_equal(layers.GaussianNoise(0.0)(x, training=True).numpy(), x)


# ======================================================= BatchNormalization
def test_batch_normalization_training_uses_batch_statistics_and_updates_moving_ones(backend64: str) -> None:
    layer = layers.BatchNormalization(momentum=0.8, epsilon=1e-3)
    batches = [RNG.normal(loc=[1.0, -2.0, 5.0], scale=[0.5, 2.0, 3.0], size=(16, 3)) for _ in range(3)]
    layer(batches[0])  # builds it (inference: statistics untouched)
    gamma, beta = RNG.normal(size=3), RNG.normal(size=3)
    layer.set_weights([gamma, beta, np.zeros(3), np.ones(3)])
    moving_mean, moving_variance = np.zeros(3), np.ones(3)
    for x in batches:
        mean, variance = batch_statistics(x, (0,))
        np.testing.assert_allclose(
            layer(x, training=True).numpy(), normalized(x, mean, variance, gamma, beta, 1e-3), rtol=1e-12, atol=1e-12
        )
        moving_mean = moving_mean * 0.8 + mean[0] * 0.2
        moving_variance = moving_variance * 0.8 + variance[0] * 0.2
        np.testing.assert_allclose(layer.moving_mean.numpy(), moving_mean, rtol=1e-12)
        np.testing.assert_allclose(layer.moving_variance.numpy(), moving_variance, rtol=1e-12)
    x = RNG.normal(size=(5, 3))
    expected = normalized(x, moving_mean, moving_variance, gamma, beta, 1e-3)
    np.testing.assert_allclose(layer(x, training=False).numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.moving_mean.numpy(), moving_mean, rtol=1e-12)  # inference leaves them


def test_batch_normalization_on_a_middle_axis(float64: None) -> None:
    x = RNG.normal(size=(4, 3, 5)) * np.array([1.0, 2.0, 3.0])[:, None]
    layer = layers.BatchNormalization(axis=1, momentum=0.5, center=False)
    out = layer(x, training=True).numpy()
    mean, variance = batch_statistics(x, (0, 2))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(variance + 1e-3), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.5 + 0.5 * variance.ravel(), rtol=1e-12)
    assert [w.name for w in layer.weights] == ["gamma", "moving_mean", "moving_variance"]


def test_frozen_batch_normalization_runs_in_inference_mode_as_in_keras(float64: None) -> None:
    layer = layers.BatchNormalization(trainable=False, moving_mean_initializer=hn.initializers.Constant(2.0))
    x = RNG.normal(size=(6, 2))
    np.testing.assert_allclose(layer(x, training=True).numpy(), (x - 2.0) / np.sqrt(1.0 + 1e-3), rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), [2.0, 2.0])
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


def check_gradients(layer: layers.Layer, x: np.ndarray, training: bool) -> None:
    """highnn's gradients of sum(layer(x) * w) w.r.t. x and each weight equal central finite differences."""
    weights = RNG.normal(size=x.shape)

    def objective(values: np.ndarray) -> float:
        return float((layer(values, training=training).numpy() * weights).sum())

    inputs = hn.tensor(x, requires_grad=True)
    trainable = layer.trainable_weights
    analytic = hn.grad(hn.ops.sum(layer(inputs, training=training) * weights), [inputs] + trainable)
    np.testing.assert_allclose(analytic[0].numpy(), numeric_gradient(objective, x), rtol=1e-6, atol=1e-8)
    for variable, gradient in zip(trainable, analytic[1:]):
        saved = variable.numpy()

        def of_weight(values: np.ndarray, variable: hn.Variable = variable) -> float:
            variable.assign(values)
            return objective(x)

        numeric = numeric_gradient(of_weight, saved)
        variable.assign(saved)
        np.testing.assert_allclose(gradient.numpy(), numeric, rtol=1e-6, atol=1e-8, err_msg=variable.path)


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_gradients_match_finite_differences(float64: None, training: bool) -> None:
    layer = layers.BatchNormalization(axis=1, gamma_initializer="random_normal", beta_initializer="random_normal")
    check_gradients(layer, RNG.normal(size=(5, 3, 2)), training)


# ======================================================= LayerNormalization
@pytest.mark.parametrize(("axis", "axes"), [(-1, (2,)), ([1, 2], (1, 2)), (1, (1,))])
def test_layer_normalization_matches_the_formula(backend64: str, axis: int | list[int], axes: tuple[int, ...]) -> None:
    x = RNG.normal(loc=3.0, scale=2.0, size=(4, 3, 5))
    layer = layers.LayerNormalization(axis=axis, epsilon=1e-5)
    layer(x)
    gamma, beta = RNG.normal(size=layer.gamma.shape), RNG.normal(size=layer.beta.shape)
    layer.set_weights([gamma, beta])
    broadcast = [x.shape[i] if i in axes else 1 for i in range(3)]
    mean, variance = batch_statistics(x, axes)
    expected = normalized(x, mean, variance, gamma.reshape(broadcast), beta.reshape(broadcast), 1e-5)
    for training in (True, False):
        np.testing.assert_allclose(layer(x, training=training).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_layer_normalization_gradients_match_finite_differences(float64: None) -> None:
    layer = layers.LayerNormalization(axis=[1, 2], gamma_initializer="random_normal", beta_initializer="random_normal")
    check_gradients(layer, RNG.normal(size=(3, 2, 4)), training=True)


# ================================================================ reshaping
def test_flatten_and_reshape_match_numpy(float64: None) -> None:
    x = RNG.normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(layers.Flatten()(x).numpy(), x.reshape(2, 60))
    np.testing.assert_array_equal(
        layers.Flatten(data_format="channels_first")(x).numpy(), np.moveaxis(x, 1, -1).reshape(2, 60)
    )
    np.testing.assert_array_equal(layers.Flatten()(x[:, 0, 0, 0]).numpy(), x[:, 0, 0, 0].reshape(2, 1))
    np.testing.assert_array_equal(layers.Reshape((5, -1))(x).numpy(), x.reshape(2, 5, 12))
    np.testing.assert_array_equal(layers.Reshape([60])(x).numpy(), x.reshape(2, 60))
    assert layers.Reshape((-1, 3)).compute_output_shape((None, 4, 6)) == (None, 8, 3)
    assert layers.Reshape((-1, 3)).compute_output_shape((None, None, 6)) == (None, None, 3)
    assert layers.Flatten().compute_output_shape((None, None, 6)) == (None, None)


# ======================================================= activation layers
ACTIVATION_CASES: list[tuple[Callable[[], layers.Layer], Callable[[np.ndarray], np.ndarray]]] = [
    (layers.ReLU, lambda x: np.maximum(x, 0.0)),
    (lambda: layers.ReLU(max_value=1.0), lambda x: np.clip(x, 0.0, 1.0)),
    (lambda: layers.ReLU(negative_slope=0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (lambda: layers.ReLU(threshold=0.5), lambda x: np.where(x > 0.5, x, 0.0)),
    (lambda: layers.ReLU(max_value=1.5, negative_slope=0.2, threshold=0.5),
     lambda x: np.where(x >= 1.5, 1.5, np.where(x > 0.5, x, 0.2 * (x - 0.5)))),
    (layers.LeakyReLU, lambda x: np.where(x > 0, x, 0.3 * x)),
    (lambda: layers.ELU(alpha=0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1.0))),
    (layers.Softmax, lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)),
    (lambda: layers.Softmax(axis=1), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
    (lambda: layers.Softmax(axis=[1, 2]), lambda x: np.exp(x) / np.exp(x).sum(axis=(1, 2), keepdims=True)),
    (lambda: layers.PReLU(alpha_initializer=hn.initializers.Constant(0.25)), lambda x: np.where(x > 0, x, 0.25 * x)),
    (layers.PReLU, lambda x: np.maximum(x, 0.0)),
]  # fmt: skip


@pytest.mark.parametrize(("make_layer", "formula"), ACTIVATION_CASES)
def test_activation_layers_match_numpy(
    backend64: str, make_layer: Callable[[], layers.Layer], formula: Callable[[np.ndarray], np.ndarray]
) -> None:
    x = RNG.normal(scale=2.0, size=(3, 4, 5))
    x[0, 0, :3] = [0.5, 1.5, 0.0]  # the kinks
    np.testing.assert_allclose(make_layer()(x).numpy(), formula(x), rtol=1e-12, atol=1e-15)


def test_prelu_learns_one_slope_per_unshared_position_and_its_gradient_is_right(float64: None) -> None:
    layer = layers.PReLU(alpha_initializer="random_uniform", shared_axes=[1])
    x = RNG.normal(size=(4, 3, 5))
    out = layer(x).numpy()
    assert layer.alpha.shape == (1, 5) and layer.trainable_weights == [layer.alpha]
    np.testing.assert_allclose(out, np.where(x > 0, x, layer.alpha.numpy() * x), rtol=1e-15)
    check_gradients(layer, x, training=True)


# ============================================================ fit and models
def bn_model(with_dropout: bool = True) -> hn.Sequential:
    """Dense -> BatchNormalization -> ReLU (-> Dropout) -> softmax, from a fixed seed."""
    hn.utils.set_random_seed(0)
    dropout = [layers.Dropout(0.2, seed=5)] if with_dropout else []
    return hn.Sequential([
        hn.Input((64,)), layers.Dense(32), layers.BatchNormalization(momentum=0.9), layers.ReLU(),
        *dropout, layers.Dense(10, activation="softmax"),
    ])  # fmt: skip


def test_dropout_and_batch_normalization_model_learns_digits() -> None:
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=0
    )
    model = bn_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, accuracy_before = model.evaluate(x_test, y_test, verbose=0)
    history = model.fit(x_train, y_train, batch_size=32, epochs=8, verbose=0)
    _, accuracy_after = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy_before < 0.3 and accuracy_after >= 0.93
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    batch_norm = model.layers[1]
    assert model.non_trainable_weights == [batch_norm.moving_mean, batch_norm.moving_variance]
    assert [w.path for w in model.trainable_weights] == [f"{layer.name}/{w}" for layer, w in (
        (model.layers[0], "kernel"), (model.layers[0], "bias"), (batch_norm, "gamma"), (batch_norm, "beta"),
        (model.layers[4], "kernel"), (model.layers[4], "bias"))]  # fmt: skip
    assert all(w is not model.layers[3].seed_state for w in model.weights)
    np.testing.assert_allclose(
        batch_norm.moving_mean.numpy(),
        (x_train @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()).mean(axis=0),
        atol=0.3,
    )


def test_compiled_and_eager_training_give_identical_weights(backend64: str) -> None:
    x = RNG.normal(size=(16, 64))
    y = RNG.integers(0, 10, size=16)

    def trained(run_eagerly: bool) -> list[np.ndarray]:
        model = bn_model()
        model.compile(
            optimizer=hn.optimizers.SGD(0.1, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            run_eagerly=run_eagerly,
        )
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # compiled: one trace, then three replays
        return model.get_weights()

    compiled, eager = trained(False), trained(True)
    assert len(compiled) == 8
    for a, b in zip(compiled, eager):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


# ================================================================= configs
CONFIG_CASES: list[tuple[Callable[[], layers.Layer], tuple[int, ...]]] = [
    (lambda: layers.Dropout(0.25, noise_shape=(None, 1, 4), seed=3), (2, 3, 4)),
    (lambda: layers.GaussianNoise(0.2, seed=1), (2, 3)),
    (lambda: layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                                       gamma_initializer=hn.initializers.RandomNormal(seed=1),
                                       moving_variance_initializer=hn.initializers.Constant(2.0),
                                       gamma_regularizer=hn.regularizers.L2(0.01)), (2, 3, 4)),
    (lambda: layers.LayerNormalization(axis=[1, 2], scale=False, beta_regularizer="l1"), (2, 3, 4)),
    (lambda: layers.Flatten(data_format="channels_first"), (2, 3, 4)),
    (lambda: layers.Reshape((2, -1)), (2, 3, 4)),
    (lambda: layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5), (2, 5)),
    (lambda: layers.LeakyReLU(0.2), (2, 5)),
    (lambda: layers.Softmax(axis=[1, 2]), (2, 3, 4)),
    (lambda: layers.ELU(0.5), (2, 5)),
    (lambda: layers.PReLU(alpha_initializer=hn.initializers.Constant(0.25), alpha_regularizer="l2", shared_axes=[1]),
     (2, 3, 4)),
]  # fmt: skip


@pytest.mark.parametrize(("make_layer", "shape"), CONFIG_CASES)
def test_config_round_trips_through_json_and_shapes_are_predicted(
    float64: None, make_layer: Callable[[], layers.Layer], shape: tuple[int, ...]
) -> None:
    layer = make_layer()
    x = RNG.normal(size=shape)
    out = layer(x, training=True)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]
    config = layer.get_config()
    assert layers.LAYERS.classes[type(layer).__name__] is type(layer)
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    assert layer.losses == [] or [float(p.numpy()) for p in clone.losses] == [float(p.numpy()) for p in layer.losses]


def test_sequential_model_with_the_new_layers_is_rebuilt_from_its_config(float64: None) -> None:
    model = hn.Sequential([
        hn.Input((4, 3)), layers.LayerNormalization(), layers.Flatten(), layers.GaussianNoise(0.1), layers.Dense(6),
        layers.BatchNormalization(), layers.PReLU(), layers.Dropout(0.5), layers.Reshape((2, 3)), layers.Softmax(),
    ])  # fmt: skip
    clone = hn.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    x = RNG.normal(size=(5, 4, 3))
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-14)
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]


# =================================================================== errors
ERROR_CASES: list[tuple[Callable[[], object], type[Exception], tuple[str, ...]]] = [
    (lambda: layers.Dropout(1.0), ValueError, ("`rate`", "[0, 1)", "1.0")),
    (lambda: layers.Dropout(-0.1), ValueError, ("`rate`", "-0.1")),
    (lambda: layers.Dropout("0.5"), TypeError, ("`rate`", "'0.5'", "str")),
    (lambda: layers.Dropout(0.5, seed=1.5), TypeError, ("`seed`", "1.5")),
    (lambda: layers.Dropout(0.5, noise_shape=(None, 0)), ValueError, ("`noise_shape`", "(None, 0)")),
    (lambda: layers.Dropout(0.5, noise_shape=(None, 2))(np.ones((2, 3)), training=True), ValueError,
     ("`noise_shape`", "(2, 3)")),
    (lambda: layers.Dropout(0.5, noise_shape=(None,))(np.ones((2, 3)), training=True), ValueError,
     ("`noise_shape`", "one entry per")),
    (lambda: layers.GaussianNoise(1.5), ValueError, ("`stddev`", "1.5")),
    (lambda: layers.GaussianNoise(None), TypeError, ("`stddev`", "None")),
    (lambda: layers.BatchNormalization(axis=[1, 2]), TypeError, ("`axis`", "[1, 2]")),
    (lambda: layers.BatchNormalization(momentum=1.5), ValueError, ("`momentum`", "1.5")),
    (lambda: layers.BatchNormalization(epsilon=-1.0), ValueError, ("`epsilon`", "-1.0")),
    (lambda: layers.BatchNormalization(axis=2)(np.ones((2, 3))), ValueError, ("`axis` 2", "(2, 3)")),
    (lambda: layers.BatchNormalization().build((None, None)), ValueError, ("axis 1", "defined size")),
    (lambda: layers.LayerNormalization(axis=[1, 1]), TypeError, ("`axis`", "[1, 1]")),
    (lambda: layers.LayerNormalization(axis=[1, -1])(np.ones((2, 3))), ValueError, ("`axis`", "twice")),
    (lambda: layers.Flatten(data_format="nchw"), ValueError, ("`data_format`", "'nchw'")),
    (lambda: layers.Reshape((2, -1, -1)), ValueError, ("`target_shape`", "at most one -1")),
    (lambda: layers.Reshape((0, 2)), ValueError, ("`target_shape`", "(0, 2)")),
    (lambda: layers.Reshape(6), ValueError, ("`target_shape`", "6")),
    (lambda: layers.Reshape((4, -1))(np.ones((2, 6))), ValueError, ("`target_shape`", "(4, -1)", "6 values")),
    (lambda: layers.Reshape((4,)).compute_output_shape((None, 2, 3)), ValueError, ("`target_shape`", "(2, 3)")),
    (lambda: layers.ReLU(max_value=-1.0), ValueError, ("`max_value`", "-1.0")),
    (lambda: layers.ReLU(negative_slope=-0.1), ValueError, ("`negative_slope`", "-0.1")),
    (lambda: layers.ReLU(threshold=None), TypeError, ("`threshold`", "None")),
    (lambda: layers.LeakyReLU(-1), ValueError, ("`negative_slope`", "-1")),
    (lambda: layers.ELU("one"), TypeError, ("`alpha`", "'one'")),
    (lambda: layers.Softmax(axis=2.0), TypeError, ("`axis`", "2.0")),
    (lambda: layers.Softmax(axis=3)(np.ones((2, 3))), ValueError, ("`axis` 3", "(2, 3)")),
    (lambda: layers.PReLU(shared_axes=[0]), ValueError, ("`shared_axes`", "[0]")),
    (lambda: layers.PReLU(shared_axes=[3])(np.ones((2, 3))), ValueError, ("`shared_axes`", "(2, 3)")),
]  # fmt: skip


@pytest.mark.parametrize(("action", "error", "fragments"), ERROR_CASES)
def test_bad_arguments_raise_clear_errors(
    action: Callable[[], object], error: type[Exception], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(error) as caught:
        action()
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("make_layer", "built_for", "received", "fragment"),
    [
        (layers.BatchNormalization, (4, 3), (4, 5), "expected axis 1 of input shape to have value 3"),
        (layers.BatchNormalization, (4, 3), (4, 2, 3), "expected ndim=2, found ndim=3"),
        (layers.LayerNormalization, (4, 3), (4, 2), "expected axis 1 of input shape to have value 3"),
        (layers.PReLU, (4, 3, 2), (4, 3, 5), "expected axis 2 of input shape to have value 2"),
    ],
)
def test_inputs_that_do_not_fit_the_built_layer_are_rejected(
    make_layer: Callable[[], layers.Layer], built_for: tuple[int, ...], received: tuple[int, ...], fragment: str
) -> None:
    layer = make_layer()
    layer(np.ones(built_for))
    with pytest.raises(ValueError, match="incompatible with the layer") as caught:
        layer(np.ones(received))
    assert (
        fragment in str(caught.value) and str(received) in str(caught.value) and repr(layer.name) in str(caught.value)
    )


def test_freezing_a_built_layer_takes_its_weights_out_of_training() -> None:
    """Keras's transfer-learning pattern: ``layer.trainable = False`` after building, then compile and fit."""
    hn.utils.set_random_seed(0)
    base = layers.Dense(4, name="base")
    model = hn.Sequential([hn.Input((3,)), base, layers.Dense(1, name="head")])
    frozen = base.get_weights()
    base.trainable = False
    assert [w.path for w in model.trainable_weights] == ["head/kernel", "head/bias"]
    assert [w.path for w in model.non_trainable_weights] == ["base/kernel", "base/bias"]
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 3))
    head_before = model.layers[1].get_weights()
    model.fit(x, x[:, :1], epochs=2, verbose=0)
    for before, after in zip(frozen, base.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert not np.allclose(head_before[0], model.layers[1].get_weights()[0])
    base.trainable = True
    assert [w.path for w in model.trainable_weights] == ["base/kernel", "base/bias", "head/kernel", "head/bias"]


class _Weights(hn.layers.Layer):
    """A layer whose weights are made by ``make(self)`` when built."""

    def __init__(self, make: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.make = make

    def build(self, input_shape: Any) -> None:
        self.made = self.make(self)

    def call(self, inputs: hn.Tensor) -> hn.Tensor:
        return inputs


def test_add_weight_takes_keras_positional_order_and_defaults() -> None:
    hn.utils.set_random_seed(0)
    layer = _Weights(lambda self: [self.add_weight((2, 3), "ones", "float64", False), self.add_weight((4,), None,
                                   "int32"), self.add_weight((3, 3)), self.add_weight()])  # fmt: skip
    layer(np.zeros((1, 2)))
    ones, integers, drawn, scalar = layer.made
    assert ones.dtype == "float64" and not ones.trainable and np.all(ones.numpy() == 1)
    assert integers.dtype == "int32" and np.all(integers.numpy() == 0)  # zeros for a non-float dtype
    assert drawn.dtype == hn.config.floatx() and np.abs(drawn.numpy()).max() <= np.sqrt(6 / 6)  # glorot_uniform
    assert len(set(drawn.numpy().ravel())) == 9 and scalar.shape == ()
    names = [w.name for w in layer.weights]
    assert len(set(names)) == 4 and all(name.startswith("variable") for name in names)  # numbered as in Keras
    assert layer.trainable_variables == [integers, drawn, scalar] == layer.trainable_weights
    assert layer.non_trainable_variables == [ones] and layer.variables[:4] == layer.weights


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"shape": (2,), "dtype": "kernel"}, r"`dtype` must be one of .* \(pass the weight's name as `name=`\)"),
        ({"shape": (2, -1)}, "`shape` must be a tuple of non-negative integers"),
        ({"shape": (2,), "aggregation": "median"}, "`aggregation` must be"),
        ({"shape": (2,), "overwrite_with_gradient": True}, "float8 training is not supported"),
        ({"shape": (2,), "trainable": "yes"}, "`trainable` must be"),
    ],
)
def test_add_weight_refuses_bad_arguments_before_making_anything(arguments: dict[str, Any], message: str) -> None:
    layer = _Weights(lambda self: self.add_weight(**arguments))
    with pytest.raises((TypeError, ValueError), match=message):
        layer(np.zeros((1, 2)))
    assert layer.weights == []
