"""Metrics with Keras 3's names, arguments, defaults and definitions (``keras.metrics``).

A metric accumulates statistics batch after batch and reports one value over everything seen
since its last ``reset_state()``. The built-in metrics are computed by the Rust engine: each
holds a ``_core.Metric`` in ``self._engine``, which ``Model.fit`` copies and updates without
Python in the loop. Metrics written in Python subclass ``Metric`` (or wrap a function in
``MeanMetricWrapper``) and run eagerly; their ``_engine`` is ``None``::

    import ferrograd as fg

    m = fg.metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    float(m.result())                                   # 0.75
    fg.metrics.binary_accuracy([[1], [0]], [[0.7], [0.6]])   # per-sample values [1., 0.]
    fg.metrics.get("mae")                               # MeanAbsoluteError()

Families, as in Keras:

- Means of per-sample values (``MeanMetricWrapper``): accuracies, regression errors, hinge and
  cross-entropy metrics. ``sample_weight`` weighs each sample; the result is
  ``sum(w * value) / sum(w)``.
- Confusion metrics: ``AUC``, ``Precision``, ``Recall``, the counts and the "at" metrics
  accumulate weighted true/false positives/negatives per threshold (a prediction is a positive
  when ``y_pred > threshold``).
- ``Mean`` and ``Sum`` of values given to ``update_state(values, sample_weight)``.

In ``compile``, a metric given as a string is logged under that string (``"acc"`` logs
``acc``), and ``"accuracy"``/``"acc"`` becomes binary, sparse categorical or categorical
accuracy from the shapes of the targets and predictions (``_core.Metric.resolve``).
"""

from __future__ import annotations

import inspect
import re
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from . import _core, initializers, saving
from . import losses as _losses
from ._core import Tensor

__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "KLDivergence",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "Poisson",
    "Precision",
    "PrecisionAtRecall",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "binary_accuracy",
    "binary_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "categorical_hinge",
    "deserialize",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
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
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "squared_hinge",
    "top_k_categorical_accuracy",
]


# ----- function forms: per-sample values


