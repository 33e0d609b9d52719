"""Losses with Keras 3's names, arguments, defaults and formulas (``keras.losses``).

Each class computes per-sample losses in the Rust engine, weights them by ``sample_weight`` and
reduces them (``"sum_over_batch_size"`` by default: the sum of the weighted per-sample losses
divided by their number). The function forms (``mean_squared_error``, ``mse``, ...) return the
per-sample losses, one per row (the last axis is averaged or summed away)::

    import ferrograd as fg

    loss_fn = fg.losses.CategoricalCrossentropy(from_logits=True)
    loss = loss_fn([[0, 1, 0]], [[1.0, 3.0, -2.0]])        # a scalar Tensor
    fg.losses.get("mse")                                   # the function mean_squared_error
    fg.losses.get("BinaryCrossentropy")                    # an instance with Keras's defaults

Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` (Keras's ``epsilon``); with
``from_logits=True`` the cross-entropies are computed from the logits directly (fused in Rust),
so extreme logits give exact finite losses.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from . import _core, saving
from ._core import Tensor

__all__ = [
    "CTC",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "binary_crossentropy",
    "categorical_crossentropy",
    "categorical_hinge",
    "cosine_similarity",
    "ctc",
    "deserialize",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "kld",
    "log_cosh",
    "mae",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "mse",
    "msle",
    "poisson",
    "serialize",
    "sparse_categorical_crossentropy",
    "squared_hinge",
]

_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


def _standardize_reduction(reduction: str | None) -> str | None:
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {_REDUCTIONS}. Received: reduction={reduction!r}"
        )
    return reduction


# ----- function forms: per-sample losses


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(square(y_true - y_pred), axis=-1)``."""
    return _core.loss_mean_squared_error(y_true, y_pred)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    return _core.loss_mean_absolute_error(y_true, y_pred)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Tensor:
    """``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), 1e-7)), axis=-1)``."""
    return _core.loss_mean_absolute_percentage_error(y_true, y_pred)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)``."""
    return _core.loss_mean_squared_logarithmic_error(y_true, y_pred)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """With ``e = y_pred - y_true``: ``0.5 e**2`` where ``|e| <= delta``, else
    ``delta * |e| - 0.5 delta**2``; mean over the last axis."""
    return _core.loss_huber(y_true, y_pred, float(delta))


def log_cosh(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without overflow."""
    return _core.loss_log_cosh(y_true, y_pred)


def hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; {0, 1} labels become {-1, 1}."""
    return _core.loss_hinge(y_true, y_pred)


def squared_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; {0, 1} labels become {-1, 1}."""
    return _core.loss_squared_hinge(y_true, y_pred)


def categorical_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``maximum(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred, -1)`` and
    ``neg = max((1 - y_true) * y_pred, -1)``."""
    return _core.loss_categorical_hinge(y_true, y_pred)


def kl_divergence(y_true: Any, y_pred: Any) -> Tensor:
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[1e-7, 1]``."""
    return _core.loss_kl_divergence(y_true, y_pred)


def poisson(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``."""
    return _core.loss_poisson(y_true, y_pred)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for parallel vectors."""
    return _core.loss_cosine_similarity(y_true, y_pred, int(axis))


def _check_axis(axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis!r} of type {type(axis)}")
    return int(axis)


def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """Mean over ``axis`` of ``-(z log p + (1 - z) log(1 - p))``; ``label_smoothing`` squeezes
    the labels towards 0.5 (``z * (1 - s) + 0.5 * s``)."""
    return _core.loss_binary_crossentropy(y_true, y_pred, bool(from_logits), float(label_smoothing), _check_axis(axis))


def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """``-sum(y_true * log(p), axis)`` for one-hot labels; ``label_smoothing`` uses
    ``y_true * (1 - s) + s / num_classes``."""
    return _core.loss_categorical_crossentropy(
        y_true, y_pred, bool(from_logits), float(label_smoothing), _check_axis(axis)
    )


def _labels_array(y_true: Any) -> np.ndarray:
    return np.asarray(y_true.numpy() if isinstance(y_true, Tensor) else y_true)


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: int | None = None, axis: int = -1
) -> Tensor:
    """Categorical cross-entropy for integer class ids ``y_true`` (shape of ``y_pred`` without
    the class axis, or with a trailing axis of 1). Entries whose label is ``ignore_class`` get a
    loss of 0. A label outside ``[0, num_classes)`` raises ``ValueError``."""
    axis = _check_axis(axis)
    if ignore_class is None:
        return _core.loss_sparse_categorical_crossentropy(y_true, y_pred, bool(from_logits), axis)
    labels, valid = _mask_ignored(y_true, ignore_class)
    per_sample = _core.loss_sparse_categorical_crossentropy(labels, y_pred, bool(from_logits), axis)
    return per_sample * _core.tensor(valid.reshape(per_sample.shape), dtype=per_sample.dtype)


