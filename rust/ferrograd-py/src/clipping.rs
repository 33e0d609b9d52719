//! Bindings of gradient clipping (`ferrograd::optim::clip`), the rules the optimizers'
//! `clipnorm` / `global_clipnorm` / `clipvalue` apply, for `ferrograd.clip_by_global_norm` and
//! `ferrograd.clip_by_value`. Inputs are tensors or float arrays; results are tensors of the
//! input's dtype that record no graph.

use ferrograd::optim::clip;
use ferrograd::Tensor;
use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;

use crate::convert::to_tensor;
use crate::errors::IntoPy;
use crate::tensor::{run, wrap, PyTensor};

/// The gradients rescaled together so that their global L2 norm is at most `max_norm`, and that
/// norm before clipping (inf or NaN, with every value NaN, when an element is not finite).
#[pyfunction]
fn clip_by_global_norm(
    py: Python<'_>,
    grads: Vec<Bound<'_, PyAny>>,
    max_norm: f64,
) -> PyResult<(Vec<PyTensor>, f64)> {
    let tensors = grads
        .iter()
        .map(to_tensor)
        .collect::<PyResult<Vec<Tensor>>>()?;
    let elements = tensors.iter().map(Tensor::len).sum();
    let (clipped, norm) = run(py, elements, || {
        clip::clip_by_global_norm(&tensors, max_norm)
    })
    .py()?;
    Ok((clipped.into_iter().map(PyTensor::new).collect(), norm))
}

/// `t` rescaled so that its L2 norm is at most `max_norm` (Keras's per-gradient `clipnorm`).
#[pyfunction]
fn clip_by_norm(py: Python<'_>, t: &Bound<'_, PyAny>, max_norm: f64) -> PyResult<PyTensor> {
    let tensor = to_tensor(t)?;
    wrap(run(py, tensor.len(), || {
        clip::clip_by_norm(&tensor, max_norm)
    }))
}

/// `t` with every element clamped into `[clip_value_min, clip_value_max]` (float64 arrays that
/// broadcast to `t`'s shape without changing it; cast to `t`'s dtype).
#[pyfunction]
fn clip_by_value(
    py: Python<'_>,
    t: &Bound<'_, PyAny>,
    clip_value_min: PyReadonlyArrayDyn<'_, f64>,
    clip_value_max: PyReadonlyArrayDyn<'_, f64>,
) -> PyResult<PyTensor> {
    let tensor = to_tensor(t)?;
    let low = clip_value_min.as_array().to_owned();
    let high = clip_value_max.as_array().to_owned();
    wrap(run(py, tensor.len(), || {
        clip::clip_by_bounds(&tensor, &low, &high)
    }))
}

/// Checks clipping bounds alone (neither NaN, broadcastable together, min <= max), for a list
/// of tensors that may be empty.
#[pyfunction]
fn check_clip_bounds(
    clip_value_min: PyReadonlyArrayDyn<'_, f64>,
    clip_value_max: PyReadonlyArrayDyn<'_, f64>,
) -> PyResult<()> {
    let low = clip_value_min.as_array().to_owned();
    let high = clip_value_max.as_array().to_owned();
    clip::check_bounds(&low, &high).py()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(clip_by_global_norm, m)?)?;
    m.add_function(wrap_pyfunction!(clip_by_norm, m)?)?;
    m.add_function(wrap_pyfunction!(clip_by_value, m)?)?;
    m.add_function(wrap_pyfunction!(check_clip_bounds, m)?)?;
    Ok(())
}
