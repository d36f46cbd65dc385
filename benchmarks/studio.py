"""How fast the studio answers: one model-explorer request (request to JSON) for one image, on
the course's SIGNS and Happy models trained in both engines, on the real data in ../shared/data.
The studio runs either run's model in the NumPy engine (a Keras run's ``model.keras`` is read
without TensorFlow, :mod:`cnnlab.engines`), so the two runs of a model answer alike.

For each model the script trains a run of 1 epoch (the time of a request does not depend on
how well the model learned), starts the studio app in this process, and times through
Starlette's TestClient (a real HTTP request and response, JSON included):

- ``explore sample``: ``POST /api/runs/RUN/explore`` for a test image (every layer's feature
  maps as PNGs, the probabilities and the Grad-CAM), a different image each call;
- ``explore upload``: ``POST /api/runs/RUN/upload`` with a JPEG of a test image (decoding and,
  for the mood model, finding the face first);
- ``feature map``: the "how was this map made" request of the first Conv2D;
- ``playground``: ``POST /api/playground/conv`` on a 64x64 grid with a 3x3 kernel.

The first request of each kind is reported apart as ``first``: the first explore request
of a run loads its model and data. Beside each,
for scale, the time TensorFlow takes for the bare
``model(x, training=False)`` of the Keras run on one image, measured in the same run.

The target (issue #14): a model-explorer request under 300 ms on 2 cores.

Usage (from the repository root):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE uv run python benchmarks/studio.py
    uv run python benchmarks/studio.py --repeats 5    # quicker
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

from _timing import machine_line, print_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TARGET_MS = 300.0

MODELS = {
    "SIGNS (course, Functional)": dict(
        task="signs", model="course", data="sign-language-digits", batch_size=32
    ),
    "Happy (course, Sequential)": dict(task="mood", model="course", data="smiles", batch_size=32),
}


def _train(out: Path, engine: str, spec: dict) -> Path:
    from cnnlab.training import TrainConfig, train

    cfg = dict(spec, data=str(SHARED / spec["data"]), engine=engine, epochs=1, seed=0)
    train(TrainConfig(out=str(out), **cfg), progress=False, log=lambda line: None)
    return out


def _jpeg(image: np.ndarray) -> bytes:
    from PIL import Image

    arr = image[:, :, 0] if image.shape[2] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _timed(call, repeats: int) -> tuple[float, float]:
    """(first call, median of the next ``repeats``) in milliseconds; ``call(i)`` gets the
    call's number so that each can use another image."""
    t0 = time.perf_counter()
    call(0)
    first = time.perf_counter() - t0
    times = []
    for i in range(1, repeats + 1):
        t0 = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - t0)
    return first * 1e3, statistics.median(times) * 1e3


def _ok(response):
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text}")
    return response.json()


def measure(runs: Path, name: str, repeats: int) -> list[tuple[str, float, float]]:
    from starlette.testclient import TestClient

    from cnnlab import training
    from cnnlab.studio import create_app
    from cnnlab.training.rundata import load_data

    run = training.load_run(runs / name)
    ds = load_data(run.config, progress=False)
    uploads = [_jpeg(ds.x_test[i]) for i in range(repeats + 1)]
    rows = []
    with TestClient(create_app(runs), base_url="http://127.0.0.1") as c:

        def upload(i):
            _ok(c.post(f"/api/runs/{name}/upload", content=uploads[i]))

        conv = []  # the first Conv2D's name, from the first explore answer

        def sample(i):
            layers = _ok(c.post(f"/api/runs/{name}/explore", json={"sample": i}))["layers"]
            conv[:] = conv or [next(la["name"] for la in layers if la["type"] == "Conv2D")]

        def detail(i):
            _ok(c.get(f"/api/runs/{name}/explore/s:test:{i}/layers/{conv[0]}/channels/0"))

        rows.append(("explore sample", *_timed(sample, repeats)))
        rows.append(("explore upload", *_timed(upload, repeats)))
        rows.append(("feature map", *_timed(detail, repeats)))
    return rows


def playground(repeats: int) -> tuple[float, float]:
    from starlette.testclient import TestClient

    from cnnlab.studio import create_app

    grid = np.random.default_rng(0).integers(0, 256, size=(64, 64)).tolist()
    body = {"input": grid, "kernel": [[1, 0, -1]] * 3, "padding": "same"}
    with TestClient(create_app(ROOT / "no-runs"), base_url="http://127.0.0.1") as c:
        return _timed(lambda i: _ok(c.post("/api/playground/conv", json=body)), repeats)


def keras_call_ms(runs: Path, name: str, repeats: int) -> float:
    """Median time of the bare ``model(x, training=False)`` on one image (TensorFlow)."""
    from cnnlab import training
    from cnnlab.data.prepare import scale_pixels
    from cnnlab.training.rundata import load_data

    run = training.load_run(runs / name)
    model = training.load_model(run)
    x = scale_pixels(load_data(run.config, progress=False).x_test[:1])
    model(x, training=False)
    times = []
    for _ in range(max(repeats, 10)):
        t0 = time.perf_counter()
        model(x, training=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="Timed requests of each kind.")
    parser.add_argument(
        "--runs", type=Path, default=None, help="Keep the trained runs here (reused next time)."
    )
    args = parser.parse_args()
    print(machine_line())
    missing = [spec["data"] for spec in MODELS.values() if not (SHARED / spec["data"]).is_dir()]
    if missing:
        raise SystemExit(f"needs ../shared/data/{missing[0]}")
    with tempfile.TemporaryDirectory(prefix="cnnlab-studio-bench-") as tmp:
        runs = args.runs or Path(tmp)
        table, worst = [], 0.0
        for label, spec in MODELS.items():
            tag = spec["task"]
            for engine in ("numpy", "keras"):
                if not (runs / f"{tag}-{engine}" / "metrics.json").is_file():
                    t0 = time.perf_counter()
                    _train(runs / f"{tag}-{engine}", engine, spec)
                    print(f"trained {tag}-{engine} in {time.perf_counter() - t0:.0f} s", flush=True)
            reference = keras_call_ms(runs, f"{tag}-keras", args.repeats)
            for engine in ("numpy", "keras"):
                for what, first, median in measure(runs, f"{tag}-{engine}", args.repeats):
                    worst = max(worst, median) if what.startswith("explore") else worst
                    table.append(
                        [
                            f"{label}, {engine}",
                            what,
                            f"{first:.0f}",
                            f"{median:.1f}",
                            f"{reference:.1f}",
                            f"{median / reference:.1f}",
                        ]
                    )
        first, median = playground(args.repeats)
        table.append(["playground 64x64, 3x3 'same'", "conv", f"{first:.0f}", f"{median:.1f}"])
        table[-1] += ["-", "-"]
    print()
    print_table(
        ["model, engine", "request", "first ms", "median ms", "TF model(x) ms", "ratio"], table
    )
    verdict = "met" if worst < TARGET_MS else "MISSED"
    print(
        f"\nslowest explorer request (median): {worst:.1f} ms; "
        f"target < {TARGET_MS:.0f} ms: {verdict}"
    )


if __name__ == "__main__":
    main()
