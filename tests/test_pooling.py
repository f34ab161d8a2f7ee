"""Pooling, padding, cropping, upsampling and spatial dropout against PyTorch's formulations, on every backend.

Values and gradients are compared in float64 to 1e-12 with ``F.max_pool*d``,
``F.avg_pool*d``, ``F.pad`` and ``F.interpolate`` on the same inputs (torch's
channels-first layout is permuted to and fro); Keras's own conventions ("same"
padding, averages that do not count padding, the first maximum taking a window's
gradient) are pinned with hand-computed examples.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import BACKENDS, require_backend

import highnn as hn
from highnn import layers

torch = pytest.importorskip("torch")  # the reference values come from PyTorch formulations
F = torch.nn.functional

RNG = np.random.default_rng(5)
TORCH_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
TORCH_AVERAGE = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


# ------------------------------------------------ PyTorch formulations
def channels_first(x: torch.Tensor) -> torch.Tensor:
    return torch.movedim(x, -1, 1)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return torch.movedim(x, 1, -1)


def keras_same_pads(sizes: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...]) -> list[int]:
    """TF's "same" padding as ``F.pad`` wants it (last axis first): ceil(n / s) windows, the odd element after."""
    pads = []
    for n, k, s in reversed(list(zip(sizes, window, strides))):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


