"""The explain calculators against hand-worked examples, and the figures as real images."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab import explain
from cnnlab.explain import (
    DEFAULT_SIZE,
    conv_animation,
    conv_figure,
    explain_conv,
    explain_layers,
    explain_params,
    explain_pool,
    figures,
    format_bytes,
    params_figure,
    parse_padding,
    parse_size,
    pool_animation,
    pool_figure,
)

# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6x6x3", (6, 6, 3)),
        ("6x6", (6, 6, 1)),
        ("6", (6, 6, 1)),
        ("64 x 32 x 3", (64, 32, 3)),
        ("1000X1000X3", (1000, 1000, 3)),
        (5, (5, 5, 1)),
        ((4, 5, 2), (4, 5, 2)),
    ],
)
def test_parse_size_accepts_the_documented_forms(text, expected):
    assert parse_size(text) == expected


def test_parse_size_for_windows():
    assert parse_size("3", "kernel", ndim=2) == (3, 3)
    assert parse_size("3x2", "kernel", ndim=2) == (3, 2)
    with pytest.raises(ValueError, match=r"`kernel` must look like 3x3 or 3.*'3x3x3'"):
        parse_size("3x3x3", "kernel", ndim=2)


@pytest.mark.parametrize("bad", ["6x0x3", "", "abc", "6x6x3x2", "-1", "6x6x", "2.5", 0, True])
def test_parse_size_rejects_bad_sizes_naming_the_argument(bad):
    with pytest.raises(ValueError, match=r"`input` must look like 6x6x3, 6x6 or 6.*Received"):
        parse_size(bad)


def test_parse_padding():
    assert parse_padding("valid") == "valid"
    assert parse_padding(" SAME ") == "same"
    assert parse_padding("2") == 2
    assert parse_padding("1x2") == (1, 2)
    with pytest.raises(ValueError, match=r"`padding` must be 'valid', 'same'.*'full'"):
        parse_padding("full")


def test_format_bytes():
    assert format_bytes(1120) == "1,120 bytes"
    assert format_bytes(12_000_004_000) == "12.00 GB (11.18 GiB)"
    assert format_bytes(49_156_000) == "49.16 MB (46.88 MiB)"


# --------------------------------------------------------------------------- convolution


def test_conv_valid_worked_by_hand():
    # 6x6x3 input, 8 filters of 3x3x3, stride 1, no padding:
    # n_H = floor((6 + 0 - 3) / 1) + 1 = 4; params (3*3*3 + 1) * 8 = 224;
    # multiply-adds 4 * 4 * 8 * 27 = 3,456.
    e = explain_conv("6x6x3", filters=8, kernel_size=3, strides=1, padding="valid")
    assert e.output_shape == (4, 4, 8)
    assert e.pads == ((0, 0), (0, 0))
    assert (e.weights, e.biases, e.params) == (216, 8, 224)
    assert e.mult_adds == 3456
    text = str(e)
    assert "floor((6 + 2*0 - 3) / 1) + 1 = floor(3 / 1) + 1 = 3 + 1 = 4" in text
    assert "(3 * 3 * 3 + 1) * 8 = 224" in text
    assert "4 * 4 * 8 * (3 * 3 * 3) = 3,456" in text
    assert "output 4x4x8" in text


def test_conv_course_example_with_pad_and_stride():
    # The course: n = 5, f = 3, p = 1, s = 2 -> floor((5 + 2 - 3) / 2) + 1 = 3.
    e = explain_conv((5, 5, 1), filters=1, kernel_size=3, strides=2, padding=1)
    assert e.output_shape == (3, 3, 1)
    assert e.padded_shape == (7, 7)
    assert "floor((5 + 2*1 - 3) / 2) + 1 = floor(4 / 2) + 1 = 2 + 1 = 3" in str(e)
    assert e.params == 10
    assert e.mult_adds == 3 * 3 * 1 * 9


def test_conv_same_with_asymmetric_pads_shows_before_plus_after():
    # TensorFlow 'same', n = 6, f = 3, s = 2: out = ceil(6 / 2) = 3, total pad
    # (3 - 1) * 2 + 3 - 6 = 1 -> 0 before, 1 after.
    e = explain_conv("6x6x3", filters=8, kernel_size=3, strides=2, padding="same")
    assert e.pads == ((0, 1), (0, 1))
    assert e.output_shape == (3, 3, 8)
    text = str(e)
    assert "p_before + p_after" in text
    assert "floor((6 + 0+1 - 3) / 2) + 1 = floor(4 / 2) + 1 = 2 + 1 = 3" in text
    assert "top 0, bottom 1, left 0, right 1" in text


def test_conv_same_even_kernel_pads_one_before_two_after():
    e = explain_conv("64x64x3", filters=8, kernel_size=4, padding="same")
    assert e.pads == ((1, 2), (1, 2))
    assert e.output_shape == (64, 64, 8)
    assert e.params == (4 * 4 * 3 + 1) * 8 == 392


def test_conv_rectangular_kernel_and_no_bias():
    e = explain_conv((7, 9, 2), filters=4, kernel_size=(3, 1), strides=(2, 3), use_bias=False)
    # n_H = floor((7 - 3) / 2) + 1 = 3; n_W = floor((9 - 1) / 3) + 1 = 3
    assert e.output_shape == (3, 3, 4)
    assert e.params == 3 * 1 * 2 * 4 == 24
    assert "f_H * f_W * n_C_prev) * n_C" in e.params_formula()


def test_conv_notes_rows_the_stride_never_reaches():
    # n = 6, f = 3, s = 2, valid: floor(3 / 2) + 1 = 2; windows cover rows 0..4, row 5 unused.
    e = explain_conv("6x6x1", kernel_size=3, strides=2)
    assert e.output_shape[:2] == (2, 2)
    assert e.axes[0].uncovered == 1
    assert "(the last padded row is never reached)" in str(e)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": 0}, r"`filters` must be a positive int. Received: filters=0"),
        ({"strides": 0}, r"`strides` must be positive. Received: strides=0"),
        ({"kernel_size": 7}, r"window \(7\) is larger than the padded input"),
        ({"padding": "full"}, r"`padding` must be 'valid', 'same'"),
        ({"padding": -1}, r"padding"),
    ],
)
def test_conv_rejects_bad_arguments(kwargs, message):
    args = {"input_shape": "5x5x3", "filters": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        explain_conv(**args)


# --------------------------------------------------------------------------- pooling


def test_pool_worked_by_hand():
    e = explain_pool("4x4x3", pool_size=2)
    assert e.strides == (2, 2)  # Keras's default: the pool size
    assert e.output_shape == (2, 2, 3)
    assert e.params == 0
    assert e.window_reads == 2 * 2 * 3 * 4
    text = str(e)
    assert "floor((4 + 2*0 - 2) / 2) + 1 = floor(2 / 2) + 1 = 1 + 1 = 2" in text
    assert "Parameters: 0" in text


def test_pool_same_overlapping():
    # n = 5, f = 3, s = 1, 'same': total pad 2 -> 1 and 1; output 5.
    e = explain_pool("5x5", pool_size=3, strides=1, padding="same", mode="average")
    assert e.pads == ((1, 1), (1, 1))
    assert e.output_shape == (5, 5, 1)
    assert "padded cells are ignored" in str(e)


def test_pool_course_example():
    # The course: 5x5 input, f = 3, s = 1 -> 3x3 (no padding).
    assert explain_pool("5x5x3", pool_size=3, strides=1).output_shape == (3, 3, 3)


def test_pool_rejects_bad_mode_and_size():
    with pytest.raises(ValueError, match=r"`mode` must be one of .*Received: mode='min'"):
        explain_pool("4x4", mode="min")
    with pytest.raises(ValueError, match=r"`pool_size` must be positive"):
        explain_pool("4x4", pool_size=0)


# --------------------------------------------------------------------------- dense vs conv


def test_dense_on_a_megapixel_image_has_three_billion_parameters():
    c = explain_params("1000x1000x3", dense_units=1000)
    assert c.features == 3_000_000
    assert c.dense_weights == 3_000_000_000
    assert c.dense_params == 3_000_001_000
    assert c.dense_bytes == 12_000_004_000
    # The course's 10 filters of 3x3x3: (27 + 1) * 10 = 280, whatever the image size.
    assert c.conv.params == 280
    assert c.conv_bytes == 1120
    assert c.conv.output_shape == (1000, 1000, 10)
    text = str(c)
    assert "3,000,001,000 parameters" in text
    assert "12.00 GB (11.18 GiB)" in text
    assert "(3 * 3 * 3 + 1) * 10 = 280" in text


def test_dense_on_a_small_image():
    c = explain_params("64x64x3", dense_units=1000)
    assert c.features == 12_288
    assert c.dense_params == 12_289_000
    assert c.conv.params == 280
    assert "12,288 input features" in str(c)
    assert c.ratio == pytest.approx(12_289_000 / 280)


def test_params_rejects_bad_units():
    with pytest.raises(ValueError, match=r"`dense_units` must be a positive int"):
        explain_params("64x64x3", dense_units=0)


# --------------------------------------------------------------------------- layer tables


def test_explain_layers_chain_worked_by_hand():
    m = explain_layers(
        [
            ("pad", "ZeroPadding2D", {"padding": ((1, 1), (2, 2))}),
            (
                "conv",
                "Conv2D",
                {"filters": 4, "kernel_size": (3, 3), "strides": (1, 1), "padding": "valid"},
            ),
            ("bn", "BatchNormalization", {}),
            ("relu", "ReLU", {}),
            ("pool", "MaxPooling2D", {"pool_size": (2, 2), "strides": None, "padding": "valid"}),
            ("flat", "Flatten", {}),
            ("out", "Dense", {"units": 5, "activation": "softmax"}),
        ],
        (6, 6, 3),
    )
    shapes = [r.output_shape for r in m.rows]
    # pad: 8x10x3; conv: 6x8x4; pool: 3x4x4; flatten 48; dense 5
    assert shapes == [(8, 10, 3), (6, 8, 4), (6, 8, 4), (6, 8, 4), (3, 4, 4), (48,), (5,)]
    assert [r.params for r in m.rows] == [0, (27 + 1) * 4, 16, 0, 0, 0, 49 * 5]
    assert m.trainable == 112 + 8 + 245
    assert m.params == 112 + 16 + 245
    assert "Total params: 373" in str(m)


def test_explain_layers_rejects_unknown_layers():
    with pytest.raises(ValueError, match=r"cannot explain layer 'x': type LSTM"):
        explain_layers([("x", "LSTM", {})], (4, 4, 1))


def test_course_models_match_keras_layer_by_layer():
    keras = pytest.importorskip("keras")
    from cnnlab import keras_models

    models = (
        keras_models.happy_model(),
        keras_models.signs_model(),
        keras_models.signs_recommended_model((32, 32, 1), 10),  # with augmentation layers
    )
    for model in models:
        e = explain.explain_keras_model(model)
        layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        assert len(e.rows) == len(layers)
        for row, layer in zip(e.rows, layers, strict=True):
            assert row.note != "(from Keras)", row
            assert row.output_shape == tuple(layer.output.shape[1:]), (model.name, row)
            assert row.params == layer.count_params(), (model.name, row)
        assert e.params == model.count_params()
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert e.trainable == trainable

    # A functional graph with a skip connection and a concatenation.
    inp = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same")(inp)
    b = keras.layers.Conv2D(4, 1)(a)
    s = keras.layers.Add()([a, b])
    c = keras.layers.Concatenate()([s, inp])
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(c))
    model = keras.Model(inp, out)
    e = explain.explain_keras_model(model)
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    for row, layer in zip(e.rows, layers, strict=True):
        assert row.output_shape == tuple(layer.output.shape[1:]), row
        assert row.params == layer.count_params(), row
    assert e.rows[3].output_shape == (8, 8, 7)


def test_numpy_engine_models_match_their_own_layers():
    from cnnlab import nn

    happy = nn.Sequential(
        [
            nn.Input(shape=(64, 64, 3)),
            nn.ZeroPadding2D(3),
            nn.Conv2D(32, 7),
            nn.BatchNormalization(axis=3),
            nn.ReLU(),
            nn.MaxPool2D(),
            nn.Flatten(),
            nn.Dense(1, activation="sigmoid"),
        ],
        seed=0,
    )
    signs = nn.Sequential(
        [
            nn.Input(shape=(64, 64, 3)),
            nn.Conv2D(8, 4, padding="same"),
            nn.ReLU(),
            nn.MaxPool2D(8, strides=8, padding="same"),
            nn.Conv2D(16, 2, padding="same", use_bias=False),
            nn.ReLU(),
            nn.AveragePooling2D(4, strides=4, padding="same"),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Dense(6, activation="softmax"),
        ],
        seed=0,
    )
    for model in (happy, signs):
        e = explain.explain_model(model)
        assert len(e.rows) == len(model.layers)
        for row, layer in zip(e.rows, model.layers, strict=True):
            assert row.output_shape == tuple(layer.output_shape[1:]), (model.name, row)
            assert row.params == layer.count_params(), (model.name, row)
        assert e.params == model.count_params()
    unbuilt = nn.Sequential([nn.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"is not built"):
        explain.explain_model(unbuilt)


def test_explain_model_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match=r"'happy', 'signs' or a training run.*'sad'"):
        explain.explain_model("sad")
    with pytest.raises(ValueError, match=r"input_shape applies to 'happy' and 'signs' only"):
        explain.explain_model(tmp_path, input_shape=(8, 8, 1))


# --------------------------------------------------------------------------- figures


def _correlate(xp, w, stride):
    """Cross-correlation by hand (the deep-learning 'convolution'), one channel."""
    fh, fw = w.shape
    oh = (xp.shape[0] - fh) // stride[0] + 1
    ow = (xp.shape[1] - fw) // stride[1] + 1
    out = np.empty((oh, ow))
    for r in range(oh):
        for c in range(ow):
            i, j = r * stride[0], c * stride[1]
            out[r, c] = np.sum(xp[i : i + fh, j : j + fw] * w)
    return out


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding"),
    [("6x6", 3, 1, "valid"), ("7x7", 3, 2, "valid"), ("5x5", 3, 2, 1), ("6x6", 3, 2, "same"),
     ("6x7", (2, 3), (1, 2), "same")],
)  # fmt: skip
def test_pictured_convolution_numbers_are_right(shape, kernel, stride, padding):
    e = explain_conv(shape, kernel_size=kernel, strides=stride, padding=padding)
    x, w, y = explain.conv_example(e, seed=3)
    assert x.shape == e.input_shape[:2] and w.shape == e.kernel_size
    assert x.std() > 0 and np.abs(w).sum() > 0
    if e.kernel_size == (3, 3):
        np.testing.assert_array_equal(w, [[1, 0, -1]] * 3)  # the course's vertical edges
    xp = np.pad(x, e.pads)
    np.testing.assert_allclose(y, _correlate(xp, w, e.strides))
    assert y.shape == e.output_shape[:2]


def test_pictured_convolution_matches_the_course_loops():
    from cnnlab.ops.reference import conv_forward

    e = explain_conv("7x7", kernel_size=3, strides=2, padding=1)
    x, w, y = explain.conv_example(e)
    z, _ = conv_forward(x[None, :, :, None], w[:, :, None, None], np.zeros((1, 1, 1, 1)),
                        {"pad": 1, "stride": 2})  # fmt: skip
    np.testing.assert_allclose(y, z[0, :, :, 0])


def test_pictured_pooling_numbers_are_right():
    e = explain_pool("5x5", 3, strides=1, padding="same", mode="both")
    x, out = explain.pool_example(e, seed=1)
    xp = np.pad(x, e.pads, constant_values=np.nan)
    for r in range(5):
        for c in range(5):
            window = xp[r : r + 3, c : c + 3]
            assert out["max"][r, c] == np.nanmax(window)
            assert out["average"][r, c] == pytest.approx(np.nanmean(window))
    x, out = explain.pool_example(explain_pool("4x4", 2, mode="max"))
    assert list(out) == ["max"]
    np.testing.assert_array_equal(out["max"], x.reshape(2, 2, 2, 2).max(axis=(1, 3)))


def _check_image(path, size=DEFAULT_SIZE):
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG"
        assert img.size == tuple(size)
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    assert rgb.std() > 20, "the picture is nearly blank"
    packed = rgb.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    assert len(np.unique(packed)) > 20, "the picture has too few colours to show anything"
    return rgb


def _has_color(rgb, hex_color, tol=30):
    target = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)
    return int((np.abs(rgb - target).max(axis=-1) < tol).sum())


def test_conv_figure_is_a_real_picture(tmp_path):
    e = explain_conv("5x5x3", filters=2, kernel_size=3, strides=2, padding=1)
    path = conv_figure(e, tmp_path / "conv.png")
    assert path == tmp_path / "conv.png"
    rgb = _check_image(path)
    # the window outline and the padding are drawn
    assert _has_color(rgb, figures.HIGHLIGHT_COLOR) > 200
    assert _has_color(rgb, figures.PAD_COLOR, tol=6) > 2000


def test_conv_figure_depends_on_padding(tmp_path):
    valid = _check_image(conv_figure(explain_conv("5x5", kernel_size=3), tmp_path / "v.png"))
    same = _check_image(
        conv_figure(explain_conv("5x5", kernel_size=3, padding="same"), tmp_path / "s.png")
    )
    assert _has_color(valid, figures.PAD_COLOR, tol=6) < _has_color(same, figures.PAD_COLOR, tol=6)


def test_conv_figure_handles_large_inputs_and_custom_size(tmp_path):
    e = explain_conv("64x64x3", filters=8, kernel_size=4, padding="same")
    _check_image(conv_figure(e, tmp_path / "big.png", size=(640, 360)), size=(640, 360))


def test_conv_animation_has_one_frame_per_position(tmp_path):
    e = explain_conv("5x5", kernel_size=3, strides=2)  # 2x2 = 4 positions
    path = conv_animation(e, tmp_path / "conv.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.size == DEFAULT_SIZE
        assert gif.n_frames == 4
        frames = []
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    for a, b in zip(frames, frames[1:], strict=False):
        assert np.abs(a - b).sum() > 0, "consecutive frames are identical"


def test_conv_animation_caps_frames(tmp_path):
    e = explain_conv("6x6", kernel_size=3)  # 16 positions
    with Image.open(conv_animation(e, tmp_path / "c.gif", max_frames=5)) as gif:
        assert gif.n_frames == 5
    with pytest.raises(ValueError, match=r"`max_frames` must be an int >= 2"):
        conv_animation(e, tmp_path / "c.gif", max_frames=1)


def test_pool_figures(tmp_path):
    tiled = _check_image(pool_figure(explain_pool("4x4", 2, mode="both"), tmp_path / "p.png"))
    # the window colours are shared by input and outputs
    assert _has_color(tiled, figures.WINDOW_COLORS[0], tol=4) > 1000
    _check_image(
        pool_figure(
            explain_pool("5x5", 3, strides=1, padding="same", mode="max"), tmp_path / "q.png"
        )
    )
    with Image.open(pool_animation(explain_pool("4x4", 2), tmp_path / "p.gif")) as gif:
        assert gif.n_frames == 4


def test_params_figure(tmp_path):
    comparisons = [explain_params("1000x1000x3"), explain_params("64x64x3")]
    _check_image(params_figure(comparisons, tmp_path / "params.png"))
    with pytest.raises(ValueError, match=r"at least one"):
        params_figure([], tmp_path / "none.png")


def test_model_figure(tmp_path):
    m = explain_layers(
        [
            ("c", "Conv2D", {"filters": 4, "kernel_size": (3, 3), "strides": (1, 1),
                             "padding": "same"}),
            ("p", "MaxPooling2D", {"pool_size": (2, 2), "strides": None, "padding": "valid"}),
            ("f", "Flatten", {}),
            ("d", "Dense", {"units": 3}),
        ],
        (16, 16, 1),
    )  # fmt: skip
    _check_image(explain.model_figure(m, tmp_path / "m.png"))


def test_bad_size_leaves_the_existing_file_alone(tmp_path):
    path = tmp_path / "conv.png"
    path.write_bytes(b"keep me")
    with pytest.raises(ValueError, match=r"`size` must be at least 200x150 pixels"):
        conv_figure(explain_conv("5x5"), path, size=(50, 50))
    assert path.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.png"]


# --------------------------------------------------------------------------- docs

DOCS = Path(__file__).resolve().parents[2] / "docs"


STUDIO_SHOT = "studio-"
"""docs/figures/studio-*.png are screenshots of the studio, taken by tests/studio/test_browser.py
(CNNLAB_STUDIO_SCREENSHOTS=docs/figures), not drawn by docs/make_figures.py."""


def test_docs_figures_exist_are_small_and_are_all_used():
    pages = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    expected = {
        "index.md",
        "convolution.md",
        "padding.md",
        "stride.md",
        "pooling.md",
        "filters-and-channels.md",
        "parameters.md",
        "sequential-vs-functional.md",
    }
    assert expected <= set(pages)
    used = {m for text in pages.values() for m in re.findall(r"\(figures/([\w.-]+\.png)\)", text)}
    made = {p.name for p in (DOCS / "figures").glob("*.png")}
    assert used, "the docs embed no figures"
    assert used <= made, f"missing figures: {used - made}"
    assert made <= used, f"figures no page uses: {made - used}"
    for name in made:
        path = DOCS / "figures" / name
        assert path.stat().st_size < 150_000, name
        if name.startswith(STUDIO_SHOT):  # a browser screenshot: its own size
            with Image.open(path) as img:
                assert img.format == "PNG" and min(img.size) >= 600, name
            continue
        _check_image(path)
    for name in expected - {"index.md"}:  # the concept pages (not the reference pages)
        assert "(figures/" in pages[name], f"{name} embeds no figure"


def test_make_figures_script_names_every_docs_figure():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    named = {*module.CONV, *module.POOL, "params.png", "model-happy.png", "model-signs.png"}
    named.add(module.INTERPRET)
    named.add(module.SHIFT)
    drawn = {p.name for p in (DOCS / "figures").glob("*.png") if not p.name.startswith(STUDIO_SHOT)}
    assert named == drawn
