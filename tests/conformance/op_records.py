"""One declarative record per primitive, in the manner of PyTorch's OpInfo.

A record holds a function that builds sample inputs (several shapes,
broadcasting, edge values), a NumPy float64 reference, whether the primitive is
differentiable, and error inputs with the error they must raise. Sample arrays
that are float64 are cast to the dtype under test; bool and integer arrays keep
their dtype. Domains keep away from poles and kinks by far more than the
finite-difference step (positive bases for log/sqrt/pow, no ties for
max/maximum except in the samples labelled ``ties``, whose two-way ties split
the gradient 0.5/0.5 as PyTorch and JAX do and as central differences see it).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.special as scipy_special

from highnn.graph import Tensor
from highnn.ops import primitives
from highnn.scan import ScanBody

Draw = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
Shapes = Sequence[tuple[tuple[int, ...], ...]]  # per sample, one shape per input


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class Sample:
    """The inputs of one call and its static attributes; ``label`` names an edge case."""

    inputs: tuple[np.ndarray, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def describe(self) -> str:
        """A call-like test id such as ``(ties: 2x3, 2x3)`` or ``(2x3x4, axis=(0, 2), keepdims=True)``."""
        shapes = ["x".join(map(str, x.shape)) or "scalar" for x in self.inputs]
        attrs = [f"{key}={_show_index(value) if key == 'index' else value}" for key, value in self.attrs.items()]
        return f"({self.label + ': ' if self.label else ''}{', '.join(shapes + attrs)})"


@dataclass(frozen=True)
class ErrorInput:
    """Operands the primitive's check must reject with ``error`` whose message matches ``match``."""

    sample: Sample
    error: type[Exception]
    match: str


@dataclass(frozen=True)
class Distribution:
    """The law a random primitive's numbers follow: their support and first two moments."""

    low: float
    high: float
    mean: float
    std: float


@dataclass(frozen=True, eq=False)
class OpRecord:
    """Everything the conformance suite knows about one primitive."""

    name: str
    sample_inputs: Callable[[np.random.Generator], list[Sample]]
    reference: Callable[..., Any] | None = None  # None for random primitives, which follow `distribution`
    differentiable: bool = True
    errors: tuple[ErrorInput, ...] = ()
    distribution: Distribution | None = None
    #: the inputs whose VJP is checked, where not every float input: the others only choose where values go
    #: (piecewise constant, so finite differences across a choice are meaningless and the rule gives nothing)
    wrt: tuple[int, ...] | None = None

    @cached_property
    def samples(self) -> tuple[Sample, ...]:
        """The samples, drawn from a generator seeded by the name: the same on every run and backend."""
        return tuple(self.sample_inputs(np.random.default_rng(zlib.crc32(self.name.encode()))))


def _show_index(index: Any) -> str:
    """A basic index in NumPy's bracket syntax: ``[1:3, ::-1, None, ...]``."""

    def show(part: Any) -> str:
        if part is Ellipsis:
            return "..."
        if isinstance(part, slice):
            ends = ":".join("" if end is None else str(end) for end in (part.start, part.stop))
            return ends if part.step is None else f"{ends}:{part.step}"
        return str(part)

    return f"[{', '.join(map(show, index if isinstance(index, tuple) else (index,)))}]"


# -------------------------------------------------------------------- draws
def uniform(low: float, high: float) -> Draw:
    """Floats drawn evenly from [low, high)."""
    return lambda rng, shape: rng.uniform(low, high, shape)


def away_from_zero(low: float, high: float) -> Draw:
    """Floats of magnitude in [low, high) and either sign: clear of a kink or pole at 0."""
    return lambda rng, shape: rng.uniform(low, high, shape) * rng.choice((-1.0, 1.0), shape)


def whole(low: int, high: int) -> Draw:
    """Whole numbers in [low, high) as floats, so comparisons and sign meet ties and zeros."""
    return lambda rng, shape: rng.integers(low, high, shape).astype(np.float64)


def off_integers(low: int, high: int) -> Draw:
    """Floats at least 0.1 away from every integer (floor's jumps), integer parts in [low, high)."""
    return lambda rng, shape: rng.integers(low, high, shape) + rng.uniform(0.1, 0.9, shape)


def given(values: Any) -> Draw:
    """Fixed values, for hand-made edge cases such as ties."""
    return lambda rng, shape: np.asarray(values, dtype=np.float64).reshape(shape)


def mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random bool condition."""
    return rng.random(shape) < 0.5


centered = uniform(-2.0, 2.0)


def drawn(rng: np.random.Generator, shapes: Shapes, *draws: Draw, label: str = "", **attrs: Any) -> list[Sample]:
    """One sample per entry of ``shapes``, input ``i`` of shape ``entry[i]`` drawn by ``draws[i]``."""
    return [
        Sample(tuple(np.asarray(draw(rng, shape)) for draw, shape in zip(draws, entry, strict=True)), attrs, label)
        for entry in shapes
    ]


# ----------------------------------------------------------- record kinds
UNARY_SHAPES: Shapes = [((),), ((2, 3),)]
BINARY_SHAPES: Shapes = [((), ()), ((2, 3), (3,)), ((3, 1), (1, 4)), ((), (2, 3))]
EDGE_SHAPE = (2, 3)

BROADCAST_ERRORS = (
    ErrorInput(Sample((np.ones((2, 3)), np.ones(4))), ValueError, r"shapes \(2, 3\) and \(4,\) cannot be broadcast"),
    ErrorInput(
        Sample((np.ones(3), np.ones(3, np.int32)), label="float and int32"),
        TypeError,
        r"operands must have one dtype, received float(32|64) and int32",
    ),
)
FLOAT_ONLY_ERRORS = (
    ErrorInput(
        Sample((np.arange(3, dtype=np.int32),), label="int32"),
        TypeError,
        r"expected a float tensor, received dtype int32",
    ),
)


def elementwise(
    name: str,
    reference: Callable[..., Any],
    draws: tuple[Draw, ...],
    edges: dict[str, tuple[Draw, ...]] | None = None,
    differentiable: bool = True,
    errors: tuple[ErrorInput, ...] | None = None,
) -> OpRecord:
    """A unary or binary elementwise record: ``draws`` over a few (broadcasting) shapes, plus one
    labelled sample of shape ``EDGE_SHAPE`` per entry of ``edges``."""
    shapes = UNARY_SHAPES if len(draws) == 1 else BINARY_SHAPES

    def sample_inputs(rng: np.random.Generator) -> list[Sample]:
        edge_samples = [
            sample
            for label, edge_draws in (edges or {}).items()
            for sample in drawn(rng, [(EDGE_SHAPE,) * len(edge_draws)], *edge_draws, label=label)
        ]
        return drawn(rng, shapes, *draws) + edge_samples

    default_errors = FLOAT_ONLY_ERRORS if len(draws) == 1 else BROADCAST_ERRORS
    return OpRecord(name, sample_inputs, reference, differentiable, default_errors if errors is None else errors)


def comparison(name: str, reference: Callable[..., Any]) -> OpRecord:
    """A comparison: whole numbers, so equal operands (the edge between < and <=) are common."""
    return elementwise(name, reference, (whole(-2, 3), whole(-2, 3)), differentiable=False)


MAXIMUM_EDGES = {
    "ties": (given([[1, 2, 3], [-1, 0, 5]]), given([[1, 0, 3], [-1, 2, 4]])),
    "near 0": (away_from_zero(1e-3, 1e-2), given(np.zeros(EDGE_SHAPE))),
}

REDUCTIONS: list[tuple[tuple[int, ...], tuple[int, ...] | None, bool]] = [
    ((2, 3, 4), None, False),
    ((2, 3, 4), (0, 2), True),
    ((2, 3, 4), (1,), False),
    ((), None, False),
    ((2, 3), (), False),  # reduces nothing (PyTorch reads dim=() as every axis)
]


LOG_SOFTMAX_CASES = [((2, 5), (1,)), ((3, 4), (0,)), ((2, 3, 4), (2,)), ((4,), (0,)), ((2, 3, 4), (0, 2))]

AXIS_ERROR = ErrorInput(
    Sample((np.ones((2, 3)),), {"axis": (2,), "keepdims": False}), ValueError, r"axis 2 is out of range"
)


def reduction(
    name: str,
    reference: Callable[..., Any],
    extra: Callable[[np.random.Generator], list[Sample]],
    errors: tuple[ErrorInput, ...] = (AXIS_ERROR,),
) -> OpRecord:
    """A reduction over ``REDUCTIONS`` (shape, axis, keepdims), plus ``extra`` samples."""

    def sample_inputs(rng: np.random.Generator) -> list[Sample]:
        return [
            Sample((centered(rng, shape),), {"axis": axis, "keepdims": keepdims})
            for shape, axis, keepdims in REDUCTIONS
        ] + extra(rng)

    return OpRecord(name, sample_inputs, reference, errors=errors)


INDEX_CASES: list[tuple[tuple[int, ...], Any]] = [
    ((4, 5), (slice(1, 3), slice(None, None, 2))),
    ((4, 5), (Ellipsis, None, -1)),
    ((4, 5), slice(None, None, -1)),
    ((4, 5), slice(1, 3, -1)),  # empty, with a negative step
    ((3, 4, 5), (slice(None, None, -2), None, Ellipsis, slice(-1, 0, -1))),
    ((3, 4, 5), (slice(None), 2, slice(3, None, -2))),
    ((), ()),
]


def _unindex(g: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
    out = np.zeros(shape)
    out[index] = g
    return out


def _cast(x: np.ndarray, dtype: str) -> np.ndarray:
    """Float targets keep the float64 value (their rounding is the tolerance's business); others convert."""
    return x.astype(np.float64 if np.dtype(dtype).kind == "f" else dtype)


def _random_record(name: str, distribution: Distribution) -> OpRecord:
    """A random primitive: its sample is a seed and a shape (the test supplies the dtype under test)."""

    def sample_inputs(rng: np.random.Generator) -> list[Sample]:
        return [Sample((np.array(2**31 - 1, np.int64),), {"shape": (40, 50, 2)})]

    errors = (
        ErrorInput(
            Sample((np.array(1.5),), {"shape": (2,), "dtype": "float32"}), TypeError, r"seed must be an integer scalar"
        ),
        ErrorInput(
            Sample((np.arange(2, dtype=np.int32),), {"shape": (2,), "dtype": "float32"}),
            TypeError,
            r"seed must be an integer scalar",
        ),
        ErrorInput(
            Sample((np.array(1, np.int32),), {"shape": (2,), "dtype": "int32"}), ValueError, r"dtype must be one of"
        ),
    )
    return OpRecord(name, sample_inputs, differentiable=False, errors=errors, distribution=distribution)


# ------------------------------------------- gather/scatter (Embedding) and recurrence (highnn.scan)
TAKE_CASES: list[tuple[tuple[int, ...], Any, int]] = [
    ((5, 3), [[0, 4], [2, 2]], 0),  # an Embedding lookup, with a repeated row
    ((5, 3), [-1, 0, -5], 0),  # negative indices count from the end
    ((2, 4, 3), [3, 0, 3, 1], 1),
    ((4,), 2, 0),  # a scalar index
    ((3, 2), np.zeros((0,), np.int64), 0),  # no indices
]
INDEX_ERRORS = (
    ErrorInput(
        Sample((np.ones((5, 3)), np.array([1, 5])), {"axis": 0}), IndexError, r"index 5 is out of range.*size 5"
    ),
    ErrorInput(Sample((np.ones((5, 3)), np.array([-6])), {"axis": 0}), IndexError, r"index -6 is out of range"),
    ErrorInput(Sample((np.ones((5, 3)), np.array([1.0])), {"axis": 0}), TypeError, r"indices must have an integer"),
)


def _indices(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.int64)


def _scatter_add(updates: np.ndarray, indices: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    out = np.zeros(shape)
    flat = updates.reshape(shape[:axis] + (indices.size,) + shape[axis + 1 :])
    np.add.at(out, (slice(None),) * axis + (indices.reshape(-1) % shape[axis],), flat)
    return out


def _tanh(x: Any) -> Any:
    return primitives.tanh(x) if isinstance(x, Tensor) else np.tanh(x)


def tanh_rnn_step(h: Any, x: Any, w: Any) -> Any:
    """A recurrence for the scan records: the same code runs on highnn tensors (the body) and NumPy (the reference)."""
    return _tanh(h @ w + x)


def masked_step(h: Any, x: Any, m: Any) -> Any:
    """A recurrence with a 0/1 mask as a second scanned operand: masked steps carry the state through."""
    new = _tanh(h * 0.5 + x)
    return m * new + (1.0 - m) * h


def _scan_reference(init: np.ndarray, *operands: np.ndarray, body: Any, n_xs: int) -> np.ndarray:
    carries, carry = [], init
    for t in range(operands[0].shape[0]):
        carry = body.step(carry, *(x[t] for x in operands[:n_xs]), *operands[n_xs:])
        carries.append(carry)
    return np.stack(carries)


def _scan_vjp_reference(
    g: np.ndarray, out: np.ndarray, init: np.ndarray, x: np.ndarray, w: np.ndarray, body: Any, n_xs: int
) -> np.ndarray:
    """Backprop through ``tanh_rnn_step`` by hand: gradients of init, x and w, raveled and joined."""
    g_carry, g_x, g_w = np.zeros_like(init), np.zeros_like(x), np.zeros_like(w)
    for t in reversed(range(x.shape[0])):
        previous = init if t == 0 else out[t - 1]
        dz = (g[t] + g_carry) * (1.0 - out[t] ** 2)
        g_x[t], g_carry = dz, dz @ w.T
        g_w = g_w + previous.reshape(-1, w.shape[0]).T @ dz.reshape(-1, w.shape[1])
    return np.concatenate([g_carry.ravel(), g_x.ravel(), g_w.ravel()])


def _scan_samples(rng: np.random.Generator) -> list[Sample]:
    rnn = {"body": ScanBody(tanh_rnn_step), "n_xs": 1}
    masked = {"body": ScanBody(masked_step), "n_xs": 2}
    return [
        Sample((centered(rng, (3, 4)), centered(rng, (5, 3, 4)), uniform(-0.6, 0.6)(rng, (4, 4))), rnn),
        Sample((centered(rng, (2,)), centered(rng, (1, 2)), uniform(-0.6, 0.6)(rng, (2, 2))), rnn, "one step"),
        Sample((centered(rng, (2, 3)), centered(rng, (4, 2, 3)), whole(0, 2)(rng, (4, 2, 1))), masked, "mask"),
    ]


def _scan_vjp_samples(rng: np.random.Generator) -> list[Sample]:
    samples = []
    for init_shape, n in (((3, 4), 5), ((2,), 1)):
        init, x = centered(rng, init_shape), centered(rng, (n,) + init_shape)
        w = uniform(-0.6, 0.6)(rng, init_shape[-1:] * 2)
        attrs = {"body": ScanBody(tanh_rnn_step), "n_xs": 1}
        out = _scan_reference(init, x, w, **attrs)
        samples.append(Sample((centered(rng, out.shape), out, init, x, w), attrs))
    return samples


SCAN_ERRORS = (
    ErrorInput(
        Sample((np.ones(2), np.ones((3, 2)), np.ones((4, 2))), {"body": ScanBody(masked_step), "n_xs": 2}),
        ValueError,
        r"one non-empty first \(time\) axis",
    ),
    ErrorInput(
        Sample((np.ones(2), np.ones((3, 2))), {"body": ScanBody(tanh_rnn_step), "n_xs": 0}),
        ValueError,
        r"at least one of them scanned",
    ),
    ErrorInput(
        Sample((np.ones(2), np.ones((3, 2), np.int32)), {"body": ScanBody(tanh_rnn_step), "n_xs": 1}),
        TypeError,
        r"expected a float tensor",
    ),
)

# pick_along_axis / place_along_axis: one index per position off the axis (sparse crossentropy's labels)
PICK_CASES: list[tuple[tuple[int, ...], Any, int]] = [
    ((4, 5), [4, 0, 2, 2], 1),  # class labels of a batch, one repeated
    ((3, 4, 2), [[0, 3], [1, 1], [2, 0]], 1),  # a middle axis
    ((2, 3), [1, 0, 1], 0),  # the first axis, as with labels of a transposed output
    ((5,), 3, 0),  # a scalar index
]
PICK_ERRORS = (
    ErrorInput(
        Sample((np.ones((2, 5)), np.array([1, 5])), {"axis": 1}), IndexError, r"index 5 is out of range \[0, 5\)"
    ),
    ErrorInput(Sample((np.ones((2, 5)), np.array([-1, 0])), {"axis": 1}), IndexError, r"index -1 is out of range"),
    ErrorInput(
        Sample((np.ones((2, 5)), np.array([0, 1, 2])), {"axis": 1}), ValueError, r"indices must have shape \(2,\)"
    ),
    ErrorInput(Sample((np.ones((2, 5)), np.array([0.0, 1.0])), {"axis": 1}), TypeError, r"integer dtype"),
    ErrorInput(Sample((np.ones((2, 5)), np.array([0, 1])), {"axis": 2}), ValueError, r"axis 2 is out of range"),
)


def _pick(x: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
    return np.take_along_axis(x, np.expand_dims(indices, axis), axis).squeeze(axis)


def _place(updates: np.ndarray, indices: np.ndarray, size: int, axis: int) -> np.ndarray:
    out = np.zeros(updates.shape[:axis] + (size,) + updates.shape[axis:])
    np.put_along_axis(out, np.expand_dims(indices, axis), np.expand_dims(updates, axis), axis)
    return out


PICK_RECORDS = [
    OpRecord(
        "pick_along_axis",
        lambda rng: [Sample((centered(rng, shape), _indices(i)), {"axis": axis}) for shape, i, axis in PICK_CASES],
        _pick,
        errors=PICK_ERRORS,
    ),
    OpRecord(
        "place_along_axis",
        lambda rng: [
            Sample((centered(rng, _indices(i).shape), _indices(i)), {"size": shape[axis], "axis": axis})
            for shape, i, axis in PICK_CASES
        ],
        _place,
        errors=(
            ErrorInput(
                Sample((np.ones(2), np.array([0, 4])), {"size": 4, "axis": 1}), IndexError, r"index 4 is out of range"
            ),
            ErrorInput(
                Sample((np.ones(3), np.array([0, 1])), {"size": 4, "axis": 1}), ValueError, r"indices must have shape"
            ),
        ),
    ),
]

GATHER_AND_SCAN_RECORDS = [
    OpRecord(
        "take",
        lambda rng: [Sample((centered(rng, shape), _indices(i)), {"axis": axis}) for shape, i, axis in TAKE_CASES],
        lambda x, indices, axis: np.take(x, indices, axis=axis),
        errors=INDEX_ERRORS,
    ),
    OpRecord(
        "scatter_add",
        lambda rng: [
            Sample(
                (centered(rng, np.take(np.zeros(shape), _indices(i), axis=axis).shape), _indices(i)),
                {"shape": shape, "axis": axis},
            )
            for shape, i, axis in TAKE_CASES
        ],
        _scatter_add,
        errors=(
            ErrorInput(
                Sample((np.ones((2, 3)), np.array([0, 9])), {"shape": (5, 3), "axis": 0}), IndexError, r"index 9"
            ),
            ErrorInput(
                Sample((np.ones((3, 3)), np.array([0, 1])), {"shape": (5, 3), "axis": 0}),
                ValueError,
                r"do not fit indices",
            ),
        ),
    ),
    OpRecord("scan", _scan_samples, _scan_reference, errors=SCAN_ERRORS),
    OpRecord("scan_vjp", _scan_vjp_samples, _scan_vjp_reference, differentiable=False),
    *PICK_RECORDS,
]


# ------------------------------------------------------------ the records
_RECORDS = [
    elementwise("add", np.add, (centered, centered)),
    elementwise("sub", np.subtract, (centered, centered)),
    elementwise("mul", np.multiply, (centered, centered), {"large": (away_from_zero(1e3, 1e6), centered)}),
    elementwise(
        "div",
        np.divide,
        (centered, away_from_zero(0.5, 2.0)),
        {"small divisors": (centered, away_from_zero(1e-3, 1e-2))},
    ),
    elementwise("pow", np.power, (uniform(0.5, 2.0), centered), {"large": (uniform(10.0, 100.0), uniform(1.0, 3.0))}),
    elementwise("maximum", np.maximum, (centered, centered), MAXIMUM_EDGES),
    elementwise("minimum", np.minimum, (centered, centered), MAXIMUM_EDGES),
    comparison("equal", np.equal),
    comparison("not_equal", np.not_equal),
    comparison("greater", np.greater),
    comparison("greater_equal", np.greater_equal),
    comparison("less", np.less),
    comparison("less_equal", np.less_equal),
    OpRecord(
        "where",
        lambda rng: drawn(rng, [((2, 3),) * 3, ((3, 1), (1, 4), ()), ((), (2,), (2,))], mask, centered, centered),
        np.where,
        errors=(
            ErrorInput(Sample((np.ones(3), np.ones(3), np.ones(3))), TypeError, r"condition must have dtype bool"),
            ErrorInput(Sample((np.ones(2, bool), np.ones(3), np.ones(3))), ValueError, r"cannot be broadcast"),
        ),
    ),
    elementwise("neg", np.negative, (centered,), errors=()),
    elementwise("exp", np.exp, (uniform(-3.0, 3.0),), {"large": (away_from_zero(30.0, 50.0),)}),
    elementwise("log", np.log, (uniform(0.1, 10.0),), {"large": (uniform(1e3, 1e8),), "small": (uniform(1e-3, 1e-2),)}),
    elementwise(
        "log1p",
        np.log1p,
        (uniform(-0.9, 5.0),),
        {"near 0": (away_from_zero(1e-10, 1e-8),), "large": (uniform(1e3, 1e8),)},
    ),
    elementwise("tanh", np.tanh, (uniform(-3.0, 3.0),), {"large": (away_from_zero(10.0, 50.0),)}),
    elementwise("sin", np.sin, (uniform(-4.0, 4.0),), {"large": (away_from_zero(10.0, 50.0),)}),
    elementwise("cos", np.cos, (uniform(-4.0, 4.0),), {"large": (away_from_zero(10.0, 50.0),)}),
    elementwise(
        "sqrt", np.sqrt, (uniform(0.1, 10.0),), {"large": (uniform(1e4, 1e8),), "small": (uniform(1e-3, 1e-2),)}
    ),
    elementwise("abs", np.abs, (away_from_zero(0.1, 2.0),), {"near 0": (away_from_zero(1e-3, 1e-2),)}, errors=()),
    elementwise("sign", np.sign, (centered,), {"zeros": (whole(-1, 2),)}, differentiable=False, errors=()),
    elementwise("floor", np.floor, (off_integers(-3, 3),), {"large": (off_integers(-(10**6), 10**6),)}),
    elementwise(
        "erf",
        np.vectorize(math.erf, otypes=[np.float64]),
        (uniform(-3.0, 3.0),),
        {"large": (away_from_zero(4.0, 30.0),)},
    ),
    elementwise(
        "erfc",
        np.vectorize(math.erfc, otypes=[np.float64]),
        (uniform(-3.0, 3.0),),
        {"tail": (uniform(4.0, 9.0),)},  # where 1 - erf(x) would lose every digit
    ),
    elementwise(
        "erfinv",
        scipy_special.erfinv,
        (uniform(-0.9, 0.9),),
        {"near 1": (away_from_zero(0.99, 0.9999),)},
    ),
    elementwise(
        "nextafter",
        np.nextafter,
        (centered, centered),
        {"towards itself": (whole(-3, 3), whole(-3, 3))},
        differentiable=False,
    ),
    elementwise("tan", np.tan, (uniform(-1.2, 1.2),), {"near poles": (away_from_zero(1.3, 1.45),)}),
    elementwise("arcsin", np.arcsin, (uniform(-0.9, 0.9),), {"near 0": (away_from_zero(1e-4, 1e-3),)}),
    elementwise("arccos", np.arccos, (uniform(-0.9, 0.9),), {"near 0": (away_from_zero(1e-4, 1e-3),)}),
    elementwise("arctan", np.arctan, (uniform(-3.0, 3.0),), {"large": (away_from_zero(10.0, 100.0),)}),
    elementwise("sinh", np.sinh, (uniform(-3.0, 3.0),), {"near 0": (away_from_zero(1e-6, 1e-4),)}),
    elementwise("cosh", np.cosh, (uniform(-3.0, 3.0),), {"large": (away_from_zero(10.0, 20.0),)}),
    elementwise("arcsinh", np.arcsinh, (uniform(-3.0, 3.0),), {"large": (away_from_zero(50.0, 200.0),)}),
    elementwise("arccosh", np.arccosh, (uniform(1.1, 5.0),), {"large": (uniform(50.0, 200.0),)}),
    elementwise("arctanh", np.arctanh, (uniform(-0.9, 0.9),), {"near 0": (away_from_zero(1e-6, 1e-4),)}),
    elementwise("expm1", np.expm1, (uniform(-3.0, 3.0),), {"near 0": (away_from_zero(1e-10, 1e-8),)}),
    elementwise(
        "arctan2",
        np.arctan2,
        (uniform(-2.0, 2.0), uniform(0.3, 2.0)),
        {
            "left half-plane": (away_from_zero(0.3, 2.0), uniform(-2.0, -0.3)),
            "on an axis": (given(np.zeros(EDGE_SHAPE)), uniform(0.3, 2.0)),
        },
    ),
    reduction("sum", np.sum, lambda rng: [Sample((np.ones((2, 0)),), {"axis": (1,), "keepdims": False}, "empty")]),
    reduction(
        "max",
        np.max,
        lambda rng: [
            Sample(
                (np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 5.0, -1.0, 5.0]]),), {"axis": (1,), "keepdims": False}, "ties"
            ),
            Sample((np.array([[1.0, 3.0], [3.0, 0.0]]),), {"axis": None, "keepdims": True}, "ties"),
        ],
        errors=(
            AXIS_ERROR,
            ErrorInput(
                Sample((np.ones((2, 0)),), {"axis": (1,), "keepdims": False}),
                ValueError,
                r"cannot take the max over an empty axis",
            ),
        ),
    ),
    OpRecord(
        "matmul",
        lambda rng: drawn(
            rng,
            [((2, 3), (3, 4)), ((2, 2, 3), (3, 4)), ((1, 2, 3), (4, 3, 2)), ((3, 1), (1, 2)), ((2, 3, 2, 3), (3, 4))],
            centered,
            centered,
        ),
        np.matmul,
        errors=(
            ErrorInput(Sample((np.ones(3), np.ones((3, 2)))), ValueError, r"at least 2 dimensions"),
            ErrorInput(Sample((np.ones((2, 3)), np.ones((4, 2)))), ValueError, r"first operand \(3\) must match"),
            ErrorInput(Sample((np.ones((2, 2, 3)), np.ones((3, 3, 4)))), ValueError, r"cannot be broadcast"),
            ErrorInput(
                Sample((np.ones((2, 3)), np.ones((3, 2), np.int32))), TypeError, r"operands must have one dtype"
            ),
        ),
    ),
    OpRecord(
        "log_softmax",
        lambda rng: (
            [Sample((centered(rng, shape),), {"axis": axis}) for shape, axis in LOG_SOFTMAX_CASES]
            + [Sample((np.array([[1000.0, 0.0, -1000.0], [50.0, 60.0, 70.0]]),), {"axis": (1,)}, "large")]
        ),
        lambda x, axis: (
            (x - x.max(axis=axis, keepdims=True))
            - np.log(np.exp(x - x.max(axis=axis, keepdims=True)).sum(axis=axis, keepdims=True))
        ),
        errors=(
            ErrorInput(Sample((np.ones((2, 3)),), {"axis": (2,)}), ValueError, r"axis 2 is out of range"),
            ErrorInput(Sample((np.ones((2, 0)),), {"axis": (1,)}), ValueError, r"empty axes \(1,\)"),
            ErrorInput(
                Sample((np.arange(3, dtype=np.int32),), {"axis": (0,)}, "int32"), TypeError, r"expected a float tensor"
            ),
        ),
    ),
    OpRecord(
        "reshape",
        lambda rng: [
            Sample((centered(rng, before),), {"shape": after})
            for before, after in [((2, 3), (3, 2)), ((2, 3, 4), (6, 4)), ((), (1, 1)), ((1,), ()), ((2, 3), (6,))]
        ],
        np.reshape,
        errors=(
            ErrorInput(
                Sample((np.ones((2, 3)),), {"shape": (4, 2)}),
                ValueError,
                r"cannot reshape a tensor of shape \(2, 3\) into shape \(4, 2\)",
            ),
            ErrorInput(Sample((np.ones((2, 3)),), {"shape": (-1, 6)}), ValueError, r"cannot reshape"),
        ),
    ),
    OpRecord(
        "transpose",
        lambda rng: [
            Sample((centered(rng, shape),), {"axes": axes})
            for shape, axes in [((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((3,), (0,)), ((), ())]
        ],
        np.transpose,
        errors=(ErrorInput(Sample((np.ones((2, 3)),), {"axes": (0, 0)}), ValueError, r"not a permutation"),),
    ),
    OpRecord(
        "broadcast_to",
        lambda rng: [
            Sample((centered(rng, before),), {"shape": after})
            for before, after in [((3,), (2, 3)), ((2, 1), (2, 3)), ((), (2, 2)), ((1, 3), (4, 1, 3)), ((2, 3), (2, 3))]
        ],
        np.broadcast_to,
        errors=(
            ErrorInput(Sample((np.ones(3),), {"shape": (2, 4)}), ValueError, r"\(3,\).*\(2, 4\)"),
            ErrorInput(Sample((np.ones((2, 3)),), {"shape": (3,)}), ValueError, r"cannot broadcast"),
        ),
    ),
    OpRecord(
        "getitem",
        lambda rng: [Sample((centered(rng, shape),), {"index": index}) for shape, index in INDEX_CASES],
        lambda x, index: x[index],
        errors=(
            ErrorInput(Sample((np.ones((4, 5)),), {"index": (0, 0, 0)}), IndexError, r"is invalid for shape \(4, 5\)"),
            ErrorInput(Sample((np.ones((4, 5)),), {"index": 4}), IndexError, r"is invalid for shape"),
        ),
    ),
    OpRecord(
        "unindex",
        lambda rng: [
            Sample((centered(rng, np.zeros(shape)[index].shape),), {"shape": shape, "index": index})
            for shape, index in INDEX_CASES
        ],
        _unindex,
        errors=(ErrorInput(Sample((np.ones(3),), {"shape": (4, 5), "index": 1}), ValueError, r"does not fit index"),),
    ),
    OpRecord(
        "cast",
        lambda rng: (
            [Sample((centered(rng, (2, 3)),), {"dtype": dtype}) for dtype in ("float32", "float64", "int32", "int64")]
            + [
                Sample((whole(-1, 2)(rng, (2, 3)),), {"dtype": "bool"}, "zeros"),
                Sample((np.array([0, 1, -3], np.int32),), {"dtype": "float32"}, "int32 input"),
                Sample((np.array([True, False]),), {"dtype": "float32"}, "bool input"),
            ]
        ),
        _cast,
        errors=(ErrorInput(Sample((np.ones(3),), {"dtype": "complex64"}), ValueError, r"dtype must be one of"),),
    ),
    _random_record("random_uniform", Distribution(low=0.0, high=1.0, mean=0.5, std=12**-0.5)),
    _random_record("random_normal", Distribution(low=-math.inf, high=math.inf, mean=0.0, std=1.0)),
    *GATHER_AND_SCAN_RECORDS,
]


# ---------------------------------------------------------------- padding and pooling
def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.1 apart, in random order: every pooling window has one clear maximum."""
    return rng.permutation(math.prod(shape)).reshape(shape) * 0.1 - 0.05 * math.prod(shape)


#: (input shape, window, strides, padding): 1-D to 3-D, overlapping and not, "same" with odd and even padding
POOL_CASES = [
    ((2, 5, 3), (2,), (2,), "valid"),
    ((2, 7, 2), (3,), (2,), "same"),
    ((2, 4, 4, 3), (2, 2), (2, 2), "valid"),
    ((2, 5, 4, 1), (2, 3), (1, 2), "valid"),
    ((1, 5, 5, 2), (3, 3), (2, 2), "same"),
    ((1, 4, 5, 2), (2, 2), (3, 1), "same"),
    ((1, 4, 4, 4, 2), (2, 2, 2), (2, 2, 2), "valid"),
    ((1, 3, 4, 5, 1), (2, 2, 3), (1, 2, 2), "same"),
]


def _pool_windows(x: np.ndarray, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> np.ndarray:
    """Every window of ``x`` as an array ``(batch, *windows, channels, *window)``, with padding as NaN (an
    independent reference: one Python loop over the windows, padding computed from the Keras formula)."""
    spatial = x.shape[1:-1]
    if padding == "same":
        sizes = [-(-n // s) for n, s in zip(spatial, strides)]
        totals = [max((m - 1) * s + k - n, 0) for m, n, k, s in zip(sizes, spatial, window, strides)]
        x = np.pad(x, [(0, 0), *((t // 2, t - t // 2) for t in totals), (0, 0)], constant_values=np.nan)
    else:
        sizes = [(n - k) // s + 1 for n, k, s in zip(spatial, window, strides)]
    out = np.empty((x.shape[0], *sizes, x.shape[-1], *window))
    for position in np.ndindex(*sizes):
        corner = [p * s for p, s in zip(position, strides)]
        block = x[(slice(None), *(slice(c, c + k) for c, k in zip(corner, window)), slice(None))]
        out[(slice(None), *position)] = np.moveaxis(block, -1, 1)
    return out


def _max_pool(x: np.ndarray, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> np.ndarray:
    return np.nanmax(_pool_windows(x, window, strides, padding), axis=tuple(range(-len(window), 0)))


def _average_pool(x: np.ndarray, window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> np.ndarray:
    return np.nanmean(_pool_windows(x, window, strides, padding), axis=tuple(range(-len(window), 0)))


def _pool_record(name: str, reference: Callable[..., Any]) -> OpRecord:
    """A pooling record over ``POOL_CASES``; its samples have no ties (max pooling's tie rule is tested apart)."""

    def sample_inputs(rng: np.random.Generator) -> list[Sample]:
        return [
            Sample((distinct(rng, shape),), {"window": window, "strides": strides, "padding": padding})
            for shape, window, strides, padding in POOL_CASES
        ]

    def error(shape: tuple[int, ...], window: Any, padding: str = "valid", dtype: Any = np.float64) -> Sample:
        return Sample((np.ones(shape, dtype),), {"window": window, "strides": (1,) * len(window), "padding": padding})

    errors = (
        ErrorInput(error((2, 4, 1), (2,), dtype=np.int32), TypeError, r"expected a float tensor"),
        ErrorInput(error((4, 1), (2,)), ValueError, r"1 to 3 spatial axes, received shape \(4, 1\)"),
        ErrorInput(error((2, 4, 4, 1), (2,)), ValueError, r"`window` must be 2 positive integers.*received \(2,\)"),
        ErrorInput(error((2, 4, 1), (0,)), ValueError, r"`window` must be 1 positive integers"),
        ErrorInput(error((2, 4, 1), (2,), "full"), ValueError, r"`padding` must be 'valid' or 'same', received 'full'"),
        ErrorInput(error((2, 3, 1), (4,)), ValueError, r"window \(4,\) does not fit in the spatial shape \(3,\)"),
    )
    return OpRecord(name, sample_inputs, reference, errors=errors)


PAD_CASES = [((2, 3), ((1, 2), (0, 1)), 0.0), ((2, 3, 4), ((0, 0), (2, 1), (1, 0)), -1.5), ((3,), ((0, 0),), 0.0)]

_RECORDS += [
    OpRecord(
        "pad",
        lambda rng: [Sample((centered(rng, shape),), {"pad_width": w, "value": v}) for shape, w, v in PAD_CASES],
        lambda x, pad_width, value: np.pad(x, pad_width, constant_values=value),
        errors=(
            ErrorInput(Sample((np.ones((2, 3)),), {"pad_width": ((1, 1),), "value": 0.0}), ValueError, r"`pad_width`"),
            ErrorInput(
                Sample((np.ones(3),), {"pad_width": ((-1, 0),), "value": 0.0}),
                ValueError,
                r"non-negative integers per axis of shape \(3,\), received \(\(-1, 0\),\)",
            ),
        ),
    ),
    _pool_record("max_pool", _max_pool),
    _pool_record("average_pool", _average_pool),
]


# ------------------------------------------------------------ convolution
def _conv_reference(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    lhs_dilation: tuple[int, ...],
    rhs_dilation: tuple[int, ...],
    feature_group_count: int,
) -> np.ndarray:
    """conv_general by its definition: a sum over the kernel's taps of strided slices times the tap's matrix."""
    groups = feature_group_count
    *window, per_group, filters = kernel.shape
    spaced = np.zeros((x.shape[0], *((n - 1) * d + 1 for n, d in zip(x.shape[1:-1], lhs_dilation)), x.shape[-1]))
    spaced[(slice(None), *(slice(None, None, d) for d in lhs_dilation))] = x
    padded = np.pad(spaced, [(0, 0), *((max(lo, 0), max(hi, 0)) for lo, hi in padding), (0, 0)])
    padded = padded[
        (slice(None), *(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(padded.shape[1:], padding)))
    ]
    out_spatial = [
        (n - (k - 1) * d - 1) // s + 1 for n, k, d, s in zip(padded.shape[1:], window, rhs_dilation, strides)
    ]
    grouped = padded.reshape(*padded.shape[:-1], groups, per_group)
    taps = kernel.reshape(*window, per_group, groups, filters // groups)
    out = np.zeros((x.shape[0], *out_spatial, groups, filters // groups))
    for tap in np.ndindex(*window):
        rows = tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, rhs_dilation, out_spatial, strides)
        )
        out += np.einsum("...gc,cgo->...go", grouped[(slice(None), *rows)], taps[tap])
    return out.reshape(*out.shape[:-2], filters)


def _conv_attrs(
    strides: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    lhs_dilation: tuple[int, ...] | None = None,
    rhs_dilation: tuple[int, ...] | None = None,
    groups: int = 1,
) -> dict[str, Any]:
    """conv_general's attributes; dilations default to none."""
    ones = (1,) * len(strides)
    return {"strides": strides, "padding": padding, "lhs_dilation": lhs_dilation or ones,
            "rhs_dilation": rhs_dilation or ones, "feature_group_count": groups}  # fmt: skip


#: (input, kernel, attributes, label): 1-D to 3-D; strides, dilations, groups, uneven and negative padding
CONV_CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any], str]] = [
    ((2, 7, 3), (3, 3, 4), _conv_attrs((2,), ((1, 2),), rhs_dilation=(2,)), "1-D"),
    ((2, 5, 6, 3), (3, 3, 3, 2), _conv_attrs((1, 1), ((0, 0), (0, 0))), "2-D valid"),
    ((2, 6, 5, 4), (3, 2, 2, 6), _conv_attrs((2, 1), ((1, 0), (2, 1)), rhs_dilation=(1, 2), groups=2), "groups"),
    ((1, 5, 5, 3), (3, 3, 1, 6), _conv_attrs((1, 1), ((1, 1), (1, 1)), groups=3), "depthwise"),
    ((2, 4, 3, 2), (2, 2, 2, 3), _conv_attrs((1, 1), ((1, -1), (0, 1)), lhs_dilation=(2, 2)), "input dilation"),
    ((1, 4, 5, 3, 2), (2, 2, 2, 2, 3), _conv_attrs((1, 2, 1), ((0, 0), (1, 1), (0, 1)), lhs_dilation=(2, 1, 1)), "3-D"),
]

_RECORDS.append(
    OpRecord(
        "conv_general",
        lambda rng: [Sample((centered(rng, x), centered(rng, k)), attrs, label) for x, k, attrs, label in CONV_CASES],
        _conv_reference,
        errors=(
            ErrorInput(
                Sample((np.ones((1, 5, 5, 3)), np.ones((3, 3, 2, 4))), _conv_attrs((1, 1), ((0, 0), (0, 0)))),
                ValueError,
                r"kernel's input channels \(2\) times `feature_group_count` \(1\) must equal the input's channels",
            ),
            ErrorInput(
                Sample((np.ones((1, 5, 5, 4)), np.ones((3, 3, 2, 3))), _conv_attrs((1, 1), ((0, 0), (0, 0)), groups=2)),
                ValueError,
                r"`feature_group_count` must be >= 1 and divide the input channels \(4\) and the filters \(3\)",
            ),
            ErrorInput(
                Sample((np.ones((1, 3, 3, 1)), np.ones((5, 5, 1, 1))), _conv_attrs((1, 1), ((0, 0), (1, 0)))),
                ValueError,
                r"dilated kernel \(5, 5\) .* is larger than the padded input \(3, 3\)",
            ),
            ErrorInput(
                Sample((np.ones((1, 5, 1)), np.ones((3, 3, 1, 1))), _conv_attrs((1,), ((0, 0),))),
                ValueError,
                r"kernel .* of the same rank",
            ),
            ErrorInput(
                Sample((np.ones((1, 5, 1)), np.ones((3, 1, 1))), _conv_attrs((0,), ((0, 0),))),
                ValueError,
                r"`strides` must be 1 integers >= 1, received \(0,\)",
            ),
        ),
    )
)


# -- keras.ops support: scans, sorting and rounding
def off_halves(low: int, high: int) -> Draw:
    """Floats at least 0.1 away from every half-integer (round's jumps), integer parts in [low, high)."""
    return lambda rng, shape: (
        rng.integers(low, high, shape) + rng.choice((0.1, 0.6), shape) + rng.uniform(0, 0.3, shape)
    )


ALONG_AXIS_ERRORS = (
    ErrorInput(Sample((np.ones((2, 3)),), {"axis": 2}), ValueError, r"`axis` must be an axis of a tensor of shape"),
    ErrorInput(Sample((np.ones(3, bool),), {"axis": 0}), TypeError, r"expected a numeric tensor, received dtype bool"),
)
_RECORDS += [
    OpRecord(
        "cumsum",
        lambda rng: [
            Sample((centered(rng, (5,)),), {"axis": 0}),
            Sample((centered(rng, (2, 3, 4)),), {"axis": 1}),
            Sample((centered(rng, (2, 3)),), {"axis": 1}),
            Sample((np.arange(6, dtype=np.int32).reshape(2, 3),), {"axis": 0}, "int32"),
        ],
        lambda x, axis: np.cumsum(x, axis=axis, dtype=x.dtype),
        errors=ALONG_AXIS_ERRORS,
    ),
    OpRecord(
        "cumprod",
        lambda rng: [
            Sample((centered(rng, (5,)),), {"axis": 0}),
            Sample((centered(rng, (2, 3, 4)),), {"axis": 1}),
            Sample((given([[2.0, 0.0, 3.0, 0.0], [1.5, -2.0, 0.0, 4.0]])(rng, (2, 4)),), {"axis": 1}, "zeros"),
            Sample((np.arange(1, 7, dtype=np.int32).reshape(2, 3),), {"axis": 0}, "int32"),
        ],
        lambda x, axis: np.cumprod(x, axis=axis, dtype=x.dtype),
        errors=ALONG_AXIS_ERRORS,
    ),
    OpRecord(
        "argsort",
        lambda rng: [
            Sample((centered(rng, (6,)),), {"axis": 0}),
            Sample((centered(rng, (2, 3, 4)),), {"axis": 1}),
            Sample((whole(-2, 2)(rng, (3, 8)),), {"axis": 1}, "ties"),
            Sample((np.array([[3, 1, 3], [0, 0, -1]], np.int32),), {"axis": 1}, "int32 ties"),
        ],
        lambda x, axis: np.argsort(x, axis=axis, kind="stable").astype(np.int32),
        differentiable=False,
        errors=ALONG_AXIS_ERRORS,
    ),
    elementwise("round", np.round, (off_halves(-3, 3),), {"large": (off_halves(-(10**6), 10**6),)}),
]
# ---------------------------------------------------------------- merging
_RECORDS.append(
    OpRecord(
        "concatenate",
        lambda rng: [
            Sample((centered(rng, a), centered(rng, b)), {"axis": axis}, label)
            for a, b, axis, label in (
                ((2, 3), (2, 4), 1, ""),
                ((1, 3), (2, 3), 0, ""),
                ((2, 1, 3), (2, 2, 3), 1, ""),
                ((2, 3, 2), (2, 3, 1), 2, ""),
                ((2, 0), (2, 3), 1, "empty"),
            )
        ],
        lambda a, b, axis: np.concatenate((a, b), axis=axis),
        errors=(
            ErrorInput(
                Sample((np.ones((2, 3)), np.ones((3, 3))), {"axis": 1}), ValueError, r"must match except on axis 1"
            ),
            ErrorInput(Sample((np.ones((2, 3)), np.ones(3)), {"axis": 0}), ValueError, r"one rank >= 1"),
            ErrorInput(Sample((np.ones(3), np.ones(3, np.int32)), {"axis": 0}), TypeError, r"one dtype"),
        ),
    )
)

# ---------------------------------------------------------------- distribution
# a world of one process: the identity forward and VJP (several ranks are tested under torchrun in tests/distributed)
_RECORDS.append(
    OpRecord(
        "all_reduce",
        lambda rng: [Sample((centered(rng, shape),)) for shape in ((), (3,), (2, 3), (2, 3, 4))],
        lambda x: x,
        errors=(ErrorInput(Sample((np.arange(3, dtype=np.int32),)), TypeError, r"float"),),
    )
)


# ------------------------------------------------------- the pooling adjoints
def _window_members(shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...], padding: str) -> Any:
    """Per window, the flat positions of the input elements it covers, ``(batch, *windows, channels, size)``,
    -1 at padding: the windows of an input that holds its own positions."""
    positions = _pool_windows(np.arange(math.prod(shape), dtype=float).reshape(shape), window, strides, padding)
    return np.nan_to_num(positions, nan=-1).astype(int).reshape(*positions.shape[: -len(window)], -1)


