"""The NumPy backend's convolution and pooling paths: an input dilated by zeros computed as a transposed
convolution (GEMM and col2im), im2col filled per window tap or per output position, each whole and in blocks, and
max pooling by strided slices, each against the float64 definition of the operation."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest
from conformance.op_records import _conv_attrs, _conv_reference
from numpy.lib.stride_tricks import sliding_window_view

from highnn.backends import numpy_conv
from highnn.backends.base import pool_padding
from highnn.backends.numpy_backend import NumpyBackend
from highnn.ops.primitives import transpose_padding

rng = np.random.default_rng(7)

#: (input, kernel, attributes, label), every one with an input dilated by zeros: the transposed path where the output
#: has as many positions as the input or more, else the zeros and im2col
DILATED_INPUT = [
    ((2, 4, 4, 3), (5, 5, 3, 2), _conv_attrs((1, 1), ((4, 5), (4, 5)), lhs_dilation=(2, 2)), "input gradient"),
    ((2, 5, 3), (3, 3, 4), _conv_attrs((1,), ((2, 2),), lhs_dilation=(3,)), "1-D, dilation 3"),
    ((2, 5, 4, 2), (3, 2, 2, 3), _conv_attrs((2, 2), ((1, 2), (0, 1)), lhs_dilation=(2, 2)), "strides 2"),
    ((1, 3, 3, 2), (3, 3, 2, 2), _conv_attrs((3, 3), ((4, 4), (4, 3)), lhs_dilation=(3, 3)), "strides 3"),
    ((2, 4, 3, 2), (3, 2, 2, 3), _conv_attrs((1, 1), ((-1, 2), (1, -2)), (2, 3), (2, 1)), "cropped, dilated kernel"),
    ((2, 3, 4, 4), (2, 3, 2, 6), _conv_attrs((1, 1), ((1, 1), (2, 0)), lhs_dilation=(2, 2), groups=2), "groups"),
    ((1, 3, 3, 3), (3, 3, 1, 3), _conv_attrs((1, 1), ((2, 2), (2, 2)), lhs_dilation=(2, 2), groups=3), "depthwise"),
    ((1, 3, 2, 4, 2), (2, 2, 3, 2, 3), _conv_attrs((1, 2, 1), ((1, 1), (0, 2), (2, 1)), (2, 1, 3)), "3-D"),
    ((1, 2, 2), (2, 2, 2), _conv_attrs((1,), ((6, 6),),  lhs_dilation=(2,)), "padding past the full output"),
    ((1, 2, 2), (2, 2, 2), _conv_attrs((1,), ((-1, 0),), lhs_dilation=(3,)), "a tap that lands nowhere"),
    ((2, 5, 5, 3), (7, 6, 3, 2), _conv_attrs((1, 1), ((0, 0), (0, 1)), (2, 2)), "fewer outputs: zeros and im2col"),
    ((2, 5, 3), (8, 3, 2), _conv_attrs((2,), ((0, 0),), (2,)), "fewer outputs, strides 2"),
]  # fmt: skip

#: windows larger than the output, as in a kernel's gradient: im2col copies per output position
WIDE_WINDOW = [
    ((3, 9, 9, 4), (7, 7, 4, 2), _conv_attrs((1, 1), ((0, 0), (0, 0))), "kernel gradient"),
    ((2, 12, 11, 3), (5, 4, 3, 2), _conv_attrs((1, 1), ((0, -1), (0, -1)), rhs_dilation=(2, 2)), "dilated"),
    ((2, 9, 8, 4), (7, 6, 2, 4), _conv_attrs((2, 1), ((1, 0), (0, 1)), groups=2), "strides and groups"),
    ((2, 8, 3), (7, 3, 2), _conv_attrs((1,), ((1, 1),)), "1-D"),
    ((1, 5, 6, 5, 2), (4, 5, 4, 2, 2), _conv_attrs((1, 1, 1), ((0, 0), (0, 0), (0, 1))), "3-D"),
]  # fmt: skip


#: (input, output gradient, the forward convolution's strides and dilation): kernel gradients whose operands come
#: laid out as a kernel's VJP hands them over, views with the batch swapped for the channels, so the batch runs along
#: the memory; with one channel the rows are copied a row per position (along a window row), else transposed
KERNEL_VJP_OPERANDS = [
    ((5, 9, 8, 1), (5, 7, 6, 4), (1, 1), (1, 1), "one channel"),
    ((5, 9, 8, 3), (5, 3, 3, 4), (2, 2), (1, 1), "strides 2"),
    ((3, 10, 9, 2), (3, 6, 5, 4), (1, 1), (2, 2), "dilation 2"),
    ((4, 11, 3), (4, 4, 2), (2,), (1,), "1-D"),
    ((2, 5, 6, 4, 2), (2, 3, 4, 2, 3), (1, 1, 1), (1, 1, 1), "3-D"),
]  # fmt: skip


@pytest.fixture(params=["whole", "blocks of one"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's convolutions made whole (these workspaces are small) and a block of one item at a time: one
    example, one window row or one channel of a kernel's gradient."""
    if request.param == "blocks of one":
        monkeypatch.setattr(numpy_conv, "CONV_BLOCK_BYTES", 1)


