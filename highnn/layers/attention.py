"""Attention layers: MultiHeadAttention (Vaswani et al., 2017) and Attention (Luong-style dot-product).

Both weigh the ``value`` vectors by a softmax over the keys of query-key
scores, and treat masked positions (mask 0 or False) as their Keras twins do.
MultiHeadAttention, like Keras's ``Softmax`` layer with a mask, scores them
:data:`LARGE_NEGATIVE` and gives them weight 0 after the softmax, so a query
whose every key is masked attends to nothing (zero weights, zero output).
Attention, like Keras's, adds :data:`LARGE_NEGATIVE` to their scores, so their
weight underflows to 0; a query whose every key is masked has all its scores
shifted alike (in float64 it keeps nearly its unmasked weights, in float32 it
attends about evenly).

Masks are explicit call arguments (``query_mask``, ``value_mask``,
``key_mask``, ``attention_mask``; Attention takes ``mask=[query_mask,
value_mask]``): any array or Tensor whose non-zero entries mean "attend".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from highnn import constraints, initializers, regularizers
from highnn.checks import check_bool, check_choice, check_integer, check_number, check_seed, fail, is_integer
from highnn.config import settings
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import Shape, deserialize_weight_arguments, serialize_weight_arguments
from highnn.layers.regularization import Dropout
from highnn.ops.composites import sigmoid, softmax
from highnn.ops.primitives import broadcast_to, cast, reshape, swap_last, tanh, to_tensor, transpose

#: added to the score of a masked position before the softmax (Keras's value for float32 and float64)
LARGE_NEGATIVE = -1e9

Initializer = str | initializers.Initializer
Regularizer = str | regularizers.Regularizer | None
Constraint = constraints.ConstraintLike
MaybeScores = Tensor | tuple[Tensor, Tensor]


def as_mask(mask: Any) -> Tensor | None:
    """A mask as a float Tensor of 1 (attend) and 0 (masked): non-zero entries mean True, as Keras casts."""
    return None if mask is None else cast(cast(to_tensor(mask), "bool"), settings.floatx)


def combine_masks(*masks: Tensor | None) -> Tensor | None:
    """The logical AND (a broadcast product) of the masks given, or None when none is."""
    combined = None
    for mask in masks:
        if mask is not None:
            combined = mask if combined is None else combined * mask
    return combined


def causal_mask(query_length: int, key_length: int) -> Tensor:
    """``mask[i, j] = i >= j``: query position i attends to key positions up to i only."""
    return to_tensor(np.tril(np.ones((query_length, key_length))).astype(settings.floatx))


def sliding_window_mask(query_length: int, key_length: int, window: int) -> Tensor:
    """``mask[i, j] = |i - j| < window``: query position i attends to the keys within ``window - 1`` of it."""
    distance = np.abs(np.arange(query_length)[:, None] - np.arange(key_length)[None, :])
    return to_tensor((distance < window).astype(settings.floatx))


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last axis (the keys) with the scores where ``mask`` is 0 set to :data:`LARGE_NEGATIVE` and
    their weights to 0 (Keras's ``Softmax`` layer with a mask, which MultiHeadAttention uses)."""
    if mask is None:
        return softmax(scores, axis=-1)
    return shifted_softmax(scores * mask, mask) * mask  # the masked scores are LARGE_NEGATIVE exactly


