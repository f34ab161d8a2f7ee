"""Mixed precision: dtype policies, autocasting layers, float32 losses and dynamic loss scaling (Keras's behaviour)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, require_backend

import highnn as hn
from highnn import layers
from highnn.backends import ALL_FLOAT_DTYPES, LOW_PRECISION_DTYPES, numpy_dtype
from highnn.backends.base import LOW_PRECISION_CODES
from highnn.dtype_policies import DTypePolicy
from highnn.optimizers import SGD, LossScaleOptimizer


@pytest.fixture(autouse=True)
def floatx_policy() -> Iterator[None]:
    """Every test starts and ends under the default (floatx) policy."""
    hn.mixed_precision.set_global_policy(None)
    yield
    hn.mixed_precision.set_global_policy(None)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    require_backend(request.param)
    with hn.config.use_backend(request.param):
        yield request.param


# ------------------------------------------------------------------ policies
@pytest.mark.parametrize(
    ("name", "compute", "variable"),
    [
        ("mixed_bfloat16", "bfloat16", "float32"),
        ("mixed_float16", "float16", "float32"),
        ("float32", "float32", "float32"),
        ("float64", "float64", "float64"),
        ("bfloat16", "bfloat16", "bfloat16"),
    ],
)
def test_policy_dtypes(name: str, compute: str, variable: str) -> None:
    policy = hn.dtype_policies.DTypePolicy(name)
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == (name, compute, variable)
    assert repr(policy) == f'<DTypePolicy "{name}">'
    assert DTypePolicy.from_config(policy.get_config()) == policy
    assert hn.mixed_precision.DTypePolicy is hn.mixed_precision.Policy is DTypePolicy


def test_default_policy_is_floatx() -> None:
    assert hn.mixed_precision.global_policy() == DTypePolicy("float32")
    with hn.config.use_backend("numpy", floatx="float64"):
        assert hn.mixed_precision.global_policy().compute_dtype == "float64"


def test_set_global_policy_reaches_new_layers_only() -> None:
    before = layers.Dense(2)
    hn.mixed_precision.set_global_policy("mixed_bfloat16")
    assert hn.mixed_precision.global_policy().name == "mixed_bfloat16"
    after = layers.Dense(2)
    assert (before.compute_dtype, after.compute_dtype, after.variable_dtype) == ("float32", "bfloat16", "float32")
    hn.mixed_precision.set_global_policy(DTypePolicy("mixed_float16"))
    assert layers.Dense(2).dtype_policy.name == "mixed_float16"


def test_get_accepts_names_configs_policies_and_none() -> None:
    policy = DTypePolicy("mixed_float16")
    get = hn.dtype_policies.get
    assert get(policy) is policy
    assert get("mixed_float16") == get({"name": "mixed_float16"}) == policy
    assert get({"class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}) == policy
    assert get(None) == DTypePolicy("float32")


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: DTypePolicy("mixed_float8"), ValueError,
         r"DTypePolicy: `name` must be one of 'mixed_float16', 'mixed_bfloat16', 'float32', .*received 'mixed_float8'"),
        (lambda: hn.mixed_precision.set_global_policy(16), TypeError,
         r"set_dtype_policy: `policy` must be a policy name such as 'mixed_bfloat16' or a DTypePolicy, received 16"),
        (lambda: layers.Dense(2, dtype=3), TypeError, r"`dtype` must be a policy name .*received 3 of type int"),
        (lambda: layers.Dense(2, dtype="int32"), ValueError, r"DTypePolicy: `name` must be one of .*received 'int32'"),
    ],
)  # fmt: skip
def test_bad_policies_raise_before_any_change(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()
    assert hn.mixed_precision.global_policy().name == "float32"


# ------------------------------------------------------------------ layers
def test_layer_computes_low_and_keeps_float32_weights(backend: str) -> None:
    hn.utils.set_random_seed(0)
    dense = layers.Dense(3, dtype="mixed_bfloat16")
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    out = dense(x)
    assert out.dtype == "bfloat16"
    assert dense.kernel.dtype == dense.bias.dtype == "float32"
    expected = x.astype(numpy_dtype("bfloat16")).astype(np.float32) @ dense.kernel.numpy().astype(
        numpy_dtype("bfloat16")
    ).astype(np.float32)
    np.testing.assert_allclose(out.numpy().astype(np.float32), expected, rtol=2**-7, atol=2**-7)
    # outside the layer's call, its variables read as they are
    assert (dense.kernel * 1.0).dtype == "float32"


def test_gradients_reach_float32_weights_in_float32(backend: str) -> None:
    dense = layers.Dense(2, dtype="mixed_float16")
    out = dense(np.ones((3, 4), "float32"))
    grads = hn.grad(out.astype("float32").sum(), [dense.kernel, dense.bias])
    assert [g.dtype for g in grads] == ["float32", "float32"]
    np.testing.assert_array_equal(grads[1].numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(grads[0].numpy(), np.full((4, 2), 3.0))


def test_integer_inputs_are_not_rounded_to_the_compute_dtype(backend: str) -> None:
    embedding = layers.Embedding(1000, 4, dtype="mixed_bfloat16")
    out = embedding(np.array([[999, 257]]))
    assert out.dtype == "bfloat16"
    table = embedding.embeddings.numpy().astype(numpy_dtype("bfloat16")).astype(np.float32)
    np.testing.assert_array_equal(out.numpy().astype(np.float32)[0], table[[999, 257]])  # 257 is no bfloat16


def test_float32_softmax_head_and_loss_under_a_mixed_policy(backend: str) -> None:
    hn.mixed_precision.set_global_policy("mixed_bfloat16")
    model = hn.Sequential([hn.Input((6,)), layers.Dense(4), layers.Activation("softmax", dtype="float32")])
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    probabilities = model(x)
    assert model.layers[0](x).dtype == "bfloat16"
    assert probabilities.dtype == "float32"
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-6)
    loss = hn.losses.SparseCategoricalCrossentropy()(np.array([0, 1, 2, 3, 0]), model.layers[0](x))
    assert loss.dtype == "float32"


def test_fit_under_mixed_bfloat16_updates_float32_weights(backend: str) -> None:
    hn.mixed_precision.set_global_policy("mixed_bfloat16")
    hn.utils.set_random_seed(3)
    model = hn.Sequential([hn.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
    model.compile(optimizer=SGD(0.05), loss="mse", metrics=["mae"])
    x = np.random.default_rng(2).normal(size=(64, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert isinstance(model.optimizer, SGD), "only mixed_float16 scales the loss"
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert all(w.dtype == "float32" for w in model.weights)


@pytest.mark.parametrize("recurrent", ["lstm", "rnn-of-cells"])
def test_recurrent_layers_train_under_mixed_bfloat16(backend: str, recurrent: str) -> None:
    """The scan's step is traced on bfloat16 operands (NumPy's through ml_dtypes), its weights float32."""
    hn.mixed_precision.set_global_policy("mixed_bfloat16")
    hn.utils.set_random_seed(3)
    layer = layers.LSTM(6) if recurrent == "lstm" else layers.RNN([layers.LSTMCell(6), layers.GRUCell(4)])
    model = hn.Sequential([hn.Input((5, 3)), layer, layers.Dense(1)])
    model.compile(optimizer=hn.optimizers.Adam(0.02), loss="mse")
    x = np.random.default_rng(2).normal(size=(64, 5, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None] / 4
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    assert model(x[:2]).dtype == "bfloat16" and all(w.dtype == "float32" for w in model.weights)


def test_policies_survive_saving(tmp_path: Path) -> None:
    hn.mixed_precision.set_global_policy("mixed_bfloat16")
    model = hn.Sequential([hn.Input((3,)), layers.Dense(2), layers.Activation("softmax", dtype="float32")])
    model.save(tmp_path / "mixed.highnn")
    assert layers.Dense.from_config(model.layers[0].get_config()).dtype_policy.name == "mixed_bfloat16"
    hn.mixed_precision.set_global_policy(None)
    loaded = hn.models.load_model(tmp_path / "mixed.highnn")
    assert [layer.dtype_policy.name for layer in loaded.layers] == ["mixed_bfloat16", "float32"]
    assert "dtype" not in layers.Dense(2).get_config(), "configs without policies stay as they were"


# ------------------------------------------------------------------ loss scaling
def scaled_optimizer(**options: Any) -> tuple[LossScaleOptimizer, hn.Variable]:
    weight = hn.Variable(np.array([1.0, 2.0], "float32"), name="w")
    return LossScaleOptimizer(SGD(learning_rate=0.1), **options), weight


@pytest.mark.filterwarnings("ignore:.*(invalid value|overflow):RuntimeWarning")  # NumPy warns of the overflow tested
def test_loss_scale_unscales_grows_and_skips(backend: str) -> None:
    optimizer, weight = scaled_optimizer(initial_scale=8.0, dynamic_growth_steps=2)
    assert optimizer.scale_loss(hn.tensor(1.5)).item() == 12.0
    optimizer.apply([hn.tensor(np.array([4.0, -8.0]))], [weight])  # scaled by 8: the gradient is (0.5, -1)
    np.testing.assert_allclose(weight.numpy(), [0.95, 2.1], rtol=1e-6)
    assert (optimizer.dynamic_scale.item(), optimizer.step_counter.item(), optimizer.iterations.item()) == (8.0, 1, 1)
    optimizer.apply([hn.tensor(np.array([8.0, 8.0]))], [weight])  # the second finite step in a row doubles it
    np.testing.assert_allclose(weight.numpy(), [0.85, 2.0], rtol=1e-6)
    assert (optimizer.dynamic_scale.item(), optimizer.step_counter.item(), optimizer.iterations.item()) == (16.0, 0, 2)
    for bad in (np.inf, np.nan):  # skipped: nothing moves, the scale halves
        optimizer.apply([hn.tensor(np.array([1.0, bad]))], [weight])
        np.testing.assert_allclose(weight.numpy(), [0.85, 2.0], rtol=1e-6)
        assert optimizer.iterations.item() == 2 and optimizer.step_counter.item() == 0
    assert optimizer.dynamic_scale.item() == 4.0


def test_skipped_steps_leave_the_inner_state_alone(backend: str) -> None:
    weight = hn.Variable(np.array([1.0, 2.0], "float32"), name="w")
    optimizer = LossScaleOptimizer(hn.optimizers.Adam(0.1), initial_scale=1.0)
    optimizer.apply([hn.tensor(np.array([1.0, 1.0]))], [weight])
    state = [v.numpy().copy() for v in optimizer.variables[2:]]
    optimizer.apply([hn.tensor(np.array([np.nan, 1.0]))], [weight])
    for before, variable in zip(state, optimizer.variables[2:]):
        np.testing.assert_array_equal(variable.numpy(), before)


@pytest.mark.filterwarnings("ignore:.*(invalid value|overflow):RuntimeWarning")
def test_compile_wraps_under_mixed_float16_and_fit_skips_overflowing_steps(backend: str) -> None:
    hn.mixed_precision.set_global_policy("mixed_float16")
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((4,)), layers.Dense(3), layers.Activation("softmax", dtype="float32")])
    model.compile(optimizer=LossScaleOptimizer(SGD(0.1), initial_scale=2.0**60), loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(np.ones((8, 4), "float32"), np.zeros(8, "int64"), batch_size=4, epochs=1, verbose=0)
    for old, new in zip(before, model.get_weights()):  # the traced step chose the old values: float16 overflowed
        np.testing.assert_array_equal(old, new)
    assert model.optimizer.dynamic_scale.item() == 2.0**58 and model.optimizer.iterations.item() == 0
    model.compile(optimizer="sgd", loss="mse")
    assert isinstance(model.optimizer, LossScaleOptimizer) and isinstance(model.optimizer.inner_optimizer, SGD)


def test_loss_scale_config_round_trip() -> None:
    optimizer = LossScaleOptimizer(hn.optimizers.Adam(0.01), initial_scale=64.0, dynamic_growth_steps=10)
    copy = hn.optimizers.deserialize(hn.optimizers.serialize(optimizer))
    assert isinstance(copy, LossScaleOptimizer) and isinstance(copy.inner_optimizer, hn.optimizers.Adam)
    assert (copy.initial_scale, copy.dynamic_growth_steps) == (64.0, 10)
    assert copy.learning_rate.item() == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"inner_optimizer": "adam"}, TypeError, r"LossScaleOptimizer: `inner_optimizer` must be an Optimizer"),
        ({"initial_scale": 0.0}, ValueError, r"LossScaleOptimizer: `initial_scale` must be .*received 0.0"),
        ({"dynamic_growth_steps": 0}, ValueError, r"LossScaleOptimizer: `dynamic_growth_steps` must be .*received 0"),
    ],
)
def test_loss_scale_arguments_are_checked(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        LossScaleOptimizer(**{"inner_optimizer": SGD(), **options})


# ------------------------------------------------------------------ NumPy's bfloat16
def test_numpy_bfloat16_without_ml_dtypes_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # importing it now fails
    with pytest.raises(ImportError, match=r"ml_dtypes.*highnn\[bfloat16\].*torch and jax backends support bfloat16"):
        hn.tensor([1.0, 2.0], dtype="bfloat16")


# ------------------------------------------------------------------ accuracy
def load_example() -> Any:
    path = Path(__file__).parent.parent / "examples" / "mixed_precision.py"
    spec = importlib.util.spec_from_file_location("mixed_precision_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("name", ["torch", "jax"])
def test_digits_under_mixed_bfloat16_reach_the_float32_accuracy(name: str) -> None:
    require_backend(name)
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data.astype("float32") / 16.0, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    example = load_example()
    with hn.config.use_backend(name):
        accuracy = {
            policy: example.train(policy, x_train, y_train, x_test, y_test) for policy in ("float32", "mixed_bfloat16")
        }
    assert accuracy["float32"] > 0.95
    assert abs(accuracy["mixed_bfloat16"] - accuracy["float32"]) <= 0.01


def test_numpy_low_precision_codes_name_exactly_the_low_precision_dtypes() -> None:
    codes = {name: numpy_dtype(name).char for name in ALL_FLOAT_DTYPES}
    assert sorted(name for name, code in codes.items() if code in LOW_PRECISION_CODES) == sorted(LOW_PRECISION_DTYPES)
    assert sorted(codes[name] for name in LOW_PRECISION_DTYPES) == sorted(LOW_PRECISION_CODES)