def _mask_ignored(y_true: Any, ignore_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``ignore_class`` replaced by class 0 (their loss is zeroed), and the 0/1 mask."""
    labels = _labels_array(y_true)
    valid = labels != ignore_class
    return np.where(valid, labels, 0), valid.astype(np.float64)


def ctc(y_true: Any, y_pred: Any) -> Tensor:
    """Per-sample CTC (Connectionist Temporal Classification) loss, as ``keras.losses.ctc``.

    ``y_true`` holds integer labels ``(batch_size, max_length)``; ``0`` is the blank and is never
    a label. ``y_pred`` holds logits ``(batch_size, max_length, num_classes)`` (not
    softmax-normalized: a log-softmax is applied), every frame of which is used. Keras reads every
    column of ``y_true`` as a label; here a row may also end in padding ``0``s, which are not
    read, so labels of different lengths fit in one array (rows without padding give Keras's
    loss). A sample that no alignment can produce (too few frames for its labels, counting a
    blank between repeated labels) has an infinite loss and contributes no gradient.
    """
    return _core.loss_ctc(y_true, y_pred)


# Keras's legacy short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
bce = BCE = binary_crossentropy


# ----- classes


class Loss:
    """Base class of losses, as ``keras.losses.Loss``: subclasses implement ``call(y_true,
    y_pred)`` returning per-sample losses; ``__call__`` weights and reduces them.

    Args:
        name: the loss's name (defaults to the snake_case class name).
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or ``None``.
        dtype: when set, inputs are cast to it; by default predictions keep their dtype and the
            labels follow them.
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype: Any = None):
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = _standardize_reduction(reduction)
        self.dtype = dtype

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        if self.dtype is not None:
            y_pred = _core.convert_to_tensor(y_pred, dtype=self.dtype)
        losses = self.call(y_true, y_pred)
        return _core.reduce_loss(losses, sample_weight, self.reduction)

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def _snake_case(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a function ``fn(y_true, y_pred, **kwargs)`` of per-sample losses."""

    def __init__(
        self,
        fn: Callable[..., Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = self.fn
        config.update(self._fn_kwargs)
        return config


class MeanSquaredError(LossFunctionWrapper):
    """``loss = mean(square(y_true - y_pred))``, Keras's ``MeanSquaredError``."""

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_squared_error", dtype: Any = None
    ):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """``loss = mean(abs(y_true - y_pred))``, Keras's ``MeanAbsoluteError``."""

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_absolute_error", dtype: Any = None
    ):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """``loss = 100 * mean(abs((y_true - y_pred) / y_true))``, the divisor floored at 1e-7."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_absolute_percentage_error",
        dtype: Any = None,
    ):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """``loss = mean(square(log(y_true + 1) - log(y_pred + 1)))``, inputs floored at 1e-7."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_squared_logarithmic_error",
        dtype: Any = None,
    ):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """``loss = -sum(l2_norm(y_true) * l2_norm(y_pred), axis)``."""

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
        dtype: Any = None,
    ):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)


class Huber(LossFunctionWrapper):
    """Quadratic for ``|error| <= delta``, linear beyond; mean over the last axis."""

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
        dtype: Any = None,
    ):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


