"""SimpleRNN, LSTM, GRU, Bidirectional and TimeDistributed against hand-written PyTorch cells (float64, 1e-12)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, require_backend, traced_gradient_steps

import highnn as hn
from highnn import layers

torch = pytest.importorskip("torch")  # the reference values come from PyTorch formulations

RNG = np.random.default_rng(5)
X = RNG.normal(size=(3, 6, 4))
TOL = {"rtol": 1e-12, "atol": 1e-12}


# ------------------------------------------------ the references: PyTorch cells in Keras's gate order
def torch_rnn(
    layer: layers.Recurrent, x: np.ndarray, mask: np.ndarray | None = None, states: list[np.ndarray] | None = None
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """(sequence of outputs, final states, the weights as leaves) of ``layer``'s equations, written out in torch."""
    weights = [torch.tensor(w, requires_grad=True) for w in layer.get_weights()]
    kernel, recurrent, bias = weights if len(weights) == 3 else (*weights, None)
    u = layer.units
    h = torch.zeros(x.shape[0], u, dtype=torch.float64) if states is None else torch.tensor(states[0])
    c = torch.zeros_like(h) if states is None or len(states) < 2 else torch.tensor(states[1])
    order = range(x.shape[1])[::-1] if layer.go_backwards else range(x.shape[1])
    outputs = []
    for t in order:
        x_t = torch.tensor(x[:, t])
        if isinstance(layer, layers.LSTM):
            z = x_t @ kernel + h @ recurrent + bias
            i, f, g, o = (z[:, k * u : (k + 1) * u] for k in range(4))
            new_c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            new_h = torch.sigmoid(o) * torch.tanh(new_c)
        elif isinstance(layer, layers.GRU):
            xz, xr, xh = (x_t @ kernel[:, k * u : (k + 1) * u] for k in range(3))
            if layer.reset_after:
                xz, xr, xh = xz + bias[0, :u], xr + bias[0, u : 2 * u], xh + bias[0, 2 * u :]
                rz, rr, rh = (h @ recurrent[:, k * u : (k + 1) * u] + bias[1, k * u : (k + 1) * u] for k in range(3))
                z, r = torch.sigmoid(xz + rz), torch.sigmoid(xr + rr)
                candidate = torch.tanh(xh + r * rh)
            else:
                xz, xr, xh = xz + bias[:u], xr + bias[u : 2 * u], xh + bias[2 * u :]
                z = torch.sigmoid(xz + h @ recurrent[:, :u])
                r = torch.sigmoid(xr + h @ recurrent[:, u : 2 * u])
                candidate = torch.tanh(xh + (r * h) @ recurrent[:, 2 * u :])
            new_h, new_c = z * h + (1 - z) * candidate, c
        else:
            new_h, new_c = torch.tanh(x_t @ kernel + h @ recurrent + bias), c
        if mask is not None:
            keep = torch.tensor(mask[:, t : t + 1], dtype=torch.float64)
            new_h, new_c = keep * new_h + (1 - keep) * h, keep * new_c + (1 - keep) * c
        h, c = new_h, new_c
        outputs.append(h)
    final = [h, c] if isinstance(layer, layers.LSTM) else [h]
    return torch.stack(outputs, dim=1), final, weights


LAYERS: dict[str, Callable[..., layers.Recurrent]] = {
    "SimpleRNN": lambda **kw: layers.SimpleRNN(5, **kw),
    "LSTM": lambda **kw: layers.LSTM(5, **kw),
    "GRU": lambda **kw: layers.GRU(5, **kw),
    "GRU-reset_before": lambda **kw: layers.GRU(5, reset_after=False, **kw),
}


def built(kind: str, seed: int = 2, **kwargs: Any) -> layers.Recurrent:
    """A layer with random (not default) weights, so every bias and gate block matters."""
    hn.utils.set_random_seed(seed)
    layer = LAYERS[kind](**kwargs)
    layer.build(X.shape)
    layer.set_weights([np.random.default_rng(seed).normal(scale=0.5, size=w.shape) for w in layer.weights])
    return layer


