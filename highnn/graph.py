"""highnn's computation graph engine: tensors, primitives, the forward pass and reverse-mode backprop.

Every operation on a :class:`Tensor` applies a :class:`Primitive` from one table,
:data:`PRIMITIVES` (its entries, with their shape/dtype checks and VJP rules, are
declared in ``highnn.ops.primitives``). :func:`bind` computes the value at once
with the active backend (the forward pass, Algorithm 5.3, visits nodes in the
order they are created, which is a topological order), and, when gradients are
wanted, the result remembers its primitive and parents. :func:`grad` then runs the
backward pass (Algorithm 5.4) over a deterministic, iterative topological order:
the output's adjoint is 1, and each node's adjoint is the sum over its children
of the child's adjoint times the child's local derivative, given by the
primitive's VJP rule. Gradients that broadcasting spread over a larger shape are
summed back to the input's shape in one place, :func:`unbroadcast`.

Whether the graph is recorded and which tape a trace records on live in a context
variable, so threads and asyncio tasks build graphs and trace independently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, overload

import numpy as np

from highnn.backends import ALL_FLOAT_DTYPES, DTYPES
from highnn.config import settings

if TYPE_CHECKING:
    from highnn.tracing import Tape

Axis = int | tuple[int, ...] | None
VjpRule = Callable[..., "Tensor"]
Check = Callable[..., None]


# --------------------------------------------------------- the primitive record
@dataclass(frozen=True, eq=False)
class Primitive:
    """An operation the engine knows: ``Backend.<name>`` computes it, ``check`` vets its operands.

    ``vjp`` holds one rule per tensor input (empty: not differentiable). A rule
    takes the output's adjoint ``g``, the output ``out``, the inputs and the
    static attributes, and returns the adjoint of its input in highnn operations.
    """

    name: str
    vjp: tuple[VjpRule, ...] = ()
    check: Check | None = None
    n_inputs: int = 1

    def __call__(self, *operands: TensorLike, **attrs: Any) -> Tensor:
        return bind(self, operands, attrs)


#: the primitive table, by name; ``highnn.ops.primitives`` declares its entries
PRIMITIVES: dict[str, Primitive] = {}


class Node(NamedTuple):
    """How a tensor was made: the primitive, its input tensors and static attributes."""

    primitive: Primitive
    parents: tuple[Tensor, ...]
    attrs: dict[str, Any]


# ----------------------------------------------------------- the engine state
class EngineState(NamedTuple):
    """Whether operations record the graph, and the tape a trace records them on (None: not tracing)."""

    grad_enabled: bool
    tape: Tape | None


_EAGER = EngineState(grad_enabled=True, tape=None)  # a new thread's state
_state: ContextVar[EngineState] = ContextVar("highnn.graph", default=_EAGER)


def engine_state() -> EngineState:
    """The engine state of the current context (thread or asyncio task)."""
    return _state.get()


def is_tracing() -> bool:
    """Whether this context is recording a traced function (its tensors then hold stand-ins, not values to read)."""
    return _state.get().tape is not None


@contextmanager
def _engine_state(state: EngineState) -> Iterator[None]:
    token = _state.set(state)
    try:
        yield
    finally:
        _state.reset(token)


def grad_mode(enabled: bool) -> AbstractContextManager[None]:
    """Record (or not) the graph of the operations in this block."""
    return _engine_state(_state.get()._replace(grad_enabled=enabled))


def no_grad() -> AbstractContextManager[None]:
    """Operations in this block build no graph: ``with hn.no_grad(): ...``."""
    return grad_mode(False)


def recording(tape: Tape) -> AbstractContextManager[None]:
    """Record every primitive applied in this block, in this context, on ``tape``."""
    return _engine_state(_state.get()._replace(tape=tape))


# ------------------------------------------------------------------ the tensor
class Tensor:
    """A backend array that remembers how it was computed.

    >>> a = hn.tensor(2.0, requires_grad=True)
    >>> y = a * a + 1
    >>> y.backward(); a.grad.item()
    4.0
    """

    __slots__ = ("__weakref__", "backend", "grad", "logits", "mask", "name", "node", "requires_grad", "value")
    __array_priority__ = 1000  # NumPy defers `ndarray + Tensor` to Tensor.__radd__

    def __init__(self, value: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self.value = value
        self.backend = settings.backend  # the backend that owns ``value``
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self.node: Node | None = None
        self.name = name
        self.logits: Tensor | None = None  # set on softmax/sigmoid outputs, read by crossentropy
        self.mask: Tensor | None = None  # Keras's mask: set by a layer's compute_mask, read by the next layer

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

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        """An integer scalar as an index (``range(t)``, ``x[t]``), as NumPy's and JAX's integer scalars are."""
        if self.shape or not self.dtype.startswith(("int", "uint")):
            raise TypeError(
                f"Only an integer scalar tensor can be an index, received shape {self.shape}, {self.dtype}."
            )
        return int(self.item())

    # -------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        """The slots, with the value as a NumPy array (so any backend pickles); the copy is a leaf."""
        state = dict(getattr(self, "__dict__", {}))  # a subclass without __slots__ keeps attributes there too
        state |= {
            name: getattr(self, name)
            for cls in type(self).__mro__
            for name in getattr(cls, "__slots__", ())
            if name not in ("__weakref__", "backend", "node") and hasattr(self, name)
        }
        state["value"], state["dtype"] = self.numpy(), self.dtype
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore on the active backend."""
        state = dict(state)
        self.backend, self.node = settings.backend, None
        self.value = self.backend.asarray(state.pop("value"), state.pop("dtype"))
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        op = f", op={self.node.primitive.name}" if self.node else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.numpy(), precision=4)}, dtype={self.dtype}{op}{grad})"

    # ------------------------------------------------ operators (primitives)
    def __add__(self, other: TensorLike) -> Tensor:
        return apply("add", self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return apply("add", other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return apply("sub", self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return apply("sub", other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return apply("mul", self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return apply("mul", other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return apply("div", self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return apply("div", other, self)

    def __pow__(self, other: TensorLike) -> Tensor:
        return apply("pow", self, other)

    def __rpow__(self, other: TensorLike) -> Tensor:
        return apply("pow", other, self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return _matmul(self, to_tensor(other, self.dtype))

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return _matmul(to_tensor(other), self)

    def __neg__(self) -> Tensor:
        return apply("neg", self)

    def __abs__(self) -> Tensor:
        return apply("abs", self)

    # == and != build tensors, as NumPy's do, so hashing stays by identity
    def __eq__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return apply("equal", self, other)

    def __ne__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return apply("not_equal", self, other)

    __hash__ = object.__hash__

    def __gt__(self, other: TensorLike) -> Tensor:
        return apply("greater", self, other)

    def __ge__(self, other: TensorLike) -> Tensor:
        return apply("greater_equal", self, other)

    def __lt__(self, other: TensorLike) -> Tensor:
        return apply("less", self, other)

    def __le__(self, other: TensorLike) -> Tensor:
        return apply("less_equal", self, other)

    def __getitem__(self, index: Any) -> Tensor:
        """Basic indexing (integers, slices, None, Ellipsis)."""
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(i, (Tensor, list, np.ndarray)) for i in parts):
            raise TypeError(f"getitem: only basic indexing (ints, slices, None, ...) is supported, received {index!r}.")
        return apply("getitem", self, index=index)

    # ------------------------------------------------------------- methods
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes by default)."""
        return apply("sum", self, axis=normalize_axis(self, axis), keepdims=keepdims)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis``; the gradient is shared evenly among ties."""
        return apply("max", self, axis=normalize_axis(self, axis), keepdims=keepdims)

    @overload
    def reshape(self, shape: Sequence[int], /) -> Tensor: ...
    @overload
    def reshape(self, *shape: int) -> Tensor: ...
    def reshape(self, *shape: Any) -> Tensor:
        """Reshape to ``shape`` (one sequence, or integers); one entry may be -1."""
        dims = tuple(int(n) for n in (shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape))
        if dims.count(-1) == 1:
            known = math.prod(n for n in dims if n != -1)
            dims = tuple(math.prod(self.shape) // known if n == -1 and known else n for n in dims)
        return self if dims == self.shape else apply("reshape", self, shape=dims)

    def transpose(self, *axes: int) -> Tensor:
        """Permute axes (reverse them when none are given)."""
        order = (
            tuple(reversed(range(self.ndim))) if not axes else tuple(a % self.ndim if self.ndim else a for a in axes)
        )
        return apply("transpose", self, axes=order)

    @property
    def T(self) -> Tensor:
        """The axes reversed (the transpose of a matrix)."""
        return self.transpose()

    def astype(self, dtype: str) -> Tensor:
        """Convert to ``dtype`` (no-op when it already has it)."""
        return self if self.dtype == dtype else apply("cast", self, dtype=dtype)

    # ------------------------------------------------------------- gradients
    def backward(self, gradient: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
        leaves = [t for t in topological_order(self) if t.node is None]
        for leaf, g in zip(leaves, grad(self, leaves, gradient)):
            leaf.grad = g if leaf.grad is None else Tensor(leaf.backend.add(leaf.grad.value, g.value))

    def detach(self) -> Tensor:
        """The same value, cut off from the graph (a traced program still computes it)."""
        out = Tensor(self.value)
        tape = _state.get().tape
        if tape is not None:
            tape.alias(out, self)
        return out


#: what operations accept: tensors, Python numbers, NumPy arrays and scalars (and the active backend's arrays)
TensorLike = Tensor | float | np.ndarray | np.generic


# ------------------------------------------------------------ applying primitives
def to_tensor(value: Any, dtype: str | None = None) -> Tensor:
    """``value`` as a Tensor on the active backend.

    NumPy, Python and other backends' arrays are converted, the same way on
    every backend: floats become floatx, integers and bools keep their kind.
    The active backend's own arrays keep their dtype. ``dtype`` forces the type.
    """
    if isinstance(value, Tensor):
        return value
    backend = settings.backend
    if backend.is_array(value) and not isinstance(value, (np.ndarray, np.generic)):  # keeps its dtype
        return Tensor(value if dtype is None or backend.dtype(value) == dtype else backend.cast(value, dtype=dtype))
    if dtype is None:
        array = np.asarray(value)
        if array.dtype.kind == "f":
            dtype = settings.floatx
        else:
            dtype = array.dtype.name if array.dtype.name in DTYPES else {"b": "bool"}.get(array.dtype.kind, "int64")
    return Tensor(backend.asarray(value, dtype))


def tensor(value: Any, dtype: str | None = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A tensor on the active backend from a number, list, NumPy or backend array.

    >>> a = hn.tensor(2.0, requires_grad=True, name="a")
    """
    result = to_tensor(value, dtype)
    if requires_grad or name is not None or result is value:
        result = Tensor(result.value, requires_grad=requires_grad, name=name)
    return result


def full_like(x: Tensor, value: float) -> Tensor:
    """A constant tensor of ``x``'s shape and dtype filled with ``value``."""
    return Tensor(settings.backend.asarray(np.full(x.shape, value), x.dtype))


# ------------------------------------------------ mixed precision: variables read in the compute dtype
_autocast_dtype: ContextVar[str | None] = ContextVar("highnn.autocast", default=None)


@contextmanager
def autocast(dtype: str | None) -> Iterator[None]:
    """In this block, float tensors that ask for it (variables) enter every primitive cast to ``dtype``.

    A layer computing in a lower precision than its variables calls with this (None: no casting).
    """
    token = _autocast_dtype.set(dtype)
    try:
        yield
    finally:
        _autocast_dtype.reset(token)


# ------------------------------------------------ tensors read in place of others (a recurrent cell's weights)
_substitutes: ContextVar[dict[int, Tensor] | None] = ContextVar("highnn.substitutes", default=None)


@contextmanager
def substituted(pairs: Sequence[tuple[Tensor, Tensor]]) -> Iterator[None]:
    """In this block, every primitive given the first tensor of a pair (a layer's variable) reads the second instead:
    how a cell written with its variables is traced into a scan step that takes its weights as operands."""
    token = _substitutes.set({id(old): new for old, new in pairs})
    try:
        yield
    finally:
        _substitutes.reset(token)


def _autocast(operands: tuple[TensorLike, ...], dtype: str) -> tuple[TensorLike, ...]:
    """``operands`` with each autocast float tensor (``tensor.autocast``) of another dtype cast to ``dtype``."""
    return tuple(
        o.astype(dtype)
        if isinstance(o, Tensor) and getattr(o, "autocast", False) and o.dtype != dtype and o.dtype in ALL_FLOAT_DTYPES
        else o
        for o in operands
    )


def bind(primitive: Primitive, operands: tuple[TensorLike, ...], attrs: dict[str, Any]) -> Tensor:
    """Apply ``primitive``: check, compute with the backend, record for backprop and tracing."""
    substitutes = _substitutes.get()
    if substitutes is not None:
        operands = tuple(substitutes.get(id(o), o) if isinstance(o, Tensor) else o for o in operands)
    autocast_dtype = _autocast_dtype.get()
    if autocast_dtype is not None and primitive.name != "cast":
        operands = _autocast(operands, autocast_dtype)
    # Python numbers are weakly typed: they take the dtype of the last non-bool tensor operand
    weak_dtype = next((o.dtype for o in reversed(operands) if isinstance(o, Tensor) and o.dtype != "bool"), None)
    inputs = tuple(o if isinstance(o, Tensor) else to_tensor(o, weak_dtype) for o in operands)
    backend = settings.backend
    for t in inputs:
        if t.backend is not backend:
            raise RuntimeError(
                f"{primitive.name}: an operand lives on the {t.backend.name} backend ({t.backend.device_name}) but the "
                f"active backend is {backend.name} ({backend.device_name}); convert it with hn.tensor(x.numpy())."
            )
    if primitive.check is not None:
        primitive.check(primitive.name, *inputs, **attrs)
    state = _state.get()
    tape = state.tape
    values = [t.value for t in inputs] if tape is None or tape.traceable is None else [tape.value(t) for t in inputs]
    out = Tensor(getattr(backend, primitive.name)(*values, **attrs))
    if state.grad_enabled and primitive.vjp and any(t.requires_grad for t in inputs):
        out.requires_grad = True
        out.node = Node(primitive, inputs, attrs)
    if tape is not None:
        tape.record(primitive, inputs, attrs, out)
    return out


def apply(name: str, *operands: TensorLike, **attrs: Any) -> Tensor:
    """Apply the primitive called ``name`` in the table to ``operands``, with static ``attrs``."""
    return bind(PRIMITIVES[name], operands, attrs)


def normalize_axis(x: Tensor, axis: int | Sequence[int] | None) -> tuple[int, ...] | None:
    """``axis`` as a sorted tuple of non-negative axes of ``x`` (None: every axis)."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -x.ndim <= a < max(x.ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of shape {x.shape}.")
    return tuple(sorted(a % max(x.ndim, 1) for a in axes))


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product; a 1-D operand is a row (left) or a column (right) vector."""
    if a.ndim == 1 and b.ndim >= 2:
        return apply("matmul", a.reshape(1, a.shape[0]), b).reshape(b.shape[:-2] + b.shape[-1:])
    if b.ndim == 1 and a.ndim >= 2:
        return apply("matmul", a, b.reshape(b.shape[0], 1)).reshape(a.shape[:-1])
    if a.ndim == 1 and b.ndim == 1:
        return (a * b).sum()
    return apply("matmul", a, b)


# ------------------------------------------------------------- the backward pass
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
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1)
    return g.sum(axes).reshape(shape)


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


# ------------------------------------------------------------ a tape, in TensorFlow's spelling
class GradientTape:
    """``with GradientTape() as tape: ...``, then ``tape.gradient(loss, sources)``: another spelling of :func:`grad`.

    highnn's graph records every operation on tensors that need gradients anyway,
    so the tape records nothing of its own: ``tape.gradient(target, sources)`` is
    ``grad(target, sources)``, on every backend and inside traced steps alike, and
    may be asked more than once. :func:`grad` is the recommended spelling.
    """

    def __enter__(self) -> GradientTape:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def watch(self, tensor: Tensor) -> None:
        """Track gradients to a tensor that is not a trainable variable; call it before the tensor is used."""
        tensor.requires_grad = True

    def gradient(self, target: Tensor, sources: Tensor | Sequence[Tensor], output_gradients: Any = None) -> Any:
        """The gradients of ``target`` with respect to ``sources`` (one tensor, or a list: one gradient each)."""
        if isinstance(sources, Tensor):
            return grad(target, [sources], output_gradients)[0]
        return grad(target, list(sources), output_gradients)
