"""Optimizers with Keras 3's class names, arguments, defaults and update formulas
(``keras.optimizers``). The update loops run in Rust, one fused pass over each variable::

    optimizer = fg.optimizers.Adam(learning_rate=1e-3)
    with fg.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))

Every optimizer takes ``weight_decay`` (decoupled, ``w -= w * weight_decay * lr`` before the
update, as Keras), ``clipnorm`` (per gradient), ``clipvalue`` and ``global_clipnorm`` (over all
gradients; only one of the three), and a learning rate that is a number, a
:mod:`~ferrograd.optimizers.schedules` schedule (stepped once per ``apply_gradients``) or a
callable. Where Keras differs from PyTorch, ferrograd follows Keras: epsilon ``1e-7`` and its
placement (inside the square root for RMSprop and Adagrad; added to the uncorrected ``sqrt(v)``
for Adam), Adagrad's accumulator starting at 0.1, RMSprop's ``rho=0.9``, and SGD's momentum
``v = momentum * v - lr * g; w += v``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from .. import _core
from .._core import Tensor
from . import schedules, surfaces
from .schedules import LearningRateSchedule
from .trajectory import trajectory

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "schedules",
    "serialize",
    "surfaces",
    "trajectory",
]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)


def _clip_threshold(value: float | None) -> float | None:
    # Keras clips only when the threshold is positive; 0 means no clipping. A negative threshold
    # is passed on so that the engine rejects it.
    if value is None or value == 0:
        return None
    return float(value)


class Optimizer:
    """The base class of ferrograd's optimizers: Keras's ``Optimizer`` arguments, the step
    counter ``iterations``, the ``learning_rate`` property and ``apply_gradients``. Subclasses
    name the engine's update rule and its hyperparameters."""

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
            raise TypeError(f"Optimizer is a base class; use one of {', '.join(sorted(cls.__name__ for cls in _ALL))}")
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
        hyperparameters = {k: getattr(self, k) for k in self._hyperparameter_names}
        self._engine = _core.Optimizer(
            self._algorithm,
            hyperparameters,
            self._engine_learning_rate(learning_rate),
            None if weight_decay is None else float(weight_decay),
            _clip_threshold(clipnorm),
            _clip_threshold(clipvalue),
            _clip_threshold(global_clipnorm),
        )

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


class SGD(Optimizer):
    """Gradient descent with optional momentum, in Keras's form::

    velocity = momentum * velocity - learning_rate * g
    w = w + velocity                                   # nesterov=False
    w = w + momentum * velocity - learning_rate * g    # nesterov=True
    """

    _algorithm = "sgd"
    _hyperparameter_names = ("momentum", "nesterov")

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        name: str = "SGD",
        **kwargs: Any,
    ) -> None:
        if not _is_number(momentum) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            name=name,
            **kwargs,
        )


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


class RMSprop(Optimizer):
    """RMSprop as Keras: ``v = rho * v + (1 - rho) * g**2``; ``w -= lr * g / sqrt(v + epsilon)``
    (``centered`` subtracts the squared mean gradient inside the root; ``momentum`` accumulates
    the increments)."""

    _algorithm = "rmsprop"
    _hyperparameter_names = ("rho", "momentum", "epsilon", "centered")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "rmsprop",
        **kwargs: Any,
    ) -> None:
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
        super().__init__(
            learning_rate,
            **_base_kwargs(
                weight_decay,
                clipnorm,
                clipvalue,
                global_clipnorm,
                use_ema,
                ema_momentum,
                ema_overwrite_frequency,
                loss_scale_factor,
                gradient_accumulation_steps,
                name,
            ),
            **kwargs,
        )


class Adagrad(Optimizer):
    """Adagrad as Keras: ``acc += g**2`` (from ``initial_accumulator_value=0.1``);
    ``w -= lr * g / sqrt(acc + epsilon)``."""

    _algorithm = "adagrad"
    _hyperparameter_names = ("initial_accumulator_value", "epsilon")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
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
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon
        super().__init__(
            learning_rate,
            **_base_kwargs(
                weight_decay,
                clipnorm,
                clipvalue,
                global_clipnorm,
                use_ema,
                ema_momentum,
                ema_overwrite_frequency,
                loss_scale_factor,
                gradient_accumulation_steps,
                name,
            ),
            **kwargs,
        )


class Adadelta(Optimizer):
    """Adadelta as Keras (Zeiler 2012, with a learning rate): running averages of squared
    gradients and squared updates, ``w += lr * delta``."""

    _algorithm = "adadelta"
    _hyperparameter_names = ("rho", "epsilon")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adadelta",
        **kwargs: Any,
    ) -> None:
        self.rho = rho
        self.epsilon = epsilon
        super().__init__(
            learning_rate,
            **_base_kwargs(
                weight_decay,
                clipnorm,
                clipvalue,
                global_clipnorm,
                use_ema,
                ema_momentum,
                ema_overwrite_frequency,
                loss_scale_factor,
                gradient_accumulation_steps,
                name,
            ),
            **kwargs,
        )


