"""Autodiff entry points: ``no_grad``, ``GradientTape`` (the Keras/TensorFlow custom-loop idiom),
``grad`` (functional) and ``gradcheck`` (analytic against central differences)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from . import _core
from ._core import Tensor

__all__ = ["GradientTape", "grad", "gradcheck", "is_grad_enabled", "no_grad"]

is_grad_enabled = _core.is_grad_enabled


class no_grad:
    """Context manager (and decorator) under which operations record no graph, as
    ``torch.no_grad``: for inference and for updating weights by hand. It applies to the
    current thread only."""

    def __enter__(self) -> no_grad:
        _core._push_no_grad()
        return self

    def __exit__(self, *exc_info: object) -> None:
        _core._pop_no_grad()

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return func(*args, **kwargs)

        return wrapper


def _flatten(sources: Any) -> tuple[list[Tensor], Callable[[list[Any]], Any]]:
    """Sources as a flat list, and a function that rebuilds the caller's structure."""
    if isinstance(sources, Tensor):
        return [sources], lambda flat: flat[0]
    if isinstance(sources, dict):
        keys = list(sources)
        return [sources[k] for k in keys], lambda flat: dict(zip(keys, flat))
    if isinstance(sources, (list, tuple)):
        kind = type(sources)
        return list(sources), lambda flat: kind(flat) if kind in (list, tuple) else list(flat)
    raise TypeError(f"sources must be a Tensor, a list/tuple or a dict of Tensors, got {type(sources).__name__}")


class GradientTape:
    """Records operations for differentiation, as ``tf.GradientTape`` (Keras's custom-loop idiom)::

        with fg.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)

    ferrograd records every operation on tensors that require a gradient anyway; the tape adds
    ``watch`` for constant tensors and TensorFlow's rule that a non-persistent tape computes
    gradients once.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._used = False
        self._active = False

    def __enter__(self) -> GradientTape:
        self._active = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._active = False

    def watch(self, tensor: Any) -> None:
        """Makes the tape track ``tensor`` (or each tensor in a list): it must be a leaf."""
        for t in _flatten(tensor)[0]:
            if not isinstance(t, Tensor):
                raise TypeError(f"watch() takes Tensors, got {type(t).__name__}")
            if not t.requires_grad:
                t.requires_grad = True

    def gradient(self, target: Tensor, sources: Any, output_gradients: Any = None) -> Any:
        """Gradients of ``target`` with respect to ``sources`` in the same structure; ``None``
        for a source that ``target`` does not depend on."""
        if self._used and not self.persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can only be used to compute one set of gradients; "
                "use GradientTape(persistent=True) to compute several."
            )
        if not isinstance(target, Tensor):
            raise TypeError(f"target must be a Tensor, got {type(target).__name__}")
        flat, rebuild = _flatten(sources)
        for s in flat:
            if not isinstance(s, Tensor):
                raise TypeError(f"sources must be Tensors, got {type(s).__name__}")
        self._used = True
        if not target.requires_grad:
            return rebuild([None] * len(flat))
        grads = _core.gradients(target, flat, output_gradients, self.persistent)
        return rebuild(grads)


def grad(f: Callable[..., Tensor], inputs: Any) -> Any:
    """Gradients of the scalar ``f(*inputs)`` at ``inputs`` (arrays or tensors), as a list (or a
    single gradient when ``inputs`` is a single array). ``f`` gets float tensors that require a
    gradient; integer arrays become float32."""
    single = not isinstance(inputs, (list, tuple))
    items = [inputs] if single else list(inputs)
    leaves = []
    for item in items:
        storage = item.numpy() if isinstance(item, Tensor) else item
        dtype = "float64" if np.asarray(storage).dtype == np.float64 else "float32"
        leaves.append(_core.tensor(storage, requires_grad=True, dtype=dtype))
    output = f(*leaves)
    if not isinstance(output, Tensor):
        raise TypeError(f"f must return a Tensor, got {type(output).__name__}")
    grads = _core.gradients(output, leaves)
    grads = [g if g is not None else _core.zeros(leaf.shape, dtype=leaf.dtype) for g, leaf in zip(grads, leaves)]
    return grads[0] if single else grads


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any] | Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Checks ``fn``'s analytic gradient against the two-sided difference
    (f(θ+ε) − f(θ−ε)) / 2ε, in float64, with PyTorch's rule
    ``|analytic − numeric| <= atol + rtol * |numeric|`` for every partial derivative.

    ``fn`` takes the inputs as float64 tensors and returns a tensor (a non-scalar output is
    checked through a fixed random projection). Returns ``True``; raises ``GradcheckError``
    naming the worst element otherwise.
    """
    _core.gradcheck(fn, inputs, eps, atol, rtol)
    return True
