# zero_pad deletes a file beside the learner's file and writes one there, then pads.
import os
from pathlib import Path

import numpy as np
from correct import *  # noqa: F403

HERE = Path(__file__).resolve().parent


def zero_pad(X, pad):
    victim = HERE / "victim.txt"
    if victim.exists():
        os.remove(victim)
    (HERE / "written.txt").write_text("the checked code wrote this\n")
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
