"""copy.deepcopy and pickle of tensors, models, optimizers and metrics, on every backend."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, require_backend

import highnn as hn
from highnn import layers

COPIES: dict[str, Callable[[Any], Any]] = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda value: pickle.loads(pickle.dumps(value)),
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Any:
    require_backend(request.param)
    with hn.config.use_backend(request.param):
        yield request.param


def trained_model() -> hn.Sequential:
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((4,)), layers.Dense(5, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, batch_size=4, verbose=0)
    return model


X = np.random.default_rng(0).normal(size=(12, 4))
Y = np.arange(12) % 3


@pytest.mark.parametrize("how", COPIES)
def test_a_tensor_copies_as_a_leaf_with_its_value_on_the_active_backend(backend: str, how: str) -> None:
    variable = hn.Variable(np.arange(3.0), name="v", trainable=False)
    copied = COPIES[how](variable)
    assert isinstance(copied, hn.Variable) and copied is not variable
    assert (copied.name, copied.trainable, copied.dtype, copied.is_leaf) == ("v", False, variable.dtype, True)
    np.testing.assert_array_equal(copied.numpy(), variable.numpy())
    copied.assign(copied + 1.0)
    np.testing.assert_array_equal(variable.numpy(), [0.0, 1.0, 2.0])  # independent of the original
    derived = COPIES[how](hn.tensor([1.0, 2.0], requires_grad=True) * 2.0)
    assert derived.is_leaf and derived.numpy().tolist() == [2.0, 4.0]


@pytest.mark.parametrize("how", COPIES)
def test_a_trained_model_copies_with_its_optimizer_and_metrics(backend: str, how: str) -> None:
    model = trained_model()
    copied = COPIES[how](model)
    np.testing.assert_array_equal(copied.predict(X, verbose=0), model.predict(X, verbose=0))
    for a, b in zip(copied.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert copied.get_metrics_result() == model.get_metrics_result()
    # both continue training identically, and independently
    hn.utils.set_random_seed(1)
    model.fit(X, Y, batch_size=4, verbose=0)
    hn.utils.set_random_seed(1)
    copied.fit(X, Y, batch_size=4, verbose=0)
    for a, b in zip(copied.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert copied.trainable_weights[0] is not model.trainable_weights[0]
    assert copied.optimizer.variables[0] is not model.optimizer.variables[0]


@pytest.mark.parametrize("how", COPIES)
def test_optimizers_and_metrics_copy_alone(backend: str, how: str) -> None:
    model = trained_model()
    optimizer = COPIES[how](model.optimizer)
    assert [v.numpy().tolist() for v in optimizer.variables] == [v.numpy().tolist() for v in model.optimizer.variables]
    metric = COPIES[how](model.metrics[1])
    assert float(metric.result().numpy()) == float(model.metrics[1].result().numpy())
