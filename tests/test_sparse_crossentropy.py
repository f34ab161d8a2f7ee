"""Sparse categorical crossentropy gathers each label's log probability: the same numbers and gradients as the
one-hot formula on every backend, Keras's label forms and options, and one error for labels out of range."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, require_backend

import highnn as hn
from highnn import losses
from highnn.config import use_backend
from highnn.ops import composites as C
from highnn.ops.nn_ops import log_probabilities
from highnn.trainer import LossTracker

RNG = np.random.default_rng(7)
LOGITS = RNG.normal(size=(6, 5)) * 3
LABELS = np.array([0, 4, 2, 2, 1, 3])
WEIGHTS = np.array([1.0, 0.5, 2.0, 0.0, 1.0, 3.0])


def one_hot_loss(labels: Any, y_pred: hn.Tensor, from_logits: bool, ignore_class: int | None) -> hn.Tensor:
    """The formula the gather replaced: -sum(one_hot(label) * log p), 0 for ignored labels."""
    labels = hn.ops.convert_to_tensor(labels, "int32")
    keep = None if ignore_class is None else labels != ignore_class
    safe = labels if keep is None else hn.ops.where(keep, labels, 0)
    values = -(C.one_hot(safe, y_pred.shape[-1], y_pred.dtype) * log_probabilities(y_pred, from_logits)).sum(-1)
    return values if keep is None else hn.ops.where(keep, values, 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "softmax"])
@pytest.mark.parametrize("ignore_class", [None, 2])
@pytest.mark.parametrize("label_shape", [(6,), (6, 1)])
def test_values_and_gradients_equal_the_one_hot_formula(
    backend: str, from_logits: bool, ignore_class: int | None, label_shape: tuple[int, ...]
) -> None:
    require_backend(backend)
    with use_backend(backend, floatx="float64"):
        loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore_class, reduction=None)
        results = []
        for formula in (
            lambda p: loss(LABELS.reshape(label_shape), p),
            lambda p: one_hot_loss(LABELS, p, from_logits, ignore_class),
        ):
            logits = hn.tensor(LOGITS, requires_grad=True)
            y_pred = logits if from_logits else C.softmax(logits)
            values = formula(y_pred)
            (gradient,) = hn.grad((values * hn.ops.convert_to_tensor(WEIGHTS)).sum(), [logits])
            results.append((values.numpy(), np.asarray(hn.ops.convert_to_numpy(gradient))))
    (values, gradient), (expected_values, expected_gradient) = results
    np.testing.assert_allclose(values, expected_values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=0, atol=1e-12)
    if ignore_class is not None:
        assert values[ignore_class == LABELS].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_probabilities_without_logits_axis_and_sample_weights(backend: str) -> None:
    require_backend(backend)
    probabilities = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
    scaled = np.clip(probabilities, 1e-7, 1 - 1e-7)
    expected = -np.log(scaled[np.arange(6), LABELS])
    with use_backend(backend, floatx="float64"):
        plain = losses.SparseCategoricalCrossentropy()(LABELS, probabilities, sample_weight=WEIGHTS)
        # the classes on axis 1 of a (batch, classes, steps) output, with labels of shape (batch, steps)
        moved = losses.sparse_categorical_crossentropy(
            np.stack([LABELS, LABELS[::-1]], -1), np.stack([probabilities, probabilities[::-1]], -1), axis=1
        )
    assert float(plain.numpy()) == pytest.approx((expected * WEIGHTS).mean(), rel=1e-12)
    np.testing.assert_allclose(moved.numpy(), np.stack([expected, expected[::-1]], -1), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["int32", "int64", "float32"])
def test_labels_of_any_number_type_give_the_same_loss(backend: str, dtype: str) -> None:
    require_backend(backend)
    with use_backend(backend, floatx="float32"):
        value = losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS.astype(dtype), LOGITS.astype("float32"))
    expected = -(LOGITS - np.log(np.exp(LOGITS).sum(-1, keepdims=True)))[np.arange(6), LABELS].mean()
    assert float(value.numpy()) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("low", ["float16", "bfloat16"])
def test_low_precision_predictions_give_a_float32_loss(backend: str, low: str) -> None:
    require_backend(backend)
    with use_backend(backend, floatx="float32"):
        y_pred = hn.ops.cast(hn.ops.convert_to_tensor(LOGITS, "float32"), low)
        value = losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, y_pred)
        assert value.dtype == "float32"
        rounded = hn.ops.convert_to_numpy(hn.ops.cast(y_pred, "float32")).astype(np.float64)
    expected = -(rounded - np.log(np.exp(rounded).sum(-1, keepdims=True)))[np.arange(6), LABELS].mean()
    assert float(value.numpy()) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("labels", [[0, 5, 1, 1, 2, 3], [0, -1, 1, 1, 2, 3]], ids=["too large", "negative"])
def test_labels_out_of_range_raise_one_error_on_every_backend(backend: str, labels: list[int]) -> None:
    require_backend(backend)
    bad = min(labels) if min(labels) < 0 else max(labels)
    with use_backend(backend):
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
        with pytest.raises(ValueError, match=r"`y_true` holds sparse labels for 5 classes.*received values from "):
            loss(np.array(labels), LOGITS)
        with pytest.raises(IndexError, match=rf"pick_along_axis: index {bad} is out of range \[0, 5\)"):
            hn.ops.sparse_categorical_crossentropy(np.array(labels), LOGITS, from_logits=True)
        ignored = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=bad, reduction=None)
        values = ignored(np.array(labels), LOGITS).numpy()  # the ignored label may lie outside the classes
    assert values[np.array(labels) == bad].tolist() == [0.0] and np.all(values[np.array(labels) != bad] > 0)


def test_a_fit_step_gathers_the_labels_instead_of_building_a_one_hot() -> None:
    model = hn.Sequential([hn.Input((4,)), hn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(RNG.normal(size=(8, 4)), RNG.integers(0, 3, 8), batch_size=8, verbose=0)
    ((program, _),) = model._functions["train", 2, False, True].programs.values()
    assert "pick_along_axis" in program.source and "place_along_axis" in program.source
    assert "equal" not in program.source and "cast" not in program.source, "no one-hot, no label casts"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_loss_tracker_reports_what_keras_mean_does(backend: str) -> None:
    require_backend(backend)
    with use_backend(backend, floatx="float32"):
        tracker, mean = LossTracker("loss"), hn.metrics.Mean("loss")
        assert float(tracker.result().numpy()) == 0.0
        for loss, batch in ((0.7, 32.0), (1.3, 32.0), (0.2, 7.0)):  # a partial last batch weighs less
            tracker.update_state(hn.ops.convert_to_tensor(loss), sample_weight=batch)
            mean.update_state(hn.ops.convert_to_tensor(loss), sample_weight=batch)
            assert tracker.result().numpy() == mean.result().numpy()
        tracker.update_state([1.0, 2.0], sample_weight=[1.0, 0.5])  # other forms update as Mean's
        mean.update_state([1.0, 2.0], sample_weight=[1.0, 0.5])
        assert tracker.result().numpy() == mean.result().numpy()
        tracker.reset_state()
        assert float(tracker.result().numpy()) == 0.0