def _accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(y_true == y_pred, axis=-1)`` (Keras's ``accuracy``, not exported by Keras)."""
    return _core.metric_accuracy(y_true, y_pred)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """``mean(y_true == (y_pred > threshold), axis=-1)``: one value per sample for ``(n, 1)``
    inputs (a single value for rank-1 inputs, as Keras)."""
    return _core.metric_binary_accuracy(y_true, y_pred, float(threshold))


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Per sample, 1.0 where ``argmax(y_pred) == argmax(y_true)`` (one-hot ``y_true``)."""
    return _core.metric_categorical_accuracy(y_true, y_pred)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Per sample, 1.0 where ``argmax(y_pred) == y_true`` (class ids of shape ``(n,)`` or
    ``(n, 1)``)."""
    return _core.metric_sparse_categorical_accuracy(y_true, y_pred)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """Per sample, 1.0 where the one-hot target is among the ``k`` largest predictions (ties at
    the boundary count, as ``ops.in_top_k``)."""
    return _core.metric_top_k_categorical_accuracy(y_true, y_pred, _check_k(k))


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """Per sample, 1.0 where the class id is among the ``k`` largest predictions."""
    return _core.metric_sparse_top_k_categorical_accuracy(y_true, y_pred, _check_k(k))


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
    return int(k)


# The loss functions Keras 3 exports from keras.metrics, and the short names of Keras 2.
binary_crossentropy = _losses.binary_crossentropy
categorical_crossentropy = _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
hinge = _losses.hinge
squared_hinge = _losses.squared_hinge
categorical_hinge = _losses.categorical_hinge
huber = _losses.huber
kl_divergence = _losses.kl_divergence
log_cosh = _losses.log_cosh
poisson = _losses.poisson
mean_squared_error = mse = _losses.mean_squared_error
mean_absolute_error = mae = _losses.mean_absolute_error
mean_absolute_percentage_error = mape = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = msle = _losses.mean_squared_logarithmic_error


# ----- base classes


_NAME_UIDS: dict[str, int] = defaultdict(int)


def _to_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (``"AUC"`` -> ``"auc"``, ``"KLDivergence"`` ->
    ``"kl_divergence"``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _auto_name(class_name: str) -> str:
    """Keras's ``auto_name``: the snake_case class name, then ``_1``, ``_2``, ... for the later
    instances of the process."""
    prefix = _to_snake_case(class_name)
    count = _NAME_UIDS[prefix]
    _NAME_UIDS[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def _standardize_dtype(dtype: Any) -> str:
    if dtype is None:
        return "float32"
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise ValueError(f"Metric dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")
    return name


class Metric:
    """Base class of metrics, as ``keras.metrics.Metric``: subclasses create their state in
    ``__init__`` with ``add_variable``, and implement ``update_state(...)`` and ``result()``.
    ``reset_state()`` sets every variable back to zeros; calling the metric updates it and
    returns the result.

    Example::

        class BinaryTruePositives(fg.metrics.Metric):
            def __init__(self, name="binary_true_positives", **kwargs):
                super().__init__(name=name, **kwargs)
                self.true_positives = self.add_variable(shape=(), initializer="zeros", name="tp")

            def update_state(self, y_true, y_pred, sample_weight=None):
                hits = (np.asarray(y_true) == 1) & (np.asarray(y_pred) == 1)
                self.true_positives.assign_add(float(hits.sum()))

            def result(self):
                return self.true_positives

    Args:
        dtype: the dtype of the result (``"float32"`` by default).
        name: the metric's name (by default the snake_case class name, numbered from the second
            instance on, as Keras).
    """

    # The engine metric computing this one, if it is built in (None for Python metrics).
    _engine: Any = None

    def __init__(self, dtype: Any = None, name: str | None = None):
        self._variables: list[Any] = []
        self.name = name or _auto_name(type(self).__name__)
        self._dtype = _standardize_dtype(dtype)

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        # compile renames metrics to the string that named them; the engine logs that name.
        self._name = value
        if self._engine is not None:
            self._engine.name = value

    @property
    def dtype(self) -> str:
        return self._dtype

    def add_variable(
        self, shape: Any = (), initializer: Any = "zeros", dtype: Any = None, aggregation: str = "sum", name: Any = None
    ) -> Any:
        """A non-trainable state variable, reset to zeros by ``reset_state``."""
        del aggregation  # one device: nothing to aggregate
        shape = tuple(shape) if isinstance(shape, (list, tuple)) else (int(shape),)
        dtype = _standardize_dtype(dtype or self._dtype)
        value = initializers.get(initializer)(shape, dtype=dtype)
        variable = _core.Variable(value, trainable=False, name=name, dtype=dtype)
        self._variables.append(variable)
        return variable

    def add_weight(self, shape: Any = (), initializer: Any = None, dtype: Any = None, name: Any = None) -> Any:
        """Keras's backwards-compatible alias of ``add_variable``."""
        return self.add_variable(shape=shape, initializer=initializer or "zeros", dtype=dtype, name=name)

    @property
    def variables(self) -> list[Any]:
        return list(self._variables)

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def reset_state(self) -> None:
        for variable in self._variables:
            variable.assign(np.zeros(variable.shape))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

    __str__ = __repr__


class _EngineMetric(Metric):
    """A metric computed by the Rust engine: ``_core.Metric(_kind, config, name)``."""

    _kind = ""

    def __init__(self, name: str | None = None, dtype: Any = None, **config: Any):
        super().__init__(dtype=dtype, name=name)
        self._engine = _core.Metric(self._kind, config, self.name)
        direction = self._engine.higher_is_better
        if direction is not None:
            # Keras's `_direction`, read by callbacks for mode="auto".
            self._direction = "up" if direction else "down"

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulates one batch: targets, predictions and optional per-sample weights."""
        self._engine.update_state(y_true, y_pred, sample_weight)

    def result(self) -> Tensor:
        """The value over everything accumulated, a 0-d tensor (1-d with several
        thresholds)."""
        values = self._engine.results()
        return _core.tensor(values[0] if len(values) == 1 else values, dtype=self.dtype)

    def reset_state(self) -> None:
        self._engine.reset_state()


class Mean(_EngineMetric):
    """The (weighted) mean of the values given: ``[1, 3, 5, 7]`` gives 4, and with
    ``sample_weight=[1, 1, 0, 0]`` gives 2. Each sample (first axis) counts with its weight."""

    _kind = "Mean"

    def __init__(self, name: str = "mean", dtype: Any = None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self._engine.update_values(values, sample_weight)


class Sum(_EngineMetric):
    """The (weighted) sum of the values given: ``[1, 3, 5, 7]`` gives 16."""

    _kind = "Sum"

    def __init__(self, name: str = "sum", dtype: Any = None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self._engine.update_values(values, sample_weight)


class MeanMetricWrapper(Mean):
    """The weighted mean of a function's per-sample values, ``fn(y_true, y_pred, **kwargs)``.

    Wrapping a Python function computes it eagerly (the values are averaged by an engine
    ``Mean``); the built-in subclasses (``MeanSquaredError``, ``BinaryAccuracy``, ...) are
    computed entirely by the engine.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None, dtype: Any = None, **kwargs: Any):
        self._fn = fn
        self._fn_kwargs = kwargs
        if self._kind == "Mean":
            # A Python function: an engine Mean averages what it returns.
            Metric.__init__(self, dtype=dtype, name=name)
            self._mean = _core.Metric("Mean", {}, self.name)
            if fn in _LOSS_FUNCTIONS:
                self._direction = "down"
        else:
            _EngineMetric.__init__(self, name=name, dtype=dtype, **kwargs)
            self._mean = self._engine

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        if self._engine is not None:
            self._engine.update_state(y_true, y_pred, sample_weight)
            return
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        self._mean.update_values(values, sample_weight)

    def result(self) -> Tensor:
        return _core.tensor(self._mean.result(), dtype=self.dtype)

    def reset_state(self) -> None:
        self._mean.reset_state()

    def get_config(self) -> dict[str, Any]:
        config = {"name": self.name, "dtype": self.dtype}
        if type(self) is MeanMetricWrapper:
            config["fn"] = self._fn
        config.update(self._fn_kwargs)
        return config


# ----- accuracy metrics


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels, elementwise: ``[[1], [2], [3], [4]]`` against
    ``[[0], [2], [3], [4]]`` gives 0.75."""

    _kind = "Accuracy"

    def __init__(self, name: str = "accuracy", dtype: Any = None):
        super().__init__(_accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the 0/1 labels: ``[[1], [1], [0], [0]]``
    against ``[[0.98], [1], [0], [0.6]]`` gives 0.75.

    Args:
        threshold: in (0, 1); a prediction above it is a 1.
    """

    _kind = "BinaryAccuracy"

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5):
        if threshold is not None and (threshold <= 0 or threshold >= 1):
            raise ValueError(
                "Invalid value for argument `threshold`. Expected a value in interval (0, 1). "
                f"Received: threshold={threshold}"
            )
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of the predictions is the argmax of the one-hot labels (logits
    work too: the argmax is the same)."""

    _kind = "CategoricalAccuracy"

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of the predictions equals the integer label (shape ``(n,)`` or
    ``(n, 1)``)."""

    _kind = "SparseCategoricalAccuracy"

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the ``k`` largest predictions."""

    _kind = "TopKCategoricalAccuracy"

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=_check_k(k))
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` largest predictions."""

    _kind = "SparseTopKCategoricalAccuracy"

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype: Any = None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=_check_k(k))
        self.k = k


