"""Training throughput of the NumPy engine (cnnlab.nn) against Keras, measured in one run.

Trains the course's SIGNS model (1,080 images of 64x64x3, batch 64, categorical
cross-entropy) and Happy model (600 images of 64x64x3, batch 16, binary cross-entropy) with
Adam, with both engines from the same initial weights, on synthetic random images (uniform in
[0, 1), random labels: throughput does not depend on the pixel values). The first epoch of each
engine (Keras's graph tracing, NumPy's first allocations) is run and excluded; the following
``--epochs`` epochs are timed. Prints images per second per engine and the ratio NumPy/Keras.

Usage:
    uv run python benchmarks/train.py               # 3 timed epochs
    uv run python benchmarks/train.py --quick       # fewer images, 1 timed epoch
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cnnlab import nn  # noqa: E402


def throughput(model, x, y, batch_size, epochs) -> float:
    """Images per second over ``epochs`` epochs, after one untimed warm-up epoch."""
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return len(x) * epochs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per engine")
    parser.add_argument("--quick", action="store_true", help="a quarter of the images, 1 epoch")
    args = parser.parse_args()
    if args.epochs <= 0:
        parser.error(f"--epochs must be positive. Received: --epochs={args.epochs}")
    epochs = 1 if args.quick else args.epochs

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
        f"{epochs} timed epoch(s) after 1 warm-up, {os.cpu_count()} CPU(s)"
    )
    print(torch_note)
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
        k_ips = throughput(km, x, y, batch, epochs)
        n_ips = throughput(np_model, x, y, batch, epochs)
        print(f"{name:<7}{n:>8}{batch:>7}{k_ips:>14.0f}{n_ips:>14.0f}{n_ips / k_ips:>13.2f}")


if __name__ == "__main__":
    main()
