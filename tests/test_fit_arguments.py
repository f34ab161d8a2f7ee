"""fit / evaluate under abuse: every bad argument, bad data and bad label is refused before any state changes.

A refused call names the argument in the house voice and leaves the weights,
the optimizer's state and the metrics exactly as they were, on every backend
and whatever form (string, object, function) the user picked for the loss.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, require_backend
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import highnn as hn
from highnn import layers
from highnn.data import prepare


def classifier(loss: Any = "sparse_categorical_crossentropy", metrics: list[Any] | None = None,
               run_eagerly: bool = False, units: int = 3, activation: str = "softmax") -> hn.Sequential:  # fmt: skip
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((4,)), layers.Dense(units, activation=activation)])
    model.compile(optimizer="adam", loss=loss, metrics=metrics, run_eagerly=run_eagerly)
    return model


def state(model: hn.Sequential) -> list[np.ndarray]:
    """Weights, then the optimizer's variables once it is built (a copy: torch's numpy() shares memory)."""
    optimizer = model.optimizer.variables if model.optimizer.built else []
    return [np.array(v) for v in model.get_weights()] + [np.array(v.numpy()) for v in optimizer]


def assert_unchanged(model: hn.Sequential, before: list[np.ndarray]) -> None:
    after = state(model)
    assert len(after) == len(before)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


X = np.random.default_rng(0).normal(size=(12, 4))
Y = np.arange(12) % 3


def trained(model: hn.Sequential) -> hn.Sequential:
    """A model whose optimizer holds state, so an unchanged optimizer is a real check."""
    model.fit(X, Y, batch_size=4, verbose=0)
    return model


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"initial_epoch": -3}, ValueError, r"fit: `initial_epoch` must be an integer >= 0, received -3\."),
        ({"epochs": -1}, ValueError, r"fit: `epochs` must be an integer >= 0, received -1\."),
        ({"epochs": 2.5}, TypeError, r"fit: `epochs` must be an integer >= 0, received 2\.5 of type float\."),
        ({"steps_per_epoch": -1}, ValueError, r"fit: `steps_per_epoch` must be an integer >= 1, received -1\."),
        ({"steps_per_epoch": 0}, ValueError, r"fit: `steps_per_epoch` must be an integer >= 1, received 0\."),
        ({"validation_freq": -1}, ValueError, r"fit: `validation_freq` must be an integer >= 1, received -1\."),
        ({"validation_freq": 0}, ValueError, r"fit: `validation_freq` must be an integer >= 1, received 0\."),
        ({"validation_split": 0.5, "validation_batch_size": 0}, ValueError,
         r"fit: `validation_batch_size` must be an integer >= 1, received 0\."),
        ({"validation_split": 0.5, "validation_steps": 0}, ValueError,
         r"fit: `validation_steps` must be an integer >= 1, received 0\."),
        ({"class_weight": {0: np.nan, 1: 1.0, 2: 1.0}}, ValueError,
         r"fit: `class_weight\[0\]` must be a number >= 0, received nan\."),
        ({"class_weight": {0: 1.0, 1: np.inf, 2: 1.0}}, ValueError,
         r"fit: `class_weight\[1\]` must be a number >= 0, received inf\."),
        ({"class_weight": {0: -1.0, 1: 1.0, 2: 1.0}}, ValueError, r"`class_weight\[0\]` must be a number >= 0"),
        ({"class_weight": [1.0, 1.0, 1.0]}, TypeError, r"fit: `class_weight` must be a dict \{class index: weight\}"),
        ({"verbose": 5}, ValueError, r"fit: `verbose` must be one of 0, 1, 2, received 5\."),
        ({"shuffle": "yes"}, TypeError, r"fit: `shuffle` must be True or False, received 'yes' of type str\."),
        ({"callbacks": [object()]}, TypeError, r"fit: `callbacks` must be a list of Callback instances"),
        ({"callbacks": hn.callbacks.History()}, TypeError,
         r"fit: `callbacks` must be a list of Callback instances, received <highnn.callbacks.base.History"),
        ({"validation_data": (X[:3], np.array([0, 1, 7]))}, ValueError,
         r"`validation_data` holds sparse labels for 3 classes.*received values from 0 to 7"),
    ],
)  # fmt: skip
def test_bad_fit_arguments_raise_before_anything_changes(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    model = trained(classifier())
    before = state(model)
    with pytest.raises(error, match=message):
        model.fit(X, Y, **{"batch_size": 4, "verbose": 0, **arguments})
    assert_unchanged(model, before)


def test_data_is_checked_before_anything_changes() -> None:
    model = trained(classifier())
    before = state(model)
    with pytest.raises(ValueError, match=r"fit: `x` must hold at least one example, received x of shape \(0, 4\)"):
        model.fit(np.zeros((0, 4)), np.zeros(0, dtype=int), verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: `x` must hold at least one example"):
        model.evaluate(np.zeros((0, 4)), np.zeros(0, dtype=int), verbose=0)
    with pytest.raises(ValueError, match=r"predict: `x` must hold at least one example"):
        model.predict(np.zeros((0, 4)), verbose=0)
    huge = X.copy()
    huge[2, 1] = 1e39  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"fit: `x` must hold values within the float32 range, received values from"):
        model.fit(huge, Y, verbose=0)
    huge[2, 1] = np.nan  # NaN in the data itself is reported as such
    with pytest.raises(ValueError, match=r"`x` contains 1 NaN or Inf value\(s\), the first at index \(2, 1\)"):
        model.fit(huge, Y, verbose=0)
    assert_unchanged(model, before)


def test_float64_data_near_the_float32_limit_is_accepted() -> None:
    data = np.full((4, 3), 3e38)  # finite in float32, though the quick sum check overflows
    assert prepare({"x": data}, "fit")["x"].dtype == np.float32


SPARSE_FORMS = ["sparse_categorical_crossentropy", hn.losses.SparseCategoricalCrossentropy(),
                hn.losses.sparse_categorical_crossentropy]  # fmt: skip
BAD_SPARSE = [np.array([0, 1, 2, 5] * 3), np.array([0, 1, -1, 2] * 3), np.array([0.5, 1, 2, 0] * 3),
              np.array([2**32 + 1, 0, 1, 2] * 3)]  # fmt: skip


@pytest.mark.parametrize("loss", SPARSE_FORMS, ids=["string", "object", "function"])
@pytest.mark.parametrize("labels", BAD_SPARSE, ids=["too-high", "negative", "fractional", "wraps-in-int32"])
def test_sparse_labels_are_checked_whatever_form_the_loss_takes(loss: Any, labels: np.ndarray) -> None:
    model = trained(classifier())
    model.compile(optimizer=model.optimizer, loss=loss)
    before = state(model)
    with pytest.raises(
        ValueError, match=r"`y` holds sparse labels for 3 classes, so they must be integers in \[0, 3\)"
    ):
        model.fit(X, labels, verbose=0)
    with pytest.raises(ValueError, match=r"sparse labels for 3 classes"):
        model.evaluate(X, labels, verbose=0)
    assert_unchanged(model, before)


def test_the_ignored_class_may_lie_outside_the_classes() -> None:
    model = classifier(loss=hn.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    model.fit(X, np.where(Y == 2, -1, Y), verbose=0)
    with pytest.raises(ValueError, match=r"received values from -2 to 1"):
        model.fit(X, np.where(Y == 2, -2, Y), verbose=0)


@pytest.mark.parametrize("loss", ["binary_crossentropy", hn.losses.BinaryCrossentropy(), hn.losses.binary_crossentropy],
                         ids=["string", "object", "function"])  # fmt: skip
def test_binary_labels_must_lie_in_0_1(loss: Any) -> None:
    model = classifier(loss=loss, units=1, activation="sigmoid")
    before = state(model)
    with pytest.raises(
        ValueError,
        match=r"fit: `y` must hold labels in \[0, 1\] for binary_crossentropy, received values from 0 to 2\.",
    ):
        model.fit(X, np.array([0, 1, 2] * 4), verbose=0)
    assert_unchanged(model, before)
    model.fit(X, np.array([0, 1, 0.25] * 4), verbose=0)  # soft labels in [0, 1] are fine


@pytest.mark.parametrize(
    "metric", ["categorical_accuracy", hn.metrics.CategoricalAccuracy(), "top_k_categorical_accuracy"]
)
def test_categorical_metrics_refuse_sparse_labels(metric: Any) -> None:
    model = classifier(loss="mse", metrics=[metric])
    before = state(model)
    with pytest.raises(ValueError, match=r"fit: `y` must hold one-hot labels of the output's shape \(12, 3\) for "
                                         r"\w+, received labels of shape \(12,\)\."):  # fmt: skip
        model.fit(X, Y, verbose=0)
    assert_unchanged(model, before)
    model.fit(X, np.eye(3)[Y], verbose=0)


class FailingMetric(hn.metrics.Metric):
    """Raises in its first update, as a buggy user metric would."""

    def __init__(self) -> None:
        super().__init__("failing")
        self.total = self.add_variable((), name="total")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self.total.assign_add(1.0)
        raise RuntimeError("metric bug")

    def result(self) -> hn.Tensor:
        return self.total


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("run_eagerly", [False, True], ids=["traced", "eager"])
def test_a_metric_failing_in_its_first_update_leaves_the_model_as_it_was(backend: str, run_eagerly: bool) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend):
        model = trained(classifier(run_eagerly=run_eagerly))
        before = state(model)
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=[FailingMetric()], run_eagerly=run_eagerly)
        with pytest.raises(RuntimeError, match="metric bug"):
            model.fit(X, Y, batch_size=4, verbose=0)
        assert_unchanged(model, before)
        model.compile(optimizer=model.optimizer, loss=model.loss, run_eagerly=run_eagerly)
        model.fit(X, Y, batch_size=4, verbose=0)  # and it still trains
        assert not np.array_equal(state(model)[0], before[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_copies_the_data_at_most_once(backend: str) -> None:
    """Peak memory of fit (conversion to floatx, validation split, shuffling, batches) stays well below 3x the data."""
    require_backend(backend)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20_000, 100)), rng.normal(size=(20_000, 1))
    with hn.config.use_backend(backend):
        hn.utils.set_random_seed(0)
        model = hn.Sequential([hn.Input((100,)), layers.Dense(1)])
        model.compile("sgd", "mse")
        model.fit(x[:256], y[:256], batch_size=256, verbose=0)  # traced and built outside the measurement
        tracemalloc.start()
        try:
            model.fit(x, y, batch_size=256, validation_split=0.2, verbose=0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak / (x.nbytes + y.nbytes) < 1.0  # the float32 copy is half the float64 data


# --------------------------------------------------------------- property test
#: how each argument can be wrong, and the words its error must contain
BREAKAGES: dict[str, tuple[Any, str]] = {
    "x": (np.zeros((5, 3)), "expected shape"),  # a wrong number of features
    "empty": (None, "`x` must hold at least one example"),
    "y": ("bad-labels", "`y` holds sparse labels"),
    "short-y": ("short", "Data cardinality is ambiguous"),
    "batch_size": (st.sampled_from([0, -2, 2.5, "32"]), "`batch_size`"),
    "epochs": (st.sampled_from([-1, 1.5, "2"]), "`epochs`"),
    "validation_split": (st.sampled_from([1.0, -0.1, "0.2"]), "validation_split"),
    "steps_per_epoch": (st.sampled_from([0, -1, 1.5]), "`steps_per_epoch`"),
    "validation_freq": (st.sampled_from([0, -1, 2.5]), "`validation_freq`"),
}


@st.composite
def fit_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, dict[str, Any], str | None]:
    """Random valid data and arguments, with at most one argument broken (and which)."""
    n = draw(st.integers(4, 24))
    x = (
        np.random.default_rng(n)
        .normal(size=(n, 4))
        .astype(draw(st.sampled_from(["float32", "float64", "int8", "bool"])))
    )
    y = np.random.default_rng(n + 1).integers(0, 3, n)
    if draw(st.booleans()):
        y = y.astype(draw(st.sampled_from(["float32", "float64", "int32", "uint8"])))
    arguments: dict[str, Any] = {
        "batch_size": draw(st.one_of(st.none(), st.integers(1, 30))),
        "epochs": draw(st.integers(0, 2)),
        "validation_split": draw(st.sampled_from([0.0, 0.25, 0.5])),
        "steps_per_epoch": draw(st.one_of(st.none(), st.integers(1, 3))),
        "validation_freq": draw(st.integers(1, 3)),
        "shuffle": draw(st.booleans()),
    }
    broken = draw(st.sampled_from([None, None, None, *sorted(BREAKAGES)]))
    if broken == "x":
        x = np.resize(x, (n, 3))
    elif broken == "empty":
        x, y = x[:0], y[:0]
    elif broken == "y":
        y = y + 3
    elif broken == "short-y":
        y = y[:-1]
    elif broken is not None:
        arguments[broken] = draw(BREAKAGES[broken][0])
    return x, y, arguments, broken


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=fit_inputs())
def test_fit_accepts_valid_inputs_and_refuses_invalid_ones_cleanly(
    case: tuple[np.ndarray, np.ndarray, dict[str, Any], str | None],
) -> None:
    """Valid inputs train to finite logs; a broken one raises TypeError/ValueError naming it, and changes nothing."""
    x, y, arguments, broken = case
    model = trained(classifier())
    before = state(model)
    event(f"broken: {broken}")
    if broken is None:
        history = model.fit(x, y, verbose=0, **arguments)
        assert all(np.isfinite(v).all() for values in history.history.values() for v in values)
        return
    with pytest.raises((TypeError, ValueError)) as info:
        model.fit(x, y, verbose=0, **arguments)
    assert BREAKAGES[broken][1] in str(info.value)
    assert_unchanged(model, before)
