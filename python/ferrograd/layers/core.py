"""Keras's core layers over engine layers: ``Dense``, ``Activation``, ``Dropout``, ``Flatten``,
``Reshape``, and the activation layers ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax``.
Each computes in Rust; the Python class holds Keras's arguments, defaults and config."""

from __future__ import annotations

from typing import Any

from .. import _core, activations, initializers, regularizers
from .._core import Variable
from .base import Layer

__all__ = [
    "ELU",
    "PReLU",
    "Activation",
    "Dense",
    "Dropout",
    "Flatten",
    "LeakyReLU",
    "ReLU",
    "RepeatVector",
    "Reshape",
    "Softmax",
]

# The activation functions the engine runs itself, by their Python function.
_ENGINE_ACTIVATIONS = {
    getattr(activations, name): name
    for name in (
        "linear",
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "sigmoid",
        "hard_sigmoid",
        "tanh",
        "softplus",
        "softsign",
        "silu",
        "swish",
        "exponential",
        "softmax",
        "log_softmax",
    )
}


def _get_initializer(identifier: Any) -> Any:
    """``initializers.get``, which also reads Keras's serialized form that ``get_config``
    writes (so ``from_config(get_config())`` round-trips)."""
    return initializers.get(identifier)


def _resolve_activation(identifier: Any) -> tuple[Any, str | None]:
    """``(python function, engine name or None)`` for a Keras activation identifier."""
    if identifier is None:
        return activations.linear, "linear"
    fn = activations.get(identifier)
    return fn, _ENGINE_ACTIVATIONS.get(fn)


class EngineLayer(Layer):
    """A layer computed by an engine layer: weights are created here with Keras's initializer
    objects (so custom initializers work) and handed to the engine in Keras's order."""

    @property
    def _core_layer(self) -> Any:
        return self.__dict__.get("_core_layer_")

    @_core_layer.setter
    def _core_layer(self, core: Any) -> None:
        # A layer made with trainable=False hands the flag to its engine layer, so the weights
        # it adds later record no gradient and fit leaves them alone.
        core.trainable = self.trainable
        self.__dict__["_core_layer_"] = core

    @property
    def _engine(self) -> Any:
        return self._core_layer

    def _make_engine_layer(self, config: dict[str, Any], inner: list[Any] | None = None) -> None:
        """Makes the engine layer from the Keras config keys that define what it computes (the
        engine reads them, with Keras's defaults for any left out); ``inner`` are the engine
        layers a wrapper wraps."""
        self._core_layer = _core.Layer.from_config(self._keras_class(), {"name": self.name, **config}, inner)

    def _keras_class(self) -> str:
        """Keras's class name of what this layer computes: the nearest built-in class (a user's
        subclass of ``Dense`` computes as a ``Dense``)."""
        for cls in type(self).__mro__:
            if cls.__module__.startswith("ferrograd.layers."):
                return cls.__name__
        raise TypeError(f"{type(self).__name__} is not a built-in layer")

    def _initializer_for(self, weight: str) -> Any:
        return getattr(self, f"{weight}_initializer", "zeros")

    def _regularizer_for(self, weight: str) -> Any:
        return getattr(self, f"{weight}_regularizer", None)

    def build(self, input_shape: Any) -> None:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        shapes = [tuple(s) for s in shapes]
        self._core_layer.output_shapes(shapes)  # validates before any weight exists
        for name, shape in self._core_layer.weight_specs(shapes):
            variable = self.add_weight(
                shape=shape,
                initializer=self._initializer_for(name),
                regularizer=self._regularizer_for(name),
                name=name,
            )
            object.__setattr__(self, name, variable)
        self._core_layer.set_built()
        self.built = True

    def _on_weight_added(self, name: str, variable: Variable, trainable: bool, regularizer: Any) -> None:
        self._core_layer.add_weight(name, variable, trainable, regularizers.engine_factors(regularizer))

    def call(self, inputs: Any, training: bool = False) -> Any:
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        out = self._core_layer.call([_core.convert_to_tensor(t) for t in flat], bool(training))
        return out[0] if len(out) == 1 else out

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        out = [tuple(s) for s in self._core_layer.output_shapes([tuple(s) for s in shapes])]
        return out[0] if len(out) == 1 else out


