"""Keras's convolution layers over engine layers, channels last: ``Conv1D``, ``Conv2D``,
``DepthwiseConv1D``, ``DepthwiseConv2D``, ``SeparableConv1D``, ``SeparableConv2D``,
``Conv1DTranspose``, ``Conv2DTranspose``. The convolution (im2col + GEMM, both gradients by
GEMM) runs in Rust; these classes hold Keras's arguments, checks, defaults and config.

Example::

    import numpy as np
    import ferrograd as fg

    conv = fg.layers.Conv2D(8, 3, padding="same", activation="relu")
    y = conv(np.zeros((2, 28, 28, 1), "float32"))
    y.shape                       # (2, 28, 28, 8)
    conv.kernel.shape             # (3, 3, 1, 8): Keras's (kh, kw, in / groups, filters)
"""

from __future__ import annotations

from typing import Any

from .. import activations, initializers, regularizers
from .core import EngineLayer, _get_initializer, _resolve_activation

__all__ = [
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
]


def _tuple(value: Any, rank: int, name: str) -> tuple[int, ...]:
    """Keras's ``standardize_tuple``: an int repeated ``rank`` times, or a tuple of ``rank`` ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        values: tuple[int, ...] = (value,) * rank
    else:
        try:
            values = tuple(value)
        except TypeError:
            values = ()
        if len(values) != rank or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"The `{name}` argument must be a tuple of {rank} integers. Received {name}={value}")
    if any(v < 0 for v in values):
        raise ValueError(f"The `{name}` argument must be a tuple of non-negative integers. Received {name}={value}")
    return values


def _padding(value: Any, rank: int) -> str:
    padding = str(value).lower()
    allowed = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    if padding not in allowed:
        raise ValueError(f"The `padding` argument must be one of {allowed}. Received: padding={value}")
    return padding


def _data_format(value: Any) -> str:
    if value not in (None, "channels_last"):
        raise NotImplementedError(f"only data_format='channels_last' is supported, got {value!r}")
    return "channels_last"


def _window_checks(kernel_size: tuple, strides: tuple, dilation_rate: tuple) -> None:
    """Keras's ``BaseConv`` argument checks."""
    if not all(kernel_size):
        raise ValueError(f"The argument `kernel_size` cannot contain 0. Received kernel_size={kernel_size}")
    if not all(strides):
        raise ValueError(f"The argument `strides` cannot contains 0. Received strides={strides}")
    if not all(dilation_rate):
        raise ValueError(f"The argument `dilation_rate` cannot contain 0. Received dilation_rate={dilation_rate}")
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
            f"Received: strides={strides} and dilation_rate={dilation_rate}"
        )


def _serialize_regularizer(regularizer: Any) -> Any:
    return None if regularizer is None else regularizers.serialize(regularizer)


class BaseConv(EngineLayer):
    """Keras's ``BaseConv``: an N-D convolution (N = ``rank``) with ``filters`` output channels."""

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if kernel_constraint is not None or bias_constraint is not None:
            raise NotImplementedError("weight constraints are not supported yet")
        if lora_rank:
            raise NotImplementedError("LoRA is not supported yet")
        rank = self.rank
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(
                f"Invalid value for argument `filters`. Expected a strictly positive value. Received filters={filters}."
            )
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={groups}.")
        if filters % groups != 0:
            raise ValueError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={groups}, filters={filters}."
            )
        self.filters = filters
        self.groups = groups
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate")
        _window_checks(self.kernel_size, self.strides, self.dilation_rate)
        self.padding = _padding(padding, rank)
        self.data_format = _data_format(data_format)
        self.activation, engine_name = _resolve_activation(activation)
        self._python_activation = None if engine_name is not None else self.activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _get_initializer(kernel_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._make_engine_layer(
            {
                "filters": filters,
                "groups": groups,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "activation": engine_name or "linear",
                "use_bias": self.use_bias,
            }
        )

    def _calls_python(self) -> bool:
        return self._python_activation is not None

    def call(self, inputs: Any, training: bool = False) -> Any:
        out = super().call(inputs, training)
        if self._python_activation is not None:
            out = self._python_activation(out)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize_regularizer(self.kernel_regularizer),
            "bias_regularizer": _serialize_regularizer(self.bias_regularizer),
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        }


