"""Exporting runs (keras, tf_saved_model, onnx, litert) and comparing runs, in the library.

Each exported artifact is read back with its own runtime (Keras, TensorFlow's SavedModel
loader, onnxruntime, the LiteRT interpreter) and must give the run's own probabilities (the
NumPy engine's for a NumPy run) within 1e-5 on the run's test images. ONNX needs the optional
extra ``cnnlab[onnx]``; without it those cases skip. Tiny runs: synthetic data, 12x12, 1 epoch.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from cnnlab import plots, training  # noqa: E402
from cnnlab.cli import runs as cli_runs  # noqa: E402
from cnnlab.data.prepare import scale_pixels  # noqa: E402
from cnnlab.errors import ArgumentError, ExportError, RunError  # noqa: E402
from cnnlab.training import export as export_mod  # noqa: E402
from cnnlab.training.compare import ROWS, compare_runs, format_comparison  # noqa: E402
from cnnlab.training.export import (  # noqa: E402
    FORMATS,
    default_output,
    export_run,
    load_exported,
)

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

ONNX_MISSING = [m for m in ("tf2onnx", "onnx", "onnxruntime") if not importlib.util.find_spec(m)]
needs_onnx = pytest.mark.skipif(
    bool(ONNX_MISSING),
    reason=f"the optional extra cnnlab[onnx] is not installed (missing {ONNX_MISSING}); "
    "uv sync --extra onnx",
)


def _train(out: Path, engine: str, seed: int = 3) -> Path:
    cfg = training.TrainConfig(
        task="signs",
        engine=engine,
        model="course",
        data="synthetic",
        image_size=(12, 12),
        epochs=1,
        batch_size=16,
        seed=seed,
        out=str(out),
    )
    training.train(cfg, progress=False, log=lambda _m: None)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export_runs")
    return {engine: _train(root / engine, engine) for engine in ("keras", "numpy")}


@pytest.fixture(scope="module")
def test_images(runs) -> np.ndarray:
    run = training.load_run(runs["numpy"])
    return scale_pixels(training.load_data(run.config, progress=False).x_test)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.slow
@pytest.mark.parametrize(
    "fmt", ["keras", "tf_saved_model", pytest.param("onnx", marks=needs_onnx), "litert"]
)
@pytest.mark.parametrize("engine", ["keras", "numpy"])
def test_export_round_trip_matches_the_runs_model(runs, test_images, tmp_path, engine, fmt):
    run_dir = tmp_path / "run"
    shutil.copytree(runs[engine], run_dir)
    path = export_run(run_dir, fmt)
    assert path == default_output(run_dir, fmt)
    assert path.is_dir() if fmt == "tf_saved_model" else path.is_file()
    # The run's own engine: for a NumPy run, NumPy's probabilities (the export went through Keras).
    want = np.asarray(training.load_model(run_dir).predict(test_images, verbose=0))
    got = load_exported(path, fmt)(test_images)
    assert got.shape == want.shape == (len(test_images), 3)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert _leftovers(path.parent) == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "tf_saved_model"])
def test_an_existing_output_is_refused_then_replaced_with_overwrite(runs, tmp_path, fmt):
    out = tmp_path / "out" / ("m.keras" if fmt == "keras" else "saved")
    if fmt == "keras":
        out.parent.mkdir()
        out.write_bytes(b"old")
    else:  # an earlier export (its marker), which --force may replace
        out.mkdir(parents=True)
        (out / "old.txt").write_text("old")
        (out / export_mod.MARKER).write_text("{}")
    with pytest.raises(ExportError, match="already exists.*--force"):
        export_run(runs["numpy"], fmt, out)
    assert (out.read_bytes() if fmt == "keras" else (out / "old.txt").read_text()) in (
        b"old",
        "old",
    )
    export_run(runs["numpy"], fmt, out, overwrite=True)
    x = np.random.default_rng(1).random((3, 12, 12, 3), dtype=np.float32)
    want = training.load_model(runs["numpy"]).predict(x, verbose=0)
    np.testing.assert_allclose(load_exported(out, fmt)(x), want, atol=1e-5)
    assert not (out / "old.txt").exists()
    assert _leftovers(out.parent) == []


def test_the_check_refuses_a_difference_just_over_its_tolerance(runs, tmp_path, monkeypatch):
    real = export_mod.load_exported

    def off_by(delta):
        def load(path, fmt):
            run = real(path, fmt)
            return lambda x: run(x) + np.float32(delta) * (np.arange(3) == 1)

        return load

    out = tmp_path / "m.keras"
    monkeypatch.setattr(export_mod, "load_exported", off_by(export_mod.TOLERANCE * 1.5))
    with pytest.raises(ExportError, match="does not reproduce"):
        export_run(runs["numpy"], "keras", out)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(export_mod, "load_exported", off_by(export_mod.TOLERANCE * 0.5))
    export_run(runs["numpy"], "keras", out)  # within the tolerance: written
    assert out.is_file()


def test_a_failed_check_writes_nothing(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(
        export_mod, "load_exported", lambda path, fmt: lambda x: np.zeros((len(x), 3), np.float32)
    )
    out = tmp_path / "m.keras"
    with pytest.raises(ExportError, match="does not reproduce"):
        export_run(runs["numpy"], "keras", out)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_extra_names_it(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # `import tf2onnx` raises ImportError
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match=r"cnnlab\[onnx\].*missing: tf2onnx.*--extra onnx"):
        export_run(runs["numpy"], "onnx", out)
    assert not out.exists()


def test_bad_arguments(runs, tmp_path):
    with pytest.raises(ArgumentError, match="format must be one of"):
        export_run(runs["numpy"], "torch")
    with pytest.raises(ArgumentError, match=r"must end in \.tflite"):
        export_run(runs["numpy"], "litert", tmp_path / "m.lite")
    with pytest.raises(ArgumentError, match=r"must end in \.keras"):
        export_run(runs["numpy"], "keras", tmp_path / "m.h5")
    with pytest.raises(ArgumentError, match=r"must end in \.onnx"):
        export_run(runs["numpy"], "onnx", tmp_path / "m.keras")
    with pytest.raises(ArgumentError, match=r"tf_saved_model is a folder, not a \.keras file"):
        export_run(runs["numpy"], "tf_saved_model", tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
    with pytest.raises(RunError, match="no such run"):
        export_run(tmp_path / "nothing", "keras")


def test_default_outputs_and_the_cli_choices(tmp_path):
    assert [default_output(tmp_path, f).relative_to(tmp_path).as_posix() for f in FORMATS] == [
        "export/keras.keras",
        "export/tf_saved_model",
        "export/onnx.onnx",
        "export/litert.tflite",
    ]
    assert typing.get_args(cli_runs.Format) == FORMATS


# --- compare ---------------------------------------------------------------------------


def test_compare_runs_reads_metrics_and_histories(runs):
    result = compare_runs([runs["keras"], runs["numpy"]])
    keras_run, numpy_run = result["runs"]
    assert [keras_run["name"], numpy_run["name"]] == ["keras", "numpy"]
    assert (keras_run["engine"], numpy_run["engine"]) == ("keras", "numpy")
    metrics = json.loads((runs["numpy"] / "metrics.json").read_text())
    assert numpy_run["test_accuracy"] == metrics["test"]["accuracy"]
    assert numpy_run["validation_loss"] == metrics["validation"]["loss"]
    assert numpy_run["history"] == training.read_history_csv(runs["numpy"] / "history.csv")
    assert result["notes"] == []
    table = format_comparison(result).splitlines()
    assert table[0].split() == ["keras", "numpy"]
    assert [line[: len(label)] for line, (label, _) in zip(table[1:], ROWS, strict=True)] == [
        label for label, _ in ROWS
    ]
    assert (
        f"{metrics['test']['accuracy']:.4f}"
        in table[1 + [k for _, k in ROWS].index("test_accuracy")]
    )


def test_compare_runs_of_different_tasks_says_so(runs, tmp_path):
    mood = tmp_path / "a" / "numpy"
    shutil.copytree(runs["numpy"], mood)
    cfg = json.loads((mood / "config.json").read_text())
    (mood / "config.json").write_text(json.dumps(cfg | {"task": "mood"}))
    (mood / "metrics.json").unlink()  # and unfinished: no final metrics
    result = compare_runs([runs["numpy"], mood])
    # Two runs named "numpy": the paths as given tell them apart.
    assert [e["name"] for e in result["runs"]] == [str(runs["numpy"]), str(mood)]
    assert result["runs"][1]["test_accuracy"] is None
    assert any("different tasks (mood, signs)" in n for n in result["notes"])
    assert any("not finished" in n for n in result["notes"])
    assert "-" in format_comparison(result).split()


def test_compare_runs_refuses_bad_input(runs, tmp_path):
    with pytest.raises(ArgumentError, match="at least 2 runs"):
        compare_runs([runs["keras"]])
    with pytest.raises(ArgumentError, match="twice"):
        compare_runs([runs["keras"], runs["keras"] / "."])
    with pytest.raises(RunError, match="not a cnnlab run"):
        compare_runs([runs["keras"], tmp_path])


def test_plot_compare_curves_styles_and_legend():
    fig = plots.plot_compare_curves(
        {
            "a": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]},
            "b": {"loss": [0.9, 0.6], "val_loss": [1.0, 0.8], "val_accuracy": [0.6, 0.7]},
        }
    )
    loss_ax, acc_ax = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    assert [(line.get_linestyle(), line.get_color()) for line in loss_ax.get_lines()] == [
        ("--", "C0"),
        ("-", "C0"),
        ("--", "C1"),
        ("-", "C1"),
    ]
    np.testing.assert_array_equal(loss_ax.get_lines()[1].get_ydata(), [1.1, 0.7])
    assert len(acc_ax.get_lines()) == 2
    labels = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert labels == ["a", "b", "train", "validation"]
    with pytest.raises(ArgumentError):
        plots.plot_compare_curves({"a": {}})
