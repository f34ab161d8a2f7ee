"""``keras.ops`` control flow: values against Python loops and NumPy, gradients, and, in a traced step, choices
and loop lengths that follow each batch's data instead of the batch the step was traced on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import numeric_gradient

import highnn as hn
from highnn import ops
from highnn.backends import to_host
from highnn.tracing import TracedFunction

RNG = np.random.default_rng(23)


class DataDependent(hn.layers.Layer):
    """Per batch: doubles it if its sum is positive, else negates it; then halves it while its largest magnitude
    is above 1 (at most 8 times), and picks one of three branches by the sign of its first element."""

    def call(self, x: hn.Tensor) -> hn.Tensor:
        x = ops.cond(ops.sum(x) > 0, lambda: x * 2.0, lambda: -x)
        x = ops.while_loop(lambda v: ops.max(ops.abs(v)) > 1.0, lambda v: v * 0.5, x, maximum_iterations=8)
        branch = ops.cast(ops.sign(x[0, 0]) + 1.0, "int32")  # 0, 1 or 2
        return ops.switch(branch, [lambda v: v - 10.0, lambda v: v, lambda v: v + 10.0], x)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


def reference(batch: np.ndarray) -> np.ndarray:
    x = batch * 2.0 if batch.sum() > 0 else -batch
    for _ in range(8):
        if np.abs(x).max() <= 1.0:
            break
        x = x * 0.5
    return x + 10.0 * np.sign(x[0, 0])


def test_choices_and_loop_lengths_follow_each_batch_in_a_traced_step(backend64: str) -> None:
    batches = [RNG.uniform(0.5, 3.0, (4, 3)), -RNG.uniform(0.1, 0.3, (4, 3)), RNG.uniform(-9, 1.0, (4, 3))]
    model = hn.Sequential([hn.Input((3,)), DataDependent()])
    out = model.predict(np.concatenate(batches), batch_size=4, verbose=0)  # traced on the first batch
    for i, batch in enumerate(batches):
        np.testing.assert_allclose(out[4 * i : 4 * i + 4], reference(batch), rtol=1e-12)
    (function,) = model._functions.values()
    assert len(function.programs) == 1, "one program, replayed on every batch"


def test_cond_runs_one_branch_for_a_python_bool_and_selects_for_a_tensor(float64: None) -> None:
    calls: list[str] = []

    def branch(name: str, value: float) -> Any:
        def run() -> Any:
            calls.append(name)
            return value

        return run

    assert ops.cond(True, branch("a", 1.0), branch("b", 2.0)) == 1.0 and calls == ["a"]
    x = hn.tensor(np.array(1.5), requires_grad=True)
    out = ops.cond(x > 1.0, lambda: x * x, lambda: -x)
    (grad,) = hn.grad(out, [x])
    assert float(out.numpy()) == 2.25 and float(grad.numpy()) == 3.0  # the gradient of the branch taken
    pair = ops.cond(x < 1.0, lambda: (x, {"y": x * 2}), lambda: (x * 3, {"y": x * 4}))
    assert isinstance(pair, tuple) and float(pair[0].numpy()) == 4.5 and float(pair[1]["y"].numpy()) == 6.0
    with pytest.raises(ValueError, match=r"cond: `pred` must be a scalar \(a bool or a tensor of shape \(\)\)"):
        ops.cond(hn.tensor(np.ones(2)) > 0, lambda: 1.0, lambda: 2.0)


def test_switch_clamps_the_index_as_keras(float64: None) -> None:
    branches = [lambda v: v + 1.0, lambda v: v * 10.0, lambda v: -v]
    for index, expected in [(-3, 3.0), (0, 3.0), (1, 20.0), (2, -2.0), (7, -2.0)]:
        assert float(ops.switch(index, branches, hn.tensor(2.0)).numpy()) == expected
        assert float(ops.switch(hn.tensor(index), branches, hn.tensor(2.0)).numpy()) == expected
    with pytest.raises(ValueError, match="switch: `branches` must be a non-empty list of functions"):
        ops.switch(0, [], 1.0)


def test_fori_loop_and_its_gradient(backend64: str) -> None:
    x = hn.tensor(np.array([0.5, -1.0]), requires_grad=True)
    out = ops.fori_loop(1, 4, lambda i, v: v * v + float(i), x)  # ((x^2 + 1)^2 + 2)^2 + 3
    expected = ((np.array([0.5, -1.0]) ** 2 + 1) ** 2 + 2) ** 2 + 3
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    (grad,) = hn.grad(ops.sum(out), [x])
    numeric = numeric_gradient(lambda v: float((((v**2 + 1) ** 2 + 2) ** 2 + 3).sum()), np.array([0.5, -1.0]))
    np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-6)
    assert float(ops.fori_loop(0, hn.tensor(3), lambda i, v: v + i, 0.0)) == 3.0  # a tensor bound, eagerly


def test_a_tensor_loop_bound_inside_a_traced_step_is_refused() -> None:
    class Looping(hn.layers.Layer):
        def call(self, x: hn.Tensor) -> hn.Tensor:
            return ops.fori_loop(0, ops.cast(ops.sum(x), "int32"), lambda i, v: v + 1.0, x)

        def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return input_shape

    model = hn.Sequential([hn.Input((2,)), Looping()])
    with pytest.raises(TypeError, match=r"fori_loop: `upper` must be a Python int \(or, outside a traced step"):
        model.predict(np.ones((2, 2)), verbose=0)


def test_while_loop_eagerly_and_with_tuples(float64: None) -> None:
    def collatz_steps(n: int) -> int:
        def step(value: hn.Tensor, count: hn.Tensor) -> tuple[hn.Tensor, hn.Tensor]:
            odd = ops.equal(ops.mod(value, 2), 1)
            return ops.where(odd, 3 * value + 1, ops.floor_divide(value, 2)), count + 1

        _, count = ops.while_loop(lambda v, c: v != 1, step, (hn.tensor(n), hn.tensor(0)))
        return int(count)

    assert [collatz_steps(n) for n in (1, 6, 7, 27)] == [0, 8, 16, 111]
    capped = ops.while_loop(lambda v: v < 100.0, lambda v: v * 2.0, hn.tensor(1.0), maximum_iterations=3)
    assert float(capped.numpy()) == 8.0
    with pytest.raises(ValueError, match="while_loop: `maximum_iterations` must be None or an int >= 0"):
        ops.while_loop(lambda v: v < 1.0, lambda v: v, 0.0, maximum_iterations=-1)


def test_while_loop_in_a_traced_step_needs_maximum_iterations() -> None:
    class Halving(hn.layers.Layer):
        def call(self, x: hn.Tensor) -> hn.Tensor:
            return ops.while_loop(lambda v: ops.max(v) > 1.0, lambda v: v * 0.5, x)

        def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
            return input_shape

    model = hn.Sequential([hn.Input((2,)), Halving()])
    with pytest.raises(ValueError, match="while_loop: `maximum_iterations` must be an int inside a traced step"):
        model.predict(np.ones((2, 2)) * 4.0, verbose=0)


def test_scan_map_and_associative_scan_match_numpy(backend64: str) -> None:
    xs = RNG.normal(size=(5, 3))

    def running(carry: hn.Tensor, x: hn.Tensor) -> tuple[hn.Tensor, hn.Tensor]:
        total = carry + x
        return total, total * 2.0

    carry, ys = ops.scan(running, np.zeros(3), xs)
    np.testing.assert_allclose(carry.numpy(), xs.sum(0), rtol=1e-12)
    np.testing.assert_allclose(ys.numpy(), 2.0 * np.cumsum(xs, 0), rtol=1e-12)
    carry, ys = ops.scan(running, np.zeros(3), xs, reverse=True)
    np.testing.assert_allclose(ys.numpy(), 2.0 * np.cumsum(xs[::-1], 0)[::-1], rtol=1e-12)
    count, powers = ops.scan(lambda c, _: (c * 2.0, c), hn.tensor(1.0), length=4)
    assert float(count.numpy()) == 16.0 and powers.numpy().tolist() == [1.0, 2.0, 4.0, 8.0]
    pairs = ops.map(lambda pair: {"sum": pair[0] + pair[1], "first": pair[0]}, (xs, xs * 3.0))
    np.testing.assert_allclose(pairs["sum"].numpy(), 4.0 * xs, rtol=1e-12)
    np.testing.assert_allclose(ops.vectorized_map(lambda row: ops.sum(row), xs).numpy(), xs.sum(1), rtol=1e-12)
    np.testing.assert_allclose(ops.associative_scan(ops.add, xs, axis=1).numpy(), np.cumsum(xs, 1), rtol=1e-12)
    np.testing.assert_allclose(
        ops.associative_scan(ops.maximum, xs, reverse=True).numpy(), np.maximum.accumulate(xs[::-1], 0)[::-1]
    )


def test_scan_gradient_matches_finite_differences(float64: None) -> None:
    xs = RNG.normal(size=(4, 2))
    weights = RNG.normal(size=(4, 2))

    def loss(values: np.ndarray | hn.Tensor) -> Any:
        _, ys = ops.scan(lambda c, x: (ops.tanh(c * 0.9 + x), c * x), np.zeros(2), values)
        return ops.sum(ys * weights)

    x = hn.tensor(xs, requires_grad=True)
    (grad,) = hn.grad(loss(x), [x])
    np.testing.assert_allclose(grad.numpy(), numeric_gradient(lambda v: float(loss(v).numpy()), xs), rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ops.scan(lambda c, x: (c, x), 0.0), "scan: `length` must be an int >= 0 when `xs` is None"),
        (lambda: ops.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4))),
         "scan: `xs` must be tensors with one common leading axis"),
        (lambda: ops.scan(lambda c, x: (c, x), 0.0, np.ones(3), length=2),
         r"scan: `length` must be None or the leading axis of `xs` \(3\)"),
        (lambda: ops.associative_scan(ops.add, np.float64(1.0)), "associative_scan: `elems` must be tensors"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


@ops.custom_gradient
def log1pexp(x: hn.Tensor) -> tuple[hn.Tensor, Any]:
    """Keras's documentation example: a gradient that stays finite where ``exp`` overflows."""
    e = ops.exp(x)

    def grad(*args: hn.Tensor, upstream: hn.Tensor | None = None) -> hn.Tensor:
        if upstream is None:
            (upstream,) = args
        return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1, e))

    return ops.log(1 + e), grad


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_custom_gradient_replaces_the_operations_gradient(backend64: str) -> None:
    x = hn.tensor(np.array([100.0, 0.0, -3.0]), requires_grad=True)
    (grad,) = hn.grad(ops.sum(log1pexp(x)), [x])
    np.testing.assert_allclose(grad.numpy(), [1.0, 0.5, 1.0 / (1.0 + np.exp(3.0))], rtol=1e-12)
    (second,) = hn.grad(ops.sum(hn.grad(ops.sum(log1pexp(x)), [x], create_graph=True)[0]), [x])
    np.testing.assert_allclose(second.numpy()[1:], [0.25, np.exp(-3.0) / (1.0 + np.exp(-3.0)) ** 2], rtol=1e-10)


