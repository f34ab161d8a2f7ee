"""The traced plan fuses matmul + bias, convolution + bias, ReLU and its VJP, and the SGD update, where the
backend offers them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn
from highnn import tracing
from highnn.config import settings
from highnn.graph import Tensor, grad
from highnn.ops.primitives import cast, exp, matmul, where
from highnn.tracing import TracedFunction

FUSED = {"linear", "relu", "relu_grad", "sub_scaled", "conv_bias"}


def _mlp() -> list[hn.layers.Layer]:
    return [
        hn.layers.Dense(16, activation="relu"),
        hn.layers.Dense(16, activation="relu"),
        hn.layers.Dense(4),
    ]


def _train(
    backend: str,
    floatx: str,
    monkeypatch: pytest.MonkeyPatch,
    fused: bool,
    layers: Callable[[], list[hn.layers.Layer]] = _mlp,
    input_shape: tuple[int, ...] = (7,),
) -> tuple[list[np.ndarray], str]:
    if not fused:
        monkeypatch.setattr(tracing, "fuse", lambda steps, *rest: steps)
    with hn.config.use_backend(backend, floatx=floatx):
        hn.utils.set_random_seed(1)
        model = hn.Sequential([hn.layers.Input(input_shape), *layers()])
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(48, *input_shape)), rng.integers(0, 4, 48)
        loss = hn.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=hn.optimizers.SGD(0.1), loss=loss)
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
        (program, _), *_ = model._functions[("train", 2, False, True)].programs.values()
    monkeypatch.undo()
    return [w.copy() for w in model.get_weights()], program.source


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_dense_relu_sgd_steps_are_fused_and_compute_the_same_weights(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_backend(backend)
    fused, fused_source = _train(backend, "float64", monkeypatch, fused=True)
    plain, plain_source = _train(backend, "float64", monkeypatch, fused=False)
    for name in FUSED - {"conv_bias"}:
        assert f"= {name}_" in fused_source and f"= {name}_" not in plain_source
    # the ReLUs' where(x > 0, x, 0) are gone (a where left guards the loss tracker's division in the step's logs)
    assert "= greater_" not in fused_source
    assert fused_source.count("= where_") == plain_source.count("= where_") - 4  # two ReLUs, forward and VJP
    assert fused_source.count("\n") < plain_source.count("\n")
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def _cnn() -> list[hn.layers.Layer]:
    """A convolution with bias, a strided one (its kernel's VJP leaves one input row unread), one without bias."""
    return [
        hn.layers.Conv2D(3, 3, activation="relu"),
        hn.layers.Conv2D(4, 2, strides=2, padding="same", activation="relu"),
        hn.layers.Conv2D(4, 2, use_bias=False),
        hn.layers.Flatten(),
        hn.layers.Dense(4),
    ]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_convolution_and_bias_are_fused_and_compute_the_same_weights(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_backend(backend)
    fused, fused_source = _train(backend, "float64", monkeypatch, fused=True, layers=_cnn, input_shape=(9, 8, 2))
    plain, plain_source = _train(backend, "float64", monkeypatch, fused=False, layers=_cnn, input_shape=(9, 8, 2))
    assert fused_source.count("= conv_bias_") == 2 and "= conv_bias_" not in plain_source
    assert fused_source.count("= conv_general_") == plain_source.count("= conv_general_") - 2
    reference, _ = _train("numpy", "float64", monkeypatch, fused=False, layers=_cnn, input_shape=(9, 8, 2))
    for a, b, c in zip(fused, plain, reference):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-12)


def test_jax_plans_stay_unfused_since_xla_fuses() -> None:
    require_backend("jax")
    _, source = _train("jax", "float32", pytest.MonkeyPatch(), fused=True)
    assert not any(f"= {name}_" in source for name in FUSED)


def test_an_intermediate_with_another_use_is_not_fused() -> None:
    """The product, the ReLU mask and the scaled gradient are results here, so each must stay."""
    with hn.config.use_backend("numpy", floatx="float64"):
        w, b, lr = hn.Variable(np.ones((3, 2)), "w"), hn.Variable(np.ones(2), "b"), hn.Variable(np.asarray(0.5), "lr")

        def step(x: Tensor) -> list[Tensor]:
            product = matmul(x, w)
            mask = product > 0.0
            scaled = product * lr
            return [product + b, mask, where(mask, product, 0.0), w - scaled, scaled]

        traced = TracedFunction(step)
        outputs = traced(np.arange(9.0).reshape(3, 3) - 4)
        source = next(iter(traced.programs.values()))[0].source
    assert not any(f"= {name}_" in source for name in FUSED)
    np.testing.assert_array_equal(outputs[2], np.maximum(outputs[0] - 1, 0))


def test_chains_whose_next_step_is_of_another_kind_stay_as_they_are() -> None:
    """A mask that is cast (binary accuracy), a scaled gradient that is negated, a product that is exponentiated."""
    with hn.config.use_backend("numpy", floatx="float64"):
        w, lr = hn.Variable(np.ones((3, 3)), "w"), hn.Variable(np.asarray(0.5), "lr")

        def step(x: Tensor) -> list[Tensor]:
            product = matmul(x, w)
            return [cast(product > 0.0, dtype="float64"), -(product * lr), exp(product)]

        traced = TracedFunction(step)
        x = np.arange(9.0).reshape(3, 3) - 4
        mask, negated, exponentiated = traced(x)
        product = x @ np.ones((3, 3))
        source = next(iter(traced.programs.values()))[0].source
    assert not any(f"= {name}_" in source for name in FUSED)
    np.testing.assert_array_equal(mask, (product > 0).astype(float))
    np.testing.assert_array_equal(negated, -product * 0.5)
    np.testing.assert_allclose(exponentiated, np.exp(product))


def _traced_source(step: Callable[[Tensor], list[Tensor]], x: np.ndarray) -> tuple[list[np.ndarray], str]:
    traced = TracedFunction(step)
    outputs = [settings.backend.to_numpy(o) for o in traced(settings.backend.asarray(x, "float64"))]
    return outputs, next(iter(traced.programs.values()))[0].source


def test_a_dead_intermediate_is_overwritten_in_place_and_nothing_else_is() -> None:
    """In place: the product (read last by the add) and the sum (read last by the multiply). Not in place: an
    argument, a result, an operand still read later, and one whose reshaped view is still alive."""
    require_backend("torch")
    x = np.arange(6.0).reshape(2, 3) - 2
    with hn.config.use_backend("torch", floatx="float64"):
        w = hn.Variable(np.ones((3, 3)), "w")
        outputs, source = _traced_source(lambda x: [(matmul(x, w) + 1.0) * 3.0], x)
        np.testing.assert_array_equal(outputs[0], (x @ np.ones((3, 3)) + 1) * 3)
        assert "= add_in_place_" in source and "= mul_in_place_" in source

        def kept(x: Tensor) -> list[Tensor]:
            product = matmul(x, w)
            view = product.reshape((6,))
            total = product + 1.0  # the product's view is still read below
            twice = total * 2.0  # the total is a result
            return [x * 2.0, twice, total, view * 1.0, (x + 1.0) * product]

        before = x.copy()
        outputs, source = _traced_source(kept, x)
        product = x @ np.ones((3, 3))
        for got, expected in zip(
            outputs, [x * 2, (product + 1) * 2, product + 1, product.reshape(6), (x + 1) * product]
        ):
            np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(x, before)
        assert source.count("_in_place_") == 1 and "= mul_in_place_" in source  # (x + 1.0) is dead at the mul


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_reshape_of_a_dead_intermediate_is_overwritten_in_place_and_nothing_else_is(backend: str) -> None:
    """A CNN's Flatten VJP reshapes a fresh gradient before the ReLU VJP: that reshape is written in place,
    unless the reshaped buffer is a result, or is read again, or reshapes an argument."""
    require_backend(backend)
    x = np.arange(6.0).reshape(2, 3) - 2
    with hn.config.use_backend(backend, floatx="float64"):
        w = hn.Variable(np.ones((3, 3)), "w")
        product = x @ np.ones((3, 3))
        outputs, source = _traced_source(lambda x: [hn.ops.relu(matmul(x, w).reshape((6,)))], x)
        np.testing.assert_array_equal(outputs[0], np.maximum(product.reshape(6), 0))
        assert "= relu_in_place_" in source

        def kept(x: Tensor) -> list[Tensor]:
            result, read_again = matmul(x, w) - 1.0, matmul(x, w) + 1.0
            return [result, read_again * 2.0, *(hn.ops.relu(a.reshape((-1,))) for a in (result, read_again))]

        before = x.copy()
        outputs, source = _traced_source(kept, x)
        results = [product - 1, (product + 1) * 2]
        expected = [*results, *(np.maximum(a.reshape(-1), 0) for a in (product - 1, product + 1))]
        for got, want in zip(outputs, expected):
            np.testing.assert_array_equal(got, want)
        (relu,), argument_source = _traced_source(lambda x: [hn.ops.relu(x.reshape((-1,)))], x)
        np.testing.assert_array_equal(relu, np.maximum(x.reshape(-1), 0))
        np.testing.assert_array_equal(x, before)
        assert "= relu_in_place_" not in source + argument_source


def test_numpy_plans_run_relu_and_its_vjp_in_place_even_on_a_scalar(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MLP's ReLUs and their VJPs overwrite the dead intermediates they read; a 0-d one (a NumPy scalar, no
    buffer to write into) still gets its value."""
    fused, source = _train("numpy", "float64", monkeypatch, fused=True)
    plain, _ = _train("numpy", "float64", monkeypatch, fused=False)
    assert source.count("= relu_in_place_") == 2 and source.count("= relu_grad_in_place_") == 2
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    with hn.config.use_backend("numpy", floatx="float64"):
        x = np.array([[1.0, -3.0], [0.5, -0.25]])
        (total,), source = _traced_source(lambda x: [hn.ops.relu(hn.ops.sum(x) - 1.0)], x)
        (positive,), _ = _traced_source(lambda x: [hn.ops.relu(1.0 - hn.ops.sum(x))], x)
        assert "= relu_in_place_" in source
        assert total == 0.0 and positive == 2.75
        w = hn.Variable(np.array([0.5, -2.0]), "w")

        def squared_relu_gradient(x: Tensor) -> list[Tensor]:
            r = hn.ops.relu(hn.ops.sum(x * w) + 1.0)  # 0-d
            return grad(r * r, [w])

        for x, expected in [(np.array([1.0, 0.25]), [2.0, 0.5]), (np.array([1.0, 1.0]), [0.0, 0.0])]:
            (gradient,), source = _traced_source(squared_relu_gradient, x)
            assert "= relu_grad_in_place_" in source
            np.testing.assert_array_equal(gradient, expected)  # 2 relu(x . w + 1) x
