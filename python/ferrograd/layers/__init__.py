"""Layers with Keras 3's class names, arguments, defaults and weight layouts
(``keras.layers``). Built-in layers compute in Rust; subclass :class:`Layer` to write your own
(``build`` with ``self.add_weight``, ``call``), as in Keras."""

from .base import Input, InputLayer, KerasTensor, Layer
from .core import ELU, Activation, Dense, Dropout, Flatten, LeakyReLU, PReLU, ReLU, Reshape, Softmax
from .merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)

__all__ = [
    "ELU",
    "Activation",
    "Add",
    "Average",
    "Concatenate",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Layer",
    "LeakyReLU",
    "Maximum",
    "Minimum",
    "Multiply",
    "PReLU",
    "ReLU",
    "Reshape",
    "Softmax",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]
