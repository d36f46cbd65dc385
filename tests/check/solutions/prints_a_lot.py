# Correct, but prints every window it pads and pools (hundreds of thousands of lines).
import numpy as np
from correct import *  # noqa: F403

print("loading my solution")


def zero_pad(X, pad):
    for _ in range(20000):
        print("padding", X.shape, "with", pad)
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
