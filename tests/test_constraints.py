"""Weight constraints: values against NumPy formulas (Keras's definitions), training, configs and bad arguments."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import highnn as hn
from highnn import constraints, layers

EPSILON = 1e-7
W = np.random.default_rng(3).normal(scale=2.0, size=(5, 4))
W[0, 0] = 0.0


def norms(w: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [0, 1, [0, 1]])
def test_norm_constraints_match_numpy(backend64: str, axis: int | list[int]) -> None:
    numpy_axis = axis if isinstance(axis, int) else tuple(axis)
    norm = norms(W, numpy_axis)
    expected = {
        "max_norm": W * np.clip(norm, 0.0, 2.0) / (norm + EPSILON),
        "min_max_norm": W * (0.5 * np.clip(norm, 1.0, 3.0) + 0.5 * norm) / (norm + EPSILON),
        "unit_norm": W / (norm + EPSILON),
    }
    made = {
        "max_norm": constraints.MaxNorm(2.0, axis=axis),
        "min_max_norm": constraints.MinMaxNorm(1.0, 3.0, rate=0.5, axis=axis),
        "unit_norm": constraints.UnitNorm(axis=axis),
    }
    for name, constraint in made.items():
        np.testing.assert_allclose(constraint(W).numpy(), expected[name], rtol=1e-12, err_msg=name)


def test_non_neg_and_base_match_numpy(backend64: str) -> None:
    np.testing.assert_array_equal(constraints.NonNeg()(W).numpy(), np.maximum(W, 0.0))
    np.testing.assert_array_equal(constraints.Constraint()(W).numpy(), W)


def test_norms_end_in_bounds(float64: None) -> None:
    large = W * 100.0
    assert np.all(norms(constraints.MaxNorm(2.0)(large).numpy(), 0) <= 2.0 + 1e-9)
    bounded = norms(constraints.MinMaxNorm(0.2, 0.5)(large).numpy(), 0)
    assert np.all((bounded >= 0.2 - 1e-9) & (bounded <= 0.5 + 1e-9))
    np.testing.assert_allclose(norms(constraints.UnitNorm()(large).numpy(), 0), 1.0, rtol=1e-9)
    small = W[:, 1:] * 1e-3  # norms below max_value are left alone
    np.testing.assert_allclose(constraints.MaxNorm(2.0)(small).numpy(), small, rtol=1e-4)


def test_get_by_name_class_config_instance_and_none() -> None:
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert isinstance(constraints.get("NonNeg"), constraints.NonNeg)
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("min_max_norm"), constraints.MinMaxNorm)
    assert isinstance(constraints.get("unit_norm"), constraints.UnitNorm)
    assert isinstance(constraints.get(constraints.UnitNorm), constraints.UnitNorm)
    unit = constraints.UnitNorm(axis=1)
    assert constraints.get(unit) is unit
    clipped: Callable[[hn.Tensor], hn.Tensor] = lambda w: hn.ops.clip(w, -1.0, 1.0)  # noqa: E731
    assert constraints.get(clipped) is clipped
    assert constraints.get(None) is None
    again = constraints.get({"class_name": "MinMaxNorm", "config": {"min_value": 0.5, "rate": 0.7, "axis": [0, 1]}})
    assert again.get_config() == {"min_value": 0.5, "max_value": 1.0, "rate": 0.7, "axis": [0, 1]}


@pytest.mark.parametrize(
    "constraint",
    [constraints.NonNeg(), constraints.MaxNorm(3.0, axis=1), constraints.MinMaxNorm(0.5, 2.0, 0.7, [0, 1]),
     constraints.UnitNorm(axis=1), constraints.Constraint()],
)  # fmt: skip
def test_config_round_trip(float64: None, constraint: constraints.Constraint) -> None:
    config = constraints.serialize(constraint)
    assert config is not None
    again = constraints.deserialize(config)
    assert type(again) is type(constraint)
    assert again is not None and again.get_config() == constraint.get_config()
    np.testing.assert_array_equal(again(W).numpy(), constraint(W).numpy())


def test_a_trained_dense_with_non_neg_has_no_negative_kernel_entry(backend64: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])  # the best unconstrained kernel has a negative entry
    hn.utils.set_random_seed(0)
    dense = layers.Dense(1, kernel_constraint="non_neg", kernel_initializer=hn.initializers.RandomNormal(seed=1))
    model = hn.Sequential([hn.Input((3,)), dense])
    model.compile(optimizer=hn.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    kernel = dense.kernel.numpy()
    assert np.all(kernel >= 0.0)
    assert kernel[1, 0] == 0.0 and kernel[0, 0] > 0.5  # held at the bound, while the others still learned


def test_the_optimizer_projects_right_after_its_update(float64: None) -> None:
    layer = layers.Dense(2, kernel_constraint=constraints.MaxNorm(1.0), bias_constraint="non_neg")
    layer.build((None, 3))
    assert isinstance(layer.kernel.constraint, constraints.MaxNorm)  # type: ignore[attr-defined]
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()  # type: ignore[union-attr]
    grads = [np.full((3, 2), -10.0), np.array([5.0, -5.0])]
    hn.optimizers.SGD(1.0).apply(grads, [layer.kernel, layer.bias])
    stepped = kernel + 10.0
    expected_kernel = stepped * np.clip(norms(stepped, 0), 0, 1.0) / (norms(stepped, 0) + EPSILON)
    np.testing.assert_allclose(layer.kernel.numpy(), expected_kernel, rtol=1e-12)
    np.testing.assert_array_equal(layer.bias.numpy(), np.maximum(bias - [5.0, -5.0], 0.0))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Dense(2, kernel_constraint="max_norm", bias_constraint=constraints.NonNeg()),
        lambda: layers.BatchNormalization(beta_constraint="non_neg", gamma_constraint=constraints.UnitNorm()),
        lambda: layers.LayerNormalization(beta_constraint=constraints.MaxNorm(2.0), gamma_constraint="non_neg"),
        lambda: layers.PReLU(alpha_constraint=constraints.MinMaxNorm(0.1, 0.2)),
    ],
)
def test_layer_configs_keep_their_constraints(make: Callable[[], layers.Layer]) -> None:
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == {**config, "name": again.name}
    assert any(key.endswith("_constraint") and value is not None for key, value in config.items())
    again.build((None, 4))
    carried = [getattr(w, "constraint", None) for w in again.weights]
    assert sum(c is not None for c in carried) == 2 - isinstance(layer, layers.PReLU)


def test_a_saved_model_keeps_its_constraints(float64: None, tmp_path: object) -> None:
    model = hn.Sequential([hn.Input((3,)), layers.Dense(2, kernel_constraint=constraints.MaxNorm(1.5, axis=[0]))])
    model.compile(optimizer="sgd", loss="mse")
    path = f"{tmp_path}/constrained.highnn"
    model.save(path)
    loaded = hn.models.load_model(path)
    constraint = loaded.layers[0].kernel.constraint
    assert isinstance(constraint, constraints.MaxNorm)
    assert constraint.get_config() == {"max_value": 1.5, "axis": [0]}


ERROR_CASES: list[tuple[Callable[[], object], type[Exception], str]] = [
    (lambda: constraints.MaxNorm(-1.0), ValueError, "MaxNorm: `max_value` must be a number >= 0, received -1.0."),
    (lambda: constraints.MaxNorm(axis=1.5), TypeError, "MaxNorm: `axis` must be an integer or a non-empty list"),
    (lambda: constraints.UnitNorm(axis=[]), TypeError, "UnitNorm: `axis` must be an integer or a non-empty list"),
    (lambda: constraints.MinMaxNorm(2.0, 1.0), ValueError, "MinMaxNorm: `max_value` must be a number >= 2"),
    (lambda: constraints.MinMaxNorm(rate=1.5), ValueError, "MinMaxNorm: `rate` must be a number in [0, 1]"),
    (lambda: constraints.get("non_negative"), ValueError, "Unknown constraint: 'non_negative'. Did you mean"),
    (lambda: constraints.get(3), TypeError, "`constraint` must be a string, a config dict, a Constraint or a callable"),
    (lambda: constraints.deserialize({"class_name": "RadialConstraint"}), ValueError, "Unknown constraint"),
    (lambda: layers.Dense(2, kernel_constraint="unit_nrom"), ValueError, "Did you mean 'unit_norm'?"),
]


@pytest.mark.parametrize(("make", "error", "message"), ERROR_CASES)
def test_bad_arguments(make: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        make()
    assert message in str(caught.value)
