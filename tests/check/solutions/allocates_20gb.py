# zero_pad allocates 20 GB before it pads.
import numpy as np
from correct import *  # noqa: F403


def zero_pad(X, pad):
    big = np.ones(20 * 1024**3, dtype=np.uint8)
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))) + big[0] - 1
