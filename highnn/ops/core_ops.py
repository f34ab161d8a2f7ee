"""Keras's ``keras.ops`` core group: moving values between NumPy, the backend and highnn tensors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from highnn import nest
from highnn.checks import fail
from highnn.config import settings
from highnn.graph import Node, Primitive, Tensor, TensorLike, engine_state, grad, to_tensor
from highnn.ops import composites


def convert_to_tensor(x: Any, dtype: str | None = None, sparse: bool | None = None) -> Tensor:
    """``x`` (number, list, NumPy or backend array, Tensor) as a Tensor, of ``dtype`` if given."""
    if sparse:
        fail("convert_to_tensor", "sparse", "False or None (sparse tensors are not supported)", sparse)
    result = to_tensor(x)
    return result if dtype is None else result.astype(dtype)


def array(x: Any, dtype: str | None = None) -> Tensor:
    """``x`` as a Tensor (Keras's ``ops.array``, the NumPy-style name of :func:`convert_to_tensor`)."""
    return convert_to_tensor(x, dtype)


def convert_to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array on the host."""
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a highnn Tensor or an array of the active backend (NumPy arrays count on NumPy only)."""
    return isinstance(x, Tensor) or settings.backend.is_array(x)


def dtype(x: TensorLike) -> str:
    """The dtype name of ``x``, as highnn would convert it (``"float32"``, ``"int32"``, ``"bool"``, ...)."""
    return to_tensor(x).dtype


def saturate_cast(x: Any, dtype: str) -> Tensor:
    """``x`` cast to ``dtype``, values beyond the type's range clipped to it first (no wrap-around)."""
    x = to_tensor(x)
    if np.dtype(dtype).kind in "iu":
        bounds = np.iinfo(np.dtype(dtype))
        low, high = (
            (float(b) for b in (bounds.min, bounds.max))
            if x.dtype.startswith(("float", "bfloat"))
            else (int(bounds.min), int(bounds.max))
        )
        x = composites.clip(x, low, high)
    return x.astype(dtype)


def custom_gradient(f: Callable[..., tuple[Any, Callable[..., Any]]]) -> Callable[..., Tensor]:
    """Keras's ``ops.custom_gradient``: ``f(*args)`` returns its result and a function of the result's adjoint
    that returns the adjoints of the arguments (one, or a list of one per argument); the gradient then flows
    through that function instead of through ``f``'s operations. The adjoint function is written in highnn's
    operations and may read values ``f`` computed, so it can be differentiated again.

    >>> @hn.ops.custom_gradient
    ... def clipped_identity(x):
    ...     return x, lambda upstream: hn.ops.clip(upstream, -1.0, 1.0)
    """

    @functools.wraps(f)
    def wrapped(*args: Any) -> Tensor:
        inputs = tuple(to_tensor(a) for a in args)
        result, adjoint_of = f(*inputs)  # recorded, so what the adjoint function reads depends on the inputs
        out = to_tensor(result).detach()
        if engine_state().grad_enabled and any(t.requires_grad for t in inputs):
            found: dict[int, list[Any]] = {}

            def rule(position: int) -> Callable[..., Tensor]:
                def vjp(g: Tensor, _out: Tensor, *_inputs: Tensor) -> Tensor:
                    if id(g) not in found:
                        adjoints = adjoint_of(g)
                        found.clear()
                        found[id(g)] = list(adjoints) if isinstance(adjoints, (list, tuple)) else [adjoints]
                    if len(found[id(g)]) != len(inputs):
                        fail(f"custom_gradient({getattr(f, '__name__', 'f')})", "the gradient function's result",
                             f"one adjoint per argument ({len(inputs)})", f"{len(found[id(g)])} adjoints")  # fmt: skip
                    return to_tensor(found[id(g)][position], g.dtype)

                return vjp

            vjps = tuple(rule(i) for i in range(len(inputs)))
            out.requires_grad = True
            out.node = Node(Primitive("custom_gradient", vjps, None, len(inputs)), inputs, {})
        return out

    return wrapped


def jvp(fun: Callable[..., Any], primals: Any, tangents: Any, has_aux: bool = False) -> Any:
    """``(fun(*primals), J t)``: the Jacobian-vector product of ``fun`` at ``primals`` with ``tangents`` (the same
    structure), as Keras's ``jvp``; with ``has_aux``, ``fun`` returns ``(output, aux)`` and so does this, after
    the pair. highnn's engine is reverse-mode: the product is the transpose of the VJP, which is linear in the
    cotangent, so it costs two backward passes (and needs primitives differentiable twice)."""
    if (
        not isinstance(primals, (tuple, list))
        or not isinstance(tangents, (tuple, list))
        or len(primals) != len(tangents)
    ):
        fail("jvp", "tangents", "a tuple or list like `primals`, one tangent per primal", type(tangents).__name__)
    inputs = [Tensor(to_tensor(p).value, requires_grad=True) for p in nest.flatten(list(primals))]
    directions = [to_tensor(t) for t in nest.flatten(list(tangents))]
    if [d.shape for d in directions] != [x.shape for x in inputs]:
        fail("jvp", "tangents", f"shapes {[x.shape for x in inputs]}", [d.shape for d in directions])
    given = iter(inputs)
    result = fun(*nest.map_structure(lambda _: next(given), list(primals)))
    output, aux = result if has_aux else (result, None)
    outputs = nest.flatten(output)
    cotangents = [Tensor(to_tensor(np.zeros(y.shape), y.dtype).value, requires_grad=True) for y in outputs]
    pulled = grad(_total([y * u for y, u in zip(outputs, cotangents)]), inputs, create_graph=True)
    pushed = grad(_total([v * d for v, d in zip(pulled, directions)]), cotangents)
    products = iter(pushed)
    tangents_out = nest.map_structure(lambda _: next(products), output)
    return (output, tangents_out, aux) if has_aux else (output, tangents_out)


def _total(tensors: list[Tensor]) -> Tensor:
    """The sum of every element of every tensor."""
    return functools.reduce(lambda a, b: a + b, (t.sum() for t in tensors))
