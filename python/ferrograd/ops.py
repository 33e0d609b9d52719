"""Tensor operations under Keras 3's ``keras.ops`` names (``fg.ops.matmul``, ``fg.ops.relu``, ...).

Every function takes tensors, numpy arrays or Python numbers, broadcasts as numpy does and, when
an input requires a gradient, records the operation for ``backward()``. Comparisons return 0/1
masks in the inputs' float dtype; ``argmax``/``argmin`` return int64 numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._core import Tensor as _Tensor
from ._core import (
    abs,
    absolute,
    add,
    broadcast_to,
    cast,
    clip,
    convert_to_tensor,
    cos,
    ctc_decode,
    divide,
    equal,
    exp,
    expand_dims,
    full,
    greater,
    greater_equal,
    hard_sigmoid,
    less,
    less_equal,
    log,
    log1p,
    matmul,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    ones,
    power,
    ravel,
    reciprocal,
    relu,
    relu6,
    reshape,
    selu,
    sigmoid,
    silu,
    sin,
    softplus,
    softsign,
    sqrt,
    square,
    squeeze,
    subtract,
    swish,
    take,
    tanh,
    transpose,
    true_divide,
    where,
    zeros,
)

# Keras's defaults live here, in the signatures a user sees; the engine's functions take every
# argument explicitly.


def concatenate(xs: Any, axis: int = 0) -> _Tensor:
    """``keras.ops.concatenate``: the tensors joined along ``axis``."""
    return _core.concatenate(xs, axis)


def stack(x: Any, axis: int = 0) -> _Tensor:
    """``keras.ops.stack``: the tensors stacked along a new ``axis``."""
    return _core.stack(x, axis)


def softmax(x: Any, axis: int = -1) -> _Tensor:
    """``keras.ops.softmax`` over ``axis``."""
    return _core.softmax(x, axis)


def log_softmax(x: Any, axis: int = -1) -> _Tensor:
    """``keras.ops.log_softmax`` over ``axis``."""
    return _core.log_softmax(x, axis)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> _Tensor:
    """``keras.ops.leaky_relu``: ``x`` below zero scaled by ``negative_slope``."""
    return _core.leaky_relu(x, negative_slope)


def elu(x: Any, alpha: float = 1.0) -> _Tensor:
    """``keras.ops.elu``: ``alpha * (exp(x) - 1)`` below zero."""
    return _core.elu(x, alpha)


def gelu(x: Any, approximate: bool = True) -> _Tensor:
    """``keras.ops.gelu``; the tanh approximation by default, as Keras's ops (the activation
    ``keras.activations.gelu`` defaults to the exact form)."""
    return _core.gelu(x, approximate)


def ctc_loss(target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0) -> _Tensor:
    """``keras.ops.ctc_loss``: per-sample CTC negative log-likelihoods; ``mask_index`` is the
    blank class."""
    return _core.ctc_loss(target, output, target_length, output_length, mask_index)


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: Any = None) -> _Tensor:
    """``keras.ops.one_hot``: integer ids encoded along a new ``axis`` (ids out of range give
    zeros); ``dtype`` defaults to float32."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
    return _core.one_hot(x, int(num_classes), axis, dtype)


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float | None = None) -> _Tensor:
    """``keras.ops.pad`` with numpy's ``pad_width`` forms (only ``mode="constant"``)."""
    return _core.pad(x, pad_width, mode, constant_values)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> _Tensor:
    """``keras.ops.sum``: the sum over ``axis`` (an int, a tuple, or None for all)."""
    return _core.sum(x, axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> _Tensor:
    """``keras.ops.mean``: the mean over ``axis`` (an int, a tuple, or None for all)."""
    return _core.mean(x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> _Tensor:
    """``keras.ops.max``: the maximum over ``axis`` (an int, a tuple, or None for all)."""
    return _core.max(x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> _Tensor:
    """``keras.ops.min``: the minimum over ``axis`` (an int, a tuple, or None for all)."""
    return _core.min(x, axis, keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False) -> _Tensor:
    """``keras.ops.var``: the variance (ddof 0) over ``axis`` (an int, a tuple, or None for all)."""
    return _core.var(x, axis, keepdims)


def std(x: Any, axis: Any = None, keepdims: bool = False) -> _Tensor:
    """``keras.ops.std``: the standard deviation (ddof 0) over ``axis`` (an int, a tuple, or None for all)."""
    return _core.std(x, axis, keepdims)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> _Tensor:
    """``keras.ops.logsumexp``: ``log(sum(exp(x)))``, computed stably, over ``axis`` (an int, a
    tuple, or None for all)."""
    return _core.logsumexp(x, axis, keepdims)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    """``keras.ops.argmax``: the index of the maximum along ``axis`` (of the flattened
    input for None), as int64."""
    return _core.argmax(x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    """``keras.ops.argmin``: the index of the minimum along ``axis`` (of the flattened
    input for None), as int64."""
    return _core.argmin(x, axis, keepdims)


def convert_to_numpy(x: Any) -> np.ndarray:
    """The value of ``x`` as a numpy array (a read-only view for tensors)."""
    return x.numpy() if isinstance(x, _Tensor) else np.asarray(x)


__all__ = [
    "abs",
    "absolute",
    "add",
    "argmax",
    "argmin",
    "broadcast_to",
    "cast",
    "clip",
    "concatenate",
    "convert_to_numpy",
    "convert_to_tensor",
    "cos",
    "ctc_decode",
    "ctc_loss",
    "divide",
    "elu",
    "equal",
    "exp",
    "expand_dims",
    "full",
    "gelu",
    "greater",
    "greater_equal",
    "hard_sigmoid",
    "leaky_relu",
    "less",
    "less_equal",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "not_equal",
    "one_hot",
    "ones",
    "pad",
    "power",
    "ravel",
    "reciprocal",
    "relu",
    "relu6",
    "reshape",
    "selu",
    "sigmoid",
    "silu",
    "sin",
    "softmax",
    "softplus",
    "softsign",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "swish",
    "take",
    "tanh",
    "transpose",
    "true_divide",
    "var",
    "where",
    "zeros",
]
