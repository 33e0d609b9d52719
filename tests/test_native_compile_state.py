"""Compile state from Python to the native loader: a model compiled in Python with each of the
nine optimizers (each with a learning-rate schedule and a clipping option), each built-in loss
and each built-in metric, trained and saved from Python, is loaded by the engine's own loader
(``_core.load_model_native``, what a Rust program runs) and continues training with the same
losses, metrics and weights as the Python model continuing in Python.
"""

from __future__ import annotations

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import _core, layers, losses, metrics, optimizers
from ferrograd.optimizers import schedules

SAMPLES, FEATURES, CLASSES = 12, 4, 3
RNG = np.random.default_rng(5)
X = RNG.normal(size=(SAMPLES, FEATURES)).astype("float32")
IDS = (np.arange(SAMPLES) * 7 + 1) % CLASSES
ONE_HOT = np.eye(CLASSES, dtype="float32")[IDS]


def _optimizers():
    clip = [{"clipnorm": 0.5}, {"clipvalue": 0.05}, {"global_clipnorm": 0.3}]
    sched = [
        lambda: schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.7, staircase=True),
        lambda: schedules.InverseTimeDecay(0.05, decay_steps=1, decay_rate=0.5),
        lambda: schedules.PiecewiseConstantDecay([2, 5], [0.05, 0.02, 0.01]),
        lambda: schedules.PolynomialDecay(0.05, decay_steps=6, power=2.0, cycle=True),
        lambda: schedules.CosineDecay(0.01, decay_steps=8, alpha=0.1, warmup_target=0.05, warmup_steps=2),
        lambda: schedules.CosineDecayRestarts(0.05, first_decay_steps=3, t_mul=1.5, m_mul=0.8),
    ]
    rules = [
        (optimizers.SGD, {"momentum": 0.9, "nesterov": True}),
        (optimizers.RMSprop, {"rho": 0.8, "momentum": 0.5, "centered": True}),
        (optimizers.Adagrad, {"initial_accumulator_value": 0.2}),
        (optimizers.Adadelta, {"rho": 0.9}),
        (optimizers.Adam, {"amsgrad": True, "weight_decay": 0.01}),
        (optimizers.AdamW, {"beta_2": 0.99}),
        (optimizers.Adamax, {"beta_1": 0.8}),
        (optimizers.Nadam, {"epsilon": 1e-6}),
        (optimizers.Lion, {"beta_1": 0.95}),
    ]
    return [
        (cls.__name__, lambda cls=cls, kw=kw, i=i: cls(learning_rate=sched[i % 6](), **clip[i % 3], **kw))
        for i, (cls, kw) in enumerate(rules)
    ]


OPTIMIZERS = _optimizers()

LOSSES = [
    "mse",
    "mean_absolute_error",
    losses.MeanAbsolutePercentageError(reduction="sum"),
    "msle",
    losses.Huber(delta=0.3),
    "log_cosh",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    losses.BinaryCrossentropy(label_smoothing=0.1),
    losses.CategoricalCrossentropy(label_smoothing=0.2),
    "sparse_categorical_crossentropy",
    losses.kl_divergence,
    "poisson",
    losses.CosineSimilarity(axis=-1),
]


def _metrics(sparse):
    if sparse:
        return [
            "accuracy",
            "sparse_categorical_accuracy",
            metrics.SparseTopKCategoricalAccuracy(k=2),
            metrics.SparseCategoricalCrossentropy(),
        ]
    return [
        "accuracy",
        metrics.Accuracy(name="exact"),
        metrics.BinaryAccuracy(threshold=0.4),
        "categorical_accuracy",
        metrics.TopKCategoricalAccuracy(k=2),
        metrics.AUC(num_thresholds=20, curve="PR"),
        metrics.Precision(thresholds=[0.3, 0.6]),
        metrics.Recall(class_id=1),
        metrics.TruePositives(),
        metrics.FalsePositives(),
        metrics.TrueNegatives(),
        metrics.FalseNegatives(),
        metrics.PrecisionAtRecall(0.5, num_thresholds=30),
        metrics.RecallAtPrecision(0.5),
        metrics.SensitivityAtSpecificity(0.5),
        metrics.SpecificityAtSensitivity(0.5),
        "mse",
        "mae",
        metrics.RootMeanSquaredError(),
        "mape",
        "msle",
        metrics.LogCoshError(),
        metrics.CosineSimilarity(),
        "hinge",
        "squared_hinge",
        "categorical_hinge",
        "kl_divergence",
        "poisson",
        metrics.BinaryCrossentropy(),
        metrics.CategoricalCrossentropy(label_smoothing=0.1),
    ]