# ----- regression metrics


class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``mean(square(y_true - y_pred), axis=-1)``."""

    _kind = "MeanSquaredError"

    def __init__(self, name: str = "mean_squared_error", dtype: Any = None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``mean(abs(y_true - y_pred), axis=-1)``."""

    _kind = "MeanAbsoluteError"

    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Mean of ``100 * mean(abs((y_true - y_pred) / y_true), axis=-1)``, the divisor floored at
    1e-7."""

    _kind = "MeanAbsolutePercentageError"

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype: Any = None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Mean of ``mean(square(log(y_true + 1) - log(y_pred + 1)), axis=-1)``."""

    _kind = "MeanSquaredLogarithmicError"

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype: Any = None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """Mean of ``mean(log(cosh(y_pred - y_true)), axis=-1)``. Keras names it ``"logcosh"``."""

    _kind = "LogCoshError"

    def __init__(self, name: str = "logcosh", dtype: Any = None):
        super().__init__(log_cosh, name=name, dtype=dtype)


def _cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """``sum(l2_norm(y_true) * l2_norm(y_pred), axis)``: +1 for parallel vectors."""
    return -_losses.cosine_similarity(y_true, y_pred, axis=axis)


class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity along ``axis`` (+1 for parallel vectors)."""

    _kind = "CosineSimilarity"

    def __init__(self, name: str = "cosine_similarity", dtype: Any = None, axis: int = -1):
        super().__init__(_cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class RootMeanSquaredError(Mean):
    """``sqrt`` of the weighted mean of the squared errors: ``[[0, 1], [0, 0]]`` against
    ``[[1, 1], [0, 0]]`` gives 0.5."""

    _kind = "RootMeanSquaredError"

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self._engine.update_state(y_true, y_pred, sample_weight)


# ----- hinge and probabilistic metrics


class Hinge(MeanMetricWrapper):
    """Mean hinge loss; {0, 1} labels become {-1, 1}."""

    _kind = "Hinge"

    def __init__(self, name: str = "hinge", dtype: Any = None):
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """Mean squared hinge loss; {0, 1} labels become {-1, 1}."""

    _kind = "SquaredHinge"

    def __init__(self, name: str = "squared_hinge", dtype: Any = None):
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """Mean categorical hinge loss."""

    _kind = "CategoricalHinge"

    def __init__(self, name: str = "categorical_hinge", dtype: Any = None):
        super().__init__(categorical_hinge, name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """Mean of ``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to [1e-7, 1]."""

    _kind = "KLDivergence"

    def __init__(self, name: str = "kl_divergence", dtype: Any = None):
        super().__init__(kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """Mean of ``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``."""

    _kind = "Poisson"

    def __init__(self, name: str = "poisson", dtype: Any = None):
        super().__init__(poisson, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary cross-entropy, from probabilities or (``from_logits=True``) logits."""

    _kind = "BinaryCrossentropy"

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
    ):
        super().__init__(
            binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits, label_smoothing=label_smoothing
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy of one-hot labels along ``axis``."""

    _kind = "CategoricalCrossentropy"

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
        axis: int = -1,
    ):
        super().__init__(
            categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy of integer labels."""

    _kind = "SparseCategoricalCrossentropy"

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        axis: int = -1,
    ):
        super().__init__(sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits, axis=axis)
        self.from_logits = from_logits
        self.axis = axis


