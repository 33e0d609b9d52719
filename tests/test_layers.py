"""fg.layers against numpy references written here from Keras 3's documented definitions.

Sources of the references:
- keras/src/layers/core/dense.py: ``activation(inputs @ kernel + bias)`` on the last axis of an
  input of any rank, kernel ``(input_dim, units)``, bias ``(units,)``, ``InputSpec(min_ndim=2)``,
  defaults ``kernel_initializer="glorot_uniform"``, ``bias_initializer="zeros"``;
  keras/src/initializers: Glorot-uniform is U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
- keras/src/activations/activations.py (``ReLU.static_call``): x where x > threshold else 0,
  clipped to [0, max_value], minus negative_slope * relu(threshold - x); ``leaky_relu`` defaults
  to 0.2, ``elu(x, alpha=1)`` is x for x > 0 and alpha (e^x - 1) otherwise; softmax over ``axis``.
- keras/src/layers/activations/*.py: ``ReLU`` (its docstring example), ``LeakyReLU(negative_slope=0.3)``,
  ``PReLU`` = relu(x) - alpha * relu(-x) with ``alpha`` zeros of shape ``input_shape[1:]`` and 1
  along ``shared_axes``, ``ELU(alpha=1.0)``, ``Softmax(axis=-1)``.
- keras/src/layers/reshaping/{flatten,reshape}.py: each sample flattened / reshaped (one -1);
  repeat_vector.py: ``(batch, features)`` to ``(batch, n, features)``, each row repeated.
- keras/src/layers/regularization/dropout.py: identity unless training; in training inputs are
  zeroed with probability ``rate`` and the rest scaled by 1 / (1 - rate); ``noise_shape`` is the
  shape of the mask, broadcast over the input.
- keras/src/layers/merging/*.py: elementwise merges of inputs whose sample shapes broadcast
  (lower-rank inputs get axes inserted after the batch axis), ``Subtract`` of exactly two,
  ``Concatenate`` along ``axis`` (its docstring example).
Gradients are compared with central differences computed here (weights perturbed through
``set_weights``), never with the engine's own gradcheck.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as fg
from conftest import arrays
from ferrograd import layers

RNG = np.random.default_rng(7)
GRAD_SETTINGS = settings(max_examples=40, deadline=None)
FORWARD_SETTINGS = settings(max_examples=30, deadline=None)


# ----- numpy references (Keras's definitions)


def ref_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    positive = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        positive = np.clip(positive, 0.0, max_value)
    return positive - negative_slope * np.maximum(threshold - x, 0.0)


def ref_leaky_relu(x, negative_slope):
    return np.where(x >= 0, x, negative_slope * x)


def ref_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0.0)) - 1.0))


def ref_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def ref_selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0.0)) - 1.0))


def ref_prelu(x, alpha):
    return np.maximum(x, 0.0) + alpha * np.minimum(x, 0.0)


ACTIVATION_REFS = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": ref_sigmoid,
    "softmax": ref_softmax,
    "elu": ref_elu,
    "selu": ref_selu,
    "gelu": ref_gelu,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "leaky_relu": lambda x: ref_leaky_relu(x, 0.2),  # the function's default, not the layer's 0.3
}


# ----- gradient helper: analytic (tape) vs central differences, inputs and weights


def layer_gradients(layer, inputs, eps=1e-6):
    """Gradients of sum(w * layer(inputs)) for a fixed weighting w, with respect to each input
    and each weight of ``layer``: ``(analytic, numeric)`` lists in the order inputs + weights.
    The numeric ones perturb the inputs and (through ``set_weights``) the weights."""
    many = isinstance(inputs, list)
    xs = [np.array(a, dtype=np.float64) for a in (inputs if many else [inputs])]

    def run(values):
        return layer(values if many else values[0])

    leaves = [fg.tensor(a, requires_grad=True, dtype="float64") for a in xs]
    out = run(leaves)
    weighting = np.random.default_rng(0).uniform(0.5, 1.5, size=out.shape)
    with fg.GradientTape() as tape:
        loss = (run(leaves) * fg.tensor(weighting, dtype="float64")).sum()
    grads = tape.gradient(loss, leaves + layer.weights)
    analytic = [np.zeros(np.shape(ref)) if g is None else g.numpy() for g, ref in zip(grads, xs + layer.get_weights())]

    original = layer.get_weights()

    def value(values, weights):
        layer.set_weights(weights)
        with fg.no_grad():
            y = run([fg.tensor(v, dtype="float64") for v in values]).numpy()
        return float(np.sum(weighting * y))

    numeric = []
    for i, a in enumerate(xs):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus, minus = [v.copy() for v in xs], [v.copy() for v in xs]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (value(plus, original) - value(minus, original)) / (2 * eps)
        numeric.append(g)
    for j, w in enumerate(original):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            plus, minus = [v.copy() for v in original], [v.copy() for v in original]
            plus[j][idx] += eps
            minus[j][idx] -= eps
            g[idx] = (value(xs, plus) - value(xs, minus)) / (2 * eps)
        numeric.append(g)
    layer.set_weights(original)
    return analytic, numeric


def assert_layer_gradients(layer, inputs, atol=1e-6, rtol=1e-5):
    analytic, numeric = layer_gradients(layer, inputs)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        np.testing.assert_allclose(a, n, atol=atol, rtol=rtol, err_msg=f"gradient {i} of {layer.name}")


def away_from(x, kinks, gap=0.05):
    """Moves values within ``gap`` of a kink by 2 * gap (kinks lie further apart than 4 * gap)."""
    x = np.array(x, dtype=np.float64)
    near = np.zeros(x.shape, dtype=bool)
    for k in kinks:
        near |= np.abs(x - k) < gap
    return np.where(near, x + 2 * gap, x)


# ----- Dense


@FORWARD_SETTINGS
@given(st.data())
def test_dense_forward_on_the_last_axis_of_any_rank(data):
    leading = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    input_dim = data.draw(st.integers(1, 5))
    units = data.draw(st.integers(1, 4))
    use_bias = data.draw(st.booleans())
    x = data.draw(arrays(leading + (input_dim,)))
    kernel = data.draw(arrays((input_dim, units)))
    bias = data.draw(arrays((units,)))
    dense = layers.Dense(units, use_bias=use_bias, dtype="float64")
    dense.build((None,) * len(leading) + (input_dim,))
    dense.set_weights([kernel, bias] if use_bias else [kernel])
    out = dense(x)
    assert out.shape == leading + (units,) and out.dtype == "float64"
    expected = x @ kernel + (bias if use_bias else 0.0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", list(ACTIVATION_REFS), ids=str)
def test_dense_activations(activation):
    x = RNG.normal(size=(4, 3))
    dense = layers.Dense(5, activation=activation)
    out = dense(x)
    assert out.dtype == "float32"  # Keras's default float dtype; the float64 input is cast
    kernel, bias = dense.get_weights()
    bias = RNG.normal(size=bias.shape).astype(np.float32)
    dense.set_weights([kernel, bias])
    expected = ACTIVATION_REFS[activation](x.astype(np.float32) @ kernel.astype(np.float64) + bias)
    np.testing.assert_allclose(dense(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dense_with_a_python_activation():
    dense = layers.Dense(2, activation=lambda t: t * t, dtype="float64")
    x = RNG.normal(size=(3, 4))
    dense.build((None, 4))
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(dense(x).numpy(), (x @ kernel + bias) ** 2, rtol=1e-12)


def test_dense_default_initializers_follow_keras():
    fan_in, units = 384, 256
    dense = layers.Dense(units)
    dense.build((None, fan_in))
    kernel, bias = dense.get_weights()
    assert kernel.shape == (fan_in, units) and bias.shape == (units,)
    assert kernel.dtype == np.float32
    np.testing.assert_array_equal(bias, np.zeros(units))
    # Glorot uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)), std = limit / sqrt(3)
    limit = math.sqrt(6.0 / (fan_in + units))
    k = kernel.astype(np.float64)
    assert np.abs(k).max() <= limit * (1 + 1e-6)
    assert np.abs(k).max() > 0.99 * limit  # fills the range (a normal would overshoot or fall short)
    assert abs(k.std() / (limit / math.sqrt(3.0)) - 1) < 0.02
    assert abs(k.mean()) < 5 * k.std() / math.sqrt(k.size)
    assert abs(np.mean(np.abs(k) < limit / 2) - 0.5) < 0.01  # uniform: half the mass within limit/2


def test_dense_initializer_arguments():
    dense = layers.Dense(3, kernel_initializer="ones", bias_initializer=fg.initializers.Constant(0.5))
    out = dense(np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(out.numpy(), [[3.5, 3.5, 3.5]])
    a = layers.Dense(4, kernel_initializer=fg.initializers.GlorotUniform(seed=5))
    b = layers.Dense(4, kernel_initializer=fg.initializers.GlorotUniform(seed=5))
    a.build((None, 3))
    b.build((None, 3))
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


@GRAD_SETTINGS
@given(st.data())
def test_dense_gradients(data):
    leading = data.draw(st.sampled_from([(1,), (3,), (2, 2)]))
    input_dim = data.draw(st.integers(1, 4))
    units = data.draw(st.integers(1, 3))
    activation = data.draw(st.sampled_from([None, "tanh", "sigmoid", "softmax", "elu", "softplus", "gelu"]))
    use_bias = data.draw(st.booleans())
    dense = layers.Dense(units, activation=activation, use_bias=use_bias, dtype="float64")
    dense.build((None,) * len(leading) + (input_dim,))
    kernel = data.draw(arrays((input_dim, units), -1.0, 1.0))
    bias = data.draw(arrays((units,), -1.0, 1.0))
    dense.set_weights([kernel, bias] if use_bias else [kernel])
    x = data.draw(arrays(leading + (input_dim,), -2.0, 2.0))
    assert_layer_gradients(dense, x)


# ----- activation layers


def test_relu_docstring_example():
    relu_layer = layers.ReLU(max_value=10, negative_slope=0.5, threshold=0)
    out = relu_layer(np.array([-10, -5, 0.0, 5, 10]))
    np.testing.assert_allclose(out.numpy(), [-5.0, -2.5, 0.0, 5.0, 10.0])


RELU_OPTIONS = [
    {},
    {"max_value": 6.0},
    {"max_value": 1.5},
    {"negative_slope": 0.1},
    {"threshold": 0.5},
    {"negative_slope": 0.2, "threshold": 1.0},
    {"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5},
    {"max_value": 0.5, "threshold": 1.0},  # capped below the threshold: values above it become 0.5
]


@pytest.mark.parametrize("options", RELU_OPTIONS, ids=str)
def test_relu_layer_options(options):
    x = np.linspace(-3.0, 8.0, 45)
    out = layers.ReLU(**options, dtype="float64")(x[None, :])
    np.testing.assert_allclose(out.numpy()[0], ref_relu(x, **options), rtol=1e-12, atol=1e-12)


def test_leaky_relu_defaults_layer_and_function():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]])
    np.testing.assert_allclose(layers.LeakyReLU()(x).numpy(), ref_leaky_relu(x, 0.3), rtol=1e-6)
    np.testing.assert_allclose(layers.LeakyReLU(negative_slope=0.05)(x).numpy(), ref_leaky_relu(x, 0.05), rtol=1e-6)
    np.testing.assert_allclose(fg.activations.leaky_relu(x).numpy(), ref_leaky_relu(x, 0.2), rtol=1e-6)
    assert layers.LeakyReLU().negative_slope == 0.3
    with pytest.raises(ValueError, match="negative_slope"):
        layers.LeakyReLU(alpha=0.1)  # Keras 3 renamed the argument


@pytest.mark.parametrize("alpha", [None, 0.5, 2.0])
def test_elu_layer(alpha):
    x = np.linspace(-4.0, 3.0, 29)[None, :]
    layer = layers.ELU(dtype="float64") if alpha is None else layers.ELU(alpha=alpha, dtype="float64")
    np.testing.assert_allclose(layer(x).numpy(), ref_elu(x, 1.0 if alpha is None else alpha), rtol=1e-12)


@pytest.mark.parametrize("axis", [-1, 1, 2, 0])
def test_softmax_layer_axis(axis):
    x = RNG.normal(size=(2, 3, 4)) * 3
    out = layers.Softmax(axis=axis, dtype="float64")(x).numpy()
    np.testing.assert_allclose(out, ref_softmax(x, axis=axis), rtol=1e-12)
    np.testing.assert_allclose(out.sum(axis=axis), 1.0, rtol=1e-12)
    assert layers.Softmax().axis == -1


@pytest.mark.parametrize("name", [n for n in ACTIVATION_REFS if n is not None])
def test_activation_layer_by_name(name):
    x = RNG.normal(size=(3, 5)) * 2
    np.testing.assert_allclose(
        layers.Activation(name, dtype="float64")(x).numpy(), ACTIVATION_REFS[name](x), rtol=1e-10, atol=1e-12
    )


def test_activation_layer_with_a_function():
    x = RNG.normal(size=(2, 3))
    np.testing.assert_allclose(layers.Activation(fg.activations.tanh)(x).numpy(), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(layers.Activation(lambda t: t * 3.0)(x).numpy(), 3 * x, rtol=1e-6)


def test_prelu_defaults_and_shared_axes():
    x = RNG.normal(size=(2, 3, 4, 5))
    layer = layers.PReLU(dtype="float64")
    out = layer(x)
    assert layer.alpha.shape == (3, 4, 5)
    np.testing.assert_array_equal(layer.get_weights()[0], np.zeros((3, 4, 5)))  # alpha starts at zero
    np.testing.assert_allclose(out.numpy(), np.maximum(x, 0.0), rtol=1e-12)
    for shared_axes, alpha_shape in [([1, 2], (1, 1, 5)), (3, (3, 4, 1)), ((1, 3), (1, 4, 1))]:
        shared = layers.PReLU(shared_axes=shared_axes, dtype="float64")
        shared.build((None, 3, 4, 5))
        assert shared.alpha.shape == alpha_shape, shared_axes
        alpha = RNG.uniform(0.1, 0.9, size=alpha_shape)
        shared.set_weights([alpha])
        np.testing.assert_allclose(shared(x).numpy(), ref_prelu(x, alpha), rtol=1e-12)


def _activation_layer_cases():
    return [
        (lambda: layers.ReLU(dtype="float64"), [0.0]),
        (lambda: layers.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5, dtype="float64"), [0.5, 2.0]),
        (lambda: layers.ReLU(max_value=6.0, dtype="float64"), [0.0, 6.0]),
        (lambda: layers.ReLU(negative_slope=0.3, dtype="float64"), [0.0]),
        (lambda: layers.LeakyReLU(dtype="float64"), [0.0]),
        (lambda: layers.ELU(alpha=0.5, dtype="float64"), [0.0]),
        (lambda: layers.Softmax(dtype="float64"), []),
        (lambda: layers.Softmax(axis=1, dtype="float64"), []),
        (lambda: layers.Activation("tanh", dtype="float64"), []),
        (lambda: layers.Activation("gelu", dtype="float64"), []),
        (lambda: layers.Activation("selu", dtype="float64"), [0.0]),
    ]


@GRAD_SETTINGS
@given(st.data())
def test_activation_layer_gradients(data):
    make, kinks = data.draw(st.sampled_from(_activation_layer_cases()))
    shape = data.draw(st.sampled_from([(1, 3), (2, 4), (2, 2, 3)]))
    x = away_from(data.draw(arrays(shape, -3.0, 7.0)), kinks)
    assert_layer_gradients(make(), x)


@GRAD_SETTINGS
@given(st.data())
def test_prelu_gradients_wrt_input_and_alpha(data):
    shape = data.draw(st.sampled_from([(2, 3), (1, 2, 3), (2, 2, 2)]))
    shared_axes = data.draw(st.sampled_from([None, [1], [len(shape) - 1], list(range(1, len(shape)))]))
    layer = layers.PReLU(shared_axes=shared_axes, dtype="float64")
    layer.build((None,) + shape[1:])
    layer.set_weights([data.draw(arrays(layer.alpha.shape, -1.0, 1.0))])
    x = away_from(data.draw(arrays(shape)), [0.0])
    assert_layer_gradients(layer, x)


# ----- Flatten and Reshape


def test_flatten():
    x = RNG.normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(layers.Flatten(dtype="float64")(x).numpy(), x.reshape(2, -1))
    np.testing.assert_array_equal(layers.Flatten(dtype="float64")(x[:, 0, 0, :]).numpy(), x[:, 0, 0, :])
    assert layers.Flatten()(np.zeros(3)).shape == (3, 1)  # Keras: a (batch,) input becomes (batch, 1)


@pytest.mark.parametrize(
    ("target", "expected"),
    [((12,), (2, 12)), ((-1,), (2, 12)), ((3, -1), (2, 3, 4)), ((-1, 2, 3), (2, 2, 2, 3)), ((4, 3, 1), (2, 4, 3, 1))],
)
def test_reshape_with_and_without_minus_one(target, expected):
    x = RNG.normal(size=(2, 3, 4))
    out = layers.Reshape(target, dtype="float64")(x)
    assert out.shape == expected
    np.testing.assert_array_equal(out.numpy(), x.reshape(expected))  # row-major, as Keras (ops.reshape)


@GRAD_SETTINGS
@given(st.data())
def test_reshape_and_flatten_gradients(data):
    shape = data.draw(st.sampled_from([(1, 2, 3), (2, 3, 2), (3, 4)]))
    x = data.draw(arrays(shape))
    size = int(np.prod(shape[1:]))
    layer = data.draw(
        st.sampled_from(
            [
                layers.Flatten(dtype="float64"),
                layers.Reshape((-1,), dtype="float64"),
                layers.Reshape((size, 1), dtype="float64"),
                layers.Reshape((1, -1), dtype="float64"),
            ]
        )
    )
    assert_layer_gradients(layer, x)


def test_repeat_vector_repeats_each_row():
    x = RNG.normal(size=(2, 3))
    out = layers.RepeatVector(4, dtype="float64")(x)
    np.testing.assert_array_equal(out.numpy(), np.repeat(x[:, None, :], 4, axis=1))
    with pytest.raises(TypeError, match="integer value for `n`"):
        layers.RepeatVector(2.0)
    with pytest.raises(ValueError, match="rank 2"):
        layers.RepeatVector(2)(np.zeros((2, 3, 4)))


@GRAD_SETTINGS
@given(st.data())
def test_repeat_vector_gradients(data):
    x = data.draw(arrays(data.draw(st.sampled_from([(1, 2), (3, 1), (2, 4)]))))
    assert_layer_gradients(layers.RepeatVector(data.draw(st.integers(1, 3)), dtype="float64"), x)


def test_repeat_vector_model_saves_and_loads_natively(tmp_path):
    model = fg.Sequential([fg.Input((3,)), layers.RepeatVector(2), layers.LSTM(4), layers.Dense(1)])
    x = RNG.normal(size=(5, 3)).astype("float32")
    path = str(tmp_path / "rv.safetensors")
    model.save(path)
    native = fg._core.load_model_native(path)
    np.testing.assert_allclose(np.asarray(native.predict([x], 32)[0]), model.predict(x, verbose=0), rtol=1e-6)


# ----- Dropout


def test_dropout_is_identity_unless_training():
    x = RNG.normal(size=(50, 20))
    layer = layers.Dropout(0.5)
    np.testing.assert_array_equal(layer(x).numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(layers.Dropout(0.0)(x, training=True).numpy(), x.astype(np.float32))


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.75])
def test_dropout_in_training_zeroes_rate_and_scales_the_rest(rate):
    x = RNG.uniform(0.5, 2.0, size=(200, 200))
    out = layers.Dropout(rate, dtype="float64")(x, training=True).numpy()
    dropped = out == 0.0
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1.0 - rate), rtol=1e-12)
    n = x.size
    assert abs(dropped.mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / n)


def test_dropout_seed_repeats_and_the_generator_advances():
    x = np.ones((40, 50))
    first = layers.Dropout(0.5, seed=1234)
    twin = layers.Dropout(0.5, seed=1234)
    a1, a2 = first(x, training=True).numpy(), first(x, training=True).numpy()
    b1, b2 = twin(x, training=True).numpy(), twin(x, training=True).numpy()
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)  # a new mask on every call, as Keras's SeedGenerator
    other = layers.Dropout(0.5, seed=99)(x, training=True).numpy()
    assert not np.array_equal(a1, other)
    unseeded = [layers.Dropout(0.5)(x, training=True).numpy() for _ in range(2)]
    assert not np.array_equal(*unseeded)


def test_dropout_noise_shape_shares_the_mask():
    x = RNG.uniform(1.0, 2.0, size=(8, 30, 6))
    out = layers.Dropout(0.5, noise_shape=(None, 1, 6), seed=3, dtype="float64")(x, training=True).numpy()
    mask = out / x
    np.testing.assert_allclose(mask, np.broadcast_to(mask[:, :1, :], mask.shape), rtol=1e-12)
    assert set(np.unique(np.round(mask, 12))) <= {0.0, 2.0}
    assert 0 < (mask == 0).mean() < 1
    out = layers.Dropout(0.5, noise_shape=(1, 30, 1), seed=3, dtype="float64")(x, training=True).numpy()
    mask = out / x
    np.testing.assert_allclose(mask, np.broadcast_to(mask[:1, :, :1], mask.shape), rtol=1e-12)


def test_dropout_gradient_is_the_mask():
    x = fg.tensor(RNG.uniform(0.5, 1.5, size=(30, 10)), requires_grad=True, dtype="float64")
    out = layers.Dropout(0.4, seed=5, dtype="float64")(x, training=True)
    out.sum().backward()
    mask = out.numpy() / x.numpy()
    assert set(np.unique(np.round(mask, 12))) <= {0.0, round(1 / 0.6, 12)}
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-12)


# ----- merges


def _distinct(data, shape, count):
    """``count`` arrays whose elements differ pairwise by at least 0.3 (no ties for max/min)."""
    base = data.draw(arrays(shape, -2.0, 2.0))
    order = np.array(data.draw(st.lists(st.permutations(range(count)), min_size=base.size, max_size=base.size)))
    offsets = 0.3 * order.T.reshape((count,) + shape)
    return [base + offsets[i] for i in range(count)]


MERGE_REFS = {
    "Add": (layers.Add, layers.add, lambda xs: functools.reduce(np.add, xs)),
    "Subtract": (layers.Subtract, layers.subtract, lambda xs: xs[0] - xs[1]),
    "Multiply": (layers.Multiply, layers.multiply, lambda xs: functools.reduce(np.multiply, xs)),
    "Average": (layers.Average, layers.average, lambda xs: functools.reduce(np.add, xs) / len(xs)),
    "Maximum": (layers.Maximum, layers.maximum, lambda xs: functools.reduce(np.maximum, xs)),
    "Minimum": (layers.Minimum, layers.minimum, lambda xs: functools.reduce(np.minimum, xs)),
}


MERGE_COUNTS = [(name, count) for name in sorted(MERGE_REFS) for count in (2, 3) if (name, count) != ("Subtract", 3)]


@pytest.mark.parametrize(("name", "count"), MERGE_COUNTS)
def test_merge_layers_and_functional_forms(name, count):
    cls, fn, ref = MERGE_REFS[name]
    xs = [RNG.normal(size=(4, 2, 3)) for _ in range(count)]
    expected = ref(xs)
    np.testing.assert_allclose(cls(dtype="float64")(xs).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(fn(xs, dtype="float64").numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(fn(tuple(xs), dtype="float64").numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(MERGE_REFS))
def test_merges_broadcast_like_keras(name):
    cls, _, ref = MERGE_REFS[name]
    x = RNG.normal(size=(4, 2, 3))
    # a size-1 axis broadcasts
    ones_axis = RNG.normal(size=(4, 1, 3))
    np.testing.assert_allclose(cls(dtype="float64")([x, ones_axis]).numpy(), ref([x, ones_axis]), rtol=1e-12)
    # a lower-rank input gets axes after the batch axis: (4, 3) acts as (4, 1, 3)
    lower = RNG.normal(size=(4, 3))
    out = cls(dtype="float64")([x, lower])
    assert out.shape == (4, 2, 3)
    np.testing.assert_allclose(out.numpy(), ref([x, lower[:, None, :]]), rtol=1e-12)
    # and when the batch size equals the sample size, numpy's rule would silently pick the wrong axis
    square, vector = RNG.normal(size=(3, 3)), RNG.normal(size=(3,))
    np.testing.assert_allclose(
        cls(dtype="float64")([square, vector]).numpy(), ref([square, vector[:, None]]), rtol=1e-12
    )


def test_concatenate_axis_and_docstring_example():
    x = np.arange(20).reshape(2, 2, 5)
    y = np.arange(20, 30).reshape(2, 1, 5)
    out = layers.Concatenate(axis=1)([x, y])
    assert out.shape == (2, 3, 5)
    np.testing.assert_array_equal(out.numpy(), np.concatenate([x, y], axis=1))
    a, b, c = RNG.normal(size=(2, 3, 1)), RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 3, 2))
    np.testing.assert_array_equal(
        layers.Concatenate(dtype="float64")([a, b, c]).numpy(), np.concatenate([a, b, c], axis=-1)
    )
    np.testing.assert_array_equal(
        layers.concatenate([a, b], axis=2, dtype="float64").numpy(), np.concatenate([a, b], axis=2)
    )
    d = RNG.normal(size=(1, 3, 4))
    np.testing.assert_array_equal(layers.Concatenate(axis=0, dtype="float64")([b, d]).numpy(), np.concatenate([b, d]))
    assert layers.Concatenate().axis == -1


@GRAD_SETTINGS
@given(st.data())
def test_merge_gradients(data):
    name = data.draw(st.sampled_from(sorted(MERGE_REFS)))
    count = 2 if name == "Subtract" else data.draw(st.integers(2, 3))
    shape = data.draw(st.sampled_from([(1, 3), (2, 2), (2, 1, 3)]))
    xs = _distinct(data, shape, count)
    perm = data.draw(st.permutations(range(count)))
    assert_layer_gradients(MERGE_REFS[name][0](dtype="float64"), [xs[i] for i in perm])


@GRAD_SETTINGS
@given(st.data())
def test_concatenate_gradients(data):
    rank = data.draw(st.integers(2, 3))
    axis = data.draw(st.integers(-rank, rank - 1))
    base = list(data.draw(hnp.array_shapes(min_dims=rank, max_dims=rank, max_side=3)))
    xs = []
    for _ in range(data.draw(st.integers(2, 3))):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 3))
        xs.append(data.draw(arrays(tuple(shape))))
    assert_layer_gradients(layers.Concatenate(axis=axis, dtype="float64"), xs)


# ----- the weights API


def test_weights_order_shapes_and_kinds():
    dense = layers.Dense(3)
    assert dense.weights == [] and not dense.built
    dense.build((None, 4))
    assert dense.built
    assert [tuple(w.shape) for w in dense.weights] == [(4, 3), (3,)]
    assert dense.weights[0] is dense.kernel and dense.weights[1] is dense.bias
    assert dense.trainable_weights == dense.weights and dense.non_trainable_weights == []
    assert [w.shape for w in dense.get_weights()] == [(4, 3), (3,)]
    assert all(isinstance(w, np.ndarray) for w in dense.get_weights())
    no_bias = layers.Dense(3, use_bias=False)
    no_bias.build((None, 4))
    assert [tuple(w.shape) for w in no_bias.weights] == [(4, 3)]
    for weightless in [layers.ReLU(), layers.Dropout(0.5), layers.Flatten(), layers.Add(), layers.Softmax()]:
        assert weightless.weights == [] and weightless.get_weights() == []
    prelu = layers.PReLU()
    prelu(np.zeros((1, 2, 3)))
    assert [tuple(w.shape) for w in prelu.weights] == [(2, 3)]


def test_variable_name_and_path_follow_keras():
    dense = layers.Dense(2, name="head")
    dense.build((None, 3))
    assert dense.kernel.path == "head/kernel"
    assert dense.kernel.name == "kernel"


def test_get_weights_copies_and_set_weights_assigns():
    dense = layers.Dense(2, dtype="float64")
    x = RNG.normal(size=(3, 4))
    dense(x)
    weights = dense.get_weights()
    weights[0][...] = 7.0
    assert not np.any(dense.get_weights()[0] == 7.0)  # a copy, not a view
    kernel, bias = RNG.normal(size=(4, 2)), RNG.normal(size=(2,))
    dense.set_weights([kernel, bias])
    np.testing.assert_array_equal(dense.get_weights()[0], kernel)
    np.testing.assert_array_equal(dense.bias.numpy(), bias)
    np.testing.assert_allclose(dense(x).numpy(), x @ kernel + bias, rtol=1e-12)
    float32 = layers.Dense(2)
    float32.build((None, 4))
    float32.set_weights([kernel, bias])  # float64 arrays into float32 weights
    assert float32.get_weights()[0].dtype == np.float32


def test_set_weights_errors_name_the_layer():
    dense = layers.Dense(2, name="head")
    dense.build((None, 4))
    with pytest.raises(ValueError, match=r"'head'.*length 1.*expecting 2 weights"):
        dense.set_weights([np.zeros((4, 2))])
    with pytest.raises(ValueError, match=r"'head'.*length 3"):
        dense.set_weights([np.zeros((4, 2)), np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match=r"'head'.*kernel.*\(4, 2\).*\(2, 4\)"):
        dense.set_weights([np.zeros((2, 4)), np.zeros(2)])
    with pytest.raises(ValueError, match=r"'head'.*bias.*\(2,\).*\(3,\)"):
        dense.set_weights([np.zeros((4, 2)), np.zeros(3)])
    np.testing.assert_array_equal(dense.get_weights()[1], np.zeros(2))  # a failed call changes nothing


def test_count_params():
    dense = layers.Dense(3)
    with pytest.raises(ValueError, match=r"count_params.*'dense(_\d+)?'.*isn't built"):
        dense.count_params()
    dense.build((None, 4))
    assert dense.count_params() == 4 * 3 + 3
    no_bias = layers.Dense(3, use_bias=False)
    no_bias.build((None, 2, 4))
    assert no_bias.count_params() == 12
    prelu = layers.PReLU(shared_axes=[1, 2])
    prelu.build((None, 5, 6, 7))
    assert prelu.count_params() == 7
    assert layers.Flatten().count_params() == 0


def test_freezing_stops_gradients_and_empties_trainable_weights():
    dense = layers.Dense(2, dtype="float64")
    x = fg.tensor(RNG.normal(size=(3, 4)), requires_grad=True, dtype="float64")
    dense(x)
    dense.trainable = False
    assert not dense.trainable
    assert dense.trainable_weights == []
    assert dense.non_trainable_weights == dense.weights and len(dense.weights) == 2
    assert not dense.kernel.trainable  # Keras sets the variables' flag too
    dense(x).sum().backward()
    assert dense.kernel.grad is None and dense.bias.grad is None
    np.testing.assert_allclose(x.grad.numpy(), np.tile(dense.get_weights()[0].sum(axis=1), (3, 1)), rtol=1e-12)
    with fg.GradientTape() as tape:
        loss = dense(x).sum()
    assert tape.gradient(loss, dense.weights) == [None, None]
    assert dense.get_config()["trainable"] is False
    dense.trainable = True
    assert dense.trainable_weights == dense.weights
    with fg.GradientTape() as tape:
        loss = dense(x).sum()
    kernel_grad, bias_grad = tape.gradient(loss, dense.trainable_weights)
    np.testing.assert_allclose(kernel_grad.numpy(), np.tile(x.numpy().sum(axis=0)[:, None], (1, 2)), rtol=1e-12)
    np.testing.assert_allclose(bias_grad.numpy(), [3.0, 3.0])


def test_frozen_before_build_and_trainable_argument():
    dense = layers.Dense(2, trainable=False)
    dense.build((None, 3))
    assert dense.trainable_weights == [] and len(dense.non_trainable_weights) == 2
    dense(fg.tensor(np.ones((1, 3)), requires_grad=True)).sum().backward()
    assert dense.kernel.grad is None


@pytest.mark.parametrize("freeze", ["argument", "attribute"])
def test_fit_leaves_a_frozen_layer_alone(freeze):
    frozen = layers.Dense(2, trainable=freeze != "argument")
    free = layers.Dense(2)
    model = fg.Sequential([fg.Input((3,)), frozen, free])
    if freeze == "attribute":
        frozen.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = frozen.get_weights() + free.get_weights()
    model.fit(RNG.normal(size=(16, 3)), RNG.normal(size=(16, 2)), epochs=2, verbose=0)
    for old, new in zip(before[:2], frozen.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert not np.array_equal(before[2], free.get_weights()[0])  # the model does train


def test_own_weights_list_trainable_ones_first():
    class Stateful(layers.Layer):
        def build(self, input_shape):
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, x):
            return x * self.w

    layer = Stateful()
    layer(np.ones((1, 2)))
    # Keras: weights = trainable variables + non-trainable variables, each in creation order
    assert layer.weights == [layer.w, layer.count]
    assert [w.shape for w in layer.get_weights()] == [(2,), ()]


# ----- configs


CONFIG_CASES = [
    (
        lambda: layers.Dense(3),
        {
            "units": 3,
            "activation": "linear",
            "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    ),
    (
        lambda: layers.Dense(4, activation="relu", use_bias=False, kernel_initializer="he_normal"),
        {"units": 4, "activation": "relu", "use_bias": False, "kernel_initializer": {"class_name": "HeNormal"}},
    ),
    (lambda: layers.Activation("tanh"), {"activation": "tanh"}),
    (lambda: layers.ReLU(), {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}),
    (lambda: layers.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5), {"max_value": 2.0, "threshold": 0.5}),
    (lambda: layers.LeakyReLU(), {"negative_slope": 0.3}),
    (lambda: layers.ELU(), {"alpha": 1.0}),
    (lambda: layers.Softmax(), {"axis": -1}),
    (
        lambda: layers.PReLU(),
        {
            "alpha_initializer": {"class_name": "Zeros", "config": {}},
            "alpha_regularizer": None,
            "alpha_constraint": None,
            "shared_axes": None,
        },
    ),
    (lambda: layers.PReLU(shared_axes=2), {"shared_axes": [2]}),
    (lambda: layers.Flatten(), {"data_format": "channels_last"}),
    (lambda: layers.Reshape((3, -1)), {"target_shape": (3, -1)}),
    (lambda: layers.RepeatVector(3), {"n": 3}),
    (lambda: layers.Dropout(0.25), {"rate": 0.25, "seed": None, "noise_shape": None}),
    (lambda: layers.Dropout(0.5, noise_shape=(None, 1), seed=3), {"noise_shape": (None, 1), "seed": 3}),
    (lambda: layers.Concatenate(axis=1), {"axis": 1}),
    (lambda: layers.Add(), {}),
    (lambda: layers.Subtract(), {}),
    (lambda: layers.Maximum(), {}),
]


def _subset(expected, actual):
    for key, value in expected.items():
        assert key in actual, key
        if isinstance(value, dict):
            _subset(value, actual[key])
        else:
            assert actual[key] == value, (key, actual[key], value)


@pytest.mark.parametrize(("make", "expected"), CONFIG_CASES)
def test_get_config_and_from_config_round_trip(make, expected):
    layer = make()
    config = layer.get_config()
    assert {"name", "trainable", "dtype"} <= set(config)
    assert config["name"] == layer.name and config["trainable"] is True and config["dtype"] == "float32"
    _subset(expected, config)
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config


def test_dense_from_config_computes_the_same():
    dense = layers.Dense(
        3, activation="sigmoid", kernel_regularizer=fg.regularizers.L2(0.1), dtype="float64", name="probe"
    )
    x = RNG.normal(size=(2, 5))
    out = dense(x).numpy()
    clone = layers.Dense.from_config(dense.get_config())
    assert clone.name == "probe" and clone.dtype == "float64"
    assert isinstance(clone.kernel_regularizer, fg.regularizers.L2) and clone.kernel_regularizer.l2 == 0.1
    clone.build((None, 5))
    clone.set_weights(dense.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), out, rtol=1e-12)


def test_input_shape_argument_lands_in_the_config():
    config = layers.Dense(2, input_shape=(5,)).get_config()
    assert tuple(config["batch_shape"]) == (None, 5)


# ----- names


def _successor(name, prefix):
    match = re.fullmatch(rf"{prefix}(?:_(\d+))?", name)
    assert match, (name, prefix)
    return f"{prefix}_{int(match.group(1) or 0) + 1}"


@pytest.mark.parametrize(
    ("make", "prefix"),
    [
        (lambda: layers.Dense(1), "dense"),
        (lambda: layers.LeakyReLU(), "leaky_re_lu"),
        (lambda: layers.ReLU(), "re_lu"),
        (lambda: layers.PReLU(), "p_re_lu"),
        (lambda: layers.ELU(), "elu"),
        (lambda: layers.Softmax(), "softmax"),
        (lambda: layers.Activation("relu"), "activation"),
        (lambda: layers.Dropout(0.1), "dropout"),
        (lambda: layers.Flatten(), "flatten"),
        (lambda: layers.Reshape((1,)), "reshape"),
        (lambda: layers.Add(), "add"),
        (lambda: layers.Concatenate(), "concatenate"),
    ],
)
def test_automatic_names_are_snake_case_and_numbered(make, prefix):
    first = make().name
    assert make().name == _successor(first, prefix)
    assert layers.Dense(1, name="my_head").name == "my_head"


def test_custom_layer_names_follow_the_class_name():
    class FancyHTTPLayer(layers.Layer):
        def call(self, x):
            return x

    first = FancyHTTPLayer().name
    assert FancyHTTPLayer().name == _successor(first, "fancy_http_layer")


# ----- symbolic calls


SYMBOLIC_CASES = [
    (lambda: layers.Dense(4), [(3,)], (None, 4)),
    (lambda: layers.Dense(4), [(5, 3)], (None, 5, 4)),
    (lambda: layers.Activation("softmax"), [(5, 3)], (None, 5, 3)),
    (lambda: layers.ReLU(max_value=1.0), [(2,)], (None, 2)),
    (lambda: layers.LeakyReLU(), [(2, 2)], (None, 2, 2)),
    (lambda: layers.PReLU(shared_axes=[1]), [(5, 3)], (None, 5, 3)),
    (lambda: layers.ELU(), [(7,)], (None, 7)),
    (lambda: layers.Softmax(axis=1), [(5, 3)], (None, 5, 3)),
    (lambda: layers.Flatten(), [(2, 3, 4)], (None, 24)),
    (lambda: layers.Reshape((-1,)), [(2, 3)], (None, 6)),
    (lambda: layers.Reshape((3, -1)), [(2, 6)], (None, 3, 4)),
    (lambda: layers.Reshape((12, 1)), [(3, 4)], (None, 12, 1)),
    (lambda: layers.RepeatVector(3), [(4,)], (None, 3, 4)),
    (lambda: layers.Dropout(0.5), [(4, 2)], (None, 4, 2)),
    (lambda: layers.Add(), [(3,), (3,)], (None, 3)),
    (lambda: layers.Multiply(), [(2, 3), (1, 3)], (None, 2, 3)),
    (lambda: layers.Maximum(), [(2, 3), (3,)], (None, 2, 3)),
    (lambda: layers.Subtract(), [(4,), (4,)], (None, 4)),
    (lambda: layers.Concatenate(), [(2, 3), (2, 5)], (None, 2, 8)),
    (lambda: layers.Concatenate(axis=1), [(2, 3), (4, 3), (1, 3)], (None, 7, 3)),
]


@pytest.mark.parametrize(("make", "input_shapes", "expected"), SYMBOLIC_CASES)
def test_symbolic_calls_give_keras_tensors_with_keras_shapes(make, input_shapes, expected):
    layer = make()
    inputs = [fg.Input(shape) for shape in input_shapes]
    out = layer(inputs[0] if len(inputs) == 1 else inputs)
    assert isinstance(out, layers.KerasTensor)
    assert out.shape == expected and out.dtype == "float32"
    assert layer.built and layer.output_shape == expected
    # the same layer on concrete data agrees with the symbolic shape
    concrete = [np.zeros((2,) + shape) for shape in input_shapes]
    assert layer(concrete[0] if len(concrete) == 1 else concrete).shape == (2,) + expected[1:]


def test_symbolic_input_and_weights():
    x = fg.Input((6,), name="features")
    assert isinstance(x, layers.KerasTensor) and x.shape == (None, 6) and x.ndim == 2
    dense = layers.Dense(2)
    y = dense(x)
    assert [tuple(w.shape) for w in dense.weights] == [(6, 2), (2,)]  # built from the symbolic shape
    assert dense.input is x and dense.output is y and dense.input_shape == (None, 6)
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(y)
    assert fg.Input((3,), dtype="float64").dtype == "float64"
    assert fg.Input(batch_shape=(8, 3)).shape == (8, 3)


# ----- custom layers


class Linear(layers.Layer):
    """The Keras guide's custom layer: ``build`` with ``add_weight``, ``call``."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, inputs):
        return fg.ops.tanh(fg.ops.matmul(inputs, self.w) + self.b)


