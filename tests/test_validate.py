"""One rule per argument: the same spelling is accepted, or refused, alike everywhere.

Sizes, strides, paddings and pooling modes go through :mod:`cnnlab._validate`; here
each spelling is given to explain (the library), the CLI's parsers and commands, and
data, ops (``conv2d_forward``, ``pool2d_forward``) and nn (layer constructors), and
every one of them must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import _validate, explain, limits
from cnnlab.cli._common import parse_image_size, run_cli
from cnnlab.cli.data import parse_image_size as data_cli_image_size
from cnnlab.cli.explain import app as explain_app
from cnnlab.data.images import normalize_image_size
from cnnlab.errors import ArgumentError

# --------------------------------------------------------------------------- image sizes

SIZE_OK = [
    ("64", (64, 64)),
    ("64x48", (64, 48)),
    ("64,48", (64, 48)),
    ("64 X 48", (64, 48)),
    (" 64 × 48 ", (64, 48)),
    (64, (64, 64)),
    (np.int64(64), (64, 64)),
    ((64, 48), (64, 48)),
    ([64, 48], (64, 48)),
]
SIZE_BAD = ["0", "64x0", "-1", "+64", "2.5", "", "abc", "64x", "6_4", 0, -3, True, 2.5, (64, 0)]


def _image_size_parsers(value):
    """Every parser of an image size that takes this kind of value."""
    parsers = [("data.normalize_image_size", normalize_image_size)]
    parsers.append(("explain.parse_size", lambda v: explain.parse_size(v)[:2]))
    if isinstance(value, str):
        parsers.append(("cli._common.parse_image_size", parse_image_size))
        parsers.append(("cli.data.parse_image_size", data_cli_image_size))
    return parsers


@pytest.mark.parametrize(("value", "expected"), SIZE_OK)
def test_image_size_spellings_are_accepted_everywhere(value, expected):
    for where, parse in _image_size_parsers(value):
        assert parse(value) == expected, where


@pytest.mark.parametrize("value", SIZE_BAD)
def test_bad_image_sizes_are_refused_everywhere(value):
    for where, parse in _image_size_parsers(value):
        with pytest.raises(ArgumentError, match="Received"):
            parse(value)
            pytest.fail(f"{where} accepted {value!r}")


@pytest.mark.parametrize("value", ["64x48x3", (64, 48, 3)])
def test_an_image_size_has_two_sides_but_a_calculator_input_may_have_channels(value):
    assert explain.parse_size(value) == (64, 48, 3)
    with pytest.raises(ArgumentError, match="N or HxW"):
        normalize_image_size(value)
    if isinstance(value, str):
        with pytest.raises(ArgumentError, match="N or HxW"):
            parse_image_size(value)


def test_the_image_side_limit_is_one_rule_for_data_and_the_cli():
    side = limits.MAX_IMAGE_SIDE
    assert normalize_image_size(side) == parse_image_size(str(side)) == (side, side)
    for bad in (side + 1, f"{side}x{side + 1}"):
        with pytest.raises(ArgumentError, match=f"at most {side} pixels"):
            normalize_image_size(bad)
        with pytest.raises(ArgumentError, match=f"at most {side} pixels"):
            parse_image_size(str(bad))


# --------------------------------------------------------------------------- strides


def _cli(capsys, *args):
    code = run_cli(explain_app, [str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


STRIDE_OK = [(2, (2, 2)), ((2, 1), (2, 1)), ("2", (2, 2)), ("2x1", (2, 1)), ("2, 1", (2, 1))]
STRIDE_BAD = [0, -1, (2, 0), (1, 2, 3), True, 2.5, "0", "2x0", "2x1x1", "-1", "two", ""]


@pytest.mark.parametrize(("value", "expected"), STRIDE_OK)
def test_stride_spellings_are_accepted_alike(value, expected, capsys):
    assert _validate.int_or_pair(value, "strides") == expected
    e = explain.explain_conv("9x9x1", 1, 3, strides=value)
    assert e.strides == expected
    assert explain.explain_pool("9x9x1", 3, strides=value).strides == expected
    if isinstance(value, str):
        code, out, _ = _cli(capsys, "conv", "--input", "9x9", "--stride", value, "--no-figure")
        assert code == 0
        assert f"strides {expected[0]}x{expected[1]}" in out


@pytest.mark.parametrize("value", STRIDE_BAD)
def test_bad_strides_are_refused_alike(value, capsys):
    with pytest.raises(ArgumentError, match="Received: strides="):
        explain.explain_conv("9x9x1", 1, 3, strides=value)
    with pytest.raises(ArgumentError, match="Received: strides="):
        explain.explain_pool("9x9x1", 3, strides=value)
    if isinstance(value, str):
        code, out, err = _cli(capsys, "conv", "--input", "9x9", "--stride", value, "--no-figure")
        assert code == 2 and out == ""
        assert "`stride` must look like 3x3 or 3" in err


# --------------------------------------------------------------------------- padding

PADDING_OK = [
    ("valid", "valid", ((0, 0), (0, 0))),
    (" SAME ", "same", ((1, 1), (1, 1))),
    ("2", 2, ((2, 2), (2, 2))),
    ("1x2", (1, 2), ((1, 1), (2, 2))),
    ("1,2", (1, 2), ((1, 1), (2, 2))),
    (2, 2, ((2, 2), (2, 2))),
    ((1, 2), (1, 2), ((1, 1), (2, 2))),
    (((0, 1), (1, 0)), ((0, 1), (1, 0)), ((0, 1), (1, 0))),
]
PADDING_BAD = ["full", "-1", "1x2x3", "", "1.5", -1, (1, -1), (1, 2, 3), ((0, 1), (1,)), True, 1.5]


@pytest.mark.parametrize(("value", "spec", "pads"), PADDING_OK)
def test_padding_spellings_are_accepted_alike(value, spec, pads, capsys):
    assert _validate.padding_spec(value) == explain.parse_padding(value) == spec
    assert explain.explain_conv("6x6x1", 1, 3, padding=value).pads == pads
    assert explain.explain_pool("6x6x1", 3, 1, padding=value).pads == pads
    if isinstance(value, str):
        code, out, _ = _cli(capsys, "conv", "--input", "6x6", "--padding", value, "--no-figure")
        n_h, n_w, _ = explain.explain_conv("6x6x1", 8, 3, padding=value).output_shape
        assert code == 0 and f"output {n_h}x{n_w}x8" in out


@pytest.mark.parametrize("value", PADDING_BAD)
def test_bad_paddings_are_refused_alike(value, capsys):
    with pytest.raises(ArgumentError, match=r"`padding` must be 'valid', 'same'"):
        explain.explain_conv("6x6x1", 1, 3, padding=value)
    with pytest.raises(ArgumentError, match=r"`padding` must be 'valid', 'same'"):
        explain.explain_pool("6x6x1", 3, padding=value)
    if isinstance(value, str):
        code, out, err = _cli(capsys, "conv", "--input", "6x6", "--padding", value, "--no-figure")
        assert code == 2 and out == ""
        assert "`padding` must be 'valid', 'same'" in err


# --------------------------------------------------------------------------- pooling modes


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("max", "max"), ("AVERAGE", "average"), ("avg", "average"), ("mean", "average")],
)
def test_pooling_mode_names_are_accepted_alike(mode, expected, capsys):
    from cnnlab.ops import pool2d_forward

    assert explain.explain_pool("4x4", 2, mode=mode).mode == expected
    code, out, _ = _cli(capsys, "pool", "--mode", mode, "--no-figure")
    assert code == 0 and f"Pooling ({expected})" in out
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    y, _ = pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)), mode=mode)
    y_ref, _ = pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)), mode=expected)
    np.testing.assert_array_equal(y, y_ref)


def test_an_unknown_pooling_mode_is_refused_alike(capsys):
    from cnnlab.ops import pool2d_forward

    with pytest.raises(ArgumentError, match="`mode` must be one of"):
        explain.explain_pool("4x4", 2, mode="min")
    code, _, err = _cli(capsys, "pool", "--mode", "min", "--no-figure")
    assert code == 2 and "Invalid value for '--mode'" in err and "'min'" in err  # Typer's usage
    with pytest.raises(ValueError, match="mode"):
        pool2d_forward(np.zeros((1, 4, 4, 1)), (2, 2), (2, 2), ((0, 0), (0, 0)), mode="min")


# --------------------------------------------------------------------------- positive ints


@pytest.mark.parametrize("value", [0, -1, True, 1.0, "3", None])
def test_positive_int_refuses_with_the_argument_named(value):
    with pytest.raises(
        ArgumentError, match=r"`filters` must be a positive int. Received: filters="
    ):
        _validate.positive_int(value, "filters")
    with pytest.raises(ArgumentError, match=r"`filters` must be a positive int"):
        explain.explain_conv("6x6x1", value)


def test_positive_int_accepts_numpy_ints():
    assert _validate.positive_int(np.int32(3), "filters") == 3
    assert type(_validate.positive_int(np.int32(3), "filters")) is int


# --------------------------------------------------------------------------- docstrings


@pytest.mark.parametrize(
    "module",
    [
        "cnnlab._validate",
        "cnnlab.explain.calculators",
        "cnnlab.explain",
        "cnnlab.data.augment",
        "cnnlab.data.faces",
    ],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, module


# --------------------------------------------------------------------------- ops and nn

_X9 = np.arange(81, dtype=np.float64).reshape(1, 9, 9, 1)
_W3 = np.ones((3, 3, 1, 1))


@pytest.mark.parametrize(("value", "expected"), STRIDE_OK)
def test_ops_and_nn_read_strides_and_sizes_like_explain(value, expected):
    from cnnlab import nn
    from cnnlab.ops import conv2d_forward, pool2d_forward

    e = explain.explain_conv("9x9x1", 1, 3, strides=value)
    y, _ = conv2d_forward(_X9, _W3, stride=value)
    assert y.shape[1:] == e.output_shape
    y_ref, _ = conv2d_forward(_X9, _W3, stride=expected)
    np.testing.assert_array_equal(y, y_ref)
    p = explain.explain_pool("9x9x1", 3, strides=value)
    y, _ = pool2d_forward(_X9, 3, stride=value)
    assert y.shape[1:] == p.output_shape
    y, _ = pool2d_forward(_X9, value)  # the same spelling as a pool size
    assert y.shape[1:3] == explain.explain_pool("9x9x1", value).output_shape[:2]
    assert nn.Conv2D(1, value, strides=value).strides == expected
    assert nn.Conv2D(1, value).kernel_size == expected
    assert nn.MaxPooling2D(value, strides=value).pool_size == expected
    assert nn.MaxPooling2D(3, strides=value).strides == expected


@pytest.mark.parametrize("value", STRIDE_BAD)
def test_ops_and_nn_refuse_bad_strides_like_explain(value):
    from cnnlab import nn
    from cnnlab.ops import conv2d_forward, pool2d_forward

    with pytest.raises(ArgumentError, match="Received: stride="):
        conv2d_forward(_X9, _W3, stride=value)
    with pytest.raises(ArgumentError, match="Received: stride="):
        pool2d_forward(_X9, 3, stride=value)
    with pytest.raises(ArgumentError, match="Received: strides="):
        nn.Conv2D(1, 3, strides=value)
    with pytest.raises(ArgumentError, match="Received: strides="):
        nn.MaxPooling2D(3, strides=value)
    with pytest.raises(ArgumentError, match="Received: kernel_size="):
        nn.Conv2D(1, value)
    with pytest.raises(ArgumentError, match="Received: pool_size="):
        nn.MaxPooling2D(value)


_X6 = np.arange(36, dtype=np.float64).reshape(1, 6, 6, 1)


@pytest.mark.parametrize(("value", "spec", "pads"), PADDING_OK)
def test_ops_and_nn_read_paddings_like_explain(value, spec, pads):
    from cnnlab import nn
    from cnnlab.ops import conv2d_forward, pool2d_forward, resolve_padding

    assert resolve_padding(value, (3, 3), (1, 1), (6, 6)) == pads
    y, cache = conv2d_forward(_X6, _W3, padding=value)
    assert y.shape[1:] == explain.explain_conv("6x6x1", 1, 3, padding=value).output_shape
    y, cache = pool2d_forward(_X6, 3, stride=1, padding=value)
    assert y.shape[1:] == explain.explain_pool("6x6x1", 3, 1, padding=value).output_shape
    if isinstance(spec, str):  # Keras's layers take the words; ZeroPadding2D takes amounts
        assert nn.Conv2D(1, 3, padding=value).padding == spec
        assert nn.MaxPooling2D(3, padding=value).padding == spec
        with pytest.raises(ArgumentError, match="Received: padding="):
            nn.ZeroPadding2D(value)
    else:
        assert nn.ZeroPadding2D(value).padding == pads
        with pytest.raises(ArgumentError, match="Received: padding="):
            nn.Conv2D(1, 3, padding=value)


@pytest.mark.parametrize("value", PADDING_BAD)
def test_ops_and_nn_refuse_bad_paddings_like_explain(value):
    from cnnlab import nn
    from cnnlab.ops import conv2d_forward, pool2d_forward

    with pytest.raises(ArgumentError, match=r"`padding` must be 'valid', 'same'"):
        conv2d_forward(_X6, _W3, padding=value)
    with pytest.raises(ArgumentError, match=r"`padding` must be 'valid', 'same'"):
        pool2d_forward(_X6, 3, padding=value)
    for make in (
        lambda: nn.Conv2D(1, 3, padding=value),
        lambda: nn.MaxPooling2D(3, padding=value),
        lambda: nn.ZeroPadding2D(value),
    ):
        with pytest.raises(ArgumentError, match="Received: padding="):
            make()


@pytest.mark.parametrize("value", [0, -1, True, 1.0, "3", None])
def test_nn_and_ops_refuse_counts_like_explain(value):
    from cnnlab import nn, ops

    for make in (lambda: nn.Conv2D(value, 3), lambda: explain.explain_conv("6x6x1", value)):
        with pytest.raises(ArgumentError, match=r"`filters` must be a positive int"):
            make()
    with pytest.raises(ArgumentError, match=r"`units` must be a positive int"):
        nn.Dense(value)
    before = ops.get_num_threads()
    try:
        with pytest.raises(ArgumentError, match=r"`n` must be a positive int"):
            ops.set_num_threads(value)
    finally:
        ops.set_num_threads(before)
    assert ops.get_num_threads() == before
