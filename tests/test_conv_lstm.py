"""ConvLSTM1D/2D/3D against a PyTorch formulation (``F.conv*d`` and the LSTM equations in Keras's gate order) with
the same weights: outputs, states and gradients on every backend; then states, dropout, config and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, require_backend

import highnn as hn
from highnn import layers

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(17)


def torch_conv(x: Any, kernel: Any, rank: int, strides: Any = 1, padding: Any = 0, dilation: Any = 1) -> Any:
    """A channels-last convolution with a Keras kernel ``(*window, in, out)``; ``padding`` as torch takes it."""
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[rank]
    channels_first = x.permute(0, rank + 1, *range(1, rank + 1))
    weight = kernel.permute(rank + 1, rank, *range(rank))
    out = conv(channels_first, weight, stride=strides, padding=padding, dilation=dilation)
    return out.permute(0, *range(2, rank + 2), 1)


def torch_conv_lstm(x: np.ndarray, weights: list[np.ndarray], rank: int, options: dict[str, Any],
                    initial: list[np.ndarray] | None) -> tuple[Any, ...]:  # fmt: skip
    """The whole sequence in PyTorch (channels last): every step's h, the last h and c, and the leaves."""
    leaves = [torch.tensor(v, requires_grad=True) for v in [x, *weights, *(initial or [])]]
    inputs, kernel, recurrent, bias = leaves[:4]
    filters = kernel.shape[-1] // 4
    padding = 0 if options.get("padding", "valid") == "valid" else "same"
    frames = inputs.flip(1) if options.get("go_backwards") else inputs
    steps = [
        torch_conv(frames[:, t], kernel, rank, options.get("strides", 1), padding, options.get("dilation_rate", 1))
        + bias
        for t in range(frames.shape[1])
    ]  # fmt: skip
    h = leaves[4] if initial else torch.zeros(steps[0].shape[:-1] + (filters,), dtype=torch.float64)
    c = leaves[5] if initial else torch.zeros_like(h)
    outputs = []
    for z_x in steps:
        z_i, z_f, z_c, z_o = (z_x + torch_conv(h, recurrent, rank, padding="same")).split(filters, dim=-1)
        c = torch.sigmoid(z_f) * c + torch.sigmoid(z_i) * torch.tanh(z_c)
        h = torch.sigmoid(z_o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, 1), h, c, leaves


CASES = [
    (2, {}),
    (2, {"padding": "same", "go_backwards": True}),
    (2, {"strides": 2, "initial_state": True}),
    (2, {"dilation_rate": 2, "data_format": "channels_first"}),
    (1, {"padding": "same"}),
    (3, {"strides": (1, 2, 1)}),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("rank", "options"), CASES)
def test_outputs_states_and_gradients_equal_a_torch_formulation(backend: str, rank: int,
                                                                options: dict[str, Any]) -> None:  # fmt: skip
    require_backend(backend)
    frames = {1: (9, 2), 2: (7, 9, 2), 3: (5, 6, 5, 1)}[rank]
    x = RNG.normal(size=(2, 4, *frames))
    first = options.get("data_format") == "channels_first"
    layer_options = {k: v for k, v in options.items() if k != "initial_state"}
    with hn.config.use_backend(backend, floatx="float64"):
        layer = getattr(layers, f"ConvLSTM{rank}D")(3, 3, return_sequences=True, return_state=True, **layer_options)
        inputs = np.moveaxis(x, -1, 2) if first else x
        layer(inputs)  # build
        weights = [RNG.normal(scale=0.4, size=w.shape) for w in layer.get_weights()]
        layer.set_weights(weights)
        state_shape = layer.compute_output_shape(inputs.shape)[1]
        initial = [RNG.normal(size=(2, *state_shape[1:])) for _ in range(2)] if options.get("initial_state") else None
        tensors = [hn.tensor(inputs, requires_grad=True), *(hn.tensor(s, requires_grad=True) for s in initial or [])]
        sequence, h, c = layer(tensors[0], initial_state=tensors[1:] or None)
        cotangents = [RNG.normal(size=t.shape) for t in (sequence, h, c)]
        total = sum(hn.ops.sum(t * g) for t, g in zip((sequence, h, c), cotangents))
        grads = hn.grad(total, [*tensors[:1], *layer.trainable_weights, *tensors[1:]])

    def last(t: np.ndarray, sequence: bool = False) -> np.ndarray:  # highnn's layout -> channels last
        return np.moveaxis(t, 2 if sequence else 1, -1) if first else t

    expected_sequence, expected_h, expected_c, leaves = torch_conv_lstm(
        x, weights, rank, layer_options, [last(s) for s in initial] if initial else None
    )
    expected = (expected_sequence, expected_h, expected_c)
    sum((t * torch.tensor(last(g, i == 0))).sum() for i, (t, g) in enumerate(zip(expected, cotangents))).backward()
    for i, (got, want) in enumerate(zip((sequence, h, c), expected)):
        np.testing.assert_allclose(last(got.numpy(), i == 0), want.detach().numpy(), rtol=1e-12, atol=1e-12)
    got_grads = [last(grads[0].numpy(), True), *(g.numpy() for g in grads[1:4]), *(last(g.numpy()) for g in grads[4:])]
    for got, leaf in zip(got_grads, leaves, strict=True):
        np.testing.assert_allclose(got, leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_weights_shapes_and_forget_bias() -> None:
    layer = layers.ConvLSTM2D(5, (3, 2))
    layer(np.ones((1, 2, 6, 6, 4)))
    assert [w.shape for w in layer.weights] == [(3, 2, 4, 20), (3, 2, 5, 20), (20,)]
    np.testing.assert_array_equal(layer.bias.numpy(), np.repeat([0.0, 1.0, 0.0, 0.0], 5))
    assert layers.ConvLSTM1D(2, 3, unit_forget_bias=False, use_bias=False)(np.ones((1, 2, 5, 1))).shape == (1, 3, 2)


def test_a_stateful_layer_carries_its_states_across_batches(backend64: str) -> None:
    x = RNG.normal(size=(2, 6, 5, 5, 1))
    whole = layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, seed=1)
    stateful = layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, stateful=True, seed=1)
    whole(x)
    stateful(x[:, :3])
    stateful.set_weights(whole.get_weights())
    stateful.reset_states()
    halves = np.concatenate([stateful(x[:, :3]).numpy(), stateful(x[:, 3:]).numpy()], axis=1)
    np.testing.assert_allclose(halves, whole(x).numpy(), rtol=1e-12, atol=1e-12)


