"""A functional model's architecture in Keras 3's config format, and the model rebuilt from it.

The config lists the layers in graph order, each serialized with its ``name`` and the calls
that made its nodes (``inbound_nodes``), and names the model's inputs and outputs::

    {"name": "functional", "trainable": True,
     "layers": [{"module": "keras.layers", "class_name": "Dense", "config": {...},
                 "registered_name": None, "name": "dense",
                 "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                              "config": {"shape": [None, 4], "dtype": "float32",
                                                         "keras_history": ["input_layer", 0, 0]}}],
                                    "kwargs": {}}]}, ...],
     "input_layers": [["input_layer", 0, 0]], "output_layers": [["dense", 0, 0]]}

``keras_history`` is ``[layer name, node index, output index]``: node indices count only the
nodes of this model, and, as in Keras, a nested functional model's first call is its node 1
(Keras's functional models own a node of their own at index 0).
"""

from __future__ import annotations

from typing import Any

from .. import saving
from ..layers.base import KerasTensor, Layer, Node
from .trainer import Trainer


def is_functional(layer: Any) -> bool:
    """A model defined by ``Model(inputs, outputs)`` (Keras's ``Functional``)."""
    return isinstance(layer, Trainer) and layer._is_functional()


def _node_offset(layer: Any) -> int:
    return 1 if is_functional(layer) else 0


def get_config(model: Any) -> dict[str, Any]:
    """``model``'s graph as Keras 3's functional config."""
    own_nodes = {id(node) for node in model._nodes}
    node_index: dict[int, int] = {}
    for layer in model.layers:
        kept = _node_offset(layer)
        for node in layer._inbound_nodes:
            if id(node) in own_nodes:
                node_index[id(node)] = kept
                kept += 1

    def history(tensor: KerasTensor) -> list[Any]:
        return [tensor._node.layer.name, node_index[id(tensor._node)], tensor._output_index]

    def serialize_node(node: Node) -> dict[str, Any]:
        tensors = [saving._serialize_keras_tensor(t, history(t)) for t in node.inputs]
        return {"args": [tensors] if node.inputs_as_list else tensors, "kwargs": {}}

    layer_configs = []
    seen: set[str] = set()
    for layer in model.layers:
        if layer.name in seen:
            raise ValueError(
                f"The model '{model.name}' has two layers named '{layer.name}'; layer names must be unique "
                "within a model to save its architecture"
            )
        seen.add(layer.name)
        entry = saving.serialize_keras_object(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            serialize_node(node) for node in layer._inbound_nodes if id(node) in own_nodes and node.inputs
        ]
        layer_configs.append(entry)

    def map_tensors(structure: Any) -> Any:
        if isinstance(structure, KerasTensor):
            return [history(structure)]
        if isinstance(structure, dict):
            return {key: history(t) for key, t in structure.items()}
        return [history(t) for t in structure]

    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layer_configs,
        "input_layers": map_tensors(model._input_struct),
        "output_layers": map_tensors(model._output_struct),
    }


def is_functional_config(config: Any) -> bool:
    return isinstance(config, dict) and all(k in config for k in ("name", "layers", "input_layers", "output_layers"))


class _NotYetCreated(Exception):
    """A node reads a tensor whose producing call has not been replayed yet."""


def from_config(cls: type, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """Rebuilds a functional model of class ``cls``: creates every layer, then replays the calls
    of ``inbound_nodes`` in an order where each call's inputs already exist."""
    with saving.CustomObjectScope(custom_objects or {}):
        created: dict[str, Layer] = {}
        pending: dict[str, list[Any]] = {}
        order: list[str] = []
        for layer_data in config["layers"]:
            name = layer_data.get("name") or layer_data.get("config", {}).get("name")
            if name in created:
                raise ValueError(f"The config lists two layers named {name!r}; layer names must be unique")
            layer = saving.deserialize_keras_object(layer_data)
            if not isinstance(layer, Layer):
                raise TypeError(f"The config entry {name!r} is a {type(layer).__name__}, not a layer")
            created[name] = layer
            pending[name] = list(layer_data.get("inbound_nodes") or [])
            order.append(name)

        def tensor(history: Any) -> KerasTensor:
            if not (isinstance(history, (list, tuple)) and len(history) == 3):
                raise ValueError(f"A tensor reference must be [layer_name, node_index, tensor_index], got {history!r}")
            layer_name, index, output = history
            if layer_name not in created:
                raise ValueError(f"The config refers to a layer {layer_name!r} that it does not define")
            producer = created[layer_name]
            index = int(index) - _node_offset(producer)
            if index < 0:
                raise ValueError(f"Invalid node index {history[1]} for layer {layer_name!r}")
            if index >= len(producer._inbound_nodes):
                raise _NotYetCreated(layer_name)
            outputs = producer._inbound_nodes[index].outputs
            if not 0 <= int(output) < len(outputs):
                raise ValueError(f"Layer {layer_name!r} has {len(outputs)} output(s); the config asks for #{output}")
            return outputs[int(output)]

        def resolve(value: Any) -> Any:
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                return tensor(value["config"]["keras_history"])
            if isinstance(value, (list, tuple)):
                return [resolve(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return value

        while any(pending.values()):
            progressed = False
            for name in order:
                layer, nodes = created[name], pending[name]
                while nodes:
                    node_data = nodes[0]
                    try:
                        args = resolve(node_data.get("args", []))
                        kwargs = resolve(node_data.get("kwargs", {}))
                    except _NotYetCreated:
                        break
                    kwargs = {k: v for k, v in kwargs.items() if v is not None}
                    layer(*args, **kwargs)
                    nodes.pop(0)
                    progressed = True
            if not progressed:
                stuck = sorted(name for name, nodes in pending.items() if nodes)
                raise ValueError(f"Cannot connect the layers {stuck}: their inputs are never produced by the config")

        def map_tensors(structure: Any) -> Any:
            if isinstance(structure, (list, tuple)) and len(structure) == 3 and isinstance(structure[0], str):
                return tensor(structure)
            if isinstance(structure, dict):
                return {key: map_tensors(value) for key, value in structure.items()}
            if isinstance(structure, (list, tuple)):
                return [map_tensors(value) for value in structure]
            raise ValueError(f"Could not read the model's inputs/outputs from {structure!r}")

        try:
            inputs = map_tensors(config["input_layers"])
            outputs = map_tensors(config["output_layers"])
        except _NotYetCreated as missing:
            raise ValueError(
                f"The model's inputs/outputs refer to a call of layer {missing} that never happens"
            ) from None
        if isinstance(inputs, list) and len(inputs) == 1:
            inputs = inputs[0]
        if isinstance(outputs, list) and len(outputs) == 1:
            outputs = outputs[0]
        return cls(inputs=inputs, outputs=outputs, name=config["name"], trainable=config.get("trainable", True))
