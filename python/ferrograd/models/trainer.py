"""``Trainer``: the training half of :class:`~ferrograd.models.Model` (Keras's
``keras/src/trainers/trainer.py``): ``compile``, ``fit``, ``evaluate``, ``predict``, the
batch-level methods, the compile configs and the preparation of their data.

The compiled model is handed to the engine (``_core.Model``), which runs Keras's training loop
in Rust with the GIL released. Python runs between epochs (callbacks, validation) and, only when
a callback needs it (the progress bar, a batch hook), after each batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core, optimizers, saving
from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from . import data as data_utils

__all__ = ["Trainer"]


def _engine_loss(identifier: Any) -> dict[str, Any] | tuple[Any, Any] | None:
    """A compile loss for the engine: ``{"class_name", "config"}`` for a built-in loss (read and
    computed in Rust),
    ``(callable, reduction)`` for a loss written in Python (a function returning per-sample
    losses, or a ``Loss`` subclass's ``call``), which the engine calls back."""
    if identifier is None:
        return None
    loss = losses_module.get(identifier)
    if isinstance(loss, losses_module.Loss):
        name = type(loss).__name__
        config = loss.get_config()
        builtin = getattr(losses_module, name, None) is type(loss)
        if builtin and config.get("ignore_class") is None:
            return {"class_name": name, "config": config}
        return loss.call, loss.reduction
    name = getattr(loss, "__name__", None)
    if name is not None and getattr(losses_module, name, None) is loss:
        return {"class_name": name, "config": {}}
    if callable(loss):
        return loss, "sum_over_batch_size"
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


_COMPILE_ARGUMENTS = (
    "optimizer",
    "loss",
    "loss_weights",
    "metrics",
    "weighted_metrics",
    "run_eagerly",
    "steps_per_execution",
    "jit_compile",
    "auto_scale_loss",
)


def _sorted_logs(logs: dict[str, float]) -> dict[str, float]:
    """Keras 3 reports logs with sorted keys (``accuracy`` before ``loss``)."""
    return {k: float(logs[k]) for k in sorted(logs)}


# Metric names that resolve from the targets' and outputs' shapes on the first batch (Keras's
# compile shorthands); every other name must be a metric's.
_SHAPE_RESOLVED_METRICS = ("accuracy", "acc", "crossentropy", "ce")


def _batch_size(batch_size: Any) -> int:
    """Keras's default 32 for None; otherwise a positive int (not a float such as 2.5)."""
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive integer, got {batch_size!r} ({type(batch_size).__name__})")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    return int(batch_size)


def _validation_split(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"validation_split must be a float in [0, 1), the fraction of the data held out, got "
            f"{value!r} ({type(value).__name__})"
        )
    if not 0 <= value < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {value}")
    return float(value)


class Trainer:
    """Keras's ``Trainer`` mixin of :class:`Model`. It trains the model's graph through the
    model's ``_core()`` (the engine model), ``_inputs``, ``output_names``, ``_ensure_built`` and
    ``_restructure``."""

    # ----- compile

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
    ) -> None:
        """Keras's ``compile``: the optimizer (name or instance), the loss (name, instance, or one
        per output as a list or a dict by output name), loss weights and metrics."""
        if weighted_metrics:
            raise NotImplementedError("weighted_metrics is not supported yet; metrics are computed unweighted")
        self.optimizer = optimizers.get(optimizer)
        if self.optimizer is None:
            raise ValueError("compile needs an optimizer")
        self._compile_config = {
            "optimizer": self.optimizer,
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
            "run_eagerly": run_eagerly,
            "steps_per_execution": steps_per_execution,
            "jit_compile": jit_compile,
        }
        self.loss = loss
        self._compile_loss = loss
        self._compile_loss_weights = loss_weights
        self._compile_metrics = metrics
        self.compiled = True
        self._engine_compiled = False
        # Resolve losses and metric names now so unknown names fail at compile, as Keras.
        if loss is not None:
            for item in data_utils.flatten(loss):
                if item is not None:
                    _engine_loss(item)
        for item in data_utils.flatten(metrics) if metrics is not None else []:
            for name in item if isinstance(item, (list, tuple)) else [item]:
                if isinstance(name, str) and name not in _SHAPE_RESOLVED_METRICS:
                    metrics_module.get(name)

    def _per_output(self, value: Any, what: str, default: Any) -> list[Any]:
        names = self.output_names
        if value is None:
            return [default] * len(names)
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"{what} has keys {unknown} that are not output names; the outputs are {names}")
            return [value.get(n, default) for n in names]
        if isinstance(value, (list, tuple)) and (len(names) > 1 or (what != "metrics" and len(value) == 1)):
            if len(value) != len(names):
                raise ValueError(f"{what} has {len(value)} entries for {len(names)} outputs ({names})")
            return list(value)
        if what == "metrics" and isinstance(value, (list, tuple)):
            return [list(value)] * len(names) if len(names) > 1 else [list(value)]
        return [value] * len(names)

    def _resolve_metrics(self, identifiers: Any, y_shape: tuple, pred_shape: tuple) -> list[Any]:
        if identifiers is None:
            return []
        if not isinstance(identifiers, (list, tuple)):
            identifiers = [identifiers]
        engines = []
        for ident in identifiers:
            if isinstance(ident, str):
                engines.append(_core.Metric.resolve(ident, list(y_shape), list(pred_shape)))
                continue
            engine = getattr(ident, "_engine", None)
            if (
                engine is None
                and callable(ident)
                and getattr(metrics_module, getattr(ident, "__name__", ""), None) is ident
            ):
                engine = _core.Metric.resolve(ident.__name__, list(y_shape), list(pred_shape))
            if engine is None:
                raise NotImplementedError(
                    f"fit computes metrics in Rust; the Python metric {ident!r} is not supported yet "
                    "(use a built-in metric)"
                )
            engines.append(engine)
        return engines

    def _compile_engine(self, y: list[np.ndarray]) -> None:
        """Hands the compile settings to the engine; metrics like "accuracy" resolve from the
        shapes of the targets and outputs, as Keras does on the first batch."""
        if not self.compiled:
            raise ValueError("You must call `compile()` before using the model.")
        core = self._core()
        if self._engine_compiled:
            return
        if self._compile_loss is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        losses = [_engine_loss(item) for item in self._per_output(self._compile_loss, "loss", None)]
        weights = [float(w) for w in self._per_output(self._compile_loss_weights, "loss_weights", 1.0)]
        metric_ids = self._per_output(self._compile_metrics, "metrics", None)
        pred_shapes = [tuple(1 if d is None else d for d in s) for s in core.output_shapes]
        metrics = [self._resolve_metrics(ids, tuple(y[i].shape), pred_shapes[i]) for i, ids in enumerate(metric_ids)]
        core.compile(self.optimizer._engine, losses, weights, metrics, self.output_names)
        self._engine_compiled = True

    @property
    def metrics_names(self) -> list[str]:
        if self._core_model is None or not self._engine_compiled:
            return []
        return list(self._core_model.logs().keys())

    # ----- data

    def _x_list(self, x: Any, what: str = "x") -> list[np.ndarray]:
        names = self.input_names if self._inputs else [f"input_{i}" for i in range(len(data_utils.flatten(x)))]
        arrays = data_utils.to_list(x, names, what)
        dtype = self._inputs[0].dtype if self._inputs else self.dtype
        return data_utils.cast(arrays, dtype, what)

    def _y_list(self, y: Any, what: str = "y") -> list[np.ndarray]:
        if y is None:
            raise ValueError(f"`{what}` is required to train or evaluate the model")
        arrays = data_utils.to_list(y, self.output_names, what)
        return data_utils.cast(arrays, self._inputs[0].dtype, what)

    def _sample_weight(self, sample_weight: Any, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        sw = data_utils.as_array(sample_weight, "sample_weight")
        if sw.shape[:1] != (n,):
            raise ValueError(f"sample_weight must have one weight per sample ({n}), got shape {sw.shape}")
        return data_utils.cast([sw], self._inputs[0].dtype, "sample_weight")[0]

    def _prepare(
        self, x: Any, y: Any, sample_weight: Any, class_weight: Any = None
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:
        if x is None:
            raise ValueError("`x` is required")
        if not self._inputs:
            names = [f"input_{i}" for i in range(len(data_utils.flatten(x)))]
            self._ensure_built(data_utils.cast(data_utils.to_list(x, names, "x"), self.dtype, "x"))
        xs = self._x_list(x)
        ys = self._y_list(y)
        n = data_utils.check_lengths({"x": xs, "y": ys})
        sw = self._sample_weight(sample_weight, n)
        if class_weight is not None:
            if len(ys) > 1:
                raise ValueError("`class_weight` is only supported for models with a single output")
            cw = data_utils.class_weights(ys[0], class_weight).astype(xs[0].dtype)
            sw = cw if sw is None else sw * cw.reshape(cw.shape + (1,) * (sw.ndim - 1))
        return xs, ys, sw

    # ----- training

    def _assert_compiled(self) -> None:
        if not self.compiled:
            raise ValueError("You must call `compile()` before using the model.")

    @staticmethod
    def _verbose(verbose: Any) -> int:
        if verbose == "auto":
            return 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
        return int(verbose)

    def _sync_learning_rate(self) -> None:
        value = self.optimizer._python_learning_rate()
        if value is not None:
            self.optimizer._engine.set_learning_rate(float(value))

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Any = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> Any:
        """Trains for ``epochs`` epochs as Keras does; returns the ``History``."""
        self._assert_compiled()
        if steps_per_epoch is not None or validation_steps is not None:
            raise NotImplementedError(
                "steps_per_epoch/validation_steps apply to generators, which fit does not take yet"
            )
        verbose = self._verbose(verbose)
        batch_size = _batch_size(batch_size)
        xs, ys, sw = self._prepare(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight)")
            vx, vy, vsw = (list(validation_data) + [None])[:3]
            val = self._prepare(vx, vy, vsw)
        elif _validation_split(validation_split):
            (xs, ys, sws), (vx, vy, vsw) = data_utils.validation_split(
                [xs, ys, None if sw is None else [sw]], validation_split
            )
            sw = None if sws is None else sws[0]
            val = (vx, vy, None if vsw is None else vsw[0])
        self._compile_engine(ys)
        dataset = _core.Dataset(xs, ys, sw)
        val_dataset = None if val is None else _core.Dataset(*val)
        steps = dataset.batches(batch_size)
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=steps,
        )
        self.stop_training = False
        self._sync_learning_rate()
        cbs.on_train_begin()
        batch_hooks = cbs._needs_batch_hooks("train") or self.optimizer._python_learning_rate() is not None
        logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            hook = None
            if batch_hooks:
                cbs.on_train_batch_begin(0)

                def hook(batch: int, batch_logs: dict[str, float]) -> bool:
                    cbs.on_train_batch_end(batch, _sorted_logs(batch_logs))
                    self._sync_learning_rate()
                    if self.stop_training:
                        return False
                    if batch + 1 < steps:
                        cbs.on_train_batch_begin(batch + 1)
                    return True

            seed = int(np.random.randint(0, 2**63 - 1, dtype=np.int64)) if shuffle else 0
            epoch_logs, _ = self._core().fit_epoch(dataset, batch_size, bool(shuffle), seed, hook)
            logs = _sorted_logs(epoch_logs)
            if val_dataset is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._run_evaluate(val_dataset, validation_batch_size or batch_size, cbs)
                logs.update({f"val_{k}": v for k, v in _sorted_logs(val_logs).items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return self.history

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """The loss and metrics on the data: a float when there are no metrics, else a list
        ``[loss, *metrics]``, or a dict with ``return_dict=True``."""
        self._assert_compiled()
        verbose = self._verbose(verbose)
        batch_size = _batch_size(batch_size)
        xs, ys, sw = self._prepare(x, y, sample_weight)
        self._compile_engine(ys)
        dataset = _core.Dataset(xs, ys, sw)
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=dataset.batches(batch_size),
        )
        logs = self._run_evaluate(dataset, batch_size, cbs)
        if return_dict:
            return _sorted_logs(logs)
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _run_evaluate(self, dataset: Any, batch_size: int, cbs: Any) -> dict[str, float]:
        """The test loop with Keras's ``on_test_*`` hooks (also fit's validation); the logs in
        the engine's order (loss first, as ``evaluate`` returns them)."""
        cbs.on_test_begin()
        hook = None
        if cbs._needs_batch_hooks("test"):
            steps = dataset.batches(batch_size)
            cbs.on_test_batch_begin(0)

            def hook(batch: int, batch_logs: dict[str, float]) -> bool:
                cbs.on_test_batch_end(batch, _sorted_logs(batch_logs))
                if batch + 1 < steps:
                    cbs.on_test_batch_begin(batch + 1)
                return True

        logs = {k: float(v) for k, v in self._core().evaluate(dataset, batch_size, hook).items()}
        cbs.on_test_end(_sorted_logs(logs))
        return logs

    def predict(
        self, x: Any, batch_size: int | None = None, verbose: Any = "auto", steps: Any = None, callbacks: Any = None
    ) -> Any:
        """The outputs for ``x``, batch by batch in inference mode, as numpy arrays."""
        verbose = self._verbose(verbose)
        batch_size = _batch_size(batch_size)
        if not self._inputs:
            self._ensure_built(self._x_list(x))
        xs = self._x_list(x)
        n = data_utils.check_lengths({"x": xs})
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=max(1, math.ceil(n / batch_size)),
        )
        cbs.on_predict_begin()
        hook = None
        if cbs._needs_batch_hooks("predict"):

            def hook(batch: int, _logs: dict[str, float]) -> bool:
                cbs.on_predict_batch_end(batch, {})
                return True

        out = [np.array(t.numpy()) for t in self._core().predict(xs, batch_size, hook)]
        cbs.on_predict_end()
        return self._restructure(out)

    def _batch_dataset(self, x: Any, y: Any, sample_weight: Any, class_weight: Any = None) -> Any:
        xs, ys, sw = self._prepare(x, y, sample_weight, class_weight)
        self._compile_engine(ys)
        return _core.Dataset(xs, ys, sw)

    def train_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._assert_compiled()
        self._sync_learning_rate()
        logs = dict(self._core().train_on_batch(self._batch_dataset(x, y, sample_weight, class_weight)))
        return self._batch_result(logs, return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False) -> Any:
        """The loss (and metrics) of one batch without training."""
        self._assert_compiled()
        logs = dict(self._core().test_on_batch(self._batch_dataset(x, y, sample_weight)))
        return self._batch_result(logs, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """The outputs for one batch."""
        if not self._inputs:
            self._ensure_built(self._x_list(x))
        xs = self._x_list(x)
        n = data_utils.check_lengths({"x": xs})
        out = [np.array(t.numpy()) for t in self._core().predict(xs, max(n, 1), None)]
        return self._restructure(out)

    @staticmethod
    def _batch_result(logs: dict[str, float], return_dict: bool) -> Any:
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def reset_metrics(self) -> None:
        if self._core_model is not None:
            self._core_model.reset_metrics()

    # ----- the compile config (Keras 3's format)

    def get_compile_config(self) -> dict[str, Any] | None:
        """The arguments given to :meth:`compile`, serialized (Keras 3's ``compile_config``);
        None before ``compile``."""
        if not self.compiled:
            return None
        return saving.serialize_dict(self._compile_config)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compiles the model with the settings :meth:`get_compile_config` returned."""
        arguments = saving.deserialize_keras_object(dict(config))
        unknown = sorted(set(arguments) - set(_COMPILE_ARGUMENTS))
        if unknown:
            raise ValueError(f"Unknown compile argument(s) {unknown} in the compile config")
        self.compile(**arguments)
