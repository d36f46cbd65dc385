"""The course's Keras models, and a stronger recommended model for each task.

Two ways to write a Keras model appear here on purpose:

* The **Sequential API** (:func:`happy_model`): a plain list of layers, each
  feeding the next. Use it when the network is one chain with one input and one
  output; it is the shortest to read and write.
* The **Functional API** (:func:`signs_model`): call layers on tensors,
  ``x = layer(x)``, then wrap inputs and outputs in ``keras.Model``. Use it when
  the graph is not a single chain: several inputs or outputs, skip connections
  (ResNet), layers shared between branches, or when you want to reach
  intermediate tensors (feature maps) by name. For a single chain, as here, both
  APIs give the same model.

All images are NHWC: ``(batch, height, width, channels)`` with values scaled to
[0, 1] by the training runner. TensorFlow is imported when a model is built, not
when this module is imported.

Example:
    >>> model = happy_model()                      # doctest: +SKIP
    >>> model.count_params()                       # doctest: +SKIP
    37633
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cnnlab import pretrained
from cnnlab.errors import ArgumentError
from cnnlab.nn.registry import AUGMENTATION, is_augmentation
from cnnlab.tasks import get_task

if TYPE_CHECKING:  # pragma: no cover
    import keras

AUGMENT_MIN_SIDE = 32
"""Images smaller than this on their short side get no augmentation layers: on 8x8 digits a
10% shift or a rotation destroys more than it teaches."""
MODELS = ("course", "recommended", "transfer")
TRANSFER_BACKBONES = {"mood": "emotion_mini_xception"}
"""The pretrained backbone of ``--model transfer`` for each task that has one
(:mod:`cnnlab.pretrained`): fer's mini-Xception expression model for mood."""
TRANSFER_TOP = ("separable_conv2d_7", "separable_conv2d_8", "conv2d_6", "conv2d_7")
"""The backbone's layers the fine-tuning phase unfreezes: the convolutions of its last
residual block and its 7-way expression convolution. Its BatchNormalization layers stay
frozen (inference mode) throughout, as usual when fine-tuning on a small dataset."""
GREY_WEIGHTS = (0.299, 0.587, 0.114)
"""RGB -> grey (ITU-R BT.601 luma), as PIL's ``convert("L")``; the face step's grey faces
have three equal channels, which these weights (summing to 1) keep as they are."""


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ArgumentError(
            "input_shape must be three positive integers (height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    return shape  # type: ignore[return-value]


def check_n_classes(n_classes: int) -> int:
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ArgumentError(f"n_classes must be an integer >= 2. Received: n_classes={n_classes}")
    return n_classes


def happy_model(input_shape: Sequence[int] = (64, 64, 3)) -> keras.Sequential:
    """The course's Happy House model, written with the Sequential API.

    ZeroPadding2D(3) -> Conv2D(32, 7) -> BatchNormalization(axis=3) -> ReLU ->
    MaxPool2D -> Flatten -> Dense(1, sigmoid): 37,633 parameters at 64x64x3
    (64 of them the non-trainable BatchNorm moving statistics).

    Args:
        input_shape: ``(height, width, channels)`` of one image.

    Returns:
        An uncompiled ``keras.Sequential``; input ``(N, H, W, C)`` float in
        [0, 1], output ``(N, 1)``: the probability of the positive class
        (smiling).

    Example:
        >>> happy_model().output_shape                # doctest: +SKIP
        (None, 1)
    """
    import keras
    from keras import layers

    shape = check_input_shape(input_shape)
    return keras.Sequential([keras.Input(shape=shape), *happy_layers(layers)], name="happy_model")


def happy_layers(lib) -> list:
    """The Happy model's layers after the input, built from ``lib``: ``keras.layers`` or
    :mod:`cnnlab.nn`, which share these names and arguments (as :func:`recommended_layers`)."""
    return [
        lib.ZeroPadding2D(padding=3),
        lib.Conv2D(32, (7, 7), strides=(1, 1)),
        lib.BatchNormalization(axis=3),
        lib.ReLU(),
        lib.MaxPool2D(),
        lib.Flatten(),
        lib.Dense(1, activation="sigmoid"),
    ]


def signs_model(input_shape: Sequence[int] = (64, 64, 3), n_classes: int = 6) -> keras.Model:
    """The course's SIGNS model, written with the Functional API.

    Conv2D(8, 4, 'same') -> ReLU -> MaxPool2D(8, 8, 'same') -> Conv2D(16, 2, 'same')
    -> ReLU -> MaxPool2D(4, 4, 'same') -> Flatten -> Dense(n_classes, softmax):
    1,310 parameters at 64x64x3 with 6 classes.

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        n_classes: number of classes of the softmax output.

    Returns:
        An uncompiled ``keras.Model``; input ``(N, H, W, C)`` float in [0, 1],
        output ``(N, n_classes)`` class probabilities.

    Example:
        >>> signs_model(n_classes=10).output_shape    # doctest: +SKIP
        (None, 10)
    """
    import keras
    from keras import layers

    shape = check_input_shape(input_shape)
    check_n_classes(n_classes)
    input_img = keras.Input(shape=shape)
    z1 = layers.Conv2D(8, (4, 4), strides=(1, 1), padding="same")(input_img)
    a1 = layers.ReLU()(z1)
    p1 = layers.MaxPool2D(pool_size=(8, 8), strides=(8, 8), padding="same")(a1)
    z2 = layers.Conv2D(16, (2, 2), strides=(1, 1), padding="same")(p1)
    a2 = layers.ReLU()(z2)
    p2 = layers.MaxPool2D(pool_size=(4, 4), strides=(4, 4), padding="same")(a2)
    f = layers.Flatten()(p2)
    outputs = layers.Dense(n_classes, activation="softmax")(f)
    return keras.Model(inputs=input_img, outputs=outputs, name="signs_model")


def recommended_plan(input_shape: Sequence[int]) -> list[int]:
    """The filters of each conv block of the recommended model for this image size.

    One block is Conv2D(f, 3, 'same', no bias) -> BatchNormalization -> ReLU ->
    MaxPool2D(2). Blocks are added while the feature map is at least 8 pixels
    on its short side (at most four), so 64x64 images get four blocks
    (16, 32, 64, 128 filters) and 8x8 digits one block; a last block without
    pooling follows, then global average pooling.

    Shared by the Keras and NumPy versions so both build the same network.
    """
    h, w, _ = check_input_shape(input_shape)
    side = min(h, w)
    plan: list[int] = []
    filters = 16 if side >= 32 else 32
    while side >= 8 and len(plan) < 4:
        plan.append(filters)
        filters = min(filters * 2, 128)
        side //= 2
    plan.append(filters)  # the last block: no pooling after it
    return plan


def _augmentation(task: str, seed: int | None) -> list:
    from keras import layers

    # No RandomFlip for signs: a mirrored hand is another hand, and handedness matters.
    # Faces are symmetric enough that a horizontal flip keeps the mood.
    augment = []
    if get_task(task).flip:
        augment.append(layers.RandomFlip("horizontal", seed=seed))
    augment += [
        layers.RandomRotation(0.05, fill_mode="nearest", seed=seed),
        layers.RandomZoom(0.1, fill_mode="nearest", seed=seed),
        layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed),
    ]
    return augment


