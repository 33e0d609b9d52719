"""Tests for ferrograd.callbacks (and plot_history), driven by a fake model and a fake fit.

The fake fit calls the hooks in the order Keras 3's ``fit`` does
(keras/src/backend/torch/trainer.py): set_model/set_params through ``CallbackList``,
``on_train_begin``, then per epoch ``on_epoch_begin``, per batch ``on_train_batch_begin`` /
``on_train_batch_end`` (stopping after a batch when ``model.stop_training``), ``on_epoch_end``
with the epoch logs, and ``on_train_end`` with the last epoch's logs.

During epoch ``e`` the fake model's weights are set to ``[full(2, e), full(3, -e)]``, so a
restored state tells which epoch it came from. Expected values are worked out by hand from
Keras's rules, quoted in each test.
"""

from __future__ import annotations

import csv
import math
import sys
import warnings

import numpy as np
import pytest

from ferrograd import callbacks as cb
from ferrograd import progbar as progbar_module
from ferrograd.plotting import plot_history


class FakeOptimizer:
    def __init__(self, learning_rate: float = 0.01) -> None:
        self._learning_rate = learning_rate
        self.iterations = 0

    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = float(value)


class FakeModel:
    """The interface the callbacks rely on."""

    def __init__(self, learning_rate: float = 0.01) -> None:
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.history = None
        self._weights = [np.zeros(2), np.zeros(3)]
        self.saved: list[tuple[str, str]] = []

    def set_epoch_weights(self, epoch: int) -> None:
        self._weights[0][:] = epoch  # updated in place, as an engine's buffers would be
        self._weights[1][:] = -epoch

    def get_weights(self) -> list[np.ndarray]:
        return list(self._weights)  # the live arrays: callbacks must copy what they keep

    def set_weights(self, weights) -> None:
        for mine, theirs in zip(self._weights, weights):
            mine[:] = theirs

    def save_weights(self, filepath, overwrite=True) -> None:
        self.saved.append(("weights", filepath))
        with open(filepath, "w") as f:
            f.write("weights")

    def save(self, filepath, overwrite=True) -> None:
        self.saved.append(("model", filepath))
        with open(filepath, "w") as f:
            f.write("model")


def fake_fit(model, callbacks, epoch_logs, steps=2, verbose=0, batch_losses=None):
    """Runs len(epoch_logs) epochs of ``steps`` batches; returns (History, epochs run)."""
    callback_list = cb.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=len(epoch_logs),
        steps=steps,
    )
    model.stop_training = False
    training_logs = {}
    callback_list.on_train_begin()
    epochs_run = 0
    for epoch, logs in enumerate(epoch_logs):
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            model.set_epoch_weights(epoch)
            loss = batch_losses[epoch][step] if batch_losses else 1.0
            callback_list.on_train_batch_end(step, {"loss": np.float32(loss)})
            if model.stop_training:
                break
        epoch_logs_dict = dict(logs)
        callback_list.on_epoch_end(epoch, epoch_logs_dict)
        training_logs = epoch_logs_dict
        epochs_run += 1
        if model.stop_training:
            break
    callback_list.on_train_end(training_logs)
    return model.history, epochs_run


def series(name, values):
    return [{name: v} for v in values]


# ----------------------------------------------------------------------------- History, CallbackList


def test_history_records_epoch_logs_and_is_set_on_model():
    model = FakeModel()
    logs = [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.5}]
    history, _ = fake_fit(model, [], logs)
    assert isinstance(history, cb.History)
    assert history.history == {"loss": [1.0, 0.5], "val_loss": [2.0, 1.5]}
    assert history.epoch == [0, 1]


def test_callback_list_order_and_defaults():
    calls = []

    class Recorder(cb.Callback):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def on_epoch_end(self, epoch, logs=None):
            calls.append(self.tag)

    first, second = Recorder("a"), Recorder("b")
    model = FakeModel()
    callback_list = cb.CallbackList([first, [second]], add_history=True, add_progbar=True, model=model, verbose=0)
    # User callbacks first (nested lists flattened), then History, then the progress bar.
    kinds = [type(c) for c in callback_list.callbacks]
    assert kinds == [Recorder, Recorder, cb.History, cb.ProgbarLogger]
    assert model.history is callback_list.callbacks[2]
    assert first.model is model and first.params == {"verbose": 0}
    callback_list.on_epoch_end(0, {"loss": 1.0})
    assert calls == ["a", "b"]


