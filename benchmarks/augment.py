"""Benchmark: cnnlab.data.augment's transforms, images per second on a uint8 batch.

Run from the repository root:

    uv run python benchmarks/augment.py                 # 9,000 images of 64x64x3
    uv run python benchmarks/augment.py --n 2000 --size 100 --channels 3

Each row times one transform on the whole batch (median of ``--repeat`` interleaved
rounds, see :func:`cnnlab.ops.ladder.time_calls`): ``affine`` with random angles, zooms
and shifts for every image; ``adjust_color``, ``gaussian_blur`` and ``downscale`` on
every image (in ``augment_batch`` blur and downscale only touch the images drawn for
them); ``augment_batch`` with the ``signs`` and ``mood`` presets (the figure the training
loop pays per epoch; the target is 9,000 64x64x3 images in about 2 s); and the five
:data:`~cnnlab.data.shifts.SHIFTS`.
"""

from __future__ import annotations

import argparse

import numpy as np

from cnnlab.data import augment as aug
from cnnlab.data import shifts, transforms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=9000, help="images in the batch")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (median shown)")
    parser.add_argument("--no-shifts", action="store_true", help="skip the shifts")
    args = parser.parse_args()
    from _timing import machine_line, print_table, time_calls  # benchmarks/ is on sys.path

    n, s = args.n, args.size
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, s, s, args.channels), dtype=np.uint8)
    angle, scale = rng.uniform(-45, 45, n), rng.uniform(0.55, 1.15, n)
    shift = rng.uniform(-0.15, 0.15, (n, 2))
    factors = [rng.uniform(0.7, 1.3, n) for _ in range(3)]
    hue, gains = rng.uniform(-0.04, 0.04, n), rng.uniform(0.85, 1.15, (n, 3))
    sigma = rng.uniform(0.3, 1.5, n) * s / 64
    side = rng.integers(int(0.4 * s), s + 1, n)

    fns = {
        "affine (rotate+zoom+shift)": lambda: transforms.affine(x, angle, scale, shift),
        "adjust_color (all factors)": lambda: transforms.adjust_color(x, *factors, hue, gains),
        "gaussian_blur (every image)": lambda: transforms.gaussian_blur(x, sigma),
        "downscale (every image)": lambda: transforms.downscale(x, side),
        "augment_batch signs": lambda: aug.augment_batch(
            x, aug.spec_for("signs"), np.random.default_rng(1)
        ),
        "augment_batch mood": lambda: aug.augment_batch(
            x, aug.spec_for("mood"), np.random.default_rng(1)
        ),
    }
    if not args.no_shifts:
        for kind in shifts.SHIFTS:
            fns[f"shift_images {kind}"] = lambda k=kind: shifts.shift_images(x, k, seed=0)

    print(machine_line())
    print(f"batch: {n} images of {s}x{s}x{args.channels} uint8\n")
    timings = time_calls(fns, repeats=args.repeat, warmup=1)
    rows = [
        [name, f"{t.median:.2f}", f"{t.best:.2f}", f"{n / t.median:,.0f}"]
        for name, t in timings.items()
    ]
    print_table(["transform", "median s", "best s", "images/s"], rows)


if __name__ == "__main__":
    main()