def test_custom_layer_builds_calls_and_lists_weights():
    layer = Linear(4, dtype="float64")
    x = RNG.normal(size=(5, 3))
    out = layer(x)
    assert layer.built and out.shape == (5, 4) and out.dtype == "float64"
    w, b, calls = layer.get_weights()
    assert w.shape == (3, 4) and b.shape == (4,) and calls.shape == ()
    np.testing.assert_allclose(out.numpy(), np.tanh(x @ w + b), rtol=1e-12)
    assert layer.trainable_weights == [layer.w, layer.b]
    assert layer.non_trainable_weights == [layer.calls]
    assert layer.count_params() == 3 * 4 + 4 + 1
    assert abs(w.std() - 0.05) < 0.05  # random_normal's Keras default stddev 0.05 (loose: 12 samples)
    symbolic = Linear(2)(fg.Input((7,)))
    assert isinstance(symbolic, layers.KerasTensor) and symbolic.shape == (None, 2)


def test_custom_layer_gradients_reach_its_weights():
    layer = Linear(2, dtype="float64")
    x = RNG.normal(size=(3, 4))
    layer(x)
    with fg.GradientTape() as tape:
        loss = (layer(x) ** 2).sum()
    grad_w, grad_b = tape.gradient(loss, layer.trainable_weights)
    w, b, _ = layer.get_weights()
    h = np.tanh(x @ w + b)
    upstream = 2 * h * (1 - h**2)  # d/dz of sum(tanh(z)^2)
    np.testing.assert_allclose(grad_w.numpy(), x.T @ upstream, rtol=1e-10)
    np.testing.assert_allclose(grad_b.numpy(), upstream.sum(axis=0), rtol=1e-10)
    assert_layer_gradients(layer, x)


