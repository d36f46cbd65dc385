# conv_single_step raises; the other functions are correct.
from correct import *  # noqa: F403


def conv_single_step(a_slice_prev, W, b):
    if a_slice_prev.shape != W.shape:
        raise ValueError("the window and the filter differ")
    raise ValueError("I am stuck here")