def test_dropout_acts_only_in_training_and_is_seeded() -> None:
    x = RNG.normal(size=(2, 3, 5, 5, 2))
    layer = layers.ConvLSTM2D(2, 3, dropout=0.5, recurrent_dropout=0.3, seed=3)
    inference = layer(x).numpy()
    plain = layers.ConvLSTM2D(2, 3)
    plain(x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(inference, plain(x).numpy())
    training = layer(x, training=True).numpy()
    assert not np.allclose(training, inference) and np.isfinite(training).all()
    again = layers.ConvLSTM2D(2, 3, dropout=0.5, recurrent_dropout=0.3, seed=3)
    again(x)
    again.set_weights(layer.get_weights())
    np.testing.assert_array_equal(again(x, training=True).numpy(), training)


def test_a_video_model_trains_and_round_trips_through_saving(tmp_path: Any) -> None:
    hn.utils.set_random_seed(0)
    videos, labels = RNG.normal(size=(16, 4, 6, 6, 1)), RNG.integers(0, 2, size=16)
    model = hn.Sequential([
        hn.Input((4, 6, 6, 1)),
        layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True, recurrent_dropout=0.1),
        layers.ConvLSTM2D(2, 3, strides=2),
        layers.Flatten(),
        layers.Dense(2),
    ])  # fmt: skip
    assert model.output_shape == (None, 2) and model.layers[1].output.shape == (None, 2, 2, 2)
    model.compile("adam", hn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(videos, labels, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = f"{tmp_path}/video.highnn"
    model.save(path)
    loaded = hn.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(videos, verbose=0), model.predict(videos, verbose=0), rtol=1e-6)
    config = loaded.layers[0].get_config()
    assert config["filters"] == 3 and config["kernel_size"] == (3, 3) and "units" not in config


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: layers.ConvLSTM2D(0, 3), ValueError, "ConvLSTM2D: `filters` must be a positive integer"),
        (lambda: layers.ConvLSTM2D(2, (3, 3, 3)), TypeError,
         r"ConvLSTM2D: `kernel_size` must be an integer or a tuple of 2 integers"),
        (lambda: layers.ConvLSTM1D(2, 3, padding="causal"), ValueError,
         "ConvLSTM1D: `padding` must be one of 'valid', 'same', received 'causal'"),
        (lambda: layers.ConvLSTM2D(2, 3, data_format="nhwc"), ValueError, "ConvLSTM2D: `data_format` must be one of"),
        (lambda: layers.ConvLSTM2D(2, 3)(np.ones((2, 3, 5, 5))), ValueError,
         r"needs inputs of shape \(batch, timesteps, 2 spatial sizes, channels\)"),
        (lambda: layers.ConvLSTM2D(2, 5)(np.ones((2, 3, 4, 4, 1))), ValueError,
         r"the frames \(4, 4\) are smaller than the kernel \(5, 5\)"),
    ],
)  # fmt: skip
def test_bad_arguments_and_inputs_are_named(make: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()
