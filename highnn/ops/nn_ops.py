"""Keras's ``keras.ops`` neural-network group beyond the activations: one- and multi-hot encoding, the
crossentropies, the normalisations, peak signal-to-noise ratio and dot-product attention.

The crossentropies return one value per example (per element for the binary one), unreduced,
as Keras's ops do; ``highnn.losses`` adds reductions, label smoothing and sample weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from highnn.checks import check_bool, check_choice, fail
from highnn.config import epsilon as default_epsilon
from highnn.config import settings
from highnn.graph import Tensor, TensorLike, normalize_axis, to_tensor
from highnn.ops import composites as C
from highnn.ops.math_ops import float_of
from highnn.ops.numpy_ops import (
    argmax,
    argsort,
    cumsum,
    einsum,
    logical_and,
    moveaxis,
    repeat,
    sort,
    stack,
    take_along_axis,
    where,
)
from highnn.ops.primitives import (
    abs,
    cast,
    channels_back,
    channels_last,
    concatenate,
    exp,
    log,
    log1p,
    log_softmax,
    max,
    maximum,
    minimum,
    pad,
    pick_along_axis,
    scatter_add,
    sqrt,
    sum,
    take,
    tanh,
)


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


def swish(x: TensorLike) -> Tensor:
    """``x * sigmoid(x)``, Keras's other name for ``silu``."""
    return C.silu(x)


def hard_swish(x: TensorLike) -> Tensor:
    """``x * relu6(x + 3) / 6``, Keras's other name for ``hard_silu``."""
    return C.hard_silu(x)


def normalize(x: TensorLike, axis: int = -1, order: int = 2, epsilon: float | None = None) -> Tensor:
    """``x`` divided by its ``order``-norm over ``axis`` (at least ``epsilon``, default ``hn.config.epsilon()``),
    as Keras's ``ops.normalize``."""
    if not isinstance(order, int) or order < 1:
        fail("normalize", "order", "an int >= 1", order)
    x = float_of(x)
    x = x.reshape(1) if not x.ndim else x
    eps = default_epsilon() if epsilon is None else epsilon
    if order == 2:  # Keras's rsqrt form: x * min(1 / sqrt(sum(x**2)), 1 / epsilon)
        return x * minimum(1.0 / sqrt(sum(x * x, axis, keepdims=True)), 1.0 / eps)
    norm = sum(abs(x) ** order, axis, keepdims=True) ** (1.0 / order)
    return x / maximum(norm, eps)


def moments(x: TensorLike, axes: int | Sequence[int], keepdims: bool = False, synchronized: bool = False) -> Any:
    """The mean and the (population) variance of ``x`` over ``axes``."""
    if synchronized:
        fail("moments", "synchronized", "False (the mean is over this process's batch)", synchronized)
    x = float_of(x)
    reduced = normalize_axis(x, axes) or ()
    mean = C.mean(x, reduced, keepdims=True)
    centred = x - mean
    variance = C.mean(centred * centred, reduced, keepdims=True)
    if keepdims:
        return mean, variance
    kept = tuple(n for i, n in enumerate(x.shape) if i not in reduced)
    return mean.reshape(kept), variance.reshape(kept)


