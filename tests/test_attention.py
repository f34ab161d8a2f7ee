"""MultiHeadAttention and Attention: Keras 3's weights and arguments, numbers against a PyTorch formulation."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn import layers
from highnn.graph import grad
from highnn.layers.attention import LARGE_NEGATIVE

torch = pytest.importorskip("torch")  # the reference values come from PyTorch formulations

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def float64() -> Iterator[None]:
    with hn.config.use_backend("numpy", floatx="float64"):
        yield


def randomize(layer: hn.layers.Layer, scale: float = 0.5) -> list[np.ndarray]:
    """Give every weight random values (biases too), so a wrong bias or axis cannot hide."""
    values = [RNG.normal(scale=scale, size=w.shape) for w in layer.weights]
    layer.set_weights(values)
    return values


def torch_multi_head(
    query: np.ndarray, value: np.ndarray, key: np.ndarray, weights: list[np.ndarray], mask: np.ndarray | None
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Output and scores of multi-head attention written directly in PyTorch; also the weight leaves."""
    leaves = [torch.tensor(w, requires_grad=True) for w in weights]
    wq, bq, wk, bk, wv, bv, wo, bo = leaves
    q = torch.einsum("...td,dnh->...tnh", torch.tensor(query), wq) + bq
    k = torch.einsum("...sd,dnh->...snh", torch.tensor(key), wk) + bk
    v = torch.einsum("...sd,dnh->...snh", torch.tensor(value), wv) + bv
    logits = torch.einsum("...tnh,...snh->...nts", q, k) / math.sqrt(wq.shape[-1])
    if mask is not None:
        logits = logits.masked_fill(~torch.tensor(mask, dtype=torch.bool).unsqueeze(-3), -math.inf)
    scores = torch.softmax(logits, dim=-1)
    heads = torch.einsum("...nts,...snh->...tnh", scores, v)
    return torch.einsum("...tnh,nhd->...td", heads, wo) + bo, scores, leaves


def highnn_gradients(outputs: hn.Tensor, layer: hn.layers.Layer, adjoint: np.ndarray) -> list[np.ndarray]:
    return [g.numpy() for g in grad((outputs * adjoint).sum(), layer.weights)]


# ------------------------------------------------------------ MultiHeadAttention
def test_weights_have_keras_shapes_paths_and_order() -> None:
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5, name="mha")
    layer(np.ones((1, 4, 6)), np.ones((1, 7, 8)), np.ones((1, 7, 9)))
    assert [(w.path, w.shape) for w in layer.weights] == [
        ("mha/query/kernel", (6, 2, 3)),
        ("mha/query/bias", (2, 3)),
        ("mha/key/kernel", (9, 2, 3)),
        ("mha/key/bias", (2, 3)),
        ("mha/value/kernel", (8, 2, 5)),
        ("mha/value/bias", (2, 5)),
        ("mha/attention_output/kernel", (2, 5, 6)),
        ("mha/attention_output/bias", (6,)),
    ]
    assert [sub.name for sub in layer.layers] == ["query", "key", "value", "attention_output"]
    assert layer.count_params() == 6 * 6 + 6 + 9 * 6 + 6 + 8 * 10 + 10 + 10 * 6 + 6
    no_bias = layers.MultiHeadAttention(2, 3, use_bias=False, output_shape=(2, 4))
    out = no_bias(np.ones((2, 4, 6)), np.ones((2, 7, 6)))
    assert out.shape == (2, 4, 2, 4)
    assert [w.shape for w in no_bias.weights] == [(6, 2, 3)] * 3 + [(2, 3, 2, 4)]


def test_kernels_are_glorot_uniform_with_keras_fans() -> None:
    hn.utils.set_random_seed(0)
    layer = layers.MultiHeadAttention(num_heads=4, key_dim=8)
    layer.build((None, 10, 16))
    query_kernel = layer.weights[0].numpy()  # (16, 4, 8): fan_in 16*4, fan_out 16*8
    output_kernel = layer.weights[6].numpy()  # (4, 8, 16): fan_in 4*8, fan_out 4*16
    assert np.abs(query_kernel).max() <= math.sqrt(6 / (64 + 128))
    assert np.abs(output_kernel).max() <= math.sqrt(6 / (32 + 64))
    assert np.abs(query_kernel).max() > 0.9 * math.sqrt(6 / (64 + 128))
    assert not np.any(layer.weights[1].numpy())


MASKS = ["none", "causal", "padding", "attention", "all"]


