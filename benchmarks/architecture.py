"""Benchmark: which head and which blocks make the hand-sign model robust to pose and framing.

Run from the repository root (the real data lives in ../shared/data):

    uv run python benchmarks/architecture.py                 # every variant (~10-15 minutes)
    uv run python benchmarks/architecture.py --epochs 20 --only gap,flatten

Every variant is trained exactly as the runner trains the recommended model (the same split,
seed, per-epoch NumPy augmentation, Adam with a cosine schedule, batch 32), in Keras, on the
Sign Language Digits at 64x64, and is then evaluated in domain and on the shifted copies of
the test split (:mod:`cnnlab.training.shifted`). The variants differ only in the network:

- ``flatten``: the recommended conv blocks, then Flatten before the head: a class can be tied
  to where in the image its evidence appeared;
- ``gap``: the recommended model as shipped: global average pooling before the head;
- ``residual``: each block's conv doubled, with a 1x1 projection shortcut added (ResNet-style),
  then global average pooling;
- ``separable``: depthwise-separable convolutions after the first block, then global average
  pooling (fewer parameters).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SIGNS = ROOT.parent / "shared" / "data" / "sign-language-digits"
sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = ("flatten", "gap", "residual", "separable")


def build(variant: str, shape, n_classes: int):
    """The Keras model of one variant (the recommended plan of filters for every variant)."""
    import keras
    from keras import layers

    from cnnlab.keras_models import recommended_layers, recommended_plan

    if variant == "gap":
        return keras.Sequential(
            [keras.Input(shape=shape), *recommended_layers(layers, "signs", shape, n_classes)]
        )
    plan = recommended_plan(shape)
    inputs = keras.Input(shape=shape)
    x = inputs
    for i, filters in enumerate(plan):
        conv = layers.SeparableConv2D if variant == "separable" and i > 0 else layers.Conv2D
        y = conv(filters, 3, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization(momentum=0.9)(y)
        y = layers.ReLU()(y)
        if variant == "residual":
            y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
            y = layers.BatchNormalization(momentum=0.9)(y)
            shortcut = layers.Conv2D(filters, 1, use_bias=False)(x)
            shortcut = layers.BatchNormalization(momentum=0.9)(shortcut)
            y = layers.ReLU()(layers.Add()([y, shortcut]))
        x = layers.MaxPool2D(2)(y) if i < len(plan) - 1 else y
    x = layers.Flatten()(x) if variant == "flatten" else layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"signs_{variant}")


def run_variant(variant: str, ds, cfg, epochs: int) -> dict:
    import keras
    import numpy as np

    from cnnlab.data.prepare import scale_pixels
    from cnnlab.training.engines import get_engine
    from cnnlab.training.feed import augmentation, epoch_images
    from cnnlab.training.shifted import shifted_metrics

    keras.utils.set_random_seed(cfg.seed)
    model = build(variant, ds.image_shape, ds.n_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    spec = augmentation(cfg, ds.image_shape)
    x_val, y_val = scale_pixels(ds.x_val), ds.y_val
    t0 = time.perf_counter()
    for epoch in range(epochs):
        keras.utils.set_random_seed(cfg.seed + epoch)
        model.optimizer.learning_rate = cfg.learning_rate_at(epoch)
        x = epoch_images(ds.x_train, spec, cfg.seed, epoch)
        model.fit(x, ds.y_train, batch_size=cfg.batch_size, epochs=1, verbose=0, shuffle=True)
    seconds = time.perf_counter() - t0
    probs = model.predict(scale_pixels(ds.x_test), batch_size=256, verbose=0)
    acc = float(np.mean(probs.argmax(1) == ds.y_test))
    val = float(np.mean(model.predict(x_val, verbose=0).argmax(1) == y_val))
    shifted = shifted_metrics(get_engine("keras"), model, cfg, acc) or {}
    return {
        "params": model.count_params(),
        "val": val,
        "test": acc,
        "shifted": shifted,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, help="comma-separated variants")
    args = parser.parse_args(argv)
    variants = VARIANTS if not args.only else tuple(v.strip() for v in args.only.split(","))
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if not SIGNS.is_dir():
        print(f"skipped: {SIGNS} is missing")
        return 0

    from _timing import machine_line, print_table
    from cnnlab.training import TrainConfig
    from cnnlab.training.rundata import load_data

    print(machine_line())
    cfg = TrainConfig(
        task="signs", model="recommended", data=str(SIGNS), epochs=args.epochs, seed=args.seed
    ).resolved()
    cfg = dataclasses.replace(cfg, epochs=args.epochs)
    ds = load_data(cfg, progress=False)
    rows = []
    for variant in variants:
        print(f"training {variant} ...", flush=True)
        r = run_variant(variant, ds, cfg, args.epochs)
        s = r["shifted"]
        print(f"  {r}", flush=True)
        rows.append(
            [
                variant,
                f"{r['params']:,}",
                f"{r['test']:.2%}",
                f"{s.get('mean', float('nan')):.2%}",
                f"{s.get('ratio', float('nan')):.3f}",
                *(
                    f"{s.get(k, float('nan')):.1%}"
                    for k in ("rotate", "zoom_out", "recolor", "lowres")
                ),
                f"{r['seconds']:.0f}",
            ]
        )
    print()
    print(f"signs at 64x64, {args.epochs} epochs, seed {args.seed}, split 70/15/15:")
    print_table(
        [
            "variant",
            "params",
            "test acc",
            "shifted",
            "ratio",
            "rotate",
            "zoom_out",
            "recolor",
            "lowres",
            "train s",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
