# Mistake: a loop over the input channels that overwrites instead of summing, so only
# the last input channel counts.
import numpy as np
from correct import zero_pad


def conv_forward(A_prev, W, b, hparameters):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride = hparameters["stride"]
    pad = hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = zero_pad(A_prev, pad)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vert_start = h * stride
                horiz_start = w * stride
                a_slice = A_prev_pad[i, vert_start : vert_start + f, horiz_start : horiz_start + f]
                for c in range(n_C):
                    for k in range(n_C_prev):
                        Z[i, h, w, c] = np.sum(a_slice[:, :, k] * W[:, :, k, c]) + b[0, 0, 0, c]
    cache = (A_prev, W, b, hparameters)
    return Z, cache
