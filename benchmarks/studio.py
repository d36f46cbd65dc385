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

Two more measurements (issue 27), each with its own table:

- ``explore while another run computes its confusion``: a fresh server computes the Happy NumPy
  run's confusion matrix (the course model on the smiles test split, about 2,000 images: its
  model and data loaded, every image predicted) in one thread, while another thread asks the
  SIGNS NumPy run for explore answers, one after the other, until it ends; median and max
  of those answers over ``--rounds`` rounds (target: under 300 ms);
- ``camera frame``: ``POST /api/runs/RUN/frame`` with a JPEG of a 640x480 photo-like frame
  (a photo the run did not train on, scaled up on a noisy gradient), through the run's face
  or hand step, its model and Grad-CAM, for the recommended models: SIGNS ``recommended``
  with the hand step and mood's default ``transfer`` model with the face step, each trained
  1 epoch on a few hundred of the photos (the time of a frame depends on neither; target:
  under 300 ms).

Usage (from the repository root):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE uv run python benchmarks/studio.py
    uv run python benchmarks/studio.py --repeats 5    # quicker
    uv run python benchmarks/studio.py --parts contention camera --runs /tmp/studio-runs
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
URL = "http://127.0.0.1"

MODELS = {
    "SIGNS (course, Functional)": dict(
        task="signs", model="course", data="sign-language-digits", batch_size=32
    ),
    "Happy (course, Sequential)": dict(task="mood", model="course", data="smiles", batch_size=32),
}


def _train(out: Path, engine: str, spec: dict, shared: bool = True) -> Path:
    from cnnlab.training import TrainConfig, train

    data = str(SHARED / spec["data"]) if shared else spec["data"]
    cfg = dict(spec, data=data, engine=engine, epochs=1, seed=0)
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


def contention(runs: Path, rounds: int) -> dict:
    """Explore answers of ``signs-numpy`` while ``mood-numpy`` computes its confusion matrix on
    a fresh server (in another thread): their latencies in ms, and the confusions' seconds."""
    import threading

    from starlette.testclient import TestClient

    from cnnlab.studio import create_app

    latencies, seconds, slow, n_images = [], [], [], 0
    for r in range(rounds):
        app = create_app(runs)  # nothing cached: the confusion loads the model and the data
        with TestClient(app, base_url=URL) as a, TestClient(app, base_url=URL) as b:
            _ok(b.post("/api/runs/signs-numpy/explore", json={"sample": 0}))  # loaded before
            done = threading.Event()

            def confusion(client=a, done=done) -> None:
                nonlocal n_images
                t0 = time.perf_counter()
                matrix = _ok(client.get("/api/runs/mood-numpy/confusion"))["matrix"]
                seconds.append(time.perf_counter() - t0)
                n_images = int(np.sum(matrix))
                done.set()

            worker = threading.Thread(target=confusion)
            start = time.perf_counter()
            worker.start()
            i = 1
            while not done.is_set():
                t0 = time.perf_counter()
                _ok(b.post("/api/runs/signs-numpy/explore", json={"sample": i + 40 * r}))
                latencies.append((time.perf_counter() - t0) * 1e3)
                if latencies[-1] >= TARGET_MS:
                    slow.append((r, t0 - start, latencies[-1]))
                i += 1
            worker.join()
    return {"ms": latencies, "seconds": seconds, "images": n_images, "slow": slow}


CAMERA_MODELS = {
    "SIGNS recommended, hand step": dict(
        task="signs", model="recommended", data="sign-language-digits", preprocess="hand"
    ),
    "mood transfer (default), face step": dict(
        task="mood", model="transfer", data="smiles", preprocess="face"
    ),
}
CAMERA_PER_CLASS = {"sign-language-digits": 40, "smiles": 200}
"""Photos of each class the camera runs train on (1 epoch: the timing needs a model, not a
good one)."""


def _subset(data: Path, per_class: int, out: Path) -> tuple[Path, list[Path]]:
    """A folder of the first ``per_class`` photos of each class (a photo whose bytes another
    class holds too left out: the smiles set has 5), and three photos of each left out."""
    import hashlib

    rest, seen = [], set()
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        photos = sorted(folder.glob("*.*"))
        (out / folder.name).mkdir(parents=True, exist_ok=True)
        for path in photos[:per_class]:
            digest = hashlib.sha256(path.read_bytes()).digest()
            if digest not in seen:
                seen.add(digest)
                (out / folder.name / path.name).write_bytes(path.read_bytes())
        rest += photos[per_class : per_class + 3]
    return out, rest


