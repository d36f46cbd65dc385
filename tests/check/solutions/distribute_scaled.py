# distribute_value spreads 1 + 1e-5 times the gradient; pool_backward, correct itself,
# calls it (correct.py's pool_backward is made to call this distribute_value).
import correct
from correct import *  # noqa: F403

_right = correct.distribute_value


def distribute_value(dz, shape):
    return _right(dz, shape) * (1 + 1e-5)


correct.distribute_value = distribute_value
