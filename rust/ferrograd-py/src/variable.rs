//! `Variable`: a named, trainable parameter (Keras's `keras.Variable`). A subclass of `Tensor`
//! whose data is updated in place by `assign` and by optimizers.

use std::sync::atomic::{AtomicBool, Ordering};

use ferrograd::Tensor;
use pyo3::prelude::*;

use crate::convert::{dtype_from_py, to_storage};
use crate::errors::IntoPy;
use crate::tensor::PyTensor;

#[pyclass(name = "Variable", module = "ferrograd", extends = PyTensor, frozen)]
pub struct PyVariable {
    name: String,
    /// Keras's `path`: the name within its layer's scope (`dense/kernel`).
    path: String,
    trainable: AtomicBool,
}

fn handle<'a>(slf: &'a Bound<'_, PyVariable>) -> &'a Tensor {
    &slf.as_super().get().inner
}

#[pymethods]
impl PyVariable {
    #[new]
    #[pyo3(signature = (initializer, trainable=true, name=None, dtype=None, path=None))]
    fn new(
        initializer: &Bound<'_, PyAny>,
        trainable: bool,
        name: Option<String>,
        dtype: Option<&Bound<'_, PyAny>>,
        path: Option<String>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let storage = to_storage(initializer, dtype_from_py(dtype)?)?;
        let tensor = Tensor::from_storage(storage, trainable);
        let name = name.unwrap_or_else(|| "variable".to_string());
        let path = path.unwrap_or_else(|| name.clone());
        Ok(
            PyClassInitializer::from(PyTensor::new(tensor)).add_subclass(PyVariable {
                name,
                path,
                trainable: AtomicBool::new(trainable),
            }),
        )
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Whether optimizers update it (and so whether it records gradients).
    #[getter]
    fn trainable(&self) -> bool {
        self.trainable.load(Ordering::Relaxed)
    }

    #[setter]
    fn set_trainable(slf: &Bound<'_, Self>, value: bool) -> PyResult<()> {
        slf.get().trainable.store(value, Ordering::Relaxed);
        handle(slf).set_requires_grad(value).py()
    }

    /// The current value as a plain tensor (no graph link to later updates).
    #[getter]
    fn value(slf: &Bound<'_, Self>) -> PyTensor {
        PyTensor::new(handle(slf).detach())
    }

    /// Replaces the value in place; the shape must match.
    fn assign(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let tensor = handle(slf);
        tensor.assign(to_storage(value, Some(tensor.dtype()))?).py()
    }

    /// `self.assign(self + delta)`.
    fn assign_add(slf: &Bound<'_, Self>, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        let tensor = handle(slf);
        let _guard = ferrograd::no_grad();
        let delta = Tensor::from_storage(to_storage(delta, Some(tensor.dtype()))?, false);
        let sum = tensor.detach().add(&delta).py()?;
        tensor.assign(sum.storage()).py()
    }

    /// `self.assign(self - delta)`.
    fn assign_sub(slf: &Bound<'_, Self>, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        let tensor = handle(slf);
        let _guard = ferrograd::no_grad();
        let delta = Tensor::from_storage(to_storage(delta, Some(tensor.dtype()))?, false);
        let difference = tensor.detach().sub(&delta).py()?;
        tensor.assign(difference.storage()).py()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let trainable = if this.trainable.load(Ordering::Relaxed) {
            "True"
        } else {
            "False"
        };
        let extra = format!(", name={:?}, trainable={trainable}", this.name);
        crate::tensor_methods::format_tensor(slf.py(), "Variable", handle(slf), &extra)
    }
}
