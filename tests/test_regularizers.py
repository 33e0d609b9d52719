"""fg.regularizers against Keras 3's definitions, alone and inside training.

Source of every reference: keras/src/regularizers/regularizers.py: ``L1(l1=0.01)`` is
``l1 * sum(|w|)``, ``L2(l2=0.01)`` is ``l2 * sum(w**2)`` (no factor 1/2), ``L1L2(l1=0.0, l2=0.0)``
the sum of both; factors go through ``validate_float_arg`` (finite, non-negative); ``get`` takes
the names ``"l1"``, ``"l2"``, ``"l1_l2"`` and the class names, configs and instances. In a model
(keras/src/trainers/trainer.py ``compute_loss``) the penalties of the weights' regularizers are
added to the data loss, so ``evaluate`` reports data loss + penalty, and a gradient step on a
regularized weight w moves it by an extra ``-lr * d(penalty)/dw``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrograd as fg
from conftest import arrays, assert_gradients_match, shapes
from ferrograd import layers, regularizers

RNG = np.random.default_rng(3)


def ref_penalty(w, l1=0.0, l2=0.0):
    w = np.asarray(w, dtype=np.float64)
    return l1 * np.sum(np.abs(w)) + l2 * np.sum(w**2)


# ----- values and defaults


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_penalties_follow_keras_formulas(data):
    w = data.draw(arrays(data.draw(shapes(min_dims=0, max_dims=3))))
    l1, l2 = data.draw(st.floats(0.0, 2.0)), data.draw(st.floats(0.0, 2.0))
    np.testing.assert_allclose(regularizers.L1(l1)(w).item(), ref_penalty(w, l1=l1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(regularizers.L2(l2)(w).item(), ref_penalty(w, l2=l2), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(
        regularizers.L1L2(l1=l1, l2=l2)(w).item(), ref_penalty(w, l1=l1, l2=l2), rtol=1e-12, atol=1e-300
    )


def test_defaults_and_documented_values():
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    assert regularizers.L1().l1 == 0.01 and regularizers.L2().l2 == 0.01
    l1l2 = regularizers.L1L2()
    assert l1l2.l1 == 0.0 and l1l2.l2 == 0.0
    assert regularizers.L1L2()(w).item() == 0.0
    # sum|w| = 6.5, sum w^2 = 14.25
    np.testing.assert_allclose(regularizers.L1()(w).item(), 0.065, rtol=1e-12)
    np.testing.assert_allclose(regularizers.L2()(w).item(), 0.1425, rtol=1e-12)  # no factor 1/2
    np.testing.assert_allclose(regularizers.L1L2(l1=0.1, l2=0.2)(w).item(), 0.65 + 2.85, rtol=1e-12)
    np.testing.assert_allclose(regularizers.L1L2(l2=0.2)(w).item(), 2.85, rtol=1e-12)
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    assert fg.regularizers is regularizers


def test_penalty_dtype_and_tensors():
    w32 = fg.tensor(np.array([1.0, -2.0]), dtype="float32")
    assert regularizers.L2(0.5)(w32).dtype == "float32"
    assert regularizers.L1L2()(w32).dtype == "float32"
    variable = fg.Variable(np.array([3.0, 4.0]))
    np.testing.assert_allclose(regularizers.L2(1.0)(variable).item(), 25.0, rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_penalty_gradients(data):
    shape = data.draw(st.sampled_from([(3,), (2, 2), (1, 3, 2)]))
    magnitude = data.draw(arrays(shape, 0.1, 2.0))  # away from 0, where |w| has its kink
    sign = np.where(data.draw(arrays(shape, -1.0, 1.0)) < 0, -1.0, 1.0)
    w = magnitude * sign
    l1, l2 = data.draw(st.floats(0.01, 1.0)), data.draw(st.floats(0.01, 1.0))
    assert_gradients_match(lambda t: regularizers.L1L2(l1=l1, l2=l2)(t), [w])
    # and the closed form: d/dw = l1 sign(w) + 2 l2 w
    leaf = fg.tensor(w, requires_grad=True, dtype="float64")
    regularizers.L1L2(l1=l1, l2=l2)(leaf).backward()
    np.testing.assert_allclose(leaf.grad.numpy(), l1 * np.sign(w) + 2 * l2 * w, rtol=1e-12)


# ----- get, serialize, deserialize


@pytest.mark.parametrize(
    ("identifier", "cls", "config"),
    [
        ("l1", regularizers.L1, {"l1": 0.01}),
        ("l2", regularizers.L2, {"l2": 0.01}),
        ("l1_l2", regularizers.L1L2, {"l1": 0.0, "l2": 0.0}),
        ("L1", regularizers.L1, {"l1": 0.01}),
        ("L2", regularizers.L2, {"l2": 0.01}),
        ("L1L2", regularizers.L1L2, {"l1": 0.0, "l2": 0.0}),
        ({"class_name": "L2", "config": {"l2": 0.3}}, regularizers.L2, {"l2": 0.3}),
        ({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}, regularizers.L1L2, {"l1": 0.1, "l2": 0.2}),
    ],
)
def test_get_names_and_configs(identifier, cls, config):
    regularizer = regularizers.get(identifier)
    assert type(regularizer) is cls
    assert regularizer.get_config() == config


def test_get_passes_instances_and_none_through():
    instance = regularizers.L1(0.5)
    assert regularizers.get(instance) is instance
    assert regularizers.get(None) is None


def test_serialize_round_trip():
    for regularizer in (regularizers.L1(0.25), regularizers.L2(0.125), regularizers.L1L2(l1=0.5, l2=0.75)):
        serialized = regularizers.serialize(regularizer)
        assert serialized["class_name"] == type(regularizer).__name__
        assert serialized["config"] == regularizer.get_config()
        clone = regularizers.deserialize(serialized)
        assert type(clone) is type(regularizer) and clone.get_config() == regularizer.get_config()
        assert type(regularizer).from_config(regularizer.get_config()).get_config() == regularizer.get_config()
    # Keras 3's form: keras.regularizers.serialize(L1L2(l1=0.5)).
    assert regularizers.serialize(regularizers.L1L2(l1=0.5)) == {
        "module": "keras.regularizers",
        "class_name": "L1L2",
        "config": {"l1": 0.5, "l2": 0.0},
        "registered_name": None,
    }


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="l3") as info:
        regularizers.get("l3")
    assert all(name in str(info.value) for name in ("l1", "l2", "l1_l2"))
    with pytest.raises(ValueError, match="Unknown regularizer"):
        regularizers.deserialize({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(ValueError, match="regularizer"):
        regularizers.get(3.5)


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: regularizers.L1(-0.1), "l1"),
        (lambda: regularizers.L2(-1.0), "l2"),
        (lambda: regularizers.L1L2(l1=-0.5), "l1"),
        (lambda: regularizers.L1L2(l2=-1e-9), "l2"),
        (lambda: regularizers.L2(float("nan")), "l2"),
        (lambda: regularizers.L1(float("inf")), "l1"),
        (lambda: regularizers.L2("big"), "l2"),
    ],
)
def test_invalid_factors(make, argument):
    with pytest.raises(ValueError, match=rf"argument {argument}.*Received: {argument}="):
        make()


# ----- in layers and models


def _model(regularized, dtype="float64", optimizer=None):
    """Input(3) -> Dense(4, tanh) -> PReLU -> Dense(2) with the regularizers given by layer."""
    hidden = layers.Dense(
        4,
        activation="tanh",
        kernel_regularizer=regularized.get("hidden_kernel"),
        bias_regularizer=regularized.get("hidden_bias"),
        dtype=dtype,
    )
    prelu = layers.PReLU(alpha_initializer="ones", alpha_regularizer=regularized.get("alpha"), dtype=dtype)
    head = layers.Dense(2, kernel_regularizer=regularized.get("head_kernel"), dtype=dtype)
    model = fg.Sequential([fg.Input((3,), dtype=dtype), hidden, prelu, head])
    model.compile(optimizer=optimizer or fg.optimizers.SGD(learning_rate=0.1), loss="mse")
    return model, hidden, prelu, head


def _data(n=24):
    return RNG.normal(size=(n, 3)), RNG.normal(size=(n, 2))


def _forward(weights, x):
    k1, b1, alpha, k2, b2 = weights
    h = np.tanh(x @ k1 + b1)
    h = np.maximum(h, 0.0) + alpha * np.minimum(h, 0.0)
    return h @ k2 + b2


REGULARIZED_CASES = {
    "none": {},
    "l2 kernel": {"hidden_kernel": regularizers.L2(0.3)},
    "l1 kernel": {"head_kernel": regularizers.L1(0.2)},
    "every weight": {
        "hidden_kernel": regularizers.L1L2(l1=0.05, l2=0.1),
        "hidden_bias": regularizers.L2(0.7),
        "alpha": regularizers.L1(0.4),
        "head_kernel": "l2",
    },
}


@pytest.mark.parametrize("case", sorted(REGULARIZED_CASES))
def test_evaluate_reports_data_loss_plus_penalty(case):
    regularized = REGULARIZED_CASES[case]
    model, hidden, prelu, head = _model(regularized)
    x, y = _data()
    bias = RNG.normal(size=4)
    hidden.set_weights([hidden.get_weights()[0], bias])  # a nonzero bias, so its penalty counts
    weights = model.get_weights()
    data_loss = np.mean((_forward(weights, x) - y) ** 2)
    # the factors from the configs (L1's has no l2 and L2's no l1); the penalty computed here
    factors = {name: regularizers.get(r).get_config() for name, r in regularized.items()}
    by_name = {"hidden_kernel": weights[0], "hidden_bias": weights[1], "alpha": weights[2], "head_kernel": weights[3]}
    penalty = sum(ref_penalty(by_name[name], **config) for name, config in factors.items())
    assert (penalty > 0) == bool(regularized)
    loss = model.evaluate(x, y, batch_size=8, verbose=0)
    np.testing.assert_allclose(loss, data_loss + penalty, rtol=1e-10)


def test_evaluate_in_float32():
    model, hidden, _, _ = _model({"hidden_kernel": regularizers.L2(0.5)}, dtype="float32")
    x, y = _data()
    weights = [w.astype(np.float64) for w in model.get_weights()]
    expected = np.mean((_forward(weights, x) - y) ** 2) + ref_penalty(weights[0], l2=0.5)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)


def test_one_sgd_step_adds_the_penalty_gradient():
    # Two models from the same weights on the same batch: their data gradients are equal, so
    # after one SGD step the kernels differ by exactly -lr * (l1 sign(w) + 2 l2 w).
    l1, l2, lr = 0.05, 0.3, 0.1
    free, free_hidden, _, _ = _model({})
    reg, reg_hidden, _, _ = _model({"hidden_kernel": regularizers.L1L2(l1=l1, l2=l2)})
    reg.set_weights(free.get_weights())
    start = free_hidden.get_weights()[0]
    x, y = _data(8)
    free.train_on_batch(x, y)
    reg.train_on_batch(x, y)
    difference = reg_hidden.get_weights()[0] - free_hidden.get_weights()[0]
    np.testing.assert_allclose(difference, -lr * (l1 * np.sign(start) + 2 * l2 * start), rtol=1e-9, atol=1e-12)
    # the other weights carry no penalty: they moved identically
    for a, b in zip(free.get_weights()[1:], reg.get_weights()[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_large_l2_shrinks_the_kernel():
    x = RNG.normal(size=(64, 3))
    y = x @ RNG.normal(size=(3, 2)) * 2.0
    norms = {}
    for name, regularizer in (("free", None), ("l2", regularizers.L2(1.0))):
        fg.utils.set_random_seed(0)
        model = fg.Sequential([fg.Input((3,)), layers.Dense(2, kernel_regularizer=regularizer)])
        model.compile(optimizer=fg.optimizers.SGD(learning_rate=0.05), loss="mse")
        model.fit(x, y, batch_size=16, epochs=20, shuffle=False, verbose=0)
        norms[name] = np.linalg.norm(model.get_weights()[0])
    assert norms["l2"] < 0.5 * norms["free"], norms


def test_custom_layer_weight_regularizer_counts_in_evaluate():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(
                shape=(input_shape[-1],), initializer="ones", regularizer=regularizers.L2(0.25), name="scale"
            )

        def call(self, x):
            return x * self.scale

    scale = Scale(dtype="float64")
    model = fg.Sequential([fg.Input((2,), dtype="float64"), scale])
    model.compile(optimizer="sgd", loss="mse")
    x, y = RNG.normal(size=(6, 2)), RNG.normal(size=(6, 2))
    scale.set_weights([np.array([2.0, -1.0])])
    expected = np.mean((x * [2.0, -1.0] - y) ** 2) + 0.25 * 5.0
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-10)


def test_layer_arguments_take_names_and_configs():
    dense = layers.Dense(2, kernel_regularizer="l1", bias_regularizer={"class_name": "L2", "config": {"l2": 0.5}})
    assert isinstance(dense.kernel_regularizer, regularizers.L1) and dense.kernel_regularizer.l1 == 0.01
    assert isinstance(dense.bias_regularizer, regularizers.L2) and dense.bias_regularizer.l2 == 0.5
    config = dense.get_config()
    keras_form = {"module": "keras.regularizers", "registered_name": None}
    assert config["kernel_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}, **keras_form}
    assert config["bias_regularizer"] == {"class_name": "L2", "config": {"l2": 0.5}, **keras_form}
    with pytest.raises(ValueError, match="l3"):
        layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="l2"):
        layers.PReLU(alpha_regularizer={"class_name": "L2", "config": {"l2": -1}})
