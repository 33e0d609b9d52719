"""Keras's ``Adadelta``."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, _base_kwargs


class Adadelta(Optimizer):
    """Adadelta as Keras (Zeiler 2012, with a learning rate): running averages of squared
    gradients and squared updates, ``w += lr * delta``."""

    _algorithm = "Adadelta"
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
