"""Convolution layers: numbers against a direct PyTorch formulation, Keras's weights and configs, shapes,
saving, argument and input errors, and second derivatives of the convolution primitive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import BACKENDS, numeric_gradient, require_backend

import highnn as hn
from highnn import layers
from highnn.config import use_backend
from highnn.layers.convolutional import _ConvTranspose
from highnn.layers.layer import _name_counts
from highnn.ops import conv_general

torch = pytest.importorskip("torch")
F = torch.nn.functional

RANDOM = {"bias_initializer": "random_normal"}  # a zero bias would hide a misplaced one


# ------------------------------------------------- the PyTorch formulations
def keras_same(size: int, window: int, stride: int, dilation: int) -> tuple[int, int]:
    """Keras's (TensorFlow's) "same" padding of one axis: the odd element after."""
    reach = (window - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + reach - size, 0)
    return total // 2, total - total // 2


def torch_pad(x: Any, layer: Any) -> Any:
    """``x`` (channels first) padded as the layer's ``padding`` says."""
    sizes = x.shape[2:]
    if layer.padding == "valid":
        return x
    if layer.padding == "causal":
        pairs = [((layer.kernel_size[0] - 1) * layer.dilation_rate[0], 0)]
    else:
        pairs = [keras_same(*args) for args in zip(sizes, layer.kernel_size, layer.strides, layer.dilation_rate)]
    return F.pad(x, [side for pair in reversed(pairs) for side in pair])


def torch_kernel(kernel: Any) -> Any:
    """Keras's (*window, in, out) as torch's (out, in, *window)."""
    rank = kernel.ndim - 2
    return kernel.permute(rank + 1, rank, *range(rank))


def torch_conv(layer: Any, x: Any, w: list[Any]) -> Any:
    conv = (F.conv1d, F.conv2d, F.conv3d)[layer.rank - 1]
    bias = w[-1] if layer.use_bias else None
    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        depthwise, pointwise = w[0], w[1]
        *window, channels, multiplier = depthwise.shape
        kernel = torch_kernel(depthwise.reshape(*window, 1, channels * multiplier))
        hidden = conv(torch_pad(x, layer), kernel, stride=layer.strides, dilation=layer.dilation_rate, groups=channels)
        return conv(hidden, torch_kernel(pointwise), bias)
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        *window, channels, multiplier = w[0].shape
        kernel = torch_kernel(w[0].reshape(*window, 1, channels * multiplier))
        return conv(torch_pad(x, layer), kernel, bias, layer.strides, dilation=layer.dilation_rate, groups=channels)
    return conv(torch_pad(x, layer), torch_kernel(w[0]), bias, layer.strides, dilation=layer.dilation_rate,
                groups=layer.groups)  # fmt: skip