@pytest.mark.parametrize("masks", MASKS)
def test_multi_head_attention_equals_pytorch(masks: str) -> None:
    batch, t, s = 3, 4, 6
    query, value, key = RNG.normal(size=(batch, t, 5)), RNG.normal(size=(batch, s, 7)), RNG.normal(size=(batch, s, 3))
    query_mask = np.arange(t) < np.array([[4], [2], [3]])
    value_mask = np.arange(s) < np.array([[6], [5], [2]])
    key_mask = np.arange(s) != 1
    attention_mask = RNG.random((batch, t, s)) < 0.7
    attention_mask[..., 0] = True  # every query keeps a key, so the -inf reference has no empty row
    kwargs: dict[str, Any] = {
        "none": {},
        "causal": {"use_causal_mask": True},
        "padding": {"query_mask": query_mask, "value_mask": value_mask},
        "attention": {"attention_mask": attention_mask.astype(int)},
        "all": {"query_mask": query_mask, "value_mask": value_mask, "key_mask": np.broadcast_to(key_mask, (3, s)),
                "attention_mask": attention_mask, "use_causal_mask": True},
    }[masks]  # fmt: skip
    mask = np.ones((batch, t, s), bool)
    if "query_mask" in kwargs:
        mask &= query_mask[:, :, None] & value_mask[:, None, :]
    if "key_mask" in kwargs:
        mask &= key_mask
    if "attention_mask" in kwargs:
        mask &= attention_mask
    if kwargs.get("use_causal_mask"):
        mask &= np.tril(np.ones((t, s), bool))
    attended = query_mask if "query_mask" in kwargs else np.ones((batch, t), bool)  # rows with a key to attend to
    mask[~attended] = True  # Keras attends evenly there, -inf would give NaN: those rows are not compared
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    layer(query, value, key)
    weights = randomize(layer)

    out, scores = layer(query, value, key, return_attention_scores=True, **kwargs)
    expected_out, expected_scores, leaves = torch_multi_head(query, value, key, weights, mask)
    np.testing.assert_allclose(out.numpy()[attended], expected_out.detach().numpy()[attended], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        scores.numpy().transpose(0, 2, 1, 3)[attended],
        expected_scores.detach().numpy().transpose(0, 2, 1, 3)[attended],
        rtol=0,
        atol=1e-12,
    )

    if "query_mask" not in kwargs:  # every row attends: the gradients agree with torch.autograd too
        adjoint = RNG.normal(size=out.shape)
        expected = torch.autograd.grad(expected_out, leaves, torch.tensor(adjoint))
        for ours, theirs in zip(highnn_gradients(out, layer, adjoint), expected):
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_masked_positions_get_weight_zero_and_a_query_with_none_attends_to_nothing(floatx: str) -> None:
    """As Keras's Softmax layer with a mask: masked scores are -1e9 and their weights 0 after the softmax, so a
    query whose every key is masked gets zero weights and its output is the output projection's bias alone."""
    assert LARGE_NEGATIVE == -1e9
    with hn.config.use_backend("numpy", floatx=floatx):
        layer = layers.MultiHeadAttention(num_heads=2, key_dim=2)
        x = RNG.normal(size=(1, 3, 4)).astype(floatx)
        layer(x, x)
        randomize(layer)
        attention_mask = np.array([[[1, 0, 0], [1, 1, 0], [0, 0, 0]]])
        out, scores = layer(x, x, attention_mask=attention_mask, return_attention_scores=True)
        _, unmasked = layer(x, x, return_attention_scores=True)
    scores, unmasked = scores.numpy(), unmasked.numpy()
    np.testing.assert_array_equal(scores[0, :, 0], [[1.0, 0.0, 0.0]] * 2)
    expected = unmasked[0, :, 1, :2] / unmasked[0, :, 1, :2].sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(scores[0, :, 1, :2], expected, rtol=1e-6)
    np.testing.assert_array_equal(scores[0, :, 1:, 2], 0.0)
    np.testing.assert_array_equal(scores[0, :, 2], 0.0)
    np.testing.assert_allclose(out.numpy()[0, 2], layer.output_dense.bias.numpy(), rtol=1e-6)


def test_attention_shifts_masked_scores_as_keras_attention_does() -> None:
    """Keras's Attention layer adds -1e9 to masked scores and keeps the softmax: a query with every key masked
    has all its scores shifted alike, so (in float64) it keeps nearly its unmasked weights."""
    query, value = RNG.normal(size=(1, 2, 3)), RNG.normal(size=(1, 4, 3))
    layer = layers.Attention()
    _, unmasked = layer([query, value], return_attention_scores=True)
    masks = [np.ones((1, 2), bool), np.zeros((1, 4), bool)]
    _, weights = layer([query, value], mask=masks, return_attention_scores=True)
    np.testing.assert_allclose(weights.numpy(), unmasked.numpy(), rtol=1e-6)


