"""GroupNormalization, RMSNormalization and UnitNormalization: Keras 3's arguments and weights, values and gradients
against PyTorch's ``F.group_norm``, ``F.rms_norm`` and ``F.normalize`` in float64 on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn import layers

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(11)


def assert_matches(layer: layers.Layer, reference: Callable[..., Any], x: np.ndarray) -> None:
    """The layer's output and its input's and weights' gradients against ``reference(x, *weights)`` in torch."""
    inputs = hn.tensor(x, requires_grad=True)
    out = layer(inputs)
    weights = [RNG.normal(size=w.shape) for w in layer.weights]
    layer.set_weights(weights)
    out = layer(inputs)
    cotangent = RNG.normal(size=out.shape)
    ours = hn.grad(out, [inputs, *layer.trainable_weights], cotangent)
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, *weights)]
    expected = reference(*leaves)
    theirs = torch.autograd.grad(expected, leaves, torch.tensor(cotangent))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({"groups": 2}, (3, 4, 5, 6)),
        ({"groups": -1}, (3, 4, 6)),
        ({"groups": 1, "center": False}, (2, 5, 4)),
        ({"groups": 3, "axis": 1}, (3, 6, 4)),
        ({"groups": 2, "scale": False, "epsilon": 0.1}, (2, 3, 4)),
    ],
)
def test_group_normalization_matches_torch_group_norm(backend64: str, kwargs: dict[str, Any], shape: tuple) -> None:
    layer = layers.GroupNormalization(**kwargs)
    channels_first = kwargs.get("axis", -1) == 1
    channels = shape[1] if channels_first else shape[-1]
    groups = channels if kwargs["groups"] == -1 else kwargs["groups"]
    eps = kwargs.get("epsilon", 1e-3)

    def reference(x: Any, *weights: Any) -> Any:
        gamma = weights[0] if kwargs.get("scale", True) else None
        beta = weights[-1] if kwargs.get("center", True) else None
        moved = x if channels_first else torch.movedim(x, -1, 1)
        out = F.group_norm(moved, groups, eps=eps)
        if gamma is not None:
            out = out * gamma.reshape(-1, *(1,) * (out.ndim - 2))
        if beta is not None:
            out = out + beta.reshape(-1, *(1,) * (out.ndim - 2))
        return out if channels_first else torch.movedim(out, 1, -1)

    assert_matches(layer, reference, RNG.normal(size=shape))


@pytest.mark.parametrize(("axis", "shape"), [(-1, (3, 4, 5)), ([1, 2], (3, 4, 5)), (1, (2, 3, 4))])
def test_rms_normalization_matches_torch_rms_norm(backend64: str, axis: Any, shape: tuple) -> None:
    axes = tuple(a % len(shape) for a in ([axis] if isinstance(axis, int) else axis))

    def reference(x: Any, scale: Any) -> Any:
        moved = torch.movedim(x, axes, tuple(range(len(shape) - len(axes), len(shape))))
        out = F.rms_norm(moved, scale.shape, scale, 1e-6)
        return torch.movedim(out, tuple(range(len(shape) - len(axes), len(shape))), axes)

    assert_matches(layers.RMSNormalization(axis=axis), reference, RNG.normal(size=shape))


@pytest.mark.parametrize(("axis", "shape"), [(-1, (3, 4, 5)), ([1, 2], (3, 4, 5))])
def test_unit_normalization_matches_torch_normalize(backend64: str, axis: Any, shape: tuple) -> None:
    dims = tuple([axis] if isinstance(axis, int) else axis)

    def reference(x: Any) -> Any:
        return x / torch.clamp(torch.sqrt(torch.sum(x * x, dim=dims, keepdim=True)), min=1e-12)

    assert_matches(layers.UnitNormalization(axis=axis), reference, RNG.normal(size=shape))
    zeros = layers.UnitNormalization()(np.zeros((2, 3))).numpy()
    np.testing.assert_array_equal(zeros, 0.0)  # a zero vector stays zero, without NaN


def test_weights_configs_and_keras_defaults(float64: None) -> None:
    group = layers.GroupNormalization(groups=2, name="gn")
    group(np.ones((1, 3, 4)))
    assert [(w.path, w.shape) for w in group.weights] == [("gn/gamma", (4,)), ("gn/beta", (4,))]
    rms = layers.RMSNormalization(axis=[1, 2], name="rms")
    rms(np.ones((1, 3, 4)))
    assert [(w.path, w.shape) for w in rms.weights] == [("rms/scale", (3, 4))]
    np.testing.assert_array_equal(rms.weights[0].numpy(), 1.0)
    defaults = layers.GroupNormalization().get_config()
    assert (defaults["groups"], defaults["axis"], defaults["epsilon"]) == (32, -1, 1e-3)
    assert layers.RMSNormalization().get_config()["epsilon"] == 1e-6
    for layer in (group, rms, layers.UnitNormalization(axis=[1, 2])):
        clone = layers.deserialize(layers.serialize(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
        x = RNG.normal(size=(2, 3, 4))
        clone(x)
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
        assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4)


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (lambda: layers.GroupNormalization(groups=0), ValueError, "GroupNormalization: `groups` must be a positive"),
        (lambda: layers.GroupNormalization(groups=2.5), ValueError, r"`groups` .* received 2\.5"),
        (lambda: layers.GroupNormalization(groups=4)(np.ones((1, 6))), ValueError,
         r"`groups` \(4\) must divide the number of channels along axis -1 \(6\)"),
        (lambda: layers.GroupNormalization(axis=[1, 2]), TypeError, "GroupNormalization: `axis` must be an integer"),
        (lambda: layers.RMSNormalization(epsilon=-1), ValueError, "RMSNormalization: `epsilon` must be"),
        (lambda: layers.RMSNormalization(axis=3)(np.ones((2, 3))), ValueError, "`axis` 3 is out of range"),
        (lambda: layers.UnitNormalization(axis="last"), TypeError, "UnitNormalization: `axis` must be an integer"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_argument(action: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        action()


def test_a_group_normalization_that_cannot_divide_its_channels_builds_nothing() -> None:
    layer = layers.GroupNormalization(groups=4)
    with pytest.raises(ValueError, match="must divide"):
        layer(np.ones((1, 6)))
    assert not layer.built and not layer.weights
