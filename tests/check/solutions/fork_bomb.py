# zero_pad forks without end; the other functions are correct.
import os

from correct import *  # noqa: F403


def zero_pad(X, pad):
    while True:
        if os.fork() == 0:
            continue
