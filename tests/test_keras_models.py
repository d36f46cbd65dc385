"""The course's Keras models (exact architecture), the recommended ones, and their NumPy twins."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnnlab import keras_models as km  # noqa: E402
from cnnlab import numpy_models as nm  # noqa: E402


def _types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def _non_trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.non_trainable_weights))


def test_happy_model_is_the_course_sequential_model():
    model = km.happy_model()
    assert isinstance(model, keras.Sequential)
    assert _types(model) == [
        "ZeroPadding2D",
        "Conv2D",
        "BatchNormalization",
        "ReLU",
        "MaxPooling2D",
        "Flatten",
        "Dense",
    ]
    assert model.count_params() == 37_633
    assert _non_trainable(model) == 64
    conv = model.layers[1]
    assert conv.kernel_size == (7, 7) and conv.filters == 32 and conv.strides == (1, 1)
    assert model.layers[0].padding == ((3, 3), (3, 3))
    assert model.layers[2].axis == 3
    assert model.layers[-1].activation.__name__ == "sigmoid"
    assert model.output_shape == (None, 1)


def test_signs_model_is_the_course_functional_model():
    model = km.signs_model()
    assert not isinstance(model, keras.Sequential)  # Functional API
    assert _types(model) == [
        "InputLayer",
        "Conv2D",
        "ReLU",
        "MaxPooling2D",
        "Conv2D",
        "ReLU",
        "MaxPooling2D",
        "Flatten",
        "Dense",
    ]
    assert model.count_params() == 1_310
    c1, p1, c2, p2 = model.layers[1], model.layers[3], model.layers[4], model.layers[6]
    assert (c1.filters, c1.kernel_size, c1.padding) == (8, (4, 4), "same")
    assert (p1.pool_size, p1.strides, p1.padding) == ((8, 8), (8, 8), "same")
    assert (c2.filters, c2.kernel_size, c2.padding) == (16, (2, 2), "same")
    assert (p2.pool_size, p2.strides, p2.padding) == ((4, 4), (4, 4), "same")
    assert model.output_shape == (None, 6)
    assert km.signs_model(n_classes=10).output_shape == (None, 10)


@pytest.mark.parametrize(
    ("shape", "plan"),
    [((64, 64, 3), [16, 32, 64, 128, 128]), ((16, 16, 1), [32, 64, 128]), ((8, 8, 3), [32, 64])],
)
@pytest.mark.slow
def test_recommended_plan_adapts_to_the_image_size(shape, plan):
    assert km.recommended_plan(shape) == plan
    model = km.signs_recommended_model(shape, 10)
    n_conv = sum(t == "Conv2D" for t in _types(model))
    n_pool = sum(t == "MaxPooling2D" for t in _types(model))
    assert (n_conv, n_pool) == (len(plan), len(plan) - 1)
    assert model.output_shape == (None, 10)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    probs = np.asarray(model(x, training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_signs_augmentation_never_flips_but_mood_may():
    signs = _types(km.signs_recommended_model((64, 64, 3), 10))
    mood = _types(km.mood_recommended_model((64, 64, 3)))
    assert "RandomFlip" not in signs  # a mirrored hand is the other hand
    assert {"RandomRotation", "RandomZoom", "RandomTranslation"} <= set(signs)
    assert "RandomFlip" in mood
    # 8x8 digits: too small for augmentation
    small = _types(km.signs_recommended_model((8, 8, 1), 10))
    assert not set(small) & set(km.AUGMENTATION_LAYERS)
    assert not set(_types(km.signs_recommended_model((64, 64, 3), 10, augment=False))) & set(
        km.AUGMENTATION_LAYERS
    )


def test_strip_augmentation_shares_weights_and_predicts_the_same():
    model = km.signs_recommended_model((32, 32, 3), 4, seed=1)
    stripped = km.strip_augmentation(model)
    assert not set(_types(stripped)) & set(km.AUGMENTATION_LAYERS)
    assert stripped.count_params() == model.count_params()
    x = np.random.default_rng(1).random((3, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(
        np.asarray(stripped(x, training=False)), np.asarray(model(x, training=False)), atol=1e-6
    )
    plain = km.signs_model((32, 32, 3), 4)
    assert km.strip_augmentation(plain) is plain


def test_build_model_dispatches_and_rejects_bad_arguments():
    assert km.build_model("mood", "course", (64, 64, 3), 2).count_params() == 37_633
    assert km.build_model("signs", "course", (64, 64, 3), 6).count_params() == 1_310
    assert km.build_model("mood", "recommended", (32, 32, 1), 2).output_shape == (None, 1)
    with pytest.raises(ValueError, match="task must be one of mood, signs. Received: task='x'"):
        km.build_model("x", "course")
    with pytest.raises(ValueError, match="model must be one of"):
        km.build_model("signs", "big")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        km.build_model("mood", "course", (64, 64, 3), 3)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        km.signs_model(n_classes=1)
    with pytest.raises(ValueError, match="input_shape must be three positive integers"):
        km.happy_model((64, 64))


@pytest.mark.parametrize(
    ("task", "model", "shape", "n_classes"),
    [
        ("mood", "course", (64, 64, 3), 2),
        ("signs", "course", (64, 64, 3), 6),
        ("signs", "recommended", (16, 16, 1), 10),
        ("mood", "recommended", (64, 64, 3), 2),
    ],
)
@pytest.mark.slow
def test_numpy_models_match_the_keras_ones(task, model, shape, n_classes):
    kmodel = km.strip_augmentation(km.build_model(task, model, shape, n_classes, seed=0))
    nmodel = nm.build_model(task, model, shape, n_classes, seed=0)
    assert nmodel.count_params() == kmodel.count_params()
    assert [tuple(w.shape) for w in nmodel.get_weights()] == [
        tuple(w.shape) for w in kmodel.get_weights()
    ]
    assert [t for t in _types(nmodel) if t != "InputLayer"] == [
        t for t in _types(kmodel) if t != "InputLayer"
    ]
    # Same weights in, same predictions out.
    nmodel.set_weights(kmodel.get_weights())
    x = np.random.default_rng(2).random((2, *shape), dtype=np.float32)
    np.testing.assert_allclose(
        nmodel.predict(x), np.asarray(kmodel(x, training=False)), rtol=1e-4, atol=1e-5
    )


def test_numpy_models_are_seeded():
    a = nm.signs_model((16, 16, 3), 3, seed=5).get_weights()
    b = nm.signs_model((16, 16, 3), 3, seed=5).get_weights()
    c = nm.signs_model((16, 16, 3), 3, seed=6).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
