"""RNN(cell), the built-in cells and StackedRNNCells: the same numbers as the recurrent layers and as a hand-written
loop (float64, 1e-12, gradients too) on every backend, Keras's cell protocol, configs and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, require_backend, traced_gradient_steps

import highnn as hn
from highnn import layers

torch = pytest.importorskip("torch")  # the custom cell's reference gradients come from torch.autograd

RNG = np.random.default_rng(17)
X = RNG.normal(size=(3, 6, 4))
MASK = np.arange(6) < np.array([[6], [4], [2]])
TOL = {"rtol": 1e-12, "atol": 1e-12}


class MinimalCell(hn.layers.Layer):
    """The Keras guide's minimal cell: ``h = tanh(x @ kernel + h @ recurrent_kernel)``, output ``2 * h``."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.kernel = self.add_weight((input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, self.units), name="recurrent_kernel")

    def call(self, inputs: hn.Tensor, states: list[hn.Tensor]) -> tuple[hn.Tensor, list[hn.Tensor]]:
        h = hn.ops.tanh(inputs @ self.kernel + states[0] @ self.recurrent_kernel)
        return h * 2.0, [h]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


def outputs_of(result: Any) -> list[np.ndarray]:
    """Every tensor of a layer's result, nested lists flattened."""
    if isinstance(result, (list, tuple)):
        return [array for item in result for array in outputs_of(item)]
    return [result.numpy()]


CELL_AND_LAYER = [
    (lambda **kw: layers.SimpleRNNCell(5, **kw), lambda **kw: layers.SimpleRNN(5, **kw)),
    (lambda **kw: layers.LSTMCell(5, **kw), lambda **kw: layers.LSTM(5, **kw)),
    (lambda **kw: layers.GRUCell(5, **kw), lambda **kw: layers.GRU(5, **kw)),
    (lambda **kw: layers.GRUCell(5, reset_after=False, **kw), lambda **kw: layers.GRU(5, reset_after=False, **kw)),
]


