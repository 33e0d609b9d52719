"""Metrics against numpy references written here from Keras 3's definitions.

Sources of the references: keras/src/metrics/accuracy_metrics.py, regression_metrics.py,
probabilistic_metrics.py, hinge_metrics.py and confusion_metrics.py (the docstring examples,
whose printed values are float32), reduction_metrics.py (a Mean of per-sample values is
sum(w * v) / sum(w)), metrics_utils.py (a prediction is a positive when y_pred > threshold; a
label when nonzero; top_k keeps the k largest predictions of a row, the others become -1e10) and
keras/src/trainers/compile_utils.py (get_metric and is_binary_or_sparse_categorical). The
confusion counts of the references are computed by direct comparison with every threshold, not
by the engine's bucket algorithm; ROC AUC is also checked against the exact Mann-Whitney
probability that a positive outscores a negative.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrograd as fg
from ferrograd import _core, metrics

EPS = 1e-7
RNG = np.random.default_rng(7)
KERAS_RTOL = 2e-6  # Keras prints float32 results


# ----- numpy references


def _divide_no_nan(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def ref_weighted_mean(values, sample_weight=None):
    """Keras's Mean of per-sample values (one value per sample here)."""
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is None:
        return values.mean() if values.size else 0.0
    w = np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), values.shape)
    return float(_divide_no_nan((values * w).sum(), w.sum()))


def ref_binary_accuracy(t, p, threshold=0.5):
    return np.mean(t == (p > threshold).astype(np.float64), axis=-1)


def ref_categorical_accuracy(t, p):
    return (np.argmax(t, axis=-1) == np.argmax(p, axis=-1)).astype(np.float64)


def ref_sparse_categorical_accuracy(labels, p):
    return (labels.reshape(p.shape[:-1]) == np.argmax(p, axis=-1)).astype(np.float64)


def ref_in_top_k(p, target, k):
    """ops.in_top_k: fewer than k predictions strictly above the target's."""
    own = np.take_along_axis(p, target[..., None], axis=-1)
    return ((p > own).sum(axis=-1) < k).astype(np.float64)


def ref_top_k_filter(p, k):
    """metrics_utils._filter_top_k: keep the k largest of each row (lower index first on ties)."""
    order = np.argsort(-p, axis=-1, kind="stable")
    keep = np.zeros_like(p, dtype=bool)
    np.put_along_axis(keep, order[..., :k], True, axis=-1)
    return np.where(keep, p, -1e10)


def ref_confusion(y_true, y_pred, thresholds, sample_weight=None):
    """tp, fp, tn, fn per threshold by direct comparison."""
    labels = np.asarray(y_true, dtype=np.float64).ravel() != 0
    preds = np.asarray(y_pred, dtype=np.float64).ravel()
    w = np.ones_like(preds) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).ravel()
    out = {k: [] for k in ("tp", "fp", "tn", "fn")}
    for t in thresholds:
        positive = preds > t
        out["tp"].append(np.sum(w * (labels & positive)))
        out["fp"].append(np.sum(w * (~labels & positive)))
        out["tn"].append(np.sum(w * (~labels & ~positive)))
        out["fn"].append(np.sum(w * (labels & ~positive)))
    return {k: np.array(v) for k, v in out.items()}


def auc_thresholds(n):
    """AUC's thresholds: (i + 1) / (n - 1) inside, and -1e-7, 1 + 1e-7 at the ends."""
    return [0.0 - EPS] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1.0 + EPS]


