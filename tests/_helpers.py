"""Helpers shared by several test packages (``from _helpers import ...``; tests/ is on sys.path).

- :func:`write_class_folders`: a dataset as class subfolders of small image files.
- :func:`train_config`: the small run most runner tests train (course model, synthetic
  stripes at 12x12, 2 epochs, batch 16, lr 0.01, seed 3); :func:`train_interrupted_in_epoch`:
  such a run stopped by Ctrl-C as an epoch starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZE = (12, 12)
"""The image size (height, width) of :func:`train_config`'s runs."""

Pixels = Callable[[np.random.Generator, int, int, tuple[int, int]], np.ndarray]
"""``draw(rng, k, i, size) -> uint8 (height, width[, channels])``: class ``k``'s ``i``-th image."""

# The colours of ``pixels="solid"``, class by class (then again from the first).
SOLID_COLORS = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0), (0, 250, 250)]


def _solid(rng: np.random.Generator, k: int, i: int, size: tuple[int, int]) -> np.ndarray:
    """One colour per class (:data:`SOLID_COLORS`), a gradient from 0 to 60 across the blue."""
    h, w = size
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[...] = SOLID_COLORS[k % len(SOLID_COLORS)]
    arr[:, :, 2] = np.linspace(0, 60, w, dtype=np.uint8)[None, :]
    return arr


def noise(colors: Sequence, sd: float) -> Pixels:
    """Pixels: class ``k``'s colour ``colors[k]`` (a grey level or an RGB triple) plus normal
    noise of standard deviation ``sd`` drawn from the folder's ``rng``, clipped to 0..255."""

    def draw(rng: np.random.Generator, k: int, i: int, size: tuple[int, int]) -> np.ndarray:
        base = np.asarray(colors[k], dtype=np.float64)
        return np.clip(base + rng.normal(0, sd, (*size, 3)), 0, 255).astype(np.uint8)

    return draw


def write_class_folders(
    root: Path,
    classes: Mapping[str, int] | Sequence[str],
    size: tuple[int, int] = SIZE,
    *,
    images: tuple[np.ndarray, np.ndarray] | None = None,
    pixels: str | Pixels = "stripes",
    seed: int = 0,
    mode: str = "RGB",
    fmt: str = "png",
    name: str = "{n}",
) -> Path:
    """Write a dataset as ``root/<class>/<name>.<fmt>`` and return ``root``.

    Args:
        root: the dataset's folder (made with its parents if missing).
        classes: ``{class name: number of images}``; with ``images``, the class names
            (in label order) that ``images``' labels index.
        size: ``(height, width)`` of the drawn images (``images`` bring their own).
        images: ``(x, y)``: uint8 images and their labels, written as they are, in order;
            a class without images gets no folder.
        pixels: what the images show (without ``images``):
            ``"stripes"``: :func:`cnnlab.data.make_synthetic_arrays` (the learnable stripes of
            the ``synthetic`` dataset, drawn with ``seed``; every class the same count);
            ``"solid"``: one colour per class with a blue gradient (``seed`` unused);
            or a function ``draw(rng, k, i, size)`` (see :func:`noise`) called class by
            class with one ``numpy.random.default_rng(seed)`` for the whole folder.
        mode: the PIL mode the files are saved in (``"RGB"``, ``"L"``, ...).
        fmt: the files' suffix, which chooses the format (``"png"`` is lossless: the pixels
            read back are the ones written).
        name: the file name without suffix; ``{i}`` is the image's number in its class,
            ``{n}`` its number in the whole dataset (in the order written).
    """
    root = Path(root)
    if images is None and pixels == "stripes":
        from cnnlab.data import make_synthetic_arrays

        counts = set(dict(classes).values())
        if len(counts) != 1:
            raise ValueError(f"stripes need the same count in every class; got {classes}")
        x, y, _ = make_synthetic_arrays(counts.pop(), size, len(classes), seed=seed)
        images, classes = (x, y), list(classes)
    if images is not None:
        names = list(classes)
        per_class = [0] * len(names)
        for n, (img, k) in enumerate(zip(*images, strict=True)):
            _save(img, root / names[k], name.format(i=per_class[k], n=n), mode, fmt)
            per_class[k] += 1
        return root
    draw = _solid if pixels == "solid" else pixels
    if not callable(draw):
        raise ValueError(f"pixels must be 'stripes', 'solid' or a function; got {pixels!r}")
    rng = np.random.default_rng(seed)
    n = 0
    for k, (cls, count) in enumerate(dict(classes).items()):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            _save(draw(rng, k, i, tuple(size)), root / cls, name.format(i=i, n=n), mode, fmt)
            n += 1
    return root


