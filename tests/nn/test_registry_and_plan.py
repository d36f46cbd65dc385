"""The layer contract seen from outside (a layer alone behaves the same before and after a
model trains it), the model's plan, and the layer registry (every layer type goes
nn -> Keras -> nn unchanged; an unsupported Keras option is refused by name)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn
from cnnlab.nn import registry


def _model(dtype="float64"):
    return nn.Sequential(
        [
            nn.Input(shape=(6, 6, 2)),
            nn.Conv2D(3, 3, padding="same"),
            nn.ReLU(),
            nn.MaxPool2D(2),
            nn.Flatten(),
            nn.Dense(3, activation="softmax"),
        ],
        seed=0,
        dtype=dtype,
    )


def _alone(layer, x, dy):
    """dx and the weights' gradients of one forward/backward of ``layer`` used alone."""
    layer.zero_grad()
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    return dx, [w.grad.copy() for w in layer.trainable_weights]


def test_a_layer_alone_gives_the_same_gradients_before_and_after_fit():
    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6, 6, 2))
    inputs, shape = [], x
    for layer in model.layers:  # each layer's input, in declared order
        inputs.append(shape)
        shape = layer.forward(shape)
    dys = [
        rng.standard_normal(layer.forward(a).shape)
        for layer, a in zip(model.layers, inputs, strict=True)
    ]
    weights = model.get_weights()
    before = [_alone(layer, a, dy) for layer, a, dy in zip(model.layers, inputs, dys, strict=True)]

    model.fit(x, rng.integers(0, 3, 5), epochs=2, batch_size=2, verbose=0, seed=0)
    model.set_weights(weights)  # the same weights: the same gradients
    after = [_alone(layer, a, dy) for layer, a, dy in zip(model.layers, inputs, dys, strict=True)]
    for layer, (dx0, g0), (dx1, g1) in zip(model.layers, before, after, strict=True):
        assert dx1 is not None, layer.name  # the bottom layer still returns dx alone
        np.testing.assert_array_equal(dx1, dx0, err_msg=layer.name)
        for a, b in zip(g0, g1, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=layer.name)


def test_the_plan_is_the_models_and_the_layers_are_left_alone():
    model = _model()
    conv, relu, pool, _, dense = model.layers
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    plan = model.plan
    assert plan.order == (conv, pool, relu, model.layers[3], dense)
    assert plan.fused and plan.stop == 0
    model.fit(np.zeros((4, 6, 6, 2)), np.zeros(4), verbose=0)
    # fit adds no attribute to a layer beyond what its own forward/backward keep
    alone = _model()
    for layer in alone.layers:
        layer.forward(np.zeros((1, *layer.input_shape[1:])), training=True)
    for ours, theirs in zip(model.layers, alone.layers, strict=True):
        assert sorted(vars(ours)) == sorted(vars(theirs)), ours.name
    lines = []
    model.summary(print_fn=lines.append)
    assert any("Fused with the loss: " in line and "softmax" in line for line in lines)
    assert any("Backward stops at: " + conv.name in line for line in lines)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    assert model.plan.fused
    model.compile(optimizer="adam", loss=nn.losses.CategoricalCrossentropy(from_logits=True))
    assert not model.plan.fused


def test_a_new_model_has_a_plan_without_a_loss():
    model = _model()
    assert model.plan.loss is None and not model.plan.fused
    np.testing.assert_array_equal(
        model.predict(np.ones((2, 6, 6, 2))), model.plan.forward(np.ones((2, 6, 6, 2)))
    )


def test_every_registered_layer_declares_its_keras_name_config_and_weight_order():
    for name, cls in registry.LAYERS.items():
        assert cls.__name__ == name
        assert registry.BY_KERAS_NAME[cls.keras_name] is cls
        assert set(registry.keras_keys(cls)) <= set(cls.config_keys)


