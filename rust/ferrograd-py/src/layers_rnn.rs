//! Bindings of the engine's sequence layers (`Embedding`, `Masking`, `SimpleRNN`, `LSTM`,
//! `GRU`): module functions returning a `_core.Layer`. The Keras-shaped classes live in
//! `ferrograd.layers.recurrent` and `ferrograd.layers.masking`.

use ferrograd::nn::{
    Bidirectional, BidirectionalMerge, Embedding, Masking, Recurrent, RecurrentConfig,
    TimeDistributed,
};
use ferrograd::ops::RnnCell;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::IntoPy;
use crate::layers::{parse_activation, PyLayer};

/// Keras's `Embedding` (the table is added by the front end as `embeddings`).
#[pyfunction]
#[pyo3(signature = (name, input_dim, output_dim, mask_zero=false))]
fn embedding_layer(
    name: String,
    input_dim: usize,
    output_dim: usize,
    mask_zero: bool,
) -> PyResult<PyLayer> {
    Ok(PyLayer::wrap(
        Embedding::new(name, input_dim, output_dim, mask_zero).py()?,
    ))
}

/// Keras's `Masking(mask_value)`.
#[pyfunction]
#[pyo3(signature = (name, mask_value=0.0))]
fn masking_layer(name: String, mask_value: f64) -> PyLayer {
    PyLayer::wrap(Masking::new(name, mask_value))
}

/// Keras's `SimpleRNN`, `LSTM` or `GRU` (`cell` is the class name); weights are added by the
/// front end in Keras's order: kernel, recurrent_kernel, bias.
#[pyfunction]
#[pyo3(signature = (
    name, cell, units, activation="tanh", recurrent_activation="sigmoid", use_bias=true,
    return_sequences=false, return_state=false, go_backwards=false, dropout=0.0, seed=None,
    recurrent_dropout=0.0, reset_after=true, unit_forget_bias=true, zero_output_for_mask=false
))]
#[allow(clippy::too_many_arguments)]
fn recurrent_layer(
    name: String,
    cell: &str,
    units: usize,
    activation: &str,
    recurrent_activation: &str,
    use_bias: bool,
    return_sequences: bool,
    return_state: bool,
    go_backwards: bool,
    dropout: f64,
    seed: Option<u64>,
    recurrent_dropout: f64,
    reset_after: bool,
    unit_forget_bias: bool,
    zero_output_for_mask: bool,
) -> PyResult<PyLayer> {
    let cell = match cell {
        "SimpleRNN" => RnnCell::Simple,
        "LSTM" => RnnCell::Lstm,
        "GRU" => RnnCell::Gru,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown recurrent layer '{other}': expected SimpleRNN, LSTM or GRU"
            )))
        }
    };
    let config = RecurrentConfig {
        units,
        activation: parse_activation(activation, None)?,
        recurrent_activation: parse_activation(recurrent_activation, None)?,
        use_bias,
        return_sequences,
        return_state,
        go_backwards,
        dropout,
        recurrent_dropout,
        reset_after,
        unit_forget_bias,
        zero_output_for_mask,
        seed,
    };
    Ok(PyLayer::wrap(Recurrent::new(name, cell, config).py()?))
}

/// Keras's `Bidirectional` over two engine layers (the backward one has `go_backwards`
/// flipped); `merge_mode` is `concat`, `sum`, `mul` or `ave`.
#[pyfunction]
fn bidirectional_layer(
    name: String,
    forward: PyRef<'_, PyLayer>,
    backward: PyRef<'_, PyLayer>,
    merge_mode: &str,
    return_sequences: bool,
) -> PyResult<PyLayer> {
    let merge = match merge_mode {
        "concat" => BidirectionalMerge::Concat,
        "sum" => BidirectionalMerge::Sum,
        "mul" => BidirectionalMerge::Mul,
        "ave" => BidirectionalMerge::Ave,
        other => {
            return Err(PyValueError::new_err(format!(
                "Invalid merge mode. Received: {other}. Merge mode should be one of {{\"sum\", \"mul\", \"ave\", \"concat\"}}"
            )))
        }
    };
    Ok(PyLayer::wrap(Bidirectional::new(
        name,
        forward.inner.clone(),
        backward.inner.clone(),
        merge,
        return_sequences,
    )))
}

/// Keras's `TimeDistributed` over an engine layer.
#[pyfunction]
fn time_distributed_layer(name: String, inner: PyRef<'_, PyLayer>) -> PyLayer {
    PyLayer::wrap(TimeDistributed::new(name, inner.inner.clone()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(embedding_layer, m)?)?;
    m.add_function(wrap_pyfunction!(masking_layer, m)?)?;
    m.add_function(wrap_pyfunction!(recurrent_layer, m)?)?;
    m.add_function(wrap_pyfunction!(bidirectional_layer, m)?)?;
    m.add_function(wrap_pyfunction!(time_distributed_layer, m)?)?;
    Ok(())
}
