"""Keras's ``SGD``: gradient descent with optional (Nesterov) momentum."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, _is_number


class SGD(Optimizer):
    """Gradient descent with optional momentum, in Keras's form::

    velocity = momentum * velocity - learning_rate * g
    w = w + velocity                                   # nesterov=False
    w = w + momentum * velocity - learning_rate * g    # nesterov=True
    """

    _algorithm = "SGD"
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
