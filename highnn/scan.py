"""Recurrences as one primitive: ``scan`` runs a traced step function over the first axis of its inputs.

A recurrent layer's step (``h_t = f(h_{t-1}, x_t, weights)``) is written once
in highnn operations and traced into a small program of its own, a
:class:`ScanBody`. The ``scan`` primitive applies that program at every time
step: a Python loop on NumPy and PyTorch, ``jax.lax.scan`` on JAX. The traced
train step therefore holds one ``scan`` step however long the sequence is, so
tracing and ``jax.jit`` compiling cost the same for 5 steps or 500. Its VJP,
the ``scan_vjp`` primitive, is a reverse scan of the body's VJP, which highnn's
own engine traces from the step: the gradient is highnn's on every backend.

A step's program joins pieces that tile an axis with ``concatenate`` rather
than as a sum of zero-padded ``unindex`` pieces (what a state split into
``[h, c]`` and its gradient produce): a sum of padded arrays is one array pass
per piece, and XLA compiles it to per-element bounds checks, several times
slower than a copy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from highnn.backends.base import numpy_dtype
from highnn.config import settings, use_backend
from highnn.graph import Tensor, grad, grad_mode, recording, to_tensor
from highnn.ops.primitives import scan as scan_primitive
from highnn.tracing import Program, Tape
from highnn.tracing import Step as PlanStep

Step = Callable[..., Tensor]
Signature = tuple[Any, ...]


class ScanBody:
    """A step function ``(carry, *x_t, *consts) -> new carry`` in highnn operations, traced per backend and shapes.

    Backends call :meth:`forward` and :meth:`vjp` for the pure functions of
    arrays they loop over; each is traced on first use for its backend and
    operand shapes, on zeros of those shapes, so it never captures data.
    """

    def __init__(self, step: Step) -> None:
        self.step = step
        self.programs: dict[Signature, Callable[..., Any]] = {}

    def __str__(self) -> str:
        return f"ScanBody({getattr(self.step, '__name__', type(self.step).__name__)})"

    def __repr__(self) -> str:  # distinct per body: a tape reuses a step only when its attributes' reprs match
        return f"<{self} at {id(self):#x}>"

    def forward(self, *examples: Any) -> Callable[..., Any]:
        """``(carry, *x_t, *consts) -> new carry`` on arrays shaped like ``examples``."""
        program = self._program("forward", examples)
        return lambda *arrays: program(*arrays)[0]

    def vjp(self, *examples: Any) -> Callable[..., tuple[Any, ...]]:
        """``(carry, *x_t, *consts, g) -> (g_carry, *g_x_t, *g_consts)``: the step's VJP, in highnn's engine."""
        return self._program("vjp", examples)

    def _program(self, kind: str, examples: Sequence[Any]) -> Callable[..., Any]:
        backend = settings.backend
        signature = tuple((tuple(a.shape), backend.dtype(a)) for a in examples)
        key = (kind, backend, signature)
        if key not in self.programs:
            self.programs[key] = self._trace(kind, [np.zeros(shape, numpy_dtype(dtype)) for shape, dtype in signature])
        return self.programs[key]

    def _trace(self, kind: str, zeros: list[np.ndarray]) -> Callable[..., Any]:
        """Record the step (and for ``vjp`` its backward pass) on a tape of its own, as a program.

        The recording runs on NumPy, whatever the backend: the tape keeps only the
        steps, which the program then calls on the active backend (recording on
        JAX would compile every operation of the step one by one).
        """
        backend = settings.backend
        tape = Tape()
        with use_backend("numpy", floatx=settings.floatx), recording(tape), grad_mode(True):
            inputs = [Tensor(z, requires_grad=kind == "vjp") for z in zeros]
            for tensor in inputs:
                tape.add_input(tensor)
            if kind == "forward":
                outputs = [self._call(inputs)]
            else:
                *operands, adjoint = inputs
                outputs = grad(self._call(operands), operands, adjoint)
        tape.constants = {
            slot: backend.asarray(value, np.asarray(value).dtype.name) for slot, value in tape.constants.items()
        }
        tape.steps = join_pieces(tape, {tape.slot(t) for t in outputs})
        program = Program(tape, outputs)
        if program.read:
            names = ", ".join(v.path for v in program.read)
            raise ValueError(f"scan: the step function reads variables ({names}); pass them in `consts` instead.")
        return program.function

    def _call(self, operands: Sequence[Tensor]) -> Tensor:
        carry = operands[0]
        out = to_tensor(self.step(*operands))
        if out.shape != carry.shape or out.dtype != carry.dtype:
            raise ValueError(
                f"scan: the step function must return a carry like its first argument ({carry.shape}, {carry.dtype}), "
                f"returned {out.shape}, {out.dtype}."
            )
        return out


def _run(index: Any, shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """``(axis, start, stop)`` when ``index`` picks one contiguous run of one axis of ``shape`` and all of the rest."""
    index = index if isinstance(index, tuple) else (index,)
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(shape) - len(index) + 1) + index[at + 1 :]
    if len(index) != len(shape) or not all(isinstance(i, slice) for i in index):
        return None
    partial = [(axis, *i.indices(n)) for axis, (i, n) in enumerate(zip(index, shape)) if i.indices(n) != (0, n, 1)]
    if len(partial) != 1 or partial[0][3] != 1 or partial[0][1] >= partial[0][2]:
        return None
    return partial[0][:3]


def join_pieces(tape: Tape, results: set[int]) -> list[PlanStep]:
    """``tape.steps`` with every sum of ``unindex`` pieces that tiles one axis replaced by ``concatenate`` steps.

    A piece is ``unindex(x, shape, index)`` of one run of one axis; sums of
    pieces of one shape and axis whose runs are disjoint collect their runs, and
    a sum whose runs cover the axis becomes the pieces joined in order (exact:
    every element is one piece's value plus zeros). The pieces and partial sums
    it replaces must have no other use.
    """
    uses: dict[int, int] = {}
    for _, ins, _, _ in tape.steps:
        for slot in ins:
            uses[slot] = uses.get(slot, 0) + 1
    # slot -> ((shape, axis), sorted runs (start, stop, source slot), indices of the steps it replaces)
    pieces: dict[int, tuple[tuple[Any, ...], list[tuple[int, int, int]], list[int]]] = {}
    replaced: dict[int, list[PlanStep]] = {}
    for i, (name, ins, out, attrs) in enumerate(tape.steps):
        if name == "unindex" and (run := _run(attrs["index"], attrs["shape"])) is not None:
            pieces[out] = ((attrs["shape"], run[0]), [(run[1], run[2], ins[0])], [i])
        elif name == "add" and len(set(ins)) == 2 and all(uses[s] == 1 and s not in results for s in ins):
            if not (ins[0] in pieces and ins[1] in pieces):
                continue
            (kind, runs_a, steps_a), (kind_b, runs_b, steps_b) = pieces[ins[0]], pieces[ins[1]]
            runs = sorted(runs_a + runs_b)
            if kind != kind_b or any(a[1] > b[0] for a, b in itertools.pairwise(runs)):
                continue
            pieces[out] = (kind, runs, steps_a + steps_b + [i])
            shape, axis = kind
            edges = [0] + [stop for _, stop, _ in runs]
            if [start for start, _, _ in runs] == edges[:-1] and edges[-1] == shape[axis]:  # the runs tile the axis
                replaced.update({j: [] for j in steps_a + steps_b})
                replaced[i] = _concatenations(tape, [source for _, _, source in runs], axis, out)
    return [step for i, original in enumerate(tape.steps) for step in replaced.get(i, [original])]


def _concatenations(tape: Tape, sources: list[int], axis: int, out: int) -> list[PlanStep]:
    """Steps joining ``sources`` along ``axis`` into slot ``out``, two at a time (``concatenate`` is binary)."""
    steps: list[PlanStep] = []
    joined = sources[0]
    for k, source in enumerate(sources[1:], 2):
        if k == len(sources):
            target = out
        else:  # a new slot for the partial join, shaped like the first k pieces together
            parts = [tape.alive[s] for s in sources[:k]]
            shape = list(parts[0].shape)
            shape[axis] = sum(p.shape[axis] for p in parts)
            target = tape.new_slot(Tensor(np.broadcast_to(np.zeros((), parts[0].dtype), shape)))
        steps.append(("concatenate", (joined, source), target, {"axis": axis}))
        joined = target
    return steps


def scan(step: Step | ScanBody, init: Tensor, xs: Sequence[Tensor], consts: Sequence[Tensor] = ()) -> Tensor:
    """The carries of ``carry = step(carry, *x_t, *consts)`` for each slice ``x_t`` of ``xs`` along axis 0, stacked.

    ``step`` is written in highnn operations and must not read variables: pass
    weights in ``consts``. The result has shape ``(time,) + init.shape``.

    >>> h = scan(lambda h, x, w: hn.ops.tanh(h @ w + x), h0, [x_time_major], [w])
    """
    body = step if isinstance(step, ScanBody) else ScanBody(step)
    return scan_primitive(init, *xs, *consts, body=body, n_xs=len(xs))
