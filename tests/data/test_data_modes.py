"""Pixel modes and formats: every mode Pillow reads is scaled to 8 bits, against known values;
GIF, TIFF and WebP are read; unsupported, empty, corrupt and missing files are told apart."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from _data_helpers import make_class_folders
from PIL import Image

from cnnlab.data import DatasetError, decode_image, load_folder_arrays
from cnnlab.data.images import IMAGE_SUFFIXES, SUPPORTED_FORMATS

pytestmark = pytest.mark.usefixtures("own_cache")

GRAY = np.array([[0, 257, 30000], [32768, 65280, 65535]], dtype=np.uint16)
GRAY_8 = np.array([[0, 1, 117], [128, 254, 255]], dtype=np.uint8)  # round(v / 257)


@pytest.mark.parametrize(
    ("mode", "ext", "array"),
    [
        ("I;16", "png", GRAY),
        ("I;16B", "tif", GRAY.astype(">u2")),
        ("I;16", "tif", GRAY),
        ("I", "tif", GRAY.astype(np.int32)),
    ],
)
def test_16_bit_gray_is_scaled_not_clipped_to_white(tmp_path, mode, ext, array):
    path = tmp_path / f"g.{ext}"
    Image.fromarray(array).save(path)
    assert Image.open(path).mode == mode
    gray = decode_image(path, None, grayscale=True)
    np.testing.assert_array_equal(gray[:, :, 0], GRAY_8)
    rgb = decode_image(path, None)
    np.testing.assert_array_equal(rgb, np.repeat(GRAY_8[:, :, None], 3, axis=2))
    small = decode_image(path, (1, 1), grayscale=True)  # resized after scaling: mid-gray
    assert 60 <= int(small[0, 0, 0]) <= 200


def _png16_rgb(path, rgb: np.ndarray) -> None:
    """A 48-bit RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_16_bit_rgb_png(tmp_path):
    path = tmp_path / "rgb48.png"
    _png16_rgb(path, np.array([[[65535, 30000, 0], [0, 32768, 65535]]], dtype=np.uint16))
    out = decode_image(path, None).astype(int)
    expected = np.array([[[255, 117, 0], [0, 128, 255]]])
    assert np.abs(out - expected).max() <= 1  # Pillow keeps the high byte: within 1


