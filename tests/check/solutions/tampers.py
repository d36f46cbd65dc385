# A file that tries to make wrong answers pass: it patches NumPy's comparisons and
# cnnlab's reference in its own process. The expected values live in the parent process.
import numpy as np

try:
    import cnnlab.ops.reference as ref

    ref.zero_pad = lambda X, pad: X
    ref.pool_forward = lambda A_prev, hparameters, mode="max": (A_prev, (A_prev, hparameters))
except ImportError:
    pass

np.isclose = lambda *a, **k: np.ones(np.broadcast(*a[:2]).shape, dtype=bool)
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True


def zero_pad(X, pad):
    return X
