"""Benchmark: test accuracy in domain and on shifted test splits, both engines, several seeds.

Run from the repository root (the real data lives in ../shared/data):

    uv run python benchmarks/accuracy.py                      # every case (long: tens of minutes)
    uv run python benchmarks/accuracy.py --only signs-course  # cases whose name contains this
    uv run python benchmarks/accuracy.py --seeds 0            # one seed per case
    uv run python benchmarks/accuracy.py --quick              # a smoke run: few epochs, no targets
    uv run python benchmarks/accuracy.py --elsewhere ../shared/data/elsewhere  # + real photos

Each case is one ``cnnlab train`` run per seed (the same runner, split, preprocessing and
augmentation for both engines): signs = the Sign Language Digits (2,062 RGB images, 10
classes) at 64x64 with a stratified 15% validation and 15% test split; smiles = SMILEsmileD
(13,165 faces, 28% smiling) at 64x64, with the mood task's face step; digits = the built-in
default run. The seed sets the split, the weights, the order and the augmentation.

Columns: the in-domain test accuracy (mean and, over several seeds, the spread min..max); the
mean accuracy over the *shifted* copies of the same test split (:mod:`cnnlab.training.shifted`:
rotated 30 degrees, zoomed out to 60%, recoloured, downscaled to 32 px and back, and for faces
a head-and-shoulders framing), applied before the run's preprocessing; and their ratio.
With ``--elsewhere DIR``: the accuracy on real photos taken by other people
(``cnnlab evaluate RUN --data DIR/signs`` or ``DIR/happy``, evaluation only), the evidence
the synthetic shifts are not: on the shared photos they overestimated by 25-40 points.
Targets (issue #12): in-domain >= 98% (signs) and >= 93% (mood) for the recommended models,
shifted >= 0.9 x in-domain. Then NumPy vs Keras for the same architecture and recipe (within
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
    seeds: tuple[int, ...] = (0,)
    shifted_target: float | None = None  # shifted mean / in-domain, at least
    elsewhere_target: float | None = None  # on the photos from elsewhere, at least


ELSEWHERE = {"sign-language-digits": "signs", "smiles": "happy"}
"""The subfolder of ``--elsewhere DIR`` holding real photos of each training folder's task."""


SIGNS = "sign-language-digits"
SEEDS3 = (0, 1, 2)
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
        SEEDS3,
        0.90,
        0.90,
    ),
    Case(
        "signs-recommended-pixels-keras",
        None,
        dict(engine="keras", model="recommended", epochs=40, batch_size=32, preprocess="none"),
        SIGNS,
    ),
    Case(
        "signs-recommended-numpy",
        0.98,
        dict(engine="numpy", model="recommended", epochs=40, batch_size=32),
        SIGNS,
        (0,),
        0.90,
    ),
    Case(
        "signs-recommended-noaug-keras",
        None,
        dict(engine="keras", model="recommended", epochs=25, batch_size=32, augment=False),
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
        SEEDS3,
        0.90,
        0.90,
    ),
    Case(
        "smiles-transfer-keras",
        0.93,
        # the mood default: 6 epochs, the head first, class-weighted (the model's defaults)
        dict(task="mood", engine="keras", model="transfer", batch_size=32),
        "smiles",
        SEEDS3,
        0.90,
        0.90,
    ),
    Case(
        "smiles-recommended-noface-keras",
        None,
        dict(
            task="mood",
            engine="keras",
            model="recommended",
            epochs=15,
            batch_size=32,
            preprocess="none",
        ),
        "smiles",
    ),
]


