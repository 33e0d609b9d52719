//! Bindings of the normalization layers: module-level constructors returning `_core.Layer`
//! (the front end adds the weights with Keras's initializers and regularizers).

use ferrograd::nn::{BatchNormalization, GroupNormalization, LayerNormalization};
use pyo3::prelude::*;

use crate::errors::IntoPy;
use crate::layers::PyLayer;

/// Keras's `BatchNormalization`; `axis` is one axis or several.
#[pyfunction]
#[pyo3(signature = (name, axis, momentum=0.99, epsilon=1e-3, center=true, scale=true))]
fn batch_normalization_layer(
    name: String,
    axis: Vec<isize>,
    momentum: f64,
    epsilon: f64,
    center: bool,
    scale: bool,
) -> PyResult<PyLayer> {
    Ok(PyLayer::wrap(
        BatchNormalization::new(name, axis, momentum, epsilon, center, scale).py()?,
    ))
}

/// Keras's `LayerNormalization`; `axis` is one axis or several.
#[pyfunction]
#[pyo3(signature = (name, axis, epsilon=1e-3, center=true, scale=true))]
fn layer_normalization_layer(
    name: String,
    axis: Vec<isize>,
    epsilon: f64,
    center: bool,
    scale: bool,
) -> PyResult<PyLayer> {
    Ok(PyLayer::wrap(
        LayerNormalization::new(name, axis, epsilon, center, scale).py()?,
    ))
}

/// Keras's `GroupNormalization`; `groups=-1` is one group per channel.
#[pyfunction]
#[pyo3(signature = (name, groups=32, axis=-1, epsilon=1e-3, center=true, scale=true))]
fn group_normalization_layer(
    name: String,
    groups: isize,
    axis: isize,
    epsilon: f64,
    center: bool,
    scale: bool,
) -> PyResult<PyLayer> {
    Ok(PyLayer::wrap(
        GroupNormalization::new(name, groups, axis, epsilon, center, scale).py()?,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(batch_normalization_layer, m)?)?;
    m.add_function(wrap_pyfunction!(layer_normalization_layer, m)?)?;
    m.add_function(wrap_pyfunction!(group_normalization_layer, m)?)?;
    Ok(())
}
