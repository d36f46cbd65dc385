"""One image in two classes: the check :func:`cnnlab.data.images.list_class_folders` makes.

A class folder that links to a sibling (``data/cats -> data/dogs``), an image linked or
hard-linked into two classes, or two class folders holding copies of the same files give
the same picture two labels, and the split then puts one copy in training and the other
in the test set. The check is cheap: files are grouped by size first, and only files
whose size collides with a file of *another* class are looked at again (the same file,
by device and inode, or the same bytes, by a BLAKE2b digest). Identical images within one
class are left alone: they are one label, repeated.

What is refused:

- the same file in two classes (a link to a sibling folder or file, a hard link): always;
- byte-identical copies in two classes when they are more than 1 in 1,000 of the
  dataset's images. A stray few are a published dataset's own noise, kept as it ships
  (the smiles set has 5 such pairs in 13,165 images); a copied folder is a mistake.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict

from cnnlab.errors import DatasetError

# Copies across classes above this share of the images are refused (the same file: always).
MAX_SHARED_COPIES = 1 / 1000

_checked: dict[int, None] = {}  # listings already found clean (the loaders list a folder often)


def _digest(path: str) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    return h.digest()


def _identity(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    return st.st_dev, st.st_ino


def _across(group: list[tuple[int, str]]) -> tuple[tuple[int, str], tuple[int, str]] | None:
    """The first two members of ``group`` from different classes, or None."""
    first = group[0]
    for other in group[1:]:
        if other[0] != first[0]:
            return first, other
    return None


def check_shared_images(
    root: str | os.PathLike, names: list[str], files: list[list[tuple[str, int, int]]]
) -> None:
    """Refuse images that two classes share (see the module's note for the rule).

    Args:
        root: the dataset root, for the message.
        names: the class names.
        files: each class's ``(path, size, mtime_ns)`` list, as ``list_class_folders``
            finds them.

    Raises:
        DatasetError: one line naming the two classes, one pair of files and how many
            images are shared.
    """
    key = hash((str(root), tuple(names), tuple(tuple(cls) for cls in files)))
    if key in _checked:
        return
    by_size: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for k, cls in enumerate(files):
        for path, size, _ in cls:
            by_size[size].append((k, path))
    same_file: list[tuple[tuple[int, str], tuple[int, str]]] = []
    copies: list[tuple[tuple[int, str], tuple[int, str]]] = []
    n_copies = 0
    for group in by_size.values():
        if len({k for k, _ in group}) < 2:
            continue  # only one class holds files of this size: nothing to compare
        by_inode: dict[tuple[int, int], list[tuple[int, str]]] = defaultdict(list)
        for member in group:
            by_inode[_identity(member[1])].append(member)
        for members in by_inode.values():
            pair = _across(members)
            if pair is not None:
                same_file.append(pair)
        by_bytes: dict[bytes, list[tuple[int, str]]] = defaultdict(list)
        for members in by_inode.values():  # one digest per real file
            by_bytes[_digest(members[0][1])].append(members[0])
        for members in by_bytes.values():
            pair = _across(members)
            if pair is not None:
                copies.append(pair)
                n_copies += len(members)
    n_images = sum(len(cls) for cls in files)
    if same_file:
        (ka, pa), (kb, pb) = same_file[0]
        raise DatasetError(
            f"{root}: classes {names[ka]!r} and {names[kb]!r} hold the same file "
            f"({pa} and {pb} are one file, through a link; {len(same_file)} such "
            "image(s)); one image would have two labels and leak between train and test"
        )
    if copies and n_copies > MAX_SHARED_COPIES * n_images:
        (ka, pa), (kb, pb) = copies[0]
        raise DatasetError(
            f"{root}: classes {names[ka]!r} and {names[kb]!r} hold identical images "
            f"({pa} and {pb} have the same bytes; {n_copies} of {n_images} images are "
            "copies across classes); one image would have two labels and leak between "
            "train and test"
        )
    if len(_checked) > 32:
        _checked.clear()
    _checked[key] = None