class LogCosh(LossFunctionWrapper):
    """``loss = mean(log(cosh(y_pred - y_true)), axis=-1)``."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "log_cosh", dtype: Any = None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class Hinge(LossFunctionWrapper):
    """``loss = maximum(1 - y_true * y_pred, 0)``; {0, 1} labels become {-1, 1}."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "hinge", dtype: Any = None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """``loss = square(maximum(1 - y_true * y_pred, 0))``; {0, 1} labels become {-1, 1}."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "squared_hinge", dtype: Any = None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """``loss = maximum(neg - pos + 1, 0)`` for one-hot ``y_true``."""

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "categorical_hinge", dtype: Any = None
    ):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)


class KLDivergence(LossFunctionWrapper):
    """``loss = y_true * log(y_true / y_pred)``, both clipped to ``[1e-7, 1]``."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "kl_divergence", dtype: Any = None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """``loss = y_pred - y_true * log(y_pred)`` (with 1e-7 inside the log)."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "poisson", dtype: Any = None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy for 0/1 labels, from probabilities or (``from_logits=True``,
    recommended) logits. ``label_smoothing`` squeezes the labels towards 0.5."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
        dtype: Any = None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for one-hot labels, from probabilities or (``from_logits=True``) logits.
    ``label_smoothing=s`` uses ``s / num_classes`` for non-targets and ``1 - s + s / num_classes``
    for targets."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
        dtype: Any = None,
    ):
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for integer labels. With ``ignore_class``, entries carrying that label are
    masked out: they add nothing, and the ``"sum_over_batch_size"`` mean is taken over the
    remaining entries, as Keras does."""

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
        )
        self.from_logits = from_logits
        self.ignore_class = ignore_class

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        if self.ignore_class is None:
            return super().__call__(y_true, y_pred, sample_weight)
        if self.dtype is not None:
            y_pred = _core.convert_to_tensor(y_pred, dtype=self.dtype)
        losses = self.call(y_true, y_pred)  # ignored entries are already 0
        valid = _mask_ignored(y_true, self.ignore_class)[1].reshape(losses.shape)
        # Keras's apply_mask: the mask joins the sample weights; for the mean reductions it is
        # rescaled by total / valid so that the mean runs over the valid entries only.
        if self.reduction in ("mean", "sum_over_batch_size"):
            count = valid.sum()
            losses = losses * (valid.size / count if count > 0 else 0.0)
        elif self.reduction == "mean_with_sample_weight":
            weights = valid if sample_weight is None else valid * _labels_array(sample_weight).reshape(valid.shape)
            sample_weight = weights
        return _core.reduce_loss(losses, sample_weight, self.reduction)


class CTC(LossFunctionWrapper):
    """CTC (Connectionist Temporal Classification) loss, as ``keras.losses.CTC``: integer labels
    ``y_true`` ``(batch_size, max_length)`` (``0`` is the blank; rows may end in ``0`` padding)
    against logits ``y_pred`` ``(batch_size, max_length, num_classes)``. See :func:`ctc`.

    Example::

        model.compile(optimizer="adam", loss=fg.losses.CTC())
        decoded, scores = fg.ops.ctc_decode(model.predict(x), [x.shape[1]] * len(x))
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "ctc", dtype: Any = None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)


# ----- lookup by name


_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        Loss,
        LossFunctionWrapper,
        KLDivergence,
        Poisson,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        LogCosh,
        Huber,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        CTC,
    )
}

_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    fn.__name__: fn
    for fn in (
        kl_divergence,
        poisson,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        cosine_similarity,
        log_cosh,
        huber,
        hinge,
        squared_hinge,
        categorical_hinge,
        ctc,
    )
}

# Keras 3's ``ALL_OBJECTS_DICT``: class names, function names and the short aliases.
_ALL_OBJECTS: dict[str, Any] = {
    **_CLASSES,
    **_FUNCTIONS,
    "bce": binary_crossentropy,
    "BCE": binary_crossentropy,
    "kld": kl_divergence,
    "KLD": kl_divergence,
    "mae": mean_absolute_error,
    "MAE": mean_absolute_error,
    "mse": mean_squared_error,
    "MSE": mean_squared_error,
    "mape": mean_absolute_percentage_error,
    "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error,
    "MSLE": mean_squared_logarithmic_error,
}


def serialize(loss: Loss | Callable[..., Tensor]) -> dict[str, Any] | str:
    """A ``Loss`` as ``{"class_name", "config"}``, a loss function as its name."""
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    name = getattr(loss, "__name__", None)
    if name in _FUNCTIONS and _FUNCTIONS[name] is loss:
        return name
    raise ValueError(f"Cannot serialize {loss!r}: not a ferrograd loss")


def deserialize(name: str | dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """The inverse of ``serialize``: a name or ``{"class_name", "config"}``."""
    objects = {**_ALL_OBJECTS, **(custom_objects or {})}
    if isinstance(name, dict):
        class_name = name.get("class_name")
        if class_name not in objects or not inspect.isclass(objects[class_name]):
            raise ValueError(f"Unknown loss class {class_name!r}. Valid names: {sorted(_CLASSES)}")
        return objects[class_name].from_config(dict(name.get("config", {})))
    return _lookup(name, objects)


def _lookup(name: str, objects: dict[str, Any]) -> Any:
    if name not in objects:
        raise ValueError(f"Could not interpret loss identifier: {name!r}. Valid names: {sorted(objects)}")
    return objects[name]


def get(identifier: Any) -> Any:
    """Resolves a loss identifier as ``keras.losses.get``: ``None``; a string (a function name
    gives the function, a class name an instance with default arguments); a config dict; a
    ``Loss`` class (instantiated) or any callable (returned as is)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _lookup(identifier, _ALL_OBJECTS)
    else:
        obj = identifier
    if callable(obj):
        if inspect.isclass(obj):
            obj = obj()
        return obj
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


saving.register_builtins("keras.losses", _CLASSES)
saving.register_builtins("keras.losses", _FUNCTIONS)
