"""fg.activations (Keras 3 names and defaults) and fg.utils."""

from __future__ import annotations

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import activations, utils

X = np.array([-7.0, -3.0, -1.0, -0.25, 0.5, 2.0, 5.0, 8.0])


def test_keras_defaults_differ_from_ops_where_keras_does():
    # keras.activations.leaky_relu defaults to 0.2; keras.activations.gelu is exact.
    np.testing.assert_allclose(activations.leaky_relu(X).numpy(), np.where(X > 0, X, 0.2 * X))
    from math import erf

    exact = np.array([0.5 * v * (1 + erf(v / np.sqrt(2))) for v in X])
    np.testing.assert_allclose(activations.gelu(fg.tensor(X, dtype="float64")).numpy(), exact, rtol=1e-12)
    assert not np.allclose(fg.ops.gelu(fg.tensor(X, dtype="float64")).numpy(), exact, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, np.maximum(X, 0)),
        ({"max_value": 6}, np.clip(X, 0, 6)),
        ({"max_value": 4.0}, np.clip(X, 0, 4.0)),
        ({"threshold": 1.0}, np.where(X > 1.0, X, 0.0)),
        # Keras: relu(x) - negative_slope * relu(-x + threshold)
        ({"negative_slope": 0.1}, np.maximum(X, 0) - 0.1 * np.maximum(-X, 0)),
        ({"negative_slope": 0.1, "threshold": 1.0}, np.where(X > 1.0, X, 0.0) - 0.1 * np.maximum(-X + 1.0, 0)),
    ],
)
def test_relu_options_follow_keras(kwargs, expected):
    x = fg.tensor(X, dtype="float64")
    np.testing.assert_allclose(activations.relu(x, **kwargs).numpy(), expected, rtol=1e-12)


def test_relu_options_are_differentiable():
    x = fg.tensor(X, requires_grad=True, dtype="float64")
    activations.relu(x, negative_slope=0.1, max_value=4.0).sum().backward()
    expected = np.where(X < 0, 0.1, np.where(X < 4.0, 1.0, 0.0))
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_get_resolves_names_callables_and_none():
    assert activations.get("relu") is activations.relu
    assert activations.get(None) is activations.linear
    assert activations.get(np.tanh) is np.tanh
    np.testing.assert_allclose(activations.get("exponential")(X).numpy(), np.exp(X).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(activations.get("linear")(X).numpy(), X.astype(np.float32))
    with pytest.raises(ValueError, match="valid names are:.*relu"):
        activations.get("rellu")
    assert activations.serialize(activations.swish) == "silu"


def test_to_categorical():
    out = utils.to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[0, 2, 1, 2]])
    assert out.dtype == np.float32
    assert utils.to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert utils.to_categorical(np.array([[1, 0], [0, 1]])).shape == (2, 2, 2)
    with pytest.raises(ValueError, match="out of range"):
        utils.to_categorical([3], num_classes=3)
    with pytest.raises(ValueError, match="non-negative"):
        utils.to_categorical([-1])
    with pytest.raises(ValueError, match="whole numbers"):
        utils.to_categorical([0.5])


def test_set_random_seed_repeats_numpy_draws():
    utils.set_random_seed(123)
    first = np.random.rand(3)
    utils.set_random_seed(123)
    np.testing.assert_array_equal(np.random.rand(3), first)
    with pytest.raises(TypeError):
        utils.set_random_seed("abc")