def keras_transpose_pads(window: int, stride: int, dilation: int, padding: str, extra: int | None) -> tuple[int, int]:
    """Keras's padding of the dilated input of a transposed convolution (its JAX backend's rule)."""
    reach = (window - 1) * dilation + 1
    if padding == "valid":
        return reach - 1, reach - 1 + (max(reach, stride) - reach if extra is None else extra)
    total = stride + reach - 2 if extra is None else reach + reach % 2 - 2 + extra
    low = min(total // 2 + total % 2, reach - 1)
    return low, total - low


def torch_conv_transpose(layer: Any, x: Any, w: list[Any]) -> Any:
    """torch's natural transposed convolution ((n - 1) * stride + reach), cropped or padded to Keras's window."""
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[layer.rank - 1]
    rank = layer.rank
    kernel = w[0].permute(rank + 1, rank, *range(rank))  # (in, filters, *window)
    out = conv(x, kernel, None, layer.strides, dilation=layer.dilation_rate)
    extra = layer.output_padding or (None,) * rank
    pairs = [
        keras_transpose_pads(k, s, d, layer.padding, e)
        for k, s, d, e in zip(layer.kernel_size, layer.strides, layer.dilation_rate, extra)
    ]
    reach = [(k - 1) * d + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]
    crops = [(lo - (r - 1), hi - (r - 1)) for (lo, hi), r in zip(pairs, reach)]  # negative: crop
    out = F.pad(out, [side for pair in reversed(crops) for side in pair])
    return out + w[1].reshape(-1, *(1,) * rank) if layer.use_bias else out


def torch_reference(layer: Any, x: np.ndarray) -> np.ndarray:
    """The layer's output by a direct PyTorch formulation, in float64 and channels first."""
    weights = [torch.tensor(w, dtype=torch.float64) for w in layer.get_weights()]
    xt = torch.tensor(x, dtype=torch.float64)
    first = layer.data_format == "channels_first"
    xt = xt if first else xt.movedim(-1, 1)
    if isinstance(layer, _ConvTranspose):
        out = torch_conv_transpose(layer, xt, weights)
    else:
        out = torch_conv(layer, xt, weights)
    out = torch.relu(out) if layer.activation is hn.activations.get("relu") else out
    return (out if first else out.movedim(1, -1)).numpy()


#: (layer factory, input shape): every layer; strides, dilations, groups, every padding, both data formats
CASES: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "conv1d": (lambda: layers.Conv1D(4, 3, **RANDOM), (2, 9, 3)),
    "conv1d-causal-dilated": (lambda: layers.Conv1D(4, 3, padding="causal", dilation_rate=2, **RANDOM), (2, 9, 3)),
    "conv1d-same-strided": (lambda: layers.Conv1D(2, 4, strides=3, padding="same", **RANDOM), (2, 10, 3)),
    "conv2d": (lambda: layers.Conv2D(5, (3, 2), activation="relu", **RANDOM), (2, 7, 6, 3)),
    "conv2d-same-strided": (lambda: layers.Conv2D(4, 3, strides=2, padding="same", **RANDOM), (2, 8, 7, 3)),
    "conv2d-groups": (lambda: layers.Conv2D(6, 3, groups=2, dilation_rate=(2, 1), **RANDOM), (2, 8, 6, 4)),
    "conv2d-channels-first": (
        lambda: layers.Conv2D(4, 3, strides=(1, 2), padding="same", data_format="channels_first", **RANDOM),
        (2, 3, 7, 6),
    ),
    "conv2d-no-bias": (lambda: layers.Conv2D(3, 2, use_bias=False), (1, 5, 5, 2)),
    "conv3d": (lambda: layers.Conv3D(3, (2, 3, 2), strides=(1, 2, 1), padding="same", **RANDOM), (2, 4, 5, 4, 2)),
    "depthwise": (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", **RANDOM), (2, 6, 5, 3)),
    "depthwise-strided": (lambda: layers.DepthwiseConv2D((3, 2), strides=2, **RANDOM), (2, 7, 6, 3)),
    "depthwise-strided-dilated": (  # Keras allows both here, unlike Conv*D
        lambda: layers.DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same", **RANDOM),
        (2, 9, 8, 3),
    ),
    "depthwise-1d": (
        lambda: layers.DepthwiseConv1D(3, strides=2, depth_multiplier=2, padding="same", **RANDOM),
        (2, 9, 3),
    ),
    "depthwise-1d-dilated": (lambda: layers.DepthwiseConv1D(2, dilation_rate=2, **RANDOM), (2, 7, 2)),
    "separable": (lambda: layers.SeparableConv2D(4, 3, depth_multiplier=2, **RANDOM), (2, 6, 6, 3)),
    "separable-1d": (lambda: layers.SeparableConv1D(4, 3, depth_multiplier=2, **RANDOM), (2, 8, 3)),
    "separable-1d-channels-first": (
        lambda: layers.SeparableConv1D(3, 2, strides=2, data_format="channels_first", **RANDOM),
        (2, 2, 9),
    ),
    "separable-same-dilated": (
        lambda: layers.SeparableConv2D(5, 3, padding="same", dilation_rate=2, activation="relu", **RANDOM),
        (2, 7, 6, 2),
    ),
    "separable-strided-dilated": (
        lambda: layers.SeparableConv2D(3, 2, strides=(2, 3), dilation_rate=(2, 1), **RANDOM),
        (2, 9, 9, 2),
    ),
    "transpose": (lambda: layers.Conv2DTranspose(3, 3, **RANDOM), (2, 4, 5, 2)),
    "transpose-strided": (lambda: layers.Conv2DTranspose(3, 3, strides=2, **RANDOM), (2, 4, 5, 2)),
    "transpose-same-strided": (lambda: layers.Conv2DTranspose(3, 3, strides=2, padding="same", **RANDOM), (2, 4, 5, 2)),
    "transpose-output-padding": (
        lambda: layers.Conv2DTranspose(2, (3, 4), strides=(2, 3), padding="same", output_padding=(1, 2), **RANDOM),
        (2, 4, 3, 2),
    ),
    "transpose-dilated-valid": (lambda: layers.Conv2DTranspose(2, 2, dilation_rate=2, **RANDOM), (1, 4, 4, 3)),
    "transpose-1d": (lambda: layers.Conv1DTranspose(2, 4, strides=2, padding="same", **RANDOM), (2, 5, 3)),
    "transpose-3d": (lambda: layers.Conv3DTranspose(2, 2, strides=2, **RANDOM), (1, 3, 2, 3, 2)),
    "transpose-channels-first": (
        lambda: layers.Conv2DTranspose(3, 3, strides=2, padding="same", data_format="channels_first", **RANDOM),
        (2, 2, 4, 5),
    ),
}


def built(case: str, backend: str = "numpy") -> tuple[Any, np.ndarray]:
    """The case's layer, built with seed 5 on ``backend`` in float64, and its input."""
    factory, shape = CASES[case]
    hn.utils.set_random_seed(5)
    layer = factory()
    x = np.random.default_rng(1).normal(size=shape)
    return layer, x


# -------------------------------------------------------------------- numbers
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matches_a_direct_pytorch_formulation(case: str, backend: str) -> None:
    require_backend(backend)
    with use_backend(backend, floatx="float64"):
        layer, x = built(case, backend)
        out = layer(x).numpy()
    expected = torch_reference(layer, x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_channels_first_computes_what_channels_last_does() -> None:
    with use_backend("numpy", floatx="float64"):
        x = np.random.default_rng(2).normal(size=(2, 7, 6, 3))
        for factory in (
            lambda fmt: layers.Conv2D(4, 3, strides=2, padding="same", data_format=fmt, **RANDOM),
            lambda fmt: layers.SeparableConv2D(4, 3, data_format=fmt, **RANDOM),
            lambda fmt: layers.DepthwiseConv2D(3, depth_multiplier=2, data_format=fmt, **RANDOM),
            lambda fmt: layers.Conv2DTranspose(2, 3, strides=2, data_format=fmt, **RANDOM),
        ):
            last, first = factory("channels_last"), factory("channels_first")
            expected = last(x).numpy()
            first.build(np.moveaxis(x, -1, 1).shape)
            first.set_weights(last.get_weights())
            np.testing.assert_allclose(np.moveaxis(first(np.moveaxis(x, -1, 1)).numpy(), 1, -1), expected, atol=1e-12)


def test_convolution_second_derivatives_match_finite_differences() -> None:
    """The VJPs are convolutions themselves, so a gradient differentiates again (here d/dkernel of a VJP)."""
    rng = np.random.default_rng(4)
    x0, k0, v = rng.normal(size=(2, 6, 5, 4)), rng.normal(size=(3, 2, 2, 6)), rng.normal(size=(2, 6, 5, 4))
    attrs = {"strides": (2, 1), "padding": ((1, 0), (1, 1)), "lhs_dilation": (1, 1), "rhs_dilation": (1, 2),
             "feature_group_count": 2}  # fmt: skip

    def input_gradient_along_v(kernel: np.ndarray, create_graph: bool = False) -> tuple[hn.Tensor, hn.Tensor]:
        x, k = hn.tensor(x0, requires_grad=True), hn.tensor(kernel, requires_grad=True)
        out = conv_general(x, k, **attrs)
        (gx,) = hn.grad((out * out).sum(), [x], create_graph=create_graph)
        return (gx * v).sum(), k

    with use_backend("numpy", floatx="float64"):
        value, kernel = input_gradient_along_v(k0, create_graph=True)
        (second,) = hn.grad(value, [kernel])
        expected = numeric_gradient(lambda k: input_gradient_along_v(k)[0].item(), k0)
    np.testing.assert_allclose(second.numpy(), expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------ Keras's weights, config
KERAS_WEIGHTS = [
    (lambda: layers.Conv1D(4, 3), (2, 9, 3), [("kernel", (3, 3, 4)), ("bias", (4,))]),
    (lambda: layers.Conv2D(6, (3, 2), groups=3), (2, 7, 6, 3), [("kernel", (3, 2, 1, 6)), ("bias", (6,))]),
    (lambda: layers.Conv3D(2, 2, use_bias=False), (1, 4, 4, 4, 5), [("kernel", (2, 2, 2, 5, 2))]),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2), (1, 5, 5, 3), [("kernel", (3, 3, 3, 2)), ("bias", (6,))]),
    (
        lambda: layers.SeparableConv2D(4, 3, depth_multiplier=2),
        (1, 5, 5, 3),
        [("depthwise_kernel", (3, 3, 3, 2)), ("pointwise_kernel", (1, 1, 6, 4)), ("bias", (4,))],
    ),
    (lambda: layers.DepthwiseConv1D(3), (1, 5, 2), [("kernel", (3, 2, 1)), ("bias", (2,))]),
    (
        lambda: layers.SeparableConv1D(4, 3),
        (1, 5, 2),
        [("depthwise_kernel", (3, 2, 1)), ("pointwise_kernel", (1, 2, 4)), ("bias", (4,))],
    ),
    (lambda: layers.Conv2DTranspose(4, 3), (1, 5, 5, 3), [("kernel", (3, 3, 4, 3)), ("bias", (4,))]),
    (
        lambda: layers.Conv2D(4, 3, data_format="channels_first"),
        (1, 3, 5, 5),
        [("kernel", (3, 3, 3, 4)), ("bias", (4,))],
    ),
]


@pytest.mark.parametrize(("factory", "shape", "weights"), KERAS_WEIGHTS)
def test_weights_have_keras_names_and_shapes(factory: Callable[[], Any], shape: tuple[int, ...], weights: list) -> None:
    layer = factory()
    layer(np.zeros(shape))
    assert [(w.name, w.shape) for w in layer.weights] == weights
    assert all(w.path.startswith(layer.name + "/") for w in layer.weights)


def test_defaults_are_keras_defaults() -> None:
    config = layers.Conv2D(8, 3).get_config()
    assert config["kernel_size"] == (3, 3) and config["strides"] == (1, 1) and config["dilation_rate"] == (1, 1)
    assert config["padding"] == "valid" and config["data_format"] == "channels_last" and config["groups"] == 1
    assert config["activation"] == "linear" and config["use_bias"] is True
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert config["bias_initializer"]["class_name"] == "Zeros"
    assert layers.Conv2DTranspose(2, 3).get_config()["output_padding"] is None
    assert layers.DepthwiseConv2D(3).get_config()["depth_multiplier"] == 1
    assert layers.SeparableConv2D(2, 3).get_config()["pointwise_initializer"]["class_name"] == "GlorotUniform"


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_round_trip_rebuilds_the_same_layer(case: str) -> None:
    layer, x = built(case)
    expected = layer(x).numpy()
    config = layers.serialize(layer)
    clone = layers.deserialize(config)
    assert type(clone) is type(layer)
    assert layers.serialize(clone) == config
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), expected)


