"""Keras 3's step contract, ported from the guide "Customizing what happens in fit()", on every backend.

Each example is the guide's, with highnn's one way to get gradients (``hn.grad``) in place of the
backend's own tape: the same step runs, traced, on NumPy, PyTorch and JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn import ops


def regression_data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 32)), rng.random((n, 1))


def regression_model(cls: type[hn.Model], seed: int = 1) -> hn.Model:
    """The guide's ``CustomModel(inputs, outputs)``: a functional model of a subclass, Dense(32 -> 1)."""
    hn.utils.set_random_seed(seed)
    inputs = hn.Input(shape=(32,))
    return cls(inputs, hn.layers.Dense(1)(inputs))


class CustomModel(hn.Model):
    """The guide's first example: compiled loss and metrics, a hand-written step."""

    steps_run = 0

    def train_step(self, data: Any) -> dict[str, Any]:
        CustomModel.steps_run += 1
        x, y = data
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = hn.grad(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def fit_both(
    custom: type[hn.Model],
    epochs: int = 2,
    run_eagerly: bool = False,
    metrics: dict[str, list[str]] | None = None,
    **fit_args: Any,
) -> tuple[hn.Model, Any, hn.Model, Any]:
    """The custom model and the built-in one, from the same seed, fitted on the same data (``metrics``: compile's
    metric arguments, ``mae`` unweighted by default)."""
    x, y = regression_data()
    fitted = []
    for cls in (custom, hn.Model):
        model = regression_model(cls)
        model.compile(
            optimizer=hn.optimizers.Adam(0.01), loss="mse", run_eagerly=run_eagerly, **(metrics or {"metrics": ["mae"]})
        )
        fitted += [model, model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, **fit_args)]
    return fitted[0], fitted[1], fitted[2], fitted[3]


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_custom_train_step_equals_the_built_in_one(backend64: str, run_eagerly: bool) -> None:
    CustomModel.steps_run = 0
    custom, custom_history, built_in, built_in_history = fit_both(CustomModel, run_eagerly=run_eagerly)
    assert custom_history.history.keys() == built_in_history.history.keys() == {"loss", "mae"}
    for name in ("loss", "mae"):
        np.testing.assert_allclose(custom_history.history[name], built_in_history.history[name], rtol=1e-10)
    for mine, theirs in zip(custom.get_weights(), built_in.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    # 2 epochs of 4 batches: traced once (the step runs as one program), or run 8 times eagerly
    assert CustomModel.steps_run == (8 if run_eagerly else 1)


def test_custom_step_runs_traced_and_eagerly_alike(backend64: str) -> None:
    traced, traced_history, _, _ = fit_both(CustomModel)
    eager, eager_history, _, _ = fit_both(CustomModel, run_eagerly=True)
    np.testing.assert_allclose(traced_history.history["loss"], eager_history.history["loss"], rtol=1e-12)
    for a, b in zip(traced.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


class TrackerModel(hn.Model):
    """The guide's second example: its own loss and metric trackers, no compiled loss."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_tracker = hn.metrics.Mean(name="loss")
        self.mae_metric = hn.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = hn.losses.MeanSquaredError()

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        y_pred = self(x, training=True)
        loss = self.loss_fn(y, y_pred)
        self.optimizer.apply_gradients(zip(hn.grad(loss, self.trainable_variables), self.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self) -> list[hn.metrics.Metric]:
        return [self.loss_tracker, self.mae_metric]


def test_metrics_held_as_attributes_report_and_reset_each_epoch(backend64: str) -> None:
    x, y = regression_data()
    model = regression_model(TrackerModel)
    model.compile(optimizer=hn.optimizers.SGD(0.0))  # a still model: every epoch sees the same predictions
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    kernel, bias = model.get_weights()
    errors = x @ kernel + bias - y
    batch_mse = [np.mean(errors[i : i + 16] ** 2) for i in range(0, 64, 16)]
    np.testing.assert_allclose(history.history["loss"], [np.mean(batch_mse)] * 3, rtol=1e-10)
    np.testing.assert_allclose(history.history["mae"], [np.mean(np.abs(errors))] * 3, rtol=1e-10)
    assert float(model.loss_tracker.count.numpy()) == 4  # one epoch's batches: reset at each epoch


def test_metrics_not_listed_by_an_override_are_tracked_as_attributes() -> None:
    model = regression_model(CustomModel)
    assert model.metrics == []  # nothing before compile
    model.mse_tracker = hn.metrics.Mean(name="mse")
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = regression_data()
    model.fit(x, y, epochs=1, verbose=0)
    assert [m.name for m in model.metrics] == ["loss", "mae", "mse"]


class WeightedModel(hn.Model):
    """The guide's sample-weight example: ``data`` is ``(x, y, sample_weight)`` when weights are given."""

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = hn.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        self.optimizer.apply(hn.grad(loss, self.trainable_weights), self.trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}


def test_sample_weights_reach_a_custom_step(backend64: str) -> None:
    weights = np.random.default_rng(2).random(64)
    # the step weighs its metrics by sample_weight: Keras's weighted_metrics (compile's metrics are unweighted)
    weighted = {"weighted_metrics": ["mae"]}
    custom, custom_history, built_in, built_in_history = fit_both(
        WeightedModel, metrics=weighted, sample_weight=weights
    )
    for name in ("loss", "mae"):
        np.testing.assert_allclose(custom_history.history[name], built_in_history.history[name], rtol=1e-10)
    for mine, theirs in zip(custom.get_weights(), built_in.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    unweighted, _, _, _ = fit_both(WeightedModel, metrics=weighted)
    assert not np.allclose(unweighted.get_weights()[0], custom.get_weights()[0])


class EvaluatingModel(hn.Model):
    """The guide's custom ``test_step``."""

    def test_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name != "loss":
                metric.update_state(y, y_pred)
            else:
                metric.update_state(loss)
        return {m.name: m.result() for m in self.metrics}


def test_custom_test_step_evaluates_like_the_built_in_one(backend64: str) -> None:
    x, y = regression_data()
    results = []
    for cls in (EvaluatingModel, hn.Model):
        model = regression_model(cls)
        model.compile(loss="mse", metrics=["mae"])
        results.append(
            (model.evaluate(x, y, batch_size=16, verbose=0), model.evaluate(x, y, verbose=0, return_dict=True))
        )
    (custom_list, custom_dict), (built_in_list, built_in_dict) = results
    np.testing.assert_allclose(custom_list, built_in_list, rtol=1e-10)
    assert custom_dict.keys() == built_in_dict.keys() == {"loss", "mae"}
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(custom_dict["mae"], np.mean(np.abs(x @ kernel + bias - y)), rtol=1e-10)


class ClippedModel(hn.Model):
    """A step that clips the gradients to a global norm before a plain SGD update."""

    clip = 0.1

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        variables = self.trainable_variables
        grads = hn.grad(loss, variables)
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
        scale = ops.minimum(1.0, self.clip / norm)
        self.optimizer.apply([g * scale for g in grads], variables)
        self._loss_tracker.update_state(loss)
        return {"loss": self._loss_tracker.result(), "norm": norm}


def test_a_step_with_gradient_clipping_equals_a_hand_computation(backend64: str) -> None:
    x, y = regression_data(32)
    model = regression_model(ClippedModel)
    model.compile(optimizer=hn.optimizers.SGD(0.5), loss="mse")
    kernel, bias = model.get_weights()
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for start in (0, 16):
        xb, yb = x[start : start + 16], y[start : start + 16]
        error = xb @ kernel + bias - yb
        grads = [2 * xb.T @ error / 16, 2 * error.sum(0) / 16]
        norm = np.sqrt(sum((g**2).sum() for g in grads))
        kernel, bias = (w - 0.5 * g * min(1.0, 0.1 / norm) for w, g in zip((kernel, bias), grads))
    np.testing.assert_allclose(model.get_weights()[0], kernel, rtol=1e-10)
    np.testing.assert_allclose(model.get_weights()[1], bias, rtol=1e-10)
    assert history.history["norm"] == [pytest.approx(norm, rel=1e-10)]  # logs are whatever the step returns


class GAN(hn.Model):
    """The guide's GAN: two sub-models, two optimizers, one step that trains both in turn."""

    def __init__(self, discriminator: hn.Model, generator: hn.Model, latent_dim: int) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_loss_tracker = hn.metrics.Mean(name="d_loss")
        self.g_loss_tracker = hn.metrics.Mean(name="g_loss")
        self.seed_generator = hn.random.SeedGenerator(1337)

    @property
    def metrics(self) -> list[hn.metrics.Metric]:
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer: Any, g_optimizer: Any, loss_fn: Any) -> None:  # type: ignore[override]
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images: Any) -> dict[str, Any]:
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = ops.shape(real_images)[0]
        latent = hn.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        combined = ops.concatenate([self.generator(latent), real_images], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        labels = labels + 0.05 * hn.random.uniform(ops.shape(labels), seed=self.seed_generator)
        d_loss = self.loss_fn(labels, self.discriminator(combined))
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(hn.grad(d_loss, d_weights), d_weights))

        latent = hn.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = ops.zeros((batch_size, 1))
        g_loss = self.loss_fn(misleading_labels, self.discriminator(self.generator(latent)))
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(hn.grad(g_loss, g_weights), g_weights))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def train_gan(run_eagerly: bool, steps: int = 3) -> tuple[GAN, Any]:
    hn.utils.set_random_seed(3)
    latent_dim = 4
    discriminator = hn.Sequential([hn.Input(shape=(16,)), hn.layers.Dense(8, activation="relu"), hn.layers.Dense(1)])
    generator = hn.Sequential([hn.Input(shape=(latent_dim,)), hn.layers.Dense(16, activation="sigmoid")])
    gan = GAN(discriminator, generator, latent_dim)
    gan.compile(
        d_optimizer=hn.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=hn.optimizers.Adam(learning_rate=0.0003),
        loss_fn=hn.losses.BinaryCrossentropy(from_logits=True),
    )
    gan.run_eagerly = run_eagerly
    real = np.random.default_rng(4).random((8 * steps, 16))
    return gan, gan.fit(real, batch_size=8, epochs=1, shuffle=False, verbose=0)


