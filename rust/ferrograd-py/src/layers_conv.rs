//! Bindings of the engine's convolution layers (`Conv1D/2D`, `DepthwiseConv1D/2D`, `SeparableConv1D/2D`,
//! `Conv1D/2DTranspose`):
//! module-level constructors returning a `_core.Layer`; the Keras classes live in
//! `ferrograd.layers.convolutional`, which also creates the weights.

use ferrograd::nn::{Conv, ConvTranspose, DepthwiseConv, Padding, SeparableConv};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::IntoPy;
use crate::layers::{parse_activation, PyLayer};

/// Keras's `Conv1D`/`Conv2D` (the length of `kernel_size` is the number of spatial axes).
#[pyfunction]
#[pyo3(signature = (name, filters, kernel_size, strides, padding, dilation_rate, groups, activation, activation_params=None, use_bias=true))]
#[allow(clippy::too_many_arguments)]
fn conv_layer(
    name: String,
    filters: usize,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    padding: &str,
    dilation_rate: Vec<usize>,
    groups: usize,
    activation: &str,
    activation_params: Option<&Bound<'_, PyDict>>,
    use_bias: bool,
) -> PyResult<PyLayer> {
    let activation = parse_activation(activation, activation_params)?;
    let padding = Padding::parse(padding).py()?;
    let layer = Conv::with_options(
        name,
        filters,
        kernel_size,
        strides,
        padding,
        dilation_rate,
        groups,
        activation,
        use_bias,
    )
    .py()?;
    Ok(PyLayer::wrap(layer))
}

/// Keras's `DepthwiseConv1D`/`DepthwiseConv2D`.
#[pyfunction]
#[pyo3(signature = (name, depth_multiplier, kernel_size, strides, padding, dilation_rate, activation, activation_params=None, use_bias=true))]
#[allow(clippy::too_many_arguments)]
fn depthwise_conv_layer(
    name: String,
    depth_multiplier: usize,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    padding: &str,
    dilation_rate: Vec<usize>,
    activation: &str,
    activation_params: Option<&Bound<'_, PyDict>>,
    use_bias: bool,
) -> PyResult<PyLayer> {
    let activation = parse_activation(activation, activation_params)?;
    let padding = Padding::parse(padding).py()?;
    let layer = DepthwiseConv::new(
        name,
        depth_multiplier,
        kernel_size,
        strides,
        padding,
        dilation_rate,
        activation,
        use_bias,
    )
    .py()?;
    Ok(PyLayer::wrap(layer))
}

/// Keras's `Conv1DTranspose`/`Conv2DTranspose`; `output_padding` `None` lets Keras's rule
/// infer the output length.
#[pyfunction]
#[pyo3(signature = (name, filters, kernel_size, strides, padding, dilation_rate, activation, activation_params=None, use_bias=true, output_padding=None))]
#[allow(clippy::too_many_arguments)]
fn conv_transpose_layer(
    name: String,
    filters: usize,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    padding: &str,
    dilation_rate: Vec<usize>,
    activation: &str,
    activation_params: Option<&Bound<'_, PyDict>>,
    use_bias: bool,
    output_padding: Option<Vec<usize>>,
) -> PyResult<PyLayer> {
    let activation = parse_activation(activation, activation_params)?;
    let padding = Padding::parse(padding).py()?;
    let layer = ConvTranspose::new(
        name,
        filters,
        kernel_size,
        strides,
        padding,
        dilation_rate,
        activation,
        use_bias,
    )
    .and_then(|layer| layer.with_output_padding(output_padding))
    .py()?;
    Ok(PyLayer::wrap(layer))
}

/// Keras's `SeparableConv1D`/`SeparableConv2D`.
#[pyfunction]
#[pyo3(signature = (name, filters, depth_multiplier, kernel_size, strides, padding, dilation_rate, activation, activation_params=None, use_bias=true))]
#[allow(clippy::too_many_arguments)]
fn separable_conv_layer(
    name: String,
    filters: usize,
    depth_multiplier: usize,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    padding: &str,
    dilation_rate: Vec<usize>,
    activation: &str,
    activation_params: Option<&Bound<'_, PyDict>>,
    use_bias: bool,
) -> PyResult<PyLayer> {
    let activation = parse_activation(activation, activation_params)?;
    let padding = Padding::parse(padding).py()?;
    let layer = SeparableConv::new(
        name,
        filters,
        depth_multiplier,
        kernel_size,
        strides,
        padding,
        dilation_rate,
        activation,
        use_bias,
    )
    .py()?;
    Ok(PyLayer::wrap(layer))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(conv_layer, m)?)?;
    m.add_function(wrap_pyfunction!(depthwise_conv_layer, m)?)?;
    m.add_function(wrap_pyfunction!(conv_transpose_layer, m)?)?;
    m.add_function(wrap_pyfunction!(separable_conv_layer, m)?)?;
    Ok(())
}