def test_callback_list_reuses_given_history_and_progbar():
    history, bar = cb.History(), cb.ProgbarLogger()
    callback_list = cb.CallbackList([history, bar], add_history=True, add_progbar=True, model=FakeModel())
    assert callback_list.callbacks == [history, bar]


def test_epoch_logs_added_by_a_callback_reach_later_ones():
    # ReduceLROnPlateau writes learning_rate into the epoch logs; History (after it) records it.
    model = FakeModel(learning_rate=0.5)
    history, _ = fake_fit(model, [cb.ReduceLROnPlateau(monitor="loss", patience=100)], series("loss", [1.0, 0.9]))
    assert history.history["learning_rate"] == [0.5, 0.5]


def test_batch_logs_are_sorted_python_floats():
    seen = []
    recorder = cb.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs))
    callback_list = cb.CallbackList([recorder], model=FakeModel())
    callback_list.on_train_batch_end(0, {"loss": np.float32(0.5), "accuracy": np.float64(0.25), "nested": {"a": 1}})
    # Keras's pythonify_logs: keys in sorted order, a nested dict's entries at its own key's place.
    assert list(seen[0]) == ["accuracy", "loss", "a"]
    assert all(type(value) is float for value in seen[0].values())


def test_base_train_batch_hooks_call_the_old_aliases():
    calls = []

    class Old(cb.Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch))

    fake_fit(FakeModel(), [Old()], series("loss", [1.0]), steps=2)
    assert calls == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1)]


class _BatchEnd(cb.Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


class _TestBatch(cb.Callback):
    def on_test_batch_begin(self, batch, logs=None):
        pass


@pytest.mark.parametrize(
    ("callback", "train", "test", "predict"),
    [
        (cb.Callback(), False, False, False),
        (cb.History(), False, False, False),
        (cb.EarlyStopping(), False, False, False),
        (cb.ReduceLROnPlateau(), False, False, False),
        (cb.CSVLogger("unused.csv"), False, False, False),
        (cb.ModelCheckpoint("unused.ckpt"), False, False, False),
        (cb.ModelCheckpoint("unused.ckpt", save_freq=10), True, False, False),
        (cb.TerminateOnNaN(), True, False, False),  # overrides the on_batch_end alias
        (cb.LambdaCallback(on_epoch_end=lambda epoch, logs: None), False, False, False),
        (cb.LambdaCallback(on_train_batch_begin=lambda batch, logs: None), True, False, False),
        (cb.LambdaCallback(on_predict_batch_end=lambda batch, logs: None), False, False, True),
        (_BatchEnd(), True, False, False),
        (_TestBatch(), False, True, False),
    ],
)
def test_needs_batch_hooks(callback, train, test, predict):
    assert callback._needs_batch_hooks("train") is train
    assert callback._needs_batch_hooks("test") is test
    assert callback._needs_batch_hooks("predict") is predict
    callback_list = cb.CallbackList([callback, cb.History()])
    assert callback_list._needs_batch_hooks("train") is train


def test_progbar_logger_needs_batches_only_to_redraw_on_a_terminal(monkeypatch):
    logger = cb.ProgbarLogger()
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 10})
    monkeypatch.setattr(progbar_module, "_is_dynamic_display", lambda: False)
    assert not logger._needs_batch_hooks("train")  # one line per epoch, from the epoch logs
    monkeypatch.setattr(progbar_module, "_is_dynamic_display", lambda: True)
    assert logger._needs_batch_hooks("train")
    assert logger._needs_batch_hooks("test")  # evaluate draws its own bar
    logger.on_train_begin()
    assert not logger._needs_batch_hooks("test")  # validation inside fit is silent
    logger.set_params({"verbose": 2, "epochs": 1, "steps": 10})
    assert not logger._needs_batch_hooks("train")
    logger.set_params({"verbose": "auto", "epochs": 1, "steps": 10})
    assert logger.verbose == 1 and logger._needs_batch_hooks("train")


