"""Optimizer behaviour from Keras 3's optimizer tests: weight-decay exclusions, state as weights, missing
gradients, learning rates given as functions or assigned schedules, and unique default names."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import highnn as hn
from highnn import optimizers
from highnn.optimizers import schedules

START = np.array([[1.0, 2.0], [3.0, 4.0]])


def variables() -> list[hn.Variable]:
    return [hn.Variable(START, name="kernel"), hn.Variable(np.array([1.0, -1.0]), name="bias")]


def zero_grads(targets: list[hn.Variable]) -> list[hn.Tensor]:
    return [hn.ops.to_tensor(np.zeros(v.shape)) for v in targets]


def test_exclude_from_weight_decay_by_variable_and_by_name(float64: None) -> None:
    kernel, bias = variables()
    other = hn.Variable(START, name="other")
    optimizer = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_list=[other], var_names=["bi.s"])
    optimizer.apply(zero_grads([kernel, bias, other]), [kernel, bias, other])
    np.testing.assert_allclose(kernel.numpy(), START * (1 - 0.1 * 0.5), rtol=1e-15)
    np.testing.assert_array_equal(bias.numpy(), [1.0, -1.0])
    np.testing.assert_array_equal(other.numpy(), START)
    with pytest.raises(ValueError, match=r"exclude_from_weight_decay can only be called before the optimizer is built"):
        optimizer.exclude_from_weight_decay(var_names=["kernel"])
    fresh = optimizers.AdamW()
    with pytest.raises(TypeError, match=r"`var_names\[0\]` must be a string, received 3 of type int"):
        fresh.exclude_from_weight_decay(var_names=[3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"`var_list\[0\]` must be a Variable, received 'kernel'"):
        fresh.exclude_from_weight_decay(var_list=["kernel"])  # type: ignore[list-item]


def test_get_weights_and_set_weights_in_keras_order(float64: None) -> None:
    targets = variables()
    first = optimizers.Adam(learning_rate=0.1)
    for _ in range(2):
        first.apply([hn.ops.to_tensor(START), hn.ops.to_tensor(np.array([0.5, 0.5]))], targets)
    weights = first.get_weights()
    assert [w.shape for w in weights] == [(), (), (2, 2), (2,), (2, 2), (2,)]
    assert weights[0] == 2 and weights[1] == pytest.approx(0.1)
    second = optimizers.Adam(learning_rate=0.5)
    with pytest.raises(ValueError, match=r"Adam\.set_weights: the optimizer has no state yet"):
        second.set_weights(weights)
    second.build(targets)
    with pytest.raises(ValueError, match=r"`weights` must be a list of 6 arrays, received 5\."):
        second.set_weights(weights[:5])
    with pytest.raises(ValueError, match=r"has shape \(2, 2\), received an array of shape \(2,\)"):
        second.set_weights(weights[:2] + [weights[3]] + weights[3:])
    assert second.iterations.item() == 0  # nothing was set by the failed calls
    second.set_weights(weights)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    weights[0][...] = 7  # get_weights returns copies
    assert first.iterations.item() == 2


def test_missing_gradients_are_skipped_with_a_warning(float64: None) -> None:
    kernel, bias = variables()
    optimizer = optimizers.SGD(learning_rate=1.0)
    with pytest.warns(UserWarning, match=r"Gradients do not exist for variables \['bias'\]"):
        optimizer.apply_gradients([(hn.ops.to_tensor(np.ones((2, 2))), kernel), (None, bias)])
    np.testing.assert_array_equal(kernel.numpy(), START - 1)
    np.testing.assert_array_equal(bias.numpy(), [1.0, -1.0])
    assert optimizer.iterations.item() == 1
    with pytest.raises(ValueError, match=r"^No gradients provided for any variable\.$"):
        optimizer.apply_gradients([(None, kernel), (None, bias)])
    assert optimizer.iterations.item() == 1


def test_a_function_as_learning_rate(float64: None) -> None:
    kernel = hn.Variable(START, name="kernel")
    optimizer = optimizers.SGD(learning_rate=lambda: 0.1)
    optimizer.apply_gradients([(hn.ops.to_tensor(np.ones((2, 2))), kernel)])
    np.testing.assert_allclose(kernel.numpy(), [[0.9, 1.9], [2.9, 3.9]], rtol=1e-15)
    assert optimizer.iterations.item() == 1
    assert [v.name for v in optimizer.variables] == ["iterations"]
    assert optimizer.get_config()["learning_rate"] == pytest.approx(0.1)  # saved as its current value
    halving = optimizers.SGD(learning_rate=lambda: 0.5 ** float(halving.iterations.item()))
    assert float(halving.learning_rate) == 1.0
    halving.apply([hn.ops.to_tensor(np.ones((2, 2)))], [kernel])
    assert float(halving.learning_rate) == 0.5
    with pytest.raises(TypeError, match=r"SGD has a learning rate function, so its learning rate cannot be set"):
        halving.learning_rate = 0.1


def test_assigning_the_learning_rate(float64: None) -> None:
    optimizer = optimizers.Adam(learning_rate=0.01)
    optimizer.learning_rate = optimizer.learning_rate
    assert optimizer.learning_rate.item() == pytest.approx(0.01)
    optimizer.learning_rate = hn.ops.to_tensor(0.25)
    assert optimizer.learning_rate.item() == 0.25
    schedule = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    optimizer.learning_rate = schedule
    kernel = hn.Variable(START, name="kernel")
    optimizer.apply([hn.ops.to_tensor(np.ones((2, 2)))], [kernel])
    assert float(optimizer.learning_rate) == pytest.approx(0.05)
    assert "learning_rate" not in [v.name for v in optimizer.variables]
    assert optimizer.get_config()["learning_rate"] == schedules.serialize(schedule)
    with pytest.raises(TypeError, match=r"Adam has a learning rate schedule, so its learning rate cannot be set"):
        optimizer.learning_rate = optimizer.learning_rate
    with pytest.raises(TypeError, match=r"`learning_rate` must be a non-negative float, a LearningRateSchedule or a"):
        optimizer.learning_rate = "fast"  # type: ignore[assignment]


def test_a_schedule_assigned_before_fit_drives_training() -> None:
    hn.utils.set_random_seed(1)
    model = hn.Sequential([hn.Input((2,)), hn.layers.Dense(1)])
    optimizer = optimizers.SGD(learning_rate=0.1)
    optimizer.learning_rate = schedules.PiecewiseConstantDecay([1], [0.1, 0.0])
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((4, 2)), np.zeros((4, 1))
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # step 0 and 1 train, with rate 0.1
    frozen = model.get_weights()
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # rate 0 from step 2 on
    for a, b in zip(frozen, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_default_names_are_unique_as_in_keras() -> None:
    first, second = optimizers.Adam(), optimizers.Adam()
    match = re.fullmatch(r"adam(?:_(\d+))?", first.name)
    assert match is not None
    assert second.name == f"adam_{int(match.group(1) or 0) + 1}"
    assert re.fullmatch(r"adamw(_\d+)?", optimizers.AdamW().name)
    assert re.fullmatch(r"sgd(_\d+)?", optimizers.SGD().name)
    assert optimizers.Adam(name="my_adam").name == "my_adam"
    assert optimizers.deserialize(optimizers.serialize(second)).name == second.name
    assert second.iterations.path == f"{second.name}/iterations"


def test_no_warning_when_every_gradient_is_there(float64: None) -> None:
    kernel, bias = variables()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizers.SGD().apply(zero_grads([kernel, bias]), [kernel, bias])
