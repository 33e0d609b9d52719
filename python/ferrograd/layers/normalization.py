"""Keras's normalization layers over engine layers: ``BatchNormalization``,
``LayerNormalization`` and ``GroupNormalization``. Each is one fused op in Rust (forward and
analytic backward); the classes here hold Keras's arguments, defaults, weights and config.

Example::

    >>> import numpy as np, ferrograd as fg
    >>> bn = fg.layers.BatchNormalization()
    >>> y = bn(np.random.rand(8, 4).astype("float32"), training=True)  # batch statistics
    >>> [w.name for w in bn.weights]
    ['gamma', 'beta', 'moving_mean', 'moving_variance']
"""

from __future__ import annotations

from typing import Any

from .. import initializers, regularizers
from .core import EngineLayer, _get_initializer

__all__ = ["BatchNormalization", "GroupNormalization", "LayerNormalization"]

# Weights a layer keeps as statistics, not trained by optimizers.
_NON_TRAINABLE = ("moving_mean", "moving_variance")


def _axis_list(axis: Any, layer: str) -> list[int]:
    if isinstance(axis, bool) or not isinstance(axis, (int, list, tuple)):
        raise TypeError(f"Expected an int or a list/tuple of ints for the argument 'axis' of {layer}, got {axis!r}")
    axes = [axis] if isinstance(axis, int) else list(axis)
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"Expected an int or a non-empty list/tuple of ints for 'axis' of {layer}, got {axis!r}")
    return axes


def _serialize_regularizer(regularizer: Any) -> Any:
    return None if regularizer is None else regularizers.serialize(regularizer)


class _Normalization(EngineLayer):
    """Shared construction: gamma/beta initializers and regularizers, and a ``build`` that
    creates the moving statistics as non-trainable weights."""

    def _init_affine(
        self,
        center: bool,
        scale: bool,
        beta_initializer: Any,
        gamma_initializer: Any,
        beta_regularizer: Any,
        gamma_regularizer: Any,
        beta_constraint: Any,
        gamma_constraint: Any,
    ) -> None:
        if beta_constraint is not None or gamma_constraint is not None:
            raise NotImplementedError("weight constraints are not supported yet")
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _get_initializer(beta_initializer)
        self.gamma_initializer = _get_initializer(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        self._core_layer.output_shapes([shape])  # validates before any weight exists
        for name, weight_shape in self._core_layer.weight_specs([shape]):
            variable = self.add_weight(
                shape=weight_shape,
                initializer=self._initializer_for(name),
                regularizer=self._regularizer_for(name),
                trainable=name not in _NON_TRAINABLE,
                name=name,
            )
            object.__setattr__(self, name, variable)
        self._core_layer.set_built()
        self.built = True

    def _affine_config(self) -> dict[str, Any]:
        return {
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": _serialize_regularizer(self.beta_regularizer),
            "gamma_regularizer": _serialize_regularizer(self.gamma_regularizer),
            "beta_constraint": None,
            "gamma_constraint": None,
        }


class BatchNormalization(_Normalization):
    """Keras's ``BatchNormalization``: normalizes each feature along ``axis`` (an int, or a list
    of ints) to mean 0 and variance 1, then scales by ``gamma`` and shifts by ``beta``.

    With ``training=True`` (as in ``fit``) it uses the batch's mean and biased variance and
    updates ``moving_mean`` and ``moving_variance`` as
    ``moving = moving * momentum + batch * (1 - momentum)`` (PyTorch's ``momentum`` is
    ``1 - momentum``); otherwise (and when the layer is frozen) it uses the moving statistics.
    Weights: gamma, beta (trainable), moving_mean, moving_variance (not trainable), each shaped
    as the ``axis`` sizes."""

    def __init__(
        self,
        axis: Any = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if synchronized:
            raise NotImplementedError("synchronized batch normalization needs several devices")
        self.axis = axis if isinstance(axis, int) else list(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self._init_affine(
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
        )
        self.moving_mean_initializer = _get_initializer(moving_mean_initializer)
        self.moving_variance_initializer = _get_initializer(moving_variance_initializer)
        self._make_engine_layer(
            {
                "axis": _axis_list(axis, "BatchNormalization"),
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
            }
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            **self._affine_config(),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "synchronized": False,
        }


class LayerNormalization(_Normalization):
    """Keras's ``LayerNormalization``: each sample normalized over ``axis`` (an int or a list of
    ints) by its own mean and biased variance, then scaled by ``gamma`` and shifted by ``beta``
    (shaped as the ``axis`` sizes). Training and inference compute the same."""

    def __init__(
        self,
        axis: Any = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if rms_scaling:
            raise NotImplementedError("rms_scaling is not supported yet")
        self.axis = axis if isinstance(axis, int) else list(axis)
        self.epsilon = float(epsilon)
        self.rms_scaling = False
        self._init_affine(
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
        )
        self._make_engine_layer(
            {
                "axis": _axis_list(axis, "LayerNormalization"),
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
            }
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "rms_scaling": self.rms_scaling,
            **self._affine_config(),
        }


class GroupNormalization(_Normalization):
    """Keras's ``GroupNormalization`` (Wu & He 2018): the channels on ``axis`` split into
    ``groups`` groups; each sample's group is normalized over its channels and all other
    non-batch axes, then scaled and shifted per channel (``gamma``, ``beta`` of shape
    ``(channels,)``). ``groups=-1`` makes one group per channel (instance normalization)."""

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int):
            raise TypeError(f"groups must be an int, got {groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"axis of GroupNormalization must be an int, got {axis!r}")
        self.groups = groups
        self.axis = axis
        self.epsilon = float(epsilon)
        self._init_affine(
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
        )
        self._make_engine_layer(
            {"groups": groups, "axis": axis, "epsilon": self.epsilon, "center": self.center, "scale": self.scale}
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            **self._affine_config(),
        }
