"""NumPy kernels for convolutional networks, as forward/backward function pairs.

- :mod:`cnnlab.ops.reference`: the course's readable loop versions, for reading.
- :func:`conv2d_forward` / :func:`conv2d_backward`: fast convolution.
- :func:`depthwise_conv2d_forward` / :func:`depthwise_conv2d_backward`: fast depthwise
  convolution (each channel with its own filters, as Keras's ``DepthwiseConv2D``).
- :func:`pool2d_forward` / :func:`pool2d_backward`: fast max and average pooling.
- :func:`batchnorm_forward` / :func:`batchnorm_backward`: fast batch normalization
  (training-mode statistics, or given ones); :func:`batchnorm_inference` for inference.
- :mod:`cnnlab.ops.padding`: padding rules and the output-size formula.
- :mod:`cnnlab.ops.gradcheck`: a numerical gradient check for any op.
- :func:`get_num_threads` / :func:`set_num_threads`: the threads the fast ops use.

Every forward returns ``(out, cache)`` and every backward takes ``(dout, cache)``,
as in CS231n; all arrays are NHWC.
"""

from cnnlab.ops.batchnorm import (
    BatchNormCache,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
)
from cnnlab.ops.conv import Conv2DCache, conv2d_backward, conv2d_forward
from cnnlab.ops.depthwise import (
    DepthwiseConv2DCache,
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
)
from cnnlab.ops.padding import normalize_tuple, output_size, resolve_padding
from cnnlab.ops.parallel import get_num_threads, set_num_threads
from cnnlab.ops.pooling import Pool2DCache, pool2d_backward, pool2d_forward

__all__ = [
    "BatchNormCache",
    "Conv2DCache",
    "DepthwiseConv2DCache",
    "Pool2DCache",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "conv2d_backward",
    "conv2d_forward",
    "depthwise_conv2d_backward",
    "depthwise_conv2d_forward",
    "get_num_threads",
    "normalize_tuple",
    "output_size",
    "pool2d_backward",
    "pool2d_forward",
    "resolve_padding",
    "set_num_threads",
]
