"""The primitives: each declared once, with its shape/dtype rule and its VJP rule.

A primitive is a name the backends implement (``Backend.<name>``), a *check*
that rejects bad operands with an error naming the operation, what it expected
and what it received, and one VJP rule per input. A rule takes the output's
adjoint ``g``, the output ``out`` and the inputs, and returns the adjoint of
its input, written with highnn operations, so backprop runs on every backend
(and can itself be differentiated). Broadcasting in the forward direction is
undone centrally by ``graph.unbroadcast``; rules return the broadcast shape.
Everything else (mean, softmax, sigmoid, ...) is composed from these.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from highnn.config import settings
from highnn.graph import Node, Tensor, engine

VjpRule = Callable[..., Tensor]
Check = Callable[..., None]
DTYPES = ("float32", "float64", "int32", "int64", "bool")
FLOAT_DTYPES = ("float32", "float64")


@dataclass(frozen=True, eq=False)
class Primitive:
    """An operation the engine knows: backend function ``name``, a shape/dtype check, VJP rules."""

    name: str
    vjp: tuple[VjpRule, ...] = ()  # one per tensor input; empty: not differentiable
    check: Check | None = None
    n_inputs: int = field(default=1)

    def __call__(self, *operands: Any, **attrs: Any) -> Tensor:
        return bind(self, operands, attrs)


PRIMITIVES: dict[str, Primitive] = {}


def _define(name: str, n_inputs: int, vjp: tuple[VjpRule, ...] = (), check: Check | None = None) -> Primitive:
    primitive = Primitive(name, vjp, check, n_inputs)
    PRIMITIVES[name] = primitive
    return primitive


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
        return Tensor(value if dtype is None or backend.dtype(value) == dtype else backend.cast(value, dtype))
    if dtype is None:
        array = np.asarray(value)
        if array.dtype.kind == "f":
            dtype = settings.floatx
        else:
            dtype = array.dtype.name if array.dtype.name in DTYPES else {"b": "bool"}.get(array.dtype.kind, "int64")
    return Tensor(backend.asarray(value, dtype))


def bind(primitive: Primitive, operands: tuple[Any, ...], attrs: dict[str, Any]) -> Tensor:
    """Apply ``primitive``: check, compute with the backend, record for backprop and tracing."""
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
    value = getattr(backend, primitive.name)(*(t.value for t in inputs), **attrs)
    out = Tensor(value)
    if engine.grad_enabled and primitive.vjp and any(t.requires_grad for t in inputs):
        out.requires_grad = True
        out.node = Node(primitive, inputs, attrs)
    if engine.tape is not None:
        engine.tape.record(primitive, inputs, attrs, out)
    return out


# ---------------------------------------------------------------- the checks
def _same_dtype(name: str, *tensors: Tensor) -> None:
    dtypes = [t.dtype for t in tensors]
    if len(set(dtypes)) > 1:
        raise TypeError(
            f"{name}: operands must have one dtype, received {' and '.join(dtypes)}; cast one with .astype() first."
        )


def _broadcast_shape(name: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{name}: shapes {' and '.join(map(str, shapes))} cannot be broadcast together.") from None


def check_elementwise(name: str, *tensors: Tensor) -> None:
    _same_dtype(name, *tensors)
    _broadcast_shape(name, *(t.shape for t in tensors))


def check_where(name: str, condition: Tensor, a: Tensor, b: Tensor) -> None:
    if condition.dtype != "bool":
        raise TypeError(f"{name}: the condition must have dtype bool, received {condition.dtype}.")
    check_elementwise(name, a, b)
    _broadcast_shape(name, condition.shape, a.shape, b.shape)


def check_float(name: str, x: Tensor) -> None:
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a float tensor, received dtype {x.dtype}.")


def check_log_softmax(name: str, x: Tensor, axis: tuple[int, ...]) -> None:
    check_float(name, x)
    check_reduce(name, x, axis, True)
    if math.prod(x.shape[a] for a in axis) == 0:
        raise ValueError(f"{name}: cannot normalise over the empty axes {axis} of shape {x.shape}.")


def check_matmul(name: str, a: Tensor, b: Tensor) -> None:
    _same_dtype(name, a, b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"{name}: operands need at least 2 dimensions, received shapes {a.shape} and {b.shape}.")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"{name}: the last axis of the first operand ({a.shape[-1]}) must match the second-to-last "
            f"axis of the second ({b.shape[-2]}); received shapes {a.shape} and {b.shape}."
        )
    _broadcast_shape(name, a.shape[:-2], b.shape[:-2])


def check_reduce(name: str, x: Tensor, axis: tuple[int, ...] | None, keepdims: bool) -> None:
    for a in axis or ():
        if not 0 <= a < x.ndim:
            raise ValueError(f"{name}: axis {a} is out of range for a tensor of shape {x.shape}.")
    if name == "max" and x.shape and math.prod(x.shape[a] for a in (axis if axis is not None else range(x.ndim))) == 0:
        raise ValueError(f"{name}: cannot take the max over an empty axis of shape {x.shape}.")


def check_reshape(name: str, x: Tensor, shape: tuple[int, ...]) -> None:
    if math.prod(shape) != math.prod(x.shape) or any(n < 0 for n in shape):
        raise ValueError(f"{name}: cannot reshape a tensor of shape {x.shape} into shape {shape}.")


def check_transpose(name: str, x: Tensor, axes: tuple[int, ...]) -> None:
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"{name}: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}.")


def check_broadcast_to(name: str, x: Tensor, shape: tuple[int, ...]) -> None:
    try:
        fits = x.ndim <= len(shape) and np.broadcast_shapes(x.shape, shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: cannot broadcast shape {x.shape} to shape {shape}.")


def index_shape(shape: tuple[int, ...], index: Any) -> tuple[int, ...]:
    """The shape ``x[index]`` has; raises NumPy's IndexError for a bad index."""
    return np.broadcast_to(np.empty((), np.int8), shape)[index].shape


