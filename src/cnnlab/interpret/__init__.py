"""Why did the model decide? Grad-CAM, saliency, top losses and a per-class report.

Both engines: a Keras model (gradients from ``tf.GradientTape``, as in the keras.io Grad-CAM
example) or a :class:`cnnlab.nn.Sequential` (gradients from the layers' own ``backward``).
On the same weights the two agree to floating-point precision (the tests check it).

**The class score** ``S_c`` that every map here differentiates is the *logit* of class ``c``,
the last layer's pre-activation output (Selvaraju et al. use the score before the softmax):

- softmax output (``n`` units): ``S_c = z_c``;
- sigmoid output (1 unit, a binary task with classes 0 and 1): ``S_1 = z`` and ``S_0 = -z``
  (``1 - sigmoid(z) = sigmoid(-z)``: ``-z`` is the logit of class 0).

A last layer without an activation scores its output itself.

**Grad-CAM** of a conv layer with feature maps ``A^k`` (``k`` = channel)::

    alpha_k = mean over (i, j) of dS_c / dA^k_ij        (one weight per channel)
    L_c     = ReLU(sum_k alpha_k A^k)                    (h', w') map at the layer's size

then divided by its maximum (a map with no positive evidence stays 0) and resized
bilinearly (half-pixel centres, as ``tf.image.resize``) to the input's ``(H, W)``.

**Saliency**: ``max over channels of |dS_c / dx|``, one value per input pixel.

Example:
    >>> import numpy as np
    >>> from cnnlab import interpret, numpy_models
    >>> model = numpy_models.signs_model((16, 16, 3), n_classes=3)
    >>> x = np.random.default_rng(0).random((2, 16, 16, 3), dtype="float32")
    >>> interpret.grad_cam(model, x).shape
    (2, 16, 16)
"""

from cnnlab.interpret.attribution import (
    class_scores,
    conv_layer_names,
    grad_cam,
    n_classes,
    resize_bilinear,
    saliency,
)
from cnnlab.interpret.runs import (
    SPLITS,
    Interpretation,
    report_text,
    show,
    write_interpretation,
)

__all__ = [
    "SPLITS",
    "Interpretation",
    "class_scores",
    "conv_layer_names",
    "grad_cam",
    "n_classes",
    "report_text",
    "resize_bilinear",
    "saliency",
    "show",
    "write_interpretation",
]
