"""``cnnlab explain``: printed formulas, written pictures, one-line errors."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from PIL import Image

from cnnlab.cli._common import run_cli
from cnnlab.cli.explain import app


def _run(capsys, *args):
    code = run_cli(app, [str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_conv_prints_the_worked_formulas_and_writes_a_png(tmp_path, capsys):
    png = tmp_path / "figs" / "conv.png"
    code, out, err = _run(
        capsys, "conv", "--input", "6x6x3", "--filters", "8", "--kernel", "3",
        "--stride", "1", "--padding", "valid", "--out", png,
    )  # fmt: skip
    assert code == 0, err
    assert "output 4x4x8" in out
    assert "floor((6 + 2*0 - 3) / 1) + 1 = floor(3 / 1) + 1 = 3 + 1 = 4" in out
    assert "(3 * 3 * 3 + 1) * 8 = 224" in out
    assert "= 3,456" in out
    assert f"wrote {png}" in out
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size[0] > 200
    assert not png.with_suffix(".gif").exists()


@pytest.mark.slow
def test_conv_same_with_stride_shows_asymmetric_padding_and_animates(tmp_path, capsys):
    png = tmp_path / "c.png"
    code, out, err = _run(
        capsys, "conv", "--input", "6x6x3", "--filters", "8", "--kernel", "3",
        "--stride", "2", "--padding", "same", "--out", png, "--animate",
    )  # fmt: skip
    assert code == 0, err
    assert "output 3x3x8" in out
    assert "floor((6 + 0+1 - 3) / 2) + 1" in out
    gif = png.with_suffix(".gif")
    assert f"wrote {gif}" in out
    with Image.open(gif) as img:
        assert img.format == "GIF"
        assert img.n_frames == 9


def test_conv_numeric_padding_and_no_figure(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(
        capsys, "conv", "--input", "5x5", "--filters", "1", "--kernel", "3", "--stride", "2",
        "--padding", "1", "--no-figure",
    )  # fmt: skip
    assert code == 0, err
    assert "output 3x3x1" in out
    assert "floor((5 + 2*1 - 3) / 2) + 1 = floor(4 / 2) + 1 = 2 + 1 = 3" in out
    assert "wrote" not in out
    assert list(tmp_path.iterdir()) == []


def test_conv_default_out_is_in_the_current_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(capsys, "conv", "--input", "4x4x1", "--filters", "2")
    assert code == 0
    assert "wrote conv.png" in out
    assert (tmp_path / "conv.png").is_file()


def test_pool_max_and_average(tmp_path, capsys):
    png = tmp_path / "pool.png"
    code, out, err = _run(
        capsys, "pool", "--input", "4x4x3", "--size", "2", "--out", png, "--animate"
    )
    assert code == 0, err
    assert "output 2x2x3" in out
    assert "floor((4 + 2*0 - 2) / 2) + 1 = floor(2 / 2) + 1 = 1 + 1 = 2" in out
    assert "max: each output is the largest value" in out
    assert "average: each output is the mean" in out
    assert "Parameters: 0" in out
    assert png.is_file()
    with Image.open(png.with_suffix(".gif")) as gif:
        assert gif.n_frames == 4


def test_pool_with_stride_and_same_padding(tmp_path, capsys):
    code, out, err = _run(
        capsys, "pool", "--input", "5x5", "--size", "3", "--stride", "1", "--padding", "same",
        "--mode", "average", "--out", tmp_path / "p.png",
    )  # fmt: skip
    assert code == 0, err
    assert "output 5x5x1" in out
    assert "average: each output is the mean" in out
    assert "max:" not in out


def test_params_shows_the_explosion_for_both_images(tmp_path, capsys):
    png = tmp_path / "params.png"
    code, out, err = _run(
        capsys, "params", "--input", "1000x1000x3", "--dense", "1000", "--out", png
    )
    assert code == 0, err
    assert "3,000,000 input features" in out
    assert "3,000,001,000 parameters" in out
    assert "12.00 GB (11.18 GiB)" in out
    assert "12,288 input features" in out
    assert "12,289,000 parameters" in out
    assert "(3 * 3 * 3 + 1) * 10 = 280" in out
    assert png.is_file()


def test_params_without_the_small_image(capsys):
    code, out, _ = _run(capsys, "params", "--input", "32x32x3", "--dense", "10", "--no-small")
    assert code == 0
    assert "3,072 input features" in out
    assert "30,730 parameters" in out  # 3,072 * 10 + 10
    assert "12,288" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conv", "--input", "6x0x3"], "`input` must look like 6x6x3, 6x6 or 6"),
        (["conv", "--padding", "full"], "`padding` must be 'valid', 'same'"),
        (["conv", "--kernel", "9"], "larger than the padded input"),
        (["conv", "--stride", "0"], "`stride` must look like 3x3 or 3"),
        (["conv", "--out", "picture.jpg"], "--out must name a .png file"),
        (["params", "--input", "abc"], "`input` must look like"),
        (["model", "no-such-run"], "'happy', 'signs' or a training run directory"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, *args)
    assert code == 2
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_model_happy_layer_by_layer(capsys):
    pytest.importorskip("keras")
    code, out, err = _run(capsys, "model", "happy")
    assert code == 0, err
    assert "(ZeroPadding2D)" in out
    assert "70x70x3" in out
    assert "64x64x32" in out
    assert "(7*7*3 + 1)*32" in out
    assert "32 * 32 * 32 = 32,768" in out
    assert "Total params: 37,633" in out
    assert "non-trainable: 64" in out


def test_model_signs_with_another_input(capsys, tmp_path):
    pytest.importorskip("keras")
    png = tmp_path / "signs.png"
    code, out, err = _run(capsys, "model", "signs", "--input", "32x32x3", "--out", png)
    assert code == 0, err
    # 32 -> pool 8 ('same') -> 4 -> pool 4 ('same') -> 1: flatten 16, dense (16 + 1) * 6
    assert "4x4x16" in out
    assert "(16 + 1)*6" in out
    assert "Total params: 1,022" in out  # 392 + 528 + 102
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size[0] > 200


def test_registered_on_the_main_app(capsys):
    from cnnlab.cli import app as main_app

    code = run_cli(main_app, ["explain", "conv", "--input", "6", "--no-figure"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "output 4x4x8" in out


DOCS = Path(__file__).resolve().parents[2] / "docs"
TRANSCRIPT = re.compile(r"```console\n\$ (cnnlab explain [^\n]*)\n(.*?)```", re.S)


def _transcripts():
    for page in sorted(DOCS.glob("*.md")):
        for m in TRANSCRIPT.finditer(page.read_text(encoding="utf-8")):
            yield pytest.param(m.group(1), m.group(2), id=f"{page.name}:{m.group(1)[15:40]}")


@pytest.mark.parametrize(("command", "expected"), list(_transcripts()))
def test_docs_transcripts_match_the_cli(command, expected, capsys):
    from cnnlab.cli import app as main_app

    code = run_cli(main_app, shlex.split(command)[1:])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.rstrip() == expected.rstrip(), f"docs transcript of {command!r} is out of date"


def test_docs_have_transcripts():
    assert len(list(_transcripts())) >= 5


def test_model_of_a_run(tmp_path, capsys):
    from cnnlab.training import TrainConfig, train

    run_dir = tmp_path / "run"
    config = TrainConfig(
        task="signs", engine="numpy", model="course", data="synthetic", epochs=1,
        image_size=(16, 16), out=str(run_dir),
    )  # fmt: skip
    train(config, progress=False)
    code, out, err = _run(capsys, "model", run_dir)
    assert code == 0, err
    assert f"(run {run_dir})" in out
    # 16 -> pool 8 'same' -> 2 -> conv 2x2 'same' pads 0+1 -> pool 4 'same' -> 1
    assert "floor((2 + 1 - 2)/1) + 1" in out
    assert "1x1x16" in out
    assert "(16 + 1)*3" in out  # three synthetic classes
    assert "Total params: 971" in out  # 392 + 528 + 51


def test_model_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, _, err = _run(capsys, "model", tmp_path)
    assert code == 2
    assert err.startswith("error: ") and "not a cnnlab run" in err