def test_custom_layer_with_sublayers_and_training_flag():
    class Block(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = layers.Dense(3, dtype="float64")
            self.noise = layers.Dropout(0.5, seed=0, dtype="float64")

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(3,), initializer="ones", name="scale")

        def call(self, x, training=False):
            return self.noise(self.inner(x), training=training) * self.scale

    block = Block(dtype="float64")
    x = RNG.uniform(1.0, 2.0, size=(20, 4))
    inference = block(x).numpy()
    scale, kernel, bias = block.get_weights()  # Keras: the layer's own weights, then its sublayers'
    assert kernel.shape == (4, 3) and bias.shape == (3,) and scale.shape == (3,)
    assert block.weights == [block.scale, block.inner.kernel, block.inner.bias]
    np.testing.assert_allclose(inference, x @ kernel + bias, rtol=1e-12)
    assert len(block.trainable_weights) == 3 and block.count_params() == 4 * 3 + 3 + 3
    training = block(x, training=True).numpy()
    assert np.any(training == 0.0) and not np.array_equal(training, inference)
    block.trainable = False
    assert block.trainable_weights == [] and not block.inner.trainable


# ----- bad input


def test_dense_wrong_last_axis_or_rank():
    dense = layers.Dense(3, name="probe")
    dense(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"'probe'.*last axis 4.*\(2, 5\)"):
        dense(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"'probe'.*rank >= 2.*\(4,\)"):
        dense(np.zeros(4))  # Keras's InputSpec(min_ndim=2)
    with pytest.raises(ValueError, match=r"'probe'.*rank >= 2.*\(\)"):
        dense(np.zeros(()))
    with pytest.raises(ValueError, match=r"'probe'.*\(None, 7\)"):
        dense(fg.Input((7,)))
    with pytest.raises(ValueError, match=r"rank"):
        layers.Dense(2)(np.zeros(4))  # not built yet: the first call is rejected as well
    with pytest.raises(ValueError, match=r"last axis.*known.*\(None, None\)"):
        layers.Dense(2)(fg.Input((None,)))


