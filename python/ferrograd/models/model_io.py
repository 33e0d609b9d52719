"""Whole models and weights in one safe file: safetensors, written and read by the engine
(``ferrograd::saving``), so a native Rust program reads exactly what Python writes.

``model.save(path)`` stores every weight under Keras's names (``dense/kernel``), the
architecture as Keras 3's JSON (``model.to_json()`` without the compile settings), the compile
settings (``get_compile_config()``) and the optimizer's state in the file's metadata.
:func:`load_model` rebuilds the model from the JSON through ``fg.saving``'s registry (nothing
named in the file is imported or run), compiles it, and restores weights and optimizer state,
so ``fit`` continues where it stopped. The engine writes to a temporary file beside the target,
syncs it and renames it: a crash or a full disk never leaves half a file or destroys the old one.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from .. import _core, saving
from ..layers.base import FILE_TENSOR_SHAPES, file_tensor_limits
from .trainer import Trainer


def _path(filepath: Any) -> str:
    try:
        return os.fspath(filepath)
    except TypeError:
        raise TypeError(f"filepath must be a str or os.PathLike, got {type(filepath).__name__}") from None


# Keras's own formats: a ferrograd file under one of these names would be a safetensors file that
# Keras cannot open, so they are refused until ferrograd writes them.
_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _writable_path(filepath: Any) -> str:
    path = _path(filepath)
    if str(path).lower().endswith(_KERAS_SUFFIXES):
        raise ValueError(
            f"Cannot save to {path!r}: ferrograd writes safetensors files, not Keras's .keras/.h5 formats "
            "(Keras could not open the file). Use a path ending in '.safetensors', e.g. 'model.safetensors'."
        )
    return path


def _engine_model(model: Any) -> Any:
    if not getattr(model, "_inputs", None) and not getattr(model, "built", False):
        raise ValueError(
            f"model '{model.name}' has no weights yet: build it (give it an Input, or call it on data) before saving"
        )
    return model._core()


def save_model(model: Any, filepath: Any, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Writes ``model`` (architecture, weights, compile settings, optimizer state) to one file."""
    path = _writable_path(filepath)
    config = saving.serialize_keras_object(model)
    compile_config = config.pop("compile_config", None) if isinstance(config, dict) else None
    if compile_config is None and getattr(model, "compiled", False):
        compile_config = model.get_compile_config()
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    _core.save_model(
        _engine_model(model),
        path,
        json.dumps(config),
        None if compile_config is None else json.dumps(compile_config),
        getattr(optimizer, "_engine", None),
        overwrite,
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicated = sorted({key for key in keys if keys.count(key) > 1})
        raise ValueError(f"a JSON object repeats the key(s) {duplicated}")
    return dict(pairs)


def _json(text: str, what: str) -> Any:
    """JSON from a file's metadata, refusing what readers disagree on or cannot nest: a repeated
    key (one reader takes the first, another the last) and nesting deep enough to exhaust the
    recursion limit."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{what} is not valid JSON: {err}") from err
    except RecursionError:
        raise ValueError(f"{what} nests too deeply to be a model's JSON") from None


def model_from_bytes(data: bytes) -> Any:
    """The model whose file bytes are ``data`` (what pickling a model stores, as Keras 3
    pickles models through their saved form)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        return load_model(path)


def model_to_bytes(model: Any) -> bytes:
    """``model``'s file, as bytes."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.safetensors")
        save_model(model, path)
        with open(path, "rb") as f:
            return f.read()


@saving.register_model_loader
def load_model(
    filepath: Any, custom_objects: dict[str, Any] | None = None, compile: bool = True, safe_mode: bool = True
) -> Any:
    """The model saved by :func:`save_model`, with its weights and, when ``compile``, compiled
    with its optimizer's state restored. Custom layers must be registered
    (``fg.saving.register_serializable``) or given in ``custom_objects``."""
    path = _path(filepath)
    metadata, shapes = _core.read_model_header(path)
    if "model_config" not in metadata:
        raise ValueError(f"{path} holds no model architecture (it is a weights file: use model.load_weights)")
    config = _json(metadata["model_config"], f"the architecture stored in {path}")
    if isinstance(config, dict):
        config.pop("compile_config", None)
    token = FILE_TENSOR_SHAPES.set(file_tensor_limits(shapes))
    try:
        model = saving.deserialize_keras_object(config, custom_objects=custom_objects)
    except (AttributeError, KeyError, IndexError, OverflowError, RecursionError) as err:
        # A config this package did not write (damaged or hand-edited): name the file.
        raise ValueError(f"the architecture stored in {path} is not valid: {type(err).__name__}: {err}") from err
    finally:
        FILE_TENSOR_SHAPES.reset(token)
    if not isinstance(model, Trainer):  # every model, and nothing else, is a Trainer
        raise ValueError(f"{path} describes a {type(model).__name__}, not a model")
    optimizer = None
    compile_text = metadata.get("compile_config")
    if compile and compile_text:
        compile_config = _json(compile_text, f"the compile settings stored in {path}")
        with saving.custom_object_scope(custom_objects or {}):
            model.compile_from_config(compile_config)
        optimizer = model.optimizer._engine
    _core.load_model_state(_engine_model(model), path, optimizer)
    return model


def save_weights(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Writes the weights alone (safetensors, Keras's names)."""
    _core.save_weights(_engine_model(model), _writable_path(filepath), overwrite)


def load_weights(model: Any, filepath: Any, skip_mismatch: bool = False) -> dict[str, Any]:
    """Loads weights by name; when no name matches (the model was built with other layer
    names) by position, if the saved order, count and shapes agree. With ``skip_mismatch``
    weights missing from the file or of another shape are skipped (and reported in the result)."""
    return _core.load_weights(_engine_model(model), _path(filepath), skip_mismatch)
