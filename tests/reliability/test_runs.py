"""Training runs through the real ``cnnlab`` entry point: kill -9 at each point of a checkpoint
write then ``--resume``, Ctrl-C, non-finite training, refused resumes, damaged run files and
per-image predict errors. Tiny data: the built-in synthetic set at 16x16, 1-3 epochs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import (
    CNNLAB,
    assert_unchanged,
    assert_user_error,
    run_cnnlab,
    snapshot,
    temporaries,
)

pytest.importorskip("keras")

from cnnlab import training  # noqa: E402
from cnnlab.data import load_dataset  # noqa: E402
from cnnlab.training.killpoints import KILL_ENV

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

TINY = ["--data", "synthetic", "--image-size", "16", "--batch-size", "16", "--model", "course"]
SIZE = (16, 16)


def _config(out: Path, engine: str, epochs: int) -> training.TrainConfig:
    """The in-process twin of ``cnnlab train --engine ENGINE *TINY --epochs EPOCHS``."""
    return training.TrainConfig(
        engine=engine,
        model="course",
        data="synthetic",
        image_size=SIZE,
        batch_size=16,
        epochs=epochs,
        out=str(out),
    )


def _weights(run_dir: Path) -> list[np.ndarray]:
    return [np.asarray(w) for w in training.load_model(run_dir).get_weights()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, Path]:
    """Uninterrupted 3-epoch runs, one per engine, trained in this process."""
    root = tmp_path_factory.mktemp("reference")
    return {e: training.train(_config(root / e, e, 3)).dir for e in ("numpy", "keras")}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 2-epoch NumPy-engine run."""
    root = tmp_path_factory.mktemp("finished")
    return training.train(_config(root / "run", "numpy", 2)).dir


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    ds = load_dataset("synthetic", image_size=SIZE, seed=0)
    path = tmp_path_factory.mktemp("img") / "sample.png"
    Image.fromarray(ds.x_test[0]).save(path)
    return path


# --------------------------------------------------------------------------------------
# kill -9 during a checkpoint write, then --resume


