# Mistake: pool_backward takes the mask's window across all the channels.
import numpy as np
from correct import distribute_value


def pool_backward(dA, cache, mode="max"):
    (A_prev, hparameters) = cache
    stride = hparameters["stride"]
    f = hparameters["f"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * stride, w * stride
                window = A_prev[i, vs : vs + f, hs : hs + f, :]
                for c in range(n_C):
                    if mode == "max":
                        mask = window[:, :, c] == np.max(window)
                        dA_prev[i, vs : vs + f, hs : hs + f, c] += mask * dA[i, h, w, c]
                    else:
                        dA_prev[i, vs : vs + f, hs : hs + f, c] += distribute_value(
                            dA[i, h, w, c], (f, f)
                        )
    return dA_prev
