"""Sequential and functional models: building, compile/fit/evaluate/predict semantics (Keras 3's
logs, validation split, weights), callbacks, determinism, Ctrl-C and bad input."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import layers


def _regression_data(n: int = 64, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x @ rng.normal(size=(d, 1))).astype("float32")
    return x, y


def _linear_model(d: int = 4, lr: float = 0.0) -> fg.Sequential:
    model = fg.Sequential([layers.Input((d,)), layers.Dense(1)])
    model.compile(optimizer=fg.optimizers.SGD(learning_rate=lr), loss="mse")
    return model


def _mse(model: fg.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    kernel, bias = model.get_weights()
    pred = x.astype(np.float64) @ kernel + bias
    return np.mean((pred - y) ** 2, axis=-1)


# ----- fit semantics


def test_fit_learns_and_history_has_keras_keys():
    fg.utils.set_random_seed(0)
    x, y = _regression_data(256)
    labels = (y[:, 0] > 0).astype("int64")
    model = fg.Sequential(
        [layers.Input((4,)), layers.Dense(16, activation="relu"), layers.Dense(2, activation="softmax")]
    )
    model.compile(optimizer=fg.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=8, batch_size=32, validation_split=0.25, verbose=0)
    assert history is model.history
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == list(range(8))
    assert all(len(v) == 8 for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8


def test_logged_loss_is_the_sample_mean_over_uneven_batches():
    # Keras 3 weights each batch loss by its size: with a frozen model (lr=0) the epoch loss is the
    # mean over all samples even when the last batch is smaller.
    x, y = _regression_data(10)
    model = _linear_model()
    history = model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(float(np.mean(_mse(model, x, y))), rel=1e-5)


def test_validation_split_takes_the_last_samples_before_shuffling():
    x, y = _regression_data(40)
    y[-10:] += 100.0  # the last quarter is far off, so its loss tells which samples were held out
    model = _linear_model()
    history = model.fit(x, y, validation_split=0.25, epochs=1, shuffle=True, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(float(np.mean(_mse(model, x[-10:], y[-10:]))), rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(float(np.mean(_mse(model, x[:30], y[:30]))), rel=1e-5)


def test_validation_data_matches_evaluate():
    x, y = _regression_data(32)
    xv, yv = _regression_data(16, seed=1)
    model = _linear_model(lr=0.01)
    history = model.fit(x, y, validation_data=(xv, yv), epochs=2, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(xv, yv, verbose=0), rel=1e-5)


def test_sample_weight_and_class_weight():
    x, y = _regression_data(12)
    w = np.linspace(0.5, 2.0, 12).astype("float32")
    model = _linear_model()
    history = model.fit(x, y, sample_weight=w, batch_size=12, epochs=1, verbose=0)
    # sum_over_batch_size: sum(w * loss) / n
    expected = float(np.sum(w * _mse(model, x, y)) / 12)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)

    labels = np.array([0, 1, 1, 0, 2, 1, 0, 2, 2, 1, 0, 1])
    clf = fg.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    clf.compile(optimizer=fg.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    by_class = clf.fit(x, labels, class_weight={0: 1.0, 1: 3.0}, batch_size=12, verbose=0).history["loss"][0]
    as_samples = np.where(labels == 1, 3.0, 1.0)
    by_sample = clf.fit(x, labels, sample_weight=as_samples, batch_size=12, verbose=0).history["loss"][0]
    assert by_class == pytest.approx(by_sample, rel=1e-6)
    unweighted = clf.fit(x, labels, batch_size=12, verbose=0).history["loss"][0]
    assert by_class != pytest.approx(unweighted, rel=1e-3)


@pytest.mark.parametrize(
    ("loss", "units", "activation", "make_y"),
    [
        ("binary_crossentropy", 1, "sigmoid", lambda labels: labels[:, None].astype("float32")),
        ("categorical_crossentropy", 3, "softmax", lambda labels: np.eye(3)[labels]),
        ("sparse_categorical_crossentropy", 3, "softmax", lambda labels: labels),
    ],
)
def test_accuracy_resolves_from_the_loss_and_shapes(loss, units, activation, make_y):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4)).astype("float32")
    labels = rng.integers(0, 2 if units == 1 else 3, size=50)
    model = fg.Sequential([layers.Input((4,)), layers.Dense(units, activation=activation)])
    model.compile(optimizer=fg.optimizers.SGD(0.0), loss=loss, metrics=["accuracy"])
    _, acc = model.evaluate(x, make_y(labels), verbose=0)
    pred = model.predict(x, verbose=0)
    predicted = (pred[:, 0] > 0.5).astype(int) if units == 1 else pred.argmax(-1)
    assert acc == pytest.approx(float(np.mean(predicted == labels)))


def test_evaluate_predict_and_batch_methods():
    x, y = _regression_data(20)
    model = fg.Sequential([layers.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    loss, mae = model.evaluate(x, y, verbose=0)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert as_dict == {"loss": pytest.approx(loss), "mae": pytest.approx(mae)}
    pred = model.predict(x, batch_size=7, verbose=0)
    assert pred.shape == (20, 1) and pred.dtype == np.float32
    np.testing.assert_allclose(pred, np.asarray(model(x)), rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), pred[:5], rtol=1e-6)
    assert mae == pytest.approx(float(np.mean(np.abs(pred - y))), rel=1e-5)
    before = model.get_weights()
    batch_loss = model.train_on_batch(x[:8], y[:8])
    assert isinstance(batch_loss, list) and len(batch_loss) == 2
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    logs = model.test_on_batch(x[:8], y[:8], return_dict=True)
    assert set(logs) == {"loss", "mae"}


def test_functional_model_with_shared_layers_residuals_and_two_outputs():
    fg.utils.set_random_seed(1)
    a = fg.Input((4,), name="a")
    b = fg.Input((3,), name="b")
    shared = layers.Dense(8, activation="tanh")
    h = shared(a)
    r = layers.Add()([h, shared(layers.Dense(4)(b))])
    c = layers.Concatenate()([r, a])
    reg = layers.Dense(1, name="reg")(c)
    cls = layers.Dense(3, activation="softmax", name="cls")(c)
    model = fg.Model(inputs=[a, b], outputs=[reg, cls])
    assert [la.name for la in model.layers][:2] == ["a", shared.name]
    assert model.output_names == ["reg", "cls"]
    model.compile("adam", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"}, metrics={"cls": ["accuracy"]})
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(64, 4)), rng.normal(size=(64, 3))
    y_reg, y_cls = xa.sum(1, keepdims=True), (xb[:, 0] > 0).astype(int)
    history = model.fit({"a": xa, "b": xb}, [y_reg, y_cls], epochs=5, verbose=0)
    assert list(history.history) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]
    h = history.history
    np.testing.assert_allclose(np.array(h["loss"]), np.array(h["reg_loss"]) + np.array(h["cls_loss"]), rtol=1e-5)
    out_reg, out_cls = model.predict([xa, xb], verbose=0)
    assert out_reg.shape == (64, 1) and out_cls.shape == (64, 3)
    # the shared layer's weights are counted once
    assert model.count_params() == sum(int(np.prod(w.shape)) for w in model.weights)
    assert len(model.weights) == len({id(w) for w in model.weights})


def test_loss_weights_scale_the_total():
    x, y = _regression_data(16)
    inp = fg.Input((4,))
    out1 = layers.Dense(1, name="o1")(inp)
    out2 = layers.Dense(1, name="o2")(inp)
    model = fg.Model(inp, [out1, out2])
    model.compile(fg.optimizers.SGD(0.0), loss="mse", loss_weights=[1.0, 0.5])
    logs = model.evaluate(x, [y, y], verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["o1_loss"] + 0.5 * logs["o2_loss"], rel=1e-6)


def test_summary_counts_like_keras(capsys):
    model = fg.Sequential(
        [layers.Input((784,)), layers.Dense(512, activation="relu"), layers.Dense(256), layers.Dense(10)]
    )
    model.layers[1].trainable = False
    model.summary()
    out = capsys.readouterr().out
    assert "401,920" in out and "131,328" in out and "2,570" in out
    assert "Total params: 535,818 (2.04 MB)" in out
    assert "Trainable params: 404,490" in out
    assert "Non-trainable params: 131,328" in out
    assert "(None, 512)" in out


def test_frozen_layer_does_not_train():
    x, y = _regression_data(32)
    model = fg.Sequential([layers.Input((4,)), layers.Dense(4), layers.Dense(1)])
    model.layers[0].trainable = False
    model.compile("adam", "mse")
    frozen = model.layers[0].get_weights()
    trained = model.layers[1].get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for before, after in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(a, b) for a, b in zip(trained, model.layers[1].get_weights()))
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_python_layer_trains_inside_the_engine_loop():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

        def call(self, x):
            return x * self.scale

    x, y = _regression_data(64)
    y = 3.0 * x[:, :1]
    model = fg.Sequential([layers.Input((4,)), Scale(), layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.compile(fg.optimizers.SGD(0.05), "mse")
    before = model.layers[0].get_weights()[0].copy()
    history = model.fit(x, y, epochs=20, verbose=0)
    assert not np.array_equal(before, model.layers[0].get_weights()[0])
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]


def test_subclassed_model_trains():
    class TwoLayer(fg.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(1)

        def call(self, x, training=False):
            return self.out(self.hidden(x))

    x, y = _regression_data(64)
    model = TwoLayer()
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=10, verbose=0)
    assert len(model.trainable_weights) == 4
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x, verbose=0).shape == (64, 1)


def test_runs_repeat_exactly_with_a_seed_and_fixed_threads():
    def run() -> tuple[list[float], list[np.ndarray]]:
        fg.utils.set_random_seed(42)
        fg.set_num_threads(2)
        x, y = _regression_data(128)
        model = fg.Sequential(
            [layers.Input((4,)), layers.Dense(32, activation="relu"), layers.Dropout(0.3), layers.Dense(1)]
        )
        model.compile("adam", "mse")
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        return history.history["loss"], model.get_weights()

    loss_a, weights_a = run()
    loss_b, weights_b = run()
    assert loss_a == loss_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_weights_round_trip(tmp_path):
    x, y = _regression_data(16)
    model = fg.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(1)])
    path = tmp_path / "model.weights.safetensors"
    model.save_weights(path)
    other = fg.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(1)])
    other.load_weights(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))
    wrong = fg.Sequential([layers.Input((4,)), layers.Dense(2), layers.Dense(1)])
    with pytest.raises(ValueError, match="shape"):
        wrong.load_weights(path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        other.load_weights(path)


def test_learning_rate_schedule_steps_per_batch():
    x, y = _regression_data(40)
    schedule = fg.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model = fg.Sequential([layers.Input((4,)), layers.Dense(1)])
    model.compile(fg.optimizers.SGD(schedule), "mse")
    model.fit(x, y, batch_size=10, epochs=2, verbose=0)
    assert model.optimizer.iterations == 8
    assert model.optimizer.learning_rate == pytest.approx(0.1 * 0.5**8)


# ----- callbacks


class _Recorder(fg.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def test_callback_hooks_run_in_keras_order():
    x, y = _regression_data(20)
    model = _linear_model(lr=0.01)
    recorder = _Recorder()
    model.fit(x, y, batch_size=10, epochs=2, validation_split=0.5, callbacks=[recorder], verbose=0)
    assert recorder.calls == [
        ("train_begin",),
        ("epoch_begin", 0),
        ("batch_begin", 0),
        ("batch_end", 0, ["loss"]),
        ("epoch_end", 0, ["loss", "val_loss"]),
        ("epoch_begin", 1),
        ("batch_begin", 0),
        ("batch_end", 0, ["loss"]),
        ("epoch_end", 1, ["loss", "val_loss"]),
        ("train_end",),
    ]


def test_early_stopping_restores_the_best_weights():
    fg.utils.set_random_seed(5)
    x, y = _regression_data(64)
    xv, yv = x[:16], -y[:16]  # fitting the training data makes this validation loss worse
    model = _linear_model(lr=0.05)
    seen: list[list[np.ndarray]] = []
    keep = fg.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    stop = fg.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, validation_data=(xv, yv), epochs=30, callbacks=[keep, stop], verbose=0)
    val = history.history["val_loss"]
    assert len(val) < 30
    best = int(np.argmin(val))
    for got, want in zip(model.get_weights(), seen[best]):
        np.testing.assert_array_equal(got, want)


def test_stop_training_from_a_callback_and_reduce_lr():
    x, y = _regression_data(40)
    model = _linear_model(lr=0.1)

    class StopAfterThree(fg.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    history = model.fit(x, y, batch_size=4, epochs=5, callbacks=[StopAfterThree()], verbose=0)
    assert model.optimizer.iterations == 3
    assert len(history.history["loss"]) == 1


class _InterruptAt(layers.Layer):
    """Passes its input through; its ``at``-th training call sends the process SIGINT, as
    Ctrl-C would in the middle of a batch (the call runs on an engine thread)."""

    def __init__(self, at, **kwargs):
        super().__init__(**kwargs)
        self.at, self.training_calls = at, 0

    def call(self, inputs, training=False):
        if training:
            self.training_calls += 1
            if self.training_calls == self.at:
                os.kill(os.getpid(), signal.SIGINT)
        return inputs


def test_keyboard_interrupt_between_batches_leaves_the_model_usable():
    # The signal arrives during batch 5 (no timer: the same batch on any machine); fit stops at
    # the next batch boundary.
    x, y = _regression_data(4000, d=64)
    interrupt = _InterruptAt(5)
    model = fg.Sequential([layers.Input((64,)), layers.Dense(256, activation="relu"), interrupt, layers.Dense(1)])
    model.compile("adam", "mse")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=200, verbose=0)
    assert 5 <= model.optimizer.iterations <= 6
    assert np.isfinite(model.predict(x[:4], verbose=0)).all()
    model.fit(x[:64], y[:64], epochs=1, verbose=0)
    assert model.optimizer.iterations > 6


def test_progress_bar_prints_keras_lines(capsys):
    x, y = _regression_data(64)
    model = _linear_model(lr=0.01)
    model.compile(fg.optimizers.SGD(0.01), "mse", metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "4/4" in out and "loss:" in out and "mae:" in out
    # not a terminal: one line per epoch, no carriage-return redraws
    assert "\r" not in out
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


# ----- bad input


def test_bad_input_gives_clear_errors():
    x, y = _regression_data(10)
    model = fg.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="mean_squared_error"):
        model.compile("adam", loss="mean_sqared_error")
    with pytest.raises(ValueError, match="adam"):
        model.compile("adamm", loss="mse")
    with pytest.raises(ValueError, match="acuracy.*accuracy"):  # a misspelt metric fails at compile
        model.compile("adam", loss="sparse_categorical_crossentropy", metrics=["acuracy"])
    model.compile("adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(x, np.zeros(9), verbose=0)
    with pytest.raises(ValueError, match=r"label|class|range"):
        model.fit(x, np.full(10, 7), verbose=0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match=r"\(None, 4\)"):
        model.predict(np.zeros((2, 5)), verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, np.zeros(10), batch_size=0, verbose=0)
    with pytest.raises(TypeError):
        model.fit(np.array(["a"] * 10), np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match="Graph disconnected"):
        a, b = fg.Input((2,)), fg.Input((2,))
        fg.Model(a, layers.Add()([a, b]))


# ----- losses written in Python


def test_python_loss_function_and_loss_subclass_train_like_the_builtin():
    x, y = _regression_data(48)

    def my_mse(y_true, y_pred):
        return fg.ops.mean(fg.ops.square(y_pred - y_true), axis=-1)

    class MyMSE(fg.losses.Loss):
        def call(self, y_true, y_pred):
            return fg.ops.mean(fg.ops.square(y_pred - y_true), axis=-1)

    histories = []
    for loss in ["mse", my_mse, MyMSE()]:
        fg.utils.set_random_seed(3)
        model = fg.Sequential([layers.Input((4,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
        model.compile(fg.optimizers.SGD(0.05), loss=loss)
        histories.append(model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
    np.testing.assert_allclose(histories[2], histories[0], rtol=1e-5)


def test_python_loss_errors_propagate_unchanged():
    x, y = _regression_data(8)

    def broken(y_true, y_pred):
        raise ZeroDivisionError("inside the user's loss")

    model = fg.Sequential([layers.Input((4,)), layers.Dense(1)])
    model.compile("sgd", loss=broken)
    with pytest.raises(ZeroDivisionError, match="inside the user's loss"):
        model.fit(x, y, verbose=0)


def test_layer_losses_hold_the_regularization_penalties():
    dense = layers.Dense(3, kernel_regularizer=fg.regularizers.L2(0.1), bias_regularizer="l1")
    model = fg.Sequential([layers.Input((2,)), dense])
    kernel, bias = dense.get_weights()
    expected = [0.1 * np.sum(kernel.astype(np.float64) ** 2), 0.01 * np.sum(np.abs(bias))]
    np.testing.assert_allclose([float(v) for v in model.losses], expected, rtol=1e-6)
    assert dense.losses[0].requires_grad


def test_initial_epoch_continues_the_count(capsys):
    x, y = _regression_data(16)
    model = _linear_model(lr=0.01)
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=2)
    assert history.epoch == [3, 4]
    out = capsys.readouterr().out
    assert "Epoch 4/5" in out and "Epoch 5/5" in out and "Epoch 3/5" not in out


def test_model_checkpoint_saves_weights_each_epoch(tmp_path):
    x, y = _regression_data(16)
    model = _linear_model(lr=0.01)
    pattern = str(tmp_path / "w{epoch:02d}.weights.safetensors")
    checkpoint = fg.callbacks.ModelCheckpoint(pattern, monitor="loss", save_weights_only=True)
    model.fit(x, y, epochs=2, callbacks=[checkpoint], verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w01.weights.safetensors", "w02.weights.safetensors"]
    restored = _linear_model()
    restored.load_weights(tmp_path / "w02.weights.safetensors")
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_saves_the_whole_model_and_only_the_best(tmp_path):
    x, y = _regression_data(16)
    model = _linear_model(lr=0.01)
    path = tmp_path / "best.safetensors"
    whole = fg.callbacks.ModelCheckpoint(str(path), monitor="loss", save_best_only=True)
    history = model.fit(x, y, epochs=3, callbacks=[whole], verbose=0)
    assert [p.name for p in tmp_path.iterdir()] == ["best.safetensors"]
    restored = fg.load_model(path)
    # The loss fell every epoch, so the best is the last: same weights, same optimizer step.
    assert history.history["loss"] == sorted(history.history["loss"], reverse=True)
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert restored.optimizer.iterations == model.optimizer.iterations
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_python_layer_returning_a_non_tensor_is_a_type_error():
    class Bad(layers.Layer):
        def call(self, x):
            return "not a tensor"

    with pytest.raises(TypeError, match=r"Layer 'bad.*must return a tensor"):
        fg.Sequential([layers.Input((3,)), Bad()])
