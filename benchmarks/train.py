"""Training throughput of the NumPy engine (cnnlab.nn) against Keras, measured in one run.

Trains the course's SIGNS model (1,080 images of 64x64x3, batch 64, categorical
cross-entropy) and Happy model (600 images of 64x64x3, batch 16, binary cross-entropy), and
the recommended signs and mood models (conv blocks with BatchNormalization, global average
pooling, Dropout, Dense; built without their augmentation layers, which only Keras has) with
Adam, with both engines from the same initial weights, on synthetic random images (uniform in
[0, 1), random labels: throughput does not depend on the pixel values). The first epoch of each
engine (Keras's graph tracing, NumPy's first allocations) is run and excluded; then each of
``--rounds`` rounds fits Keras, then NumPy, for ``--epochs`` timed epochs, and each engine's best
round counts (a slow spell of a shared machine slows both engines alike). Prints images per
second per engine and the ratio NumPy/Keras.

Then the latency of one image, what ``cnnlab predict`` and the studio wait for: each
engine's model called on a single (1, 64, 64, 3) image in inference mode (NumPy
``model(x)``, Keras ``model(x, training=False)``), in interleaved rounds, best of
``--latency-repeats``.

Usage:
    uv run python benchmarks/train.py               # best of 2 rounds of 3 timed epochs
    uv run python benchmarks/train.py --quick       # fewer images, 1 round of 1 epoch
    uv run python benchmarks/train.py --models signs,happy   # only some of the models
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cnnlab import nn  # noqa: E402

MODELS = ("signs", "happy", "signs-rec", "mood-rec")


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


def latencies(keras_model, np_model, one: np.ndarray, repeats: int) -> tuple[float, float]:
    """Best milliseconds of one inference call on one image, Keras's then NumPy's, in
    interleaved rounds (after warm-up calls: Keras traces its graph on the first)."""
    import keras

    from _timing import time_calls

    kx = keras.ops.convert_to_tensor(one)
    timings = time_calls(
        {
            "keras": lambda: keras_model(kx, training=False),
            "numpy": lambda: np_model(one),
        },
        repeats=max(1, repeats),
        warmup=3,
    )
    return timings["keras"].best * 1e3, timings["numpy"].best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per engine")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the best one counts")
    parser.add_argument("--quick", action="store_true", help="a quarter of the images, 1 epoch")
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated, from {', '.join(MODELS)} (default: all)",
    )
    parser.add_argument(
        "--latency-repeats", type=int, default=50, help="one-image calls per engine (best counts)"
    )
    args = parser.parse_args()
    chosen = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown or not chosen:
        parser.error(f"--models must be names from {', '.join(MODELS)}. Received: {args.models}")
    if args.epochs <= 0:
        parser.error(f"--epochs must be positive. Received: --epochs={args.epochs}")
    if args.rounds <= 0:
        parser.error(f"--rounds must be positive. Received: --rounds={args.rounds}")
    epochs = 1 if args.quick else args.epochs
    rounds = 1 if args.quick else args.rounds

    import keras

    from cnnlab import keras_models

    rng = np.random.default_rng(0)
    builders = {
        "signs": ("SIGNS", keras_models.signs_model, 1080, 64, "categorical_crossentropy", 6),
        "happy": ("Happy", keras_models.happy_model, 600, 16, "binary_crossentropy", 1),
        "signs-rec": (
            "signs rec.",
            lambda: keras_models.signs_recommended_model(n_classes=6, augment=False),
            1080,
            64,
            "categorical_crossentropy",
            6,
        ),
        "mood-rec": (
            "mood rec.",
            lambda: keras_models.mood_recommended_model(augment=False),
            600,
            16,
            "binary_crossentropy",
            1,
        ),
    }
    cases = [builders[m] for m in MODELS if m in chosen]
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
        f"{'model':<11}{'images':>8}{'batch':>7}"
        f"{'Keras img/s':>14}{'NumPy img/s':>14}{'NumPy/Keras':>13}"
    )
    print(header)
    print("-" * len(header))
    built = []
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
        print(f"{name:<11}{n:>8}{batch:>7}{k_ips:>14.0f}{n_ips:>14.0f}{n_ips / k_ips:>13.2f}")
        built.append((name, km, np_model, x[:1]))

    print()
    print(
        f"One-image latency, inference (best of {args.latency_repeats} interleaved calls; "
        "NumPy model(x), Keras model(x, training=False)):"
    )
    header = f"{'model':<11}{'Keras ms':>10}{'NumPy ms':>10}{'NumPy/Keras':>13}"
    print(header)
    print("-" * len(header))
    for name, km, np_model, one in built:
        k_ms, n_ms = latencies(km, np_model, one, args.latency_repeats)
        print(f"{name:<11}{k_ms:>10.2f}{n_ms:>10.2f}{n_ms / k_ms:>13.2f}")


if __name__ == "__main__":
    main()