def test_custom_gradient_in_a_traced_train_step() -> None:
    @ops.custom_gradient
    def frozen(x: hn.Tensor) -> tuple[hn.Tensor, Any]:
        return x, lambda upstream: upstream * 0.0  # the layers before learn nothing

    class Freeze(hn.layers.Layer):
        def call(self, x: hn.Tensor) -> hn.Tensor:
            return frozen(x)

    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((3,)), hn.layers.Dense(4), Freeze(), hn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    model.fit(RNG.normal(size=(16, 3)), RNG.normal(size=16), batch_size=8, epochs=2, verbose=0)
    after = model.get_weights()
    for a, b in zip(before[:2], after[:2]):
        np.testing.assert_array_equal(a, b)  # behind the frozen gradient
    assert not np.allclose(before[2], after[2])  # the last layer trains


def test_custom_gradient_needs_one_adjoint_per_argument() -> None:
    @ops.custom_gradient
    def pair(x: hn.Tensor, y: hn.Tensor) -> tuple[hn.Tensor, Any]:
        return x * y, lambda upstream: upstream

    x, y = hn.tensor(1.0, requires_grad=True), hn.tensor(2.0, requires_grad=True)
    with pytest.raises(ValueError, match=r"custom_gradient\(pair\): `the gradient function's result` must be one "
                                         r"adjoint per argument \(2\), received '1 adjoints'"):  # fmt: skip
        hn.grad(pair(x, y), [x, y])