def test_needs_batch_hooks_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        cb.Callback()._needs_batch_hooks("validate")


# ----------------------------------------------------------------------------- EarlyStopping


def test_early_stopping_patience():
    # val_loss 1.0, 0.9 (best), 0.95 (wait 1), 0.96 (wait 2 >= patience 2: stop after epoch 4).
    model = FakeModel()
    stopper = cb.EarlyStopping(patience=2)
    history, run = fake_fit(model, [stopper], series("val_loss", [1.0, 0.9, 0.95, 0.96, 0.97, 0.5]))
    assert run == 4 and stopper.stopped_epoch == 3
    assert history.history["val_loss"] == [1.0, 0.9, 0.95, 0.96]


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    stopper = cb.EarlyStopping(monitor="loss")
    _, run = fake_fit(FakeModel(), [stopper], series("loss", [3.0, 2.0, 2.5, 1.0]))
    assert run == 3


def test_early_stopping_min_delta():
    # loss 1.0 then 0.95: an improvement of 0.05 < min_delta 0.1 counts as none -> stop at epoch 2.
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(monitor="loss", min_delta=0.1)], series("loss", [1.0, 0.95, 0.8]))
    assert run == 2
    # A negative min_delta means the same (Keras takes its absolute value).
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(monitor="loss", min_delta=-0.1)], series("loss", [1.0, 0.95]))
    assert run == 2
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(monitor="loss")], series("loss", [1.0, 0.95, 0.8]))
    assert run == 3


@pytest.mark.parametrize("monitor", ["val_accuracy", "acc", "val_auc", "val_precision", "recall_1"])
def test_early_stopping_auto_mode_maximizes_accuracy_like_metrics(monitor):
    # 0.5, 0.6 (best), 0.55 (wait 1 >= patience 1): stop after epoch 3.
    _, run = fake_fit(
        FakeModel(), [cb.EarlyStopping(monitor=monitor, patience=1)], series(monitor, [0.5, 0.6, 0.55, 0.7])
    )
    assert run == 3


def test_early_stopping_auto_mode_minimizes_other_names():
    _, run = fake_fit(
        FakeModel(), [cb.EarlyStopping(monitor="val_mae", patience=1)], series("val_mae", [0.5, 0.6, 0.4])
    )
    assert run == 2


def test_early_stopping_explicit_mode_and_metric_direction():
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(monitor="score", mode="max")], series("score", [1.0, 2.0, 1.5]))
    assert run == 3

    class Metric:
        name = "score"
        _direction = "up"

    model = FakeModel()
    model.metrics = [Metric()]
    _, run = fake_fit(model, [cb.EarlyStopping(monitor="val_score")], series("val_score", [1.0, 2.0, 1.5]))
    assert run == 3


def test_early_stopping_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="EarlyStopping mode best is unknown, fallback to auto mode."):
        stopper = cb.EarlyStopping(mode="best")
    assert stopper.mode == "auto"


def test_early_stopping_baseline():
    # Keras: the wait restarts only when the value beats both the best and the baseline; an
    # improving epoch returns before the patience check. val_loss 0.9, 0.8 (improving, wait 1, 2),
    # 0.85 (wait 3 >= 2): stop after epoch 3. Without a baseline the run reaches epoch 4.
    logs = series("val_loss", [0.9, 0.8, 0.85, 0.7])
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(patience=2, baseline=0.5)], logs)
    assert run == 3
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(patience=2)], logs)
    assert run == 4
    # Beating the baseline resets the wait like any improvement.
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(patience=2, baseline=0.95)], logs)
    assert run == 4


def test_early_stopping_restore_best_weights(capsys):
    # Best val_loss at epoch index 1 (0.5); stop after epoch index 3 (wait 2 >= patience 2).
    model = FakeModel()
    stopper = cb.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    _, run = fake_fit(model, [stopper], series("val_loss", [1.0, 0.5, 0.7, 0.8, 0.1]))
    assert run == 4
    np.testing.assert_array_equal(model.get_weights()[0], np.full(2, 1.0))
    np.testing.assert_array_equal(model.get_weights()[1], np.full(3, -1.0))
    out = capsys.readouterr().out
    assert out == "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"


