"""L1, L2 and L1L2 penalties: their values, and that fit and evaluate report and minimise them."""

from __future__ import annotations

import numpy as np
import pytest

import highnn as hn
from highnn import layers, regularizers

W = np.array([[1.0, -2.0], [0.5, 0.0]])


@pytest.mark.parametrize(
    "regularizer, expected",
    [
        (regularizers.L1(0.1), 0.1 * 3.5),
        (regularizers.L2(0.2), 0.2 * 5.25),
        (regularizers.L1L2(l1=0.1, l2=0.2), 0.1 * 3.5 + 0.2 * 5.25),
        (regularizers.get("l2"), 0.01 * 5.25),
        (regularizers.get("l1_l2"), 0.0),
    ],
)
def test_penalty_values(regularizer: regularizers.Regularizer, expected: float, float64: None) -> None:
    assert regularizer(hn.tensor(W)).item() == pytest.approx(expected)


def test_penalties_are_in_the_reported_loss_and_the_gradients(float64: None) -> None:
    x = np.random.default_rng(0).normal(size=(16, 2))
    y = np.random.default_rng(1).normal(size=(16, 1))
    hn.utils.set_random_seed(0)
    model = hn.Sequential([
        hn.Input((2,)),
        layers.Dense(3, kernel_regularizer=regularizers.L2(0.1), bias_regularizer="l1",
                     activity_regularizer=regularizers.L1(0.05)),
        layers.Dense(1),
    ])  # fmt: skip
    model.compile(optimizer=hn.optimizers.SGD(0.0), loss="mse")
    kernel, bias, kernel2, bias2 = model.get_weights()
    hidden = x @ kernel + bias
    output = hidden @ kernel2 + bias2
    penalty = 0.1 * np.sum(kernel**2) + 0.01 * np.sum(np.abs(bias)) + 0.05 * np.sum(np.abs(hidden)) / len(x)
    expected = np.mean((output - y) ** 2) + penalty
    assert model.evaluate(x, y, batch_size=16, verbose=0) == pytest.approx(expected, rel=1e-12)
    assert model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"][0] == pytest.approx(expected, rel=1e-12)
    plain = hn.Sequential([hn.Input((2,)), layers.Dense(3), layers.Dense(1)])
    plain.compile(optimizer="sgd", loss="mse")
    plain.set_weights(model.get_weights())
    difference = model.compute_gradients(x, y)[0] - plain.compute_gradients(x, y)[0]
    np.testing.assert_allclose(difference, 0.2 * kernel + x.T @ (0.05 * np.sign(hidden) / 16), rtol=1e-10)


def test_negative_factors_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"L1L2: `l2` must be a number >= 0, received -1"):
        regularizers.L1L2(l2=-1)
    with pytest.raises(ValueError, match=r"Unknown regularizer: 'l3'"):
        regularizers.get("l3")