def test_vectorize_matches_numpys_vectorize_with_broadcasting_signatures_and_excluded_arguments(
    backend64: str,
) -> None:
    """Element by element (or core block by core block) over the broadcast leading axes, as np.vectorize;
    gradients flow through; the same in a traced step."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 1)), rng.normal(size=(4,))
    pairwise = ops.vectorize(lambda a, b: a * b + 1.0)
    np.testing.assert_allclose(to_host(pairwise(x, y).value), np.vectorize(lambda a, b: a * b + 1.0)(x, y))
    matrices, vectors = rng.normal(size=(2, 3, 4)), rng.normal(size=(4,))
    product = ops.vectorize(lambda m, v: m @ v, signature="(m,n),(n)->(m)")
    np.testing.assert_allclose(to_host(product(matrices, vectors).value), matrices @ vectors, atol=1e-12)
    scaled = ops.vectorize(lambda a, scale: a * scale[0] + scale[1], excluded={1})
    np.testing.assert_allclose(to_host(scaled(x, [2.0, 0.5]).value), x * 2.0 + 0.5)
    inputs = hn.tensor(matrices, requires_grad=True)
    (gradient,) = hn.grad(product(inputs, vectors).sum(), [inputs])
    np.testing.assert_allclose(to_host(gradient.value), np.broadcast_to(vectors, matrices.shape), atol=1e-12)
    traced = TracedFunction(lambda m: [product(m, vectors)])
    (out,) = traced(hn.tensor(matrices).value)
    np.testing.assert_allclose(to_host(out), matrices @ vectors, atol=1e-12)


def test_vectorize_checks_its_arguments() -> None:
    with pytest.raises(
        ValueError, match=r'vectorize: `signature` must be a gufunc signature such as "\(n\),\(n\)->\(\)"'
    ):
        ops.vectorize(lambda a: a, signature="n->()")
    with pytest.raises(ValueError, match=r"vectorize: `excluded` must be positions \(ints\)"):
        ops.vectorize(lambda a: a, excluded={"a"})
    with pytest.raises(ValueError, match=r"vectorize: `signature` must be 2 input blocks"):
        ops.vectorize(lambda a, b: a, signature="(n)->()")(np.ones(3), np.ones(3))
