# conv_single_step raises; conv_forward calls it; the other functions are correct.
import numpy as np
from correct import *  # noqa: F403
from correct import zero_pad


def conv_single_step(a_slice_prev, W, b):
    if a_slice_prev.shape != W.shape:
        raise ValueError("the window and the filter differ")
    raise ValueError("I am stuck here")


def conv_forward(A_prev, W, b, hparameters):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = zero_pad(A_prev, pad)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * stride, w * stride
                a_slice_prev = A_prev_pad[i, vs : vs + f, hs : hs + f, :]
                for c in range(n_C):
                    Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[:, :, :, c])
    return Z, (A_prev, W, b, hparameters)
