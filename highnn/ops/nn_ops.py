"""Keras's ``keras.ops`` neural-network group beyond the activations: one-hot encoding and the crossentropies.

The crossentropies return one value per example (per element for the binary one), unreduced,
as Keras's ops do; ``highnn.losses`` adds reductions, label smoothing and sample weights.
"""

from __future__ import annotations

from highnn.checks import check_bool, fail
from highnn.config import epsilon, settings
from highnn.graph import Tensor, TensorLike, to_tensor
from highnn.ops import composites as C
from highnn.ops.numpy_ops import moveaxis
from highnn.ops.primitives import abs, cast, exp, log, log1p, maximum, pick_along_axis, sum


def one_hot(x: TensorLike, num_classes: int, axis: int = -1, dtype: str | None = None, sparse: bool = False) -> Tensor:
    """Integer labels to 0/1 indicators of ``num_classes`` along a new ``axis`` (last by default), of ``dtype``
    (default floatx). Labels outside ``[0, num_classes)`` give all-zero rows."""
    if sparse:
        fail("one_hot", "sparse", "False (sparse tensors are not supported)", sparse)
    encoded = C.one_hot(x, num_classes, dtype or settings.floatx)
    return encoded if axis == -1 else moveaxis(encoded, -1, axis)


def gelu(x: TensorLike, approximate: bool = True) -> Tensor:
    """x * Phi(x); Keras's ``ops.gelu`` takes the tanh approximation by default (the activation does not)."""
    return C.gelu(x, check_bool("gelu", "approximate", approximate))


def binary_crossentropy(target: TensorLike, output: TensorLike, from_logits: bool = False) -> Tensor:
    """Elementwise ``-(t log p + (1 - t) log(1 - p))``; probabilities are clipped to ``[epsilon, 1 - epsilon]``."""
    target, output = _same_shape("binary_crossentropy", target, output)
    if check_bool("binary_crossentropy", "from_logits", from_logits):  # max(x, 0) - x t + log(1 + exp(-|x|))
        return maximum(output, 0.0) - output * target + log1p(exp(-abs(output)))
    p = C.clip(output, epsilon(), 1.0 - epsilon())
    return -(target * log(p) + (1.0 - target) * log(1.0 - p))


def categorical_crossentropy(
    target: TensorLike, output: TensorLike, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """``-sum(target * log(p), axis)`` against one-hot (or soft) ``target``; see :func:`log_probabilities`."""
    target, output = _same_shape("categorical_crossentropy", target, output)
    from_logits = check_bool("categorical_crossentropy", "from_logits", from_logits)
    return -sum(target * log_probabilities(output, from_logits, axis), axis)


def sparse_categorical_crossentropy(
    target: TensorLike, output: TensorLike, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """:func:`categorical_crossentropy` against integer labels of ``output``'s shape without ``axis``.

    Labels outside ``[0, output.shape[axis])`` raise an IndexError on every backend.
    """
    labels, output = to_tensor(target), to_tensor(output)
    if not output.ndim or labels.shape != tuple(n for i, n in enumerate(output.shape) if i != axis % output.ndim):
        fail(
            "sparse_categorical_crossentropy",
            "target",
            f"integer labels of the shape of `output` {output.shape} without axis {axis}",
            labels.shape,
        )
    from_logits = check_bool("sparse_categorical_crossentropy", "from_logits", from_logits)
    return sparse_crossentropies(integer_labels(labels), output, from_logits, axis)


def log_probabilities(output: Tensor, from_logits: bool, axis: int = -1) -> Tensor:
    """log of the class probabilities along ``axis``: log_softmax of the logits (``output`` itself, or those a
    softmax output remembers when ``axis`` is its last), else of ``output`` scaled to sum to 1 and clipped to
    ``[epsilon, 1 - epsilon]``."""
    remembered = output.logits if axis % output.ndim == output.ndim - 1 else None
    logits = output if from_logits else remembered
    if logits is not None:
        return C.log_softmax(logits, axis)
    return log(C.clip(output / sum(output, axis, keepdims=True), epsilon(), 1.0 - epsilon()))


def sparse_crossentropies(labels: Tensor, output: Tensor, from_logits: bool, axis: int = -1) -> Tensor:
    """``-log p[label]`` along ``axis``: each label's log probability gathered, no one-hot built (labels are
    integers in range; the gather's adjoint places the gradient at the labels alone)."""
    return -pick_along_axis(log_probabilities(output, from_logits, axis), labels, axis=axis % output.ndim)


def integer_labels(labels: Tensor) -> Tensor:
    """``labels`` as int32 unless already int32 or int64 (no cast step then)."""
    return labels if labels.dtype in ("int32", "int64") else cast(labels, "int32")


def _same_shape(owner: str, target: TensorLike, output: TensorLike) -> tuple[Tensor, Tensor]:
    """Both as float tensors of ``output``'s dtype, after checking that their shapes agree."""
    output = to_tensor(output)
    if output.dtype not in ("float32", "float64"):
        output = cast(output, settings.floatx)
    target = cast(to_tensor(target), output.dtype)
    if target.shape != output.shape:
        fail(owner, "target", f"of the shape of `output` {output.shape}", target.shape)
    return target, output
