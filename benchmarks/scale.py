"""Streaming at scale: peak memory and throughput of one epoch as the dataset grows.

Makes synthetic class folders of JPEGs (64x64 RGB, 10 classes; each class its own colour and
stripes, plus noise) in a temporary folder, then measures, each in a fresh process:

1. for each size in ``--sizes``: one epoch of the recommended Keras model, streamed
   (``cnnlab train --stream``): the process's peak RSS and the training throughput (training
   images per second of the epoch, validation and checkpoint included);
2. for each size in ``--memory-sizes``: the same run in memory, for comparison;
3. on the first size: Keras ``fit`` throughput from memory against a stream with a warm
   on-disk ``.cache`` (the same model, one timed epoch each after a warm-up epoch);
4. on the first size: ``--distribute mirrored --cpu-replicas 2`` against one device.

Targets (issue 16): peak RSS at the largest size within 1.2x of the smallest (memory flat in
dataset size), and streaming throughput with a warm cache at least 0.8x the in-memory path's.
Not a timed test: run it by hand, on a quiet machine, and put the figures in docs/benchmarks.md.

Usage:
    uv run python benchmarks/scale.py                          # 2,000 / 20,000 / 60,000
    uv run python benchmarks/scale.py --sizes 2000,20000 --memory-sizes 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

CNNLAB = Path(sys.executable).with_name("cnnlab")


def make_folder(root: Path, n: int, classes: int = 10, side: int = 64, seed: int = 0) -> Path:
    """``n`` JPEGs in ``classes`` class folders (learnable: colour and stripe period)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    for k in range(classes):
        folder = root / f"class_{k:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = rng.integers(40, 216, 3)
        stripes = (np.sin(2 * np.pi * (xx + yy) / (4 + k)) * 40)[..., None]
        for i in range(n // classes + (k < n % classes)):
            img = colour + stripes + rng.normal(0, 20, (side, side, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
                folder / f"{i:06d}.jpg", quality=90
            )
    return root


_PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def peak_rss(cmd: list[str], env: dict | None = None) -> tuple[int, float, str]:
    """``(peak RSS in bytes, wall seconds, stdout)`` of ``cmd`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, *cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    return int(lines[-1]) * 1024, seconds, "\n".join(lines[:-1])


def train_run(data: Path, out: Path, *extra: str) -> dict:
    cmd = [
        str(CNNLAB),
        "train",
        "--task",
        "signs",
        "--data",
        str(data),
        "--image-size",
        "64",
        "--rgb",
        "--epochs",
        "1",
        "--out",
        str(out),
        *extra,
    ]
    rss, seconds, _ = peak_rss(cmd)
    metrics = json.loads((out / "metrics.json").read_text())
    n_train = metrics["train"]["n"]
    return {
        "peak_rss_mb": rss / 2**20,
        "train_images_per_s": n_train / metrics["train_seconds"],
        "wall_s": seconds,
        "n_train": n_train,
    }


_FIT = r"""
import json, sys, time, tempfile
import numpy as np
from cnnlab.data import load_dataset
from cnnlab.data.stream import open_stream
from cnnlab.training import TrainConfig
from cnnlab.training.engines import KerasEngine
from cnnlab.data.prepare import scale_pixels
from cnnlab.tasks import get_task

folder, mode = sys.argv[1], sys.argv[2]
cfg = TrainConfig(task="signs", data=folder, image_size=(64, 64), grayscale=False).resolved()
engine = KerasEngine()
if mode == "memory":
    ds = load_dataset(folder, image_size=64)
    x, y = scale_pixels(ds.x_train), get_task("signs").targets(ds.y_train)
    model = engine.build(cfg, ds.image_shape, ds.n_classes)
    def epoch():
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    n = len(x)
else:
    st = open_stream(folder, image_size=64)
    model = engine.build(cfg, st.image_shape, st.n_classes)
    cache = tempfile.mkdtemp() + "/train"
    def finish(x, y, p):
        return scale_pixels(x), get_task("signs").targets(y)
    data = st.tf_dataset("train", 32, finish, cache=cache, shuffle_seed=0)
    def epoch():
        model.fit(data, epochs=1, verbose=0)
    n = len(st.x_train)
epoch()  # warm-up: tracing, and for the stream the cache is filled
t0 = time.perf_counter()
epoch()
print(json.dumps({"images_per_s": n / (time.perf_counter() - t0)}))
"""


def fit_throughput(folder: Path, mode: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", _FIT, str(folder), mode], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000,60000", help="dataset sizes, streamed")
    parser.add_argument("--memory-sizes", default="2000", help="sizes also run in memory")
    parser.add_argument("--no-cache", action="store_true", help="skip the cache comparison")
    parser.add_argument("--no-replicas", action="store_true", help="skip --cpu-replicas 2")
    parser.add_argument("--workdir", help="keep the folders here (default: a temporary one)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    memory_sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="cnnlab-scale-"))
    print(f"machine: {os.cpu_count()} CPUs; folders in {work}", flush=True)
    rows = []
    for n in sizes:
        folder = work / f"jpeg-{n}"
        if not folder.exists():
            t0 = time.perf_counter()
            make_folder(folder, n)
            print(f"made {n} JPEGs in {time.perf_counter() - t0:.0f}s", flush=True)
        res = train_run(folder, work / f"run-stream-{n}-{time.time_ns()}", "--stream")
        rows.append(("stream", n, res))
        print(f"stream {n:>6}: {json.dumps(res)}", flush=True)
        if n in memory_sizes:
            res = train_run(
                folder, work / f"run-memory-{n}-{time.time_ns()}", "--memory-budget", "1T"
            )
            rows.append(("memory", n, res))
            print(f"memory {n:>6}: {json.dumps(res)}", flush=True)
    first = work / f"jpeg-{sizes[0]}"
    if not args.no_cache:
        memory = fit_throughput(first, "memory")
        cached = fit_throughput(first, "cache")
        print(
            f"fit on {sizes[0]} images: in memory {memory:.0f} images/s, streamed with a warm "
            f"cache {cached:.0f} images/s ({cached / memory:.2f}x; target >= 0.8x)",
            flush=True,
        )
    if not args.no_replicas:
        one = train_run(first, work / f"run-one-{time.time_ns()}", "--stream")
        two = train_run(
            first,
            work / f"run-two-{time.time_ns()}",
            "--stream",
            "--distribute",
            "mirrored",
            "--cpu-replicas",
            "2",
            "--batch-size",
            "16",
        )
        print(
            f"{sizes[0]} images streamed, global batch 32: one device "
            f"{one['train_images_per_s']:.0f} images/s, --cpu-replicas 2 "
            f"{two['train_images_per_s']:.0f} images/s "
            f"({two['train_images_per_s'] / one['train_images_per_s']:.2f}x)",
            flush=True,
        )
    streamed = [r for r in rows if r[0] == "stream"]
    if len(streamed) > 1:
        ratio = streamed[-1][2]["peak_rss_mb"] / streamed[0][2]["peak_rss_mb"]
        print(
            f"peak RSS {streamed[-1][1]} vs {streamed[0][1]} images, streamed: {ratio:.2f}x "
            "(target <= 1.2x)"
        )


if __name__ == "__main__":
    main()