def recommended_layers(lib, task: str, shape: tuple[int, int, int], n_classes: int) -> list:
    """The recommended model's layers after the input, built from ``lib``.

    ``lib`` is ``keras.layers`` or :mod:`cnnlab.nn`, which share these layer names and
    arguments, so both engines build the same network from this one description:
    blocks of Conv2D 3x3 'same' without bias -> BatchNormalization(momentum=0.9) ->
    ReLU -> MaxPool2D(2) (none after the last block), global average pooling written
    as AveragePooling2D over the whole map + Flatten (so :func:`cnnlab.nn.from_keras`
    supports it), Dropout(0.3) and a sigmoid (mood) or softmax (signs) output.
    """
    plan = recommended_plan(shape)
    stack: list = []
    side_h, side_w = shape[0], shape[1]
    for i, filters in enumerate(plan):
        stack += [
            lib.Conv2D(filters, 3, padding="same", use_bias=False),
            lib.BatchNormalization(momentum=0.9),
            lib.ReLU(),
        ]
        if i < len(plan) - 1:
            stack.append(lib.MaxPool2D(2))
            side_h, side_w = side_h // 2, side_w // 2
    stack += [lib.AveragePooling2D(pool_size=(side_h, side_w)), lib.Flatten(), lib.Dropout(0.3)]
    t = get_task(task)
    activation = "sigmoid" if t.binary else "softmax"
    stack.append(lib.Dense(t.output_units(n_classes), activation=activation))
    return stack


