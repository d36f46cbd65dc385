"""Decode image files and folders of class subfolders into uint8 NHWC arrays, with a cache.

A class folder root holds one subfolder per class; sorted subfolder names give the
class index. JPEG, PNG, BMP, GIF (the first frame), TIFF and WebP files are read
(anywhere below a class folder), EXIF orientation is applied, every pixel mode is
scaled to 8 bits (16-bit and float images included), and images are converted to RGB
(or grayscale) and resized. Hidden files and folders (names starting with ``.``) are
skipped. Symbolic links (to class folders, subfolders or image files) are followed,
wherever they lead; a broken link is an error, never silently dropped.

The decoded arrays are cached as an uncompressed ``.npz`` (read with
``allow_pickle=False``) under ``<cache>/arrays``, keyed by the root, the target size,
the color mode and every file's path, size and modification time, so a second load
only lists the folder and reads one file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cnnlab import _progress, _validate
from cnnlab._io import atomic_path
from cnnlab.data import prepare  # prepare imports this module too: names at call time
from cnnlab.data.cache import cache_dir
from cnnlab.data.duplicates import check_shared_images
from cnnlab.errors import DatasetError
from cnnlab.limits import check_dataset_bytes
from cnnlab.ops import get_num_threads

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
"""File name endings the class-folder walker reads (case-insensitive)."""
SUPPORTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WebP")
"""The image formats that are decoded (named as users know them)."""
# Pillow's names (its JPEG opener also gives MPO, as many phones' JPEGs are). Other
# formats Pillow knows (EPS, PDF, ICO, ...) are refused as unsupported: fewer parsers see
# untrusted files.
_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"BM", "BMP"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
DEFAULT_IMAGE_SIZE = (64, 64)
_CACHE_VERSION = 2  # 2: the preprocessing (whole image or face) is part of the key


def normalize_image_size(image_size) -> tuple[int, int] | None:
    """Turn ``64``, ``(64, 48)``, ``"64x48"`` or ``None`` into ``(H, W)`` or ``None``.

    The rule is :func:`cnnlab._validate.image_size` (the command line's ``--image-size``
    uses it too): each side must lie in ``1..MAX_IMAGE_SIDE`` (1024, see
    :mod:`cnnlab.limits`).

    Raises:
        ArgumentError: naming ``image_size`` and the value received.
    """
    return _validate.image_size(image_size, "image_size")


def _pil():
    from PIL import Image, ImageOps

    return Image, ImageOps


def decode_image(path: str | os.PathLike, image_size, grayscale: bool = False) -> np.ndarray:
    """Read one image file into a uint8 array of shape ``(H, W, C)``.

    Every pixel mode Pillow reads is scaled to 8 bits: 16-bit gray (``I;16``,
    ``I;16B``, and ``I`` holding 0..65535) as ``round(v / 257)``; float (``F``) values
    in 0..1 times 255, in 0..255 as they are; 1-bit, palette, CMYK, YCbCr and LAB are
    converted to RGB; transparency (alpha, a palette's or a color's transparency) is
    composited onto black. Animated GIF, PNG and WebP files give their first frame.

    Args:
        path: a JPEG, PNG, BMP, GIF, TIFF or WebP file.
        image_size: ``(H, W)`` to resize to (bilinear), or ``None`` to keep the size.
        grayscale: ``True`` gives ``C = 1`` (luminance), ``False`` gives RGB, ``C = 3``.

    Raises:
        DatasetError: the file is missing, a folder, empty, in an unsupported format,
            corrupt or truncated, holds NaN/inf or out-of-range float pixels, or is over
            Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    Image, _ = _pil()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return _decode(path, normalize_image_size(image_size), grayscale)


def _sniff(path) -> str:
    """Why Pillow could not identify ``path``: empty, a damaged known format, or unsupported."""
    Image, _ = _pil()
    supported = ", ".join(SUPPORTED_FORMATS)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"cannot read ({exc.strerror})"
    if not head:
        return "empty file (0 bytes), not an image"
    for signature, fmt in _SIGNATURES:
        if head.startswith(signature):
            return f"corrupt or truncated {fmt} file (its header cannot be read)"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "corrupt or truncated WebP file (its header cannot be read)"
    try:  # name the format if Pillow knows it (the header only; nothing is decoded)
        with Image.open(path) as im:
            fmt = im.format
    except Exception:  # noqa: BLE001 - any failure here just means "not an image"
        fmt = None
    if fmt:
        return f"unsupported image format {fmt}; supported: {supported}"
    return f"not an image (unknown format; supported: {supported})"


