"""The checker cannot be fooled or harmed by the learner's file: a refused import, a
function that is not the learner's, a fork bomb, a 10 GB write, a 20 GB allocation, a
look at ``~/.ssh`` and the environment's secrets, a write outside its folder, a kill of
its parent, a ``setsid`` daemon. Each gets a verdict, the report is always there, and
nothing is left behind. Both paths run: with bubblewrap (skipped where it is missing)
and without it."""

from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from test_check_runner import marked_processes

import cnnlab
from cnnlab.check import _child, check_module, runner, sandbox
from cnnlab.errors import ArgumentError

pytestmark = pytest.mark.slow  # the slow tier: each case starts the checker's child, twice

SOLUTIONS = Path(__file__).parent / "solutions"
HAS_SANDBOX = sandbox.sandbox_tool() is not None


@functools.lru_cache(maxsize=1)
def guarded() -> bool:
    """True where the child's seccomp filter works (Linux x86-64 or ARM64, a kernel and a
    container that allow it): without it a fork bomb would really fork, so its tests skip."""
    return check_module(SOLUTIONS / "correct.py", functions=["zero_pad"], n_random=1).guarded


needs_seccomp = pytest.mark.skipif("not guarded()", reason="no seccomp filter here")


@pytest.fixture(params=["sandbox", "no sandbox"])
def mode(request, monkeypatch, tmp_path):
    """Each test twice: inside bubblewrap, and with it turned off. The checker's temporary
    folders go into the test's own folder, to show they are removed."""
    if request.param == "sandbox" and not HAS_SANDBOX:
        pytest.skip("bubblewrap (bwrap) is not installed or not allowed here")
    if request.param == "no sandbox":
        monkeypatch.setenv(sandbox.SANDBOX_VARIABLE, "off")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    yield request.param
    assert list(temp.iterdir()) == [], "the checker left temporary folders"


@pytest.fixture
def mark(monkeypatch):
    """The mark every child of the check carries in its environment."""
    value = f"test-{os.getpid()}-{time.time_ns()}"
    monkeypatch.setattr(sandbox, "new_mark", lambda: value)
    return value


def _check(name: str, folder: Path | None = None, **kwargs):
    """Check one bad file's zero_pad (its other functions are correct.py's)."""
    path = SOLUTIONS / f"{name}.py"
    if folder is not None:  # a copy, with correct.py beside it
        shutil.copy(SOLUTIONS / "correct.py", folder / "correct.py")
        path = Path(shutil.copy(path, folder / path.name))
    kwargs.setdefault("functions", ["zero_pad", "conv_single_step"])
    t0 = time.perf_counter()
    report = check_module(path, n_random=1, **kwargs)
    return report, time.perf_counter() - t0


def _first_line(report) -> str:
    return str(report).splitlines()[0]


def _assert_rights_line(report, mode: str) -> None:
    """Without the sandbox, and only then, the report's first line says so."""
    if mode == "sandbox":
        assert report.sandboxed and report.warning is None
        assert _first_line(report).startswith("cnnlab check ")
    else:
        assert not report.sandboxed
        assert _first_line(report).startswith("warning: no sandbox here")
        assert "ran with your rights" in _first_line(report)


def test_the_reference_imported_whole_fails_every_function(mode):
    report = check_module(SOLUTIONS / "imports_reference.py", n_random=1)
    assert report.exit_code == 1 and not report.passed
    for f in report.functions:
        assert f.status == "failed" and f.failure.kind == "refused", f.name
        assert f.failure.message.startswith(
            "imports the reference implementation: cnnlab.ops.reference (line 2"
        )
        assert f.notes == []  # no "it may call ..." hint: nothing of it ran
    _assert_rights_line(report, mode)


