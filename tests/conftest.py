"""Shared helpers for the Python tests: an independent central-difference gradient and the
Hypothesis strategies for shapes and values."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as fg


def numeric_gradients(f: Callable[..., fg.Tensor], arrays: Sequence[np.ndarray], eps: float = 1e-6):
    """Central differences of the scalar sum(w * f(*inputs)) with a fixed weighting w, written
    here independently of the engine's own gradcheck. Returns (analytic, numeric) lists."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    leaves = [fg.tensor(a, requires_grad=True, dtype="float64") for a in arrays]
    out = f(*leaves)
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.5, 1.5, size=out.shape)
    (out * fg.tensor(weights)).sum().backward()
    analytic = [
        leaf.grad.numpy() if leaf.grad is not None else np.zeros_like(a) for leaf, a in zip(leaves, arrays)
    ]

    def value(perturbed):
        with fg.no_grad():
            y = f(*[fg.tensor(p, dtype="float64") for p in perturbed]).numpy()
        return float(np.sum(weights * y))

    numeric = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = [x.copy() for x in arrays]
            minus = [x.copy() for x in arrays]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (value(plus) - value(minus)) / (2 * eps)
        numeric.append(g)
    return analytic, numeric


def assert_gradients_match(f, arrays, atol=1e-5, rtol=1e-4):
    """PyTorch's gradcheck rule, elementwise: |analytic - numeric| <= atol + rtol * |numeric|."""
    analytic, numeric = numeric_gradients(f, arrays)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        np.testing.assert_allclose(a, n, atol=atol, rtol=rtol, err_msg=f"gradient of input {i}")


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(shape, low: float = -3.0, high: float = 3.0):
    """float64 arrays with values in [low, high]."""
    return hnp.arrays(
        np.float64, shape, elements=st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    )


@st.composite
def broadcastable_pair(draw, max_dims: int = 3):
    """Two shapes that broadcast together, including size-1 axes and rank differences."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=max_dims, max_side=4))
    return shapes.input_shapes
