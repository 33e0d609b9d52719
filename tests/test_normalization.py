"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization.

References are written here in numpy from Keras's documented definitions:
- BatchNormalization (keras.io/api/layers/normalization_layers/batch_normalization): in training,
  ``gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta`` with the batch's mean and biased
  variance over every axis but ``axis``, and ``moving = moving * momentum + batch * (1 - momentum)``;
  in inference the same with the moving statistics.
- LayerNormalization: the same over ``axis`` of each sample (no moving statistics).
- GroupNormalization (Wu & He 2018): channels split into ``groups`` consecutive groups, each
  sample's group normalized over its channels and all other non-batch axes.
Gradients are checked against central finite differences in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as fg
from ferrograd import layers

GRAD_SETTINGS = settings(max_examples=25, deadline=None)
FORWARD_SETTINGS = settings(max_examples=25, deadline=None)

values = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64)


# ----- numpy references


def ref_normalize(x, reduce_axes, gamma, beta, param_axes, epsilon, mean=None, var=None):
    """gamma * (x - mean) / sqrt(var + epsilon) + beta, statistics over ``reduce_axes`` unless
    given; gamma/beta broadcast along ``param_axes``."""
    x = np.asarray(x, dtype=np.float64)
    if mean is None:
        mean = x.mean(axis=tuple(reduce_axes), keepdims=True)
        var = ((x - mean) ** 2).mean(axis=tuple(reduce_axes), keepdims=True)
    bshape = [x.shape[a] if a in param_axes else 1 for a in range(x.ndim)]
    if mean.ndim != x.ndim:
        mean, var = mean.reshape(bshape), var.reshape(bshape)
    x_hat = (x - mean) / np.sqrt(var + epsilon)
    return x_hat * np.reshape(gamma, bshape) + np.reshape(beta, bshape)


def ref_group_norm(x, groups, axis, gamma, beta, epsilon):
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    channels = x.shape[-1]
    grouped = x.reshape(x.shape[:-1] + (groups, channels // groups))
    reduce_axes = tuple(range(1, grouped.ndim - 2)) + (grouped.ndim - 1,)
    mean = grouped.mean(axis=reduce_axes, keepdims=True)
    var = ((grouped - mean) ** 2).mean(axis=reduce_axes, keepdims=True)
    y = ((grouped - mean) / np.sqrt(var + epsilon)).reshape(x.shape) * gamma + beta
    return np.moveaxis(y, -1, axis)


# ----- strategies


@st.composite
def input_and_axis(draw, min_rank=2, max_rank=4, max_side=4):
    """A float64 input (rank 2..4) and an axis in Keras's range, negative or not."""
    rank = draw(st.integers(min_rank, max_rank))
    shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=rank, max_size=rank)))
    shape = (max(shape[0], 2),) + shape[1:]
    x = draw(hnp.arrays(np.float64, shape, elements=values))
    axis = draw(st.integers(-rank, rank - 1))
    return x, axis


def _params(rng, shape):
    return rng.uniform(0.5, 1.5, shape), rng.uniform(-0.5, 0.5, shape)


def _set_affine(layer, gamma, beta):
    weights = layer.get_weights()
    layer.set_weights([gamma, beta] + weights[2:])


def layer_gradients(layer, x, training, eps=1e-6):
    """(analytic, numeric) gradients of sum(w * layer(x)) with respect to x and each trainable
    weight (gamma, beta); numeric ones by central differences through ``set_weights``."""
    x = np.array(x, dtype=np.float64)
    moving = layer.get_weights()
    leaf = fg.tensor(x, requires_grad=True, dtype="float64")
    weighting = np.random.default_rng(0).uniform(0.5, 1.5, size=x.shape)
    with fg.GradientTape() as tape:
        loss = (layer(leaf, training=training) * fg.tensor(weighting, dtype="float64")).sum()
    grads = tape.gradient(loss, [leaf] + layer.trainable_weights)
    analytic = [g.numpy() for g in grads]
    trainable = len(layer.trainable_weights)

    def value(xv, weights):
        layer.set_weights(weights + moving[trainable:])
        with fg.no_grad():
            y = layer(fg.tensor(xv, dtype="float64"), training=training).numpy()
        return float(np.sum(weighting * y))

    base = [w.copy() for w in moving[:trainable]]
    numeric = [np.zeros_like(x)]
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[0][idx] = (value(plus, base) - value(minus, base)) / (2 * eps)
    for j, w in enumerate(base):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            plus, minus = [v.copy() for v in base], [v.copy() for v in base]
            plus[j][idx] += eps
            minus[j][idx] -= eps
            g[idx] = (value(x, plus) - value(x, minus)) / (2 * eps)
        numeric.append(g)
    layer.set_weights(moving)
    return analytic, numeric