def test_gan_with_two_optimizers_trains_traced_as_eagerly(backend64: str) -> None:
    gan, history = train_gan(run_eagerly=False)
    eager, eager_history = train_gan(run_eagerly=True)
    assert history.history.keys() == {"d_loss", "g_loss"}
    for name in ("d_loss", "g_loss"):
        np.testing.assert_allclose(history.history[name], eager_history.history[name], rtol=1e-10)
        assert np.isfinite(history.history[name][0])
    for a, b in zip(gan.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert int(gan.d_optimizer.iterations.numpy()) == int(gan.g_optimizer.iterations.numpy()) == 3
    # each optimizer moved only its own model's weights
    assert {id(v) for v in gan.d_optimizer._trainable_variables} == {id(v) for v in gan.discriminator.weights}
    assert {id(v) for v in gan.g_optimizer._trainable_variables} == {id(v) for v in gan.generator.weights}


class DoublingModel(hn.Model):
    def predict_step(self, data: Any) -> Any:
        x, _, _ = hn.utils.unpack_x_y_sample_weight(data)
        return self(x, training=False) * 2.0


def test_custom_predict_step(backend64: str) -> None:
    x, _ = regression_data(10)
    model = regression_model(DoublingModel)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(x, batch_size=4, verbose=0), 2 * (x @ kernel + bias), rtol=1e-12)


