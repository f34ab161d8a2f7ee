"""The torch backend's convolution paths against NumPy's: a kernel's VJP as torch's kernel-gradient routine."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import require_backend

from highnn.backends.numpy_backend import NumpyBackend


@pytest.mark.parametrize("size, crop", [(23, 0), (24, -1), (25, -2), (26, -3), (24, 0)])
def test_a_kernel_gradient_shaped_convolution_leaves_or_crops_the_unread_end(size: int, crop: int) -> None:
    """A window (10 taps dilated by 2) larger than the output; what the outputs do not read is cropped or left."""
    require_backend("torch")
    import torch

    from highnn.backends.torch_backend import TorchBackend

    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(3, size, size - 1, 2)), rng.normal(size=(10, 10, 2, 4))
    attrs = {
        "strides": (1, 1),
        "padding": ((0, crop), (1, crop)),
        "lhs_dilation": (1, 1),
        "rhs_dilation": (2, 2),
        "feature_group_count": 1,
    }
    expected = NumpyBackend.conv_general(x, kernel, **attrs)
    got = TorchBackend.conv_general(torch.from_numpy(x), torch.from_numpy(kernel), **attrs)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_conv_bias_adds_one_bias_per_filter_on_every_path() -> None:
    """A forward convolution, an input dilated by zeros and a kernel-gradient-shaped window, each plus a bias."""
    require_backend("torch")
    import torch

    from highnn.backends.torch_backend import TorchBackend

    rng = np.random.default_rng(1)
    bias = rng.normal(size=4)
    for x_shape, kernel_shape, lhs_dilation in [((2, 6, 5, 3), (3, 2, 3, 4), 1), ((2, 4, 4, 3), (3, 3, 3, 4), 2),
                                                ((2, 9, 9, 3), (8, 8, 3, 4), 1)]:  # fmt: skip
        x, kernel = rng.normal(size=x_shape), rng.normal(size=kernel_shape)
        attrs = {
            "strides": (1, 1),
            "padding": ((1, 1), (0, 1)),
            "lhs_dilation": (lhs_dilation,) * 2,
            "rhs_dilation": (1, 1),
            "feature_group_count": 1,
        }
        expected = NumpyBackend.conv_general(x, kernel, **attrs) + bias
        got = TorchBackend.conv_bias(torch.from_numpy(x), torch.from_numpy(kernel), torch.from_numpy(bias), **attrs)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(NumpyBackend.conv_bias(x, kernel, bias, **attrs), expected, rtol=0, atol=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_kernel_gradient_copies_neither_operand(channels: int) -> None:
    """A kernel VJP of channels-last images, laid out as the graph lays it out: torch gets views whose strides
    say channels-last for both operands, so it copies neither. With one channel the layout is ambiguous
    (a length-1 axis may have any stride), and torch copied the output gradient to channels-first."""
    require_backend("torch")
    import torch
    from torch.profiler import ProfilerActivity, profile

    from highnn.backends.torch_backend import TorchBackend

    rng = np.random.default_rng(2)
    images, grads = rng.normal(size=(4, 12, 11, channels)), rng.normal(size=(4, 10, 9, 5))
    attrs = {"strides": (1, 1), "padding": ((0, 0), (0, 0)), "lhs_dilation": (1, 1), "rhs_dilation": (1, 1),
             "feature_group_count": 1}  # fmt: skip
    # the kernel VJP's operands: the batch swapped with the channels, the output gradient as the kernel
    lhs = torch.from_numpy(images).movedim(0, -1).movedim(-2, 0)  # (channels, 12, 11, batch)
    if channels == 1:  # the stride the graph's reshapes give the length-1 axis
        lhs = lhs.as_strided(lhs.shape, (12 * 11, *lhs.stride()[1:]))
    rhs = torch.from_numpy(grads).movedim(0, -2)  # (10, 9, batch, filters)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as profiled:
        got = TorchBackend.conv_general(lhs, rhs, **attrs)
    copied = [event.input_shapes[0] for event in profiled.events() if event.name in ("aten::clone", "aten::copy_")]
    assert [shape for shape in copied if np.prod(shape) > 3 * 3 * channels * 5] == []  # at most the kernel's size
    expected = NumpyBackend.conv_general(lhs.numpy(), rhs.numpy(), **attrs)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
