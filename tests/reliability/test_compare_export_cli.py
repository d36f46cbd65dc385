"""``cnnlab compare`` and ``cnnlab export`` through the real entry point: the table and the
figure, an exported file, and one ``error:`` line (exit 2) for a missing run, an unknown format
(a usage error listing the choices) and a missing optional extra. Tiny NumPy-engine runs
(synthetic data, 12x12, 1 epoch: well under a second each)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from .conftest import assert_unchanged, assert_user_error, run_cnnlab, snapshot

pytest.importorskip("keras")

from cnnlab import training  # noqa: E402
from cnnlab.training.compare import ROWS  # noqa: E402
from cnnlab.training.export import load_exported  # noqa: E402

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("cli_runs")
    out = []
    for seed in (1, 2):
        cfg = training.TrainConfig(
            task="signs",
            engine="numpy",
            model="course",
            data="synthetic",
            image_size=(12, 12),
            epochs=1,
            batch_size=16,
            seed=seed,
            out=str(root / f"seed{seed}"),
        )
        training.train(cfg, progress=False, log=lambda _m: None)
        out.append(root / f"seed{seed}")
    return out


def test_compare_prints_the_table_and_writes_the_figure(runs, tmp_path):
    result = run_cnnlab("compare", *runs, cwd=tmp_path)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["seed1", "seed2"]
    for label, _ in ROWS:
        assert any(line.startswith(label) for line in lines), label
    png = tmp_path / "compare.png"  # the default: in the current directory
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["compare.png"]


def test_compare_needs_two_runs_and_real_runs(runs, tmp_path):
    one = run_cnnlab("compare", runs[0], cwd=tmp_path)
    assert one.code == 2 and "at least 2 runs" in one.stderr and "Usage:" in one.stderr
    missing = run_cnnlab("compare", runs[0], tmp_path / "nothere", cwd=tmp_path)
    assert_user_error(missing, "nothere", max_lines=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_export_writes_a_checked_artifact(runs, tmp_path):
    out = tmp_path / "m.tflite"
    result = run_cnnlab("export", runs[0], "--format", "litert", "--out", out)
    assert result.code == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # the converters' chatter is hidden
    assert f"wrote {out}" in result.stdout and "(N, 12, 12, 3)" in result.stdout
    x = np.random.default_rng(0).random((4, 12, 12, 3), dtype=np.float32)
    want = training.load_model(runs[0]).predict(x, verbose=0)
    np.testing.assert_allclose(load_exported(out, "litert")(x), want, atol=1e-5)
    again = run_cnnlab("export", runs[0], "--format", "litert", "--out", out)
    assert_user_error(again, str(out), "--force", max_lines=1)


def test_export_bad_input_is_one_line(runs, tmp_path):
    before = snapshot(runs[0])
    missing = run_cnnlab("export", tmp_path / "nothere", "--format", "keras")
    assert_user_error(missing, "nothere", max_lines=1)
    unknown = run_cnnlab("export", runs[0], "--format", "torch")
    assert unknown.code == 2 and "Usage:" in unknown.stderr
    for choice in ("keras", "tf_saved_model", "onnx", "litert"):
        assert choice in unknown.stderr
    assert_unchanged(runs[0], before)


def test_export_without_the_onnx_extra_names_it(runs, tmp_path):
    # Hide tf2onnx whether or not the extra is installed: a module of that name placed first on
    # PYTHONPATH (ahead of site-packages) shadows the real package and fails to import, as a
    # missing one does. (CI installs no extras; this keeps the test the same everywhere.)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "tf2onnx.py").write_text("raise ImportError('tf2onnx is hidden by the test')\n")
    pythonpath = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p)
    result = run_cnnlab(
        "export", runs[0], "--format", "onnx", "--out", tmp_path / "m.onnx",
        env={"PYTHONPATH": pythonpath},
    )  # fmt: skip
    assert_user_error(result, "cnnlab[onnx]", "tf2onnx", "uv sync --extra onnx", max_lines=1)
    assert not (tmp_path / "m.onnx").exists()


def test_export_force_never_replaces_what_export_did_not_write(runs, tmp_path):
    # A folder of the user's, the run itself, the runs folder, a folder named as a file:
    # each refused by name, before anything is loaded, byte-identical afterwards.
    mine = tmp_path / "d"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    cases = [
        (mine, "tf_saved_model", "did not write"),
        (runs[0], "tf_saved_model", "did not write"),
        (runs[0].parent, "tf_saved_model", "did not write"),
        (mine, "keras_dir", "is a folder"),
    ]
    for out, format, why in cases:
        before = snapshot(out)
        if format == "keras_dir":
            keras_dir = tmp_path / "x.keras"
            keras_dir.mkdir(exist_ok=True)
            out, format, before = keras_dir, "keras", snapshot(keras_dir)
        result = run_cnnlab("export", runs[0], "--format", format, "--out", out, "--force")
        assert_user_error(result, str(out), why, max_lines=1)
        assert_unchanged(out, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "x.keras"]  # no temporaries


@pytest.mark.slow
def test_export_force_replaces_an_earlier_export(runs, tmp_path):
    out = tmp_path / "saved"
    first = run_cnnlab("export", runs[0], "--format", "tf_saved_model", "--out", out)
    assert first.code == 0, first.stderr
    assert (out / ".cnnlab-export.json").is_file() and (out / "saved_model.pb").is_file()
    again = run_cnnlab("export", runs[1], "--format", "tf_saved_model", "--out", out, "--force")
    assert again.code == 0, again.stderr
    x = np.random.default_rng(0).random((4, 12, 12, 3), dtype=np.float32)
    want = training.load_model(runs[1]).predict(x, verbose=0)  # the second run's model now
    np.testing.assert_allclose(load_exported(out, "tf_saved_model")(x), want, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]  # the old copy is gone