def torch_pool(
    mode: str, x: torch.Tensor, window: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> torch.Tensor:
    """Keras pooling of a channels-last tensor with torch's pools; "same" averages divide by the unpadded count."""
    y = channels_first(x)
    pads = keras_same_pads(tuple(y.shape[2:]), window, strides) if padding == "same" else [0] * 2 * len(window)
    if mode == "max":
        return channels_last(TORCH_MAX[len(window)](F.pad(y, pads, value=-torch.inf), window, strides))
    pool = TORCH_AVERAGE[len(window)]
    total = pool(F.pad(y, pads), window, strides)
    count = pool(F.pad(torch.ones_like(y), pads), window, strides)
    return channels_last(total / count)


def layer_and_torch(
    layer: layers.Layer, reference: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The layer's output and input gradient (highnn, active backend) and the reference's (torch.autograd),
    for the loss ``sum(output * cotangent)``."""
    inputs = hn.tensor(x, requires_grad=True)
    out = layer(inputs)
    cotangent = RNG.normal(size=out.shape)
    (grad,) = hn.grad(out, [inputs], cotangent)
    leaf = torch.tensor(x, requires_grad=True)
    expected = reference(leaf)
    (expected_grad,) = torch.autograd.grad(expected, [leaf], torch.tensor(cotangent))
    return out.numpy(), grad.numpy(), expected.detach().numpy(), expected_grad.numpy()


def assert_matches_torch(layer: layers.Layer, reference: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray) -> None:
    out, grad, expected, expected_grad = layer_and_torch(layer, reference, x)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-12)


def distinct(shape: tuple[int, ...]) -> np.ndarray:
    """Values 0.1 apart in random order: no window has tied maxima."""
    return RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.1


# ============================================================ window pooling
POOLING_CASES = [
    (layers.MaxPooling1D, "max", (2, 9, 3), {}),
    (layers.MaxPooling1D, "max", (2, 9, 3), {"pool_size": 3, "strides": 2, "padding": "same"}),
    (layers.MaxPooling2D, "max", (2, 6, 7, 3), {}),
    (layers.MaxPooling2D, "max", (2, 5, 7, 2), {"pool_size": (3, 2), "strides": (2, 1), "padding": "same"}),
    (layers.MaxPooling2D, "max", (1, 6, 6, 2), {"pool_size": 3, "strides": 1}),
    (layers.MaxPooling3D, "max", (1, 4, 5, 4, 2), {}),
    (layers.MaxPooling3D, "max", (1, 4, 5, 3, 2), {"pool_size": (2, 3, 2), "padding": "same"}),
    (layers.AveragePooling1D, "average", (2, 9, 3), {"pool_size": 3}),
    (layers.AveragePooling1D, "average", (2, 8, 3), {"pool_size": 3, "strides": 2, "padding": "same"}),
    (layers.AveragePooling2D, "average", (2, 6, 7, 3), {}),
    (layers.AveragePooling2D, "average", (2, 5, 5, 2), {"pool_size": 3, "strides": 2, "padding": "same"}),
    (layers.AveragePooling2D, "average", (1, 4, 7, 2), {"pool_size": (2, 4), "strides": (1, 3), "padding": "same"}),
    (layers.AveragePooling3D, "average", (1, 4, 5, 4, 2), {}),
    (layers.AveragePooling3D, "average", (1, 3, 5, 4, 1), {"pool_size": 2, "strides": (1, 2, 3), "padding": "same"}),
]


@pytest.mark.parametrize(("make", "mode", "shape", "kwargs"), POOLING_CASES)
def test_pooling_matches_torch_values_and_gradients(
    backend64: str, make: Callable[..., layers.Layer], mode: str, shape: tuple[int, ...], kwargs: dict
) -> None:
    layer = make(**kwargs)
    rank = len(shape) - 2
    window = layer.pool_size
    strides = layer.strides
    assert window == tuple(np.broadcast_to(kwargs.get("pool_size", 2), rank))
    assert_matches_torch(layer, lambda x: torch_pool(mode, x, window, strides, layer.padding), distinct(shape))


@pytest.mark.parametrize(("make", "mode", "shape", "kwargs"), POOLING_CASES[2::3])
def test_channels_first_pooling_is_channels_last_pooling_of_the_permuted_input(
    backend64: str, make: Callable[..., layers.Layer], mode: str, shape: tuple[int, ...], kwargs: dict
) -> None:
    x = distinct(shape)
    last = make(**kwargs)(x).numpy()
    first = make(**kwargs, data_format="channels_first")(np.moveaxis(x, -1, 1)).numpy()
    np.testing.assert_array_equal(first, np.moveaxis(last, -1, 1))


def test_same_padding_averages_only_the_elements_inside_the_input(backend64: str) -> None:
    """As Keras on TF (and TF's own test): a 2x2, stride-2 "same" average of a 5x5 image."""
    x = np.arange(25.0).reshape(1, 5, 5, 1)
    out = layers.AveragePooling2D(2, padding="same")(x).numpy()[0, :, :, 0]
    np.testing.assert_allclose(out, [[3.0, 5.0, 6.5], [13.0, 15.0, 16.5], [20.5, 22.5, 24.0]], rtol=1e-15)
    steps = layers.AveragePooling1D(2, strides=1, padding="same")(np.arange(4.0).reshape(1, 4, 1)).numpy()
    np.testing.assert_array_equal(steps.ravel(), [0.5, 1.5, 2.5, 3.0])  # Keras's 1-D case: the last window is [3]
    worst = layers.MaxPooling2D(3, strides=2, padding="same")(-x - 1).numpy()[0, :, :, 0]  # padding never wins
    np.testing.assert_array_equal(worst, [[-1.0, -2.0, -4.0], [-6.0, -7.0, -9.0], [-16.0, -17.0, -19.0]])


def test_max_pooling_sends_a_windows_gradient_to_its_first_maximum(backend64: str) -> None:
    """The labelled tie case: at tied maxima the whole adjoint goes to the first one in row-major window order
    (as torch.autograd, jax.vjp and TF do; central differences would split it, which is why the conformance
    records avoid ties). Overlapping windows add up at a shared maximum."""
    x = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [2.0, 0.0, 2.0]]).reshape(1, 3, 3, 1)
    inputs = hn.tensor(x, requires_grad=True)
    out = layers.MaxPooling2D(2, strides=1)(inputs)
    np.testing.assert_array_equal(out.numpy()[0, :, :, 0], [[1.0, 2.0], [2.0, 2.0]])
    (grad,) = hn.grad(out, [inputs], np.array([1.0, 10.0, 100.0, 1000.0]).reshape(1, 2, 2, 1))
    expected = [[1.0, 0.0, 0.0], [0.0, 0.0, 1010.0], [100.0, 0.0, 0.0]]
    np.testing.assert_array_equal(grad.numpy()[0, :, :, 0], expected)
    leaf = torch.tensor(x, requires_grad=True)
    adjoint = torch.tensor([1.0, 10.0, 100.0, 1000.0], dtype=torch.float64).reshape(1, 2, 2, 1)
    (native,) = torch.autograd.grad(torch_pool("max", leaf, (2, 2), (1, 1), "valid"), [leaf], adjoint)
    np.testing.assert_array_equal(native.numpy()[0, :, :, 0], expected)


def test_max_pooling_tie_rule_is_jaxs_too() -> None:
    import jax

    with hn.config.use_backend("jax", floatx="float64") as backend:
        x = backend.asarray(np.array([[3.0, 3.0, 1.0, 3.0]]).reshape(1, 4, 1), "float64")
        _, pullback = jax.vjp(lambda v: backend.max_pool(v, window=(2,), strides=(1,), padding="valid"), x)
        (native,) = pullback(backend.asarray(np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1), "float64"))
    np.testing.assert_array_equal(np.asarray(native).ravel(), [1.0, 10.0, 0.0, 100.0])
    inputs = hn.tensor(np.array([[3.0, 3.0, 1.0, 3.0]]).reshape(1, 4, 1), requires_grad=True)
    (grad,) = hn.grad(hn.ops.max_pool(inputs, 2, 1), [inputs], np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1))
    np.testing.assert_array_equal(grad.numpy().ravel(), [1.0, 10.0, 0.0, 100.0])