def _save(img: np.ndarray, folder: Path, stem: str, mode: str, fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    img = np.asarray(img)
    picture = Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img)
    if picture.mode != mode:
        picture = picture.convert(mode)
    picture.save(folder / f"{stem}.{fmt}")


def train_config(out, engine: str = "numpy", **overrides):
    """A :class:`cnnlab.training.TrainConfig` of a small run writing to ``out``: the course's
    SIGNS model on the synthetic stripes at 12x12, 2 epochs, batches of 16, lr 0.01, seed 3;
    ``overrides`` replace any of these."""
    from cnnlab import training

    base = dict(
        task="signs",
        engine=engine,
        model="course",
        data="synthetic",
        image_size=SIZE,
        epochs=2,
        batch_size=16,
        learning_rate=0.01,
        seed=3,
        out=str(out),
    )
    return training.TrainConfig(**(base | overrides))


def train_interrupted_in_epoch(cfg, monkeypatch: pytest.MonkeyPatch, epoch: int = 1) -> list[int]:
    """Train ``cfg`` with Ctrl-C raised as epoch ``epoch`` (0-based) starts; the epochs begun."""
    from cnnlab import training
    from cnnlab.errors import TrainingInterrupted

    eng = training.get_engine(cfg.engine)
    real_fit = type(eng).fit_epoch
    calls: list[int] = []

    def interrupted(self, model, x, y, val, e, *args, **kw):
        calls.append(e)
        if e == epoch:
            raise KeyboardInterrupt
        return real_fit(self, model, x, y, val, e, *args, **kw)

    monkeypatch.setattr(type(eng), "fit_epoch", interrupted)
    try:
        with pytest.raises(TrainingInterrupted):
            training.train(cfg)
    finally:
        monkeypatch.setattr(type(eng), "fit_epoch", real_fit)
    return calls


TRANSFER_SIZE = (32, 32)  # the transfer backbone is fully convolutional; 32x32 keeps tests fast


def transfer_faces(root: Path) -> Path:
    """Two classes of 12 images each at :data:`TRANSFER_SIZE`, bright and dark noise,
    learnable in an epoch or two (written once per ``root``)."""
    if root.exists():
        return root

    def draw(rng, k, i, size):
        return np.clip(rng.normal(90 + 80 * k, 30, (*size, 3)), 0, 255).astype(np.uint8)

    return write_class_folders(root, {"not_smiling": 12, "smiling": 12}, TRANSFER_SIZE, pixels=draw)


def transfer_config(tmp_path: Path, out: str, **overrides):
    """A small ``--model transfer`` run of mood on :func:`transfer_faces` (whole images, 3
    epochs, the backbone unfrozen from epoch 1, batches of 8, seed 5), writing to
    ``tmp_path / out``; ``overrides`` replace any of these (``engine`` among them)."""
    from cnnlab import training

    base = dict(
        task="mood",
        model="transfer",
        data=str(transfer_faces(tmp_path / "faces")),
        preprocess="none",
        image_size=TRANSFER_SIZE,
        epochs=3,
        unfreeze_epoch=1,
        batch_size=8,
        seed=5,
        out=str(tmp_path / out),
    )
    return training.TrainConfig(**(base | overrides))


def mood_faces_folder(smiles_dir: Path, root: Path, per_class: int = 16) -> Path:
    """A small mood dataset: real training crops, half of them in head-and-shoulders frames."""
    import shutil

    rng = np.random.default_rng(0)
    for name in ("not_smiling", "smiling"):
        (root / name).mkdir(parents=True)
        for i, src in enumerate(sorted((smiles_dir / name).iterdir())[:per_class]):
            if i % 2:
                shutil.copy(src, root / name / src.name)
                continue
            face = Image.open(src).convert("RGB")
            frame = Image.new("RGB", (192, 192), tuple(int(v) for v in rng.integers(40, 220, 3)))
            frame.paste(face, (int(rng.integers(10, 118)), int(rng.integers(10, 118))))
            frame.resize((96, 96), Image.Resampling.BILINEAR).save(root / name / f"f{src.stem}.png")
    return root
