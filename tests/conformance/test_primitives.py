"""Every primitive, on every backend and float type, against its record in ``op_records``.

One test body per property, expanded over backend x dtype x sample:

1. the forward value equals the NumPy float64 reference;
2. highnn's VJP equals central finite differences of the reference (float64);
3. highnn's VJP equals the backend's own autodiff of the same lowering
   (``torch.autograd.grad``, ``jax.vjp``); on NumPy, property 2 is the oracle;
4. every backend agrees with the NumPy backend, forward and VJP;
5. every error input raises its error, naming the primitive.

Random primitives are checked for shape, dtype, determinism and their law.
Results are computed once per (backend, dtype, sample) and shared by the properties.

A low-precision pass runs the same records in float16 and bfloat16: forward and
VJP against float64 on the same (rounded) inputs, and every backend against
NumPy, within a tolerance scaled by the type's machine epsilon (``low_tolerance``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS

import highnn as hn
from highnn.backends import FLOAT_DTYPES, numpy_dtype
from highnn.config import use_backend
from highnn.ops import PRIMITIVES

from .op_records import BITWISE_RECORDS, RECORDS, SINGLE_OR_DOUBLE_ONLY, OpRecord

DTYPES = ("float32", "float64")
LOW_DTYPES = ("float16", "bfloat16")

#: how closely two computations of one value must agree, by the dtype they were computed in;
#: float32 is compared to the float64 reference too, and stays well inside JAX's own 2e-3
TOLERANCE = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-12}}
FD_STEP = 1e-6
FD_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}  # torch.autograd.gradcheck's defaults

DETERMINISTIC = [record for record in RECORDS.values() if record.reference is not None]
RANDOM = [record for record in RECORDS.values() if record.distribution is not None]


# ------------------------------------------------------------------ helpers
def as_tensor(array: np.ndarray, dtype: str, requires_grad: bool = False) -> hn.Tensor:
    """A sample array on the active backend: float arrays take the dtype under test, others keep theirs."""
    return hn.tensor(array, dtype=dtype if array.dtype.kind == "f" else array.dtype.name, requires_grad=requires_grad)


def rounded(array: np.ndarray, dtype: str) -> np.ndarray:
    """The float64 values a backend sees after ``as_tensor`` rounds a sample array to ``dtype``."""
    return array.astype(numpy_dtype(dtype)).astype(np.float64) if array.dtype.kind == "f" else array


def floatx_for(dtype: str) -> str:
    """The floatx a run in ``dtype`` uses: the dtype itself, or float32 for the low-precision ones (never floatx)."""
    return dtype if dtype in FLOAT_DTYPES else "float32"


def wrt(name: str, index: int) -> tuple[int, ...]:
    """Positions of the inputs whose VJP is checked: float inputs of a differentiable primitive with a float result."""
    record = RECORDS[name]
    if not record.differentiable or reference_output(name, index, "float64").dtype.kind != "f":
        return ()
    floats = tuple(i for i, x in enumerate(record.samples[index].inputs) if x.dtype.kind == "f")
    return floats if record.wrt is None else tuple(i for i in floats if i in record.wrt)


def cotangent(name: str, index: int, shape: tuple[int, ...]) -> np.ndarray:
    """The output adjoint every backend and oracle uses for one sample."""
    return np.random.default_rng((zlib.crc32(name.encode()), index)).standard_normal(shape)


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal shapes, and values within ``TOLERANCE`` of ``actual``'s dtype (exactly equal when not float)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    if actual.dtype.kind == "f":
        np.testing.assert_allclose(actual, expected, **TOLERANCE[actual.dtype.name])
    else:
        np.testing.assert_array_equal(actual, expected)


def cases(
    backends: Iterable[str], dtypes: Iterable[str], records: Iterable[OpRecord], differentiable: bool = False
) -> list[Any]:
    """``pytest.param(backend, dtype, name, index)`` per sample (only differentiable ones if asked),
    with ids like ``torch-float32-sum(2x3, axis=(1,), keepdims=False)``."""
    return [
        pytest.param(backend, dtype, record.name, index, id=f"{backend}-{dtype}-{record.name}{sample.describe()}")
        for record in records
        for index, sample in enumerate(record.samples)
        if not differentiable or wrt(record.name, index)
        for backend in backends
        for dtype in dtypes
    ]


PARAMS = ("backend", "dtype", "name", "index")


# --------------------------------------------- results, computed once each
@dataclass(frozen=True)
class Outcome:
    """What highnn computed for one sample on one backend: the output and the VJP of each ``wrt`` input."""

    forward: np.ndarray
    dtype: str
    vjp: tuple[np.ndarray, ...]


@cache
def evaluate(backend: str, dtype: str, name: str, index: int, rounding: str | None = None) -> Outcome:
    """Apply the primitive to sample ``index``, and backpropagate the sample's cotangent through highnn.

    ``rounding`` first rounds the float inputs and the cotangent to that type: float64 with
    ``rounding="bfloat16"`` is the exact counterpart of a bfloat16 run.
    """
    record = RECORDS[name]
    sample = record.samples[index]
    chosen = wrt(name, index)
    given = [x if rounding is None else rounded(x, rounding) for x in sample.inputs]
    with use_backend(backend, floatx=floatx_for(dtype)):
        inputs = [as_tensor(x, dtype, requires_grad=i in chosen) for i, x in enumerate(given)]
        out = PRIMITIVES[name](*inputs, **sample.attrs)
        grads: Sequence[hn.Tensor] = ()
        if chosen:  # starting backprop from the cotangent is the VJP of sum(out * cotangent), minus two ops
            adjoint = cotangent(name, index, out.shape)
            grads = hn.grad(
                out, [inputs[i] for i in chosen], adjoint if rounding is None else rounded(adjoint, rounding)
            )
        return Outcome(out.numpy(), out.dtype, tuple(g.numpy() for g in grads))


@cache
def reference_output(name: str, index: int, dtype: str) -> np.ndarray:
    """The float64 reference applied to the sample as rounded to ``dtype``."""
    record = RECORDS[name]
    sample = record.samples[index]
    return np.asarray(record.reference(*(rounded(x, dtype) for x in sample.inputs), **sample.attrs))


@cache
def finite_difference_vjp(name: str, index: int) -> tuple[np.ndarray, ...]:
    """Central differences of ``sum(reference * cotangent)`` in float64, one input element at a time."""
    record = RECORDS[name]
    sample = record.samples[index]
    adjoint = cotangent(name, index, reference_output(name, index, "float64").shape)

    def shifted(i: int, element: tuple[int, ...], step: float) -> tuple[np.ndarray, list[np.ndarray]]:
        inputs = list(sample.inputs)
        inputs[i] = inputs[i].copy()
        inputs[i][element] += step
        return inputs[i][element], inputs

    grads = []
    for i in wrt(name, index):
        grad = np.zeros_like(sample.inputs[i])
        for element in np.ndindex(grad.shape):
            (high, plus), (low, minus) = shifted(i, element, FD_STEP), shifted(i, element, -FD_STEP)
            difference = np.asarray(record.reference(*plus, **sample.attrs)) - record.reference(*minus, **sample.attrs)
            grad[element] = np.sum(difference * adjoint) / (high - low)  # the step as rounded, not as asked
        grads.append(grad)
    return tuple(grads)


# ------------------------------------------------- native autodiff oracles
def torch_vjp(fn: Callable[..., Any], arrays: list[Any], chosen: tuple[int, ...], adjoint: Any) -> Sequence[Any]:
    import torch

    leaves = [x.requires_grad_() if i in chosen else x for i, x in enumerate(arrays)]
    return torch.autograd.grad(fn(*leaves), [leaves[i] for i in chosen], adjoint)


def jax_vjp(fn: Callable[..., Any], arrays: list[Any], chosen: tuple[int, ...], adjoint: Any) -> Sequence[Any]:
    import jax

    def of_chosen(*values: Any) -> Any:
        return fn(*(values[chosen.index(i)] if i in chosen else x for i, x in enumerate(arrays)))

    def pullback(values: list[Any], adjoint: Any) -> Sequence[Any]:
        return jax.vjp(of_chosen, *values)[1](adjoint)

    return jax.jit(pullback)([arrays[i] for i in chosen], adjoint)  # one compilation, not one per backward op


#: backend -> the VJP of a function of its arrays by the array library's own autodiff
NATIVE_VJP = {"torch": torch_vjp, "jax": jax_vjp}


# -------------------------------------------------------------- the tests
def test_every_primitive_has_a_record() -> None:
    assert sorted(RECORDS) == sorted(PRIMITIVES), "add a record to op_records.py for each new primitive"


#: adjoint primitives whose own rules raise NotImplementedError: a second derivative through them is not built yet
NOT_DIFFERENTIABLE_YET = {"scan_vjp"}


def test_records_declare_differentiability_as_the_table_does() -> None:
    declared = {name for name, record in RECORDS.items() if record.differentiable}
    assert declared == {name for name, primitive in PRIMITIVES.items() if primitive.vjp} - NOT_DIFFERENTIABLE_YET


@pytest.mark.parametrize("name", sorted(NOT_DIFFERENTIABLE_YET))
def test_a_second_derivative_not_built_yet_is_an_error_not_a_silent_zero(name: str) -> None:
    primitive = PRIMITIVES[name]
    assert len(primitive.vjp) == primitive.n_inputs
    for rule in primitive.vjp:
        with pytest.raises(NotImplementedError, match=r"a second derivative\) is not supported yet"):
            rule(None, None)


@pytest.mark.parametrize(PARAMS, cases(BACKENDS, DTYPES, DETERMINISTIC))
def test_forward_matches_reference(backend: str, dtype: str, name: str, index: int) -> None:
    outcome = evaluate(backend, dtype, name, index)
    expected = reference_output(name, index, dtype)
    wanted_dtype = (
        RECORDS[name].samples[index].attrs.get("dtype", dtype) if expected.dtype.kind == "f" else expected.dtype.name
    )
    with use_backend(backend, floatx=dtype) as array_library:  # JAX without x64 has 32-bit kin for 64-bit dtypes
        assert outcome.dtype == array_library.dtype(array_library.asarray(0, wanted_dtype))
    assert_close(outcome.forward, expected)


@pytest.mark.parametrize(PARAMS, cases(BACKENDS, ["float64"], DETERMINISTIC, differentiable=True))
def test_vjp_matches_finite_differences(backend: str, dtype: str, name: str, index: int) -> None:
    for actual, expected in zip(
        evaluate(backend, dtype, name, index).vjp, finite_difference_vjp(name, index), strict=True
    ):
        np.testing.assert_allclose(actual, expected, **FD_TOLERANCE)


@pytest.mark.parametrize(PARAMS, cases(NATIVE_VJP, ["float64"], DETERMINISTIC, differentiable=True))
def test_vjp_matches_native_autodiff(backend: str, dtype: str, name: str, index: int) -> None:
    record = RECORDS[name]
    sample = record.samples[index]
    outcome = evaluate(backend, dtype, name, index)
    with use_backend(backend, floatx=dtype) as array_library:
        arrays = [as_tensor(x, dtype).value for x in sample.inputs]
        adjoint = array_library.asarray(cotangent(name, index, outcome.forward.shape), outcome.dtype)
        lowered = getattr(array_library, name)
        native = NATIVE_VJP[backend](lambda *xs: lowered(*xs, **sample.attrs), arrays, wrt(name, index), adjoint)
        for actual, expected in zip(outcome.vjp, native, strict=True):
            assert_close(actual, array_library.to_numpy(expected))


@pytest.mark.parametrize(PARAMS, cases([b for b in BACKENDS if b != "numpy"], DTYPES, DETERMINISTIC))
def test_backends_agree(backend: str, dtype: str, name: str, index: int) -> None:
    ours, numpy_result = evaluate(backend, dtype, name, index), evaluate("numpy", dtype, name, index)
    assert_close(ours.forward, numpy_result.forward)
    for actual, expected in zip(ours.vjp, numpy_result.vjp, strict=True):
        assert_close(actual, expected)


ERROR_CASES = [
    pytest.param(
        backend, dtype, record.name, index,
        id=f"{backend}-{dtype}-{record.name}{error.sample.describe()}-{error.error.__name__}",
    )
    for record in RECORDS.values()
    for index, error in enumerate(record.errors)
    for backend in BACKENDS
    for dtype in DTYPES
]  # fmt: skip


@pytest.mark.parametrize(PARAMS, ERROR_CASES)
def test_error_inputs_raise(backend: str, dtype: str, name: str, index: int) -> None:
    error = RECORDS[name].errors[index]
    with use_backend(backend, floatx=dtype):
        inputs = [as_tensor(x, dtype) for x in error.sample.inputs]
        with pytest.raises(error.error, match=error.match) as raised:
            PRIMITIVES[name](*inputs, **error.sample.attrs)
    assert str(raised.value).startswith(f"{name}: "), "errors name the primitive"


@pytest.mark.parametrize(PARAMS, cases(BACKENDS, DTYPES + LOW_DTYPES, RANDOM))
def test_random_numbers_follow_their_law(backend: str, dtype: str, name: str, index: int) -> None:
    record = RECORDS[name]
    sample = record.samples[index]
    law = record.distribution
    assert law is not None
    with use_backend(backend, floatx=floatx_for(dtype)) as array_library:

        def draw(seed: np.ndarray) -> hn.Tensor:
            return PRIMITIVES[name](as_tensor(seed, dtype, requires_grad=True), **sample.attrs, dtype=dtype)

        seed = sample.inputs[0]
        out = draw(seed)
        assert out.shape == sample.attrs["shape"]
        assert out.dtype == array_library.dtype(array_library.asarray(0, dtype))
        assert not out.requires_grad and out.node is None, "random numbers are not differentiable"
        values = out.numpy().astype(np.float64)
        np.testing.assert_array_equal(draw(seed).numpy(), values, err_msg="the same seed gives the same numbers")
        assert not np.array_equal(draw(seed - 1).numpy(), values), "another seed gives other numbers"
    assert law.low <= values.min() and values.max() < law.high
    assert abs(values.mean() - law.mean) < 5 * law.std / np.sqrt(values.size)
    assert abs(values.std() - law.std) < 0.05 * law.std


# ------------------------------------------------- low precision: float16 and bfloat16
#: machine epsilon (the spacing of floats just above 1) of each low-precision type
EPSILON = {"float16": 2.0**-10, "bfloat16": 2.0**-7}
#: the low-precision tolerance in epsilons: relative, and absolute relative to the largest reference value
#: (a sum of rounded terms may cancel to a small value whose error is that of its largest term)
LOW_PRECISION_EPSILONS = 4
#: the largest finite value of each; samples whose values or gradients pass it (float16's "large" exp) are left out
LARGEST = {"float16": 65504.0, "bfloat16": 3.39e38}
#: primitives with no float operand to compute in low precision: the bitwise operations
INTEGER_OR_BOOL_ONLY: tuple[str, ...] = tuple(record.name for record in BITWISE_RECORDS)

LOW_PRECISION = [record for record in DETERMINISTIC if record.name not in INTEGER_OR_BOOL_ONLY + SINGLE_OR_DOUBLE_ONLY]


def in_range(dtype: str, name: str, index: int) -> bool:
    """Whether the sample's float64 result and gradients fit in ``dtype``'s finite range."""
    exact = evaluate("numpy", "float64", name, index, rounding=dtype)
    values = [exact.forward, *exact.vjp]
    return all(np.max(np.abs(v.astype(np.float64)), initial=0.0) < LARGEST[dtype] for v in values)


def low_cases(backends: Iterable[str], differentiable: bool = False) -> list[Any]:
    """``cases`` over the low-precision types and records, less the samples out of the type's range."""
    every = cases(backends, LOW_DTYPES, LOW_PRECISION, differentiable)
    return [param for param in every if in_range(*param.values[1:])]


