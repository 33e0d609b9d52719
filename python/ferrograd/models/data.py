"""The data handling of ``fit``/``evaluate``/``predict``: arrays in Keras's structures (one
array, a list, a dict by input or output name) made into lists of float arrays, checked, split
for validation and weighted by class."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._core import Tensor


def flatten(structure: Any) -> list[Any]:
    """The values of a dict, the items of a list or tuple, or ``[structure]``."""
    if isinstance(structure, dict):
        return list(structure.values())
    if isinstance(structure, (list, tuple)):
        return list(structure)
    return [structure]


def as_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return np.asarray(value.numpy())
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be a numpy array (or a list/dict of arrays), got {type(value).__name__}") from err
    if array.dtype == object:
        raise TypeError(f"{what} must hold numbers, got an array of Python objects")
    if array.dtype.kind in "USO":
        raise TypeError(
            f"{what} must hold numbers, got strings (dtype {array.dtype}): encode string labels as "
            "integer class ids first, e.g. `ids = np.unique(labels, return_inverse=True)[1]`"
        )
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got dtype {array.dtype}")
    return array


def to_list(value: Any, names: list[str], what: str) -> list[np.ndarray]:
    """``value`` as a list of arrays in the order of ``names`` (the model's inputs or outputs)."""
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            raise ValueError(f"{what} is a dict without the key(s) {missing}; expected keys {names}")
        extra = sorted(set(value) - set(names))
        if extra:
            raise ValueError(f"{what} has unexpected key(s) {extra}; expected keys {names}")
        arrays = [as_array(value[n], f"{what}[{n!r}]") for n in names]
    elif isinstance(value, (list, tuple)) and len(names) > 1:
        arrays = [as_array(v, f"{what}[{i}]") for i, v in enumerate(value)]
    else:
        arrays = [as_array(value, what)]
    if len(arrays) != len(names):
        raise ValueError(f"the model expects {len(names)} array(s) for {what} ({names}), got {len(arrays)}")
    return arrays


# Elements checked at a time by `all_finite`: a 1 MB boolean temporary, however large the array.
_FINITE_CHUNK = 1 << 20


def all_finite(array: np.ndarray) -> bool:
    """Whether every value of a C-contiguous float array is finite, checked a chunk at a time:
    ``np.isfinite(x).all()`` would allocate a boolean array as large as ``x`` (47 MB for
    60,000 MNIST images) on every ``fit`` call."""
    flat = array.reshape(-1)
    return all(bool(np.isfinite(flat[i : i + _FINITE_CHUNK]).all()) for i in range(0, flat.size, _FINITE_CHUNK))


def cast(arrays: list[np.ndarray], dtype: str, what: str) -> list[np.ndarray]:
    """Arrays as C-contiguous ``dtype``, refusing NaN and infinity (which would silently poison
    training). An array that already is one is returned as it is, not copied: the engine reads
    its batches from it in place."""
    out = []
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"{what} must have a batch axis, got a scalar")
        converted = np.ascontiguousarray(a, dtype=dtype)
        if a.dtype.kind == "f" and not all_finite(converted):
            bad = int(np.size(converted) - np.count_nonzero(np.isfinite(converted)))
            name = what if len(arrays) == 1 else f"{what}[{i}]"
            raise ValueError(
                f"{name} (shape {a.shape}) contains {bad} NaN or infinite value(s); clean the data before training"
            )
        out.append(converted)
    return out


def check_lengths(groups: dict[str, list[np.ndarray]]) -> int:
    """The common number of samples, or a ValueError naming the arrays that differ."""
    sizes = {
        f"{name}[{i}]" if len(arrays) > 1 else name: a.shape[0]
        for name, arrays in groups.items()
        for i, a in enumerate(arrays)
    }
    distinct = set(sizes.values())
    if len(distinct) > 1:
        listed = ", ".join(f"{k} sizes: {v}" for k, v in sizes.items())
        raise ValueError(
            f"Data cardinality is ambiguous. Make sure all arrays contain the same number of samples. {listed}"
        )
    return distinct.pop() if distinct else 0


def validation_split(arrays: list[list[np.ndarray] | None], split: float) -> tuple[list[Any], list[Any]]:
    """Keras's ``train_validation_split``: the last ``split`` fraction, before any shuffling."""
    if not 0.0 < split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {split}")
    n = next(a[0].shape[0] for a in arrays if a)
    split_at = int(math.floor(n * (1.0 - split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not sufficient to split it into a validation and "
            f"training set as specified by `validation_split={split}`. Either provide more data, or a "
            "different value for the `validation_split` argument."
        )
    train = [None if a is None else [x[:split_at] for x in a] for a in arrays]
    val = [None if a is None else [x[split_at:] for x in a] for a in arrays]
    return train, val


def class_weights(y: np.ndarray, class_weight: dict[int, float]) -> np.ndarray:
    """Per-sample weights from a class-weight dict: labels are class ids or one-hot rows
    (argmax); classes missing from the dict weigh 1, as Keras."""
    if y.ndim >= 2 and y.shape[-1] > 1:
        labels = np.argmax(y, axis=-1).reshape(-1)
    else:
        labels = np.asarray(y).reshape(-1)
        if labels.dtype.kind == "f":
            if not np.all(labels == np.round(labels)):
                raise ValueError("class_weight needs integer class labels (or one-hot targets)")
        labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"class_weight needs non-negative class labels, got {labels.min()}")
    top = max([int(k) for k in class_weight] + [int(labels.max()) if labels.size else 0])
    table = np.ones(top + 1, dtype=np.float64)
    for k, v in class_weight.items():
        table[int(k)] = float(v)
    return table[labels]
