"""Keras's ``Masking`` layer: marks the padded steps of a sequence for the layers after it.

A step whose features all equal ``mask_value`` is masked: its features become zeros and the
mask (``any(x != mask_value, axis=-1)``) travels with the output through the model's graph to
the recurrent layers, which skip those steps::

    >>> import ferrograd as fg
    >>> model = fg.Sequential([fg.Input(shape=(None, 3)), fg.layers.Masking(), fg.layers.LSTM(8)])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .core import EngineLayer

__all__ = ["Masking"]


class Masking(EngineLayer):
    """Keras's ``Masking(mask_value=0.0)``."""

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.number)):
            raise TypeError(f"mask_value must be a number. Received: mask_value={mask_value!r}")
        self.mask_value = mask_value
        self._make_engine_layer({"mask_value": float(mask_value)})
        self.built = True

    def compute_mask(self, inputs: Any, mask: Any = None) -> np.ndarray:
        """``any(inputs != mask_value, axis=-1)``: true at the steps that count (the engine
        layer's rule, the same mask the model's graph carries)."""
        (keep,) = self._core_layer.compute_mask([_core.convert_to_tensor(inputs)], [None])
        return keep.numpy() != 0

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
