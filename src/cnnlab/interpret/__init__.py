"""Why did the model decide? Grad-CAM, saliency, top losses and a per-class report.

Two modules, one per kind of question, for either engine (a Keras model or a
:class:`cnnlab.nn.Sequential`; on the same weights they agree to floating-point precision):

- :mod:`cnnlab.interpret.attribution`: where a model looked for one image (Grad-CAM of a
  conv layer, saliency), with the class score and the formulas written out;
- :mod:`cnnlab.interpret.runs`: a run's decisions over a split (:class:`Interpretation`:
  per-image losses, top losses, the most confused pairs, a per-class report), the files
  ``cnnlab interpret`` writes, and :func:`show` for one image.

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