# One instance of every registered layer type (non-default options where there are any),
# with an input shape it takes.
SAMPLES = {
    "Conv2D": (
        lambda: nn.Conv2D(
            4, (3, 2), strides=(2, 1), padding="same", use_bias=False, activation="relu"
        ),
        (7, 7, 3),
    ),
    "Conv2DRegularized": (lambda: nn.Conv2D(2, 3, kernel_regularizer=0.01), (5, 5, 2)),
    "DepthwiseConv2D": (
        lambda: nn.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=2),
        (7, 6, 3),
    ),
    "SeparableConv2D": (
        lambda: nn.SeparableConv2D(
            4, 3, padding="same", depth_multiplier=2, use_bias=False, activation="relu"
        ),
        (6, 6, 3),
    ),
    "GlobalAveragePooling2D": (lambda: nn.GlobalAveragePooling2D(), (4, 5, 3)),
    "GlobalMaxPooling2D": (lambda: nn.GlobalMaxPooling2D(keepdims=True), (4, 5, 3)),
    "Add": (lambda: nn.Add(), [(4, 4, 2), (4, 4, 2)]),
    "Dense": (lambda: nn.Dense(5, activation="tanh"), (6,)),
    "Activation": (lambda: nn.Activation("sigmoid"), (4, 4, 2)),
    "ReLU": (lambda: nn.ReLU(), (4, 4, 2)),
    "Flatten": (lambda: nn.Flatten(), (4, 4, 2)),
    "ZeroPadding2D": (lambda: nn.ZeroPadding2D(((1, 2), (0, 3))), (4, 4, 2)),
    "MaxPooling2D": (lambda: nn.MaxPooling2D(3, strides=2, padding="same"), (7, 7, 2)),
    "AveragePooling2D": (lambda: nn.AveragePooling2D((2, 3)), (6, 6, 2)),
    "BatchNormalization": (
        lambda: nn.BatchNormalization(momentum=0.9, epsilon=1e-2, center=False),
        (4, 4, 3),
    ),
    "Dropout": (lambda: nn.Dropout(0.3, seed=7), (5,)),
    "Rescaling": (lambda: nn.Rescaling(2.0, offset=-1.0), (4, 4, 2)),
}


def test_the_samples_cover_every_registered_layer():
    assert set(SAMPLES) - {"Conv2DRegularized"} == set(registry.LAYERS) - {"InputLayer"}


def _batch(shape):
    """The build shape of a sample: a batch axis before one shape, or before each of a list."""
    return [(None, *s) for s in shape] if isinstance(shape, list) else (None, *shape)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_registry_round_trip_through_a_config(kind):
    make, shape = SAMPLES[kind]
    layer = make()
    layer.build(_batch(shape), np.random.default_rng(0))
    again = registry.deserialize(registry.serialize(layer))
    assert again.get_config() == layer.get_config()
    names = [w.name for w in layer.weights]
    assert names == [n for n in type(layer).weight_names if n in names]


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_registry_round_trip_through_keras(kind):
    pytest.importorskip("keras")
    make, shape = SAMPLES[kind]
    if isinstance(shape, list):
        pytest.skip("a merging layer goes through Keras inside a graph model (test_graph_model)")
    model = nn.Sequential([nn.Input(shape=shape), make()], seed=0)
    rng = np.random.default_rng(1)
    model.set_weights([rng.random(w.shape).astype(w.dtype) + 0.5 for w in model.weights])
    back = nn.from_keras(model.to_keras())
    ours, theirs = model.layers[0], back.layers[0]
    assert type(theirs) is type(ours)
    assert theirs.get_config() == ours.get_config()
    for a, b in zip(model.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("make", "option"),
    [
        (lambda L: L.Conv2D(2, 3, dilation_rate=2, name="x"), "dilation_rate"),
        (lambda L: L.Conv2D(2, 3, groups=2, name="x"), "groups"),
        (lambda L: L.Conv2D(2, 3, activation="elu", name="x"), "activation"),
        (lambda L: L.Dense(2, kernel_regularizer="l2", name="x"), "kernel_regularizer"),
        (lambda L: L.MaxPooling2D(data_format="channels_first", name="x"), "data_format"),
        (lambda L: L.ReLU(max_value=6.0, name="x"), "max_value"),
        (lambda L: L.Dropout(0.5, noise_shape=(None, 1, 1, 2), name="x"), "noise_shape"),
        (lambda L: L.BatchNormalization(renorm=True, name="x"), "renorm"),
        (lambda L: L.Flatten(dtype="float16", name="x"), "dtype"),
    ],
)
def test_an_unsupported_keras_option_is_refused_naming_layer_and_option(make, option):
    keras = pytest.importorskip("keras")
    layer = make(keras.layers)
    km = keras.Sequential([keras.Input(shape=(8, 8, 2)), layer])
    with pytest.raises(nn.registry.ArgumentError, match=rf"layer 'x' \(\w+\) uses {option}="):
        nn.from_keras(km)


def test_augmentation_is_one_list():
    from cnnlab import keras_models

    assert keras_models.AUGMENTATION_LAYERS is registry.AUGMENTATION
    assert registry.is_augmentation("RandomContrast")
    assert not registry.is_augmentation(nn.Conv2D(1, 1))
    assert registry.is_conv(nn.Conv2D(1, 1)) and not registry.is_conv(nn.Dense(1))
