"""Models with Keras 3's API: functional :class:`Model`, :class:`Sequential`."""

from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
