"""One error type per concern.

Bad arguments raise the built-in ``ValueError`` (as Keras does). Problems with
things the user hands us (files, folders, runs) raise a subclass of
:class:`CnnlabError`, which the CLI prints as one line with exit code 2.
"""

from __future__ import annotations


class CnnlabError(Exception):
    """Base class for errors about the user's files, data and runs."""


class DatasetError(CnnlabError):
    """A dataset, image, archive or HDF5 file cannot be read or is malformed."""


class ModelFileError(CnnlabError):
    """A saved model file is missing, truncated, mismatched or unsafe."""


class RunError(CnnlabError):
    """A directory is not a training run, or a run cannot be continued."""