def test_gradient_tape_is_grad_in_another_spelling(float64: None) -> None:
    x, y = regression_data(8)
    model = regression_model(hn.Model)
    model.compile(loss="mse")
    with hn.GradientTape() as tape:
        loss = model.compute_loss(y=hn.tensor(y), y_pred=model(x))
    by_tape = tape.gradient(loss, model.trainable_variables)
    by_grad = hn.grad(loss, model.trainable_variables)
    for a, b in zip(by_tape, by_grad):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(tape.gradient(loss, model.trainable_variables[1]).numpy(), by_grad[1].numpy())
    point = hn.tensor(3.0)
    with hn.GradientTape() as tape:
        tape.watch(point)
        cube = point * point * point
    assert tape.gradient(cube, point).item() == 27.0


def test_unpack_and_pack_x_y_sample_weight() -> None:
    x, y, w = np.zeros(2), np.ones(2), np.full(2, 0.5)
    unpack, pack = hn.utils.unpack_x_y_sample_weight, hn.utils.pack_x_y_sample_weight
    assert unpack(x) == (x, None, None)
    assert unpack((x,)) == (x, None, None)
    assert unpack([x, y]) == (x, y, None)
    assert unpack((x, y, w)) == (x, y, w)
    assert pack(x) is x
    assert pack([x, y]) == ([x, y],)
    assert pack(x, y) == (x, y)
    assert pack(x, y, w) == (x, y, w)
    with pytest.raises(ValueError, match="`data` must be x, \\(x,\\), \\(x, y\\) or \\(x, y, sample_weight\\)"):
        unpack((x, y, w, w))


