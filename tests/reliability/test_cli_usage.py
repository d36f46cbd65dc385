"""Usage errors, unwritable paths, out of memory, Ctrl-C and bugs, through the real entry point."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import CNNLAB, assert_unchanged, assert_user_error, run_cnnlab, snapshot, temporaries

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


def assert_usage_error(result, *names: str) -> None:
    """Typer's usage message (Usage / Try / Error lines), exit 2, no traceback."""
    where = f"cnnlab {' '.join(result.args)}"
    assert "Traceback" not in result.stderr, f"{where}: traceback\n{result.stderr}"
    assert result.code == 2, f"{where}: exit {result.code}\n{result.stderr}"
    assert "Usage: cnnlab" in result.stderr, f"{where}: no usage line\n{result.stderr}"
    errors = [line for line in result.err_lines if line.startswith("Error:")]
    assert len(errors) == 1, f"{where}: wanted one 'Error:' line\n{result.stderr}"
    for name in names:
        assert name in errors[0], f"{where}: the error does not name {name!r}\n{result.stderr}"


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["train", "--bogus"], ["--bogus"]),
        (["train", "--epochs", "abc"], ["--epochs"]),
        (["nosuch"], ["nosuch"]),
        (["predict"], ["run"]),
        (["train", "--task", "happy"], ["--task", "happy", "mood", "signs"]),
        (["train", "--engine", "torch"], ["--engine", "keras", "numpy"]),
        (["train", "--model", "resnet"], ["--model", "course", "recommended"]),
        (["train", "--schedule", "step"], ["--schedule", "constant", "cosine"]),
        (["evaluate", "runs/x", "--engine", "jax"], ["--engine"]),
        (["explain", "pool", "--mode", "min"], ["--mode", "max", "average"]),
    ],
)
def test_usage_errors_print_typers_usage_and_exit_2(args, names, tmp_path):
    before = snapshot(tmp_path)
    result = run_cnnlab(*args, cwd=tmp_path)
    assert_usage_error(result, *names)
    assert_unchanged(tmp_path, before)


def test_no_arguments_shows_the_commands_and_exits_2(tmp_path):
    result = run_cnnlab(cwd=tmp_path)
    assert result.code == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "train" in result.stdout + result.stderr and "predict" in result.stdout + result.stderr


def test_help_lists_the_choices():
    result = run_cnnlab("train", "--help", env={"COLUMNS": "200"})
    assert result.code == 0, result.stderr
    for choice in ("mood|signs", "keras|numpy", "course|recommended", "constant|cosine"):
        assert choice in result.stdout, choice


def test_an_out_path_under_a_regular_file_names_it(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    target = tmp_path / "notes.txt" / "conv.png"
    result = run_cnnlab("explain", "conv", "--out", target, cwd=tmp_path)
    assert_user_error(result, str(tmp_path / "notes.txt"), max_lines=1)
    assert_unchanged(tmp_path, before)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux)")
def test_an_out_path_under_proc_names_it(tmp_path):
    result = run_cnnlab("explain", "pool", "--out", "/proc/cnnlab-test/pool.png", cwd=tmp_path)
    assert_user_error(result, "/proc/cnnlab-test", max_lines=1)
    assert not any(tmp_path.iterdir())


def test_data_export_to_an_unwritable_place_names_it(tmp_path):
    (tmp_path / "file").write_text("x")
    before = snapshot(tmp_path)
    result = run_cnnlab(
        "data", "export", "synthetic", "--h5", tmp_path / "file" / "out", "--image-size", "8"
    )
    assert_user_error(result, str(tmp_path / "file"), max_lines=1)
    assert_unchanged(tmp_path, before)


def test_a_disk_that_fills_during_a_save_keeps_the_old_file(tmp_path):
    """``ulimit -f`` makes the PNG write fail half-way (EFBIG), like a full disk."""
    old = tmp_path / "conv.png"
    old.write_bytes(b"the user's previous picture")
    before = snapshot(tmp_path)
    result = run_cnnlab("explain", "conv", "--out", old, cwd=tmp_path, file_kb=4)
    assert_user_error(result, str(old), max_lines=1)
    assert "too large" in result.stderr.lower(), result.stderr
    assert_unchanged(tmp_path, before)
    assert temporaries(tmp_path) == []


def test_out_of_memory_says_what_it_tried_to_allocate_and_where(tmp_path):
    result = run_cnnlab(
        *("bench", "--no-tensorflow", "--size", "512", "--channels", "64"),
        *("--batch", "64", "--repeats", "1"),
        cwd=tmp_path,
        memory_kb=2_000_000,
    )
    assert_user_error(result, max_lines=1)
    lines = result.err_lines
    assert lines[0].startswith("error: out of memory: ")
    assert "GiB" in lines[0] and "(64, 512, 512, 64)" in lines[0]
    assert "(in cnnlab.ops." in lines[0], lines[0]


def test_ctrl_c_exits_130_and_says_so(tmp_path):
    proc = subprocess.Popen(
        [str(CNNLAB), "bench", "--no-tensorflow", "--size", "128", "--repeats", "1000"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["interrupted"], err


_BUG = """
import sys
import cnnlab.explain
from cnnlab.cli import main

def broken(*args, **kwargs):
    raise {exc}("an internal bug")

cnnlab.explain.explain_conv = broken
sys.argv = ["cnnlab", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("exc", ["ValueError", "KeyError", "RuntimeError"])
def test_a_bug_keeps_its_traceback(exc, tmp_path):
    """Only cnnlab's own user errors become one line; a ValueError from a bug is a bug."""
    proc = subprocess.run(
        [sys.executable, "-c", _BUG.format(exc=exc), "explain", "conv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr  # never 1: cnnlab check's "a function failed"
    assert "Traceback" in proc.stderr and "an internal bug" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"internal error: {exc}")


def test_debug_shows_the_traceback_of_a_user_error(tmp_path):
    plain = run_cnnlab("explain", "conv", "--input", "6x0x3", cwd=tmp_path)
    assert_user_error(plain, "6x0x3", max_lines=1)
    debug = run_cnnlab("--debug", "explain", "conv", "--input", "6x0x3", cwd=tmp_path)
    assert debug.code == 2
    assert "Traceback" in debug.stderr
    assert debug.err_lines[-1] == plain.err_lines[0]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--seed", "-1"], ["seed must be a non-negative integer", "-1"]),
        (["--lr", "inf"], ["learning_rate must be a positive finite number", "inf"]),
        (["--lr", "nan"], ["learning_rate", "nan"]),
        (["--batch-size", "0"], ["batch_size", "0"]),
    ],
)
def test_bad_training_values_are_one_line_before_anything_is_loaded(args, names, tmp_path):
    result = run_cnnlab("train", *args, "--out", tmp_path / "run", cwd=tmp_path)
    assert_user_error(result, *names, max_lines=1)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        ("100000x100000x3", "at most 1024 pixels per side"),
        ("50000x50000x3", "at most 1024 pixels per side"),
        ("64x64x999", "channels must be between 1 and 64"),
    ],
)
def test_explain_model_refuses_an_input_it_would_build_a_huge_model_for(shape, words, tmp_path):
    result = run_cnnlab("explain", "model", "signs", "--input", shape, cwd=tmp_path)
    assert_user_error(result, words, max_lines=1)
    assert result.seconds < 60 and list(tmp_path.iterdir()) == []