def assert_gradients(layer, x, training, atol=1e-5, rtol=1e-4):
    analytic, numeric = layer_gradients(layer, x, training)
    assert len(analytic) == 3  # input, gamma, beta
    for name, a, n in zip(["input", "gamma", "beta"], analytic, numeric):
        np.testing.assert_allclose(a, n, atol=atol, rtol=rtol, err_msg=f"gradient of {name}")


# ----- BatchNormalization


def test_batch_normalization_defaults_and_weights_follow_keras():
    bn = layers.BatchNormalization()
    bn.build((None, 3))
    assert (bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (-1, 0.99, 1e-3, True, True)
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    gamma, beta, mean, var = bn.get_weights()
    np.testing.assert_array_equal(gamma, np.ones(3))
    np.testing.assert_array_equal(beta, np.zeros(3))
    np.testing.assert_array_equal(mean, np.zeros(3))
    np.testing.assert_array_equal(var, np.ones(3))
    config = bn.get_config()
    assert config["momentum"] == 0.99 and config["axis"] == -1
    assert layers.BatchNormalization.from_config(config).get_config()["epsilon"] == 1e-3
    no_affine = layers.BatchNormalization(center=False, scale=False)
    no_affine.build((None, 3))
    assert [w.name for w in no_affine.weights] == ["moving_mean", "moving_variance"]


@FORWARD_SETTINGS
@given(input_and_axis(), st.integers(0, 2**31))
def test_batch_normalization_training_and_inference_forward(case, seed):
    x, axis = case
    rng = np.random.default_rng(seed)
    ax = axis % x.ndim
    n = x.shape[ax]
    bn = layers.BatchNormalization(axis=axis, momentum=0.8, dtype="float64")
    bn.build(x.shape)
    gamma, beta = _params(rng, (n,))
    mean0, var0 = rng.normal(size=n), rng.uniform(0.5, 2.0, n)
    bn.set_weights([gamma, beta, mean0, var0])
    reduce_axes = [a for a in range(x.ndim) if a != ax]

    inference = bn(x, training=False).numpy()
    expected = ref_normalize(x, reduce_axes, gamma, beta, [ax], 1e-3, mean=mean0, var=var0)
    np.testing.assert_allclose(inference, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(bn.get_weights()[2], mean0)  # inference leaves them alone

    training = bn(x, training=True).numpy()
    expected = ref_normalize(x, reduce_axes, gamma, beta, [ax], 1e-3)
    np.testing.assert_allclose(training, expected, rtol=1e-9, atol=1e-9)


def test_batch_normalization_with_a_list_of_axes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3, 4))
    bn = layers.BatchNormalization(axis=[1, 2], dtype="float64")
    bn.build(x.shape)
    assert [tuple(w.shape) for w in bn.weights] == [(3, 4)] * 4
    gamma, beta = _params(rng, (3, 4))
    _set_affine(bn, gamma, beta)
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y, ref_normalize(x, [0], gamma, beta, [1, 2], 1e-3), rtol=1e-10, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(st.floats(0.0, 1.0), st.integers(1, 6), st.integers(0, 2**31))
def test_moving_statistics_follow_the_keras_recurrence(momentum, steps, seed):
    rng = np.random.default_rng(seed)
    bn = layers.BatchNormalization(momentum=momentum, dtype="float64")
    bn.build((None, 3))
    moving_mean, moving_var = np.zeros(3), np.ones(3)
    for _ in range(steps):
        x = rng.normal(2.0, 3.0, size=(6, 3))
        bn(x, training=True)
        moving_mean = moving_mean * momentum + x.mean(axis=0) * (1 - momentum)
        moving_var = moving_var * momentum + x.var(axis=0) * (1 - momentum)  # biased, ddof=0
    np.testing.assert_allclose(bn.get_weights()[2], moving_mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.get_weights()[3], moving_var, rtol=1e-10, atol=1e-12)


