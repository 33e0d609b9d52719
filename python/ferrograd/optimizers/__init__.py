"""Optimizers with Keras 3's class names, arguments, defaults and update formulas
(``keras.optimizers``). The update loops run in Rust, one fused pass over each variable::

    optimizer = fg.optimizers.Adam(learning_rate=1e-3)
    with fg.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))

Every optimizer takes ``weight_decay`` (decoupled, ``w -= w * weight_decay * lr`` before the
update, as Keras), ``clipnorm`` (per gradient), ``clipvalue`` and ``global_clipnorm`` (over all
gradients; only one of the three), and a learning rate that is a number, a
:mod:`~ferrograd.optimizers.schedules` schedule (stepped once per ``apply_gradients``) or a
callable. Where Keras differs from PyTorch, ferrograd follows Keras: epsilon ``1e-7`` and its
placement (inside the square root for RMSprop and Adagrad; added to the uncorrected ``sqrt(v)``
for Adam), Adagrad's accumulator starting at 0.1, RMSprop's ``rho=0.9``, and SGD's momentum
``v = momentum * v - lr * g; w += v``.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import saving
from . import schedules, surfaces
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lion import Lion
from .nadam import Nadam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD
from .trajectory import trajectory

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "schedules",
    "serialize",
    "surfaces",
    "trajectory",
]


_ALL = (SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam, Lion)
_ALL_BY_NAME: dict[str, type[Optimizer]] = {cls.__name__.lower(): cls for cls in _ALL}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """The optimizer's configuration in Keras's serialized layout (a custom optimizer under its
    registered name, see ``fg.saving.register_serializable``)."""
    if type(optimizer) not in _ALL:

        return saving.serialize_keras_object(optimizer)
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """An optimizer from :func:`serialize`'s dict; built-in class names match case-insensitively."""
    class_name = config.get("class_name", "")
    custom = custom_objects or {}

    registered = saving.get_registered_object(config.get("registered_name") or class_name, custom)
    if class_name in custom:
        cls: Callable[..., Any] = custom[class_name]
    elif registered is not None:
        cls = registered
    elif str(class_name).lower() in _ALL_BY_NAME:
        cls = _ALL_BY_NAME[str(class_name).lower()]
    else:
        raise ValueError(
            f"Unknown optimizer: '{class_name}'. Expected one of {sorted(c.__name__ for c in _ALL)} "
            "(case-insensitive), or pass it in `custom_objects`."
        )
    return cls.from_config(dict(config.get("config", {})), custom_objects=custom_objects)


def get(identifier: Any) -> Optimizer | None:
    """An optimizer from a name (``"adam"``, case-insensitive), a config dict, or an instance
    (returned as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")


saving.register_builtins("keras.optimizers", saving.exported_classes(globals(), Optimizer))