# ----- confusion metrics


def _threshold_list(thresholds: Any, default: float) -> list[float]:
    """Keras's ``parse_init_thresholds``: a number or a list, each in [0, 1]; None -> default."""
    if thresholds is None:
        return [default]
    values = [float(t) for t in (thresholds if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds])]
    invalid = [t for t in values if t < 0 or t > 1]
    if invalid:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    return values


def _engine_thresholds(thresholds: Any) -> Any:
    if isinstance(thresholds, np.ndarray):
        return thresholds.tolist()
    return list(thresholds) if isinstance(thresholds, tuple) else thresholds


class _ConfusionMatrixConditionCount(_EngineMetric):
    """The (weighted) count of one confusion-matrix cell per threshold (0.5 by default)."""

    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: Any = None):
        self.init_thresholds = thresholds
        self.thresholds = _threshold_list(thresholds, 0.5)
        super().__init__(name=name, dtype=dtype, thresholds=_engine_thresholds(thresholds))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """The (weighted) number of true positives: ``[0, 1, 1, 1]`` against ``[1, 0, 1, 1]`` gives
    2."""

    _kind = "TruePositives"


class FalsePositives(_ConfusionMatrixConditionCount):
    """The (weighted) number of false positives."""

    _kind = "FalsePositives"


class TrueNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) number of true negatives."""

    _kind = "TrueNegatives"


class FalseNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) number of false negatives."""

    _kind = "FalseNegatives"