def _close_to_reference(shapes: tuple[tuple[int, ...], tuple[int, ...]], attrs: dict[str, Any]) -> None:
    x, kernel = (rng.standard_normal(shape) for shape in shapes)
    expected = _conv_reference(x, kernel, **attrs)
    np.testing.assert_allclose(NumpyBackend.conv_general(x, kernel, **attrs), expected, rtol=1e-12, atol=1e-12)
    low = NumpyBackend.conv_general(x.astype(np.float32), kernel.astype(np.float32), **attrs)
    assert low.dtype == np.float32 and low.flags.c_contiguous
    np.testing.assert_allclose(low, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("x", "kernel", "attrs", "label"), DILATED_INPUT + WIDE_WINDOW)
def test_conv_general_matches_the_definition(
    x: tuple[int, ...], kernel: tuple[int, ...], attrs: dict[str, Any], label: str, blocks: None
) -> None:
    _close_to_reference((x, kernel), attrs)


#: forward convolutions (windows no larger than the output) in every form banded products must take
BANDED = [
    ((3, 9, 9, 2), (3, 3, 2, 5), _conv_attrs((1, 1), ((0, 0), (0, 0))), "2-D"),
    ((2, 10, 11, 3), (3, 2, 3, 4), _conv_attrs((2, 3), ((1, 2), (0, 1)), rhs_dilation=(2, 2)), "strides, dilation"),
    ((2, 10, 11, 3), (3, 2, 3, 4), _conv_attrs((1, 1), ((-1, 2), (0, -1)), rhs_dilation=(1, 2)), "cropped"),
    ((2, 7, 1), (3, 1, 4), _conv_attrs((2,), ((1, 1),)), "1-D"),
    ((2, 4, 5, 3, 2), (2, 2, 2, 2, 3), _conv_attrs((1, 2, 1), ((0, 1), (0, 0), (1, 0))), "3-D"),
]  # fmt: skip


