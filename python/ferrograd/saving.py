"""Keras 3's object serialization (``keras.saving``): objects to JSON-ready dicts and back.

An object is written as Keras 3 writes it::

    {"module": "keras.layers", "class_name": "Dense", "config": {...}, "registered_name": None,
     "build_config": {"input_shape": [None, 4]}}

so a model's architecture can be stored as JSON and rebuilt by Python or by the Rust loader.
Reading resolves class names only through lookups: the built-in classes and functions,
classes registered with :func:`register_serializable`, and ``custom_objects`` (an argument or a
:class:`CustomObjectScope`). ``"module"`` is informational: nothing named in a config is
imported, evaluated or unpickled, so loading a file never runs code it names::

    @fg.saving.register_serializable(package="MyLib")
    class Scale(fg.layers.Layer):
        ...

    config = fg.saving.serialize_keras_object(layer)      # registered_name "MyLib>Scale"
    clone = fg.saving.deserialize_keras_object(config)
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Callable

import numpy as np

__all__ = [
    "CustomObjectScope",
    "register_keras_serializable",
    "UnknownObjectError",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_serializable",
    "serialize_keras_object",
]

# Keras's GLOBAL_CUSTOM_OBJECTS ("package>Name" -> object) and its inverse.
_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}
_GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}
_SCOPE = threading.local()

# What Keras 3 writes for its models ("module", "class_name", "registered_name").
_FUNCTIONAL = ("keras.src.models.functional", "Functional", "Functional")
_SEQUENTIAL = ("keras", "Sequential", None)


# ----- registration


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[Any], Any]:
    """Keras's ``register_keras_serializable``: registers a class or function under
    ``"package>name"`` (``name`` defaults to its ``__name__``) so configs can name it."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"package must be a string without '>', got {package!r}")

    def decorator(arg: Any) -> Any:
        registered_name = f"{package}>{name if name is not None else arg.__name__}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError(f"Cannot register {arg.__name__}: a class needs a get_config() method to be serialized")
        if registered_name in _GLOBAL_CUSTOM_OBJECTS and _GLOBAL_CUSTOM_OBJECTS[registered_name] is not arg:
            previous = _GLOBAL_CUSTOM_OBJECTS[registered_name]
            _GLOBAL_CUSTOM_NAMES.pop(previous, None)
        _GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        _GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg

    return decorator


def get_registered_name(obj: Any) -> str:
    """The name ``obj`` is registered under, or its ``__name__`` (as Keras)."""
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def get_custom_objects() -> dict[str, Any]:
    """The global registry (``"package>Name" -> object``); entries added to it are found by
    name when deserializing, as in Keras."""
    return _GLOBAL_CUSTOM_OBJECTS


def _scoped_objects() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for objects in getattr(_SCOPE, "stack", []):
        merged.update(objects)
    return merged


def get_registered_object(
    name: str, custom_objects: dict[str, Any] | None = None, module_objects: dict[str, Any] | None = None
) -> Any:
    """The object called ``name`` in the active :class:`CustomObjectScope`, the global registry,
    ``custom_objects`` or ``module_objects`` (in that order), or None."""
    for table in (_scoped_objects(), _GLOBAL_CUSTOM_OBJECTS, custom_objects or {}, module_objects or {}):
        if name in table:
            return table[name]
    return None


class CustomObjectScope:
    """``with CustomObjectScope({"MyLayer": MyLayer}):`` makes those names resolvable by every
    deserialization inside the block (Keras's ``custom_object_scope``)."""

    def __init__(self, custom_objects: dict[str, Any] | None = None) -> None:
        if custom_objects is not None and not isinstance(custom_objects, dict):
            raise TypeError(f"custom_objects must be a dict of names to objects, got {type(custom_objects).__name__}")
        self.custom_objects = dict(custom_objects or {})

    def __enter__(self) -> CustomObjectScope:
        if not hasattr(_SCOPE, "stack"):
            _SCOPE.stack = []
        _SCOPE.stack.append(self.custom_objects)
        return self

    def __exit__(self, *exc: Any) -> None:
        _SCOPE.stack.pop()


custom_object_scope = CustomObjectScope


# ----- the built-in objects