@pytest.mark.parametrize(("make_cell", "make_layer"), CELL_AND_LAYER, ids=["simple", "lstm", "gru", "gru-v1"])
@pytest.mark.parametrize(
    "flags",
    [
        {"return_sequences": True, "return_state": True},
        {"go_backwards": True, "return_state": True},
        {"return_sequences": True, "zero_output_for_mask": True, "masked": True},
        {"go_backwards": True, "masked": True, "initial": True},
    ],
    ids=["sequences-states", "backwards", "masked-sequences", "masked-backwards-initial"],
)
def test_rnn_of_a_built_in_cell_is_its_layer(backend64: str, make_cell: Any, make_layer: Any, flags: dict) -> None:
    """The same weights give the same outputs, states and weight gradients as SimpleRNN, LSTM or GRU."""
    options = {k: v for k, v in flags.items() if k not in ("masked", "initial")}
    rnn, layer = layers.RNN(make_cell(), **options), make_layer(**options)
    kwargs: dict[str, Any] = {"mask": MASK} if flags.get("masked") else {}
    if flags.get("initial"):
        kwargs["initial_state"] = [RNG.normal(size=(3, 5)) for _ in rnn.state_sizes]
    rnn(X, **kwargs)
    layer(X, **kwargs)
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape) for w in layer.weights])
    rnn.set_weights(layer.get_weights())
    ours, theirs = rnn(X, **kwargs), layer(X, **kwargs)
    for a, b in zip(outputs_of(ours), outputs_of(theirs), strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    first = ours[0] if isinstance(ours, list) else ours
    expected_first = theirs[0] if isinstance(theirs, list) else theirs
    adjoint = RNG.normal(size=first.shape)
    for a, b in zip(hn.grad(first, rnn.weights, adjoint), hn.grad(expected_first, layer.weights, adjoint)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def torch_minimal(x: np.ndarray, weights: list[np.ndarray], mask: np.ndarray | None) -> tuple[Any, list[Any]]:
    """MinimalCell's recurrence over ``x`` as a PyTorch loop: the output sequence (masked steps repeat the last
    output, as Keras's RNN does) and the weight leaves."""
    kernel, recurrent = (torch.tensor(w, requires_grad=True) for w in weights)
    h = torch.zeros(x.shape[0], kernel.shape[1], dtype=torch.float64)
    out = torch.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        new_h = torch.tanh(torch.tensor(x[:, t]) @ kernel + h @ recurrent)
        keep = (
            torch.ones(x.shape[0], 1, dtype=torch.float64) if mask is None else torch.tensor(mask[:, t : t + 1] * 1.0)
        )
        h, out = keep * new_h + (1 - keep) * h, keep * 2 * new_h + (1 - keep) * out
        outputs.append(out)
    return torch.stack(outputs, dim=1), [kernel, recurrent]


@pytest.mark.parametrize("masked", [False, True])
def test_rnn_of_a_custom_cell_equals_its_loop_and_gradients(backend64: str, masked: bool) -> None:
    rnn = layers.RNN(MinimalCell(4), return_sequences=True, return_state=True)
    mask = MASK if masked else None
    sequence, state = rnn(X, mask=mask)
    expected, leaves = torch_minimal(X, rnn.get_weights(), mask)
    np.testing.assert_allclose(sequence.numpy(), expected.detach().numpy(), **TOL)
    np.testing.assert_allclose(state.numpy() * 2, expected[:, -1].detach().numpy(), **TOL)  # the last output is 2h
    adjoint = RNG.normal(size=sequence.shape)
    theirs = torch.autograd.grad(expected, leaves, torch.tensor(adjoint))
    for a, b in zip(hn.grad(sequence, rnn.weights, adjoint), theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)
    assert [w.path for w in rnn.weights] == [f"{rnn.cell.name}/kernel", f"{rnn.cell.name}/recurrent_kernel"]


def test_stacked_cells_are_the_layers_one_after_the_other(backend64: str) -> None:
    rnn = layers.RNN([layers.LSTMCell(4), layers.GRUCell(3)], return_sequences=True, return_state=True)
    lstm, gru = layers.LSTM(4, return_sequences=True), layers.GRU(3, return_sequences=True, return_state=True)
    rnn(X)
    gru(lstm(X))
    lstm.set_weights(rnn.get_weights()[:3])
    gru.set_weights(rnn.get_weights()[3:])
    out, (h1, c1), (h2,) = rnn(X)
    expected, expected_h2 = gru(lstm(X))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), **TOL)
    np.testing.assert_allclose(h2.numpy(), expected_h2.numpy(), **TOL)
    lstm_states = layers.LSTM(4, return_state=True)
    lstm_states(X)
    lstm_states.set_weights(rnn.get_weights()[:3])
    _, last_h1, last_c1 = lstm_states(X)
    np.testing.assert_allclose(h1.numpy(), last_h1.numpy(), **TOL)
    np.testing.assert_allclose(c1.numpy(), last_c1.numpy(), **TOL)
    assert rnn.cell.state_size == [[4, 4], 3]
    assert rnn.compute_output_shape((None, 6, 4)) == [(None, 6, 3), [(None, 4), (None, 4)], [(None, 3)]]


def test_bidirectional_runs_an_rnn_of_cells_as_its_layer(backend64: str) -> None:
    ours = layers.Bidirectional(layers.RNN(layers.LSTMCell(3), return_sequences=True))
    theirs = layers.Bidirectional(layers.LSTM(3, return_sequences=True))
    ours(X, mask=MASK)
    theirs(X, mask=MASK)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(X, mask=MASK).numpy(), theirs(X, mask=MASK).numpy(), **TOL)