@pytest.mark.parametrize("case", sorted(CASES))
def test_compute_output_shape_is_the_called_shape(case: str) -> None:
    layer, x = built(case)
    out = layer(x)
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *out.shape[1:])
    unknown = tuple(None if 0 < i < x.ndim and i != layer.channel_axis % x.ndim else n for i, n in enumerate(x.shape))
    assert layer.compute_output_shape(unknown) == tuple(
        n if i in (0, layer.channel_axis % x.ndim) else None for i, n in enumerate(out.shape)
    )


def test_a_cnn_saves_and_loads_through_a_highnn_file(tmp_path: Path) -> None:
    hn.utils.set_random_seed(0)
    model = hn.Sequential([
        hn.Input((8, 8, 1)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.DepthwiseConv2D(3, depth_multiplier=2),
        layers.SeparableConv2D(3, 3, padding="same"),
        layers.Conv2DTranspose(2, 3, strides=2),
        layers.Flatten(),
        layers.Dense(3),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1))
    model.save(tmp_path / "cnn.highnn")
    loaded = hn.models.load_model(tmp_path / "cnn.highnn")
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# --------------------------------------------------------------------- errors
ARGUMENT_ERRORS = [
    (lambda: layers.Conv2D(0, 3), ValueError, r"Conv2D: `filters` must be an integer >= 1, received 0"),
    (lambda: layers.Conv2D(4.0, 3), TypeError, r"Conv2D: `filters` must be an integer >= 1, received 4.0"),
    (lambda: layers.Conv2D(4, (3, 3, 3)), TypeError, r"Conv2D: `kernel_size` must be an integer or a tuple of 2"),
    (lambda: layers.Conv2D(4, 0), ValueError, r"Conv2D: `kernel_size` must be integers >= 1, received 0"),
    (lambda: layers.Conv2D(4, 3, strides=(1, 0)), ValueError, r"`strides` must be integers >= 1"),
    (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), ValueError, r"`strides` must be 1 on every axis when"),
    (
        lambda: layers.Conv2DTranspose(4, 3, strides=2, dilation_rate=2),
        ValueError,
        r"Conv2DTranspose: `strides` must be 1 on every axis when",
    ),
    (lambda: layers.Conv2D(4, 3, padding="causal"), ValueError, r"Conv2D: `padding` must be one of"),
    (lambda: layers.Conv2D(4, 3, data_format="NHWC"), ValueError, r"Conv2D: `data_format` must be one of"),
    (lambda: layers.Conv2D(4, 3, groups=3), ValueError, r"Conv2D: `groups` must be a divisor of `filters` \(4\)"),
    (lambda: layers.Conv2D(4, 3, activation="nope"), ValueError, r"nope"),
    (lambda: layers.Conv2D(4, 3, kernel_initializer="nope"), ValueError, r"nope"),
    (lambda: layers.Conv1D(4, 3, use_bias="yes"), TypeError, r"Conv1D: `use_bias` must be"),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), ValueError, r"`depth_multiplier` must be an integer >= 1"),
    (lambda: layers.SeparableConv2D(0, 3), ValueError, r"SeparableConv2D: `filters` must be an integer >= 1"),
    (lambda: layers.DepthwiseConv1D(3, padding="causal"), ValueError, r"DepthwiseConv1D: `padding` must be one of"),
    (
        lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2),
        ValueError,
        r"Conv2DTranspose: `output_padding` must be smaller than `strides` \(2, 2\)",
    ),
]


