"""Weight initializers with Keras 3's class names, arguments, defaults and definitions
(``keras.initializers``); sampling happens in the Rust engine.

An initializer created with a ``seed`` returns the same values on every call (Keras 3's rule);
without one, values come from a global generator that ``fg.utils.set_random_seed`` reseeds.
"""

from __future__ import annotations

from typing import Any

from . import _core, saving
from ._core import Tensor

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "get",
    "serialize",
]


def _shape(shape: Any) -> list[int]:
    return [int(shape)] if isinstance(shape, int) else [int(d) for d in shape]


class Initializer:
    """Base class: ``initializer(shape, dtype=None)`` returns a Tensor."""

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize("Zeros", {}, _shape(shape), dtype)


class Ones(Initializer):
    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize("Ones", {}, _shape(shape), dtype)


class Constant(Initializer):
    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize("Constant", {"value": self.value}, _shape(shape), dtype)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class _Seeded(Initializer):
    seed: int | None

    def _seed(self) -> int | None:
        return None if self.seed is None else int(self.seed)


class RandomNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize(
            "RandomNormal", {"mean": self.mean, "stddev": self.stddev}, _shape(shape), dtype, self._seed()
        )

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_Seeded):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize(
            "RandomUniform", {"minval": self.minval, "maxval": self.maxval}, _shape(shape), dtype, self._seed()
        )

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(_Seeded):
    """Normal values beyond two standard deviations are redrawn."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize(
            "TruncatedNormal", {"mean": self.mean, "stddev": self.stddev}, _shape(shape), dtype, self._seed()
        )

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(_Seeded):
    """Samples with variance ``scale / n``, n the fan_in, fan_out or their average; a truncated
    normal is rescaled by 1/0.8796 so the variance holds after truncation, as Keras."""

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        if scale <= 0.0:
            raise ValueError(f"scale must be positive, got {scale}")
        if distribution == "normal":
            distribution = "truncated_normal"
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize(
            "VarianceScaling",
            {"scale": self.scale, "mode": self.mode, "distribution": self.distribution},
            _shape(shape),
            dtype,
            self._seed(),
        )

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _variance_scaling_preset(name: str, scale: float, mode: str, distribution: str) -> type[VarianceScaling]:
    def __init__(self: VarianceScaling, seed: int | None = None) -> None:
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self: VarianceScaling) -> dict[str, Any]:
        return {"seed": self.seed}

    doc = f"VarianceScaling(scale={scale}, mode='{mode}', distribution='{distribution}'), as Keras's {name}."
    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _variance_scaling_preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling_preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling_preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling_preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling_preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling_preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(_Seeded):
    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain, self.seed = gain, seed

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize("Orthogonal", {"gain": self.gain}, _shape(shape), dtype, self._seed())

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return _core.initialize("Identity", {"gain": self.gain}, _shape(shape), dtype)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


_BY_NAME: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
    "identity": Identity,
}


def get(identifier: Any) -> Initializer:
    """An initializer from a Keras string name, a class name, a serialized
    ``{"class_name", "config"}`` dict (a custom class is found through ``fg.saving``'s
    registry), an instance or a callable."""
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        builtin = {cls.__name__: cls for cls in _BY_NAME.values()}
        if name in builtin and identifier.get("registered_name") is None:
            return builtin[name].from_config(dict(identifier.get("config", {})))
        return saving.deserialize_keras_object(identifier)
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else None
        if key is None:
            by_class = {cls.__name__: name for name, cls in _BY_NAME.items()}
            key = by_class.get(identifier)
        if key is not None:
            return _BY_NAME[key]()
    valid = ", ".join(sorted(_BY_NAME))
    raise ValueError(f"Unknown initializer {identifier!r}; valid names are: {valid}")


def serialize(initializer: Any) -> dict[str, Any]:
    """An initializer in Keras 3's form ``{"module", "class_name", "config", "registered_name"}``
    (a custom one must be registered with ``fg.saving.register_serializable``)."""
    if not isinstance(initializer, Initializer):
        raise ValueError(f"Cannot serialize {initializer!r}: not a ferrograd initializer")
    return saving.serialize_keras_object(initializer)


saving.register_builtins("keras.initializers", saving.exported_classes(globals(), Initializer))
