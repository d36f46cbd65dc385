"""Size limits that keep a bad or hostile input from exhausting memory or disk.

Each limit is checked *before* the memory or disk is used, and a breach is one
:class:`~cnnlab.errors.DatasetError` (files) or :class:`~cnnlab.errors.ArgumentError`
(arguments) naming the file or option, the size asked for and the limit. The values
leave ample room for the course's data and the named datasets:

=============================  ===========  ==================================================
limit                          value        what it bounds (the largest real use)
=============================  ===========  ==================================================
``MAX_IMAGE_SIDE``             1024 px      ``image_size`` / ``--image-size`` per side (the
                                            course uses 64x64, ImageNet-style models 224x224)
``MAX_DATASET_BYTES``          4 GiB        decoded uint8 images of one load, folder or
                                            ``.h5`` (signs at 64x64: 25 MB; smiles: 54 MB)
``MAX_EXTRACT_BYTES``          2 GiB        total expanded size of a dataset zip, and the
                                            size of a download (the images of signs: 28 MB,
                                            of smiles: 52 MB)
``MAX_COMPRESSION_RATIO``      100          expanded / compressed size of a zip member over
                                            1 MiB (images barely compress; zeros reach 1000)
``MAX_ARCHIVE_MEMBERS``        200,000      entries in a dataset zip (smiles: about 13,200)
=============================  ===========  ==================================================

Pillow's own ``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 million pixels) bounds a single
image file (a decompression bomb).

The zip limits can be changed per call (``fetch(..., max_bytes=...)``,
``download(..., max_bytes=...)``, ``safe_extract(..., max_bytes=..., max_ratio=...)``);
the others are module constants (tests may patch them).
"""

from __future__ import annotations

from cnnlab.errors import DatasetError

MAX_IMAGE_SIDE = 1024
MAX_DATASET_BYTES = 4 * 1024**3
MAX_EXTRACT_BYTES = 2 * 1024**3
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_MIN_BYTES = 1 << 20
MAX_ARCHIVE_MEMBERS = 200_000


def human_bytes(n: float) -> str:
    """``3221225472`` -> ``"3.0 GiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def check_dataset_bytes(shape: tuple[int, ...], what: str, hint: str = "") -> None:
    """Refuse to allocate uint8 images of ``shape`` beyond ``MAX_DATASET_BYTES``.

    Raises:
        DatasetError: ``what`` would need more than the limit; ``hint`` says what to change.
    """
    n = 1
    for s in shape:
        n *= int(s)
    if n > MAX_DATASET_BYTES:
        dims = "x".join(str(int(s)) for s in shape)
        raise DatasetError(
            f"{what}: {dims} images would need {human_bytes(n)} of memory, over the limit of "
            f"{human_bytes(MAX_DATASET_BYTES)} (cnnlab.limits.MAX_DATASET_BYTES){hint}"
        )