def check_getitem(name: str, x: Tensor, index: Any) -> None:
    try:
        index_shape(x.shape, index)
    except IndexError as error:
        raise IndexError(f"{name}: index {index!r} is invalid for shape {x.shape}: {error}") from None


def check_unindex(name: str, g: Tensor, shape: tuple[int, ...], index: Any) -> None:
    if index_shape(shape, index) != g.shape:
        raise ValueError(f"{name}: a tensor of shape {g.shape} does not fit index {index!r} of shape {shape}.")


def check_cast(name: str, x: Tensor, dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"{name}: dtype must be one of {DTYPES}, received {dtype!r}.")


def check_random(name: str, seed: Tensor, shape: tuple[int, ...], dtype: str) -> None:
    if seed.shape != () or seed.dtype not in ("int32", "int64"):
        raise TypeError(f"{name}: the seed must be an integer scalar, received {seed.dtype} of shape {seed.shape}.")
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name}: dtype must be one of {FLOAT_DTYPES}, received {dtype!r}.")


# ------------------------------------------------- the primitive table (VJPs)
def _zero_grad(g: Tensor, out: Tensor, *inputs: Tensor, **attrs: Any) -> Tensor:
    return full_like(inputs[0], 0.0)


def _maximum_mask(a: Tensor, b: Tensor) -> Tensor:
    """1 where a wins, 0.5 at ties, 0 where b wins (the convention of PyTorch and JAX)."""
    return cast(greater(a, b), a.dtype) + cast(equal(a, b), a.dtype) * 0.5