@pytest.mark.parametrize("units", [0, -1, 2.5, None, True])
def test_dense_units_must_be_a_positive_integer(units):
    with pytest.raises(ValueError, match=rf"units={units}"):
        layers.Dense(units)


def test_reshape_to_an_incompatible_size():
    with pytest.raises(ValueError, match=r"\(2, 6\).*\[?\(?4"):
        layers.Reshape((4,))(np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"\(None, 6\)"):
        layers.Reshape((5, -1))(fg.Input((6,)))
    with pytest.raises(ValueError, match="-1"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError):
        layers.Reshape((0, 3))


def test_merge_of_incompatible_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        layers.Add()([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"\(None, 3\).*\(None, 4\)"):
        layers.Multiply()([fg.Input((3,)), fg.Input((4,))])
    with pytest.raises(ValueError):
        layers.Average()([np.zeros((2, 3)), np.zeros((5, 3))])  # Keras: different batch sizes
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4, 1\)"):
        layers.Concatenate()([np.zeros((2, 3)), np.zeros((2, 4, 1))])
    with pytest.raises(ValueError, match=r"\(2, 3, 1\).*\(2, 4, 2\)"):
        layers.Concatenate()([np.zeros((2, 3, 1)), np.zeros((2, 4, 2))])
    with pytest.raises(ValueError, match="list"):
        layers.Add()(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="list"):
        layers.Concatenate()(np.zeros((2, 3)))


