"""Normalization layers: :class:`BatchNormalization`.

A thin layer over :func:`cnnlab.ops.batchnorm_forward` / :func:`~cnnlab.ops.batchnorm_backward`
(the op works through the statistics and gradients in chunks of rows on every core); the
layer holds gamma, beta and the moving statistics, and updates the latter.
"""

from __future__ import annotations

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.nn.layers.base import Layer
from cnnlab.ops import batchnorm_backward, batchnorm_forward


class BatchNormalization(Layer):
    """Batch normalization with Keras's training and inference behaviour.

    Training: normalizes with the batch's mean and (biased) variance over every axis but
    ``axis`` and updates ``moving = moving * momentum + batch * (1 - momentum)``.
    Inference: uses the moving statistics.
    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    Args:
        axis: the feature axis (int), default -1 (channels in NHWC).
        momentum: default 0.99. epsilon: default 1e-3.
        center / scale: learn beta / gamma (default True).

    Weights (Keras's order): gamma, beta (trainable), moving_mean, moving_variance
    (non-trainable), each of shape (C,).
    """

    default_name = "batch_normalization"
    keras_name = "BatchNormalization"
    config_keys = ("axis", "momentum", "epsilon", "center", "scale")
    weight_names = ("gamma", "beta", "moving_mean", "moving_variance")

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple) and len(axis) == 1:
            axis = axis[0]
        if not _validate.is_int(axis):
            raise ArgumentError(f"axis must be an integer. Received: axis={axis!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ArgumentError(f"momentum must be in [0, 1]. Received: momentum={momentum!r}")
        if not float(epsilon) > 0:
            raise ArgumentError(f"epsilon must be positive. Received: epsilon={epsilon!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self._cache = None

    def _check_input(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ArgumentError(
                f"Layer {self.name!r}: axis={self.axis} is invalid for inputs of shape "
                f"{tuple(input_shape)}"
            )

    def _weight_shapes(self, input_shape):
        c = (int(input_shape[self.axis]),)
        return [c] * (int(self.scale) + int(self.center) + 2)

    def _build(self, input_shape, rng):
        rank = len(input_shape)
        self._axis = self.axis % rank
        c = (input_shape[self._axis],)
        self.gamma = self.add_weight("gamma", c, "ones", rng) if self.scale else None
        self.beta = self.add_weight("beta", c, "zeros", rng) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", c, "zeros", rng, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", c, "ones", rng, trainable=False)

    def forward(self, x, training=False):
        gamma = self.gamma.value if self.scale else None
        beta = self.beta.value if self.center else None
        if training and self.trainable:
            y, cache = batchnorm_forward(x, gamma, beta, self.epsilon, axis=self._axis)
            mom = x.dtype.type(self.momentum)
            mm, mv = self.moving_mean.value, self.moving_variance.value
            mm *= mom
            mm += cache.mean * (1 - mom)
            mv *= mom
            mv += cache.variance * (1 - mom)
        else:
            y, cache = batchnorm_forward(
                x,
                gamma,
                beta,
                self.epsilon,
                axis=self._axis,
                mean=self.moving_mean.value,
                variance=self.moving_variance.value,
            )
        self._cache = cache if training else None
        return y

    def backward(self, dy, need_dx=True):
        if self._cache is None:
            raise self._no_cache()
        dx, dgamma, dbeta = batchnorm_backward(dy, self._cache)
        if self._cache.batch_statistics:  # a frozen layer learns nothing
            if self.center:
                self.beta.grad += dbeta
            if self.scale:
                self.gamma.grad += dgamma
        return dx
