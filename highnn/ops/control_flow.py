"""Keras's ``keras.ops`` control flow: ``cond``, ``switch``, ``fori_loop``, ``while_loop``, ``scan``, ``map``,
``associative_scan`` and ``vectorized_map``, over tensors or nested lists, tuples and dicts of them.

highnn records a traced step by running it once, so Python control flow that reads a tensor's value would
fix the branch taken on the traced batch. These functions therefore never read a value inside a trace:

- ``cond`` and ``switch`` with a tensor predicate or index compute every branch and select the result
  elementwise (``where``), as JAX does under ``vmap``; branches must be free of side effects and give
  results of one structure and broadcastable shapes. A Python ``bool`` or ``int`` runs one branch only.
- ``fori_loop``, ``scan``, ``map`` and ``associative_scan`` run a Python loop of a length known from
  shapes or Python ints, unrolled in a traced step (for long recurrences, ``layers.RNN`` traces its
  step once).
- ``while_loop`` runs a Python loop while its condition holds, eagerly; inside a traced step it needs
  ``maximum_iterations`` and then runs that many steps, each keeping the previous values once the condition
  has failed.

Gradients flow through every one of them by highnn's own engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from highnn.checks import fail, is_integer
from highnn.graph import Tensor, is_tracing, to_tensor
from highnn.nest import flatten, map_structure, map_together
from highnn.ops.numpy_ops import expand_dims, logical_and, where
from highnn.ops.primitives import broadcast_to, cast, concatenate, equal, transpose


def _select(condition: Tensor, chosen: Any, other: Any) -> Any:
    """``chosen`` where the scalar ``condition`` holds, else ``other``, leaf by leaf."""
    return map_together(lambda a, b: where(condition, a, b), chosen, other)


def cond(pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    """``true_fn()`` if ``pred`` holds, else ``false_fn()``: with a tensor ``pred``, both run and the result is
    selected, so the choice follows the data in a traced step too."""
    if isinstance(pred, Tensor):
        if pred.shape:
            fail("cond", "pred", "a scalar (a bool or a tensor of shape ())", f"shape {pred.shape}")
        return _select(cast(pred, "bool"), true_fn(), false_fn())
    return true_fn() if pred else false_fn()


def switch(index: Any, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """``branches[index](*operands)``, ``index`` clamped to the branches (as Keras); with a tensor index, every
    branch runs and the result is selected."""
    if not branches:
        fail("switch", "branches", "a non-empty list of functions", branches)
    last = len(branches) - 1
    if not isinstance(index, Tensor):
        return branches[min(max(int(index), 0), last)](*operands)
    if index.shape:
        fail("switch", "index", "a scalar", f"shape {index.shape}")
    results = [branch(*operands) for branch in branches]
    position = cast(index, "int32")
    out = results[last]
    for i in range(last - 1, -1, -1):  # the lowest index whose test holds wins; below 0 clamps to the first
        chosen = equal(position, i) if i else position <= 0
        out = _select(chosen, results[i], out)
    return out


def _count(owner: str, argument: str, value: Any) -> int:
    """A loop bound as a Python int: an int, or a scalar tensor read eagerly (never inside a trace)."""
    if is_integer(value):
        return int(value)
    if isinstance(value, Tensor) and not value.shape and not is_tracing():
        return int(value)
    fail(owner, argument, "a Python int (or, outside a traced step, a scalar tensor)", value, TypeError)


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any, Any], Any], init_val: Any) -> Any:
    """``init_val`` through ``body_fun(i, value)`` for ``i`` from ``lower`` to ``upper - 1``."""
    value = init_val
    for i in range(_count("fori_loop", "lower", lower), _count("fori_loop", "upper", upper)):
        value = body_fun(i, value)
    return value


def while_loop(
    cond: Callable[..., Any], body: Callable[..., Any], loop_vars: Any, maximum_iterations: int | None = None
) -> Any:
    """``loop_vars`` through ``body`` while ``cond`` holds (at most ``maximum_iterations`` times). As in Keras,
    a tuple or list of loop variables is unpacked into ``cond`` and ``body``."""
    unpack = isinstance(loop_vars, (list, tuple))

    def call(fn: Callable[..., Any], values: Any) -> Any:
        return fn(*values) if unpack else fn(values)

    if maximum_iterations is not None and (not is_integer(maximum_iterations) or maximum_iterations < 0):
        fail("while_loop", "maximum_iterations", "None or an int >= 0", maximum_iterations)
    if is_tracing():
        if maximum_iterations is None:
            fail("while_loop", "maximum_iterations", "an int inside a traced step (the loop runs that many "
                 "steps, each keeping the values once the condition fails)", None)  # fmt: skip
        values, running = loop_vars, to_tensor(True)
        for _ in range(maximum_iterations):
            running = logical_and(running, cast(to_tensor(call(cond, values)), "bool"))
            updated = call(body, values)
            values = _select(running, type(values)(updated) if unpack else updated, values)
        return values
    values, steps = loop_vars, 0
    while (maximum_iterations is None or steps < maximum_iterations) and bool(call(cond, values)):
        updated = call(body, values)
        values = type(loop_vars)(updated) if unpack else updated
        steps += 1
    return values


def scan(
    f: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Any = None, length: int | None = None,
    reverse: bool = False, unroll: int | bool = 1,
) -> tuple[Any, Any]:  # fmt: skip
    """``carry, y = f(carry, x)`` over the leading axis of ``xs`` (or ``length`` times with ``xs=None``):
    the last carry and the ``y``'s stacked along a new leading axis (in the order of ``xs`` with
    ``reverse``). ``unroll`` is a hint for XLA, which the Python loop does not need."""
    steps = _steps("scan", xs, length)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    carry, ys = init, []
    for t in order:
        carry, y = f(carry, None if xs is None else _slice(xs, t))
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, _stacked("scan", ys)


def map(f: Callable[[Any], Any], xs: Any) -> Any:
    """``f`` applied to each slice of ``xs`` along its leading axis, the results stacked."""
    steps = _steps("map", xs, None)
    return _stacked("map", [f(_slice(xs, t)) for t in range(steps)])


def vectorized_map(function: Callable[[Any], Any], elements: Any) -> Any:
    """:func:`map` (highnn runs it as a loop over the leading axis)."""
    return map(function, elements)


def associative_scan(f: Callable[[Any, Any], Any], elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """The running combination ``f(f(e0, e1), e2) ...`` of ``elems`` along ``axis`` (from the end with
    ``reverse``), every partial result kept: a cumulative sum for ``f = add``."""
    leaves = [to_tensor(leaf) for leaf in flatten(elems)]
    if not leaves or leaves[0].ndim == 0:
        fail("associative_scan", "elems", "tensors with the scanned axis", elems)
    moved = map_together(lambda x: _moved(to_tensor(x), axis, 0), elems)
    steps = _steps("associative_scan", moved, None)
    order = list(range(steps - 1, -1, -1)) if reverse else list(range(steps))
    total, partial = None, {}
    for t in order:
        element = _slice(moved, t)
        total = element if total is None else f(total, element)
        partial[t] = total
    stacked = _stacked("associative_scan", [partial[t] for t in range(steps)])
    return map_together(lambda x: _moved(x, 0, axis), stacked)


def _slice(structure: Any, t: int) -> Any:
    """Every leaf of ``structure`` at position ``t`` of its leading axis."""
    return map_together(lambda x: to_tensor(x)[t], structure)


def _moved(x: Tensor, source: int, destination: int) -> Tensor:
    order = list(range(x.ndim))
    order.insert(destination % x.ndim, order.pop(source % x.ndim))
    return transpose(x, tuple(order))


def _steps(owner: str, xs: Any, length: int | None) -> int:
    """The common length of the leading axes of ``xs``'s leaves (or ``length`` without ``xs``)."""
    if xs is None:
        if length is None or not is_integer(length) or length < 0:
            fail(owner, "length", "an int >= 0 when `xs` is None", length)
        return int(length)
    sizes = {to_tensor(leaf).shape[0] if to_tensor(leaf).shape else None for leaf in flatten(xs)}
    if len(sizes) != 1 or None in sizes:
        fail(owner, "xs", "tensors with one common leading axis", sorted(str(size) for size in sizes))
    steps = sizes.pop()
    if length is not None and length != steps:
        fail(owner, "length", f"None or the leading axis of `xs` ({steps})", length)
    return int(steps)  # type: ignore[arg-type]