def batch_normalization(
    x: TensorLike, mean: TensorLike, variance: TensorLike, axis: int, offset: TensorLike | None = None,
    scale: TensorLike | None = None, epsilon: float = 1e-3,
) -> Tensor:  # fmt: skip
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``, each a vector along ``axis``."""
    x = float_of(x)
    shape = tuple(n if i in (normalize_axis(x, axis) or ()) else 1 for i, n in enumerate(x.shape))

    def along(v: TensorLike) -> Tensor:
        return cast(to_tensor(v), x.dtype).reshape(shape)

    inverse = 1.0 / sqrt(along(variance) + epsilon)
    if scale is not None:
        inverse = inverse * along(scale)
    shift = -along(mean) * inverse
    return x * inverse + (shift if offset is None else shift + along(offset))


def layer_normalization(
    x: TensorLike, gamma: TensorLike | None = None, beta: TensorLike | None = None, axis: int | Sequence[int] = -1,
    epsilon: float | None = None, rms_scaling: bool = False,
) -> Tensor:  # fmt: skip
    """Each example normalised over ``axis`` to mean 0 and variance 1, then ``* gamma + beta`` (with
    ``rms_scaling``, Keras's variant: divided by the standard deviation without centring, times ``gamma``)."""
    x = float_of(x)
    axes = normalize_axis(x, axis) or ()
    eps = default_epsilon() if epsilon is None else epsilon
    shape = tuple(n if i in axes else 1 for i, n in enumerate(x.shape))

    def along(v: TensorLike) -> Tensor:
        return cast(to_tensor(v), x.dtype).reshape(shape)

    mean, variance = moments(x, axes, keepdims=True)
    if rms_scaling:
        out = x / sqrt(variance + eps)
        return out if gamma is None else out * along(gamma)
    out = (x - mean) / sqrt(variance + eps)
    out = out if gamma is None else out * along(gamma)
    return out if beta is None else out + along(beta)


def rms_normalization(
    x: TensorLike, scale: TensorLike | None = None, axis: int | Sequence[int] = -1, epsilon: float | None = None
) -> Tensor:
    """``x / sqrt(mean(x**2) + epsilon) * scale`` over ``axis``."""
    x = float_of(x)
    axes = normalize_axis(x, axis) or ()
    eps = default_epsilon() if epsilon is None else epsilon
    out = x / sqrt(C.mean(x * x, axes, keepdims=True) + eps)
    if scale is None:
        return out
    return out * cast(to_tensor(scale), x.dtype).reshape(tuple(n if i in axes else 1 for i, n in enumerate(x.shape)))


def psnr(x1: TensorLike, x2: TensorLike, max_val: float) -> Tensor:
    """The peak signal-to-noise ratio in decibels, ``20 log10(max_val) - 10 log10(mean((x1 - x2)**2))``."""
    a, b = float_of(x1), float_of(x2)
    if a.shape != b.shape:
        fail("psnr", "x2", f"of the shape of x1 {a.shape}", b.shape)
    difference = a - b
    return 20.0 * math.log10(max_val) - 10.0 * log(C.mean(difference * difference)) / math.log(10.0)


def dot_product_attention(
    query: TensorLike, key: TensorLike, value: TensorLike, bias: TensorLike | None = None,
    mask: TensorLike | None = None, scale: float | None = None, is_causal: bool = False,
    flash_attention: bool | None = None, attn_logits_soft_cap: float | None = None,
) -> Tensor:  # fmt: skip
    """Scaled dot-product attention on ``(batch, length, heads, head_dim)`` inputs, as Keras's: softmax over
    the keys of ``query . key * scale + bias`` (``scale`` defaults to ``1 / sqrt(head_dim)``), masked where
    ``mask`` is False and above the diagonal with ``is_causal``; key and value may have fewer heads, dividing
    the query's (grouped-query attention)."""
    if flash_attention:
        fail("dot_product_attention", "flash_attention", "None or False (highnn has no flash kernel)", True)
    q, k, v = float_of(query), float_of(key), float_of(value)
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        fail("dot_product_attention", "query", "4-D query, key and value (batch, length, heads, head_dim)",
             f"shapes {q.shape}, {k.shape}, {v.shape}")  # fmt: skip
    heads, kv_heads = q.shape[2], k.shape[2]
    if heads % kv_heads:
        fail("dot_product_attention", "key", f"a number of heads dividing the query's {heads}", kv_heads)
    if kv_heads != heads:  # each key and value head serves a group of query heads
        k, v = (repeat(t, heads // kv_heads, axis=2) for t in (k, v))
    logits = einsum("btnh,bsnh->bnts", q, k) * (1.0 / math.sqrt(k.shape[-1]) if scale is None else scale)
    if attn_logits_soft_cap is not None:
        logits = tanh(logits / attn_logits_soft_cap) * attn_logits_soft_cap
    if bias is not None:
        logits = logits + cast(to_tensor(bias), logits.dtype)
    keep = None if mask is None else to_tensor(mask)
    if is_causal:
        causal = to_tensor(np.tril(np.ones(logits.shape[-2:], dtype=bool)))
        keep = causal if keep is None else logical_and(keep, causal)
    if keep is not None:
        logits = where(keep, logits, -0.7 * float(np.finfo(np.float32).max))
    return einsum("bnts,bsnh->btnh", C.softmax(logits, -1), v)


def multi_hot(
    inputs: TensorLike, num_classes: int, axis: int = -1, dtype: str | None = None, sparse: bool = False
) -> Tensor:
    """Integer labels to indicators of every class present: the labels along the last axis (one sample per
    row, or a single sample for a vector) become one row of ``num_classes`` 0/1 values."""
    if sparse:
        fail("multi_hot", "sparse", "False (sparse tensors are not supported)", sparse)
    labels = to_tensor(inputs)
    labels = labels.reshape(1, -1) if labels.ndim == 1 else labels
    encoded = max(C.one_hot(labels, num_classes, dtype or settings.floatx), axis=-2)
    encoded = encoded.reshape(-1) if to_tensor(inputs).ndim == 1 else encoded
    return encoded if axis == -1 else moveaxis(encoded, -1, axis)


def sparse_sigmoid(x: TensorLike) -> Tensor:
    """``0`` below -1, ``1`` above 1, ``(x + 1) / 2`` between."""
    return C.clip((float_of(x) + 1.0) * 0.5, 0.0, 1.0)


def in_top_k(targets: TensorLike, predictions: TensorLike, k: int) -> Tensor:
    """Whether each row's target class scores among the row's ``k`` highest predictions (ties count in)."""
    scores, labels = float_of(predictions), integer_labels(to_tensor(targets))
    target_scores = pick_along_axis(scores, labels, axis=1)
    kth = sort(scores, axis=-1)[:, scores.shape[-1] - k]
    return target_scores >= kth


def depth_to_space(x: TensorLike, block_size: int, data_format: str = "channels_last") -> Tensor:
    """Channels moved into ``block_size`` x ``block_size`` spatial blocks (pixel shuffle): ``(N, H, W, C)`` to
    ``(N, H b, W b, C / b**2)``, the block's position the slowest part of the channel index, as Keras."""
    images = channels_last(_images("depth_to_space", x), data_format)
    n, h, w, c = images.shape
    b = int(block_size)
    if b < 2 or c % (b * b):
        fail("depth_to_space", "block_size", f"an int >= 2 whose square divides the channels ({c})", block_size)
    blocks = images.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
    return channels_back(blocks.reshape(n, h * b, w * b, c // (b * b)), data_format)


def space_to_depth(x: TensorLike, block_size: int, data_format: str = "channels_last") -> Tensor:
    """The inverse of :func:`depth_to_space`: ``(N, H, W, C)`` to ``(N, H / b, W / b, C b**2)``."""
    images = channels_last(_images("space_to_depth", x), data_format)
    n, h, w, c = images.shape
    b = int(block_size)
    if b < 2 or h % b or w % b:
        fail("space_to_depth", "block_size", f"an int >= 2 dividing the height and width ({h}, {w})", block_size)
    blocks = images.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
    return channels_back(blocks.reshape(n, h // b, w // b, b * b * c), data_format)


def sparsemax(x: TensorLike, axis: int = -1) -> Tensor:
    """The Euclidean projection of ``x`` onto the probability simplex along ``axis`` (Martins & Astudillo, 2016):
    ``max(x - tau, 0)``, ``tau`` chosen so that each slice sums to 1; unlike softmax, it gives exact zeros."""
    z = moveaxis(float_of(x), axis, -1)
    n = z.shape[-1]
    ordered = -sort(-z, axis=-1)  # descending
    running = cumsum(ordered, axis=-1)
    ranks = to_tensor(np.arange(1, n + 1), z.dtype)
    in_support = cast(1.0 + ranks * ordered > running, "int32")
    size = sum(in_support, axis=-1, keepdims=True)  # at least 1: the largest entry is always in the support
    threshold = (take_along_axis(running, cast(size, "int32") - 1, axis=-1) - 1.0) / cast(size, z.dtype)
    return moveaxis(maximum(z - threshold, 0.0), -1, axis)


def adaptive_average_pool(
    inputs: TensorLike, output_size: int | Sequence[int], data_format: str | None = None
) -> Tensor:
    """Average pooling to ``output_size`` along each spatial axis, bin ``i`` of ``n`` inputs covering
    ``[floor(i n / out), ceil((i + 1) n / out))``, as PyTorch's and Keras's."""
    return _adaptive("adaptive_average_pool", inputs, output_size, data_format, average=True)


def adaptive_max_pool(inputs: TensorLike, output_size: int | Sequence[int], data_format: str | None = None) -> Tensor:
    """Max pooling to ``output_size`` along each spatial axis, with :func:`adaptive_average_pool`'s bins."""
    return _adaptive("adaptive_max_pool", inputs, output_size, data_format, average=False)


def _adaptive(owner: str, inputs: TensorLike, output_size: Any, data_format: str | None, average: bool) -> Tensor:
    x = to_tensor(inputs)
    rank = x.ndim - 2
    if rank < 1:
        fail(owner, "inputs", "a batch of 1-D to 3-D inputs with channels", f"shape {x.shape}")
    sizes = [output_size] * rank if isinstance(output_size, int) else list(output_size)
    if len(sizes) != rank or not all(isinstance(n, int) and n >= 1 for n in sizes):
        fail(owner, "output_size", f"a positive int or {rank} of them", output_size)
    first_spatial = 1 if (data_format or "channels_last") == "channels_last" else 2
    for offset, out in enumerate(sizes):
        axis = first_spatial + offset
        n = x.shape[axis]
        starts = [(i * n) // out for i in range(out)]
        ends = [-(-((i + 1) * n) // out) for i in range(out)]
        moved = moveaxis(x, axis, -1)
        if average:
            weights = np.zeros((out, n))
            for i, (start, end) in enumerate(zip(starts, ends)):
                weights[i, start:end] = 1.0 / (end - start)
            pooled = moved @ to_tensor(weights.T, moved.dtype)
        else:
            width = int(np.max(np.subtract(ends, starts)))
            index = np.minimum(np.add.outer(starts, np.arange(width)), np.subtract(ends, 1)[:, None])
            gathered = take(moved, index.astype(np.int32), axis=moved.ndim - 1)  # (..., out, width)
            pooled = max(gathered, axis=-1)
        x = moveaxis(pooled, -1, axis)
    return x


def _images(owner: str, x: TensorLike) -> Tensor:
    x = to_tensor(x)
    if x.ndim != 4:
        fail(owner, "x", "a batch of images of rank 4", f"shape {x.shape}")
    return x


def cdist(x1: TensorLike, x2: TensorLike, p: float = 2.0) -> Tensor:
    """The ``p``-norm distance of every row of ``x1`` to every row of ``x2`` (batched over leading axes)."""
    a, b = float_of(x1), float_of(x2)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        fail("cdist", "x2", f"rows of {a.shape[-1] if a.ndim else '?'} features, like x1's", f"shape {b.shape}")
    gaps = abs(a.reshape(*a.shape[:-1], 1, a.shape[-1]) - b.reshape(*b.shape[:-2], 1, *b.shape[-2:]))
    if p == 2.0:
        return sqrt(sum(gaps * gaps, axis=-1))
    return sum(gaps**p, axis=-1) ** (1.0 / p)


def binary_crossentropy(target: TensorLike, output: TensorLike, from_logits: bool = False) -> Tensor:
    """Elementwise ``-(t log p + (1 - t) log(1 - p))``; probabilities are clipped to ``[epsilon, 1 - epsilon]``."""
    target, output = _same_shape("binary_crossentropy", target, output)
    if check_bool("binary_crossentropy", "from_logits", from_logits):  # max(x, 0) - x t + log(1 + exp(-|x|))
        return maximum(output, 0.0) - output * target + log1p(exp(-abs(output)))
    p = C.clip(output, default_epsilon(), 1.0 - default_epsilon())
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
    return log(C.clip(output / sum(output, axis, keepdims=True), default_epsilon(), 1.0 - default_epsilon()))


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


# ------------------------------------------------------------------ sliding blocks (PyTorch's unfold and fold)
def unfold(x: TensorLike, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:
    """The sliding blocks of a channels-first batch ``(N, C, H, W)`` as columns (im2col), as Keras's and
    ``torch.nn.functional.unfold``: ``(N, C * kh * kw, blocks)``, each column one block's values channel by
    channel, row by row. One gather from the zero-padded images, so the gradient is a scatter-add."""
    x = to_tensor(x)
    if x.ndim != 4:
        fail("unfold", "x", "a channels-first batch of images (N, C, H, W)", f"shape {x.shape}")
    pads, indices = _block_indices("unfold", x.shape[2:], kernel_size, dilation, padding, stride)
    padded = pad(x, ((0, 0), (0, 0), *[(p, p) for p in pads]))
    columns = take(padded.reshape(*x.shape[:2], -1), to_tensor(indices), axis=2)  # (N, C, kh * kw, blocks)
    return columns.reshape(x.shape[0], x.shape[1] * indices.shape[0], indices.shape[1])


def fold(
    x: TensorLike, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """The inverse arrangement of :func:`unfold` (col2im), as Keras's and ``torch.nn.functional.fold``: columns
    ``(N, C * kh * kw, blocks)`` added into images ``(N, C, *output_size)`` where their blocks lie (overlaps add
    up). One scatter-add, so the gradient is a gather."""
    x = to_tensor(x)
    size = _pair("fold", "output_size", output_size, 1)
    pads, indices = _block_indices("fold", size, kernel_size, dilation, padding, stride)
    taps, blocks = indices.shape
    if x.ndim != 3 or x.shape[1] % taps or x.shape[2] != blocks:
        fail("fold", "x", f"columns (N, C * {taps}, {blocks}) of the blocks of an image of size {size}",
             f"shape {x.shape}")  # fmt: skip
    channels = x.shape[1] // taps
    full = (x.shape[0], channels, (size[0] + 2 * pads[0]) * (size[1] + 2 * pads[1]))
    images = scatter_add(x.reshape(x.shape[0], channels, taps, blocks), to_tensor(indices), shape=full, axis=2)
    images = images.reshape(x.shape[0], channels, size[0] + 2 * pads[0], size[1] + 2 * pads[1])
    return images[:, :, pads[0] : pads[0] + size[0], pads[1] : pads[1] + size[1]]


def _block_indices(
    owner: str, size: Sequence[int], kernel_size: Any, dilation: Any, padding: Any, stride: Any
) -> tuple[tuple[int, int], np.ndarray]:
    """The padding and, per tap ``(i, j)`` of the kernel and per block, the flat position the tap reads in the
    zero-padded image: ``(kh * kw, blocks)``, blocks row by row."""
    kernel, dilations = _pair(owner, "kernel_size", kernel_size, 1), _pair(owner, "dilation", dilation, 1)
    pads, strides = _pair(owner, "padding", padding, 0), _pair(owner, "stride", stride, 1)
    padded = [n + 2 * p for n, p in zip(size, pads)]
    counts = [(n - d * (k - 1) - 1) // s + 1 for n, k, d, s in zip(padded, kernel, dilations, strides)]
    if min(counts) < 1:
        fail(owner, "kernel_size", f"a window that fits the padded image of size {tuple(padded)}", kernel_size)
    rows = (
        np.arange(kernel[0])[:, None, None, None] * dilations[0]
        + np.arange(counts[0])[None, None, :, None] * strides[0]
    )
    cols = (
        np.arange(kernel[1])[None, :, None, None] * dilations[1]
        + np.arange(counts[1])[None, None, None, :] * strides[1]
    )
    flat = rows * padded[1] + cols  # (kh, kw, blocks down, blocks across)
    return (pads[0], pads[1]), flat.reshape(kernel[0] * kernel[1], -1).astype(np.int32)


def _pair(owner: str, argument: str, value: Any, low: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``low``, as a pair."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if not (
        isinstance(pair, (tuple, list))
        and len(pair) == 2
        and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= low for n in pair)
    ):
        fail(owner, argument, f"an int >= {low} or a pair of them", value)
    return int(pair[0]), int(pair[1])


# ------------------------------------------------------------------ connectionist temporal classification
#: the log-probability of an impossible path: finite, so that its gradient stays 0 where -inf would give NaN
_IMPOSSIBLE = -1e30


def ctc_loss(
    target: TensorLike, output: TensorLike, target_length: TensorLike, output_length: TensorLike, mask_index: int = 0
) -> Tensor:
    """The CTC loss of each sequence, as Keras's: ``-log p(target | output)`` summed over every alignment of the
    ``target`` labels ``(batch, max_labels)`` (the first ``target_length`` of each row) to the ``output`` logits
    ``(batch, steps, classes)`` (the first ``output_length`` steps), with ``mask_index`` the blank. The forward
    (alpha) recursion of Graves et al. in log space, one step at a time; its gradient comes from the engine."""
    logits = float_of(output)
    labels = to_tensor(target)
    if logits.ndim != 3 or labels.ndim != 2 or labels.shape[0] != logits.shape[0]:
        fail("ctc_loss", "output", "logits (batch, steps, classes) for targets (batch, max_labels)",
             f"shapes {labels.shape} and {logits.shape}")  # fmt: skip
    batch, steps, _ = logits.shape
    log_probs = log_softmax(logits, axis=-1)
    labels = cast(labels, "int32")
    blanks = cast(to_tensor(np.full(labels.shape, mask_index)), "int32")
    # the labels with a blank before, between and after them: (batch, 2 * max_labels + 1)
    extended = concatenate([stack([blanks, labels], axis=2).reshape(batch, -1), blanks[:, :1]], axis=1)
    emissions = take_along_axis(log_probs, extended.reshape(batch, 1, -1), axis=2)  # (batch, steps, positions)
    skips = logical_and(extended[:, 2:] != extended[:, :-2], extended[:, 2:] != mask_index)
    skippable = concatenate([to_tensor(np.zeros((batch, 2), dtype=bool)), skips], axis=1)
    impossible = to_tensor(np.full((batch, 1), _IMPOSSIBLE), logits.dtype)
    positions = np.arange(extended.shape[1])
    alpha = where(to_tensor(positions < 2), emissions[:, 0], _IMPOSSIBLE)
    lengths = cast(to_tensor(output_length), "int32").reshape(batch, 1)
    for step in range(1, steps):
        stay, advance = alpha, concatenate([impossible, alpha[:, :-1]], axis=1)
        skip = where(skippable, concatenate([impossible, impossible, alpha[:, :-2]], axis=1), _IMPOSSIBLE)
        largest = maximum(maximum(stay, advance), skip)
        total = exp(stay - largest) + exp(advance - largest) + exp(skip - largest)
        alpha = where(lengths > step, largest + log(total) + emissions[:, step], alpha)
    last = cast(to_tensor(target_length), "int32").reshape(batch, 1) * 2  # the blank after the last label
    ending_blank = take_along_axis(alpha, last, axis=1)
    ending_label = where(last > 0, take_along_axis(alpha, maximum(last - 1, 0), axis=1), _IMPOSSIBLE)
    return -C.logsumexp(concatenate([ending_blank, ending_label], axis=1), axis=1)


def ctc_decode(
    inputs: TensorLike,
    sequence_lengths: TensorLike,
    strategy: str = "greedy",
    beam_width: int = 100,
    top_paths: int = 1,
    merge_repeated: bool = True,
    mask_index: int = 0,
) -> tuple[Tensor, Tensor]:
    """Greedy CTC decoding, as Keras's: the most likely class at each of the first ``sequence_lengths`` steps,
    repeats merged (with ``merge_repeated``) and blanks (``mask_index``) dropped, the labels moved to the front
    and the rest -1: ``(1, batch, steps)`` int32, and the negated sum of the chosen scores, ``(batch, 1)``.
    Keras's ``"beam_search"`` strategy is not offered."""
    check_choice("ctc_decode", "strategy", strategy, ("greedy",))
    scores_in = float_of(inputs)
    if scores_in.ndim != 3:
        fail("ctc_decode", "inputs", "scores (batch, steps, classes)", f"shape {scores_in.shape}")
    batch, steps, _ = scores_in.shape
    lengths = cast(to_tensor(sequence_lengths), "int32").reshape(batch, 1)
    beyond = to_tensor(np.arange(steps, dtype=np.int32)[None, :]) >= lengths  # past each sequence's end
    blank = to_tensor(np.int32(mask_index))
    classes = where(beyond, blank, cast(argmax(scores_in, axis=-1), "int32"))
    chosen = where(beyond, 0.0, max(scores_in, axis=-1))
    if check_bool("ctc_decode", "merge_repeated", merge_repeated):
        repeated = concatenate([to_tensor(np.zeros((batch, 1), bool)), classes[:, 1:] == classes[:, :-1]], axis=1)
        classes = where(repeated, blank, classes)
    dropped = classes == blank
    order = argsort(where(dropped, steps, to_tensor(np.arange(steps, dtype=np.int32))), axis=-1)  # stable
    decoded = take_along_axis(where(dropped, to_tensor(np.int32(-1)), classes), order, axis=1)
    return decoded.reshape(1, batch, steps), -sum(chosen, axis=1, keepdims=True)