# Built-in classes and functions by Keras module ("keras.layers" -> {"Dense": Dense}). The
# modules that define them register them (:func:`register_builtins`), so this module imports
# none of them. The order of the tables decides the module written for an object found in two
# (a loss function that is also a metric is written under "keras.losses").
_BUILTIN_CLASSES: dict[str, dict[str, type]] = {
    module: {}
    for module in (
        "keras.layers",
        "keras",
        "keras.initializers",
        "keras.regularizers",
        "keras.optimizers",
        "keras.optimizers.schedules",
        "keras.losses",
        "keras.metrics",
    )
}
_BUILTIN_FUNCTIONS: dict[str, dict[str, Callable[..., Any]]] = {
    module: {} for module in ("keras.activations", "keras.losses", "keras.metrics")
}

# The symbolic tensor of functional graphs (``layers.base.KerasTensor``), registered by its module.
_KERAS_TENSOR_TYPES: list[type] = []
# ``models.model_io.load_model``, registered by its module (it sits above this one).
_MODEL_LOADER: list[Callable[..., Any]] = []


def register_builtins(keras_module: str, objects: dict[str, Any]) -> None:
    """Records ferrograd's own classes or functions as the built-ins of ``keras_module``, under
    the names a config uses. Called by the module that defines or exports them; user classes are
    registered with :func:`register_serializable` instead."""
    for name, obj in objects.items():
        if not getattr(obj, "__module__", "").startswith("ferrograd."):
            raise ValueError(f"{obj!r} is not defined by ferrograd: register it with register_serializable()")
        tables = _BUILTIN_FUNCTIONS if inspect.isfunction(obj) else _BUILTIN_CLASSES
        if keras_module not in tables:
            raise ValueError(f"Unknown Keras module {keras_module!r} for {obj!r}; known: {sorted(tables)}")
        tables[keras_module][name] = obj


def exported_classes(namespace: dict[str, Any], base: type) -> dict[str, type]:
    """The classes a module exports (its ``__all__``) that subclass ``base``, by exported name:
    what it passes to :func:`register_builtins` (``namespace`` is its ``globals()``)."""
    found = {name: namespace[name] for name in namespace["__all__"]}
    return {name: obj for name, obj in found.items() if inspect.isclass(obj) and issubclass(obj, base)}


def register_keras_tensor_type(cls: type) -> type:
    """Class decorator: instances of ``cls`` are written as ``__keras_tensor__`` entries."""
    _KERAS_TENSOR_TYPES.append(cls)
    return cls


def register_model_loader(load: Callable[..., Any]) -> Callable[..., Any]:
    """Records the function :func:`load_model` delegates to (the models package defines it)."""
    _MODEL_LOADER[:] = [load]
    return load


def _builtin_classes() -> dict[str, dict[str, Any]]:
    """Built-in classes by Keras module: every class exported by ``fg.layers``, the models,
    initializers, regularizers, optimizers, schedules, losses and metrics."""
    return _BUILTIN_CLASSES


def _builtin_functions() -> dict[str, dict[str, Any]]:
    """Built-in functions by Keras module: activations, loss and metric functions."""
    return _BUILTIN_FUNCTIONS


# Keras 3 writes some classes under their source module; they resolve as the public one.
_MODULE_ALIASES = {
    "keras.src.models.functional": "keras",
    "keras.src.models.sequential": "keras",
    "keras.src.models.model": "keras",
    "keras.models": "keras",
}


def _builtin_module(obj: Any) -> str | None:
    """The Keras module a built-in class or function is exported from, or None."""
    tables = _builtin_functions() if inspect.isfunction(obj) else _builtin_classes()
    for module, table in tables.items():
        if any(value is obj for value in table.values()):
            return module
    return None


def _lookup_builtin(name: Any, module: Any, tables: dict[str, dict[str, Any]]) -> Any:
    """``name`` in the table of ``module``, or (for a module we do not know) in any table."""
    if not isinstance(name, str):
        return None
    module = _MODULE_ALIASES.get(module, module)
    if module in tables:
        return tables[module].get(name)
    for table in tables.values():
        if name in table:
            return table[name]
    return None


# ----- serializing


