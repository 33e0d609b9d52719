"""Keras's ``Adamax``."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, _base_kwargs


class Adamax(Optimizer):
    """Adamax as Keras (Adam with the infinity norm): ``u = max(beta_2 * u, |g|)``;
    ``w -= lr * m / ((1 - beta_1**t) * (u + epsilon))``."""

    _algorithm = "Adamax"
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