_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def _to_8bit(im, path):
    """``im`` in a mode Pillow converts to L/RGB correctly: wide gray modes scaled to 8 bits.

    Pillow's own ``convert("L")`` clips 16-bit and float values at 255 (a 16-bit photo
    becomes white), so these modes are scaled here.
    """
    Image, _ = _pil()
    mode = im.mode
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        a = np.asarray(im)
        if mode == "F":
            a = a.astype(np.float64)
            finite = np.isfinite(a)
            if not finite.all():
                raise DatasetError(
                    f"{path}: {int(a.size - finite.sum())} pixels are NaN or infinite (float image)"
                )
            lo, hi = float(a.min()), float(a.max())
            if lo < 0 or hi > 255:
                raise DatasetError(
                    f"{path}: float pixel values must lie in 0..1 or 0..255; got {lo:g}..{hi:g}"
                )
            a = a * 255.0 if hi <= 1.0 else a
        else:
            a = a.astype(np.int64)
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi > 65535:
                raise DatasetError(
                    f"{path}: {mode} pixel values must lie in 0..65535 (16 bits); got {lo}..{hi}"
                )
            a = a / 257.0
        return Image.fromarray(np.rint(a).astype(np.uint8))
    if mode == "LAB":
        from PIL import ImageCms

        try:
            lab_to_rgb = ImageCms.buildTransform(
                ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
            )
            return ImageCms.applyTransform(im, lab_to_rgb)
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot convert its LAB colors to RGB ({exc})") from None
    return im


