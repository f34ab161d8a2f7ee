"""Model-level conformance: same seed, same start, same gradients, same trained weights on every backend."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from helpers import BACKENDS, require_backend

import highnn as hn
from highnn import layers
from highnn.activations import ACTIVATIONS

RNG = np.random.default_rng(3)
X = RNG.normal(size=(24, 5))
TARGETS = {
    "regression": RNG.normal(size=(24, 3)),
    "sparse": RNG.integers(0, 3, size=24),
    "one_hot": np.eye(3)[RNG.integers(0, 3, size=24)],
    "binary": RNG.integers(0, 2, size=(24, 3)).astype(float),
}


def architecture(
    activation: str = "tanh", output: str | None = None, use_bias: bool = True, aggregation: str = "sum"
) -> Callable[[], hn.Sequential]:
    def build() -> hn.Sequential:
        hn.utils.set_random_seed(11)
        return hn.Sequential([
            hn.Input((5,)),
            layers.Dense(7, activation=activation, use_bias=use_bias, aggregation=aggregation),
            layers.Dense(3, activation=output, use_bias=use_bias),
        ])  # fmt: skip

    return build


CASES: dict[str, tuple[Callable[[], hn.Sequential], object, str]] = {
    **{f"activation-{name}": (architecture(name), "mse", "regression") for name in sorted(ACTIVATIONS)},
    "loss-mae": (architecture(), "mae", "regression"),
    "loss-huber": (architecture(), "huber", "regression"),
    "loss-binary-sigmoid": (architecture(output="sigmoid"), "binary_crossentropy", "binary"),
    "loss-binary-logits": (architecture(), hn.losses.BinaryCrossentropy(from_logits=True), "binary"),
    "loss-categorical-softmax": (architecture(output="softmax"), "categorical_crossentropy", "one_hot"),
    "loss-categorical-logits": (architecture(), hn.losses.CategoricalCrossentropy(from_logits=True), "one_hot"),
    "loss-sparse-softmax": (architecture(output="softmax"), "sparse_categorical_crossentropy", "sparse"),
    "loss-sparse-logits": (architecture(), hn.losses.SparseCategoricalCrossentropy(from_logits=True), "sparse"),
    "no-bias": (architecture(use_bias=False), "mse", "regression"),
    "max-aggregation": (architecture("relu", aggregation="max"), "mse", "regression"),
}


# ------------------------------------------- glu halves its axis, so it needs a layer of even width
def glu_architecture() -> hn.Sequential:
    hn.utils.set_random_seed(11)
    return hn.Sequential([hn.Input((5,)), layers.Dense(8, activation="glu"), layers.Dense(3)])


CASES["activation-glu"] = (glu_architecture, "mse", "regression")


def rescaled_regularized_architecture() -> hn.Sequential:
    """Normalization adapted to X, Rescaling per feature, and an ActivityRegularization penalty in the loss."""
    hn.utils.set_random_seed(11)
    normalizer = layers.Normalization()
    normalizer.adapt(X[:16] * 3.0 + 1.0)
    return hn.Sequential([
        hn.Input((5,)),
        normalizer,
        layers.Rescaling([0.5, 1.0, 2.0, -1.0, 0.25], offset=0.1),
        layers.Dense(7, activation="tanh"),
        layers.ActivityRegularization(l1=0.01, l2=0.02),
        layers.Dense(3),
    ])  # fmt: skip


CASES["normalization-rescaling-activity-regularization"] = (rescaled_regularized_architecture, "mse", "regression")
CASES.update({
    "loss-hinge": (architecture(), "hinge", "binary"),
    "loss-log-cosh": (architecture(), "log_cosh", "regression"),
    "loss-kld-softmax": (architecture(output="softmax"), "kl_divergence", "one_hot"),
    "loss-binary-focal-sigmoid": (architecture(output="sigmoid"), "binary_focal_crossentropy", "binary"),
    "loss-categorical-focal-softmax": (architecture(output="softmax"), "categorical_focal_crossentropy", "one_hot"),
    "loss-dice-sigmoid": (architecture(output="sigmoid"), "dice", "binary"),
})  # fmt: skip


def on_every_backend(run: Callable[[], list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
    results = {}
    for backend in BACKENDS:
        require_backend(backend)
        with hn.config.use_backend(backend, floatx="float64"):
            results[backend] = run()
    return results


def assert_all_close(results: dict[str, list[np.ndarray]], rtol: float, atol: float) -> None:
    reference = results["numpy"]
    for backend, arrays in results.items():
        for a, b in zip(reference, arrays):
            np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, err_msg=f"numpy vs {backend}")


def assert_same_start_gradients_and_epoch(run: Callable[[], list[np.ndarray]]) -> None:
    """``run`` returns a model's initial weights, its gradients and its weights after one epoch, as many of each:
    the initial weights are bit-identical on every backend, the gradients agree to 1e-10 and the epoch to 1e-8."""
    results = on_every_backend(run)
    count = len(results["numpy"]) // 3
    for backend, arrays in results.items():
        for a, b in zip(results["numpy"][:count], arrays[:count]):
            np.testing.assert_array_equal(b, a, err_msg=f"initial weights, numpy vs {backend}")
    assert_all_close({k: v[count : 2 * count] for k, v in results.items()}, rtol=1e-10, atol=1e-13)
    assert_all_close({k: v[2 * count :] for k, v in results.items()}, rtol=1e-8, atol=1e-10)


def test_same_seed_gives_bit_identical_initial_weights() -> None:
    for floatx in ("float32", "float64"):
        results = {}
        for backend in BACKENDS:
            require_backend(backend)
            with hn.config.use_backend(backend, floatx=floatx):
                results[backend] = architecture("relu")().get_weights()
        for backend in BACKENDS:
            for a, b in zip(results["numpy"], results[backend]):
                assert a.dtype == b.dtype == np.dtype(floatx)
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_gradients_agree_across_backends(case: str) -> None:
    build, loss, target = CASES[case]

    def gradients() -> list[np.ndarray]:
        model = build()
        model.compile(optimizer="sgd", loss=loss)
        return model.compute_gradients(X, TARGETS[target])

    assert_all_close(on_every_backend(gradients), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(
    "case",
    ["activation-relu", "activation-gelu", "loss-sparse-softmax", "loss-binary-logits", "max-aggregation", "no-bias"],
)
def test_one_epoch_of_fit_gives_the_same_weights(case: str) -> None:
    build, loss, target = CASES[case]

    def train() -> list[np.ndarray]:
        model = build()
        model.compile(
            optimizer=hn.optimizers.Adam(0.01), loss=loss, metrics=["accuracy" if target == "sparse" else "mae"]
        )
        model.fit(X, TARGETS[target], batch_size=8, epochs=1, shuffle=False, verbose=0)
        return model.get_weights()

    assert_all_close(on_every_backend(train), rtol=1e-8, atol=1e-10)


def test_fit_evaluate_predict_accept_every_backends_arrays() -> None:
    require_backend("torch")
    require_backend("jax")
    import jax.numpy as jnp
    import torch

    y = TARGETS["regression"]
    for backend in BACKENDS:
        with hn.config.use_backend(backend, floatx="float64"):
            for convert in (np.asarray, torch.tensor, jnp.asarray):
                model = architecture()()
                model.compile(optimizer="sgd", loss="mse")
                model.fit(convert(X), convert(y), epochs=1, verbose=0)
                assert isinstance(model.evaluate(convert(X), convert(y), verbose=0), float)
                predictions = model.predict(convert(X), verbose=0)
                assert isinstance(predictions, np.ndarray) and predictions.shape == (24, 3)


# ----------------------------------------------------------------- attention
class SelfAttentionModel(hn.Model):
    """X's 5 features as 5 tokens: gated, causal self-attention in a sliding window (last token masked out),
    mean-pooled to 3 outputs."""

    KEYS = np.tril(np.ones((5, 5))) * (np.arange(5) < 4)  # an attention mask broadcast over the batch

    def __init__(self) -> None:
        super().__init__()
        self.embed = layers.Dense(4, activation="tanh")
        self.attention = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2, use_gate=True, sliding_window=3)
        self.head = layers.Dense(3)

    def call(self, inputs: hn.Tensor, training: bool = False) -> hn.Tensor:
        tokens = self.embed(hn.ops.reshape(inputs, inputs.shape + (1,)))
        attended = self.attention(tokens, tokens, attention_mask=self.KEYS, use_causal_mask=True, training=training)
        return self.head(hn.ops.mean(tokens + attended, axis=1))


class GridAttentionModel(hn.Model):
    """MultiHeadAttention over other ``attention_axes`` than the last sequence axis, on a 5 x 5 grid of tokens:
    along the rows (the columns a batch axis), then over the whole grid at once with an attention mask in Keras's
    layout (query axes, then key axes) that lets a cell attend to the cells before it in row-major order."""

    KEYS = np.arange(25).reshape(1, 1, 5, 5) <= np.arange(25).reshape(5, 5, 1, 1)

    def __init__(self) -> None:
        super().__init__()
        self.embed = layers.Dense(4, activation="tanh")
        self.rows = layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=(1,))
        self.whole = layers.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3)
        self.head = layers.Dense(3)

    def call(self, inputs: hn.Tensor, training: bool = False) -> hn.Tensor:
        tokens = self.embed(hn.ops.reshape(inputs[:, :, None] * inputs[:, None, :], (-1, 5, 5, 1)))
        x = tokens + self.rows(tokens, tokens)
        x = x + self.whole(x, x, attention_mask=self.KEYS)
        return self.head(hn.ops.mean(x, axis=(1, 2)))


@pytest.mark.parametrize("model_class", [SelfAttentionModel, GridAttentionModel])
def test_attention_models_agree_across_backends(model_class: type[hn.Model]) -> None:
    """Bit-identical initial weights, gradients to 1e-10 and one epoch of fit to 1e-8 (no dropout: each backend
    draws its own random numbers)."""

    def run() -> list[np.ndarray]:
        hn.utils.set_random_seed(11)
        model = model_class()
        model.compile(optimizer=hn.optimizers.Adam(0.01), loss="mse")
        model.build((None, 5))
        initial = model.get_weights()
        gradients = model.compute_gradients(X, TARGETS["regression"])
        model.fit(X, TARGETS["regression"], batch_size=8, epochs=1, shuffle=False, verbose=0)
        return initial + gradients + model.get_weights()

    assert_same_start_gradients_and_epoch(run)


# ------------------------------------------------------------------ pooled models
def pooled(pooling: Callable[[], layers.Layer]) -> Callable[[], hn.Sequential]:
    """Dense features seen as a sequence of 4 steps of 3 channels, pooled, then a Dense read-out."""

    def build() -> hn.Sequential:
        hn.utils.set_random_seed(11)
        return hn.Sequential([
            hn.Input((5,)), layers.Dense(12, activation="tanh"), layers.Reshape((4, 3)), pooling(),
            layers.Flatten(), layers.Dense(3),
        ])  # fmt: skip

    return build


POOLED_CASES = {
    "pooling-max": (pooled(lambda: layers.MaxPooling1D(2)), "mse", "regression"),
    "pooling-average-same": (
        pooled(lambda: layers.AveragePooling1D(3, strides=2, padding="same")),
        "mse",
        "regression",
    ),
    "pooling-global-average": (pooled(layers.GlobalAveragePooling1D), "mse", "regression"),
}
CASES.update(POOLED_CASES)  # after the parametrizations above were made: the two tests below run them


@pytest.mark.parametrize("case", sorted(POOLED_CASES))
def test_pooled_model_gradients_agree_across_backends(case: str) -> None:
    test_model_gradients_agree_across_backends(case)


@pytest.mark.parametrize("case", sorted(POOLED_CASES))
def test_one_epoch_of_fit_of_a_pooled_model_gives_the_same_weights(case: str) -> None:
    test_one_epoch_of_fit_gives_the_same_weights(case)


# ------------------------------------------------------------------ convolution
IMAGES = RNG.normal(size=(16, 6, 6, 2))
SEQUENCES = RNG.normal(size=(16, 7, 3))
CNN_LABELS = RNG.integers(0, 3, size=16)


def image_cnn() -> hn.Sequential:
    hn.utils.set_random_seed(11)
    return hn.Sequential([
        hn.Input((6, 6, 2)),
        layers.Conv2D(4, 3, padding="same", groups=2, activation="tanh"),
        layers.DepthwiseConv2D(2, strides=2, activation="relu"),
        layers.Conv2DTranspose(2, 2, strides=2, data_format="channels_first"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])  # fmt: skip


def sequence_cnn() -> hn.Sequential:
    hn.utils.set_random_seed(11)
    return hn.Sequential([
        hn.Input((7, 3)),
        layers.Conv1D(4, 3, strides=2, padding="causal", activation="gelu"),
        layers.SeparableConv1D(3, 2, depth_multiplier=2, activation="tanh"),
        layers.DepthwiseConv1D(2, padding="same"),
        layers.ZeroPadding1D((1, 0)),
        layers.UpSampling1D(2),
        layers.Cropping1D((1, 2)),
        layers.RMSNormalization(),
        layers.UnitNormalization(axis=[1, 2]),
        layers.Flatten(),
        layers.Dense(3),
    ])  # fmt: skip


VOLUMES = RNG.normal(size=(16, 4, 4, 4, 1))


def spatial_cnn() -> hn.Sequential:
    """Resizing, padding, a strided and dilated separable convolution, pooling, upsampling (nearest, bicubic) and
    cropping in one image model."""
    hn.utils.set_random_seed(11)
    return hn.Sequential([
        hn.Input((6, 6, 2)),
        layers.Resizing(5, 7, interpolation="bicubic", antialias=True),
        layers.ZeroPadding2D(1),
        layers.SeparableConv2D(4, 3, strides=2, dilation_rate=2, padding="same", depth_multiplier=2, activation="tanh"),
        layers.GroupNormalization(groups=2),
        layers.MaxPooling2D(2),
        layers.UpSampling2D(2),
        layers.Cropping2D(1),
        layers.UpSampling2D((1, 2), interpolation="bicubic"),
        layers.GlobalMaxPooling2D(),
        layers.Dense(3),
    ])  # fmt: skip


def volume_cnn() -> hn.Sequential:
    hn.utils.set_random_seed(11)
    return hn.Sequential([
        hn.Input((4, 4, 4, 1)),
        layers.Conv3D(2, 2, activation="tanh"),
        layers.AveragePooling3D(2, padding="same"),
        layers.ZeroPadding3D(((1, 0), (0, 1), (1, 1))),
        layers.UpSampling3D((1, 2, 1)),
        layers.Cropping3D(((1, 0), (1, 1), (0, 1))),
        layers.GlobalMaxPooling3D(),
        layers.Dense(3),
    ])  # fmt: skip


def augmented_cnn() -> hn.Sequential:
    """Rotation, zoom, translation, brightness and contrast while training, their factors pinned (low = high) so
    that every backend draws the same changes: bilinear and nearest sampling, constant, wrap and reflect fills,
    clipping to a value range."""
    hn.utils.set_random_seed(11)
    return hn.Sequential([
        hn.Input((6, 6, 2)),
        layers.RandomRotation((0.05, 0.05), seed=1),
        layers.RandomZoom((-0.2, -0.2), (0.1, 0.1), fill_mode="constant", fill_value=0.5, seed=2),
        layers.RandomTranslation((0.1, 0.1), (-0.15, -0.15), fill_mode="wrap", interpolation="nearest", seed=3),
        layers.RandomBrightness((0.05, 0.05), value_range=(-2, 2), seed=4),
        layers.RandomContrast((0.0, 0.0), value_range=(-2, 2), seed=5),
        layers.Conv2D(3, 3, activation="tanh"),
        layers.Flatten(),
        layers.Dense(3),
    ])  # fmt: skip


VIDEOS = RNG.normal(size=(16, 3, 5, 5, 1))


def video_model() -> hn.Sequential:
    """Two convolutional LSTMs (the first with every step's output, the second strided, run backwards)."""
    hn.utils.set_random_seed(11)
    return hn.Sequential([
        hn.Input((3, 5, 5, 1)),
        layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
        layers.ConvLSTM2D(2, 3, strides=2, go_backwards=True),
        layers.Flatten(),
        layers.Dense(3),
    ])  # fmt: skip


def time_distributed() -> hn.Sequential:
    hn.utils.set_random_seed(11)
    return hn.Sequential([
        hn.Input((7, 3)),
        layers.TimeDistributed(layers.Dense(4, activation="tanh")),
        layers.GlobalAveragePooling1D(),
        layers.Dense(3),
    ])  # fmt: skip


CNNS = {
    "image": (image_cnn, IMAGES),
    "sequence": (sequence_cnn, SEQUENCES),
    "spatial": (spatial_cnn, IMAGES),
    "augmented": (augmented_cnn, IMAGES),
    "video": (video_model, VIDEOS),
    "volume": (volume_cnn, VOLUMES),
    "time-distributed": (time_distributed, SEQUENCES),
}


@pytest.mark.parametrize("case", sorted(CNNS))
def test_cnn_starts_from_bit_identical_weights(case: str) -> None:
    build, _ = CNNS[case]
    for floatx in ("float32", "float64"):
        results = {}
        for backend in BACKENDS:
            require_backend(backend)
            with hn.config.use_backend(backend, floatx=floatx):
                results[backend] = build().get_weights()
        for backend in BACKENDS:
            for a, b in zip(results["numpy"], results[backend], strict=True):
                assert a.dtype == b.dtype == np.dtype(floatx)
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", sorted(CNNS))
def test_cnn_gradients_agree_across_backends(case: str) -> None:
    build, x = CNNS[case]

    def gradients() -> list[np.ndarray]:
        model = build()
        model.compile(optimizer="sgd", loss=hn.losses.SparseCategoricalCrossentropy(from_logits=case != "image"))
        return model.compute_gradients(x, CNN_LABELS)

    assert_all_close(on_every_backend(gradients), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", sorted(CNNS))
def test_cnn_one_epoch_of_fit_gives_the_same_weights(case: str) -> None:
    build, x = CNNS[case]

    def train() -> list[np.ndarray]:
        model = build()
        loss = hn.losses.SparseCategoricalCrossentropy(from_logits=case != "image")
        model.compile(optimizer=hn.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
        model.fit(x, CNN_LABELS, batch_size=4, epochs=1, shuffle=False, verbose=0)
        return model.get_weights()

    assert_all_close(on_every_backend(train), rtol=1e-8, atol=1e-10)


# ------------------------------------------- sequence models: Embedding with masks, and recurrent layers
TOKENS = RNG.integers(1, 9, size=(24, 6)) * (np.arange(6) < RNG.integers(2, 7, size=(24, 1)))  # padded with 0


def sequence_architecture(recurrent: Callable[[], layers.Layer]) -> Callable[[], hn.Sequential]:
    def build() -> hn.Sequential:
        hn.utils.set_random_seed(12)
        return hn.Sequential([
            hn.Input((6,)), layers.Embedding(9, 4, mask_zero=True), recurrent(), layers.Dense(3),
        ])  # fmt: skip

    return build


class GatedCell(hn.layers.Layer):
    """A user's RNN cell: a gated update ``h = z * h + (1 - z) * tanh(x @ W + h @ U)``, output ``h``."""

    state_size = 5

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.kernel = self.add_weight((input_shape[-1], 10), name="kernel")
        self.recurrent_kernel = self.add_weight((5, 10), name="recurrent_kernel")

    def call(self, inputs: hn.Tensor, states: list[hn.Tensor]) -> tuple[hn.Tensor, list[hn.Tensor]]:
        both = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        z = hn.ops.sigmoid(both[:, :5])
        h = z * states[0] + (1.0 - z) * hn.ops.tanh(both[:, 5:])
        return h, [h]


def masked_sequence_architecture() -> hn.Sequential:
    """The tokens as float steps of one feature, the padding (0) masked by ``Masking``."""
    hn.utils.set_random_seed(12)
    return hn.Sequential([hn.Input((6,)), layers.Reshape((6, 1)), layers.Masking(), layers.LSTM(5), layers.Dense(3)])


SEQUENCE_CASES: dict[str, Callable[[], hn.Sequential]] = {
    "embedding-lstm": sequence_architecture(lambda: layers.LSTM(5)),
    "embedding-gru": sequence_architecture(lambda: layers.GRU(5, go_backwards=True)),
    "embedding-bidirectional-simple-rnn": sequence_architecture(lambda: layers.Bidirectional(layers.SimpleRNN(5))),
    "masking-lstm": masked_sequence_architecture,
    "embedding-rnn-custom-cell": sequence_architecture(lambda: layers.RNN(GatedCell())),
    "embedding-rnn-stacked-cells": sequence_architecture(
        lambda: layers.RNN([layers.LSTMCell(4), layers.SimpleRNNCell(3)], go_backwards=True)
    ),
}


@pytest.mark.parametrize("case", sorted(SEQUENCE_CASES))
def test_sequence_model_gradients_and_one_epoch_agree_across_backends(case: str) -> None:
    def gradients_and_trained_weights() -> list[np.ndarray]:
        model = SEQUENCE_CASES[case]()
        model.compile(optimizer=hn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        gradients = model.compute_gradients(TOKENS, TARGETS["sparse"])
        model.fit(TOKENS, TARGETS["sparse"], batch_size=8, epochs=1, shuffle=False, verbose=0)
        return gradients + model.get_weights()

    results = on_every_backend(gradients_and_trained_weights)
    half = len(results["numpy"]) // 2  # every weight is trainable: gradients first, then as many weights
    assert_all_close({backend: arrays[:half] for backend, arrays in results.items()}, rtol=1e-10, atol=1e-13)
    assert_all_close({backend: arrays[half:] for backend, arrays in results.items()}, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- functional models
def test_functional_model_with_a_shared_layer_has_equal_gradients_on_every_backend() -> None:
    """A layer called twice shares its weights; its gradient is the sum over both calls, the same everywhere."""

    def run() -> list[np.ndarray]:
        hn.utils.set_random_seed(5)
        a = hn.Input((5,))
        shared = layers.Dense(5, activation="tanh")
        first = shared(a)
        merged = layers.Concatenate()([first, layers.Multiply()([shared(first), a])])
        model = hn.Model(a, layers.Dense(3)(merged))
        model.compile("sgd", "mse")
        return model.compute_gradients(X, TARGETS["regression"])

    assert_all_close(on_every_backend(run), rtol=1e-10, atol=1e-10)


# ------------------------------------------- a functional Transformer encoder block (calls with several inputs)
def test_functional_encoder_block_with_cross_attention_agrees_across_backends() -> None:
    """Self- and cross-attention recorded from hn.Input calls with several inputs (``query, value, key`` positional
    and by keyword): bit-identical initial weights, gradients to 1e-10, one epoch of fit to 1e-8."""
    tokens_x = X.reshape(24, 5, 1) * np.linspace(0.5, 1.5, 4)
    memory_x = np.roll(tokens_x, 1, axis=0)[:, :3]

    def run() -> list[np.ndarray]:
        hn.utils.set_random_seed(13)
        tokens, memory = hn.Input((None, 4)), hn.Input((3, 4))
        attended = layers.MultiHeadAttention(num_heads=2, key_dim=3)(tokens, tokens, use_causal_mask=True)
        x = layers.LayerNormalization()(layers.Add()([tokens, attended]))
        crossed = layers.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3)(x, memory, key=memory)
        x = layers.Add()([x, crossed])
        x = layers.Add()([x, layers.Dense(4)(layers.Dense(6, activation="tanh")(x))])
        model = hn.Model([tokens, memory], layers.Dense(3)(layers.GlobalAveragePooling1D()(x)))
        model.compile(optimizer=hn.optimizers.Adam(0.01), loss="mse")
        initial = model.get_weights()
        gradients = model.compute_gradients([tokens_x, memory_x], TARGETS["regression"])
        model.fit([tokens_x, memory_x], TARGETS["regression"], batch_size=8, epochs=1, shuffle=False, verbose=0)
        return initial + gradients + model.get_weights()

    assert_same_start_gradients_and_epoch(run)
