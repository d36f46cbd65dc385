# Hides an import of TensorFlow behind a try, takes zero_pad from NumPy and imports Keras
# in conv_single_step; the other functions are correct.
try:
    import tensorflow as tf  # noqa: F401
except ImportError:
    tf = None

from correct import *  # noqa: F403
from numpy import pad as zero_pad  # noqa: F401


def conv_single_step(a_slice_prev, W, b):
    import keras  # noqa: F401

    return 0.0
