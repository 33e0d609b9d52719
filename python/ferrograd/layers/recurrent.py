"""Keras's sequence layers over engine layers: ``Embedding``, ``SimpleRNN``, ``LSTM``, ``GRU``.

The maths runs in Rust (one GEMM for the input projection of all time steps, one fused op for
the time loop whose backward is an iterative loop); these classes hold Keras's arguments,
defaults, weight layouts and configs. Masks (``Embedding(mask_zero=True)``, ``Masking``) reach
the recurrent layers inside models through the engine's graph, and by ``mask=`` in direct calls::

    >>> import ferrograd as fg
    >>> model = fg.Sequential([fg.layers.Embedding(100, 8), fg.layers.LSTM(16), fg.layers.Dense(1)])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core, activations, initializers, regularizers, saving
from .core import EngineLayer, _get_initializer, _resolve_activation

__all__ = ["GRU", "LSTM", "Bidirectional", "Embedding", "SimpleRNN", "TimeDistributed"]

_RECURRENT_ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive integer. Received: {name}={value}"
        )
    return int(value)


def _serialize_regularizer(regularizer: Any) -> Any:
    return None if regularizer is None else regularizers.serialize(regularizer)


def _rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def _mask_tensor(mask: Any, dtype: str) -> Any:
    """A mask (bool or 0/1, ``(batch, time)``) as an engine tensor; Keras may pass a list with
    one mask per input, of which the sequence's comes first."""
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    if mask is None or isinstance(mask, _core.Tensor):
        return mask
    return _core.convert_to_tensor(np.asarray(mask).astype(dtype))


class Embedding(EngineLayer):
    """Keras's ``Embedding(input_dim, output_dim)``: maps each integer id in ``[0, input_dim)``
    to a row of the ``embeddings`` table ``(input_dim, output_dim)`` (``"uniform"``:
    ``RandomUniform(-0.05, 0.05)``). Ids may arrive as floats (as in ``fit``) but must be whole
    numbers in range; anything else is a ``ValueError``. The gradient is added into the rows
    that were looked up."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        lora_rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        input_length = kwargs.pop("input_length", None)
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        if embeddings_constraint is not None:
            raise NotImplementedError("weight constraints are not supported yet")
        if lora_rank:
            raise NotImplementedError("LoRA is not supported yet")
        self.input_dim = _positive_int("input_dim", input_dim)
        self.output_dim = _positive_int("output_dim", output_dim)
        if embeddings_initializer == "uniform":
            embeddings_initializer = initializers.RandomUniform(minval=-0.05, maxval=0.05)
        self.embeddings_initializer = _get_initializer(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self._make_engine_layer(
            {"input_dim": self.input_dim, "output_dim": self.output_dim, "mask_zero": self.mask_zero}
        )
        if weights is not None:
            self.build((None,))
            self.set_weights(weights if isinstance(weights, list) else [weights])

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras's padding mask (``inputs != 0``) when ``mask_zero``; ``None`` otherwise."""
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": _serialize_regularizer(self.embeddings_regularizer),
            "embeddings_constraint": None,
            "mask_zero": self.mask_zero,
        }


def _engine_activation(identifier: Any, role: str, layer: str) -> tuple[Any, str]:
    fn, name = _resolve_activation(identifier)
    if name not in _RECURRENT_ACTIVATIONS:
        raise ValueError(f"{layer} supports {role} in {list(_RECURRENT_ACTIVATIONS)}; received {role}={identifier!r}")
    return fn, name