def test_momentum_is_keras_form_not_pytorch_form():
    # Keras keeps `momentum` of the old value: one step from zero gives 0.1 * batch mean, where
    # PyTorch's momentum=0.9 would give 0.9 * batch mean.
    bn = layers.BatchNormalization(momentum=0.9, dtype="float64")
    x = np.array([[1.0, 10.0], [3.0, 20.0]])
    bn(x, training=True)
    np.testing.assert_allclose(bn.get_weights()[2], [0.2, 1.5])
    np.testing.assert_allclose(bn.get_weights()[3], [0.9 + 0.1 * 1.0, 0.9 + 0.1 * 25.0])


def test_frozen_batch_normalization_uses_moving_statistics_in_training():
    bn = layers.BatchNormalization(dtype="float64")
    x = np.random.default_rng(2).normal(5.0, 2.0, size=(8, 3))
    bn.build(x.shape)
    bn.trainable = False
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3))  # moving mean 0, variance 1
    np.testing.assert_array_equal(bn.get_weights()[2], np.zeros(3))


@GRAD_SETTINGS
@given(input_and_axis(max_rank=3, max_side=3), st.booleans(), st.integers(0, 2**31))
def test_batch_normalization_gradients(case, training, seed):
    x, axis = case
    rng = np.random.default_rng(seed)
    bn = layers.BatchNormalization(axis=axis, dtype="float64")
    bn.build(x.shape)
    n = x.shape[axis % x.ndim]
    gamma, beta = _params(rng, (n,))
    bn.set_weights([gamma, beta, rng.normal(size=n), rng.uniform(0.5, 2.0, n)])
    assert_gradients(bn, x, training)


def test_batch_normalization_in_a_model_summary_and_count_params(capsys):
    model = fg.Sequential([fg.Input((10,)), layers.Dense(64), layers.BatchNormalization()])
    bn = model.layers[-1]
    assert bn.count_params() == 256
    assert sum(int(np.prod(w.shape)) for w in bn.non_trainable_weights) == 128
    assert sum(int(np.prod(w.shape)) for w in bn.trainable_weights) == 128
    model.summary()
    text = capsys.readouterr().out
    assert "BatchNormalization" in text
    assert "Total params: 960" in text  # 704 + 256
    assert "Trainable params: 832" in text
    assert "Non-trainable params: 128" in text


