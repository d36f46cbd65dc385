"""``cnnlab data``: list, fetch, inspect and export datasets (thin over cnnlab.data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cnnlab import _validate
from cnnlab.cli import _common
from cnnlab.errors import ArgumentError

app = typer.Typer(help="List, fetch, inspect and export datasets.", no_args_is_help=True)

ExportFormat = Literal["h5", "tfrecord"]
_SIZE_HELP = "Image size: 64, 64x48 or 64,48 (height x width), or 'native' for the source's size."


def parse_image_size(text: str) -> tuple[int, int] | None:
    """``"64"`` -> (64, 64), ``"64x48"`` -> (64, 48), ``"native"`` -> None."""
    return _common.parse_image_size(text, allow_native=True)


@app.command("list")
def list_() -> None:
    """List the built-in and named datasets, and whether each is in the cache."""
    from cnnlab.data import REGISTRY, cache_dir, dataset_dir, is_fetched

    print("built-in (no download):")
    print("  digits     1,797 images, 10 classes, 8x8 gray (scikit-learn's digits)")
    print("  synthetic  150 images, 3 classes, learnable stripes (for tests)")
    print("named (cnnlab data fetch NAME [--from PATH]):")
    for entry in REGISTRY.values():
        state = f"cached: {dataset_dir(entry.name)}" if is_fetched(entry.name) else "not fetched"
        print(
            f"  {entry.name:<10} {entry.n_images:,} images, {len(entry.classes)} classes, "
            f"{entry.image_info}; {entry.title}"
        )
        print(f"  {'':<10} license: {entry.license}; {state}")
        print(f"  {'':<10} {entry.url}")
    print(f"cache: {cache_dir()}")


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="Dataset name: signs or smiles.")],
    from_path: Annotated[
        Path | None,
        typer.Option(
            "--from", help="A downloaded zip or folder to take the images from (offline)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Fetch again even if cached, and replace a larger cached copy."
        ),
    ] = False,
) -> None:
    """Download a named dataset (or take it from --from PATH) into the cache."""
    from cnnlab.data import fetch as fetch_dataset
    from cnnlab.data import verify_fetched

    folder = fetch_dataset(name, from_path=from_path, force=force)
    manifest = verify_fetched(name)
    counts = ", ".join(f"{k}: {v}" for k, v in manifest["counts"].items())
    print(f"{name}: {manifest['n_images']} images ({counts})")
    print(f"cached in {folder}")


def _load(source: str, image_size: str, grayscale: bool, seed: int):

    from cnnlab.data import load_dataset

    return load_dataset(
        source,
        image_size=parse_image_size(image_size),
        grayscale=grayscale,
        seed=seed,
    )


@app.command()
def info(
    source: Annotated[str, typer.Argument(help="Name (digits, signs, smiles, ...) or path.")],
    image_size: Annotated[str, typer.Option("--image-size", help=_SIZE_HELP)] = "64",
    grayscale: Annotated[bool, typer.Option("--grayscale", help="One channel, not RGB.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Split seed.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="PNG grid of samples per class (default ./<name>_samples.png)."),
    ] = None,
    per_class: Annotated[int, typer.Option("--per-class", help="Samples per class.")] = 8,
    grid: Annotated[bool, typer.Option("--grid/--no-grid", help="Write the sample grid.")] = True,
) -> None:
    """Print images per class and split, the image size, class weights; write a sample grid."""
    from cnnlab import _io
    from cnnlab.data.preview import sample_grid

    if grid:  # before the images are loaded
        _validate.positive_int(per_class, "--per-class")
        if out is not None:
            _io.png_path(out, "--out", "the sample grid is a PNG")
    ds = _load(source, image_size, grayscale, seed)
    print(ds.summary())
    weights = ", ".join(f"{ds.class_names[k]}: {w:.3f}" for k, w in ds.class_weights().items())
    print(f"balanced class weights: {weights}")
    if grid:
        path = sample_grid(ds, out or Path(f"{ds.name}_samples.png"), per_class, seed)
        print(f"sample grid written to {path}")


@app.command()
def export(
    source: Annotated[str, typer.Argument(help="Name (digits, signs, smiles, ...) or path.")],
    h5: Annotated[
        Path | None,
        typer.Option("--h5", help="Folder for train_<name>.h5, test_<name>.h5 (--format h5)."),
    ] = None,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="h5 (the course's layout) or tfrecord (sharded, streamed: the set is never "
            "whole in memory).",
        ),
    ] = "h5",
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write into (--h5 for h5 works too).")
    ] = None,
    shards: Annotated[
        int, typer.Option("--shards", help="TFRecord files per split (--format tfrecord).")
    ] = 1,
    name: Annotated[
        str | None, typer.Option("--name", help="File name part (default: the dataset name).")
    ] = None,
    image_size: Annotated[str, typer.Option("--image-size", help=_SIZE_HELP)] = "64",
    grayscale: Annotated[bool, typer.Option("--grayscale", help="One channel, not RGB.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Split seed.")] = 0,
) -> None:
    """Write a dataset in the course's HDF5 layout (train file = train + validation), or as
    sharded TFRecord files (train, val and test; see docs/scaling.md)."""
    from cnnlab.data import export_h5
    from cnnlab.data.tfrecord import MANIFEST, export_tfrecord

    if h5 is not None and out is not None:
        raise ArgumentError("give the folder once: --h5 DIR or --out DIR, not both")
    folder = h5 if h5 is not None else out
    if folder is None:
        raise ArgumentError("where to write: give --out DIR (or --h5 DIR for --format h5)")
    if fmt == "tfrecord":
        if h5 is not None or name is not None:
            raise ArgumentError("--h5 and --name are for --format h5; use --out DIR")

        size = parse_image_size(image_size)
        manifest = export_tfrecord(
            source, folder, shards=shards, image_size=size, grayscale=grayscale, seed=seed
        )
        for split, part in manifest["splits"].items():
            print(f"wrote {len(part['files'])} {split} shards ({sum(part['counts'])} images)")
        for line in manifest["skipped"]:
            print(f"skipped: {line}")
        print(f"manifest: {folder / MANIFEST}")
        return
    if shards != 1:
        raise ArgumentError("--shards is for --format tfrecord")

    ds = _load(source, image_size, grayscale, seed)
    train_file, test_file = export_h5(ds, folder, name=name)
    n_train = len(ds.y_train) + len(ds.y_val)
    print(f"wrote {train_file} ({n_train} images)")
    print(f"wrote {test_file} ({len(ds.y_test)} images)")
