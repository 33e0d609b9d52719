"""``Model``: Keras's functional model (``Model(inputs, outputs)``) and base of ``Sequential``:
the graph of layers, calling it, its summary, weights files and configs (Keras's
``functional.py`` and ``model.py``). Training (``compile``, ``fit``, ``evaluate``, ``predict``)
comes from the :class:`~ferrograd.models.trainer.Trainer` mixin.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from .. import _core, saving
from .._core import Tensor
from ..layers.base import InputLayer, KerasTensor, Layer, Node, unique_name
from . import data as data_utils
from . import functional_config, model_io
from .summary import summary_text
from .trainer import Trainer

__all__ = ["Model"]


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


class Model(Trainer, Layer):
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
        flat_in = data_utils.flatten(inputs)
        flat_out = data_utils.flatten(outputs)
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

    def _is_functional(self) -> bool:
        """Defined by ``Model(inputs, outputs)`` (Keras's ``Functional``), not by a ``call``."""
        return bool(self._inputs) and not getattr(self, "_subclassed_graph", False)

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
        flat = [_core.convert_to_tensor(t) if not isinstance(t, Tensor) else t for t in data_utils.flatten(inputs)]
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
        flat = data_utils.flatten(inputs)
        if any(isinstance(t, KerasTensor) for t in flat) or not self._inputs or args or kwargs:
            return super().__call__(inputs, *args, training=training, **kwargs)
        tensors = [
            t if isinstance(t, Tensor) else _core.convert_to_tensor(np.asarray(t, dtype=self._inputs[0].dtype))
            for t in flat
        ]
        return self.call(tensors if len(tensors) > 1 else tensors[0], training=bool(training))

    # ----- weights and summary

    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True, **kwargs: Any) -> None:
        """Saves the whole model to one safetensors file: weights (Keras's names), architecture
        and compile settings (Keras 3's JSON) and the optimizer's state. The write is atomic.
        Load it with ``fg.load_model``, or natively from Rust with ``ferrograd::saving::load_model``."""
        if kwargs.pop("zipped", None) or kwargs:
            raise ValueError(f"Unsupported arguments to save: {sorted(kwargs) or ['zipped']}")
        model_io.save_model(self, filepath, overwrite, include_optimizer)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickles through the model's file, as Keras 3 does (weights, architecture, compile
        settings and optimizer state); a custom model class must be registered to load."""
        return model_io.model_from_bytes, (model_io.model_to_bytes(self),)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """A copy through the model's file: new layers and weights, the same values."""
        return model_io.model_from_bytes(model_io.model_to_bytes(self))

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Saves the weights alone to a safetensors file (one tensor per weight, named
        ``layer/weight``), written to a temporary file and renamed so a crash never leaves half
        a file."""
        model_io.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False) -> None:
        """Loads weights saved by :meth:`save_weights` or :meth:`save`: by layer name, or by
        position when the names differ but the saved order and shapes fit. ``skip_mismatch``
        skips weights missing from the file or of another shape instead of failing."""
        model_io.load_weights(self, filepath, skip_mismatch)

    def summary(
        self, line_length: int | None = None, positions: Any = None, print_fn: Any = None, **kwargs: Any
    ) -> None:
        """Prints Keras's summary table: layers, output shapes, parameter counts."""
        text = summary_text(self, line_length)
        (print_fn or (lambda s: print(s, file=sys.stdout)))(text)

    # ----- the architecture config (Keras 3's format)

    def get_config(self) -> dict[str, Any]:
        """A functional model's graph in Keras 3's functional format; for a subclassed model,
        its name and trainable flag (override to add your constructor's arguments)."""
        if functional_config.is_functional(self):
            return functional_config.get_config(self)
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Model:
        """Rebuilds a functional model from :meth:`get_config`; a subclassed model is made as
        ``cls(**config)``, as Keras does."""
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
        return json.dumps(saving.serialize_keras_object(self), **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
