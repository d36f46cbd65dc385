"""Training throughput of the NumPy engine (cnnlab.nn) against Keras, measured in one run.

Trains the course's SIGNS model (1,080 images of 64x64x3, batch 64, categorical
cross-entropy) and Happy model (600 images of 64x64x3, batch 16, binary cross-entropy) with
Adam, with both engines from the same initial weights, on synthetic random images (uniform in
[0, 1), random labels: throughput does not depend on the pixel values). The first epoch of each
engine (Keras's graph tracing, NumPy's first allocations) is run and excluded; then each of
``--rounds`` rounds fits Keras, then NumPy, for ``--epochs`` timed epochs, and each engine's best
round counts (a slow spell of a shared machine slows both engines alike). Prints images per
second per engine and the ratio NumPy/Keras.

Usage:
    uv run python benchmarks/train.py               # best of 2 rounds of 3 timed epochs
    uv run python benchmarks/train.py --quick       # fewer images, 1 round of 1 epoch
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cnnlab import nn  # noqa: E402


def throughputs(models, x, y, batch_size, epochs, rounds) -> list[float]:
    """Images per second of each model: the best of ``rounds`` rounds, each of which fits
    every model for ``epochs`` epochs in turn (after one untimed warm-up epoch each), so
    a slow spell of a shared machine slows all of them alike."""
    for model in models:
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    best = [0.0] * len(models)
    for _ in range(rounds):
        for i, model in enumerate(models):
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
            best[i] = max(best[i], len(x) * epochs / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per engine")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the best one counts")
    parser.add_argument("--quick", action="store_true", help="a quarter of the images, 1 epoch")
    args = parser.parse_args()
    if args.epochs <= 0:
        parser.error(f"--epochs must be positive. Received: --epochs={args.epochs}")
    if args.rounds <= 0:
        parser.error(f"--rounds must be positive. Received: --rounds={args.rounds}")
    epochs = 1 if args.quick else args.epochs
    rounds = 1 if args.quick else args.rounds

    import keras

    from cnnlab import keras_models

    rng = np.random.default_rng(0)
    cases = [
        ("SIGNS", keras_models.signs_model, 1080, 64, "categorical_crossentropy", 6),
        ("Happy", keras_models.happy_model, 600, 16, "binary_crossentropy", 1),
    ]
    try:
        import torch  # noqa: F401

        torch_note = "PyTorch: installed, not part of this benchmark"
    except ImportError:
        torch_note = "PyTorch: not installed"
    print(
        f"cnnlab.nn vs Keras {keras.__version__}: training throughput, synthetic data, "
        f"best of {rounds} round(s) of {epochs} timed epoch(s) per engine, after 1 warm-up, "
        f"{os.cpu_count()} CPU(s)"
    )
    print(torch_note)
    from _timing import machine_line

    print(f"Machine: {machine_line()}")
    header = (
        f"{'model':<7}{'images':>8}{'batch':>7}"
        f"{'Keras img/s':>14}{'NumPy img/s':>14}{'NumPy/Keras':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, build, n, batch, loss, classes in cases:
        if args.quick:
            n //= 4
        x = rng.random((n, 64, 64, 3), dtype=np.float32)
        labels = rng.integers(0, max(classes, 2), n)
        y = np.eye(classes, dtype="float32")[labels] if classes > 1 else labels.astype("float32")
        km = build()
        np_model = nn.from_keras(km, seed=0)  # same initial weights
        km.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=["accuracy"])
        np_model.compile(optimizer=nn.optimizers.Adam(), loss=loss, metrics=["accuracy"])
        k_ips, n_ips = throughputs([km, np_model], x, y, batch, epochs, rounds)
        print(f"{name:<7}{n:>8}{batch:>7}{k_ips:>14.0f}{n_ips:>14.0f}{n_ips / k_ips:>13.2f}")


if __name__ == "__main__":
    main()
