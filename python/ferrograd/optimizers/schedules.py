"""Learning-rate schedules with Keras 3's names, arguments and formulas
(``keras.optimizers.schedules``). The formulas are evaluated by the Rust engine; an optimizer given
one of these evaluates it at its ``iterations`` before every step, so the first step sees step 0::

    schedule = fg.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96)
    optimizer = fg.optimizers.SGD(learning_rate=schedule)

Subclass :class:`LearningRateSchedule` and implement ``__call__(step)`` for your own schedule;
the optimizer then calls it from Python before each step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core, saving

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "deserialize",
    "serialize",
]


class LearningRateSchedule:
    """The base class of learning-rate schedules: ``__call__(step)`` returns the learning rate
    at optimizer step ``step``."""

    def __call__(self, step: Any) -> float:
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' must override `get_config()` "
            "in order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)


def _step(step: Any) -> int:
    value = float(np.asarray(step))
    if value < 0:
        raise ValueError(f"the optimizer step must be >= 0, got {step}")
    return int(value)


class _EngineSchedule(LearningRateSchedule):
    """A built-in schedule: its config is handed to the engine, which evaluates it."""

    def _engine_config(self) -> dict[str, Any]:
        return {"class_name": type(self).__name__, "config": self.get_config()}

    def _check(self) -> None:
        # The engine validates the arguments (Keras's checks, and non-negative rates).
        _core.learning_rate_at(type(self).__name__, self.get_config(), 0)

    def __call__(self, step: Any) -> float:
        return _core.learning_rate_at(type(self).__name__, self.get_config(), _step(step))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(_EngineSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase=True``
    the exponent is floored."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        self._check()

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class InverseTimeDecay(_EngineSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with
    ``staircase=True`` the ratio is floored."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        self._check()

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(_EngineSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` while
    ``boundaries[0] < step <= boundaries[1]``, ..., ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries: list[float], values: list[float], name: str = "PiecewiseConstant") -> None:
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. Received: "
                f"boundaries={boundaries} of length {len(boundaries)}, and values={values} of length {len(values)}."
            )
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name
        self._check()

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(_EngineSchedule):
    """``(initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end``; with
    ``cycle=True`` ``decay_steps`` grows to the first multiple past ``step``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        self._check()

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(_EngineSchedule):
    """Cosine decay (SGDR without restarts) with an optional linear warmup: from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then
    ``from * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        self._check()

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(_EngineSchedule):
    """Cosine decay with warm restarts (SGDR): the i-th period lasts
    ``first_decay_steps * t_mul ** i`` steps and starts at ``initial_learning_rate * m_mul ** i``."""

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        self._check()

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_BUILTIN = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        InverseTimeDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict[str, Any]:
    """The schedule as a JSON-compatible dict, in Keras's layout (a custom schedule under its
    registered name, see ``fg.saving.register_serializable``)."""
    if type(learning_rate_schedule) not in _BUILTIN.values():

        return saving.serialize_keras_object(learning_rate_schedule)
    return {
        "module": "keras.optimizers.schedules",
        "class_name": type(learning_rate_schedule).__name__,
        "config": learning_rate_schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> LearningRateSchedule:
    """A schedule from :func:`serialize`'s dict (``custom_objects`` maps names to your classes;
    registered classes are found through ``fg.saving``)."""
    class_name = config.get("class_name")
    if class_name in _BUILTIN and config.get("registered_name") is None and not custom_objects:
        return _BUILTIN[class_name].from_config(dict(config.get("config", {})))

    try:
        schedule = saving.deserialize_keras_object(config, custom_objects=custom_objects)
    except saving.UnknownObjectError:
        raise ValueError(
            f"Unknown learning rate schedule '{class_name}'; expected one of {sorted(_BUILTIN)}, a class registered "
            "with @fg.saving.register_serializable(), or one passed in custom_objects"
        ) from None
    if not isinstance(schedule, LearningRateSchedule):
        raise ValueError(f"'{class_name}' is a {type(schedule).__name__}, not a learning rate schedule")
    return schedule


saving.register_builtins("keras.optimizers.schedules", saving.exported_classes(globals(), LearningRateSchedule))