@pytest.mark.parametrize(
    ("engine", "point"),
    [
        ("numpy", "temporary@2"),  # epoch 2's model in its temporary, not renamed yet
        ("numpy", "weights@2"),  # model-epoch-0002 in place, checkpoint.json still says 1
        ("numpy", "best@2"),  # model-best-0002 copied, checkpoint.json still says 1
        ("numpy", "manifest@3"),  # checkpoint.json says 3, model-epoch-0002 not yet deleted
        ("numpy", "promote@3"),  # model.npz copied, checkpoint.json still names the epoch file
        ("keras", "weights@2"),
    ],
)
def test_kill_during_a_checkpoint_then_resume_equals_an_uninterrupted_run(
    engine, point, reference, tmp_path
):
    out = tmp_path / "run"
    args = ["train", "--engine", engine, *TINY, "--epochs", "3", "--out", out]
    killed = run_cnnlab(*args, env={KILL_ENV: point})
    assert killed.code == -signal.SIGKILL, killed.stderr

    state = training.load_run(out)  # the run is consistent as the kill left it
    expected_done = {"temporary@2": 1, "weights@2": 1, "best@2": 1, "manifest@3": 3, "promote@3": 3}
    expected_done = expected_done[point]
    assert state.epochs_done == expected_done and state.metrics is None
    if point == "temporary@2":
        assert temporaries(out), "the kill should have left a temporary"

    if engine == "numpy":
        resumed = run_cnnlab("train", "--resume", out)
        assert resumed.code == 0, resumed.stderr
    else:  # the same resume in this process: it spares a second TensorFlow start-up
        training.resume(out)
    assert temporaries(out) == []
    suffix = training.MODEL_FILES[engine].split(".")[1]
    # The validation loss falls every epoch here: the best epoch is the last, the model
    # (one file stands for both).
    assert sorted(p.name for p in out.glob("model*")) == [training.MODEL_FILES[engine]]
    assert suffix in training.MODEL_FILES[engine]
    done = training.load_run(out)
    want = training.load_run(reference[engine])
    assert done.epochs_done == 3 and done.metrics["epochs"] == 3
    assert len(done.history["loss"]) == 3
    assert training.read_history_csv(out / "history.csv") == done.history
    assert done.best["epoch"] == want.best["epoch"] == 3
    if engine == "numpy":  # bit-identical
        assert done.history == want.history and done.best == want.best
        for a, b in zip(_weights(out), _weights(reference[engine]), strict=True):
            np.testing.assert_array_equal(a, b)
    else:  # Keras: equal up to floating-point noise (see cnnlab.training's docstring)
        np.testing.assert_allclose(done.history["loss"], want.history["loss"], rtol=1e-4)
        for a, b in zip(_weights(out), _weights(reference[engine]), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------
# Ctrl-C


def _start(*args, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    env.pop("CNNLAB_DEBUG", None)
    return subprocess.Popen(
        [str(CNNLAB), *map(str, args)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"cnnlab ended before {path.name} appeared: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path} did not appear in {timeout}s")
        time.sleep(0.05)


def test_ctrl_c_keeps_the_finished_epochs_and_resume_completes(tmp_path):
    out = tmp_path / "run"
    proc = _start("train", "--engine", "numpy", *TINY, "--epochs", "500", "--out", out)
    _wait_for(out / "checkpoint.json", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    done = training.load_run(out).epochs_done
    assert done >= 1 and temporaries(out) == []
    assert lines[0].startswith("interrupted in epoch ")
    assert f"{done} epoch{'s are' if done > 1 else ' is'} saved in {out}" in lines[0]
    assert f"resume with: cnnlab train --resume {out}" in lines[0]

    resumed = run_cnnlab("train", "--resume", out, "--epochs", done + 1)
    assert resumed.code == 0, resumed.stderr
    assert json.loads((out / "metrics.json").read_text())["epochs"] == done + 1


def test_ctrl_c_before_the_first_epoch_ends_keeps_nothing(tmp_path):
    out = tmp_path / "run"
    # The recommended NumPy model at 64x64 in batches of 2: an epoch takes seconds.
    proc = _start(
        "train", "--engine", "numpy", "--data", "synthetic", "--image-size", "64",
        "--batch-size", "2", "--epochs", "2", "--out", out,
    )  # fmt: skip
    _wait_for(out / "summary.txt", proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "interrupted in epoch 1; no epoch had finished, so nothing was kept" in lines[0]
    assert not out.exists()


# --------------------------------------------------------------------------------------
# Non-finite training, an exploding loss


def test_a_huge_learning_rate_stops_with_one_line(tmp_path):
    # Both engines stop alike (tests/training/test_training.py); through the CLI: the NumPy engine.
    out = tmp_path / "run"
    result = run_cnnlab("train", "--engine", "numpy", *TINY, "--epochs", "2", "--lr", "1e30",
                        "--out", out)  # fmt: skip
    assert_user_error(
        result, "training diverged in epoch 1, batch ", "--lr (now 1e+30)", max_lines=1
    )
    assert "nothing was kept" in result.stderr
    assert not out.exists()


def test_an_exploding_loss_warns_once(tmp_path):
    result = run_cnnlab("train", "--engine", "numpy", *TINY, "--epochs", "2", "--lr", "1e6",
                        "--out", tmp_path / "run")  # fmt: skip
    assert result.code == 0, result.stderr
    lines = [line for line in result.err_lines]
    assert len(lines) == 1 and lines[0].startswith("warning: the loss grew from "), result.stderr
    table = result.stdout[result.stdout.index("split") :].splitlines()
    for row in table[1:4]:  # split, images, loss, accuracy: four columns apart
        assert len(row.split()) == 4, table


# --------------------------------------------------------------------------------------
# Refused commands change nothing


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--epochs", "1"], ["already trained 2 of 2 epochs", "--epochs larger than 2"]),
        ([], ["already trained 2 of 2 epochs"]),
        (["--epochs", "0"], ["epochs must be a positive integer"]),
    ],
)
def test_a_refused_resume_changes_nothing(args, names, finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = snapshot(run)
    result = run_cnnlab("train", "--resume", run, *args)
    assert_user_error(result, *names)
    assert_unchanged(run, before)


def test_resume_removes_stale_temporaries(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / ".model-epoch-0003.npz.abc123.npz").write_bytes(b"half")
    (run / ".checkpoint.json.x1y2.json").write_text("{")
    (run / "model-epoch-0003.npz").write_bytes(b"an epoch the manifest never named")
    result = run_cnnlab("train", "--resume", run, "--epochs", "3")
    assert result.code == 0, result.stderr
    assert temporaries(run) == []
    best = training.load_run(run).best["model"]  # model.npz itself when epoch 3 is the best
    assert sorted(p.name for p in run.glob("model*")) == sorted({best, "model.npz"})
    assert training.load_run(run).epochs_done == 3


# --------------------------------------------------------------------------------------
# Damaged run files, class names, predict on many images


def test_class_names_json_disagreeing_with_the_model(finished, image, tmp_path):
    for names in (["class_0", "class_1"], ["class_0", "class_1", "class_2", "class_3"]):
        run = tmp_path / f"run{len(names)}"
        shutil.copytree(finished, run)
        (run / "class_names.json").write_text(json.dumps(names))
        before = snapshot(run)
        result = run_cnnlab("predict", run, image)
        assert_user_error(result, "class_names.json", f"lists {len(names)} class names")
        assert result.stdout == ""
        assert_unchanged(run, before)


def test_a_truncated_keras_model(reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference["keras"], run)
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[:1000])
    result = run_cnnlab("evaluate", run)
    assert_user_error(result, "model.keras", "not a Keras model archive (truncated or not a zip)")


def test_predict_reports_every_bad_image_and_predicts_the_rest(finished, image, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    missing = tmp_path / "missing.jpg"
    result = run_cnnlab("predict", finished, bad, image, missing, image)
    assert_user_error(result, "bad.png", "missing.jpg")
    lines = result.err_lines
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"error: {bad}: ") and lines[1].startswith(f"error: {missing}: ")
    rows = result.stdout.strip().splitlines()
    assert len(rows) == 2 and rows[0] == rows[1] and rows[0].startswith(f"{image}\t")


# --------------------------------------------------------------------------------------
# one writer per run folder; kills before the first epoch and during the plots


def _wait_for_lock(out: Path, proc: subprocess.Popen, seconds: float = 120) -> str:
    """The pid written in out/.cnnlab.lock once ``proc`` holds it."""
    lock = out / training.rundir.LOCK_FILE
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lock.is_file() and lock.read_text().strip():
            return lock.read_text().strip()
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{lock} never appeared")


LONG = ["train", "--engine", "numpy", *TINY, "--epochs", "40"]  # several seconds


def test_a_second_trainer_of_the_same_folder_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "same"
    first = _start(*LONG, "--seed", "1", "--out", out)
    pid = _wait_for_lock(out, first)
    assert pid == str(first.pid)
    second = run_cnnlab(*LONG, "--seed", "2", "--out", out)
    assert_user_error(second, str(out), f"in use by process {first.pid}", max_lines=1)
    resumed = run_cnnlab("train", "--resume", out, "--epochs", "50")
    assert_user_error(resumed, str(out), f"in use by process {first.pid}", max_lines=1)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    run = training.load_run(out)  # one run, all of it the first trainer's
    assert run.config.seed == 1 and run.metrics["epochs"] == 40
    assert not (out / training.rundir.LOCK_FILE).exists()


def test_a_killed_trainer_never_blocks_its_folder(tmp_path):
    out = tmp_path / "run"
    proc = _start(*LONG, "--out", out, env={KILL_ENV: "weights@2"})
    proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL
    assert (out / training.rundir.LOCK_FILE).is_file()  # the stale file the kill left
    resumed = run_cnnlab("train", "--resume", out, "--epochs", "3")
    assert resumed.code == 0, resumed.stderr
    assert training.load_run(out).metrics["epochs"] == 3
    assert not (out / training.rundir.LOCK_FILE).exists()


def test_a_kill_before_the_first_epoch_leaves_a_folder_train_reuses(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--engine", "numpy", *TINY, "--epochs", "2", "--out", out]
    killed = run_cnnlab(*args, env={KILL_ENV: "temporary@1"})
    assert killed.code == -signal.SIGKILL, killed.stderr
    assert (out / "config.json").is_file() and not (out / "checkpoint.json").exists()
    before = snapshot(out)
    resumed = run_cnnlab("train", "--resume", out)
    assert_user_error(resumed, str(out), "before its first epoch", "train --out", max_lines=1)
    assert_unchanged(out, before)
    again = run_cnnlab(*args)
    assert again.code == 0, again.stderr
    assert "starting it again" in again.stdout + again.stderr
    run = training.load_run(out)
    assert run.metrics["epochs"] == 2 and temporaries(out) == []


def test_a_kill_during_the_final_plots_is_completed_by_resume(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--engine", "numpy", *TINY, "--epochs", "2", "--out", out]
    killed = run_cnnlab(*args, env={KILL_ENV: "plots@2"})
    assert killed.code == -signal.SIGKILL, killed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert not (out / "learning_curves.png").exists()
    resumed = run_cnnlab("train", "--resume", out)
    assert resumed.code == 0, resumed.stderr
    assert "drew them" in resumed.stdout + resumed.stderr
    for name in ("learning_curves.png", "confusion_matrix.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "metrics.json").read_text()) == metrics  # nothing else changed
    finished = run_cnnlab("train", "--resume", out)
    assert_user_error(finished, str(out), "already trained 2 of 2 epochs", max_lines=1)


MALFORMED = {
    "config.json": "[" * 100_000 + "]" * 100_000,  # a RecursionError in json.loads
    "metrics.json": json.dumps([1, 2, 3]),
    "class_names.json": json.dumps({"0": "a"}),
    "checkpoint.json": "[" * 40 + "0" + "]" * 40,  # parses, but nested beyond the limit
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_run_file_is_one_line_for_every_command(finished, image, tmp_path, name):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / name).write_text(MALFORMED[name])
    before = snapshot(run)
    for args in (("predict", run, image), ("evaluate", run), ("compare", run, finished)):
        result = run_cnnlab(*args, cwd=tmp_path)
        assert_user_error(result, str(run / name), max_lines=1)
    assert_unchanged(run, before)


def test_a_non_numeric_history_is_one_line_in_compare(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    text = (run / "history.csv").read_text().splitlines()
    text[1] = ",".join(["1"] + ["oops"] * (len(text[1].split(",")) - 1))
    (run / "history.csv").write_text("\n".join(text) + "\n")
    result = run_cnnlab("compare", run, finished, cwd=tmp_path)
    assert_user_error(result, "history.csv", "unreadable history", max_lines=1)


def test_show_writes_only_a_png_and_replaces_only_with_force(finished, image, tmp_path):
    jpg = tmp_path / "x.jpg"
    result = run_cnnlab("show", finished, image, "--out", jpg)
    assert_user_error(result, "must end in .png", str(jpg), max_lines=1)
    assert not jpg.exists()
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"my own picture")
    refused = run_cnnlab("show", finished, image, "--out", mine)
    assert_user_error(refused, str(mine), "--force", max_lines=1)
    assert mine.read_bytes() == b"my own picture"
    forced = run_cnnlab("show", finished, image, "--out", mine, "--force")
    assert forced.code == 0, forced.stderr
    assert mine.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_escapes_tabs_and_newlines_in_paths(finished, image, tmp_path):
    odd = tmp_path / "two\nlines\tand tab.png"
    shutil.copyfile(image, odd)
    result = run_cnnlab("predict", finished, odd, image)
    assert result.code == 0, result.stderr
    rows = result.stdout.splitlines()
    assert len(rows) == 2 and all(len(r.split("\t")) == 3 for r in rows)
    assert rows[0].split("\t")[0] == str(odd).replace("\t", "\\t").replace("\n", "\\n")


def test_predict_refuses_a_fifo_instead_of_blocking(finished, image, tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    result = run_cnnlab("predict", finished, fifo, image, timeout=120)
    assert_user_error(result, str(fifo), "not a regular file", max_lines=1)
    assert result.stdout.startswith(f"{image}\t")  # the other image is still predicted


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--epochs", "1000000000000"], "epochs must be at most 1,000,000"),
        (["--distribute", "mirrored", "--cpu-replicas", "1000"], "cpu_replicas must be at most"),
    ],
)
def test_unbounded_training_options_are_refused_at_once(args, words, tmp_path):
    result = run_cnnlab("train", *TINY, *args, "--out", tmp_path / "run", timeout=120)
    assert_user_error(result, words, max_lines=1)
    assert result.seconds < 30 and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flag", ["--class-weight", "--no-augment", "--no-class-weight", "--augment"]
)
def test_resume_refuses_the_options_it_would_ignore(finished, flag, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = snapshot(run)
    result = run_cnnlab("train", "--resume", run, "--epochs", "3", flag)
    assert_user_error(result, "only --epochs and --patience may be given", flag, max_lines=1)
    assert_unchanged(run, before)
