"""Keras's pooling and spatial reshaping layers, channels_last: ``MaxPooling1D/2D``,
``AveragePooling1D/2D``, ``GlobalMaxPooling1D/2D``, ``GlobalAveragePooling1D/2D``,
``ZeroPadding1D/2D``, ``Cropping1D/2D`` and ``UpSampling1D/2D`` (nearest, or bilinear in 2-D).
Each computes in Rust; the classes here hold Keras's arguments, defaults and configs.

Example::

    >>> import numpy as np, ferrograd as fg
    >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> fg.layers.MaxPooling2D()(x).numpy()[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .core import EngineLayer

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "Cropping1D",
    "Cropping2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _standardize_tuple(value: Any, n: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """Keras's ``standardize_tuple``: an int repeated ``n`` times, or a sequence of ``n`` ints,
    all positive (or non-negative with ``allow_zero``)."""
    if _is_int(value):
        values: tuple[Any, ...] = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(
                f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
            ) from None
        if len(values) != n or not all(_is_int(v) for v in values):
            raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}")
    bad = [v for v in values if v < 0 or (v == 0 and not allow_zero)]
    if bad:
        rule = "value >= 0" if allow_zero else "value > 0"
        raise ValueError(
            f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value} "
            f"including values {set(bad)} that do not satisfy `{rule}`"
        )
    return tuple(int(v) for v in values)


def _pairs(value: Any, n: int, name: str) -> tuple[tuple[int, int], ...]:
    """Keras's padding/cropping argument: an int (same on both sides of every axis), ``n``
    ints (symmetric per axis), or ``n`` pairs ``(before, after)``; all non-negative. For one
    axis a pair of ints is ``(before, after)``."""
    if n == 1:
        pair = _standardize_tuple(value, 2, name, allow_zero=True)
        return ((pair[0], pair[1]),)
    if _is_int(value):
        _standardize_tuple(value, 1, name, allow_zero=True)
        return ((value, value),) * n
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(
            f"`{name}` should be an int, a tuple of {n} ints or {n} pairs of ints. Received: {name}={value}"
        ) from None
    if len(items) != n:
        raise ValueError(f"`{name}` should have {n} elements. Received: {name}={value}")
    pairs = []
    for item in items:
        if _is_int(item):
            item = (item, item)
        pairs.append(_standardize_tuple(item, 2, name, allow_zero=True))
    return tuple((p[0], p[1]) for p in pairs)


def _channels_last(data_format: Any) -> str:
    if data_format not in (None, "channels_last"):
        raise NotImplementedError("only data_format='channels_last' is supported")
    return "channels_last"


def _padding_name(padding: Any) -> str:
    name = str(padding).lower()
    if name not in ("valid", "same"):
        raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: padding={padding}")
    return name


class _Pooling(EngineLayer):
    """Keras's ``BasePooling``: ``pool_size``, ``strides`` (default: ``pool_size``), ``padding``."""

    _mode = "max"
    _rank = 2

    def __init__(
        self,
        pool_size: Any = None,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if pool_size is None:
            pool_size = 2
        self.pool_size = _standardize_tuple(pool_size, self._rank, "pool_size")
        self.strides = self.pool_size if strides is None else _standardize_tuple(strides, self._rank, "strides")
        self.padding = _padding_name(padding)
        self.data_format = _channels_last(data_format)
        self._make_engine_layer({"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling):
    """Keras's ``MaxPooling1D(pool_size=2, strides=None, padding="valid")`` over
    ``(batch, steps, features)``."""

    _mode, _rank = "max", 1

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling2D(_Pooling):
    """Keras's ``MaxPooling2D(pool_size=(2, 2), strides=None, padding="valid")`` over
    ``(batch, height, width, channels)``."""

    _mode, _rank = "max", 2

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(_Pooling):
    """Keras's ``AveragePooling1D(pool_size=2, strides=None, padding="valid")``; with
    ``padding="same"`` each window is averaged over its real (non-padded) elements."""

    _mode, _rank = "average", 1

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling2D(_Pooling):
    """Keras's ``AveragePooling2D(pool_size=(2, 2), strides=None, padding="valid")``; with
    ``padding="same"`` each window is averaged over its real (non-padded) elements."""

    _mode, _rank = "average", 2

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling(EngineLayer):
    """Keras's ``BaseGlobalPooling``: the max or mean over every spatial axis."""

    _mode = "average"
    _rank = 2

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = _channels_last(data_format)
        self.keepdims = bool(keepdims)
        self._make_engine_layer({"keepdims": self.keepdims})
        self.built = True

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        if mask is None:
            return super().call(inputs, training)
        if (self._mode, self._rank) != ("average", 1):
            raise NotImplementedError(f"{type(self).__name__} does not take a mask (Keras's does not either)")
        # Keras's GlobalAveragePooling1D: the mean over the unmasked steps.
        mask = mask if isinstance(mask, _core.Tensor) else _core.convert_to_tensor(np.asarray(mask).astype(self.dtype))
        return self._core_layer.call_masked([_core.convert_to_tensor(inputs)], [mask], bool(training))[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling):
    """Keras's ``GlobalAveragePooling1D(keepdims=False)``: ``(batch, steps, features)`` to
    ``(batch, features)`` (or ``(batch, 1, features)``)."""

    _mode, _rank = "average", 1


class GlobalAveragePooling2D(_GlobalPooling):
    """Keras's ``GlobalAveragePooling2D(keepdims=False)``: ``(batch, h, w, channels)`` to
    ``(batch, channels)`` (or ``(batch, 1, 1, channels)``)."""

    _mode, _rank = "average", 2


class GlobalMaxPooling1D(_GlobalPooling):
    """Keras's ``GlobalMaxPooling1D(keepdims=False)``."""

    _mode, _rank = "max", 1


class GlobalMaxPooling2D(_GlobalPooling):
    """Keras's ``GlobalMaxPooling2D(keepdims=False)``."""

    _mode, _rank = "max", 2


class ZeroPadding1D(EngineLayer):
    """Keras's ``ZeroPadding1D(padding=1)``: zeros before and after the steps axis; ``padding``
    is an int or ``(before, after)``."""

    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = _pairs(padding, 1, "padding")[0]
        self.data_format = _channels_last(data_format)
        self._make_engine_layer({"padding": self.padding})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding2D(EngineLayer):
    """Keras's ``ZeroPadding2D(padding=(1, 1))``: an int, ``(sym_height, sym_width)`` or
    ``((top, bottom), (left, right))``."""

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = _pairs(padding, 2, "padding")
        self.data_format = _channels_last(data_format)
        self._make_engine_layer({"padding": self.padding})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping1D(EngineLayer):
    """Keras's ``Cropping1D(cropping=(1, 1))``: steps removed from the start and end."""

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, 1, "cropping")[0]
        self._make_engine_layer({"cropping": self.cropping})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping}


class Cropping2D(EngineLayer):
    """Keras's ``Cropping2D(cropping=((0, 0), (0, 0)))``: an int, ``(sym_height, sym_width)``
    or ``((top, bottom), (left, right))``."""

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, 2, "cropping")
        self.data_format = _channels_last(data_format)
        self._make_engine_layer({"cropping": self.cropping})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class UpSampling1D(EngineLayer):
    """Keras's ``UpSampling1D(size=2)``: each step repeated ``size`` times."""

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = _standardize_tuple(size, 1, "size")[0]
        self._make_engine_layer({"size": self.size})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


