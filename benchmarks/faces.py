"""Benchmark: face detection and SMILEs-style cropping (cnnlab.data.faces), real and synthetic.

Run from the repository root:

    uv run python benchmarks/faces.py              # table: detection rate, time, crop match
    uv run python benchmarks/faces.py --calibrate  # also measure the crop framing constants
    uv run python benchmarks/faces.py --fallback   # also measure the fallback centre crop

Test sets (``--n`` images, half from each class of ../shared/data/smiles):

- ``crops``: the 64x64 SMILEs training crops as they are.
- ``frames``: each crop tinted to a skin colour, pasted (feathered, with hair, neck and
  shoulders drawn around it) into a 192x192 head-and-shoulders frame so the face is about
  a third of the frame width, on plain colours, gradients or noise, resized to 64x64.
- ``backlit``: the same with the face and body darkened (x0.15 to x0.35) on a bright
  background, veiled by 5-20% white glare.
- ``rotated``: the same as ``frames``, rotated by +-30 degrees about the face.

Methods: ``short`` is one pass of BlazeFace short range on the letterboxed image (the
prototype); ``cascade`` is :func:`cnnlab.data.faces.detect_face`. A detection counts when
its box centre lies within a quarter of the face width of the truth. ``crop r`` is the
median correlation of :func:`~cnnlab.data.faces.face_crop` (64x64) with the converted
original crop (upright); ``none r`` the same for the whole frame resized (no face step).
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter, ImageOps  # noqa: E402

from cnnlab.data import faces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMILES = ROOT.parent / "shared" / "data" / "smiles"


def load_crops(folder: Path, n: int) -> np.ndarray:
    """``n`` grayscale 64x64 crops, half smiling, half not (sorted file names)."""
    files = sorted(glob.glob(str(folder / "smiling" / "*.jpg")))[: n // 2]
    files += sorted(glob.glob(str(folder / "not_smiling" / "*.jpg")))[: n - len(files)]
    return np.stack([np.asarray(Image.open(f).convert("L").resize((64, 64))) for f in files])


def convert(gray: np.ndarray) -> np.ndarray:
    """The training conversion of a grayscale crop (what a face crop should look like)."""
    return np.asarray(ImageOps.autocontrast(Image.fromarray(gray), cutoff=1.0))


def _background(rng: np.random.Generator, side: int, bright: bool) -> np.ndarray:
    lo, hi = (170, 256) if bright else (30, 230)
    kind = rng.integers(3)
    c0 = rng.integers(lo, hi, 3).astype(np.float32)
    if kind == 0:  # plain
        bg = np.broadcast_to(c0, (side, side, 3)).copy()
    elif kind == 1:  # gradient
        c1 = rng.integers(lo, hi, 3).astype(np.float32)
        t = np.linspace(0, 1, side, dtype=np.float32)
        t = t[:, None] if rng.random() < 0.5 else t[None, :]
        bg = np.broadcast_to(c0 + (c1 - c0) * t[..., None], (side, side, 3))
    else:  # noise: blotches plus grain
        small = rng.integers(lo, hi, (6, 6, 3)).astype(np.uint8)
        bg = np.asarray(Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC))
        bg = bg.astype(np.float32)
    bg = bg + rng.normal(0, 8, bg.shape)
    return bg.clip(0, 255).astype(np.uint8)


def make_frame(
    crop: np.ndarray,
    rng: np.random.Generator,
    *,
    backlit: bool = False,
    angle: float = 0.0,
    frame: int = 192,
    out: int = 64,
) -> tuple[np.ndarray, tuple[float, float], float]:
    """A head-and-shoulders frame around a 64x64 crop, resized to ``out``.

    Returns ``(rgb uint8 (out, out, 3), face centre (x, y) in ``out`` pixels, face side in
    ``out`` pixels)``. The face is about a third of the frame, centred with jitter, with its
    centre about 42% down the frame.
    """
    margin = frame // 4  # draw larger, so a rotation leaves no empty corners
    side = frame + 2 * margin
    canvas = Image.fromarray(_background(rng, side, backlit))
    face_side = int(round(frame / 3 * rng.uniform(0.9, 1.1)))
    fx = frame / 2 + rng.uniform(-0.08, 0.08) * frame + margin
    fy = frame * rng.uniform(0.36, 0.46) + margin
    dark = rng.uniform(0.15, 0.35) if backlit else 1.0
    draw = ImageDraw.Draw(canvas)
    cloth = tuple(int(v * dark) for v in rng.integers(20, 200, 3))
    hair = tuple(int(v * dark) for v in rng.integers(10, 90, 3))
    tint = np.array([1.0, 0.82, 0.68]) * rng.uniform(0.75, 1.05)
    skin = tuple(int(v) for v in np.clip(150 * tint * dark, 0, 255))
    s = face_side
    draw.polygon(  # shoulders
        [
            (fx - 0.35 * s, fy + 0.75 * s),
            (fx + 0.35 * s, fy + 0.75 * s),
            (fx + 1.4 * s, fy + 1.4 * s),
            (fx + 1.6 * s, side),
            (fx - 1.6 * s, side),
            (fx - 1.4 * s, fy + 1.4 * s),
        ],
        fill=cloth,
    )
    draw.rectangle([fx - 0.22 * s, fy + 0.3 * s, fx + 0.22 * s, fy + 0.85 * s], fill=skin)
    draw.ellipse([fx - 0.62 * s, fy - 0.85 * s, fx + 0.62 * s, fy + 0.45 * s], fill=hair)
    face = Image.fromarray(crop).resize((s, s), Image.Resampling.LANCZOS)
    rgb = (np.asarray(face, np.float32)[..., None] * tint * dark).clip(0, 255).astype(np.uint8)
    mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(mask).ellipse([0.02 * s, -0.1 * s, 0.98 * s, 1.05 * s], fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(s / 20))
    canvas.paste(Image.fromarray(rgb), (int(round(fx - s / 2)), int(round(fy - s / 2))), mask)
    cx, cy = round(fx - s / 2) + s / 2, round(fy - s / 2) + s / 2
    if angle:
        canvas = canvas.rotate(angle, resample=Image.Resampling.BICUBIC, center=(cx, cy))
    canvas = canvas.crop((margin, margin, margin + frame, margin + frame))
    if backlit:  # glare: the bright sky veils the whole picture a little
        glare = Image.new("RGB", canvas.size, (255, 255, 255))
        canvas = Image.blend(canvas, glare, float(rng.uniform(0.05, 0.2)))
    small = np.asarray(canvas.resize((out, out), Image.Resampling.LANCZOS))
    k = out / frame
    return small, ((cx - margin) * k, (cy - margin) * k), s * k


class ShortOnly:
    """The prototype: one short-range pass on the letterboxed image."""

    def __call__(self, image: np.ndarray):
        return faces._run(faces._SHORT, faces._rgb(image), 1.0)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64).ravel() - a.mean()
    b = b.astype(np.float64).ravel() - b.mean()
    return float(a @ b / (np.sqrt((a @ a) * (b @ b)) + 1e-12))


def build_sets(crops: np.ndarray, seed: int) -> dict[str, list]:
    """Each set: a list of (image, centre or None, face side, target converted crop)."""
    rng = np.random.default_rng(seed)
    sets: dict[str, list] = {"crops": [], "frames": [], "backlit": [], "rotated": []}
    for c in crops:
        target = convert(c)
        sets["crops"].append((c[:, :, None], None, 64.0, target))
        img, centre, s = make_frame(c, rng)
        sets["frames"].append((img, centre, s, target))
        img, centre, s = make_frame(c, rng, backlit=True)
        sets["backlit"].append((img, centre, s, target))
        img, centre, s = make_frame(c, rng, angle=float(rng.choice([-30.0, 30.0])))
        sets["rotated"].append((img, centre, s, target))
    return sets


def evaluate(sets: dict[str, list]) -> None:
    from _timing import machine_line

    print(f"Machine: {machine_line()}")
    short = ShortOnly()
    faces.detect_face(sets["crops"][0][0])  # build the interpreters outside the timing
    faces._run(faces._FULL, faces._rgb(sets["crops"][0][0]), 1.0)
    header = (
        f"{'set':<9}{'n':>5}{'short found':>13}{'short ms':>10}"
        f"{'cascade found':>15}{'cascade ms':>12}{'crop r':>9}{'none r':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, items in sets.items():
        row = [name, len(items)]
        for det in (short, faces.detect_face):
            ok, t0 = 0, time.perf_counter()
            results = [det(img) for img, *_ in items]
            ms = (time.perf_counter() - t0) / len(items) * 1000
            for face, (_, centre, s, _) in zip(results, items, strict=True):
                if face is None:
                    continue
                if centre is None or np.hypot(*np.subtract(face.center, centre)) <= s / 4:
                    ok += 1
            row += [ok / len(items), ms]
        crop_r, none_r = [], []
        for img, _, _, target in items:
            crop, _ = faces.face_crop(img, (64, 64))
            crop_r.append(corr(crop[:, :, 0], target))
            whole = np.asarray(Image.fromarray(faces._rgb(img)[:, :, 0]).resize((64, 64)))
            none_r.append(corr(whole, target))
        print(
            f"{row[0]:<9}{row[1]:>5}{row[2]:>13.1%}{row[3]:>10.2f}{row[4]:>15.1%}"
            f"{row[5]:>12.2f}{np.median(crop_r):>9.3f}{np.median(none_r):>9.3f}"
        )


def calibrate(crops: np.ndarray) -> None:
    """The framing constants: crop side / box width and the crop centre's offset."""
    scale, shift, shift_x, angles, missed = [], [], [], [], 0
    for c in crops:
        face = faces.detect_face(c[:, :, None])
        if face is None:
            missed += 1
            continue
        cx, cy = face.center
        scale.append(64 / face.width)
        shift.append((32 - cy) / face.width)
        shift_x.append((32 - cx) / face.width)
        angles.append(face.angle)
    print(f"\ncalibration on {len(crops)} SMILEs crops ({missed} without a face):")
    print(
        f"  crop side / box width   median {np.median(scale):.3f}  "
        f"(p10 {np.percentile(scale, 10):.3f}, p90 {np.percentile(scale, 90):.3f})"
    )
    print(f"  (crop - box) centre y   median {np.median(shift):+.4f} box widths (down +)")
    print(f"  (crop - box) centre x   median {np.median(shift_x):+.4f} box widths (right +)")
    print(
        f"  eye-line angle          median {np.median(angles):+.2f} deg, "
        f"median |angle| {np.median(np.abs(angles)):.2f} deg"
    )


