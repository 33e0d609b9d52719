"""Optimizers and learning-rate schedules against numpy references of Keras 3's update rules.

The references below are transcribed from Keras 3's source, keras/src/optimizers/{sgd, rmsprop,
adagrad, adadelta, adam, adamax, nadam, lion}.py (``update_step``), base_optimizer.py (clipping:
``_clip_by_norm``, ``clip_by_global_norm``, ``ops.clip``; decoupled weight decay
``variable - variable * wd * lr`` before ``update_step``; the schedule evaluated at ``iterations``
before the increment) and schedules/learning_rate_schedule.py. They are written here in numpy,
independently of the engine.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import ferrograd as fg
from ferrograd.optimizers import schedules

# ----- numpy reference of Keras's update rules


def _keras_update(kind, h, w, g, state, lr, t, nadam_product):
    """One Keras ``update_step`` for one variable; returns the new ``w`` and updates ``state``."""
    if kind == "SGD":
        momentum = h.get("momentum", 0.0)
        if momentum == 0:
            return w - g * lr
        v = state.setdefault("m", np.zeros_like(w))
        v[...] = v * momentum - g * lr
        if h.get("nesterov", False):
            return w + (v * momentum - g * lr)
        return w + v
    if kind == "RMSprop":
        rho, momentum = h.get("rho", 0.9), h.get("momentum", 0.0)
        eps, centered = h.get("epsilon", 1e-7), h.get("centered", False)
        vel = state.setdefault("v", np.zeros_like(w))
        vel[...] = rho * vel + (1 - rho) * g**2
        if centered:
            avg = state.setdefault("a", np.zeros_like(w))
            avg[...] = rho * avg + (1 - rho) * g
            denominator = vel - avg**2 + eps
        else:
            denominator = vel + eps
        increment = lr * g / np.sqrt(denominator)
        if momentum > 0:
            mom = state.setdefault("m", np.zeros_like(w))
            mom[...] = momentum * mom + increment
            return w - mom
        return w - increment
    if kind == "Adagrad":
        acc = state.setdefault("acc", np.full_like(w, h.get("initial_accumulator_value", 0.1)))
        acc[...] = acc + g**2
        return w - lr * g / np.sqrt(acc + h.get("epsilon", 1e-7))
    if kind == "Adadelta":
        rho, eps = h.get("rho", 0.95), h.get("epsilon", 1e-7)
        ag = state.setdefault("ag", np.zeros_like(w))
        ad = state.setdefault("ad", np.zeros_like(w))
        ag[...] = rho * ag + (1 - rho) * g**2
        delta = -(np.sqrt(ad + eps) * g) / np.sqrt(ag + eps)
        ad[...] = rho * ad + (1 - rho) * delta**2
        return w + lr * delta
    if kind in ("Adam", "AdamW"):
        b1, b2, eps = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
        m = state.setdefault("m", np.zeros_like(w))
        v = state.setdefault("v", np.zeros_like(w))
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        m[...] = m + (g - m) * (1 - b1)
        v[...] = v + (g**2 - v) * (1 - b2)
        if h.get("amsgrad", False):
            v_hat = state.setdefault("v_hat", np.zeros_like(w))
            v_hat[...] = np.maximum(v_hat, v)
            v = v_hat
        return w - m * alpha / (np.sqrt(v) + eps)
    if kind == "Adamax":
        b1, b2, eps = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
        m = state.setdefault("m", np.zeros_like(w))
        u = state.setdefault("u", np.zeros_like(w))
        m[...] = m + (g - m) * (1 - b1)
        u[...] = np.maximum(b2 * u, np.abs(g))
        return w - lr * m / ((1 - b1**t) * (u + eps))
    if kind == "Nadam":
        b1, b2, eps = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_t_1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_product_t_1 = nadam_product * u_t_1
        m = state.setdefault("m", np.zeros_like(w))
        v = state.setdefault("v", np.zeros_like(w))
        m[...] = m + (g - m) * (1 - b1)
        v[...] = v + (g**2 - v) * (1 - b2)
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - nadam_product)
        v_hat = v / (1 - b2**t)
        return w - m_hat * lr / (np.sqrt(v_hat) + eps)
    if kind == "Lion":
        b1, b2 = h.get("beta_1", 0.9), h.get("beta_2", 0.99)
        m = state.setdefault("m", np.zeros_like(w))
        w = w - lr * np.sign(m * b1 + g * (1 - b1))
        m[...] = m * b2 + g * (1 - b2)
        return w
    raise AssertionError(kind)


def _keras_clip(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    if clipnorm:
        return [g * clipnorm / max(np.sqrt(np.sum(g**2)), clipnorm) for g in grads]
    if global_clipnorm:
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        scale = global_clipnorm * min(1.0 / norm, 1.0 / global_clipnorm)
        return [g * scale for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def keras_reference(kind, hyper, weights, grad_steps, lr, weight_decay=None, clip=None):
    """Runs Keras's ``apply`` over several steps; returns the weights after each step.
    ``lr`` is a number or a function of the step count."""
    weights = [np.array(w, dtype=np.float64) for w in weights]
    states = [{} for _ in weights]
    product = 1.0
    history = []
    for iteration, grads in enumerate(grad_steps):
        grads = _keras_clip([np.asarray(g, dtype=np.float64) for g in grads], **(clip or {}))
        rate = lr(iteration) if callable(lr) else lr
        t = iteration + 1
        if kind == "Nadam":
            product *= hyper.get("beta_1", 0.9) * (1 - 0.5 * 0.96**t)
        new = []
        for w, g, state in zip(weights, grads, states):
            if weight_decay is not None:
                w = w - w * weight_decay * rate
            new.append(_keras_update(kind, hyper, w, g, state, rate, t, product))
        weights = new
        history.append([w.copy() for w in weights])
    return history


# ----- fixtures

SHAPES = [(3,), (2, 3), ()]
STEPS = 5


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=s) for s in SHAPES]
    grad_steps = [[rng.normal(size=s) * (1 + 0.5 * k) for s in SHAPES] for k in range(STEPS)]
    return weights, grad_steps


def _run(optimizer, weights, grad_steps, dtype):
    variables = [fg.Variable(np.asarray(w, dtype=dtype)) for w in weights]
    history = []
    for grads in grad_steps:
        optimizer.apply_gradients(zip([np.asarray(g, dtype=dtype) for g in grads], variables))
        history.append([v.numpy().astype(np.float64) for v in variables])
    return history


def _assert_history(actual, expected, dtype):
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (2e-5, 2e-6)
    for step, (a_step, e_step) in enumerate(zip(actual, expected)):
        for i, (a, e) in enumerate(zip(a_step, e_step)):
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"step {step + 1}, variable {i}")


CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"rho": 0.8, "momentum": 0.5, "centered": True, "epsilon": 1e-4}),
    ("Adagrad", {}),
    ("Adagrad", {"initial_accumulator_value": 0.5, "epsilon": 1e-3}),
    ("Adadelta", {}),
    ("Adadelta", {"rho": 0.5, "epsilon": 1e-3}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.1, "amsgrad": True}),
    ("Adamax", {}),
    ("Adamax", {"beta_1": 0.5, "beta_2": 0.8}),
    ("Nadam", {}),
    ("Nadam", {"beta_1": 0.8, "beta_2": 0.9}),
    ("Lion", {}),
    ("Lion", {"beta_1": 0.5, "beta_2": 0.9}),
]
OPTIMIZERS = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam", "Lion"]


def _lr_for(kind):
    # Adadelta's steps are tiny at small rates (it was designed for lr = 1).
    return 1.0 if kind == "Adadelta" else 0.05


def _reference_args(kind, hyper):
    hyper = dict(hyper)
    weight_decay = hyper.pop("weight_decay", 0.004 if kind == "AdamW" else None)
    return hyper, weight_decay


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kind,hyper", CASES, ids=[f"{k}-{'-'.join(h) or 'defaults'}" for k, h in CASES])
def test_matches_keras_update_rule(kind, hyper, dtype):
    weights, grad_steps = _problem()
    lr = _lr_for(kind)
    optimizer = getattr(fg.optimizers, kind)(learning_rate=lr, **hyper)
    ref_hyper, weight_decay = _reference_args(kind, hyper)
    expected = keras_reference(kind, ref_hyper, weights, grad_steps, lr, weight_decay=weight_decay)
    _assert_history(_run(optimizer, weights, grad_steps, dtype), expected, dtype)
    assert optimizer.iterations == STEPS


OPTIONS = {
    "weight_decay": ({"weight_decay": 0.1}, None),
    "clipnorm": ({"clipnorm": 0.5}, {"clipnorm": 0.5}),
    "clipvalue": ({"clipvalue": 0.3}, {"clipvalue": 0.3}),
    "global_clipnorm": ({"global_clipnorm": 1.0}, {"global_clipnorm": 1.0}),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_every_optimizer_takes_every_option(kind, option, dtype):
    weights, grad_steps = _problem(seed=1)
    kwargs, clip = OPTIONS[option]
    lr = _lr_for(kind)
    optimizer = getattr(fg.optimizers, kind)(learning_rate=lr, **kwargs)
    weight_decay = kwargs.get("weight_decay", 0.004 if kind == "AdamW" else None)
    expected = keras_reference(kind, {}, weights, grad_steps, lr, weight_decay=weight_decay, clip=clip)
    _assert_history(_run(optimizer, weights, grad_steps, dtype), expected, dtype)


# ----- Keras semantics that differ from PyTorch, pinned one by one


def _one_step(optimizer, w, g):
    v = fg.Variable(np.array(w, dtype=np.float64))
    optimizer.apply_gradients([(np.array(g, dtype=np.float64), v)])
    return v.numpy()


def test_adam_epsilon_placement_is_keras_not_pytorch():
    # Keras 3: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); w -= lr_t*m/(sqrt(v)+1e-7), epsilon on the
    # *uncorrected* sqrt(v). PyTorch: w -= lr*m_hat/(sqrt(v_hat)+1e-8). With a tiny gradient the
    # two differ by a factor of ~30 on the first step.
    lr, g = 0.1, 1e-7
    keras = -lr * math.sqrt(1e-3) * g / (math.sqrt(1e-3) * g + 1e-7)
    torch = -lr * g / (g + 1e-8)
    got = _one_step(fg.optimizers.Adam(learning_rate=lr), [0.0], [g])[0]
    assert got == pytest.approx(keras, rel=1e-9)
    assert abs(got - torch) > 0.5 * abs(torch)
    assert fg.optimizers.Adam().epsilon == 1e-7


def test_adamw_default_weight_decay_is_0_004_and_decoupled():
    opt = fg.optimizers.AdamW(learning_rate=0.1)
    assert opt.weight_decay == 0.004
    # w = 2: decay first (2 - 2*0.004*0.1 = 1.9992), then Adam's first step of ~lr against g.
    decayed = 2.0 - 2.0 * 0.004 * 0.1
    adam_step = 0.1 * math.sqrt(1e-3) * 0.5 / (math.sqrt(1e-3) * 0.5 + 1e-7)
    assert _one_step(opt, [2.0], [0.5])[0] == pytest.approx(decayed - adam_step, rel=1e-12)


def test_adagrad_accumulator_starts_at_0_1():
    # Keras: acc = 0.1 + g^2; w -= lr*g/sqrt(acc + 1e-7). PyTorch starts at 0 (step = lr exactly).
    got = _one_step(fg.optimizers.Adagrad(learning_rate=0.1), [0.0], [1.0])[0]
    assert got == pytest.approx(-0.1 / math.sqrt(1.1 + 1e-7), rel=1e-12)
    assert fg.optimizers.Adagrad().initial_accumulator_value == 0.1


def test_rmsprop_rho_0_9_and_epsilon_inside_the_root():
    # Keras: v = 0.1*g^2; w -= lr*g/sqrt(v + 1e-7). PyTorch (alpha=0.99, eps outside): lr*g/(0.1+1e-8).
    got = _one_step(fg.optimizers.RMSprop(learning_rate=0.01), [0.0], [1.0])[0]
    assert got == pytest.approx(-0.01 / math.sqrt(0.1 + 1e-7), rel=1e-12)
    # epsilon is visible when v is tiny: g = 1e-4 -> v = 1e-9, sqrt(v + 1e-7) ~ 3.18e-4.
    tiny = _one_step(fg.optimizers.RMSprop(learning_rate=0.01), [0.0], [1e-4])[0]
    assert tiny == pytest.approx(-0.01 * 1e-4 / math.sqrt(1e-9 + 1e-7), rel=1e-12)
    opt = fg.optimizers.RMSprop()
    assert (opt.rho, opt.epsilon, opt.momentum, opt.centered) == (0.9, 1e-7, 0.0, False)


def test_sgd_momentum_is_keras_form_when_the_rate_changes():
    # Keras: v = m*v - lr*g; w += v. With lr 0.1 then 0.01 and g = 1:
    # v1 = -0.1, w1 = -0.1; v2 = -0.09 - 0.01 = -0.1, w2 = -0.2.
    # PyTorch (v = m*v + g; w -= lr*v) would give w2 = -0.1 - 0.01*1.9 = -0.119.
    opt = fg.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    v = fg.Variable(np.zeros(1))
    opt.apply_gradients([(np.ones(1), v)])
    opt.learning_rate = 0.01
    opt.apply_gradients([(np.ones(1), v)])
    np.testing.assert_allclose(v.numpy(), [-0.2], rtol=1e-12)


def test_sgd_nesterov_form():
    # v1 = -0.1, w1 = 0.9*(-0.1) - 0.1 = -0.19
    got = _one_step(fg.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True), [0.0], [1.0])[0]
    assert got == pytest.approx(-0.19, rel=1e-12)


def test_weight_decay_is_applied_before_the_update_with_the_current_rate():
    # w = 2, wd = 0.5, lr = 0.1, g = 1: 2 - 2*0.5*0.1 = 1.9, then SGD: 1.8
    got = _one_step(fg.optimizers.SGD(learning_rate=0.1, weight_decay=0.5), [2.0], [1.0])[0]
    assert got == pytest.approx(1.8, rel=1e-12)


def test_clipnorm_is_per_gradient_and_global_clipnorm_over_all():
    # Gradients with norms 3 and 4 (global norm 5). SGD with lr = 1 moves w by -g_clipped.
    g1, g2 = np.array([3.0, 0.0]), np.array([0.0, 4.0])

    def step(**clip):
        opt = fg.optimizers.SGD(learning_rate=1.0, **clip)
        a, b = fg.Variable(np.zeros(2)), fg.Variable(np.zeros(2))
        opt.apply_gradients([(g1, a), (g2, b)])
        return -a.numpy(), -b.numpy()

    a, b = step(clipnorm=1.0)
    np.testing.assert_allclose(a, [1.0, 0.0])
    np.testing.assert_allclose(b, [0.0, 1.0])
    a, b = step(global_clipnorm=1.0)
    np.testing.assert_allclose(a, [0.6, 0.0])
    np.testing.assert_allclose(b, [0.0, 0.8])
    a, b = step(clipvalue=2.0)
    np.testing.assert_allclose(a, [2.0, 0.0])
    np.testing.assert_allclose(b, [0.0, 2.0])
    # Within the limits nothing changes; a threshold of 0 means no clipping, as in Keras.
    a, b = step(global_clipnorm=10.0)
    np.testing.assert_allclose(b, [0.0, 4.0])
    a, b = step(clipnorm=0.0)
    np.testing.assert_allclose(b, [0.0, 4.0])


def test_lion_sign_is_zero_for_zero():
    got = _one_step(fg.optimizers.Lion(learning_rate=0.1), [1.0, 1.0], [0.0, 2.0])
    np.testing.assert_allclose(got, [1.0, 0.9])


# ----- schedules


def _sgdr_geometric(step):
    """CosineDecayRestarts(0.1, first_decay_steps=2, t_mul=2, m_mul=0.5, alpha=0.1) by walking the
    periods: period i lasts 2 * 2**i steps and starts at rate 0.1 * 0.5**i."""
    start, length, i = 0, 2, 0
    while step >= start + length:
        start, length, i = start + length, length * 2, i + 1
    fraction = (step - start) / length
    return 0.1 * (0.9 * 0.5 * 0.5**i * (1 + math.cos(math.pi * fraction)) + 0.1)


def _schedule_cases():
    return [
        (
            schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5),
            lambda s: 0.1 * 0.5 ** (s / 4),
        ),
        (
            schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True),
            lambda s: 0.1 * 0.5 ** math.floor(s / 4),
        ),
        (
            schedules.InverseTimeDecay(0.1, decay_steps=3, decay_rate=0.5),
            lambda s: 0.1 / (1 + 0.5 * s / 3),
        ),
        (
            schedules.InverseTimeDecay(0.1, decay_steps=3, decay_rate=0.5, staircase=True),
            lambda s: 0.1 / (1 + 0.5 * math.floor(s / 3)),
        ),
        (
            schedules.PiecewiseConstantDecay([3, 6], [0.1, 0.05, 0.01]),
            lambda s: 0.1 if s <= 3 else (0.05 if s <= 6 else 0.01),
        ),
        (
            schedules.PolynomialDecay(0.1, decay_steps=8, end_learning_rate=0.01, power=2.0),
            lambda s: (0.1 - 0.01) * (1 - min(s, 8) / 8) ** 2 + 0.01,
        ),
        (
            schedules.PolynomialDecay(0.1, decay_steps=4, end_learning_rate=0.0, cycle=True),
            lambda s: 0.1 * (1 - s / (4 * (1 if s == 0 else math.ceil(s / 4)))),
        ),
        (
            schedules.CosineDecay(0.1, decay_steps=8, alpha=0.1),
            lambda s: 0.1 * ((1 - 0.1) * 0.5 * (1 + math.cos(math.pi * min(s, 8) / 8)) + 0.1),
        ),
        (
            schedules.CosineDecay(0.0, decay_steps=8, warmup_target=0.2, warmup_steps=4),
            lambda s: 0.2 * s / 4 if s < 4 else 0.2 * 0.5 * (1 + math.cos(math.pi * (min(s, 12) - 4) / 8)),
        ),
        (
            schedules.CosineDecayRestarts(0.1, first_decay_steps=4, t_mul=1.0, m_mul=0.5),
            lambda s: 0.1 * 0.5 * 0.5 ** math.floor(s / 4) * (1 + math.cos(math.pi * (s / 4 - math.floor(s / 4)))),
        ),
        (
            schedules.CosineDecayRestarts(0.1, first_decay_steps=2, t_mul=2.0, m_mul=0.5, alpha=0.1),
            _sgdr_geometric,
        ),
    ]


@pytest.mark.parametrize("index", range(len(_schedule_cases())))
def test_schedule_formula(index):
    schedule, formula = _schedule_cases()[index]
    for step in [0, 1, 2, 3, 4, 5, 6, 7, 9, 13, 30]:
        assert schedule(step) == pytest.approx(formula(step), rel=1e-12, abs=1e-15), f"step {step}"


@pytest.mark.parametrize("index", range(len(_schedule_cases())))
def test_optimizer_steps_the_schedule_per_apply_gradients(index):
    schedule, formula = _schedule_cases()[index]
    opt = fg.optimizers.SGD(learning_rate=schedule)
    v = fg.Variable(np.zeros(1))
    expected = 0.0
    for step in range(10):
        assert opt.learning_rate == pytest.approx(formula(step), rel=1e-12, abs=1e-15)
        opt.apply_gradients([(np.ones(1), v)])
        expected -= formula(step)
        np.testing.assert_allclose(v.numpy(), [expected], rtol=1e-12, atol=1e-15)
    assert opt.iterations == 10


def test_schedule_with_adam_and_weight_decay_uses_the_scheduled_rate():
    schedule = schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.3)
    weights, grad_steps = _problem(seed=3)
    opt = fg.optimizers.AdamW(learning_rate=schedule, weight_decay=0.2)
    expected = keras_reference("Adam", {}, weights, grad_steps, lambda s: 0.05 * 0.3 ** (s / 2), weight_decay=0.2)
    _assert_history(_run(opt, weights, grad_steps, np.float64), expected, np.float64)


def test_custom_schedule_and_callable_learning_rate():
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 1.0 / 2**step

    opt = fg.optimizers.SGD(learning_rate=Halving())
    v = fg.Variable(np.zeros(1))
    for _ in range(3):
        opt.apply_gradients([(np.ones(1), v)])
    np.testing.assert_allclose(v.numpy(), [-1.75])
    rate = {"value": 0.5}
    opt = fg.optimizers.SGD(learning_rate=lambda: rate["value"])
    v = fg.Variable(np.zeros(1))
    opt.apply_gradients([(np.ones(1), v)])
    rate["value"] = 0.25
    opt.apply_gradients([(np.ones(1), v)])
    np.testing.assert_allclose(v.numpy(), [-0.75])


def test_schedule_serialization_round_trip():
    schedule = schedules.CosineDecay(0.1, 100, alpha=0.2, warmup_target=0.3, warmup_steps=10)
    restored = schedules.deserialize(schedules.serialize(schedule))
    assert type(restored) is schedules.CosineDecay
    assert restored.get_config() == schedule.get_config()
    assert restored(37) == schedule(37)


# ----- Keras's optimizer API


def test_defaults_match_keras():
    assert fg.optimizers.SGD().learning_rate == pytest.approx(0.01)
    opt = fg.optimizers.Adam()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad) == (0.001, 0.9, 0.999, 1e-7, False)
    assert fg.optimizers.Adadelta().rho == 0.95
    assert (fg.optimizers.Lion().beta_1, fg.optimizers.Lion().beta_2) == (0.9, 0.99)
    assert fg.optimizers.SGD().name == "SGD"
    assert fg.optimizers.Adam().name == "adam"


@pytest.mark.parametrize(
    "name", ["adam", "ADAM", "sgd", "RMSprop", "adagrad", "adadelta", "adamw", "adamax", "nadam", "lion"]
)
def test_get_by_name(name):
    opt = fg.optimizers.get(name)
    assert type(opt).__name__.lower() == name.lower()
    assert opt.iterations == 0


def test_get_passes_instances_and_configs():
    opt = fg.optimizers.SGD(0.5)
    assert fg.optimizers.get(opt) is opt
    assert fg.optimizers.get(None) is None
    restored = fg.optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.2}})
    assert isinstance(restored, fg.optimizers.Adam) and restored.learning_rate == pytest.approx(0.2)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown optimizer.*Adam.*SGD"):
        fg.optimizers.get("adamm")


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_config_round_trip(kind):
    cls = getattr(fg.optimizers, kind)
    opt = cls(learning_rate=0.02, clipnorm=1.5, name="mine")
    config = opt.get_config()
    assert config["learning_rate"] == pytest.approx(0.02)
    assert config["clipnorm"] == 1.5 and config["name"] == "mine"
    restored = cls.from_config(config)
    assert restored.get_config() == config
    # Same updates from the same start.
    weights, grad_steps = _problem(seed=4)
    _assert_history(
        _run(restored, weights, grad_steps, np.float64),
        _run(cls.from_config(config), weights, grad_steps, np.float64),
        np.float64,
    )


def test_config_with_schedule_round_trip():
    opt = fg.optimizers.Adam(learning_rate=schedules.PiecewiseConstantDecay([2], [0.1, 0.01]))
    config = opt.get_config()
    assert config["learning_rate"]["class_name"] == "PiecewiseConstantDecay"
    restored = fg.optimizers.Adam.from_config(config)
    assert restored.learning_rate == pytest.approx(0.1)
    restored.iterations = 3
    assert restored.learning_rate == pytest.approx(0.01)


def test_learning_rate_is_settable():
    opt = fg.optimizers.SGD(learning_rate=0.1)
    opt.learning_rate = 0.5
    assert opt.learning_rate == pytest.approx(0.5)
    assert _one_step(opt, [0.0], [1.0])[0] == pytest.approx(-0.5)
    opt.learning_rate = schedules.ExponentialDecay(1.0, 1, 0.5)
    assert opt.learning_rate == pytest.approx(0.5)  # evaluated at iterations = 1
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1


def test_none_gradients_are_skipped_with_a_warning():
    opt = fg.optimizers.SGD(learning_rate=1.0)
    a, b = fg.Variable(np.zeros(2), name="a"), fg.Variable(np.zeros(2), name="b")
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        opt.apply_gradients([(None, a), (np.ones(2), b)])
    np.testing.assert_allclose(a.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(b.numpy(), [-1.0, -1.0])
    with pytest.raises(ValueError, match="No gradients"):
        opt.apply_gradients([(None, a)])
    assert opt.apply_gradients([]) == 1


def test_apply_with_built_variables_and_tensor_gradients():
    opt = fg.optimizers.SGD(learning_rate=0.5)
    v = fg.Variable(np.ones(3, dtype=np.float32))
    opt.build([v])
    opt.apply([fg.tensor(np.ones(3, dtype=np.float64))])
    assert v.dtype == "float32"
    np.testing.assert_allclose(v.numpy(), [0.5, 0.5, 0.5])


def test_exclude_from_weight_decay():
    opt = fg.optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    kernel, bias = fg.Variable(np.ones(1), name="kernel"), fg.Variable(np.ones(1), name="bias")
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply_gradients([(np.zeros(1), kernel), (np.zeros(1), bias)])
    np.testing.assert_allclose(kernel.numpy(), [0.95])
    np.testing.assert_allclose(bias.numpy(), [1.0])


def test_loss_scale_factor_divides_the_gradients():
    opt = fg.optimizers.Adagrad(learning_rate=0.1, loss_scale_factor=4.0)
    assert opt.scale_loss(2.0) == 8.0
    got = _one_step(opt, [0.0], [4.0])[0]
    assert got == pytest.approx(-0.1 / math.sqrt(1.1 + 1e-7), rel=1e-12)


# ----- bad input


def test_gradient_shape_mismatch_names_both_shapes():
    opt = fg.optimizers.Adam()
    v = fg.Variable(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\[3, 2\].*\[2, 3\]"):
        opt.apply_gradients([(np.zeros((3, 2)), v)])
    assert opt.iterations == 0
    np.testing.assert_allclose(v.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_negative_learning_rate_is_rejected(kind):
    with pytest.raises(ValueError, match="learning_rate"):
        getattr(fg.optimizers, kind)(learning_rate=-0.1)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="momentum"):
        fg.optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="rho"):
        fg.optimizers.RMSprop(rho=-0.1)
    with pytest.raises(ValueError, match="beta_1"):
        fg.optimizers.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="beta_1"):
        fg.optimizers.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        fg.optimizers.Adagrad(initial_accumulator_value=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        fg.optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="weight_decay"):
        fg.optimizers.SGD(weight_decay=-1.0)
    with pytest.raises(ValueError, match="Only one of"):
        fg.optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm"):
        fg.optimizers.Adam(clipnorm=-1.0)
    with pytest.raises(ValueError, match="not recognized"):
        fg.optimizers.Adam(bogus=1)
    with pytest.raises(ValueError, match="learning_rate"):
        fg.optimizers.Adam(learning_rate="fast")
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)
    with pytest.raises(ValueError, match="boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(TypeError, match="Variables"):
        fg.optimizers.SGD().apply_gradients([(np.zeros(1), np.zeros(1))])


# ----- end to end


@pytest.mark.parametrize("kind", ["SGD", "RMSprop", "Adam", "AdamW", "Nadam"])
def test_least_squares_fit_with_gradient_tape(kind):
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.normal(size=(64, 3)).astype(np.float32))
    true_w = np.array([[1.5], [-2.0], [0.5]], dtype=np.float32)
    y = fg.tensor(x.numpy() @ true_w + 0.25)
    w = fg.Variable(np.zeros((3, 1), dtype=np.float32), name="w")
    b = fg.Variable(np.zeros((1,), dtype=np.float32), name="b")
    kwargs = {
        "SGD": {"learning_rate": 0.1, "momentum": 0.9},
        "AdamW": {"learning_rate": 0.05, "weight_decay": 0.0},
        # RMSprop's steps do not shrink with the gradient; a decaying rate lets it settle.
        "RMSprop": {"learning_rate": schedules.ExponentialDecay(0.05, decay_steps=100, decay_rate=0.2)},
    }
    opt = getattr(fg.optimizers, kind)(**kwargs.get(kind, {"learning_rate": 0.05}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(400):
            with fg.GradientTape() as tape:
                loss = ((x @ w + b - y) ** 2).mean()
            grads = tape.gradient(loss, [w, b])
            opt.apply_gradients(zip(grads, [w, b]))
    np.testing.assert_allclose(w.numpy(), true_w, atol=2e-2)
    np.testing.assert_allclose(b.numpy(), [0.25], atol=2e-2)
    assert loss.item() < 1e-3