class Precision(_EngineMetric):
    """``tp / (tp + fp)``: ``[0, 1, 1, 1]`` against ``[1, 0, 1, 1]`` gives 2/3.

    Args:
        thresholds: a number or a list in [0, 1] (one result per threshold); None means 0.5,
            or, with ``top_k``, every top-k prediction. Use 0 with logits.
        top_k: only the k largest predictions of each row can be positives.
        class_id: only this class (the last axis is the class axis).
    """

    _kind = "Precision"

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ):
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = _threshold_list(thresholds, 0.5 if top_k is None else -1e10)
        super().__init__(
            name=name, dtype=dtype, thresholds=_engine_thresholds(thresholds), top_k=top_k, class_id=class_id
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Recall(Precision):
    """``tp / (tp + fn)``, with the arguments of ``Precision``."""

    _kind = "Recall"


class _SensitivitySpecificityBase(_EngineMetric):
    """The best of one rate subject to another, over ``num_thresholds`` thresholds in [0, 1]."""

    _target = ""

    def __init__(self, value: float, num_thresholds: int = 200, class_id: int | None = None, **kwargs: Any):
        if value < 0 or value > 1:
            raise ValueError(f"Argument `{self._target}` must be in the range [0, 1]. Received: {self._target}={value}")
        if num_thresholds <= 0:
            raise ValueError(
                f"Argument `num_thresholds` must be an integer > 0. Received: num_thresholds={num_thresholds}"
            )
        setattr(self, self._target, value)
        self.value = value
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        super().__init__(**kwargs, num_thresholds=num_thresholds, class_id=class_id, **{self._target: value})

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            self._target: self.value,
            "class_id": self.class_id,
        }


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """The best precision among the thresholds whose recall is at least ``recall``."""

    _kind = "PrecisionAtRecall"
    _target = "recall"

    def __init__(
        self, recall: float, num_thresholds: int = 200, class_id: int | None = None, name: Any = None, dtype: Any = None
    ):
        super().__init__(recall, num_thresholds, class_id, name=name, dtype=dtype)


class RecallAtPrecision(_SensitivitySpecificityBase):
    """The best recall among the thresholds whose precision is at least ``precision`` (0 when
    none reaches it)."""

    _kind = "RecallAtPrecision"
    _target = "precision"

    def __init__(
        self,
        precision: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: Any = None,
        dtype: Any = None,
    ):
        super().__init__(precision, num_thresholds, class_id, name=name, dtype=dtype)


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """The best sensitivity (recall) among the thresholds whose specificity is at least
    ``specificity``."""

    _kind = "SensitivityAtSpecificity"
    _target = "specificity"

    def __init__(
        self,
        specificity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: Any = None,
        dtype: Any = None,
    ):
        super().__init__(specificity, num_thresholds, class_id, name=name, dtype=dtype)


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """The best specificity among the thresholds whose sensitivity is at least
    ``sensitivity``."""

    _kind = "SpecificityAtSensitivity"
    _target = "sensitivity"

    def __init__(
        self,
        sensitivity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: Any = None,
        dtype: Any = None,
    ):
        super().__init__(sensitivity, num_thresholds, class_id, name=name, dtype=dtype)


class AUC(_EngineMetric):
    """Area under the ROC (default) or precision-recall curve, approximated over
    ``num_thresholds`` evenly spaced thresholds (plus end points just outside [0, 1] so that
    predictions of exactly 0 and 1 are counted).

    ``keras.metrics.AUC(num_thresholds=3)`` on ``[0, 0, 1, 1]`` against ``[0, 0.5, 0.3, 0.9]``
    gives 0.75.

    Args:
        num_thresholds: more than 1; 200 by default.
        curve: ``"ROC"`` or ``"PR"``.
        summation_method: ``"interpolation"`` (mid-point for ROC; for PR, Davis & Goadrich's
            interpolation), ``"minoring"`` (lower bound) or ``"majoring"`` (upper bound).
        from_logits: apply a sigmoid to the predictions first.
        thresholds, multi_label, num_labels, label_weights: Keras's arguments; only their
            defaults are supported.
    """

    _kind = "AUC"

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: Any = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ):
        unsupported = {
            "thresholds": thresholds,
            "multi_label": multi_label or None,
            "num_labels": num_labels,
            "label_weights": label_weights,
        }
        given = [key for key, value in unsupported.items() if value is not None]
        if given:
            raise NotImplementedError(f"AUC: {', '.join(given)} not supported yet; use num_thresholds")
        if num_thresholds <= 1:
            raise ValueError(
                f"Argument `num_thresholds` must be an integer > 1. Received: num_thresholds={num_thresholds}"
            )
        self.num_thresholds = num_thresholds
        self.multi_label = False
        self.num_labels = None
        self.label_weights = None
        self._from_logits = from_logits
        super().__init__(
            name=name,
            dtype=dtype,
            num_thresholds=num_thresholds,
            curve=curve,
            summation_method=summation_method,
            from_logits=from_logits,
        )
        config = self._engine.config()
        self.curve = config["curve"]
        self.summation_method = config["summation_method"]

    @property
    def thresholds(self) -> list[float]:
        """The thresholds, end points included: ``[-1e-7, 1/(n-1), ..., (n-2)/(n-1), 1 + 1e-7]``."""
        n = self.num_thresholds
        return [0.0 - 1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1.0 + 1e-7]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self._from_logits,
        }


