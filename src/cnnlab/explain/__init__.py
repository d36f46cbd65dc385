"""Explain what a ConvNet does: shapes, parameters, multiply-adds and pictures.

One module per job:

================================  ========================================================
:mod:`~cnnlab.explain.calculators`  output shapes, parameters and multiply-adds of conv and
                                    pooling layers, with the course's formulas worked out
:mod:`~cnnlab.explain.model`        a model's layers (Keras, NumPy engine, course model or
                                    training run) through the calculators
:mod:`~cnnlab.explain.figures`      static PNGs: convolution, pooling, parameters, a model
:mod:`~cnnlab.explain.animations`   GIFs: the window stepping over the input
================================  ========================================================

Every public name is importable from ``cnnlab.explain`` itself. Shapes are NHWC
throughout; a single image's shape is ``(height, width, channels)``.

Example:
    >>> from cnnlab import explain
    >>> explain.explain_pool("4x4x3", pool_size=2, mode="avg").output_shape
    (2, 2, 3)
"""

from __future__ import annotations

from cnnlab.explain.animations import conv_animation, pool_animation
from cnnlab.explain.calculators import (
    FLOAT32_BYTES,
    POOL_MODES,
    AxisWork,
    ConvExplanation,
    DenseVsConv,
    PoolExplanation,
    explain_conv,
    explain_params,
    explain_pool,
    format_bytes,
    parse_padding,
    parse_size,
)
from cnnlab.explain.figures import (
    DEFAULT_SIZE,
    DRAW_UP_TO,
    NUMBERS_UP_TO,
    conv_example,
    conv_figure,
    model_figure,
    params_figure,
    pool_example,
    pool_figure,
)
from cnnlab.explain.model import (
    COURSE_MODELS,
    LayerRow,
    ModelExplanation,
    explain_keras_model,
    explain_layers,
    explain_model,
    explain_nn_model,
)

__all__ = [
    "COURSE_MODELS",
    "DEFAULT_SIZE",
    "DRAW_UP_TO",
    "FLOAT32_BYTES",
    "NUMBERS_UP_TO",
    "POOL_MODES",
    "AxisWork",
    "ConvExplanation",
    "DenseVsConv",
    "LayerRow",
    "ModelExplanation",
    "PoolExplanation",
    "conv_animation",
    "conv_example",
    "conv_figure",
    "explain_conv",
    "explain_keras_model",
    "explain_layers",
    "explain_model",
    "explain_nn_model",
    "explain_params",
    "explain_pool",
    "format_bytes",
    "model_figure",
    "params_figure",
    "parse_padding",
    "parse_size",
    "pool_animation",
    "pool_example",
    "pool_figure",
]
