"""The path an optimizer takes on a 2-D function, computed with the real optimizer.

``trajectory`` holds the point in an :class:`ferrograd.Variable`, takes each gradient with a
:class:`ferrograd.GradientTape` and each step with ``optimizer.apply_gradients``, exactly as a
training loop does, so what is drawn is what SGD, momentum, Nesterov, RMSprop, Adam, ... really do
(slots, bias correction, clipping, schedules included), not a re-implementation::

    from ferrograd.optimizers import surfaces, trajectory
    points = trajectory(surfaces.saddle, fg.optimizers.SGD(0.01, momentum=0.9), (1.0, 1e-3), 200)
    points.shape   # (201, 2): the start, then the point after each step
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Callable

import numpy as np

from .._core import Tensor, Variable
from ..autodiff import GradientTape

__all__ = ["distance", "trajectory"]


def _start_point(start: Any, dtype: str) -> np.ndarray:
    if isinstance(start, Tensor):
        start = start.numpy()
    try:
        point = np.asarray(start, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"trajectory: start must be two numbers (x, y), got {start!r}") from e
    if point.shape != (2,):
        raise ValueError(f"trajectory: start must have shape (2,), got shape {point.shape}")
    if not np.all(np.isfinite(point)):
        raise ValueError(f"trajectory: start must be finite, got {point.tolist()}")
    return point.astype(dtype)


def trajectory(
    fn: Callable[[Tensor], Tensor],
    optimizer: Any,
    start: Any,
    steps: int,
    dtype: str = "float64",
) -> np.ndarray:
    """Runs ``optimizer`` on ``fn`` from ``start`` for ``steps`` steps; returns the points visited.

    Args:
        fn: ``fn(p)`` with ``p`` an fg Tensor of shape ``(2,)``, returning a scalar fg Tensor built
            from ``p`` with fg operations (so that autodiff gives the gradient), e.g. a
            :mod:`~ferrograd.optimizers.surfaces` surface.
        optimizer: A ferrograd optimizer (anything with ``apply_gradients``). It is used as is:
            pass a fresh one for each trajectory, since its slots (momentum, second moments) and
            step count carry over between calls.
        start: The start ``(x, y)``: a sequence, array or Tensor of shape ``(2,)``, finite.
        steps: The number of optimizer steps, an int >= 0.
        dtype: The point's dtype, ``"float64"`` (default: paths that crawl, as SGD's near a
            saddle, are not lost in float32 rounding) or ``"float32"``.

    Returns:
        A float64 numpy array of shape ``(steps + 1, 2)``: row 0 is the start, row ``k`` the point
        after ``k`` steps.

    Divergence: the run does **not** stop when the point becomes inf or NaN (too large a learning
    rate on a steep surface). The array keeps its documented shape, the remaining rows are
    whatever the optimizer produces from there (NaN in practice), and a ``RuntimeWarning`` names
    the first non-finite step, so a table or a plot of several optimizers shows the divergence
    instead of silently shortening one of the paths. Check with ``np.isfinite(points).all(axis=1)``.

    Raises:
        TypeError: If ``fn`` is not callable or does not return an fg Tensor, ``optimizer`` has no
            ``apply_gradients``, ``steps`` is not an int or ``start`` is not numeric.
        ValueError: If ``start`` does not have shape ``(2,)`` or is not finite, ``steps < 0``,
            ``dtype`` is not a float dtype, or ``fn`` returns a non-scalar.
    """
    if not callable(fn):
        raise TypeError(f"trajectory: fn must be callable, got {type(fn).__name__}")
    if not callable(getattr(optimizer, "apply_gradients", None)):
        raise TypeError(
            "trajectory: optimizer must be a ferrograd optimizer (with apply_gradients), "
            f"got {type(optimizer).__name__}"
        )
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"trajectory: steps must be an int, got {type(steps).__name__}")
    if steps < 0:
        raise ValueError(f"trajectory: steps must be >= 0, got {steps}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"trajectory: dtype must be 'float32' or 'float64', got {dtype!r}")
    steps = int(steps)
    point = Variable(_start_point(start, dtype), name="point")

    points = np.empty((steps + 1, 2), dtype=np.float64)
    points[0] = point.numpy()
    warned = False
    for step in range(1, steps + 1):
        with GradientTape() as tape:
            value = fn(point)
        if not isinstance(value, Tensor):
            raise TypeError(
                f"trajectory: fn must return an fg Tensor computed from its argument with fg operations "
                f"(so it can be differentiated), got {type(value).__name__}"
            )
        if value.size != 1:
            raise ValueError(f"trajectory: fn must return a scalar, got a tensor of shape {value.shape}")
        grad = tape.gradient(value, point)
        if grad is None:
            raise ValueError("trajectory: fn's value does not depend on its argument (no gradient)")
        optimizer.apply_gradients([(grad, point)])
        points[step] = point.numpy()
        if not warned and not np.all(np.isfinite(points[step])):
            warned = True
            warnings.warn(
                f"trajectory: the point became non-finite at step {step} ({points[step].tolist()}); "
                f"the optimizer diverged (learning rate too large for this surface?)",
                RuntimeWarning,
                stacklevel=2,
            )
    return points


def distance(points: np.ndarray, target: Any) -> np.ndarray:
    """Euclidean distance of each point of a trajectory from ``target`` (e.g. a minimum)."""
    return np.linalg.norm(np.asarray(points, dtype=np.float64) - np.asarray(target, dtype=np.float64), axis=-1)