def test_float_images_scaled_and_non_finite_refused(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(path)
    assert decode_image(path, None, grayscale=True)[0, :, 0].tolist() == [0, 128, 255]
    Image.fromarray(np.array([[0.0, 100.0, 255.0]], dtype=np.float32)).save(path)
    assert decode_image(path, None, grayscale=True)[0, :, 0].tolist() == [0, 100, 255]
    Image.fromarray(np.array([[0.0, np.nan, np.inf]], dtype=np.float32)).save(path)
    with pytest.raises(DatasetError, match="2 pixels are NaN or infinite") as info:
        decode_image(path, None)
    assert str(path) in str(info.value)
    Image.fromarray(np.array([[0.0, 4000.0]], dtype=np.float32)).save(path)
    with pytest.raises(DatasetError, match="0..1 or 0..255; got 0..4000"):
        decode_image(path, None)


def test_32_bit_values_beyond_16_bits_are_refused(tmp_path):
    path = tmp_path / "i.tif"
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(path)
    with pytest.raises(DatasetError, match="0..65535"):
        decode_image(path, None)


def test_one_bit_palette_transparency_la_cmyk_lab(tmp_path):
    one = tmp_path / "one.png"
    Image.fromarray(np.array([[True, False]])).save(one)
    assert Image.open(one).mode == "1"
    assert decode_image(one, None, grayscale=True)[0, :, 0].tolist() == [255, 0]

    pal = tmp_path / "pal.png"
    p = Image.new("P", (2, 1))
    p.putpalette([0, 0, 0, 200, 100, 50, 10, 20, 30] + [0] * 759)
    p.putpixel((0, 0), 1)
    p.putpixel((1, 0), 2)
    p.save(pal, transparency=2)  # palette index 2 transparent: black
    assert decode_image(pal, None)[0].tolist() == [[200, 100, 50], [0, 0, 0]]

    la = tmp_path / "la.png"
    Image.fromarray(np.array([[[200, 255], [200, 0]]], dtype=np.uint8), "LA").save(la)
    assert decode_image(la, None, grayscale=True)[0, :, 0].tolist() == [200, 0]

    cmyk = tmp_path / "cmyk.tif"
    c = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    c.putpixel((1, 0), (255, 0, 0, 0))  # full cyan
    c.save(cmyk)
    assert decode_image(cmyk, None)[0].tolist() == [[255, 255, 255], [0, 255, 255]]

    lab = tmp_path / "lab.tif"
    Image.new("LAB", (1, 1), (255, 128, 128)).save(lab)  # L* = 100, neutral: white
    assert decode_image(lab, None)[0, 0].min() >= 250


def test_tiff_webp_and_animated_gif_are_read(tmp_path):
    arr = np.zeros((6, 8, 3), dtype=np.uint8)
    arr[:, :, 0] = 220
    Image.fromarray(arr).save(tmp_path / "a.tif")
    Image.fromarray(arr).save(tmp_path / "a.webp", lossless=True)
    frames = [Image.new("RGB", (8, 6), c) for c in ((220, 0, 0), (0, 220, 0), (0, 0, 220))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(tmp_path / "anim.gif").n_frames == 3
    for name in ("a.tif", "a.webp", "anim.gif"):
        out = decode_image(tmp_path / name, None)
        assert out.shape == (6, 8, 3)
        assert np.abs(out.astype(int) - [220, 0, 0]).max() <= 3, name  # the first frame


def test_class_folders_read_every_supported_suffix(tmp_path):
    assert {".gif", ".tif", ".tiff", ".webp"} <= set(IMAGE_SUFFIXES)
    root = make_class_folders(tmp_path / "r", {"a": 1, "b": 1})
    for ext, fmt in ((".gif", "GIF"), (".tiff", "TIFF"), (".WEBP", "WEBP"), (".tif", "TIFF")):
        Image.new("RGB", (12, 10), (0, 0, 200)).save(root / "b" / f"x{ext}", format=fmt)
    _, y, _ = load_folder_arrays(root, (8, 8))
    assert np.bincount(y).tolist() == [1, 5]


def test_bad_files_are_told_apart(tmp_path):
    supported = ", ".join(SUPPORTED_FORMATS)
    good = tmp_path / "good.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(good)
    cases = {}
    cases["missing.png"] = (None, "file not found")
    (tmp_path / "folder.png").mkdir()
    cases["folder.png"] = (None, "is a folder, not an image file")
    cases["empty.jpg"] = (b"", "empty file (0 bytes), not an image")
    cases["text.png"] = (
        b"hello, I am text\n" * 4,
        f"not an image (unknown format; supported: {supported})",
    )
    cases["head.png"] = (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "corrupt or truncated PNG file")
    cases["cut.png"] = (good.read_bytes()[:60], "corrupt or truncated image")
    jpg = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        jpg
    )
    cases["cut.jpg"] = (jpg.read_bytes()[:700], "truncated")
    for name, (data, message) in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(DatasetError) as info:
            decode_image(path, (8, 8))
        assert str(info.value) == f"{path}: {message}" or (
            str(info.value).startswith(f"{path}: ") and message in str(info.value)
        ), (name, str(info.value))


def test_unsupported_format_is_named(tmp_path):
    ico = tmp_path / "icon.png"  # the suffix lies; the content decides
    Image.new("RGB", (16, 16)).save(ico, format="ICO")
    with pytest.raises(DatasetError, match="unsupported image format ICO; supported: JPEG, PNG"):
        decode_image(ico, None)


def test_decompression_bomb_png_is_refused_before_decoding(tmp_path, monkeypatch):
    import PIL.Image

    path = tmp_path / "bomb.png"
    Image.new("L", (200, 200)).save(path)  # a few hundred bytes
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(DatasetError, match="decompression-bomb limit") as info:
        decode_image(path, None)
    assert str(path) in str(info.value)
