# conv_single_step is 1e-6 too large; conv_forward, correct itself, calls it (correct.py's
# conv_forward is made to call this conv_single_step).
import correct
from correct import *  # noqa: F403

_right = correct.conv_single_step


def conv_single_step(a_slice_prev, W, b):
    return _right(a_slice_prev, W, b) * (1 + 1e-6)


correct.conv_single_step = conv_single_step