def shifted_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last axis (the keys) after adding :data:`LARGE_NEGATIVE` where ``mask`` is 0 (Keras's
    ``Attention`` layer)."""
    if mask is not None:
        scores = scores + (1.0 - mask) * LARGE_NEGATIVE
    return softmax(scores, axis=-1)


def nest_variables(parent: Layer, sublayer: Layer) -> None:
    """Prefix a built sublayer's variable paths with its parent's name (``multi_head_attention/query/kernel``)."""
    for variable in sublayer.variables:
        variable.path = f"{parent.name}/{variable.path}"


class HeadProjection(Layer):
    """A dense map of the last ``input_axes`` axes of its input to ``output_shape`` (Keras's EinsumDense there).

    The kernel has shape ``input_dims + output_shape`` and the bias
    ``output_shape``: ``(dim, num_heads, key_dim)`` and ``(num_heads, key_dim)``
    for a query projection, ``(num_heads, value_dim, dim)`` and ``(dim,)`` for
    the output projection of :class:`MultiHeadAttention`.
    """

    def __init__(
        self,
        input_axes: int,
        output_shape: tuple[int, ...],
        use_bias: bool,
        kernel_initializer: Initializer,
        bias_initializer: Initializer,
        kernel_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        kernel_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_axes, self.output_dims, self.use_bias = input_axes, tuple(output_shape), use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint
        self.input_dims: tuple[int, ...] = ()
        self.bias: Tensor | None = None

    def build(self, input_shape: Shape) -> None:
        self.input_dims = tuple(int(n) for n in input_shape[-self.input_axes :] if n is not None)
        self.kernel = self.add_weight(
            self.input_dims + self.output_dims,
            self.kernel_initializer,
            name="kernel",
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                self.output_dims,
                self.bias_initializer,
                name="bias",
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def check_input(self, x: Tensor) -> None:
        if x.shape[-self.input_axes :] != self.input_dims:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected its last axes to be "
                f"{self.input_dims}, but received input with shape {x.shape}."
            )

    def call(self, inputs: Tensor) -> Tensor:
        leading = inputs.shape[: -self.input_axes]
        flat = reshape(inputs, leading + (math.prod(self.input_dims),))
        out = flat @ reshape(self.kernel, (math.prod(self.input_dims), math.prod(self.output_dims)))
        out = reshape(out, leading + self.output_dims)
        return out if self.bias is None else out + self.bias

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[: -self.input_axes]) + self.output_dims


def split_shapes(query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> tuple[Shape, Shape, Shape]:
    """``(query, value, key)`` shapes: as given (``key_shape`` defaults to ``value_shape``), or from one shape
    (self-attention) or a list ``[query, value(, key)]`` of shapes in ``query_shape``."""
    if value_shape is not None:
        value = tuple(value_shape)
        return tuple(query_shape), value, value if key_shape is None else tuple(key_shape)
    if isinstance(query_shape, (list, tuple)) and query_shape and isinstance(query_shape[0], (list, tuple)):
        if len(query_shape) not in (2, 3):
            fail("MultiHeadAttention", "query_shape", "a shape or a list of 2 or 3 shapes (query, value[, key])",
                 query_shape)  # fmt: skip
        shapes = [tuple(shape) for shape in query_shape]
        return shapes[0], shapes[1], shapes[-1]
    shape = tuple(query_shape)
    return shape, shape, shape


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention, as in "Attention is all you need" (Keras 3's layer and weights).

    ``query``, ``key`` and ``value`` are each projected to ``num_heads`` heads
    (``key_dim`` features per head for query and key, ``value_dim`` for value);
    each head takes ``softmax(q k^T / sqrt(key_dim))`` over the keys, weighs
    the values with it, and the heads are projected back to the query's
    feature size (or ``output_shape``). With ``value`` also used as ``key``
    (the default) and ``value is query``, it is self-attention.

    Sublayers ``query``, ``key``, ``value`` and ``attention_output`` hold
    kernels of shape ``(dim, num_heads, key_dim)`` (``value_dim`` for value),
    biases ``(num_heads, key_dim)``, and an output kernel ``(num_heads,
    value_dim, dim)`` with bias ``(dim,)``; weight paths read
    ``multi_head_attention/query/kernel``. ``attention_axes`` (Keras's) are the
    sequence axes attended over, all of them by default; the other sequence axes
    are batch axes (see :class:`AttentionLayout`).

    >>> layer = hn.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.random.rand(3, 5, 8)
    >>> out, scores = layer(x, x, return_attention_scores=True)  # shapes (3, 5, 8) and (3, 2, 5, 5)
    """

    WEIGHT_ARGUMENTS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                        "kernel_constraint", "bias_constraint")  # fmt: skip
    supports_masking = True  # the output carries the query's mask

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | tuple[int, ...] | list[int] | None = None,
        attention_axes: int | tuple[int, ...] | list[int] | None = None,
        kernel_initializer: Initializer = "glorot_uniform",
        bias_initializer: Initializer = "zeros",
        kernel_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        activity_regularizer: Regularizer = None,
        kernel_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        use_gate: bool = False,
        sliding_window: int | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        owner = "MultiHeadAttention"
        self.num_heads = check_integer(owner, "num_heads", num_heads, 1)
        self.key_dim = check_integer(owner, "key_dim", key_dim, 1)
        self.value_dim = self.key_dim if value_dim is None else check_integer(owner, "value_dim", value_dim, 1)
        self.dropout = check_number(owner, "dropout", dropout, 0.0, 1.0, high_open=True)
        self.use_bias = check_bool(owner, "use_bias", use_bias)
        self.output_dims = _check_output_shape(output_shape)
        self.attention_axes = _check_attention_axes(attention_axes)
        self.use_gate = check_bool(owner, "use_gate", use_gate)
        self.sliding_window = (
            None if sliding_window is None else check_integer(owner, "sliding_window", sliding_window, 1)
        )
        self.seed = check_seed(owner, seed)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        # as in Keras, the activity regularizer applies to each projection's output, not to the layer's
        self.projection_activity_regularizer = regularizers.get(activity_regularizer)
        super().__init__(**kwargs)
        self.query_dense: HeadProjection  # the sublayers are created by build
        self.key_dense: HeadProjection
        self.value_dense: HeadProjection
        self.gate_dense: HeadProjection | None = None
        self.output_dense: HeadProjection
        self.dropout_layer: Dropout | None = None
        self.built_shapes: tuple[Shape, Shape, Shape] | None = None

    def projection(
        self, name: str, input_axes: int, output_shape: tuple[int, ...], input_shape: Shape
    ) -> HeadProjection:
        """A built sublayer projecting the last ``input_axes`` axes to ``output_shape``, its paths nested here."""
        layer = HeadProjection(
            input_axes,
            output_shape,
            self.use_bias,
            self.kernel_initializer,
            self.bias_initializer,
            self.kernel_regularizer,
            self.bias_regularizer,
            self.kernel_constraint,
            self.bias_constraint,
            name=name,
            activity_regularizer=self.projection_activity_regularizer,
        )
        layer.build(input_shape)
        nest_variables(self, layer)
        return layer

    def build(self, query_shape: Any, value_shape: Shape | None = None, key_shape: Shape | None = None) -> None:
        """Create the projections for inputs of these shapes (Keras's signature; ``key_shape`` defaults to
        ``value_shape``). One shape is self-attention; a list ``[query, value(, key)]`` of shapes also works."""
        query_shape, value_shape, key_shape = split_shapes(query_shape, value_shape, key_shape)
        self.check_shapes(query_shape, value_shape, key_shape)
        features = query_shape[-1]
        assert features is not None  # check_shapes rejects an unknown feature size
        heads_shape = tuple(query_shape[:-1]) + (self.num_heads, self.value_dim)
        self.query_dense = self.projection("query", 1, (self.num_heads, self.key_dim), query_shape)
        self.key_dense = self.projection("key", 1, (self.num_heads, self.key_dim), key_shape)
        if self.use_gate:  # Keras's order: the gate's weights come after the key's
            self.gate_dense = self.projection("gate", 1, (self.num_heads, self.value_dim), query_shape)
        self.value_dense = self.projection("value", 1, (self.num_heads, self.value_dim), value_shape)
        self.output_dense = self.projection("attention_output", 2, self.output_dims or (features,), heads_shape)
        if self.dropout > 0.0:
            self.dropout_layer = Dropout(self.dropout, seed=self.seed, name="dropout")
            scores_shape = tuple(query_shape[:-2]) + (self.num_heads, query_shape[-2], value_shape[-2])
            self.dropout_layer.build(scores_shape)
            nest_variables(self, self.dropout_layer)
        self.built_shapes = (query_shape, value_shape, key_shape)

    def check_shapes(self, query_shape: Shape, value_shape: Shape, key_shape: Shape) -> None:
        """Reject inputs the layer cannot attend over, or that differ from those it was built for."""
        shapes = {"query": query_shape, "value": value_shape, "key": key_shape}
        for name, shape in shapes.items():
            if len(shape) < 3 or shape[-1] is None:
                raise ValueError(
                    f"MultiHeadAttention {self.name!r}: `{name}` must have shape (batch, ..., sequence, features) "
                    f"with a known feature size, received shape {tuple(shape)}."
                )
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: all dimensions of `value` and `key`, except the last one, must be "
                f"equal. Received: value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}."
            )
        rank, axes = len(query_shape), self.attention_axes
        resolved = self.resolved_axes(rank)
        if any(not 1 <= a <= rank - 2 for a in resolved) or len(set(resolved)) < len(resolved):
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: `attention_axes` must name distinct sequence axes of the inputs "
                f"(1 to {rank - 2}, or -{rank - 1} to -2), received {axes!r} for a query of shape "
                f"{tuple(query_shape)}."
            )
        for axis in range(1, rank - 1):
            if axis not in resolved and query_shape[axis] != value_shape[axis]:
                raise ValueError(
                    f"MultiHeadAttention {self.name!r}: axis {axis} is not an attention axis, so `query` and `value` "
                    f"must have the same size along it. Received: query_shape={tuple(query_shape)} and "
                    f"value_shape={tuple(value_shape)}."
                )
        if self.built_shapes is not None:
            for name, shape, built in zip(shapes, shapes.values(), self.built_shapes):
                if shape[-1] != built[-1]:
                    raise ValueError(
                        f"MultiHeadAttention {self.name!r}: `{name}` must have {built[-1]} features, as when the "
                        f"layer was built, received shape {tuple(shape)}."
                    )

    def resolved_axes(self, rank: int) -> tuple[int, ...]:
        """The attention axes of inputs of ``rank``, as non-negative axes in the order given (all the sequence axes
        for None, as in Keras)."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        return tuple(a % rank if -rank <= a < rank else a for a in self.attention_axes)

    def call(  # type: ignore[override]
        self,
        query: Tensor,
        value: Tensor,
        key: Tensor | None = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool = False,
        use_causal_mask: bool = False,
    ) -> MaybeScores:
        key = value if key is None else key
        self.check_shapes(query.shape, value.shape, key.shape)
        layout = AttentionLayout(query.ndim, self.resolved_axes(query.ndim))
        if (use_causal_mask or self.sliding_window is not None) and len(layout.axes) > 1:
            argument = "use_causal_mask=True" if use_causal_mask else f"sliding_window={self.sliding_window}"
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: `{argument}` needs a single attention axis, the layer "
                f"attends over axes {layout.axes}; pass an `attention_mask` instead."
            )
        if attention_mask is not None and np.ndim(attention_mask) < 2 * len(layout.axes):
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: `attention_mask` must end with the query's and then the value's "
                f"attention axes {layout.axes}, received shape {np.shape(attention_mask)}."
            )
        if layout.moves:  # the masks in the layout the attention runs in
            query_mask, value_mask, key_mask = (
                None if m is None else layout.flat(to_tensor(m)) for m in (query_mask, value_mask, key_mask)
            )
            attention_mask = layout.flat_pairs(as_mask(attention_mask), query.shape, value.shape)
        query_heads, key_heads, value_heads = self.query_dense(query), self.key_dense(key), self.value_dense(value)
        flat_query, flat_key, flat_value = (layout.flat(x, 2) for x in (query_heads, key_heads, value_heads))
        mask = self.compute_attention_mask(
            flat_query.shape[-3], flat_key.shape[-3], query_mask, value_mask, key_mask, attention_mask, use_causal_mask
        )
        output, scores = self.compute_attention(flat_query, flat_key, flat_value, mask, training)
        output = layout.unflat(output, query_heads.shape[:-1] + output.shape[-1:])
        if self.gate_dense is not None:  # gated attention (Keras's use_gate): sigmoid(query @ gate) scales each head
            output = output * sigmoid(self.gate_dense(query))
        output = self.output_dense(output)
        if return_attention_scores:
            return output, layout.unflat_scores(scores, query.shape, value.shape)
        return output

    def compute_attention_mask(
        self,
        query_length: int,
        key_length: int,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        use_causal_mask: bool = False,
    ) -> Tensor | None:
        """The AND of every mask, shaped ``(..., T, S)`` for ``T = query_length`` and ``S = key_length``: query
        masks ``(..., T)``, value/key masks ``(..., S)``."""
        query_mask, value_mask, key_mask = as_mask(query_mask), as_mask(value_mask), as_mask(key_mask)
        return combine_masks(
            None if query_mask is None else reshape(query_mask, query_mask.shape + (1,)),
            None if value_mask is None else reshape(value_mask, value_mask.shape[:-1] + (1,) + value_mask.shape[-1:]),
            None if key_mask is None else reshape(key_mask, key_mask.shape[:-1] + (1,) + key_mask.shape[-1:]),
            causal_mask(query_length, key_length) if use_causal_mask else None,
            None if self.sliding_window is None else sliding_window_mask(query_length, key_length, self.sliding_window),
            as_mask(attention_mask),
        )

    def compute_attention(
        self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None, training: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Attention of projected ``(..., T, heads, key_dim)`` queries over keys and values: output and scores.

        The scores have shape ``(..., heads, T, S)``; the output ``(..., T, heads, value_dim)``.
        """
        query = query * (1.0 / math.sqrt(self.key_dim))
        scores = heads_first(query) @ swap_last(heads_first(key))
        if mask is not None and mask.ndim < scores.ndim:  # a head axis (and any missing batch axes) before (T, S)
            mask = reshape(mask, mask.shape[:-2] + (1,) * (scores.ndim - mask.ndim) + mask.shape[-2:])
        scores = masked_softmax(scores, mask)
        weights = scores if self.dropout_layer is None else self.dropout_layer(scores, training=training)
        return heads_first(weights @ heads_first(value)), scores

    def compute_output_shape(
        self, query_shape: Any, value_shape: Shape | None = None, key_shape: Shape | None = None
    ) -> Shape:
        query_shape, _, _ = split_shapes(query_shape, value_shape, key_shape)
        return tuple(query_shape[:-1]) + (self.output_dims or (query_shape[-1],))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": None if self.output_dims is None else list(self.output_dims),
            "attention_axes": None if self.attention_axes is None else list(self.attention_axes),
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            **serialize_weight_arguments(self, self.WEIGHT_ARGUMENTS),
            "seed": self.seed,
            **(
                {"activity_regularizer": regularizers.serialize(self.projection_activity_regularizer)}
                if self.projection_activity_regularizer is not None
                else {}
            ),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config(deserialize_weight_arguments(config, cls.WEIGHT_ARGUMENTS))