add = _define("add", 2, (lambda g, out, a, b: g, lambda g, out, a, b: g), check_elementwise)
sub = _define("sub", 2, (lambda g, out, a, b: g, lambda g, out, a, b: neg(g)), check_elementwise)
mul = _define("mul", 2, (lambda g, out, a, b: g * b, lambda g, out, a, b: g * a), check_elementwise)
div = _define("div", 2, (lambda g, out, a, b: g / b, lambda g, out, a, b: neg(g) * out / b), check_elementwise)
pow = _define(
    "pow", 2,
    (lambda g, out, a, b: g * b * a ** (b - 1), lambda g, out, a, b: g * out * log(where(a > 0, a, 1.0))),
    check_elementwise,
)  # fmt: skip
maximum = _define(
    "maximum", 2,
    (lambda g, out, a, b: g * _maximum_mask(a, b), lambda g, out, a, b: g * _maximum_mask(b, a)),
    check_elementwise,
)  # fmt: skip
minimum = _define(
    "minimum", 2,
    (lambda g, out, a, b: g * _maximum_mask(b, a), lambda g, out, a, b: g * _maximum_mask(a, b)),
    check_elementwise,
)  # fmt: skip
equal = _define("equal", 2, check=check_elementwise)
not_equal = _define("not_equal", 2, check=check_elementwise)
greater = _define("greater", 2, check=check_elementwise)
greater_equal = _define("greater_equal", 2, check=check_elementwise)
less = _define("less", 2, check=check_elementwise)
less_equal = _define("less_equal", 2, check=check_elementwise)
where = _define(
    "where", 3,
    (_zero_grad, lambda g, out, c, a, b: where(c, g, 0.0), lambda g, out, c, a, b: where(c, 0.0, g)),
    check_where,
)  # fmt: skip
neg = _define("neg", 1, (lambda g, out, x: neg(g),))
exp = _define("exp", 1, (lambda g, out, x: g * out,), check_float)
log = _define("log", 1, (lambda g, out, x: g / x,), check_float)
log1p = _define("log1p", 1, (lambda g, out, x: g / (x + 1.0),), check_float)
tanh = _define("tanh", 1, (lambda g, out, x: g * (1.0 - out * out),), check_float)
sqrt = _define("sqrt", 1, (lambda g, out, x: g * 0.5 / out,), check_float)
abs = _define("abs", 1, (lambda g, out, x: g * sign(x),))
sign = _define("sign", 1)
floor = _define("floor", 1, (_zero_grad,), check_float)
sin = _define("sin", 1, (lambda g, out, x: g * cos(x),), check_float)
cos = _define(
    "cos", 1, (lambda g, out, x: neg(g * sin(x)),), check_float
)  # piecewise constant: zero gradient almost everywhere
# fused for speed and numerics (DESIGN: "unless numerics need their own primitive"): d/dx = g - softmax(x) * sum(g)
_log_softmax = _define(
    "log_softmax", 1,
    (lambda g, out, x, axis: g - exp(out) * _sum(g, axis=axis, keepdims=True),),
    check_log_softmax,
)  # fmt: skip
erf = _define("erf", 1, (lambda g, out, x: g * (2.0 / math.sqrt(math.pi)) * exp(neg(x * x)),), check_float)
_sum = _define(
    "sum", 1, (lambda g, out, x, axis, keepdims: broadcast_to(_keep_axes(g, x, axis, keepdims), x.shape),), check_reduce
)
_max = _define(
    "max", 1,
    (lambda g, out, x, axis, keepdims: _max_vjp(g, out, x, axis, keepdims),),
    check_reduce,
)  # fmt: skip
_matmul = _define(
    "matmul", 2,
    (lambda g, out, a, b: g @ swap_last(b), lambda g, out, a, b: swap_last(a) @ g),
    check_matmul,
)  # fmt: skip
_reshape = _define("reshape", 1, (lambda g, out, x, shape: reshape(g, x.shape),), check_reshape)
_transpose = _define(
    "transpose", 1, (lambda g, out, x, axes: transpose(g, tuple(np.argsort(axes).tolist())),), check_transpose
)
_broadcast_to = _define("broadcast_to", 1, (lambda g, out, x, shape: g,), check_broadcast_to)
_getitem = _define("getitem", 1, (lambda g, out, x, index: unindex(g, shape=x.shape, index=index),), check_getitem)
unindex = _define("unindex", 1, (lambda g, out, x, shape, index: _getitem(g, index=index),), check_unindex)
_cast = _define("cast", 1, (lambda g, out, x, dtype: _cast(g, dtype=x.dtype),), check_cast)
random_uniform = _define("random_uniform", 1, check=check_random)
random_normal = _define("random_normal", 1, check=check_random)


