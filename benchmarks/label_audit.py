"""A labelling audit: a seeded random sample of one class folder, as a numbered contact sheet.

What a class *means* is decided by whoever labelled the folder. Looking at a random sample is
the quickest way to see it, and a seeded sample lets anyone look at the same faces. Used in
docs/out-of-domain.md (issue 23) to compare what the smiles set calls smiling with what the
photos from elsewhere call smiling. Run from the repository root:

    uv run python benchmarks/label_audit.py ../shared/data/smiles not_smiling --seed 11 \\
        --out audit-not-smiling-11.png

Writes an 8x8 sheet (``--n 64``) of the images, each numbered in its corner, and prints
the numbered file names, so a count made by eye can be checked and repeated. The images are
the dataset's: keep the sheet local, do not commit or publish it (see the data's README).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image, ImageDraw

from cnnlab.data.images import IMAGE_SUFFIXES

TILE = 128


def sample(folder: Path, n: int, seed: int) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < n:
        raise SystemExit(f"{folder}: {len(files)} images, fewer than --n {n}")
    return random.Random(seed).sample(files, n)


def contact_sheet(files: list[Path], columns: int = 8) -> Image.Image:
    rows = -(-len(files) // columns)
    sheet = Image.new("RGB", (columns * TILE, rows * TILE), "white")
    for i, path in enumerate(files):
        with Image.open(path) as im:
            tile = im.convert("L").resize((TILE, TILE), Image.BILINEAR).convert("RGB")
        ImageDraw.Draw(tile).text((3, 2), str(i), fill=(255, 0, 0))
        sheet.paste(tile, ((i % columns) * TILE, (i // columns) * TILE))
    return sheet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="a folder of class subfolders")
    ap.add_argument("cls", help="the class subfolder to sample")
    ap.add_argument("--n", type=int, default=64, help="images in the sample (default 64)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=None, help="PNG (default audit-CLASS-SEED.png)")
    args = ap.parse_args()
    folder = args.data / args.cls
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such class folder")
    files = sample(folder, args.n, args.seed)
    out = args.out or Path(f"audit-{args.cls}-{args.seed}.png")
    if out.suffix.lower() != ".png":
        raise SystemExit(f"--out must end in .png. Received: {out}")
    contact_sheet(files).save(out)
    for i, path in enumerate(files):
        print(f"{i:3d}  {path.name}")
    print(f"{len(files)} images of {folder} (seed {args.seed}) in {out}")


if __name__ == "__main__":
    main()
