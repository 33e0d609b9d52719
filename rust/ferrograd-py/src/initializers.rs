//! Bindings of the engine's weight initializers.

use ferrograd::config::{Config, KerasObject};
use ferrograd::init::Initializer;
use ferrograd::DType;
use pyo3::prelude::*;

use crate::convert::dtype_from_py;
use crate::errors::IntoPy;
use crate::json::to_json;
use crate::tensor::PyTensor;

/// Samples Keras's initializer `class_name` (or a string shortcut) with its config (its `seed`
/// is passed apart, as `seed`).
#[pyfunction]
#[pyo3(signature = (class_name, config, shape, dtype=None, seed=None))]
fn initialize(
    class_name: &str,
    config: &Bound<'_, PyAny>,
    shape: Vec<usize>,
    dtype: Option<&Bound<'_, PyAny>>,
    seed: Option<u64>,
) -> PyResult<PyTensor> {
    let config = to_json(config, "config")?;
    let init =
        Initializer::from_config(class_name, &Config::new(class_name, &config).py()?).py()?;
    let dtype = dtype_from_py(dtype)?.unwrap_or(DType::F32);
    init.sample(&shape, dtype, seed).py().map(PyTensor::new)
}

/// Reseeds the generator that unseeded initializers draw from.
#[pyfunction]
fn set_global_seed(seed: u64) {
    ferrograd::init::set_global_seed(seed);
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(initialize, m)?)?;
    m.add_function(wrap_pyfunction!(set_global_seed, m)?)?;
    Ok(())
}
