"""Benchmark: loading the real image folders into uint8 NHWC arrays, cold and from the cache.

Run from the repository root:

    uv run python benchmarks/data.py            # smiles (13,165) and signs (2,062) at 64x64
    uv run python benchmarks/data.py --no-tf    # skip the TensorFlow comparison

"cold" decodes every JPEG (fresh, empty cache); "warm" is a second ``load_dataset`` that
lists the folder and reads the cached ``.npz`` (target: under 2 s for all of smiles).
TensorFlow's ``keras.utils.image_dataset_from_directory`` decoding the same folder into
arrays is timed in the same run for comparison; PyTorch is reported when installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _time(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _tf_load(folder: Path, size: tuple[int, int]) -> int:
    import numpy as np
    from keras.utils import image_dataset_from_directory

    ds = image_dataset_from_directory(
        folder, image_size=size, batch_size=256, shuffle=False, verbose=False
    )
    n = 0
    for xb, _ in ds:
        n += len(np.asarray(xb))
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smiles-dir", type=Path, default=SHARED / "smiles")
    parser.add_argument("--signs-dir", type=Path, default=SHARED / "sign-language-digits")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="warm repeats (best is shown)")
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow comparison")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
    os.environ["CNNLAB_HOME"] = str(home)  # a fresh cache: the first load is cold
    from cnnlab.data import load_dataset

    size = (args.size, args.size)
    if not args.no_tf:
        import keras.utils  # noqa: F401  (import TensorFlow before timing anything)
    rows = []
    try:
        for name, folder in (("smiles", args.smiles_dir), ("signs", args.signs_dir)):
            if not folder.is_dir():
                print(f"{name}: {folder} is missing, skipped")
                continue
            cold, ds = _time(lambda f=folder: load_dataset(f, image_size=size, progress=False))
            warm, _ = _time(
                lambda f=folder: load_dataset(f, image_size=size, progress=False), args.repeat
            )
            tf_s = None
            if not args.no_tf:
                tf_s, n_tf = _time(lambda f=folder: _tf_load(f, size))
                assert n_tf == len(ds), (n_tf, len(ds))
            rows.append((name, len(ds), ds.image_shape, cold, warm, tf_s))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    try:
        import torch  # noqa: F401

        torch_note = "installed (not timed: torchvision decoding is not part of cnnlab)"
    except ImportError:
        torch_note = "not installed"

    from _timing import machine_line

    print(f"Machine: {machine_line()}")
    print(f"\nLoading image folders at {args.size}x{args.size} (cpu count {os.cpu_count()})")
    header = f"{'dataset':<8} {'images':>7} {'shape':>10} {'cold s':>8} {'warm s':>8}"
    header += f" {'TF s':>8} {'TF/cold':>8} {'TF/warm':>8}"
    print(header)
    print("-" * len(header))
    for name, n, shape, cold, warm, tf_s in rows:
        shape_s = "x".join(str(s) for s in shape)
        line = f"{name:<8} {n:>7} {shape_s:>10} {cold:>8.2f} {warm:>8.3f}"
        if tf_s is None:
            line += f" {'-':>8} {'-':>8} {'-':>8}"
        else:
            line += f" {tf_s:>8.2f} {tf_s / cold:>7.1f}x {tf_s / warm:>7.1f}x"
        print(line)
    smiles = [r for r in rows if r[0] == "smiles"]
    if smiles:
        ok = "met" if smiles[0][4] < 2.0 else "MISSED"
        print(f"target: smiles warm load under 2 s: {ok} ({smiles[0][4]:.3f} s)")
    print(f"PyTorch: {torch_note}")


if __name__ == "__main__":
    main()
