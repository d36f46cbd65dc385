# pool_backward is right to five significant digits only: dA_prev is 1e-5 too large.
import correct
from correct import *  # noqa: F403


def pool_backward(dA, cache, mode="max"):
    return correct.pool_backward(dA, cache, mode) * (1 + 1e-5)
