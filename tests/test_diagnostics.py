"""Gradient insight: fg.diagnostics.gradient_report, fg.callbacks.GradientMonitor and
fg.utils.plot_gradient_flow, on constructed cases whose verdict is known from the maths (a deep
sigmoid stack vanishes, a badly scaled deep stack explodes, ReLU with He initialization is
healthy, ReLUs behind a large negative bias are dead, a NaN weight is found)."""

import math
import warnings

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import layers

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 16)).astype("float32")
Y = RNG.integers(0, 4, 64)


def mlp(depth, activation, initializer="glorot_uniform", width=32, optimizer=None, batchnorm=False, seed=0):
    fg.utils.set_random_seed(seed)
    model = fg.Sequential([fg.Input((16,))])
    for _ in range(depth):
        model.add(layers.Dense(width, activation=activation, kernel_initializer=initializer))
        if batchnorm:
            model.add(layers.BatchNormalization())
    model.add(layers.Dense(4))
    model.compile(
        optimizer=optimizer or fg.optimizers.SGD(0.01),
        loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def weights_of(model):
    return [w.numpy().copy() for w in model.weights]


def tape_gradients(model, x, y):
    """The gradients of the compiled loss, computed independently with a GradientTape."""
    loss_fn = fg.losses.SparseCategoricalCrossentropy(from_logits=True)
    with fg.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    return loss, tape.gradient(loss, model.trainable_weights)


# ----- gradient_report


def test_a_deep_sigmoid_network_is_vanishing():
    report = fg.diagnostics.gradient_report(mlp(20, "sigmoid"), X, Y)
    assert report.verdict == "vanishing"
    assert report.first_last_ratio < 1e-6
    assert report.layers[0].verdict == "vanishing" and report.layers[-1].verdict == "healthy"
    # The gradient shrinks layer by layer going back from the output (sigmoid' <= 1/4).
    norms = [layer.gradient_norm for layer in report.layers]
    assert norms[0] < norms[5] < norms[10] < norms[15] < norms[-1]
    assert any("ReLU" in r or "relu" in r for r in report.remedies)


def test_relu_with_he_initialization_is_healthy():
    report = fg.diagnostics.gradient_report(mlp(20, "relu", "he_normal"), X, Y)
    assert report.verdict == "healthy", str(report)
    assert 1e-2 < report.first_last_ratio < 1e2
    assert all(layer.dead_fraction < 0.5 for layer in report.layers if layer.dead_fraction is not None)
    assert report.remedies == []


def test_a_badly_scaled_deep_network_is_exploding():
    init = fg.initializers.RandomNormal(stddev=1.0)
    report = fg.diagnostics.gradient_report(mlp(10, None, init, width=64), X, Y)
    assert report.verdict == "exploding", str(report)
    assert report.layers[0].gradient_norm > 1e3
    assert any("clip" in r for r in report.remedies)


def test_dead_relus_are_flagged():
    model = mlp(3, "relu", "he_normal")
    dense = model.layers[1]
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel, np.full_like(bias, -100.0)])  # no unit can fire
    report = fg.diagnostics.gradient_report(model, X, Y)
    layer = report.layer(dense.name)
    assert layer.dead_fraction == 1.0
    assert "dead units" in layer.verdicts
    # Nothing flows back through dead units: the layers below get exactly zero gradient.
    assert report.layers[0].gradient_norm == 0.0
    assert report.verdict in ("vanishing", "dead units")


def test_saturated_sigmoids_are_flagged():
    model = mlp(2, "sigmoid", fg.initializers.RandomNormal(stddev=5.0))
    report = fg.diagnostics.gradient_report(model, X * 5, Y)
    assert "saturated" in report.layers[0].verdicts
    assert report.layers[0].saturated_fraction > 0.5


def test_a_nan_weight_is_located():
    model = mlp(5, "relu", "he_normal")
    bad = model.layers[3]
    kernel, bias = bad.get_weights()
    kernel[2, 5] = np.nan
    bad.set_weights([kernel, bias])
    report = fg.diagnostics.gradient_report(model, X, Y)
    assert report.verdict == "non-finite"
    assert report.nonfinite["stage"] == "forward"
    assert report.nonfinite["layer"] == bad.name
    assert "kernel" in report.nonfinite["detail"]
    assert bad.name in str(report)


def test_a_nan_input_is_refused_with_its_shape():
    x = X.copy()
    x[3, 2] = np.inf
    with pytest.raises(ValueError, match=r"x \(shape \(64, 16\)\) contains 1 NaN or infinite"):
        fg.diagnostics.gradient_report(mlp(2, "relu"), x, Y)


def test_an_overflow_inside_a_layer_names_that_layer():
    model = mlp(2, "exponential")
    big = X * 1e3  # exp overflows float32 in the first layer, whose weights are finite
    report = fg.diagnostics.gradient_report(model, big, Y)
    assert report.nonfinite["stage"] == "forward"
    assert report.nonfinite["layer"] == model.layers[0].name
    assert "overflowed" in report.nonfinite["detail"]


