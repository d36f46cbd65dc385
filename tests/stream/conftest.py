"""Leave no global state behind: the NumPy engine's and Keras's automatic layer names
(``conv2d``, ``conv2d_1``, ...) count per process, and later tests in the same worker may
read them."""

from __future__ import annotations

import sys

import pytest


def _clear() -> None:
    from cnnlab import nn

    nn.clear_session()
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()


@pytest.fixture(autouse=True)
def _fresh_layer_names():
    _clear()
    yield
    _clear()