# --------------------------------------------------------------- values
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("options", [{}, {"go_backwards": True}, {"mask": True}])
def test_outputs_and_gradients_equal_handwritten_torch_cells(backend: str, kind: str, options: dict[str, Any]) -> None:
    require_backend(backend)
    mask = (np.arange(6) < np.array([[6], [4], [1]])) if options.get("mask") else None
    layer_options = {k: v for k, v in options.items() if k != "mask"}
    with hn.config.use_backend(backend, floatx="float64"):
        layer = built(kind, return_sequences=True, return_state=True, **layer_options)
        x = hn.tensor(X)
        sequence, *states = layer(x, mask=mask)
        loss = (sequence * sequence).sum() + sum((s * s * 0.5).sum() for s in states)
        grads = hn.grad(loss, layer.weights)
    expected, expected_states, leaves = torch_rnn(layer, X, mask)
    np.testing.assert_allclose(sequence.numpy(), expected.detach().numpy(), **TOL)
    for ours, theirs in zip(states, expected_states, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **TOL)
    expected_loss = (expected * expected).sum() + sum((s * s * 0.5).sum() for s in expected_states)
    for ours, theirs in zip(grads, torch.autograd.grad(expected_loss, leaves), strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("options", [{}, {"use_bias": False}, {"go_backwards": True, "mask": True}])
def test_projecting_each_step_in_the_scan_gives_the_hoisted_projections_numbers(
    kind: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend may ask for each step's input product inside the scan (JAX does): same outputs and gradients."""
    mask = (np.arange(6) < np.array([[6], [4], [1]])) if options.get("mask") else None
    layer_options = {k: v for k, v in options.items() if k != "mask"}
    results = {}
    with hn.config.use_backend("numpy", floatx="float64"):
        for projecting in (False, True):
            monkeypatch.setattr(type(hn.config.settings.backend), "project_inputs_in_scan", projecting)
            layer = built(kind, return_sequences=True, return_state=True, **layer_options)
            sequence, *states = layer(hn.tensor(X), mask=mask)
            loss = (sequence * sequence).sum() + sum((s * s * 0.5).sum() for s in states)
            results[projecting] = [t.numpy() for t in [sequence, *states, *hn.grad(loss, layer.weights)]]
            weights_in_step = {key[2] for key in layer._bodies}  # how many weights the traced step projects with
            assert weights_in_step == {len(layer.input_weights()) if projecting else 0}
    for hoisted, in_scan in zip(results[False], results[True], strict=True):
        np.testing.assert_allclose(in_scan, hoisted, rtol=1e-12, atol=1e-12)


def test_jax_on_a_cpu_projects_each_step_in_the_scan_and_numpy_before_it() -> None:
    """Where each backend runs the input product: XLA on a CPU runs the small products in the loop faster."""
    for backend, expected in (("numpy", 0), ("jax", 2)):  # 2: the LSTM's kernel and bias enter the scan
        require_backend(backend)
        with hn.config.use_backend(backend, device="cpu", floatx="float32"):
            layer = layers.LSTM(3)
            layer(np.ones((2, 4, 5), np.float32))
        assert [key[2] for key in layer._bodies] == [expected]


def test_initial_state_and_last_output() -> None:
    with hn.config.use_backend("numpy", floatx="float64"):
        layer = built("LSTM", return_state=True)
        states = [RNG.normal(size=(3, 5)), RNG.normal(size=(3, 5))]
        output, h, c = layer(X, initial_state=states)
    _, (expected_h, expected_c), _ = torch_rnn(layer, X, states=states)
    np.testing.assert_allclose(output.numpy(), expected_h.detach().numpy(), **TOL)
    np.testing.assert_allclose(h.numpy(), output.numpy(), **TOL)
    np.testing.assert_allclose(c.numpy(), expected_c.detach().numpy(), **TOL)


def test_masked_padding_gives_the_output_of_the_unpadded_sequence() -> None:
    with hn.config.use_backend("numpy", floatx="float64"):
        hn.utils.set_random_seed(4)
        model = hn.Sequential([layers.Embedding(9, 4, mask_zero=True), layers.GRU(3)])
        tokens = np.array([[3, 1, 4, 1, 5, 0], [2, 7, 0, 0, 0, 0]])
        padded = model(tokens).numpy()
        short = [model(tokens[i : i + 1, :n]).numpy()[0] for i, n in ((0, 5), (1, 2))]
    np.testing.assert_allclose(padded, np.stack(short), **TOL)


def test_sequence_outputs_at_masked_steps() -> None:
    """Padded steps repeat the last output (Keras's default), or are zeros with ``zero_output_for_mask``."""
    mask = np.array([[True, True, False, False, True, False]] * 3)
    with hn.config.use_backend("numpy", floatx="float64"):
        repeated = built("SimpleRNN", return_sequences=True)(X, mask=mask).numpy()
        zeroed = built("SimpleRNN", return_sequences=True, zero_output_for_mask=True)(X, mask=mask).numpy()
    np.testing.assert_array_equal(repeated[:, 2], repeated[:, 1])
    np.testing.assert_array_equal(repeated[:, 3], repeated[:, 1])
    np.testing.assert_array_equal(zeroed[:, [2, 3, 5]], 0.0)
    np.testing.assert_array_equal(zeroed[:, [0, 1, 4]], repeated[:, [0, 1, 4]])


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_the_last_output_is_zero_where_the_last_step_processed_is_masked(kind: str, go_backwards: bool) -> None:
    """With ``zero_output_for_mask``, the single output is the sequence's last processed step, as in Keras: zeros
    for a sample whose last step processed is masked. The states returned stay the last valid ones."""
    mask = np.array([[True, True, True, True, True, False], [False, True, True, True, True, True]] * 2)[:3]
    kwargs = {"go_backwards": go_backwards, "return_state": True}
    with hn.config.use_backend("numpy", floatx="float64"):
        plain, *plain_states = built(kind, **kwargs)(X, mask=mask)
        zeroed, *states = built(kind, zero_output_for_mask=True, **kwargs)(X, mask=mask)
        sequence = built(kind, zero_output_for_mask=True, return_sequences=True, go_backwards=go_backwards)
        last_of_sequence = sequence(X, mask=mask).numpy()[:, -1]
    masked_last = ~mask[:, 0] if go_backwards else ~mask[:, -1]
    assert masked_last.any() and not masked_last.all()
    np.testing.assert_array_equal(zeroed.numpy()[masked_last], 0.0)
    np.testing.assert_array_equal(zeroed.numpy()[~masked_last], plain.numpy()[~masked_last])
    np.testing.assert_array_equal(zeroed.numpy(), last_of_sequence)
    for state, plain_state in zip(states, plain_states):
        np.testing.assert_array_equal(state.numpy(), plain_state.numpy())
    assert np.abs(plain_states[0].numpy()[masked_last]).min() > 0.0


# --------------------------------------------------------------- Keras's conventions
def test_weights_names_shapes_and_forget_bias() -> None:
    lstm, gru, old_gru, rnn = layers.LSTM(3), layers.GRU(3), layers.GRU(3, reset_after=False), layers.SimpleRNN(3)
    for layer in (lstm, gru, old_gru, rnn):
        layer.build((None, 7, 2))
    assert [w.name for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.shape for w in lstm.weights] == [(2, 12), (3, 12), (12,)]
    assert [w.shape for w in gru.weights] == [(2, 9), (3, 9), (2, 9)]
    assert [w.shape for w in old_gru.weights] == [(2, 9), (3, 9), (9,)]
    assert [w.shape for w in rnn.weights] == [(2, 3), (3, 3), (3,)]
    np.testing.assert_array_equal(lstm.bias.numpy(), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    recurrent = lstm.recurrent_kernel.numpy()
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)  # orthogonal rows
    assert layers.LSTM(3, unit_forget_bias=False).recurrent_activation is hn.activations.sigmoid


def test_output_shapes_match_compute_output_shape() -> None:
    cases = [
        layers.LSTM(4),
        layers.GRU(4, return_sequences=True),
        layers.LSTM(4, return_state=True),
        layers.Bidirectional(layers.GRU(4, return_sequences=True)),
        layers.Bidirectional(layers.LSTM(4), merge_mode="sum"),
        layers.Bidirectional(layers.LSTM(4, return_state=True)),
        layers.TimeDistributed(layers.Dense(3)),
    ]
    for layer in cases:
        out = layer(X)
        shapes = [o.shape for o in out] if isinstance(out, list) else out.shape
        declared = layer.compute_output_shape(X.shape)
        assert shapes == ([tuple(s) for s in declared] if isinstance(declared, list) else tuple(declared))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merges_a_forward_and_a_reversed_backward_pass(merge_mode: str | None) -> None:
    with hn.config.use_backend("numpy", floatx="float64"):
        hn.utils.set_random_seed(3)
        both = layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True), merge_mode=merge_mode)
        out = both(X)
        forward = both.forward_layer(X).numpy()
        backward = both.backward_layer(X).numpy()[:, ::-1]
    merged = {
        "concat": np.concatenate([forward, backward], axis=-1),
        "sum": forward + backward,
        "mul": forward * backward,
        "ave": (forward + backward) / 2,
    }
    if merge_mode is None:
        np.testing.assert_allclose(out[0].numpy(), forward, **TOL)
        np.testing.assert_allclose(out[1].numpy(), backward, **TOL)
    else:
        np.testing.assert_allclose(out.numpy(), merged[merge_mode], **TOL)
    assert both.weights[0].path == f"forward_{both.layer.name}/kernel"
    assert both.backward_layer.go_backwards and len(both.weights) == 6


