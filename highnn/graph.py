"""highnn's computation graph: tensors, the forward pass and reverse-mode backprop.

Every operation on a :class:`Tensor` applies a *primitive* (see
``highnn.ops.primitives``): its value is computed at once by the active backend
(the forward pass, Algorithm 5.3, visits nodes in the order they are created,
which is a topological order), and, when gradients are wanted, the result
remembers its primitive and parents. :func:`grad` then runs the backward pass
(Algorithm 5.4) over a deterministic, iterative topological order: the output's
adjoint is 1, and each node's adjoint is the sum over its children of the
child's adjoint times the child's local derivative, given by the primitive's
VJP rule. Gradients that broadcasting spread over a larger shape are summed
back to the input's shape in one place, :func:`unbroadcast`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from highnn.config import settings

if TYPE_CHECKING:
    from highnn.ops.primitives import Primitive
    from highnn.tracing import Tape


class Node(NamedTuple):
    """How a tensor was made: the primitive, its input tensors and static attributes."""

    primitive: Primitive
    parents: tuple[Tensor, ...]
    attrs: dict[str, Any]


class _EngineState:
    grad_enabled: bool = True
    tape: Tape | None = None


engine = _EngineState()


class Tensor:
    """A backend array that remembers how it was computed.

    >>> a = hn.tensor(2.0, requires_grad=True)
    >>> y = a * a + 1
    >>> y.backward(); a.grad.item()
    4.0
    """

    __slots__ = ("__weakref__", "backend", "grad", "logits", "name", "node", "requires_grad", "value")
    __array_priority__ = 1000  # NumPy defers `ndarray + Tensor` to Tensor.__radd__

    def __init__(self, value: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self.value = value
        self.backend = settings.backend  # the backend that owns ``value``
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self.node: Node | None = None
        self.name = name
        self.logits: Tensor | None = None  # set on softmax/sigmoid outputs, read by crossentropy

    # ----------------------------------------------------------------- facts
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def ndim(self) -> int:
        return len(self.value.shape)

    @property
    def dtype(self) -> str:
        return self.backend.dtype(self.value)

    @property
    def is_leaf(self) -> bool:
        return self.node is None

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array (copied to host)."""
        return self.backend.to_numpy(self.value)

    def item(self) -> float | int | bool:
        return self.numpy().item()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __bool__(self) -> bool:
        if self.shape:
            raise ValueError(
                f"The truth value of a tensor of shape {self.shape} is ambiguous; use .item() on a scalar."
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __repr__(self) -> str:
        op = f", op={self.node.primitive.name}" if self.node else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.numpy(), precision=4)}, dtype={self.dtype}{op}{grad})"

    __hash__ = object.__hash__  # == builds a tensor, so hashing stays by identity

    # ------------------------------------------------------------- gradients
    def backward(self, gradient: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
        leaves = [t for t in topological_order(self) if t.node is None]
        for leaf, g in zip(leaves, grad(self, leaves, gradient)):
            leaf.grad = g if leaf.grad is None else Tensor(leaf.backend.add(leaf.grad.value, g.value))

    def detach(self) -> Tensor:
        """The same value, cut off from the graph (a traced program still computes it)."""
        out = Tensor(self.value)
        if engine.tape is not None:
            engine.tape.alias(out, self)
        return out


def tensor(value: Any, dtype: str | None = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A tensor on the active backend from a number, list, NumPy or backend array.

    >>> a = hn.tensor(2.0, requires_grad=True, name="a")
    """
    from highnn.ops.primitives import to_tensor

    result = to_tensor(value, dtype)
    if requires_grad or name is not None or result is value:
        result = Tensor(result.value, requires_grad=requires_grad, name=name)
    return result


def topological_order(root: Tensor, gradient_edges_only: bool = True) -> list[Tensor]:
    """Tensors that ``root`` depends on (through gradient-carrying edges only, by default), parents first.

    Iterative depth-first search, parents visited in argument order, so the
    order is deterministic and a 10,000-node chain does not hit Python's
    recursion limit.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor.node is not None:
            stack.extend(
                (p, False)
                for p in reversed(tensor.node.parents)
                if (p.requires_grad or not gradient_edges_only) and id(p) not in visited
            )
    return order


def unbroadcast(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum a gradient over the axes that broadcasting added or stretched, back to ``shape``."""
    if g.shape == shape:
        return g
    from highnn.ops import primitives as P

    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1)
    return P.reshape(P.sum(g, axes), shape)


def grad(
    output: Tensor,
    wrt: Sequence[Tensor],
    output_gradient: Any = None,
    create_graph: bool = False,
) -> list[Tensor]:
    """Gradients of ``output`` with respect to each tensor in ``wrt`` (zeros where it does not depend).

    ``output`` must be a scalar unless ``output_gradient`` (the adjoint to start
    from) is given. With ``create_graph=True`` the backward pass is itself
    recorded, so gradients can be differentiated again.
    """
    from highnn.ops.primitives import full_like, to_tensor

    if output_gradient is None:
        if output.shape:
            raise ValueError(f"grad() of a non-scalar output (shape {output.shape}) needs `output_gradient`.")
        seed = full_like(output, 1.0)
    else:
        seed = to_tensor(output_gradient, dtype=output.dtype)
        if seed.shape != output.shape:
            raise ValueError(f"`output_gradient` must have the output's shape {output.shape}, received {seed.shape}.")
    wanted = {id(t) for t in wrt}
    found: dict[int, Tensor] = {}
    adjoints: dict[int, Tensor] = {id(output): seed}
    with grad_mode(create_graph):
        for tensor in reversed(topological_order(output)):
            adjoint = adjoints.pop(id(tensor), None)
            if adjoint is None:
                continue
            if id(tensor) in wanted:
                found[id(tensor)] = adjoint
            if tensor.node is None:
                continue
            primitive, parents, attrs = tensor.node
            for parent, rule in zip(parents, primitive.vjp):
                if not parent.requires_grad:
                    continue
                contribution = unbroadcast(rule(adjoint, tensor, *parents, **attrs), parent.shape)
                previous = adjoints.get(id(parent))
                adjoints[id(parent)] = contribution if previous is None else previous + contribution
        return [found[id(t)] if id(t) in found else full_like(t, 0.0) for t in wrt]


@contextmanager
def grad_mode(enabled: bool) -> Iterator[None]:
    """Record (or not) the graph of the operations in this block."""
    saved, engine.grad_enabled = engine.grad_enabled, enabled
    try:
        yield
    finally:
        engine.grad_enabled = saved


def no_grad() -> Any:
    """Operations in this block build no graph: ``with hn.no_grad(): ...``."""
    return grad_mode(False)


# ------------------------------------------------------------------ rendering
def _leaf_name(tensor: Tensor) -> str:
    return tensor.name or ("input" if tensor.requires_grad else "const")


def _label(tensor: Tensor) -> str:
    what = tensor.node.primitive.name if tensor.node else _leaf_name(tensor)
    value = f" = {tensor.item():.6g}" if tensor.shape == () else ""
    return f"{what} {tensor.shape}{value}"


def to_text(output: Tensor) -> str:
    """One line per node in topological order: ``%3 = mul(%1, %2)  shape = value``."""
    order = topological_order(output, gradient_edges_only=False)
    number = {id(t): i for i, t in enumerate(order)}
    lines = []
    for t in order:
        args = ", ".join(f"%{number[id(p)]}" for p in t.node.parents) if t.node else ""
        head = f"{t.node.primitive.name}({args})" if t.node else _leaf_name(t)
        lines.append(f"%{number[id(t)]} = {head}  {t.shape}" + (f" = {t.item():.6g}" if t.shape == () else ""))
    return "\n".join(lines)


def to_dot(output: Tensor) -> str:
    """A Graphviz DOT picture of the graph that computed ``output``; render with ``dot -Tpng``."""
    order = topological_order(output, gradient_edges_only=False)
    number = {id(t): i for i, t in enumerate(order)}
    lines = ["digraph highnn {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for t in order:
        style = "" if t.node else ", style=rounded"
        grad_note = f"\\ngrad = {t.grad.item():.6g}" if t.grad is not None and t.grad.shape == () else ""
        lines.append(f'  n{number[id(t)]} [label="{_label(t)}{grad_note}"{style}];')
    for t in order:
        for p in t.node.parents if t.node else ():
            lines.append(f"  n{number[id(p)]} -> n{number[id(t)]};")
    lines.append("}")
    return "\n".join(lines)
