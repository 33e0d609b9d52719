"""The base class of ferrograd's optimizers: Keras's ``Optimizer`` arguments, the step counter,
the learning rate (a number, a schedule or a callable) and ``apply_gradients``; the update rule
and its config are the engine's (``_core.Optimizer``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import _core
from .._core import Tensor
from . import schedules
from .schedules import LearningRateSchedule


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)


def _base_kwargs(
    weight_decay: Any,
    clipnorm: Any,
    clipvalue: Any,
    global_clipnorm: Any,
    use_ema: Any,
    ema_momentum: Any,
    ema_overwrite_frequency: Any,
    loss_scale_factor: Any,
    gradient_accumulation_steps: Any,
    name: Any,
) -> dict[str, Any]:
    return {
        "weight_decay": weight_decay,
        "clipnorm": clipnorm,
        "clipvalue": clipvalue,
        "global_clipnorm": global_clipnorm,
        "use_ema": use_ema,
        "ema_momentum": ema_momentum,
        "ema_overwrite_frequency": ema_overwrite_frequency,
        "loss_scale_factor": loss_scale_factor,
        "gradient_accumulation_steps": gradient_accumulation_steps,
        "name": name,
    }


class Optimizer:
    """The base class of ferrograd's optimizers: Keras's ``Optimizer`` arguments, the step
    counter ``iterations``, the ``learning_rate`` property and ``apply_gradients``. Subclasses
    name the engine's update rule and its hyperparameters."""

    # Keras's class name of the engine's update rule (set by each subclass).
    _algorithm = ""
    _hyperparameter_names: tuple[str, ...] = ()

    def __init__(
        self,
        learning_rate: Any,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=2)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if not self._algorithm:
            raise TypeError(
                "Optimizer is a base class; use one of SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, "
                "Nadam, Lion"
            )
        if use_ema:
            raise NotImplementedError("use_ema=True (weight moving averages) is not supported yet")
        if gradient_accumulation_steps:
            raise NotImplementedError("gradient_accumulation_steps is not supported yet")
        clip_args = [a for a in (clipnorm, clipvalue, global_clipnorm) if a is not None]
        if len(clip_args) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        self.name = name if name is not None else type(self).__name__.lower()
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.built = False
        self._trainable_variables: list[Tensor] = []
        self._exclude_pattern: re.Pattern[str] | None = None
        self._learning_rate = learning_rate
        # The engine reads Keras's config itself (defaults, checks, clipping rules); a schedule
        # or callable it cannot evaluate is a placeholder rate that `apply` refreshes.
        config = {
            "learning_rate": self._engine_learning_rate(learning_rate),
            "weight_decay": weight_decay,
            "clipnorm": clipnorm,
            "clipvalue": clipvalue,
            "global_clipnorm": global_clipnorm,
        }
        config.update({k: getattr(self, k) for k in self._hyperparameter_names})
        self._engine = _core.Optimizer({"class_name": self._algorithm, "config": config})

    # ----- learning rate

    @staticmethod
    def _engine_learning_rate(learning_rate: Any) -> Any:
        """What the engine gets: a number, a built-in schedule's config, or a placeholder for a
        schedule or callable that Python evaluates before each step."""
        if isinstance(learning_rate, schedules._EngineSchedule) and type(learning_rate) in (
            schedules._BUILTIN.values()
        ):
            return learning_rate._engine_config()
        if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
            return 0.0
        if isinstance(learning_rate, Tensor):
            return learning_rate.item()
        if _is_number(learning_rate):
            return float(learning_rate)
        raise ValueError(
            "Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or a "
            f"callable (that takes in the current iteration value and returns the corresponding "
            f"learning rate value). Received instead: learning_rate={learning_rate}"
        )

    def _python_learning_rate(self) -> float | None:
        """The current rate of a schedule or callable the engine cannot evaluate, else None."""
        lr = self._learning_rate
        if isinstance(lr, schedules._EngineSchedule) and type(lr) in schedules._BUILTIN.values():
            return None
        if isinstance(lr, LearningRateSchedule):
            return float(np.asarray(lr(self.iterations)))
        if callable(lr):
            return float(np.asarray(lr()))
        return None

    @property
    def learning_rate(self) -> float:
        """The learning rate the next step uses (a schedule evaluated at ``iterations``).
        Settable to a number or a schedule."""
        value = self._python_learning_rate()
        return self._engine.learning_rate if value is None else value

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        if isinstance(self._learning_rate, LearningRateSchedule) and not (
            isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate)
        ):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not settable. If "
                "you need the learning rate to be settable, you should instantiate the optimizer "
                "with a float `learning_rate` argument."
            )
        self._engine.set_learning_rate(self._engine_learning_rate(learning_rate))
        self._learning_rate = learning_rate

    @property
    def iterations(self) -> int:
        """The number of steps applied so far."""
        return self._engine.iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._engine.iterations = int(value)

    # ----- updates

    def build(self, variables: Iterable[Tensor]) -> None:
        """Records the variables that :meth:`apply` updates when it gets gradients alone."""
        self._trainable_variables = list(variables)
        self.built = True

    def exclude_from_weight_decay(
        self, var_list: Iterable[Tensor] | None = None, var_names: Iterable[str] | None = None
    ) -> None:
        """Keeps weight decay off the given variables, or off those whose name contains one of
        ``var_names``."""
        for variable in var_list or []:
            self._engine.exclude_from_weight_decay(variable)
        names = list(var_names or [])
        self._exclude_pattern = re.compile("|".join(map(re.escape, names))) if names else None

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Tensor]]) -> int:
        """One step on ``(gradient, variable)`` pairs, as Keras: ``None`` gradients are skipped
        (with a warning), gradients may be tensors or arrays and are cast to their variable's
        dtype. Returns ``iterations``."""
        pairs = list(grads_and_vars)
        if not pairs:
            return self.iterations
        grads, variables = zip(*pairs)
        self.apply(list(grads), list(variables))
        return self.iterations

    def apply(self, grads: list[Any], trainable_variables: list[Tensor] | None = None) -> None:
        """Keras's ``apply``: gradients in the order of ``trainable_variables`` (or of the
        variables given to :meth:`build`)."""
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be built on a "
                    "list of variables. Call `optimizer.build(trainable_variables)` first."
                )
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(
                f"got {len(grads)} gradients for {len(trainable_variables)} variables; they must pair one-to-one"
            )
        if not self.built:
            self.build(trainable_variables)
        pairs = []
        missing = []
        for grad, variable in zip(grads, trainable_variables):
            if not isinstance(variable, Tensor):
                raise TypeError(f"apply_gradients updates Variables, got {type(variable).__name__}")
            if grad is None:
                missing.append(getattr(variable, "name", "tensor"))
                continue
            if self.loss_scale_factor is not None:
                grad = (grad if isinstance(grad, Tensor) else np.asarray(grad)) / self.loss_scale_factor
            if self._exclude_pattern is not None and self._exclude_pattern.search(getattr(variable, "name", "")):
                self._engine.exclude_from_weight_decay(variable)
            pairs.append((grad, variable))
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss. If using "
                "`model.compile()`, did you forget to provide a `loss` argument?",
                stacklevel=3,
            )
        value = self._python_learning_rate()
        if value is not None:
            self._engine.set_learning_rate(value)
        self._engine.apply_gradients(pairs)

    def scale_loss(self, loss: Any) -> Any:
        """``loss * loss_scale_factor`` when one is set (gradients are divided back before the step)."""
        return loss * self.loss_scale_factor if self.loss_scale_factor is not None else loss

    # ----- configuration

    def get_config(self) -> dict[str, Any]:
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            learning_rate: Any = schedules.serialize(lr)
        elif callable(lr):
            learning_rate = lr
        else:
            learning_rate = float(self._engine.learning_rate)
        config = {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        config.update({k: getattr(self, k) for k in self._hyperparameter_names})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects=custom_objects)
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate:g} "
            f"iterations={self.iterations}>"
        )
