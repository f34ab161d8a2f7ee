"""Bad input gets a clear error naming the argument, what was expected and what was received."""

from __future__ import annotations

import numpy as np
import pytest

import highnn as hn
from highnn import layers


def compiled_classifier(**compile_args: object) -> hn.Sequential:
    model = hn.Sequential([hn.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(**{"optimizer": "adam", "loss": "sparse_categorical_crossentropy", **compile_args})
    return model


def test_input_feature_count_mismatch_names_layer_and_shapes() -> None:
    model = compiled_classifier()
    with pytest.raises(
        ValueError,
        match=r"layer 'input_layer(_\d+)?' is incompatible.*expected shape \(None, 4\)"
        r".*received input with shape \(10, 5\)",
    ):
        model.fit(np.ones((10, 5)), np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape \(None, 4\).*\(2, 3\)"):
        model.predict(np.ones((2, 3)), verbose=0)


def test_dense_without_input_checks_features_after_building() -> None:
    dense = layers.Dense(2, name="scores")
    dense(np.ones((3, 4)))
    with pytest.raises(
        ValueError,
        match=r"layer 'scores' is incompatible with the layer: expected axis -1 of input shape to have value 4, "
        r"but received input with shape \(3, 5\)",
    ):
        dense(np.ones((3, 5)))


def test_x_and_y_of_different_lengths() -> None:
    model = compiled_classifier()
    with pytest.raises(ValueError, match=r"Data cardinality is ambiguous: x sizes: 10, y sizes: 9"):
        model.fit(np.ones((10, 4)), np.zeros(9), verbose=0)
    with pytest.raises(ValueError, match=r"x sizes: 10, y sizes: 10, sample_weight sizes: 3"):
        model.evaluate(np.ones((10, 4)), np.zeros(10), sample_weight=np.ones(3), verbose=0)


@pytest.mark.parametrize("labels, low, high", [([0, 1, 3], 0, 3), ([-1, 0, 2], -1, 2), ([0.5, 1, 2], 0.5, 2)])
def test_sparse_label_outside_the_classes(labels: list[float], low: float, high: float) -> None:
    model = compiled_classifier()
    weights = model.get_weights()
    with pytest.raises(
        ValueError, match=rf"sparse labels for 3 classes.*integers in \[0, 3\); received values from {low} to {high}"
    ):
        model.fit(np.ones((3, 4)), np.array(labels), verbose=0)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)  # nothing was trained


@pytest.mark.parametrize(
    "make, kind, bad",
    [
        (lambda: layers.Dense(2, activation="rleu"), "activation", "rleu"),
        (
            lambda: compiled_classifier(loss="sparse_categorical_crossentropi"),
            "loss",
            "sparse_categorical_crossentropi",
        ),
        (lambda: compiled_classifier(optimizer="adamm"), "optimizer", "adamm"),
        (lambda: compiled_classifier(metrics=["acuracy"]), "metric", "acuracy"),
    ],
)
def test_unknown_strings_list_the_valid_ones(make: object, kind: str, bad: str) -> None:
    with pytest.raises(ValueError, match=rf"Unknown {kind}: '{bad}'\. Did you mean .*Valid {kind}s are: .*") as info:
        make()  # type: ignore[operator]
    expected = {"activation": "relu", "loss": "sparse_categorical_crossentropy", "optimizer": "adam", "metric": "mae"}[
        kind
    ]
    assert expected in str(info.value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_the_data(value: float) -> None:
    model = compiled_classifier()
    x = np.ones((5, 4))
    x[3, 2] = value
    with pytest.raises(ValueError, match=r"`x` contains 1 NaN or Inf value\(s\), the first at index \(3, 2\)"):
        model.fit(x, np.zeros(5), verbose=0)
    with pytest.raises(ValueError, match=r"`x` contains 1 NaN or Inf"):
        model.predict(x, verbose=0)
    y = np.ones((5, 3))
    y[0, 0] = value
    regression = hn.Sequential([hn.Input((4,)), layers.Dense(3)])
    regression.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"`y` contains 1 NaN or Inf value\(s\), the first at index \(0, 0\)"):
        regression.fit(np.ones((5, 4)), y, verbose=0)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"`units` must be a positive integer, received 0"):
        layers.Dense(0)
    with pytest.raises(ValueError, match=r"`aggregation` must be one of \('sum', 'max'\), received 'mean'"):
        layers.Dense(3, aggregation="mean")
    model = compiled_classifier()
    with pytest.raises(ValueError, match=r"fit: `batch_size` must be an integer >= 1, received -1\."):
        model.fit(np.ones((3, 4)), np.zeros(3), batch_size=-1, verbose=0)
    with pytest.raises(ValueError, match=r"fit: `validation_split` must be a number in \[0, 1\), received 1.5\."):
        model.fit(np.ones((3, 4)), np.zeros(3), validation_split=1.5, verbose=0)
    with pytest.raises(TypeError, match=r"`x` must hold numbers, received an array of dtype <U1"):
        model.fit(np.array([["a"] * 4]), np.zeros(1), verbose=0)
    with pytest.raises(RuntimeError, match=r"You must call compile\(\) before fit\(\)"):
        hn.Sequential([layers.Dense(1)]).fit(np.ones((2, 2)), np.ones(2))
    with pytest.raises(
        ValueError,
        match=r"set_weights of layer 'sequential(_\d+)?': `weights` must be a list of 4 arrays, received 1\.",
    ):
        model.set_weights([np.ones(2)])
    with pytest.raises(
        ValueError, match=r"weight 'dense(_\d+)?/kernel' has shape \(4, 8\), received an array of shape \(2, 2\)"
    ):
        model.set_weights([np.ones((2, 2))] + model.get_weights()[1:])
    with pytest.raises(
        ValueError,
        match=r"categorical_crossentropy: `y_true` must be one-hot with the shape of `y_pred` \(3, 3\), "
        r"received shape \(3,\)",
    ):
        hn.losses.categorical_crossentropy(np.array([0.0, 1.0, 2.0]), np.full((3, 3), 1 / 3))


def test_large_finite_data_whose_sum_overflows_is_accepted() -> None:
    from highnn.data import check_finite

    check_finite(np.full((4, 3), 3e38, dtype="float32"), "x")  # the quick sum overflows; the full check finds nothing
    with pytest.raises(ValueError, match=r"`x` contains 1 NaN or Inf value\(s\), the first at index \(1, 2\)"):
        check_finite(np.array([[3e38, 3e38, 1.0], [1.0, 1.0, np.inf]], dtype="float32"), "x")
