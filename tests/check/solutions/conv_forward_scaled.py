# conv_forward is right to five significant digits only: Z is 1e-5 too large.
import correct
from correct import *  # noqa: F403


def conv_forward(A_prev, W, b, hparameters):
    Z, cache = correct.conv_forward(A_prev, W, b, hparameters)
    return Z * (1 + 1e-5), cache