def test_a_framework_import_and_a_function_taken_from_numpy_are_not_the_learners(mode):
    report = check_module(SOLUTIONS / "imports_framework.py", n_random=1)
    pad, step = report["zero_pad"], report["conv_single_step"]
    assert pad.status == "failed" and pad.failure.kind == "foreign"
    assert pad.failure.message.startswith("zero_pad: it is numpy.")
    assert pad.failure.message.endswith("pad, not a function written in your file")
    assert step.status == "failed" and step.failure.kind == "error"
    assert "imports keras, which the check does not allow" in step.failure.message
    # the file tried to import tensorflow (and caught the refusal): no function passes
    for f in report.functions[2:]:
        assert f.status == "failed" and f.failure.kind == "refused", f.name
        assert f.failure.message.startswith("imports tensorflow, which the check does not")
        assert f.failure.message.endswith("(line 4)")
    assert report.exit_code == 1


def test_functions_of_the_learners_own_helper_file_are_the_learners():
    # endless_loop.py takes seven functions from correct.py, beside it: they count
    report = check_module(SOLUTIONS / "prints_a_lot.py", functions=["conv_single_step"])
    assert report["conv_single_step"].status == "passed", str(report)


@pytest.mark.parametrize("timeout", [math.inf, -math.inf, math.nan, 0, -1, "soon"])
def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(timeout):
    with pytest.raises(ArgumentError, match=r"^timeout must be a .*Received: "):
        check_module(SOLUTIONS / "correct.py", timeout=timeout)