def _run(case: Case, seed: int, out_root: Path, quick: bool, elsewhere: Path | None) -> dict:
    from cnnlab.training import TrainConfig, evaluate_run, train

    cfg = dict(case.config, seed=seed)
    if case.data_dir is not None:
        folder = SHARED / case.data_dir
        if not folder.is_dir():
            return {"skipped": f"{folder} missing"}
        cfg["data"] = str(folder)
    if quick:
        cfg["epochs"] = max(1, cfg.get("epochs", 15) // 10)
    t0 = time.perf_counter()
    run = train(TrainConfig(out=str(out_root / f"{case.name}-seed{seed}"), **cfg), progress=False)
    wall = time.perf_counter() - t0
    m = run.metrics
    images = m["train"]["n"] * m["epochs"]
    shifted = m.get("shifted") or {}
    photos = None
    if elsewhere is not None and case.data_dir in ELSEWHERE:
        folder = elsewhere / ELSEWHERE[case.data_dir]
        if folder.is_dir():
            photos = evaluate_run(run.dir, folder, progress=False)["test"]["accuracy"]
    return {
        "elsewhere": photos,
        "accuracy": m["test"]["accuracy"],
        "shifted": shifted.get("mean"),
        "per_shift": {k: v for k, v in shifted.items() if isinstance(v, float) and k != "mean"},
        "seconds": m["train_seconds"],
        "wall": wall,
        "ips": images / m["train_seconds"],
        "epochs": m["epochs"],
        "n_test": m["test"]["n"],
    }


def _spread(values: list[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.2%}"
    return f"{mean:.2%} ({min(values):.1%}..{max(values):.1%})"


def _summary(runs: list[dict]) -> dict:
    acc = [r["accuracy"] for r in runs]
    shifted = [r["shifted"] for r in runs if r["shifted"] is not None]
    photos = [r["elsewhere"] for r in runs if r["elsewhere"] is not None]
    return {
        "elsewhere": sum(photos) / len(photos) if photos else None,
        "elsewhere_min": min(photos) if photos else None,
        "elsewhere_text": _spread(photos) if photos else "-",
        "accuracy": sum(acc) / len(acc),
        "acc_text": _spread(acc),
        "shifted": sum(shifted) / len(shifted) if shifted else None,
        "shifted_text": _spread(shifted) if shifted else "-",
        "seconds": sum(r["seconds"] for r in runs) / len(runs),
        "wall": sum(r["wall"] for r in runs) / len(runs),
        "ips": sum(r["ips"] for r in runs) / len(runs),
        "epochs": runs[0]["epochs"],
        "seeds": len(runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the epochs; no targets")
    parser.add_argument("--only", default=None, help="comma-separated parts of case names")
    parser.add_argument("--keep", default=None, help="keep the run directories here")
    parser.add_argument(
        "--seeds", default=None, help="comma-separated seeds for every case (default: its own)"
    )
    parser.add_argument(
        "--elsewhere",
        type=Path,
        default=None,
        help="a folder of real photos from elsewhere (signs/, happy/): evaluate every run on "
        "them too (evaluation only)",
    )
    args = parser.parse_args(argv)
    if args.elsewhere is not None and not args.elsewhere.is_dir():
        parser.error(f"--elsewhere {args.elsewhere}: no such folder")

    from _timing import machine_line, print_table

    cases = CASES
    if args.only:
        parts = [p.strip() for p in args.only.split(",") if p.strip()]
        cases = [c for c in CASES if any(p in c.name for p in parts)]
        if not cases:
            parser.error(f"no case matches --only {args.only!r}; cases: {[c.name for c in CASES]}")
    seeds_override = (
        tuple(int(x) for x in args.seeds.split(",") if x.strip()) if args.seeds else None
    )
    try:
        import torch  # noqa: F401

        torch_line = "PyTorch installed (not used: the models are Keras and cnnlab.nn)"
    except ImportError:
        torch_line = "PyTorch: not installed"
    print(machine_line())
    print(torch_line)
    results: dict[str, dict] = {}
    per_shift_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out_root = Path(args.keep) if args.keep else Path(tmp)
        for case in cases:
            runs = []
            for seed in seeds_override or case.seeds:
                print(f"running {case.name} seed {seed} ...", flush=True)
                r = _run(case, seed, out_root, args.quick, args.elsewhere)
                if "skipped" in r:
                    runs = r
                    break
                runs.append(r)
                shifted = "-" if r["shifted"] is None else f"{r['shifted']:.2%}"
                photos = "-" if r["elsewhere"] is None else f"{r['elsewhere']:.2%}"
                print(
                    f"  test accuracy {r['accuracy']:.2%}, elsewhere {photos}, shifted {shifted} "
                    f"{ {k: round(v, 4) for k, v in r['per_shift'].items()} }, "
                    f"{r['seconds']:.1f}s training, {r['wall']:.1f}s in all",
                    flush=True,
                )
                if r["per_shift"]:
                    per_shift_rows.append(
                        [case.name, str(seed), f"{r['accuracy']:.2%}"]
                        + [f"{k} {v:.1%}" for k, v in r["per_shift"].items() if k != "ratio"]
                    )
            results[case.name] = runs if isinstance(runs, dict) else _summary(runs)

    rows = []
    for case in cases:
        r = results[case.name]
        if "skipped" in r:
            rows.append([case.name, "-", "-", "-", "-", "-", "-", "-", "-", "-", r["skipped"]])
            continue
        target = case.target
        ratio = r["shifted"] / r["accuracy"] if r["shifted"] is not None and r["accuracy"] else None
        ok = target is None or r["accuracy"] >= target
        if case.shifted_target is not None and ratio is not None:
            ok = ok and ratio >= case.shifted_target
        if case.elsewhere_target is not None and r["elsewhere"] is not None:
            # the mean over the seeds, and every seed within 5 points of it (issue #23)
            ok = ok and r["elsewhere"] >= case.elsewhere_target
            ok = ok and r["elsewhere_min"] >= case.elsewhere_target - 0.05
        verdict = (
            "-"
            if (target is None and case.shifted_target is None) or args.quick
            else ("ok" if ok else "MISS")
        )
        goal = "-" if target is None else f">= {target:.0%}"
        if case.shifted_target is not None:
            goal += f", ratio >= {case.shifted_target:.1f}"
        if case.elsewhere_target is not None and args.elsewhere is not None:
            goal += f", elsewhere >= {case.elsewhere_target:.0%}"
        rows.append(
            [
                case.name,
                str(r["seeds"]),
                str(r["epochs"]),
                r["acc_text"],
                r["shifted_text"],
                r["elsewhere_text"],
                "-" if ratio is None else f"{ratio:.2f}",
                goal,
                f"{r['seconds']:.1f}",
                f"{r['ips']:.0f}",
                verdict,
            ]
        )
    print()
    print_table(
        [
            "case",
            "seeds",
            "epochs",
            "test acc",
            "shifted acc",
            "elsewhere acc",
            "ratio",
            "target",
            "train s",
            "img/s",
            "verdict",
        ],
        rows,
    )
    if args.elsewhere is not None:
        print()
        print(
            "elsewhere acc: real photos taken by other people (evaluation only); the synthetic "
            "shifted split is not evidence of how a model does on them."
        )
    if per_shift_rows:
        print()
        print("per shift (test accuracy of each shifted copy):")
        for row in per_shift_rows:
            print("  " + "  ".join(row))

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
