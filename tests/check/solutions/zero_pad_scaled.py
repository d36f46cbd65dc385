# zero_pad scales what it pads by 1 + 1e-5; conv_forward and conv_backward, correct
# themselves, call it (correct.py's functions are made to call this zero_pad).
import correct
from correct import *  # noqa: F403


def zero_pad(X, pad):
    return correct.np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))) * (1 + 1e-5)


correct.zero_pad = zero_pad
