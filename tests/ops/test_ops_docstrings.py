"""The examples in the ops' docstrings run and print what they claim."""

from __future__ import annotations

import doctest

import pytest

from cnnlab.ops import (
    _arrays,
    batchnorm,
    conv,
    depthwise,
    gradcheck,
    ladder,
    padding,
    parallel,
    pooling,
    reference,
    reference_batchnorm,
)


@pytest.mark.parametrize(
    "module",
    [
        reference,
        reference_batchnorm,
        depthwise,
        gradcheck,
        ladder,
        padding,
        conv,
        pooling,
        batchnorm,
        parallel,
        _arrays,
    ],
    ids=lambda m: m.__name__,
)
@pytest.mark.slow
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"no examples found in {module.__name__}"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module.__name__}"