def fallback(crops: np.ndarray, seed: int) -> None:
    """Which centre crop (fraction of the short side, raise) matches the face best."""
    rng = np.random.default_rng(seed + 1)
    frames = [make_frame(c, rng) for c in crops]
    targets = [convert(c) for c in crops]
    fractions = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 1.0)
    raises = (0.0, 0.1, 0.2, 0.3, 0.4)
    print(f"\nfallback centre crop on {len(crops)} synthetic frames: median correlation")
    print("fraction " + "".join(f"{'raise ' + str(r):>11}" for r in raises))
    saved = faces.FALLBACK_FRACTION, faces._FALLBACK_RAISE
    best = (-1.0, None)
    try:
        for f in fractions:
            cells = []
            for r in raises:
                faces.FALLBACK_FRACTION, faces._FALLBACK_RAISE = f, r
                rs = [
                    corr(faces._convert(faces._fallback(faces._gray(img), (64, 64)))[:, :, 0], t)
                    for (img, _, _), t in zip(frames, targets, strict=True)
                ]
                m = float(np.median(rs))
                cells.append(m)
                best = max(best, (m, (f, r)), key=lambda b: b[0])
            print(f"{f:<9}" + "".join(f"{m:>11.3f}" for m in cells))
    finally:
        faces.FALLBACK_FRACTION, faces._FALLBACK_RAISE = saved
    print(f"best: fraction {best[1][0]}, raise {best[1][1]} (r = {best[0]:.3f})")