class AttentionLayout:
    """How MultiHeadAttention attends over any ``attention_axes``: the sequence axes that are not attention axes
    join the batch, and the attention axes become one, so that the attention runs over the last sequence axis as
    for rank-3 inputs; the output and the scores then take back Keras's layout. Nothing moves where the only
    attention axis is the last sequence axis."""

    def __init__(self, rank: int, axes: tuple[int, ...]) -> None:
        self.axes = axes
        self.order = (*(a for a in range(1, rank - 1) if a not in axes), *axes)  # the sequence axes, batch-like first
        self.moves = self.order != tuple(range(1, rank - 1)) or len(axes) > 1

    def flat(self, x: Tensor, trailing: int = 0) -> Tensor:
        """``x`` (batch, *sequence axes, *``trailing`` axes) with its attention axes last among the sequence axes,
        made one."""
        if not self.moves:
            return x
        seq = len(self.order)
        moved = transpose(x, (0, *self.order, *range(seq + 1, seq + 1 + trailing)))
        kept = moved.shape[1 : seq + 1 - len(self.axes)]
        joined = math.prod(moved.shape[seq + 1 - len(self.axes) : seq + 1])
        return reshape(moved, (moved.shape[0], *kept, joined, *moved.shape[seq + 1 :]))

    def flat_pairs(
        self, mask: Tensor | None, query_shape: tuple[int, ...], value_shape: tuple[int, ...]
    ) -> Tensor | None:
        """A mask in Keras's layout (..., *query attention axes, *value attention axes) as (..., T, S)."""
        if mask is None:
            return mask
        count = len(self.axes)
        pairs = self.pair_sizes(query_shape, value_shape)
        full = broadcast_to(mask, mask.shape[: mask.ndim - 2 * count] + pairs)
        lead = full.shape[: full.ndim - 2 * count]
        return reshape(full, (*lead, math.prod(pairs[:count]), math.prod(pairs[count:])))

    def unflat(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        """The output (batch, *batch-like axes, T, heads, d) back in the query's layout, ``shape``."""
        if not self.moves:
            return x
        seq = len(self.order)
        moved_shape = (shape[0], *(shape[a] for a in self.order), *shape[seq + 1 :])
        back = np.argsort((0, *self.order, *range(seq + 1, len(shape))))
        return transpose(reshape(x, moved_shape), tuple(int(a) for a in back))

    def unflat_scores(self, scores: Tensor, query_shape: tuple[int, ...], value_shape: tuple[int, ...]) -> Tensor:
        """The scores (batch, *batch-like axes, heads, T, S) as Keras lays them out: (..., heads, *query attention
        axes, *value attention axes)."""
        if not self.moves:
            return scores
        return reshape(scores, (*scores.shape[:-2], *self.pair_sizes(query_shape, value_shape)))

    def pair_sizes(self, query_shape: tuple[int, ...], value_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The query's sizes along the attention axes, then the value's (the last axes of scores and masks)."""
        return tuple(query_shape[a] for a in self.axes) + tuple(value_shape[a] for a in self.axes)


def heads_first(x: Tensor) -> Tensor:
    """Swap the sequence and head axes: ``(..., T, heads, d)`` <-> ``(..., heads, T, d)``."""
    n = x.ndim
    return transpose(x, tuple(range(n - 3)) + (n - 2, n - 3, n - 1))


def _check_output_shape(value: Any) -> tuple[int, ...] | None:
    """``output_shape`` as a tuple of positive ints (an int is a 1-tuple), or None."""
    if value is None:
        return None
    dims = (value,) if is_integer(value) else value
    if not isinstance(dims, (list, tuple)) or not dims or not all(is_integer(n) and n > 0 for n in dims):
        fail("MultiHeadAttention", "output_shape", "None, a positive integer or a tuple of positive integers", value)
    return tuple(int(n) for n in dims)


def _check_attention_axes(value: Any) -> tuple[int, ...] | None:
    """``attention_axes`` as a tuple of ints (an int is a 1-tuple), or None."""
    if value is None:
        return None
    axes = (value,) if is_integer(value) else value
    if not isinstance(axes, (list, tuple)) or not axes or not all(is_integer(a) for a in axes):
        fail("MultiHeadAttention", "attention_axes", "None, an integer or a tuple of integers", value, TypeError)
    return tuple(int(a) for a in axes)


class Attention(Layer):
    """Dot-product (Luong-style) attention over ``[query, value]`` or ``[query, value, key]`` (Keras 3's layer).

    ``score_mode="dot"``: scores ``query @ key^T`` (times a learned scalar
    ``scale`` when ``use_scale``); ``"concat"``: ``concat_score_weight *
    sum(tanh(scale * (query_i + key_j)))``. The output is ``softmax(scores) @
    value`` of shape ``(batch, Tq, dim)``; ``mask=[query_mask, value_mask]``
    zeroes the output at masked queries and keeps masked values out.

    >>> layer = hn.layers.Attention()
    >>> out = layer([np.random.rand(2, 3, 4), np.random.rand(2, 5, 4)])  # shape (2, 3, 4)
    """

    SCORE_MODES = ("dot", "concat")

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.use_scale = check_bool("Attention", "use_scale", use_scale)
        self.score_mode = check_choice("Attention", "score_mode", score_mode, self.SCORE_MODES)
        self.dropout = check_number("Attention", "dropout", dropout, 0.0, 1.0, high_open=True)
        self.seed = check_seed("Attention", seed)
        super().__init__(**kwargs)
        self.scale: Tensor | None = None
        self.concat_score_weight: Tensor | None = None
        self.dropout_layer: Dropout | None = None

    def build(self, input_shape: Any) -> None:
        """Create ``scale`` (with ``use_scale``) and ``concat_score_weight`` (``"concat"``): scalars, ones."""
        _check_list("inputs", input_shape, shapes=True)
        if self.use_scale:
            self.scale = self.add_weight((), "ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight((), "ones", name="concat_score_weight")
        if self.dropout > 0.0:
            self.dropout_layer = Dropout(self.dropout, seed=self.seed, name="dropout")
            self.dropout_layer.build(tuple(input_shape[0]))
            nest_variables(self, self.dropout_layer)

    def call(  # type: ignore[override]
        self,
        inputs: list[Tensor],
        mask: list[Any] | None = None,
        training: bool = False,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> MaybeScores:
        if mask is not None:
            _check_list("mask", mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask, value_mask = (as_mask(mask[0]), as_mask(mask[1])) if mask else (None, None)
        scores = self.scores(query, key)
        scores_mask = combine_masks(
            None if value_mask is None else reshape(value_mask, value_mask.shape[:-1] + (1,) + value_mask.shape[-1:]),
            causal_mask(scores.shape[-2], scores.shape[-1]) if use_causal_mask else None,
        )
        weights = shifted_softmax(scores, scores_mask)
        if self.dropout_layer is not None:
            weights = self.dropout_layer(weights, training=training)
        result = weights @ value
        if query_mask is not None:
            result = result * reshape(query_mask, query_mask.shape + (1,))
        return (result, weights) if return_attention_scores else result

    def scores(self, query: Tensor, key: Tensor) -> Tensor:
        """Query-key scores of shape ``(batch, Tq, Tv)``."""
        if self.score_mode == "dot":
            scores = query @ swap_last(key)
            return scores if self.scale is None else scores * self.scale
        pairs = reshape(query, query.shape[:-1] + (1,) + query.shape[-1:]) + reshape(
            key, key.shape[:-2] + (1,) + key.shape[-2:]
        )
        if self.scale is not None:
            pairs = pairs * self.scale
        assert self.concat_score_weight is not None  # build creates it for score_mode "concat"
        return tanh(pairs).sum(-1) * self.concat_score_weight

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor | None:
        """The query's mask (``mask[0]``), as Keras's layer passes on."""
        return as_mask(previous_mask[0]) if previous_mask else None

    def compute_output_shape(self, input_shape: Any) -> Shape:
        _check_list("input_shape", input_shape, shapes=True)
        return tuple(input_shape[0][:-1]) + (input_shape[1][-1],)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


def _check_list(argument: str, value: Any, shapes: bool = False) -> None:
    """Attention's inputs, masks and shapes come as a list of 2 or 3 entries: [query, value(, key)]."""
    valid = isinstance(value, (list, tuple)) and len(value) in (2, 3)
    if not valid or (shapes and not all(isinstance(shape, (list, tuple)) for shape in value)):
        kind = "shapes" if shapes else "entries"
        fail("Attention", argument, f"a list of 2 or 3 {kind}, [query, value] or [query, value, key]", value)