def _model():
    fg.utils.set_random_seed(3)
    return fg.Sequential(
        [
            layers.Input((FEATURES,)),
            layers.Dense(5, activation="tanh", name="hidden"),
            layers.Dense(CLASSES, activation="softmax", name="probs"),
        ]
    )


def _continues_identically(tmp_path, make_optimizer, loss, loss_weight):
    sparse = loss == "sparse_categorical_crossentropy"
    y = IDS.astype("float32") if sparse else ONE_HOT
    model = _model()
    model.compile(optimizer=make_optimizer(), loss=loss, loss_weights=[loss_weight], metrics=_metrics(sparse))
    model.fit(X, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "model.safetensors"
    model.save(path)

    native = _core.load_model_native(str(path))
    assert native.compiled, "the native loader restored the compile state"
    native_logs, completed = native.fit_epoch(_core.Dataset([X], [y], None), 5, False, 0)
    assert completed
    python_logs = model.fit(X, y, batch_size=5, epochs=1, shuffle=False, verbose=0).history

    assert sorted(native_logs) == sorted(python_logs)
    for key, values in python_logs.items():
        np.testing.assert_allclose(native_logs[key], values[-1], rtol=1e-6, atol=1e-7, err_msg=key)
    python_weights = [np.asarray(w) for w in model.weights]
    native_weights = [np.asarray(t) for _, _, t, _ in native.weights()]
    assert len(native_weights) == len(python_weights)
    for got, want in zip(native_weights, python_weights):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("index", range(len(OPTIMIZERS)), ids=[name for name, _ in OPTIMIZERS])
def test_each_optimizer_with_schedule_and_clipping_continues_natively(tmp_path, index):
    _, make = OPTIMIZERS[index]
    _continues_identically(tmp_path, make, LOSSES[index % len(LOSSES)], 1.0)


@pytest.mark.parametrize("index", range(len(LOSSES)), ids=[str(i) for i in range(len(LOSSES))])
def test_each_loss_and_metric_continues_natively(tmp_path, index):
    _, make = OPTIMIZERS[index % len(OPTIMIZERS)]
    _continues_identically(tmp_path, make, LOSSES[index], 0.5 + index)


def test_ctc_loss_continues_natively(tmp_path):
    # CTC needs sequences: logits (batch, time, classes) against integer labels (batch, length),
    # 0 the blank and padding.
    time_steps, classes = 6, 4
    x = RNG.normal(size=(SAMPLES, time_steps, FEATURES)).astype("float32")
    labels = np.stack([(np.arange(3) + i) % (classes - 1) + 1 for i in range(SAMPLES)]).astype("float32")
    labels[::3, 2] = 0  # shorter label sequences, padded with the blank
    fg.utils.set_random_seed(4)
    model = fg.Sequential([layers.Input((time_steps, FEATURES)), layers.Dense(classes)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05, clipnorm=1.0), loss=losses.CTC())
    model.fit(x, labels, batch_size=5, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "ctc.safetensors"
    model.save(path)

    native = _core.load_model_native(str(path))
    assert native.compiled
    native_logs, completed = native.fit_epoch(_core.Dataset([x], [labels], None), 5, False, 0)
    assert completed
    python_logs = model.fit(x, labels, batch_size=5, epochs=1, shuffle=False, verbose=0).history
    np.testing.assert_allclose(native_logs["loss"], python_logs["loss"][-1], rtol=1e-6)
    for got, want in zip([np.asarray(t) for _, _, t, _ in native.weights()], [np.asarray(w) for w in model.weights]):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