def test_time_distributed_applies_the_layer_at_every_step() -> None:
    with hn.config.use_backend("numpy", floatx="float64"):
        dense = layers.Dense(2)
        out = layers.TimeDistributed(dense)(X).numpy()
        for t in range(X.shape[1]):
            np.testing.assert_allclose(out[:, t], dense(X[:, t]).numpy(), **TOL)


def test_dropout_acts_only_in_training_and_is_seeded() -> None:
    with hn.config.use_backend("numpy", floatx="float64"):
        layer = built("LSTM", dropout=0.5, recurrent_dropout=0.3, seed=1)
        inference = layer(X).numpy()
        first, second = layer(X, training=True).numpy(), layer(X, training=True).numpy()
        repeated = built("LSTM", dropout=0.5, recurrent_dropout=0.3, seed=1)(X, training=True).numpy()
    np.testing.assert_allclose(inference, torch_rnn(layer, X)[1][0].detach().numpy(), **TOL)
    assert not np.allclose(first, inference) and not np.allclose(first, second), "fresh masks at every call"
    np.testing.assert_allclose(repeated, first, **TOL)


# --------------------------------------------------------------- config and saving
def test_config_round_trip_and_saving(tmp_path: Any) -> None:
    with hn.config.use_backend("numpy", floatx="float64"):
        hn.utils.set_random_seed(6)
        model = hn.Sequential([
            hn.Input((6,)),
            layers.Embedding(10, 4, mask_zero=True),
            layers.Bidirectional(layers.LSTM(3, return_sequences=True, dropout=0.1), merge_mode="ave"),
            layers.GRU(3, reset_after=False, go_backwards=True),
            layers.Dense(2),
        ])  # fmt: skip
        tokens = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
        expected = model.predict(tokens, verbose=0)
        model.save(tmp_path / "model.highnn")
        loaded = hn.models.load_model(tmp_path / "model.highnn")
        np.testing.assert_allclose(loaded.predict(tokens, verbose=0), expected, **TOL)
        for layer in model.layers:
            config = layer.get_config()
            rebuilt = type(layer).from_config(config)
            assert rebuilt.get_config() == config


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_keras_kernel_switches_are_accepted_and_compute_the_same(kind: str) -> None:
    """Keras's ``implementation`` (1 or 2) and ``use_cudnn`` ("auto" or False) choose kernels, not numbers: the
    layer computes what the default one does, and, as in Keras, neither goes into the config."""
    with hn.config.use_backend("numpy", floatx="float64"):
        default = built(kind, return_sequences=True)(X).numpy()
        switched = built(kind, return_sequences=True, implementation=1, use_cudnn=False)
        np.testing.assert_array_equal(switched(X).numpy(), default)
    assert (switched.implementation, switched.use_cudnn) == (1, False)
    assert not {"implementation", "use_cudnn"} & set(switched.get_config())