def _frame_jpeg(photo: Path, seed: int) -> bytes:
    """A 640x480 photo-like JPEG: the photo scaled to 360 px on a noisy gradient."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(60, 190, 640)[None, :, None] + np.linspace(-30, 30, 480)[:, None, None]
    ground = np.clip(ramp + rng.normal(0, 12, (480, 640, 3)), 0, 255).astype(np.uint8)
    frame = Image.fromarray(ground)
    frame.paste(Image.open(photo).convert("RGB").resize((360, 360)), (140, 60))
    buf = io.BytesIO()
    frame.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def camera(runs: Path, repeats: int) -> list[list[str]]:
    """``POST /frame`` of each camera model: (first, median, max) ms and how many frames the
    step found its face or hand in."""
    from starlette.testclient import TestClient

    from cnnlab.studio import create_app

    rows = []
    for label, spec in CAMERA_MODELS.items():
        name = f"camera-{spec['task']}"
        data, photos = _subset(
            SHARED / spec["data"], CAMERA_PER_CLASS[spec["data"]], runs / f"{name}-data"
        )
        if not (runs / name / "metrics.json").is_file():
            t0 = time.perf_counter()
            _train(runs / name, "keras", dict(spec, data=str(data), batch_size=32), shared=False)
            print(f"trained {name} in {time.perf_counter() - t0:.0f} s", flush=True)
        frames = [_frame_jpeg(photos[i % len(photos)], i) for i in range(repeats + 1)]
        found = []
        with TestClient(create_app(runs), base_url=URL) as c:
            times = []  # the first (it loads the model and the step's detector) apart
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                found.append(_ok(c.post(f"/api/runs/{name}/frame", content=frames[i]))["found"])
                times.append((time.perf_counter() - t0) * 1e3)
        first, times = times[0], times[1:]
        hit = [t for t, f in zip(times, found[1:], strict=True) if f]
        rows.append(
            [
                label,
                f"{first:.0f}",
                f"{statistics.median(times):.1f}",
                f"{statistics.median(hit):.1f}" if hit else "-",
                f"{max(times):.1f}",
                f"{sum(found)}/{len(found)}",
                f"{len(frames[0]) / 1024:.0f} KB",
            ]
        )
    return rows


def _course_runs(runs: Path) -> None:
    """Train the course runs the explore and contention parts use (1 epoch), unless kept."""
    for spec in MODELS.values():
        tag = spec["task"]
        for engine in ("numpy", "keras"):
            if not (runs / f"{tag}-{engine}" / "metrics.json").is_file():
                t0 = time.perf_counter()
                _train(runs / f"{tag}-{engine}", engine, spec)
                print(f"trained {tag}-{engine} in {time.perf_counter() - t0:.0f} s", flush=True)


def _verdict(ms: float) -> str:
    return "met" if ms < TARGET_MS else "MISSED"


def explore_part(runs: Path, repeats: int) -> None:
    table, worst = [], 0.0
    for label, spec in MODELS.items():
        tag = spec["task"]
        reference = keras_call_ms(runs, f"{tag}-keras", repeats)
        for engine in ("numpy", "keras"):
            for what, first, median in measure(runs, f"{tag}-{engine}", repeats):
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
    first, median = playground(repeats)
    table.append(["playground 64x64, 3x3 'same'", "conv", f"{first:.0f}", f"{median:.1f}"])
    table[-1] += ["-", "-"]
    print()
    print_table(
        ["model, engine", "request", "first ms", "median ms", "TF model(x) ms", "ratio"], table
    )
    print(
        f"\nslowest explorer request (median): {worst:.1f} ms; "
        f"target < {TARGET_MS:.0f} ms: {_verdict(worst)}"
    )


def contention_part(runs: Path, rounds: int) -> None:
    got = contention(runs, rounds)
    ms = got["ms"]
    median, worst = statistics.median(ms), max(ms)
    p95 = float(np.percentile(ms, 95))
    over = sum(t >= TARGET_MS for t in ms)
    print()
    print_table(
        [
            "while",
            "explore answers",
            "median ms",
            "95th pct ms",
            "max ms",
            f">= {TARGET_MS:.0f} ms",
            "confusion s (each round)",
        ],
        [
            [
                f"Happy NumPy's confusion of {got['images']:,} test images",
                f"{len(ms)} (SIGNS NumPy)",
                f"{median:.1f}",
                f"{p95:.1f}",
                f"{worst:.1f}",
                str(over),
                ", ".join(f"{t:.1f}" for t in got["seconds"]),
            ]
        ],
    )
    for r, at, t in got["slow"]:
        print(f"round {r + 1}: an answer asked {at:.1f} s into the confusion took {t:.0f} ms")
    print(
        f"\nexplore while another run computes its confusion: median {median:.1f} ms, max "
        f"{worst:.1f} ms; target < {TARGET_MS:.0f} ms: median {_verdict(median)}, "
        f"max {_verdict(worst)}"
    )


def camera_part(runs: Path, repeats: int) -> None:
    rows = camera(runs, repeats)
    print()
    headers = ["camera run", "first ms", "median ms", "median ms, found", "max ms", "found"]
    print_table([*headers, "frame"], rows)
    worst = max(float(v) for r in rows for v in r[2:4] if v != "-")
    print(
        f"\nslowest camera frame to prediction (median): {worst:.1f} ms; "
        f"target < {TARGET_MS:.0f} ms: {_verdict(worst)}"
    )


PARTS = ("explore", "contention", "camera")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="Timed requests of each kind.")
    parser.add_argument(
        "--rounds", type=int, default=3, help="Confusion matrices computed (contention)."
    )
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS), help="What to measure."
    )
    parser.add_argument(
        "--runs", type=Path, default=None, help="Keep the trained runs here (reused next time)."
    )
    args = parser.parse_args()
    print(machine_line())
    needs = [spec["data"] for spec in [*MODELS.values(), *CAMERA_MODELS.values()]]
    missing = [name for name in needs if not (SHARED / name).is_dir()]
    if missing:
        raise SystemExit(f"needs ../shared/data/{missing[0]}")
    with tempfile.TemporaryDirectory(prefix="cnnlab-studio-bench-") as tmp:
        runs = args.runs or Path(tmp)
        if "explore" in args.parts or "contention" in args.parts:
            _course_runs(runs)
        if "explore" in args.parts:
            explore_part(runs, args.repeats)
        if "contention" in args.parts:
            contention_part(runs, args.rounds)
        if "camera" in args.parts:
            camera_part(runs, args.repeats)


if __name__ == "__main__":
    main()
