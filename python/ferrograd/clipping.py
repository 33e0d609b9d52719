"""Gradient clipping as a tool of its own: ``clip_by_global_norm`` and ``clip_by_value``, with
TensorFlow's names and definitions (``tf.clip_by_global_norm``, ``tf.clip_by_value``).

Exploding gradients (products of Jacobians growing with depth, or over an RNN's time steps) make
one step jump far across the loss surface. Clipping bounds the step:

- by global norm, the whole gradient (all tensors together) is rescaled so that its L2 norm is at
  most ``max_norm``; its *direction* is kept, only its length shrinks;
- by value, each element is clamped into ``[min, max]``; simpler, but it changes the direction.

The optimizers apply the same rules when built with ``global_clipnorm``/``clipvalue``, and these
functions run the same engine code (``optim/clip.rs``): they give the custom-loop user the same
operation and the norm before clipping, which is worth logging: a norm that keeps hitting the
threshold says the learning rate or the initialization is off::

    with fg.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    grads, norm = fg.clip_by_global_norm(grads, 1.0)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))

Clipping works on gradient *values*: no graph is recorded and the results never require a
gradient. Inputs may be ferrograd Tensors (or Variables) or numpy arrays; tensors come back as
Tensors of the same dtype, anything else as numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor

__all__ = ["clip_by_global_norm", "clip_by_value"]


def _is_real_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _engine_input(value: Any, what: str) -> Any:
    """A Tensor as it is, anything else as a numpy float array for the engine (integers as
    float64); only real numbers are gradients."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{what}: expected real numeric values, got an array of dtype {array.dtype}")
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _like_input(original: Any, result: Tensor, keep_integers: bool = False) -> Any:
    """The engine's result as the input's kind: a Tensor for a Tensor input, else a numpy array
    of its own (writable, 0-d kept as an array) in the input's float dtype (and, with
    ``keep_integers``, its integer dtype)."""
    if isinstance(original, Tensor):
        return result
    dtype = np.asarray(original).dtype
    if dtype.kind == "f" or (keep_integers and dtype.kind in "iu"):
        return np.array(result.numpy(), dtype=dtype)
    return np.array(result.numpy())


def clip_by_global_norm(grads: Sequence[Any], max_norm: float) -> tuple[list[Any], float]:
    """Rescales a list of gradients together so that their global L2 norm is at most ``max_norm``.

    As ``tf.clip_by_global_norm``::

        global_norm = sqrt(sum(sum(g ** 2) for g in grads))
        clipped = [g * max_norm / max(global_norm, max_norm) for g in grads]

    Every gradient is scaled by the same factor, so the direction of the whole update is kept
    (clipping each tensor on its own, Keras's ``clipnorm``, would bend it). Gradients already
    within the limit are returned unchanged in value.

    Non-finite gradients, as TensorFlow: if the global norm is infinite or NaN (some element is
    inf or NaN), **every** clipped value is NaN, so a broken step cannot pass silently as a
    plausible one. The returned norm is that inf/NaN, for the caller to detect and skip the step.

    Args:
        grads: A list of Tensors (or Variables) or numpy arrays; ``None`` entries (variables with
            no gradient) are passed through as ``None`` and count for nothing.
        max_norm: The largest allowed global norm: a finite number > 0.

    Returns:
        ``(clipped, global_norm)``: the clipped gradients in the input's order and kinds (Tensors of
        the input dtype for Tensors, numpy arrays otherwise), and the global norm *before*
        clipping as a Python float (what PyTorch's ``clip_grad_norm_`` returns too). The norm is
        accumulated in float64 whatever the dtype; the scaling is done in the gradient's dtype,
        as the optimizers' ``global_clipnorm`` does, so both give the same step.

    Raises:
        TypeError: If ``grads`` is not a list/tuple, an entry is not numeric, or ``max_norm`` is
            not a number.
        ValueError: If ``max_norm`` is not finite and positive.
    """
    if isinstance(grads, (Tensor, np.ndarray)) or not isinstance(grads, Sequence) or isinstance(grads, str):
        raise TypeError(
            f"clip_by_global_norm: grads must be a list of tensors (e.g. what tape.gradient returns), "
            f"got {type(grads).__name__}"
        )
    if not _is_real_number(max_norm) and not (isinstance(max_norm, np.ndarray) and max_norm.ndim == 0):
        raise TypeError(f"clip_by_global_norm: max_norm must be a number, got {type(max_norm).__name__}")
    max_norm = float(max_norm)
    if not (math.isfinite(max_norm) and max_norm > 0):
        raise ValueError(f"clip_by_global_norm: max_norm must be a finite number > 0, got {max_norm}")

    present = [g for g in grads if g is not None]
    tensors, norm = _core.clip_by_global_norm([_engine_input(g, "clip_by_global_norm") for g in present], max_norm)
    results = iter(tensors)
    clipped = [None if g is None else _like_input(g, next(results)) for g in grads]
    return clipped, norm


def _bound(value: Any, name: str) -> np.ndarray:
    """A bound as a float64 array; the engine checks its values (NaN, order, shapes)."""
    if isinstance(value, Tensor):
        value = value.numpy()
    if _is_real_number(value):
        return np.asarray(float(value))
    if isinstance(value, (np.ndarray, list, tuple)):
        bound = np.asarray(value)
        if bound.dtype.kind not in "fiu":
            raise TypeError(f"clip_by_value: {name} must be numbers, got an array of dtype {bound.dtype}")
        return bound.astype(np.float64)
    raise TypeError(f"clip_by_value: {name} must be a number or an array, got {type(value).__name__}")


def _clip_one(t: Any, low: np.ndarray, high: np.ndarray) -> Any:
    clipped = _core.clip_by_value(_engine_input(t, "clip_by_value"), low, high)
    return _like_input(t, clipped, keep_integers=True)


def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any) -> Any:
    """Clamps every element into ``[clip_value_min, clip_value_max]``, as ``tf.clip_by_value``.

    Unlike clipping by norm this bounds each element on its own, so it can change the direction
    of a gradient; it is what Keras's ``clipvalue=v`` does with the bounds ``[-v, v]``. NaN
    elements stay NaN (a NaN gradient is a bug to find, not a value to hide).

    Args:
        t: A Tensor (or Variable) or numpy array, or a list/tuple of them (each clipped alike;
            ``None`` entries are passed through).
        clip_value_min: The lower bound: a number, or an array broadcastable to each tensor's
            shape without enlarging it.
        clip_value_max: The upper bound, likewise; ``clip_value_min <= clip_value_max`` everywhere.

    Returns:
        The clipped values, of the input's kind and dtype (a Tensor for a Tensor, a numpy array
        otherwise; a list for a list). The bounds are cast to the input's dtype.

    Raises:
        TypeError: If an input or a bound is not numeric.
        ValueError: If a bound is NaN, ``clip_value_min > clip_value_max`` somewhere, or the
            bounds would broadcast the tensor to a larger shape.
    """
    low = _bound(clip_value_min, "clip_value_min")
    high = _bound(clip_value_max, "clip_value_max")
    _core.check_clip_bounds(low, high)
    if isinstance(t, (list, tuple)):
        return [None if item is None else _clip_one(item, low, high) for item in t]
    if t is None:
        raise TypeError("clip_by_value: t must be a tensor or an array, got None")
    return _clip_one(t, low, high)
