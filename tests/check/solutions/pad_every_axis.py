# Mistake: np.pad(X, pad) pads the examples and the channels too.
import numpy as np


def zero_pad(X, pad):
    X_pad = np.pad(X, pad, mode="constant", constant_values=0)
    return X_pad