def serialize_keras_object(obj: Any) -> Any:
    """``obj`` as JSON-ready data in Keras 3's format: plain values as they are (tuples as
    lists, numpy scalars as Python numbers), objects as ``{"module", "class_name", "config",
    "registered_name"}`` plus ``build_config`` and ``compile_config`` when they have them."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(item) for item in obj]
    if isinstance(obj, dict):
        return serialize_dict(obj)
    if isinstance(obj, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, tuple(_KERAS_TENSOR_TYPES)):
        return _serialize_keras_tensor(obj)
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return _serialize_function(obj)
    return _serialize_instance(obj)


def serialize_dict(config: dict[Any, Any]) -> dict[str, Any]:
    """Each value of ``config`` serialized; keys must be strings (JSON's rule)."""
    out = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise TypeError(f"Cannot serialize a dict with the non-string key {key!r}: JSON keys are strings")
        out[key] = serialize_keras_object(value)
    return out


def _serialize_keras_tensor(tensor: Any, history: list[Any] | None = None) -> dict[str, Any]:
    if history is None and tensor._node is not None:
        node = tensor._node
        history = [node.layer.name, node.layer._inbound_nodes.index(node), tensor._output_index]
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": list(tensor.shape), "dtype": tensor.dtype, "keras_history": history},
    }


def _serialize_function(fn: Any) -> dict[str, Any]:
    if fn.__name__ == "<lambda>":
        raise ValueError(
            "Cannot serialize a lambda: loading it would mean running stored code. Use a named function "
            "decorated with @fg.saving.register_serializable()."
        )
    module = _builtin_module(fn)
    if module is not None:
        return {"module": module, "class_name": "function", "config": fn.__name__, "registered_name": fn.__name__}
    # As Keras, an unregistered function is written under its own name: it loads only with
    # custom_objects naming it.
    registered_name = _GLOBAL_CUSTOM_NAMES.get(fn, fn.__name__)
    return {
        "module": fn.__module__,
        "class_name": "function",
        "config": fn.__name__,
        "registered_name": registered_name,
    }


def _is_custom_model(obj: Any) -> bool:
    models = tuple(_BUILTIN_CLASSES["keras"].values())
    return isinstance(obj, models) and type(obj) not in models


def _serialize_instance(obj: Any) -> dict[str, Any]:
    cls = type(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(
            f"Cannot serialize {obj!r} of type {cls.__name__}: a serializable class implements get_config()"
        )
    module = _builtin_module(cls)
    registered_name = _GLOBAL_CUSTOM_NAMES.get(cls)
    if module is None and registered_name is None and _is_custom_model(obj):
        raise ValueError(
            f"Cannot serialize the model class {cls.__name__}: it is not registered, so a loader could not "
            f"rebuild it. Decorate it with @fg.saving.register_serializable() and give it a get_config() "
            "returning its constructor arguments."
        )
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"{cls.__name__}.get_config() must return a dict, got {type(config).__name__}")
    if module is None:
        _check_config_covers_init(cls, config)
    inner = serialize_dict(config)
    if module is not None:
        if cls is _BUILTIN_CLASSES["keras"].get("Functional"):
            module, class_name, registered = _FUNCTIONAL
        else:
            class_name, registered = cls.__name__, None
        out = {"module": module, "class_name": class_name, "config": inner, "registered_name": registered}
    else:
        # Keras writes an unregistered class under its own name; it then loads only with
        # custom_objects naming it.
        out = {
            "module": cls.__module__,
            "class_name": cls.__name__,
            "config": inner,
            "registered_name": registered_name if registered_name is not None else cls.__name__,
        }
    build_config = obj.get_build_config() if hasattr(obj, "get_build_config") else None
    if build_config is not None:
        out["build_config"] = serialize_dict(build_config)
    compile_config = obj.get_compile_config() if hasattr(obj, "get_compile_config") else None
    if compile_config is not None:
        out["compile_config"] = serialize_dict(compile_config)
    return out


def _check_config_covers_init(cls: type, config: dict[str, Any]) -> None:
    """A custom class that keeps the default ``from_config`` (``cls(**config)``) must put every
    required constructor argument in its config; otherwise the file could not be loaded."""
    if any("from_config" in vars(base) for base in cls.__mro__ if not base.__module__.startswith("ferrograd.")):
        return
    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return
    missing = [
        p.name
        for p in list(params)[1:]
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name not in config
    ]
    if missing:
        raise ValueError(
            f"{cls.__name__}.get_config() lacks the constructor argument(s) {missing}, so "
            f"{cls.__name__}.from_config could not rebuild it; add them to get_config() (or override from_config)."
        )


# ----- deserializing