class Conv1D(BaseConv):
    """Keras's ``Conv1D``: inputs ``(batch, steps, channels)``, kernel
    ``(kernel_size, channels / groups, filters)``; ``padding`` may also be ``"causal"``
    (``(kernel_size - 1) * dilation_rate`` zeros before the sequence, none after)."""

    rank = 1


class Conv2D(BaseConv):
    """Keras's ``Conv2D``: inputs ``(batch, height, width, channels)``, kernel
    ``(kh, kw, channels / groups, filters)``, bias ``(filters,)``. ``"same"`` padding splits the
    zeros as Keras does (the odd one after)."""

    rank = 2


class BaseDepthwiseConv(EngineLayer):
    """Keras's ``BaseDepthwiseConv``: every input channel convolved with its own
    ``depth_multiplier`` filters; kernel ``(*kernel_size, channels, depth_multiplier)``, output
    channel ``c * depth_multiplier + m``."""

    rank = 2

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if depthwise_constraint is not None or bias_constraint is not None:
            raise NotImplementedError("weight constraints are not supported yet")
        rank = self.rank
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(
                "Invalid value for argument `depth_multiplier`. Expected a strictly positive value. "
                f"Received depth_multiplier={depth_multiplier}."
            )
        self.depth_multiplier = depth_multiplier
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate")
        _window_checks(self.kernel_size, self.strides, self.dilation_rate)
        self.padding = _padding(padding, rank)
        self.data_format = _data_format(data_format)
        self.activation, engine_name = _resolve_activation(activation)
        self._python_activation = None if engine_name is not None else self.activation
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = _get_initializer(depthwise_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._make_engine_layer(
            {
                "depth_multiplier": depth_multiplier,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "activation": engine_name or "linear",
                "use_bias": self.use_bias,
            }
        )

    def _initializer_for(self, weight: str) -> Any:
        return self.depthwise_initializer if weight == "kernel" else self.bias_initializer

    def _regularizer_for(self, weight: str) -> Any:
        return self.depthwise_regularizer if weight == "kernel" else self.bias_regularizer

    def _calls_python(self) -> bool:
        return self._python_activation is not None

    def call(self, inputs: Any, training: bool = False) -> Any:
        out = super().call(inputs, training)
        if self._python_activation is not None:
            out = self._python_activation(out)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": _serialize_regularizer(self.depthwise_regularizer),
            "bias_regularizer": _serialize_regularizer(self.bias_regularizer),
            "activity_regularizer": None,
            "depthwise_constraint": None,
            "bias_constraint": None,
        }


class DepthwiseConv1D(BaseDepthwiseConv):
    """Keras's ``DepthwiseConv1D``: kernel ``(kernel_size, channels, depth_multiplier)``."""

    rank = 1


class DepthwiseConv2D(BaseDepthwiseConv):
    """Keras's ``DepthwiseConv2D``: kernel ``(kh, kw, channels, depth_multiplier)``."""

    rank = 2