TIED_CASES = [
    ((2, 9, 3), (3,), (2,), "same"),
    ((2, 6, 6, 2), (2, 2), (2, 2), "valid"),
    ((2, 7, 6, 2), (3, 3), (2, 1), "same"),
    ((1, 5, 4, 4, 2), (3, 2, 2), (1, 1, 1), "valid"),
]


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(("shape", "window", "strides", "padding"), TIED_CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pooling_gradient_goes_to_the_first_maximum_in_every_precision(
    backend: str,
    shape: tuple[int, ...],
    window: tuple[int, ...],
    strides: tuple[int, ...],
    padding: str,
    data_format: str,
    dtype: str,
) -> None:
    """Inputs of 0s and 1s, as after a ReLU, tie in most windows; overlapping windows add up at a shared first
    maximum. Small whole adjoints keep every sum exact in float16, so the gradient must equal torch's exactly."""
    require_backend(backend)
    x = RNG.integers(0, 2, shape).astype(np.float64)
    first = data_format == "channels_first"
    with hn.config.use_backend(backend):
        inputs = hn.tensor(np.moveaxis(x, -1, 1) if first else x, dtype=dtype, requires_grad=True)
        out = hn.ops.max_pool(inputs, window, strides, padding, data_format)
        cotangent = RNG.integers(1, 5, out.shape).astype(np.float64)
        (grad,) = hn.grad(out, [inputs], hn.tensor(cotangent, dtype=dtype))
        assert grad.dtype == dtype
    actual = np.moveaxis(grad.numpy(), 1, -1) if first else grad.numpy()
    leaf = torch.tensor(x, requires_grad=True)
    adjoint = torch.tensor(np.moveaxis(cotangent, 1, -1) if first else cotangent, dtype=torch.float64)
    (expected,) = torch.autograd.grad(torch_pool("max", leaf, window, strides, padding), [leaf], adjoint)
    np.testing.assert_array_equal(actual.astype(np.float64), expected.numpy())


# ============================================================ global pooling
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    ("make", "shape", "reduce"),
    [
        (layers.GlobalMaxPooling1D, (2, 5, 3), torch.amax),
        (layers.GlobalMaxPooling2D, (2, 4, 5, 3), torch.amax),
        (layers.GlobalAveragePooling1D, (2, 5, 3), torch.mean),
        (layers.GlobalAveragePooling2D, (2, 4, 5, 3), torch.mean),
        (layers.GlobalMaxPooling3D, (2, 3, 4, 2, 3), torch.amax),
        (layers.GlobalAveragePooling3D, (2, 3, 4, 2, 3), torch.mean),
    ],
)
def test_global_pooling_matches_torch(
    backend64: str,
    make: Callable[..., layers.Layer],
    shape: tuple[int, ...],
    reduce: Callable,
    data_format: str,
    keepdims: bool,
) -> None:
    axes = tuple(range(1, len(shape) - 1)) if data_format == "channels_last" else tuple(range(2, len(shape)))
    layer = make(data_format=data_format, keepdims=keepdims)
    assert_matches_torch(layer, lambda x: reduce(x, dim=axes, keepdim=keepdims), distinct(shape))
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *layer(np.ones(shape)).shape[1:])


