"""Fixtures of the op tests."""

from __future__ import annotations

import pytest

from cnnlab.ops import parallel


@pytest.fixture
def threads():
    """Set the op thread count for one test, and put the default back afterwards."""
    before = parallel.get_num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(before)
