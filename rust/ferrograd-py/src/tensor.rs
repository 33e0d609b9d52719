//! The Python `Tensor` class: a handle to an engine tensor. Its operators and methods are in
//! `tensor_methods.rs`, so that this module, which the conversions need to recognize tensors,
//! needs no conversion itself (no `convert` <-> `tensor` cycle).

use ferrograd::Tensor;
use pyo3::prelude::*;

use crate::errors::IntoPy;

/// Work at or above this many elements releases the GIL while it runs; below it, releasing and
/// re-taking the GIL would cost more than the op.
pub const RELEASE_GIL_ELEMENTS: usize = 1 << 15;

/// Runs `work`, without the GIL when `elements` says it is worth it.
pub fn run<T: Send>(py: Python<'_>, elements: usize, work: impl FnOnce() -> T + Send) -> T {
    if elements >= RELEASE_GIL_ELEMENTS {
        py.detach(work)
    } else {
        work()
    }
}

/// An n-dimensional array of float32 or float64 that records operations for autodiff.
#[pyclass(name = "Tensor", module = "ferrograd", subclass, frozen, weakref)]
pub struct PyTensor {
    pub inner: Tensor,
}

impl PyTensor {
    pub fn new(inner: Tensor) -> PyTensor {
        PyTensor { inner }
    }
}

/// Wraps an engine result as a Python tensor.
pub fn wrap(result: ferrograd::Result<Tensor>) -> PyResult<PyTensor> {
    result.py().map(PyTensor::new)
}