def test_early_stopping_restores_best_weights_without_stopping(capsys):
    # Keras 3 restores at the end of training even when patience never ran out.
    model = FakeModel()
    stopper = cb.EarlyStopping(patience=5, restore_best_weights=True, verbose=1)
    fake_fit(model, [stopper], series("val_loss", [1.0, 0.5, 0.7]))
    np.testing.assert_array_equal(model.get_weights()[0], np.full(2, 1.0))
    assert capsys.readouterr().out == "Restoring model weights from the end of the best epoch: 2.\n"


def test_early_stopping_without_restore_keeps_last_weights():
    model = FakeModel()
    fake_fit(model, [cb.EarlyStopping(patience=1)], series("val_loss", [1.0, 0.5, 0.7, 0.8]))
    np.testing.assert_array_equal(model.get_weights()[0], np.full(2, 2.0))


def test_early_stopping_start_from_epoch():
    # Increasing loss: without warm-up, epoch index 1 is the first non-improvement -> 2 epochs.
    # With start_from_epoch=2, epochs 0 and 1 are ignored; best at index 2, stop at index 3.
    logs = series("loss", [1.0, 2.0, 3.0, 4.0, 5.0])
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(monitor="loss")], logs)
    assert run == 2
    _, run = fake_fit(FakeModel(), [cb.EarlyStopping(monitor="loss", start_from_epoch=2)], logs)
    assert run == 4


def test_early_stopping_missing_monitor_warns_with_available_keys():
    with pytest.warns(UserWarning, match=r"metric `val_loss` which is not available\. Available metrics are: loss,acc"):
        _, run = fake_fit(FakeModel(), [cb.EarlyStopping()], [{"loss": 1.0, "acc": 0.5}] * 3)
    assert run == 3


def test_early_stopping_instance_is_reusable():
    stopper = cb.EarlyStopping(monitor="loss", patience=1)
    fake_fit(FakeModel(), [stopper], series("loss", [0.1, 0.2, 0.3]))
    # A second fit starts afresh: 5.0 is not compared with the first run's best 0.1.
    _, run = fake_fit(FakeModel(), [stopper], series("loss", [5.0, 4.0, 3.0]))
    assert run == 3


# ----------------------------------------------------------------------------- ReduceLROnPlateau


def test_reduce_lr_on_plateau_cooldown_and_min_lr(capsys):
    # Constant loss, lr 1.0, factor 0.5, patience 1, cooldown 2, min_lr 0.2 (trace of Keras's rule):
    # e0 best; e1 wait 1 -> 0.5 (cooldown 2); e2 cooling (2->1); e3 cooldown ends (1->0), wait 1 ->
    # 0.25; e4 cooling; e5 -> max(0.125, 0.2) = 0.2; e6 cooling; e7 lr 0.2 is not above
    # float32(0.2): no change. The logs hold the rate in force during each epoch.
    model = FakeModel(learning_rate=1.0)
    reducer = cb.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=2, min_lr=0.2, verbose=1)
    history, _ = fake_fit(model, [reducer], series("loss", [1.0] * 8))
    assert history.history["learning_rate"] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
    assert model.optimizer.learning_rate == 0.2
    out = capsys.readouterr().out
    assert out == (
        "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.5.\n"
        "\nEpoch 4: ReduceLROnPlateau reducing learning rate to 0.25.\n"
        "\nEpoch 6: ReduceLROnPlateau reducing learning rate to 0.2.\n"
    )


def test_reduce_lr_on_plateau_without_cooldown():
    # Cooldown 0: every non-improving epoch past patience reduces: 1 -> 0.5 -> 0.25 -> 0.2 (min_lr).
    model = FakeModel(learning_rate=1.0)
    reducer = cb.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.2)
    history, _ = fake_fit(model, [reducer], series("loss", [1.0] * 5))
    assert history.history["learning_rate"] == [1.0, 1.0, 0.5, 0.25, 0.2]


def test_reduce_lr_on_plateau_min_delta_and_improvement():
    # min_delta 1e-4: a drop of 5e-5 is no improvement; a drop of 0.5 is.
    model = FakeModel(learning_rate=1.0)
    reducer = cb.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=2)
    history, _ = fake_fit(model, [reducer], series("val_loss", [1.0, 0.99995, 0.5, 0.49999, 0.49998]))
    # e1 wait 1; e2 improves (wait 0); e3 wait 1; e4 wait 2 -> lr 0.1 after epoch 5.
    assert history.history["learning_rate"] == [1.0, 1.0, 1.0, 1.0, 1.0]
    assert model.optimizer.learning_rate == pytest.approx(0.1)


def test_reduce_lr_on_plateau_rejects_factor_at_least_one():
    with pytest.raises(ValueError, match="does not support a factor >= 1.0. Received factor=1.5"):
        cb.ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_on_plateau_missing_monitor_warns():
    with pytest.warns(UserWarning, match="Available metrics are: loss,learning_rate."):
        fake_fit(FakeModel(), [cb.ReduceLROnPlateau()], series("loss", [1.0]))


# ----------------------------------------------------------------------------- LearningRateScheduler


def test_learning_rate_scheduler_two_argument_schedule(capsys):
    model = FakeModel(learning_rate=1.0)
    scheduler = cb.LearningRateScheduler(lambda epoch, lr: lr if epoch < 1 else lr * 0.5, verbose=1)
    history, _ = fake_fit(model, [scheduler], series("loss", [1.0, 1.0, 1.0]))
    assert history.history["learning_rate"] == [1.0, 0.5, 0.25]
    assert capsys.readouterr().out.splitlines()[1:4:2] == [
        "Epoch 1: LearningRateScheduler setting learning rate to 1.0.",
        "Epoch 2: LearningRateScheduler setting learning rate to 0.5.",
    ]


def test_learning_rate_scheduler_one_argument_schedule():
    model = FakeModel()
    history, _ = fake_fit(model, [cb.LearningRateScheduler(lambda epoch: 0.1 * (epoch + 1))], series("loss", [1, 1]))
    assert history.history["learning_rate"] == [pytest.approx(0.1), pytest.approx(0.2)]


def test_learning_rate_scheduler_requires_a_float():
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a float. Got: 1"):
        fake_fit(FakeModel(), [cb.LearningRateScheduler(lambda epoch, lr: 1)], series("loss", [1.0]))


# ----------------------------------------------------------------------------- TerminateOnNaN


def test_terminate_on_nan_stops_after_the_batch(capsys):
    model = FakeModel()
    losses = [[1.0, 1.0, 1.0], [1.0, math.nan, 1.0], [1.0, 1.0, 1.0]]
    history, run = fake_fit(model, [cb.TerminateOnNaN()], series("loss", [1, 1, 1]), steps=3, batch_losses=losses)
    assert run == 2 and model.stop_training
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"


def test_terminate_on_nan_infinite_loss_and_raise_error():
    losses = [[math.inf, 1.0]]
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        fake_fit(FakeModel(), [cb.TerminateOnNaN(raise_error=True)], series("loss", [1]), batch_losses=losses)


# ----------------------------------------------------------------------------- CSVLogger


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger_writes_sorted_columns(tmp_path):
    path = tmp_path / "log.csv"
    logs = [{"val_loss": 2.0, "loss": 1.0, "acc": 0.5}, {"val_loss": 1.5, "loss": 0.5, "acc": 0.75}]
    fake_fit(FakeModel(), [cb.CSVLogger(path)], logs)
    assert read_rows(path) == [
        ["epoch", "acc", "loss", "val_loss"],
        ["0", "0.5", "1.0", "2.0"],
        ["1", "0.75", "0.5", "1.5"],
    ]


def test_csv_logger_append_and_separator(tmp_path):
    path = tmp_path / "log.csv"
    fake_fit(FakeModel(), [cb.CSVLogger(path, separator=";")], series("loss", [1.0]))
    fake_fit(FakeModel(), [cb.CSVLogger(path, separator=";", append=True)], series("loss", [0.5, 0.25]))
    # Appending writes no second header; epochs count from 0 in each fit, as in Keras.
    assert path.read_text().splitlines() == ["epoch;loss", "0;1.0", "0;0.5", "1;0.25"]
    # Without append the file is overwritten.
    fake_fit(FakeModel(), [cb.CSVLogger(path)], series("loss", [9.0]))
    assert read_rows(path) == [["epoch", "loss"], ["0", "9.0"]]


