"""Keras 3's callbacks: hooks that ``fit``, ``evaluate`` and ``predict`` call as they run.

Each class has the name, arguments, defaults, messages and behaviour of its Keras 3 namesake
(``keras/src/callbacks/*.py``)::

    import ferrograd as fg

    callbacks = [
        fg.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
        fg.callbacks.ReduceLROnPlateau(factor=0.5, patience=2),
        fg.callbacks.CSVLogger("training.csv"),
    ]
    history = model.fit(x, y, validation_split=0.2, epochs=50, callbacks=callbacks)
    history.history["val_loss"]

To write your own, subclass :class:`Callback` and override the hooks you need; ``self.model`` is
the model being trained and ``self.params`` holds ``{"verbose", "epochs", "steps"}``.

Per-batch hooks cost a call from the engine into Python at every batch, so the training loop
makes those calls only when some callback needs them: see :meth:`CallbackList._needs_batch_hooks`.
"""

from __future__ import annotations

import collections.abc
import csv
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import _core
from . import progbar as _progbar
from .diagnostics import REMEDIES
from .progbar import Progbar

__all__ = [
    "Callback",
    "CallbackList",
    "CSVLogger",
    "EarlyStopping",
    "GradientMonitor",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]

Logs = dict[str, Any]


def _default(method):
    """Marks a base-class hook as a no-op, so that overrides can be detected (Keras's
    ``utils.default``)."""
    method._is_default = True
    return method


_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


def _overrides_batch_hooks(callback: Callback, mode: str, ignore: Iterable[Callable] = ()) -> bool:
    """Whether ``callback`` does something in a batch hook of ``mode``: a hook that is neither
    the base class's no-op nor one of the functions in ``ignore``. Hooks assigned on the
    instance (``LambdaCallback``) count as overrides."""
    if mode not in _BATCH_HOOKS:
        raise ValueError(f"mode must be one of {sorted(_BATCH_HOOKS)}, got {mode!r}")
    ignored = set(ignore)
    for name in _BATCH_HOOKS[mode]:
        hook = getattr(callback, name)
        function = getattr(hook, "__func__", hook)
        if not getattr(function, "_is_default", False) and function not in ignored:
            return True
    return False