class _Recurrent(EngineLayer):
    """What SimpleRNN, LSTM and GRU share: Keras's arguments, the weights kernel
    ``(in, g * units)``, recurrent_kernel ``(units, g * units)``, bias, and a call that takes
    ``initial_state``."""

    _class = ""

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ) -> None:
        if any(c is not None for c in (kernel_constraint, recurrent_constraint, bias_constraint)):
            raise NotImplementedError("weight constraints are not supported yet")
        if stateful:
            raise NotImplementedError("stateful recurrent layers are not supported yet")
        zero_output_for_mask = bool(kwargs.pop("zero_output_for_mask", False))
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = _positive_int("units", units)
        self.activation, engine_activation = _engine_activation(activation, "activation", self._class)
        self.recurrent_activation, engine_recurrent = _engine_activation(
            recurrent_activation, "recurrent_activation", self._class
        )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _get_initializer(kernel_initializer)
        self.recurrent_initializer = _get_initializer(recurrent_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = _rate("dropout", dropout)
        self.recurrent_dropout = _rate("recurrent_dropout", recurrent_dropout)
        self.zero_output_for_mask = zero_output_for_mask
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)
        self._make_engine_layer(
            {
                "units": self.units,
                "activation": engine_activation,
                "recurrent_activation": engine_recurrent,
                "use_bias": self.use_bias,
                "return_sequences": self.return_sequences,
                "return_state": self.return_state,
                "go_backwards": self.go_backwards,
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "seed": None if seed is None else int(seed) % (1 << 64),
                "reset_after": getattr(self, "reset_after", True),
                "unit_forget_bias": getattr(self, "unit_forget_bias", True),
                "zero_output_for_mask": self.zero_output_for_mask,
            }
        )

    # Keras names the recurrent kernel's initializer and regularizer `recurrent_*`.
    def _initializer_for(self, weight: str) -> Any:
        return super()._initializer_for("recurrent" if weight == "recurrent_kernel" else weight)

    def _regularizer_for(self, weight: str) -> Any:
        return super()._regularizer_for("recurrent" if weight == "recurrent_kernel" else weight)

    def call(self, inputs: Any, training: bool = False, initial_state: Any = None, mask: Any = None) -> Any:
        """Runs the layer; ``mask`` (``(batch, time)``, bool or 0/1) skips the masked steps of
        each sample, carrying its states over (Keras's RNN mask)."""
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            flat = flat[:1] + states
        tensors = [_core.convert_to_tensor(t) for t in flat]
        mask = _mask_tensor(mask, self.dtype)
        if mask is None:
            out = self._core_layer.call(tensors, bool(training))
        else:
            out = self._core_layer.call_masked(tensors, [mask], bool(training))
        return out[0] if len(out) == 1 else list(out)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras's ``RNN.compute_mask``: the input's mask with ``return_sequences``, else
        ``None``; the states carry none."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * (2 if isinstance(self, LSTM) else 1)
        return output_mask

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize_regularizer(self.kernel_regularizer),
            "recurrent_regularizer": _serialize_regularizer(self.recurrent_regularizer),
            "bias_regularizer": _serialize_regularizer(self.bias_regularizer),
            "kernel_constraint": None,
            "recurrent_constraint": None,
            "bias_constraint": None,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


class SimpleRNN(_Recurrent):
    """Keras's ``SimpleRNN(units)``: ``h_t = activation(x_t @ kernel + h_{t-1} @
    recurrent_kernel + bias)``; kernel ``(in, units)``, recurrent_kernel ``(units, units)``,
    bias ``(units,)``."""

    _class = "SimpleRNN"

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        if "recurrent_activation" in kwargs:
            raise ValueError("Unrecognized keyword arguments passed to SimpleRNN: recurrent_activation")
        super().__init__(units, activation=activation, **kwargs)