def _stacked(owner: str, results: list[Any]) -> Any:
    """Per-step results (structures of one shape) stacked along a new leading axis."""
    if not results:
        return None
    return map_together(lambda *ys: concatenate([expand_dims(to_tensor(y), 0) for y in ys], 0), *results)


def vectorize(pyfunc: Callable[..., Any], *, excluded: Any = None, signature: str | None = None) -> Callable[..., Any]:
    """``pyfunc`` applied across the broadcast leading axes of its positional arguments, as NumPy's and Keras's
    ``vectorize``: each call gets one element (or, with a gufunc ``signature`` such as ``"(n),(n)->()"``, one
    core block of each argument), and the results are stacked back into the broadcast shape. Arguments whose
    positions are in ``excluded``, and keyword arguments, pass through whole. A loop over the elements
    (:func:`map`), so meant for small batches; gradients flow through it."""
    skipped = set(excluded or ())
    if not all(isinstance(position, int) for position in skipped):
        fail("vectorize", "excluded", "positions (ints) of arguments passed through whole", excluded)
    cores = _core_dims(signature)

    def vectorized(*args: Any, **kwargs: Any) -> Any:
        positions = [i for i in range(len(args)) if i not in skipped]
        tensors = [to_tensor(args[i]) for i in positions]
        ranks = cores if cores is not None else [0] * len(tensors)
        if len(ranks) != len(tensors):
            fail("vectorize", "signature", f"{len(tensors)} input blocks for the arguments given", signature)
        batch = np.broadcast_shapes(*(t.shape[: t.ndim - rank] for t, rank in zip(tensors, ranks)))
        flat = [
            broadcast_to(t, (*batch, *t.shape[t.ndim - rank :])).reshape(-1, *t.shape[t.ndim - rank :])
            for t, rank in zip(tensors, ranks)
        ]

        def one(blocks: tuple[Tensor, ...]) -> Any:
            call = list(args)
            for position, block in zip(positions, blocks):
                call[position] = block
            return pyfunc(*call, **kwargs)

        results = map(one, tuple(flat))
        return map_structure(lambda r: to_tensor(r).reshape(*batch, *to_tensor(r).shape[1:]), results)

    return vectorized


def _core_dims(signature: str | None) -> list[int] | None:
    """The number of core axes of each input of a gufunc ``signature`` (``"(m,n),(n)->(m)"``: 2 and 1)."""
    if signature is None:
        return None
    parts = signature.replace(" ", "").split("->")
    if len(parts) != 2 or not re.fullmatch(r"(\([\w,]*\))(,\([\w,]*\))*", parts[0]):
        fail("vectorize", "signature", 'a gufunc signature such as "(n),(n)->()"', signature)
    return [len([axis for axis in block.split(",") if axis]) for block in re.findall(r"\(([\w,]*)\)", parts[0])]
