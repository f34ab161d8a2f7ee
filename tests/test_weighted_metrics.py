"""Keras's metric weighting: ``metrics`` ignore sample and class weights, ``weighted_metrics`` use them, the loss
always does. Every expected number is worked out by hand from predictions equal to the inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import highnn as hn

X = np.array([[0.2], [0.7], [0.9], [0.4]])
Y = np.array([[0.0], [1.0], [0.0], [1.0]])
W = np.array([1.0, 2.0, 3.0, 4.0])
# |p - y| = 0.2, 0.3, 0.9, 0.6; (p - y)^2 = 0.04, 0.09, 0.81, 0.36; p > 0.5 is right for the first two


def identity_model(**compile_args: object) -> hn.Sequential:
    model = hn.Sequential([hn.Input((1,)), hn.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
    model.compile(optimizer=hn.optimizers.SGD(0.0), loss="mse", **compile_args)
    return model


def test_metrics_ignore_sample_weight_and_weighted_metrics_use_it(backend64: str) -> None:
    model = identity_model(metrics=["mae", "binary_accuracy"], weighted_metrics=["mae", "binary_accuracy"])
    logs = model.evaluate(X, Y, sample_weight=W, batch_size=4, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mae", "binary_accuracy", "weighted_mae", "weighted_binary_accuracy"]
    np.testing.assert_allclose(logs["loss"], (0.04 * 1 + 0.09 * 2 + 0.81 * 3 + 0.36 * 4) / 4, rtol=1e-12)
    np.testing.assert_allclose(logs["mae"], (0.2 + 0.3 + 0.9 + 0.6) / 4, rtol=1e-12)
    np.testing.assert_allclose(logs["weighted_mae"], (0.2 * 1 + 0.3 * 2 + 0.9 * 3 + 0.6 * 4) / 10, rtol=1e-12)
    np.testing.assert_allclose(logs["binary_accuracy"], 2 / 4, rtol=1e-12)
    np.testing.assert_allclose(logs["weighted_binary_accuracy"], (1 + 2) / 10, rtol=1e-12)


def test_class_weight_reaches_the_loss_and_weighted_metrics_only(backend64: str) -> None:
    model = identity_model(metrics=["mae"], weighted_metrics=["mse"])
    history = model.fit(X, Y, class_weight={0: 1.0, 1: 3.0}, batch_size=4, shuffle=False, verbose=0)
    weights = np.array([1.0, 3.0, 1.0, 3.0])
    np.testing.assert_allclose(history.history["loss"], [(0.04 + 0.09 * 3 + 0.81 + 0.36 * 3) / 4], rtol=1e-12)
    np.testing.assert_allclose(history.history["mae"], [0.5], rtol=1e-12)
    squared = np.array([0.04, 0.09, 0.81, 0.36])
    np.testing.assert_allclose(history.history["mse"], [squared @ weights / weights.sum()], rtol=1e-12)


def test_without_weights_both_agree(backend64: str) -> None:
    logs = identity_model(metrics=["mae"], weighted_metrics=["mae"]).evaluate(X, Y, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["weighted_mae"], logs["mae"], rtol=1e-12)
    np.testing.assert_allclose(logs["mae"], 0.5, rtol=1e-12)


def test_several_outputs_name_weighted_metrics_by_output(backend64: str) -> None:
    inputs = hn.Input((1,))
    a = hn.layers.Dense(1, kernel_initializer="ones", use_bias=False, name="a")(inputs)
    b = hn.layers.Dense(1, kernel_initializer="ones", use_bias=False, name="b")(inputs)
    model = hn.Model(inputs, [a, b])
    model.compile(optimizer="sgd", loss="mse", metrics={"a": ["mae"]}, weighted_metrics=["mae"])
    logs = model.evaluate(X, [Y, 1.0 - Y], sample_weight=W, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "a_loss", "b_loss", "a_mae", "a_weighted_mae", "b_mae"}
    np.testing.assert_allclose(logs["a_mae"], 0.5, rtol=1e-12)
    np.testing.assert_allclose(logs["a_weighted_mae"], 0.59, rtol=1e-12)
    # b: |p - (1 - y)| = 0.8, 0.7, 0.1, 0.4, weighted only
    np.testing.assert_allclose(logs["b_mae"], (0.8 * 1 + 0.7 * 2 + 0.1 * 3 + 0.4 * 4) / 10, rtol=1e-12)
    np.testing.assert_allclose(logs["a_loss"], (0.04 * 1 + 0.09 * 2 + 0.81 * 3 + 0.36 * 4) / 4, rtol=1e-12)


def test_weighted_metrics_survive_saving(float64: None, tmp_path: Path) -> None:
    model = identity_model(metrics=["mae"], weighted_metrics=["mae", "binary_accuracy"])
    expected = model.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True)
    model.save(tmp_path / "model.highnn")
    loaded = hn.models.load_model(tmp_path / "model.highnn")
    assert loaded.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("value", ["mae", 3])
def test_weighted_metrics_must_be_a_list(value: object) -> None:
    with pytest.raises(TypeError, match=r"compile: `weighted_metrics` must be a list, received"):
        identity_model(weighted_metrics=value)