# ====================================================== padding, cropping, upsampling
@pytest.mark.parametrize(
    ("padding", "pads"),
    [(2, (2, 2, 2, 2)), ((1, 3), (3, 3, 1, 1)), (((1, 0), (2, 3)), (2, 3, 1, 0)), (0, (0, 0, 0, 0))],
)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_zero_padding_matches_torch_pad(
    backend64: str, padding: object, pads: tuple[int, ...], data_format: str
) -> None:
    x = RNG.normal(size=(2, 3, 4, 2))
    layer = layers.ZeroPadding2D(padding, data_format=data_format)
    if data_format == "channels_last":
        assert_matches_torch(layer, lambda t: channels_last(F.pad(channels_first(t), pads)), x)
    else:
        assert_matches_torch(layer, lambda t: F.pad(t, pads), x)


@pytest.mark.parametrize(
    ("cropping", "kept"), [(1, (slice(1, -1), slice(1, -1))), (((0, 2), (1, 0)), (slice(0, -2), slice(1, None)))]
)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cropping_keeps_the_middle(
    backend64: str, cropping: object, kept: tuple[slice, slice], data_format: str
) -> None:
    x = RNG.normal(size=(2, 5, 6, 3))
    index = (slice(None), *kept, slice(None)) if data_format == "channels_last" else (slice(None), slice(None), *kept)
    assert_matches_torch(layers.Cropping2D(cropping, data_format=data_format), lambda t: t[index], x)


@pytest.mark.parametrize(
    ("make", "shape", "pads"),
    [
        (lambda: layers.ZeroPadding1D(), (2, 4, 3), (1, 1)),
        (lambda: layers.ZeroPadding1D((2, 0)), (2, 4, 3), (2, 0)),
        (lambda: layers.ZeroPadding1D(1, data_format="channels_first"), (2, 3, 4), (1, 1)),
        (lambda: layers.ZeroPadding3D(), (1, 2, 3, 2, 2), (1, 1) * 3),
        (lambda: layers.ZeroPadding3D((1, 0, 2)), (1, 2, 3, 2, 2), (2, 2, 0, 0, 1, 1)),
        (lambda: layers.ZeroPadding3D(((0, 1), (2, 0), (1, 3)), data_format="channels_first"), (1, 2, 2, 3, 2),
         (1, 3, 2, 0, 0, 1)),
    ],
)  # fmt: skip
def test_zero_padding_of_sequences_and_volumes_matches_torch_pad(
    backend64: str, make: Callable[[], layers.Layer], shape: tuple[int, ...], pads: tuple[int, ...]
) -> None:
    layer = make()
    x = RNG.normal(size=shape)
    if layer.data_format == "channels_last":
        assert_matches_torch(layer, lambda t: channels_last(F.pad(channels_first(t), pads)), x)
    else:
        assert_matches_torch(layer, lambda t: F.pad(t, pads), x)


@pytest.mark.parametrize(
    ("make", "shape", "kept"),
    [
        (lambda: layers.Cropping1D(), (2, 5, 3), (slice(None), slice(1, -1))),
        (lambda: layers.Cropping1D((0, 2)), (2, 5, 3), (slice(None), slice(0, -2))),
        (lambda: layers.Cropping3D(), (1, 3, 4, 5, 2), (slice(None), slice(1, -1), slice(1, -1), slice(1, -1))),
        (lambda: layers.Cropping3D(((0, 1), (1, 1), (2, 0)), data_format="channels_first"), (1, 2, 3, 4, 5),
         (slice(None), slice(None), slice(0, -1), slice(1, -1), slice(2, None))),
    ],
)  # fmt: skip
def test_cropping_of_sequences_and_volumes_keeps_the_middle(
    backend64: str, make: Callable[[], layers.Layer], shape: tuple[int, ...], kept: tuple[slice, ...]
) -> None:
    assert_matches_torch(make(), lambda t: t[kept], RNG.normal(size=shape))


@pytest.mark.parametrize(
    ("make", "shape", "size"),
    [
        (lambda: layers.UpSampling1D(), (2, 3, 2), (2,)),
        (lambda: layers.UpSampling1D(3), (2, 3, 2), (3,)),
        (lambda: layers.UpSampling3D(), (1, 2, 3, 2, 2), (2, 2, 2)),
        (lambda: layers.UpSampling3D((1, 3, 2), data_format="channels_first"), (1, 2, 2, 3, 2), (1, 3, 2)),
    ],
)
def test_upsampling_of_sequences_and_volumes_matches_torch_nearest(
    backend64: str, make: Callable[[], layers.Layer], shape: tuple[int, ...], size: tuple[int, ...]
) -> None:
    layer = make()

    def resize(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=size, mode="nearest")

    if layer.data_format == "channels_last":
        assert_matches_torch(layer, lambda t: channels_last(resize(channels_first(t))), RNG.normal(size=shape))
    else:
        assert_matches_torch(layer, resize, RNG.normal(size=shape))


