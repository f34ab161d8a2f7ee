"""Recurrences as one primitive: ``scan`` runs a traced step function over the first axis of its inputs.

A recurrent layer's step (``h_t = f(h_{t-1}, x_t, weights)``) is written once
in highnn operations and traced into a small program of its own, a
:class:`ScanBody`. The ``scan`` primitive applies that program at every time
step: a Python loop on NumPy and PyTorch, ``jax.lax.scan`` on JAX. The traced
train step therefore holds one ``scan`` step however long the sequence is, so
tracing and ``jax.jit`` compiling cost the same for 5 steps or 500. Its VJP,
the ``scan_vjp`` primitive, is a reverse scan of the body's VJP, which highnn's
own engine traces from the step: the gradient is highnn's on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from highnn.config import settings, use_backend
from highnn.graph import Tensor, grad, grad_mode, recording, to_tensor
from highnn.ops.primitives import scan as scan_primitive
from highnn.tracing import Program, Tape

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
            self.programs[key] = self._trace(kind, [np.zeros(shape, dtype) for shape, dtype in signature])
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


def scan(step: Step | ScanBody, init: Tensor, xs: Sequence[Tensor], consts: Sequence[Tensor] = ()) -> Tensor:
    """The carries of ``carry = step(carry, *x_t, *consts)`` for each slice ``x_t`` of ``xs`` along axis 0, stacked.

    ``step`` is written in highnn operations and must not read variables: pass
    weights in ``consts``. The result has shape ``(time,) + init.shape``.

    >>> h = scan(lambda h, x, w: hn.ops.tanh(h @ w + x), h0, [x_time_major], [w])
    """
    body = step if isinstance(step, ScanBody) else ScanBody(step)
    return scan_primitive(init, *xs, *consts, body=body, n_xs=len(xs))