@pytest.mark.parametrize(("factory", "error", "match"), ARGUMENT_ERRORS)
def test_bad_arguments_raise_before_any_state_changes(factory: Callable[[], Any], error: type, match: str) -> None:
    names_before = dict(_name_counts)
    with pytest.raises(error, match=match):
        factory()
    assert dict(_name_counts) == names_before, "a rejected layer must not take a name"


def test_inputs_that_do_not_fit_raise_keras_errors() -> None:
    layer = layers.Conv2D(4, 3)
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3"):
        layer(np.zeros((2, 5, 3)))
    assert not layer.weights, "a rejected input builds nothing"
    layer(np.zeros((2, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"expected axis 3 of input shape to have value 3"):
        layer(np.zeros((2, 5, 5, 2)))
    with pytest.raises(ValueError, match=r"input's 3 channels must be divisible by `groups` \(2\)"):
        layers.Conv2D(4, 3, groups=2)(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"is larger than the padded input \(2, 2\)"):
        layers.Conv2D(4, 3)(np.zeros((1, 2, 2, 3)))


@pytest.mark.parametrize(
    "factory",
    [
        lambda: layers.Conv2D(2, 5),
        lambda: layers.Conv2D(2, 3, dilation_rate=2),
        lambda: layers.DepthwiseConv2D(5),
        lambda: layers.SeparableConv2D(2, 5),
        lambda: layers.Conv1D(2, 4),
    ],
)
def test_a_kernel_that_does_not_fit_fails_when_the_model_is_built(factory: Callable[[], Any]) -> None:
    """As Keras: the output shape of a kernel larger than its input is an error, so a Sequential or functional
    model that cannot run fails where it is built, naming the layer."""
    shape = (3, 3) if isinstance(factory(), layers.Conv1D) else (3, 3, 3)
    layer = factory()
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}: the computed output size would be zero or neg"):
        layer.compute_output_shape((1, *shape))
    with pytest.raises(ValueError, match="would be zero or negative"):
        hn.Sequential([layers.Input(shape), factory()])
    with pytest.raises(ValueError, match="would be zero or negative"):
        factory()(layers.Input(shape))
    unknown = factory().compute_output_shape((None, *[None] * (len(shape) - 1), shape[-1]))
    assert unknown[:-1] == (None,) * len(shape)


def test_ops_conv_infers_groups_and_names_channel_mismatches() -> None:
    x = np.random.default_rng(0).normal(size=(1, 5, 5, 4))
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 6))
    grouped = hn.ops.conv(x, kernel, padding="same").numpy()
    halves = [hn.ops.conv(x[..., 2 * g : 2 * g + 2], kernel[..., 3 * g : 3 * g + 3], padding="same") for g in (0, 1)]
    np.testing.assert_allclose(grouped, np.concatenate([h.numpy() for h in halves], axis=-1), atol=1e-5)
    with pytest.raises(ValueError, match=r"conv_general: the kernel's input channels \(3\)"):
        hn.ops.conv(x, np.ones((3, 3, 3, 2)))
