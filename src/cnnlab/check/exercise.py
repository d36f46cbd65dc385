"""``cnnlab exercise``: write the starter file and a short README for the course's exercise.

The starter (``conv_exercise.py``) is :mod:`cnnlab.check.starter`, copied as text: the
course's eight signatures, docstrings with the shapes, hints, and ``raise
NotImplementedError`` bodies. It holds no solutions.
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

from cnnlab.check.runner import CheckError

STARTER = "conv_exercise.py"
README = "README.md"

README_TEXT = """\
# Convolutional model, step by step

Write the course's convolution and pooling functions yourself, in NumPy, in
`conv_exercise.py`, then check them:

    cnnlab check conv_exercise.py                        # every function
    cnnlab check conv_exercise.py --function zero_pad    # one function

Work in this order; each function uses the ones before it:

1. `zero_pad`
2. `conv_single_step`
3. `conv_forward` (uses `zero_pad` and `conv_single_step`)
4. `pool_forward`
5. `conv_backward` (uses `zero_pad`)
6. `create_mask_from_window`
7. `distribute_value`
8. `pool_backward` (uses the two before it)

A function that still raises `NotImplementedError` is reported as "not implemented",
not as wrong. For each function the check runs the course's published examples, then
shapes chosen to catch the usual traps (pad 0, strides 2 and 3, non-square images,
overlapping pooling windows, tied maxima, float32), and compares with cnnlab's reference.
When a function fails it shows the first failing case, where the output differs and by
how much, and, when it recognises the mistake, what it is.

**The check runs your own code.** It imports `conv_exercise.py` and calls your functions,
in a separate process, in an empty temporary folder, with a time limit per function
(`--timeout`, 10 s by default). Run it only on files you trust. The expected values are
computed before your code runs, and your code only receives the inputs.

Add `--json` for a machine-readable report. From a notebook:

    from cnnlab.check import check_module
    check_module("conv_exercise.py")
"""


def starter_text() -> str:
    """The starter file's text (the source of :mod:`cnnlab.check.starter`)."""
    return resources.files("cnnlab.check").joinpath("starter.py").read_text(encoding="utf-8")


def _write(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, renamed into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_exercise(directory: str | Path = "conv-exercise", *, force: bool = False) -> list[Path]:
    """Write ``conv_exercise.py`` and ``README.md`` into ``directory`` (created if needed).

    Raises:
        CheckError: one of the files exists and ``force`` is False, or ``directory`` is a
            file.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckError(f"{directory}: exists and is not a folder")
    targets = [directory / STARTER, directory / README]
    if not force:
        for target in targets:
            if target.exists():
                raise CheckError(f"{target}: already exists; pass --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    _write(targets[0], starter_text())
    _write(targets[1], README_TEXT)
    return targets
