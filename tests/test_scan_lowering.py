"""How recurrences are lowered: step programs join pieces with ``concatenate``; JAX's scans and matmuls."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn
from highnn.config import settings
from highnn.graph import Tensor, recording
from highnn.layers.recurrent import join, split
from highnn.ops.primitives import tanh, unindex
from highnn.scan import ScanBody, join_pieces
from highnn.tracing import Program, Tape


def _record(build: object, shapes: list[tuple[int, ...]]) -> tuple[Tape, list[Tensor], Tensor]:
    """A tape of ``build(*inputs)`` on zeros of ``shapes`` (NumPy, float64)."""
    tape = Tape()
    with hn.config.use_backend("numpy", floatx="float64"), recording(tape):
        inputs = [Tensor(np.zeros(shape)) for shape in shapes]
        for tensor in inputs:
            tape.add_input(tensor)
        out = build(*inputs)  # type: ignore[operator]
    return tape, inputs, out


def _names(steps: list) -> list[str]:
    return [name for name, *_ in steps]


@pytest.mark.parametrize("widths", [(2, 3), (1, 4, 2, 5)])
def test_a_sum_of_pieces_tiling_an_axis_becomes_concatenations_with_the_same_value(widths: tuple[int, ...]) -> None:
    tape, _, out = _record(lambda *parts: join(list(parts)), [(3, w) for w in widths])
    before = Program(tape, [out]).function
    tape.steps = join_pieces(tape, {tape.slot(out)})
    assert _names(tape.steps) == ["concatenate"] * (len(widths) - 1)
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=(3, w)) for w in widths]
    with hn.config.use_backend("numpy", floatx="float64"):
        np.testing.assert_array_equal(Program(tape, [out]).function(*parts)[0], before(*parts)[0])
        np.testing.assert_array_equal(Program(tape, [out]).function(*parts)[0], np.concatenate(parts, axis=1))


def _piece(x: Tensor, width: int, start: int) -> Tensor:
    return unindex(x, shape=(3, width), index=(Ellipsis, slice(start, start + x.shape[1])))


def test_pieces_that_leave_a_gap_overlap_or_have_another_use_stay_a_sum() -> None:
    def gap(a: Tensor, b: Tensor) -> Tensor:
        return _piece(a, 6, 0) + _piece(b, 6, 3)

    def overlap(a: Tensor, b: Tensor) -> Tensor:
        return _piece(a, 4, 0) + _piece(b, 4, 1)

    def reused(a: Tensor, b: Tensor) -> Tensor:
        first = _piece(a, 4, 0)
        return (first + _piece(b, 4, 2)) * first

    for build, shapes in [(gap, [(3, 2), (3, 3)]), (overlap, [(3, 2), (3, 3)]), (reused, [(3, 2), (3, 2)])]:
        tape, _, out = _record(build, shapes)
        assert join_pieces(tape, {tape.slot(out)}) == tape.steps, build.__name__


def _lstm_step(carry: Tensor, x_t: Tensor, w: Tensor) -> Tensor:
    h, c = split(carry, 2)
    a, b = split(x_t + h @ w, 2)
    c = tanh(a) * c + b
    return join([tanh(c), c])


def test_an_lstm_step_vjp_program_concatenates_and_never_pads() -> None:
    with hn.config.use_backend("numpy", floatx="float64"):
        vjp = ScanBody(_lstm_step).vjp(np.zeros((2, 6)), np.zeros((2, 6)), np.zeros((3, 6)), np.zeros((2, 6)))
    called = {name.rsplit("_", 1)[0] for name in vjp.__globals__ if "_" in name.strip("_")}  # ``tanh_3``, not ``c5``
    assert "unindex" not in called
    assert {"concatenate", "matmul", "tanh"} <= called


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_jax_scan_and_its_vjp_fetching_ahead_match_numpy(steps: int) -> None:
    require_backend("jax")
    rng = np.random.default_rng(steps)
    init, x, w = rng.normal(size=(2, 6)), rng.normal(size=(steps, 2, 6)), rng.normal(size=(3, 6)) * 0.5
    g = rng.normal(size=(steps, 2, 6))
    body = ScanBody(_lstm_step)
    results = {}
    for backend in ("numpy", "jax"):
        with hn.config.use_backend(backend, floatx="float64"):
            b = settings.backend
            arrays = [b.asarray(a, "float64") for a in (g, init, x, w)]
            out = b.scan(*arrays[1:], body=body, n_xs=1)
            joined = b.scan_vjp(arrays[0], out, *arrays[1:], body=body, n_xs=1)
            results[backend] = (b.to_numpy(out), b.to_numpy(joined))
    for numpy_result, jax_result in zip(results["numpy"], results["jax"]):
        np.testing.assert_allclose(jax_result, numpy_result, rtol=1e-12, atol=1e-12)


def test_jax_matmul_of_a_stack_of_matrices_is_one_two_dimensional_product() -> None:
    require_backend("jax")
    import jax

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5))
    with hn.config.use_backend("jax", floatx="float64"):
        backend = settings.backend
        product = backend.matmul(backend.asarray(a, "float64"), backend.asarray(b, "float64"))
        np.testing.assert_allclose(backend.to_numpy(product), a @ b, rtol=1e-12)
        lowered = jax.jit(backend.matmul).lower(a, b).as_text()
    dots = [line for line in lowered.splitlines() if "dot_general" in line]
    assert dots and all("tensor<6x4xf64>" in line for line in dots)
