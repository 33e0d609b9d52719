"""``Model``: Keras's functional model (``Model(inputs, outputs)``) and base of ``Sequential``,
with ``compile``, ``fit``, ``evaluate``, ``predict`` and the batch-level methods.

The graph of layers is handed to the engine (``_core.Model``), which runs Keras's training loop
in Rust with the GIL released. Python runs between epochs (callbacks, validation) and, only when
a callback needs it (the progress bar, a batch hook), after each batch.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from .. import _core, optimizers
from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .._core import Tensor
from ..layers.base import InputLayer, KerasTensor, Layer, Node, unique_name
from . import data as data_utils

__all__ = ["Model"]


def _flatten(structure: Any) -> list[Any]:
    if isinstance(structure, dict):
        return list(structure.values())
    if isinstance(structure, (list, tuple)):
        return list(structure)
    return [structure]


def _topological_nodes(outputs: list[KerasTensor]) -> list[Node]:
    """The nodes that produce ``outputs``, each after the nodes it reads (iterative DFS)."""
    order: list[Node] = []
    done: set[int] = set()
    stack: list[tuple[Node, bool]] = []
    for kt in reversed(outputs):
        if kt._node is None:
            raise ValueError(f"{kt!r} was not produced by a layer or Input; outputs must come from layers")
        stack.append((kt._node, False))
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for kt in reversed(node.inputs):
            if kt._node is None:
                raise ValueError(f"{kt!r} was not produced by a layer or Input")
            if id(kt._node) not in done:
                stack.append((kt._node, False))
    return order


def _engine_loss(identifier: Any) -> dict[str, Any] | tuple[Any, Any] | None:
    """A compile loss for the engine: ``{"class_name", "config"}`` for a built-in loss (read and computed in Rust),
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