def test_a_cell_steps_alone_and_takes_keras_cell_arguments(float64: None) -> None:
    cell = layers.LSTMCell(3, recurrent_activation="hard_sigmoid", unit_forget_bias=False, name="cell")
    h, (h_again, c) = cell(X[:, 0], [np.zeros((3, 3)), np.zeros((3, 3))])
    assert h.shape == c.shape == (3, 3) and h is h_again
    assert [w.path for w in cell.weights] == ["cell/kernel", "cell/recurrent_kernel", "cell/bias"]
    assert cell.state_size == [3, 3] and cell.output_size == 3 and layers.GRUCell(2).state_size == 2
    config = cell.get_config()
    assert "return_sequences" not in config and config["recurrent_activation"] == "hard_sigmoid"
    clone = layers.deserialize(layers.serialize(cell))
    assert isinstance(clone, layers.LSTMCell) and clone.get_config() == config
    with pytest.raises(TypeError, match="LSTMCell: a cell runs one time step and takes no `return_sequences`"):
        layers.LSTMCell(3, return_sequences=True)


def test_cell_dropout_is_drawn_once_per_sequence_and_only_in_training(float64: None) -> None:
    rnn = layers.RNN(layers.LSTMCell(4, dropout=0.5, recurrent_dropout=0.3, seed=2), return_sequences=True)
    plain = layers.RNN(layers.LSTMCell(4), return_sequences=True)
    inference = rnn(X).numpy()
    plain(X)
    plain.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(inference, plain(X).numpy())
    trained = rnn(X, training=True).numpy()
    assert not np.allclose(trained, inference)
    again = layers.RNN(layers.LSTMCell(4, dropout=0.5, recurrent_dropout=0.3, seed=2), return_sequences=True)
    again(X)
    again.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(again(X, training=True).numpy(), trained)  # the cell's seed decides


def test_configs_round_trip_and_models_save_and_load(tmp_path: Path) -> None:
    hn.utils.set_random_seed(1)
    x, y = RNG.normal(size=(8, 6, 4)), RNG.normal(size=(8, 2))
    model = hn.Sequential([
        hn.Input((6, 4)),
        layers.RNN([MinimalCell(5), layers.GRUCell(3)], return_sequences=True),
        layers.RNN(layers.SimpleRNNCell(2)),
    ])  # fmt: skip
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "cells.highnn")
    loaded = hn.models.load_model(tmp_path / "cells.highnn", custom_objects={"MinimalCell": MinimalCell})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    config = model.layers[0].get_config()
    assert config["cell"]["class_name"] == "StackedRNNCells" and config["return_sequences"] is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_custom_cell_traces_into_one_scan_whatever_the_length(backend: str) -> None:
    require_backend(backend)
    sizes = {}
    with hn.config.use_backend(backend, floatx="float32"):
        for length in (5, 500):
            hn.utils.set_random_seed(0)
            model = hn.Sequential([hn.Input((length, 4)), layers.RNN(MinimalCell(8)), layers.Dense(1)])
            sizes[length] = traced_gradient_steps(model, (2, length, 4))
    assert sizes[5] == sizes[500]


class NotACell(hn.layers.Layer):
    state_size = 0


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (lambda: layers.RNN(layers.Dense(3)), TypeError, "RNN: `cell` must be an RNN cell"),
        (lambda: layers.RNN(NotACell()), ValueError, r"RNN: `cell.state_size` must be a positive integer"),
        (lambda: layers.RNN(layers.LSTMCell(2), stateful=True).build((None, 6, 4)), ValueError,
         r"RNN 'rnn.*': with `stateful=True` the batch size must be known"),
        (lambda: layers.StackedRNNCells([]), TypeError, "StackedRNNCells: `cells` must be a non-empty list"),
        (lambda: layers.RNN(layers.LSTMCell(2))(X, initial_state=[np.zeros((3, 2))]), ValueError,
         r"`initial_state` must be a list of 2 state tensor"),
        (lambda: layers.RNN(layers.LSTMCell(2))(X[:, 0]), ValueError, r"needs inputs of shape \(batch, timesteps"),
        (lambda: layers.LSTMCell(2)(X), ValueError, r"steps through inputs of shape \(batch, features\)"),
    ],
)  # fmt: skip
def test_bad_cells_and_inputs_name_the_argument(action: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        action()
