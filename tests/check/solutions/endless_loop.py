# pool_forward forgets to advance its while loop; the other functions are correct.
import os
from pathlib import Path

import numpy as np
from correct import *  # noqa: F403


def pool_forward(A_prev, hparameters, mode="max"):
    pidfile = os.environ.get("CNNLAB_TEST_PIDFILE")
    if pidfile:  # the tests check that this process is gone afterwards
        Path(pidfile).write_text(str(os.getpid()))
    (m, n_H_prev, n_W_prev, n_C) = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H = int(1 + (n_H_prev - f) / stride)
    n_W = int(1 + (n_W_prev - f) / stride)
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        h = 0
        while h < n_H:  # h += 1 is missing
            for w in range(n_W):
                window = A_prev[i, h * stride : h * stride + f, w * stride : w * stride + f]
                A[i, h, w] = np.max(window, axis=(0, 1))
    return A, (A_prev, hparameters)
