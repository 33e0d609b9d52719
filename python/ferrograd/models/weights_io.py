"""``save_weights``/``load_weights`` in a simple, safe format until whole-model saving lands: a
``.npz`` of the weights in :meth:`Model.get_weights` order (keys ``w0``, ``w1``, ...), written to
a temporary file beside the target and renamed, and read with ``allow_pickle=False`` so loading
never executes code."""

from __future__ import annotations

import os
import tempfile
import zipfile
from typing import Any

import numpy as np


def save(model: Any, filepath: str, overwrite: bool = True) -> None:
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    weights = model.get_weights()
    directory = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix=".ferrograd-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{f"w{i}": w for i, w in enumerate(weights)})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(model: Any, filepath: str) -> None:
    filepath = os.fspath(filepath)
    try:
        with np.load(filepath, allow_pickle=False) as archive:
            keys = sorted(archive.files, key=lambda k: int(k[1:]) if k[1:].isdigit() else -1)
            if any(not (k.startswith("w") and k[1:].isdigit()) for k in keys):
                raise ValueError(f"{filepath} is not a ferrograd weights file (unexpected entries {archive.files})")
            arrays = [archive[k] for k in keys]
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{filepath} is not a readable weights file: {err}") from err
    expected = model.weights
    if len(arrays) != len(expected):
        raise ValueError(
            f"{filepath} holds {len(arrays)} weight arrays but model '{model.name}' has {len(expected)} weights"
        )
    for var, array in zip(expected, arrays):
        if tuple(array.shape) != tuple(var.shape):
            raise ValueError(
                f"weight '{var.name}' has shape {tuple(var.shape)} but {filepath} holds shape {tuple(array.shape)}"
            )
    model.set_weights(arrays)