def test_csv_logger_append_to_new_file_writes_header(tmp_path):
    path = tmp_path / "new.csv"
    fake_fit(FakeModel(), [cb.CSVLogger(path, append=True)], series("loss", [1.0]))
    assert read_rows(path) == [["epoch", "loss"], ["0", "1.0"]]


def test_csv_logger_missing_values_and_arrays(tmp_path):
    path = tmp_path / "log.csv"
    model = FakeModel()
    model.metrics_names = ["loss", "val_loss"]
    logs = [{"loss": 1.0, "vec": np.array([1, 2])}, {"loss": 0.5}]
    fake_fit(model, [cb.CSVLogger(path)], logs)
    # val_loss is expected from the model's names but absent: "NA"; arrays are written as a list.
    assert read_rows(path) == [
        ["epoch", "loss", "vec", "val_loss"],
        ["0", "1.0", '"[1, 2]"', "NA"],
        ["1", "0.5", "NA", "NA"],
    ]


# ----------------------------------------------------------------------------- ModelCheckpoint


def test_model_checkpoint_formats_file_names(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "w-{epoch:02d}-{val_loss:.2f}.weights")
    fake_fit(model, [cb.ModelCheckpoint(pattern, save_weights_only=True)], series("val_loss", [0.912, 1.0]))
    assert model.saved == [
        ("weights", str(tmp_path / "ckpt" / "w-01-0.91.weights")),
        ("weights", str(tmp_path / "ckpt" / "w-02-1.00.weights")),
    ]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["w-01-0.91.weights", "w-02-1.00.weights"]


def test_model_checkpoint_save_best_only(tmp_path, capsys):
    model = FakeModel()
    pattern = str(tmp_path / "m-{epoch}.model")
    checkpoint = cb.ModelCheckpoint(pattern, save_best_only=True, verbose=1)
    fake_fit(model, [checkpoint], series("val_loss", [0.9, 1.0, 0.8]))
    assert [kind for kind, _ in model.saved] == ["model", "model"]
    assert [p.split("/")[-1] for _, p in model.saved] == ["m-1.model", "m-3.model"]
    out = capsys.readouterr().out
    assert f"\nEpoch 1: val_loss improved from inf to 0.90000, saving model to {tmp_path}/m-1.model\n" in out
    assert "\nEpoch 2: val_loss did not improve from 0.90000\n" in out
    assert f"\nEpoch 3: finished saving model to {tmp_path}/m-3.model\n" in out


def test_model_checkpoint_max_mode_and_initial_threshold(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "m-{epoch}.model")
    checkpoint = cb.ModelCheckpoint(pattern, monitor="val_accuracy", save_best_only=True, initial_value_threshold=0.85)
    fake_fit(model, [checkpoint], series("val_accuracy", [0.8, 0.9, 0.88]))
    assert [p.split("/")[-1] for _, p in model.saved] == ["m-2.model"]


def test_model_checkpoint_save_freq_in_batches(tmp_path):
    # save_freq=2 with 3 batches an epoch: after batch 2 of epoch 1, then batches 1 and 3 of epoch 2.
    model = FakeModel()
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.model"), save_freq=2)
    fake_fit(model, [checkpoint], series("loss", [1.0, 1.0]), steps=3)
    assert [p.split("/")[-1] for _, p in model.saved] == ["e1-b2.model", "e2-b1.model", "e2-b3.model"]


def test_model_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="Unrecognized save_freq: often"):
        cb.ModelCheckpoint("x", save_freq="often")
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        fake_fit(FakeModel(), [cb.ModelCheckpoint(str(tmp_path / "{val_auc}.model"))], series("loss", [1.0]))
    with pytest.raises(OSError, match="non-directory filepath"):
        fake_fit(FakeModel(), [cb.ModelCheckpoint(str(tmp_path))], series("loss", [1.0]))


