//! Bindings of the pooling and spatial reshaping layers: constructors of `_core.Layer` for
//! `ferrograd.layers.pooling`. The Keras classes there check and normalize the arguments.

use ferrograd::nn::{
    Cropping, GlobalPooling, Interpolation, PoolMode, Pooling, UpSampling, ZeroPadding,
};
use ferrograd::ops::PoolPadding;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::IntoPy;
use crate::layers::PyLayer;

fn pool_mode(mode: &str) -> PyResult<PoolMode> {
    match mode {
        "max" => Ok(PoolMode::Max),
        "average" => Ok(PoolMode::Average),
        other => Err(PyValueError::new_err(format!(
            "pooling mode must be 'max' or 'average', got '{other}'"
        ))),
    }
}

/// `MaxPooling1D/2D` or `AveragePooling1D/2D` (`mode` "max" or "average"); the rank is the
/// length of `pool_size`.
#[pyfunction]
#[pyo3(signature = (name, mode, pool_size, strides=None, padding="valid"))]
fn pooling_layer(
    name: String,
    mode: &str,
    pool_size: Vec<usize>,
    strides: Option<Vec<usize>>,
    padding: &str,
) -> PyResult<PyLayer> {
    let padding = PoolPadding::parse(padding).py()?;
    let layer = Pooling::new(
        name,
        pool_mode(mode)?,
        &pool_size,
        strides.as_deref(),
        padding,
    )
    .py()?;
    Ok(PyLayer::wrap(layer))
}

/// `GlobalMaxPooling1D/2D` or `GlobalAveragePooling1D/2D` over `rank` spatial axes.
#[pyfunction]
#[pyo3(signature = (name, mode, rank, keepdims=false))]
fn global_pooling_layer(
    name: String,
    mode: &str,
    rank: usize,
    keepdims: bool,
) -> PyResult<PyLayer> {
    Ok(PyLayer::wrap(
        GlobalPooling::new(name, pool_mode(mode)?, rank, keepdims).py()?,
    ))
}

/// `ZeroPadding1D/2D`: `(before, after)` per spatial axis.
#[pyfunction]
fn zero_padding_layer(name: String, padding: Vec<(usize, usize)>) -> PyResult<PyLayer> {
    Ok(PyLayer::wrap(ZeroPadding::new(name, padding).py()?))
}

/// `Cropping1D/2D`: `(start, end)` per spatial axis.
#[pyfunction]
fn cropping_layer(name: String, cropping: Vec<(usize, usize)>) -> PyResult<PyLayer> {
    Ok(PyLayer::wrap(Cropping::new(name, cropping).py()?))
}

/// `UpSampling1D/2D`: a factor per spatial axis and Keras's `interpolation` ("nearest", or
/// "bilinear" for 2-D).
#[pyfunction]
#[pyo3(signature = (name, size, interpolation="nearest"))]
fn upsampling_layer(name: String, size: Vec<usize>, interpolation: &str) -> PyResult<PyLayer> {
    let interpolation = Interpolation::parse(interpolation).py()?;
    Ok(PyLayer::wrap(
        UpSampling::with_interpolation(name, size, interpolation).py()?,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pooling_layer, m)?)?;
    m.add_function(wrap_pyfunction!(global_pooling_layer, m)?)?;
    m.add_function(wrap_pyfunction!(zero_padding_layer, m)?)?;
    m.add_function(wrap_pyfunction!(cropping_layer, m)?)?;
    m.add_function(wrap_pyfunction!(upsampling_layer, m)?)?;
    Ok(())
}
