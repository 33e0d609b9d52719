"""Losses against numpy references written here from Keras 3's formulas.

Source of every reference: keras/src/losses/losses.py (the function forms and their docstring
examples), keras/src/backend/numpy/nn.py (binary/categorical crossentropy: clip to
[1e-7, 1 - 1e-7], categorical predictions first divided by their sum), keras/src/losses/loss.py
(reduce_weighted_values: weights multiply the per-sample losses, "sum_over_batch_size" divides
the sum by the number of per-sample losses) and tf.nn.sigmoid_cross_entropy_with_logits
(max(x, 0) - x z + log1p(exp(-|x|))) for binary cross-entropy from logits.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as fg
from conftest import assert_gradients_match
from ferrograd import losses

EPS = 1e-7
RNG = np.random.default_rng(42)
GRAD_SETTINGS = settings(max_examples=30, deadline=None)


# ----- numpy references (Keras's formulas)


def _log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _to_hinge_labels(t):
    return 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t


def _l2_normalize(x, axis=-1):
    inverse_norm = np.minimum(1.0 / np.sqrt(np.sum(x**2, axis=axis, keepdims=True)), 1.0 / EPS)
    return x * inverse_norm


def ref_mse(t, p):
    return np.mean((t - p) ** 2, axis=-1)


def ref_mae(t, p):
    return np.mean(np.abs(t - p), axis=-1)


def ref_mape(t, p):
    return 100.0 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS)), axis=-1)


def ref_msle(t, p):
    return np.mean((np.log(np.maximum(p, EPS) + 1.0) - np.log(np.maximum(t, EPS) + 1.0)) ** 2, axis=-1)


def ref_huber(t, p, delta=1.0):
    e = p - t
    return np.mean(np.where(np.abs(e) <= delta, 0.5 * e**2, delta * np.abs(e) - 0.5 * delta**2), axis=-1)


def ref_log_cosh(t, p):
    return np.mean(np.log(np.cosh(p - t)), axis=-1)


def ref_hinge(t, p):
    return np.mean(np.maximum(1.0 - _to_hinge_labels(t) * p, 0.0), axis=-1)


def ref_squared_hinge(t, p):
    return np.mean(np.maximum(1.0 - _to_hinge_labels(t) * p, 0.0) ** 2, axis=-1)


def ref_categorical_hinge(t, p):
    pos = np.sum(t * p, axis=-1)
    neg = np.max((1.0 - t) * p, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


def ref_kld(t, p):
    t, p = np.clip(t, EPS, 1.0), np.clip(p, EPS, 1.0)
    return np.sum(t * np.log(t / p), axis=-1)


def ref_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), axis=-1)


def ref_cosine(t, p, axis=-1):
    return -np.sum(_l2_normalize(t, axis) * _l2_normalize(p, axis), axis=axis)


def ref_bce(t, p, label_smoothing=0.0, from_logits=False):
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return np.mean(np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))), axis=-1)
    p = np.clip(p, EPS, 1.0 - EPS)
    return -np.mean(t * np.log(p) + (1.0 - t) * np.log(1.0 - p), axis=-1)


def ref_cce(t, p, label_smoothing=0.0, from_logits=False, axis=-1):
    t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[axis]
    if from_logits:
        return -np.sum(t * _log_softmax(p, axis), axis=axis)
    p = np.clip(p / p.sum(axis=axis, keepdims=True), EPS, 1.0 - EPS)
    return -np.sum(t * np.log(p), axis=axis)


def ref_sparse(labels, p, from_logits=False):
    return ref_cce(np.eye(p.shape[-1])[labels], p, from_logits=from_logits)


def ref_reduce(values, sample_weight, reduction):
    if sample_weight is not None:
        values = values * sample_weight
    if reduction in (None, "none"):
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return values.sum() / sample_weight.sum()
    return values.sum() / values.size


# ----- data, one (y_true, y_pred) per loss in its domain


def _onehot(n=4, k=3):
    return np.eye(k)[RNG.integers(0, k, size=n)]


def _probs(n=4, k=3):
    x = RNG.uniform(0.05, 1.0, size=(n, k))
    return x / x.sum(axis=-1, keepdims=True)


SHAPE = (4, 3)
CASES = {
    "mse": (
        losses.MeanSquaredError,
        losses.mean_squared_error,
        ref_mse,
        RNG.normal(size=SHAPE),
        RNG.normal(size=SHAPE),
    ),
    "mae": (
        losses.MeanAbsoluteError,
        losses.mean_absolute_error,
        ref_mae,
        RNG.normal(size=SHAPE),
        RNG.normal(size=SHAPE),
    ),
    "mape": (
        losses.MeanAbsolutePercentageError,
        losses.mean_absolute_percentage_error,
        ref_mape,
        np.array([[1.0, -2.0, 0.0], [0.5, 3.0, 1e-9], [2.0, 1.0, -1.0], [4.0, 0.2, 0.3]]),
        RNG.normal(size=SHAPE),
    ),
    "msle": (
        losses.MeanSquaredLogarithmicError,
        losses.mean_squared_logarithmic_error,
        ref_msle,
        RNG.uniform(-0.5, 3.0, size=SHAPE),
        RNG.uniform(-0.5, 3.0, size=SHAPE),
    ),
    "huber": (losses.Huber, losses.huber, ref_huber, RNG.normal(size=SHAPE), 2.0 * RNG.normal(size=SHAPE)),
    "log_cosh": (losses.LogCosh, losses.log_cosh, ref_log_cosh, RNG.normal(size=SHAPE), 3.0 * RNG.normal(size=SHAPE)),
    "hinge": (
        losses.Hinge,
        losses.hinge,
        ref_hinge,
        RNG.integers(0, 2, size=SHAPE).astype(float),
        RNG.normal(size=SHAPE),
    ),
    "squared_hinge": (
        losses.SquaredHinge,
        losses.squared_hinge,
        ref_squared_hinge,
        RNG.choice([-1.0, 1.0], size=SHAPE),
        RNG.normal(size=SHAPE),
    ),
    "categorical_hinge": (
        losses.CategoricalHinge,
        losses.categorical_hinge,
        ref_categorical_hinge,
        _onehot(),
        RNG.normal(size=SHAPE),
    ),
    "kld": (losses.KLDivergence, losses.kl_divergence, ref_kld, _probs(), _probs()),
    "poisson": (
        losses.Poisson,
        losses.poisson,
        ref_poisson,
        RNG.integers(0, 4, size=SHAPE).astype(float),
        RNG.uniform(0.1, 3, size=SHAPE),
    ),
    "cosine": (
        losses.CosineSimilarity,
        losses.cosine_similarity,
        ref_cosine,
        RNG.normal(size=SHAPE),
        RNG.normal(size=SHAPE),
    ),
    "bce": (
        losses.BinaryCrossentropy,
        losses.binary_crossentropy,
        ref_bce,
        RNG.integers(0, 2, size=SHAPE).astype(float),
        RNG.uniform(0.0, 1.0, size=SHAPE),
    ),
    "cce": (losses.CategoricalCrossentropy, losses.categorical_crossentropy, ref_cce, _onehot(), _probs()),
}
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_form_matches_reference(name):
    _, fn, ref, t, p = CASES[name]
    out = fn(t, p)
    assert isinstance(out, fg.Tensor)
    assert out.shape == (SHAPE[0],)
    np.testing.assert_allclose(out.numpy(), ref(t, p), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_class_reductions_and_sample_weight(name, weighted, reduction):
    cls, _, ref, t, p = CASES[name]
    sample_weight = np.array([0.5, 0.0, 2.0, 1.25]) if weighted else None
    out = cls(reduction=reduction)(t, p, sample_weight=sample_weight)
    expected = ref_reduce(ref(t, p), sample_weight, reduction)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_keras_docstring_examples_in_float32():
    # Values printed in Keras's docstrings (losses.py).
    t, p = [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    cce = losses.CategoricalCrossentropy()
    assert cce(t, p).dtype == "float32"
    assert abs(cce(t, p).item() - 1.177) < 1e-3
    assert abs(cce(t, p, sample_weight=np.array([0.3, 0.7])).item() - 0.814) < 1e-3
    assert abs(losses.CategoricalCrossentropy(reduction="sum")(t, p).item() - 2.354) < 1e-3
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy(reduction=None)([1, 2], p).numpy(), [0.0513, 2.303], atol=1e-3
    )
    bce = losses.BinaryCrossentropy(from_logits=True)
    logits = [[-18.6, 0.51], [2.94, -12.8]]
    assert abs(bce([[0, 1], [0, 0]], logits).item() - 0.8654) < 1e-3
    assert abs(bce([[0, 1], [0, 0]], logits, sample_weight=[0.8, 0.2]).item() - 0.243) < 1e-3
    assert abs(losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).numpy().mean() - 0.155) < 1e-6
    assert abs(losses.log_cosh([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).numpy().mean() - 0.108) < 1e-3
    np.testing.assert_allclose(
        losses.cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]).numpy(),
        [0.0, -1.0, 1.0],
        atol=1e-6,
    )


def test_huber_delta_and_cosine_axis():
    t, p = CASES["huber"][3], CASES["huber"][4]
    np.testing.assert_allclose(losses.Huber(delta=0.3, reduction=None)(t, p).numpy(), ref_huber(t, p, 0.3), rtol=1e-12)
    np.testing.assert_allclose(
        losses.CosineSimilarity(axis=0, reduction=None)(t, p).numpy(), ref_cosine(t, p, axis=0), rtol=1e-12
    )


# ----- cross-entropies: logits, smoothing, stability


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x, axis=-1):
    return np.exp(_log_softmax(x, axis))


def test_from_logits_agrees_with_probabilities():
    logits = RNG.normal(size=(5, 4))
    labels = RNG.integers(0, 4, size=5)
    onehot = np.eye(4)[labels]
    binary = RNG.integers(0, 2, size=(5, 4)).astype(float)
    np.testing.assert_allclose(
        losses.binary_crossentropy(binary, logits, from_logits=True).numpy(),
        losses.binary_crossentropy(binary, _sigmoid(logits)).numpy(),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.categorical_crossentropy(onehot, logits, from_logits=True).numpy(),
        losses.categorical_crossentropy(onehot, _softmax(logits)).numpy(),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels, logits, from_logits=True).numpy(),
        losses.sparse_categorical_crossentropy(labels, _softmax(logits)).numpy(),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels, logits, from_logits=True).numpy(),
        ref_sparse(labels, logits, from_logits=True),
        rtol=1e-12,
    )


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
def test_label_smoothing(from_logits, smoothing):
    logits = RNG.normal(size=(4, 3))
    binary = RNG.integers(0, 2, size=(4, 3)).astype(float)
    onehot = _onehot()
    bce_pred = logits if from_logits else _sigmoid(logits)
    cce_pred = logits if from_logits else _softmax(logits)
    bce = losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing, reduction=None)
    cce = losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=smoothing, reduction=None)
    np.testing.assert_allclose(
        bce(binary, bce_pred).numpy(), ref_bce(binary, logits, smoothing, from_logits=True), rtol=1e-6
    )
    np.testing.assert_allclose(
        cce(onehot, cce_pred).numpy(), ref_cce(onehot, logits, smoothing, from_logits=True), rtol=1e-6
    )


def test_categorical_crossentropy_on_another_axis():
    logits = RNG.normal(size=(3, 5))
    onehot = np.eye(3)[:, RNG.integers(0, 3, size=5)]  # classes on axis 0
    np.testing.assert_allclose(
        losses.categorical_crossentropy(onehot, logits, from_logits=True, axis=0).numpy(),
        ref_cce(onehot, logits, from_logits=True, axis=0),
        rtol=1e-12,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_logits_give_exact_finite_losses(dtype):
    logits = fg.tensor([[100.0, -100.0], [-100.0, 100.0]], dtype=dtype, requires_grad=True)
    labels = np.array([[1.0, 0.0], [1.0, 0.0]])
    # right sign: loss log1p(e^-100) ~ 0; wrong sign: 100 + log1p(e^-100), exactly as the limit.
    bce = losses.binary_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(bce.numpy(), [np.log1p(np.exp(-100.0)), 100.0], rtol=1e-6, atol=1e-30)
    cce = losses.categorical_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(cce.numpy(), [0.0, 200.0], rtol=1e-6, atol=1e-30)
    sparse = losses.sparse_categorical_crossentropy([0, 0], logits, from_logits=True)
    np.testing.assert_allclose(sparse.numpy(), [0.0, 200.0], rtol=1e-6, atol=1e-30)
    (bce.sum() + cce.sum() + sparse.sum()).backward()
    grad = logits.grad.numpy()
    assert np.all(np.isfinite(grad))
    # d/dx [bce] = (sigmoid(x) - z) / 2 ; d/dx [cce] = softmax(x) - t, twice (cce and sparse)
    expected = (_sigmoid(np.array([[100.0, -100.0], [-100.0, 100.0]])) - labels) / 2 + 2 * (
        np.array([[1.0, 0.0], [0.0, 1.0]]) - labels
    )
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_probabilities_are_clipped_at_epsilon():
    # float64, where 1 - 1e-7 is representable (in float32 it rounds to 1 - 2**-23, as in Keras)
    out = losses.binary_crossentropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(out.numpy(), [-np.log(EPS)], rtol=1e-6)
    assert np.isfinite(losses.categorical_crossentropy([[1.0, 0.0]], [[0.0, 1.0]]).numpy()).all()


def test_sparse_labels_with_trailing_axis_and_ignore_class():
    p = _probs(4, 3)
    labels = np.array([0, 2, 1, 2])
    expected = ref_sparse(labels, p)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels[:, None], p).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels.astype(float), p).numpy(), expected, rtol=1e-12
    )
    masked = np.array([0, -1, 1, -1])
    per_sample = losses.sparse_categorical_crossentropy(masked, p, ignore_class=-1).numpy()
    np.testing.assert_allclose(per_sample, [expected[0], 0.0, expected[2], 0.0], rtol=1e-12)
    # Keras: the mean runs over the two valid entries.
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)(masked, p)
    np.testing.assert_allclose(loss.item(), (expected[0] + expected[2]) / 2, rtol=1e-12)


# ----- gradients against central differences (float64), kinks avoided by construction


def _pairs(shape, low=-3.0, high=3.0):
    element = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    return st.tuples(hnp.arrays(np.float64, shape, elements=element), hnp.arrays(np.float64, shape, elements=element))


def _offsets(shape, low, high):
    """Nonzero offsets with |offset| in [low, high], of random sign: keeps |y - y_pred| off 0
    and off the given thresholds."""
    magnitude = hnp.arrays(np.float64, shape, elements=st.floats(low, high, width=64))
    sign = hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0]))
    return st.tuples(magnitude, sign).map(lambda ms: ms[0] * ms[1])


SHAPES = st.sampled_from([(2, 3), (3, 1), (1, 4), (2, 2, 2)])


@GRAD_SETTINGS
@given(st.data())
def test_gradients_smooth_regression(data):
    shape = data.draw(SHAPES)
    t, p = data.draw(_pairs(shape))
    for fn in (losses.mean_squared_error, losses.log_cosh):
        assert_gradients_match(fn, [t, p])
    # shifted away from the zero vector, where the normalisation is not differentiable
    assert_gradients_match(lambda a, b: losses.cosine_similarity(a, b), [t - 3.5, p + 3.5])


@GRAD_SETTINGS
@given(st.data())
def test_gradients_mae_and_huber_off_their_kinks(data):
    shape = data.draw(SHAPES)
    t = data.draw(_pairs(shape))[0]
    near = t + data.draw(_offsets(shape, 0.1, 0.9))  # inside delta = 1, away from 0
    far = t + data.draw(_offsets(shape, 1.1, 3.0))  # outside delta = 1
    mixed = np.where(np.arange(np.prod(shape)).reshape(shape) % 2 == 0, near, far)
    assert_gradients_match(losses.mean_absolute_error, [t, mixed])
    assert_gradients_match(lambda a, b: losses.huber(a, b, delta=1.0), [t, mixed])


@GRAD_SETTINGS
@given(st.data())
def test_gradients_positive_domain_losses(data):
    shape = data.draw(SHAPES)
    positive = st.floats(0.1, 3.0, width=64)
    t = data.draw(hnp.arrays(np.float64, shape, elements=positive))
    p = data.draw(hnp.arrays(np.float64, shape, elements=positive))
    assert_gradients_match(losses.mean_squared_logarithmic_error, [t, p])
    assert_gradients_match(losses.poisson, [t, p])
    offset = data.draw(_offsets(shape, 0.05, 0.5))
    assert_gradients_match(lambda b: losses.mean_absolute_percentage_error(t, b), [t + offset])
    unit = st.floats(0.05, 0.95, width=64)
    q = data.draw(hnp.arrays(np.float64, shape, elements=unit))
    r = data.draw(hnp.arrays(np.float64, shape, elements=unit))
    assert_gradients_match(losses.kl_divergence, [q, r])


@GRAD_SETTINGS
@given(st.data())
def test_gradients_hinges_off_the_margin(data):
    shape = data.draw(SHAPES)
    labels = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0])))
    # y * y_pred = 1 + m with |m| in [0.1, 2]: never on the hinge's kink.
    margin = data.draw(_offsets(shape, 0.1, 2.0))
    pred = labels * (1.0 + margin)
    assert_gradients_match(lambda b: losses.hinge(labels, b), [pred])
    assert_gradients_match(lambda b: losses.squared_hinge(labels, b), [pred])
    # categorical: distinct non-target scores (no tie in the max), neg - pos + 1 away from 0.
    k = shape[-1] + 1
    onehot = np.eye(k)[data.draw(st.lists(st.integers(0, k - 1), min_size=3, max_size=3))]
    scores = np.array(data.draw(st.permutations(list(np.linspace(0.1, 1.0, k))))) * np.ones((3, 1))
    shift = data.draw(st.sampled_from([-1.7, -0.4, 0.35]))
    pred = scores + shift * onehot
    assert_gradients_match(lambda b: losses.categorical_hinge(onehot, b), [pred])


@GRAD_SETTINGS
@given(st.data())
def test_gradients_crossentropies(data):
    shape = data.draw(st.sampled_from([(2, 3), (3, 4), (1, 2)]))
    logits = data.draw(_pairs(shape, -4.0, 4.0))[0]
    soft = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0, width=64)))
    smoothing = data.draw(st.sampled_from([0.0, 0.1]))
    assert_gradients_match(
        lambda z, x: losses.binary_crossentropy(z, x, from_logits=True, label_smoothing=smoothing), [soft, logits]
    )
    probs = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.05, 0.95, width=64)))
    assert_gradients_match(lambda x: losses.binary_crossentropy(soft, x, label_smoothing=smoothing), [probs])
    assert_gradients_match(
        lambda t, x: losses.categorical_crossentropy(t, x, from_logits=True, label_smoothing=smoothing), [soft, logits]
    )
    assert_gradients_match(lambda x: losses.categorical_crossentropy(soft, x), [probs])
    labels = data.draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
    assert_gradients_match(lambda x: losses.sparse_categorical_crossentropy(labels, x, from_logits=True), [logits])
    weights = np.linspace(0.5, 2.0, shape[0])
    assert_gradients_match(
        lambda x: losses.CategoricalCrossentropy(from_logits=True)(soft, x, sample_weight=weights),
        [logits],
    )


# ----- bad input


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_mismatch_names_both_shapes(name):
    _, fn, _, _, _ = CASES[name]
    with pytest.raises(ValueError, match=r"\(?\[?2, 3\]?\)?.*\[?3, 2\]?"):
        fn(np.zeros((2, 3)), np.ones((3, 2)))


def test_sparse_label_out_of_range():
    with pytest.raises(ValueError, match=r"label 3 is out of range for 3 classes"):
        losses.sparse_categorical_crossentropy([0, 3], _probs(2, 3))
    with pytest.raises(ValueError, match=r"label -1"):
        losses.SparseCategoricalCrossentropy(from_logits=True)([-1, 0], RNG.normal(size=(2, 3)))
    with pytest.raises(ValueError, match=r"\[3\].*\[2, 3\]"):
        losses.sparse_categorical_crossentropy([0, 1, 2], _probs(2, 3))


def test_unknown_names_and_reductions():
    with pytest.raises(ValueError, match="mean_squared_error") as info:
        losses.get("mean_sqared_error")
    assert "categorical_crossentropy" in str(info.value)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.binary_crossentropy([[1.0]], [[0.5]], label_smoothing=1.5)


# ----- names and configs


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mse", losses.mean_squared_error),
        ("MSE", losses.mean_squared_error),
        ("mean_squared_error", losses.mean_squared_error),
        ("mae", losses.mean_absolute_error),
        ("mape", losses.mean_absolute_percentage_error),
        ("msle", losses.mean_squared_logarithmic_error),
        ("kld", losses.kl_divergence),
        ("bce", losses.binary_crossentropy),
        ("categorical_crossentropy", losses.categorical_crossentropy),
        ("sparse_categorical_crossentropy", losses.sparse_categorical_crossentropy),
        ("huber", losses.huber),
        ("log_cosh", losses.log_cosh),
        ("hinge", losses.hinge),
        ("poisson", losses.poisson),
        ("cosine_similarity", losses.cosine_similarity),
    ],
)
def test_get_resolves_function_names(name, expected):
    assert losses.get(name) is expected


def test_get_classes_configs_and_round_trip():
    loss = losses.get("CategoricalCrossentropy")
    assert isinstance(loss, losses.CategoricalCrossentropy)
    assert loss.get_config() == {
        "name": "categorical_crossentropy",
        "reduction": "sum_over_batch_size",
        "from_logits": False,
        "label_smoothing": 0.0,
        "axis": -1,
    }
    made = losses.get({"class_name": "BinaryCrossentropy", "config": {"from_logits": True, "label_smoothing": 0.1}})
    assert made.from_logits and made.label_smoothing == 0.1
    huber = losses.Huber(delta=0.5, reduction="sum")
    clone = losses.deserialize(losses.serialize(huber))
    assert isinstance(clone, losses.Huber) and clone.get_config() == huber.get_config()
    assert losses.get(losses.MeanSquaredError).name == "mean_squared_error"
    assert fg.losses is losses


def test_custom_loss_subclass_uses_reduction():
    class Doubled(losses.Loss):
        def call(self, y_true, y_pred):
            return losses.mean_squared_error(y_true, y_pred) * 2.0

    t, p = CASES["mse"][3], CASES["mse"][4]
    np.testing.assert_allclose(Doubled()(t, p).item(), 2 * ref_mse(t, p).mean(), rtol=1e-12)
    assert Doubled().name == "doubled"
