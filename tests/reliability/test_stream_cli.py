"""Streaming and distribution through the real entry point: --stream, --memory-budget,
--strict, --distribute mirrored with --cpu-replicas, two multiworker workers on 127.0.0.1,
and ``cnnlab data export --format tfrecord``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest

from _helpers import noise, write_class_folders

from .conftest import CNNLAB, assert_user_error, run_cnnlab

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

TINY = ("--task", "signs", "--image-size", "16", "--epochs", "1", "--batch-size", "4")


def _folder(root: Path, n_per_class: int = 8) -> Path:
    """``root/c{k}/{i:02d}.png``: 3 classes of 18x18 images, a grey level each plus noise."""
    classes = {f"c{k}": n_per_class for k in range(3)}
    pixels = noise([70 * k + 40 for k in range(3)], sd=20)
    return write_class_folders(root, classes, (18, 18), pixels=pixels, name="{i:02d}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return _folder(tmp_path_factory.mktemp("cli-stream") / "imgs")


def test_the_cli_choices_equal_the_librarys():
    from cnnlab.cli import train as cli_train
    from cnnlab.training.config import DISTRIBUTE

    assert typing.get_args(cli_train.Distribute) == DISTRIBUTE


def test_a_memory_budget_below_the_data_streams_and_says_so(folder, tmp_path):
    result = run_cnnlab(
        "train",
        "--engine",
        "numpy",
        "--model",
        "course",
        "--data",
        folder,
        *TINY,
        "--memory-budget",
        "64K",
        "--out",
        tmp_path / "run",
    )
    assert result.code == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if "streaming the images" in line]
    assert len(notes) == 1 and "--memory-budget" in notes[0], result.stdout
    assert json.loads((tmp_path / "run" / "config.json").read_text())["stream"] is True
    bad = run_cnnlab("train", "--data", folder, "--memory-budget", "lots", "--out", tmp_path / "x")
    assert_user_error(bad, "--memory-budget")


def test_a_corrupt_image_is_reported_not_fatal_and_fatal_with_strict(tmp_path):
    root = _folder(tmp_path / "imgs", n_per_class=6)
    bad = root / "c2" / "03.png"
    bad.write_bytes(bad.read_bytes()[:40])
    args = ("train", "--engine", "numpy", "--model", "course", "--data", root, *TINY, "--stream")
    result = run_cnnlab(*args, "--out", tmp_path / "run")
    assert result.code == 0, result.stderr
    warnings = [line for line in result.err_lines if line.startswith("warning:")]
    assert warnings and all(str(bad) in w and "skipped 1 unreadable image" in w for w in warnings)
    assert (tmp_path / "run" / "metrics.json").is_file()
    strict = run_cnnlab(*args, "--strict", "--out", tmp_path / "strict")
    assert_user_error(strict, str(bad), "--strict")
    assert not (tmp_path / "strict").exists()


def test_distribute_needs_the_keras_engine(folder, tmp_path):
    result = run_cnnlab(
        "train",
        "--engine",
        "numpy",
        "--data",
        folder,
        "--distribute",
        "mirrored",
        "--out",
        tmp_path / "run",
    )
    assert_user_error(result, "Keras engine", "--engine keras")
    alone = run_cnnlab("train", "--data", folder, "--cpu-replicas", "2", "--out", tmp_path / "r")
    assert_user_error(alone, "cpu_replicas", "distribute")


def test_mirrored_over_two_cpu_replicas_writes_a_run_evaluate_reads(folder, tmp_path):
    out = tmp_path / "run"
    result = run_cnnlab(
        "train",
        "--model",
        "course",
        "--data",
        folder,
        *TINY,
        "--distribute",
        "mirrored",
        "--cpu-replicas",
        "2",
        "--out",
        out,
    )
    assert result.code == 0, result.stderr
    assert "2 replicas" in result.stdout and "global batch 8 = 4 per replica x 2" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["distribute"] == "mirrored" and config["cpu_replicas"] == 2
    evaluated = run_cnnlab("evaluate", out, "--json")
    assert evaluated.code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    written = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == written["test"]["n"] == 3
    assert metrics["test"]["loss"] == pytest.approx(written["test"]["loss"], rel=1e-4)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_multiworker_workers_finish_and_only_the_chief_writes(folder, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, outs = [], [tmp_path / "chief-run", tmp_path / "worker-run"]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for i in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TMPDIR": str(scratch),
        }
        env.pop("CNNLAB_DEBUG", None)
        cmd = [
            str(CNNLAB),
            "train",
            "--model",
            "course",
            "--data",
            str(folder),
            *TINY,
            "--epochs",
            "2",
            "--keep-last",
            "--stream",
            "--distribute",
            "multiworker",
            "--out",
            str(outs[i]),
        ]
        procs.append(
            subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 400
    try:
        results = [p.communicate(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    finally:
        for p in procs:  # a worker left waiting for the other is killed, never left behind
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr
    digests = [
        [line.split("weights ")[1].split()[0] for line in out.splitlines() if "weights" in line]
        for out, _ in results
    ]
    assert len(digests[0]) == len(digests[1]) == 1 and digests[0] == digests[1]
    # the chief wrote a normal run; the other worker wrote nothing where it was told to,
    # and removed its private folder
    assert (outs[0] / "metrics.json").is_file() and (outs[0] / "model.keras").is_file()
    assert not outs[1].exists()
    assert list(scratch.iterdir()) == []
    # the chief's model file holds the weights both workers ended with
    code = (
        "import sys, keras; from cnnlab.training.distribute import weights_digest; "
        "print(weights_digest(keras.models.load_model(sys.argv[1])))"
    )
    saved = subprocess.run(
        [sys.executable, "-c", code, str(outs[0] / "model.keras")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert saved.stdout.strip() == digests[0][0], saved.stderr
    history = json.loads((outs[0] / "checkpoint.json").read_text())["history"]
    assert len(history["loss"]) == 2


def test_data_export_tfrecord_writes_shards_that_read_back(folder, tmp_path):
    out = tmp_path / "tfr"
    result = run_cnnlab(
        "data",
        "export",
        folder,
        "--format",
        "tfrecord",
        "--shards",
        "3",
        "--out",
        out,
        "--image-size",
        "16",
    )
    assert result.code == 0, result.stderr
    manifest = json.loads((out / "tfrecord.json").read_text())
    assert manifest["image_shape"] == [16, 16, 3] and manifest["class_names"] == ["c0", "c1", "c2"]
    counts = {s: sum(p["counts"]) for s, p in manifest["splits"].items()}
    assert counts == {"train": 18, "val": 3, "test": 3}
    assert len(list(out.glob("train-*-of-00003.tfrecord"))) == 3

    from cnnlab.data import load_dataset
    from cnnlab.data.tfrecord import read_tfrecord

    ds = load_dataset(folder, image_size=16)
    got = sorted((int(y), x.tobytes()) for x, y in read_tfrecord(out, "test").as_numpy_iterator())
    want = sorted((int(y), x.tobytes()) for x, y in zip(ds.x_test, ds.y_test, strict=True))
    assert got == want  # the same images as the in-memory test split, pixel for pixel
    bad = run_cnnlab("data", "export", folder, "--format", "tfrecord")
    assert_user_error(bad, "--out")


def test_tfrecord_export_bounds_its_shards_and_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "tfr"
    many = run_cnnlab(
        "data", "export", "digits", "--format", "tfrecord", "--shards", "1000000", "--out", out
    )
    assert_user_error(many, "shards must be at most 512", max_lines=1)
    more = run_cnnlab(
        "data", "export", "synthetic", "--format", "tfrecord", "--shards", "200", "--out", out
    )
    assert_user_error(more, "shards must be at most the 102 images", max_lines=1)
    assert not out.exists() or list(out.iterdir()) == []
    # A write that fails half-way (a file-size limit, as a full disk does): one line, and no
    # shard or temporary left behind.
    full = run_cnnlab(
        "data", "export", "digits", "--format", "tfrecord", "--shards", "2", "--out", out,
        file_kb=64,
    )  # fmt: skip
    assert_user_error(full, max_lines=1)
    assert sorted(p.name for p in out.iterdir()) == [], sorted(p.name for p in out.iterdir())


def test_h5_export_under_a_file_size_limit_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "h5d"
    result = run_cnnlab("data", "export", "digits", "--h5", out, file_kb=20)
    assert_user_error(result, "train_digits.h5", "File too large", max_lines=1)
    assert not out.exists() or list(out.iterdir()) == []
