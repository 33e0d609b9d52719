"""Keras's merge layers and their functional forms: ``Add``/``add``, ``Subtract``/``subtract``,
``Multiply``/``multiply``, ``Average``/``average``, ``Maximum``/``maximum``,
``Minimum``/``minimum``, ``Concatenate``/``concatenate``. Each is called on a list of inputs."""

from __future__ import annotations

from typing import Any

from .core import EngineLayer

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]


class _Merge(EngineLayer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._make_engine_layer({})
        self.built = True

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: inputs={inputs!r}")
        return super().__call__(list(inputs), *args, **kwargs)


class Add(_Merge):
    """Elementwise sum of the inputs."""


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""


class Multiply(_Merge):
    """Elementwise product of the inputs."""


class Average(_Merge):
    """Elementwise mean of the inputs."""


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""


class Concatenate(EngineLayer):
    """The inputs joined along ``axis`` (default: the last)."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)
        self._make_engine_layer({"axis": self.axis})
        self.built = True

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"A `Concatenate` layer should be called on a list of at least 1 input. Received: inputs={inputs!r}"
            )
        return super().__call__(list(inputs), *args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def add(inputs: list[Any], **kwargs: Any) -> Any:
    return Add(**kwargs)(inputs)


def subtract(inputs: list[Any], **kwargs: Any) -> Any:
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list[Any], **kwargs: Any) -> Any:
    return Multiply(**kwargs)(inputs)


def average(inputs: list[Any], **kwargs: Any) -> Any:
    return Average(**kwargs)(inputs)


def maximum(inputs: list[Any], **kwargs: Any) -> Any:
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list[Any], **kwargs: Any) -> Any:
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: list[Any], axis: int = -1, **kwargs: Any) -> Any:
    return Concatenate(axis=axis, **kwargs)(inputs)
