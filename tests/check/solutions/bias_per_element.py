# Mistake: the bias is added to every product, before the sum.
import numpy as np


def conv_single_step(a_slice_prev, W, b):
    Z = np.sum(a_slice_prev * W + b.item())
    return Z
