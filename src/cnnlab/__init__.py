"""cnnlab: the foundations of convolutional neural networks, in NumPy and Keras."""


def __getattr__(name: str) -> str:
    """``cnnlab.__version__``: pyproject.toml's version, as the installed package records it
    (read when asked for: importing importlib.metadata costs a tenth of a second)."""
    if name != "__version__":
        raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version("cnnlab")
    except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        return "0+unknown"