def _keep_axes(g: Tensor, x: Tensor, axis: tuple[int, ...] | None, keepdims: bool) -> Tensor:
    """``g`` reshaped so the reduced axes of ``x`` are there again with length 1."""
    if keepdims:
        return g
    axes = range(x.ndim) if axis is None else axis
    return reshape(g, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _max_vjp(g: Tensor, out: Tensor, x: Tensor, axis: tuple[int, ...] | None, keepdims: bool) -> Tensor:
    """The adjoint goes to the maxima, split evenly among ties."""
    is_max = cast(equal(x, _keep_axes(out, x, axis, keepdims)), x.dtype)
    count = _sum(is_max, axis=axis, keepdims=True)
    return is_max * (_keep_axes(g, x, axis, keepdims) / count)


# ------------------------------------------- argument normalisation wrappers
def _normalize_axis(x: Tensor, axis: int | tuple[int, ...] | list[int] | None) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -x.ndim <= a < builtins.max(x.ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of shape {x.shape}.")
    return tuple(sorted(a % builtins.max(x.ndim, 1) for a in axes))


def sum(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes by default)."""
    x = to_tensor(x)
    return _sum(x, axis=_normalize_axis(x, axis), keepdims=keepdims)


def max(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; the gradient is shared evenly among ties."""
    x = to_tensor(x)
    return _max(x, axis=_normalize_axis(x, axis), keepdims=keepdims)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product; 1-D operands are treated as a row (left) or a column (right) vector."""
    a = to_tensor(a)
    b = to_tensor(b, a.dtype)
    if a.ndim == 1 and b.ndim >= 2:
        return reshape(_matmul(reshape(a, (1, a.shape[0])), b), b.shape[:-2] + b.shape[-1:])
    if b.ndim == 1 and a.ndim >= 2:
        return reshape(_matmul(a, reshape(b, (b.shape[0], 1))), a.shape[:-1])
    if a.ndim == 1 and b.ndim == 1:
        return sum(a * b)
    return _matmul(a, b)


def reshape(x: Any, shape: tuple[int, ...] | list[int]) -> Tensor:
    """Reshape; one entry of ``shape`` may be -1."""
    x = to_tensor(x)
    shape = tuple(int(n) for n in shape)
    if shape.count(-1) == 1:
        known = math.prod(n for n in shape if n != -1)
        shape = tuple(math.prod(x.shape) // known if n == -1 and known else n for n in shape)
    return x if shape == x.shape else _reshape(x, shape=shape)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Tensor:
    """Permute axes (reverse them by default)."""
    x = to_tensor(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim if x.ndim else a for a in axes)
    return _transpose(x, axes=axes)


def swap_last(x: Tensor) -> Tensor:
    """Swap the last two axes (the matrix transpose of a batch of matrices)."""
    return _transpose(x, axes=tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Tensor:
    x = to_tensor(x)
    shape = tuple(shape)
    return x if x.shape == shape else _broadcast_to(x, shape=shape)


def getitem(x: Tensor, index: Any) -> Tensor:
    """Basic indexing (integers, slices, None, Ellipsis)."""
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, (Tensor, list, np.ndarray)) for i in parts):
        raise TypeError(f"getitem: only basic indexing (ints, slices, None, ...) is supported, received {index!r}.")
    return _getitem(x, index=index)


def log_softmax(x: Any, axis: int | tuple[int, ...] = -1) -> Tensor:
    """log(softmax(x)) over ``axis`` (one or several): x - max - log(sum(exp(x - max))), one primitive."""
    x = to_tensor(x)
    return _log_softmax(x, axis=_normalize_axis(x, axis))


def cast(x: Any, dtype: str) -> Tensor:
    """Convert to ``dtype`` (no-op when it already has it)."""
    x = to_tensor(x)
    return x if x.dtype == dtype else _cast(x, dtype=dtype)


def full_like(x: Tensor, value: float) -> Tensor:
    """A constant tensor of ``x``'s shape and dtype filled with ``value``."""
    return Tensor(settings.backend.asarray(np.full(x.shape, value), x.dtype))


def stop_gradient(x: Any) -> Tensor:
    """The value of ``x``, treated as a constant by backprop."""
    return to_tensor(x).detach()


# ------------------------------------------------------ Tensor's operators
def _method(operation: Callable[..., Tensor]) -> Callable[..., Tensor]:
    return lambda self, *args: operation(self, *args)


def _reflected(operation: Callable[[Any, Any], Tensor]) -> Callable[[Tensor, Any], Tensor]:
    return lambda self, other: operation(other, self)


Tensor.__add__, Tensor.__radd__ = _method(add), _reflected(add)
Tensor.__sub__, Tensor.__rsub__ = _method(sub), _reflected(sub)
Tensor.__mul__, Tensor.__rmul__ = _method(mul), _reflected(mul)
Tensor.__truediv__, Tensor.__rtruediv__ = _method(div), _reflected(div)
Tensor.__pow__, Tensor.__rpow__ = _method(pow), _reflected(pow)
Tensor.__matmul__, Tensor.__rmatmul__ = _method(matmul), _reflected(matmul)
Tensor.__neg__ = _method(neg)
Tensor.__abs__ = _method(abs)
Tensor.__eq__, Tensor.__ne__ = _method(equal), _method(not_equal)  # type: ignore[assignment]
Tensor.__gt__, Tensor.__ge__ = _method(greater), _method(greater_equal)
Tensor.__lt__, Tensor.__le__ = _method(less), _method(less_equal)
Tensor.__getitem__ = _method(getitem)
Tensor.sum = _method(sum)
Tensor.max = _method(max)
Tensor.reshape = lambda self, *shape: reshape(
    self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
)
Tensor.transpose = lambda self, *axes: transpose(self, axes or None)
Tensor.T = property(lambda self: transpose(self))
Tensor.astype = _method(cast)
