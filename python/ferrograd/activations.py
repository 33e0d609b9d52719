"""Activation functions with Keras 3's names, signatures and defaults (``keras.activations``).

Note the defaults that differ from ``fg.ops``: ``activations.leaky_relu`` uses
``negative_slope=0.2`` as Keras does, and ``activations.gelu`` is exact (``approximate=False``)
while ``keras.ops.gelu`` approximates. Every function is differentiable through the engine.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from . import _core, saving
from ._core import Tensor

__all__ = [
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "leaky_relu",
    "linear",
    "log_softmax",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]


def relu(x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> Tensor:
    """max(x, 0), with Keras's options: a slope below ``threshold``, values capped at
    ``max_value``, and a threshold under which values are zeroed (as ``keras.activations.relu``)."""
    x = _core.convert_to_tensor(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _core.relu(x)
    negative_part = _core.relu(-x + threshold) if negative_slope != 0.0 else None
    clip_max = max_value is not None
    if threshold != 0.0:
        out = x * _core.greater(x, threshold)
    elif max_value == 6:
        out = _core.relu6(x)
        clip_max = False
    else:
        out = _core.relu(x)
    if clip_max:
        out = _core.clip(out, 0.0, float(max_value))
    if negative_part is not None:
        out = out - negative_slope * negative_part
    return out


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    return _core.leaky_relu(x, negative_slope)


def relu6(x: Any) -> Tensor:
    return _core.relu6(x)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    return _core.elu(x, alpha)


def selu(x: Any) -> Tensor:
    return _core.selu(x)


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """x·Φ(x); exact by default, as ``keras.activations.gelu``."""
    return _core.gelu(x, approximate)


def sigmoid(x: Any) -> Tensor:
    return _core.sigmoid(x)


def tanh(x: Any) -> Tensor:
    return _core.tanh(x)


def softplus(x: Any) -> Tensor:
    return _core.softplus(x)


def softsign(x: Any) -> Tensor:
    return _core.softsign(x)


def silu(x: Any) -> Tensor:
    return _core.silu(x)


swish = silu


def hard_sigmoid(x: Any) -> Tensor:
    """Keras 3's hard sigmoid: relu6(x + 3) / 6."""
    return _core.hard_sigmoid(x)


def exponential(x: Any) -> Tensor:
    return _core.exp(x)


def linear(x: Any) -> Tensor:
    """The identity (Keras's ``linear`` / ``None`` activation)."""
    return _core.convert_to_tensor(x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    return _core.softmax(x, axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return _core.log_softmax(x, axis)


_BY_NAME: dict[str, Callable[..., Tensor]] = {
    "elu": elu,
    "exponential": exponential,
    "gelu": gelu,
    "hard_sigmoid": hard_sigmoid,
    "leaky_relu": leaky_relu,
    "linear": linear,
    "log_softmax": log_softmax,
    "relu": relu,
    "relu6": relu6,
    "selu": selu,
    "sigmoid": sigmoid,
    "silu": silu,
    "softmax": softmax,
    "softplus": softplus,
    "softsign": softsign,
    "swish": swish,
    "tanh": tanh,
}


def get(identifier: str | Callable[..., Tensor] | dict[str, Any] | None) -> Callable[..., Tensor]:
    """An activation from its Keras name, a callable (returned as is), Keras's serialized
    function dict (a custom function is found through ``fg.saving``'s registry) or ``None``
    (linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    if isinstance(identifier, dict) or isinstance(identifier, str):
        found = saving.deserialize_keras_object(identifier)
        if callable(found):
            return found
    valid = ", ".join(sorted(_BY_NAME))
    raise ValueError(f"Unknown activation {identifier!r}; valid names are: {valid}")


def serialize(activation: Callable[..., Tensor]) -> str | dict[str, Any]:
    """The Keras name of a built-in activation; a custom function as Keras's
    ``{"module", "class_name": "function", "config", "registered_name"}`` (register it with
    ``fg.saving.register_serializable``, or pass it in ``custom_objects`` when loading)."""
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return "silu" if name == "swish" else name
    if not inspect.isfunction(activation):
        raise ValueError(f"{activation!r} is not a function and has no name to serialize")
    return saving.serialize_keras_object(activation)


saving.register_builtins("keras.activations", _BY_NAME)