def _decode(path, size: tuple[int, int] | None, grayscale: bool) -> np.ndarray:
    """``decode_image`` without argument checks; the caller silences bomb warnings."""
    Image, ImageOps = _pil()
    mode = "L" if grayscale else "RGB"
    if os.path.isdir(path):
        raise DatasetError(f"{path}: is a folder, not an image file")
    try:
        kind = os.stat(path).st_mode
    except (OSError, TypeError, ValueError):
        kind = None  # missing, unreadable or a file object: Pillow's own error names it
    if kind is not None and not stat.S_ISREG(kind):  # a FIFO or a device would block or never end
        raise DatasetError(f"{path}: not a regular file (a pipe, socket or device), not an image")
    try:
        with Image.open(path, formats=_FORMATS) as im:
            w, h = im.size
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and w * h > limit:
                raise DatasetError(
                    f"{path}: image of {w}x{h} pixels is over the decompression-bomb limit "
                    f"of {limit} pixels (PIL.Image.MAX_IMAGE_PIXELS)"
                )
            # An animation (GIF, PNG, WebP) opens at its first frame, which is what is read.
            fmt = im.format
            if size is not None and fmt in ("JPEG", "MPO") and im.mode in ("RGB", "L"):
                im.draft(mode, (size[1], size[0]))
            im.load()
            if fmt not in ("BMP", "GIF") and (fmt not in ("JPEG", "MPO") or "exif" in im.info):
                im = ImageOps.exif_transpose(im)  # BMP, GIF and a JPEG without EXIF: no tag
            im = _to_8bit(im, path)
            if im.mode != mode:
                if im.mode in ("RGBA", "LA", "P", "PA", "RGBa") or "transparency" in im.info:
                    im = im.convert("RGBA")
                    bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
                    im = Image.alpha_composite(bg, im)
                if im.mode == "L" and mode == "RGB" and (size is None or im.size == size[::-1]):
                    gray = np.asarray(im, dtype=np.uint8)
                    return np.repeat(gray[:, :, None], 3, axis=2)
                im = im.convert(mode)
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except DatasetError:
        raise
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{path}: over the decompression-bomb limit ({exc})") from None
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except PermissionError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    except Image.UnidentifiedImageError:
        raise DatasetError(f"{path}: {_sniff(path)}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: corrupt or truncated image ({exc})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


# Symbolic links are followed wherever they lead. A user who links class folders or
# images in from elsewhere (a shared image pool, a split made of links) means it: the
# folder they pass is theirs, and cnnlab only reads through it. What is refused instead
# of followed: a broken link (named in the error, never dropped silently), and a folder
# link that leads back to the dataset root or above it, which would put other classes'
# images into this class (and loop). Each real folder is visited once per class.


def _broken_link(path: str) -> DatasetError:
    return DatasetError(
        f"{path}: broken symbolic link (its target {os.readlink(path)!r} does not exist)"
    )


def walk_images(folder: Path, root: Path) -> list[tuple[str, int, int]]:
    """Image files below ``folder``: ``(path, size, mtime_ns)``, sorted by path.

    Hidden entries are skipped. Links are followed (see the note above); a link to a
    folder that holds ``root`` (a resolved path) raises, and so does a broken link to an
    image name.
    """
    found: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        real = os.path.realpath(current)
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            raise DatasetError(f"{current}: cannot list folder ({exc.strerror})") from None
        for entry in entries:
            if _is_hidden(entry.name):
                continue
            is_image_name = entry.name.lower().endswith(IMAGE_SUFFIXES)
            try:
                if entry.is_symlink():
                    target = Path(os.path.realpath(entry.path))
                    if not target.exists():
                        if is_image_name:
                            raise _broken_link(entry.path)
                        continue
                    if target.is_dir() and root.is_relative_to(target):
                        raise DatasetError(
                            f"{entry.path}: links to {target}, which holds the dataset root "
                            f"{root}; it would mix the classes"
                        )
                if entry.is_dir():
                    stack.append(Path(entry.path))
                elif entry.is_file() and is_image_name:
                    st = entry.stat()
                    found.append((entry.path, st.st_size, st.st_mtime_ns))
            except OSError as exc:
                raise DatasetError(f"{entry.path}: cannot read ({exc.strerror})") from None
    found.sort()
    return found


def list_class_folders(
    root: str | os.PathLike,
) -> tuple[list[str], list[list[tuple[str, int, int]]]]:
    """Class names (sorted subfolder names) and each class's image files.

    Class folders may be symbolic links, inside the root or outside it.

    Returns:
        ``(class_names, files)`` where ``files[k]`` lists ``(path, size, mtime_ns)``.

    Raises:
        DatasetError: ``root`` is missing or not a folder, has no class subfolders, a
            class folder holds no image, a class link is broken, or two classes share
            images (:func:`cnnlab.data.duplicates.check_shared_images`).
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder of class subfolders")
    real_root = Path(os.path.realpath(root))
    classes: list[tuple[str, Path]] = []
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise DatasetError(f"{root}: cannot list folder ({exc.strerror})") from None
    for entry in top:
        if _is_hidden(entry.name):
            continue
        if entry.is_symlink():
            target = Path(os.path.realpath(entry.path))
            if not target.exists():
                raise _broken_link(entry.path)
            if target.is_dir() and real_root.is_relative_to(target):
                raise DatasetError(
                    f"{entry.path}: class folder links to {target}, which holds the dataset "
                    f"root {root}"
                )
        if entry.is_dir():
            classes.append((entry.name, Path(entry.path)))
    if not classes:
        raise DatasetError(
            f"{root}: no class subfolders found (expected one folder of images per class)"
        )
    names, files = [], []
    for name, folder in classes:
        imgs = walk_images(folder, real_root)
        if not imgs:
            raise DatasetError(
                f"{folder}: empty class folder '{name}' (no {'/'.join(IMAGE_SUFFIXES)} images)"
            )
        names.append(name)
        files.append(imgs)
    check_shared_images(root, names, files)
    return names, files


def decode_threads(workers: int | None) -> int:
    """Threads for decoding: ``workers``, else the one policy of :mod:`cnnlab.ops.parallel`.

    Pillow releases the GIL while it decodes and resizes, so decoding scales with threads
    as the ops do; one setting (``set_num_threads``) governs both.
    """
    if workers is not None:
        return _validate.positive_int(workers, "workers")
    return get_num_threads()


def decode_many(
    paths: list[str],
    image_size,
    grayscale: bool = False,
    *,
    progress: bool | None = None,
    description: str = "decoding",
    workers: int | None = None,
    preprocess: str = "none",
    found: np.ndarray | None = None,
) -> np.ndarray:
    """Decode ``paths`` into one uint8 array ``(N, H, W, C)`` on several threads.

    With ``image_size=None`` every image must already share one size. The number of
    threads is the ops' (:func:`cnnlab.ops.parallel.set_num_threads`) unless ``workers``
    says otherwise; 1 decodes in the calling thread. ``preprocess="face"`` reduces each
    image to its face (:func:`cnnlab.data.prepare.decode_prepared`); ``found``, a bool
    array of ``len(paths)``, then receives whether each face was found.
    """
    size = normalize_image_size(image_size)
    prepare.check_preprocess(preprocess)
    flags = found if found is not None else np.ones(len(paths), dtype=bool)
    c = 1 if grayscale else 3
    if not paths:
        h, w = size or (0, 0)
        return np.zeros((0, h, w, c), dtype=np.uint8)
    Image, _ = _pil()

    def decode_one(i: int) -> np.ndarray:
        if preprocess == "none":
            return _decode(paths[i], size, grayscale)
        arr, flags[i] = prepare.decode_prepared(paths[i], size, grayscale, preprocess)
        return arr

    with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS; _decode raises DatasetError there instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        first = decode_one(0)
        check_dataset_bytes(
            (len(paths), *first.shape), description, hint="; pass a smaller image size"
        )
        out = np.empty((len(paths), *first.shape), dtype=np.uint8)
        out[0] = first

        def work(chunk: range) -> int:
            for i in chunk:
                arr = decode_one(i)
                if arr.shape != first.shape:
                    raise DatasetError(
                        f"{paths[i]}: image is {arr.shape[1]}x{arr.shape[0]} but {paths[0]} "
                        f"is {first.shape[1]}x{first.shape[0]}; pass image_size to resize "
                        "them to one size"
                    )
                out[i] = arr
            return len(chunk)

        step = 128
        chunks = [range(i, min(i + step, len(paths))) for i in range(1, len(paths), step)]
        workers = decode_threads(workers)
        with ProgressBar(progress, description, len(paths)) as advance:
            advance(1)
            if workers == 1:
                for chunk in chunks:
                    advance(work(chunk))
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    try:
                        for n in pool.map(work, chunks):
                            advance(n)
                    except BaseException:
                        pool.shutdown(wait=True, cancel_futures=True)  # stop at the first error
                        raise
    return out


class ProgressBar:
    """A rich progress bar when enabled (default: only when stdout is a terminal).

    :mod:`cnnlab._progress` decides when and how; this is only the context manager.

    Used as ``with ProgressBar(None, "decoding", total) as advance: advance(n)``;
    ``in_bytes=True`` shows sizes and transfer speed, for downloads.
    """

    def __init__(
        self, enabled: bool | None, description: str, total: int | None, *, in_bytes: bool = False
    ) -> None:
        self.enabled = _progress.enabled(enabled)
        self.description, self.total, self.in_bytes = description, total, in_bytes
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        style = "bytes" if self.in_bytes else "items"
        self._bar = _progress.rich_bar(style, transient=not self.in_bytes)
        self._bar.start()
        task = self._bar.add_task(self.description, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def _cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def load_folder_arrays(
    root: str | os.PathLike,
    image_size=DEFAULT_IMAGE_SIZE,
    grayscale: bool = False,
    *,
    use_cache: bool = True,
    progress: bool | None = None,
    preprocess: str = "none",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a class-folder root into ``(x, y, class_names)``, through the array cache.

    Args:
        root: folder with one subfolder of images per class.
        image_size: ``(H, W)`` (default 64x64) or ``None`` to keep the images' own size.
        grayscale: one channel instead of RGB.
        use_cache: read and write the preprocessed arrays in the cache.
        progress: show a progress bar (default: when stdout is a terminal).
        preprocess: "none" (whole images) or "face" (each image reduced to its face, see
            :mod:`cnnlab.data.prepare`; cached too).

    Returns:
        ``x`` uint8 ``(N, H, W, C)``, ``y`` int64 ``(N,)``, sorted class names.
    """
    x, y, names, _ = folder_arrays_found(
        root, image_size, grayscale, use_cache=use_cache, progress=progress, preprocess=preprocess
    )
    return x, y, names


def folder_arrays_found(
    root: str | os.PathLike,
    image_size=DEFAULT_IMAGE_SIZE,
    grayscale: bool = False,
    *,
    use_cache: bool = True,
    progress: bool | None = None,
    preprocess: str = "none",
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """:func:`load_folder_arrays` and whether each image's face was found (bool ``(N,)``;
    all True for ``preprocess="none"``)."""
    prepare.check_preprocess(preprocess)
    size = normalize_image_size(image_size)
    names, files = list_class_folders(root)
    real_root = os.path.realpath(root)
    identity = {"v": _CACHE_VERSION, "root": real_root, "size": size, "gray": bool(grayscale)}
    if preprocess != "none":
        identity["preprocess"] = [preprocess, prepare.STEPS[preprocess].version]
    listing = [[os.path.relpath(p, root), s, m] for cls in files for (p, s, m) in cls]
    prefix = _cache_key(identity)
    key = _cache_key({"id": identity, "classes": names, "files": listing})
    cache_file = cache_dir() / "arrays" / f"{prefix}-{key}.npz"
    if use_cache and cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as z:
                x, y = z["x"], z["y"]
                cached_names = [str(s) for s in z["class_names"]]
                found = z["found"] if "found" in z else np.ones(len(y), dtype=bool)
            if cached_names == names and len(x) == len(y) == len(found) == len(listing):
                return x, y, names, found
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is rebuilt below
    paths = [p for cls in files for (p, _, _) in cls]
    if size is not None:
        shape = (len(paths), *size, 1 if grayscale else 3)
        check_dataset_bytes(shape, str(root), hint="; pass a smaller image size")
    y = np.concatenate([np.full(len(cls), k, dtype=np.int64) for k, cls in enumerate(files)])
    found = np.ones(len(paths), dtype=bool)
    what = f"finding {prepare.STEPS[preprocess].what}s in" if preprocess != "none" else "reading"
    x = decode_many(
        paths,
        size,
        grayscale,
        progress=progress,
        description=f"{what} {root}",
        preprocess=preprocess,
        found=found,
    )
    if use_cache:
        for stale in cache_file.parent.glob(f"{prefix}-*.npz"):
            stale.unlink(missing_ok=True)
        with atomic_path(cache_file) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, x=x, y=y, class_names=np.array(names, dtype=str), found=found)
    return x, y, names, found


def conform_images(
    x: np.ndarray, image_size, grayscale: bool, source: str = "images"
) -> np.ndarray:
    """Resize (bilinear) and convert the channels of uint8 images ``(N, H, W, C)``.

    ``C`` may be 1 or 3. ``image_size=None`` keeps the size. ``source`` names the images
    in the error raised when the result would exceed ``MAX_DATASET_BYTES``. Grayscale uses Pillow's
    luminance (ITU-R 601-2: ``L = R*299/1000 + G*587/1000 + B*114/1000``); a gray image
    becomes RGB by repeating its channel.

    Returns:
        uint8 ``(N, H', W', 1 if grayscale else 3)``.
    """
    Image, _ = _pil()
    size = normalize_image_size(image_size)
    n, h, w, c = x.shape
    target_c = 1 if grayscale else 3
    if (size is None or size == (h, w)) and c == target_c:
        return x
    oh, ow = size if size is not None else (h, w)
    check_dataset_bytes((n, oh, ow, target_c), source, hint="; pass a smaller image size")
    out = np.empty((n, oh, ow, target_c), dtype=np.uint8)
    mode = "L" if grayscale else "RGB"
    for i in range(n):
        im = Image.fromarray(x[i, :, :, 0] if c == 1 else x[i], "L" if c == 1 else "RGB")
        if im.mode != mode:
            im = im.convert(mode)
        if (oh, ow) != (h, w):
            im = im.resize((ow, oh), Image.Resampling.BILINEAR)
        arr = np.asarray(im)
        out[i] = arr[:, :, None] if arr.ndim == 2 else arr
    return out