def test_the_child_gets_a_minimal_environment_without_the_users_secrets(
    mode, tmp_path, monkeypatch
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-the-test")
    monkeypatch.setenv("GITHUB_TOKEN", "fake-token-for-the-test")
    learner = tmp_path / "env_probe.py"
    learner.write_text(
        "import os\n\ndef zero_pad(X, pad):\n"
        "    raise RuntimeError(' '.join(sorted(os.environ)) + ' HOME=' + os.environ['HOME'])\n"
    )
    report = check_module(learner, functions=["zero_pad"], n_random=1)
    message = report["zero_pad"].failure.message
    names = message.split("RuntimeError: ")[1].split(" HOME=")[0].split()
    assert set(names) - {"PWD"} == set(sandbox.child_env(Path("/"), "-"))  # bwrap sets PWD
    assert "fake-secret" not in str(report) and "fake-token" not in str(report)
    home = message.split(" HOME=")[1].split(" at line")[0]
    assert home.endswith("/work") and "cnnlab-check-" in home


def test_the_keys_in_the_users_home_are_out_of_reach(mode, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_fake_key").write_text("-----BEGIN FAKE KEY-----\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-the-test")
    report, _ = _check("reads_ssh")
    assert "id_fake_key" not in str(report) and "fake-secret" not in str(report)
    if mode == "sandbox":  # the real home (pwd's) is hidden too
        assert report["zero_pad"].status == "passed", str(report)
    _assert_rights_line(report, mode)


def test_twenty_gigabytes_is_a_memory_error(mode):
    report, seconds = _check("allocates_20gb")
    failure = report["zero_pad"].failure
    assert failure.kind == "error" and "MemoryError: Unable to allocate 20.0 GiB" in failure.message
    assert report["conv_single_step"].status == "passed"
    assert seconds < 10


def test_ten_gigabytes_written_stops_at_the_file_size_limit(mode):
    report, seconds = _check("writes_10gb")
    failure = report["zero_pad"].failure
    assert failure.kind == "error" and "File too large" in failure.message, str(report)
    assert "fh.write(block)" in failure.message
    assert report["conv_single_step"].status == "passed"
    assert seconds < 10


@needs_seccomp
def test_a_fork_bomb_cannot_fork(mode, mark):
    report, seconds = _check("fork_bomb", timeout=5)
    failure = report["zero_pad"].failure
    assert failure.kind == "error"
    assert "PermissionError: [Errno 1] Operation not permitted" in failure.message
    assert "os.fork()" in failure.message
    assert report["conv_single_step"].status == "passed"
    assert seconds < 10
    assert marked_processes(mark) == []


def test_killing_its_parent_is_a_verdict_and_the_report_is_there(mode, mark):
    report, seconds = _check("kills_parent", timeout=5)
    failure = report["zero_pad"].failure
    assert report["zero_pad"].status == "failed"
    if report.guarded:
        assert "Operation not permitted" in failure.message
        assert "os.kill(os.getppid(), signal.SIGKILL)" in failure.message
    else:  # a stand-in, or the sandbox's init, took the signal
        assert "RuntimeError: still here" in failure.message
    assert report["conv_single_step"].status == "passed"
    assert marked_processes(mark) == []


@needs_seccomp
def test_a_setsid_child_cannot_start(mode, mark):
    report, _ = _check("setsid_sleeper", timeout=5)
    failure = report["zero_pad"].failure
    assert failure.kind == "error" and "Operation not permitted" in failure.message
    assert "subprocess.Popen" in failure.message
    assert marked_processes(mark) == []


def test_where_there_is_no_seccomp_a_setsid_child_is_killed_after_the_check(
    mode, mark, monkeypatch
):
    monkeypatch.setattr(runner, "SECCOMP", False)
    report, _ = _check("setsid_sleeper", timeout=5)
    assert report["zero_pad"].status == "passed", str(report)  # it started and padded
    assert not report.guarded
    assert marked_processes(mark) == []
    if mode == "no sandbox":
        assert "and signal your processes" in _first_line(report)


def test_a_file_outside_its_folder_is_not_changed_in_the_sandbox(mode, tmp_path):
    folder = tmp_path / "learner"
    folder.mkdir()
    (folder / "victim.txt").write_text("keep me\n")
    report, _ = _check("writes_outside", folder)
    if mode == "sandbox":
        failure = report["zero_pad"].failure
        assert failure.kind == "error" and "Read-only file system" in failure.message
        assert (folder / "victim.txt").read_text() == "keep me\n"
        assert not (folder / "written.txt").exists()
    else:  # it ran with the user's rights, and the report's first line says so
        assert report["zero_pad"].status == "passed"
        assert not (folder / "victim.txt").exists() and (folder / "written.txt").exists()
    _assert_rights_line(report, mode)


@pytest.mark.skipif(not HAS_SANDBOX, reason="bubblewrap (bwrap) is not installed here")
def test_the_sandbox_has_no_network_and_sees_no_other_process(tmp_path):
    learner = tmp_path / "probe.py"
    learner.write_text(
        "import os, socket\n\ndef zero_pad(X, pad):\n"
        "    pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "    names = sorted(n for _, n in socket.if_nameindex())\n"
        "    raise RuntimeError(f'pids {pids} interfaces {names}')\n"
    )
    report = check_module(learner, functions=["zero_pad"], n_random=1)
    message = report["zero_pad"].failure.message
    assert "interfaces ['lo']" in message, message
    pids = [int(p) for p in message.split("pids [")[1].split("]")[0].split(", ")]
    assert max(pids) < 10, message  # its own namespace: bwrap's init, the child


def test_where_there_is_no_seccomp_killing_its_parent_ends_a_stand_in_not_the_checker(
    mode, mark, monkeypatch
):
    monkeypatch.setattr(runner, "SECCOMP", False)
    report, _ = _check("kills_parent", timeout=5)
    # the parent it kills is a stand-in (or, in the sandbox, the namespace's init, which
    # ignores it): the check goes on, and the function fails by its own raise
    failure = report["zero_pad"].failure
    assert failure.kind == "error" and "RuntimeError: still here" in failure.message
    assert report["conv_single_step"].status == "passed"
    assert marked_processes(mark) == []


def test_a_file_that_removes_the_import_hook_finds_no_cnnlab_in_the_sandbox(mode):
    report = check_module(SOLUTIONS / "evades_the_hook.py", n_random=1)
    if mode == "sandbox":  # the package's folder is hidden: nothing to import
        assert {f.status for f in report.functions} == {"failed"}
        failure = report["zero_pad"].failure
        assert failure.kind == "import"
        assert "ModuleNotFoundError: No module named 'cnnlab" in failure.message
    else:  # with the user's rights a determined file gets round the hook: the report says so
        _assert_rights_line(report, mode)


def test_the_sandbox_hides_what_the_child_refuses():
    assert sandbox.REFUSED == _child.REFUSED
    hidden = sandbox.hidden_packages()
    assert str(Path(cnnlab.__file__).resolve().parent) in hidden


def test_an_import_written_in_the_file_is_found_by_the_parent(tmp_path):
    path = tmp_path / "f.py"
    path.write_text(
        "import os\ntry:\n    import tensorflow.keras as k\nexcept ImportError:\n    pass\n"
        "from cnnlab.ops import reference\nimport importlib\n"
        "m = importlib.import_module('torch.nn')\nn = __import__('jax')\nfrom . import x\n"
    )
    assert sandbox.refused_in_source(path) == [
        ("tensorflow.keras", 3), ("cnnlab.ops", 6), ("torch.nn", 8), ("jax", 9)
    ]  # fmt: skip


def test_a_flood_on_the_checkers_channel_is_a_crash_not_the_checkers_memory(mode, mark):
    report, seconds = _check("floods_channel", timeout=5)
    failure = report["zero_pad"].failure
    assert failure.kind == "crash", str(report)
    assert "it wrote over 16 MiB in one line to the checker's channel" in failure.message
    assert report["conv_single_step"].status == "passed"
    assert marked_processes(mark) == []


def test_the_limits_can_be_read_but_not_lifted(mode):
    report, seconds = _check("raises_limits")
    failure = report["zero_pad"].failure
    assert failure.kind == "error", str(report)
    assert failure.message.startswith(("raised ValueError", "raised PermissionError")), failure
    assert "resource.setrlimit" in failure.message
    assert seconds < 10


@pytest.mark.skipif(not HAS_SANDBOX, reason="bubblewrap (bwrap) is not installed here")
def test_a_file_in_the_home_folder_is_checked_and_the_rest_of_home_stays_hidden(
    tmp_path, monkeypatch
):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_fake_key").write_text("-----BEGIN FAKE KEY-----\n")
    (home / "course").mkdir()
    monkeypatch.setenv("HOME", str(home))
    learner = tmp_path / "home" / "course" / "probe.py"
    learner.write_text(
        "import os\nfrom pathlib import Path\nfrom correct import *  # noqa: F403\n\n"
        "def zero_pad(X, pad):\n"
        f"    seen = sorted(os.listdir({str(home)!r}))\n"
        "    raise RuntimeError(f'home holds {seen}')\n"
    )
    shutil.copy(SOLUTIONS / "correct.py", learner.parent / "correct.py")
    report = check_module(learner, functions=["zero_pad", "conv_forward"], n_random=1)
    assert "RuntimeError: home holds ['course']" in report["zero_pad"].failure.message
    assert report["conv_forward"].status == "passed"  # correct.py, beside it, is seen


def test_without_the_cleanup_a_setsid_child_would_outlive_the_check(mark, monkeypatch):
    # the counter-test of the no-seccomp setsid test: the mark finds the sleepers, so it
    # is the cleanup (kill_leftovers) that ends them, not luck
    monkeypatch.setenv(sandbox.SANDBOX_VARIABLE, "off")
    monkeypatch.setattr(runner, "SECCOMP", False)
    monkeypatch.setattr(sandbox, "kill_leftovers", lambda mark: 0)
    report, _ = _check("setsid_sleeper", timeout=5)
    left = marked_processes(mark)
    try:
        assert len(left) == report["zero_pad"].cases_total  # one sleeper a case
        for pid in left:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert command[:2] == [b"sleep", b"300"]
    finally:
        for pid in left:
            os.kill(pid, 9)