class Dense(EngineLayer):
    """Keras's ``Dense``: ``activation(inputs @ kernel + bias)`` on the last axis; kernel
    ``(input_dim, units)`` (Glorot-uniform), bias ``(units,)`` (zeros)."""

    def __init__(
        self,
        units: int,
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
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"Received an invalid value for `units`, expected a positive integer. Received: units={units}"
            )
        self.units = units
        self.activation, engine_name = _resolve_activation(activation)
        self._python_activation = None if engine_name is not None else self.activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _get_initializer(kernel_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._make_engine_layer({"units": units, "activation": engine_name or "linear", "use_bias": self.use_bias})

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
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": None
            if self.kernel_regularizer is None
            else regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": None
            if self.bias_regularizer is None
            else regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": None,
            "bias_constraint": None,
        }


class Activation(EngineLayer):
    """Keras's ``Activation(activation)``: applies a named (or Python) activation."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation, engine_name = _resolve_activation(activation)
        self._python_activation = None if engine_name is not None else self.activation
        self._make_engine_layer({"activation": engine_name or "linear"})
        self.built = True

    def _calls_python(self) -> bool:
        return self._python_activation is not None

    def call(self, inputs: Any, training: bool = False) -> Any:
        if self._python_activation is not None:
            return self._python_activation(_core.convert_to_tensor(inputs))
        return super().call(inputs, training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


def _non_negative(name: str, value: Any, layer: str) -> float:
    if value is None or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} of a {layer} layer cannot be a negative value. Received: {name}={value}")
    return float(value)


class ReLU(EngineLayer):
    """Keras's ``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)``."""

    def __init__(
        self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if max_value is not None:
            max_value = _non_negative("max_value", max_value, "ReLU")
        self.max_value = max_value
        self.negative_slope = _non_negative("negative_slope", negative_slope, "ReLU")
        self.threshold = _non_negative("threshold", threshold, "ReLU")
        self._make_engine_layer(
            {"negative_slope": self.negative_slope, "max_value": max_value, "threshold": self.threshold}
        )
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(EngineLayer):
    """Keras's ``LeakyReLU(negative_slope=0.3)`` (the function ``leaky_relu`` defaults to 0.2)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            raise ValueError("Argument `alpha` is no longer supported; use `negative_slope` instead.")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative("negative_slope", negative_slope, "LeakyReLU")
        self._make_engine_layer({"negative_slope": self.negative_slope})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(EngineLayer):
    """Keras's ``ELU(alpha=1.0)``."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self._make_engine_layer({"alpha": self.alpha})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(EngineLayer):
    """Keras's ``Softmax(axis=-1)``."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)
        self._make_engine_layer({"axis": self.axis})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class PReLU(EngineLayer):
    """Keras's ``PReLU``: ``max(x, 0) + alpha * min(x, 0)`` with a learned ``alpha`` (zeros)
    per element of the sample shape, shared along ``shared_axes``."""

    def __init__(
        self,
        alpha_initializer: Any = "Zeros",
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if alpha_constraint is not None:
            raise NotImplementedError("weight constraints are not supported yet")
        self.alpha_initializer = _get_initializer(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, int):
            self.shared_axes = [shared_axes]
        else:
            self.shared_axes = [int(a) for a in shared_axes]
        self._make_engine_layer({"shared_axes": self.shared_axes})

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": None
            if self.alpha_regularizer is None
            else regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": None,
            "shared_axes": self.shared_axes,
        }


class Flatten(EngineLayer):
    """Keras's ``Flatten``: each sample to one axis."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("only data_format='channels_last' is supported")
        self.data_format = "channels_last"
        self._make_engine_layer({})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(EngineLayer):
    """Keras's ``Reshape(target_shape)``: each sample to ``target_shape`` (one -1 allowed)."""

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        self._make_engine_layer({"target_shape": self.target_shape})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": self.target_shape}


class RepeatVector(EngineLayer):
    """Keras's ``RepeatVector(n)``: each sample's vector repeated ``n`` times,
    ``(batch, features)`` to ``(batch, n, features)``."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Received an invalid value for `n`, expected a positive integer. Received: n={n}")
        self.n = n
        self._make_engine_layer({"n": n})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class Dropout(EngineLayer):
    """Keras's ``Dropout(rate, noise_shape=None, seed=None)``: in training, zeroes inputs with
    probability ``rate`` and scales the rest by ``1/(1-rate)``; identity in inference."""

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                f"Received: rate={rate}"
            )
        if rate == 1:
            raise ValueError("Dropout rate=1 would drop every input; use a rate in [0, 1)")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        engine_seed = None if seed is None else int(seed) % (1 << 64)
        self._make_engine_layer({"rate": self.rate, "noise_shape": self.noise_shape, "seed": engine_seed})
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}