def test_mlp_with_batch_normalization_trains_and_evaluates_with_moving_statistics():
    fg.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(256, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [1.5]]) / 4).astype("float32")
    model = fg.Sequential(
        [fg.Input((4,)), layers.Dense(16), layers.BatchNormalization(), layers.ReLU(), layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    bn = model.layers[1]
    assert not np.allclose(bn.get_weights()[2], 0.0)  # fit trained in training mode
    # evaluate and predict use the moving statistics: reproduce them in numpy.
    kernel, bias = model.layers[0].get_weights()
    gamma, beta, mean, var = bn.get_weights()
    k2, b2 = model.layers[3].get_weights()
    hidden = np.maximum((x @ kernel + bias - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0)
    expected = hidden @ k2 + b2
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)
    loss = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(float(np.mean((expected - y) ** 2)), rel=1e-4)


def test_batch_normalization_bad_inputs():
    with pytest.raises(ValueError, match="out of range"):
        layers.BatchNormalization(axis=3)(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="defined dimension"):
        layers.BatchNormalization().build((None, None))
    bn = layers.BatchNormalization()
    bn.build((None, 4))
    with pytest.raises(ValueError, match="built for"):
        bn(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="momentum"):
        layers.BatchNormalization(momentum=1.5)
    with pytest.raises(TypeError):
        layers.BatchNormalization(axis="channels")


# ----- LayerNormalization


@FORWARD_SETTINGS
@given(input_and_axis(), st.integers(0, 2**31), st.booleans())
def test_layer_normalization_forward(case, seed, two_axes):
    x, axis = case
    rng = np.random.default_rng(seed)
    ax = axis % x.ndim
    axes = sorted({ax, x.ndim - 1}) if two_axes else [ax]
    ln = layers.LayerNormalization(axis=axes if two_axes else axis, dtype="float64")
    ln.build(x.shape)
    shape = tuple(x.shape[a] for a in axes)
    assert [tuple(w.shape) for w in ln.weights] == [shape, shape]
    gamma, beta = _params(rng, shape)
    ln.set_weights([gamma, beta])
    expected = ref_normalize(x, axes, gamma, beta, axes, 1e-3)
    for training in (False, True):
        np.testing.assert_allclose(ln(x, training=training).numpy(), expected, rtol=1e-9, atol=1e-9)


@GRAD_SETTINGS
@given(input_and_axis(max_rank=3, max_side=3), st.integers(0, 2**31))
def test_layer_normalization_gradients(case, seed):
    x, axis = case
    ln = layers.LayerNormalization(axis=axis, dtype="float64")
    ln.build(x.shape)
    gamma, beta = _params(np.random.default_rng(seed), (x.shape[axis % x.ndim],))
    ln.set_weights([gamma, beta])
    assert_gradients(ln, x, training=True)


def test_layer_normalization_defaults_and_errors():
    ln = layers.LayerNormalization()
    assert (ln.axis, ln.epsilon, ln.center, ln.scale) == (-1, 1e-3, True, True)
    ln.build((None, 5))
    assert [w.name for w in ln.weights] == ["gamma", "beta"]
    assert ln.non_trainable_weights == []
    assert layers.LayerNormalization.from_config(ln.get_config()).axis == -1
    with pytest.raises(ValueError, match="out of range"):
        layers.LayerNormalization(axis=-3)(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="defined dimension"):
        layers.LayerNormalization().build((None, None))


# ----- GroupNormalization


@st.composite
def group_case(draw):
    rank = draw(st.integers(2, 4))
    groups = draw(st.integers(1, 3))
    per_group = draw(st.integers(1, 3))
    axis = draw(st.integers(1, rank - 1)) * draw(st.sampled_from([1, -1]))
    ax = axis % rank
    shape = [draw(st.integers(1, 3)) for _ in range(rank)]
    shape[0] = max(shape[0], 2)
    shape[ax] = groups * per_group
    x = draw(hnp.arrays(np.float64, tuple(shape), elements=values))
    return x, groups, axis


@FORWARD_SETTINGS
@given(group_case(), st.integers(0, 2**31))
def test_group_normalization_forward(case, seed):
    x, groups, axis = case
    channels = x.shape[axis]
    gn = layers.GroupNormalization(groups=groups, axis=axis, dtype="float64")
    gn.build(x.shape)
    gamma, beta = _params(np.random.default_rng(seed), (channels,))
    gn.set_weights([gamma, beta])
    expected = ref_group_norm(x, groups, axis % x.ndim, gamma, beta, 1e-3)
    np.testing.assert_allclose(gn(x).numpy(), expected, rtol=1e-9, atol=1e-9)


@GRAD_SETTINGS
@given(group_case(), st.integers(0, 2**31))
def test_group_normalization_gradients(case, seed):
    x, groups, axis = case
    gn = layers.GroupNormalization(groups=groups, axis=axis, dtype="float64")
    gn.build(x.shape)
    gamma, beta = _params(np.random.default_rng(seed), (x.shape[axis],))
    gn.set_weights([gamma, beta])
    assert_gradients(gn, x, training=True)


def test_group_normalization_defaults_instance_norm_and_errors():
    gn = layers.GroupNormalization()
    assert (gn.groups, gn.axis, gn.epsilon) == (32, -1, 1e-3)
    gn.build((None, 8, 64))
    assert [tuple(w.shape) for w in gn.weights] == [(64,), (64,)]
    # groups=-1: one group per channel (instance normalization)
    x = np.random.default_rng(3).normal(size=(2, 5, 4))
    inst = layers.GroupNormalization(groups=-1, dtype="float64")
    np.testing.assert_allclose(inst(x).numpy(), ref_group_norm(x, 4, 2, 1.0, 0.0, 1e-3), atol=1e-10)
    with pytest.raises(ValueError, match="not divisible"):
        layers.GroupNormalization(groups=4)(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="cannot be more than"):
        layers.GroupNormalization(groups=8)(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="defined dimension"):
        layers.GroupNormalization(groups=2).build((None, None))
    with pytest.raises(ValueError, match="out of range"):
        layers.GroupNormalization(groups=2, axis=2)(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="batch axis"):
        layers.GroupNormalization(groups=2, axis=0)(np.zeros((2, 4)))
