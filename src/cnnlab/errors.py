"""One error type per concern.

Every error about something the user gave is a :class:`CnnlabError`, which the CLI
prints as one line with exit code 2: bad arguments raise :class:`ArgumentError` (a
``ValueError`` too, as Keras raises for bad arguments); problems with the user's files,
folders and runs raise :class:`DatasetError`, :class:`ModelFileError` or :class:`RunError`;
exports raise :class:`ExportError`.
Any other exception is a bug and keeps its traceback.
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


class ExportError(CnnlabError):
    """A run cannot be exported: an optional package is missing, the output already exists,
    or the exported file does not reproduce the run's model."""


class ArgumentError(CnnlabError, ValueError):
    """A bad argument: a wrong value, type, shape or option, as Keras raises ``ValueError``.

    It *is* a ``ValueError`` (``except ValueError`` catches it, as with Keras), and a
    :class:`CnnlabError`, so the CLI prints it as one line with exit code 2. A plain
    ``ValueError`` raised from elsewhere (NumPy, a bug) is not one and keeps its traceback.

    Example:
        >>> raise ArgumentError("strides must be positive. Received: strides=0")
        Traceback (most recent call last):
        ...
        cnnlab.errors.ArgumentError: strides must be positive. Received: strides=0
    """


class EngineNote(UserWarning):
    """A one-line note on which engine runs a model, when it is not the one asked for (a
    ``.keras`` file with a layer the NumPy engine lacks runs in Keras); the CLI prints it as
    ``note: <message>``."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says what was kept and how to resume.

    A ``KeyboardInterrupt`` still (``except KeyboardInterrupt`` catches it), so an interrupt
    is never mistaken for an error; the CLI prints the message and exits with code 130.
    """