def test_report_norms_equal_an_independent_gradient_tape():
    model = mlp(4, "tanh")
    report = fg.diagnostics.gradient_report(model, X, Y)
    loss, grads = tape_gradients(model, X, Y)
    assert report.loss == pytest.approx(float(loss.numpy()), rel=1e-5)
    reported = [w["gradient"]["norm"] for layer in report.layers for w in layer.weights]
    expected = [float(np.linalg.norm(g.numpy())) for g in grads]
    np.testing.assert_allclose(reported, expected, rtol=1e-4)


def test_update_ratio_is_the_compiled_optimizers_step():
    # SGD's step is lr * gradient, so the update norm is lr times the gradient norm.
    model = mlp(3, "relu", optimizer=fg.optimizers.SGD(0.5))
    report = fg.diagnostics.gradient_report(model, X, Y)
    for layer in report.layers:
        for w in layer.weights:
            assert w["update_norm"] == pytest.approx(0.5 * w["gradient"]["norm"], rel=1e-4)
    # Adam's first step moves every coordinate by about lr.
    model = mlp(3, "relu", optimizer=fg.optimizers.Adam(1e-3))
    report = fg.diagnostics.gradient_report(model, X, Y)
    kernel = report.layers[0].weights[0]
    assert kernel["update_norm"] == pytest.approx(1e-3 * math.sqrt(np.prod(kernel["shape"])), rel=0.05)


def test_weight_norms_are_those_before_the_step():
    fg.utils.set_random_seed(0)
    model = fg.Sequential([fg.Input((16,)), layers.Dense(8, kernel_initializer="zeros"), layers.Dense(4)])
    model.compile(optimizer=fg.optimizers.SGD(0.1), loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True))
    report = fg.diagnostics.gradient_report(model, X, Y)
    first = report.layers[0]
    assert [w["norm"] for w in first.weights] == [0.0, 0.0]
    assert first.update_ratio is None  # no ratio to a zero weight
    assert first.weights[1]["update_norm"] > 0  # yet the bias does move


def test_the_report_changes_nothing():
    model = mlp(3, "relu", optimizer=fg.optimizers.Adam(1e-2), batchnorm=True)
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    before = weights_of(model)  # includes BatchNormalization's moving statistics
    iterations = model.optimizer.iterations
    fg.diagnostics.gradient_report(model, X, Y)
    for a, b in zip(before, weights_of(model)):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == iterations
    # And training goes on exactly as without the report.
    twin = mlp(3, "relu", optimizer=fg.optimizers.Adam(1e-2), batchnorm=True)
    twin.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    a = model.train_on_batch(X[:16], Y[:16])
    b = twin.train_on_batch(X[:16], Y[:16])
    assert a == pytest.approx(b, rel=1e-6)


def test_to_dict_and_text():
    report = fg.diagnostics.gradient_report(mlp(3, "sigmoid"), X, Y)
    d = report.to_dict()
    assert d["verdict"] == report.verdict and len(d["layers"]) == 4
    assert {"gradient_norm", "update_ratio", "dead_fraction", "saturated_fraction", "verdict"} <= set(d["layers"][0])
    text = str(report)
    for layer in report.layers:
        assert layer.name in text
    assert "verdict:" in text and "first/last" in text


def test_threshold_overrides_and_bad_arguments():
    model = mlp(3, "sigmoid")
    strict = fg.diagnostics.gradient_report(model, X, Y, vanishing_ratio=0.9)
    assert strict.layers[0].verdict == "vanishing"
    with pytest.raises(TypeError, match="unknown threshold"):
        fg.diagnostics.gradient_report(model, X, Y, vanishing=0.1)
    with pytest.raises(TypeError, match="ferrograd Model"):
        fg.diagnostics.gradient_report(object(), X, Y)
    uncompiled = fg.Sequential([fg.Input((16,)), layers.Dense(2)])
    with pytest.raises(Exception, match="compile"):
        fg.diagnostics.gradient_report(uncompiled, X, Y)


# ----- GradientMonitor


def test_monitor_norms_equal_independent_tape_norms():
    model = mlp(3, "tanh", optimizer=fg.optimizers.SGD(0.1))
    twin = mlp(3, "tanh", optimizer=fg.optimizers.SGD(0.1))
    monitor = fg.callbacks.GradientMonitor(every_n_batches=1)
    history = model.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])
    assert monitor.history["step"] == [0, 1, 2, 3]
    assert history.gradients is monitor.history
    labels = list(monitor.history["weights"])
    assert labels[0] == f"{model.layers[0].name}/kernel"
    for step in range(4):
        xb, yb = X[16 * step : 16 * (step + 1)], Y[16 * step : 16 * (step + 1)]
        _, grads = tape_gradients(twin, xb, yb)
        for label, g in zip(labels, grads):
            recorded = monitor.history["weights"][label]["gradient_norm"][step]
            assert recorded == pytest.approx(float(np.linalg.norm(g.numpy())), rel=1e-4)
        before = weights_of(twin)
        twin.train_on_batch(xb, yb)
        # The recorded update is what the step changed.
        for label, old, new in zip(labels, before, weights_of(twin)):
            update = monitor.history["weights"][label]["update_norm"][step]
            assert update == pytest.approx(float(np.linalg.norm(new - old)), rel=1e-3, abs=1e-9)


