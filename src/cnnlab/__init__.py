"""cnnlab: the foundations of convolutional neural networks, in NumPy and Keras."""

__version__ = "0.1.0"