@pytest.mark.parametrize(("x", "kernel", "attrs", "label"), BANDED)
@pytest.mark.parametrize("layout", ["contiguous", "channels not innermost in memory"])
def test_banded_products_match_the_definition(
    x: tuple[int, ...],
    kernel: tuple[int, ...],
    attrs: dict[str, Any],
    label: str,
    layout: str,
    blocks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Forced for every call: each image row times a banded matrix, in float64 and float32, whole and a block
    of one example at a time, also on an input whose channel axis is not the innermost in memory."""
    chosen: list[bool] = []
    monkeypatch.setattr(numpy_conv, "banded_is_cheaper", lambda im2col, banded: chosen.append(True) or True)
    x_value, kernel_value = rng.standard_normal(x), rng.standard_normal(kernel)
    if layout != "contiguous":
        x_value = np.ascontiguousarray(np.moveaxis(x_value, -1, 1)).transpose(0, *range(2, len(x)), 1)
    expected = _conv_reference(x_value, kernel_value, **attrs)
    np.testing.assert_allclose(
        NumpyBackend.conv_general(x_value, kernel_value, **attrs), expected, rtol=1e-12, atol=1e-12
    )
    low = NumpyBackend.conv_general(x_value.astype(np.float32), kernel_value.astype(np.float32), **attrs)
    assert low.dtype == np.float32 and low.flags.c_contiguous
    np.testing.assert_allclose(low, expected, rtol=1e-5, atol=1e-5)
    assert chosen == [True, True]


@pytest.mark.parametrize(
    ("x", "kernel", "strides", "banded"),
    [
        ((128, 28, 28, 1), (5, 5, 1, 6), (1, 1), True),  # the benchmark CNN's first layer: few filters, short rows
        ((128, 24, 24, 6), (5, 5, 6, 16), (2, 2), False),  # its second layer
        ((128, 28, 28, 1), (3, 3, 1, 32), (1, 1), False),  # a 3 x 3 window makes the band 9 times the window
        ((128, 32, 32, 3), (3, 3, 3, 32), (1, 1), False),
        ((128, 100, 16), (5, 16, 32), (1,), False),  # a long sequence: a row of 100 positions
    ],
)
def test_banded_products_are_chosen_where_their_estimate_is_cheaper(
    x: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...], banded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The estimate (elements copied and multiply-adds of each) picks what measures faster on these layers."""
    chosen: list[bool] = []
    estimate = numpy_conv.banded_is_cheaper
    monkeypatch.setattr(numpy_conv, "banded_is_cheaper", lambda *counts: chosen.append(estimate(*counts)) or False)
    NumpyBackend.conv_general(
        np.zeros(x, np.float32), np.zeros(kernel, np.float32), **_conv_attrs(strides, ((0, 0),) * len(strides))
    )
    assert chosen == [banded]


@pytest.mark.parametrize(
    ("x", "kernel", "attrs"),
    [
        ((5, 4, 3, 3), (5, 4, 3, 2), _conv_attrs((1, 1), ((4, 2), (2, 3)), lhs_dilation=(2, 3))),
        ((5, 3, 2, 4, 2), (2, 2, 3, 2, 3), _conv_attrs((1, 1, 1), ((1, 1), (1, 2), (2, 2)), lhs_dilation=(2, 1, 2))),
    ],
    ids=["2-D", "3-D"],
)
def test_uneven_blocks_of_a_transposed_convolution_reuse_the_workspace(
    x: tuple[int, ...], kernel: tuple[int, ...], attrs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of every size up to the whole batch, the last one smaller: each block's padded rows lie differently in
    the one workspace, so the zeros past its rows are written afresh."""
    x_value, kernel_value = rng.standard_normal(x), rng.standard_normal(kernel)
    expected = _conv_reference(x_value, kernel_value, **attrs)
    for block_bytes in (1 << bits for bits in range(8, 16)):
        monkeypatch.setattr(numpy_conv, "CONV_BLOCK_BYTES", block_bytes)
        out = NumpyBackend.conv_general(x_value, kernel_value, **attrs)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12, err_msg=f"blocks of {block_bytes} bytes")


@pytest.mark.parametrize(
    ("x", "kernel", "attrs"),
    [
        ((3, 9, 9, 2), (3, 3, 2, 5), _conv_attrs((1, 1), ((0, 0), (0, 0)))),
        ((2, 7, 1), (3, 1, 4), _conv_attrs((2,), ((1, 1),))),
        ((2, 4, 5, 3, 2), (2, 2, 2, 2, 3), _conv_attrs((1, 1, 1), ((0, 0), (0, 0), (0, 0)))),
        ((2, 40, 40, 3), (3, 3, 3, 8), _conv_attrs((1, 1), ((1, 1), (1, 1)))),  # rows of 40 x 8, not 40 x 40 x 8
    ],
    ids=["2-D", "1-D", "3-D", "folding stops at FOLDED_ROW_SIZE"],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv_bias_adds_one_bias_per_filter(
    x: tuple[int, ...], kernel: tuple[int, ...], attrs: dict[str, Any], dtype: str
) -> None:
    x_value, kernel_value = rng.standard_normal(x).astype(dtype), rng.standard_normal(kernel).astype(dtype)
    bias = rng.standard_normal(kernel[-1]).astype(dtype)
    expected = _conv_reference(x_value, kernel_value, **attrs) + bias
    got = NumpyBackend.conv_bias(x_value, kernel_value, bias, **attrs)
    assert got.dtype == np.dtype(dtype) and got.shape == expected.shape
    tolerance = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("x", "kernel", "attrs", "label"), [DILATED_INPUT[0], DILATED_INPUT[-2], WIDE_WINDOW[0]])
def test_an_empty_batch_gives_an_empty_output(
    x: tuple[int, ...], kernel: tuple[int, ...], attrs: dict[str, Any], label: str
) -> None:
    x_value, kernel_value = np.ones((0, *x[1:])), rng.standard_normal(kernel)
    bias = np.ones(kernel[-1])
    expected = _conv_reference(x_value, kernel_value, **attrs)
    assert NumpyBackend.conv_general(x_value, kernel_value, **attrs).shape == expected.shape
    assert NumpyBackend.conv_bias(x_value, kernel_value, bias, **attrs).shape == expected.shape


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(("stride", "window", "dilation"), [(2, 3, 1), (2, 4, 1), (3, 3, 1), (3, 2, 2)])
def test_transposed_convolution_as_keras_pads_it(
    padding: str, stride: int, window: int, dilation: int, blocks: None
) -> None:
    """``ops.conv_transpose``'s lowering: the input dilated by the strides, padded as Keras does."""
    pads = (transpose_padding(padding, window, stride, dilation, None),) * 2
    _close_to_reference(
        ((2, 5, 4, 3), (window, window, 3, 2)), _conv_attrs((1, 1), pads, (stride, stride), (dilation, dilation))
    )


def test_float16_adds_up_in_float32(blocks: None) -> None:
    x, kernel = rng.standard_normal((2, 6, 5, 8)), rng.standard_normal((3, 3, 8, 4))
    attrs = _conv_attrs((1, 1), ((2, 2), (1, 2)), lhs_dilation=(2, 2))
    out = NumpyBackend.conv_general(x.astype(np.float16), kernel.astype(np.float16), **attrs)
    exact = _conv_reference(x.astype(np.float16).astype(np.float64), kernel.astype(np.float16), **attrs)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out, exact, rtol=2e-3, atol=2e-3)


def test_input_gradient_never_makes_the_dilated_input() -> None:
    """conv2's input gradient in the benchmark CNN: the memory peak stays near the products and the output, far
    below the im2col of the zero-dilated gradient (3/4 zeros)."""
    g, kernel = rng.standard_normal((16, 10, 10, 16)), rng.standard_normal((5, 5, 16, 6))
    attrs = _conv_attrs((1, 1), ((4, 5), (4, 5)), lhs_dilation=(2, 2))
    tracemalloc.start()
    out = NumpyBackend.conv_general(g, kernel, **attrs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    products, dilated_rows = (g.size // 16) * (kernel.size // 16) * 8, out.size // 6 * 400 * 8
    assert peak < 2 * (products + out.nbytes) < dilated_rows / 4


@pytest.mark.parametrize(("x_shape", "g_shape", "strides", "dilation", "label"), KERNEL_VJP_OPERANDS)
def test_a_kernel_gradient_reads_its_operands_where_they_lie(
    x_shape: tuple[int, ...],
    g_shape: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
    label: str,
    blocks: None,
) -> None:
    x, g = rng.standard_normal(x_shape), rng.standard_normal(g_shape)
    lhs, rhs = np.moveaxis(x, (0, -1), (-1, 0)), np.moveaxis(g, 0, -2)  # views, as the VJP's transposes make them
    attrs = _conv_attrs(dilation, ((0, 0),) * len(strides), rhs_dilation=strides)
    expected = _conv_reference(lhs, rhs, **attrs)
    np.testing.assert_allclose(NumpyBackend.conv_general(lhs, rhs, **attrs), expected, rtol=1e-12, atol=1e-12)
    low = NumpyBackend.conv_general(lhs.astype(np.float32), rhs.astype(np.float32), **attrs)
    np.testing.assert_allclose(low, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("shape", "strides", "run"),
    [
        ((4, 5, 6), (120, 24, 4), 120),  # contiguous
        ((4, 5, 6), (240, 24, 4), 30),  # the rows of a strided slice
        ((4, 1, 6), (24, 999, 4), 24),  # a length-1 axis may have any stride
        ((4, 5, 6), (4, 16, 80), 1),  # transposed
    ],
)
def test_run_length_counts_the_elements_a_copy_reads_at_a_time(
    shape: tuple[int, ...], strides: tuple[int, ...], run: int
) -> None:
    assert numpy_conv._run_length(shape, strides, 4) == run


#: the benchmark CNN's convolutions at batch 256, float32: the forwards, its kernel gradient with contiguous
#: operands and with operands laid out as the kernel's VJP hands them over (transposed views; the first layer's too)
#: and its input gradient, with the blocks each may hold (the input gradient: its inputs, sums and products). Made
#: whole, each would hold 7.3 MiB of rows or products, and the input gradient its output twice and its input once
WORKSPACES = [
    ((256, 28, 28, 1), (5, 5, 1, 6), None, _conv_attrs((1, 1), ((0, 0), (0, 0))), 1),  # banded products
    ((256, 24, 24, 6), (5, 5, 6, 16), None, _conv_attrs((2, 2), ((0, 0), (0, 0))), 1),
    ((6, 23, 23, 256), (10, 10, 256, 16), None, _conv_attrs((1, 1), ((0, 0), (0, 0)), rhs_dilation=(2, 2)), 1),
    ((256, 23, 23, 6), (256, 10, 10, 16), "kernel VJP", _conv_attrs((1, 1), ((0, 0), (0, 0)), rhs_dilation=(2, 2)), 1),
    ((256, 28, 28, 1), (256, 24, 24, 6), "kernel VJP", _conv_attrs((1, 1), ((0, 0), (0, 0))), 1),
    ((256, 10, 10, 16), (5, 5, 16, 6), None, _conv_attrs((1, 1), ((4, 5), (4, 5)), lhs_dilation=(2, 2)), 3),
]  # fmt: skip


@pytest.mark.parametrize(("x_shape", "kernel_shape", "layout", "attrs", "blocks_held"), WORKSPACES)
def test_a_convolution_holds_its_output_and_a_few_blocks_whatever_the_batch(
    x_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    layout: str | None,
    attrs: dict[str, Any],
    blocks_held: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block = 1 << 20
    monkeypatch.setattr(numpy_conv, "CONV_BLOCK_BYTES", block)
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = rng.standard_normal(kernel_shape).astype(np.float32)
    if layout == "kernel VJP":
        x, kernel = np.moveaxis(x, (0, -1), (-1, 0)), np.moveaxis(kernel, 0, -2)
    tracemalloc.start()
    out = NumpyBackend.conv_general(x, kernel, **attrs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= out.nbytes + blocks_held * block + (128 << 10)  # and a few small arrays (a band: 80 KiB)
    np.testing.assert_allclose(out, _conv_reference(x, kernel, **attrs), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("shape", "window", "strides", "padding"),
    [
        ((2, 24, 24, 5), (2, 2), (2, 2), "valid"),
        ((2, 7, 8, 3), (3, 3), (2, 2), "same"),
        ((2, 7, 8, 3), (2, 3), (3, 1), "valid"),
        ((3, 9, 2), (4,), (3,), "same"),
        ((1, 5, 4, 6, 2), (2, 3, 2), (2, 1, 3), "same"),
        ((2, 4, 4, 1), (1, 1), (1, 1), "valid"),
    ],
)
def test_max_pool_is_the_maximum_of_each_window(
    shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...], padding: str
) -> None:
    x = rng.standard_normal(shape).astype(np.float32)
    pads = pool_padding(shape[1:-1], window, strides, padding)
    padded = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-np.inf)
    windows = sliding_window_view(padded, window, axis=tuple(range(1, x.ndim - 1)))
    expected = windows[(slice(None), *(slice(None, None, s) for s in strides))].max(axis=tuple(range(-len(window), 0)))
    np.testing.assert_array_equal(NumpyBackend.max_pool(x, window=window, strides=strides, padding=padding), expected)
