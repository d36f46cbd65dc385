"""Each bad learner file through the real entry point (``cnnlab check`` in a subprocess):
a clear verdict within the time limit, the report always printed, no process and no
temporary folder left, the machine usable. With bubblewrap where it is installed, and
without it (``CNNLAB_CHECK_SANDBOX=off``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _procs import live_processes
from test_check_sandbox import guarded, needs_seccomp  # noqa: F401 (the skip's condition)

from cnnlab.check import sandbox
from reliability.conftest import assert_user_error, run_cnnlab

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

SOLUTIONS = Path(__file__).parent / "solutions"
HAS_SANDBOX = sandbox.sandbox_tool() is not None
DENIED = "PermissionError: [Errno 1] Operation not permitted at line"


def left_running(folder: Path) -> list[int]:
    """Live processes whose HOME lies in ``folder`` (a check's child's HOME is its work
    folder, inside the temporary folder the test gave the checker)."""
    needle = f"HOME={folder}/".encode()
    return live_processes(lambda environ: any(v.startswith(needle) for v in environ))


def _check(tmp_path: Path, name: str, *extra: str, sandboxed: bool = True):
    """``cnnlab check`` on a copy of solutions/NAME.py (correct.py beside it), with the
    checker's temporary folders in the test's folder, a fake secret in the environment and
    a fake key in a fake home."""
    folder = tmp_path / "learner"
    folder.mkdir(exist_ok=True)
    shutil.copy(SOLUTIONS / "correct.py", folder / "correct.py")
    path = shutil.copy(SOLUTIONS / f"{name}.py", folder / f"{name}.py")
    temp, home = tmp_path / "temp", tmp_path / "home"
    temp.mkdir(exist_ok=True)
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "id_fake_key").write_text("-----BEGIN FAKE KEY-----\n")
    env = {
        "TMPDIR": str(temp),
        "HOME": str(home),
        "AWS_SECRET_ACCESS_KEY": "fake-secret-for-the-test",
        sandbox.SANDBOX_VARIABLE: "on" if sandboxed else "off",
    }
    result = run_cnnlab(
        "check", path, "-f", "zero_pad", "-f", "conv_single_step", "--timeout", "5", *extra,
        cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert result.seconds < 40, result.seconds
    assert list(temp.iterdir()) == [], "the checker left temporary folders"
    assert left_running(temp) == [], "the checked code left processes running"
    assert "fake-secret" not in result.stdout and "id_fake_key" not in result.stdout
    return result


def _zero_pad_line(result) -> list[str]:
    """zero_pad's line and the lines under it."""
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("zero_pad "))
    block = [lines[start]]
    block += [line for line in lines[start + 1 :] if line.startswith("    ")][:3]
    return block


MODES = [
    pytest.param(
        True, marks=pytest.mark.skipif(not HAS_SANDBOX, reason="bubblewrap is not installed")
    ),
    False,
]


@pytest.mark.parametrize("sandboxed", MODES, ids=["sandbox", "no-sandbox"])
@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        pytest.param("fork_bomb", DENIED, marks=needs_seccomp),
        ("writes_10gb", "OSError: [Errno 27] File too large at line"),
        ("allocates_20gb", "MemoryError: Unable to allocate 20.0 GiB"),
        pytest.param("kills_parent", DENIED, marks=needs_seccomp),
        pytest.param("setsid_sleeper", DENIED, marks=needs_seccomp),
    ],
)
def test_a_harmful_file_gets_a_verdict_and_leaves_nothing(tmp_path, name, verdict, sandboxed):
    result = _check(tmp_path, name, sandboxed=sandboxed)
    assert result.code == 1, result.stdout + result.stderr
    block = _zero_pad_line(result)
    assert "FAILED" in block[0] and verdict in "\n".join(block), result.stdout
    assert "conv_single_step          passed" in result.stdout
    assert "1 passed, 1 failed: exit code 1" in result.stdout
    first = result.stdout.splitlines()[0]
    assert first.startswith("warning: no sandbox here") is not sandboxed, first


def test_the_reference_imported_whole_fails_every_function(tmp_path):
    result = _check(tmp_path, "imports_reference")
    assert result.code == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    refusals = [
        line
        for line in lines
        if line.strip().startswith("imports the reference implementation: cnnlab.ops.reference")
    ]
    assert len(refusals) == 2, result.stdout
    assert "2 failed: exit code 1" in result.stdout


def test_the_keys_and_secrets_of_the_user_are_out_of_reach(tmp_path):
    result = _check(tmp_path, "reads_ssh", sandboxed=HAS_SANDBOX)
    if HAS_SANDBOX:  # the real home is hidden too
        assert result.code == 0, result.stdout
    assert "zero_pad" in result.stdout


@pytest.mark.parametrize("sandboxed", MODES, ids=["sandbox", "no-sandbox"])
def test_a_file_outside_its_folder_is_kept_in_the_sandbox(tmp_path, sandboxed):
    victim = tmp_path / "learner" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("keep me\n")
    result = _check(tmp_path, "writes_outside", "--json", sandboxed=sandboxed)
    if sandboxed:
        assert result.code == 1 and '"sandboxed": true' in result.stdout
        assert "Read-only file system" in result.stdout
        assert victim.read_text() == "keep me\n"
        assert not (victim.parent / "written.txt").exists()
    else:  # with the user's rights, and the JSON says so
        assert result.code == 0 and '"sandboxed": false' in result.stdout
        assert not victim.exists()


def test_an_infinite_timeout_is_one_line_not_a_traceback(tmp_path):
    result = run_cnnlab("check", SOLUTIONS / "correct.py", "--timeout", "inf", cwd=tmp_path)
    assert_user_error(result, "timeout must be a positive, finite number", "inf", max_lines=1)


@pytest.mark.parametrize("value", ["nan", "-1"])
def test_a_timeout_below_the_minimum_is_a_usage_error(tmp_path, value):
    result = run_cnnlab("check", SOLUTIONS / "correct.py", "--timeout", value, cwd=tmp_path)
    assert_user_error(result, "--timeout", max_lines=3)  # the option parser's own message


def test_an_endless_loop_times_out_and_leaves_no_process_or_folder(tmp_path):
    # replaces test_check_cli.py's pidfile version: the child's environment no longer
    # carries the test's variables, and in the sandbox it could not write the pidfile
    temp = tmp_path / "temp"
    temp.mkdir()
    result = run_cnnlab(
        "check", SOLUTIONS / "endless_loop.py", "--timeout", "1", "-f", "pool_forward",
        "-f", "pool_backward", cwd=tmp_path, env={"TMPDIR": str(temp)}, timeout=60,
    )  # fmt: skip
    assert result.code == 1, result.stderr
    assert "pool_forward              TIMED OUT" in result.stdout
    assert "pool_backward             passed" in result.stdout
    assert result.seconds < 30
    assert list(temp.iterdir()) == []
    assert left_running(temp) == []