def test_extra_leading_axes_are_batch_axes() -> None:
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=-2)
    x, y = RNG.normal(size=(2, 3, 4, 5)), RNG.normal(size=(2, 3, 6, 5))
    mask = RNG.random((2, 3, 4, 6)) < 0.8
    out, scores = layer(x, y, attention_mask=mask, use_causal_mask=True, return_attention_scores=True)
    assert out.shape == (2, 3, 4, 5) and scores.shape == (2, 3, 2, 4, 6)
    flat_out, flat_scores = layer(
        x.reshape(6, 4, 5), y.reshape(6, 6, 5), attention_mask=mask.reshape(6, 4, 6), use_causal_mask=True,
        return_attention_scores=True,
    )  # fmt: skip
    np.testing.assert_allclose(out.numpy().reshape(6, 4, 5), flat_out.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(scores.numpy().reshape(6, 2, 4, 6), flat_scores.numpy(), rtol=0, atol=1e-14)


def test_masks_broadcast_over_missing_batch_axes() -> None:
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    x = RNG.normal(size=(2, 4, 5))
    causal = np.tril(np.ones((4, 4)))
    expected = layer(x, x, use_causal_mask=True).numpy()
    np.testing.assert_array_equal(layer(x, x, attention_mask=causal).numpy(), expected)


def torch_multi_axis(
    query: np.ndarray, value: np.ndarray, axes: tuple[int, ...], weights: list[np.ndarray], mask: np.ndarray | None
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Keras's attention over several axes written in PyTorch einsums: the scores (..., heads, *query attention
    axes, *key attention axes), one softmax over all the key axes at once; also the weight leaves."""
    leaves = [torch.tensor(w, requires_grad=True) for w in weights]
    wq, bq, wk, bk, wv, bv, wo, bo = leaves
    rank, count = query.ndim, len(axes)
    letters = "bcdefg"[: rank - 1]
    source = "".join(letters[a].upper() if a in axes else letters[a] for a in range(rank - 1))
    kept = "".join(letters[a] for a in range(rank - 1) if a not in axes)
    scores_notation = kept + "n" + "".join(letters[a] for a in axes) + "".join(source[a] for a in axes)
    q = torch.einsum(f"{letters}x,xnh->{letters}nh", torch.tensor(query), wq) + bq
    k = torch.einsum(f"{source}x,xnh->{source}nh", torch.tensor(value), wk) + bk
    v = torch.einsum(f"{source}x,xnh->{source}nh", torch.tensor(value), wv) + bv
    logits = torch.einsum(f"{letters}nh,{source}nh->{scores_notation}", q, k) / math.sqrt(wq.shape[-1])
    if mask is not None:
        logits = logits.masked_fill(~torch.tensor(mask).unsqueeze(-2 * count - 1), -math.inf)
    flat = torch.softmax(logits.reshape(*logits.shape[:-count], -1), dim=-1)
    scores = flat.reshape(logits.shape)
    heads = torch.einsum(f"{scores_notation},{source}nh->{letters}nh", scores, v)
    return torch.einsum(f"{letters}nh,nhx->{letters}x", heads, wo) + bo, scores, leaves


MULTI_AXIS = [
    ((2, 3, 4, 5), (2, 4, 3, 5), None, "rank 4, every sequence axis"),
    ((2, 3, 4, 5), (2, 6, 4, 5), (1,), "rank 4, the first axis"),
    ((2, 3, 4, 5), (2, 4, 2, 5), (2, 1), "rank 4, both axes, reversed"),
    ((2, 3, 2, 4, 5), (2, 4, 2, 3, 5), (-2, 1), "rank 5, two axes around a batch axis"),
]


@pytest.mark.parametrize(("query_shape", "value_shape", "axes", "label"), MULTI_AXIS)
@pytest.mark.parametrize("masked", [False, True])
def test_attention_over_any_axes_equals_pytorch(
    query_shape: tuple[int, ...], value_shape: tuple[int, ...], axes: tuple[int, ...] | None, label: str,
    masked: bool,
) -> None:  # fmt: skip
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, attention_axes=axes)
    query, value = RNG.normal(size=query_shape), RNG.normal(size=value_shape)
    layer(query, value)
    weights = randomize(layer)
    resolved = layer.resolved_axes(len(query_shape))
    kept = [a for a in range(1, len(query_shape) - 1) if a not in resolved]
    mask = None
    if masked:  # Keras's layout: batch, the axes that are not attention axes, then the query's and the key's
        shape = [2, *(query_shape[a] for a in kept), *(query_shape[a] for a in resolved)]
        mask = RNG.random(shape + [value_shape[a] for a in resolved]) < 0.7
        mask.reshape(*shape, -1)[..., 0] = True  # every query keeps a key, so the -inf reference has no empty row
    out, scores = layer(query, value, attention_mask=mask, return_attention_scores=True)
    expected_out, expected_scores, leaves = torch_multi_axis(query, value, resolved, weights, mask)
    assert scores.shape == tuple(expected_scores.shape)
    np.testing.assert_allclose(out.numpy(), expected_out.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores.numpy(), expected_scores.detach().numpy(), rtol=0, atol=1e-12)
    adjoint = RNG.normal(size=out.shape)
    expected = torch.autograd.grad(expected_out, leaves, torch.tensor(adjoint))
    for ours, theirs in zip(highnn_gradients(out, layer, adjoint), expected):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_query_and_value_masks_follow_their_inputs_over_several_axes() -> None:
    """Over several attention axes a query mask has the query's sequence axes and a value mask the value's: they
    mean the attention mask of their outer product, and a query with no key attends to nothing."""
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    query, value = RNG.normal(size=(2, 3, 4, 5)), RNG.normal(size=(2, 2, 3, 5))
    query_mask, value_mask = RNG.random((2, 3, 4)) < 0.7, RNG.random((2, 2, 3)) < 0.6
    value_mask[0] = False  # the first example's queries have no key at all
    out = layer(query, value, query_mask=query_mask, value_mask=value_mask)
    both = query_mask[:, :, :, None, None] & value_mask[:, None, None]
    np.testing.assert_allclose(out.numpy(), layer(query, value, attention_mask=both).numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(out.numpy()[0], np.broadcast_to(layer.output_dense.bias.numpy(), (3, 4, 5)), atol=1e-14)


def test_a_causal_mask_runs_along_the_single_attention_axis_wherever_it_lies() -> None:
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=1)
    x = RNG.normal(size=(2, 4, 3, 5))
    causal = np.tril(np.ones((4, 4)))  # (T, S), broadcast over the batch and the axis that is not attended over
    expected = layer(x, x, attention_mask=causal).numpy()
    np.testing.assert_array_equal(layer(x, x, use_causal_mask=True).numpy(), expected)
    with pytest.raises(ValueError, match=r"`use_causal_mask=True` needs a single attention axis.*\(1, 2\)"):
        layers.MultiHeadAttention(num_heads=2, key_dim=3)(x, x, use_causal_mask=True)
    with pytest.raises(ValueError, match=r"`attention_mask` must end with .* axes \(1, 2\), received shape \(4, 4\)"):
        layers.MultiHeadAttention(num_heads=2, key_dim=3)(x, x, attention_mask=causal)


@pytest.mark.parametrize("causal", [False, True])
def test_gated_attention_and_a_sliding_window_equal_pytorch(causal: bool) -> None:
    """Keras's ``use_gate`` (each head's output scaled by ``sigmoid(query @ gate + bias)``) and ``sliding_window``
    (query i attends to the keys within ``window - 1`` of it, with a causal mask too if asked)."""
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, use_gate=True, sliding_window=2)
    query, value = RNG.normal(size=(2, 5, 6)), RNG.normal(size=(2, 5, 7))
    layer(query, value)
    assert [w.path.split("/", 1)[1] for w in layer.weights][4:6] == ["gate/kernel", "gate/bias"]  # Keras's order
    weights = randomize(layer)
    out, scores = layer(query, value, use_causal_mask=causal, return_attention_scores=True)

    leaves = [torch.tensor(w, requires_grad=True) for w in weights]
    wq, bq, wk, bk, wg, bg, wv, bv, wo, bo = leaves
    q = torch.einsum("btd,dnh->btnh", torch.tensor(query), wq) + bq
    k = torch.einsum("bsd,dnh->bsnh", torch.tensor(value), wk) + bk
    v = torch.einsum("bsd,dnh->bsnh", torch.tensor(value), wv) + bv
    logits = torch.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(3)
    positions = torch.arange(5)
    keep = (positions[:, None] - positions[None, :]).abs() < 2
    if causal:
        keep &= positions[:, None] >= positions[None, :]
    expected_scores = torch.softmax(logits.masked_fill(~keep, -math.inf), dim=-1)
    heads = torch.einsum("bnts,bsnh->btnh", expected_scores, v)
    gate = torch.sigmoid(torch.einsum("btd,dnh->btnh", torch.tensor(query), wg) + bg)
    expected = torch.einsum("btnh,nhd->btd", heads * gate, wo) + bo
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores.numpy(), expected_scores.detach().numpy(), rtol=0, atol=1e-12)
    adjoint = RNG.normal(size=out.shape)
    theirs = torch.autograd.grad(expected, leaves, torch.tensor(adjoint))
    for ours, reference in zip(highnn_gradients(out, layer, adjoint), theirs, strict=True):
        np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-10, atol=1e-12)
    config = layer.get_config()
    assert (config["use_gate"], config["sliding_window"]) == (True, 2)
    assert layers.deserialize(layers.serialize(layer)).get_config() == config
    with pytest.raises(ValueError, match=r"`sliding_window=2` needs a single attention axis"):
        layers.MultiHeadAttention(2, 3, sliding_window=2)(np.ones((1, 3, 4, 5)), np.ones((1, 3, 4, 5)))


def test_dropout_acts_only_in_training_and_scores_are_before_dropout() -> None:
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=3)
    x = RNG.normal(size=(2, 4, 5))
    inference, scores = layer(x, x, return_attention_scores=True)
    plain = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    plain(x, x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_array_equal(inference.numpy(), plain(x, x).numpy())
    trained, train_scores = layer(x, x, return_attention_scores=True, training=True)
    assert not np.allclose(trained.numpy(), inference.numpy())
    np.testing.assert_array_equal(train_scores.numpy(), scores.numpy())
    state = [v.path for v in layer.variables if all(v is not w for w in layer.weights)]
    assert state == [f"{layer.name}/dropout/seed_generator_state"]


def test_regularizers_and_constraints_reach_every_projection() -> None:
    layer = layers.MultiHeadAttention(
        num_heads=2, key_dim=3, kernel_regularizer="l2", bias_regularizer="l1", activity_regularizer="l2",
        kernel_constraint="non_neg",
    )  # fmt: skip
    x = RNG.normal(size=(2, 4, 5))
    layer(x, x)
    assert len(layer.losses) == 8 + 4  # a penalty per kernel and bias, and one per projection's activity
    assert [w.constraint is not None for w in layer.weights] == [True, False] * 4


def test_config_round_trip_gives_the_same_layer() -> None:
    layer = layers.MultiHeadAttention(
        num_heads=3, key_dim=2, value_dim=4, dropout=0.1, use_bias=False, output_shape=7, attention_axes=(1,),
        kernel_initializer=hn.initializers.GlorotNormal(seed=1), bias_initializer="ones", kernel_regularizer="l2",
        kernel_constraint="max_norm", seed=5, name="attend",
    )  # fmt: skip
    config = layer.get_config()
    assert config["output_shape"] == [7] and config["attention_axes"] == [1] and config["value_dim"] == 4
    clone = layers.deserialize(layers.serialize(layer))
    assert isinstance(clone, layers.MultiHeadAttention)
    assert clone.get_config() == config
    x = RNG.normal(size=(2, 3, 5))
    np.testing.assert_array_equal(clone(x, x).numpy(), layer(x, x).numpy())


def test_self_attention_inside_a_trained_model_saves_and_loads(tmp_path: Path) -> None:
    hn.utils.set_random_seed(4)
    x, y = RNG.normal(size=(16, 6, 4)), RNG.integers(0, 3, size=16)
    model = hn.Sequential([hn.Input((6, 4)), SelfAttention(num_heads=2, key_dim=3), layers.Flatten(), layers.Dense(3)])
    model.compile("adam", hn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "attention.highnn"
    model.save(path)
    loaded = hn.models.load_model(path, custom_objects={"SelfAttention": SelfAttention})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.path for w in model.weights][:2] == [
        f"{model.layers[0].attention.name}/query/kernel", f"{model.layers[0].attention.name}/query/bias"
    ]  # fmt: skip
    loaded.fit(x, y, epochs=1, verbose=0)  # the optimizer state came back too


class SelfAttention(hn.layers.Layer):
    """``MultiHeadAttention(x, x)`` as a one-input layer, so a Sequential model can hold it (Keras's idiom)."""

    def __init__(self, num_heads: int, key_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention = layers.MultiHeadAttention(num_heads, key_dim)

    def call(self, inputs: hn.Tensor, training: bool = False) -> hn.Tensor:
        return self.attention(inputs, inputs, training=training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_heads": self.attention.num_heads, "key_dim": self.attention.key_dim}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_heads": 0, "key_dim": 2}, ValueError, "`num_heads` must be an integer >= 1, received 0"),
        ({"num_heads": 2, "key_dim": 2.5}, TypeError, "`key_dim` must be an integer >= 1, received 2.5"),
        ({"num_heads": 2, "key_dim": 2, "value_dim": -1}, ValueError, "`value_dim` must be an integer >= 1"),
        ({"num_heads": 2, "key_dim": 2, "dropout": 1.0}, ValueError, r"`dropout` must be a number in \[0, 1\)"),
        ({"num_heads": 2, "key_dim": 2, "use_bias": "no"}, TypeError, "`use_bias` must be True or False"),
        ({"num_heads": 2, "key_dim": 2, "output_shape": (3, 0)}, ValueError, "`output_shape` must be None, a positive"),
        ({"num_heads": 2, "key_dim": 2, "attention_axes": "1"}, TypeError, "`attention_axes` must be None, an integer"),
        ({"num_heads": 2, "key_dim": 2, "seed": -1}, ValueError, "`seed` must be an integer in"),
        ({"num_heads": 2, "key_dim": 2, "use_gate": "yes"}, TypeError, "`use_gate` must be True or False"),
        ({"num_heads": 2, "key_dim": 2, "sliding_window": 0}, ValueError, "`sliding_window` must be an integer >= 1"),
        ({"num_heads": 2, "key_dim": 2, "kernel_initializer": "nope"}, ValueError, "nope"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        layers.MultiHeadAttention(**kwargs)


@pytest.mark.parametrize(
    ("layer_kwargs", "shapes", "message"),
    [
        ({}, [(2, 5), (2, 5)], r"`query` must have shape \(batch, \.\.\., sequence, features\)"),
        ({}, [(2, 3, 4), (2, 5, 4), (2, 6, 4)], "all dimensions of `value` and `key`, except the last one"),
        (
            {"attention_axes": 0},
            [(2, 3, 4), (2, 5, 4)],
            r"`attention_axes` must name distinct sequence axes of the "
            r"inputs \(1 to 1, or -2 to -2\), received \(0,\)",
        ),
        ({"attention_axes": 3}, [(2, 3, 4, 5), (2, 3, 4, 5)], r"\(1 to 2, or -3 to -2\), received \(3,\)"),
        ({"attention_axes": (1, -3)}, [(2, 3, 4, 5), (2, 3, 4, 5)], r"distinct sequence axes.*received \(1, -3\)"),
        (
            {"attention_axes": 2},
            [(2, 3, 4, 5), (2, 6, 4, 5)],
            "axis 1 is not an attention axis, so `query` and "
            r"`value` must have the same size along it. Received: query_shape=\(2, 3, 4, 5\) and value_shape",
        ),
    ],
)
def test_inputs_it_cannot_attend_over_fail_before_building(
    layer_kwargs: dict[str, Any], shapes: list[tuple[int, ...]], message: str
) -> None:
    layer = layers.MultiHeadAttention(2, 3, **layer_kwargs)
    with pytest.raises(ValueError, match=message):
        layer(*[np.ones(shape) for shape in shapes])
    assert not layer.built and not layer.weights


def test_inputs_unlike_the_built_ones_are_rejected() -> None:
    layer = layers.MultiHeadAttention(2, 3)
    layer(np.ones((2, 3, 4)), np.ones((2, 5, 6)))
    with pytest.raises(ValueError, match="`value` must have 6 features, as when the layer was built"):
        layer(np.ones((2, 3, 4)), np.ones((2, 5, 4)))
    with pytest.raises(ValueError, match="`query_shape` must be a shape or a list of 2 or 3 shapes"):
        layers.MultiHeadAttention(2, 3).build([(1, 2, 3)] * 4)


def test_compute_output_shape_follows_keras() -> None:
    layer = layers.MultiHeadAttention(2, 3)
    assert layer.compute_output_shape([(None, 4, 6), (None, 7, 8)]) == (None, 4, 6)
    assert layers.MultiHeadAttention(2, 3, output_shape=(2, 5)).compute_output_shape((None, 4, 6)) == (None, 4, 2, 5)


# ------------------------------------------------------------------- Attention
def torch_luong(
    query: np.ndarray, value: np.ndarray, key: np.ndarray, scale: float | None, concat: bool, mask: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    q, v, k = torch.tensor(query), torch.tensor(value), torch.tensor(key)
    if concat:
        pairs = q.unsqueeze(-2) + k.unsqueeze(-3)
        logits = torch.tanh(pairs if scale is None else scale * pairs).sum(-1) * 1.0
    else:
        logits = q @ k.transpose(-1, -2) * (1.0 if scale is None else scale)
    weights = torch.softmax(logits.masked_fill(~torch.tensor(mask), -math.inf), dim=-1)
    return weights @ v, weights


@pytest.mark.parametrize("score_mode", ["dot", "concat"])
@pytest.mark.parametrize("use_scale", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_equals_pytorch(score_mode: str, use_scale: bool, masked: bool) -> None:
    query, value, key = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4)), RNG.normal(size=(2, 5, 4))
    layer = layers.Attention(use_scale=use_scale, score_mode=score_mode)
    layer([query, value, key])
    if use_scale:
        layer.set_weights([np.array(1.7)] + layer.get_weights()[1:])
    query_mask = np.array([[1, 1, 0], [1, 0, 1]], bool)
    value_mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    kwargs: dict[str, Any] = {"mask": [query_mask, value_mask], "use_causal_mask": True} if masked else {}
    mask = value_mask[:, None, :] & np.tril(np.ones((3, 5), bool)) if masked else np.ones((2, 3, 5), bool)
    assert mask.any(-1).all()  # every query sees a key (a query without one: see the -1e9 test)
    out, weights = layer([query, value, key], return_attention_scores=True, **kwargs)
    expected_out, expected_weights = torch_luong(
        query, value, key, 1.7 if use_scale else None, score_mode == "concat", mask
    )
    expected = expected_out.numpy() * (query_mask[..., None] if masked else 1.0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weights.numpy(), expected_weights.numpy(), rtol=0, atol=1e-12)


def test_attention_without_key_uses_value_and_has_keras_weights() -> None:
    query, value = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    layer = layers.Attention(use_scale=True, score_mode="concat", name="luong")
    np.testing.assert_array_equal(layer([query, value]).numpy(), layer([query, value, value]).numpy())
    assert [(w.path, w.shape) for w in layer.weights] == [("luong/scale", ()), ("luong/concat_score_weight", ())]
    assert layer.compute_output_shape([(None, 3, 4), (None, 5, 6)]) == (None, 3, 6)


def test_attention_dropout_and_config() -> None:
    layer = layers.Attention(dropout=0.5, seed=2, use_scale=True)
    query, value = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    _, weights = layer([query, value], training=True, return_attention_scores=True)
    assert np.any(weights.numpy() == 0.0)
    _, weights = layer([query, value], return_attention_scores=True)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, rtol=1e-12)
    config = layer.get_config()
    assert {k: config[k] for k in ("use_scale", "score_mode", "dropout", "seed")} == {
        "use_scale": True, "score_mode": "dot", "dropout": 0.5, "seed": 2
    }  # fmt: skip
    assert layers.deserialize(layers.serialize(layer)).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "call", "error", "message"),
    [
        ({"score_mode": "add"}, None, ValueError, "`score_mode` must be one of 'dot', 'concat'"),
        ({"use_scale": 1}, None, TypeError, "`use_scale` must be True or False"),
        ({"dropout": -0.1}, None, ValueError, "`dropout` must be a number in"),
        ({}, {"inputs": np.ones((2, 3, 4))}, ValueError, "`inputs` must be a list of 2 or 3"),
        ({}, {"inputs": [np.ones((2, 3, 4))] * 4}, ValueError, "`inputs` must be a list of 2 or 3"),
        ({}, {"inputs": [np.ones((2, 3, 4))] * 2, "mask": np.ones((2, 3))}, ValueError, "`mask` must be a list"),
    ],
)
def test_attention_bad_arguments(
    kwargs: dict[str, Any], call: dict[str, Any] | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        layers.Attention(**kwargs)(**call) if call else layers.Attention(**kwargs)


# --------------------------------------------------------------------- example
def test_transformer_example_reaches_its_stated_accuracy() -> None:
    script = Path(__file__).parent.parent / "examples" / "transformer_classifier.py"
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=script.parent,
        env={**os.environ, "HIGHNN_BACKEND": "numpy"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"test accuracy: ([\d.]+)", result.stdout)
    assert match and float(match.group(1)) >= 0.95, result.stdout[-500:]


# ------------------------------------------------------- the functional API: calls with several inputs
def encoder_block(cross_key: str = "keyword") -> hn.Model:
    """A Transformer encoder block over ``tokens`` (self-attention) with cross-attention to ``memory``."""
    hn.utils.set_random_seed(3)
    tokens, memory = hn.Input((None, 8), name="tokens"), hn.Input((6, 8), name="memory")
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="self_attention")(tokens, tokens)
    x = layers.LayerNormalization(name="self_norm")(layers.Add()([tokens, attended]))
    cross_attention = layers.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3, name="cross_attention")
    if cross_key == "keyword":
        crossed = cross_attention(query=x, value=memory, key=memory)
    else:
        crossed = cross_attention(x, memory, memory)
    x = layers.LayerNormalization()(layers.Add()([x, crossed]))
    x = layers.Add()([x, layers.Dense(8)(layers.Dense(16, activation="relu")(x))])
    return hn.Model([tokens, memory], layers.Dense(3)(layers.GlobalAveragePooling1D()(x)), name="encoder_block")