def low_tolerance(dtype: str, expected: np.ndarray, factor: float = 1.0) -> dict[str, float]:
    """``rtol`` and ``atol`` for a value computed in ``dtype``: a few epsilons of the value or of the largest one."""
    tolerance = factor * LOW_PRECISION_EPSILONS * EPSILON[dtype]
    largest = float(np.max(np.abs(expected), initial=1.0))
    return {"rtol": tolerance, "atol": tolerance * largest}


def assert_close_low(actual: np.ndarray, expected: np.ndarray, dtype: str, factor: float = 1.0) -> None:
    """Equal shapes, float values within ``low_tolerance`` (times ``factor``), others exactly equal."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    if actual.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected)
    else:
        expected = expected.astype(np.float64)
        np.testing.assert_allclose(actual.astype(np.float64), expected, **low_tolerance(dtype, expected, factor))


def requires_bfloat16_in_numpy(backend: str, dtype: str) -> None:
    """NumPy's bfloat16 is ml_dtypes' (an optional extra): skip, visibly, where it is not installed."""
    if dtype == "bfloat16" and backend == "numpy":
        pytest.importorskip("ml_dtypes", reason="NumPy's bfloat16 needs ml_dtypes (pip install 'highnn[bfloat16]')")


@pytest.mark.parametrize(PARAMS, low_cases(BACKENDS))
def test_low_precision_forward_matches_reference(backend: str, dtype: str, name: str, index: int) -> None:
    requires_bfloat16_in_numpy(backend, dtype)
    outcome = evaluate(backend, dtype, name, index)
    expected = reference_output(name, index, dtype)
    wanted = RECORDS[name].samples[index].attrs.get("dtype", dtype) if expected.dtype.kind == "f" else None
    assert wanted is None or outcome.dtype == wanted, "float results keep the low-precision type"
    assert_close_low(outcome.forward, expected, dtype)


@pytest.mark.parametrize(PARAMS, low_cases(BACKENDS, differentiable=True))
def test_low_precision_vjp_matches_float64(backend: str, dtype: str, name: str, index: int) -> None:
    requires_bfloat16_in_numpy(backend, dtype)
    exact = evaluate("numpy", "float64", name, index, rounding=dtype)
    for actual, expected in zip(evaluate(backend, dtype, name, index).vjp, exact.vjp, strict=True):
        assert_close_low(actual, expected, dtype)


# Backends agree within twice the tolerance without a test of their own: each is within it of the same float64
# result, on the same rounded inputs (forward and VJP above).
