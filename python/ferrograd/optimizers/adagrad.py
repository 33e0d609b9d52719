"""Keras's ``Adagrad``."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, _base_kwargs


class Adagrad(Optimizer):
    """Adagrad as Keras: ``acc += g**2`` (from ``initial_accumulator_value=0.1``);
    ``w -= lr * g / sqrt(acc + epsilon)``."""

    _algorithm = "Adagrad"
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
