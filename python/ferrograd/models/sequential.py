"""``Sequential``: a stack of single-input, single-output layers (Keras's ``Sequential``).

The model becomes a functional graph as soon as its input shape is known: from an ``Input``
(or ``input_shape=`` on the first layer), from ``build(input_shape)``, or from the first data it
sees in ``fit``/``predict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import saving
from .._core import Tensor
from ..layers.base import Input, InputLayer, KerasTensor, Layer
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """Keras's ``Sequential(layers=None, trainable=True, name=None)``."""

    def __init__(self, layers: list[Layer] | None = None, trainable: bool = True, name: str | None = None) -> None:
        super().__init__(name=name, trainable=trainable)
        self._stack: list[Layer] = []
        self._input_tensor: KerasTensor | None = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def add(self, layer: Any, rebuild: bool = True) -> None:
        """Appends a layer (an ``Input`` sets the input shape)."""
        if isinstance(layer, KerasTensor) and layer._node is not None and isinstance(layer._node.layer, InputLayer):
            layer = layer._node.layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_tensor is not None:
                raise ValueError("An Input must be the first entry of a Sequential model")
            self._input_tensor = layer.output_tensor
        elif isinstance(layer, Layer):
            if any(layer is existing for existing in self._stack):
                raise ValueError(f"Layer '{layer.name}' is already in the model")
            if not self._stack and self._input_tensor is None and layer._input_shape_arg is not None:
                self._input_tensor = Input(shape=layer._input_shape_arg, dtype=layer.dtype)
            self._stack.append(layer)
        else:
            raise TypeError(f"Only instances of `keras.Layer` can be added to a Sequential model. Received: {layer!r}")
        object.__setattr__(self, "_layers", list(self._stack))
        self._inputs = []
        self.built = False
        self._core_model = None
        self._engine_compiled = False
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild: bool = True) -> Layer:
        """Removes and returns the last layer."""
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        object.__setattr__(self, "_layers", list(self._stack))
        self._inputs = []
        self.built = False
        self._core_model = None
        self._engine_compiled = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def _maybe_rebuild(self) -> None:
        if self._input_tensor is not None and self._stack:
            self._build_from(self._input_tensor)

    def _build_from(self, inputs: KerasTensor) -> None:
        x = inputs
        for layer in self._stack:
            x = layer(x)
            if isinstance(x, list):
                raise ValueError(
                    "All layers in a Sequential model should have a single output tensor; "
                    f"layer '{layer.name}' has {len(x)}"
                )
        self._init_graph(inputs, x)
        object.__setattr__(self, "_layers", list(self._stack))
        object.__setattr__(self, "_graph_layers", list(self._stack))

    def build(self, input_shape: Any = None) -> None:
        """Builds the model for inputs of ``input_shape`` (with the batch axis)."""
        if input_shape is None:
            if self._input_tensor is None:
                raise ValueError("You must provide an `input_shape` argument.")
        else:
            self._input_tensor = Input(batch_shape=tuple(input_shape), dtype=self.dtype)
        if not self._stack:
            raise ValueError(f"Sequential model '{self.name}' has no layers; add some before building it.")
        self._build_from(self._input_tensor)

    def _ensure_built(self, x: Any = None) -> None:
        if self._inputs:
            return
        if self._input_tensor is None:
            if x is None:
                raise ValueError(
                    f"Sequential model '{self.name}' has not been built: give it an Input or call it on data first"
                )
            if len(x) != 1:
                raise ValueError(f"A Sequential model takes one input, got {len(x)}")
            self._input_tensor = Input(batch_shape=(None,) + tuple(x[0].shape[1:]), dtype=self.dtype)
        if not self._stack:
            raise ValueError(f"Sequential model '{self.name}' has no layers.")
        self._build_from(self._input_tensor)

    def __call__(self, inputs: Any, *args: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if not isinstance(inputs, KerasTensor) and not self._inputs and not args and not kwargs:
            shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else np.shape(inputs)
            self._ensure_built([np.empty((0,) + tuple(shape[1:]))])
        if isinstance(inputs, KerasTensor) and not self._inputs:
            self._ensure_built([np.empty((0,) + tuple(d or 1 for d in inputs.shape[1:]))])
        return super().__call__(inputs, *args, training=training, **kwargs)

    def _is_functional(self) -> bool:
        return False

    def get_config(self) -> dict[str, Any]:
        """Keras 3's Sequential config: the serialized layers (starting with the InputLayer
        when the input shape is known) and ``build_input_shape``."""
        stack = ([self._input_tensor._node.layer] if self._input_tensor is not None else []) + self._stack
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype,
            "layers": [saving.serialize_keras_object(layer) for layer in stack],
        }
        if self._input_tensor is not None:
            config["build_input_shape"] = list(self._input_tensor.shape)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Sequential:
        """The model :meth:`get_config` describes, with new weights (built when the input shape
        is known)."""
        with saving.CustomObjectScope(custom_objects or {}):
            model = cls(name=config.get("name"), trainable=config.get("trainable", True))
            for layer_config in config.get("layers", []):
                layer = saving.deserialize_keras_object(layer_config)
                if not isinstance(layer, Layer):
                    raise TypeError(f"A Sequential config lists a {type(layer).__name__}, not a layer")
                model.add(layer, rebuild=False)
        model._maybe_rebuild()
        build_input_shape = config.get("build_input_shape")
        if not model._inputs and build_input_shape and model._stack:
            model.build(tuple(build_input_shape))
        return model

    def get_build_config(self) -> dict[str, Any] | None:
        if self._input_tensor is None:
            return None
        return {"input_shape": list(self._input_tensor.shape)}

    def build_from_config(self, config: dict[str, Any]) -> None:
        input_shape = (config or {}).get("input_shape")
        if input_shape is not None and not self._inputs and self._stack:
            self.build(tuple(input_shape))