def test_keras_aliases_are_the_same_classes() -> None:
    aliases = {
        "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
        "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D", "AvgPool3D": "AveragePooling3D",
        "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
        "GlobalMaxPool3D": "GlobalMaxPooling3D", "GlobalAvgPool1D": "GlobalAveragePooling1D",
        "GlobalAvgPool2D": "GlobalAveragePooling2D", "GlobalAvgPool3D": "GlobalAveragePooling3D",
        "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
        "Convolution1DTranspose": "Conv1DTranspose", "Convolution2DTranspose": "Conv2DTranspose",
        "Convolution3DTranspose": "Conv3DTranspose", "SeparableConvolution2D": "SeparableConv2D",
    }  # fmt: skip
    for alias, name in aliases.items():
        assert getattr(layers, alias) is getattr(layers, name), alias
        assert alias in layers.__all__
    saved = layers.serialize(layers.MaxPool2D(3))
    assert saved["class_name"] == "MaxPooling2D" and type(layers.deserialize(saved)) is layers.MaxPooling2D


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(2, 2), (3, 1), (1, 4)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_upsampling_matches_torch_interpolate(
    backend64: str, interpolation: str, size: tuple[int, int], data_format: str
) -> None:
    x = RNG.normal(size=(2, 3, 4, 2))
    layer = layers.UpSampling2D(size, data_format=data_format, interpolation=interpolation)
    options = {"align_corners": False} if interpolation == "bilinear" else {}

    def resize(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=size, mode=interpolation, **options)

    if data_format == "channels_last":
        assert_matches_torch(layer, lambda t: channels_last(resize(channels_first(t))), x)
    else:
        assert_matches_torch(layer, resize, x)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize("size", [(2, 2), (3, 1), (1, 4)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_upsampling_matches_jax_image_resize(
    backend64: str, interpolation: str, size: tuple[int, int], data_format: str
) -> None:
    """Keras's UpSampling2D is ``jax.image.resize`` (``tf.image.resize`` on TensorFlow) without antialiasing: the
    values and the input gradient match it (PyTorch's bicubic has another kernel and edges)."""
    jax = pytest.importorskip("jax")
    x = RNG.normal(size=(2, 3, 4, 2) if data_format == "channels_last" else (2, 2, 3, 4))
    method = {"bilinear": "linear", "bicubic": "cubic"}.get(interpolation, interpolation)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    shape = tuple(n * size[axes.index(a)] if a in axes else n for a, n in enumerate(x.shape))
    with jax.enable_x64(True):
        expected, vjp = jax.vjp(lambda t: jax.image.resize(t, shape, method=method, antialias=False), x)
        cotangent = RNG.normal(size=shape)
        (expected_grad,) = vjp(cotangent)
    inputs = hn.tensor(x, requires_grad=True)
    out = layers.UpSampling2D(size, data_format=data_format, interpolation=interpolation)(inputs)
    (grad,) = hn.grad(out, [inputs], cotangent)
    np.testing.assert_allclose(out.numpy(), np.asarray(expected), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad.numpy(), np.asarray(expected_grad), rtol=1e-12, atol=1e-12)


# ============================================================ spatial dropout
@pytest.mark.parametrize(
    ("make", "shape", "channel_axis"),
    [
        (lambda: layers.SpatialDropout1D(0.5, seed=3), (8, 5, 6), 2),
        (lambda: layers.SpatialDropout2D(0.5, seed=3), (8, 3, 4, 6), 3),
        (lambda: layers.SpatialDropout2D(0.5, data_format="channels_first", seed=3), (8, 6, 3, 4), 1),
        (lambda: layers.SpatialDropout3D(0.5, seed=3), (8, 2, 3, 2, 6), 4),
        (lambda: layers.SpatialDropout3D(0.5, data_format="channels_first", seed=3), (8, 6, 2, 3, 2), 1),
    ],
)
def test_spatial_dropout_drops_whole_channels_and_is_the_identity_at_inference(
    backend64: str, make: Callable[[], layers.Layer], shape: tuple[int, ...], channel_axis: int
) -> None:
    x = RNG.uniform(1.0, 2.0, size=shape)
    layer = make()
    out = layer(x, training=True).numpy()
    kept = out != 0
    other_axes = tuple(a for a in range(1, len(shape)) if a != channel_axis)
    assert np.all(kept.all(axis=other_axes) | ~kept.any(axis=other_axes)), "a channel is kept or dropped whole"
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(out[kept], 2 * x[kept], rtol=1e-15)
    np.testing.assert_array_equal(make()(x, training=True).numpy(), out)  # seeded like Dropout
    assert not np.array_equal(layer(x, training=True).numpy(), out), "each call draws a new mask"
    np.testing.assert_array_equal(layer(x).numpy(), x)


# ============================================================ configs and saving
CONFIG_CASES = [
    (lambda: layers.MaxPooling1D(3, strides=2, padding="same"), (2, 7, 3)),
    (lambda: layers.MaxPooling2D((2, 3), data_format="channels_first"), (2, 3, 6, 6)),
    (lambda: layers.MaxPooling3D(), (1, 4, 4, 4, 2)),
    (lambda: layers.AveragePooling1D(), (2, 6, 3)),
    (lambda: layers.AveragePooling2D(3, strides=(1, 2), padding="SAME"), (2, 6, 7, 3)),
    (lambda: layers.AveragePooling3D(padding="same"), (1, 3, 4, 5, 2)),
    (lambda: layers.GlobalMaxPooling1D(keepdims=True), (2, 6, 3)),
    (lambda: layers.GlobalMaxPooling2D(data_format="channels_first"), (2, 3, 4, 4)),
    (lambda: layers.GlobalAveragePooling1D(), (2, 6, 3)),
    (lambda: layers.GlobalAveragePooling2D(keepdims=True), (2, 4, 4, 3)),
    (lambda: layers.ZeroPadding2D(((1, 2), (0, 3))), (2, 4, 4, 3)),
    (lambda: layers.Cropping2D((1, 2), data_format="channels_first"), (2, 3, 5, 6)),
    (lambda: layers.UpSampling2D((2, 3), interpolation="bilinear"), (2, 3, 4, 2)),
    (lambda: layers.UpSampling2D((3, 1), interpolation="lanczos3", data_format="channels_first"), (2, 3, 4, 2)),
    (lambda: layers.SpatialDropout1D(0.3, seed=4), (2, 6, 3)),
    (lambda: layers.SpatialDropout3D(0.3, data_format="channels_first", seed=4), (2, 3, 2, 2, 2)),
    (lambda: layers.GlobalMaxPooling3D(keepdims=True), (2, 3, 2, 2, 3)),
    (lambda: layers.GlobalAveragePooling3D(data_format="channels_first"), (2, 3, 2, 2, 3)),
    (lambda: layers.ZeroPadding1D((1, 2)), (2, 4, 3)),
    (lambda: layers.ZeroPadding3D(((1, 0), (2, 2), (0, 0)), data_format="channels_first"), (1, 2, 3, 2, 2)),
    (lambda: layers.Cropping1D((2, 1)), (2, 6, 3)),
    (lambda: layers.Cropping3D(((1, 0), (0, 1), (1, 1))), (1, 3, 3, 4, 2)),
    (lambda: layers.UpSampling1D(3), (2, 3, 2)),
    (lambda: layers.UpSampling3D((2, 1, 3), data_format="channels_first"), (1, 2, 2, 2, 2)),
    (lambda: layers.SpatialDropout2D(0.3, data_format="channels_first", seed=4), (2, 3, 4, 4)),
]


@pytest.mark.parametrize(("make_layer", "shape"), CONFIG_CASES)
def test_config_round_trips_through_json_and_shapes_are_predicted(
    float64: None, make_layer: Callable[[], layers.Layer], shape: tuple[int, ...]
) -> None:
    layer = make_layer()
    x = RNG.normal(size=shape)
    out = layer(x)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *out.shape[1:])
    config = layer.get_config()
    assert "noise_shape" not in config
    assert layers.LAYERS.classes[type(layer).__name__] is type(layer)
    clone = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert type(clone) is type(layer) and clone.get_config() == config
    np.testing.assert_array_equal(clone(x).numpy(), out.numpy())


def test_keras_defaults_and_config_keys() -> None:
    config = layers.MaxPooling2D().get_config()
    assert {k: config[k] for k in ("pool_size", "strides", "padding", "data_format")} == {
        "pool_size": (2, 2), "strides": (2, 2), "padding": "valid", "data_format": "channels_last",
    }  # fmt: skip
    assert layers.AveragePooling3D().pool_size == (2, 2, 2) and layers.MaxPooling1D(strides=1).strides == (1,)
    assert layers.ZeroPadding2D().padding == ((1, 1), (1, 1)) and layers.Cropping2D().cropping == ((0, 0), (0, 0))
    assert layers.UpSampling2D().get_config()["size"] == (2, 2)
    assert set(layers.SpatialDropout2D(0.2).get_config()) == {"name", "trainable", "rate", "seed", "data_format"}
    assert layers.GlobalAveragePooling1D().compute_output_shape((None, None, 4)) == (None, 4)
    assert layers.MaxPooling1D().compute_output_shape((None, None, 4)) == (None, None, 4)


def test_a_pooled_model_trains_saves_and_loads_on_every_backend(backend64: str, tmp_path: Path) -> None:
    hn.utils.set_random_seed(1)
    model = hn.Sequential([
        hn.Input((6, 6, 2)), layers.ZeroPadding2D(1), layers.MaxPooling2D(2), layers.SpatialDropout2D(0.2, seed=1),
        layers.UpSampling2D(), layers.Cropping2D(1), layers.AveragePooling2D(3, strides=2, padding="same"),
        layers.GlobalAveragePooling2D(), layers.Dense(3),
    ])  # fmt: skip
    rng = np.random.default_rng(0)  # its own: the shared RNG's state depends on which tests ran first
    x, y = rng.normal(size=(16, 6, 6, 2)), rng.normal(size=(16, 3))
    model.compile(optimizer=hn.optimizers.Adam(0.01), loss="mse")
    losses = model.fit(x, y, batch_size=8, epochs=5, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    model.save(tmp_path / "pooled.highnn")
    loaded = hn.models.load_model(tmp_path / "pooled.highnn")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ===================================================================== errors
ERROR_CASES: list[tuple[Callable[[], object], type[Exception], tuple[str, ...]]] = [
    (lambda: layers.MaxPooling2D(0), ValueError, ("MaxPooling2D", "`pool_size`", "positive integer", "0")),
    (lambda: layers.MaxPooling2D((2, 2, 2)), ValueError, ("`pool_size`", "2 positive integers", "(2, 2, 2)")),
    (lambda: layers.AveragePooling1D(strides="2"), ValueError, ("`strides`", "'2'")),
    (lambda: layers.MaxPooling1D(padding="full"), ValueError, ("`padding`", "'valid', 'same'", "'full'")),
    (lambda: layers.MaxPooling3D(data_format="nchw"), ValueError, ("`data_format`", "'nchw'")),
    (lambda: layers.GlobalMaxPooling1D(keepdims="yes"), TypeError, ("`keepdims`", "True or False", "'yes'")),
    (lambda: layers.ZeroPadding2D(-1), ValueError, ("ZeroPadding2D", "`padding`", "-1")),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), ValueError, ("`padding`", "(1, 2, 3)")),
    (lambda: layers.Cropping2D(((1, 1), (1,))), ValueError, ("`cropping`", "((1, 1), (1,))")),
    (lambda: layers.UpSampling2D(0), ValueError, ("`size`", "0")),
    (lambda: layers.UpSampling1D((2, 2)), ValueError, ("UpSampling1D", "`size`", "(2, 2)")),
    (lambda: layers.UpSampling3D(-1), ValueError, ("UpSampling3D", "`size`", "-1")),
    (lambda: layers.ZeroPadding1D((1, 2, 3)), ValueError, ("ZeroPadding1D", "`padding`", "two integers", "(1, 2, 3)")),
    (lambda: layers.ZeroPadding3D((1, 2)), ValueError, ("ZeroPadding3D", "`padding`", "3 of them", "(1, 2)")),
    (lambda: layers.Cropping1D(-1), ValueError, ("Cropping1D", "`cropping`", "-1")),
    (lambda: layers.Cropping1D(2)(np.ones((1, 4, 1))), ValueError, ("Cropping1D", "`cropping` ((2, 2),)", "(4,)")),
    (lambda: layers.Cropping3D(1)(np.ones((1, 3, 2, 3, 1))), ValueError, ("Cropping3D", "(3, 2, 3)")),
    (lambda: layers.ZeroPadding1D()(np.ones((2, 3))), ValueError, ("zero_padding1d", "3")),
    (lambda: layers.SpatialDropout3D(0.5, data_format="ndhwc"), ValueError, ("SpatialDropout3D", "'ndhwc'")),
    (lambda: layers.UpSampling2D(interpolation="cubic"), ValueError, ("`interpolation`", "'cubic'")),
    (lambda: layers.SpatialDropout2D(1.0), ValueError, ("SpatialDropout2D: `rate`", "1.0")),
    (lambda: layers.SpatialDropout1D(-0.5), ValueError, ("SpatialDropout1D: `rate`", "-0.5")),
    (lambda: layers.SpatialDropout2D(0.5, data_format="nhwc"), ValueError, ("`data_format`", "'nhwc'")),
    (lambda: layers.MaxPooling2D(3)(np.ones((1, 2, 5, 1))), ValueError, ("`pool_size` (3, 3)", "(2, 5)")),
    (lambda: layers.Cropping2D((2, 0))(np.ones((1, 4, 5, 1))), ValueError, ("`cropping`", "(4, 5)")),
    (lambda: hn.ops.pad(np.ones((2, 3)), ((1, 1), (1, 1), (1, 1))), ValueError, ("pad", "`pad_width`", "(2, 3)")),
    (lambda: hn.ops.pad(np.ones(3), 1, mode="reflect"), ValueError, ("`mode`", "'reflect'")),
    (lambda: hn.ops.max_pool(np.ones((1, 4, 1)), 2, data_format="nwc"), ValueError, ("`data_format`", "'nwc'")),
]  # fmt: skip