def test_model_checkpoint_missing_monitor_warns_and_saves(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available."):
        fake_fit(model, [cb.ModelCheckpoint(str(tmp_path / "m.model"), save_best_only=True)], series("loss", [1.0]))
    assert len(model.saved) == 1


# ----------------------------------------------------------------------------- LambdaCallback


def test_lambda_callback_calls_its_functions():
    events = []
    callback = cb.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(f"epoch_begin {epoch}"),
        on_train_batch_begin=lambda batch, logs: events.append(f"batch_begin {batch}"),
        on_train_batch_end=lambda batch, logs: events.append(f"batch_end {batch} {logs['loss']}"),
        on_epoch_end=lambda epoch, logs: events.append(f"epoch_end {epoch} {logs['loss']}"),
        on_train_end=lambda logs: events.append(f"train_end {logs['loss']}"),
        on_test_end=lambda logs: events.append("test_end"),
    )
    fake_fit(FakeModel(), [callback], series("loss", [0.5]), steps=2)
    assert events == [
        "train_begin",
        "epoch_begin 0",
        "batch_begin 0",
        "batch_end 0 1.0",
        "batch_begin 1",
        "batch_end 1 1.0",
        "epoch_end 0 0.5",
        "train_end 0.5",
    ]
    callback.on_test_end({})
    assert events[-1] == "test_end"


# ----------------------------------------------------------------------------- ProgbarLogger in fit


def test_progbar_logger_in_fit_verbose_2(capsys, monkeypatch):
    clock = iter(np.arange(0.0, 100.0, 0.25))
    monkeypatch.setattr(progbar_module, "_now", lambda: float(next(clock)))
    fake_fit(FakeModel(), [], [{"loss": 0.5, "val_loss": 0.25}, {"loss": 0.125, "val_loss": 0.0001}], verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2"
    assert lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 - 0s - ") and lines[1].endswith(" - loss: 0.5000 - val_loss: 0.2500")
    assert lines[3].endswith(" - loss: 0.1250 - val_loss: 1.0000e-04")
    assert len(lines) == 4


def test_progbar_logger_evaluate_and_silent_validation(capsys, monkeypatch):
    monkeypatch.setattr(progbar_module, "_is_dynamic_display", lambda: False)
    logger = cb.ProgbarLogger()
    callback_list = cb.CallbackList([logger], model=FakeModel(), verbose=1, epochs=1, steps=4)
    # evaluate(): its own bar, one line when not on a terminal.
    callback_list.on_test_begin()
    for step in range(4):
        callback_list.on_test_batch_end(step, {"loss": 0.5})
    callback_list.on_test_end({"loss": 0.5})
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("4/4 ━━━━━━━━━━━━━━━━━━━━ ") and out.endswith(" - loss: 0.5000\n")
    # Inside fit, validation prints nothing; one epoch prints no "Epoch 1/1" line.
    callback_list.on_train_begin()
    callback_list.on_epoch_begin(0)
    callback_list.on_test_begin()
    callback_list.on_test_batch_end(0, {"loss": 1.0})
    callback_list.on_test_end({"loss": 1.0})
    assert capsys.readouterr().out == ""
    callback_list.on_epoch_end(0, {"loss": 0.25, "val_loss": 1.0})
    assert capsys.readouterr().out.endswith(" - loss: 0.2500 - val_loss: 1.0000\n")


# ----------------------------------------------------------------------------- plot_history


def test_plot_history_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"pip install ferrograd\[plot\]"):
        plot_history({"loss": [1.0, 0.5]})


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = cb.History()
    history.history = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.2, 0.7, 0.5], "accuracy": [0.5, 0.7, 0.8]}
    history.epoch = [0, 1, 2]
    path = tmp_path / "curves.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no backend or legend warnings
        fig = plot_history(history, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["loss", "val_loss"]
    fig = plot_history(history.history, metrics=["val_accuracy"])
    assert [ax.get_title() for ax in fig.axes] == ["accuracy"]


def test_plot_history_rejects_unknown_metric_and_empty_history():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="no metric 'auc' in the history; it has loss"):
        plot_history({"loss": [1.0]}, metrics=["auc"])
    with pytest.raises(ValueError, match="the history is empty"):
        plot_history({})
