"""cnnlab: the foundations of convolutional neural networks, in NumPy and Keras."""

from importlib import metadata as _metadata

try:  # the one version is pyproject.toml's, as the installed package records it
    __version__ = _metadata.version("cnnlab")
except _metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"