class LSTM(_Recurrent):
    """Keras's ``LSTM(units)``: gates i, f, c, o in that order along the last axis of kernel
    ``(in, 4 units)``, recurrent_kernel ``(units, 4 units)`` and bias ``(4 units,)``;
    ``unit_forget_bias=True`` starts the forget gate's bias at one. ``return_state`` returns
    ``[output, h, c]``; ``initial_state=[h, c]``."""

    _class = "LSTM"

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        # Read by _Recurrent.__init__ for the engine layer (its native build uses it).
        object.__setattr__(self, "unit_forget_bias", bool(unit_forget_bias))
        super().__init__(units, **kwargs)

    def _initializer_for(self, weight: str) -> Any:
        if weight != "bias" or not self.unit_forget_bias:
            return super()._initializer_for(weight)
        units, base = self.units, self.bias_initializer

        # Keras's LSTMCell: concatenate(bias_init(u), ones(u), bias_init(2u)).
        def bias_with_unit_forget(shape: Any, dtype: Any = None) -> np.ndarray:
            parts = [
                np.asarray(base((units,), dtype=dtype)),
                np.ones(units),
                np.asarray(base((2 * units,), dtype=dtype)),
            ]
            return np.concatenate(parts).astype(dtype or "float32")

        return bias_with_unit_forget

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class GRU(_Recurrent):
    """Keras's ``GRU(units)``: gates z, r, h along the last axis of kernel ``(in, 3 units)`` and
    recurrent_kernel ``(units, 3 units)``; ``h_t = z h_{t-1} + (1 - z) ĥ``. With
    ``reset_after=True`` (Keras's default) the bias is ``(2, 3 units)`` (row 0 for the input
    projection, row 1 for the recurrent one) and ``ĥ = tanh(x W_h + b_h + r (h_{t-1} U_h + b'_h))``;
    with ``reset_after=False`` (the original GRU) the bias is ``(3 units,)`` and
    ``ĥ = tanh(x W_h + b_h + (r h_{t-1}) U_h)``."""

    _class = "GRU"

    def __init__(self, units: int, reset_after: bool = True, use_cudnn: Any = "auto", **kwargs: Any) -> None:
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                f"Invalid valid received for argument `use_cudnn`. Expected one of {{'auto', True, False}}. "
                f"Received: use_cudnn={use_cudnn}"
            )
        # Read by _Recurrent.__init__ for the engine layer (it sets the bias shape).
        object.__setattr__(self, "reset_after", bool(reset_after))
        super().__init__(units, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


def _serialize_layer(layer: Any) -> dict[str, Any]:
    return saving.serialize_keras_object(layer)


def _deserialize_layer(config: Any) -> Any:
    """A wrapped layer from its serialized config (built-in, registered or in the active
    custom-object scope); a layer instance is used as is."""
    if not isinstance(config, dict):
        return config
    return saving.deserialize_keras_object(config)


class Bidirectional(EngineLayer):
    """Keras's ``Bidirectional(layer, merge_mode="concat")``: a copy of ``layer`` named
    ``forward_<name>`` and one named ``backward_<name>`` with ``go_backwards`` flipped; the
    backward sequence is put back in time order and merged (``concat``, ``sum``, ``mul``,
    ``ave``). Weights: the forward layer's, then the backward layer's. With a mask and
    ``return_sequences`` the masked steps output zeros in both directions (Keras forces
    ``zero_output_for_mask`` on both layers)."""

    def __init__(
        self,
        layer: Any,
        merge_mode: str | None = "concat",
        weights: Any = None,
        backward_layer: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, _Recurrent):
            raise ValueError(f"Bidirectional wraps a SimpleRNN, LSTM or GRU layer. Received: layer={layer}")
        if merge_mode is None:
            raise NotImplementedError("merge_mode=None is not supported yet")
        kwargs.setdefault("name", f"bidirectional_{layer.name}")
        kwargs.setdefault("dtype", layer.dtype)
        super().__init__(**kwargs)
        config = {**layer.get_config(), "zero_output_for_mask": layer.return_sequences}
        # As Keras: a reloaded config's forward layer is already called "forward_<name>".
        base_name = layer.name.removeprefix("forward_")
        self.forward_layer = type(layer).from_config({**config, "name": f"forward_{base_name}"})
        if backward_layer is None:
            backward_config = {**config, "name": f"backward_{base_name}", "go_backwards": not layer.go_backwards}
            backward_layer = type(layer).from_config(backward_config)
        if backward_layer.go_backwards == self.forward_layer.go_backwards:
            raise ValueError("backward_layer must process the sequence the other way round (go_backwards flipped)")
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._make_engine_layer(
            {"merge_mode": merge_mode, "return_sequences": self.return_sequences},
            inner=[self.forward_layer._engine_layer(), self.backward_layer._engine_layer()],
        )
        if weights is not None:
            self.build(layer._input_shape_arg and (None, *layer._input_shape_arg))
            self.set_weights(weights)

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(shape)
        self.built = True

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        tensors = [_core.convert_to_tensor(t) for t in flat]
        mask = _mask_tensor(mask, self.dtype)
        if mask is None:
            out = self._core_layer.call(tensors, bool(training))
        else:
            out = self._core_layer.call_masked(tensors, [mask], bool(training))
        return out[0] if len(out) == 1 else list(out)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras's ``Bidirectional.compute_mask``: the mask with ``return_sequences``."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        return mask if self.return_sequences else None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layer": _serialize_layer(self.forward_layer),
            "merge_mode": self.merge_mode,
            "backward_layer": _serialize_layer(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bidirectional:
        config = dict(config)
        config["layer"] = _deserialize_layer(config["layer"])
        config["backward_layer"] = _deserialize_layer(config.get("backward_layer"))
        return super().from_config(config)


class TimeDistributed(EngineLayer):
    """Keras's ``TimeDistributed(layer)``: applies ``layer`` to every time step of a
    ``(batch, time, ...)`` input (the time axis folded into the batch for one call)."""

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", layer.dtype)
        super().__init__(**kwargs)
        self.layer = layer
        self._make_engine_layer({}, inner=[layer._engine_layer()])

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        if len(shape) < 3:
            raise ValueError(
                f"TimeDistributed requires an input of rank >= 3 (batch, time, ...). Received: input_shape={shape}"
            )
        if not self.layer.built:
            self.layer.build((None, *shape[2:]))
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": _serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeDistributed:
        config = dict(config)
        config["layer"] = _deserialize_layer(config["layer"])
        return super().from_config(config)
