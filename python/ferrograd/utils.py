"""Utilities with Keras's names: ``to_categorical``, ``set_random_seed``, ``Progbar`` and
``plot_history`` (matplotlib, an optional extra)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from . import _core
from .plotting import plot_gradient_flow, plot_history, plot_trajectories
from .progbar import Progbar

__all__ = ["Progbar", "plot_gradient_flow", "plot_history", "plot_trajectories", "set_random_seed", "to_categorical"]


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot encodes integer class labels into a float32 array with a new last axis, as
    ``keras.utils.to_categorical`` (a trailing axis of size 1 is dropped first)."""
    labels = np.asarray(x)
    if labels.dtype.kind == "f":
        if not np.all(np.equal(labels, np.round(labels))):
            raise ValueError("to_categorical: labels must be whole numbers")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iu":
        raise TypeError(f"to_categorical: labels must be integers, got dtype {labels.dtype}")
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be non-negative, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(f"to_categorical: label {labels.max()} is out of range for num_classes={num_classes}")
    out = np.zeros((*labels.shape, num_classes), dtype=np.float32)
    np.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out


def set_random_seed(seed: int) -> None:
    """Seeds Python's, numpy's and the engine's global generators (the one unseeded
    initializers draw from), as ``keras.utils.set_random_seed`` does, so runs repeat exactly."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"set_random_seed: seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _core.set_global_seed(int(seed) % 2**64)
