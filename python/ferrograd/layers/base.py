"""The ``Layer`` base class, symbolic tensors (``KerasTensor``) and ``Input``.

A layer called on a :class:`KerasTensor` records a node of a functional graph and returns
symbolic outputs with inferred shapes; called on arrays or tensors it computes at once (building
its weights on first use), recording the autodiff graph when gradients are needed.

Built-in layers wrap an engine layer (``self._engine``, a ``_core.Layer``), so the training loop
runs them in Rust. Layers written in Python subclass :class:`Layer` and implement ``build`` (with
``self.add_weight``) and ``call``, as in Keras; the engine calls back into Python for their
``call``, inside the same autodiff graph.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import math
import re
from collections import defaultdict
from typing import Any

import numpy as np

from .. import _core, initializers, regularizers, saving
from .._core import Tensor, Variable
from ..autodiff import no_grad

__all__ = ["Input", "InputLayer", "KerasTensor", "Layer"]

_UIDS: defaultdict[str, itertools.count] = defaultdict(itertools.count)

# While a model file loads: the shapes of the tensors it holds, by name. A weight the file
# cannot fill (another shape under its name, or more values than any tensor holds) is refused
# before it is allocated, so a damaged or hostile architecture never allocates what the file
# does not back (``fg.load_model`` sets it).
FILE_TENSOR_SHAPES: contextvars.ContextVar[tuple[dict[str, list[int]], int] | None] = contextvars.ContextVar(
    "file_tensor_shapes", default=None
)


def file_tensor_limits(shapes: dict[str, list[int]]) -> tuple[dict[str, list[int]], int]:
    """What ``FILE_TENSOR_SHAPES`` holds: the shapes by name and the largest tensor's size."""
    return shapes, max((math.prod(s) for s in shapes.values()), default=0)


def _check_against_file(layer: str, weight: str, shape: tuple[int, ...]) -> None:
    limits = FILE_TENSOR_SHAPES.get()
    if limits is None:
        return
    stored, limit = limits
    path = f"{layer}/{weight}"
    if path in stored and tuple(stored[path]) != shape:
        raise ValueError(
            f"weight '{path}' has shape {list(shape)} by the model's config but the file holds shape "
            f"{list(stored[path])}"
        )
    if any(d < 0 for d in shape) or math.prod(shape) > limit:
        raise ValueError(
            f"weight '{path}' would have shape {list(shape)}, larger than any tensor the file holds "
            f"(at most {limit} values): the file's architecture does not match its weights"
        )