# Keras 3's ``ops.image.resize`` interpolations (its JAX/TensorFlow/numpy backends'
# ``RESIZE_INTERPOLATIONS``; there is no "area"), and the ones implemented here.
_KERAS_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")
_SUPPORTED_INTERPOLATIONS = ("nearest", "bilinear")


def _interpolation(value: Any) -> str:
    """Keras lower-cases the name; unknown names are a ValueError, Keras's other resize methods
    a NotImplementedError, both naming the supported ones."""
    name = value.lower() if isinstance(value, str) else value
    if name in _SUPPORTED_INTERPOLATIONS:
        return name
    if name in _KERAS_INTERPOLATIONS:
        raise NotImplementedError(
            f"interpolation={value!r} is not implemented yet; UpSampling2D supports "
            f"{', '.join(repr(n) for n in _SUPPORTED_INTERPOLATIONS)}"
        )
    raise ValueError(
        "Invalid value for argument `interpolation`. Expected one of "
        f"{_SUPPORTED_INTERPOLATIONS} (Keras also knows {_KERAS_INTERPOLATIONS[2:]}, not implemented "
        f"here). Received: interpolation={value!r}"
    )


class UpSampling2D(EngineLayer):
    """Keras's ``UpSampling2D(size=(2, 2), interpolation="nearest")``: rows and columns repeated
    (``"nearest"``) or interpolated (``"bilinear"``: Keras 3's ``ops.image.resize``, half-pixel
    centres, edges clamped, no antialiasing), by any positive integer factors.

    Example::

        >>> import numpy as np, ferrograd as fg
        >>> x = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
        >>> fg.layers.UpSampling2D(interpolation="bilinear")(x).numpy()[0, :, :, 0]
        array([[1.  , 1.25, 1.75, 2.  ],
               [1.5 , 1.75, 2.25, 2.5 ],
               [2.5 , 2.75, 3.25, 3.5 ],
               [3.  , 3.25, 3.75, 4.  ]], dtype=float32)
    """

    def __init__(
        self, size: Any = (2, 2), data_format: str | None = None, interpolation: str = "nearest", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.size = _standardize_tuple(size, 2, "size")
        self.data_format = _channels_last(data_format)
        self.interpolation = _interpolation(interpolation)
        self._make_engine_layer({"size": self.size, "interpolation": self.interpolation})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "size": self.size,
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }
