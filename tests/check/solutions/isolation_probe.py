# Correct, but raises when it runs with TensorFlow or cnnlab imported, or anywhere but an
# empty working folder of its own.
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def zero_pad(X, pad):
    heavy = sorted(m for m in ("tensorflow", "keras", "cnnlab", "torch") if m in sys.modules)
    if heavy:
        raise RuntimeError(f"imported in the child: {heavy}")
    if Path.cwd().resolve() == HERE or os.listdir("."):
        raise RuntimeError(f"the working folder is {Path.cwd()} with {os.listdir('.')}")
    Path("scratch.txt").write_text("written in the working folder\n")
    os.remove("scratch.txt")
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
