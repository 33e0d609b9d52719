"""Models with Keras 3's API: functional :class:`Model`, :class:`Sequential`, and
:func:`model_from_json` to rebuild one from ``model.to_json()``."""

from __future__ import annotations

import json
from typing import Any

from .. import saving
from .model import Model
from .model_io import load_model, save_model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model", "model_from_json", "save_model"]

# Keras 3 writes a functional model as "Functional" and a subclassed one as "Model".
saving.register_builtins("keras", {"Sequential": Sequential, "Model": Model, "Functional": Model})


def model_from_json(json_string: str, custom_objects: dict[str, Any] | None = None) -> Model:
    """The model described by ``json_string`` (from :meth:`Model.to_json`), with new weights;
    custom classes must be registered or given in ``custom_objects``. Nothing named in the JSON
    is imported or run: names resolve only through ``fg.saving``'s registry."""
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"model_from_json needs a JSON string from Model.to_json(): {err}") from err
    model = saving.deserialize_keras_object(config, custom_objects=custom_objects)
    if not isinstance(model, Model):
        raise TypeError(f"The JSON describes a {type(model).__name__}, not a model")
    return model