class Adam(Optimizer):
    """Adam as Keras 3: ``lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``;
    ``w -= lr_t * m / (sqrt(v) + epsilon)`` (``amsgrad`` uses the running maximum of ``v``)."""

    _algorithm = "adam"
    _hyperparameter_names = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adam",
        **kwargs: Any,
    ) -> None:
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        super().__init__(
            learning_rate,
            **_base_kwargs(
                weight_decay,
                clipnorm,
                clipvalue,
                global_clipnorm,
                use_ema,
                ema_momentum,
                ema_overwrite_frequency,
                loss_scale_factor,
                gradient_accumulation_steps,
                name,
            ),
            **kwargs,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w -= w * weight_decay * lr``
    before each Adam step; Keras's default ``weight_decay=0.004``."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adamw",
        **kwargs: Any,
    ) -> None:
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            **_base_kwargs(
                weight_decay,
                clipnorm,
                clipvalue,
                global_clipnorm,
                use_ema,
                ema_momentum,
                ema_overwrite_frequency,
                loss_scale_factor,
                gradient_accumulation_steps,
                name,
            ),
            **kwargs,
        )


class Adamax(Optimizer):
    """Adamax as Keras (Adam with the infinity norm): ``u = max(beta_2 * u, |g|)``;
    ``w -= lr * m / ((1 - beta_1**t) * (u + epsilon))``."""

    _algorithm = "adamax"
    _hyperparameter_names = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adamax",
        **kwargs: Any,
    ) -> None:
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        super().__init__(
            learning_rate,
            **_base_kwargs(
                weight_decay,
                clipnorm,
                clipvalue,
                global_clipnorm,
                use_ema,
                ema_momentum,
                ema_overwrite_frequency,
                loss_scale_factor,
                gradient_accumulation_steps,
                name,
            ),
            **kwargs,
        )


class Nadam(Optimizer):
    """Nadam as Keras (Dozat 2015): Adam with Nesterov momentum and the momentum schedule
    ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``."""

    _algorithm = "nadam"
    _hyperparameter_names = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "nadam",
        **kwargs: Any,
    ) -> None:
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        super().__init__(
            learning_rate,
            **_base_kwargs(
                weight_decay,
                clipnorm,
                clipvalue,
                global_clipnorm,
                use_ema,
                ema_momentum,
                ema_overwrite_frequency,
                loss_scale_factor,
                gradient_accumulation_steps,
                name,
            ),
            **kwargs,
        )


class Lion(Optimizer):
    """Lion as Keras (Chen et al. 2023): ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``;
    ``m = beta_2 * m + (1 - beta_2) * g``."""

    _algorithm = "lion"
    _hyperparameter_names = ("beta_1", "beta_2")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        name: str = "lion",
        **kwargs: Any,
    ) -> None:
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError(
                "Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer degenerates to "
                f"SignSGD. Received: beta_1={beta_1}."
            )
        super().__init__(
            learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            name=name,
            **kwargs,
        )


_ALL = (SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam, Lion)
_ALL_BY_NAME: dict[str, type[Optimizer]] = {cls.__name__.lower(): cls for cls in _ALL}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """The optimizer's configuration in Keras's serialized layout (a custom optimizer under its
    registered name, see ``fg.saving.register_serializable``)."""
    if type(optimizer) not in _ALL:
        from .. import saving

        return saving.serialize_keras_object(optimizer)
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """An optimizer from :func:`serialize`'s dict; built-in class names match case-insensitively."""
    class_name = config.get("class_name", "")
    custom = custom_objects or {}
    from .. import saving

    registered = saving.get_registered_object(config.get("registered_name") or class_name, custom)
    if class_name in custom:
        cls: Callable[..., Any] = custom[class_name]
    elif registered is not None:
        cls = registered
    elif str(class_name).lower() in _ALL_BY_NAME:
        cls = _ALL_BY_NAME[str(class_name).lower()]
    else:
        raise ValueError(
            f"Unknown optimizer: '{class_name}'. Expected one of {sorted(c.__name__ for c in _ALL)} "
            "(case-insensitive), or pass it in `custom_objects`."
        )
    return cls.from_config(dict(config.get("config", {})), custom_objects=custom_objects)


def get(identifier: Any) -> Optimizer | None:
    """An optimizer from a name (``"adam"``, case-insensitive), a config dict, or an instance
    (returned as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