def test_subtract_takes_exactly_two_inputs():
    with pytest.raises(ValueError, match="exactly 2 inputs.*3"):
        layers.Subtract()([np.zeros((1, 2))] * 3)
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.subtract([fg.Input((2,))] * 3)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rate_outside_zero_one(rate):
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(rate)


def test_dropout_noise_shape_that_does_not_broadcast():
    layer = layers.Dropout(0.5, noise_shape=(None, 3))
    with pytest.raises(ValueError, match=r"noise_shape \(None, 3\).*\(2, 4\)"):
        layer(np.ones((2, 4)), training=True)


def test_unknown_activation_lists_valid_names():
    for make in (lambda: layers.Dense(2, activation="relu7"), lambda: layers.Activation("relu7")):
        with pytest.raises(ValueError, match="relu7") as info:
            make()
        message = str(info.value)
        assert all(name in message for name in ("relu", "sigmoid", "softmax", "tanh", "gelu"))


def test_activation_layer_argument_errors():
    for kwargs in ({"max_value": -1.0}, {"negative_slope": -0.1}, {"threshold": -0.5}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            layers.ReLU(**kwargs)
    with pytest.raises(ValueError, match="negative_slope"):
        layers.LeakyReLU(negative_slope=-0.2)
    with pytest.raises(ValueError, match="axis"):
        layers.Softmax(axis=3)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"shared axis 3"):
        layers.PReLU(shared_axes=[3])(np.zeros((2, 3)))


def test_prelu_called_on_another_shape():
    # PReLU's output has its input's shape (Keras's compute_output_shape): alpha, built for
    # (None, 2, 3), must not broadcast a (1, 1, 3) input up to (1, 2, 3).
    layer = layers.PReLU(name="gate")
    layer(np.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match=r"'gate'.*\(None, 2, 3\).*\(1, 1, 3\)"):
        layer(np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match=r"'gate'.*\(2, 3\)"):
        layer(np.zeros((2, 3)))
    shared = layers.PReLU(shared_axes=[1])
    shared(np.zeros((4, 2, 3)))
    assert shared(np.zeros((1, 7, 3))).shape == (1, 7, 3)  # a shared axis may take any size
    with pytest.raises(ValueError, match=r"\(None, None, 3\).*\(1, 7, 4\)"):
        shared(np.zeros((1, 7, 4)))
    with pytest.raises(ValueError, match="Unrecognized keyword"):
        layers.Dense(2, kernel_size=3)
    with pytest.raises(TypeError, match="float32 or float64"):
        layers.Dense(2, dtype="int32")