# --------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: layers.LSTM(0), ValueError, r"LSTM: `units` must be a positive integer, received 0"),
        (lambda: layers.GRU(3, dropout=1.0), ValueError, r"GRU: `dropout` must be a number in \[0, 1\)"),
        (lambda: layers.SimpleRNN(3, return_sequences="yes"), TypeError, r"`return_sequences` must be"),
        (
            lambda: hn.Sequential([hn.Input((6, 4)), layers.LSTM(3, stateful=True)]),
            ValueError,
            r"with `stateful=True` the batch size must be known",
        ),
        (lambda: layers.Bidirectional(layers.Dense(3)), TypeError, r"`layer` must be a recurrent layer"),
        (lambda: layers.Bidirectional(layers.LSTM(3), merge_mode="max"), ValueError, r"`merge_mode` must be one of"),
        (
            lambda: layers.Bidirectional(layers.LSTM(3, go_backwards=True)),
            ValueError,
            r"Bidirectional: `layer` must be a layer whose go_backwards differs from the backward layer's \(True",
        ),
        (
            lambda: layers.Bidirectional(layers.GRU(3), backward_layer=layers.GRU(3)),
            ValueError,
            r"go_backwards differs from the backward layer's \(False",
        ),
        (lambda: layers.TimeDistributed("dense"), TypeError, r"`layer` must be a Layer instance"),
        (lambda: layers.LSTM(3, use_cudnn=True), ValueError, r"LSTM: `use_cudnn` must be 'auto' or False .*cuDNN"),
        (lambda: layers.GRU(3, use_cudnn="yes"), ValueError, r"GRU: `use_cudnn` must be one of 'auto', False"),
        (lambda: layers.GRU(3, implementation=0), ValueError, r"GRU: `implementation` must be one of 1, 2, received 0"),
        (lambda: layers.SimpleRNN(3, implementation=1), TypeError, r"implementation"),
    ],
)
def test_bad_arguments_are_named(make: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_bad_inputs_are_rejected_before_any_state_changes() -> None:
    layer = layers.LSTM(3)
    with pytest.raises(ValueError, match=r"needs inputs of shape \(batch, timesteps, features\)"):
        layer(np.ones((2, 3)))
    assert not layer.built and not layer.weights
    layer(X)
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 4"):
        layer(np.ones((3, 6, 2)))
    with pytest.raises(ValueError, match=r"`initial_state` must be a list of 2 state tensor"):
        layer(X, initial_state=[np.zeros((3, 3))])
    with pytest.raises(ValueError, match=r"`initial_state` must be states of shape \(3, 3\)"):
        layer(X, initial_state=[np.zeros((3, 4)), np.zeros((3, 4))])


# --------------------------------------------------------------- stateful layers
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: layers.SimpleRNN(4, **kw),
        lambda **kw: layers.LSTM(4, **kw),
        lambda **kw: layers.GRU(4, go_backwards=False, **kw),
        lambda **kw: layers.RNN([layers.LSTMCell(4), layers.GRUCell(3)], **kw),
    ],
    ids=["simple", "lstm", "gru", "rnn-stacked-cells"],
)
def test_a_stateful_layer_continues_each_sequence_in_the_next_batch(backend: str, make: Callable[..., Any]) -> None:
    """Two halves of a sequence, one batch after the other, give what the whole sequence gives, eagerly and in
    predict's traced step; reset_state starts over from zeros."""
    require_backend(backend)
    with hn.config.use_backend(backend, floatx="float64"):
        whole = make(return_sequences=True)
        expected = whole(X).numpy()
        model = hn.Sequential([hn.Input((3, 4), batch_size=3), make(return_sequences=True, stateful=True)])
        layer = model.layers[0]
        layer.set_weights(whole.get_weights())
        halves = [model(X[:, :3]).numpy(), model(X[:, 3:]).numpy()]
        np.testing.assert_allclose(np.concatenate(halves, axis=1), expected, **TOL)
        layer.reset_states()
        assert all(not state.numpy().any() for state in layer.states)
        traced = [model.predict(X[:, :3], batch_size=3, verbose=0), model.predict(X[:, 3:], batch_size=3, verbose=0)]
        np.testing.assert_allclose(np.concatenate(traced, axis=1), expected, **TOL)
        assert len(layer.states) == len(layer.state_sizes) and not any(s.trainable for s in layer.states)
        assert all(all(s is not w for w in layer.weights) for s in layer.states)  # states, not weights


