"""Elementwise ops of ``fg.ops``: forward values against numpy formulas written here from each op's
documented definition (Keras 3's for the activations), and gradients against central finite
differences in float64 (``conftest.assert_gradients_match``, atol=1e-5, rtol=1e-4).

Non-differentiable points (kinks, ties, poles) are kept out of the drawn inputs by moving values
that fall within a gap of them (``away_from``) or by drawing from a domain that excludes them; the
gradient tolerances are never loosened.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as fg
from conftest import arrays, assert_gradients_match, broadcastable_pair, shapes

SETTINGS = settings(max_examples=25, deadline=None)

# float64 forward: the engine and numpy evaluate the same formula, so only rounding may differ.
RTOL64, ATOL64 = 1e-10, 1e-12
# float32 forward against a float64 reference of the float32 inputs.
RTOL32, ATOL32 = 1e-5, 1e-6

# Keras 3's SELU constants (keras.activations.selu), given to 9 significant digits.
SELU_ALPHA = 1.67326324
SELU_SCALE = 1.05070098

_erf = np.vectorize(math.erf, otypes=[np.float64])


def away_from(x: np.ndarray, points=(), gap: float = 1e-3) -> np.ndarray:
    """`x` with every entry closer than `gap` to one of `points` moved to point ± 2·gap (on its own
    side; entries exactly at the point go to the + side)."""
    x = np.array(x, dtype=np.float64, copy=True)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = np.where(x[near] < p, p - 2 * gap, p + 2 * gap)
    return x


def assert_away(x: np.ndarray, points, gap: float) -> None:
    for p in points:
        assert np.all(np.abs(np.asarray(x) - p) >= gap), f"strategy left a value within {gap} of {p}"


def t64(x) -> fg.Tensor:
    return fg.tensor(np.asarray(x, dtype=np.float64), dtype="float64")


def untied(a: np.ndarray, b: np.ndarray):
    """Snaps a to multiples of 0.01 and b to multiples of 0.01 shifted by 0.005, so that
    |a - b| >= 0.005 for every broadcast pair: no ties for maximum/minimum."""
    return np.round(a, 2), np.round(b, 2) + 0.005


# ----- numpy references (the documented definitions)


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_relu6(x):
    return np.minimum(np.maximum(x, 0.0), 6.0)


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1.0))


def np_gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def np_gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


class Unary(NamedTuple):
    name: str
    fn: Callable  # the ferrograd call, on a tensor
    ref: Callable  # numpy formula
    low: float = -3.0
    high: float = 3.0
    kinks: tuple = ()
    gap: float = 1e-3
    rtol: float = RTOL64


UNARY = [
    Unary("negative", fg.ops.negative, lambda x: -x),
    Unary("neg-operator", lambda t: -t, lambda x: -x),
    Unary("exp", fg.ops.exp, np.exp),
    Unary("log", fg.ops.log, np.log, 0.1, 5.0),
    Unary("log1p", fg.ops.log1p, np.log1p, -0.9, 3.0),
    Unary("sqrt", fg.ops.sqrt, np.sqrt, 0.1, 5.0),
    Unary("abs", fg.ops.abs, np.abs, kinks=(0.0,)),
    Unary("absolute", fg.ops.absolute, np.abs, kinks=(0.0,)),
    Unary("abs-operator", abs, np.abs, kinks=(0.0,)),
    Unary("square", fg.ops.square, lambda x: x * x),
    Unary("sin", fg.ops.sin, np.sin, -4.0, 4.0),
    Unary("cos", fg.ops.cos, np.cos, -4.0, 4.0),
    # a pole at 0: stay 0.25 away on both sides
    Unary("reciprocal", fg.ops.reciprocal, lambda x: 1.0 / x, kinks=(0.0,), gap=0.25),
    Unary("clip", lambda t: fg.ops.clip(t, -1.0, 1.5), lambda x: np.minimum(np.maximum(x, -1.0), 1.5),
          kinks=(-1.0, 1.5)),
    # activations (Keras 3)
    Unary("relu", fg.ops.relu, lambda x: np.maximum(x, 0.0), kinks=(0.0,)),
    Unary("relu6", fg.ops.relu6, np_relu6, -2.0, 8.0, kinks=(0.0, 6.0)),
    Unary("leaky_relu-default", fg.ops.leaky_relu, lambda x: np.where(x >= 0, x, 0.2 * x), kinks=(0.0,)),
    Unary("leaky_relu-0.01", lambda t: fg.ops.leaky_relu(t, negative_slope=0.01),
          lambda x: np.where(x >= 0, x, 0.01 * x), kinks=(0.0,)),
    Unary("elu-default", fg.ops.elu, np_elu, kinks=(0.0,)),
    Unary("elu-0.5", lambda t: fg.ops.elu(t, alpha=0.5), lambda x: np_elu(x, 0.5), kinks=(0.0,)),
    # Keras rounds the SELU constants to 9 digits; the engine may use them in full precision
    # (as TensorFlow, JAX and PyTorch do): a relative difference below 1e-8.
    Unary("selu", fg.ops.selu, lambda x: SELU_SCALE * np_elu(x, SELU_ALPHA), kinks=(0.0,), rtol=1e-8),
    Unary("gelu-default-tanh", fg.ops.gelu, np_gelu_tanh, -5.0, 5.0),
    Unary("gelu-approximate", lambda t: fg.ops.gelu(t, approximate=True), np_gelu_tanh, -5.0, 5.0),
    Unary("gelu-exact", lambda t: fg.ops.gelu(t, approximate=False), np_gelu_erf, -5.0, 5.0),
    Unary("sigmoid", fg.ops.sigmoid, np_sigmoid, -6.0, 6.0),
    Unary("tanh", fg.ops.tanh, np.tanh, -4.0, 4.0),
    Unary("softplus", fg.ops.softplus, lambda x: np.log(1.0 + np.exp(x)), -6.0, 6.0),
    Unary("softsign", fg.ops.softsign, lambda x: x / (np.abs(x) + 1.0), -4.0, 4.0),
    Unary("silu", fg.ops.silu, lambda x: x * np_sigmoid(x), -6.0, 6.0),
    Unary("swish", fg.ops.swish, lambda x: x * np_sigmoid(x), -6.0, 6.0),
    Unary("hard_sigmoid", fg.ops.hard_sigmoid, lambda x: np_relu6(x + 3.0) / 6.0, -5.0, 5.0, kinks=(-3.0, 3.0)),
]


def unary_inputs(case: Unary):
    return shapes().flatmap(lambda s: arrays(s, case.low, case.high)).map(lambda x: away_from(x, case.kinks, case.gap))


@pytest.mark.parametrize("case", UNARY, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_unary_forward_float64(case: Unary, data):
    x = data.draw(unary_inputs(case))
    out = case.fn(t64(x))
    assert isinstance(out, fg.Tensor)
    assert out.dtype == "float64"
    assert out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), case.ref(x), rtol=case.rtol, atol=ATOL64)


@pytest.mark.parametrize("case", UNARY, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_unary_gradient(case: Unary, data):
    x = data.draw(unary_inputs(case))
    assert_away(x, case.kinks, case.gap)
    assert_gradients_match(case.fn, [x])


# Inputs of 40,000 elements cross the engine's threshold for its multi-threaded kernels (2**15
# elements); the Hypothesis shapes above stay on the single-threaded path. Both must agree.
LARGE = 40_000


@pytest.mark.parametrize("case", UNARY, ids=lambda c: c.name)
def test_unary_large_input_matches_small_chunks(case: Unary):
    x = away_from(np.random.default_rng(0).uniform(case.low, case.high, LARGE), case.kinks, case.gap)
    leaf = fg.tensor(x, requires_grad=True, dtype="float64")
    y = case.fn(leaf)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), case.ref(x), rtol=case.rtol, atol=ATOL64)
    values, grads = [], []
    for chunk in np.array_split(x, 10):
        small = fg.tensor(chunk, requires_grad=True, dtype="float64")
        out = case.fn(small)
        out.sum().backward()
        values.append(out.numpy())
        grads.append(small.grad.numpy())
    np.testing.assert_array_equal(y.numpy(), np.concatenate(values))
    np.testing.assert_array_equal(leaf.grad.numpy(), np.concatenate(grads))


# ----- power with a constant exponent (Tensor.__pow__ with a Python number)

POWERS = [
    # (exponent, low, high): fractional and negative exponents on a positive domain
    (3.0, -3.0, 3.0),
    (2.0, -3.0, 3.0),
    (1.0, -3.0, 3.0),
    (0.0, -3.0, 3.0),
    (3, -3.0, 3.0),
    (0.5, 0.1, 4.0),
    (-1.5, 0.2, 4.0),
    (2.7, 0.1, 3.0),
]


@pytest.mark.parametrize("p, low, high", POWERS, ids=[f"p={p!r}" for p, _, _ in POWERS])
@SETTINGS
@given(data=st.data())
def test_power_scalar_exponent(p, low, high, data):
    x = data.draw(shapes().flatmap(lambda s: arrays(s, low, high)))
    out = t64(x) ** p
    assert out.dtype == "float64" and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), np.power(x, float(p)), rtol=RTOL64, atol=ATOL64)
    assert_gradients_match(lambda t: t**p, [x])


# ----- binary ops with numpy broadcasting


class Binary(NamedTuple):
    name: str
    fn: Callable
    ref: Callable
    a_range: tuple = (-3.0, 3.0)
    b_range: tuple = (-3.0, 3.0)
    prep: Callable | None = None  # (a, b) -> (a, b): keeps the inputs off non-differentiable points


def _nonzero_b(a, b):
    return a, away_from(b, (0.0,), 0.25)


BINARY = [
    Binary("add", fg.ops.add, np.add),
    Binary("subtract", fg.ops.subtract, np.subtract),
    Binary("multiply", fg.ops.multiply, np.multiply),
    Binary("divide", fg.ops.divide, np.divide, prep=_nonzero_b),
    Binary("true_divide", fg.ops.true_divide, np.divide, prep=_nonzero_b),
    Binary("power", fg.ops.power, np.power, a_range=(0.2, 3.0), b_range=(-2.0, 2.0)),
    Binary("maximum", fg.ops.maximum, np.maximum, prep=untied),
    Binary("minimum", fg.ops.minimum, np.minimum, prep=untied),
    Binary("+", lambda a, b: a + b, np.add),
    Binary("-", lambda a, b: a - b, np.subtract),
    Binary("*", lambda a, b: a * b, np.multiply),
    Binary("/", lambda a, b: a / b, np.divide, prep=_nonzero_b),
    Binary("**", lambda a, b: a**b, np.power, a_range=(0.2, 3.0), b_range=(-2.0, 2.0)),
]


@st.composite
def binary_inputs(draw, case: Binary):
    shape_a, shape_b = draw(broadcastable_pair())
    a = draw(arrays(shape_a, *case.a_range))
    b = draw(arrays(shape_b, *case.b_range))
    return case.prep(a, b) if case.prep is not None else (a, b)


@pytest.mark.parametrize("case", BINARY, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_binary_forward_float64(case: Binary, data):
    a, b = data.draw(binary_inputs(case))
    out = case.fn(t64(a), t64(b))
    expected = case.ref(a, b)
    assert out.dtype == "float64"
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("case", BINARY, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_binary_gradient(case: Binary, data):
    a, b = data.draw(binary_inputs(case))
    if case.name in ("maximum", "minimum"):
        assert np.all(np.abs(a[..., None] - b.ravel()) >= 0.004), "tie left in the inputs"
    assert_gradients_match(case.fn, [a, b])


@pytest.mark.parametrize("case", BINARY, ids=lambda c: c.name)
def test_binary_large_broadcast_matches_small_chunks(case: Binary):
    rng = np.random.default_rng(0)
    a = rng.uniform(*case.a_range, size=(400, 100))
    b = rng.uniform(*case.b_range, size=(100,))
    a, b = case.prep(a, b) if case.prep is not None else (a, b)
    ta = fg.tensor(a, requires_grad=True, dtype="float64")
    tb = fg.tensor(b, requires_grad=True, dtype="float64")
    y = case.fn(ta, tb)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), case.ref(a, b), rtol=RTOL64, atol=ATOL64)
    grads_a, grad_b = [], np.zeros_like(b)
    for rows in np.array_split(a, 8):
        sa = fg.tensor(rows, requires_grad=True, dtype="float64")
        sb = fg.tensor(b, requires_grad=True, dtype="float64")
        case.fn(sa, sb).sum().backward()
        grads_a.append(sa.grad.numpy())
        grad_b += sb.grad.numpy()
    np.testing.assert_array_equal(ta.grad.numpy(), np.concatenate(grads_a))
    # b's gradient is a sum over the broadcast rows: the summation order may differ
    np.testing.assert_allclose(tb.grad.numpy(), grad_b, rtol=1e-12, atol=1e-12)


# ----- Python scalars and numpy arrays as the other operand (including reflected operators)

SCALAR_CASES = [
    # (name, fn(t), ref(x), low, high, points to keep away from, gap)
    ("t + 2", lambda t: t + 2, lambda x: x + 2.0, -3.0, 3.0, (), 0.0),
    ("2.0 + t", lambda t: 2.0 + t, lambda x: 2.0 + x, -3.0, 3.0, (), 0.0),
    ("t - 2.0", lambda t: t - 2.0, lambda x: x - 2.0, -3.0, 3.0, (), 0.0),
    ("2.0 - t", lambda t: 2.0 - t, lambda x: 2.0 - x, -3.0, 3.0, (), 0.0),
    ("3 - t", lambda t: 3 - t, lambda x: 3.0 - x, -3.0, 3.0, (), 0.0),
    ("t * 2.5", lambda t: t * 2.5, lambda x: x * 2.5, -3.0, 3.0, (), 0.0),
    ("-1.5 * t", lambda t: -1.5 * t, lambda x: -1.5 * x, -3.0, 3.0, (), 0.0),
    ("t / 4.0", lambda t: t / 4.0, lambda x: x / 4.0, -3.0, 3.0, (), 0.0),
    ("2.0 / t", lambda t: 2.0 / t, lambda x: 2.0 / x, -3.0, 3.0, (0.0,), 0.25),
    ("2.0 ** t", lambda t: 2.0**t, lambda x: 2.0**x, -3.0, 3.0, (), 0.0),
    ("0.5 ** t", lambda t: 0.5**t, lambda x: 0.5**x, -3.0, 3.0, (), 0.0),
    ("np.float64(1.5) * t", lambda t: np.float64(1.5) * t, lambda x: 1.5 * x, -3.0, 3.0, (), 0.0),
    ("fg.ops.subtract(2.0, t)", lambda t: fg.ops.subtract(2.0, t), lambda x: 2.0 - x, -3.0, 3.0, (), 0.0),
    ("fg.ops.divide(1.0, t)", lambda t: fg.ops.divide(1.0, t), lambda x: 1.0 / x, -3.0, 3.0, (0.0,), 0.25),
    ("fg.ops.power(t, 3.0)", lambda t: fg.ops.power(t, 3.0), lambda x: x**3.0, 0.1, 3.0, (), 0.0),
    # the same tensor on both sides: the two gradient contributions must add up
    ("t * t", lambda t: t * t, lambda x: x * x, -3.0, 3.0, (), 0.0),
    ("t - t / 2", lambda t: t - t / 2, lambda x: x / 2, -3.0, 3.0, (), 0.0),
    ("t ** t", lambda t: t**t, lambda x: x**x, 0.2, 3.0, (), 0.0),
    ("fg.ops.maximum(t, 0.5)", lambda t: fg.ops.maximum(t, 0.5), lambda x: np.maximum(x, 0.5), -3.0, 3.0, (0.5,), 1e-3),
]


@pytest.mark.parametrize("name, fn, ref, low, high, points, gap", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
@SETTINGS
@given(data=st.data())
def test_python_scalar_operand(name, fn, ref, low, high, points, gap, data):
    x = data.draw(shapes().flatmap(lambda s: arrays(s, low, high)).map(lambda v: away_from(v, points, gap)))
    out = fn(t64(x))
    assert isinstance(out, fg.Tensor)
    assert out.dtype == "float64" and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=RTOL64, atol=ATOL64)
    assert_gradients_match(fn, [x])


def _positive_c(c, x):
    return np.abs(c) + 0.2, x


def _nonzero_x(c, x):
    return c, away_from(x, (0.0,), 0.25)


def _nonzero_c(c, x):
    return away_from(c, (0.0,), 0.25), x


def _positive_x(c, x):
    return c, np.abs(x) + 0.2


ARRAY_CASES = [
    # (name, fn(c, t), ref(c, x), prep(c, x)): c is a numpy float64 array, t a tensor
    ("c + t", lambda c, t: c + t, np.add, None),
    ("t + c", lambda c, t: t + c, lambda c, x: x + c, None),
    ("c - t", lambda c, t: c - t, np.subtract, None),
    ("t - c", lambda c, t: t - c, lambda c, x: x - c, None),
    ("c * t", lambda c, t: c * t, np.multiply, None),
    ("c / t", lambda c, t: c / t, np.divide, _nonzero_x),
    ("t / c", lambda c, t: t / c, lambda c, x: x / c, _nonzero_c),
    ("c ** t", lambda c, t: c**t, np.power, _positive_c),
    ("t ** c", lambda c, t: t**c, lambda c, x: x**c, _positive_x),
    ("fg.ops.multiply(c, t)", lambda c, t: fg.ops.multiply(c, t), np.multiply, None),
]


@pytest.mark.parametrize("name, fn, ref, prep", ARRAY_CASES, ids=[c[0] for c in ARRAY_CASES])
@SETTINGS
@given(data=st.data())
def test_numpy_array_operand(name, fn, ref, prep, data):
    shape_c, shape_x = data.draw(broadcastable_pair())
    c = data.draw(arrays(shape_c))
    x = data.draw(arrays(shape_x))
    if prep is not None:
        c, x = prep(c, x)
    out = fn(c, t64(x))
    expected = ref(c, x)
    assert isinstance(out, fg.Tensor), f"{name} gave {type(out)}, not a Tensor"
    assert out.dtype == "float64" and out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=RTOL64, atol=ATOL64)
    assert_gradients_match(lambda t: fn(c, t), [x])


def test_operand_dtypes():
    t32 = fg.tensor(np.array([1.0, 2.0, 4.0], dtype=np.float32))
    # Python numbers adopt the tensor's dtype
    for out in (t32 + 1.5, 2.0 - t32, 3 * t32, 1.0 / t32, t32**2.0, 2.0**t32, t32 > 1.5):
        assert out.dtype == "float32"
    # numpy arrays keep theirs; float32 with float64 promotes to float64 (numpy's rule)
    c64 = np.array([0.5, 0.25, 2.0])
    assert (c64 * t32).dtype == "float64"
    assert (t32 - c64).dtype == "float64"
    np.testing.assert_allclose((c64 * t32).numpy(), c64 * np.array([1.0, 2.0, 4.0]), rtol=0, atol=0)
    assert (np.array([1.0, 2.0, 3.0], dtype=np.float32) * t32).dtype == "float32"
    # the gradient of a float32 leaf is float32, also through the promotion to float64
    leaf = fg.tensor(np.array([1.0, 2.0, 4.0], dtype=np.float32), requires_grad=True)
    (c64 * leaf + 2.0 * leaf).sum().backward()
    assert leaf.grad.dtype == "float32"
    np.testing.assert_allclose(leaf.grad.numpy(), c64 + 2.0, rtol=1e-7)


# ----- float32 forward

FLOAT32_UNARY = [c for c in UNARY if c.name in (
    "exp", "log", "sqrt", "reciprocal", "sin", "relu", "elu-default", "selu", "gelu-default-tanh", "gelu-exact",
    "sigmoid", "tanh", "softplus", "silu", "hard_sigmoid",
)]


@pytest.mark.parametrize("case", FLOAT32_UNARY, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_unary_forward_float32(case: Unary, data):
    x = data.draw(unary_inputs(case)).astype(np.float32)
    out = case.fn(fg.tensor(x))
    assert out.dtype == "float32"
    result = out.numpy()
    assert result.dtype == np.float32 and result.shape == x.shape
    np.testing.assert_allclose(result, case.ref(x.astype(np.float64)), rtol=RTOL32, atol=ATOL32)


FLOAT32_BINARY = [c for c in BINARY if c.name in ("add", "multiply", "divide", "power", "maximum", "/")]


@pytest.mark.parametrize("case", FLOAT32_BINARY, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_binary_forward_float32(case: Binary, data):
    a, b = data.draw(binary_inputs(case))
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    out = case.fn(fg.tensor(a32), fg.tensor(b32))
    assert out.dtype == "float32"
    expected = case.ref(a32.astype(np.float64), b32.astype(np.float64))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=RTOL32, atol=ATOL32)


# ----- numerical stability at extreme inputs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_softplus_stable_at_extremes(dtype):
    x = fg.tensor(np.array([-800.0, 0.0, 800.0]), requires_grad=True, dtype=dtype)
    s = fg.ops.sigmoid(x)
    sp = fg.ops.softplus(x)
    assert s.dtype == dtype and sp.dtype == dtype
    np.testing.assert_array_equal(s.numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(sp.numpy()[[0, 2]], [0.0, 800.0])
    np.testing.assert_allclose(sp.numpy()[1], math.log(2.0), rtol=1e-6)
    (s.sum() + sp.sum()).backward()
    grad = x.grad.numpy()
    assert np.all(np.isfinite(grad))
    # sigmoid' = s(1 - s): 0, 1/4, 0; softplus' = sigmoid: 0, 1/2, 1
    np.testing.assert_allclose(grad, [0.0, 0.75, 1.0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_based_activations_finite_at_extremes(dtype):
    for fn, expected in [
        (fg.ops.silu, [0.0, 800.0]),
        (fg.ops.tanh, [-1.0, 1.0]),
        (fg.ops.elu, [-1.0, 800.0]),
        (fg.ops.softsign, [-800.0 / 801.0, 800.0 / 801.0]),
        (fg.ops.gelu, [0.0, 800.0]),
    ]:
        x = fg.tensor(np.array([-800.0, 800.0]), requires_grad=True, dtype=dtype)
        y = fn(x)
        assert y.dtype == dtype
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=0, err_msg=fn.__name__)
        y.sum().backward()
        assert np.all(np.isfinite(x.grad.numpy())), fn.__name__


# ----- comparisons

COMPARISONS = [
    ("equal", fg.ops.equal, np.equal),
    ("not_equal", fg.ops.not_equal, np.not_equal),
    ("greater", fg.ops.greater, np.greater),
    ("greater_equal", fg.ops.greater_equal, np.greater_equal),
    ("less", fg.ops.less, np.less),
    ("less_equal", fg.ops.less_equal, np.less_equal),
    ("==", lambda a, b: a == b, np.equal),
    ("!=", lambda a, b: a != b, np.not_equal),
    (">", lambda a, b: a > b, np.greater),
    (">=", lambda a, b: a >= b, np.greater_equal),
    ("<", lambda a, b: a < b, np.less),
    ("<=", lambda a, b: a <= b, np.less_equal),
]


@st.composite
def integer_valued_pair(draw):
    """Two broadcastable arrays of small whole numbers, so that equal values are common."""
    shape_a, shape_b = draw(broadcastable_pair())
    a = np.round(draw(arrays(shape_a, -2.0, 2.0)))
    b = np.round(draw(arrays(shape_b, -2.0, 2.0)))
    return a, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, fn, ref", COMPARISONS, ids=[c[0] for c in COMPARISONS])
@SETTINGS
@given(pair=integer_valued_pair())
def test_comparison_masks(name, fn, ref, dtype, pair):
    a, b = pair
    ta = fg.tensor(a, requires_grad=True, dtype=dtype)
    tb = fg.tensor(b, dtype=dtype)
    out = fn(ta, tb)
    expected = ref(a, b).astype(dtype)
    assert isinstance(out, fg.Tensor)
    assert out.dtype == dtype
    assert out.shape == expected.shape
    assert not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("name, fn, ref", COMPARISONS, ids=[c[0] for c in COMPARISONS])
@SETTINGS
@given(pair=integer_valued_pair())
def test_comparison_with_scalar_and_numpy_operands(name, fn, ref, pair):
    a, b = pair
    t = t64(a)
    np.testing.assert_array_equal(fn(t, 1.0).numpy(), ref(a, 1.0).astype(np.float64))
    # numpy on the left defers to the tensor (the reflected comparison)
    out = fn(b, t)
    assert isinstance(out, fg.Tensor)
    np.testing.assert_array_equal(out.numpy(), ref(b, a).astype(np.float64))


# ----- where


@st.composite
def where_inputs(draw):
    shapes3 = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    shape_c, shape_a, shape_b = shapes3.input_shapes
    cond = draw(hnp.arrays(np.bool_, shape_c))
    a = draw(arrays(shape_a))
    b = draw(arrays(shape_b))
    return cond, a, b


@SETTINGS
@given(inputs=where_inputs(), as_float=st.booleans())
def test_where_values_and_gradients(inputs, as_float):
    cond, a, b = inputs
    condition = cond.astype(np.float64) if as_float else cond
    out = fg.ops.where(condition, t64(a), t64(b))
    expected = np.where(cond, a, b)
    assert out.dtype == "float64" and out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)
    assert_gradients_match(lambda x, y: fg.ops.where(condition, x, y), [a, b])


@SETTINGS
@given(x=shapes().flatmap(arrays).map(lambda v: away_from(v, (0.0,))))
def test_where_with_a_comparison_mask(x):
    # leaky ReLU written with where and a mask from a comparison
    def f(t):
        return fg.ops.where(t > 0.0, t, 0.1 * t)

    np.testing.assert_allclose(f(t64(x)).numpy(), np.where(x > 0, x, 0.1 * x), rtol=RTOL64, atol=ATOL64)
    assert_gradients_match(f, [x])
