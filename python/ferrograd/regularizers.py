"""Weight regularizers with Keras 3's classes, names and defaults (``keras.regularizers``).

A regularizer adds a penalty on a weight to the training loss: ``L1(l1=0.01)`` adds
``l1 * sum(|w|)``, ``L2(l2=0.01)`` adds ``l2 * sum(w**2)`` (Keras has no factor 1/2), ``L1L2``
both (its defaults are 0.0). The training loop computes the penalties in Rust; calling a
regularizer on a tensor gives the same value eagerly.
"""

from __future__ import annotations

import math
from typing import Any

from . import _core, saving
from ._core import Tensor

__all__ = ["L1", "L1L2", "L2", "Regularizer", "deserialize", "get", "l1", "l1_l2", "l2", "serialize"]


def _factor(name: str, value: Any) -> float:
    if value is None:
        return 0.0
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid value for argument {name}: expected a float. Received: {name}={value}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. Received: {name}={value}")
    return value


class Regularizer:
    """The base class: a callable ``weight -> penalty``. Subclasses defined here run in the
    engine; a Python subclass works eagerly but cannot be used by ``fit`` yet."""

    def __call__(self, x: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def _engine_factors(self) -> tuple[float, float]:
        raise NotImplementedError(
            f"the regularizer {type(self).__name__} is written in Python; fit supports L1, L2 and L1L2"
        )


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("l1", l1)
        self.l2 = _factor("l2", l2)

    def __call__(self, x: Any) -> Tensor:
        x = _core.convert_to_tensor(x)
        total = _core.sum(_core.abs(x), None, False) * self.l1 if self.l1 else _core.zeros((), dtype=x.dtype)
        if self.l2:
            total = total + _core.sum(_core.square(x), None, False) * self.l2
        return total

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}

    def _engine_factors(self) -> tuple[float, float]:
        return (self.l1, self.l2)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


class L1(L1L2):
    """``l1 * sum(|w|)``, Keras's default ``l1=0.01``."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1, l2=0.0)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)``, Keras's default ``l2=0.01``."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l1=0.0, l2=l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


l1 = L1
l2 = L2
l1_l2 = L1L2

_BY_NAME: dict[str, type[Regularizer]] = {"l1": L1, "l2": L2, "l1_l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


def serialize(regularizer: Regularizer) -> dict[str, Any]:
    """A regularizer in Keras 3's form ``{"module", "class_name", "config", "registered_name"}``
    (a custom one must be registered with ``fg.saving.register_serializable``)."""
    return saving.serialize_keras_object(regularizer)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Regularizer:
    """A regularizer from :func:`serialize`'s dict; a name that is not built in is looked up in
    ``custom_objects`` and ``fg.saving``'s registry."""
    name = config.get("class_name")
    if name in _BY_NAME and config.get("registered_name") is None and not custom_objects:
        return _BY_NAME[name].from_config(config.get("config", {}))
    try:
        regularizer = saving.deserialize_keras_object(config, custom_objects=custom_objects)
    except saving.UnknownObjectError:
        raise ValueError(
            f"Unknown regularizer: {name!r}; valid names are {sorted(_BY_NAME)}, or register your class with "
            "@fg.saving.register_serializable()"
        ) from None
    if not isinstance(regularizer, Regularizer):
        raise ValueError(
            f"Unknown regularizer: {name!r} names a {type(regularizer).__name__}, not a regularizer; valid names "
            f"are {sorted(_BY_NAME)}"
        )
    return regularizer


def get(identifier: Any) -> Regularizer | None:
    """A regularizer from None, a Keras name (``"l1"``, ``"l2"``, ``"l1_l2"``), a config dict,
    an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"Unknown regularizer: {identifier!r}; valid names are {sorted(_BY_NAME)}")
        return _BY_NAME[identifier]()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")


def engine_factors(regularizer: Any) -> tuple[float, float] | None:
    """``(l1, l2)`` for the engine, None for no regularizer."""
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return regularizer._engine_factors()
    raise NotImplementedError(
        f"the regularizer {regularizer!r} is a Python callable; fit supports L1, L2 and L1L2 regularizers"
    )


saving.register_builtins("keras.regularizers", saving.exported_classes(globals(), Regularizer))
