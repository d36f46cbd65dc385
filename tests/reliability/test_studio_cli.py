"""``cnnlab studio`` through the real entry point: it starts, answers, refuses what it must,
and stops on Ctrl-C; mistakes get one line and exit code 2."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import CNNLAB, assert_user_error, run_cnnlab

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


def _start(*args: str, runs: Path) -> tuple[subprocess.Popen, str]:
    """``cnnlab studio --runs RUNS --port 0 --no-open ARGS``; returns it and its URL."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [str(CNNLAB), "studio", "--runs", str(runs), "--port", "0", "--no-open", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://[^\s]+/", line)
    if match is None:
        proc.kill()
        pytest.fail(f"cnnlab studio printed no URL: {line!r} {proc.stderr.read()}")
    return proc, match.group(0)


def _get(url: str, path: str, host: str | None = None) -> tuple[int, dict]:
    """GET ``path`` exactly as written (http.client does not tidy ``..`` away)."""
    m = re.match(r"http://([^:/]+):(\d+)/", url)
    conn = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=30)
    conn.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, (
        json.loads(body) if "json" in response.getheader("content-type") else {}
    )


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("cnnlab studio did not stop on Ctrl-C")
    return code, proc.stderr.read()


def test_studio_serves_refuses_traversal_and_stops_on_ctrl_c(tmp_path):
    runs = tmp_path / "runs"  # no runs yet: the studio still starts
    proc, url = _start(runs=runs)
    try:
        assert url.startswith("http://127.0.0.1:")
        status, info = _get(url, "/api/info")
        assert status == 200 and info["n_runs"] == 0
        for path in ("/static/../../app.py", "/static/../__init__.py", "/files/../../etc/passwd"):
            status, body = _get(url, path)
            assert status == 404 and "error" in body, path
        status, body = _get(url, "/api/info", host="attacker.example:80")
        assert status == 400 and "127.0.0.1" in body["error"]
    finally:
        code, err = _stop(proc)
    assert code in (0, 130) and "Traceback" not in err


def test_studio_on_all_interfaces_warns(tmp_path):
    proc, url = _start("--host", "0.0.0.0", runs=tmp_path)
    try:
        status, _ = _get(url, "/api/info", host="some-machine.lan")  # any Host is answered
        assert status == 200
    finally:
        code, err = _stop(proc)
    assert "warning" in err and "0.0.0.0" in err and "--host 127.0.0.1" in err


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cnnlab("studio", "--runs", tmp_path, "--port", port, "--no-open", timeout=120)
    assert_user_error(result, f"port {port}", "--port")


@pytest.mark.parametrize(
    "args,names",
    [
        (("--port", "70000"), ("port", "70000")),
        (("--host", "no.such.host.invalid"), ("no.such.host.invalid",)),
    ],
)
def test_bad_options_are_one_line(tmp_path, args, names):
    result = run_cnnlab("studio", "--runs", tmp_path, "--no-open", *args, timeout=120)
    assert_user_error(result, *names)


def test_runs_that_is_a_file_is_one_line(tmp_path):
    f = tmp_path / "runs.txt"
    f.write_text("not a folder")
    started = time.perf_counter()
    result = run_cnnlab("studio", "--runs", f, "--no-open", "--port", "0", timeout=120)
    assert_user_error(result, str(f), "not a folder")
    assert time.perf_counter() - started < 60