def deserialize_keras_object(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The object a :func:`serialize_keras_object` config describes. Classes are found by
    registered name, then by class name in ``custom_objects`` and the active scope, then among
    the built-ins; an unknown name is a ``TypeError`` naming it."""
    if custom_objects:
        with CustomObjectScope(custom_objects):
            return deserialize_keras_object(config)
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):
        found = get_registered_object(config)
        return config if found is None else found
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(item) for item in config]
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {key: deserialize_keras_object(value) for key, value in config.items()}
    class_name = config["class_name"]
    inner = config["config"]
    special = _deserialize_special(class_name, inner)
    if special is not _NOT_SPECIAL:
        return special
    if class_name == "function":
        return _retrieve_function(config)
    cls = _retrieve_class(config)
    instance = _instantiate(cls, inner, class_name)
    build_config = config.get("build_config")
    if build_config and hasattr(instance, "build_from_config"):
        instance.build_from_config(build_config)
    compile_config = config.get("compile_config")
    if compile_config and hasattr(instance, "compile_from_config"):
        instance.compile_from_config(compile_config)
    return instance


_NOT_SPECIAL = object()


def _deserialize_special(class_name: Any, inner: Any) -> Any:
    if class_name == "__numpy__" or class_name == "__tensor__":
        return np.asarray(inner["value"], dtype=inner.get("dtype"))
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__lambda__":
        raise ValueError(
            "The config holds a serialized lambda (Python bytecode). ferrograd never runs code from a "
            "config; register a named function with @fg.saving.register_serializable() instead."
        )
    if class_name == "__keras_tensor__":
        raise ValueError("A __keras_tensor__ entry is only meaningful inside a functional model's config")
    if isinstance(class_name, str) and class_name.startswith("__"):
        raise ValueError(f"Unsupported special object {class_name!r} in the config")
    return _NOT_SPECIAL


class UnknownObjectError(TypeError):
    """A config names a class or function that is neither built in nor registered."""


def _not_found(kind: str, name: Any, registered_name: Any) -> UnknownObjectError:
    also = f" (registered name {registered_name!r})" if registered_name and registered_name != name else ""
    return UnknownObjectError(
        f"Could not locate {kind} {name!r}{also}. If it is a custom {kind}, decorate it with "
        "@fg.saving.register_serializable() or pass it in `custom_objects` (e.g. "
        f"custom_objects={{{str(name)!r}: ...}}). Configs are resolved by name only; modules they name are "
        "never imported."
    )


def _retrieve_class(config: dict[str, Any]) -> Any:
    class_name = config["class_name"]
    registered_name = config.get("registered_name")
    for name in (registered_name, class_name):
        if isinstance(name, str):
            found = get_registered_object(name)
            if found is not None:
                return found
    found = _lookup_builtin(class_name, config.get("module"), _builtin_classes())
    if found is None:
        raise _not_found("class", class_name, registered_name)
    return found


def _retrieve_function(config: dict[str, Any]) -> Any:
    name = config["config"]
    registered_name = config.get("registered_name")
    for key in (registered_name, name):
        if isinstance(key, str):
            found = get_registered_object(key)
            if found is not None:
                return found
    found = _lookup_builtin(name, config.get("module"), _builtin_functions())
    if found is None:
        raise _not_found("function", name, registered_name)
    return found


def _instantiate(cls: Any, inner: Any, class_name: str) -> Any:
    if not inspect.isclass(cls):
        raise TypeError(f"{class_name!r} resolves to {cls!r}, which is not a class")
    if not isinstance(inner, dict):
        raise TypeError(f"The config of {class_name!r} must be a dict, got {type(inner).__name__}")
    from_config = getattr(cls, "from_config", None)
    if from_config is None:
        raise TypeError(f"{cls.__name__} cannot be deserialized: it has no from_config()")
    try:
        return from_config(dict(inner))
    except UnknownObjectError:
        raise
    except TypeError as err:
        raise TypeError(
            f"{cls.__name__} could not be deserialized properly: {err}. Make sure its get_config() returns "
            "every constructor argument (or override from_config)."
        ) from err


def save_model(model: Any, filepath: Any, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Keras's ``keras.saving.save_model``: ``model.save(filepath)``."""
    model.save(filepath, overwrite=overwrite, include_optimizer=include_optimizer)


def load_model(
    filepath: Any, custom_objects: dict[str, Any] | None = None, compile: bool = True, safe_mode: bool = True
) -> Any:
    """Keras's ``keras.saving.load_model``: the model a ferrograd model file holds."""
    (load,) = _MODEL_LOADER  # registered by ferrograd.models.model_io, which ferrograd imports
    return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


# Keras's own name for the decorator, so ``@fg.saving.register_keras_serializable()`` works as in
# ``keras.saving``.
register_keras_serializable = register_serializable