class BaseConvTranspose(EngineLayer):
    """Keras's ``BaseConvTranspose``: the transpose (input gradient) of a convolution; kernel
    ``(*kernel_size, filters, channels)``. Output length per axis, with the dilated kernel span
    ``k'`` (Keras's ``compute_conv_transpose_output_shape``): ``in * stride + max(k' - stride, 0)``
    for "valid" and ``in * stride`` for "same"; with ``output_padding`` ``p`` (an int or one per
    axis, each ``< strides``) ``(in - 1) * stride + k' + p`` for "valid" and
    ``(in - 1) * stride + k' % 2 + p`` for "same".

    Example::

        >>> import numpy as np, ferrograd as fg
        >>> layer = fg.layers.Conv2DTranspose(4, 3, strides=2, output_padding=1)
        >>> layer(np.zeros((1, 5, 5, 2), "float32")).shape
        (1, 12, 12, 4)
    """

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if kernel_constraint is not None or bias_constraint is not None:
            raise NotImplementedError("weight constraints are not supported yet")
        rank = self.rank
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(
                f"Invalid value for argument `filters`. Expected a strictly positive value. Received filters={filters}."
            )
        self.filters = filters
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate")
        _window_checks(self.kernel_size, self.strides, self.dilation_rate)
        self.padding = _padding(padding, 2)  # "causal" has no transpose
        self.output_padding = None if output_padding is None else _tuple(output_padding, rank, "output_padding")
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            # Keras's check and message (base_conv_transpose.py).
            raise ValueError(
                f"`output_padding` must be < `strides`. output_padding={self.output_padding}, strides={self.strides}"
            )
        self.data_format = _data_format(data_format)
        self.activation, engine_name = _resolve_activation(activation)
        self._python_activation = None if engine_name is not None else self.activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _get_initializer(kernel_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._make_engine_layer(
            {
                "filters": filters,
                "output_padding": self.output_padding,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "activation": engine_name or "linear",
                "use_bias": self.use_bias,
            }
        )

    def _calls_python(self) -> bool:
        return self._python_activation is not None

    def call(self, inputs: Any, training: bool = False) -> Any:
        out = super().call(inputs, training)
        if self._python_activation is not None:
            out = self._python_activation(out)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize_regularizer(self.kernel_regularizer),
            "bias_regularizer": _serialize_regularizer(self.bias_regularizer),
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        }


class Conv1DTranspose(BaseConvTranspose):
    """Keras's ``Conv1DTranspose``: kernel ``(kernel_size, filters, channels)``."""

    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    """Keras's ``Conv2DTranspose``: kernel ``(kh, kw, filters, channels)``."""

    rank = 2


class BaseSeparableConv(EngineLayer):
    """Keras's ``BaseSeparableConv``: a depthwise convolution (``depth_multiplier`` filters per
    channel) then a pointwise 1x1 one to ``filters`` channels, then bias and activation. Weights
    ``depthwise_kernel`` ``(*kernel_size, channels, depth_multiplier)``, ``pointwise_kernel``
    ``(*ones, channels * depth_multiplier, filters)``, ``bias`` ``(filters,)``."""

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if any(c is not None for c in (depthwise_constraint, pointwise_constraint, bias_constraint)):
            raise NotImplementedError("weight constraints are not supported yet")
        rank = self.rank
        for name, value in (("filters", filters), ("depth_multiplier", depth_multiplier)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Invalid value for argument `{name}`. Expected a strictly positive value. Received {name}={value}."
                )
        self.filters = filters
        self.depth_multiplier = depth_multiplier
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate")
        _window_checks(self.kernel_size, self.strides, self.dilation_rate)
        self.padding = _padding(padding, rank)
        self.data_format = _data_format(data_format)
        self.activation, engine_name = _resolve_activation(activation)
        self._python_activation = None if engine_name is not None else self.activation
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = _get_initializer(depthwise_initializer)
        self.pointwise_initializer = _get_initializer(pointwise_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._make_engine_layer(
            {
                "filters": filters,
                "depth_multiplier": depth_multiplier,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "activation": engine_name or "linear",
                "use_bias": self.use_bias,
            }
        )

    def _initializer_for(self, weight: str) -> Any:
        return getattr(self, weight.replace("_kernel", "") + "_initializer")

    def _regularizer_for(self, weight: str) -> Any:
        return getattr(self, weight.replace("_kernel", "") + "_regularizer")

    def _calls_python(self) -> bool:
        return self._python_activation is not None

    def call(self, inputs: Any, training: bool = False) -> Any:
        out = super().call(inputs, training)
        if self._python_activation is not None:
            out = self._python_activation(out)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "depth_multiplier": self.depth_multiplier,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": _serialize_regularizer(self.depthwise_regularizer),
            "pointwise_regularizer": _serialize_regularizer(self.pointwise_regularizer),
            "bias_regularizer": _serialize_regularizer(self.bias_regularizer),
            "activity_regularizer": None,
            "depthwise_constraint": None,
            "pointwise_constraint": None,
            "bias_constraint": None,
        }


class SeparableConv1D(BaseSeparableConv):
    """Keras's ``SeparableConv1D``."""

    rank = 1


class SeparableConv2D(BaseSeparableConv):
    """Keras's ``SeparableConv2D``."""

    rank = 2
