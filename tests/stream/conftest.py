"""Leave no global state behind: the NumPy engine's automatic layer names (``conv2d``,
``conv2d_1``, ...) count per process, and later tests in the same worker read them."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_layer_names():
    from cnnlab import nn

    nn.clear_session()
    yield
    nn.clear_session()