def _recommended(
    task: str, input_shape: Sequence[int], n_classes: int, augment: bool, seed: int | None
) -> keras.Sequential:
    import keras
    from keras import layers

    shape = check_input_shape(input_shape)
    check_n_classes(n_classes)
    stack: list = [keras.Input(shape=shape)]
    if augment and min(shape[0], shape[1]) >= AUGMENT_MIN_SIDE:
        stack += _augmentation(task, seed)
    stack += recommended_layers(layers, task, shape, n_classes)
    return keras.Sequential(stack, name=f"{task}_recommended")


def mood_recommended_model(
    input_shape: Sequence[int] = (64, 64, 3), *, augment: bool = True, seed: int | None = None
) -> keras.Sequential:
    """A stronger smiling/not-smiling model than :func:`happy_model`.

    Light augmentation (horizontal flip, rotation up to 18 degrees, zoom and
    shift up to 10%; active only while training), then the conv blocks of
    :func:`recommended_plan`, global average pooling, Dropout(0.3) and
    Dense(1, sigmoid). About 100k parameters at 64x64.

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        augment: include the augmentation layers (only for images of at least
            32 pixels on the short side; set False for a model that
            :func:`cnnlab.nn.from_keras` converts as is).
        seed: seed of the augmentation layers.

    Returns:
        An uncompiled ``keras.Sequential``, output ``(N, 1)``.
    """
    return _recommended("mood", input_shape, 2, augment, seed)


def signs_recommended_model(
    input_shape: Sequence[int] = (64, 64, 3),
    n_classes: int = 10,
    *,
    augment: bool = True,
    seed: int | None = None,
) -> keras.Sequential:
    """A stronger hand-sign (or digit) classifier than :func:`signs_model`.

    Mild augmentation (rotation up to 18 degrees, zoom and shift up to 10%; no
    flip, since a mirrored hand is the other hand), then the conv blocks of
    :func:`recommended_plan` (adapting to small images such as 8x8 digits),
    global average pooling, Dropout(0.3) and Dense(n_classes, softmax).

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        n_classes: number of classes.
        augment: include the augmentation layers (only for images of at least
            32 pixels on the short side).
        seed: seed of the augmentation layers.

    Returns:
        An uncompiled ``keras.Sequential``, output ``(N, n_classes)``.
    """
    return _recommended("signs", input_shape, n_classes, augment, seed)


def build_model(
    task: str,
    model: str = "course",
    input_shape: Sequence[int] = (64, 64, 3),
    n_classes: int = 2,
    *,
    augment: bool = True,
    seed: int | None = None,
) -> keras.Model:
    """The Keras model for a task: ``task`` "mood" or "signs", ``model`` "course" or "recommended".

    For "mood" the output is one sigmoid unit (``n_classes`` must be 2); for
    "signs" a softmax over ``n_classes``.
    """
    check_task_model(task, model, n_classes)
    if model == "transfer":
        return transfer_model(task, input_shape, n_classes)
    if model == "course":
        if get_task(task).course_model == "happy":
            return happy_model(input_shape)
        return signs_model(input_shape, n_classes)
    return _recommended(task, input_shape, n_classes, augment, seed)


def check_task_model(task: str, model: str, n_classes: int | None = None) -> None:
    """Raise ``ArgumentError`` for an unknown task or model name, or a class count the task
    cannot have (mood is binary: exactly 2)."""
    t = get_task(task)
    if model not in MODELS:
        raise ArgumentError(f"model must be one of {', '.join(MODELS)}. Received: model={model!r}")
    if model == "transfer" and t.name not in TRANSFER_BACKBONES:
        raise ArgumentError(
            f"model 'transfer' needs a pretrained backbone for the task, and task {t.name!r} "
            f"has none yet (only {', '.join(TRANSFER_BACKBONES)} has one); use "
            "--model recommended"
        )
    t.check_n_classes(n_classes)


# Keras's augmentation layers: the one list is cnnlab.nn.registry.AUGMENTATION.
AUGMENTATION_LAYERS = AUGMENTATION


def strip_augmentation(model: keras.Model) -> keras.Model:
    """The same network without its augmentation layers (identity at inference).

    The returned Sequential shares the layers (and so the weights) of ``model``;
    it is what :func:`cnnlab.nn.from_keras` converts, since the NumPy engine has
    no augmentation layers. A model without augmentation layers is returned as is.
    """
    import keras

    if not any(is_augmentation(layer) for layer in model.layers):
        return model
    kept = [layer for layer in model.layers if not is_augmentation(layer)]
    return keras.Sequential([keras.Input(shape=model.input_shape[1:]), *kept], name=model.name)


