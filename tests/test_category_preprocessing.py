"""CategoryEncoding and Discretization: Keras's encodings and bins, adapt's quantiles, configs and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn import layers

RNG = np.random.default_rng(29)
INTS = RNG.integers(0, 6, (5, 4))


def one_hot(indices: np.ndarray, depth: int) -> np.ndarray:
    return (np.asarray(indices)[..., None] == np.arange(depth)).astype(np.float64)


@pytest.mark.parametrize(
    ("mode", "inputs", "expected"),
    [
        ("multi_hot", INTS, one_hot(INTS, 6).max(1)),
        ("multi_hot", INTS[0], one_hot(INTS[0], 6).max(0)),  # one sample
        ("one_hot", INTS, one_hot(INTS, 6)),
        ("one_hot", INTS[:, :1], one_hot(INTS[:, 0], 6)),  # a last axis of 1 is replaced
        ("count", INTS, one_hot(INTS, 6).sum(1)),
        ("count", np.array(4), one_hot(np.array([4]), 6).sum(0)),  # a scalar is one sample
    ],
)
def test_category_encoding_modes(backend64: str, mode: str, inputs: np.ndarray, expected: np.ndarray) -> None:
    layer = layers.CategoryEncoding(6, output_mode=mode)
    out = layer(inputs)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert out.dtype == "float64" and layer.compute_output_shape(np.shape(inputs)) == expected.shape


def test_category_encoding_counts_with_weights_and_binary_is_multi_hot() -> None:
    weights = RNG.uniform(size=INTS.shape)
    counted = layers.CategoryEncoding(6, output_mode="count")(INTS, count_weights=weights).numpy()
    np.testing.assert_allclose(counted, (one_hot(INTS, 6) * weights[..., None]).sum(1), rtol=1e-6)
    binary = layers.CategoryEncoding(6, output_mode="binary")
    assert binary.get_config()["output_mode"] == "multi_hot"
    np.testing.assert_array_equal(binary(np.array([[7, 1]])).numpy(), [[0, 1, 0, 0, 0, 0]])  # out of range: nothing


def test_discretization_bins_and_encodings(backend64: str) -> None:
    x = RNG.normal(size=(6, 3))
    bounds = [-0.5, 0.0, 0.7]
    indices = np.digitize(x, bounds)
    out = layers.Discretization(bounds)(x)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), indices)
    np.testing.assert_array_equal(layers.Discretization(bounds, output_mode="one_hot")(x).numpy(), one_hot(indices, 4))
    multi = layers.Discretization(bounds, output_mode="multi_hot")
    np.testing.assert_array_equal(multi(x).numpy(), one_hot(indices, 4).max(1))
    assert multi.compute_output_shape((None, 3)) == (None, 4)
    edges = layers.Discretization([0.0, 1.0])(np.array([-1.0, 0.0, 0.5, 1.0, 2.0])).numpy()
    np.testing.assert_array_equal(edges, [0, 1, 1, 2, 2])  # a boundary starts its bin


@pytest.mark.parametrize(("num_bins", "epsilon"), [(4, 0.01), (7, 0.01), (5, 0.05)])
def test_adapt_learns_quantile_boundaries_within_epsilon(num_bins: int, epsilon: float) -> None:
    data = RNG.normal(size=(4000, 1))
    whole = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    whole.adapt(data)
    assert len(whole.bin_boundaries) == num_bins - 1
    reached = np.array([np.mean(data <= b) for b in whole.bin_boundaries])
    np.testing.assert_allclose(reached, np.arange(1, num_bins) / num_bins, atol=2 * epsilon)
    batched = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    batched.adapt([data[:1000], data[1000:2500], data[2500:]])
    merged = np.array([np.mean(data <= b) for b in batched.bin_boundaries])  # merged summaries: a little looser
    np.testing.assert_allclose(merged, np.arange(1, num_bins) / num_bins, atol=4 * epsilon)
    counts = np.bincount(whole(data).numpy().ravel(), minlength=num_bins)
    np.testing.assert_allclose(counts / data.size, 1 / num_bins, atol=2 * epsilon)


def test_an_adapted_discretization_trains_saves_and_loads(tmp_path: Any) -> None:
    features = RNG.normal(size=(64, 2))
    labels = (features[:, 0] > 0).astype(int)
    binning = layers.Discretization(num_bins=4, output_mode="one_hot")
    binning.adapt(features)
    model = hn.Sequential([hn.Input((2,)), binning, layers.Flatten(), layers.Dense(2)])
    model.compile("adam", hn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(features, labels, epochs=2, batch_size=16, verbose=0)
    path = f"{tmp_path}/binned.highnn"
    model.save(path)
    loaded = hn.models.load_model(path)
    assert loaded.layers[0].bin_boundaries == binning.bin_boundaries and loaded.layers[0].num_bins == 4
    np.testing.assert_allclose(loaded.predict(features, verbose=0), model.predict(features, verbose=0), rtol=1e-6)
    encoder = layers.CategoryEncoding(5, output_mode="count", name="counts")
    assert layers.deserialize(layers.serialize(encoder)).get_config() == encoder.get_config()


@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (lambda: layers.CategoryEncoding(), ValueError, "CategoryEncoding: `num_tokens` must be a positive int"),
        (lambda: layers.CategoryEncoding(0), ValueError, "CategoryEncoding: `num_tokens` must be"),
        (lambda: layers.CategoryEncoding(3, output_mode="int"), ValueError,
         "CategoryEncoding: `output_mode` must be one of 'one_hot', 'multi_hot', 'count', received 'int'"),
        (lambda: layers.CategoryEncoding(3, sparse=True), ValueError, "CategoryEncoding: `sparse` must be False"),
        (lambda: layers.CategoryEncoding(3)(INTS, count_weights=np.ones(INTS.shape)), ValueError,
         "CategoryEncoding: `count_weights` must be None when `output_mode` is 'multi_hot'"),
        (lambda: layers.Discretization(), ValueError, "Discretization: `bin_boundaries` must be given, or `num_bins`"),
        (lambda: layers.Discretization([0.0], num_bins=2), ValueError, "Discretization: `bin_boundaries` must be"),
        (lambda: layers.Discretization([1.0, 0.0]), ValueError, "Discretization: `bin_boundaries` must be increasing"),
        (lambda: layers.Discretization(num_bins=3, epsilon=0.0), ValueError, "Discretization: `epsilon` must be"),
        (lambda: layers.Discretization([0.0]).adapt(np.ones(3)), ValueError, "`adapt` learns boundaries for"),
        (lambda: layers.Discretization(num_bins=3)(np.ones(3)), ValueError, "give `bin_boundaries` or call `adapt`"),
    ],
)  # fmt: skip
def test_errors_name_the_argument(action: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        action()