def _max_pool_adjoint(g: Any, x: Any, out: Any, window: Any, strides: Any, padding: str) -> np.ndarray:
    """Each window's ``g`` added at its first maximum in row-major window order (``argmax``'s first)."""
    members = _window_members(x.shape, window, strides, padding)
    values = np.where(members >= 0, x.ravel()[members], -np.inf)
    first = np.take_along_axis(members, values.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    grad = np.zeros(x.size)
    np.add.at(grad, first, g)
    return grad.reshape(x.shape)


def _max_pool_pick(h: Any, x: Any, out: Any, window: Any, strides: Any, padding: str) -> np.ndarray:
    """Each window's ``h`` at its first maximum of ``x`` in row-major window order: ``_max_pool_adjoint``'s
    transpose."""
    members = _window_members(x.shape, window, strides, padding)
    values = np.where(members >= 0, x.ravel()[members], -np.inf)
    first = np.take_along_axis(members, values.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    return np.asarray(h).ravel()[first]


def _average_pool_adjoint(g: Any, shape: tuple[int, ...], window: Any, strides: Any, padding: str) -> np.ndarray:
    """Each window's ``g`` shared evenly among the input elements it covers."""
    members = _window_members(shape, window, strides, padding)
    inside = members >= 0
    shares = np.broadcast_to(g[..., None] / inside.sum(axis=-1, keepdims=True), members.shape)
    grad = np.zeros(math.prod(shape))
    np.add.at(grad, members[inside], shares[inside])
    return grad.reshape(shape)


def _max_pool_adjoint_samples(first: str) -> Callable[[np.random.Generator], list[Sample]]:
    """Per pooling case, inputs with one clear maximum per window, then inputs of 0s and 1s (ties everywhere, as
    after a ReLU) on the overlapping and "same" cases: ``out`` is the inputs' max pooling, and the first input
    any values of the ``first`` shape ("pooled": an adjoint ``g``; "input": values ``h`` to pick from)."""

    def samples(rng: np.random.Generator) -> list[Sample]:
        drawn = []
        for label, draw, cases in (("", distinct, POOL_CASES), ("ties", whole(0, 2), POOL_CASES[1::2])):
            for shape, window, strides, padding in cases:
                x = draw(rng, shape)
                out = _max_pool(x, window, strides, padding)
                attrs = {"window": window, "strides": strides, "padding": padding}
                drawn.append(Sample((centered(rng, out.shape if first == "pooled" else shape), x, out), attrs, label))
        return drawn

    return samples


def _adjoint_error(
    label: str, shapes: tuple[tuple[int, ...], ...], int32_at: int | None, error: type, pattern: str
) -> ErrorInput:
    """Bad operands of a max-pooling adjoint over 1-D windows of 2 (ones of ``shapes``, the one at ``int32_at``
    int32), and the error that names them."""
    inputs = tuple(np.ones(shape, np.int32 if i == int32_at else np.float64) for i, shape in enumerate(shapes))
    return ErrorInput(Sample(inputs, {"window": (2,), "strides": (2,), "padding": "valid"}, label), error, pattern)


_FLOAT = "float(32|64)"
_NOT_FLOAT = r"expected a float tensor, received dtype int32"
MAX_POOL_VJP_ERRORS = (
    _adjoint_error("g too long", ((2, 3, 1), (2, 4, 1), (2, 2, 1)), None, ValueError,
                   rf"`g` must be {_FLOAT} of the pooled shape \(2, 2, 1\), received {_FLOAT} of shape \(2, 3, 1\)"),
    _adjoint_error("int32 out", ((2, 2, 1), (2, 4, 1), (2, 2, 1)), 2, ValueError,
                   rf"`out` must be {_FLOAT} of the pooled shape \(2, 2, 1\), received int32"),
    _adjoint_error("int32 x", ((2, 2, 1), (2, 4, 1), (2, 2, 1)), 1, TypeError, _NOT_FLOAT),
)  # fmt: skip
MAX_POOL_SELECT_ERRORS = (
    _adjoint_error("h too short", ((2, 3, 1), (2, 4, 1), (2, 2, 1)), None, ValueError,
                   rf"`h` must be {_FLOAT} of the input's shape \(2, 4, 1\), received {_FLOAT} of shape \(2, 3, 1\)"),
    _adjoint_error("out too long", ((2, 4, 1), (2, 4, 1), (2, 3, 1)), None, ValueError,
                   rf"`out` must be {_FLOAT} of the pooled shape \(2, 2, 1\), received {_FLOAT} of shape \(2, 3, 1\)"),
    _adjoint_error("int32 x", ((2, 4, 1), (2, 4, 1), (2, 2, 1)), 1, TypeError, _NOT_FLOAT),
)  # fmt: skip


def _average_pool_vjp_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample(
            (centered(rng, _average_pool(np.zeros(shape), window, strides, padding).shape),),
            {"shape": shape, "window": window, "strides": strides, "padding": padding},
        )
        for shape, window, strides, padding in POOL_CASES
    ]


_RECORDS += [
    OpRecord(
        "max_pool_vjp", _max_pool_adjoint_samples("pooled"), _max_pool_adjoint, errors=MAX_POOL_VJP_ERRORS, wrt=(0,)
    ),
    OpRecord(
        "max_pool_select",
        _max_pool_adjoint_samples("input"),
        _max_pool_pick,
        errors=MAX_POOL_SELECT_ERRORS,
        wrt=(0,),
    ),
    OpRecord(
        "average_pool_vjp",
        _average_pool_vjp_samples,
        _average_pool_adjoint,
        errors=(
            ErrorInput(
                Sample(
                    (np.ones((2, 3, 1)),), {"shape": (2, 4, 1), "window": (2,), "strides": (2,), "padding": "valid"}
                ),
                ValueError,
                r"`g` must have the pooled shape \(2, 2, 1\), received shape \(2, 3, 1\)",
            ),
            ErrorInput(
                Sample(
                    (np.ones((2, 2, 1)),), {"shape": (2, 4, 1), "window": (2, 2), "strides": (2,), "padding": "valid"}
                ),
                ValueError,
                r"`window` and `strides` must be 1 positive integers each",
            ),
            ErrorInput(
                Sample((np.ones((2, 2)),), {"shape": (2, 4), "window": (2,), "strides": (2,), "padding": "valid"}),
                ValueError,
                r"`shape` must be a \(batch, \*spatial, channels\) shape with 1 to 3 spatial axes, received \(2, 4\)",
            ),
        ),
    ),
]


# ------------------------------------------------------------------ bitwise operations
def integers(rng: np.random.Generator, count: int, high: int = 64) -> list[np.ndarray]:
    return [rng.integers(-high, high, (2, 3)).astype(np.int32) for _ in range(count)]


def _bitwise(
    name: str, reference: Callable[..., Any], arity: int, shifts: bool = False, bools: bool = True
) -> OpRecord:
    def sample_inputs(rng: np.random.Generator) -> list[Sample]:
        operands = integers(rng, arity)
        if shifts:
            operands[1] = rng.integers(0, 8, (2, 3)).astype(np.int32)
        samples = [Sample(tuple(operands)), Sample(tuple(o.astype(np.int64) for o in operands), label="int64")]
        if bools and not shifts:
            samples.append(Sample(tuple(rng.random((2, 3)) < 0.5 for _ in range(arity)), label="bool"))
        return samples

    error = ErrorInput(Sample(tuple(np.ones(3) for _ in range(arity)), label="float"), TypeError,
                       "expected int32 or int64")  # fmt: skip
    return OpRecord(name, sample_inputs, reference, differentiable=False, errors=(error,))


BITWISE_RECORDS = [
    _bitwise("bitwise_and", np.bitwise_and, 2),
    _bitwise("bitwise_or", np.bitwise_or, 2),
    _bitwise("bitwise_xor", np.bitwise_xor, 2),
    _bitwise("bitwise_not", np.invert, 1),
    _bitwise("left_shift", np.left_shift, 2, shifts=True),
    _bitwise("right_shift", np.right_shift, 2, shifts=True),
    _bitwise("gcd", np.gcd, 2, bools=False),  # zeros and negative operands among the draws
    _bitwise("lcm", np.lcm, 2, bools=False),
]
_RECORDS += BITWISE_RECORDS


# ------------------------------------------------------------------ linear algebra
def well_conditioned(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Square matrices near twice the identity: condition numbers of a few units, determinants far from 0."""
    return rng.normal(0.0, 0.3, shape) + 2.0 * np.eye(shape[-1])


def square_samples(rng: np.random.Generator) -> list[Sample]:
    return [Sample((well_conditioned(rng, (3, 3)),)), Sample((well_conditioned(rng, (2, 4, 4)),), label="batch")]


SQUARE_ERRORS = (
    ErrorInput(
        Sample((np.ones((2, 3)),)), ValueError, r"expected square matrices \(\.\.\., n, n\), received shape \(2, 3\)"
    ),
    ErrorInput(Sample((np.eye(2, dtype=np.int32),), label="int32"), TypeError, "expected a float32 or float64 tensor"),
)
SOLVE_ERRORS = (
    ErrorInput(Sample((np.eye(3), np.ones((2, 1)))), ValueError, r"right-hand sides must have shape \(3, 'k'\)"),
    ErrorInput(Sample((np.ones((3, 2)), np.ones((3, 1)))), ValueError, "expected square matrices"),
)


def _solve_triangular(a: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)


def positive_definite(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Symmetric positive-definite matrices with eigenvalues near 4."""
    factors = well_conditioned(rng, shape)
    return factors @ np.swapaxes(factors, -1, -2)


def spread_spectrum(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Matrices whose symmetric parts have eigenvalues about 1 apart (1, 2, ..., n), in random bases, plus a small
    antisymmetric part the eigendecomposition ignores."""
    bases = np.linalg.qr(rng.normal(size=shape))[0]
    symmetric = bases @ (np.arange(1.0, shape[-1] + 1) * np.swapaxes(bases, -1, -2))
    skew = rng.normal(0.0, 0.1, shape)
    return symmetric + skew - np.swapaxes(skew, -1, -2)


def _qr(a: np.ndarray) -> np.ndarray:
    """Q (zero-padded to n columns) over R, R's diagonal non-negative."""
    q, r = np.linalg.qr(a)
    signs = np.where(np.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    q, r = q * signs[..., None, :], r * signs[..., :, None]
    return np.concatenate([np.pad(q, [(0, 0)] * (a.ndim - 1) + [(0, r.shape[-1] - q.shape[-1])]), r], axis=-2)


def spread_singular_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Matrices with singular values 2, 3, ..., k + 1 (about 1 apart, far from 0) in random bases."""
    *batch, rows, cols = shape
    k = min(rows, cols)
    left = np.linalg.qr(rng.normal(size=(*batch, rows, k)))[0]
    right = np.linalg.qr(rng.normal(size=(*batch, cols, k)))[0]
    return (left * np.arange(2.0, k + 2)) @ np.swapaxes(right, -1, -2)


def _stacked(transform: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """A complex transform of ``x[0] + i x[1]``, its result's real and imaginary parts stacked the same way."""

    def reference(x: np.ndarray) -> np.ndarray:
        out = transform(x[0] + 1j * x[1])
        return np.stack([out.real, out.imag])

    return reference


def _svd(a: np.ndarray) -> np.ndarray:
    """U over the singular values over V^T (U and the values zero-padded to n columns), each pair of singular
    vectors signed so that the left one's largest component is positive."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    largest = np.take_along_axis(u, np.argmax(np.abs(u), axis=-2)[..., None, :], axis=-2)
    signs = np.where(largest < 0, -1.0, 1.0)
    u, vh = u * signs, vh * np.swapaxes(signs, -1, -2)
    padding = [(0, 0)] * (a.ndim - 1) + [(0, vh.shape[-1] - u.shape[-1])]
    return np.concatenate([np.pad(u, padding), np.pad(s[..., None, :], padding), vh], axis=-2)


def _eigh(a: np.ndarray) -> np.ndarray:
    """Eigenvalues over eigenvectors, each eigenvector's largest component positive."""
    values, vectors = np.linalg.eigh((a + np.swapaxes(a, -1, -2)) / 2)
    largest = np.take_along_axis(vectors, np.argmax(np.abs(vectors), axis=-2)[..., None, :], axis=-2)
    return np.concatenate([values[..., None, :], vectors * np.sign(largest)], axis=-2)


LINALG_RECORDS = [
    OpRecord(
        "inv",
        square_samples,
        np.linalg.inv,
        errors=SQUARE_ERRORS,
    ),
    OpRecord(
        "det",
        square_samples,
        np.linalg.det,
        errors=SQUARE_ERRORS,
    ),
    OpRecord(
        "cholesky",
        lambda rng: [
            Sample((positive_definite(rng, (3, 3)),)),
            Sample((positive_definite(rng, (2, 4, 4)),), label="batch"),
        ],
        lambda a: np.linalg.cholesky((a + np.swapaxes(a, -1, -2)) / 2),
        errors=SQUARE_ERRORS,
    ),
    OpRecord(
        "eigh",
        lambda rng: [
            Sample((spread_spectrum(rng, (3, 3)),)),
            Sample((spread_spectrum(rng, (2, 4, 4)),), label="batch"),
        ],
        _eigh,
        errors=SQUARE_ERRORS,
    ),
    OpRecord(
        "qr",
        lambda rng: [
            Sample((well_conditioned(rng, (3, 3)),)),
            Sample((centered(rng, (2, 5, 3)),), label="tall batch"),
        ],
        _qr,
        errors=(
            ErrorInput(Sample((np.ones(3),)), ValueError, r"expected matrices \(\.\.\., m, n\), received shape \(3,\)"),
            SQUARE_ERRORS[1],
        ),
    ),
    OpRecord(
        "svd",
        lambda rng: [
            Sample((spread_singular_values(rng, (3, 3)),)),
            Sample((spread_singular_values(rng, (2, 5, 3)),), label="tall batch"),
            Sample((spread_singular_values(rng, (3, 5)),), label="wide"),
        ],
        _svd,
        errors=(
            ErrorInput(Sample((np.ones(3),)), ValueError, r"expected matrices \(\.\.\., m, n\), received shape \(3,\)"),
            SQUARE_ERRORS[1],
        ),
    ),
    *(
        OpRecord(
            name,
            lambda rng: [Sample((centered(rng, (2, 5)),)), Sample((centered(rng, (2, 3, 4)),), label="batch")],
            reference,
            errors=(
                ErrorInput(
                    Sample((np.ones((3, 4)),)), ValueError, r"stacked, \(2, \.\.\., n\), received shape \(3, 4\)"
                ),
                ErrorInput(
                    Sample((np.ones((2, 4), dtype=np.int32),), label="int32"),
                    TypeError,
                    "expected a float32 or float64 tensor",
                ),
            ),
        )
        for name, reference in (("fft", _stacked(np.fft.fft)), ("ifft", _stacked(np.fft.ifft)))
    ),
    OpRecord(
        "solve",
        lambda rng: [
            Sample((well_conditioned(rng, (3, 3)), centered(rng, (3, 2)))),
            Sample((well_conditioned(rng, (2, 4, 4)), centered(rng, (2, 4, 1))), label="batch"),
        ],
        np.linalg.solve,
        errors=SOLVE_ERRORS,
    ),
    OpRecord(
        "solve_triangular",
        lambda rng: [
            Sample((well_conditioned(rng, (3, 3)), centered(rng, (3, 2))), {"lower": True}),
            Sample((well_conditioned(rng, (2, 4, 4)), centered(rng, (2, 4, 1))), {"lower": False}, "batch"),
        ],
        _solve_triangular,
        errors=tuple(
            ErrorInput(Sample(e.sample.inputs, {"lower": True}, e.sample.label), e.error, e.match) for e in SOLVE_ERRORS
        ),
    ),
]
_RECORDS += LINALG_RECORDS
#: the primitives that compute in float32 or float64 only (NumPy's and PyTorch's linear algebra have no float16)
SINGLE_OR_DOUBLE_ONLY = tuple(record.name for record in LINALG_RECORDS)

#: primitive name -> its record
RECORDS: dict[str, OpRecord] = {record.name: record for record in _RECORDS}
