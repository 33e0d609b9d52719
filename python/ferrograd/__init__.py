"""ferrograd: deep learning with a Rust engine and a Keras-style Python API.

Tensors record the operations applied to them when a gradient is needed, and ``backward()``
computes gradients by reverse-mode automatic differentiation in Rust::

    import numpy as np
    import ferrograd as fg

    w = fg.Variable(np.random.randn(3, 1), name="w")
    x = fg.tensor(np.random.randn(8, 3))
    loss = ((x @ w).tanh() ** 2).mean()
    loss.backward()
    w.grad            # d loss / d w, a Tensor of shape (3, 1)
"""

from . import (
    activations,
    callbacks,
    datasets,
    diagnostics,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    regularizers,
    saving,
    utils,
)
from ._core import GradcheckError, Tensor, Variable, tensor
from .autodiff import GradientTape, grad, gradcheck, is_grad_enabled, no_grad
from .clipping import clip_by_global_norm, clip_by_value
from .layers import Input, Layer
from .models import Model, Sequential, load_model
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "GradientTape",
    "Input",
    "Layer",
    "Model",
    "Sequential",
    "Tensor",
    "Variable",
    "__version__",
    "activations",
    "callbacks",
    "clip_by_global_norm",
    "clip_by_value",
    "datasets",
    "diagnostics",
    "get_num_threads",
    "grad",
    "initializers",
    "layers",
    "metrics",
    "load_model",
    "models",
    "gradcheck",
    "is_grad_enabled",
    "losses",
    "no_grad",
    "ops",
    "optimizers",
    "regularizers",
    "saving",
    "set_num_threads",
    "tensor",
    "utils",
]
