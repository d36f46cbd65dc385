"""Convolutional model, step by step: your own NumPy implementation.

Fill in the eight functions below, in this order, replacing each
``raise NotImplementedError`` with your code. Check your work at any time with

    cnnlab check conv_exercise.py                       # every function
    cnnlab check conv_exercise.py --function zero_pad   # one at a time

The check imports this file and runs your functions (in a separate process, in an empty
temporary folder, with a time limit), compares them with cnnlab's reference on the
course's examples and on tricky shapes, and tells you what is wrong when it recognises
the mistake. Code under ``if __name__ == "__main__":`` is not run by the check.

Layout: NHWC. Activations ``A_prev`` have shape ``(m, n_H_prev, n_W_prev, n_C_prev)``:
``m`` examples, height, width, channels. Filters ``W`` have shape ``(f, f, n_C_prev,
n_C)`` and biases ``b`` shape ``(1, 1, 1, n_C)``.
"""

import numpy as np


def zero_pad(X, pad):
    """Pad the height and the width of every image of X with zeros.

    Arguments:
    X -- numpy array of shape (m, n_H, n_W, n_C): a batch of m images
    pad -- integer, the number of zeros added around each image, vertically and horizontally

    Returns:
    X_pad -- padded images of shape (m, n_H + 2 * pad, n_W + 2 * pad, n_C)

    Hints:
    - np.pad takes one (before, after) pair per axis; only axes 1 and 2 get padding.
    - pad may be 0.
    """
    # X_pad = np.pad(X, ...)
    raise NotImplementedError("zero_pad")


def conv_single_step(a_slice_prev, W, b):
    """Apply one filter, defined by W and b, to one window of the input.

    Arguments:
    a_slice_prev -- window of the input, shape (f, f, n_C_prev)
    W -- weights of one filter, shape (f, f, n_C_prev)
    b -- bias of that filter, shape (1, 1, 1)

    Returns:
    Z -- a scalar: the filter's response at this window

    Hints:
    - Multiply element-wise, then add up every element (all three axes).
    - Add the bias once; b.item() turns the (1, 1, 1) array into a number.
    """
    raise NotImplementedError("conv_single_step")


def conv_forward(A_prev, W, b, hparameters):
    """The forward pass of a convolution.

    Arguments:
    A_prev -- output activations of the previous layer, shape (m, n_H_prev, n_W_prev, n_C_prev)
    W -- weights, shape (f, f, n_C_prev, n_C)
    b -- biases, shape (1, 1, 1, n_C)
    hparameters -- dictionary with "stride" and "pad" (do not modify it)

    Returns:
    Z -- conv output, shape (m, n_H, n_W, n_C), where
         n_H = int((n_H_prev - f + 2 * pad) / stride) + 1 (the same for n_W)
    cache -- (A_prev, W, b, hparameters), kept for conv_backward

    Hints:
    - Pad A_prev with zero_pad, then loop over the examples i, the output rows h, the
      output columns w and the filters c.
    - Output (h, w) reads the window that starts at row h * stride and column w * stride
      of the padded example, f rows and f columns, all channels.
    - Use conv_single_step with filter c's weights W[:, :, :, c] and bias b[:, :, :, c].
    """
    raise NotImplementedError("conv_forward")


def pool_forward(A_prev, hparameters, mode="max"):
    """The forward pass of a pooling layer (no padding).

    Arguments:
    A_prev -- input, shape (m, n_H_prev, n_W_prev, n_C_prev)
    hparameters -- dictionary with "f" and "stride" (do not modify it)
    mode -- "max" or "average"

    Returns:
    A -- output, shape (m, n_H, n_W, n_C_prev), where
         n_H = int(1 + (n_H_prev - f) / stride) (the same for n_W)
    cache -- (A_prev, hparameters), kept for pool_backward

    Hints:
    - Same four loops as conv_forward, but each channel is pooled on its own.
    - The window of output (h, w) starts at row h * stride and column w * stride.
    """
    raise NotImplementedError("pool_forward")


def conv_backward(dZ, cache):
    """The backward pass of a convolution.

    Arguments:
    dZ -- gradient of the cost with respect to the output Z, shape (m, n_H, n_W, n_C)
    cache -- (A_prev, W, b, hparameters), as returned by conv_forward

    Returns:
    dA_prev -- gradient with respect to A_prev, shape (m, n_H_prev, n_W_prev, n_C_prev)
    dW -- gradient with respect to W, shape (f, f, n_C_prev, n_C)
    db -- gradient with respect to b, shape (1, 1, 1, n_C)

    Hints:
    - Start from zeros; pad A_prev and dA_prev; loop as in conv_forward.
    - Every window gets W[:, :, :, c] * dZ[i, h, w, c], filter c gets the window times
      dZ[i, h, w, c], and its bias gets dZ[i, h, w, c]. Windows overlap: add, do not assign.
    - Remove the padding from each example's gradient at the end; think about pad = 0.
    """
    raise NotImplementedError("conv_backward")


def create_mask_from_window(x):
    """Mark where the window x reaches its maximum.

    Arguments:
    x -- one window, shape (f, f)

    Returns:
    mask -- boolean array of the same shape as x, True at the maximum of x

    Hint: compare x with the maximum of the whole window.
    """
    raise NotImplementedError("create_mask_from_window")


def distribute_value(dz, shape):
    """Spread the gradient dz of one average-pooling output evenly over its window.

    Arguments:
    dz -- a number
    shape -- (n_H, n_W), the shape of the window

    Returns:
    a -- array of that shape, each entry an equal share of dz (the entries add up to dz)
    """
    raise NotImplementedError("distribute_value")


def pool_backward(dA, cache, mode="max"):
    """The backward pass of a pooling layer.

    Arguments:
    dA -- gradient of the cost with respect to the pooling output, shape (m, n_H, n_W, n_C)
    cache -- (A_prev, hparameters), as returned by pool_forward
    mode -- "max" or "average"

    Returns:
    dA_prev -- gradient with respect to A_prev, same shape as A_prev

    Hints:
    - Loop over i, h, w, c; the window of output (h, w) is the one pool_forward read
      (the stride matters here too).
    - max: the gradient goes where the window's maximum was (create_mask_from_window).
    - average: every cell of the window gets its share (distribute_value).
    - Windows may overlap: add to dA_prev, do not assign.
    """
    raise NotImplementedError("pool_backward")


if __name__ == "__main__":
    course = np.random.RandomState(1)  # the same numbers as np.random.seed(1); randn
    x = course.randn(4, 3, 3, 2)
    print("x_pad.shape =", zero_pad(x, 3).shape, "(expected (4, 9, 9, 2))")