class NoLogsModel(hn.Model):
    def train_step(self, data: Any) -> Any:
        return [self.compute_loss(y=data[1], y_pred=self(data[0]))]


def test_a_step_that_returns_no_dict_is_refused_before_anything_changes() -> None:
    x, y = regression_data(16)
    model = regression_model(NoLogsModel)
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    with pytest.raises(TypeError, match=r"NoLogsModel.train_step: `the returned logs` must be a dict \{name: value\}"):
        model.fit(x, y, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compute_loss_without_any_loss_says_what_to_do() -> None:
    model = regression_model(hn.Model)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="no loss to compute; pass `loss=` to compile"):
        model.compute_loss(y=hn.tensor(np.zeros((2, 1))), y_pred=hn.tensor(np.zeros((2, 1))))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="compute_loss: `y` must be a tensor for the compiled loss, received None"):
        model.compute_loss(y_pred=hn.tensor(np.zeros((2, 1))))


def test_fit_without_targets_still_needs_them_for_the_built_in_step() -> None:
    model = regression_model(hn.Model)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="fit\\(\\) needs targets"):
        model.fit(np.zeros((4, 32)), verbose=0)


class PenalisedModel(hn.Model):
    """A model whose call adds a loss: the added loss joins the traced step's loss."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = hn.layers.Dense(1)

    def call(self, inputs: hn.Tensor) -> hn.Tensor:
        out = self.dense(inputs)
        self.add_loss(0.5 * ops.mean(ops.square(out)))
        return out


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_a_loss_added_in_call_joins_the_step_loss(backend64: str, run_eagerly: bool) -> None:
    x, y = regression_data(16)
    hn.utils.set_random_seed(5)
    model = PenalisedModel()
    model.compile(optimizer=hn.optimizers.SGD(0.1), loss="mse", run_eagerly=run_eagerly)
    model.build((None, 32))
    kernel, bias = model.get_weights()
    loss = model.train_on_batch(x, y)
    out = x @ kernel + bias
    assert loss == pytest.approx(np.mean((out - y) ** 2) + 0.5 * np.mean(out**2), rel=1e-10)
    grad_out = 2 * (out - y) / 16 + out / 16
    np.testing.assert_allclose(model.get_weights()[0], kernel - 0.1 * x.T @ grad_out, rtol=1e-10)
    assert len(model.losses) == 1


def test_test_and_predict_on_batch_equal_evaluate_and_predict_on_that_batch(backend64: str) -> None:
    x, y = regression_data(16)
    inputs = hn.Input((32,))
    hidden = hn.layers.Dense(4, activation="tanh")(inputs)
    model = hn.Model(inputs, [hn.layers.Dense(1)(hidden), hn.layers.Dense(2)(hidden)])
    with pytest.raises(RuntimeError, match=r"compile\(\) before test_on_batch"):
        model.test_on_batch(x, [y, np.hstack([y, y])])
    model.compile(optimizer="sgd", loss=["mse", "mae"], metrics=[["mae"], []])
    targets = [y, np.hstack([y, -y])]
    weights = model.get_weights()
    logs = model.test_on_batch(x, targets, return_dict=True)
    assert logs == model.evaluate(x, targets, batch_size=16, verbose=0, return_dict=True)
    assert model.test_on_batch(x, targets) == model.evaluate(x, targets, batch_size=16, verbose=0)
    for ours, expected in zip(model.predict_on_batch(x), model.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(ours, expected)
    for before, after in zip(weights, model.get_weights()):  # nothing trained
        np.testing.assert_array_equal(before, after)
