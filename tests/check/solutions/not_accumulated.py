# Mistake: dW and db are assigned (=) in the loop, so only the last window counts.
import numpy as np
from correct import zero_pad


def conv_backward(dZ, cache):
    (A_prev, W, b, hparameters) = cache
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride = hparameters["stride"]
    pad = hparameters["pad"]
    (m, n_H, n_W, n_C) = dZ.shape
    dA_prev = np.zeros(A_prev.shape)
    dW = np.zeros(W.shape)
    db = np.zeros(b.shape)
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = zero_pad(dA_prev, pad)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    a_slice = A_prev_pad[i, vs : vs + f, hs : hs + f, :]
                    dA_prev_pad[i, vs : vs + f, hs : hs + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] = a_slice * dZ[i, h, w, c]
                    db[:, :, :, c] = dZ[i, h, w, c]
        dA_prev[i] = dA_prev_pad[i, pad : pad + n_H_prev, pad : pad + n_W_prev, :]
    return dA_prev, dW, db
