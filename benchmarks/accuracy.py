"""Benchmark: test accuracy and training time of the course and recommended models, both engines.

Run from the repository root (the real data lives in ../shared/data):

    uv run python benchmarks/accuracy.py                      # every case (long: tens of minutes)
    uv run python benchmarks/accuracy.py --only signs-course  # cases whose name contains this
    uv run python benchmarks/accuracy.py --quick              # a smoke run: few epochs, no targets

Each case is one ``cnnlab train`` run (the same runner, split, seed and preprocessing for both
engines): signs = the Sign Language Digits (2,062 RGB images, 10 classes) at 64x64 with a
stratified 15% validation and 15% test split; smiles = SMILEsmileD (13,165 faces, 28%
smiling) at 64x64; digits = the built-in default run. The table gives the test accuracy
against the issue's target, the training time (epochs only, data loading excluded) and
images per second; then NumPy vs Keras for the same architecture and recipe (target: within
2 points). PyTorch is not used (the models are Keras and cnnlab.nn).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass
class Case:
    name: str
    target: float | None
    config: dict = field(default_factory=dict)
    data_dir: str | None = None  # a folder under ../shared/data


SIGNS = "sign-language-digits"
CASES = [
    Case("default-digits-keras", 0.95, {}),
    Case(
        "signs-course-keras",
        0.80,
        dict(engine="keras", model="course", epochs=60, batch_size=32, learning_rate=0.005),
        SIGNS,
    ),
    Case(
        "signs-course-numpy",
        0.80,
        dict(engine="numpy", model="course", epochs=60, batch_size=32, learning_rate=0.005),
        SIGNS,
    ),
    Case(
        "signs-recommended-keras",
        0.98,
        dict(engine="keras", model="recommended", epochs=40, batch_size=32),
        SIGNS,
    ),
    Case(
        "signs-recommended-noaug-keras",
        None,
        dict(engine="keras", model="recommended", epochs=25, batch_size=32, augment=False),
        SIGNS,
    ),
    Case(
        "signs-recommended-noaug-numpy",
        None,
        dict(engine="numpy", model="recommended", epochs=25, batch_size=32),
        SIGNS,
    ),
    Case(
        "smiles-course-keras",
        0.90,
        dict(
            task="mood", engine="keras", model="course", epochs=12, batch_size=32, schedule="cosine"
        ),
        "smiles",
    ),
    Case(
        "smiles-course-numpy",
        0.90,
        dict(
            task="mood", engine="numpy", model="course", epochs=12, batch_size=32, schedule="cosine"
        ),
        "smiles",
    ),
    Case(
        "smiles-recommended-keras",
        0.93,
        dict(task="mood", engine="keras", model="recommended", epochs=15, batch_size=32),
        "smiles",
    ),
]


def _run(case: Case, out_root: Path, quick: bool) -> dict:
    from cnnlab.training import TrainConfig, train

    cfg = dict(case.config)
    if case.data_dir is not None:
        folder = SHARED / case.data_dir
        if not folder.is_dir():
            return {"skipped": f"{folder} missing"}
        cfg["data"] = str(folder)
    if quick:
        cfg["epochs"] = max(1, cfg.get("epochs", 15) // 10)
    t0 = time.perf_counter()
    run = train(TrainConfig(out=str(out_root / case.name), **cfg), progress=False)
    wall = time.perf_counter() - t0
    m = run.metrics
    images = m["train"]["n"] * m["epochs"]
    return {
        "accuracy": m["test"]["accuracy"],
        "seconds": m["train_seconds"],
        "wall": wall,
        "ips": images / m["train_seconds"],
        "epochs": m["epochs"],
        "n_test": m["test"]["n"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the epochs; no targets")
    parser.add_argument("--only", default=None, help="comma-separated parts of case names")
    parser.add_argument("--keep", default=None, help="keep the run directories here")
    args = parser.parse_args(argv)

    from _timing import machine_line, print_table

    cases = CASES
    if args.only:
        parts = [p.strip() for p in args.only.split(",") if p.strip()]
        cases = [c for c in CASES if any(p in c.name for p in parts)]
        if not cases:
            parser.error(f"no case matches --only {args.only!r}; cases: {[c.name for c in CASES]}")
    try:
        import torch  # noqa: F401

        torch_line = "PyTorch installed (not used: the models are Keras and cnnlab.nn)"
    except ImportError:
        torch_line = "PyTorch: not installed"
    print(machine_line())
    print(torch_line)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out_root = Path(args.keep) if args.keep else Path(tmp)
        for case in cases:
            print(f"running {case.name} ...", flush=True)
            results[case.name] = _run(case, out_root, args.quick)
            r = results[case.name]
            if "skipped" not in r:
                print(
                    f"  test accuracy {r['accuracy']:.2%}, {r['seconds']:.1f}s training, "
                    f"{r['wall']:.1f}s in all",
                    flush=True,
                )

    rows = []
    for case in cases:
        r = results[case.name]
        if "skipped" in r:
            rows.append([case.name, "-", "-", "-", "-", "-", "-", r["skipped"]])
            continue
        target = case.target
        verdict = (
            "-" if target is None or args.quick else ("ok" if r["accuracy"] >= target else "MISS")
        )
        rows.append(
            [
                case.name,
                str(r["epochs"]),
                f"{r['accuracy']:.2%}",
                "-" if target is None else f">= {target:.0%}",
                f"{r['seconds']:.1f}",
                f"{r['wall']:.1f}",
                f"{r['ips']:.0f}",
                verdict,
            ]
        )
    print()
    print_table(
        ["case", "epochs", "test acc", "target", "train s", "wall s", "img/s", "verdict"], rows
    )

    pairs = []
    for case in cases:
        if not case.name.endswith("-numpy"):
            continue
        twin = case.name[: -len("-numpy")] + "-keras"
        a, b = results.get(case.name), results.get(twin)
        if not a or not b or "skipped" in a or "skipped" in b:
            continue
        diff = (a["accuracy"] - b["accuracy"]) * 100
        ok = "-" if args.quick else ("ok" if abs(diff) <= 2 else "MISS")
        pairs.append(
            [
                case.name[: -len("-numpy")],
                f"{b['accuracy']:.2%}",
                f"{a['accuracy']:.2%}",
                f"{diff:+.1f}",
                f"{a['ips'] / b['ips']:.2f}",
                ok,
            ]
        )
    if pairs:
        print()
        print_table(
            ["same arch + recipe", "keras", "numpy", "points", "speed numpy/keras", "within 2"],
            pairs,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