def test_monitor_records_every_n_batches_and_uninstalls():
    model = mlp(2, "relu")
    monitor = fg.callbacks.GradientMonitor(every_n_batches=3)
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[monitor])  # 8 steps an epoch
    assert monitor.history["step"] == [0, 3, 6, 9, 12, 15]
    assert monitor.history["epoch"] == [0, 0, 0, 1, 1, 1]
    assert set(monitor.history["layers"]) == {layer.name for layer in model.layers}
    assert all(len(v) == 6 for v in monitor.history["layers"].values())
    # A later fit without the monitor records nothing.
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert monitor.history["step"] == [0, 3, 6, 9, 12, 15]


def test_monitor_counts_clipping():
    clipped = fg.callbacks.GradientMonitor(every_n_batches=1)
    mlp(2, "relu", optimizer=fg.optimizers.SGD(0.01, clipnorm=1e-6)).fit(
        X, Y, batch_size=16, epochs=1, verbose=0, callbacks=[clipped]
    )
    assert clipped.clip_fraction == 1.0
    free = fg.callbacks.GradientMonitor(every_n_batches=1)
    mlp(2, "relu").fit(X, Y, batch_size=16, epochs=1, verbose=0, callbacks=[free])
    assert free.clip_fraction == 0.0


def test_monitor_warns_once_on_vanishing():
    monitor = fg.callbacks.GradientMonitor(every_n_batches=1)
    with pytest.warns(RuntimeWarning, match="vanishing") as caught:
        mlp(20, "sigmoid").fit(X, Y, batch_size=16, epochs=2, verbose=0, callbacks=[monitor])
    first_layer = [w for w in caught if "'dense'" in str(w.message) or "layer 'dense'" in str(w.message)]
    assert len(first_layer) <= 1


def test_healthy_training_raises_no_warning():
    monitor = fg.callbacks.GradientMonitor(every_n_batches=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        mlp(4, "relu", "he_normal").fit(X, Y, batch_size=16, epochs=1, verbose=0, callbacks=[monitor])


def test_monitor_stops_on_a_nonfinite_loss_before_applying_it():
    # Least squares with a learning rate far above 2 / (largest curvature): every step multiplies
    # the error, and within a few epochs the float32 loss overflows.
    fg.utils.set_random_seed(0)
    model = fg.Sequential([fg.Input((16,)), layers.Dense(1)])
    model.compile(optimizer=fg.optimizers.SGD(5.0), loss="mse")
    y = X @ RNG.standard_normal((16, 1)).astype("float32")
    monitor = fg.callbacks.GradientMonitor(every_n_batches=1000, verbose=0, warn=False)
    history = model.fit(X, y, batch_size=16, epochs=200, shuffle=False, verbose=0, callbacks=[monitor])
    assert monitor.nonfinite is not None, "the loss never overflowed"
    assert monitor.nonfinite["stage"] in ("loss", "gradient")
    assert "step" in monitor.nonfinite["detail"]
    assert len(history.history["loss"]) < 200  # stopped early
    for w in weights_of(model):
        assert np.isfinite(w).all()  # the bad step was not applied


def test_monitor_argument_errors():
    with pytest.raises(ValueError, match="every_n_batches"):
        fg.callbacks.GradientMonitor(every_n_batches=0)
    with pytest.raises(TypeError, match="every_n_batches"):
        fg.callbacks.GradientMonitor(every_n_batches=1.5)


# ----- plot_gradient_flow


def test_plot_gradient_flow_writes_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    report = fg.diagnostics.gradient_report(mlp(6, "sigmoid"), X, Y)
    fg.utils.plot_gradient_flow(report, path=tmp_path / "report.png")
    monitor = fg.callbacks.GradientMonitor(every_n_batches=1)
    history = mlp(3, "relu").fit(X, Y, batch_size=16, epochs=2, verbose=0, callbacks=[monitor])
    fg.utils.plot_gradient_flow(history, path=tmp_path / "history.png")
    for name in ("report.png", "history.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_gradient_flow_rejects_other_things():
    pytest.importorskip("matplotlib")
    with pytest.raises(TypeError, match="GradientReport"):
        fg.utils.plot_gradient_flow([1, 2, 3])
    history = mlp(2, "relu").fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="GradientMonitor"):
        fg.utils.plot_gradient_flow(history)
