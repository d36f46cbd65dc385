"""What a person waits for: wall time and peak memory of the commands that run a model, each
beside TensorFlow's own path measured in the same run.

Every figure is a fresh process started through the real entry point (``cnnlab ...``), as a
user starts it: the imports, reading the model and the image, and the answer. Peak memory is
the process's largest resident set (``wait4``'s ``ru_maxrss``). The median of ``--repeats``
starts is reported, after one start that is not counted (it writes Python's bytecode caches,
as ``pip install`` does, and warms the file cache).

- ``predict``: ``cnnlab predict RUN one.png`` on a Keras run (the course SIGNS model on the
  built-in digits, one epoch): by default the NumPy engine reads ``model.keras`` with zipfile
  and h5py; ``--engine keras`` is TensorFlow's path.
- ``predict, face step``: the same on a mood run (the default transfer model with the face
  step, one epoch on ../shared/data/smiles), one photo from ../shared/data/elsewhere/happy.
- ``studio first explore``: a fresh ``cnnlab studio`` server, then its first explore request
  of the Keras run (it loads the model and the run's data); TensorFlow's path: a fresh
  process that imports Keras and loads the same ``model.keras``, which the studio paid before.
- ``import cnnlab.nn`` and ``cnnlab --help``; beside them ``import tensorflow``.

Targets (issue #25): predict on a Keras run under 1.5 s and 150 MB; one photo with the face
step under 2 s; the studio's first explore under 1 s; ``import cnnlab.nn`` and ``cnnlab
--help`` under 0.5 s.

Usage (from the repository root; the runs are trained first, a few minutes):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE uv run python benchmarks/latency.py
    uv run python benchmarks/latency.py --repeats 3 --keep runs/latency
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import machine_line, print_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent
CNNLAB = BIN / "cnnlab"
# PYTHONDONTWRITEBYTECODE (set on some machines) would compile every module from source on
# every start, which no pip-installed package does: the figures are taken without it, after
# one start that writes the bytecode caches.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)


def _measure_rss(command: list[str]) -> tuple[float, float]:
    """``(seconds, peak MB)`` of one fresh process (``wait4``'s ``ru_maxrss``); stops on a
    non-zero exit."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=False
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{err}")
    return seconds, usage.ru_maxrss / 1024


def median_of(command: list[str], repeats: int) -> tuple[float, float]:
    """The median time and the largest peak memory of ``repeats`` starts, after one start
    that is not counted (it writes the bytecode caches and warms the file cache)."""
    _measure_rss(command)
    runs = [_measure_rss(command) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def _train(args: list[str], out: Path) -> Path:
    if (out / "metrics.json").is_file():
        return out
    print(f"training {out.name}: cnnlab train {' '.join(args)}", flush=True)
    subprocess.run([str(CNNLAB), "train", *args, "--out", str(out)], env=ENV, check=True)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def studio_first_explore(runs: Path, name: str) -> tuple[float, float]:
    """``(seconds of the first explore request, seconds until the server answered)``."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(CNNLAB), "studio", "--runs", str(runs), "--port", str(port), "--no-open"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/runs", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    err = proc.stderr.read().decode()
                    raise SystemExit(f"the studio did not start: {err}") from None
                time.sleep(0.05)
        ready = time.perf_counter() - t0
        body = json.dumps({"sample": 0, "split": "test"}).encode()
        request = urllib.request.Request(
            f"{base}/api/runs/{name}/explore",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        t1 = time.perf_counter()
        answer = json.loads(urllib.request.urlopen(request, timeout=300).read())
        first = time.perf_counter() - t1
        if "layers" not in answer:
            raise SystemExit(f"the explore request failed: {answer}")
        return first, ready
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per figure")
    parser.add_argument("--keep", type=Path, help="train the runs here, and reuse them")
    args = parser.parse_args()
    print(machine_line())
    print(f"TF_CPP_MIN_LOG_LEVEL=3; the median of {args.repeats} fresh processes each\n")

    root = args.keep or Path(tempfile.mkdtemp(prefix="cnnlab-latency-"))
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    digits = _train(
        ["--engine", "keras", "--model", "course", "--data", "digits", "--epochs", "1"],
        runs / "digits-keras",
    )
    smiles, happy = SHARED / "smiles", SHARED / "elsewhere" / "happy"
    mood = None
    if smiles.is_dir() and happy.is_dir():
        mood = _train(
            ["--engine", "keras", "--task", "mood", "--data", str(smiles), "--epochs", "1"],
            runs / "mood-keras",
        )
    image = root / "digit.png"
    if not image.exists():
        import numpy as np
        from PIL import Image

        Image.fromarray(np.full((16, 16), 200, np.uint8)).save(image)

    rows, verdicts = [], []

    def row(what, ours_cmd, tf_cmd, target_s, target_mb=None):
        ours = median_of(ours_cmd, args.repeats)
        tf = median_of(tf_cmd, args.repeats) if tf_cmd else None
        rows.append(
            [
                what,
                f"{ours[0]:.2f}",
                f"{ours[1]:.0f}",
                f"{tf[0]:.2f}" if tf else "-",
                f"{tf[1]:.0f}" if tf else "-",
                f"{ours[0] / tf[0]:.2f}x" if tf else "-",
            ]
        )
        ok = ours[0] < target_s and (target_mb is None or ours[1] < target_mb)
        limit = f"< {target_s} s" + (f", < {target_mb} MB" if target_mb else "")
        verdict = "met" if ok else "MISSED"
        verdicts.append(f"{verdict}: {what} {ours[0]:.2f} s, {ours[1]:.0f} MB ({limit})")

    python = str(BIN / "python")
    predict = [str(CNNLAB), "predict", str(digits), str(image)]
    row("predict, Keras run", predict, [*predict, "--engine", "keras"], 1.5, 150)
    if mood is not None:
        photo = str(sorted(happy.glob("*/*"))[0])
        face = [str(CNNLAB), "predict", str(mood), photo]
        row("predict, mood + face step", face, [*face, "--engine", "keras"], 2.0)
    row(
        "import cnnlab.nn",
        [python, "-c", "import cnnlab.nn"],
        [python, "-c", "import tensorflow"],
        0.5,
    )
    row("cnnlab --help", [str(CNNLAB), "--help"], None, 0.5)

    studio_first_explore(runs, "digits-keras")  # not counted: the caches, as above
    firsts = [studio_first_explore(runs, "digits-keras") for _ in range(args.repeats)]
    first = statistics.median(f[0] for f in firsts)
    ready = statistics.median(f[1] for f in firsts)
    keras_load = median_of(
        [
            python,
            "-c",
            f"import keras; keras.models.load_model({str(digits / 'model.keras')!r})",
        ],
        args.repeats,
    )
    rows.append(
        ["studio first explore", f"{first:.2f}", "-", f"{keras_load[0]:.2f}", "-",
         f"{first / keras_load[0]:.2f}x"]
    )  # fmt: skip
    ok = first < 1.0
    verdicts.append(f"{'met' if ok else 'MISSED'}: studio first explore {first:.2f} s (< 1 s)")

    print_table(["what a user runs", "cnnlab s", "MB", "TF path s", "TF MB", "ratio"], rows)
    print(
        f"\n(studio: the server answered its first request {ready:.2f} s after it was started; "
        "its TF path is a fresh process importing Keras and loading the same model.keras)"
    )
    print("\n".join(verdicts))
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