def block_data(n: int = 12) -> tuple[list[np.ndarray], np.ndarray]:
    return [RNG.normal(size=(n, 5, 8)), RNG.normal(size=(n, 6, 8))], RNG.integers(0, 3, size=n)


@pytest.mark.parametrize("cross_key", ["keyword", "positional"])
def test_a_functional_encoder_block_records_attention_calls(cross_key: str) -> None:
    model = encoder_block(cross_key)
    node = model.get_layer("cross_attention")._inbound_nodes[0]
    assert [t.name for t in node.flat_inputs] == ["self_norm", "memory", "memory"]
    assert model.get_layer("cross_attention").output.shape == (None, None, 8)
    # Keras's counts: 4 projections of (8 x 2 x 4 + 8), then value/output projections of value_dim 3
    assert model.get_layer("self_attention").count_params() == 288
    assert model.get_layer("cross_attention").count_params() == 72 + 72 + 54 + 56
    rows = model.summary_rows()[1]
    assert ("cross_attention (MultiHeadAttention)", "(None, None, 8)", "254",
            "self_norm[0][0], memory[0][0], memory[0][0]") in rows  # fmt: skip
    x, _ = block_data()
    eager = encoder_block(cross_key)  # the same seed: the same weights, run eagerly layer by layer
    tokens, memory = (hn.tensor(a) for a in x)
    direct = eager.get_layer("cross_attention")
    assert direct.built
    np.testing.assert_allclose(model.predict(x, verbose=0), eager(x).numpy(), rtol=1e-12)
    assert model.predict(x, verbose=0).shape == (12, 3) and tokens.shape == (12, 5, 8) and memory.shape == (12, 6, 8)


