"""The graph engine: forward values, backprop, shared nodes, broadcasting, deep chains, rendering."""

import numpy as np
import pytest
from helpers import numeric_gradient

import highnn as hn
from highnn.graph import topological_order


def test_seed_graph_values_and_gradients() -> None:
    a = hn.tensor(2.0, requires_grad=True)
    b = hn.tensor(3.0, requires_grad=True)
    c = a * b
    y = (c + 1) * (c + 2)
    y.backward()
    assert y.item() == 56.0
    assert a.grad.item() == 45.0 and b.grad.item() == 30.0
    assert isinstance(a.grad.numpy(), np.ndarray)


def test_shared_node_is_visited_once_and_gradients_accumulate() -> None:
    a = hn.tensor(2.0, requires_grad=True)
    b = hn.tensor(3.0, requires_grad=True)
    c = a * b
    y = (c + 1) * (c + 2)
    order = topological_order(y)
    assert sum(t is c for t in order) == 1
    positions = {id(t): i for i, t in enumerate(order)}
    for t in order:  # parents before children
        for parent in t.node.parents if t.node else ():
            if parent.requires_grad:
                assert positions[id(parent)] < positions[id(t)]
    (gc,) = hn.grad(y, [c])
    assert gc.item() == (6 + 2) + (6 + 1)


def test_backward_accumulates_into_grad_like_pytorch() -> None:
    a = hn.tensor(3.0, requires_grad=True)
    (a * a).backward()
    (a * a).backward()
    assert a.grad.item() == 12.0


def test_topological_order_is_deterministic() -> None:
    def build() -> list[str]:
        x = hn.tensor(1.5, requires_grad=True, name="x")
        y = hn.tensor(0.5, requires_grad=True, name="y")
        z = hn.ops.exp(x * y) + hn.ops.tanh(x) * y
        return [t.node.primitive.name if t.node else t.name for t in topological_order(z)]

    assert build() == build() == ["x", "y", "mul", "exp", "tanh", "mul", "add"]


def test_ten_thousand_node_chain() -> None:
    x = hn.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    (g,) = hn.grad(y, [x])
    assert g.item() == pytest.approx(1.0001**10_000, rel=1e-3)
    assert len(topological_order(y)) == 10_001


def test_broadcast_gradients_are_summed_back(float64: None) -> None:
    x = hn.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    bias = hn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    column = hn.tensor(np.array([[2.0], [3.0]]), requires_grad=True)
    y = ((x + bias) * column).sum()
    gx, gbias, gcolumn = hn.grad(y, [x, bias, column])
    np.testing.assert_allclose(gx.numpy(), [[2, 2, 2], [3, 3, 3]])
    np.testing.assert_allclose(gbias.numpy(), [5, 5, 5])
    np.testing.assert_allclose(gcolumn.numpy(), [[0 + 1 + 2 + 6], [3 + 4 + 5 + 6]])


def test_grad_of_unrelated_tensor_is_zero_and_shaped() -> None:
    x = hn.tensor(np.ones((2, 2)), requires_grad=True)
    unrelated = hn.tensor(np.ones(3), requires_grad=True)
    grads = hn.grad((x * 2.0).sum(), [x, unrelated])
    np.testing.assert_array_equal(grads[1].numpy(), np.zeros(3))


def test_second_derivative_with_create_graph(float64: None) -> None:
    x = hn.tensor(1.3, requires_grad=True)
    y = x * x * x
    (dy,) = hn.grad(y, [x], create_graph=True)
    (d2y,) = hn.grad(dy, [x])
    assert dy.item() == pytest.approx(3 * 1.3**2)
    assert d2y.item() == pytest.approx(6 * 1.3)


def test_matmul_gradients_match_finite_differences(float64: None) -> None:
    rng = np.random.default_rng(0)
    a0, b0 = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    a, b = hn.tensor(a0, requires_grad=True), hn.tensor(b0, requires_grad=True)
    ga, gb = hn.grad(hn.ops.tanh(a @ b).sum(), [a, b])
    np.testing.assert_allclose(ga.numpy(), numeric_gradient(lambda v: np.tanh(v @ b0).sum(), a0), atol=1e-7)
    np.testing.assert_allclose(gb.numpy(), numeric_gradient(lambda v: np.tanh(a0 @ v).sum(), b0), atol=1e-7)


def test_no_grad_builds_no_graph() -> None:
    x = hn.tensor(2.0, requires_grad=True)
    with hn.no_grad():
        y = x * 3.0
    assert y.node is None and not y.requires_grad


def test_detach_stops_gradients() -> None:
    x = hn.tensor(2.0, requires_grad=True)
    y = x * x.detach()
    (g,) = hn.grad(y, [x])
    assert g.item() == 2.0


def test_indexing_gradient(float64: None) -> None:
    x = hn.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    (g,) = hn.grad((x[1:, ::2] * 3.0).sum(), [x])
    expected = np.zeros((3, 4))
    expected[1:, ::2] = 3.0
    np.testing.assert_array_equal(g.numpy(), expected)


def test_backward_of_non_scalar_needs_a_gradient() -> None:
    x = hn.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"non-scalar output \(shape \(3,\)\)"):
        (x * 2.0).backward()
    (x * 2.0).backward(np.array([1.0, 2.0, 3.0], dtype="float32"))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_shape_errors_name_operation_and_shapes() -> None:
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        hn.tensor(np.ones((2, 3))) + hn.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"matmul: the last axis of the first operand \(3\) must match"):
        hn.tensor(np.ones((2, 3))) @ hn.tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match="operands must have one dtype, received float32 and float64"):
        hn.tensor(np.ones(2), dtype="float32") + hn.tensor(np.ones(2), dtype="float64")
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\) into shape \(4, 2\)"):
        hn.tensor(np.ones((2, 3))).reshape(4, 2)


def test_text_and_dot_rendering_of_the_seed_graph() -> None:
    a = hn.tensor(2.0, requires_grad=True, name="a")
    b = hn.tensor(3.0, requires_grad=True, name="b")
    c = a * b
    y = (c + 1) * (c + 2)
    y.backward()
    text = hn.graph.to_text(y).splitlines()
    assert text[0] == "%0 = a  () = 2" and text[2] == "%2 = mul(%0, %1)  () = 6"
    assert text[-1] == "%7 = mul(%4, %6)  () = 56"
    dot = hn.graph.to_dot(y)
    assert dot.startswith("digraph highnn {") and dot.rstrip().endswith("}")
    assert 'label="a () = 2\\ngrad = 45"' in dot
    assert dot.count("n2 ->") == 2  # the shared node a*b feeds both additions
    assert dot.count("->") == 8


def test_scalar_tensors_convert_to_python_numbers_and_indices() -> None:
    assert float(hn.tensor(2.5)) == 2.5 and int(hn.tensor(3.7)) == 3 and int(hn.tensor(4)) == 4
    assert list(range(hn.tensor(3))) == [0, 1, 2] and [10, 20, 30][hn.tensor(1)] == 20
    assert bool(hn.tensor(1.0)) is True
    with pytest.raises(TypeError, match="Only an integer scalar tensor can be an index, received shape \\(\\), float"):
        [1, 2][hn.tensor(1.0)]
    with pytest.raises(TypeError, match="Only an integer scalar tensor can be an index, received shape \\(2,\\)"):
        range(hn.tensor([1, 2]))
    with pytest.raises(ValueError, match="The truth value of a tensor of shape \\(2,\\) is ambiguous"):
        bool(hn.tensor([1.0, 2.0]))