def astronaut() -> None:
    """One real head-and-shoulders colour photo, if scikit-image is installed."""
    try:
        from skimage import data
    except ImportError:
        print("\nastronaut: scikit-image not installed (optional)")
        return
    photo = data.astronaut()
    for name, img in (
        ("512x512", photo),
        ("64x64", np.asarray(Image.fromarray(photo).resize((64, 64), Image.Resampling.LANCZOS))),
    ):
        face = faces.detect_face(img)
        print(
            f"\nastronaut {name}: "
            + (
                "no face"
                if face is None
                else f"box {tuple(round(v, 1) for v in face.box)} score {face.score:.2f} "
                f"angle {face.angle:+.1f}"
            )
        )
    crop, found = faces.face_crop(photo, (64, 64))
    out = ROOT / "build" / "astronaut_face.png"
    out.parent.mkdir(exist_ok=True)
    Image.fromarray(crop).save(out)
    print(f"  face_crop found={found}, saved {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smiles-dir", type=Path, default=SMILES)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--fallback", action="store_true")
    parser.add_argument("--no-table", action="store_true")
    args = parser.parse_args()
    crops = load_crops(args.smiles_dir, args.n)
    if not args.no_table:
        evaluate(build_sets(crops, args.seed))
    if args.calibrate:
        calibrate(crops)
    if args.fallback:
        fallback(crops[: min(len(crops), 200)], args.seed)
    astronaut()


if __name__ == "__main__":
    main()