def test_a_stateful_layer_trains_and_checks_its_batch_size(tmp_path: Path) -> None:
    hn.utils.set_random_seed(2)
    model = hn.Sequential([hn.Input((6, 4), batch_size=3), layers.LSTM(3, stateful=True), layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(X, RNG.normal(size=(3, 1)), batch_size=3, epochs=2, shuffle=False, verbose=0)
    carried = [state.numpy() for state in model.layers[0].states]
    assert all(state.any() for state in carried)  # the last batch's states wait for the next one
    with pytest.raises(ValueError, match="a stateful layer runs on batches of 3, the size it was built for, received"):
        model.layers[0](X[:2])
    model.save(tmp_path / "stateful.highnn")
    loaded = hn.models.load_model(tmp_path / "stateful.highnn")
    assert loaded.layers[0].stateful and loaded.layers[0].get_config()["stateful"] is True
    loaded.layers[0].reset_state()
    model.layers[0].reset_state()
    np.testing.assert_allclose(loaded.predict(X, batch_size=3, verbose=0), model.predict(X, batch_size=3, verbose=0))


# --------------------------------------------------------------- tracing cost
@pytest.mark.parametrize("backend", BACKENDS)
def test_long_sequences_trace_into_one_scan(backend: str) -> None:
    """The traced gradient step has the same size for 5 or 500 steps: the recurrence is one scan, not unrolled."""
    require_backend(backend)
    sizes = {}
    with hn.config.use_backend(backend, floatx="float32"):
        for length in (5, 500):
            hn.utils.set_random_seed(0)
            model = hn.Sequential([hn.Input((length, 4)), layers.LSTM(8), layers.Dense(1)])
            sizes[length] = traced_gradient_steps(model, (2, length, 4))
    assert sizes[5] == sizes[500]


def test_sequence_memory_example_learns_the_rule() -> None:
    example = Path(__file__).parent.parent / "examples" / "sequence_memory.py"
    result = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HIGHNN_BACKEND": "numpy"})  # fmt: skip
    match = re.search(r"test accuracy: ([\d.]+)", result.stdout)
    assert match and float(match.group(1)) > 0.85, result.stdout + result.stderr[-2000:]
