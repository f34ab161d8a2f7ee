"""Keras's ``keras.ops`` surface, ``hn.random``, the Keras settings in ``hn.config`` and ``hn.utils``.

One table drives the ops: every function's values against NumPy on every backend (float64),
and, for the differentiable ones, highnn's gradient against central finite differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import assert_gradient_matches_finite_differences, assert_matches_reference

import highnn as hn
from highnn import ops

RNG = np.random.default_rng(7)
X = RNG.uniform(-2.0, 2.0, (3, 4))
V = RNG.uniform(-2.0, 2.0, (5,))
P = RNG.uniform(0.5, 2.0, (3, 4))
Y = RNG.uniform(-2.0, 2.0, (4, 2))
B = RNG.uniform(-2.0, 2.0, (2, 3, 4))
LOGITS = RNG.uniform(-2.0, 2.0, (3, 5))
TARGET = np.eye(5)[[1, 4, 0]]
LABELS = np.array([1, 4, 0])
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - x.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x)


Case = tuple[str, Callable[..., Any], Callable[..., Any], tuple[np.ndarray, ...], bool]
# (id, highnn function, NumPy reference, inputs, differentiable in the first input)
CASES: list[Case] = [
    # shapes
    ("reshape", lambda x: ops.reshape(x, (4, 3)), lambda x: x.reshape(4, 3), (X,), True),
    ("expand_dims", lambda x: ops.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), (X,), True),
    ("expand_dims-many", lambda x: ops.expand_dims(x, (0, -1)), lambda x: np.expand_dims(x, (0, -1)), (X,), True),
    ("squeeze", lambda x: ops.squeeze(x), lambda x: np.squeeze(x), (X[:1, None],), True),
    ("squeeze-axis", lambda x: ops.squeeze(x, 1), lambda x: np.squeeze(x, 1), (X[:, None],), True),
    ("tile", lambda x: ops.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), (X,), True),
    ("tile-int", lambda x: ops.tile(x, 2), lambda x: np.tile(x, 2), (X,), True),
    ("repeat", lambda x: ops.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1), (X,), True),
    ("repeat-flat", lambda x: ops.repeat(x, 3), lambda x: np.repeat(x, 3), (X,), True),
    ("repeat-counts", lambda x: ops.repeat(x, [1, 0, 2], 0), lambda x: np.repeat(x, [1, 0, 2], 0), (X,), True),
    (
        "repeat-counts-int",
        lambda x: ops.repeat(x, [2, 1], 1),
        lambda x: np.repeat(x, [2, 1], 1),
        (LABELS[:2, None] * [1, 3],),
        False,
    ),
    ("sort-int", ops.sort, np.sort, (np.array([[3, -1, 2], [0, 5, 0]]),), False),
    ("round-int", ops.round, np.round, (np.arange(-3, 3),), False),
    ("flip", lambda x: ops.flip(x, 1), lambda x: np.flip(x, 1), (X,), True),
    ("flip-all", lambda x: ops.flip(x), lambda x: np.flip(x), (B,), True),
    ("swapaxes", lambda x: ops.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2), (B,), True),
    ("moveaxis", lambda x: ops.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), (B,), True),
    ("moveaxis-many", lambda x: ops.moveaxis(x, [0, 1], [2, 0]), lambda x: np.moveaxis(x, [0, 1], [2, 0]), (B,), True),
    ("transpose", lambda x: ops.transpose(x, (1, 2, 0)), lambda x: np.transpose(x, (1, 2, 0)), (B,), True),
    ("broadcast_to", lambda x: ops.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)), (X,), True),
    # arithmetic
    ("add", ops.add, np.add, (X, Y[:, 0]), True),
    ("subtract", ops.subtract, np.subtract, (X, P), True),
    ("multiply", ops.multiply, np.multiply, (X, P), True),
    ("divide", ops.divide, np.divide, (X, P), True),
    ("true_divide", ops.true_divide, np.true_divide, (X, P), True),
    ("negative", ops.negative, np.negative, (X,), True),
    ("power", lambda x: ops.power(x, 3.0), lambda x: np.power(x, 3.0), (X,), True),
    ("square", ops.square, np.square, (X,), True),
    ("sqrt", ops.sqrt, np.sqrt, (P,), True),
    ("exp", ops.exp, np.exp, (X,), True),
    ("log", ops.log, np.log, (P,), True),
    ("abs", ops.abs, np.abs, (X,), True),
    ("absolute", ops.absolute, np.absolute, (X,), True),
    ("clip", lambda x: ops.clip(x, x_min=-1.0, x_max=0.5), lambda x: np.clip(x, -1.0, 0.5), (X,), True),
    ("sign", ops.sign, np.sign, (X,), False),
    ("sin", ops.sin, np.sin, (X,), True),
    ("cos", ops.cos, np.cos, (X,), True),
    ("tanh", ops.tanh, np.tanh, (X,), True),
    ("erf", ops.erf, _erf, (X,), True),
    ("floor", ops.floor, np.floor, (X,), False),
    ("ceil", ops.ceil, np.ceil, (X,), False),
    ("round", ops.round, np.round, (np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6]),), False),
    ("round-decimals", lambda x: ops.round(x, 1), lambda x: np.round(x, 1), (X,), False),
    ("maximum", ops.maximum, np.maximum, (X, P), True),
    ("minimum", ops.minimum, np.minimum, (X, P), True),
    ("cumsum", lambda x: ops.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), (X,), True),
    ("cumsum-flat", ops.cumsum, np.cumsum, (X,), True),
    ("cumprod", lambda x: ops.cumprod(x, axis=0), lambda x: np.cumprod(x, axis=0), (X,), True),
    ("cumprod-zeros", ops.cumprod, np.cumprod, (np.array([[2.0, 0.0, 3.0], [0.0, -1.5, 2.0]]),), True),
    ("prod", ops.prod, np.prod, (X,), True),
    (
        "prod-axis",
        lambda x: ops.prod(x, axis=(0, 2), keepdims=True),
        lambda x: np.prod(x, (0, 2), keepdims=True),
        (B,),
        True,
    ),
    (
        "prod-zeros",
        lambda x: ops.prod(x, 1),
        lambda x: np.prod(x, 1),
        (np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 2.0]]),),
        True,
    ),
    # comparisons and logic
    ("equal", ops.equal, np.equal, (np.round(X), np.round(P)), False),
    ("not_equal", ops.not_equal, np.not_equal, (np.round(X), np.round(P)), False),
    ("greater", ops.greater, np.greater, (X, P), False),
    ("greater_equal", ops.greater_equal, np.greater_equal, (X, P), False),
    ("less", ops.less, np.less, (X, P), False),
    ("less_equal", ops.less_equal, np.less_equal, (X, P), False),
    ("logical_and", ops.logical_and, np.logical_and, (X > 0, P > 1), False),
    ("logical_or", ops.logical_or, np.logical_or, (X > 0, np.round(P) - 1), False),
    ("logical_not", ops.logical_not, np.logical_not, (np.round(X),), False),
    ("where", lambda x, y: ops.where(x > 0, x, y), lambda x, y: np.where(x > 0, x, y), (X, P), True),
    # reductions
    ("sum", lambda x: ops.sum(x, axis=1), lambda x: np.sum(x, axis=1), (X,), True),
    ("mean", lambda x: ops.mean(x, axis=0, keepdims=True), lambda x: np.mean(x, 0, keepdims=True), (X,), True),
    ("var", lambda x: ops.var(x, axis=1), lambda x: np.var(x, axis=1), (X,), True),
    ("std", ops.std, np.std, (X,), True),
    ("max", lambda x: ops.max(x, axis=1), lambda x: np.max(x, axis=1), (X,), True),
    ("min", lambda x: ops.min(x, axis=0), lambda x: np.min(x, axis=0), (X,), True),
    ("argmax", lambda x: ops.argmax(x, axis=1), lambda x: np.argmax(x, axis=1), (X,), False),
    ("argmax-flat", ops.argmax, np.argmax, (X,), False),
    ("argmin-keepdims", lambda x: ops.argmin(x, 0, True), lambda x: np.argmin(x, 0, keepdims=True), (X,), False),
    ("norm", ops.norm, np.linalg.norm, (X,), True),
    ("norm-axis", lambda x: ops.norm(x, axis=1), lambda x: np.linalg.norm(x, axis=1), (X,), True),
    ("norm-l1", lambda x: ops.norm(x, 1), lambda x: np.linalg.norm(x, 1), (V,), True),
    ("norm-p3", lambda x: ops.norm(x, 3, axis=-1), lambda x: np.linalg.norm(x, 3, axis=-1), (X,), True),
    ("norm-inf", lambda x: ops.norm(x, np.inf), lambda x: np.linalg.norm(x, np.inf), (V,), True),
    ("norm-0", lambda x: ops.norm(x, 0), lambda x: np.linalg.norm(x, 0), (np.round(V),), False),
    ("norm-fro", lambda x: ops.norm(x, "fro", (1, 2)), lambda x: np.linalg.norm(x, "fro", (1, 2)), (B,), True),
    (
        "norm-matrix-1",
        lambda x: ops.norm(x, 1, keepdims=True),
        lambda x: np.linalg.norm(x, 1, keepdims=True),
        (X,),
        True,
    ),
    ("norm-matrix-inf", lambda x: ops.norm(x, -np.inf), lambda x: np.linalg.norm(x, -np.inf), (X,), True),
    # sorting
    ("sort", ops.sort, np.sort, (X,), True),
    ("sort-axis", lambda x: ops.sort(x, axis=0), lambda x: np.sort(x, axis=0), (B,), True),
    ("argsort", ops.argsort, lambda x: np.argsort(x, kind="stable"), (np.round(B),), False),
    ("argsort-flat", lambda x: ops.argsort(x, None), lambda x: np.argsort(x, None, kind="stable"), (X,), False),
    ("top_k", lambda x: ops.top_k(x, 2)[0], lambda x: -np.sort(-x)[..., :2], (X,), True),
    (
        "top_k-indices",
        lambda x: ops.top_k(x, 3)[1],
        lambda x: np.argsort(-x, kind="stable")[..., :3],
        (np.round(X),),
        False,
    ),
    # products
    ("matmul", ops.matmul, np.matmul, (X, Y), True),
    ("dot", ops.dot, np.dot, (X, Y), True),
    ("dot-nd", ops.dot, np.dot, (B, Y), True),
    ("dot-vector", ops.dot, np.dot, (X, X[0]), True),
    ("dot-scalar", ops.dot, np.dot, (X, np.array(2.0)), True),
    ("tensordot", ops.tensordot, np.tensordot, (B, B[0]), True),
    (
        "tensordot-axes",
        lambda a, b: ops.tensordot(a, b, ([0], [1])),
        lambda a, b: np.tensordot(a, b, ([0], [1])),
        (X, Y.T[:, :3]),
        True,
    ),
    (
        "einsum-matmul",
        lambda a, b: ops.einsum("ij,jk->ik", a, b),
        lambda a, b: np.einsum("ij,jk->ik", a, b),
        (X, Y),
        True,
    ),
    (
        "einsum-batch",
        lambda a, b: ops.einsum("bij,kj->bki", a, b),
        lambda a, b: np.einsum("bij,kj->bki", a, b),
        (B, X),
        True,
    ),
    ("einsum-trace-sum", lambda a: ops.einsum("ij->", a), lambda a: np.einsum("ij->", a), (X,), True),
    ("einsum-implicit", lambda a: ops.einsum("ij", a), lambda a: np.einsum("ij", a), (X,), True),
    ("einsum-transpose", lambda a: ops.einsum("bij->jbi", a), lambda a: np.einsum("bij->jbi", a), (B,), True),
    (
        "einsum-outer",
        lambda a, b: ops.einsum("i,j->ij", a, b),
        lambda a, b: np.einsum("i,j->ij", a, b),
        (V, X[0]),
        True,
    ),
    (
        "einsum-three",
        lambda a, b, c: ops.einsum("ij,jk,kl->il", a, b, c),
        lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c),
        (X, Y, Y.T),
        True,
    ),
    (
        "einsum-attention",
        lambda a, b: ops.einsum("bqd,bkd->bqk", a, b),
        lambda a, b: np.einsum("bqd,bkd->bqk", a, b),
        (B, B[:, :2]),
        True,
    ),
    # nn
    ("relu", ops.relu, lambda x: np.maximum(x, 0), (X,), True),
    ("relu6", ops.relu6, lambda x: np.clip(x, 0, 6), (X * 4,), True),
    ("sigmoid", ops.sigmoid, _sigmoid, (X,), True),
    ("softplus", ops.softplus, lambda x: np.log1p(np.exp(x)), (X,), True),
    ("softsign", ops.softsign, lambda x: x / (1 + np.abs(x)), (X,), True),
    ("silu", ops.silu, lambda x: x * _sigmoid(x), (X,), True),
    (
        "gelu",
        ops.gelu,
        lambda x: x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))) / 2,
        (X,),
        True,
    ),
    (
        "gelu-exact",
        lambda x: ops.gelu(x, approximate=False),
        lambda x: x * (1 + _erf(x / math.sqrt(2))) / 2,
        (X,),
        True,
    ),
    ("elu", ops.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), (X,), True),
    (
        "selu",
        ops.selu,
        lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1)),
        (X,),
        True,
    ),
    ("leaky_relu", ops.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), (X,), True),
    ("hard_sigmoid", ops.hard_sigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1), (X * 2,), True),
    ("softmax", ops.softmax, lambda x: np.exp(_log_softmax(x)), (X,), True),
    ("softmax-axis", lambda x: ops.softmax(x, 0), lambda x: np.exp(_log_softmax(x, 0)), (X,), True),
    ("log_softmax", ops.log_softmax, _log_softmax, (X,), True),
    ("one_hot", lambda x: ops.one_hot(x, 5), lambda x: np.eye(5)[x], (LABELS,), False),
    ("one_hot-axis", lambda x: ops.one_hot(x, 5, axis=0), lambda x: np.eye(5)[x].T, (LABELS,), False),
    (
        "binary_crossentropy",
        lambda p, t: ops.binary_crossentropy(t, p),
        lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)),
        (PROBS, TARGET),
        True,
    ),
    (
        "binary_crossentropy-logits",
        lambda x, t: ops.binary_crossentropy(t, x, from_logits=True),
        lambda x, t: -(t * np.log(_sigmoid(x)) + (1 - t) * np.log(1 - _sigmoid(x))),
        (LOGITS, TARGET),
        True,
    ),
    (
        "categorical_crossentropy",
        lambda p, t: ops.categorical_crossentropy(t, p),
        lambda p, t: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1),
        (PROBS * 2, TARGET),
        True,
    ),
    (
        "categorical_crossentropy-logits-axis0",
        lambda x, t: ops.categorical_crossentropy(t, x, from_logits=True, axis=0),
        lambda x, t: -(t * _log_softmax(x, 0)).sum(0),
        (LOGITS.T, TARGET.T),
        True,
    ),
    (
        "sparse_categorical_crossentropy",
        lambda p, t: ops.sparse_categorical_crossentropy(t, p),
        lambda p, t: -np.log((p / p.sum(-1, keepdims=True))[np.arange(3), t]),
        (PROBS, LABELS),
        True,
    ),
    (
        "sparse_categorical_crossentropy-logits",
        lambda x, t: ops.sparse_categorical_crossentropy(t, x, from_logits=True),
        lambda x, t: -_log_softmax(x)[np.arange(3), t],
        (LOGITS, LABELS),
        True,
    ),
    # creation (inputs only give the shape)
    ("zeros_like", ops.zeros_like, np.zeros_like, (X,), False),
    ("ones_like", ops.ones_like, np.ones_like, (X,), False),
    ("full_like", lambda x: ops.full_like(x, 3.5), lambda x: np.full_like(x, 3.5), (X,), False),
    ("stop_gradient", ops.stop_gradient, lambda x: x, (X,), False),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "fn", "reference", "inputs", "differentiable"), CASES, ids=IDS)
def test_values_match_numpy(
    backend64: str, name: str, fn: Callable[..., Any], reference: Callable[..., Any], inputs: Any, differentiable: bool
) -> None:
    out, expected = assert_matches_reference(fn, reference, inputs)
    assert out.dtype == ("float64" if expected.dtype.kind == "f" else out.dtype)


GRADIENT_CASES = [case for case in CASES if case[4]]


@pytest.mark.parametrize(
    ("name", "fn", "reference", "inputs", "differentiable"), GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES]
)
def test_gradients_match_finite_differences(
    backend64: str, name: str, fn: Callable[..., Any], reference: Callable[..., Any], inputs: Any, differentiable: bool
) -> None:
    assert_gradient_matches_finite_differences(fn, reference, inputs)


# ------------------------------------------------------------------ creation and core
def test_creation_functions_follow_keras_dtypes() -> None:
    assert ops.zeros((2, 3)).dtype == hn.config.floatx() and ops.zeros(2).shape == (2,)
    np.testing.assert_array_equal(ops.ones((2,), dtype="int32").numpy(), [1, 1])
    assert ops.full((2,), 7).dtype == "int32" and ops.full((2,), 7.0).dtype == hn.config.floatx()
    assert ops.full((1,), True).dtype == "bool"
    np.testing.assert_array_equal(ops.arange(5).numpy(), np.arange(5))
    assert ops.arange(5).dtype == "int32" and ops.arange(0.0, 1.0, 0.25).dtype == hn.config.floatx()
    np.testing.assert_array_equal(ops.arange(2, 9, 3).numpy(), [2, 5, 8])
    np.testing.assert_array_equal(ops.eye(3, 4, k=1).numpy(), np.eye(3, 4, k=1))
    assert ops.full_like(np.arange(3), 2).dtype == "int64" and ops.zeros_like(np.ones(2), "int32").dtype == "int32"
    assert ops.shape(np.ones((2, 5))) == (2, 5)


def test_core_conversions() -> None:
    t = ops.convert_to_tensor([1.0, 2.0], dtype="float64")
    assert ops.is_tensor(t) and not ops.is_tensor([1.0]) and ops.dtype(t) == "float64"
    assert ops.dtype(np.arange(2, dtype=np.int32)) == "int32"
    np.testing.assert_array_equal(ops.convert_to_numpy(t), [1.0, 2.0])
    assert isinstance(ops.convert_to_numpy([1, 2]), np.ndarray)
    assert ops.cast(t, "int32").dtype == "int32"
    with pytest.raises(ValueError, match=r"convert_to_tensor: `sparse` must be False or None"):
        ops.convert_to_tensor([1.0], sparse=True)


def test_top_k_returns_values_and_positions_lower_index_first_at_ties() -> None:
    values, positions = ops.top_k(np.array([[1.0, 5.0, 3.0, 5.0]]), 3)
    np.testing.assert_array_equal(values.numpy(), [[5.0, 5.0, 3.0]])
    np.testing.assert_array_equal(positions.numpy(), [[1, 3, 2]])
    assert positions.dtype == "int32"


def test_sort_sends_each_gradient_back_to_where_the_value_was(float64: None) -> None:
    x = hn.tensor([3.0, 1.0, 2.0], requires_grad=True)
    (grad,) = hn.grad((ops.sort(x) * hn.tensor([1.0, 10.0, 100.0])).sum(), [x])
    np.testing.assert_array_equal(grad.numpy(), [100.0, 1.0, 10.0])


# ------------------------------------------------------------------ argument errors
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: ops.einsum("ii->i", np.ones((2, 2))), ValueError, r"einsum: `subscripts` must be no `\.\.\.`"),
        (lambda: ops.einsum("...i->i", np.ones((2, 2))), ValueError, r"einsum: `subscripts` must be no"),
        (lambda: ops.einsum("ij,jk->ik", np.ones((2, 3))), ValueError, r"one index per axis of each of the 1"),
        (lambda: ops.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 2))), ValueError, r"one length for index 'j'"),
        (lambda: ops.einsum("ij->k", np.ones((2, 3))), ValueError, r"output indices that appear once"),
        (lambda: ops.top_k(np.ones((2, 3)), 4), ValueError, r"top_k: `k` must be an integer in \[1, 3\]"),
        (lambda: ops.norm(np.ones((2, 2)), "nuc"), ValueError, r"norm: `ord` must be .* need an SVD"),
        (lambda: ops.norm(np.ones(3), "fro"), ValueError, r"norm: `ord` must be None, a number"),
        (lambda: ops.norm(np.ones((2, 2, 2)), 1), ValueError, r"norm: `axis` must be given when `ord` is set"),
        (lambda: ops.cumsum(np.ones(3), axis=1), ValueError, r"cumsum: `axis` must be an axis of a tensor of shape"),
        (lambda: ops.squeeze(np.ones((2, 3)), 0), ValueError, r"squeeze: `axis` must be axes of length 1"),
        (lambda: ops.expand_dims(np.ones(2), 3), ValueError, r"expand_dims: `axis` must be in \[-2, 2\)"),
        (lambda: ops.repeat(np.ones(3), [1, 2]), ValueError, r"repeat: `repeats` must be an integer or 3 counts"),
        (lambda: ops.moveaxis(np.ones((2, 3)), [0, 1], [0]), ValueError, r"moveaxis: `destination` must be as many"),
        (lambda: ops.tensordot(np.ones(2), np.ones(2), ([0], [0, 0])), ValueError, r"two lists of equal length"),
        (lambda: ops.where(np.ones(2) > 0), ValueError, r"where: `x1` must be given with `x2`"),
        (lambda: ops.one_hot(np.arange(2), 3, sparse=True), ValueError, r"one_hot: `sparse` must be False"),
        (
            lambda: ops.categorical_crossentropy(np.ones((2, 3)), np.ones((2, 4))),
            ValueError,
            r"categorical_crossentropy: `target` must be of the shape of `output` \(2, 4\), received \(2, 3\)",
        ),
        (
            lambda: ops.sparse_categorical_crossentropy(np.ones((2, 3)), np.ones((2, 4))),
            ValueError,
            r"sparse_categorical_crossentropy: `target` must be integer labels of the shape of `output`",
        ),
        (
            lambda: ops.binary_crossentropy(np.ones(2), np.ones(2) / 2, from_logits="yes"),
            TypeError,
            r"binary_crossentropy: `from_logits` must be True or False",
        ),
    ],
)
def test_bad_arguments_name_what_was_expected(call: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------ hn.random
def test_random_draws_follow_their_laws_and_seeds(backend64: str) -> None:
    normal = hn.random.normal((20000,), mean=1.0, stddev=2.0, seed=3).numpy()
    assert abs(normal.mean() - 1.0) < 0.1 and abs(normal.std() - 2.0) < 0.1
    np.testing.assert_array_equal(normal, hn.random.normal((20000,), mean=1.0, stddev=2.0, seed=3).numpy())
    uniform = hn.random.uniform((2, 5000), minval=-1.0, maxval=3.0, seed=1).numpy()
    assert uniform.shape == (2, 5000) and uniform.min() >= -1.0 and uniform.max() < 3.0
    assert abs(uniform.mean() - 1.0) < 0.1
    ints = hn.random.randint((5000,), 2, 6, seed=1)
    assert ints.dtype == "int32" and set(np.unique(ints.numpy())) == {2, 3, 4, 5}
    truncated = hn.random.truncated_normal((20000,), stddev=0.5, seed=2).numpy()
    assert np.abs(truncated).max() <= 1.0 and abs(truncated.std() - 0.5 * 0.8796) < 0.02
    assert hn.random.uniform((3,), dtype="float32", seed=1).dtype == "float32"


def test_seed_generator_advances_and_reproduces() -> None:
    first = hn.random.SeedGenerator(42)
    a, b = hn.random.normal((4,), seed=first), hn.random.normal((4,), seed=first)
    assert not np.allclose(a.numpy(), b.numpy())
    again = hn.random.SeedGenerator(42)
    np.testing.assert_array_equal(hn.random.normal((4,), seed=again).numpy(), a.numpy())
    np.testing.assert_array_equal(hn.random.normal((4,), seed=again).numpy(), b.numpy())
    assert int(first.state.numpy()) == 44


def test_dropout_and_shuffle(float64: None) -> None:
    x = np.arange(1.0, 2001.0)
    dropped = hn.random.dropout(x, 0.25, seed=5).numpy()
    kept = dropped != 0
    np.testing.assert_allclose(dropped[kept], x[kept] / 0.75)
    assert abs(kept.mean() - 0.75) < 0.05
    shared = hn.random.dropout(np.ones((4, 50)), 0.5, noise_shape=(1, 50), seed=1).numpy()
    assert (shared == shared[:1]).all()
    rows = np.arange(12.0).reshape(6, 2)
    shuffled = hn.random.shuffle(rows, seed=3).numpy()
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, rows)) and not np.array_equal(shuffled, rows)
    np.testing.assert_array_equal(shuffled, hn.random.shuffle(rows, seed=3).numpy())
    columns = hn.random.shuffle(rows, axis=1, seed=4).numpy()
    assert all(sorted(r) == sorted(o) for r, o in zip(columns.tolist(), rows.tolist()))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: hn.random.normal((2,), seed=-1), ValueError, r"normal: `seed` must be an integer in \[0, "),
        (lambda: hn.random.uniform((2, -1)), ValueError, r"uniform: `shape` must be a tuple of integers >= 0"),
        (lambda: hn.random.normal((2,), dtype="int32"), ValueError, r"normal: `dtype` must be a float dtype"),
        (lambda: hn.random.randint((2,), 3, 3), ValueError, r"randint: `maxval` must be an integer > `minval`"),
        (lambda: hn.random.randint((2,), 0, 3, dtype="float32"), ValueError, r"randint: `dtype` must be 'int32'"),
        (lambda: hn.random.dropout(np.ones(2), 1.0), ValueError, r"dropout: `rate` must be a number in \[0, 1\)"),
        (lambda: hn.random.SeedGenerator(1.5), TypeError, r"SeedGenerator: `seed` must be an integer"),
    ],
)
def test_random_argument_errors(call: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


class Noise(hn.layers.Layer):
    """Adds two draws of uniform noise from one SeedGenerator and keeps them, to look at after a compiled step."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.generator = hn.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.draws = [self.add_weight(shape=(3,), initializer="zeros", trainable=False) for _ in range(2)]

    def call(self, inputs: hn.Tensor) -> hn.Tensor:
        for kept in self.draws:
            kept.assign(hn.random.uniform((3,), seed=self.generator))
        return inputs + self.draws[0] + self.draws[1]