def _print_msg(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


class Callback:
    """Base class of callbacks. Every hook is a no-op; override the ones you need.

    Attributes:
        params: Dict of training parameters: ``verbose``, ``epochs``, ``steps`` (batches per
            epoch, ``None`` if unknown).
        model: The model being trained, evaluated or used for prediction.

    The ``logs`` dict a hook receives holds the quantities of the current batch or epoch: at
    the end of a training batch the running averages of ``loss`` and the metrics over the
    epoch so far; at the end of an epoch the epoch's ``loss`` and metrics plus, with
    validation data, the same names prefixed with ``val_``.
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] | None = None
        self._model = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    def _needs_batch_hooks(self, mode: str = "train") -> bool:
        """Whether the per-batch hooks of ``mode`` (``"train"``, ``"test"`` or ``"predict"``)
        must be called for this callback: true when a subclass overrides one of them."""
        return _overrides_batch_hooks(self, mode)

    @_default
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """A backwards compatibility alias for ``on_train_batch_begin``."""

    @_default
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """A backwards compatibility alias for ``on_train_batch_end``."""

    @_default
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the start of an epoch (``epoch`` counts from 0), during training only."""

    @_default
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the end of an epoch with the epoch's metrics, and the validation metrics
        prefixed with ``val_``: e.g. ``{"loss": 0.2, "accuracy": 0.7, "val_loss": 0.3}``."""

    @_default
    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called at the start of a training batch (``batch`` counts from 0 in each epoch)."""
        self.on_batch_begin(batch, logs=logs)

    @_default
    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called at the end of a training batch with the metrics averaged over the epoch so
        far."""
        self.on_batch_end(batch, logs=logs)

    @_default
    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called at the start of a batch in ``evaluate``, and of a validation batch in
        ``fit``."""

    @_default
    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called at the end of a batch in ``evaluate``, and of a validation batch in ``fit``,
        with the metrics averaged so far."""

    @_default
    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called at the start of a batch in ``predict``."""

    @_default
    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called at the end of a batch in ``predict``; ``logs["outputs"]`` holds its
        predictions."""

    @_default
    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called at the start of training."""

    @_default
    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called at the end of training with the logs of the last epoch."""

    @_default
    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Called at the start of evaluation or validation."""

    @_default
    def on_test_end(self, logs: Logs | None = None) -> None:
        """Called at the end of evaluation or validation with its metrics."""

    @_default
    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Called at the start of prediction."""

    @_default
    def on_predict_end(self, logs: Logs | None = None) -> None:
        """Called at the end of prediction."""


def _flatten(callbacks: Any) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, (list, tuple)):
        flat: list[Callback] = []
        for item in callbacks:
            flat.extend(_flatten(item))
        return flat
    return [callbacks]


def _pythonify_logs(logs: Logs) -> Logs:
    """Logs with sorted keys, nested dicts flattened and values converted to Python floats
    where possible (Keras's ``python_utils.pythonify_logs``)."""
    result: Logs = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                pass
            result[key] = value
    return result


class CallbackList(Callback):
    """Calls a list of callbacks together, as the training loop does.

    Args:
        callbacks: A list of :class:`Callback` (nested lists are flattened).
        add_history: Add a :class:`History` unless the list has one.
        add_progbar: Add a :class:`ProgbarLogger` unless the list has one.
        model: The model the callbacks are used with; ``model.history`` is set to the
            list's History.
        **params: Passed to every callback with ``set_params`` (``verbose``, ``epochs``,
            ``steps``).

    User callbacks run first, in the given order, then History, then the progress bar, so the
    bar and the History see what earlier callbacks add to the epoch logs (``learning_rate``).
    Batch-end logs are passed on with sorted keys and float values, as in Keras.
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | Callback | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.callbacks = _flatten(callbacks)
        self._add_default_callbacks(add_history, add_progbar)
        self.set_model(model)
        self.set_params(params)

    def _add_default_callbacks(self, add_history: bool, add_progbar: bool) -> None:
        self._progbar: ProgbarLogger | None = None
        self._history: History | None = None
        for callback in self.callbacks:
            if isinstance(callback, ProgbarLogger):
                self._progbar = callback
            elif isinstance(callback, History):
                self._history = callback
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)

    def append(self, callback: Callback) -> None:
        """Adds a callback at the end, giving it the list's model and params."""
        self.callbacks.append(callback)
        if self._model is not None:
            callback.set_model(self._model)
        if self.params:
            callback.set_params(self.params)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model: Any) -> None:
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _needs_batch_hooks(self, mode: str = "train") -> bool:
        """Whether any callback needs the per-batch hooks of ``mode`` (``"train"``, ``"test"``
        or ``"predict"``). When this is false the loop may skip ``on_*_batch_begin/end``
        altogether: nothing would observe them. Ask after ``on_train_begin`` /
        ``on_test_begin`` / ``on_predict_begin`` (the progress bar's answer depends on
        whether it runs inside ``fit``)."""
        return any(callback._needs_batch_hooks(mode) for callback in self.callbacks)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = _pythonify_logs(logs or {})
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs=logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        # One dict for all callbacks: what one adds (``learning_rate``) the next ones see.
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = _pythonify_logs(logs or {})
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_test_batch_begin(batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = _pythonify_logs(logs or {})
        for callback in self.callbacks:
            callback.on_test_batch_end(batch, logs=logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_predict_batch_begin(batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}  # predictions are passed as they are
        for callback in self.callbacks:
            callback.on_predict_batch_end(batch, logs=logs)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_test_begin(logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_test_end(logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_predict_begin(logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_predict_end(logs)


class History(Callback):
    """Records the epoch logs; ``fit`` returns it and sets ``model.history`` to it.

    Attributes:
        history: Dict from each log name (``loss``, metrics, ``val_*``) to its list of
            per-epoch values.
        epoch: The indices of the epochs recorded (from 0, or from ``initial_epoch``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []
        #: Gradient statistics per step, when a ``GradientMonitor`` ran (see its ``history``).
        self.gradients: dict[str, Any] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        # Set after every epoch, so the model holds the latest state.
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints the progress bar and the metrics to stdout (``fit`` adds it when ``verbose`` is
    not 0).

    ``verbose=1`` draws the bar on a terminal and writes one line per epoch elsewhere;
    ``verbose=2`` writes one line per epoch. With more than one epoch each starts with
    ``Epoch i/n``. Validation inside ``fit`` is silent; ``evaluate`` and ``predict`` get a bar
    of their own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose: int = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        verbose = params.get("verbose", 1)
        if verbose == "auto":
            verbose = 1
        self.verbose = verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _needs_batch_hooks(self, mode: str = "train") -> bool:
        # The bar only needs the batches to redraw itself in place (verbose=1 on a terminal);
        # the one-line forms are written from the epoch-end logs.
        own = (
            ProgbarLogger.on_train_batch_end,
            ProgbarLogger.on_test_batch_end,
            ProgbarLogger.on_predict_batch_end,
        )
        if _overrides_batch_hooks(self, mode, ignore=own):
            return True
        if self.verbose != 1 or not _progbar._is_dynamic_display():
            return False
        return not (mode == "test" and self._called_in_fit)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        # Inside fit, validation is silent.
        self._called_in_fit = True

    def on_test_begin(self, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            _print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        # Predictions are not metrics: not shown.
        self._update_progbar(batch, None)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._finalize_progbar(logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._finalize_progbar(logs)

    def _reset_progbar(self) -> None:
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self) -> None:
        if self.progbar is None:
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _update_progbar(self, batch: int, logs: Logs | None = None) -> None:
        self._maybe_init_progbar()
        self.seen = batch + 1  # one-indexed
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs: Logs | None) -> None:
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)


# Metrics Keras maximizes (``_direction = "up"`` in keras/src/metrics), for mode="auto" when
# the model does not say. Keras 3.0 decided by name: a monitor ending in acc, accuracy or auc
# is maximized, anything else minimized.
_MAXIMIZED_SUFFIXES = ("acc", "accuracy", "auc")
_MAXIMIZED_NAMES = frozenset(
    {
        "precision",
        "recall",
        "f1_score",
        "fbeta_score",
        "r2_score",
        "iou",
        "mean_iou",
        "binary_iou",
        "one_hot_iou",
        "one_hot_mean_iou",
        "cosine_similarity",
        "pearson_correlation",
        "concordance_correlation",
        "precision_at_recall",
        "recall_at_precision",
        "sensitivity_at_specificity",
        "specificity_at_sensitivity",
    }
)


def _metric_direction(model: Any, metric_name: str) -> str | None:
    """The direction (``"up"``/``"down"``) a model's metric object declares, if any."""
    metrics = getattr(model, "metrics", None)
    if not isinstance(metrics, collections.abc.Iterable):
        return None
    pending = list(metrics)
    while pending:
        metric = pending.pop()
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)):
            pending.extend(inner)
        if getattr(metric, "name", None) == metric_name and getattr(metric, "_direction", None) in ("up", "down"):
            return metric._direction
    return None


def _resolve_maximize(monitor: str, mode: str, model: Any) -> bool:
    """Whether a larger value of ``monitor`` is better, for mode ``"min"``, ``"max"`` or
    ``"auto"``. Auto: ``loss`` (with or without ``val_``) is minimized; a metric object of the
    model that declares a direction decides (Keras 3); else the name: ``...acc``,
    ``...accuracy``, ``...auc`` and Keras's other maximized metrics (precision, recall, ...)
    are maximized, everything else minimized."""
    if mode == "min":
        return False
    if mode == "max":
        return True
    name = monitor[len("val_") :] if monitor.startswith("val_") else monitor
    if name == "loss":
        return False
    direction = _metric_direction(model, name)
    if direction is not None:
        return direction == "up"
    if monitor.endswith(_MAXIMIZED_SUFFIXES):
        return True
    # Keras numbers repeated metric names: "precision_1".
    return re.sub(r"_\d+$", "", name) in _MAXIMIZED_NAMES


def _check_mode(mode: str, message: str) -> str:
    if mode not in ("auto", "min", "max"):
        warnings.warn(message, stacklevel=3)
        return "auto"
    return mode


def _copy_weights(weights: Iterable[Any]) -> list[np.ndarray]:
    # Copies, so that later updates of the model's buffers cannot change the saved state.
    return [np.array(w, copy=True) for w in weights]


class EarlyStopping(Callback):
    """Stops training when a monitored quantity has stopped improving.

    At the end of every epoch the monitored value is compared with the best so far; after
    ``patience`` epochs without an improvement of more than ``min_delta``, ``fit`` stops
    (``model.stop_training = True``).

    Args:
        monitor: Quantity to be monitored (a key of the epoch logs). Defaults to ``"val_loss"``.
        min_delta: Minimum change that counts as an improvement; a smaller change counts as
            none. Defaults to 0.
        patience: Number of epochs with no improvement after which training stops. Defaults to 0.
        verbose: 1 prints a message when the callback acts. Defaults to 0.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (inferred from the name: losses are minimized,
            accuracy-like metrics maximized). Defaults to ``"auto"``.
        baseline: If not ``None``, training stops unless the model improves on this value within
            ``patience`` epochs.
        restore_best_weights: At the end of training, restore the weights of the epoch with the
            best monitored value (whether or not training stopped early). Otherwise the weights
            of the last step are kept. Defaults to False.
        start_from_epoch: Number of warm-up epochs before monitoring starts. Defaults to 0.

    Example::

        callback = fg.callbacks.EarlyStopping(monitor="loss", patience=3)
        # Stops when the loss has not improved for three consecutive epochs.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch
        self.mode = _check_mode(mode, f"EarlyStopping mode {mode} is unknown, fallback to auto mode.")
        self.best: float | None = None
        self._maximize: bool | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        # Allow instances to be re-used.
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0
        self.best = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._maximize is None:
            # Decided at the first epoch end, when the model's metrics exist.
            self._maximize = _resolve_maximize(self.monitor, self.mode, self.model)
        if self.best is None:
            self.best = -np.inf if self._maximize else np.inf

        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            # No value to monitor, or still warming up.
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the current weights are the best.
            self.best_weights = _copy_weights(self.model.get_weights())
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _copy_weights(self.model.get_weights())
            # Only restart the wait if we beat both the baseline and our previous best.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            # Patience exceeded: stop training.
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Logs | None) -> Any:
        logs = logs or {}
        monitor_value = logs.get(self.monitor)
        if monitor_value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(list(logs.keys()))}",
                stacklevel=2,
            )
        return monitor_value

    def _is_improvement(self, monitor_value: float, reference_value: float) -> bool:
        if self._maximize:
            return bool(monitor_value - self.min_delta > reference_value)
        return bool(monitor_value + self.min_delta < reference_value)


class ModelCheckpoint(Callback):
    """Saves the model or its weights during training.

    Args:
        filepath: Where to save. It may contain format fields filled with ``epoch`` (counted
            from 1), ``batch`` (with ``save_freq`` in batches, from 1) and the keys of the logs:
            ``"ckpt-{epoch:02d}-{val_loss:.2f}.weights"``.
        monitor: The quantity compared when ``save_best_only`` (a key of the logs; prefix
            ``val_`` for validation metrics). Defaults to ``"val_loss"``.
        verbose: 1 prints a message when the callback saves (or declines to). Defaults to 0.
        save_best_only: Save only when the monitored quantity improves on the best so far.
        save_weights_only: Save with ``model.save_weights(filepath)`` rather than
            ``model.save(filepath)``.
        mode: ``"min"``, ``"max"`` or ``"auto"``, as for :class:`EarlyStopping`.
        save_freq: ``"epoch"`` to save at each epoch end, or an integer: save every that many
            batches.
        initial_value_threshold: Starting "best" value with ``save_best_only``: only a better
            model is saved.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = _check_mode(mode, f"ModelCheckpoint mode '{mode}' is unknown, fallback to auto mode.")
        self.best = initial_value_threshold
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._maximize: bool | None = None
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or integer values")

    def _needs_batch_hooks(self, mode: str = "train") -> bool:
        own = () if mode == "train" and self.save_freq != "epoch" else (ModelCheckpoint.on_train_batch_end,)
        return _overrides_batch_hooks(self, mode, ignore=own)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:  # a new epoch
            add_batches = batch + 1  # batches count from 0
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _set_monitor_op(self) -> None:
        # Decided at the first save, when the model's metrics exist. Without a threshold the
        # best starts at -inf or inf ("val_loss improved from inf to ...").
        self._maximize = _resolve_maximize(self.monitor, self.mode, self.model)
        if self.best is None:
            self.best = -np.inf if self._maximize else np.inf

    def _is_improvement(self, current: float) -> bool:
        return bool(current > self.best) if self._maximize else bool(current < self.best)

    def _should_save_model(self, epoch: int, logs: Logs, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                _print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn(
                "Can save best model only when `monitor` is a scalar value. "
                f"Received: {current}. Falling back to `save_best_only=False`.",
                stacklevel=2,
            )
            return True
        if self._maximize is None:
            self._set_monitor_op()
        best_str = f"{self.best:.5f}"
        if self._is_improvement(current):
            if self.verbose > 0:
                _print_msg(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to {current:.5f}, "
                    f"saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs: Logs | None) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {filepath}"
            )
        if not self._should_save_model(epoch, logs, filepath):
            return
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        elif not hasattr(self.model, "save"):
            raise NotImplementedError(
                "ModelCheckpoint(save_weights_only=False) needs whole-model saving, which this model does not "
                "have yet; use save_weights_only=True"
            )
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}') from e


class ReduceLROnPlateau(Callback):
    """Reduces the learning rate when a metric has stopped improving.

    After ``patience`` epochs without improvement the learning rate becomes
    ``max(lr * factor, min_lr)``; then ``cooldown`` epochs pass before counting again. The
    current rate is added to the epoch logs as ``learning_rate`` (so History records it).

    Args:
        monitor: Quantity to be monitored. Defaults to ``"val_loss"``.
        factor: Factor by which the learning rate is reduced, below 1. Defaults to 0.1.
        patience: Number of epochs with no improvement after which the rate is reduced.
            Defaults to 10.
        verbose: 1 prints a message at each reduction. Defaults to 0.
        mode: ``"min"``, ``"max"`` or ``"auto"``, as for :class:`EarlyStopping`.
        min_delta: Threshold for an improvement. Defaults to 1e-4.
        cooldown: Epochs to wait after a reduction before resuming normal operation.
        min_lr: Lower bound on the learning rate. Defaults to 0.

    Example::

        reduce_lr = fg.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=0.001)
        model.fit(x_train, y_train, callbacks=[reduce_lr])
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor = monitor
        self.mode = _check_mode(mode, f"ReduceLROnPlateau mode '{mode}' is unknown, fallback to auto mode.")
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0
        self.best: float | None = None
        self._maximize: bool | None = None

    def _reset(self) -> None:
        """Resets the wait and cooldown counters and the best value."""
        self.cooldown_counter = 0
        self.wait = 0
        self.best = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._maximize is None:
            self._maximize = _resolve_maximize(self.monitor, self.mode, self.model)
        if self.best is None:
            self.best = -np.inf if self._maximize else np.inf
        logs = {} if logs is None else logs
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(list(logs.keys()))}.",
                stacklevel=2,
            )
            return

        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0

        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(self.model.optimizer.learning_rate)
                # Compared in float32, as Keras does, so a rate stored as float32 that equals
                # min_lr is not reduced again.
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_improvement(self, current: float) -> bool:
        if self._maximize:
            return bool(current - self.min_delta > self.best)
        return bool(current + self.min_delta < self.best)


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch from a schedule.

    Args:
        schedule: A function ``schedule(epoch, lr) -> new_lr`` taking the epoch index (from 0)
            and the current learning rate (a float) and returning the new rate (a float).
            A function of the epoch alone, ``schedule(epoch)``, is accepted too.
        verbose: 1 prints the rate set at each epoch.

    The rate in force is added to the epoch logs as ``learning_rate``.

    Example::

        def scheduler(epoch, lr):
            return lr if epoch < 10 else lr * math.exp(-0.1)

        model.fit(x, y, epochs=15, callbacks=[fg.callbacks.LearningRateScheduler(scheduler)])
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _update_optimizer_lr(self, optimizer: Any, epoch: int) -> float:
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:  # the schedule(epoch, lr) form
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # the older schedule(epoch) form
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        learning_rate = self._update_optimizer_lr(self.model.optimizer, epoch)
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class TerminateOnNaN(Callback):
    """Stops training when the loss of a batch is NaN or infinite.

    Args:
        raise_error: False (default) stops gracefully (``model.stop_training = True``, the other
            callbacks' ``on_train_end`` still run); True raises ``RuntimeError`` at once.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. "
                    f"Loss value: {loss}. Terminating training immediately."
                )
            _print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Streams the epoch logs to a CSV file: a column ``epoch`` (from 0), then the log keys in
    sorted order.

    Args:
        filename: Path of the CSV file, e.g. ``"run/log.csv"``.
        separator: Field separator. Defaults to ``","``.
        append: True appends to an existing file (to continue a run; no second header); False
            overwrites it.

    Example::

        model.fit(x_train, y_train, callbacks=[fg.callbacks.CSVLogger("training.log")])
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer: csv.DictWriter | None = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # Closed in on_train_end. newline="" lets the csv module write its own line ends.
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}

        def handle_value(value: Any) -> Any:
            is_zero_dim_ndarray = isinstance(value, np.ndarray) and value.ndim == 0
            if isinstance(value, str):
                return value
            if isinstance(value, collections.abc.Iterable) and not is_zero_dim_ndarray:
                return f'"[{", ".join(map(str, value))}]"'
            return value

        if self.keys is None:
            self.keys = sorted(logs.keys())
            # Validation columns the model will produce, even if this epoch has none.
            for name in getattr(self.model, "metrics_names", None) or []:
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)

        if self.writer is None:
            separator = self.sep

            class CustomDialect(csv.excel):
                delimiter = separator

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], dialect=CustomDialect)
            if self.append_header:
                self.writer.writeheader()

        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """A callback built from plain functions.

    The functions are called with the hooks' arguments, positionally:

    - ``on_epoch_begin`` and ``on_epoch_end``: ``(epoch, logs)``
    - ``on_train_begin`` and ``on_train_end``: ``(logs)``
    - ``on_train_batch_begin`` and ``on_train_batch_end``: ``(batch, logs)``

    Any other hook of :class:`Callback` can be given by name in ``kwargs``, e.g.
    ``on_test_end=fn``.

    Example::

        print_batch = fg.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: print(batch))
    """

    def __init__(
        self,
        on_epoch_begin: Callable | None = None,
        on_epoch_end: Callable | None = None,
        on_train_begin: Callable | None = None,
        on_train_end: Callable | None = None,
        on_train_batch_begin: Callable | None = None,
        on_train_batch_end: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.__dict__.update(kwargs)
        if on_epoch_begin is not None:
            self.on_epoch_begin = on_epoch_begin
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end
        if on_train_begin is not None:
            self.on_train_begin = on_train_begin
        if on_train_end is not None:
            self.on_train_end = on_train_end
        if on_train_batch_begin is not None:
            self.on_train_batch_begin = on_train_batch_begin
        if on_train_batch_end is not None:
            self.on_train_batch_end = on_train_batch_end


class GradientMonitor(Callback):
    """Watches the gradients during ``fit``: ferrograd's own callback (Keras has none).

    The engine's training step records, every ``every_n_batches`` batches, the L2 norm and the
    largest absolute value of every weight's gradient, the size of the optimizer's update and of
    the weight, and whether the optimizer's clipping changed the step: all from the gradients the
    step has computed anyway (no extra backward pass), in Rust. On every batch it checks the loss
    (a single number) for NaN or infinity, so a bad step is caught when it happens. Python sees
    the records once an epoch.

    At the end of each epoch the monitor warns once per layer and problem when a layer's
    gradient is vanishing (its norm below ``vanishing_ratio`` times the last layer's, or below
    ``vanishing_norm``) or exploding (above ``exploding_ratio`` times the last layer's, or above
    ``exploding_norm``), naming the remedies. With ``stop_on_nonfinite`` (the default), a step
    whose loss or gradients are not finite is not applied, training stops, and the message names
    the layer and weight where it happened; :attr:`nonfinite` holds the details.

    Attributes:
        history: Per recorded step: ``step`` (batch index since ``fit`` began), ``epoch``,
            ``loss``, ``clipped``; ``weights`` maps ``"layer/weight"`` to its ``gradient_norm``,
            ``gradient_max_abs``, ``update_norm`` and ``weight_norm`` lists; ``layers`` maps each
            layer to its gradient norm (all its weights together). Also stored as
            ``history.gradients`` on the ``History`` that ``fit`` returns.
        nonfinite: ``{"stage", "layer", "detail"}`` of the first non-finite step, or None.
        clip_fraction: The fraction of recorded steps that the optimizer clipped.
    """

    def __init__(
        self,
        every_n_batches: int = 10,
        stop_on_nonfinite: bool = True,
        warn: bool = True,
        vanishing_ratio: float = 1e-3,
        vanishing_norm: float = 1e-7,
        exploding_ratio: float = 1e3,
        exploding_norm: float = 1e3,
        verbose: int = 1,
    ) -> None:
        super().__init__()
        if isinstance(every_n_batches, bool) or not isinstance(every_n_batches, (int, np.integer)):
            raise TypeError(f"every_n_batches must be a positive integer, got {every_n_batches!r}")
        if every_n_batches < 1:
            raise ValueError(f"every_n_batches must be a positive integer, got {every_n_batches}")
        self.every_n_batches = int(every_n_batches)
        self.stop_on_nonfinite = bool(stop_on_nonfinite)
        self.warn = bool(warn)
        self.vanishing_ratio = float(vanishing_ratio)
        self.vanishing_norm = float(vanishing_norm)
        self.exploding_ratio = float(exploding_ratio)
        self.exploding_norm = float(exploding_norm)
        self.verbose = verbose
        self.history: dict[str, Any] = {}
        self.nonfinite: dict[str, Any] | None = None
        self._warned: set[tuple[str, str]] = set()
        self._stopped = False
        self._reset()

    def _reset(self) -> None:
        self.history = {"step": [], "epoch": [], "loss": [], "clipped": [], "weights": {}, "layers": {}}
        self.nonfinite = None
        self._warned = set()
        self._stopped = False

    @property
    def clip_fraction(self) -> float:
        clipped = self.history["clipped"]
        return sum(clipped) / len(clipped) if clipped else 0.0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()
        _core.set_gradient_monitor(self.model._core(), self.every_n_batches, self.stop_on_nonfinite)

    def _append(self, table: dict[str, list[float]], key: str, value: float, length: int) -> None:
        # A weight that appears late (a layer unfrozen mid-training) is back-filled with NaN, so
        # every list stays aligned with ``history["step"]``.
        column = table.setdefault(key, [])
        column.extend([math.nan] * (length - len(column)))
        column.append(value)

    def _drain(self, epoch: int) -> list[tuple[int, dict[str, float]]]:
        """Moves the engine's records into ``history``; returns ``(step, {layer: norm})`` per
        record, the layer norms being all the layer's weight gradients together."""
        records, nonfinite = _core.take_gradient_records(self.model._core())
        h = self.history
        layer_norms = []
        for record in records:
            n = len(h["step"])
            h["step"].append(record["step"])
            h["epoch"].append(epoch)
            h["loss"].append(record["loss"])
            h["clipped"].append(record["clipped"])
            squares: dict[str, float] = {}
            for i, label in enumerate(record["labels"]):
                stats = h["weights"].setdefault(label, {})
                for key, values in (
                    ("gradient_norm", record["gradient_norms"]),
                    ("gradient_max_abs", record["gradient_max_abs"]),
                    ("update_norm", record["update_norms"]),
                    ("weight_norm", record["weight_norms"]),
                ):
                    self._append(stats, key, values[i], n)
                layer = label.rsplit("/", 1)[0]
                squares[layer] = squares.get(layer, 0.0) + record["gradient_norms"][i] ** 2
            norms = {layer: math.sqrt(v) for layer, v in squares.items()}
            for layer, norm in norms.items():
                self._append(h["layers"], layer, norm, n)
            layer_norms.append((record["step"], norms))
        if nonfinite is not None and self.nonfinite is None:
            self.nonfinite = nonfinite
        return layer_norms

    def _check(self, layer_norms: list[tuple[int, dict[str, float]]]) -> None:
        for step, norms in layer_norms:
            if not norms:
                continue
            last = list(norms.values())[-1]
            for layer, norm in norms.items():
                if not math.isfinite(norm):
                    continue
                ratio = norm / last if last > 0 and math.isfinite(last) else None
                kind = None
                if norm > self.exploding_norm or (ratio is not None and ratio > self.exploding_ratio):
                    kind = "exploding"
                elif norm < self.vanishing_norm or (ratio is not None and ratio < self.vanishing_ratio):
                    kind = "vanishing"
                if kind is None or (layer, kind) in self._warned:
                    continue
                self._warned.add((layer, kind))
                relative = "" if ratio is None else f" ({ratio:.2e} times the last layer's)"
                warnings.warn(
                    f"GradientMonitor: layer '{layer}' has a {kind} gradient at step {step}: "
                    f"norm {norm:.3e}{relative}. Remedies: " + "; ".join(REMEDIES[kind][:3]),
                    RuntimeWarning,
                    stacklevel=2,
                )

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        layer_norms = self._drain(epoch)
        if self.warn:
            self._check(layer_norms)
        if self.nonfinite is not None and self.stop_on_nonfinite and not self._stopped:
            self._stopped = True
            self.model.stop_training = True
            where = self.nonfinite.get("layer")
            message = (
                f"GradientMonitor: non-finite {self.nonfinite['stage']}"
                + (f" in layer '{where}'" if where else "")
                + f"; training stopped before applying that step. {self.nonfinite['detail']}"
            )
            if self.verbose:
                print(message)
            if self.warn:
                warnings.warn(message, RuntimeWarning, stacklevel=2)

    def on_train_end(self, logs: Logs | None = None) -> None:
        core = self.model._core()
        _core.set_gradient_monitor(core, None)
        history = getattr(self.model, "history", None)
        if isinstance(history, History):
            history.gradients = self.history

