"""``cnnlab train | evaluate | predict | show`` through the real CLI app: output and exit codes."""

from __future__ import annotations

import json

import pytest
from PIL import Image

pytest.importorskip("keras")

from cnnlab.cli import app  # noqa: E402
from cnnlab.cli._common import run_cli  # noqa: E402
from cnnlab.data import load_dataset  # noqa: E402

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

TINY = ["--data", "synthetic", "--image-size", "12", "--epochs", "1", "--batch-size", "16"]


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = run_cli(app, [str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    code = run_cli(
        app, ["train", "--engine", "numpy", "--model", "course", "--out", str(out), *TINY]
    )
    assert code == 0
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    ds = load_dataset("synthetic", image_size=(30, 30), seed=0)
    path = tmp_path_factory.mktemp("img") / "sample.jpg"
    Image.fromarray(ds.x_test[0]).save(path)
    return path


def test_train_prints_metrics_and_writes_a_run(cli_run, capsys, tmp_path):
    metrics = json.loads((cli_run / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["engine"] == "numpy"
    code, out, err = _cli(
        capsys, "train", "--engine", "keras", "--model", "course", "--out", tmp_path / "k", *TINY
    )
    assert code == 0, err
    assert "epoch 1/1" in out  # one line per epoch when stdout is not a terminal
    assert "test" in out and f"run: {tmp_path / 'k'}" in out
    assert (tmp_path / "k" / "model.keras").is_file()


def test_resume_extends_a_run(cli_run, capsys, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(cli_run, run)
    code, out, err = _cli(capsys, "train", "--resume", run, "--epochs", "2")
    assert code == 0, err
    assert "resuming" in out and "epoch 2/2" in out
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2


def test_evaluate_predict_show(cli_run, image, capsys, tmp_path):
    code, out, err = _cli(capsys, "evaluate", cli_run)
    assert code == 0, err
    assert [line.split()[0] for line in out.strip().splitlines()] == [
        "split",
        "train",
        "validation",
        "test",
    ]
    code, out, err = _cli(capsys, "predict", cli_run, image, image, "--engine", "keras")
    assert code == 0, err
    lines = out.strip().splitlines()
    # expected: the run's own NumPy model (the CLI ran the converted Keras one), argmax
    # mapped through class_names.json
    from cnnlab import nn, training

    x = training.read_images(training.load_run(cli_run), [image])
    probs = nn.load_model(cli_run / "model.npz").predict(x)[0]
    names = json.loads((cli_run / "class_names.json").read_text())
    assert len(lines) == 2
    for line in lines:
        path, name, prob = line.split("\t")
        assert path == str(image) and name == names[int(probs.argmax())]
        assert float(prob) == pytest.approx(float(probs.max()), rel=1e-4)
    code, out, err = _cli(capsys, "show", cli_run, image, "--out", tmp_path / "s.png")
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 's.png'}"
    with Image.open(tmp_path / "s.png") as im:
        assert im.format == "PNG"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "--data", "/no/such/data"], ["/no/such/data", "no such dataset"]),
        (["train", "--image-size", "0x3"], ["image size must be N or HxW"]),
        (["train", "--epochs", "0"], ["epochs must be a positive integer"]),
        (["evaluate", "/no/such/run"], ["/no/such/run: no such run directory"]),
    ],
)
def test_errors_are_one_line_with_exit_code_2(args, fragments, capsys, tmp_path):
    code, out, err = (
        _cli(capsys, *args, "--out", tmp_path / "r") if args[0] == "train" else _cli(capsys, *args)
    )
    assert code == 2
    _one_error_line(err, *fragments)
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_run_errors(cli_run, image, capsys, tmp_path):
    code, _, err = _cli(capsys, "predict", tmp_path, image)
    assert code == 2
    _one_error_line(err, "not a cnnlab run (config.json is missing)")

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code, _, err = _cli(capsys, "predict", cli_run, bad)
    assert code == 2
    _one_error_line(err, "bad.png")

    code, _, err = _cli(capsys, "show", cli_run, tmp_path / "missing.png")
    assert code == 2
    _one_error_line(err, "missing.png")

    code, _, err = _cli(capsys, "train", "--resume", cli_run, "--task", "mood")
    assert code == 2
    _one_error_line(err, "only --epochs and --patience may be given", "--task")

    code, _, err = _cli(capsys, "train", "--out", cli_run, *TINY)
    assert code == 2
    _one_error_line(err, "already exists and is not empty", "--resume")


def test_the_results_table_keeps_its_columns_apart(capsys):
    from cnnlab.cli.train import _print_metrics

    _print_metrics(
        {
            "train": {"n": 102, "loss": 42382348.5625, "accuracy": 0.3},
            "validation": {"n": 24, "loss": float("nan"), "accuracy": 0.5},
            "test": {"n": 24, "loss": 0.123456, "accuracy": 1.0},
        }
    )
    rows = capsys.readouterr().out.splitlines()
    assert [row.split() for row in rows] == [
        ["split", "images", "loss", "accuracy"],
        ["train", "102", "4.238e+07", "30.00%"],
        ["validation", "24", "nan", "50.00%"],
        ["test", "24", "0.1235", "100.00%"],
    ]
    assert len({len(row) for row in rows}) == 1  # aligned
