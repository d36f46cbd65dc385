"""``cnnlab data``: list, fetch, info, export (through run_cli, as the script runs them)."""

from __future__ import annotations

import zipfile

import h5py
import numpy as np
import pytest
from PIL import Image

from cnnlab.cli._common import run_cli
from cnnlab.cli.data import app, parse_image_size
from cnnlab.data import load_h5

pytestmark = pytest.mark.usefixtures("own_cache")


def _signs_zip(path):
    with zipfile.ZipFile(path, "w") as zf:
        for d in range(10):
            for i in range(2):
                img = Image.new("RGB", (6, 6), (d * 25, 0, 0))
                with zf.open(f"Sign-Language-Digits-Dataset-master/Dataset/{d}/{i}.png", "w") as f:
                    img.save(f, format="PNG")
    return path


def test_list_shows_builtin_and_named(capsys):
    assert run_cli(app, ["list"]) == 0
    out = capsys.readouterr().out
    for word in ("digits", "signs", "smiles", "not fetched", "Apache-2.0", "cache:"):
        assert word in out


def test_fetch_from_zip_then_list_shows_cached(tmp_path, capsys):
    archive = _signs_zip(tmp_path / "signs.zip")
    assert run_cli(app, ["fetch", "signs", "--from", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "signs: 20 images" in out and "cached in" in out
    run_cli(app, ["list"])
    assert "cached:" in capsys.readouterr().out


def test_info_prints_counts_and_writes_a_png_grid(tmp_path, capsys):
    out_png = tmp_path / "grid" / "digits.png"
    code = run_cli(
        app, ["info", "digits", "--image-size", "native", "--out", str(out_png), "--per-class", "3"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "digits: 1797 images of 8x8x3, 10 classes" in out
    assert "total" in out and "balanced class weights" in out
    assert f"sample grid written to {out_png}" in out
    with Image.open(out_png) as im:
        assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 400


def test_info_default_grid_goes_to_the_working_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(app, ["info", "synthetic", "--image-size", "12", "--grayscale"]) == 0
    assert "12x12x1" in capsys.readouterr().out
    assert (tmp_path / "synthetic_samples.png").is_file()


def test_export_writes_course_h5_files(tmp_path, capsys):
    out_dir = tmp_path / "h5"
    code = run_cli(app, ["export", "digits", "--h5", str(out_dir), "--image-size", "16x12"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"wrote {out_dir / 'train_digits.h5'} (1528 images)" in out
    ds = load_h5(out_dir / "train_digits.h5", out_dir / "test_digits.h5")
    assert ds.x_train.shape == (1528, 16, 12, 3) and len(ds.y_test) == 269
    with h5py.File(out_dir / "test_digits.h5") as f:
        assert f["list_classes"][()].tolist() == [str(d).encode() for d in range(10)]
        assert np.asarray(f["test_set_y"]).dtype == np.int64


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    broken = tmp_path / "train_broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    assert run_cli(app, ["info", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(broken) in err and "\n" not in err
    assert run_cli(app, ["info", "digits", "--image-size", "big"]) == 2
    assert "image size must be N or HxW, e.g. 64 or 64x48, or native" in capsys.readouterr().err
    assert run_cli(app, ["fetch", "mnist", "--from", str(tmp_path)]) == 2
    assert "name must be one of ['signs', 'smiles']" in capsys.readouterr().err
    assert run_cli(app, ["fetch", "signs", "--from", str(tmp_path)]) == 2
    assert "does not look like the signs dataset" in capsys.readouterr().err


def test_parse_image_size():
    assert parse_image_size("64") == (64, 64)
    assert parse_image_size("32x48") == (32, 48)
    assert parse_image_size("native") is None
    with pytest.raises(ValueError, match="Received: --image-size 0"):
        parse_image_size("0")