def ref_auc(c, curve="ROC", summation_method="interpolation"):
    """confusion_metrics.AUC.result and interpolate_pr_auc, written from Keras's formulas."""
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    if curve == "PR" and summation_method == "interpolation":
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        slope = _divide_no_nan(dtp, np.maximum(p[:-1] - p[1:], 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        safe_ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return float(
            np.sum(_divide_no_nan(slope * (dtp + intercept * np.log(safe_ratio)), np.maximum(tp[1:] + fn[1:], 0)))
        )
    recall = _divide_no_nan(tp, tp + fn)
    if curve == "ROC":
        x, y = _divide_no_nan(fp, fp + tn), recall
    else:
        x, y = recall, _divide_no_nan(tp, tp + fp)
    heights = {
        "interpolation": (y[:-1] + y[1:]) / 2,
        "minoring": np.minimum(y[:-1], y[1:]),
        "majoring": np.maximum(y[:-1], y[1:]),
    }[summation_method]
    return float(np.sum((x[:-1] - x[1:]) * heights))


def mann_whitney_auc(labels, scores):
    """The exact ROC AUC: P(score of a positive > score of a negative) + P(tie) / 2."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return greater + ties / 2


def value(m):
    return float(m.result())


# ----- Keras's docstring examples


REG_TRUE = [[0, 1], [0, 0]]
REG_PRED = [[1, 1], [0, 0]]
PROB_PRED = [[0.6, 0.4], [0.4, 0.6]]
ONE_HOT = [[0, 0, 1], [0, 1, 0]]
PROBS = [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]

# (constructor, y_true, y_pred, sample_weight, expected result) from the Keras docstrings.
DOCSTRING_EXAMPLES = [
    (metrics.Accuracy, [[1], [2], [3], [4]], [[0], [2], [3], [4]], None, 0.75),
    (metrics.Accuracy, [[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0], 0.5),
    (metrics.BinaryAccuracy, [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], None, 0.75),
    (metrics.BinaryAccuracy, [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], [1, 0, 0, 1], 0.5),
    (metrics.CategoricalAccuracy, ONE_HOT, PROBS, None, 0.5),
    (metrics.CategoricalAccuracy, ONE_HOT, PROBS, [0.7, 0.3], 0.3),
    (metrics.SparseCategoricalAccuracy, [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], None, 0.5),
    (metrics.SparseCategoricalAccuracy, [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], [0.7, 0.3], 0.3),
    (lambda: metrics.TopKCategoricalAccuracy(k=1), ONE_HOT, PROBS, None, 0.5),
    (lambda: metrics.TopKCategoricalAccuracy(k=1), ONE_HOT, PROBS, [0.7, 0.3], 0.3),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], PROBS, None, 0.5),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], PROBS, [0.7, 0.3], 0.3),
    (metrics.MeanSquaredError, REG_TRUE, REG_PRED, None, 0.25),
    (metrics.MeanAbsoluteError, REG_TRUE, REG_PRED, None, 0.25),
    (metrics.MeanAbsoluteError, REG_TRUE, REG_PRED, [1, 0], 0.5),
    (metrics.MeanAbsolutePercentageError, REG_TRUE, REG_PRED, None, 250000000.0),
    (metrics.MeanAbsolutePercentageError, REG_TRUE, REG_PRED, [1, 0], 500000000.0),
    (metrics.MeanSquaredLogarithmicError, REG_TRUE, REG_PRED, None, 0.12011322),
    (metrics.MeanSquaredLogarithmicError, REG_TRUE, REG_PRED, [1, 0], 0.24022643),
    (metrics.RootMeanSquaredError, REG_TRUE, REG_PRED, None, 0.5),
    (metrics.RootMeanSquaredError, REG_TRUE, REG_PRED, [1, 0], 0.70710677),
    (metrics.LogCoshError, REG_TRUE, REG_PRED, None, 0.10844523),
    (metrics.LogCoshError, REG_TRUE, REG_PRED, [1, 0], 0.21689045),
    (lambda: metrics.CosineSimilarity(axis=1), [[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]], None, 0.49999997),
    (
        lambda: metrics.CosineSimilarity(axis=1),
        [[0.0, 1.0], [1.0, 1.0]],
        [[1.0, 0.0], [1.0, 1.0]],
        [0.3, 0.7],
        0.6999999,
    ),
    (metrics.Hinge, REG_TRUE, PROB_PRED, None, 1.3),
    (metrics.Hinge, REG_TRUE, PROB_PRED, [1, 0], 1.1),
    (metrics.SquaredHinge, REG_TRUE, PROB_PRED, None, 1.86),
    (metrics.SquaredHinge, REG_TRUE, PROB_PRED, [1, 0], 1.46),
    (metrics.CategoricalHinge, REG_TRUE, PROB_PRED, None, 1.4000001),
    (metrics.CategoricalHinge, REG_TRUE, PROB_PRED, [1, 0], 1.2),
    (metrics.KLDivergence, REG_TRUE, PROB_PRED, None, 0.45814306),
    (metrics.KLDivergence, REG_TRUE, PROB_PRED, [1, 0], 0.9162892),
    (metrics.Poisson, REG_TRUE, REG_PRED, None, 0.49999997),
    (metrics.Poisson, REG_TRUE, REG_PRED, [1, 0], 0.99999994),
    (metrics.BinaryCrossentropy, REG_TRUE, PROB_PRED, None, 0.81492424),
    (metrics.BinaryCrossentropy, REG_TRUE, PROB_PRED, [1, 0], 0.9162905),
    (metrics.CategoricalCrossentropy, [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], None, 1.1769392),
    (
        metrics.CategoricalCrossentropy,
        [[0, 1, 0], [0, 0, 1]],
        [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
        [0.3, 0.7],
        1.6271976,
    ),
    (metrics.SparseCategoricalCrossentropy, [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], None, 1.1769392),
    (metrics.SparseCategoricalCrossentropy, [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], [0.3, 0.7], 1.6271976),
    (lambda: metrics.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], None, 0.75),
    (lambda: metrics.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], [1, 0, 0, 1], 1.0),
    (metrics.Precision, [0, 1, 1, 1], [1, 0, 1, 1], None, 0.6666667),
    (metrics.Precision, [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.Precision(top_k=2), [0, 0, 1, 1], [1, 1, 1, 1], None, 0.0),
    (lambda: metrics.Precision(top_k=4), [0, 0, 1, 1], [1, 1, 1, 1], None, 0.5),
    (metrics.Recall, [0, 1, 1, 1], [1, 0, 1, 1], None, 0.6666667),
    (metrics.Recall, [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (metrics.TruePositives, [0, 1, 1, 1], [1, 0, 1, 1], None, 2.0),
    (metrics.TruePositives, [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (metrics.FalsePositives, [0, 1, 0, 0], [0, 0, 1, 1], None, 2.0),
    (metrics.FalsePositives, [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (metrics.TrueNegatives, [0, 1, 0, 0], [1, 1, 0, 0], None, 2.0),
    (metrics.TrueNegatives, [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], 1.0),
    (metrics.FalseNegatives, [0, 1, 1, 1], [0, 1, 0, 0], None, 2.0),
    (metrics.FalseNegatives, [0, 1, 1, 1], [0, 1, 0, 0], [0, 0, 1, 0], 1.0),
    (lambda: metrics.SensitivityAtSpecificity(0.5), [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8], None, 0.5),
    (
        lambda: metrics.SensitivityAtSpecificity(0.5),
        [0, 0, 0, 1, 1],
        [0, 0.3, 0.8, 0.3, 0.8],
        [1, 1, 2, 2, 1],
        0.333333,
    ),
    (lambda: metrics.SpecificityAtSensitivity(0.5), [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8], None, 0.66666667),
    (
        lambda: metrics.SpecificityAtSensitivity(0.5),
        [0, 0, 0, 1, 1],
        [0, 0.3, 0.8, 0.3, 0.8],
        [1, 1, 2, 2, 2],
        0.5,
    ),
    (lambda: metrics.PrecisionAtRecall(0.5), [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8], None, 0.5),
    (
        lambda: metrics.PrecisionAtRecall(0.5),
        [0, 0, 0, 1, 1],
        [0, 0.3, 0.8, 0.3, 0.8],
        [2, 2, 2, 1, 1],
        0.33333333,
    ),
    (lambda: metrics.RecallAtPrecision(0.8), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], None, 0.5),
    (lambda: metrics.RecallAtPrecision(0.8), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], [1, 0, 0, 1], 1.0),
]


@pytest.mark.parametrize("make, y_true, y_pred, sample_weight, expected", DOCSTRING_EXAMPLES)
def test_keras_docstring_examples(make, y_true, y_pred, sample_weight, expected):
    m = make()
    m.update_state(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(value(m), expected, rtol=KERAS_RTOL, atol=1e-6)
    # reset_state forgets everything: the result is Keras's divide_no_nan 0.
    m.reset_state()
    assert value(m) == 0.0


def test_mean_and_sum_docstrings():
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    assert value(m) == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert value(m) == 2.0
    s = metrics.Sum()
    s.update_state([1, 3, 5, 7])
    assert value(s) == 16.0
    s.reset_state()
    s.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert value(s) == 4.0


# ----- means of per-sample values against numpy


def test_accuracy_family_against_numpy_with_weights():
    n, c = 64, 5
    logits = RNG.normal(size=(n, c))
    labels = RNG.integers(0, c, size=n)
    one_hot = np.eye(c)[labels]
    w = RNG.uniform(0, 2, size=n)
    probs = 1 / (1 + np.exp(-RNG.normal(size=(n, 1))))
    binary = RNG.integers(0, 2, size=(n, 1)).astype(np.float64)
    cases = [
        (metrics.BinaryAccuracy(), binary, probs, ref_binary_accuracy(binary, probs)),
        (metrics.BinaryAccuracy(threshold=0.7), binary, probs, ref_binary_accuracy(binary, probs, 0.7)),
        (metrics.CategoricalAccuracy(), one_hot, logits, ref_categorical_accuracy(one_hot, logits)),
        (metrics.SparseCategoricalAccuracy(), labels, logits, ref_sparse_categorical_accuracy(labels, logits)),
        (metrics.SparseCategoricalAccuracy(), labels[:, None], logits, ref_sparse_categorical_accuracy(labels, logits)),
        (metrics.TopKCategoricalAccuracy(k=2), one_hot, logits, ref_in_top_k(logits, labels, 2)),
        (metrics.SparseTopKCategoricalAccuracy(k=3), labels, logits, ref_in_top_k(logits, labels, 3)),
        (metrics.SparseTopKCategoricalAccuracy(), labels, logits, ref_in_top_k(logits, labels, 5)),
    ]
    for m, y_true, y_pred, per_sample in cases:
        m.update_state(y_true, y_pred.astype(np.float64))
        np.testing.assert_allclose(value(m), ref_weighted_mean(per_sample), rtol=1e-6, err_msg=m.name)
        m.reset_state()
        m.update_state(y_true, y_pred.astype(np.float64), sample_weight=w)
        np.testing.assert_allclose(value(m), ref_weighted_mean(per_sample, w), rtol=1e-6, err_msg=m.name)


def test_regression_metrics_against_numpy():
    t = RNG.normal(size=(32, 3))
    p = t + RNG.normal(scale=0.5, size=(32, 3))
    w = RNG.uniform(0, 1, size=32)
    per_sample = {
        "MeanSquaredError": np.mean((t - p) ** 2, axis=-1),
        "MeanAbsoluteError": np.mean(np.abs(t - p), axis=-1),
        "MeanAbsolutePercentageError": 100 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS)), axis=-1),
        "LogCoshError": np.mean(np.log(np.cosh(p - t)), axis=-1),
    }
    for class_name, values in per_sample.items():
        m = getattr(metrics, class_name)()
        m.update_state(t, p, sample_weight=w)
        np.testing.assert_allclose(value(m), ref_weighted_mean(values, w), rtol=1e-5, err_msg=class_name)
    # RMSE: sqrt of the weighted mean of the per-sample mean squared errors.
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state(t, p, sample_weight=w)
    np.testing.assert_allclose(value(rmse), np.sqrt(ref_weighted_mean(per_sample["MeanSquaredError"], w)), rtol=1e-6)


def test_function_forms_return_per_sample_values():
    t = np.array([[1.0], [0.0], [1.0]])
    p = np.array([[0.8], [0.6], [0.2]])
    out = metrics.binary_accuracy(t, p)
    assert out.shape == (3,)
    np.testing.assert_array_equal(out.numpy(), [1.0, 0.0, 0.0])
    logits = RNG.normal(size=(6, 4))
    labels = RNG.integers(0, 4, size=6)
    np.testing.assert_array_equal(
        metrics.sparse_categorical_accuracy(labels, logits).numpy(), ref_sparse_categorical_accuracy(labels, logits)
    )
    np.testing.assert_array_equal(
        metrics.categorical_accuracy(np.eye(4)[labels], logits).numpy(),
        ref_categorical_accuracy(np.eye(4)[labels], logits),
    )
    np.testing.assert_array_equal(
        metrics.top_k_categorical_accuracy(np.eye(4)[labels], logits, k=2).numpy(), ref_in_top_k(logits, labels, 2)
    )
    # Keras returns sparse top-k matches in y_true's shape.
    assert metrics.sparse_top_k_categorical_accuracy(labels[:, None], logits, k=2).shape == (6, 1)
    np.testing.assert_allclose(metrics.mse(t, p).numpy(), np.mean((t - p) ** 2, axis=-1), rtol=1e-6)
    assert metrics.mean_absolute_error is fg.losses.mean_absolute_error


def test_rank_one_elementwise_accuracy_counts_the_batch_once():
    # Keras averages the last axis: rank-1 inputs give one value per batch, counted once.
    m = metrics.BinaryAccuracy()
    m.update_state([1, 0, 1, 1], [0.9, 0.1, 0.2, 0.8])  # 0.75
    m.update_state([1, 0], [0.9, 0.1])  # 1.0
    np.testing.assert_allclose(value(m), (0.75 + 1.0) / 2)
    assert metrics.binary_accuracy([1, 0, 1, 1], [0.9, 0.1, 0.2, 0.8]).shape == ()


def test_sample_weight_shapes_broadcast_as_keras():
    t = np.array([[0.0, 1.0], [0.0, 0.0]])
    p = np.array([[1.0, 1.0], [0.0, 0.0]])
    # (n, 1) weights are per sample, like (n,).
    a, b = metrics.MeanAbsoluteError(), metrics.MeanAbsoluteError()
    a.update_state(t, p, sample_weight=[1.0, 0.0])
    b.update_state(t, p, sample_weight=[[1.0], [0.0]])
    assert value(a) == value(b) == 0.5
    # A scalar weight makes the batch one sample of that weight (Keras's reduce_to_samplewise_values).
    c = metrics.MeanAbsoluteError()
    c.update_state(t, p, sample_weight=3.0)
    c.update_state([[0.0, 0.0]], [[1.0, 1.0]], sample_weight=1.0)
    np.testing.assert_allclose(value(c), (3 * 0.25 + 1 * 1.0) / 4)
    # All-zero weights: divide_no_nan gives 0.
    d = metrics.MeanSquaredError()
    d.update_state(t, p, sample_weight=[0.0, 0.0])
    assert value(d) == 0.0


def test_updates_accumulate_then_reset():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state([0, 1], [[0.9, 0.1], [0.8, 0.2]])  # 1 of 2
    m.update_state([1, 1, 1], [[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]], sample_weight=[1, 1, 2])  # 4 of 4
    np.testing.assert_allclose(value(m), 5 / 6)
    m.reset_state()
    m.update_state([1], [[0.9, 0.1]])
    assert value(m) == 0.0
    auc = metrics.AUC(num_thresholds=3)
    auc.update_state([0, 0], [0, 0.5])
    auc.update_state([1, 1], [0.3, 0.9])
    np.testing.assert_allclose(value(auc), 0.75)


# ----- confusion metrics against numpy


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("summation_method", ["interpolation", "minoring", "majoring"])
def test_auc_against_direct_counts(curve, summation_method):
    labels = RNG.integers(0, 2, size=200).astype(np.float64)
    scores = np.clip(0.3 * labels + RNG.uniform(0, 0.8, size=200), 0, 1)
    w = RNG.uniform(0, 2, size=200)
    for n in (3, 17, 200):
        m = metrics.AUC(num_thresholds=n, curve=curve, summation_method=summation_method)
        m.update_state(labels, scores, sample_weight=w)
        expected = ref_auc(ref_confusion(labels, scores, auc_thresholds(n), w), curve, summation_method)
        np.testing.assert_allclose(value(m), expected, rtol=1e-6, atol=1e-12, err_msg=f"{n} thresholds")


def test_auc_bounds_and_exact_roc():
    labels = RNG.integers(0, 2, size=300)
    scores = np.clip(0.25 * labels + RNG.uniform(0, 0.75, size=300), 0, 1)
    results = {}
    for method in ("minoring", "interpolation", "majoring"):
        m = metrics.AUC(num_thresholds=50, summation_method=method)
        m.update_state(labels, scores)
        results[method] = value(m)
    assert results["minoring"] <= results["interpolation"] <= results["majoring"]
    # With fine thresholds the interpolated ROC AUC approaches the exact probability.
    fine = metrics.AUC(num_thresholds=20001)
    fine.update_state(labels, scores)
    np.testing.assert_allclose(value(fine), mann_whitney_auc(labels, scores), atol=2e-3)


def test_auc_from_logits_equals_auc_of_sigmoid():
    labels = RNG.integers(0, 2, size=50)
    logits = RNG.normal(scale=3, size=50)
    a = metrics.AUC(from_logits=True)
    a.update_state(labels, logits)
    b = metrics.AUC()
    b.update_state(labels, 1 / (1 + np.exp(-logits)))
    np.testing.assert_allclose(value(a), value(b), rtol=1e-6)


def test_precision_recall_thresholds_top_k_and_class_id():
    n, c = 40, 4
    t = RNG.integers(0, 2, size=(n, c)).astype(np.float64)
    p = RNG.uniform(size=(n, c))
    w = RNG.uniform(0, 2, size=n)
    w_full = np.broadcast_to(w[:, None], (n, c))

    def precision(c):
        return _divide_no_nan(c["tp"], c["tp"] + c["fp"])

    def recall(c):
        return _divide_no_nan(c["tp"], c["tp"] + c["fn"])

    thresholds = [0.1, 0.45, 0.8]
    counts = ref_confusion(t, p, thresholds, w_full)
    m = metrics.Precision(thresholds=thresholds)
    m.update_state(t, p, sample_weight=w)
    np.testing.assert_allclose(m.result().numpy(), precision(counts), rtol=1e-6)
    r = metrics.Recall(thresholds=thresholds)
    r.update_state(t, p, sample_weight=w)
    np.testing.assert_allclose(r.result().numpy(), recall(counts), rtol=1e-6)
    # Evenly spaced thresholds take Keras's bucket algorithm: same counts.
    even = [0.0, 0.25, 0.5, 0.75, 1.0]
    r = metrics.Recall(thresholds=even)
    r.update_state(t, p)
    np.testing.assert_allclose(r.result().numpy(), recall(ref_confusion(t, p, even)), rtol=1e-6)
    # top_k: the k largest of each row are the candidates; default threshold -1e10.
    for k in (1, 2):
        filtered = ref_top_k_filter(p, k)
        for cls, ref in ((metrics.Precision, precision), (metrics.Recall, recall)):
            m = cls(top_k=k)
            m.update_state(t, p)
            np.testing.assert_allclose(value(m), ref(ref_confusion(t, filtered, [-1e10]))[0], rtol=1e-6)
            # top_k with a threshold: only top-k predictions above 0.5.
            m = cls(top_k=k, thresholds=0.5)
            m.update_state(t, p)
            np.testing.assert_allclose(value(m), ref(ref_confusion(t, filtered, [0.5]))[0], rtol=1e-6)
    # class_id: only that column.
    for class_id in range(c):
        m = metrics.Precision(class_id=class_id)
        m.update_state(t, p, sample_weight=w)
        np.testing.assert_allclose(
            value(m), precision(ref_confusion(t[:, class_id], p[:, class_id], [0.5], w))[0], rtol=1e-6
        )
        m = metrics.Recall(top_k=2, class_id=class_id)
        m.update_state(t, p)
        expected = recall(ref_confusion(t[:, class_id], ref_top_k_filter(p, 2)[:, class_id], [-1e10]))[0]
        np.testing.assert_allclose(value(m), expected, rtol=1e-6)


def test_class_id_needs_a_class_axis():
    m = metrics.Precision(class_id=1)
    with pytest.raises(ValueError, match=r"class axis.*\[4\]"):
        m.update_state([0, 1, 1, 0], [0.2, 0.7, 0.9, 0.1])
    m = metrics.Recall(class_id=5)
    with pytest.raises(ValueError, match="class_id 5 is out of range for 3 classes"):
        m.update_state(np.eye(3), np.eye(3))


# ----- split batches equal one batch (Hypothesis)


SPLIT_METRICS = [
    lambda: metrics.MeanSquaredError(),
    lambda: metrics.RootMeanSquaredError(),
    lambda: metrics.BinaryAccuracy(),
    lambda: metrics.SparseCategoricalAccuracy(),
    lambda: metrics.SparseTopKCategoricalAccuracy(k=2),
    lambda: metrics.AUC(num_thresholds=25),
    lambda: metrics.AUC(num_thresholds=25, curve="PR"),
    lambda: metrics.Precision(thresholds=[0.3, 0.6]),
    lambda: metrics.Recall(top_k=1),
    lambda: metrics.PrecisionAtRecall(0.4, num_thresholds=30),
    lambda: metrics.CategoricalCrossentropy(from_logits=True),
]


def _batch_for(index, n, rng):
    """Targets and predictions of n samples suitable for metric SPLIT_METRICS[index]."""
    probs = rng.uniform(size=(n, 3))
    labels = rng.integers(0, 3, size=n).astype(np.float64)
    binary = rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    if index in (0, 1):
        return rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    if index in (3, 4):
        return labels, probs
    if index in (2, 5, 6, 7, 9):
        return binary, rng.uniform(size=(n, 1))
    if index == 8:
        return np.eye(3)[labels.astype(int)], probs
    return np.eye(3)[labels.astype(int)], rng.normal(size=(n, 3))


@settings(max_examples=40, deadline=None)
@given(
    index=st.integers(0, len(SPLIT_METRICS) - 1),
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5),
    seed=st.integers(0, 2**32 - 1),
    weighted=st.booleans(),
)
def test_split_batches_equal_one_batch(index, sizes, seed, weighted):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    y_true, y_pred = _batch_for(index, n, rng)
    w = rng.uniform(0.1, 2.0, size=n) if weighted else None
    whole, split = SPLIT_METRICS[index](), SPLIT_METRICS[index]()
    whole.update_state(y_true, y_pred, sample_weight=w)
    start = 0
    for size in sizes:
        part = slice(start, start + size)
        split.update_state(y_true[part], y_pred[part], sample_weight=None if w is None else w[part])
        start += size
    np.testing.assert_allclose(split.result().numpy(), whole.result().numpy(), rtol=1e-6, atol=1e-9)


# ----- names and compile's resolution


@pytest.mark.parametrize(
    "y_true_shape, y_pred_shape, kind",
    [
        ((8, 1), (8, 1), "BinaryAccuracy"),  # y_pred's last dim is 1
        ((8,), (8, 1), "BinaryAccuracy"),
        ((8,), (8, 10), "SparseCategoricalAccuracy"),  # y_true has fewer dims
        ((8, 1), (8, 10), "SparseCategoricalAccuracy"),  # y_true's last dim 1, y_pred's > 1
        ((8, 10), (8, 10), "CategoricalAccuracy"),
    ],
)
@pytest.mark.parametrize("name", ["accuracy", "acc", "Accuracy"])
def test_accuracy_resolves_from_shapes(name, y_true_shape, y_pred_shape, kind):
    m = _core.Metric.resolve(name, list(y_true_shape), list(y_pred_shape))
    assert (m.kind, m.name) == (kind, name)


def test_crossentropy_resolves_like_keras_losses():
    assert _core.Metric.resolve("crossentropy", [8, 1], [8, 1]).kind == "BinaryCrossentropy"
    assert _core.Metric.resolve("ce", [8], [8, 3]).kind == "SparseCategoricalCrossentropy"
    assert _core.Metric.resolve("crossentropy", [8, 3], [8, 3]).kind == "CategoricalCrossentropy"


# (string, Keras class it names); Keras 3 logs a string metric under the string itself.
KERAS_NAMES = [
    ("mse", "MeanSquaredError"),
    ("MSE", "MeanSquaredError"),
    ("mean_squared_error", "MeanSquaredError"),
    ("mae", "MeanAbsoluteError"),
    ("mean_absolute_error", "MeanAbsoluteError"),
    ("mape", "MeanAbsolutePercentageError"),
    ("msle", "MeanSquaredLogarithmicError"),
    ("root_mean_squared_error", "RootMeanSquaredError"),
    ("RootMeanSquaredError", "RootMeanSquaredError"),
    ("log_cosh_error", "LogCoshError"),
    ("binary_accuracy", "BinaryAccuracy"),
    ("categorical_accuracy", "CategoricalAccuracy"),
    ("sparse_categorical_accuracy", "SparseCategoricalAccuracy"),
    ("top_k_categorical_accuracy", "TopKCategoricalAccuracy"),
    ("sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy"),
    ("accuracy", "Accuracy"),
    ("auc", "AUC"),
    ("AUC", "AUC"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("true_positives", "TruePositives"),
    ("bce", "BinaryCrossentropy"),
    ("binary_crossentropy", "BinaryCrossentropy"),
    ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
    ("kl_divergence", "KLDivergence"),
    ("hinge", "Hinge"),
    ("mean", "Mean"),
]


@pytest.mark.parametrize("name, kind", KERAS_NAMES)
def test_string_names(name, kind):
    m = _core.Metric.from_name(name)
    assert (m.kind, m.name) == (kind, name)
    # keras.metrics.get gives an instance of the class, named by the class's default.
    obj = metrics.get(name)
    assert type(obj).__name__ == kind
    assert obj._engine.kind == kind


def test_default_names_follow_keras():
    assert metrics.LogCoshError().name == "logcosh"
    assert metrics.MeanSquaredError().name == "mean_squared_error"
    assert metrics.get("mse").name == "mean_squared_error"
    first, second = metrics.TruePositives(), metrics.TruePositives()
    assert first.name.startswith("true_positives") and second.name != first.name
    assert metrics._to_snake_case("SparseTopKCategoricalAccuracy") == "sparse_top_k_categorical_accuracy"
    assert metrics._to_snake_case("KLDivergence") == "kl_divergence"


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown metric 'acuracy'.*binary_accuracy"):
        _core.Metric.from_name("acuracy")
    with pytest.raises(ValueError, match="resolve"):
        _core.Metric.from_name("acc")
    with pytest.raises(ValueError, match="Could not interpret metric identifier: 'acuracy'.*mae"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match="unknown metric class 'Accuracyy'.*BinaryAccuracy"):
        _core.Metric("Accuracyy", {}, "x")
    # The engine reads configs as Keras writes them (unknown keys ignored, ferrograd.config);
    # misspelt arguments are refused by the Python class's signature.
    with pytest.raises(TypeError, match="treshold"):
        metrics.BinaryAccuracy(treshold=0.3)


# ----- errors name the problem and the shapes


def test_shape_mismatch_errors_name_metric_and_shapes():
    m = metrics.MeanSquaredError(name="mse")
    with pytest.raises(ValueError, match=r"MeanSquaredError: metric 'mse'.*\[4, 3\].*\[4, 2\]"):
        m.update_state(np.zeros((4, 3)), np.zeros((4, 2)))
    acc = _core.Metric.resolve("acc", [4, 3], [4, 3])
    with pytest.raises(ValueError, match=r"metric 'acc'.*y_true.shape=\[4, 2\].*y_pred.shape=\[4, 3\]"):
        acc.update_state(np.zeros((4, 2)), np.zeros((4, 3)))
    sparse = metrics.SparseCategoricalAccuracy()
    with pytest.raises(ValueError, match=r"without the class axis.*\[5\].*\[4, 3\]"):
        sparse.update_state(np.zeros(5), np.zeros((4, 3)))
    auc = metrics.AUC()
    with pytest.raises(ValueError, match=r"AUC.*\[4\].*\[3\]"):
        auc.update_state([0, 1, 1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"sample_weight of shape \[2\].*\[3\]"):
        metrics.MeanAbsoluteError().update_state(np.zeros((3, 1)), np.zeros((3, 1)), sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"class id 7 is not an integer in \[0, 3\)"):
        metrics.SparseTopKCategoricalAccuracy().update_state([7, 0], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="update_values"):
        _core.Metric.from_name("mean").update_state([1.0], [1.0])
    with pytest.raises(ValueError, match="update_state"):
        _core.Metric.from_name("mae").update_values([1.0])


def test_constructor_arguments_are_validated():
    with pytest.raises(ValueError, match="threshold"):
        metrics.BinaryAccuracy(threshold=1.5)
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match=r"\[1.5\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match="recall"):
        metrics.PrecisionAtRecall(1.2)
    with pytest.raises(NotImplementedError, match="multi_label"):
        metrics.AUC(multi_label=True)
    with pytest.raises(ValueError, match="label_smoothing"):
        _core.Metric("BinaryCrossentropy", {"label_smoothing": 2.0}, "bce")


# ----- configs, copies, dtypes


def test_configs_round_trip():
    originals = [
        metrics.BinaryAccuracy(threshold=0.3, name="ba"),
        metrics.TopKCategoricalAccuracy(k=3),
        metrics.AUC(num_thresholds=7, curve="PR", summation_method="majoring", from_logits=True),
        metrics.Precision(thresholds=[0.2, 0.4], class_id=1),
        metrics.Recall(top_k=2),
        metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics.SpecificityAtSensitivity(0.4, num_thresholds=50),
        metrics.CosineSimilarity(axis=0),
    ]
    for m in originals:
        config = m.get_config()
        clone = type(m).from_config(config)
        assert clone.get_config() == config
        assert clone._engine.config() == m._engine.config()
        again = metrics.deserialize(metrics.serialize(m))
        assert type(again) is type(m) and again.get_config() == config
        engine = _core.Metric(m._engine.kind, m._engine.config(), m.name)
        assert engine.config() == m._engine.config()
    auc_config = originals[2].get_config()
    assert (auc_config["curve"], auc_config["summation_method"], auc_config["from_logits"]) == ("PR", "majoring", True)
    assert metrics.deserialize(metrics.serialize(metrics.binary_accuracy)) is metrics.binary_accuracy
    assert metrics.AUC(num_thresholds=3).thresholds == [-1e-7, 0.5, 1 + 1e-7]


def test_engine_copy_is_independent_and_names_follow():
    m = metrics.BinaryAccuracy()
    m.update_state([[1], [0]], [[0.9], [0.9]])
    copy = m._engine.copy()
    m.update_state([[1]], [[0.9]])
    assert copy.result() == 0.5
    np.testing.assert_allclose(value(m), 2 / 3)
    m.name = "acc"
    assert m._engine.name == "acc"
    assert metrics.MeanMetricWrapper(fg.losses.mean_squared_error)._engine is None


def test_dtypes_and_graph_tensors():
    y_true = fg.tensor([[1.0], [0.0]], dtype="float64")
    y_pred = fg.tensor([[0.7], [0.2]], dtype="float32", requires_grad=True)
    m = metrics.MeanSquaredError(dtype="float64")
    m.update_state(y_true, y_pred)
    result = m.result()
    assert result.dtype == "float64" and result.shape == ()
    np.testing.assert_allclose(float(result), (0.3**2 + 0.2**2) / 2, rtol=1e-6)
    assert y_pred.grad is None and y_pred.grad_fn is None
    assert metrics.Precision().result().dtype == "float32"


# ----- Python metrics


class BinaryTruePositives(metrics.Metric):
    """Keras's example subclass of Metric."""

    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits = (np.asarray(y_true) != 0) & (np.asarray(y_pred) != 0)
        weights = np.ones(hits.shape) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.true_positives.assign_add(float(np.sum(hits * weights)))

    def result(self):
        return self.true_positives


def test_python_metric_subclass():
    m = BinaryTruePositives()
    m.update_state([1, 0, 1, 1], [1, 1, 0, 1])
    m.update_state([1], [1], sample_weight=[0.5])
    assert float(m.result()) == 2.5
    assert len(m.variables) == 1 and m._engine is None
    m.reset_state()
    assert float(m.result()) == 0.0
    assert float(m([1, 1], [1, 1])) == 2.0
    assert m.get_config() == {"name": "binary_true_positives", "dtype": "float32"}
    with pytest.raises(NotImplementedError):
        metrics.Metric().result()


def test_mean_metric_wrapper_of_a_python_function():
    def absolute_error(y_true, y_pred):
        return np.abs(np.asarray(y_true) - np.asarray(y_pred)).sum(axis=-1)

    m = metrics.MeanMetricWrapper(absolute_error, name="abs_sum")
    m.update_state([[1.0, 2.0], [0.0, 0.0]], [[1.5, 2.0], [1.0, 1.0]], sample_weight=[1.0, 3.0])
    np.testing.assert_allclose(value(m), (0.5 * 1 + 2.0 * 3) / 4)
    assert m.get_config()["fn"] is absolute_error
    wrapped_loss = metrics.MeanMetricWrapper(metrics.mse)
    assert wrapped_loss._direction == "down" and wrapped_loss.name.startswith("mean_metric_wrapper")
    assert metrics.get(absolute_error) is absolute_error
    assert isinstance(metrics.get(metrics.AUC), metrics.AUC)
    assert isinstance(metrics.get({"class_name": "Recall", "config": {"top_k": 3}}), metrics.Recall)
