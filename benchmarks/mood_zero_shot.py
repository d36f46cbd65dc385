"""Benchmark: fer's expression model with no training, as a mood classifier (issue 23).

P(smiling) is fer's P(happy) (class 3 of its 7) on the face step's grey crops, scaled to
[-1, 1] as it learned them. The threshold is chosen on the smiles validation split of the
seed (the one a run of that seed validates on), two ways: highest validation accuracy
(which bakes in the smiles set's 28% of smiling faces) and highest balanced accuracy (both
classes alike), never on the photos from elsewhere, which are only evaluated.
Run from the repository root:

    uv run python benchmarks/mood_zero_shot.py --seeds 0 1 2 \\
        --data ../shared/data/smiles --elsewhere ../shared/data/elsewhere/happy

Prints one line per seed and a JSON summary (``--json FILE`` writes it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from cnnlab import pretrained
from cnnlab.training import TrainConfig
from cnnlab.training.rundata import load_data

HAPPY = 3  # fer's classes: angry, disgust, fear, happy, sad, surprise, neutral


def p_happy(model, x_uint8: np.ndarray) -> np.ndarray:
    grey = x_uint8.astype(np.float32).mean(axis=-1, keepdims=True) / 255.0
    return np.asarray(model.predict(grey * 2.0 - 1.0, batch_size=256, verbose=0))[:, HAPPY]


def auc(p: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(p, kind="stable")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def best_threshold(p: np.ndarray, y: np.ndarray, balanced: bool = False) -> float:
    """The threshold of highest accuracy on (p, y), or of highest balanced accuracy (the
    mean of the two classes' recalls: what a run with --class-weight aims at)."""
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    if balanced:
        acc = [np.mean([((p >= t) == y)[y == k].mean() for k in (0, 1)]) for t in grid]
    else:
        acc = [((p >= t) == y).mean() for t in grid]
    return float(grid[int(np.argmax(acc))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/smiles")
    ap.add_argument("--elsewhere", default="../shared/data/elsewhere/happy")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import keras

    model = keras.models.load_model(pretrained.path("emotion_mini_xception"), compile=False)
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        cfg = TrainConfig(task="mood", model="recommended", data=args.data, seed=seed).resolved()
        ds = load_data(cfg, progress=False)
        whole = dataclasses.replace(cfg, val_fraction=0.0, test_fraction=0.0)
        other = load_data(whole, args.elsewhere, progress=False)
        x_o = np.concatenate([other.x_train, other.x_val, other.x_test])
        y_o = np.concatenate([other.y_train, other.y_val, other.y_test])
        p_val, p_test, p_o = (p_happy(model, x) for x in (ds.x_val, ds.x_test, x_o))
        row = {"seed": seed}
        for name, balanced in (("accuracy", False), ("balanced", True)):
            t = best_threshold(p_val, ds.y_val, balanced)
            row[name] = {
                "threshold": t,
                "val_accuracy": float(((p_val >= t) == ds.y_val).mean()),
                "test_accuracy": float(((p_test >= t) == ds.y_test).mean()),
                "elsewhere_accuracy": float(((p_o >= t) == y_o).mean()),
            }
        row |= {
            "test_auc": auc(p_test, ds.y_test),
            "elsewhere_auc": auc(p_o, y_o),
            "elsewhere_n": int(len(y_o)),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