def to_snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: ``"LeakyReLU"`` -> ``"leaky_re_lu"``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    """``prefix``, then ``prefix_1``, ``prefix_2``, ... (Keras's automatic names)."""
    n = next(_UIDS[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def _floatx(dtype: Any) -> str:
    if dtype is None:
        return "float32"
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in ("float32", "float64"):
        raise TypeError(f"layers compute in float32 or float64, got dtype={dtype!r}")
    return name


def _shape_tuple(shape: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in shape)


class Node:
    """One call of a layer on symbolic tensors: its inputs and outputs."""

    def __init__(
        self, layer: Layer, inputs: list[KerasTensor], outputs: list[KerasTensor], inputs_as_list: bool = False
    ) -> None:
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
        # Whether the layer was called on a list (a merge layer) rather than on one tensor, so a
        # saved config can repeat the call as it was made.
        self.inputs_as_list = inputs_as_list


@saving.register_keras_tensor_type
class KerasTensor:
    """A symbolic tensor: a shape (``None`` for the batch axis), a dtype and the node that made
    it. Layers called on it build a functional graph instead of computing."""

    def __init__(self, shape: Any, dtype: str = "float32", name: str | None = None) -> None:
        self.shape = _shape_tuple(shape)
        self.dtype = dtype
        self.name = name
        self._node: Node | None = None
        self._output_index = 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            "A KerasTensor is symbolic: it stands for the data a model will receive and has no values. "
            "Call the model on arrays to compute."
        )


def _shape_config(shape: Any) -> Any:
    """An input shape as JSON-ready lists (a list of shapes for several inputs)."""
    if shape is None:
        return None
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, (list, tuple)) for s in shape):
        return [_shape_config(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


def _recording_build(build: Any) -> Any:
    """Wraps a ``build`` so the layer remembers its first input shape (its ``build_config``)."""

    @functools.wraps(build)
    def build_and_record(self: Layer, input_shape: Any = None, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_build_input_shape", None) is None and input_shape is not None:
            self._build_input_shape = _shape_config(input_shape)
        return build(self, input_shape, *args, **kwargs)

    build_and_record._records_shape = True  # type: ignore[attr-defined]
    return build_and_record


class Layer:
    """Keras's ``Layer``: weights, ``build``/``call``, symbolic and eager calls, configs."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_records_shape", False):
            cls.build = _recording_build(build)

    def __init__(
        self,
        activity_regularizer: Any = None,
        trainable: bool = True,
        dtype: Any = None,
        autocast: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        kwargs.pop("batch_input_shape", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if activity_regularizer is not None:
            raise NotImplementedError("activity_regularizer is not supported yet")
        self.name = name if name is not None else unique_name(to_snake_case(type(self).__name__))
        self.dtype = _floatx(dtype)
        self.built = False
        self._trainable = bool(trainable)
        self._own_weights: list[tuple[str, Variable, bool, Any]] = []
        self._layers: list[Layer] = []
        self._inbound_nodes: list[Node] = []
        self._python_engine: Any = None
        self._build_input_shape: Any = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else _shape_tuple(input_shape)

    # ----- attribute tracking

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Layer) and name not in ("_parent",) and hasattr(self, "_layers"):
            if all(value is not existing for existing in self._layers):
                self._layers.append(value)
        elif isinstance(value, (list, tuple)) and hasattr(self, "_layers") and not name.startswith("_"):
            for item in value:
                if isinstance(item, Layer) and all(item is not existing for existing in self._layers):
                    self._layers.append(item)
        object.__setattr__(self, name, value)

    # ----- the engine

    @property
    def _engine(self) -> Any:
        """The engine layer this class computes with, or None for a Python-written layer."""
        return None

    def _engine_layer(self) -> Any:
        """What the engine's graph runs: the built-in engine layer, or a wrapper that calls
        :meth:`call` back in Python."""
        if self._engine is not None and not self._calls_python():
            return self._engine
        if self._python_engine is None:
            self._python_engine = _core.Layer.python(self, self.name, type(self).__name__)
        return self._python_engine

    def _calls_python(self) -> bool:
        return self._engine is None

    def _engine_call(self, inputs: list[Tensor], training: bool) -> list[Tensor]:
        args = inputs[0] if len(inputs) == 1 else list(inputs)
        return self._checked_outputs(self._call_eager(args, training=training))

    def _checked_outputs(self, out: Any) -> list[Tensor]:
        """The outputs of ``call`` as a list of tensors, or a TypeError naming the layer."""
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for o in outs:
            if not isinstance(o, (Tensor, np.ndarray)):
                raise TypeError(
                    f"Layer '{self.name}' ({type(self).__name__}).call must return a tensor or a list of "
                    f"tensors, got {type(o).__name__}"
                )
        return [o if isinstance(o, Tensor) else _core.convert_to_tensor(o) for o in outs]

    def _engine_output_shapes(self, shapes: list[Any]) -> list[tuple]:
        shapes = [tuple(s) for s in shapes]
        shape = shapes[0] if len(shapes) == 1 else list(shapes)
        out = self.compute_output_shape(shape)
        if isinstance(out, list):
            return [tuple(s) for s in out]
        return [tuple(out)]

    def _engine_weights(self) -> list[tuple[str, Variable, bool, Any]]:
        frozen = not self.trainable
        return [
            (name, var, trainable and not frozen, regularizers.engine_factors(reg))
            for name, var, trainable, reg in self._all_weight_entries()
        ]

    # ----- weights

    def add_weight(
        self,
        shape: Any = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        aggregation: str = "none",
        overwrite_with_gradient: bool = False,
        name: str | None = None,
    ) -> Variable:
        """Creates a weight (Keras's ``add_weight``): ``initializer`` is a name, an initializer or
        a callable ``(shape, dtype) -> values``; the default is Glorot-uniform for floats."""
        if constraint is not None:
            raise NotImplementedError("weight constraints are not supported yet")
        shape = () if shape is None else tuple(int(d) for d in shape)
        _check_against_file(self.name, name if name is not None else f"variable_{len(self._own_weights)}", shape)
        dtype = _floatx(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform"
        init = initializers.get(initializer)
        value = init(shape, dtype=dtype)
        value = np.asarray(value, dtype=dtype).reshape(shape)
        name = name if name is not None else f"variable_{len(self._own_weights)}"
        variable = Variable(value, trainable=trainable, name=name, dtype=dtype, path=f"{self.name}/{name}")
        regularizer = regularizers.get(regularizer)
        if regularizer is not None and not isinstance(regularizer, regularizers.Regularizer):
            raise NotImplementedError(f"the regularizer {regularizer!r} is a Python callable; use L1, L2 or L1L2")
        self._own_weights.append((name, variable, bool(trainable), regularizer))
        self._on_weight_added(name, variable, bool(trainable), regularizer)
        return variable

    def _on_weight_added(self, name: str, variable: Variable, trainable: bool, regularizer: Any) -> None:
        pass

    def _all_weight_entries(self) -> list[tuple[str, Variable, bool, Any]]:
        # Keras's order: the layer's own trainable weights, its own non-trainable ones (each in
        # creation order), then the sublayers' weights, named with their layer's name
        # ("dense/kernel") so that two sublayers' kernels stay apart in reports and saved files.
        entries = [e for e in self._own_weights if e[2]] + [e for e in self._own_weights if not e[2]]
        seen = {id(v) for _, v, _, _ in entries}
        for layer in self._layers:
            frozen = not layer.trainable
            for name, var, trainable, reg in layer._all_weight_entries():
                if id(var) not in seen:
                    seen.add(id(var))
                    entries.append((f"{layer.name}/{name}", var, trainable and not frozen, reg))
        return entries

    @property
    def weights(self) -> list[Variable]:
        return [v for _, v, _, _ in self._all_weight_entries()]

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        return [v for _, v, t, _ in self._all_weight_entries() if t]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return self.weights
        return [v for _, v, t, _ in self._all_weight_entries() if not t]

    @property
    def losses(self) -> list[Tensor]:
        """The regularization penalties of the weights (Keras's ``layer.losses``), recorded in the
        autodiff graph so a custom training loop can add them to its loss; ``fit`` adds them
        itself."""
        return [reg(var) for _, var, _, reg in self._all_weight_entries() if reg is not None]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        if self._engine is not None:
            self._engine.trainable = bool(value)
        for _, var, trainable, _ in self._own_weights:
            var.trainable = bool(value) and trainable
        for layer in self._layers:
            layer.trainable = value

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as numpy arrays, in Keras's order."""
        return [np.array(v.numpy()) for v in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Sets the weights from arrays of the same shapes, in :meth:`get_weights` order."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(
                f"You called `set_weights(weights)` on layer '{self.name}' with a weight list of length "
                f"{len(weights)}, but the layer was expecting {len(mine)} weights."
            )
        arrays = []
        for var, value in zip(mine, weights):
            value = np.asarray(value)
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(
                    f"Layer '{self.name}' weight '{var.name}' has shape {tuple(var.shape)}; received a value "
                    f"of shape {tuple(value.shape)}"
                )
            arrays.append(value)
        for var, value in zip(mine, arrays):
            var.assign(value.astype(var.dtype, copy=False))

    def count_params(self) -> int:
        """The number of scalars in the weights (the layer must be built)."""
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't built. "
                "You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(int(np.prod(v.shape)) for v in self.weights))

    # ----- building and calling

    def build(self, input_shape: Any) -> None:
        """Creates the weights for inputs of ``input_shape`` (subclasses override)."""
        self.built = True

    def _maybe_build(self, input_shapes: list[Any]) -> None:
        input_shapes = [tuple(s) for s in input_shapes]
        if self._build_input_shape is None and input_shapes:
            self._build_input_shape = _shape_config(input_shapes[0] if len(input_shapes) == 1 else input_shapes)
        if not self.built:
            shape = input_shapes[0] if len(input_shapes) == 1 else list(input_shapes)
            self.build(shape)
            self.built = True

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"Layer {type(self).__name__} does not implement `call()`")

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape for ``input_shape``; by default found by calling the layer on zeros
        (unknown axes as 1) and putting the unknown axes back."""
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        zeros = [_core.zeros(tuple(1 if d is None else d for d in s), dtype=self.dtype) for s in shapes]
        with no_grad():
            out = self._call_eager(zeros[0] if len(zeros) == 1 else zeros, training=False)
        outs = self._checked_outputs(out)
        batch_unknown = bool(shapes) and len(shapes[0]) > 0 and shapes[0][0] is None
        result = []
        for o in outs:
            s = tuple(o.shape)
            if batch_unknown and len(s) > 0:
                s = (None,) + s[1:]
            result.append(s)
        return result if isinstance(out, (list, tuple)) else result[0]

    def _call_eager(self, inputs: Any, training: bool = False) -> Any:
        kwargs = {"training": training} if _accepts_training(self.call) else {}
        return self.call(inputs, **kwargs)

    def __call__(self, inputs: Any, *args: Any, training: bool | None = None, **kwargs: Any) -> Any:
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if any(isinstance(t, KerasTensor) for t in flat):
            if args or kwargs:
                raise NotImplementedError("symbolic calls take the inputs (and `training`) only")
            return self._symbolic_call(inputs, flat)
        tensors = [
            t if isinstance(t, Tensor) else _core.convert_to_tensor(np.asarray(t, dtype=self.dtype)) for t in flat
        ]
        self._maybe_build([tuple(t.shape) for t in tensors])
        if args or kwargs:
            packed = tensors[0] if not isinstance(inputs, (list, tuple)) else tensors
            if training is not None and _accepts_training(self.call):
                kwargs["training"] = training
            return self.call(packed, *args, **kwargs)
        out = self._engine_layer().call(tensors, bool(training))
        return out[0] if len(out) == 1 else out

    def _symbolic_call(self, inputs: Any, flat: list[Any]) -> Any:
        if not all(isinstance(t, KerasTensor) for t in flat):
            raise ValueError(f"Layer '{self.name}' was called on a mix of symbolic (KerasTensor) and concrete inputs")
        shapes = [t.shape for t in flat]
        self._maybe_build(shapes)
        out_shapes = self._engine_layer().output_shapes(shapes)
        outputs = []
        for i, s in enumerate(out_shapes):
            kt = KerasTensor(
                s, dtype=flat[0].dtype, name=f"{self.name}_output_{i}" if len(out_shapes) > 1 else self.name
            )
            kt._output_index = i
            outputs.append(kt)
        node = Node(self, flat, outputs, inputs_as_list=isinstance(inputs, (list, tuple)))
        for kt in outputs:
            kt._node = node
        self._inbound_nodes.append(node)
        return outputs[0] if len(outputs) == 1 else outputs

    # ----- shapes and configs

    @property
    def input(self) -> Any:
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no defined input.")
        ins = self._inbound_nodes[0].inputs
        return ins[0] if len(ins) == 1 else ins

    @property
    def output(self) -> Any:
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no defined output.")
        outs = self._inbound_nodes[0].outputs
        return outs[0] if len(outs) == 1 else outs

    @property
    def input_shape(self) -> Any:
        x = self.input
        return [t.shape for t in x] if isinstance(x, list) else x.shape

    @property
    def output_shape(self) -> Any:
        x = self.output
        return [t.shape for t in x] if isinstance(x, list) else x.shape

    def get_config(self) -> dict[str, Any]:
        """Keras's base config; subclasses add their arguments."""
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._input_shape_arg is not None:
            config["batch_shape"] = (None,) + self._input_shape_arg
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = dict(config)
        batch_shape = config.pop("batch_shape", None)
        if batch_shape is not None:
            config["input_shape"] = tuple(batch_shape[1:])
        return cls(**config)

    def get_build_config(self) -> dict[str, Any] | None:
        """Keras's ``{"input_shape": ...}``: the shape the layer was built for (a list of shapes
        for several inputs), so a loaded layer can create its weights before they are set."""
        if self._build_input_shape is None:
            return None
        return {"input_shape": self._build_input_shape}

    def build_from_config(self, config: dict[str, Any]) -> None:
        """Builds the layer from :meth:`get_build_config`'s dict."""
        input_shape = (config or {}).get("input_shape")
        if input_shape is None:
            return
        if input_shape and all(isinstance(s, (list, tuple)) for s in input_shape):
            shape: Any = [tuple(s) for s in input_shape]
        else:
            shape = tuple(input_shape)
        if self.built:
            self._build_input_shape = _shape_config(shape)
        else:
            self.build(shape)
            self.built = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


Layer.build = _recording_build(Layer.build)  # type: ignore[method-assign]


def _accepts_training(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "training" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class InputLayer(Layer):
    """The layer behind :func:`Input`: it holds the model's input shape and does nothing."""

    def __init__(
        self,
        shape: Any = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: Any = None,
        batch_shape: Any = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name if name is not None else unique_name("input_layer"), dtype=dtype, **kwargs)
        if sparse:
            raise NotImplementedError("sparse inputs are not supported")
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument.")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        self.batch_shape = _shape_tuple(batch_shape)
        self.built = True
        self.output_tensor = KerasTensor(self.batch_shape, dtype=self.dtype, name=self.name)
        node = Node(self, [], [self.output_tensor])
        self.output_tensor._node = node
        self._inbound_nodes.append(node)

    def call(self, inputs: Any) -> Any:
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InputLayer:
        return cls(**config)


def Input(  # noqa: N802 (Keras's name)
    shape: Any = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: Any = None,
    batch_shape: Any = None,
    name: str | None = None,
    tensor: Any = None,
    optional: bool = False,
) -> KerasTensor:
    """A symbolic input of ``shape`` (without the batch axis) for functional models."""
    layer = InputLayer(
        shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, batch_shape=batch_shape, name=name
    )
    return layer.output_tensor
