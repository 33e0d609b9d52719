"""The engine's thread pool: ``fg.set_num_threads(n)`` / ``fg.get_num_threads()`` (as PyTorch's
``torch.set_num_threads``), checked here so a wrong argument gets a message that names it."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._core import get_num_threads

__all__ = ["get_num_threads", "set_num_threads"]


def set_num_threads(n: Any) -> None:
    """Sizes the pool every kernel and training step runs on (default: all cores)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: n must be a positive int, got {n!r} ({type(n).__name__})")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be at least 1, got {n}")
    _core.set_num_threads(int(n))