def test_a_functional_encoder_block_trains_saves_and_loads(tmp_path: Path) -> None:
    model = encoder_block()
    x, y = block_data(24)
    model.compile(hn.optimizers.Adam(0.01), hn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    path = tmp_path / "block.highnn"
    model.save(path)
    loaded = hn.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config()["nodes"] == model.get_config()["nodes"]
    (crossed,) = [node for node in loaded.get_config()["nodes"] if "kwargs" in node]
    assert crossed["kwargs"] == {"value": {"node": 1, "tensor": 0}, "key": {"node": 1, "tensor": 0}}


def test_scores_and_flags_of_a_symbolic_call_are_recorded() -> None:
    query, value = hn.Input((4, 6)), hn.Input((5, 6))
    out, scores = layers.MultiHeadAttention(2, 3)(query, value, return_attention_scores=True, use_causal_mask=True)
    assert (out.shape, scores.shape) == ((None, 4, 6), (None, 2, 4, 5))
    model = hn.Model([query, value], [out, scores])
    q, v = RNG.normal(size=(3, 4, 6)), RNG.normal(size=(3, 5, 6))
    predicted_out, predicted_scores = model.predict([q, v], verbose=0)
    expected_out, expected_scores = model.layers[2](q, v, return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_allclose(predicted_scores, expected_scores.numpy(), rtol=1e-12)
    np.testing.assert_allclose(predicted_out, expected_out.numpy(), rtol=1e-12)
    assert np.all(predicted_scores[:, :, 0, 1:] == 0.0)  # causal: the first query sees the first key only
    clone = type(model).from_config(model.get_config())
    assert clone.get_config()["nodes"][-1]["kwargs"] == {"return_attention_scores": True, "use_causal_mask": True}


def test_attention_and_a_symbolic_mask_input_in_a_functional_model() -> None:
    query, value, keep = hn.Input((3, 4)), hn.Input((5, 4)), hn.Input((5,))
    out = layers.Attention()([query, value], mask=[None, keep])
    model = hn.Model([query, value, keep], out)
    q, v = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    mask = np.array([[1, 1, 0, 0, 1], [1, 1, 1, 1, 0]], bool)
    expected = layers.Attention()([q, v], mask=[None, mask]).numpy()
    np.testing.assert_allclose(model.predict([q, v, mask.astype(float)], verbose=0), expected, rtol=1e-12)


class CrossAttend(hn.layers.Layer):
    """A user layer with Keras's multi-input signature: ``call(query, value, key=None)``, ``build`` by names."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units

    def build(self, query_shape: tuple[int, ...], value_shape: tuple[int, ...], key_shape: Any = None) -> None:
        self.built_with = (query_shape, value_shape, key_shape)
        self.kernel = self.add_weight((value_shape[-1], self.units), "ones", name="kernel")

    def call(self, query: hn.Tensor, value: hn.Tensor, key: hn.Tensor | None = None) -> hn.Tensor:
        key = value if key is None else key
        weights = hn.ops.softmax(query @ hn.ops.swapaxes(key, -1, -2), axis=-1)
        return (weights @ value) @ self.kernel

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


def test_a_user_layer_with_several_tensor_arguments_builds_by_name(tmp_path: Path) -> None:
    query, value = hn.Input((3, 4)), hn.Input((5, 4))
    layer = CrossAttend(2)
    model = hn.Model([query, value], layer(query, value=value))
    assert layer.built_with == ((None, 3, 4), (None, 5, 4), None)
    assert model.output.shape == (None, 3, 2)
    q, v = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    np.testing.assert_allclose(model.predict([q, v], verbose=0), layer(q, v).numpy(), rtol=1e-12)
    path = tmp_path / "user.highnn"
    model.save(path)
    loaded = hn.models.load_model(path, custom_objects={"CrossAttend": CrossAttend})
    np.testing.assert_array_equal(loaded.predict([q, v], verbose=0), model.predict([q, v], verbose=0))


class BadBuild(hn.layers.Layer):
    def build(self, input_shape: Any, other: Any) -> None:  # not named after call's arguments
        pass

    def call(self, query: hn.Tensor, value: hn.Tensor) -> hn.Tensor:
        return query


def test_several_input_errors_name_what_is_wrong() -> None:
    with pytest.raises(
        TypeError, match=r"build\(\) of several parameters must name each .* build\(input_shape, other\)"
    ):
        BadBuild()(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(TypeError, match=r"every array argument must be a symbolic tensor too .*keras-migration"):
        layers.MultiHeadAttention(2, 3)(hn.Input((4, 6)), np.ones((2, 4, 6)))
    with pytest.raises(TypeError, match=r"call it on its inputs, layer\(query, \.\.\.\); received only the keyword"):
        layers.MultiHeadAttention(2, 3)(value=np.ones((2, 4, 6)))
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'colour'"):
        layers.MultiHeadAttention(2, 3)(np.ones((2, 4, 6)), np.ones((2, 4, 6)), colour=1)
    query = hn.Input((4, 6))
    constant_out = CrossAttend(2)(query, query)
    model = hn.Model(query, constant_out)
    assert model.output.shape == (None, 4, 2)


class Scale(hn.layers.Layer):
    def call(self, inputs: hn.Tensor, factor: Any = 1.0) -> hn.Tensor:
        return inputs * float(np.sum(factor))


def test_a_call_argument_that_cannot_be_saved_is_named() -> None:
    x = hn.Input((3,))
    model = hn.Model(x, Scale()(x, factor=Decimal(3)))
    np.testing.assert_allclose(model.predict(np.ones((1, 3)), verbose=0), 3.0)
    with pytest.raises(ValueError, match=r"its call's argument Decimal\('3'\) cannot be saved"):
        model.get_config()