# ----- lookup by name


_LOSS_FUNCTIONS = frozenset(
    {
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
        hinge,
        squared_hinge,
        categorical_hinge,
        huber,
        kl_divergence,
        log_cosh,
        poisson,
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
    }
)

_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (
        Metric,
        Mean,
        Sum,
        MeanMetricWrapper,
        MeanSquaredError,
        RootMeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        LogCoshError,
        AUC,
        FalseNegatives,
        FalsePositives,
        Precision,
        PrecisionAtRecall,
        Recall,
        RecallAtPrecision,
        SensitivityAtSpecificity,
        SpecificityAtSensitivity,
        TrueNegatives,
        TruePositives,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        KLDivergence,
        Poisson,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        TopKCategoricalAccuracy,
        SparseTopKCategoricalAccuracy,
    )
}

# Keras 3's ``ALL_OBJECTS_DICT``: class names, their snake_case, and a few short aliases. Every
# string names a class (``get("mse")`` is a ``MeanSquaredError()``).
_ALL_OBJECTS: dict[str, type[Metric]] = {
    **_CLASSES,
    **{_to_snake_case(name): cls for name, cls in _CLASSES.items()},
    "bce": BinaryCrossentropy,
    "BCE": BinaryCrossentropy,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
}

_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    fn.__name__: fn
    for fn in (
        binary_accuracy,
        categorical_accuracy,
        sparse_categorical_accuracy,
        top_k_categorical_accuracy,
        sparse_top_k_categorical_accuracy,
        *_LOSS_FUNCTIONS,
    )
}


def serialize(metric: Metric | Callable[..., Any]) -> dict[str, Any]:
    """A metric as ``{"class_name", "config"}``; a metric function as
    ``{"class_name": "function", "config": name}``."""
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    name = getattr(metric, "__name__", None)
    if name in _FUNCTIONS and _FUNCTIONS[name] is metric:
        return {"class_name": "function", "config": name}
    raise ValueError(f"Cannot serialize {metric!r}: not a ferrograd metric")


def deserialize(config: str | dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """The inverse of ``serialize``; a string gives the class (or function) of that name."""
    objects: dict[str, Any] = {**_ALL_OBJECTS, **(custom_objects or {})}
    if isinstance(config, dict):
        class_name = config.get("class_name")
        if class_name == "function":
            return _lookup(config.get("config"), {**_FUNCTIONS, **(custom_objects or {})})
        cls = objects.get(class_name)
        if not inspect.isclass(cls):
            raise ValueError(f"Unknown metric class {class_name!r}. Valid names: {sorted(_CLASSES)}")
        return cls.from_config(dict(config.get("config", {})))
    return _lookup(config, {**objects, **_FUNCTIONS})


def _lookup(name: Any, objects: dict[str, Any]) -> Any:
    if name not in objects:
        raise ValueError(f"Could not interpret metric identifier: {name!r}. Valid names: {sorted(objects)}")
    return objects[name]


def get(identifier: Any) -> Any:
    """Resolves a metric identifier as ``keras.metrics.get``: ``None``; a string (a Keras class
    name, its snake_case or an alias such as ``"mse"``, giving an instance with default
    arguments); a config dict; a ``Metric`` class (instantiated); or any callable, returned as
    is. ``"acc"`` and the shape-dependent ``"accuracy"`` belong to ``compile``."""
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
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


saving.register_builtins("keras.metrics", _CLASSES)
saving.register_builtins("keras.metrics", _FUNCTIONS)