def check_transfer_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """The input shape of a transfer model (both engines): 1 (grey) or 3 (RGB) channels."""
    shape = check_input_shape(input_shape)
    if shape[2] not in (1, 3):
        raise ArgumentError(
            f"model 'transfer' takes 1 (grey) or 3 (RGB) channels. Received: input_shape={shape}"
        )
    return shape


def transfer_model(
    task: str = "mood",
    input_shape: Sequence[int] = (64, 64, 3),
    n_classes: int = 2,
    *,
    dropout: float = 0.2,
) -> keras.Model:
    """A pretrained backbone with a new head (transfer learning), in its first phase: the
    backbone frozen, the head trainable (:func:`set_transfer_phase` unfreezes its top).

    For mood: the input as the runner feeds it, float32 in [0, 1] with 3 (RGB) or 1 (grey)
    channels, becomes a grey face in [-1, 1] inside the model (``to_grey``: a fixed 1x1
    convolution with :data:`GREY_WEIGHTS`, absent for 1 channel; ``to_signed``: Rescaling),
    so an exported model keeps the runner's input contract. Then fer's mini-Xception
    (:data:`TRANSFER_BACKBONES`) up to its global average pooling: its 7 expression logits,
    before the softmax. Then the head: Dropout(``dropout``) and Dense(1, sigmoid) named
    ``head``, its weights starting at zero. The backbone's layers keep their names and
    shipped weights.

    Args:
        task: a task of :data:`TRANSFER_BACKBONES` ("mood").
        input_shape: ``(height, width, channels)``, channels 1 or 3; the backbone is fully
            convolutional, so sizes other than its 64x64 work (64x64 is what it learned on).
        n_classes: must be 2 for mood.
        dropout: the head's dropout rate.

    Returns:
        An uncompiled ``keras.Model``, output ``(N, 1)``.
    """
    import keras
    import numpy as np
    from keras import layers

    check_task_model(task, "transfer", n_classes)
    shape = check_transfer_shape(input_shape)
    fer = keras.models.load_model(pretrained.path(TRANSFER_BACKBONES[task]), compile=False)
    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    grey = None
    if shape[2] == 3:
        grey = layers.Conv2D(1, 1, use_bias=False, trainable=False, name="to_grey")
        x = grey(x)
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(x)
    # Call the backbone's layers on the new input, in its order, as its graph connects them
    # (a flat model: every conv layer is the model's own, for Grad-CAM and the layer walk).
    tensors = {id(fer.inputs[0]): x}
    pooled = fer.layers[-1]._inbound_nodes[0].input_tensors[0]  # before the softmax
    for layer in fer.layers[1:]:
        node = layer._inbound_nodes[0]  # the layer's place in the shipped graph
        args = [tensors[id(t)] for t in node.input_tensors]
        tensors[id(node.output_tensors[0])] = layer(args if len(args) > 1 else args[0])
        layer.trainable = False
        if node.output_tensors[0] is pooled:
            break
    x = layers.Dropout(dropout, name="head_dropout")(tensors[id(pooled)])
    # Zero weights: the head starts with no opinion (0.5 for every face) instead of a random
    # mix of the backbone's logits, which are large enough to saturate the sigmoid.
    outputs = layers.Dense(1, activation="sigmoid", kernel_initializer="zeros", name="head")(x)
    model = keras.Model(inputs, outputs, name=f"{task}_transfer")
    if grey is not None:
        grey.set_weights([np.asarray(GREY_WEIGHTS, dtype="float32").reshape(1, 1, 3, 1)])
    return model


def set_transfer_phase(model, fine_tune: bool) -> bool:
    """Freeze (``fine_tune`` False) or unfreeze the layers of :data:`TRANSFER_TOP` of a
    :func:`transfer_model`, a Keras model, or of :func:`cnnlab.numpy_models.transfer_model`,
    its :mod:`cnnlab.nn` twin (both have ``get_layer`` and a ``trainable`` per layer); the
    head is always trainable, everything else always frozen (BatchNormalization too, so in
    inference mode throughout). Returns whether anything changed (the model then needs a new
    optimizer: compile it again)."""
    changed = False
    for name in TRANSFER_TOP:
        layer = model.get_layer(name)
        if layer.trainable != fine_tune:
            layer.trainable = fine_tune
            changed = True
    return changed
