# zero_pad kills the process that started it (the checker, when nothing stops it).
import os
import signal

from correct import *  # noqa: F403


def zero_pad(X, pad):
    os.kill(os.getppid(), signal.SIGKILL)
    raise RuntimeError("still here")
