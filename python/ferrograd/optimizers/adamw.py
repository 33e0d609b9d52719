"""Keras's ``AdamW``: Adam with decoupled weight decay."""

from __future__ import annotations

from typing import Any

from .adam import Adam
from .optimizer import _base_kwargs


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w -= w * weight_decay * lr``
    before each Adam step; Keras's default ``weight_decay=0.004``."""

    _algorithm = "AdamW"

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