@pytest.mark.parametrize(("action", "error", "fragments"), ERROR_CASES)
def test_bad_arguments_raise_clear_errors(
    action: Callable[[], object], error: type[Exception], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(error) as caught:
        action()
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("layer", "received"),
    [
        (layers.MaxPooling2D(), (2, 4, 4)),
        (layers.GlobalAveragePooling1D(), (2, 4, 4, 1)),
        (layers.UpSampling2D(), (2, 4, 4)),
        (layers.SpatialDropout1D(0.5), (2, 4, 4, 1)),
    ],
)
def test_inputs_of_the_wrong_rank_are_rejected(layer: layers.Layer, received: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="incompatible with the layer") as caught:
        layer(np.ones(received), training=True)
    assert f"Full shape received: {received}" in str(caught.value)
    assert not layer.variables, "nothing was built"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("shape", "window", "strides", "padding"),
    [((2, 7, 3), 3, 2, 1), ((1, 5, 5, 2), 3, 2, 1), ((1, 4, 4, 4, 2), 2, 2, 0)],
    ids=["1-D same", "2-D same, overlapping", "3-D valid"],
)
def test_max_pooling_differentiates_twice_as_torch_autograd_does(
    backend: str, shape: tuple[int, ...], window: int, strides: int, padding: int
) -> None:
    """A gradient's own gradient (the Hessian applied to the gradient): highnn's rules against torch's double
    backward of ``F.max_pool*d``, on inputs with one clear maximum per window."""
    require_backend(backend)
    rank = len(shape) - 2
    x0 = RNG.permutation(np.prod(shape)).reshape(shape) / 10 + 0.1  # positive and distinct: x * x has no ties
    with hn.config.use_backend(backend, floatx="float64"):
        x = hn.Variable(x0, name="x")
        pooled = hn.ops.max_pool(x * x, window, strides, padding="same" if padding else "valid")
        (gradient,) = hn.grad(hn.ops.sum(pooled**3), [x], create_graph=True)
        (second,) = hn.grad(hn.ops.sum(gradient * gradient), [x])
        ours = second.numpy()
    xt = torch.tensor(np.moveaxis(x0, -1, 1), requires_grad=True)
    (torch_gradient,) = torch.autograd.grad(
        (TORCH_MAX[rank](xt * xt, window, strides, padding) ** 3).sum(), xt, create_graph=True
    )
    (torch_second,) = torch.autograd.grad((torch_gradient * torch_gradient).sum(), xt)
    np.testing.assert_allclose(ours, np.moveaxis(torch_second.numpy(), 1, -1), rtol=1e-12, atol=1e-12)
    assert np.count_nonzero(ours) == np.count_nonzero(np.moveaxis(torch_gradient.detach().numpy(), 1, -1))