def _draws_in_fit(seed: int) -> list[np.ndarray]:
    """The two draws of each of two compiled steps, and the generator's state after them."""
    hn.utils.set_random_seed(0)
    layer = Noise(seed)
    model = hn.Sequential([hn.Input((3,)), layer, hn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    draws = []
    for _ in range(2):  # one batch per epoch: one compiled step each
        model.fit(np.ones((4, 3)), np.ones((4, 1)), batch_size=4, epochs=1, verbose=0)
        draws += [kept.numpy().copy() for kept in layer.draws]
    return [*draws, layer.generator.state.numpy()]


def test_seed_generator_advances_inside_a_compiled_fit_step(backend64: str) -> None:
    *draws, state = _draws_in_fit(7)
    assert all(not np.allclose(a, b) for i, a in enumerate(draws) for b in draws[i + 1 :])
    assert state > 7 + 3
    for repeated, original in zip(_draws_in_fit(7), [*draws, state], strict=True):
        np.testing.assert_array_equal(repeated, original)


# ------------------------------------------------------------------ hn.config and hn.utils
def test_keras_settings() -> None:
    assert hn.config.epsilon() == 1e-7 and hn.config.image_data_format() == "channels_last"
    try:
        hn.config.set_epsilon(1e-4)
        hn.config.set_image_data_format("channels_first")
        assert hn.config.epsilon() == 1e-4 and hn.config.image_data_format() == "channels_first"
        with pytest.raises(ValueError, match=r"set_image_data_format: `data_format` must be one of"):
            hn.config.set_image_data_format("channels_middle")
        with pytest.raises(ValueError, match=r"set_epsilon: `value` must be a number >= 0"):
            hn.config.set_epsilon(-1.0)
        assert hn.config.image_data_format() == "channels_first" and hn.config.epsilon() == 1e-4
    finally:
        hn.config.set_epsilon(1e-7)
        hn.config.set_image_data_format("channels_last")
    assert hn.config.backend() == hn.config.settings.backend.name
    hn.config.disable_traceback_filtering()
    assert not hn.config.is_traceback_filtering_enabled()


def test_to_categorical_and_normalize() -> None:
    np.testing.assert_array_equal(hn.utils.to_categorical([2, 0, 1]), np.eye(3)[[2, 0, 1]])
    np.testing.assert_array_equal(hn.utils.to_categorical([[1], [0]], num_classes=4), np.eye(4)[[1, 0]])
    assert hn.utils.to_categorical(np.array([[0, 1], [1, 0]])).shape == (2, 2, 2)
    with pytest.raises(ValueError, match=r"to_categorical: `num_classes` must be an integer above the largest label"):
        hn.utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match=r"to_categorical: `x` must be integer class labels >= 0"):
        hn.utils.to_categorical([0.5, 1])
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(hn.utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(hn.utils.normalize(x, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(hn.utils.normalize(hn.tensor(x)).numpy(), [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_sort_and_top_k_read_infinities_as_they_are(backend64: str) -> None:
    """They gather the values (a product with one-hot rows made inf * 0 = NaN of every other entry)."""
    x = np.array([[1.0, np.inf, 0.0, -np.inf, 2.0], [3.0, -1.0, np.inf, 0.5, 0.0]])
    np.testing.assert_array_equal(ops.sort(x).numpy(), np.sort(x))
    values, positions = ops.top_k(x, 2)
    np.testing.assert_array_equal(values.numpy(), [[np.inf, 2.0], [np.inf, 3.0]])
    np.testing.assert_array_equal(positions.numpy(), [[1, 4], [2, 0]])
    np.testing.assert_allclose(ops.quantile(x[:, [0, 2, 4]], 0.5, axis=1).numpy(), [1.0, 3.0])