class Model(Layer):
    """Keras's ``Model``. ``Model(inputs, outputs)`` builds a functional model from symbolic
    tensors; subclasses of ``Model`` may instead implement ``call`` (run through Python)."""

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None, **kwargs: Any) -> None:
        default = "sequential" if type(self).__name__ == "Sequential" else "functional"
        super().__init__(name=name if name is not None else unique_name(default), **kwargs)
        self._core_model: Any = None
        self._inputs: list[KerasTensor] = []
        self._outputs: list[KerasTensor] = []
        self._nodes: list[Node] = []
        self._output_struct: Any = None
        self.optimizer: Any = None
        self.compiled = False
        self.stop_training = False
        self.history: Any = None
        self._engine_compiled = False
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("a functional Model needs both `inputs` and `outputs`")
            self._init_graph(inputs, outputs)

    # ----- the graph

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        flat_in = _flatten(inputs)
        flat_out = _flatten(outputs)
        for t in flat_in + flat_out:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"Model(inputs, outputs) takes symbolic tensors from keras.Input and layers, got {type(t).__name__}"
                )
        self._input_struct = inputs
        self._output_struct = outputs
        self._inputs = flat_in
        self._outputs = flat_out
        self._nodes = _topological_nodes(flat_out)
        ids = {id(t) for t in flat_in}
        for node in self._nodes:
            if isinstance(node.layer, InputLayer) and id(node.outputs[0]) not in ids:
                raise ValueError(
                    f"Graph disconnected: cannot find the value of input '{node.layer.name}': it is used by the "
                    "outputs but not listed in `inputs`"
                )
        layers: list[Layer] = []
        for node in self._nodes:
            if all(node.layer is not seen for seen in layers):
                layers.append(node.layer)
        object.__setattr__(self, "_layers", [la for la in layers if not isinstance(la, InputLayer)])
        object.__setattr__(self, "_graph_layers", layers)
        self.built = True
        self._core_model = None
        self._engine_compiled = False

    @property
    def layers(self) -> list[Layer]:
        """The layers, in the order of the graph (a functional model lists its InputLayers)."""
        return list(getattr(self, "_graph_layers", self._layers))

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._outputs)

    @property
    def input_names(self) -> list[str]:
        return [t._node.layer.name if t._node else f"input_{i}" for i, t in enumerate(self._inputs)]

    @property
    def output_names(self) -> list[str]:
        return [t._node.layer.name if t._node else f"output_{i}" for i, t in enumerate(self._outputs)]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name``, or at ``index`` of :attr:`layers`."""
        if index is not None and name is not None:
            raise ValueError("Provide only a layer name or a layer index, not both.")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has {len(self.layers)} layers."
                )
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: {[la.name for la in self.layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def _ensure_built(self, x: list[np.ndarray] | None = None) -> None:
        """Builds the graph once the input shape is known (from ``x`` for subclassed models)."""
        if self._inputs:
            return
        if x is None:
            raise ValueError(f"The model '{self.name}' has not been built yet: call it on data, or give it an Input")
        self._build_subclassed([(None,) + tuple(a.shape[1:]) for a in x])

    def _build_subclassed(self, shapes: list[tuple]) -> None:
        """A model with its own ``call``: one Python node between inputs and outputs."""
        inputs = [KerasTensor(s, dtype=self.dtype, name=f"input_{i}") for i, s in enumerate(shapes)]
        for kt in inputs:
            layer = InputLayer(batch_shape=kt.shape, dtype=self.dtype)
            kt._node = Node(layer, [], [kt])
        self._maybe_build(shapes)
        out_shapes = self._engine_output_shapes(shapes)
        outputs = [KerasTensor(s, dtype=self.dtype, name=f"output_{i}") for i, s in enumerate(out_shapes)]
        node = Node(self, inputs, outputs)
        for i, kt in enumerate(outputs):
            kt._node = node
            kt._output_index = i
        self._inputs, self._outputs, self._nodes = inputs, outputs, [kt._node for kt in inputs] + [node]
        self._output_struct = outputs[0] if len(outputs) == 1 else outputs
        self._subclassed_graph = True

    def _core(self) -> Any:
        """The engine model, made from the graph on first use."""
        if self._core_model is None:
            core = _core.Model(self._inputs[0].dtype if self._inputs else self.dtype)
            refs: dict[int, tuple[int, int]] = {}
            for kt in self._inputs:
                refs[id(kt)] = core.add_input(kt._node.layer.name, kt.shape)
            for node in self._nodes:
                if isinstance(node.layer, InputLayer):
                    continue
                engine_layer = node.layer._python_layer() if node.layer is self else node.layer._engine_layer()
                out = core.add_layer(engine_layer, [refs[id(t)] for t in node.inputs])
                for kt, r in zip(node.outputs, out):
                    refs[id(kt)] = r
            core.set_outputs([refs[id(kt)] for kt in self._outputs])
            self._core_model = core
            self._engine_compiled = False
        return self._core_model

    def _python_layer(self) -> Any:
        """The engine wrapper of a subclassed model's own ``call``."""
        if self._python_engine is None:
            self._python_engine = _core.Layer.python(self, self.name, type(self).__name__)
        return self._python_engine

    def _engine_layer(self) -> Any:
        # A model used as a layer of another model runs through Python, calling its own engine.
        return self._python_layer()

    def _engine_call(self, inputs: list[Tensor], training: bool) -> list[Tensor]:
        if getattr(self, "_subclassed_graph", False) or not self._inputs:
            out = self._call_eager(inputs[0] if len(inputs) == 1 else list(inputs), training=training)
            return list(out) if isinstance(out, (list, tuple)) else [out]
        return list(self._core().call(inputs, bool(training)))

    def _engine_output_shapes(self, shapes: list[tuple]) -> list[tuple]:
        if self._outputs and not getattr(self, "_subclassed_graph", False):
            return [kt.shape for kt in self._outputs]
        return super()._engine_output_shapes(shapes)

    def _engine_weights(self) -> list[tuple[str, Any, bool, Any]]:
        return super()._engine_weights()

    def _calls_python(self) -> bool:
        return True

    def call(self, inputs: Any, training: bool = False) -> Any:
        """Runs the functional graph (subclassed models override this)."""
        if not self._inputs or getattr(self, "_subclassed_graph", False):
            raise NotImplementedError(f"Model {type(self).__name__} has no graph: implement `call()` or use Input")
        flat = [_core.convert_to_tensor(t) if not isinstance(t, Tensor) else t for t in _flatten(inputs)]
        out = list(self._core().call(flat, bool(training)))
        return self._restructure(out)

    def _restructure(self, values: list[Any]) -> Any:
        struct = self._output_struct
        if isinstance(struct, dict):
            return dict(zip(struct.keys(), values))
        if isinstance(struct, (list, tuple)):
            return list(values)
        return values[0]

    def __call__(self, inputs: Any, *args: Any, training: bool | None = None, **kwargs: Any) -> Any:
        flat = _flatten(inputs)
        if any(isinstance(t, KerasTensor) for t in flat) or not self._inputs or args or kwargs:
            return super().__call__(inputs, *args, training=training, **kwargs)
        tensors = [
            t if isinstance(t, Tensor) else _core.convert_to_tensor(np.asarray(t, dtype=self._inputs[0].dtype))
            for t in flat
        ]
        return self.call(tensors if len(tensors) > 1 else tensors[0], training=bool(training))

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
        # Resolve losses now so unknown names fail at compile, as Keras.
        if loss is not None:
            for item in _flatten(loss):
                if item is not None:
                    _engine_loss(item)

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
        from .. import metrics as metrics_module

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
        names = self.input_names if self._inputs else [f"input_{i}" for i in range(len(_flatten(x)))]
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
            self._ensure_built(
                data_utils.cast(
                    data_utils.to_list(x, [f"input_{i}" for i in range(len(_flatten(x)))], "x"), self.dtype, "x"
                )
            )
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
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        xs, ys, sw = self._prepare(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight)")
            vx, vy, vsw = (list(validation_data) + [None])[:3]
            val = self._prepare(vx, vy, vsw)
        elif validation_split:
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
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
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
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
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

    # ----- weights and summary

    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True, **kwargs: Any) -> None:
        """Saves the whole model to one safetensors file: weights (Keras's names), architecture
        and compile settings (Keras 3's JSON) and the optimizer's state. The write is atomic.
        Load it with ``fg.load_model``, or natively from Rust with ``ferrograd::saving::load_model``."""
        from . import model_io

        if kwargs.pop("zipped", None) or kwargs:
            raise ValueError(f"Unsupported arguments to save: {sorted(kwargs) or ['zipped']}")
        model_io.save_model(self, filepath, overwrite, include_optimizer)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Saves the weights alone to a safetensors file (one tensor per weight, named
        ``layer/weight``), written to a temporary file and renamed so a crash never leaves half
        a file."""
        from . import model_io

        model_io.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False) -> None:
        """Loads weights saved by :meth:`save_weights` or :meth:`save`: by layer name, or by
        position when the names differ but the saved order and shapes fit. ``skip_mismatch``
        skips weights missing from the file or of another shape instead of failing."""
        from . import model_io

        model_io.load_weights(self, filepath, skip_mismatch)

    def summary(
        self, line_length: int | None = None, positions: Any = None, print_fn: Any = None, **kwargs: Any
    ) -> None:
        """Prints Keras's summary table: layers, output shapes, parameter counts."""
        from .summary import summary_text

        text = summary_text(self, line_length)
        (print_fn or (lambda s: print(s, file=sys.stdout)))(text)

    # ----- architecture and compile configs (Keras 3's formats)

    def get_config(self) -> dict[str, Any]:
        """A functional model's graph in Keras 3's functional format; for a subclassed model,
        its name and trainable flag (override to add your constructor's arguments)."""
        from . import functional_config

        if functional_config.is_functional(self):
            return functional_config.get_config(self)
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Model:
        """Rebuilds a functional model from :meth:`get_config`; a subclassed model is made as
        ``cls(**config)``, as Keras does."""
        from . import functional_config

        if functional_config.is_functional_config(config) and cls.__init__ is Model.__init__:
            return functional_config.from_config(cls, config, custom_objects)
        try:
            return cls(**config)
        except TypeError as err:
            raise TypeError(
                f"Unable to revive model {cls.__name__} from its config: {err}. A subclassed model needs a "
                "get_config() that returns its constructor arguments (or a from_config of its own)."
            ) from err

    def build_from_config(self, config: dict[str, Any]) -> None:
        """Builds a subclassed model for the saved input shape(s) so its weights exist before
        they are set (a functional model is built by its config already)."""
        input_shape = (config or {}).get("input_shape")
        if input_shape is None or self._inputs:
            return
        if input_shape and all(isinstance(s, (list, tuple)) for s in input_shape):
            shapes = [tuple(s) for s in input_shape]
        else:
            shapes = [tuple(input_shape)]
        self._build_subclassed(shapes)

    def to_json(self, **kwargs: Any) -> str:
        """The model's architecture (and compile settings, when compiled) as Keras 3's JSON;
        ``kwargs`` go to ``json.dumps``. Read it back with ``fg.models.model_from_json``."""
        import json

        from .. import saving

        return json.dumps(saving.serialize_keras_object(self), **kwargs)

    def get_compile_config(self) -> dict[str, Any] | None:
        """The arguments given to :meth:`compile`, serialized (Keras 3's ``compile_config``);
        None before ``compile``."""
        if not self.compiled:
            return None
        from .. import saving

        return saving.serialize_dict(self._compile_config)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compiles the model with the settings :meth:`get_compile_config` returned."""
        from .. import saving

        arguments = saving.deserialize_keras_object(dict(config))
        unknown = sorted(set(arguments) - set(_COMPILE_ARGUMENTS))
        if unknown:
            raise ValueError(f"Unknown compile argument(s) {unknown} in the compile config")
        self.compile(**arguments)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
