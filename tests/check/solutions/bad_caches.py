# conv_forward's cache leaves out b; pool_forward returns no cache at all.
import numpy as np
from correct import conv_forward as _conv_forward
from correct import pool_forward as _pool_forward


def conv_forward(A_prev, W, b, hparameters):
    Z, _ = _conv_forward(A_prev, W, b, hparameters)
    return Z, (A_prev, W, hparameters)


def pool_forward(A_prev, hparameters, mode="max"):
    A, _ = _pool_forward(A_prev, hparameters, mode)
    return np.asarray(A)
